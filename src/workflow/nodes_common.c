/* Shared node helpers and the joined node table (see nodes_common.h). */
#include "workflow/nodes_common.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "image/resize.h"

/* ---- names ------------------------------------------------------------------------ */

/* ComfyUI's sampler names that sdc implements, in ComfyUI's order. The
 * "_gpu" variants differ in ComfyUI only by where their Brownian noise is
 * drawn; sdc runs them as the plain sampler. */
static const sdc_wf_sampler_name k_samplers[] = {
    {"euler", SDC_SAMPLER_EULER},
    {"euler_ancestral", SDC_SAMPLER_EULER_ANCESTRAL},
    {"heun", SDC_SAMPLER_HEUN},
    {"dpm_2", SDC_SAMPLER_DPM_2},
    {"dpm_2_ancestral", SDC_SAMPLER_DPM_2_ANCESTRAL},
    {"lms", SDC_SAMPLER_LMS},
    {"dpmpp_2s_ancestral", SDC_SAMPLER_DPMPP_2S_ANCESTRAL},
    {"dpmpp_sde", SDC_SAMPLER_DPMPP_SDE},
    {"dpmpp_sde_gpu", SDC_SAMPLER_DPMPP_SDE},
    {"dpmpp_2m", SDC_SAMPLER_DPMPP_2M},
    {"dpmpp_2m_sde", SDC_SAMPLER_DPMPP_2M_SDE},
    {"dpmpp_2m_sde_gpu", SDC_SAMPLER_DPMPP_2M_SDE},
    {"dpmpp_2m_sde_heun", SDC_SAMPLER_DPMPP_2M_SDE_HEUN},
    {"dpmpp_3m_sde", SDC_SAMPLER_DPMPP_3M_SDE},
    {"dpmpp_3m_sde_gpu", SDC_SAMPLER_DPMPP_3M_SDE},
    {"ddpm", SDC_SAMPLER_DDPM},
    {"lcm", SDC_SAMPLER_LCM},
    {"ipndm", SDC_SAMPLER_IPNDM},
    {"ipndm_v", SDC_SAMPLER_IPNDM_V},
    {"ddim", SDC_SAMPLER_DDIM},
    {"uni_pc", SDC_SAMPLER_UNI_PC},
    {"uni_pc_bh2", SDC_SAMPLER_UNI_PC_BH2},
    {NULL, SDC_SAMPLER_EULER},
};

/* ComfyUI's "normal" is log-sigma linspace (sdc normal_comfy); its
 * ddim_uniform ends at 0 where sdc's follows diffusers (docs/SAMPLING.md). */
static const sdc_wf_sched_name k_schedulers[] = {
    {"normal", SDC_SCHED_NORMAL_COMFY},
    {"karras", SDC_SCHED_KARRAS},
    {"exponential", SDC_SCHED_EXPONENTIAL},
    {"sgm_uniform", SDC_SCHED_SGM_UNIFORM},
    {"simple", SDC_SCHED_SIMPLE},
    {"ddim_uniform", SDC_SCHED_DDIM_UNIFORM},
    {"beta", SDC_SCHED_BETA},
    {"linear_quadratic", SDC_SCHED_LINEAR_QUADRATIC},
    {"kl_optimal", SDC_SCHED_KL_OPTIMAL},
    {NULL, SDC_SCHED_NORMAL},
};

const sdc_wf_sampler_name *sdc_wf_comfy_samplers(void) { return k_samplers; }
const sdc_wf_sched_name *sdc_wf_comfy_schedulers(void) { return k_schedulers; }

int sdc_wf_sampler_lookup(const char *name, sdc_sampler_kind *out) {
    for (int i = 0; k_samplers[i].name; i++)
        if (strcmp(k_samplers[i].name, name) == 0) {
            *out = k_samplers[i].kind;
            return 0;
        }
    return -1;
}

int sdc_wf_scheduler_lookup(const char *name, sdc_scheduler *out) {
    for (int i = 0; k_schedulers[i].name; i++)
        if (strcmp(k_schedulers[i].name, name) == 0) {
            *out = k_schedulers[i].kind;
            return 0;
        }
    return -1;
}

/* ---- values ------------------------------------------------------------------------ */

static float *alloc_floats(int64_t a, int64_t b, int64_t c, int64_t d, sdc_error *err) {
    size_t n = 1, t;
    int64_t dims[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        if (dims[i] < 1 || dims[i] > (int64_t)1 << 24 || !sdc_mul_ok(n, (size_t)dims[i], &t)) {
            sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor size %lldx%lldx%lldx%lld out of bounds", (long long)a,
                          (long long)b, (long long)c, (long long)d);
            return NULL;
        }
        n = t;
    }
    if (n > (size_t)SDC_IMAGE_MAX_PIXELS * 3 || !sdc_mul_ok(n, sizeof(float), &t)) {
        sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor of %zu values is too large", n);
        return NULL;
    }
    float *p = calloc(n, sizeof(float));
    if (!p) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    return p;
}

sdc_wf_value *sdc_wf_image_new(int64_t B, int64_t H, int64_t W, sdc_error *err) {
    float *d = alloc_floats(B, H, W, 3, err);
    sdc_wf_value *v = d ? sdc_wf_value_new(SDC_WF_IMAGE) : NULL;
    if (!v) {
        free(d);
        if (d) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    v->u.image.B = B, v->u.image.H = H, v->u.image.W = W, v->u.image.data = d;
    return v;
}

sdc_wf_value *sdc_wf_mask_new(int64_t B, int64_t H, int64_t W, sdc_error *err) {
    float *d = alloc_floats(B, H, W, 1, err);
    sdc_wf_value *v = d ? sdc_wf_value_new(SDC_WF_MASK) : NULL;
    if (!v) {
        free(d);
        if (d) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    v->u.mask.B = B, v->u.mask.H = H, v->u.mask.W = W, v->u.mask.data = d;
    return v;
}

sdc_wf_value *sdc_wf_latent_new(int64_t B, int64_t C, int64_t h, int64_t w, sdc_error *err) {
    float *d = alloc_floats(B, C, h, w, err);
    sdc_wf_value *v = d ? sdc_wf_value_new(SDC_WF_LATENT) : NULL;
    if (!v) {
        free(d);
        if (d) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    v->u.latent.B = B, v->u.latent.C = C, v->u.latent.h = h, v->u.latent.w = w, v->u.latent.samples = d;
    return v;
}

sdc_wf_value *sdc_wf_latent_clone(const sdc_wf_value *l, sdc_error *err) {
    sdc_wf_value *v = sdc_wf_latent_new(l->u.latent.B, l->u.latent.C, l->u.latent.h, l->u.latent.w, err);
    if (!v) return NULL;
    memcpy(v->u.latent.samples, l->u.latent.samples, (size_t)(l->u.latent.B * l->u.latent.C * l->u.latent.h * l->u.latent.w) * sizeof(float));
    if (l->u.latent.mask) {
        size_t n = (size_t)(l->u.latent.mB * l->u.latent.mH * l->u.latent.mW);
        v->u.latent.mask = malloc(n * sizeof(float));
        if (!v->u.latent.mask) {
            sdc_wf_value_unref(v);
            sdc_error_set(err, SDC_ERR_OOM, "out of memory");
            return NULL;
        }
        memcpy(v->u.latent.mask, l->u.latent.mask, n * sizeof(float));
        v->u.latent.mB = l->u.latent.mB, v->u.latent.mH = l->u.latent.mH, v->u.latent.mW = l->u.latent.mW;
    }
    return v;
}

sdc_status sdc_wf_image_to_u8(const sdc_wf_value *img, int64_t b, sdc_image *out, sdc_error *err) {
    int64_t H = img->u.image.H, W = img->u.image.W;
    sdc_status st = sdc_image_alloc(out, (int)W, (int)H, 3, err);
    if (st) return st;
    const float *s = img->u.image.data + b * H * W * 3;
    for (int64_t i = 0; i < H * W * 3; i++) {
        float v = s[i] * 255.0f;
        out->data[i] = v >= 255.0f ? 255 : (v > 0.0f ? (uint8_t)v : 0); /* NaN -> 0 */
    }
    return SDC_OK;
}

void sdc_wf_image_set_u8(sdc_wf_value *img, int64_t b, const sdc_image *src) {
    int64_t n = img->u.image.H * img->u.image.W;
    float *d = img->u.image.data + b * n * 3;
    int ch = src->channels;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            int sc = ch >= 3 ? c : 0;
            d[i * 3 + c] = src->data[i * ch + sc] / 255.0f;
        }
}

/* ---- interpolation ----------------------------------------------------------------- */

int sdc_wf_interp_from_name(const char *name, sdc_wf_interp *out) {
    static const char *const names[] = {"nearest-exact", "bilinear", "area", "bicubic", "lanczos"};
    for (int i = 0; i < 5; i++)
        if (strcmp(names[i], name) == 0) {
            *out = (sdc_wf_interp)i;
            return 0;
        }
    return -1;
}

typedef struct taps {
    int per;
    int64_t *idx; /* [out * per] */
    float *w;     /* [out * per] */
} taps;

static float cubic(float x, float A) {
    x = fabsf(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
}

static void fill_taps(taps *t, int64_t in, int64_t out, sdc_wf_interp m) {
    double scale = (double)in / (double)out;
    for (int64_t i = 0; i < out; i++) {
        int64_t *ix = t->idx + i * t->per;
        float *w = t->w + i * t->per;
        for (int k = 0; k < t->per; k++) ix[k] = 0, w[k] = 0;
        if (m == SDC_WF_NEAREST_EXACT) {
            ix[0] = SDC_MIN((int64_t)floor(((double)i + 0.5) * scale), in - 1), w[0] = 1;
        } else if (m == SDC_WF_BILINEAR) {
            double s = ((double)i + 0.5) * scale - 0.5;
            if (s < 0) s = 0;
            int64_t i0 = (int64_t)s;
            float l1 = (float)(s - (double)i0);
            ix[0] = i0, w[0] = 1 - l1;
            ix[1] = i0 < in - 1 ? i0 + 1 : i0, w[1] = l1;
        } else if (m == SDC_WF_BICUBIC) {
            double s = ((double)i + 0.5) * scale - 0.5;
            int64_t i0 = (int64_t)floor(s);
            float f = (float)(s - (double)i0);
            for (int k = 0; k < 4; k++) {
                ix[k] = SDC_MIN(SDC_MAX(i0 - 1 + k, 0), in - 1);
                w[k] = cubic(f - (float)(k - 1), -0.75f);
            }
        } else { /* area: adaptive average pooling */
            int64_t a = (i * in) / out, b = ((i + 1) * in + out - 1) / out;
            for (int64_t k = a; k < b && k - a < t->per; k++) ix[k - a] = k, w[k - a] = 1.0f / (float)(b - a);
        }
    }
}

static int make_taps(taps *t, int64_t in, int64_t out, sdc_wf_interp m) {
    t->per = m == SDC_WF_NEAREST_EXACT ? 1 : m == SDC_WF_BILINEAR ? 2 : m == SDC_WF_BICUBIC ? 4 : (int)(in / out + 2);
    t->idx = malloc((size_t)(out * t->per) * sizeof *t->idx);
    t->w = malloc((size_t)(out * t->per) * sizeof *t->w);
    if (!t->idx || !t->w) return -1;
    fill_taps(t, in, out, m);
    return 0;
}

sdc_status sdc_wf_resize_planes(const float *src, int64_t n, int64_t src_plane, int64_t H, int64_t W, int64_t sy,
                                int64_t sx, float *dst, int64_t dst_plane, int64_t H2, int64_t W2, int64_t dy,
                                int64_t dx, sdc_wf_interp m, sdc_error *err) {
    if (H < 1 || W < 1 || H2 < 1 || W2 < 1 || m == SDC_WF_LANCZOS)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "cannot resize %lldx%lld to %lldx%lld", (long long)W, (long long)H,
                             (long long)W2, (long long)H2);
    taps ty = {0}, tx = {0};
    float *tmp = malloc((size_t)(H * W2) * sizeof *tmp);
    sdc_status st = SDC_OK;
    if (!tmp || make_taps(&ty, H, H2, m) || make_taps(&tx, W, W2, m)) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int64_t p = 0; !st && p < n; p++) {
        const float *s = src + p * src_plane;
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W2; x++) {
                float acc = 0;
                for (int k = 0; k < tx.per; k++) acc += tx.w[x * tx.per + k] * s[y * sy + tx.idx[x * tx.per + k] * sx];
                tmp[y * W2 + x] = acc;
            }
        float *d = dst + p * dst_plane;
        for (int64_t y = 0; y < H2; y++)
            for (int64_t x = 0; x < W2; x++) {
                float acc = 0;
                for (int k = 0; k < ty.per; k++) acc += ty.w[y * ty.per + k] * tmp[ty.idx[y * ty.per + k] * W2 + x];
                d[y * dy + x * dx] = acc;
            }
    }
    free(tmp), free(ty.idx), free(ty.w), free(tx.idx), free(tx.w);
    return st;
}

void sdc_wf_center_crop(int64_t W, int64_t H, int64_t W2, int64_t H2, int64_t *x, int64_t *y, int64_t *cw, int64_t *ch) {
    double old_aspect = (double)W / (double)H, new_aspect = (double)W2 / (double)H2;
    *x = 0, *y = 0;
    if (old_aspect > new_aspect) *x = (int64_t)nearbyint(((double)W - (double)W * (new_aspect / old_aspect)) / 2);
    else if (old_aspect < new_aspect) *y = (int64_t)nearbyint(((double)H - (double)H * (old_aspect / new_aspect)) / 2);
    *cw = W - 2 * *x;
    *ch = H - 2 * *y;
}

static sdc_wf_value *resize_lanczos(const sdc_wf_value *img, int64_t x0, int64_t y0, int64_t cw, int64_t ch, int64_t W2,
                                    int64_t H2, sdc_error *err) {
    sdc_wf_value *out = sdc_wf_image_new(img->u.image.B, H2, W2, err);
    for (int64_t b = 0; out && b < img->u.image.B; b++) {
        sdc_image u8 = {0}, r = {0};
        double box[4] = {(double)x0, (double)y0, (double)(x0 + cw), (double)(y0 + ch)};
        sdc_status st = sdc_wf_image_to_u8(img, b, &u8, err);
        if (!st) st = sdc_image_resize_box(&u8, box, (int)W2, (int)H2, SDC_RESAMPLE_LANCZOS, &r, err);
        if (!st) sdc_wf_image_set_u8(out, b, &r);
        sdc_image_free(&u8);
        sdc_image_free(&r);
        if (st) {
            sdc_wf_value_unref(out);
            return NULL;
        }
    }
    return out;
}

sdc_wf_value *sdc_wf_image_resize(const sdc_wf_value *img, int64_t W2, int64_t H2, sdc_wf_interp m, int crop,
                                  sdc_error *err) {
    int64_t H = img->u.image.H, W = img->u.image.W, x0 = 0, y0 = 0, cw = W, ch = H;
    if (crop) sdc_wf_center_crop(W, H, W2, H2, &x0, &y0, &cw, &ch);
    if (m == SDC_WF_LANCZOS) return resize_lanczos(img, x0, y0, cw, ch, W2, H2, err);
    sdc_wf_value *out = sdc_wf_image_new(img->u.image.B, H2, W2, err);
    if (!out) return NULL;
    for (int64_t b = 0; b < img->u.image.B; b++) { /* the 3 interleaved channels are planes 1 float apart */
        const float *src = img->u.image.data + (b * H * W + y0 * W + x0) * 3;
        if (sdc_wf_resize_planes(src, 3, 1, ch, cw, W * 3, 3, out->u.image.data + b * H2 * W2 * 3, 1, H2, W2, W2 * 3, 3, m, err)) {
            sdc_wf_value_unref(out);
            return NULL;
        }
    }
    return out;
}

/* ---- models ------------------------------------------------------------------------ */

sdc_status sdc_wf_checkpoint(const sdc_wf_env *env, const sdc_model_key *key, sdc_sd_model **out, sdc_error *err) {
    if (!env->cache) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no model cache");
    return sdc_model_cache_checkpoint(env->cache, key, out, err);
}

/* ---- the table ------------------------------------------------------------------------ */

static sdc_wf_node_def g_all[64];
static int g_count;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void join_tables(void) {
    int k = 0;
    for (int i = 0; i < sdc_wf_nodes_model_n && k < 64; i++) g_all[k++] = sdc_wf_nodes_model[i];
    for (int i = 0; i < sdc_wf_nodes_latent_n && k < 64; i++) g_all[k++] = sdc_wf_nodes_latent[i];
    for (int i = 0; i < sdc_wf_nodes_image_n && k < 64; i++) g_all[k++] = sdc_wf_nodes_image[i];
    g_count = k;
}

const sdc_wf_node_def *sdc_wf_nodes(int *n) {
    pthread_once(&g_once, join_tables); /* joined once, thread-safe; the parts are constant */
    *n = g_count;
    return g_all;
}

const sdc_wf_node_def *sdc_wf_node_find(const char *class_type) {
    int n;
    const sdc_wf_node_def *t = sdc_wf_nodes(&n);
    for (int i = 0; class_type && i < n; i++)
        if (strcmp(t[i].name, class_type) == 0) return &t[i];
    return NULL;
}
