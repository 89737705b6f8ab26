/* Inpainting (see inpaint.h). */
#include "pipeline/inpaint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/mask.h"
#include "models/vae.h"

void sdc_inpaint_free(sdc_inpaint *ip) {
    free(ip->keep);
    free(ip->overlay);
    free(ip->concat);
    memset(ip, 0, sizeof *ip);
}

/* [round(mask) at latent size, VAE latent of image * (1 - round(mask))] */
static sdc_status make_concat(sdc_inpaint *ip, sdc_ctx *c, const sdc_sd_model *m, const sdc_image *image,
                              const sdc_image *blurred, sdc_error *err) {
    int64_t H = ip->H, W = ip->W, h = ip->h, w = ip->w, plane = h * w;
    ip->concat = calloc((size_t)(ip->B * 5 * plane), sizeof(float));
    if (!ip->concat) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
    sdc_tensor *img = sdc_new_4d(c, 1, 3, H, W);
    if (!img) return sdc_error_set(err, c->err.status, "%s", sdc_error_msg(&c->err));
    float *px = img->data;
    for (int64_t i = 0; i < 3 * H * W; i++) px[i] = 0.0f; /* txt2img: a blank (mid-gray) image */
    if (image && sdc_image_to_tensor(image, SDC_RANGE_PM1, img, 0, err) != SDC_OK) return err->status;
    float *mlat = ip->concat; /* first image's mask plane, copied to the others below */
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) /* torch "nearest" from H x W to h x w */
            mlat[y * w + x] = blurred ? (blurred->data[(y * H / h) * W + (x * W / w)] >= 128 ? 1.0f : 0.0f) : 1.0f;
    for (int64_t y = 0; y < H && image; y++)
        for (int64_t x = 0; x < W; x++) {
            bool repaint = blurred ? blurred->data[y * W + x] >= 128 : true;
            if (repaint)
                for (int ch = 0; ch < 3; ch++) px[(ch * H + y) * W + x] = 0.0f;
        }
    sdc_tensor *mom = sdc_vae_encode(c, m->vae, img);
    if (!mom) return sdc_error_set(err, c->err.status, "%s", sdc_error_msg(&c->err));
    const float *mean = mom->data; /* [1, 8, h, w]: mean is the first 4 channels */
    for (int64_t b = 0; b < ip->B; b++) {
        float *dst = ip->concat + b * 5 * plane;
        if (b) memcpy(dst, mlat, (size_t)plane * sizeof(float));
        for (int64_t i = 0; i < 4 * plane; i++) dst[plane + i] = mean[i] * m->scale_factor;
    }
    sdc_arena_release(&c->arena, mark);
    return SDC_OK;
}

sdc_status sdc_inpaint_blur_mask(const sdc_image *mask, int mask_blur, sdc_image *out, sdc_error *err) {
    sdc_image gray = {0};
    sdc_status st = sdc_mask_from_image(mask, SDC_MASK_AUTO, &gray, err);
    if (!st && mask_blur > 0) st = sdc_mask_blur(&gray, mask_blur, mask_blur, out, err);
    if (!st && mask_blur <= 0) {
        *out = gray; /* handed over */
        return SDC_OK;
    }
    sdc_image_free(&gray);
    return st;
}

sdc_status sdc_inpaint_prepare(sdc_inpaint *ip, sdc_ctx *c, const sdc_sd_model *m, const sdc_image *image,
                               const sdc_image *mask, int mask_blur, int64_t B, int64_t h, int64_t w, sdc_error *err) {
    memset(ip, 0, sizeof *ip);
    ip->B = B, ip->C = m->unet->cfg.out_ch, ip->h = h, ip->w = w, ip->H = h * 8, ip->W = w * 8;
    bool nine = m->unet->cfg.in_ch == m->unet->cfg.out_ch + 5;
    if (!mask && !nine) return SDC_OK;
    sdc_image blurred = {0};
    sdc_status st = SDC_OK;
    if (mask) {
        st = sdc_inpaint_blur_mask(mask, mask_blur, &blurred, err);
        ip->keep = malloc((size_t)(h * w) * sizeof(float));
        ip->overlay = malloc((size_t)(ip->H * ip->W) * sizeof(float));
        if (!st && (!ip->keep || !ip->overlay)) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        if (!st) st = sdc_mask_to_latent(&blurred, (int)w, (int)h, SDC_MASK_LATENT_A1111, 1, ip->keep, err);
        if (!st) {
            for (int64_t i = 0; i < h * w; i++) ip->keep[i] = 1.0f - ip->keep[i];
            for (int64_t i = 0; i < ip->H * ip->W; i++) ip->overlay[i] = fminf(2.0f * blurred.data[i], 255.0f) / 255.0f;
        }
    }
    if (!st && nine) st = make_concat(ip, c, m, image, mask ? &blurred : NULL, err);
    sdc_image_free(&blurred);
    if (st) sdc_inpaint_free(ip);
    return st;
}

void sdc_inpaint_overlay(const sdc_inpaint *ip, const sdc_image *original, float *image01) {
    if (!ip->overlay || !original || original->channels < 3) return;
    int64_t HW = ip->H * ip->W;
    for (int64_t b = 0; b < ip->B; b++)
        for (int64_t i = 0; i < HW; i++) {
            float g = ip->overlay[i];
            for (int ch = 0; ch < 3; ch++) {
                float o = original->data[i * original->channels + ch] / 255.0f;
                float *p = &image01[(b * 3 + ch) * HW + i];
                *p = o * (1.0f - g) + *p * g;
            }
        }
}
