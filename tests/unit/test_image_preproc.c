/* ControlNet preprocessors against OpenCV 4.6 (Debian's python3-opencv):
 * tests/data/image/canny_* are cv2.Canny(rgb, low, high) and xdog_* the
 * sd-webui-controlnet scribble_xdog expression over cv2.GaussianBlur
 * (make_data.py), on synthetic photo-like images and crops of two real
 * photos. Canny is integer arithmetic: identical maps are required. xdog
 * thresholds float blurs whose summation order differs from OpenCV's SIMD
 * code, so a pixel whose value sits within rounding of the threshold may
 * flip: at least 99.9% identical pixels are required. */
#include <string.h>

#include "image/preprocess.h"
#include "test_image_common.h"

static const char *k_srcs[] = {"synth_a", "synth_b", "astro", "cat"};

TEST(image_canny_matches_opencv) {
    static const int thr[][2] = {{100, 200}, {50, 150}, {20, 60}};
    for (size_t s = 0; s < SDC_ARRAY_LEN(k_srcs); s++) {
        char name[96];
        snprintf(name, sizeof name, "%s.png", k_srcs[s]);
        sdc_image src;
        if (!timg_load(name, &src)) continue;
        for (size_t t = 0; t < SDC_ARRAY_LEN(thr); t++) {
            snprintf(name, sizeof name, "canny_%s_%d_%d.png", k_srcs[s], thr[t][0], thr[t][1]);
            sdc_image want, got;
            if (!timg_load(name, &want)) continue;
            sdc_error e;
            sdc_error_clear(&e);
            REQUIRE(sdc_canny(&src, thr[t][0], thr[t][1], &got, &e) == SDC_OK);
            timg_diff d = timg_compare(&got, &want);
            size_t edges = 0;
            for (size_t i = 0; i < sdc_image_bytes(&want); i++) edges += want.data[i] == 255;
            CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu of %zu pixels differ (%zu edge pixels)", name, d.n_diff,
                      sdc_image_bytes(&want), edges);
            CHECK(edges > 20); /* the case exercises real edges */
            if (t == 0) {      /* swapped thresholds are the same call in OpenCV */
                sdc_image sw;
                REQUIRE(sdc_canny(&src, thr[t][1], thr[t][0], &sw, &e) == SDC_OK);
                CHECK(timg_compare(&sw, &got).n_diff == 0);
                sdc_image_free(&sw);
            }
            sdc_image_free(&got);
            sdc_image_free(&want);
        }
        sdc_image_free(&src);
    }
}

TEST(image_scribble_xdog_matches_opencv) {
    for (size_t s = 0; s < SDC_ARRAY_LEN(k_srcs); s++) {
        char name[96];
        snprintf(name, sizeof name, "%s.png", k_srcs[s]);
        sdc_image src;
        if (!timg_load(name, &src)) continue;
        static const int thr[] = {32, 16};
        for (int t = 0; t < 2; t++) {
            snprintf(name, sizeof name, "xdog_%s_%d.png", k_srcs[s], thr[t]);
            sdc_image want, got;
            if (!timg_load(name, &want)) continue;
            sdc_error e;
            sdc_error_clear(&e);
            REQUIRE(sdc_scribble_xdog(&src, thr[t], &got, &e) == SDC_OK);
            timg_diff d = timg_compare(&got, &want);
            size_t n = sdc_image_bytes(&want);
            CHECK_MSG(d.same_shape && d.n_diff * 1000 <= n, "%s: %zu of %zu pixels differ", name, d.n_diff, n);
            if (d.n_diff) printf("    note: %s: %zu of %zu pixels differ\n", name, d.n_diff, n);
            sdc_image_free(&got);
            sdc_image_free(&want);
        }
        sdc_image_free(&src);
    }
}

TEST(image_scribble_threshold_and_alpha_on_white) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img, out;
    REQUIRE(sdc_image_alloc(&img, 4, 1, 4, &e) == SDC_OK);
    const uint8_t px[16] = {0, 0, 0, 255,       /* opaque black stroke -> 255 */
                            200, 126, 200, 255, /* one channel below 127 -> 255 */
                            127, 127, 127, 255, /* not below -> 0 */
                            0, 0, 0, 0};        /* transparent: white paper -> 0 */
    memcpy(img.data, px, 16);
    REQUIRE(sdc_scribble_threshold(&img, SDC_SCRIBBLE_THRESHOLD_DEFAULT, &out, &e) == SDC_OK);
    CHECK(out.channels == 1 && out.data[0] == 255 && out.data[1] == 255 && out.data[2] == 0 && out.data[3] == 0);
    sdc_image_free(&out);
    /* HWC3 compositing: 100 at alpha 128 over white: 100 * a + 255 * (1 - a), truncated */
    img.data[12] = 100;
    img.data[15] = 128;
    REQUIRE(sdc_image_to_rgb_white(&img, &out, &e) == SDC_OK);
    float a = 128.0f / 255.0f;
    CHECK(out.data[9] == (uint8_t)(100.0f * a + 255.0f * (1.0f - a)));
    CHECK(out.data[9] == 177);
    sdc_image_free(&out);
    sdc_error_clear(&e);
    CHECK(sdc_canny(&img, -1, 10, &out, &e) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&e);
    CHECK(sdc_scribble_xdog(&img, 300, &out, &e) == SDC_ERR_INVALID_ARG);
    sdc_image_free(&img);
}

TEST(image_canny_tiny_and_flat_images) {
    sdc_error e;
    sdc_error_clear(&e);
    for (int w = 1; w <= 3; w++)
        for (int h = 1; h <= 3; h++) {
            sdc_image img, out;
            REQUIRE(sdc_image_alloc(&img, w, h, 3, &e) == SDC_OK);
            for (size_t i = 0; i < sdc_image_bytes(&img); i++) img.data[i] = (uint8_t)(i * 97);
            REQUIRE(sdc_canny(&img, 10, 20, &out, &e) == SDC_OK);
            CHECK(out.width == w && out.height == h);
            sdc_image_free(&out);
            memset(img.data, 77, sdc_image_bytes(&img));
            REQUIRE(sdc_canny(&img, 0, 0, &out, &e) == SDC_OK);
            size_t on = 0;
            for (size_t i = 0; i < sdc_image_bytes(&out); i++) on += out.data[i] != 0;
            CHECK(on == 0); /* flat image: zero gradient is never > 0 */
            sdc_image_free(&out);
            sdc_image_free(&img);
        }
}
