/* The sampling core shared by `sdc generate`, the A1111 API and the
 * ComfyUI KSampler nodes: conditioning + a start latent in, a denoised
 * latent out.
 *
 * A run: draw the initial noise (or take the caller's), build the sigma
 * schedule (full; partial for img2img by strength under a program's rule;
 * or a [start, end) slice of it, as KSamplerAdvanced), put noise on the
 * start latent at the first sigma, and walk the sampler with the CFG
 * denoiser; optional latent-space inpainting (keep mask), the extra input
 * of 9-channel inpainting models, and a hook that supplies ControlNet
 * residuals per model call. Latents are the scaled latents the pipeline
 * holds (VAE mean * scaling factor), NCHW [B, C, h, w]. */
#ifndef SDC_PIPELINE_KSAMPLE_H
#define SDC_PIPELINE_KSAMPLE_H

#include "pipeline/denoiser.h"
#include "pipeline/sd_model.h"
#include "sample/rng.h"
#include "sample/sampler.h"

typedef struct sdc_progress {
    int step, steps;       /* step just finished (1-based) of steps */
    double elapsed;        /* seconds since sampling started */
    const float *denoised; /* [B, C, h, w] x0 estimate (for previews), valid during the call */
    int64_t B, C, h, w;
} sdc_progress;

/* Called before each U-Net evaluation to supply ControlNet residuals:
 * x_in is the U-Net's input [n, C, h, w] (n = B or 2B with CFG), t [n],
 * context [n, T, D]; fill *extra with tensors from c's arena (they must
 * live until the U-Net returns). sigma / step tell where sampling is. */
typedef sdc_status (*sdc_extra_fn)(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                                   const sdc_tensor *context, double sigma, int step, int steps,
                                   sdc_unet_extra *extra);

/* A1111's inpainting_fill for the area a mask repaints (keep = 0): the
 * original latent (1, "original"), the first noise draw (2, "latent
 * noise": latent * keep + noise * (1 - keep)) or zeros (3, "latent
 * nothing"). ("fill", 0, blurs pixels before encoding: not done.) */
typedef enum sdc_latent_fill {
    SDC_FILL_ORIGINAL = 0,
    SDC_FILL_LATENT_NOISE,
    SDC_FILL_LATENT_NOTHING
} sdc_latent_fill;

typedef struct sdc_ksample {
    int64_t B, C, h, w;           /* latent shape */
    const sdc_tensor *cond;       /* [1 or B, T, D] */
    const sdc_tensor *uncond;     /* [1 or B, T', D]; NULL when cfg_scale == 1 */
    float cfg_scale;
    sdc_sampler_kind sampler;
    sdc_scheduler scheduler;
    int steps;
    float eta;                    /* < 0: the sampler's default */
    /* start */
    const float *latent;          /* [B, C, h, w] start latent, or NULL (empty: zeros) */
    float denoise;                /* 1: full; < 1: img2img strength under `rule` */
    sdc_img2img_rule rule;
    sdc_init_noise init_noise;    /* full-denoise start: AUTO (the scheduler's rule), SIGMA or VP */
    int start_step, end_step;     /* slice of the schedule (KSamplerAdvanced); end < 0: to the end */
    int add_noise;                /* 0: no noise is added to the start latent */
    int force_full_denoise;       /* with a slice: end at sigma 0 */
    /* noise */
    uint64_t seed;
    sdc_rng_kind rng;
    const float *noise;           /* [B, C, h, w] replaces the initial draw, or NULL */
    /* inpainting */
    const float *keep;            /* [h * w] 1 = keep `latent` there, or NULL */
    sdc_latent_fill fill;         /* with keep: what the repainted area of `latent` starts from */
    const float *concat;          /* [B, extra, h, w] input of 9-channel models, or NULL */
    /* hooks */
    sdc_extra_fn extra_fn;
    void *extra_user;
    int (*on_progress)(void *user, const sdc_progress *p); /* nonzero cancels */
    void *user;
    sdc_dump_fn dump; /* per-stage dumps (dump.h), or NULL */
    void *dump_user;
    sdc_compute compute;
} sdc_ksample;

/* Defaults: full denoise, whole schedule, add noise, cpu rng, euler/normal. */
void sdc_ksample_default(sdc_ksample *k);

typedef struct sdc_ksample_stats {
    int steps_run, model_evals;
    double seconds;
    uint64_t seeds[64]; /* per image (philox: seed + i) */
} sdc_ksample_stats;

/* out: [B, C, h, w]. stats may be NULL. */
sdc_status sdc_ksample_run(const sdc_sd_model *m, sdc_pool *pool, const sdc_ksample *k, float *out,
                           sdc_ksample_stats *stats, sdc_error *err);

#endif
