/* The generation flow (see generate.h). */
#include "pipeline/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "image/resize.h"
#include "models/vae.h"
#include "models/vae_tiled.h"
#include "pipeline/conditioning.h"
#include "pipeline/denoiser.h"
#include "pipeline/inpaint.h"
#include "tensor/ops.h"

#define MAX_BATCH 64
/* Whole-image VAE passes up to this many activation bytes, tiles above
 * (a 1024x1024 decode fits; 2048x2048 is tiled). */
#define DEFAULT_VAE_BUDGET ((size_t)6 << 30)

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
    p->hr_sampler = p->hr_scheduler = -1;
}

static const char *const k_hr_names[SDC_HR_COUNT] = {"Latent", "Latent (nearest)", "Latent (nearest-exact)", "Lanczos",
                                                     "Nearest"};

const char *sdc_hr_upscaler_name(sdc_hr_upscaler u) { return u >= 0 && u < SDC_HR_COUNT ? k_hr_names[u] : "?"; }

int sdc_hr_upscaler_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < SDC_HR_COUNT; i++)
        if (strcasecmp(name, k_hr_names[i]) == 0) return i;
    return strcasecmp(name, "None") == 0 ? SDC_HR_LANCZOS : -1;
}

sdc_status sdc_gen_add_hires_params(const sdc_gen_request *p, const char *sampler_label, const char *sched_label,
                                    sdc_gen_params *ip, sdc_error *err) {
    if (p->hr_width <= 0) return SDC_OK;
    char v[64];
    bool same_aspect = (int64_t)p->hr_width * p->height == (int64_t)p->hr_height * p->width;
    sdc_status st;
    if (same_aspect) {
        snprintf(v, sizeof v, "%g", (double)p->hr_width / p->width);
        st = sdc_gen_params_add_extra(ip, "Hires upscale", v, err);
    } else {
        snprintf(v, sizeof v, "%dx%d", p->hr_width, p->hr_height);
        st = sdc_gen_params_add_extra(ip, "Hires resize", v, err);
    }
    if (!st && p->hr_steps > 0) {
        snprintf(v, sizeof v, "%d", p->hr_steps);
        st = sdc_gen_params_add_extra(ip, "Hires steps", v, err);
    }
    if (!st) st = sdc_gen_params_add_extra(ip, "Hires upscaler", sdc_hr_upscaler_name(p->hr_upscaler), err);
    if (!st && p->hr_prompt) st = sdc_gen_params_add_extra(ip, "Hires prompt", p->hr_prompt, err);
    if (!st && p->hr_negative_prompt) st = sdc_gen_params_add_extra(ip, "Hires negative prompt", p->hr_negative_prompt, err);
    if (!st && p->hr_sampler >= 0 && p->hr_sampler != (int)p->sampler)
        st = sdc_gen_params_add_extra(ip, "Hires sampler", sampler_label, err);
    if (!st && p->hr_scheduler >= 0 && p->hr_scheduler != (int)p->scheduler)
        st = sdc_gen_params_add_extra(ip, "Hires schedule type", sched_label, err);
    return st;
}

sdc_status sdc_gen_add_inpaint_params(const sdc_gen_request *p, int masked_padding, sdc_gen_params *ip, sdc_error *err) {
    char v[32];
    sdc_status st = SDC_OK;
    if (p->mask && p->mask_blur > 0) {
        snprintf(v, sizeof v, "%d", p->mask_blur);
        st = sdc_gen_params_add_extra(ip, "Mask blur", v, err);
    }
    if (!st && masked_padding >= 0) {
        snprintf(v, sizeof v, "%d", masked_padding);
        st = sdc_gen_params_add_extra(ip, "Inpaint area", "Only masked", err);
        if (!st) st = sdc_gen_params_add_extra(ip, "Masked area padding", v, err);
    }
    return st;
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
    if (p->use_taesd && !m->taesd) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no TAESD model loaded");
    if (m->unet->cfg.in_ch != m->unet->cfg.out_ch && m->unet->cfg.in_ch != m->unet->cfg.out_ch + 5)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "U-Net with %lld input channels is not supported",
                             (long long)m->unet->cfg.in_ch);
    if (p->hr_width > 0 || p->hr_height > 0) {
        if (p->hr_width < 8 || p->hr_height < 8 || p->hr_width % 8 || p->hr_height % 8 || p->hr_width > 8192 ||
            p->hr_height > 8192)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "hires size must be multiples of 8 up to 8192 (got %dx%d)",
                                 p->hr_width, p->hr_height);
        if (!(p->hr_denoise > 0 && p->hr_denoise <= 1))
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "hires denoising strength must be in (0, 1] (got %g)", p->hr_denoise);
        if (p->hr_steps < 0 || p->hr_steps > 10000)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "hires steps must be between 0 (= steps) and 10000");
        if ((int)p->hr_upscaler < 0 || p->hr_upscaler >= SDC_HR_COUNT)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown hires upscaler");
        if (p->hr_sampler >= SDC_SAMPLER_COUNT || p->hr_scheduler >= SDC_SCHED_COUNT)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown hires sampler or scheduler");
        if (img2img) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "hires fix is for txt2img (no init image)");
        if (p->extra_fn && !p->hr_extra_fn)
            return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "hires fix with ControlNet needs the ControlNet prepared at the hires size");
        if (m->unet->cfg.in_ch != m->unet->cfg.out_ch)
            return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "hires fix with an inpainting model is not supported");
    }
    return SDC_OK;
}

/* ---- one run ------------------------------------------------------------------ */

typedef struct run {
    const sdc_sd_model *m;
    const sdc_gen_request *p;
    sdc_ctx ctx;
    sdc_inpaint ip;
    int64_t B, C, h, w;
    size_t n; /* B * C * h * w */
    float *x, *init_latent;
} run;

static sdc_status ctx_err(const sdc_ctx *c, sdc_error *err) {
    return sdc_error_set(err, c->err.status, "%s", sdc_error_msg(&c->err));
}

static size_t vae_budget(const sdc_gen_request *p) { return p->vae_budget ? p->vae_budget : DEFAULT_VAE_BUDGET; }

/* the VAE posterior mean of an RGB image, times the scale, into dst [C, h, w] */
static sdc_status encode_image(run *r, sdc_ctx *c, const sdc_image *image, float *dst, sdc_error *err) {
    sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
    sdc_tensor *img = sdc_new_4d(c, 1, 3, image->height, image->width);
    if (!img) return ctx_err(c, err);
    if (sdc_image_to_tensor(image, SDC_RANGE_PM1, img, 0, err) != SDC_OK) return err->status;
    sdc_tensor *mom = sdc_vae_encode_auto(c, r->m->vae, img, vae_budget(r->p), NULL);
    if (!mom) return ctx_err(c, err);
    int64_t per = r->C * (image->height / 8) * (image->width / 8); /* mean = the first C channels */
    for (int64_t i = 0; i < per; i++) dst[i] = ((const float *)mom->data)[i] * r->m->scale_factor;
    sdc_arena_release(&c->arena, mark);
    return SDC_OK;
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
    sdc_status st = encode_image(r, &r->ctx, p->init_image, r->init_latent, err);
    if (st) return st;
    for (int64_t b = 1; b < r->B; b++) /* same image for the whole batch */
        memcpy(r->init_latent + (size_t)b * per, r->init_latent, per * sizeof(float));
    return SDC_OK;
}

/* VAE decode image by image into out->image01 [B, 3, H, W] in [0, 1], in
 * a context sized up front by the decoder's memory estimate (one block, no
 * fragmentation: the decode is the largest user of activation memory) */
/* a context for the VAE at h x w latents, sized by its estimate */
static sdc_status vae_ctx(run *r, sdc_pool *pool, sdc_ctx *c, int64_t h, int64_t w, sdc_error *err) {
    size_t need = sdc_vae_decode_bytes(r->m->vae, 1, h, w) + ((size_t)1 << 20);
    if (sdc_ctx_init(c, pool, need) != SDC_OK) return sdc_error_set(err, SDC_ERR_OOM, "cannot allocate %zu bytes", need);
    c->compute = r->p->compute;
    c->dump = r->p->dump;
    c->dump_user = r->p->dump_user;
    return SDC_OK;
}

/* latents x [B, C, h, w] to image01 [B, 3, 8h, 8w] in [0, 1], image by
 * image in c */
static sdc_status decode_latents(run *r, sdc_ctx *c, const float *x, int64_t h, int64_t w, float *image01,
                                 sdc_error *err) {
    int64_t H = h * 8, W = w * 8, per = r->C * h * w;
    for (int64_t b = 0; b < r->B; b++) {
        sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
        sdc_tensor *z = sdc_new_4d(c, 1, r->C, h, w);
        if (!z) return ctx_err(c, err);
        bool taesd = r->p->use_taesd && r->m->taesd;
        /* the VAE wants unscaled latents; TAESD takes the scaled ones */
        float scale = taesd ? 1.0f : 1.0f / r->m->scale_factor;
        for (int64_t i = 0; i < per; i++) ((float *)z->data)[i] = x[b * per + i] * scale;
        sdc_tensor *img = taesd ? sdc_taesd_decode(c, r->m->taesd, z) : sdc_vae_decode_auto(c, r->m->vae, z, vae_budget(r->p), NULL);
        if (!img) return ctx_err(c, err);
        const float *d = img->data;
        float *o = image01 + b * 3 * H * W;
        for (int64_t i = 0; i < 3 * H * W; i++) o[i] = fminf(fmaxf(d[i] / 2.0f + 0.5f, 0.0f), 1.0f);
        sdc_arena_release(&c->arena, mark);
    }
    return SDC_OK;
}

static sdc_status decode(run *r, sdc_pool *pool, sdc_gen_result *out, sdc_error *err) {
    out->image01 = malloc((size_t)(r->B * 3 * r->h * 8 * r->w * 8) * sizeof(float));
    if (!out->image01) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_ctx_free(&r->ctx); /* the text encoding is no longer needed */
    sdc_status st = vae_ctx(r, pool, &r->ctx, r->h, r->w, err);
    if (!st) st = decode_latents(r, &r->ctx, r->x, r->h, r->w, out->image01, err);
    if (!st && r->p->init_image && !r->p->no_overlay) sdc_inpaint_overlay(&r->ip, r->p->init_image, out->image01);
    return st;
}

static void setup_ksample(run *r, sdc_ksample *kp, const sdc_tensor *cond, const sdc_tensor *uncond) {
    const sdc_gen_request *p = r->p;
    sdc_ksample k;
    sdc_ksample_default(&k);
    k.B = r->B, k.C = r->C, k.h = r->h, k.w = r->w;
    k.cond = cond;
    k.uncond = uncond;
    k.cfg_scale = p->cfg_scale;
    k.sampler = p->sampler;
    k.scheduler = p->scheduler;
    k.steps = p->steps;
    k.eta = p->eta;
    k.latent = r->init_latent;
    k.denoise = r->init_latent ? p->strength : 1.0f;
    k.rule = p->img2img_rule;
    k.init_noise = p->init_noise;
    k.seed = p->seed;
    k.rng = p->rng;
    k.noise = p->noise;
    k.keep = r->ip.keep;
    k.fill = p->inpaint_fill;
    k.concat = r->ip.concat;
    k.extra_fn = p->extra_fn;
    k.extra_user = p->extra_user;
    k.on_progress = p->on_progress;
    k.user = p->user;
    k.dump = p->dump;
    k.dump_user = p->dump_user;
    k.compute = p->compute;
    *kp = k;
}

static sdc_status sample(run *r, sdc_pool *pool, const sdc_tensor *cond, const sdc_tensor *uncond,
                         sdc_ksample_stats *stats, sdc_error *err) {
    sdc_ksample k;
    setup_ksample(r, &k, cond, uncond);
    return sdc_ksample_run(r->m, pool, &k, r->x, stats, err);
}

/* image upscalers: decode at the first size, 8-bit as A1111 keeps it
 * (255 x, truncated), PIL resize to the target, encode (posterior mean,
 * scaled) into x2 [B, C, h2, w2] */
static sdc_status upscale_images(run *r, sdc_pool *pool, float *x2, int64_t h2, int64_t w2, sdc_error *err) {
    int64_t H = r->h * 8, W = r->w * 8, per2 = r->C * h2 * w2;
    float *low = malloc((size_t)(r->B * 3 * H * W) * sizeof(float));
    if (!low) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_ctx c;
    sdc_status st = vae_ctx(r, pool, &c, SDC_MAX(r->h, h2), SDC_MAX(r->w, w2), err);
    if (!st) st = decode_latents(r, &c, r->x, r->h, r->w, low, err);
    for (int64_t b = 0; !st && b < r->B; b++) {
        sdc_image img = {0}, big = {0};
        sdc_tensor t = sdc_tensor_4d(SDC_DTYPE_F32, low, r->B, 3, H, W);
        st = sdc_image_from_tensor(&t, b, SDC_RANGE_01, SDC_U8_TRUNCATE, &img, err);
        if (!st)
            st = sdc_image_resize(&img, (int)(w2 * 8), (int)(h2 * 8),
                                  r->p->hr_upscaler == SDC_HR_NEAREST ? SDC_RESAMPLE_NEAREST : SDC_RESAMPLE_LANCZOS, &big, err);
        if (!st) st = encode_image(r, &c, &big, x2 + b * per2, err);
        sdc_image_free(&img);
        sdc_image_free(&big);
    }
    sdc_ctx_free(&c);
    free(low);
    return st;
}

/* A1111's hires fix: upscale the sampled latents, sample again as img2img */
static sdc_status hires(run *r, sdc_pool *pool, const sdc_tensor *cond, const sdc_tensor *uncond,
                        sdc_ksample_stats *stats, sdc_error *err) {
    const sdc_gen_request *p = r->p;
    int64_t h2 = p->hr_height / 8, w2 = p->hr_width / 8;
    size_t n2 = (size_t)(r->B * r->C * h2 * w2);
    float *up = malloc(n2 * sizeof(float)), *x2 = malloc(n2 * sizeof(float));
    sdc_status st = up && x2 ? SDC_OK : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (!st && p->hr_upscaler <= SDC_HR_LATENT_NEAREST_EXACT) {
        static const sdc_latent_interp modes[] = {SDC_LATENT_BILINEAR, SDC_LATENT_NEAREST, SDC_LATENT_NEAREST_EXACT};
        sdc_tensor src = sdc_tensor_4d(SDC_DTYPE_F32, r->x, r->B, r->C, r->h, r->w);
        sdc_tensor dst = sdc_tensor_4d(SDC_DTYPE_F32, up, r->B, r->C, h2, w2);
        st = sdc_latent_resize(&src, &dst, modes[p->hr_upscaler], err);
    } else if (!st) {
        st = upscale_images(r, pool, up, h2, w2, err);
    }
    /* the hires pass's own prompts, when given */
    if (!st && p->hr_prompt) cond = sdc_encode_prompt(&r->ctx, r->m, p->hr_prompt, p->clip_skip);
    if (!st && p->hr_negative_prompt && uncond) uncond = sdc_encode_prompt(&r->ctx, r->m, p->hr_negative_prompt, p->clip_skip);
    if (!st && !sdc_ctx_ok(&r->ctx)) st = ctx_err(&r->ctx, err);
    if (!st) {
        sdc_ksample k;
        setup_ksample(r, &k, cond, uncond);
        k.h = h2, k.w = w2;
        k.extra_fn = p->hr_extra_fn, k.extra_user = p->hr_extra_user;
        if (p->hr_sampler >= 0) k.sampler = (sdc_sampler_kind)p->hr_sampler;
        if (p->hr_scheduler >= 0) k.scheduler = (sdc_scheduler)p->hr_scheduler;
        k.steps = p->hr_steps > 0 ? p->hr_steps : p->steps;
        k.latent = up;
        /* A1111: int(steps / min(s, 0.999)) built, the last `steps` run */
        k.denoise = fminf(p->hr_denoise, 0.999f);
        k.rule = SDC_IMG2IMG_COMFY;
        k.noise = NULL; /* fresh noise of the new size (a verification --noise has the first size) */
        sdc_ksample_stats s2 = {0};
        st = sdc_ksample_run(r->m, pool, &k, x2, &s2, err);
        stats->steps_run += s2.steps_run;
        stats->model_evals += s2.model_evals;
    }
    free(up);
    if (st) {
        free(x2);
        return st;
    }
    free(r->x);
    r->x = x2;
    r->h = h2, r->w = w2, r->n = n2;
    return SDC_OK;
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
    r.B = p->batch_size, r.C = m->unet->cfg.out_ch, r.h = p->height / 8, r.w = p->width / 8;
    r.n = (size_t)(r.B * r.C * r.h * r.w);
    r.x = malloc(r.n * sizeof(float));
    if (!r.x || sdc_ctx_init(&r.ctx, pool, 0) != SDC_OK) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    r.ctx.compute = p->compute;
    r.ctx.log = p->log;
    r.ctx.dump = p->dump;
    r.ctx.dump_user = p->dump_user;
    const sdc_tensor *cond = NULL, *uncond = NULL;
    if (!st) {
        cond = sdc_encode_prompt(&r.ctx, m, p->prompt, p->clip_skip);
        if (sdc_cfg_needs_uncond(p->cfg_scale)) uncond = sdc_encode_prompt(&r.ctx, m, p->negative_prompt, p->clip_skip);
        if (!sdc_ctx_ok(&r.ctx)) st = ctx_err(&r.ctx, err);
        if (p->release_text) sdc_sd_model_release_text(m);
    }
    double t_text = sdc_time_now();
    if (!st && (p->init_image || p->init_latent)) st = encode_init(&r, err);
    if (!st) st = sdc_inpaint_prepare(&r.ip, &r.ctx, m, p->init_image, p->mask, p->mask_blur, r.B, r.h, r.w, err);
    sdc_ksample_stats stats = {0};
    double t_sample0 = sdc_time_now();
    if (!st) st = sample(&r, pool, cond, uncond, &stats, err);
    if (!st && p->hr_width > 0) st = hires(&r, pool, cond, uncond, &stats, err);
    double t_sampled = sdc_time_now();
    if (!st) st = decode(&r, pool, out, err);
    if (!st) {
        out->B = r.B, out->H = r.h * 8, out->W = r.w * 8;
        memcpy(out->seeds, stats.seeds, sizeof out->seeds);
        out->timing = (sdc_gen_timing){.text = t_text - t0, .sampling = t_sampled - t_sample0,
                                       .decode = sdc_time_now() - t_sampled, .total = sdc_time_now() - t0,
                                       .steps_run = stats.steps_run, .model_evals = stats.model_evals};
    } else {
        sdc_gen_result_free(out);
    }
    sdc_inpaint_free(&r.ip);
    sdc_ctx_free(&r.ctx);
    free(r.x);
    free(r.init_latent);
    return st;
}
