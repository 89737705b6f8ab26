/* Latent nodes: EmptyLatentImage, KSampler, KSamplerAdvanced, VAEDecode,
 * VAEEncode, VAEEncodeForInpaint, SetLatentNoiseMask, LatentUpscale,
 * LatentUpscaleBy, with ComfyUI's inputs and conventions:
 *  - noise: torch.randn of the latent's shape from manual_seed(seed) on the
 *    CPU (--rng cpu, bit for bit), step noise as ComfyUI seeds it;
 *  - KSampler denoise < 1 builds int(steps / denoise) steps and runs the
 *    last `steps` (SDC_IMG2IMG_COMFY); KSamplerAdvanced runs the slice
 *    [start_at_step, end_at_step), optionally without added noise, and
 *    ends at sigma 0 unless return_with_leftover_noise;
 *  - a noise mask (SetLatentNoiseMask, VAEEncodeForInpaint) is resized
 *    bilinearly to the latent size: where it is 0 the input latent is kept
 *    (its first mask is used for the whole batch);
 *  - VAEEncode crops the image to multiples of 8 around the centre and
 *    takes the posterior mean (deterministic); VAEDecode clamps to [0, 1].
 * Latent values hold scaled latents (see wf_types.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "models/vae.h"
#include "pipeline/ksample.h"
#include "workflow/control.h"
#include "workflow/nodes_common.h"
#include "workflow/preview.h"

static sdc_status empty_latent(sdc_wf_call *c, sdc_error *err) {
    int64_t W = sdc_wf_arg_int(c, "width"), H = sdc_wf_arg_int(c, "height"), B = sdc_wf_arg_int(c, "batch_size");
    c->out[0] = sdc_wf_latent_new(B, 4, H / 8, W / 8, err);
    return c->out[0] ? SDC_OK : err->status;
}

/* ---- sampling ------------------------------------------------------------------------ */

typedef struct sampling {
    const sdc_wf_call *call;
    sdc_taesd *taesd;
    int previews;
    double last_preview;
} sampling;

/* previews at the first and last step and at most every half second in
 * between: a TAESD decode + PNG per step would cost fast runs a lot */
static int preview_due(double *last, const sdc_progress *p) {
    double now = sdc_time_now();
    if (p->step > 1 && p->step < p->steps && now - *last < 0.5) return 0;
    *last = now;
    return 1;
}

static int on_progress(void *user, const sdc_progress *p) {
    sampling *s = user;
    const sdc_wf_env *env = s->call->env;
    if (env->on_event) {
        json_t *d = json_pack("{s:i, s:i, s:s, s:s}", "value", p->step, "max", p->steps, "prompt_id", s->call->prompt_id,
                              "node", s->call->node_id);
        if (d) env->on_event(env->user, "progress", d);
        json_decref(d);
    }
    if (s->previews && env->on_preview && p->denoised && preview_due(&s->last_preview, p)) {
        sdc_image img = {0};
        sdc_error e;
        sdc_error_clear(&e);
        if (sdc_preview_latent(p->denoised, p->C, p->h, p->w, s->taesd, env->pool, &img, &e) == SDC_OK)
            env->on_preview(env->user, &img);
        sdc_image_free(&img);
    }
    return env->cancelled && env->cancelled(env->user);
}

/* keep[h * w] = 1 - bilinear(mask item 0 -> h x w) */
static float *keep_mask(const sdc_wf_value *lat, sdc_error *err) {
    int64_t h = lat->u.latent.h, w = lat->u.latent.w;
    float *keep = malloc((size_t)(h * w) * sizeof *keep);
    if (!keep) {
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    if (sdc_wf_resize_planes(lat->u.latent.mask, 1, 0, lat->u.latent.mH, lat->u.latent.mW, lat->u.latent.mW, 1, keep, 0, h,
                             w, w, 1, SDC_WF_BILINEAR, err)) {
        free(keep);
        return NULL;
    }
    for (int64_t i = 0; i < h * w; i++) keep[i] = 1.0f - fminf(fmaxf(keep[i], 0.0f), 1.0f);
    return keep;
}

/* 9-channel inpainting input: [mask (1 = repaint), latent] per image */
static float *inpaint_concat(const sdc_wf_value *lat, const float *keep, sdc_error *err) {
    int64_t B = lat->u.latent.B, C = lat->u.latent.C, plane = lat->u.latent.h * lat->u.latent.w;
    float *cat = malloc((size_t)(B * (C + 1) * plane) * sizeof *cat);
    if (!cat) {
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    for (int64_t b = 0; b < B; b++) {
        float *d = cat + b * (C + 1) * plane;
        for (int64_t i = 0; i < plane; i++) d[i] = keep ? 1.0f - keep[i] : 1.0f;
        memcpy(d + plane, lat->u.latent.samples + b * C * plane, (size_t)(C * plane) * sizeof(float));
    }
    return cat;
}

/* hint [H, W, 3] of IMAGE item 0 at the output size (ComfyUI: nearest-exact, center crop) */
static float *control_hint(const sdc_wf_value *img, int64_t H, int64_t W, sdc_error *err) {
    sdc_wf_value *r = sdc_wf_image_resize(img, W, H, SDC_WF_NEAREST_EXACT, 1, err);
    if (!r) return NULL;
    float *h = malloc((size_t)(H * W * 3) * sizeof *h);
    if (h) memcpy(h, r->u.image.data, (size_t)(H * W * 3) * sizeof *h);
    else sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_wf_value_unref(r);
    return h;
}

typedef struct controls {
    sdc_control_hook hook;
    int ready;
    float *hints[SDC_WF_MAX_CONTROL];
} controls;

static sdc_status setup_controls(const sdc_wf_call *c, const sdc_wf_value *pos, const sdc_sd_model *m, int64_t h,
                                 int64_t w, controls *ctl, sdc_error *err) {
    sdc_control_spec specs[SDC_WF_MAX_CONTROL];
    int n = pos->u.cond.n_control;
    for (int i = 0; i < n; i++) {
        const sdc_wf_control *k = &pos->u.cond.control[i];
        sdc_controlnet *cn;
        sdc_status st = sdc_model_cache_controlnet(c->env->cache, k->path, m, &cn, err);
        if (st) return st;
        if (!(ctl->hints[i] = control_hint(k->image, h * 8, w * 8, err))) return err->status;
        specs[i] = (sdc_control_spec){.cn = cn, .hint = ctl->hints[i], .strength = k->strength, .start = k->start_percent,
                                      .end = k->end_percent, .sigma_rule = 1};
    }
    if (n == 0) return SDC_OK;
    sdc_status st = sdc_control_hook_init(&ctl->hook, c->env->pool, c->env->compute, specs, n, h * 8, w * 8, err);
    ctl->ready = 1;
    return st;
}

static void free_controls(controls *ctl) {
    if (ctl->ready) sdc_control_hook_free(&ctl->hook);
    for (int i = 0; i < SDC_WF_MAX_CONTROL; i++) free(ctl->hints[i]);
}

typedef struct ksampler_args {
    int advanced, add_noise, start, end, force_full;
    uint64_t seed;
} ksampler_args;

static sdc_status fill_ksample(const sdc_wf_call *c, const sdc_sd_model *m, const ksampler_args *a, sdc_ksample *k,
                               sdc_tensor *cond, sdc_tensor *uncond, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "latent_image"), *pos = sdc_wf_arg(c, "positive"), *neg = sdc_wf_arg(c, "negative");
    if (lat->u.latent.C != m->unet->cfg.out_ch)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the latent has %lld channels, the model uses %lld",
                             (long long)lat->u.latent.C, (long long)m->unet->cfg.out_ch);
    if (pos->u.cond.D != m->unet->cfg.context_dim || neg->u.cond.D != m->unet->cfg.context_dim)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the conditioning has width %lld, the model expects %lld",
                             (long long)pos->u.cond.D, (long long)m->unet->cfg.context_dim);
    sdc_ksample_default(k);
    if (sdc_wf_sampler_lookup(sdc_wf_arg_str(c, "sampler_name"), &k->sampler) ||
        sdc_wf_scheduler_lookup(sdc_wf_arg_str(c, "scheduler"), &k->scheduler))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown sampler or scheduler");
    *cond = sdc_tensor_3d(SDC_DTYPE_F32, pos->u.cond.data, 1, pos->u.cond.T, pos->u.cond.D);
    *uncond = sdc_tensor_3d(SDC_DTYPE_F32, neg->u.cond.data, 1, neg->u.cond.T, neg->u.cond.D);
    k->B = lat->u.latent.B, k->C = lat->u.latent.C, k->h = lat->u.latent.h, k->w = lat->u.latent.w;
    k->cond = cond;
    k->cfg_scale = (float)sdc_wf_arg_float(c, "cfg");
    k->uncond = k->cfg_scale != 1.0f ? uncond : NULL;
    k->steps = (int)sdc_wf_arg_int(c, "steps");
    k->latent = lat->u.latent.samples;
    k->denoise = a->advanced ? 1.0f : (float)sdc_wf_arg_float(c, "denoise");
    k->rule = SDC_IMG2IMG_COMFY;
    k->seed = a->seed;
    k->rng = SDC_RNG_CPU;
    k->add_noise = a->add_noise;
    if (a->advanced) {
        k->start_step = a->start;
        k->end_step = a->end;
        k->force_full_denoise = a->force_full;
    }
    k->compute = c->env->compute;
    return SDC_OK;
}

static sdc_status run_ksampler(sdc_wf_call *c, const ksampler_args *a, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "latent_image");
    sdc_sd_model *m;
    sdc_status st = sdc_wf_checkpoint(c->env, &sdc_wf_arg(c, "model")->u.model.key, &m, err);
    sdc_ksample k;
    sdc_tensor cond, uncond;
    if (!st) st = fill_ksample(c, m, a, &k, &cond, &uncond, err);
    if (st) return st;
    float *keep = NULL, *concat = NULL;
    controls ctl = {0};
    sampling s = {.call = c, .previews = c->env->previews};
    char dec[SDC_CAT_PATH_MAX], enc[SDC_CAT_PATH_MAX];
    if (s.previews && c->env->cat && sdc_catalog_taesd(c->env->cat, dec, enc, sizeof dec)) {
        sdc_error e;
        sdc_error_clear(&e);
        if (sdc_model_cache_taesd(c->env->cache, dec, NULL, &s.taesd, &e) != SDC_OK) s.taesd = NULL;
    }
    if (lat->u.latent.mask && !(keep = keep_mask(lat, err))) st = err->status;
    if (!st && m->unet->cfg.in_ch != m->unet->cfg.out_ch && !(concat = inpaint_concat(lat, keep, err))) st = err->status;
    if (!st) st = setup_controls(c, sdc_wf_arg(c, "positive"), m, k.h, k.w, &ctl, err);
    k.keep = keep;
    k.concat = concat;
    if (ctl.ready) k.extra_fn = sdc_control_hook_fn, k.extra_user = &ctl.hook;
    k.on_progress = on_progress;
    k.user = &s;
    sdc_wf_value *out = st ? NULL : sdc_wf_latent_clone(lat, err);
    if (!st && !out) st = err->status;
    if (!st) st = sdc_ksample_run(m, c->env->pool, &k, out->u.latent.samples, NULL, err);
    if (st) sdc_wf_value_unref(out);
    else c->out[0] = out;
    free_controls(&ctl);
    free(keep);
    free(concat);
    return st;
}

static sdc_status ksampler(sdc_wf_call *c, sdc_error *err) {
    ksampler_args a = {.add_noise = 1, .seed = (uint64_t)sdc_wf_arg_int(c, "seed")};
    return run_ksampler(c, &a, err);
}

static sdc_status ksampler_advanced(sdc_wf_call *c, sdc_error *err) {
    ksampler_args a = {.advanced = 1, .add_noise = strcmp(sdc_wf_arg_str(c, "add_noise"), "enable") == 0,
                       .seed = (uint64_t)sdc_wf_arg_int(c, "noise_seed"), .start = (int)sdc_wf_arg_int(c, "start_at_step"),
                       .end = (int)sdc_wf_arg_int(c, "end_at_step"),
                       .force_full = strcmp(sdc_wf_arg_str(c, "return_with_leftover_noise"), "enable") != 0};
    return run_ksampler(c, &a, err);
}

/* ---- VAE ------------------------------------------------------------------------------- */

typedef struct vae_ref {
    sdc_vae *vae;     /* KL VAE, or */
    sdc_taesd *taesd; /* TAESD */
    float scale;
} vae_ref;

static sdc_status get_vae(const sdc_wf_call *c, vae_ref *r, sdc_error *err) {
    const sdc_wf_value *v = sdc_wf_arg(c, "vae");
    memset(r, 0, sizeof *r);
    if (v->u.vae.kind == SDC_WF_VAE_TAESD) return sdc_model_cache_taesd(c->env->cache, v->u.vae.path, v->u.vae.path2, &r->taesd, err);
    if (v->u.vae.kind == SDC_WF_VAE_FILE) {
        sdc_status st = sdc_model_cache_vae(c->env->cache, v->u.vae.path, &r->vae, err);
        if (!st) r->scale = r->vae->scaling_factor;
        return st;
    }
    sdc_sd_model *m;
    sdc_status st = sdc_wf_checkpoint(c->env, &v->u.vae.ckpt, &m, err);
    if (!st) r->vae = m->vae, r->scale = m->scale_factor;
    return st;
}

static sdc_status ctx_err(sdc_ctx *ctx, sdc_error *err) { return sdc_error_set(err, ctx->err.status, "%s", sdc_error_msg(&ctx->err)); }

static sdc_status vae_decode(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "samples");
    vae_ref r;
    sdc_status st = get_vae(c, &r, err);
    if (st) return st;
    int64_t B = lat->u.latent.B, C = lat->u.latent.C, h = lat->u.latent.h, w = lat->u.latent.w;
    sdc_wf_value *out = sdc_wf_image_new(B, h * 8, w * 8, err);
    sdc_ctx ctx;
    if (!out) return err->status;
    if (sdc_ctx_init(&ctx, c->env->pool, 0) != SDC_OK) {
        sdc_wf_value_unref(out);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    ctx.compute = c->env->compute;
    for (int64_t b = 0; b < B && !st; b++) {
        sdc_tensor *z = sdc_new_4d(&ctx, 1, C, h, w);
        if (!z) break;
        const float *src = lat->u.latent.samples + b * C * h * w;
        for (int64_t i = 0; i < C * h * w; i++) ((float *)z->data)[i] = r.taesd ? src[i] : src[i] / r.scale;
        sdc_tensor *img = r.taesd ? sdc_taesd_decode(&ctx, r.taesd, z) : sdc_vae_decode(&ctx, r.vae, z);
        if (!img) break;
        int64_t H = img->shape[2], W = img->shape[3];
        if (H != h * 8 || W != w * 8) st = sdc_error_set(err, SDC_ERR_UNSUPPORTED, "the VAE decodes to another size");
        const float *d = img->data;
        float *o = out->u.image.data + b * H * W * 3;
        for (int64_t y = 0; !st && y < H * W; y++)
            for (int ch = 0; ch < 3; ch++) o[y * 3 + ch] = fminf(fmaxf((d[ch * H * W + y] + 1.0f) * 0.5f, 0.0f), 1.0f);
        sdc_ctx_reset(&ctx);
    }
    if (!st && !sdc_ctx_ok(&ctx)) st = ctx_err(&ctx, err);
    sdc_ctx_free(&ctx);
    if (st) sdc_wf_value_unref(out);
    else c->out[0] = out;
    return st;
}

/* encodes image items [H, W, 3] in [0, 1] (already cropped, sizes multiples of 8) */
static sdc_wf_value *encode_pixels(const sdc_wf_call *c, const vae_ref *r, const float *pix, int64_t B, int64_t H,
                                   int64_t W, sdc_error *err) {
    if (r->taesd && !r->taesd->enc.present) {
        sdc_error_set(err, SDC_ERR_UNSUPPORTED, "this TAESD has no encoder (taesd_encoder file)");
        return NULL;
    }
    sdc_wf_value *out = sdc_wf_latent_new(B, 4, H / 8, W / 8, err);
    sdc_ctx ctx;
    if (!out || sdc_ctx_init(&ctx, c->env->pool, 0) != SDC_OK) {
        if (out) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        sdc_wf_value_unref(out);
        return NULL;
    }
    ctx.compute = c->env->compute;
    for (int64_t b = 0; b < B && sdc_ctx_ok(&ctx); b++) {
        sdc_tensor *x = sdc_new_4d(&ctx, 1, 3, H, W);
        if (!x) break;
        for (int64_t i = 0; i < H * W; i++)
            for (int ch = 0; ch < 3; ch++) ((float *)x->data)[ch * H * W + i] = pix[(b * H * W + i) * 3 + ch] * 2.0f - 1.0f;
        sdc_tensor *z = r->taesd ? sdc_taesd_encode(&ctx, r->taesd, x) : sdc_vae_encode(&ctx, r->vae, x);
        if (!z) break;
        int64_t lc = r->taesd ? z->shape[1] : z->shape[1] / 2, n = lc * (H / 8) * (W / 8);
        if (lc != 4) {
            sdc_ctx_fail(&ctx, SDC_ERR_UNSUPPORTED, "a VAE with %lld latent channels", (long long)lc);
            break;
        }
        for (int64_t i = 0; i < n; i++) out->u.latent.samples[b * n + i] = ((float *)z->data)[i] * (r->taesd ? 1.0f : r->scale);
        sdc_ctx_reset(&ctx);
    }
    if (!sdc_ctx_ok(&ctx)) {
        ctx_err(&ctx, err);
        sdc_wf_value_unref(out);
        out = NULL;
    }
    sdc_ctx_free(&ctx);
    return out;
}

/* ComfyUI's vae_encode_crop_pixels: multiples of 8 around the centre */
static float *crop8(const sdc_wf_value *img, int64_t *H8, int64_t *W8, int64_t *oy, int64_t *ox, sdc_error *err) {
    int64_t B = img->u.image.B, H = img->u.image.H, W = img->u.image.W;
    *H8 = H / 8 * 8, *W8 = W / 8 * 8;
    *oy = (H % 8) / 2, *ox = (W % 8) / 2;
    if (*H8 < 8 || *W8 < 8) {
        sdc_error_set(err, SDC_ERR_INVALID_ARG, "the image (%lldx%lld) is smaller than 8x8", (long long)W, (long long)H);
        return NULL;
    }
    float *p = malloc((size_t)(B * *H8 * *W8 * 3) * sizeof *p);
    if (!p) {
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t y = 0; y < *H8; y++)
            memcpy(p + ((b * *H8 + y) * *W8) * 3, img->u.image.data + ((b * H + y + *oy) * W + *ox) * 3,
                   (size_t)(*W8 * 3) * sizeof *p);
    return p;
}

static sdc_status vae_encode(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "pixels");
    vae_ref r;
    sdc_status st = get_vae(c, &r, err);
    int64_t H8, W8, oy, ox;
    float *p = st ? NULL : crop8(img, &H8, &W8, &oy, &ox, err);
    if (!p) return err->status;
    c->out[0] = encode_pixels(c, &r, p, img->u.image.B, H8, W8, err);
    free(p);
    return c->out[0] ? SDC_OK : err->status;
}

/* mask item 0 resized (bilinear) to H x W, rounded, grown by g pixels */
static float *inpaint_mask(const sdc_wf_value *mask, int64_t H, int64_t W, int64_t g, float *rounded, sdc_error *err) {
    float *grown = malloc((size_t)(H * W) * sizeof *grown);
    if (!grown) {
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    if (sdc_wf_resize_planes(mask->u.mask.data, 1, 0, mask->u.mask.H, mask->u.mask.W, mask->u.mask.W, 1, rounded, 0, H, W,
                             W, 1, SDC_WF_BILINEAR, err)) {
        free(grown);
        return NULL;
    }
    for (int64_t i = 0; i < H * W; i++) rounded[i] = nearbyintf(rounded[i]);
    int64_t pad = (g - 1 + 1) / 2; /* ceil((g - 1) / 2) */
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float s = g == 0 ? rounded[y * W + x] : 0.0f;
            for (int64_t dy = 0; g && dy < g; dy++)
                for (int64_t dx = 0; dx < g; dx++) {
                    int64_t yy = y - pad + dy, xx = x - pad + dx;
                    if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += rounded[yy * W + xx];
                }
            grown[y * W + x] = nearbyintf(fminf(fmaxf(s, 0.0f), 1.0f));
        }
    return grown;
}

static sdc_status vae_encode_inpaint(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "pixels"), *mask = sdc_wf_arg(c, "mask");
    vae_ref r;
    sdc_status st = get_vae(c, &r, err);
    int64_t H8, W8, oy, ox, H = img->u.image.H, W = img->u.image.W;
    float *p = st ? NULL : crop8(img, &H8, &W8, &oy, &ox, err);
    float *full = p ? malloc((size_t)(H * W) * sizeof *full) : NULL;
    float *grown = full ? inpaint_mask(mask, H, W, sdc_wf_arg_int(c, "grow_mask_by"), full, err) : NULL;
    if (p && !full) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (grown) {
        for (int64_t b = 0; b < img->u.image.B; b++) /* masked pixels become gray */
            for (int64_t y = 0; y < H8; y++)
                for (int64_t x = 0; x < W8; x++) {
                    float keep = 1.0f - full[(y + oy) * W + x + ox];
                    float *px = p + ((b * H8 + y) * W8 + x) * 3;
                    for (int ch = 0; ch < 3; ch++) px[ch] = (px[ch] - 0.5f) * keep + 0.5f;
                }
        c->out[0] = encode_pixels(c, &r, p, img->u.image.B, H8, W8, err);
    }
    if (c->out[0]) { /* noise_mask: the grown mask at pixel size, top-left H8 x W8 (ComfyUI crops [:x, :y]) */
        sdc_wf_value *o = c->out[0];
        o->u.latent.mask = malloc((size_t)(H8 * W8) * sizeof(float));
        if (!o->u.latent.mask) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        for (int64_t y = 0; o->u.latent.mask && y < H8; y++) memcpy(o->u.latent.mask + y * W8, grown + y * W, (size_t)W8 * sizeof(float));
        o->u.latent.mB = 1, o->u.latent.mH = H8, o->u.latent.mW = W8;
    }
    free(p), free(full), free(grown);
    return c->out[0] && c->out[0]->u.latent.mask ? SDC_OK : (err->status ? err->status : SDC_ERR_OOM);
}

static sdc_status set_noise_mask(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *mask = sdc_wf_arg(c, "mask");
    sdc_wf_value *out = sdc_wf_latent_clone(sdc_wf_arg(c, "samples"), err);
    if (!out) return err->status;
    size_t n = (size_t)(mask->u.mask.B * mask->u.mask.H * mask->u.mask.W);
    free(out->u.latent.mask);
    out->u.latent.mask = malloc(n * sizeof(float));
    if (!out->u.latent.mask) {
        sdc_wf_value_unref(out);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    memcpy(out->u.latent.mask, mask->u.mask.data, n * sizeof(float));
    out->u.latent.mB = mask->u.mask.B, out->u.latent.mH = mask->u.mask.H, out->u.latent.mW = mask->u.mask.W;
    c->out[0] = out;
    return SDC_OK;
}

static sdc_status upscale_latent_to(sdc_wf_call *c, int64_t h2, int64_t w2, int crop, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "samples");
    sdc_wf_interp m;
    if (sdc_wf_interp_from_name(sdc_wf_arg_str(c, "upscale_method"), &m) || m == SDC_WF_LANCZOS)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown upscale_method");
    int64_t B = lat->u.latent.B, C = lat->u.latent.C, h = lat->u.latent.h, w = lat->u.latent.w, x0 = 0, y0 = 0, cw = w, ch = h;
    if (h2 < 1 || w2 < 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "target size below 8 pixels");
    if (crop) sdc_wf_center_crop(w, h, w2, h2, &x0, &y0, &cw, &ch);
    sdc_wf_value *out = sdc_wf_latent_clone(lat, err);
    if (!out) return err->status;
    float *d = malloc((size_t)(B * C * h2 * w2) * sizeof *d);
    sdc_status st = d ? sdc_wf_resize_planes(lat->u.latent.samples + y0 * w + x0, B * C, h * w, ch, cw, w, 1, d, h2 * w2,
                                             h2, w2, w2, 1, m, err)
                      : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (st) {
        free(d);
        sdc_wf_value_unref(out);
        return st;
    }
    free(out->u.latent.samples);
    out->u.latent.samples = d, out->u.latent.h = h2, out->u.latent.w = w2;
    c->out[0] = out;
    return SDC_OK;
}

static sdc_status latent_upscale(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "samples");
    int64_t W = sdc_wf_arg_int(c, "width"), H = sdc_wf_arg_int(c, "height");
    if (W == 0 && H == 0) return upscale_latent_to(c, lat->u.latent.h, lat->u.latent.w, 0, err);
    if (W == 0) W = (int64_t)nearbyint((double)lat->u.latent.w * (double)H / (double)lat->u.latent.h) * 8;
    if (H == 0) H = (int64_t)nearbyint((double)lat->u.latent.h * (double)W / (double)lat->u.latent.w) * 8;
    return upscale_latent_to(c, H / 8, W / 8, strcmp(sdc_wf_arg_str(c, "crop"), "center") == 0, err);
}

static sdc_status latent_upscale_by(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *lat = sdc_wf_arg(c, "samples");
    double s = sdc_wf_arg_float(c, "scale_by");
    return upscale_latent_to(c, (int64_t)nearbyint((double)lat->u.latent.h * s), (int64_t)nearbyint((double)lat->u.latent.w * s), 0, err);
}

/* ---- definitions ------------------------------------------------------------------------ */

static const char *const k_enable[] = {"enable", "disable", NULL};
static const char *const k_disable[] = {"disable", "enable", NULL};
static const char *const k_latent_methods[] = {"nearest-exact", "bilinear", "area", "bicubic", NULL};
static const char *const k_crop[] = {"disabled", "center", NULL};

#define SEED_MAX 18446744073709551615.0

static const sdc_wf_input_def in_empty[] = {
    {.name = "width", .type = SDC_WF_INT, .def = 512, .min = 16, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "height", .type = SDC_WF_INT, .def = 512, .min = 16, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "batch_size", .type = SDC_WF_INT, .def = 1, .min = 1, .max = 64, .step = 1},
};
static const sdc_wf_input_def in_ksampler[] = {
    {.name = "model", .type = SDC_WF_MODEL},
    {.name = "seed", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SEED_MAX, .step = 1, .control_after_generate = 1},
    {.name = "steps", .type = SDC_WF_INT, .def = 20, .min = 1, .max = 10000, .step = 1},
    {.name = "cfg", .type = SDC_WF_FLOAT, .def = 8.0, .min = 0.0, .max = 100.0, .step = 0.1, .round = 0.01},
    {.name = "sampler_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_SAMPLERS},
    {.name = "scheduler", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_SCHEDULERS},
    {.name = "positive", .type = SDC_WF_CONDITIONING},
    {.name = "negative", .type = SDC_WF_CONDITIONING},
    {.name = "latent_image", .type = SDC_WF_LATENT},
    {.name = "denoise", .type = SDC_WF_FLOAT, .def = 1.0, .min = 0.0, .max = 1.0, .step = 0.01},
};
static const sdc_wf_input_def in_ksampler_adv[] = {
    {.name = "model", .type = SDC_WF_MODEL},
    {.name = "add_noise", .type = SDC_WF_COMBO, .choices = k_enable},
    {.name = "noise_seed", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SEED_MAX, .step = 1, .control_after_generate = 1},
    {.name = "steps", .type = SDC_WF_INT, .def = 20, .min = 1, .max = 10000, .step = 1},
    {.name = "cfg", .type = SDC_WF_FLOAT, .def = 8.0, .min = 0.0, .max = 100.0, .step = 0.1, .round = 0.01},
    {.name = "sampler_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_SAMPLERS},
    {.name = "scheduler", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_SCHEDULERS},
    {.name = "positive", .type = SDC_WF_CONDITIONING},
    {.name = "negative", .type = SDC_WF_CONDITIONING},
    {.name = "latent_image", .type = SDC_WF_LATENT},
    {.name = "start_at_step", .type = SDC_WF_INT, .def = 0, .min = 0, .max = 10000, .step = 1},
    {.name = "end_at_step", .type = SDC_WF_INT, .def = 10000, .min = 0, .max = 10000, .step = 1},
    {.name = "return_with_leftover_noise", .type = SDC_WF_COMBO, .choices = k_disable},
};
static const sdc_wf_input_def in_decode[] = {{.name = "samples", .type = SDC_WF_LATENT}, {.name = "vae", .type = SDC_WF_VAE}};
static const sdc_wf_input_def in_encode[] = {{.name = "pixels", .type = SDC_WF_IMAGE}, {.name = "vae", .type = SDC_WF_VAE}};
static const sdc_wf_input_def in_encode_inpaint[] = {
    {.name = "pixels", .type = SDC_WF_IMAGE},
    {.name = "vae", .type = SDC_WF_VAE},
    {.name = "mask", .type = SDC_WF_MASK},
    {.name = "grow_mask_by", .type = SDC_WF_INT, .def = 6, .min = 0, .max = 64, .step = 1},
};
static const sdc_wf_input_def in_noise_mask[] = {{.name = "samples", .type = SDC_WF_LATENT}, {.name = "mask", .type = SDC_WF_MASK}};
static const sdc_wf_input_def in_upscale[] = {
    {.name = "samples", .type = SDC_WF_LATENT},
    {.name = "upscale_method", .type = SDC_WF_COMBO, .choices = k_latent_methods},
    {.name = "width", .type = SDC_WF_INT, .def = 512, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "height", .type = SDC_WF_INT, .def = 512, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "crop", .type = SDC_WF_COMBO, .choices = k_crop},
};
static const sdc_wf_input_def in_upscale_by[] = {
    {.name = "samples", .type = SDC_WF_LATENT},
    {.name = "upscale_method", .type = SDC_WF_COMBO, .choices = k_latent_methods},
    {.name = "scale_by", .type = SDC_WF_FLOAT, .def = 1.5, .min = 0.01, .max = 8.0, .step = 0.01},
};

const sdc_wf_node_def sdc_wf_nodes_latent[] = {
    {.name = "EmptyLatentImage", .display_name = "Empty Latent Image", .category = "latent", .inputs = in_empty,
     .n_inputs = 3, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = empty_latent},
    {.name = "KSampler", .display_name = "KSampler", .category = "sampling",
     .description = "Uses the provided model, positive and negative conditioning to denoise the latent image.",
     .inputs = in_ksampler, .n_inputs = 10, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = ksampler},
    {.name = "KSamplerAdvanced", .display_name = "KSampler (Advanced)", .category = "sampling", .inputs = in_ksampler_adv,
     .n_inputs = 13, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = ksampler_advanced},
    {.name = "VAEDecode", .display_name = "VAE Decode", .category = "latent", .inputs = in_decode, .n_inputs = 2,
     .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = vae_decode},
    {.name = "VAEEncode", .display_name = "VAE Encode", .category = "latent", .inputs = in_encode, .n_inputs = 2,
     .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = vae_encode},
    {.name = "VAEEncodeForInpaint", .display_name = "VAE Encode (for Inpainting)", .category = "latent/inpaint",
     .inputs = in_encode_inpaint, .n_inputs = 4, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = vae_encode_inpaint},
    {.name = "SetLatentNoiseMask", .display_name = "Set Latent Noise Mask", .category = "latent/inpaint",
     .inputs = in_noise_mask, .n_inputs = 2, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = set_noise_mask},
    {.name = "LatentUpscale", .display_name = "Upscale Latent", .category = "latent", .inputs = in_upscale, .n_inputs = 5,
     .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = latent_upscale},
    {.name = "LatentUpscaleBy", .display_name = "Upscale Latent By", .category = "latent", .inputs = in_upscale_by,
     .n_inputs = 3, .outputs = {SDC_WF_LATENT}, .n_outputs = 1, .run = latent_upscale_by},
};
const int sdc_wf_nodes_latent_n = (int)(sizeof sdc_wf_nodes_latent / sizeof sdc_wf_nodes_latent[0]);
