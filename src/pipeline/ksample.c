/* The sampling core (see ksample.h). */
#include "pipeline/ksample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sample/noise.h"

#define MAX_BATCH 64

void sdc_ksample_default(sdc_ksample *k) {
    memset(k, 0, sizeof *k);
    k->cfg_scale = 7.0f;
    k->sampler = SDC_SAMPLER_EULER;
    k->scheduler = SDC_SCHED_NORMAL;
    k->steps = 20;
    k->eta = -1.0f;
    k->denoise = 1.0f;
    k->end_step = -1;
    k->add_noise = 1;
    k->rng = SDC_RNG_CPU;
}

typedef struct run {
    const sdc_sd_model *m;
    const sdc_ksample *k;
    sdc_ctx ctx;
    sdc_denoiser den;
    sdc_noise_source noise;
    int noise_ready;
    uint64_t seeds[MAX_BATCH];
    sdc_noise_schedule train;
    sdc_sched sched;
    size_t n;
    float *noise0, *start;
    float *filled; /* the start latent with the masked area filled (owned), or NULL */
    double t_sample;
    int step; /* current sampler step, for the extra hook */
} run;

static sdc_status ctx_status(run *r, sdc_error *err) {
    return sdc_error_set(err, r->ctx.err.status, "%s", sdc_error_msg(&r->ctx.err));
}

/* x0 = start * keep + x0 * (1 - keep) */
static void blend_keep(const run *r, float *x0) {
    const sdc_ksample *k = r->k;
    if (!k->keep || !r->start) return;
    int64_t plane = k->h * k->w;
    for (int64_t bc = 0; bc < k->B * k->C; bc++)
        for (int64_t i = 0; i < plane; i++)
            x0[bc * plane + i] = r->start[bc * plane + i] * k->keep[i] + x0[bc * plane + i] * (1.0f - k->keep[i]);
}

static sdc_status denoise_cb(void *user, const sdc_denoise_args *a, sdc_error *err) {
    run *r = user;
    r->step = a->step;
    if (sdc_denoise(&r->den, a->x, (float)a->sigma, (float)a->timestep, a->x0) != SDC_OK) return ctx_status(r, err);
    blend_keep(r, a->x0);
    return SDC_OK;
}

static int step_cb(void *user, sdc_step_info *info) {
    run *r = user;
    const sdc_ksample *k = r->k;
    if (!k->on_progress) return 0;
    sdc_progress pr = {.step = info->step + 1, .steps = info->steps, .elapsed = sdc_time_now() - r->t_sample,
                       .denoised = info->denoised, .B = k->B, .C = k->C, .h = k->h, .w = k->w};
    return k->on_progress(k->user, &pr);
}

static sdc_status extra_cb(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                           const sdc_tensor *context, double sigma, sdc_unet_extra *extra) {
    run *r = user;
    return r->k->extra_fn(r->k->extra_user, c, x_in, t, context, sigma, r->step, r->sched.steps, extra);
}

/* The first draw: ComfyUI's torch.randn([B, C, h, w]) from seed, or
 * A1111's per-image generators (seed + i), which go on to give the step
 * noise. */
static sdc_status draw_initial_noise(run *r, sdc_error *err) {
    const sdc_ksample *k = r->k;
    size_t per = r->n / (size_t)k->B;
    for (int64_t b = 0; b < k->B; b++) r->seeds[b] = k->rng == SDC_RNG_PHILOX ? k->seed + (uint64_t)b : k->seed;
    if (k->rng != SDC_RNG_PHILOX) {
        sdc_rng_comfy_initial_noise(k->rng, k->seed, NULL, (int)k->B, per, r->noise0);
    } else {
        sdc_status st = sdc_noise_init_a1111(&r->noise, k->rng, r->seeds, (int)k->B, per, 0, err);
        if (st) return st;
        r->noise_ready = 1;
        sdc_noise_a1111_initial(&r->noise, r->noise0, 0, r->seeds);
    }
    if (k->noise) memcpy(r->noise0, k->noise, r->n * sizeof(float));
    if (!k->add_noise) memset(r->noise0, 0, r->n * sizeof(float));
    return SDC_OK;
}

/* A1111's latent noise / latent nothing: the repainted area of the start
 * latent replaced by the first noise draw (the same values the sampler
 * adds, as A1111's create_random_tensors with the same seeds) or zeros */
static sdc_status fill_masked(run *r, sdc_error *err) {
    const sdc_ksample *k = r->k;
    r->filled = malloc(r->n * sizeof(float));
    if (!r->filled) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    int64_t plane = k->h * k->w;
    for (int64_t bc = 0; bc < k->B * k->C; bc++)
        for (int64_t i = 0; i < plane; i++) {
            size_t j = (size_t)(bc * plane + i);
            float fillv = k->fill == SDC_FILL_LATENT_NOISE ? r->noise0[j] : 0.0f;
            r->filled[j] = k->latent[j] * k->keep[i] + fillv * (1.0f - k->keep[i]);
        }
    r->start = r->filled;
    return SDC_OK;
}

/* a [start, end) slice of the built schedule (KSamplerAdvanced) */
static sdc_status slice_schedule(run *r, sdc_error *err) {
    const sdc_ksample *k = r->k;
    int s0 = SDC_MAX(k->start_step, 0), s1 = k->end_step < 0 ? r->sched.steps : SDC_MIN(k->end_step, r->sched.steps);
    if (s0 == 0 && s1 == r->sched.steps) return SDC_OK;
    if (s0 >= s1) { /* nothing to do: keep the latent */
        r->sched.steps = 0;
        return SDC_OK;
    }
    int count = s1 - s0 + 1;
    double *sig = malloc((size_t)count * sizeof *sig);
    if (!sig) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    memcpy(sig, r->sched.sigmas + s0, (size_t)count * sizeof *sig);
    if (k->force_full_denoise) sig[count - 1] = 0;
    sdc_sched_free(&r->sched);
    sdc_status st = sdc_sched_from_sigmas(&r->sched, &r->train, sig, count, err);
    free(sig);
    return st;
}

static sdc_status build_schedule(run *r, sdc_error *err) {
    const sdc_ksample *k = r->k;
    sdc_sched_opts so;
    sdc_sched_opts_default(&so);
    so.discard_penultimate = sdc_sampler_discards_penultimate(k->sampler);
    so.init_noise = k->init_noise;
    sdc_status st = sdc_noise_schedule_init(&r->train, 0.00085, 0.012, 1000, err);
    if (st) return st;
    if (k->latent && k->denoise < 1.0f)
        st = sdc_sched_build_img2img(&r->sched, &r->train, k->scheduler, k->steps, k->denoise, k->rule, &so, err);
    else
        st = sdc_sched_build(&r->sched, &r->train, k->scheduler, k->steps, &so, err);
    return st ? st : slice_schedule(r, err);
}

/* x = start latent + noise at the first sigma. A full run (txt2img, or
 * denoise 1 from the first step) scales the noise by the scheduler's init
 * rule; img2img by the first sigma. */
static void start_latent(run *r, float *x) {
    bool full = !r->k->latent || (r->k->denoise >= 1.0f && r->k->start_step <= 0);
    double scale = full ? r->sched.init_noise_scale : (r->sched.steps ? r->sched.sigmas[0] : 0.0);
    sdc_sched_noise_latent(x, r->start, r->noise0, r->n, scale);
}

static sdc_status sample(run *r, float *x, sdc_error *err) {
    const sdc_ksample *k = r->k;
    sdc_sampler_opts so;
    sdc_sampler_opts_default(k->sampler, &so);
    if (k->eta >= 0) so.eta = k->eta;
    if (!r->noise_ready && r->sched.steps > 0) {
        sdc_status st = sdc_noise_init_comfy(&r->noise, k->sampler, &r->sched, k->rng, k->seed, r->n, err);
        if (st) return st;
        r->noise_ready = 1;
    }
    sdc_sampler_ctx sc = {.denoise = denoise_cb, .denoise_user = r, .on_step = step_cb, .step_user = r,
                          .noise = sdc_noise_source_fn, .noise_user = &r->noise};
    r->t_sample = sdc_time_now();
    sdc_status st = sdc_sample(k->sampler, &so, &r->sched, &r->train, &sc, x, r->n, err);
    if (st == SDC_OK) blend_keep(r, x);
    return st;
}

static sdc_status check(const sdc_sd_model *m, const sdc_ksample *k, sdc_error *err) {
    if (k->B < 1 || k->B > MAX_BATCH) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "batch of %lld latents (1..%d)", (long long)k->B, MAX_BATCH);
    if (k->C != m->unet->cfg.out_ch || k->h < 1 || k->w < 1)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "latent with %lld channels, the model uses %lld", (long long)k->C,
                             (long long)m->unet->cfg.out_ch);
    if (k->steps < 1 || k->steps > 10000) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "steps must be between 1 and 10000");
    if (!(k->denoise >= 0 && k->denoise <= 1)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "denoise must be in [0, 1]");
    if (!k->cond) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no conditioning");
    bool nine = m->unet->cfg.in_ch != m->unet->cfg.out_ch;
    if (nine && !k->concat) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "an inpainting model needs its mask and image input");
    return SDC_OK;
}

sdc_status sdc_ksample_run(const sdc_sd_model *m, sdc_pool *pool, const sdc_ksample *k, float *out,
                           sdc_ksample_stats *stats, sdc_error *err) {
    sdc_status st = check(m, k, err);
    if (st) return st;
    run r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.k = k;
    r.n = (size_t)(k->B * k->C * k->h * k->w);
    r.start = k->latent ? (float *)k->latent : NULL;
    r.noise0 = malloc(r.n * sizeof(float));
    if (!r.noise0 || sdc_ctx_init(&r.ctx, pool, 0) != SDC_OK) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    r.ctx.compute = k->compute;
    r.ctx.dump = k->dump;
    r.ctx.dump_user = k->dump_user;
    r.den = (sdc_denoiser){.ctx = &r.ctx, .unet = m->unet, .v_prediction = m->v_prediction, .B = k->B, .C = k->C,
                           .H = k->h, .W = k->w, .cond = k->cond, .uncond = k->uncond, .cfg_scale = k->cfg_scale,
                           .concat_data = k->concat, .extra_fn = k->extra_fn ? extra_cb : NULL, .extra_user = &r};
    if (!st) st = draw_initial_noise(&r, err);
    if (!st && k->fill != SDC_FILL_ORIGINAL && k->keep && k->latent) st = fill_masked(&r, err);
    if (!st) st = build_schedule(&r, err);
    if (!st) {
        start_latent(&r, out);
        st = sample(&r, out, err);
    }
    if (stats) {
        stats->steps_run = r.sched.steps;
        stats->model_evals = r.den.n_evals;
        stats->seconds = r.t_sample > 0 ? sdc_time_now() - r.t_sample : 0;
        memcpy(stats->seeds, r.seeds, sizeof stats->seeds);
    }
    if (r.noise_ready) sdc_noise_free(&r.noise);
    sdc_sched_free(&r.sched);
    sdc_ctx_free(&r.ctx);
    free(r.noise0);
    free(r.filled);
    return st;
}
