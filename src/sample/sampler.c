/* The samplers of sampler.h, written from the formulas of k-diffusion and
 * ComfyUI's comfy/k_diffusion/sampling.py (ddpm, lcm, ipndm from ComfyUI;
 * ddim with eta from the DDIM paper / diffusers; uni_pc from the UniPC paper
 * as ComfyUI wires it). Latents are float32,
 * per-step scalars double. Each sampler is one function over a shared run
 * state; names and per-sampler facts live at the end of the file. Does not:
 * CFG++ variants, flow-matching (CONST) models. */
#include "sample/sampler.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NBUF 8

typedef struct run {
    const sdc_sampler_opts *o;
    const sdc_sched *s;
    const sdc_noise_schedule *ns;
    const sdc_sampler_ctx *ctx;
    sdc_error *err;
    float *x;
    size_t n;
    float *buf[NBUF]; /* [n] each, allocated on demand */
    int step;
} run;

static float *buffer(run *r, int i) {
    if (!r->buf[i]) r->buf[i] = malloc(r->n * sizeof(float));
    return r->buf[i];
}

/* x0 = model(xin, sigma); t is the schedule's timestep or NAN for t(sigma). */
static sdc_status model(run *r, const float *xin, double sigma, double t, float *x0) {
    sdc_denoise_args a = {xin, x0, r->n, sigma, isnan(t) ? sdc_noise_schedule_timestep(r->ns, sigma) : t, r->step};
    return r->ctx->denoise(r->ctx->denoise_user, &a, r->err);
}
/* Model at the schedule's i-th sigma. */
static sdc_status model_at(run *r, const float *xin, int i, float *x0) {
    return model(r, xin, r->s->sigmas[i], r->s->timesteps[i], x0);
}

static sdc_status callback(run *r, float *x, float *denoised) {
    if (!r->ctx->on_step) return SDC_OK;
    sdc_step_info info = {r->step, r->s->steps, r->s->sigmas[r->step], r->s->sigmas[r->step + 1], x, denoised, r->n};
    if (r->ctx->on_step(r->ctx->step_user, &info))
        return sdc_error_set(r->err, SDC_ERR_CANCELLED, "sampling cancelled at step %d of %d", r->step + 1, r->s->steps);
    return SDC_OK;
}

static sdc_status noise(run *r, double sigma, double sigma_next, float *out) {
    if (!r->ctx->noise)
        return sdc_error_set(r->err, SDC_ERR_INVALID_ARG, "this sampler needs a noise source (sdc_sampler_ctx.noise)");
    return r->ctx->noise(r->ctx->noise_user, sigma, sigma_next, out, r->n, r->err);
}

/* x += scale * noise(sigma, sigma_next) */
static sdc_status add_noise(run *r, double sigma, double sigma_next, double scale, float *x) {
    float *z = buffer(r, NBUF - 1);
    if (!z) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    sdc_status st = noise(r, sigma, sigma_next, z);
    if (st) return st;
    float s = (float)scale;
    for (size_t i = 0; i < r->n; i++) x[i] += z[i] * s;
    return SDC_OK;
}

/* d = (x - denoised) / sigma */
static void to_d(const float *x, const float *den, double sigma, float *d, size_t n) {
    float inv = (float)sigma;
    for (size_t i = 0; i < n; i++) d[i] = (x[i] - den[i]) / inv;
}
/* y = a*x + b*z */
static void lin2(float *y, double a, const float *x, double b, const float *z, size_t n) {
    float fa = (float)a, fb = (float)b;
    for (size_t i = 0; i < n; i++) y[i] = fa * x[i] + fb * z[i];
}
/* y += a * x */
static void axpy(float *y, double a, const float *x, size_t n) {
    float fa = (float)a;
    for (size_t i = 0; i < n; i++) y[i] += fa * x[i];
}

static void ancestral_step(double from, double to, double eta, double *down, double *up) {
    if (eta == 0) {
        *down = to;
        *up = 0;
        return;
    }
    double u = eta * sqrt(to * to * (from * from - to * to) / (from * from));
    *up = u < to ? u : to;
    *down = sqrt(to * to - *up * *up);
}

/* ---- Euler family ---------------------------------------------------------- */

/* Karras churn: raises sigma to sigma_hat with fresh noise; returns sigma_hat. */
static sdc_status churn(run *r, int i, double *sigma_hat) {
    double s = r->s->sigmas[i], gamma = 0;
    const sdc_sampler_opts *o = r->o;
    if (o->s_churn > 0 && s >= o->s_tmin && s <= o->s_tmax) {
        gamma = o->s_churn / r->s->steps;
        if (gamma > M_SQRT2 - 1) gamma = M_SQRT2 - 1;
    }
    *sigma_hat = s * (gamma + 1);
    if (gamma > 0) return add_noise(r, s, *sigma_hat, o->s_noise * sqrt(*sigma_hat * *sigma_hat - s * s), r->x);
    return SDC_OK;
}

static sdc_status eval_first(run *r, int i, double sigma_hat, float *den) {
    sdc_status st = sigma_hat == r->s->sigmas[i] ? model_at(r, r->x, i, den) : model(r, r->x, sigma_hat, NAN, den);
    return st ? st : callback(r, r->x, den);
}

/* euler, heun, dpm_2 share the churned first evaluation. */
static sdc_status sample_euler_like(run *r, sdc_sampler_kind k) {
    float *den = buffer(r, 0), *d = buffer(r, 1), *x2 = buffer(r, 2), *d2 = buffer(r, 3);
    if (!den || !d || !x2 || !d2) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double sh, sn = r->s->sigmas[i + 1];
        sdc_status st = churn(r, i, &sh);
        if (!st) st = eval_first(r, i, sh, den);
        if (st) return st;
        to_d(r->x, den, sh, d, n);
        if (k == SDC_SAMPLER_EULER || sn == 0) {
            axpy(r->x, sn - sh, d, n);
        } else if (k == SDC_SAMPLER_HEUN) {
            lin2(x2, 1, r->x, sn - sh, d, n);
            if ((st = model_at(r, x2, i + 1, den))) return st;
            to_d(x2, den, sn, d2, n);
            for (size_t j = 0; j < n; j++) r->x[j] += (d[j] + d2[j]) / 2 * (float)(sn - sh);
        } else { /* dpm_2 */
            double sm = exp(0.5 * (log(sh) + log(sn)));
            lin2(x2, 1, r->x, sm - sh, d, n);
            if ((st = model(r, x2, sm, NAN, den))) return st;
            to_d(x2, den, sm, d2, n);
            axpy(r->x, sn - sh, d2, n);
        }
    }
    return SDC_OK;
}

static sdc_status sample_euler_ancestral(run *r) {
    float *den = buffer(r, 0), *d = buffer(r, 1);
    if (!den || !d) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1], down, up;
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        ancestral_step(s, sn, r->o->eta, &down, &up);
        if (down == 0) {
            memcpy(r->x, den, r->n * sizeof(float));
            continue;
        }
        to_d(r->x, den, s, d, r->n);
        axpy(r->x, down - s, d, r->n);
        if ((st = add_noise(r, s, sn, r->o->s_noise * up, r->x))) return st;
    }
    return SDC_OK;
}

static sdc_status sample_dpm_2_ancestral(run *r) {
    float *den = buffer(r, 0), *d = buffer(r, 1), *x2 = buffer(r, 2);
    if (!den || !d || !x2) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1], down, up;
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        ancestral_step(s, sn, r->o->eta, &down, &up);
        to_d(r->x, den, s, d, n);
        if (down == 0) {
            axpy(r->x, down - s, d, n);
            continue;
        }
        double sm = exp(0.5 * (log(s) + log(down)));
        lin2(x2, 1, r->x, sm - s, d, n);
        if ((st = model(r, x2, sm, NAN, den))) return st;
        to_d(x2, den, sm, d, n);
        axpy(r->x, down - s, d, n);
        if ((st = add_noise(r, s, sn, r->o->s_noise * up, r->x))) return st;
    }
    return SDC_OK;
}

/* ---- linear multistep ------------------------------------------------------ */

/* Integral over [t[i], t[i+1]] of the Lagrange basis polynomial j of the
 * points t[i], t[i-1], ..., t[i-order+1]: exact by 5-point Gauss-Legendre
 * (degree <= 3). k-diffusion integrates the same with scipy's quad. */
static double lms_coeff(int order, const double *t, int i, int j) {
    static const double gx[5] = {0.0, -0.5384693101056831, 0.5384693101056831, -0.9061798459386640,
                                 0.9061798459386640};
    static const double gw[5] = {0.5688888888888889, 0.4786286704993665, 0.4786286704993665, 0.2369268850561891,
                                 0.2369268850561891};
    double a = t[i], b = t[i + 1], sum = 0;
    for (int q = 0; q < 5; q++) {
        double tau = 0.5 * (b - a) * gx[q] + 0.5 * (a + b), prod = 1;
        for (int k = 0; k < order; k++)
            if (k != j) prod *= (tau - t[i - k]) / (t[i - j] - t[i - k]);
        sum += gw[q] * prod;
    }
    return 0.5 * (b - a) * sum;
}

static sdc_status sample_lms(run *r) {
    int order = r->o->lms_order < 1 ? 1 : r->o->lms_order > 4 ? 4 : r->o->lms_order;
    float *den = buffer(r, 0), *ds[4];
    for (int k = 0; k < order; k++)
        if (!(ds[k] = buffer(r, 1 + k))) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    if (!den) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = model_at(r, r->x, i, den);
        if (st) return st;
        to_d(r->x, den, s, ds[i % order], r->n); /* ring: d_i at slot i % order */
        if ((st = callback(r, r->x, den))) return st;
        if (sn == 0) {
            memcpy(r->x, den, r->n * sizeof(float));
            continue;
        }
        int cur = i + 1 < order ? i + 1 : order;
        for (int j = 0; j < cur; j++) axpy(r->x, lms_coeff(cur, r->s->sigmas, i, j), ds[(i - j) % order], r->n);
    }
    return SDC_OK;
}

/* ---- DPM-Solver++ family (t = -log sigma) ---------------------------------- */

static sdc_status sample_dpmpp_2s_ancestral(run *r) {
    float *den = buffer(r, 0), *x2 = buffer(r, 1);
    if (!den || !x2) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1], down, up;
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        ancestral_step(s, sn, r->o->eta, &down, &up);
        if (down == 0) {
            memcpy(r->x, den, n * sizeof(float));
        } else {
            double t = -log(s), tn = -log(down), h = tn - t, sm = exp(-(t + 0.5 * h));
            lin2(x2, sm / s, r->x, -expm1(-0.5 * h), den, n);
            if ((st = model(r, x2, sm, NAN, den))) return st;
            lin2(r->x, down / s, r->x, -expm1(-h), den, n);
        }
        if (sn > 0 && (st = add_noise(r, s, sn, r->o->s_noise * up, r->x))) return st;
    }
    return SDC_OK;
}

static sdc_status sample_dpmpp_sde(run *r) {
    float *den = buffer(r, 0), *x2 = buffer(r, 1), *den2 = buffer(r, 2);
    if (!den || !x2 || !den2) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    double rr = r->o->sde_r, fac = 1 / (2 * rr), eta = r->o->eta, sno = r->o->s_noise;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        if (sn == 0) {
            memcpy(r->x, den, n * sizeof(float));
            continue;
        }
        double ls = -log(s), lt = -log(sn), h = lt - ls, s1 = exp(-(ls + rr * h)), down, up;
        ancestral_step(s, s1, eta, &down, &up); /* step 1: to the intermediate sigma s1 */
        double h_ = -log(down) - ls;
        lin2(x2, exp(-h_), r->x, -expm1(-h_), den, n);
        if (eta > 0 && sno > 0 && (st = add_noise(r, s, s1, sno * up, x2))) return st;
        if ((st = model(r, x2, s1, NAN, den2))) return st;
        ancestral_step(s, sn, eta, &down, &up); /* step 2 */
        h_ = -log(down) - ls;
        for (size_t j = 0; j < n; j++) den[j] = (float)(1 - fac) * den[j] + (float)fac * den2[j];
        lin2(r->x, exp(-h_), r->x, -expm1(-h_), den, n);
        if (eta > 0 && sno > 0 && (st = add_noise(r, s, sn, sno * up, r->x))) return st;
    }
    return SDC_OK;
}

static sdc_status sample_dpmpp_2m(run *r) {
    float *den = buffer(r, 0), *old = buffer(r, 1);
    if (!den || !old) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        if (sn == 0) {
            memcpy(r->x, den, n * sizeof(float)); /* first order to 0: x = denoised */
        } else if (sn != s) { /* a repeated sigma (diffusers_karras' last step) leaves x alone */
            double t = -log(s), tn = -log(sn), h = tn - t, a = sn / s, b = -expm1(-h);
            if (i == 0) {
                lin2(r->x, a, r->x, b, den, n);
            } else {
                double r2 = 2 * ((t + log(r->s->sigmas[i - 1])) / h); /* 2 * h_last / h */
                float c1 = (float)(1 + 1 / r2), c2 = (float)(1 / r2), fa = (float)a, fb = (float)b;
                for (size_t j = 0; j < n; j++) r->x[j] = fa * r->x[j] + fb * (c1 * den[j] - c2 * old[j]);
            }
        }
        memcpy(old, den, n * sizeof(float));
    }
    return SDC_OK;
}

/* dpmpp_2m_sde (midpoint or heun) and dpmpp_3m_sde. */
static sdc_status sample_dpmpp_msde(run *r, int order, int heun) {
    float *den = buffer(r, 0), *d1 = buffer(r, 1), *d2 = buffer(r, 2);
    if (!den || !d1 || !d2) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    size_t n = r->n;
    double eta = r->o->eta, h = 0, h1 = 0, h2 = 0;
    int have1 = 0, have2 = 0;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        if (sn == 0) {
            memcpy(r->x, den, n * sizeof(float));
        } else if (sn != s) { /* a repeated sigma is a no-op step */
            h = -log(sn) + log(s);
            double he = h * (eta + 1), phi1 = -expm1(-he);
            lin2(r->x, sn / s * exp(-h * eta), r->x, phi1, den, n);
            double phi2 = 1 - phi1 / he; /* expm1(-he)/he + 1 */
            if (order == 3 && have2) {
                double r0 = h1 / h, r1 = h2 / h, phi3 = phi2 / he - 0.5;
                for (size_t j = 0; j < n; j++) {
                    double a = (den[j] - d1[j]) / r0, b = (d1[j] - d2[j]) / r1;
                    double dd1 = a + (a - b) * r0 / (r0 + r1), dd2 = (a - b) / (r0 + r1);
                    r->x[j] += (float)(phi2 * dd1 - phi3 * dd2);
                }
            } else if (have1) { /* 2M: midpoint 0.5*phi1, heun (and 3M's second order) phi2 */
                double c = (order == 3 || heun ? phi2 : 0.5 * phi1) / (h1 / h);
                for (size_t j = 0; j < n; j++) r->x[j] += (float)c * (den[j] - d1[j]);
            }
            if (eta > 0 && r->o->s_noise > 0 &&
                (st = add_noise(r, s, sn, sn * sqrt(-expm1(-2 * h * eta)) * r->o->s_noise, r->x)))
                return st;
        }
        float *tmp = d2; /* shift history: d2 <- d1 <- den */
        d2 = d1;
        d1 = den;
        den = tmp;
        have2 = have1;
        have1 = 1;
        h2 = h1;
        h1 = h;
    }
    return SDC_OK;
}

/* ---- DDPM, DDIM, LCM --------------------------------------------------------- */

/* ComfyUI's ddpm: ancestral DDPM posterior step in VP form. */
static sdc_status sample_ddpm(run *r) {
    float *den = buffer(r, 0), *z = buffer(r, 1);
    if (!den || !z) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        double ac = 1 / (s * s + 1), acp = 1 / (sn * sn + 1), alpha = ac / acp;
        double vp = 1 / sqrt(1 + s * s), c0 = sqrt(1 / alpha), c1 = (1 - alpha) / sqrt(1 - ac);
        double out = sn != 0 ? sqrt(1 + sn * sn) : 1;
        double zs = sn > 0 ? sqrt((1 - alpha) * (1 - acp) / (1 - ac)) : 0;
        if (sn > 0 && (st = noise(r, s, sn, z))) return st;
        for (size_t j = 0; j < r->n; j++) {
            double eps = (r->x[j] - den[j]) / s;
            double mu = c0 * (r->x[j] * vp - c1 * eps) + (sn > 0 ? zs * z[j] : 0);
            r->x[j] = (float)(mu * out);
        }
    }
    return SDC_OK;
}

/* DDIM (Song et al.) with eta, in sigma space: alpha_bar = 1/(1+sigma^2).
 * eta 0 is Euler; eta 1 is DDPM-like ancestral. */
static sdc_status sample_ddim(run *r) {
    float *den = buffer(r, 0), *z = buffer(r, 1);
    if (!den || !z) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    double eta = r->o->eta;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        double ac = 1 / (1 + s * s), acp = 1 / (1 + sn * sn);
        double sd = eta > 0 ? eta * sqrt((1 - acp) / (1 - ac)) * sqrt(1 - ac / acp) : 0;
        double ce = sqrt(fmax(1 - acp - sd * sd, 0) / acp), cz = sd / sqrt(acp);
        if (cz > 0 && (st = noise(r, s, sn, z))) return st;
        for (size_t j = 0; j < r->n; j++) {
            double eps = (r->x[j] - den[j]) / s;
            r->x[j] = (float)(den[j] + ce * eps + (cz > 0 ? cz * z[j] : 0));
        }
    }
    return SDC_OK;
}

/* LCM: jump to the consistency model's x0, re-noise to the next sigma. */
static sdc_status sample_lcm(run *r) {
    float *den = buffer(r, 0);
    if (!den) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        double s = r->s->sigmas[i], sn = r->s->sigmas[i + 1];
        sdc_status st = eval_first(r, i, s, den);
        if (st) return st;
        memcpy(r->x, den, r->n * sizeof(float));
        if (sn > 0 && (st = add_noise(r, s, sn, sn * r->o->s_noise, r->x))) return st;
    }
    return SDC_OK;
}

/* ---- iPNDM (ComfyUI, from zju-pi/diff-sampler) ------------------------------ */

static void ipndm_coeffs(const double *t, int i, int order, int variable, double c[4]) {
    static const double fixed[4][4] = {{1, 0, 0, 0}, {1.5, -0.5, 0, 0}, {23.0 / 12, -16.0 / 12, 5.0 / 12, 0},
                                       {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24}};
    memcpy(c, fixed[order - 1], sizeof fixed[0]);
    if (!variable || order < 2) return;
    double hn = t[i + 1] - t[i], h1 = t[i] - t[i - 1];
    c[0] = (2 + hn / h1) / 2;
    c[1] = -(hn / h1) / 2;
    if (order == 2) return;
    double h2 = t[i - 1] - t[i - 2];
    double t1 = (1 - hn / (3 * (hn + h1)) * (hn * (hn + h1)) / (h1 * (h1 + h2))) / 2;
    if (order == 3) {
        c[0] += t1;
        c[1] += -(1 + h1 / h2) * t1;
        c[2] = t1 * h1 / h2;
        return;
    }
    double h3 = t[i - 2] - t[i - 3];
    double q = h1 * (h1 + h2) / (h2 * (h2 + h3));
    double t2 = ((1 - hn / (3 * (hn + h1))) / 2 + (1 - hn / (2 * (hn + h1))) * hn / (6 * (hn + h1 + h2))) *
                (hn * (hn + h1) * (hn + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3));
    c[0] += t1 + t2;
    c[1] += -(1 + h1 / h2) * t1 - (1 + h1 / h2 + q) * t2;
    c[2] = t1 * h1 / h2 + (h1 / h2 + q * (1 + h2 / h3)) * t2;
    c[3] = -t2 * q * h1 / h2;
}

static sdc_status sample_ipndm(run *r, int variable) {
    float *den = buffer(r, 0), *ds[4];
    for (int k = 0; k < 4; k++)
        if (!(ds[k] = buffer(r, 1 + k))) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    if (!den) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    const double *t = r->s->sigmas;
    for (int i = 0; i < r->s->steps; i++) {
        r->step = i;
        sdc_status st = eval_first(r, i, t[i], den);
        if (st) return st;
        to_d(r->x, den, t[i], ds[i % 4], r->n);
        if (t[i + 1] == 0) {
            memcpy(r->x, den, r->n * sizeof(float));
            continue;
        }
        int order = i + 1 < 4 ? i + 1 : 4;
        double c[4];
        ipndm_coeffs(t, i, order, variable, c);
        for (int j = 0; j < order; j++) axpy(r->x, (t[i + 1] - t[i]) * c[j], ds[(i - j) % 4], r->n);
    }
    return SDC_OK;
}

/* ---- UniPC (bh1 / bh2), as ComfyUI runs it ------------------------------------
 * Data-prediction UniPC on VP latents with "time" = sigma: alpha =
 * 1/sqrt(1+s^2), std = s*alpha, lambda = -log s. A final sigma of 0 is
 * replaced by 0.001 (the result is returned in sigma space at 0.001).
 * Order min(3, steps - 1), lower order on the final steps, no corrector on
 * the last step; the corrector's model call at the predicted x is reused as
 * the model value of the corrected x (UniC). */

#define UNIPC_MAX_ORDER 3

/* Solves A x = b for n <= 3 by Gaussian elimination with partial pivoting. */
static void solve_small(int n, double a[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], double *b, double *x) {
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        for (int k = 0; k < n; k++) {
            double t = a[c][k];
            a[c][k] = a[p][k];
            a[p][k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < n; k++) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double v = b[r];
        for (int k = r + 1; k < n; k++) v -= a[r][k] * x[k];
        x[r] = v / a[r][r];
    }
}

typedef struct unipc {
    run *r;
    int bh2;
    float *m[UNIPC_MAX_ORDER]; /* model x0 history, oldest first */
    double t[UNIPC_MAX_ORDER]; /* their sigmas */
    int count;
    float *xt_, *model_t;
} unipc;

/* x0 of the model at VP latent x_vp and sigma (schedule index i or -1). */
static sdc_status unipc_model(unipc *u, const float *x_vp, double sigma, int i, float *x0) {
    run *r = u->r;
    float *xs = buffer(r, NBUF - 2);
    if (!xs) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    float k = (float)sqrt(sigma * sigma + 1);
    for (size_t j = 0; j < r->n; j++) xs[j] = x_vp[j] * k;
    return i >= 0 ? model_at(r, xs, i, x0) : model(r, xs, sigma, NAN, x0);
}

/* One multistep bh update of x (VP) to sigma t with `order`; writes the
 * corrector's model value to u->model_t when corrected (*have_model). */
static sdc_status unipc_update(unipc *u, float *x, double t, int ti, int order, int corrector, int *have_model) {
    run *r = u->r;
    size_t n = r->n;
    int last = u->count - 1;
    double s0 = u->t[last], l0 = -log(s0), lt = -log(t), h = lt - l0;
    double alpha_t = 1 / sqrt(1 + t * t), std_t = t * alpha_t, std_0 = s0 / sqrt(1 + s0 * s0);
    double rks[UNIPC_MAX_ORDER + 1], hh = -h, hphi1 = expm1(hh), hphik = hphi1 / hh - 1, fact = 1;
    double bh = u->bh2 ? expm1(hh) : hh, R[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], b[UNIPC_MAX_ORDER];
    for (int i = 1; i < order; i++) rks[i - 1] = ((-log(u->t[last - i])) - l0) / h;
    rks[order - 1] = 1;
    for (int i = 1; i <= order; i++) {
        for (int k = 0; k < order; k++) R[i - 1][k] = pow(rks[k], i - 1);
        b[i - 1] = hphik * fact / bh;
        fact *= i + 1;
        hphik = hphik / hh - 1 / fact;
    }
    double rp[UNIPC_MAX_ORDER] = {0}, rc[UNIPC_MAX_ORDER] = {0};
    if (order == 2) rp[0] = 0.5;
    else if (order > 2) {
        double a[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], bb[UNIPC_MAX_ORDER];
        memcpy(a, R, sizeof a);
        memcpy(bb, b, sizeof bb);
        solve_small(order - 1, a, bb, rp);
    }
    if (order == 1) rc[0] = 0.5;
    else solve_small(order, R, b, rc);
    float *xt_ = u->xt_;
    for (size_t j = 0; j < n; j++) { /* x_t_ = std_t/std_0 x - alpha_t hphi1 m0; then the predictor */
        double base = std_t / std_0 * x[j] - alpha_t * hphi1 * u->m[last][j], res = 0;
        for (int k = 0; k + 1 < order; k++) res += rp[k] * (u->m[last - 1 - k][j] - u->m[last][j]) / rks[k];
        xt_[j] = (float)base;
        x[j] = (float)(base - alpha_t * bh * res);
    }
    *have_model = 0;
    if (!corrector) return SDC_OK;
    sdc_status st = unipc_model(u, x, t, ti, u->model_t);
    if (st) return st;
    for (size_t j = 0; j < n; j++) {
        double res = 0;
        for (int k = 0; k + 1 < order; k++) res += rc[k] * (u->m[last - 1 - k][j] - u->m[last][j]) / rks[k];
        res += rc[order - 1] * (u->model_t[j] - u->m[last][j]);
        x[j] = (float)(xt_[j] - alpha_t * bh * res);
    }
    *have_model = 1;
    return SDC_OK;
}

/* Appends (t, model) to the history, dropping the oldest when full. */
static void unipc_push(unipc *u, double t, const float *m) {
    if (u->count == UNIPC_MAX_ORDER) {
        float *old = u->m[0];
        memmove(u->m, u->m + 1, (UNIPC_MAX_ORDER - 1) * sizeof(float *));
        memmove(u->t, u->t + 1, (UNIPC_MAX_ORDER - 1) * sizeof(double));
        u->m[UNIPC_MAX_ORDER - 1] = old;
        u->count--;
    }
    memcpy(u->m[u->count], m, u->r->n * sizeof(float));
    u->t[u->count++] = t;
}

static sdc_status sample_unipc(run *r, int bh2) {
    unipc u = {r, bh2, {buffer(r, 0), buffer(r, 1), buffer(r, 2)}, {0}, 0, buffer(r, 3), buffer(r, 4)};
    float *xv = buffer(r, 5);
    if (!u.m[0] || !u.m[1] || !u.m[2] || !u.xt_ || !u.model_t || !xv) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    const double *sig = r->s->sigmas;
    int steps = r->s->steps, order = steps - 1 < UNIPC_MAX_ORDER ? steps - 1 : UNIPC_MAX_ORDER;
    if (order < 1) order = 1;
    double t_end = sig[steps] > 0 ? sig[steps] : 0.001;
    float a0 = (float)(1 / sqrt(1 + sig[0] * sig[0]));
    for (size_t j = 0; j < r->n; j++) xv[j] = r->x[j] * a0;
    r->step = 0;
    sdc_status st = unipc_model(&u, xv, sig[0], 0, u.model_t);
    if (!st) st = callback(r, r->x, u.model_t);
    if (st) return st;
    unipc_push(&u, sig[0], u.model_t);
    for (int step = 1; step <= steps && !st; step++) {
        double t = step == steps ? t_end : sig[step];
        int ord = step < order ? step : (order < steps + 1 - step ? order : steps + 1 - step);
        int have = 0;
        st = unipc_update(&u, xv, t, step == steps ? -1 : step, ord, step < steps, &have);
        if (st || step == steps) break;
        if (!have && (st = unipc_model(&u, xv, t, step, u.model_t))) break;
        unipc_push(&u, t, u.model_t);
        r->step = step;
        float at = (float)sqrt(1 + t * t);
        for (size_t j = 0; j < r->n; j++) r->x[j] = xv[j] * at;
        st = callback(r, r->x, u.m[u.count - 1]);
        float inv = 1 / at;
        for (size_t j = 0; j < r->n; j++) xv[j] = r->x[j] * inv; /* the callback may have edited x */
    }
    if (st) return st;
    float k = (float)sqrt(1 + t_end * t_end);
    for (size_t j = 0; j < r->n; j++) r->x[j] = xv[j] * k;
    return SDC_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

void sdc_sampler_opts_default(sdc_sampler_kind k, sdc_sampler_opts *o) {
    memset(o, 0, sizeof *o);
    o->eta = k == SDC_SAMPLER_DDIM ? 0.0 : 1.0;
    o->s_noise = 1.0;
    o->s_tmax = INFINITY;
    o->lms_order = 4;
    o->sde_r = 0.5;
}

static sdc_status dispatch(run *r, sdc_sampler_kind k) {
    switch (k) {
    case SDC_SAMPLER_EULER:
    case SDC_SAMPLER_HEUN:
    case SDC_SAMPLER_DPM_2: return sample_euler_like(r, k);
    case SDC_SAMPLER_EULER_ANCESTRAL: return sample_euler_ancestral(r);
    case SDC_SAMPLER_DPM_2_ANCESTRAL: return sample_dpm_2_ancestral(r);
    case SDC_SAMPLER_LMS: return sample_lms(r);
    case SDC_SAMPLER_DPMPP_2S_ANCESTRAL: return sample_dpmpp_2s_ancestral(r);
    case SDC_SAMPLER_DPMPP_SDE: return sample_dpmpp_sde(r);
    case SDC_SAMPLER_DPMPP_2M: return sample_dpmpp_2m(r);
    case SDC_SAMPLER_DPMPP_2M_SDE: return sample_dpmpp_msde(r, 2, 0);
    case SDC_SAMPLER_DPMPP_2M_SDE_HEUN: return sample_dpmpp_msde(r, 2, 1);
    case SDC_SAMPLER_DPMPP_3M_SDE: return sample_dpmpp_msde(r, 3, 0);
    case SDC_SAMPLER_DDPM: return sample_ddpm(r);
    case SDC_SAMPLER_DDIM: return sample_ddim(r);
    case SDC_SAMPLER_LCM: return sample_lcm(r);
    case SDC_SAMPLER_IPNDM: return sample_ipndm(r, 0);
    case SDC_SAMPLER_IPNDM_V: return sample_ipndm(r, 1);
    case SDC_SAMPLER_UNI_PC: return sample_unipc(r, 0);
    case SDC_SAMPLER_UNI_PC_BH2: return sample_unipc(r, 1);
    case SDC_SAMPLER_COUNT: break;
    }
    return sdc_error_set(r->err, SDC_ERR_INVALID_ARG, "unknown sampler %d", (int)k);
}

sdc_status sdc_sample(sdc_sampler_kind k, const sdc_sampler_opts *o, const sdc_sched *sched,
                      const sdc_noise_schedule *ns, const sdc_sampler_ctx *ctx, float *x, size_t n, sdc_error *err) {
    sdc_sampler_opts def;
    if (!o) {
        sdc_sampler_opts_default(k, &def);
        o = &def;
    }
    if (!sched || !ns || !ctx || !ctx->denoise || (!x && n))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "sdc_sample: missing schedule, model callback or latent");
    if (sched->steps < 0 || (sched->steps > 0 && !sched->sigmas))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "sdc_sample: malformed schedule");
    for (int i = 0; i < sched->steps; i++)
        if (!(sched->sigmas[i] > 0) || sched->sigmas[i + 1] < 0 || sched->sigmas[i + 1] > sched->sigmas[i])
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "sdc_sample: sigmas must decrease from > 0 (index %d)", i);
    if (sched->steps == 0 || n == 0) return SDC_OK;
    run r = {o, sched, ns, ctx, err, x, n, {0}, 0};
    sdc_status st = dispatch(&r, k);
    for (int i = 0; i < NBUF; i++) free(r.buf[i]);
    double last = sched->sigmas[sched->steps];
    if (!st && last > 0 && !o->keep_sigma_space) {
        float scale = (float)sdc_sigma_vp_scale(last);
        for (size_t i = 0; i < n; i++) x[i] *= scale;
    }
    return st;
}

/* ---- names and facts --------------------------------------------------------- */

static const char *const k_names[SDC_SAMPLER_COUNT] = {
    "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral", "dpmpp_sde",
    "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "ddpm", "ddim", "lcm", "ipndm", "ipndm_v", "uni_pc", "uni_pc_bh2"};

static const struct {
    const char *alias;
    sdc_sampler_kind kind;
    int sched; /* -1: none implied */
} k_aliases[] = {
    {"Euler", SDC_SAMPLER_EULER, -1},
    {"Euler a", SDC_SAMPLER_EULER_ANCESTRAL, -1},
    {"euler_a", SDC_SAMPLER_EULER_ANCESTRAL, -1},
    {"Heun", SDC_SAMPLER_HEUN, -1},
    {"DPM2", SDC_SAMPLER_DPM_2, -1},
    {"DPM2 a", SDC_SAMPLER_DPM_2_ANCESTRAL, -1},
    {"DPM2 Karras", SDC_SAMPLER_DPM_2, SDC_SCHED_KARRAS},
    {"DPM2 a Karras", SDC_SAMPLER_DPM_2_ANCESTRAL, SDC_SCHED_KARRAS},
    {"LMS", SDC_SAMPLER_LMS, -1},
    {"LMS Karras", SDC_SAMPLER_LMS, SDC_SCHED_KARRAS},
    {"DPM++ 2S a", SDC_SAMPLER_DPMPP_2S_ANCESTRAL, -1},
    {"DPM++ 2S a Karras", SDC_SAMPLER_DPMPP_2S_ANCESTRAL, SDC_SCHED_KARRAS},
    {"DPM++ SDE", SDC_SAMPLER_DPMPP_SDE, -1},
    {"DPM++ SDE Karras", SDC_SAMPLER_DPMPP_SDE, SDC_SCHED_KARRAS},
    {"DPM++ 2M", SDC_SAMPLER_DPMPP_2M, -1},
    {"DPM++ 2M Karras", SDC_SAMPLER_DPMPP_2M, SDC_SCHED_KARRAS},
    {"DPM++ 2M SDE", SDC_SAMPLER_DPMPP_2M_SDE, -1},
    {"DPM++ 2M SDE Karras", SDC_SAMPLER_DPMPP_2M_SDE, SDC_SCHED_KARRAS},
    {"DPM++ 2M SDE Exponential", SDC_SAMPLER_DPMPP_2M_SDE, SDC_SCHED_EXPONENTIAL},
    {"DPM++ 2M SDE Heun", SDC_SAMPLER_DPMPP_2M_SDE_HEUN, -1},
    {"DPM++ 2M SDE Heun Karras", SDC_SAMPLER_DPMPP_2M_SDE_HEUN, SDC_SCHED_KARRAS},
    {"DPM++ 3M SDE", SDC_SAMPLER_DPMPP_3M_SDE, -1},
    {"DPM++ 3M SDE Karras", SDC_SAMPLER_DPMPP_3M_SDE, SDC_SCHED_KARRAS},
    {"DPM++ 3M SDE Exponential", SDC_SAMPLER_DPMPP_3M_SDE, SDC_SCHED_EXPONENTIAL},
    {"DDPM", SDC_SAMPLER_DDPM, -1},
    {"LCM", SDC_SAMPLER_LCM, -1},
    {"iPNDM", SDC_SAMPLER_IPNDM, -1},
    {"UniPC", SDC_SAMPLER_UNI_PC_BH2, -1}, /* A1111's UniPC defaults to the bh2 variant */
};

/* Case-insensitive; '-', '_', ' ' and '+' compare as written except that
 * spaces and '_' match each other. */
static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca == ' ' || ca == '-') ca = '_';
        if (cb == ' ' || cb == '-') cb = '_';
        if (ca != cb) return 0;
    }
    return *a == *b;
}

sdc_status sdc_sampler_from_name(const char *name, sdc_sampler_kind *out, sdc_scheduler *sched_out, int *has_sched,
                                 sdc_error *err) {
    if (has_sched) *has_sched = 0;
    for (int i = 0; name && i < SDC_SAMPLER_COUNT; i++)
        if (name_eq(name, k_names[i])) {
            *out = (sdc_sampler_kind)i;
            return SDC_OK;
        }
    for (size_t i = 0; name && i < sizeof k_aliases / sizeof k_aliases[0]; i++)
        if (name_eq(name, k_aliases[i].alias)) {
            *out = k_aliases[i].kind;
            if (k_aliases[i].sched >= 0) {
                if (sched_out) *sched_out = (sdc_scheduler)k_aliases[i].sched;
                if (has_sched) *has_sched = 1;
            }
            return SDC_OK;
        }
    return sdc_error_set(err, SDC_ERR_INVALID_ARG,
                         "unknown sampler '%s'; valid: %s (or A1111 names such as \"Euler a\", \"DPM++ 2M Karras\")",
                         name ? name : "(null)", sdc_sampler_names());
}

const char *sdc_sampler_name(sdc_sampler_kind k) { return k >= 0 && k < SDC_SAMPLER_COUNT ? k_names[k] : "?"; }

const char *sdc_sampler_names(void) {
    return "euler, euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2s_ancestral, dpmpp_sde, dpmpp_2m, "
           "dpmpp_2m_sde, dpmpp_2m_sde_heun, dpmpp_3m_sde, ddpm, ddim, lcm, ipndm, ipndm_v, uni_pc, uni_pc_bh2";
}

int sdc_sampler_is_stochastic(sdc_sampler_kind k, const sdc_sampler_opts *o) {
    switch (k) {
    case SDC_SAMPLER_EULER_ANCESTRAL:
    case SDC_SAMPLER_DPM_2_ANCESTRAL:
    case SDC_SAMPLER_DPMPP_2S_ANCESTRAL:
    case SDC_SAMPLER_DPMPP_SDE:
    case SDC_SAMPLER_DPMPP_2M_SDE:
    case SDC_SAMPLER_DPMPP_2M_SDE_HEUN:
    case SDC_SAMPLER_DPMPP_3M_SDE: return !o || o->eta > 0;
    case SDC_SAMPLER_DDPM:
    case SDC_SAMPLER_LCM: return 1;
    case SDC_SAMPLER_DDIM: return o && o->eta > 0;
    case SDC_SAMPLER_EULER:
    case SDC_SAMPLER_HEUN:
    case SDC_SAMPLER_DPM_2: return o && o->s_churn > 0;
    default: return 0;
    }
}

int sdc_sampler_uses_brownian(sdc_sampler_kind k) {
    return k == SDC_SAMPLER_DPMPP_SDE || k == SDC_SAMPLER_DPMPP_2M_SDE || k == SDC_SAMPLER_DPMPP_2M_SDE_HEUN ||
           k == SDC_SAMPLER_DPMPP_3M_SDE;
}

int sdc_sampler_discards_penultimate(sdc_sampler_kind k) {
    return k == SDC_SAMPLER_DPM_2 || k == SDC_SAMPLER_DPM_2_ANCESTRAL || k == SDC_SAMPLER_UNI_PC ||
           k == SDC_SAMPLER_UNI_PC_BH2;
}

int sdc_sampler_evals_per_step(sdc_sampler_kind k) {
    switch (k) {
    case SDC_SAMPLER_HEUN:
    case SDC_SAMPLER_DPM_2:
    case SDC_SAMPLER_DPM_2_ANCESTRAL:
    case SDC_SAMPLER_DPMPP_2S_ANCESTRAL:
    case SDC_SAMPLER_DPMPP_SDE: return 2;
    default: return 1;
    }
}

sdc_scheduler sdc_sampler_default_scheduler(sdc_sampler_kind k) {
    switch (k) {
    case SDC_SAMPLER_DDIM: return SDC_SCHED_DDIM_UNIFORM;
    case SDC_SAMPLER_LCM: return SDC_SCHED_SGM_UNIFORM;
    case SDC_SAMPLER_EULER:
    case SDC_SAMPLER_EULER_ANCESTRAL:
    case SDC_SAMPLER_DDPM: return SDC_SCHED_NORMAL;
    default: return SDC_SCHED_KARRAS;
    }
}
