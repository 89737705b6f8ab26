/* CFG denoiser (see denoiser.h). */
#include "pipeline/denoiser.h"

#include <math.h>
#include <string.h>

#include "tensor/ops.h"

/* [n, T, D] context for a batch of B: repeats a single context B times */
static sdc_tensor *batch_context(sdc_ctx *c, const sdc_tensor *ctx, int64_t B, int64_t copies, sdc_tensor *dst,
                                 int64_t at) {
    int64_t per = ctx->shape[1] * ctx->shape[2];
    for (int64_t i = 0; i < copies * B; i++) {
        int64_t src = ctx->shape[0] == 1 ? 0 : (i % B);
        memcpy((float *)dst->data + (at + i) * per, (const float *)ctx->data + src * per, (size_t)per * 4);
    }
    (void)c;
    return dst;
}

/* U-Net input for n = copies*B images: scaled x (repeated), plus the
 * inpainting channels */
static sdc_tensor *model_input(sdc_denoiser *d, const float *x, float c_in, int64_t copies) {
    sdc_ctx *c = d->ctx;
    int64_t extra_c = d->concat_data ? d->unet->cfg.in_ch - d->C : 0, plane = d->H * d->W;
    sdc_tensor *in = sdc_new_4d(c, copies * d->B, d->C + extra_c, d->H, d->W);
    if (!in) return NULL;
    float *o = in->data;
    for (int64_t k = 0; k < copies; k++)
        for (int64_t b = 0; b < d->B; b++) {
            float *dst = o + (k * d->B + b) * (d->C + extra_c) * plane;
            const float *src = x + b * d->C * plane;
            for (int64_t i = 0; i < d->C * plane; i++) dst[i] = src[i] * c_in;
            if (extra_c) memcpy(dst + d->C * plane, d->concat_data + b * extra_c * plane, (size_t)(extra_c * plane) * 4);
        }
    return in;
}

static sdc_tensor *run_unet(sdc_denoiser *d, sdc_tensor *in, float sigma, float timestep, const sdc_tensor *ctx) {
    if (!in || !ctx) return NULL;
    sdc_tensor *t = sdc_new(d->ctx, 1, (int64_t[]){in->shape[0]});
    if (!t) return NULL;
    for (int64_t i = 0; i < in->shape[0]; i++) ((float *)t->data)[i] = timestep;
    sdc_unet_extra extra = {0};
    if (d->extra_fn) {
        sdc_status st = d->extra_fn(d->extra_user, d->ctx, in, t, ctx, sigma, &extra);
        if (st != SDC_OK && sdc_ctx_ok(d->ctx)) return sdc_ctx_fail(d->ctx, st, "control: failed");
    }
    d->n_evals++;
    return sdc_unet_forward(d->ctx, d->unet, in, t, ctx, d->extra_fn ? &extra : NULL);
}

sdc_status sdc_denoise(sdc_denoiser *d, const float *x, float sigma, float timestep, float *out) {
    sdc_ctx *c = d->ctx;
    if (!sdc_ctx_ok(c)) return c->err.status;
    sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
    float c_in = 1.0f / sqrtf(sigma * sigma + 1.0f);
    bool guided = d->uncond && sdc_cfg_needs_uncond(d->cfg_scale);
    bool together = guided && d->uncond->shape[1] == d->cond->shape[1];
    int64_t n = d->B * d->C * d->H * d->W;
    const float *pc = NULL, *pu = NULL; /* conditional / unconditional predictions */
    if (together) {
        sdc_tensor *ctx = sdc_new_3d(c, 2 * d->B, d->cond->shape[1], d->cond->shape[2]);
        if (ctx) {
            batch_context(c, d->uncond, d->B, 1, ctx, 0);
            batch_context(c, d->cond, d->B, 1, ctx, d->B);
        }
        sdc_tensor *y = ctx ? run_unet(d, model_input(d, x, c_in, 2), sigma, timestep, ctx) : NULL;
        if (y) {
            pu = y->data;
            pc = (const float *)y->data + n;
        }
    } else {
        sdc_tensor *ctx = sdc_new_3d(c, d->B, d->cond->shape[1], d->cond->shape[2]);
        if (ctx) batch_context(c, d->cond, d->B, 1, ctx, 0);
        sdc_tensor *y = ctx ? run_unet(d, model_input(d, x, c_in, 1), sigma, timestep, ctx) : NULL;
        if (y) pc = y->data;
        if (guided && y) {
            sdc_tensor *uctx = sdc_new_3d(c, d->B, d->uncond->shape[1], d->uncond->shape[2]);
            if (uctx) batch_context(c, d->uncond, d->B, 1, uctx, 0);
            sdc_tensor *yu = uctx ? run_unet(d, model_input(d, x, c_in, 1), sigma, timestep, uctx) : NULL;
            if (yu) pu = yu->data;
        }
    }
    if (!sdc_ctx_ok(c)) return c->err.status;
    float s = d->cfg_scale, s2 = sigma * sigma;
    float c_skip = 1.0f / (s2 + 1.0f), c_out = -sigma / sqrtf(s2 + 1.0f);
    for (int64_t i = 0; i < n; i++) {
        float p = pu ? pu[i] + s * (pc[i] - pu[i]) : pc[i];
        out[i] = d->v_prediction ? c_skip * x[i] + c_out * p : x[i] - sigma * p;
    }
    sdc_arena_release(&c->arena, mark);
    return SDC_OK;
}
