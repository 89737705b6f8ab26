/* Samplers, k-diffusion style: x lives in sigma space (x = x0 + sigma *
 * eps), the sampler walks a sigma schedule (schedule.h) and asks a
 * callback for the model's x0 estimate at (x, sigma). The pipeline owns
 * that callback: c_in scaling, classifier-free guidance, the U-Net call,
 * inpaint blending of x0 (sdc_pred_to_x0 and guidance.h help).
 *
 * Names follow ComfyUI (euler, euler_ancestral, heun, dpm_2, ...); A1111's
 * display names are accepted as aliases ("Euler a", "DPM++ 2M Karras" = the
 * sampler dpmpp_2m with the karras scheduler, see sdc_sampler_from_name).
 * docs/SAMPLING.md has the formulas and where programs differ.
 *
 * Does not: allocate beyond a few latent-sized work buffers per run,
 * create noise (stochastic samplers draw through the caller's noise
 * source, see noise.h), or use threads. */
#ifndef SDC_SAMPLE_SAMPLER_H
#define SDC_SAMPLE_SAMPLER_H

#include <stddef.h>

#include "base/error.h"
#include "sample/schedule.h"

typedef enum sdc_sampler_kind {
    SDC_SAMPLER_EULER = 0,
    SDC_SAMPLER_EULER_ANCESTRAL,
    SDC_SAMPLER_HEUN,
    SDC_SAMPLER_DPM_2,
    SDC_SAMPLER_DPM_2_ANCESTRAL,
    SDC_SAMPLER_LMS,
    SDC_SAMPLER_DPMPP_2S_ANCESTRAL,
    SDC_SAMPLER_DPMPP_SDE,
    SDC_SAMPLER_DPMPP_2M,
    SDC_SAMPLER_DPMPP_2M_SDE,
    SDC_SAMPLER_DPMPP_2M_SDE_HEUN,
    SDC_SAMPLER_DPMPP_3M_SDE,
    SDC_SAMPLER_DDPM,
    SDC_SAMPLER_DDIM,
    SDC_SAMPLER_LCM,
    SDC_SAMPLER_IPNDM,
    SDC_SAMPLER_IPNDM_V,
    SDC_SAMPLER_UNI_PC,     /* UniPC bh1 (ComfyUI "uni_pc") */
    SDC_SAMPLER_UNI_PC_BH2, /* UniPC bh2 (ComfyUI "uni_pc_bh2", A1111 "UniPC") */
    SDC_SAMPLER_COUNT
} sdc_sampler_kind;

/* One model evaluation: x0 estimate at (x, sigma). timestep is the model's
 * time input for sigma (the schedule's own timesteps at its sigmas, t(sigma)
 * elsewhere). x must not be kept past the call; x0 is written fully. */
typedef struct sdc_denoise_args {
    const float *x; /* [n] sigma-space input (the pipeline applies c_in) */
    float *x0;      /* [n] output */
    size_t n;
    double sigma, timestep;
    int step;       /* sampler step index, 0-based */
} sdc_denoise_args;
typedef sdc_status (*sdc_denoise_fn)(void *user, const sdc_denoise_args *a, sdc_error *err);

/* Called once per step after the step's first model evaluation, before
 * the update: progress, preview (denoised is the x0 estimate) and hooks.
 * The callee may modify x and denoised (e.g. blend the known region for
 * inpainting); the update uses the modified values. Return nonzero to stop:
 * the run returns SDC_ERR_CANCELLED. */
typedef struct sdc_step_info {
    int step, steps;
    double sigma, sigma_next;
    float *x;        /* [n] current sample */
    float *denoised; /* [n] x0 estimate */
    size_t n;
} sdc_step_info;
typedef int (*sdc_step_fn)(void *user, sdc_step_info *info);

/* Standard-normal noise for a move from sigma to sigma_next (ancestral and
 * SDE steps, churn). Brownian sources use the interval; plain RNG sources
 * ignore it. Must write n values. */
typedef sdc_status (*sdc_noise_fn)(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err);

typedef struct sdc_sampler_ctx {
    sdc_denoise_fn denoise;
    void *denoise_user;
    sdc_step_fn on_step; /* may be NULL */
    void *step_user;
    sdc_noise_fn noise;  /* required by stochastic samplers (sdc_sampler_is_stochastic) */
    void *noise_user;
} sdc_sampler_ctx;

typedef struct sdc_sampler_opts {
    double eta;       /* ancestral / SDE noise amount (1; ddim: 0) */
    double s_noise;   /* noise multiplier (1) */
    double s_churn, s_tmin, s_tmax; /* euler / heun / dpm_2 churn (0, 0, inf) */
    int lms_order;    /* 4 */
    double sde_r;     /* dpmpp_sde intermediate point (0.5) */
    /* If the schedule ends above sigma 0 (ddim_uniform, diffusers_karras),
     * the result is returned as the VP latent x / sqrt(1 + sigma_last^2),
     * which is what diffusers and A1111 decode. Set to keep sigma space. */
    int keep_sigma_space;
} sdc_sampler_opts;

void sdc_sampler_opts_default(sdc_sampler_kind k, sdc_sampler_opts *o);

/* Runs the sampler over sched from x (in: the noised start, already scaled
 * by sched->init_noise_scale or noised img2img latent; out: the result).
 * ns gives t(sigma) for intermediate sigmas. o may be NULL (defaults). A
 * schedule with 0 steps leaves x unchanged. */
sdc_status sdc_sample(sdc_sampler_kind k, const sdc_sampler_opts *o, const sdc_sched *sched,
                      const sdc_noise_schedule *ns, const sdc_sampler_ctx *ctx, float *x, size_t n, sdc_error *err);

/* Whether k draws noise (then ctx->noise is required). */
int sdc_sampler_is_stochastic(sdc_sampler_kind k, const sdc_sampler_opts *o);
/* Whether ComfyUI's default noise for k is a Brownian tree (the SDE samplers). */
int sdc_sampler_uses_brownian(sdc_sampler_kind k);
/* ComfyUI computes one extra step and drops the penultimate sigma for
 * dpm_2, dpm_2_ancestral and uni_pc(_bh2) (set sdc_sched_opts.discard_penultimate). */
int sdc_sampler_discards_penultimate(sdc_sampler_kind k);
/* Model evaluations per step (1, 2 for heun/dpm_2/2s/sde; the last step may use fewer). */
int sdc_sampler_evals_per_step(sdc_sampler_kind k);

/* A sampler name (ComfyUI name or A1111 alias, case-insensitive). A1111
 * names that imply a scheduler ("DPM++ 2M Karras") set *sched_out when
 * sched_out is not NULL (else it is left alone); *has_sched says whether
 * one was implied (may be NULL). The error lists valid names. */
sdc_status sdc_sampler_from_name(const char *name, sdc_sampler_kind *out, sdc_scheduler *sched_out, int *has_sched,
                                 sdc_error *err);
const char *sdc_sampler_name(sdc_sampler_kind k);
/* Comma-separated canonical names, for --help. Static string. */
const char *sdc_sampler_names(void);
/* A sensible default scheduler for the sampler (docs/SAMPLING.md). */
sdc_scheduler sdc_sampler_default_scheduler(sdc_sampler_kind k);

#endif
