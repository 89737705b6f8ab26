/* "Only masked" inpainting (see inpaint_area.h). */
#include "pipeline/inpaint_area.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "image/resize.h"
#include "pipeline/inpaint.h"

sdc_crop_box sdc_inpaint_crop_region(const sdc_image *mask, int pad) {
    int w = mask->width, h = mask->height, x1 = w, y1 = h, x2 = 0, y2 = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (mask->data[((size_t)y * w + x) * mask->channels]) {
                x1 = SDC_MIN(x1, x), x2 = SDC_MAX(x2, x + 1);
                y1 = SDC_MIN(y1, y), y2 = SDC_MAX(y2, y + 1);
            }
    if (x2 <= x1) return (sdc_crop_box){0, 0, w, h};
    return (sdc_crop_box){SDC_MAX(x1 - pad, 0), SDC_MAX(y1 - pad, 0), SDC_MIN(x2 + pad, w), SDC_MIN(y2 + pad, h)};
}

/* one axis of expand_crop_region: [*a, *b) grown by diff, kept inside [0, size] */
static void grow(int *a, int *b, int diff, int size) {
    *a -= diff / 2;
    *b += diff - diff / 2;
    if (*b >= size) {
        int d = *b - size;
        *b -= d, *a -= d;
    }
    if (*a < 0) {
        *b -= *a;
        *a = 0;
    }
    if (*b >= size) *b = size;
}

sdc_crop_box sdc_inpaint_expand_crop(sdc_crop_box c, int pw, int ph, int iw, int ih) {
    double ratio_crop = (double)(c.x2 - c.x1) / (c.y2 - c.y1), ratio_proc = (double)pw / ph;
    if (ratio_crop > ratio_proc) {
        double desired = (c.x2 - c.x1) / ratio_proc;
        grow(&c.y1, &c.y2, (int)(desired - (c.y2 - c.y1)), ih);
    } else {
        double desired = (c.y2 - c.y1) * ratio_proc;
        grow(&c.x1, &c.x2, (int)(desired - (c.x2 - c.x1)), iw);
    }
    return c;
}

sdc_status sdc_generate_only_masked(const sdc_sd_model *m, sdc_pool *pool, const sdc_gen_request *p, int padding,
                                    sdc_gen_result *out, sdc_crop_box *box, sdc_error *err) {
    memset(out, 0, sizeof *out);
    const sdc_image *img = p->init_image;
    if (!img || !p->mask) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "only-masked inpainting needs an image and a mask");
    if (img->width != p->mask->width || img->height != p->mask->height)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the mask is %dx%d but the image is %dx%d", p->mask->width,
                             p->mask->height, img->width, img->height);
    if (img->channels < 3) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the image must be RGB");
    if (padding < 0) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "padding must be >= 0");
    sdc_image blurred = {0}, cimg = {0}, cmask = {0}, pimg = {0}, pmask = {0};
    sdc_status st = sdc_inpaint_blur_mask(p->mask, p->mask_blur, &blurred, err);
    sdc_crop_box b = {0};
    if (!st) {
        b = sdc_inpaint_expand_crop(sdc_inpaint_crop_region(&blurred, padding), p->width, p->height, img->width, img->height);
        if (box) *box = b;
        st = sdc_image_crop(&blurred, b.x1, b.y1, b.x2, b.y2, &cmask, err);
    }
    if (!st) st = sdc_image_crop(img, b.x1, b.y1, b.x2, b.y2, &cimg, err);
    if (!st) st = sdc_image_resize_mode(&cmask, p->width, p->height, SDC_RESIZE_FILL, &pmask, err);
    if (!st) st = sdc_image_resize_mode(&cimg, p->width, p->height, SDC_RESIZE_FILL, &pimg, err);
    sdc_gen_result res = {0};
    if (!st) {
        sdc_gen_request q = *p;
        q.init_image = &pimg;
        q.mask = &pmask;
        q.mask_blur = 0;   /* blurred above, at full size */
        q.no_overlay = 1;  /* laid over the whole picture below */
        st = sdc_generate(m, pool, &q, &res, err);
    }
    int64_t IW = img->width, IH = img->height, HW = IW * IH;
    /* the overlay weights: the blurred mask as is (the whole-picture mode doubles it) */
    sdc_inpaint ov = {.B = res.B, .H = IH, .W = IW};
    if (!st) {
        out->image01 = malloc((size_t)(res.B * 3 * HW) * sizeof(float));
        ov.overlay = malloc((size_t)HW * sizeof(float));
        if (!out->image01 || !ov.overlay) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    for (int64_t i = 0; !st && i < HW; i++) ov.overlay[i] = blurred.data[i] / 255.0f;
    for (int64_t i = 0; !st && i < res.B; i++) {
        /* A1111 keeps the generated picture as 8 bits, resizes it back
         * ("crop" mode) and pastes it; the original goes over it below */
        sdc_image gen = {0}, back = {0};
        sdc_tensor t = sdc_tensor_4d(SDC_DTYPE_F32, res.image01, res.B, 3, res.H, res.W);
        st = sdc_image_from_tensor(&t, i, SDC_RANGE_01, SDC_U8_TRUNCATE, &gen, err);
        if (!st) st = sdc_image_resize_mode(&gen, b.x2 - b.x1, b.y2 - b.y1, SDC_RESIZE_CROP, &back, err);
        for (int64_t y = 0; !st && y < IH; y++)
            for (int64_t x = 0; x < IW; x++) {
                bool in = x >= b.x1 && x < b.x2 && y >= b.y1 && y < b.y2; /* outside, the mask is 0: the original stays */
                const uint8_t *px = in ? back.data + ((y - b.y1) * back.width + (x - b.x1)) * back.channels
                                       : img->data + (y * IW + x) * img->channels;
                for (int c = 0; c < 3; c++) out->image01[(i * 3 + c) * HW + y * IW + x] = px[c] / 255.0f;
            }
        sdc_image_free(&gen);
        sdc_image_free(&back);
    }
    if (!st) sdc_inpaint_overlay(&ov, img, out->image01);
    free(ov.overlay);
    if (!st) {
        out->B = res.B, out->H = IH, out->W = IW;
        memcpy(out->seeds, res.seeds, sizeof out->seeds);
        out->timing = res.timing;
    } else {
        sdc_gen_result_free(out);
    }
    sdc_gen_result_free(&res);
    sdc_image_free(&blurred), sdc_image_free(&cimg), sdc_image_free(&cmask);
    sdc_image_free(&pimg), sdc_image_free(&pmask);
    return st;
}
