/* Noise schedules: the discrete training schedule of SD-style models, the
 * sigma <-> timestep maps, the sigma schedules samplers walk (by ComfyUI
 * scheduler name, plus the diffusers variants the verification contract
 * needs), img2img start rules, and the model-output -> x0 scalings.
 *
 * Conventions (k-diffusion): x lives in "sigma space", x = x0 + sigma * eps.
 * A diffusers / ldm latent in variance-preserving form is x_vp = x /
 * sqrt(1 + sigma^2). Sigma values are stored as doubles holding the float32
 * values torch would hold, so comparisons with PyTorch references stay at
 * float rounding level.
 *
 * Does not: run a model, own any tensor, or allocate anywhere but
 * sdc_sched_build* (freed by sdc_sched_free). */
#ifndef SDC_SAMPLE_SCHEDULE_H
#define SDC_SAMPLE_SCHEDULE_H

#include <stddef.h>

#include "base/error.h"

#define SDC_TRAIN_STEPS_MAX 1000

/* The training (DDPM) schedule: betas scaled-linear from beta_start to
 * beta_end: betas = linspace(sqrt(b0), sqrt(b1), n)^2, computed exactly as
 * diffusers does in float32 (torch's AVX2 linspace, float32 square, a
 * cumulative product with a double accumulator rounded per element). */
typedef struct sdc_noise_schedule {
    int n;                                      /* training steps, usually 1000 */
    float alphas_cumprod[SDC_TRAIN_STEPS_MAX];  /* [n] */
    float sigmas[SDC_TRAIN_STEPS_MAX];          /* [n] sqrt((1 - ac) / ac), float32 */
    double log_sigmas[SDC_TRAIN_STEPS_MAX];     /* [n] */
} sdc_noise_schedule;

/* SD 1.x / 2.x / SDXL: beta_start 0.00085, beta_end 0.012, n 1000. */
sdc_status sdc_noise_schedule_init(sdc_noise_schedule *s, double beta_start, double beta_end, int n, sdc_error *err);
static inline double sdc_noise_schedule_sigma_min(const sdc_noise_schedule *s) { return s->sigmas[0]; }
static inline double sdc_noise_schedule_sigma_max(const sdc_noise_schedule *s) { return s->sigmas[s->n - 1]; }

/* sigma at a fractional timestep t in [0, n-1], interpolating log sigma
 * linearly (ComfyUI's ModelSamplingDiscrete.sigma). t is clamped. */
double sdc_noise_schedule_sigma(const sdc_noise_schedule *s, double t);
/* sigma at t interpolating sigma itself linearly (diffusers' np.interp). */
double sdc_noise_schedule_sigma_lin(const sdc_noise_schedule *s, double t);
/* Timestep of sigma: log-sigma interpolation between neighbouring training
 * steps (k-diffusion / ComfyUI / diffusers' _sigma_to_t), clamped to
 * [0, n-1]. sigma <= 0 gives 0. */
double sdc_noise_schedule_timestep(const sdc_noise_schedule *s, double sigma);

/* ---- sigma schedules ------------------------------------------------------ */

typedef enum sdc_scheduler {
    SDC_SCHED_NORMAL = 0,     /* diffusers Euler "linspace": t = linspace(0, n-1, N) reversed, linear sigma interp */
    SDC_SCHED_KARRAS,         /* Karras rho=7 between sigma_min and sigma_max, then 0 */
    SDC_SCHED_EXPONENTIAL,    /* log-linear between sigma_max and sigma_min, then 0 */
    SDC_SCHED_SGM_UNIFORM,    /* t = linspace(n-1, 0, N+1)[:-1], log-sigma interp, then 0 */
    SDC_SCHED_SIMPLE,         /* every (n/N)-th training sigma from the top, then 0 */
    SDC_SCHED_DDIM_UNIFORM,   /* diffusers DDIM "leading"+1: t = 1 + k*(n/N), last step to sigma(t=0) */
    SDC_SCHED_BETA,           /* ComfyUI beta(0.6, 0.6) quantiles of the training steps, then 0 */
    SDC_SCHED_LINEAR_QUADRATIC, /* ComfyUI linear_quadratic (Mochi), scaled by sigma_max */
    SDC_SCHED_KL_OPTIMAL,     /* tan-linear between atan(sigma_max) and atan(sigma_min), then 0 */
    SDC_SCHED_LCM,            /* diffusers LCMScheduler timesteps (original_steps 50), then 0 */
    SDC_SCHED_DIFFUSERS_KARRAS, /* DPMSolverMultistep use_karras_sigmas: rounded timesteps, last sigma repeated */
    SDC_SCHED_NORMAL_COMFY,   /* ComfyUI "normal": like NORMAL but log-sigma interpolation */
    SDC_SCHED_COUNT
} sdc_scheduler;

/* How the initial latent of a full (txt2img) run is scaled from N(0, 1). */
typedef enum sdc_init_noise {
    SDC_INIT_NOISE_AUTO = 0, /* the scheduler's own rule (see sdc_sched.init_noise_scale) */
    SDC_INIT_NOISE_SIGMA,    /* noise * sigma[0] (A1111, diffusers Euler "linspace") */
    SDC_INIT_NOISE_VP        /* noise * sqrt(1 + sigma[0]^2) (diffusers DDIM/DPM/LCM; ComfyUI at sigma_max) */
} sdc_init_noise;

typedef struct sdc_sched_opts {
    double karras_rho;         /* 7 */
    double beta_alpha, beta_beta; /* 0.6, 0.6 */
    int lcm_original_steps;    /* 50 */
    /* ComfyUI adds one step and drops the penultimate sigma for dpm_2,
     * dpm_2_ancestral, uni_pc, uni_pc_bh2 (sdc_sampler_discards_penultimate). */
    int discard_penultimate;
    sdc_init_noise init_noise;
} sdc_sched_opts;

void sdc_sched_opts_default(sdc_sched_opts *o);

typedef struct sdc_sched {
    int steps;          /* sampler steps: sigmas has steps + 1 entries */
    double *sigmas;     /* [steps + 1] descending; the last is 0 unless the schedule ends at sigma_min */
    double *timesteps;  /* [steps + 1] model timestep fed with sigmas[i] (t(sigma) unless the scheduler fixes it) */
    /* txt2img: initial x = N(0,1) * init_noise_scale. img2img: x = latent +
     * noise * sigmas[0] (sdc_sched_noise_latent). */
    double init_noise_scale;
} sdc_sched;

/* Builds the schedule for `steps` (>= 1) sampler steps. o may be NULL. */
sdc_status sdc_sched_build(sdc_sched *out, const sdc_noise_schedule *ns, sdc_scheduler kind, int steps,
                           const sdc_sched_opts *o, sdc_error *err);
/* Wraps caller-given sigmas (descending, >= 0, count >= 2): timesteps by
 * t(sigma); init scale by the ComfyUI rule. */
sdc_status sdc_sched_from_sigmas(sdc_sched *out, const sdc_noise_schedule *ns, const double *sigmas, int count,
                                 sdc_error *err);
void sdc_sched_free(sdc_sched *s);

/* diffusers' timestep_spacing for discrete schedulers, N steps over n training steps:
 * LINSPACE: linspace(0, n-1, N) reversed (fractional); LEADING: k*(n//N) + offset,
 * descending; TRAILING: round(arange(n, 0, -n/N)) - 1. Sigmas: sigma_lin(t)
 * (diffusers Euler's interpolation; exact on integer t). The last sigma is 0,
 * or with ddim_final the training sigma at t = 0 (DDIM's alphas_cumprod[0]).
 * Initial noise as diffusers: VP for ddim_final and LEADING, else sigma[0]. */
typedef enum sdc_spacing { SDC_SPACING_LINSPACE = 0, SDC_SPACING_LEADING, SDC_SPACING_TRAILING } sdc_spacing;
sdc_status sdc_sched_build_spaced(sdc_sched *out, const sdc_noise_schedule *ns, sdc_spacing spacing, int steps,
                                  int steps_offset, int ddim_final, sdc_error *err);

/* img2img: which part of a `steps`-step schedule a strength in (0, 1] runs. */
typedef enum sdc_img2img_rule {
    SDC_IMG2IMG_DIFFUSERS = 0, /* build N; skip N - min(int(N*s), N) steps: runs int(N*s) steps */
    SDC_IMG2IMG_A1111,         /* build N; t_enc = int(min(s, 0.999)*N); run the last t_enc + 1 steps */
    SDC_IMG2IMG_COMFY          /* s < 0.9999: build int(N/s) steps, run the last N */
} sdc_img2img_rule;

/* Builds the partial schedule img2img runs. The result may have 0 steps
 * (strength too small: the output is the input latent). Starting noise:
 * x = latent + noise * sigmas[0] (see sdc_sched_noise_latent). */
sdc_status sdc_sched_build_img2img(sdc_sched *out, const sdc_noise_schedule *ns, sdc_scheduler kind, int steps,
                                   double strength, sdc_img2img_rule rule, const sdc_sched_opts *o, sdc_error *err);

/* out[i] = latent[i] + noise[i] * scale (latent may be NULL: txt2img). */
void sdc_sched_noise_latent(float *out, const float *latent, const float *noise, size_t n, double scale);

/* 1 / sqrt(1 + sigma^2): multiplies a sigma-space x into the VP form that
 * diffusers, ldm and the VAE see. */
double sdc_sigma_vp_scale(double sigma);

/* Scheduler names (ComfyUI's, plus "ddim" = ddim_uniform, "diffusers_karras",
 * "lcm", "normal_comfy"), case-insensitive. The error lists valid names. */
sdc_status sdc_scheduler_from_name(const char *name, sdc_scheduler *out, sdc_error *err);
const char *sdc_scheduler_name(sdc_scheduler k);
/* Comma-separated list of the canonical names, for --help. Static string. */
const char *sdc_scheduler_names(void);

/* ---- model output -> x0 ---------------------------------------------------- */

typedef enum sdc_prediction {
    SDC_PRED_EPS = 0, /* the model predicts the noise */
    SDC_PRED_V        /* v-prediction (SD 2.x 768) */
} sdc_prediction;

/* denoised = c_skip * x + c_out * model(c_in * x, t) for the prediction
 * type at sigma (sigma_data = 1): eps: c_in = 1/sqrt(sigma^2+1), c_skip = 1,
 * c_out = -sigma; v: c_in same, c_skip = 1/(sigma^2+1), c_out =
 * -sigma/sqrt(sigma^2+1). */
typedef struct sdc_pred_scalings {
    double c_in, c_skip, c_out;
} sdc_pred_scalings;
sdc_pred_scalings sdc_pred_get_scalings(sdc_prediction p, double sigma);

/* LCM boundary condition at model timestep t (timestep_scaling 10,
 * sigma_data 0.5): c_skip = 0.25 / ((10 t)^2 + 0.25), c_out = 10 t /
 * sqrt((10 t)^2 + 0.25). diffusers: denoised = c_out * x0_pred + c_skip *
 * x_vp; in sigma space (sdc_pred_to_x0 with lcm=1) that is c_out * x0_pred +
 * c_skip * x / sqrt(1 + sigma^2). */
void sdc_pred_lcm_scalings(double t, double timestep_scaling, double *c_skip, double *c_out);

/* x0[i] from the raw model output at (x, sigma): applies the scalings above;
 * with lcm != 0 also the LCM boundary condition at timestep t. */
void sdc_pred_to_x0(sdc_prediction p, int lcm, const float *x, const float *model_out, double sigma, double t,
                    float *x0, size_t n);

#endif
