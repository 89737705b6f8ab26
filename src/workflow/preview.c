/* Step previews (see preview.h). */
#include "workflow/preview.h"

#include <math.h>
#include <string.h>

#include "tensor/ops.h"

/* ComfyUI latent_formats.SD15.latent_rgb_factors: rows = latent channels */
static const float k_rgb[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};

static uint8_t to_u8(float v) {
    float x = (v + 1.0f) * 0.5f;
    x = x < 0 ? 0 : (x > 1 ? 1 : x);
    return (uint8_t)(x * 255.0f);
}

static sdc_status linear_preview(const float *x0, int64_t C, int64_t h, int64_t w, sdc_image *out, sdc_error *err) {
    if (C != 4) return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "latent preview needs 4 channels (got %lld)", (long long)C);
    sdc_status st = sdc_image_alloc(out, (int)w, (int)h, 3, err);
    if (st) return st;
    int64_t plane = h * w;
    for (int64_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float v = 0;
            for (int k = 0; k < 4; k++) v += x0[k * plane + i] * k_rgb[k][c];
            out->data[i * 3 + c] = to_u8(v);
        }
    return SDC_OK;
}

static sdc_status taesd_preview(const float *x0, int64_t C, int64_t h, int64_t w, const sdc_taesd *t, sdc_pool *pool,
                                sdc_image *out, sdc_error *err) {
    sdc_ctx ctx;
    if (sdc_ctx_init(&ctx, pool, 0) != SDC_OK) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_tensor z = sdc_tensor_4d(SDC_DTYPE_F32, (void *)x0, 1, C, h, w);
    sdc_tensor *img = sdc_taesd_decode(&ctx, t, &z);
    sdc_status st = img ? SDC_OK : sdc_error_set(err, ctx.err.status, "%s", sdc_error_msg(&ctx.err));
    if (!st) st = sdc_image_from_tensor(img, 0, SDC_RANGE_PM1, SDC_U8_TRUNCATE, out, err);
    sdc_ctx_free(&ctx);
    return st;
}

sdc_status sdc_preview_latent(const float *x0, int64_t C, int64_t h, int64_t w, const sdc_taesd *t, sdc_pool *pool,
                              sdc_image *out, sdc_error *err) {
    memset(out, 0, sizeof *out);
    if (t && t->dec.present && t->latent_ch == C) return taesd_preview(x0, C, h, w, t, pool, out, err);
    return linear_preview(x0, C, h, w, out, err);
}
