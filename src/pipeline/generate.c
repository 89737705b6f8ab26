/* The generation flow (see generate.h). */
#include "pipeline/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "models/vae.h"
#include "pipeline/conditioning.h"
#include "pipeline/denoiser.h"
#include "pipeline/inpaint.h"
#include "sample/noise.h"
#include "tensor/ops.h"

#define MAX_BATCH 64

void sdc_gen_request_default(sdc_gen_request *p) {
    memset(p, 0, sizeof *p);
    p->prompt = "";
    p->negative_prompt = "";
    p->width = p->height = 512;
    p->steps = 20;
    p->cfg_scale = 7.0f;
    p->sampler = SDC_SAMPLER_EULER_ANCESTRAL;
    p->scheduler = SDC_SCHED_NORMAL;
    p->eta = -1.0f;
    p->rng = SDC_RNG_CPU;
    p->batch_size = 1;
    p->strength = 0.75f;
    p->mask_blur = 4;
}

void sdc_gen_result_free(sdc_gen_result *r) {
    free(r->image01);
    r->image01 = NULL;
}

sdc_status sdc_gen_request_check(const sdc_sd_model *m, const sdc_gen_request *p, sdc_error *err) {
    if (p->width < 8 || p->height < 8 || p->width % 8 || p->height % 8)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "width and height must be positive multiples of 8 (got %dx%d)",
                             p->width, p->height);
    if (p->width > 8192 || p->height > 8192)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%dx%d is larger than the 8192x8192 limit", p->width, p->height);
    if (p->steps < 1 || p->steps > 10000) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "steps must be between 1 and 10000");
    if (p->batch_size < 1 || p->batch_size > MAX_BATCH)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "batch size must be between 1 and %d", MAX_BATCH);
    if (!(p->cfg_scale >= 0 && p->cfg_scale <= 100)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "CFG scale must be between 0 and 100");
    bool img2img = p->init_image || p->init_latent;
    if (img2img && !(p->strength >= 0 && p->strength <= 1))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "strength must be between 0 and 1 (got %g)", p->strength);
    if (p->init_image && (p->init_image->width != p->width || p->init_image->height != p->height))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "init image is %dx%d, expected %dx%d", p->init_image->width,
                             p->init_image->height, p->width, p->height);
    if (p->mask && (p->mask->width != p->width || p->mask->height != p->height))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "mask is %dx%d but the image is %dx%d", p->mask->width,
                             p->mask->height, p->width, p->height);
    if (p->mask && !img2img) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "a mask needs an init image");
    if (m->unet->cfg.in_ch != m->unet->cfg.out_ch && m->unet->cfg.in_ch != m->unet->cfg.out_ch + 5)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "U-Net with %lld input channels is not supported",
                             (long long)m->unet->cfg.in_ch);
    return SDC_OK;
}

/* ---- one run ------------------------------------------------------------------ */

typedef struct run {
    const sdc_sd_model *m;
    const sdc_gen_request *p;
    sdc_ctx ctx;
    sdc_denoiser den;
    sdc_inpaint ip;
    sdc_noise_source noise;
    int noise_ready; /* the step-noise source is initialised */
    uint64_t seeds[MAX_BATCH];
    sdc_noise_schedule train;
    sdc_sched sched;
    int64_t B, C, h, w;
    size_t n; /* B * C * h * w */
    float *x, *init_latent, *noise0;
    double t_sample;
} run;

static sdc_status ctx_status(run *r, sdc_error *err) {
    return sdc_error_set(err, r->ctx.err.status, "%s", sdc_error_msg(&r->ctx.err));
}

static sdc_status denoise_cb(void *user, const sdc_denoise_args *a, sdc_error *err) {
    run *r = user;
    if (sdc_denoise(&r->den, a->x, (float)a->sigma, (float)a->timestep, a->x0) != SDC_OK) return ctx_status(r, err);
    sdc_inpaint_blend(&r->ip, a->x0);
    return SDC_OK;
}

static int step_cb(void *user, sdc_step_info *info) {
    run *r = user;
    if (!r->p->on_progress) return 0;
    sdc_progress pr = {.step = info->step + 1, .steps = info->steps, .elapsed = sdc_time_now() - r->t_sample,
                       .denoised = info->denoised, .B = r->B, .C = r->C, .h = r->h, .w = r->w};
    return r->p->on_progress(r->p->user, &pr);
}

/* cond / uncond contexts */
static sdc_status encode_text(run *r, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    r->den.cond = sdc_encode_prompt(&r->ctx, r->m, p->prompt, p->clip_skip);
    if (sdc_cfg_needs_uncond(p->cfg_scale)) r->den.uncond = sdc_encode_prompt(&r->ctx, r->m, p->negative_prompt, p->clip_skip);
    return sdc_ctx_ok(&r->ctx) ? SDC_OK : ctx_status(r, err);
}

/* init latent for img2img: given, or the VAE posterior mean times the scale */
static sdc_status encode_init(run *r, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    size_t per = r->n / (size_t)r->B;
    r->init_latent = malloc(r->n * sizeof(float));
    if (!r->init_latent) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (p->init_latent) {
        memcpy(r->init_latent, p->init_latent, r->n * sizeof(float));
        return SDC_OK;
    }
    sdc_arena_mark mark = sdc_arena_get_mark(&r->ctx.arena);
    sdc_tensor *img = sdc_new_4d(&r->ctx, 1, 3, p->height, p->width);
    if (!img) return ctx_status(r, err);
    if (sdc_image_to_tensor(p->init_image, SDC_RANGE_PM1, img, 0, err) != SDC_OK) return err->status;
    sdc_tensor *mom = sdc_vae_encode(&r->ctx, r->m->vae, img);
    if (!mom) return ctx_status(r, err);
    for (int64_t b = 0; b < r->B; b++) /* same image for the whole batch; mean = first C channels */
        for (size_t i = 0; i < per; i++) r->init_latent[(size_t)b * per + i] = ((const float *)mom->data)[i] * r->m->scale_factor;
    sdc_arena_release(&r->ctx.arena, mark);
    return SDC_OK;
}

static sdc_status build_schedule(run *r, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    sdc_sched_opts so;
    sdc_sched_opts_default(&so);
    so.discard_penultimate = sdc_sampler_discards_penultimate(p->sampler);
    sdc_status st = sdc_noise_schedule_init(&r->train, 0.00085, 0.012, 1000, err);
    if (st) return st;
    if (r->init_latent)
        return sdc_sched_build_img2img(&r->sched, &r->train, p->scheduler, p->steps, p->strength, SDC_IMG2IMG_DIFFUSERS, &so, err);
    return sdc_sched_build(&r->sched, &r->train, p->scheduler, p->steps, &so, err);
}

/* x = the sampler's start: scaled noise (txt2img) or the noised latent */
static void start_latent(run *r) {
    if (r->init_latent) sdc_sched_noise_latent(r->x, r->init_latent, r->noise0, r->n, r->sched.steps ? r->sched.sigmas[0] : 0.0);
    else sdc_sched_noise_latent(r->x, NULL, r->noise0, r->n, r->sched.init_noise_scale);
}

/* The step noise: ComfyUI's conventions for the CPU generators (seed + 1,
 * or a Brownian tree for SDE samplers); A1111's per-image generators,
 * already set up by draw_initial_noise, for philox. */
static sdc_status step_noise(run *r, sdc_error *err) {
    if (r->noise_ready || r->sched.steps == 0) return SDC_OK;
    sdc_status st = sdc_noise_init_comfy(&r->noise, r->p->sampler, &r->sched, r->p->rng, r->p->seed, r->n, err);
    if (st == SDC_OK) r->noise_ready = 1;
    return st;
}

static sdc_status sample(run *r, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    sdc_sampler_opts so;
    sdc_sampler_opts_default(p->sampler, &so);
    if (p->eta >= 0) so.eta = p->eta;
    sdc_status st = step_noise(r, err);
    if (st) return st;
    sdc_sampler_ctx sc = {.denoise = denoise_cb, .denoise_user = r, .on_step = step_cb, .step_user = r,
                          .noise = sdc_noise_source_fn, .noise_user = &r->noise};
    r->t_sample = sdc_time_now();
    st = sdc_sample(p->sampler, &so, &r->sched, &r->train, &sc, r->x, r->n, err);
    if (st == SDC_OK && r->init_latent) sdc_inpaint_blend(&r->ip, r->x);
    return st;
}

/* VAE decode image by image into out->image01 [B, 3, H, W] in [0, 1] */
static sdc_status decode(run *r, sdc_gen_result *out, sdc_error *err) {
    int64_t H = r->h * 8, W = r->w * 8, per = r->C * r->h * r->w;
    out->image01 = malloc((size_t)(r->B * 3 * H * W) * sizeof(float));
    if (!out->image01) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int64_t b = 0; b < r->B; b++) {
        sdc_arena_mark mark = sdc_arena_get_mark(&r->ctx.arena);
        sdc_tensor *z = sdc_new_4d(&r->ctx, 1, r->C, r->h, r->w);
        if (!z) return ctx_status(r, err);
        for (int64_t i = 0; i < per; i++) ((float *)z->data)[i] = r->x[b * per + i] / r->m->scale_factor;
        sdc_tensor *img = sdc_vae_decode(&r->ctx, r->m->vae, z);
        if (!img) return ctx_status(r, err);
        const float *d = img->data;
        float *o = out->image01 + b * 3 * H * W;
        for (int64_t i = 0; i < 3 * H * W; i++) o[i] = fminf(fmaxf(d[i] / 2.0f + 0.5f, 0.0f), 1.0f);
        sdc_arena_release(&r->ctx.arena, mark);
    }
    if (r->p->init_image) sdc_inpaint_overlay(&r->ip, r->p->init_image, out->image01);
    return SDC_OK;
}

/* The first draw: ComfyUI's torch.randn([B, C, h, w]) from seed, or
 * A1111's per-image generators (seed + i), which go on to give the step
 * noise. */
static sdc_status draw_initial_noise(run *r, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    size_t per = r->n / (size_t)r->B;
    for (int64_t b = 0; b < r->B; b++) r->seeds[b] = p->rng == SDC_RNG_PHILOX ? p->seed + (uint64_t)b : p->seed;
    if (p->rng != SDC_RNG_PHILOX) {
        sdc_rng_comfy_initial_noise(p->rng, p->seed, NULL, (int)r->B, per, r->noise0);
        return SDC_OK;
    }
    sdc_status st = sdc_noise_init_a1111(&r->noise, p->rng, r->seeds, (int)r->B, per, 0, err);
    if (st) return st;
    r->noise_ready = 1;
    sdc_noise_a1111_initial(&r->noise, r->noise0, 0, r->seeds);
    return SDC_OK;
}

static sdc_status prepare(run *r, sdc_pool *pool, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    const sdc_sd_model *m = r->m;
    r->B = p->batch_size, r->C = m->unet->cfg.out_ch, r->h = p->height / 8, r->w = p->width / 8;
    r->n = (size_t)(r->B * r->C * r->h * r->w);
    if (sdc_ctx_init(&r->ctx, pool, 0) != SDC_OK) return ctx_status(r, err);
    r->ctx.compute = p->compute;
    r->ctx.log = p->log;
    r->x = malloc(r->n * sizeof(float));
    r->noise0 = malloc(r->n * sizeof(float));
    if (!r->x || !r->noise0) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = draw_initial_noise(r, err);
    if (st) return st;
    if (p->noise) memcpy(r->noise0, p->noise, r->n * sizeof(float));
    r->den = (sdc_denoiser){.ctx = &r->ctx, .unet = m->unet, .v_prediction = m->v_prediction, .B = r->B, .C = r->C,
                            .H = r->h, .W = r->w, .cfg_scale = p->cfg_scale};
    return SDC_OK;
}

static void run_free(run *r) {
    sdc_inpaint_free(&r->ip);
    if (r->noise_ready) sdc_noise_free(&r->noise);
    sdc_sched_free(&r->sched);
    sdc_ctx_free(&r->ctx);
    free(r->x);
    free(r->noise0);
    free(r->init_latent);
}

sdc_status sdc_generate(const sdc_sd_model *m, sdc_pool *pool, const sdc_gen_request *p, sdc_gen_result *out,
                        sdc_error *err) {
    memset(out, 0, sizeof *out);
    sdc_status st = sdc_gen_request_check(m, p, err);
    if (st) return st;
    double t0 = sdc_time_now();
    run r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.p = p;
    st = prepare(&r, pool, err);
    if (!st) st = encode_text(&r, err);
    double t_text = sdc_time_now();
    if (!st && (p->init_image || p->init_latent)) st = encode_init(&r, err);
    if (!st) st = sdc_inpaint_prepare(&r.ip, &r.ctx, m, p->init_image, p->mask, p->mask_blur, r.init_latent, r.B, r.h, r.w, err);
    r.den.concat_data = r.ip.concat;
    if (!st) st = build_schedule(&r, err);
    if (!st) {
        start_latent(&r);
        st = sample(&r, err);
    }
    double t_sampled = sdc_time_now();
    if (!st) st = decode(&r, out, err);
    if (!st) {
        out->B = r.B, out->H = r.h * 8, out->W = r.w * 8;
        memcpy(out->seeds, r.seeds, sizeof out->seeds);
        out->timing = (sdc_gen_timing){.text = t_text - t0, .sampling = t_sampled - r.t_sample,
                                       .decode = sdc_time_now() - t_sampled, .total = sdc_time_now() - t0,
                                       .steps_run = r.sched.steps, .model_evals = r.den.n_evals};
    } else {
        sdc_gen_result_free(out);
    }
    run_free(&r);
    return st;
}
