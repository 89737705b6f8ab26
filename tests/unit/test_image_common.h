/* Helpers shared by the image tests (test_image*.c): loading the committed
 * reference images of tests/data/image and comparing 8-bit images. */
#ifndef SDC_TEST_IMAGE_COMMON_H
#define SDC_TEST_IMAGE_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "base/mapfile.h"
#include "base/util.h"
#include "harness.h"
#include "image/image.h"
#include "image/image_io.h"

#define IMG_DATA "tests/data/image/"

/* Loads tests/data/image/<name>; on failure records it and returns false. */
static inline bool timg_load(const char *name, sdc_image *img) {
    char path[512];
    snprintf(path, sizeof path, IMG_DATA "%s", name);
    sdc_error e;
    sdc_error_clear(&e);
    if (sdc_image_load(path, img, NULL, &e) != SDC_OK) {
        sdc_test_fail(__FILE__, __LINE__, "cannot load %s: %s", path, sdc_error_msg(&e));
        return false;
    }
    return true;
}

typedef struct timg_diff {
    size_t n_diff; /* bytes that differ */
    int max_abs;
    bool same_shape;
} timg_diff;

static inline timg_diff timg_compare(const sdc_image *a, const sdc_image *b) {
    timg_diff d = {0, 0, a->width == b->width && a->height == b->height && a->channels == b->channels};
    if (!d.same_shape) return d;
    size_t n = sdc_image_bytes(a);
    for (size_t i = 0; i < n; i++) {
        int v = abs((int)a->data[i] - (int)b->data[i]);
        if (v) d.n_diff++;
        if (v > d.max_abs) d.max_abs = v;
    }
    return d;
}

#endif
