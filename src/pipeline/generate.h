/* Image generation: txt2img, img2img, inpainting (latent blending for
 * ordinary models, the extra input for 9-channel inpainting models) and
 * outpainting (a canvas extended by the caller + a mask), on a loaded
 * checkpoint.
 *
 * One call generates one batch (batch_size images sampled together); the
 * caller loops for batch counts (advancing the seed by batch_size, as
 * A1111 does). Noise is drawn as the chosen RNG's program draws it
 * (rng.h); the verification inputs (noise, init_latent) replace draws and
 * encodings exactly as DESIGN.md §2 says. Progress and cancellation go
 * through callbacks; nothing is printed. */
#ifndef SDC_PIPELINE_GENERATE_H
#define SDC_PIPELINE_GENERATE_H

#include <stdint.h>

#include "base/threadpool.h"
#include "image/image.h"
#include "image/infotext.h"
#include "pipeline/ksample.h"
#include "pipeline/sd_model.h"
#include "sample/rng.h"
#include "sample/sampler.h"

/* Hires-fix upscalers, as A1111 names them in sdc_hr_upscaler_name. */
typedef enum sdc_hr_upscaler {
    SDC_HR_LATENT = 0,          /* "Latent": bilinear, no antialias */
    SDC_HR_LATENT_NEAREST,      /* "Latent (nearest)" */
    SDC_HR_LATENT_NEAREST_EXACT, /* "Latent (nearest-exact)" */
    SDC_HR_LANCZOS,             /* "Lanczos" (also A1111's "None": a plain PIL Lanczos resize) */
    SDC_HR_NEAREST,             /* "Nearest" */
    SDC_HR_COUNT
} sdc_hr_upscaler;

/* A1111's name of an upscaler; name -> enum (case-insensitive, "None" =
 * Lanczos), -1 when unknown. */
const char *sdc_hr_upscaler_name(sdc_hr_upscaler u);
int sdc_hr_upscaler_from_name(const char *name);

typedef struct sdc_gen_request {
    const char *prompt, *negative_prompt; /* A1111 prompt syntax */
    int width, height;                    /* multiples of 8 */
    int steps;
    float cfg_scale;
    sdc_sampler_kind sampler;
    sdc_scheduler scheduler;
    float eta;       /* < 0: the sampler's default */
    int clip_skip;   /* 0: the model's default (SD 1.x: 1, SD 2.x: 2) */
    uint64_t seed;
    sdc_rng_kind rng;
    int batch_size;  /* images sampled together (>= 1) */
    sdc_compute compute;
    int use_taesd;            /* decode with the model's TAESD (fast, approximate) */
    size_t vae_budget;        /* activation bytes above which the VAE works in tiles (0: default) */
    int release_text;         /* drop the text encoder's pages after encoding (one-shot CLI runs) */

    /* img2img / inpaint (init_image or init_latent set) */
    const sdc_image *init_image; /* RGB, width x height */
    float strength;              /* denoising strength in [0, 1] */
    sdc_img2img_rule img2img_rule; /* steps a strength runs: SDC_IMG2IMG_DIFFUSERS (default), _A1111, _COMFY */
    sdc_init_noise init_noise;     /* txt2img start: the scheduler's rule (AUTO, default) or forced:
                                    * SIGMA = noise * sigma_max as A1111 does, VP = * sqrt(1 + sigma_max^2) */
    const sdc_image *mask;       /* white = repaint; width x height; NULL: whole image */
    int mask_blur;               /* Gaussian blur radius in pixels (A1111 mask_blur), 0 = none */
    sdc_latent_fill inpaint_fill; /* A1111 inpainting_fill: original (default), latent noise, latent nothing */
    int no_overlay;              /* skip laying the original back over the result (inpaint_area.c does it) */

    /* hires fix (A1111's txt2img "Hires. fix"): with hr_width > 0, the
     * picture sampled at width x height is upscaled to hr_width x hr_height
     * and sampled again as img2img: hr_steps steps (0: steps) at strength
     * hr_denoise, built as A1111 builds them (int(steps / min(s, 0.999))
     * steps, the last hr_steps run), fresh noise of the new size from the
     * same seeds. Latent upscalers interpolate the latent as torch does;
     * image upscalers decode, resize the 8-bit picture (Lanczos or nearest,
     * as PIL) and encode again (posterior mean). txt2img only. */
    int hr_width, hr_height;
    int hr_steps;
    float hr_denoise;
    sdc_hr_upscaler hr_upscaler;
    const char *hr_prompt, *hr_negative_prompt; /* NULL: the first pass's (A1111's hr_prompt: "" = same) */
    sdc_extra_fn hr_extra_fn;                   /* ControlNet at the hires size (needed when extra_fn is set) */
    void *hr_extra_user;
    int hr_sampler, hr_scheduler;               /* < 0: the first pass's */

    /* verification inputs (DESIGN.md §2), each [B, C, h, w] f32, or NULL */
    const float *noise;
    const float *init_latent;

    /* ControlNet residuals per U-Net call (ksample.h), or NULL */
    sdc_extra_fn extra_fn;
    void *extra_user;

    /* callbacks (may be NULL) */
    int (*on_progress)(void *user, const sdc_progress *p); /* nonzero cancels */
    void *user;
    sdc_dump_fn dump; /* per-stage dumps (dump.h), or NULL */
    void *dump_user;
    const sdc_log *log;
} sdc_gen_request;

void sdc_gen_request_default(sdc_gen_request *p);

/* A1111's infotext keys of a hires fix ("Hires upscale" or "Hires resize",
 * "Hires steps", "Hires upscaler", "Hires prompt", ..., and "Hires sampler"
 * / "Hires schedule type" when they differ from the first pass's, with the
 * caller's display labels), appended to ip's extras; nothing when p has no
 * hires pass. ("Denoising strength" is the caller's.) */
sdc_status sdc_gen_add_hires_params(const sdc_gen_request *p, const char *sampler_label, const char *sched_label,
                                    sdc_gen_params *ip, sdc_error *err);
/* A1111's inpainting keys: "Mask blur" (a mask, blur > 0) and, for "only
 * masked" (masked_padding >= 0), "Inpaint area", "Masked area padding". */
sdc_status sdc_gen_add_inpaint_params(const sdc_gen_request *p, int masked_padding, sdc_gen_params *ip, sdc_error *err);

typedef struct sdc_gen_timing {
    double text, sampling, decode, total;
    int steps_run, model_evals;
} sdc_gen_timing;

typedef struct sdc_gen_result {
    int64_t B, H, W;
    float *image01;  /* [B, 3, H, W] in [0, 1], before rounding to 8 bits (owned) */
    uint64_t seeds[64]; /* seed used for each image (A1111: seed + i for philox) */
    sdc_gen_timing timing;
} sdc_gen_result;

void sdc_gen_result_free(sdc_gen_result *r);

/* Validates params against the model; clear message on the first problem. */
sdc_status sdc_gen_request_check(const sdc_sd_model *m, const sdc_gen_request *p, sdc_error *err);

sdc_status sdc_generate(const sdc_sd_model *m, sdc_pool *pool, const sdc_gen_request *p, sdc_gen_result *out,
                        sdc_error *err);

#endif
