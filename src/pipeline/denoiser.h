/* The model as samplers see it: x0 = D(x, sigma), with classifier-free
 * guidance.
 *
 * Samplers work in k-diffusion's scaling, x = x0 + sigma * noise. The
 * denoiser converts to the U-Net's input (c_in = 1 / sqrt(sigma^2 + 1)),
 * runs conditional and unconditional passes batched together (separately
 * when the two contexts differ in length), applies the guidance scale,
 * and turns the prediction into x0 (epsilon: x - sigma * eps; v:
 * x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * v). Scale 1 skips the
 * unconditional pass. Optional inpainting input (9-channel models) is
 * concatenated to the scaled latent. */
#ifndef SDC_PIPELINE_DENOISER_H
#define SDC_PIPELINE_DENOISER_H

#include "models/unet.h"
#include "tensor/ctx.h"

typedef struct sdc_denoiser {
    sdc_ctx *ctx;
    const sdc_unet *unet;
    int v_prediction;
    int64_t B, C, H, W;          /* latent shape [B, C, H, W] */
    const sdc_tensor *cond;      /* [1 or B, T, D] */
    const sdc_tensor *uncond;    /* [1 or B, T', D]; NULL when cfg_scale == 1 */
    float cfg_scale;
    const float *concat_data;    /* [B, 5, H, W] extra input of 9-channel models, or NULL */
    /* ControlNet residuals per U-Net call, or NULL (see ksample.h) */
    sdc_status (*extra_fn)(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                           const sdc_tensor *context, double sigma, sdc_unet_extra *extra);
    void *extra_user;
    int n_evals;                 /* U-Net calls made (for timing reports) */
} sdc_denoiser;

/* x, out: B*C*H*W floats (NCHW). timestep: the U-Net's t for this sigma
 * (samplers know their schedule). Returns the status; the message is in
 * d->ctx->err. out may alias x. */
sdc_status sdc_denoise(sdc_denoiser *d, const float *x, float sigma, float timestep, float *out);

/* Does this scale need the unconditional pass? */
static inline int sdc_cfg_needs_uncond(float scale) { return scale != 1.0f; }

#endif
