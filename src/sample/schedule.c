/* Noise schedules and sigma schedules (see schedule.h). Each scheduler
 * follows the program that defines its name (ComfyUI's comfy/samplers.py
 * and k-diffusion for the ComfyUI names, diffusers 0.25 for the contract
 * and diffusers variants); docs/SAMPLING.md lists the formulas and the
 * differences between programs. Does not: sample, or touch latents beyond
 * sdc_sched_noise_latent / sdc_pred_to_x0. */
#include "sample/schedule.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double f32(double x) { return (double)(float)x; }

/* torch.linspace(start, end, n) for float32 on an AVX2 build: blocks of 8
 * from a fused base, switching from the start to the end anchor halfway. */
static void torch_linspace_f32(float start, float end, int n, float *out) {
    float step = (end - start) / (float)(n - 1);
    int halfway = n / 2, i = 0;
    for (; i + 8 <= n; i += 8) {
        float base = i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
        for (int j = 0; j < 8; j++) out[i + j] = fmaf(step, (float)j, base);
    }
    for (; i < n; i++) out[i] = i < halfway ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

sdc_status sdc_noise_schedule_init(sdc_noise_schedule *s, double beta_start, double beta_end, int n, sdc_error *err) {
    if (n < 2 || n > SDC_TRAIN_STEPS_MAX)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "training steps %d outside [2, %d]", n, SDC_TRAIN_STEPS_MAX);
    if (!(beta_start > 0 && beta_end > beta_start && beta_end < 1))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "betas %g..%g must satisfy 0 < start < end < 1", beta_start,
                             beta_end);
    s->n = n;
    float lin[SDC_TRAIN_STEPS_MAX];
    torch_linspace_f32((float)sqrt(beta_start), (float)sqrt(beta_end), n, lin);
    double acc = 1.0; /* torch's CPU cumprod accumulates in double */
    for (int i = 0; i < n; i++) {
        float beta = lin[i] * lin[i];
        acc *= (double)(1.0f - beta);
        s->alphas_cumprod[i] = (float)acc;
        float ac = s->alphas_cumprod[i];
        s->sigmas[i] = sqrtf((1.0f - ac) / ac);
        s->log_sigmas[i] = log((double)s->sigmas[i]);
    }
    return SDC_OK;
}

double sdc_noise_schedule_sigma(const sdc_noise_schedule *s, double t) {
    if (!(t > 0)) t = 0;
    if (t > s->n - 1) t = s->n - 1;
    int lo = (int)floor(t), hi = (int)ceil(t);
    double w = t - lo;
    return f32(exp((1 - w) * s->log_sigmas[lo] + w * s->log_sigmas[hi]));
}

double sdc_noise_schedule_sigma_lin(const sdc_noise_schedule *s, double t) {
    if (!(t > 0)) return s->sigmas[0];
    if (t >= s->n - 1) return s->sigmas[s->n - 1];
    int lo = (int)floor(t);
    if (t == lo) return s->sigmas[lo];
    double slope = ((double)s->sigmas[lo + 1] - s->sigmas[lo]);
    return slope * (t - lo) + s->sigmas[lo];
}

double sdc_noise_schedule_timestep(const sdc_noise_schedule *s, double sigma) {
    if (!(sigma > 0)) return 0;
    double ls = log(sigma);
    int lo = 0;
    while (lo + 1 < s->n && s->log_sigmas[lo + 1] <= ls) lo++;
    if (lo > s->n - 2) lo = s->n - 2;
    double low = s->log_sigmas[lo], high = s->log_sigmas[lo + 1];
    double w = (low - ls) / (low - high);
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    return (1 - w) * lo + w * (lo + 1);
}

/* ---- Beta distribution quantile (for the "beta" scheduler) --------------- */

/* Continued fraction of the regularized incomplete beta (modified Lentz). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        for (int half = 0; half < 2; half++) {
            d = 1 + num * d;
            if (fabs(d) < tiny) d = tiny;
            c = 1 + num / c;
            if (fabs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        }
        if (fabs(d * c - 1) < 1e-16) break;
    }
    return h;
}

static double beta_cdf(double x, double a, double b) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * betacf(a, b, x) / a;
    return 1 - front * betacf(b, a, 1 - x) / b;
}

/* Quantile by bisection: monotone, and 200 halvings reach double precision. */
static double beta_ppf(double p, double a, double b) {
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 200 && hi - lo > 1e-17; i++) {
        double mid = 0.5 * (lo + hi);
        if (beta_cdf(mid, a, b) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- sigma schedule builders --------------------------------------------- */

void sdc_sched_opts_default(sdc_sched_opts *o) {
    memset(o, 0, sizeof *o);
    o->karras_rho = 7.0;
    o->beta_alpha = 0.6;
    o->beta_beta = 0.6;
    o->lcm_original_steps = 50;
    o->init_noise = SDC_INIT_NOISE_AUTO;
}

/* A schedule under construction: sigmas/timesteps with room for N + 2. */
enum { INIT_SIGMA, INIT_VP, INIT_COMFY }; /* COMFY: VP at sigma_max, else sigma */

typedef struct builder {
    const sdc_noise_schedule *ns;
    const sdc_sched_opts *o;
    int steps;       /* requested N */
    double *sig, *ts;
    int count;       /* entries written */
    int init_rule;   /* how the defining program scales txt2img noise: INIT_* */
} builder;

static void push(builder *b, double sigma, double t) {
    b->sig[b->count] = sigma;
    b->ts[b->count] = t;
    b->count++;
}
static void push_sigma(builder *b, double sigma) { push(b, f32(sigma), sdc_noise_schedule_timestep(b->ns, f32(sigma))); }
static void push_train(builder *b, int t) { push(b, b->ns->sigmas[t], t); }

static int comfy_max_denoise(const builder *b) {
    double smax = sdc_noise_schedule_sigma_max(b->ns);
    return fabs(b->sig[0] - smax) <= 1e-5 * smax || b->sig[0] > smax;
}

static sdc_status build_normal(builder *b, sdc_error *err) {
    int n = b->steps, last = b->ns->n - 1;
    for (int i = 0; i < n; i++) {
        /* np.linspace(0, n-1, N, dtype=float32)[::-1] */
        int k = n - 1 - i;
        double t = n == 1 ? 0 : (k == n - 1 ? last : (double)k * ((double)last / (n - 1)));
        t = f32(t);
        push(b, f32(sdc_noise_schedule_sigma_lin(b->ns, t)), t);
    }
    push(b, 0, 0);
    b->init_rule = INIT_SIGMA; /* diffusers Euler, "linspace" spacing: init_noise_sigma = sigma_max */
    (void)err;
    return SDC_OK;
}

static sdc_status build_normal_comfy(builder *b, int sgm, sdc_error *err) {
    int n = b->steps;
    double start = b->ns->n - 1, end = 0;
    int pts = sgm ? n + 1 : n;
    for (int i = 0; i < n; i++) {
        double t = pts == 1 ? start : f32(start + (end - start) * i / (pts - 1));
        push(b, sdc_noise_schedule_sigma(b->ns, t), t);
    }
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    (void)err;
    return SDC_OK;
}

static sdc_status build_karras(builder *b, sdc_error *err) {
    int n = b->steps;
    double rho = b->o->karras_rho;
    if (!(rho > 0)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "karras rho %g must be > 0", rho);
    double lo = pow(sdc_noise_schedule_sigma_min(b->ns), 1 / rho), hi = pow(sdc_noise_schedule_sigma_max(b->ns), 1 / rho);
    for (int i = 0; i < n; i++) {
        double ramp = n == 1 ? 0 : (double)i / (n - 1);
        push_sigma(b, pow(hi + ramp * (lo - hi), rho));
    }
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    return SDC_OK;
}

/* DPMSolverMultistepScheduler(use_karras_sigmas=True): timesteps rounded,
 * the final sigma repeats sigma_min, so the last step does not move x. */
static sdc_status build_diffusers_karras(builder *b, sdc_error *err) {
    sdc_status st = build_karras(b, err);
    if (st) return st;
    b->count--; /* drop the appended 0 */
    for (int i = 0; i < b->count; i++) b->ts[i] = nearbyint(b->ts[i]);
    push(b, b->sig[b->count - 1], b->ts[b->count - 1]);
    b->init_rule = INIT_VP; /* DPM-Solver works on VP latents: init_noise_sigma = 1 */
    return SDC_OK;
}

static sdc_status build_exponential(builder *b, sdc_error *err) {
    int n = b->steps;
    double lmax = log(sdc_noise_schedule_sigma_max(b->ns)), lmin = log(sdc_noise_schedule_sigma_min(b->ns));
    for (int i = 0; i < n; i++) push_sigma(b, exp(n == 1 ? lmax : lmax + (lmin - lmax) * i / (n - 1)));
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    (void)err;
    return SDC_OK;
}

static sdc_status build_simple(builder *b, sdc_error *err) {
    int n = b->steps, len = b->ns->n;
    double ss = (double)len / n;
    for (int x = 0; x < n; x++) push_train(b, len - 1 - (int)(x * ss));
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    (void)err;
    return SDC_OK;
}

/* diffusers DDIMScheduler, "leading" spacing, steps_offset 1,
 * set_alpha_to_one False: the last step goes to alphas_cumprod[0]. */
static sdc_status build_ddim_uniform(builder *b, sdc_error *err) {
    int n = b->steps, ratio = b->ns->n / n;
    if (ratio < 1 || (n - 1) * ratio + 1 > b->ns->n - 1)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "ddim_uniform: %d steps is too many for %d training steps", n,
                             b->ns->n);
    for (int k = n - 1; k >= 0; k--) push_train(b, k * ratio + 1);
    push_train(b, 0);
    b->init_rule = INIT_VP;
    return SDC_OK;
}

static sdc_status build_beta(builder *b, sdc_error *err) {
    int n = b->steps, total = b->ns->n - 1;
    double a = b->o->beta_alpha, bb = b->o->beta_beta;
    if (!(a > 0 && bb > 0)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "beta scheduler: alpha, beta must be > 0");
    double last = -1;
    for (int i = 0; i < n; i++) {
        /* snap to 1e-6 first: scipy's exact quantiles hit .5 ties (p = 0.5 with
         * alpha = beta) that a bisection lands a hair below */
        double t = nearbyint(nearbyint(beta_ppf(1.0 - (double)i / n, a, bb) * total * 1e6) / 1e6);
        if (t != last) push_train(b, (int)t);
        last = t;
    }
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    return SDC_OK;
}

static sdc_status build_linear_quadratic(builder *b, sdc_error *err) {
    int n = b->steps;
    double smax = sdc_noise_schedule_sigma_max(b->ns), thr = 0.025;
    if (n == 1) {
        push_sigma(b, smax);
        push(b, 0, 0);
        return SDC_OK;
    }
    int lin = n / 2, quad = n - lin;
    double diff = lin - thr * n;
    double qc = diff / (lin * (double)quad * quad), lc = thr / lin - 2 * diff / ((double)quad * quad);
    double cst = qc * (double)lin * lin;
    for (int i = 0; i < n; i++) {
        double v = i < lin ? i * thr / lin : qc * (double)i * i + lc * i + cst;
        push_sigma(b, (float)(1.0 - v) * (float)smax);
    }
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    (void)err;
    return SDC_OK;
}

static sdc_status build_kl_optimal(builder *b, sdc_error *err) {
    int n = b->steps;
    double amin = atan(sdc_noise_schedule_sigma_min(b->ns)), amax = atan(sdc_noise_schedule_sigma_max(b->ns));
    for (int i = 0; i < n; i++) {
        double adj = n == 1 ? 0 : f32((double)i / (n - 1));
        push_sigma(b, tan(adj * amin + (1 - adj) * amax));
    }
    push(b, 0, 0);
    b->init_rule = INIT_COMFY;
    (void)err;
    return SDC_OK;
}

/* diffusers LCMScheduler.set_timesteps (strength 1). */
static sdc_status build_lcm(builder *b, sdc_error *err) {
    int n = b->steps, orig = b->o->lcm_original_steps;
    if (orig < 1 || orig > b->ns->n || n > orig)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "lcm: %d steps need original_steps (%d) >= steps", n, orig);
    int k = b->ns->n / orig;
    for (int i = 0; i < n; i++) {
        int idx = (int)floor((double)i * orig / n); /* into the reversed origin list */
        push_train(b, (orig - idx) * k - 1);
    }
    push(b, 0, 0);
    b->init_rule = INIT_VP;
    return SDC_OK;
}

static sdc_status build_raw(builder *b, sdc_scheduler kind, sdc_error *err) {
    switch (kind) {
    case SDC_SCHED_NORMAL: return build_normal(b, err);
    case SDC_SCHED_NORMAL_COMFY: return build_normal_comfy(b, 0, err);
    case SDC_SCHED_SGM_UNIFORM: return build_normal_comfy(b, 1, err);
    case SDC_SCHED_KARRAS: return build_karras(b, err);
    case SDC_SCHED_DIFFUSERS_KARRAS: return build_diffusers_karras(b, err);
    case SDC_SCHED_EXPONENTIAL: return build_exponential(b, err);
    case SDC_SCHED_SIMPLE: return build_simple(b, err);
    case SDC_SCHED_DDIM_UNIFORM: return build_ddim_uniform(b, err);
    case SDC_SCHED_BETA: return build_beta(b, err);
    case SDC_SCHED_LINEAR_QUADRATIC: return build_linear_quadratic(b, err);
    case SDC_SCHED_KL_OPTIMAL: return build_kl_optimal(b, err);
    case SDC_SCHED_LCM: return build_lcm(b, err);
    case SDC_SCHED_COUNT: break;
    }
    return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown scheduler %d", (int)kind);
}

static sdc_status sched_alloc(sdc_sched *s, int count, sdc_error *err) {
    memset(s, 0, sizeof *s);
    s->sigmas = calloc((size_t)count, sizeof(double));
    s->timesteps = calloc((size_t)count, sizeof(double));
    if (!s->sigmas || !s->timesteps) {
        sdc_sched_free(s);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for a %d-step schedule", count);
    }
    return SDC_OK;
}

void sdc_sched_free(sdc_sched *s) {
    if (!s) return;
    free(s->sigmas);
    free(s->timesteps);
    memset(s, 0, sizeof *s);
}

/* Builds all steps of `kind` (with ComfyUI's penultimate-sigma discard when
 * asked) into out; init_noise_scale from the scheduler's rule. */
static sdc_status build_full(sdc_sched *out, const sdc_noise_schedule *ns, sdc_scheduler kind, int steps,
                             const sdc_sched_opts *o, sdc_error *err) {
    if (steps < 1 || steps > 100000) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "steps %d outside [1, 100000]", steps);
    int discard = o->discard_penultimate != 0;
    int n = steps + discard;
    sdc_status st = sched_alloc(out, n + 2, err);
    if (st) return st;
    builder b = {ns, o, n, out->sigmas, out->timesteps, 0, 0};
    st = build_raw(&b, kind, err);
    if (st) {
        sdc_sched_free(out);
        return st;
    }
    if (discard && b.count >= 3) { /* torch.cat([sigmas[:-2], sigmas[-1:]]) */
        b.sig[b.count - 2] = b.sig[b.count - 1];
        b.ts[b.count - 2] = b.ts[b.count - 1];
        b.count--;
    }
    out->steps = b.count - 1;
    int vp = o->init_noise == SDC_INIT_NOISE_VP;
    if (o->init_noise == SDC_INIT_NOISE_AUTO) vp = b.init_rule == INIT_VP || (b.init_rule == INIT_COMFY && comfy_max_denoise(&b));
    out->init_noise_scale = vp ? sqrt(1.0 + out->sigmas[0] * out->sigmas[0]) : out->sigmas[0];
    return SDC_OK;
}

sdc_status sdc_sched_build(sdc_sched *out, const sdc_noise_schedule *ns, sdc_scheduler kind, int steps,
                           const sdc_sched_opts *o, sdc_error *err) {
    sdc_sched_opts def;
    if (!o) {
        sdc_sched_opts_default(&def);
        o = &def;
    }
    memset(out, 0, sizeof *out);
    return build_full(out, ns, kind, steps, o, err);
}

sdc_status sdc_sched_from_sigmas(sdc_sched *out, const sdc_noise_schedule *ns, const double *sigmas, int count,
                                 sdc_error *err) {
    memset(out, 0, sizeof *out);
    if (count < 2) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "a schedule needs at least 2 sigmas, got %d", count);
    for (int i = 0; i < count; i++)
        if (!(sigmas[i] >= 0) || (i && sigmas[i] > sigmas[i - 1]))
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "sigmas must be finite, >= 0 and non-increasing (index %d)", i);
    sdc_status st = sched_alloc(out, count, err);
    if (st) return st;
    for (int i = 0; i < count; i++) {
        out->sigmas[i] = sigmas[i];
        out->timesteps[i] = sdc_noise_schedule_timestep(ns, sigmas[i]);
    }
    out->steps = count - 1;
    double smax = sdc_noise_schedule_sigma_max(ns);
    int vp = sigmas[0] >= smax * (1 - 1e-5);
    out->init_noise_scale = vp ? sqrt(1.0 + sigmas[0] * sigmas[0]) : sigmas[0];
    return SDC_OK;
}

sdc_status sdc_sched_build_spaced(sdc_sched *out, const sdc_noise_schedule *ns, sdc_spacing spacing, int steps,
                                  int steps_offset, int ddim_final, sdc_error *err) {
    memset(out, 0, sizeof *out);
    int n = ns->n;
    if (steps < 1 || steps > n) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "steps %d outside [1, %d]", steps, n);
    sdc_status st = sched_alloc(out, steps + 1, err);
    if (st) return st;
    for (int i = 0; i < steps; i++) {
        double t;
        if (spacing == SDC_SPACING_LEADING) t = (double)(steps - 1 - i) * (n / steps) + steps_offset;
        else if (spacing == SDC_SPACING_TRAILING) t = nearbyint(n - (double)i * ((double)n / steps)) - 1;
        else t = f32(steps == 1 ? 0 : (steps - 1 - i) == steps - 1 ? n - 1 : (steps - 1 - i) * ((double)(n - 1) / (steps - 1)));
        if (t < 0 || t > n - 1) {
            sdc_sched_free(out);
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "timestep %g outside [0, %d] (steps %d, offset %d)", t, n - 1,
                                 steps, steps_offset);
        }
        out->timesteps[i] = t;
        out->sigmas[i] = f32(sdc_noise_schedule_sigma_lin(ns, t));
    }
    out->sigmas[steps] = ddim_final ? ns->sigmas[0] : 0;
    out->timesteps[steps] = 0;
    out->steps = steps;
    int vp = ddim_final || spacing == SDC_SPACING_LEADING;
    out->init_noise_scale = vp ? sqrt(1.0 + out->sigmas[0] * out->sigmas[0]) : out->sigmas[0];
    return SDC_OK;
}

/* Keeps entries [first, steps] of s (a suffix), as the new schedule. */
static void sched_keep_suffix(sdc_sched *s, int first) {
    int count = s->steps + 1 - first;
    memmove(s->sigmas, s->sigmas + first, (size_t)count * sizeof(double));
    memmove(s->timesteps, s->timesteps + first, (size_t)count * sizeof(double));
    s->steps = count - 1;
    s->init_noise_scale = s->sigmas[0];
}

sdc_status sdc_sched_build_img2img(sdc_sched *out, const sdc_noise_schedule *ns, sdc_scheduler kind, int steps,
                                   double strength, sdc_img2img_rule rule, const sdc_sched_opts *o, sdc_error *err) {
    memset(out, 0, sizeof *out);
    if (!(strength > 0 && strength <= 1))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "strength %g outside (0, 1]", strength);
    if (steps < 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "steps %d must be >= 1", steps);
    if (rule == SDC_IMG2IMG_COMFY) {
        if (strength > 0.9999) return sdc_sched_build(out, ns, kind, steps, o, err);
        double big = (double)steps / strength;
        if (big > 100000) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "strength %g too small for %d steps", strength, steps);
        sdc_status st = sdc_sched_build(out, ns, kind, (int)big, o, err);
        if (st) return st;
        if (out->steps > steps) sched_keep_suffix(out, out->steps - steps);
        else out->init_noise_scale = out->sigmas[0];
        return SDC_OK;
    }
    sdc_status st = sdc_sched_build(out, ns, kind, steps, o, err);
    if (st) return st;
    int n = out->steps, first;
    if (rule == SDC_IMG2IMG_A1111) {
        int t_enc = (int)((strength < 0.999 ? strength : 0.999) * n);
        first = n - t_enc - 1;
    } else {
        int init_t = (int)(n * strength);
        if (init_t > n) init_t = n;
        first = n - init_t;
    }
    if (first > 0) sched_keep_suffix(out, first); /* else the full run keeps the scheduler's init rule */
    return SDC_OK;
}

void sdc_sched_noise_latent(float *out, const float *latent, const float *noise, size_t n, double scale) {
    float s = (float)scale;
    for (size_t i = 0; i < n; i++) out[i] = (latent ? latent[i] : 0.0f) + noise[i] * s;
}

double sdc_sigma_vp_scale(double sigma) { return 1.0 / sqrt(1.0 + sigma * sigma); }

/* ---- names ----------------------------------------------------------------- */

static const struct {
    const char *name;
    sdc_scheduler kind;
} k_sched_names[] = {
    {"normal", SDC_SCHED_NORMAL},
    {"karras", SDC_SCHED_KARRAS},
    {"exponential", SDC_SCHED_EXPONENTIAL},
    {"sgm_uniform", SDC_SCHED_SGM_UNIFORM},
    {"simple", SDC_SCHED_SIMPLE},
    {"ddim_uniform", SDC_SCHED_DDIM_UNIFORM},
    {"beta", SDC_SCHED_BETA},
    {"linear_quadratic", SDC_SCHED_LINEAR_QUADRATIC},
    {"kl_optimal", SDC_SCHED_KL_OPTIMAL},
    {"lcm", SDC_SCHED_LCM},
    {"diffusers_karras", SDC_SCHED_DIFFUSERS_KARRAS},
    {"normal_comfy", SDC_SCHED_NORMAL_COMFY},
    /* aliases */
    {"ddim", SDC_SCHED_DDIM_UNIFORM},
    {"uniform", SDC_SCHED_SIMPLE},
    {"sgm-uniform", SDC_SCHED_SGM_UNIFORM},
    {"automatic", SDC_SCHED_NORMAL},
};

static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca == '-' || ca == ' ') ca = '_';
        if (cb == '-' || cb == ' ') cb = '_';
        if (ca != cb) return 0;
    }
    return *a == *b;
}

sdc_status sdc_scheduler_from_name(const char *name, sdc_scheduler *out, sdc_error *err) {
    for (size_t i = 0; name && i < sizeof k_sched_names / sizeof k_sched_names[0]; i++)
        if (name_eq(name, k_sched_names[i].name)) {
            *out = k_sched_names[i].kind;
            return SDC_OK;
        }
    return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown scheduler '%s'; valid: %s", name ? name : "(null)",
                         sdc_scheduler_names());
}

const char *sdc_scheduler_name(sdc_scheduler k) {
    for (size_t i = 0; i < sizeof k_sched_names / sizeof k_sched_names[0]; i++)
        if (k_sched_names[i].kind == k) return k_sched_names[i].name;
    return "?";
}

const char *sdc_scheduler_names(void) {
    return "normal, karras, exponential, sgm_uniform, simple, ddim_uniform, beta, linear_quadratic, kl_optimal, "
           "lcm, diffusers_karras, normal_comfy";
}

/* ---- prediction types ------------------------------------------------------ */

sdc_pred_scalings sdc_pred_get_scalings(sdc_prediction p, double sigma) {
    sdc_pred_scalings s;
    double r = sqrt(sigma * sigma + 1.0);
    s.c_in = 1.0 / r;
    if (p == SDC_PRED_V) {
        s.c_skip = 1.0 / (sigma * sigma + 1.0);
        s.c_out = -sigma / r;
    } else {
        s.c_skip = 1.0;
        s.c_out = -sigma;
    }
    return s;
}

void sdc_pred_lcm_scalings(double t, double timestep_scaling, double *c_skip, double *c_out) {
    double st = t * timestep_scaling, sd2 = 0.25;
    *c_skip = sd2 / (st * st + sd2);
    *c_out = st / sqrt(st * st + sd2);
}

void sdc_pred_to_x0(sdc_prediction p, int lcm, const float *x, const float *model_out, double sigma, double t,
                    float *x0, size_t n) {
    sdc_pred_scalings s = sdc_pred_get_scalings(p, sigma);
    double lskip = 0, lout = 1, vp = sdc_sigma_vp_scale(sigma);
    if (lcm) sdc_pred_lcm_scalings(t, 10.0, &lskip, &lout);
    for (size_t i = 0; i < n; i++) {
        double d = s.c_skip * x[i] + s.c_out * model_out[i];
        x0[i] = (float)(lcm ? lout * d + lskip * vp * x[i] : d);
    }
}
