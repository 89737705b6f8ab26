/* TAESD tiny autoencoder (see taesd.h).
 *
 * Loading turns the state dict's nn.Sequential into a list of layers: an
 * index with "N.conv.0.weight" is a Block, one with "N.weight" a conv, and
 * an index without parameters is inferred from its neighbour (decoder:
 * index 0 is the tanh clamp, after a conv a ReLU, after a Block a 2x
 * upsample; encoder: after a conv a ReLU, which also marks that conv as
 * stride 2, as does a conv without bias). The forward pass walks the list.
 * Not here: previews scheduling, tiling (vae_tiled.h). */
#include "models/taesd.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"

#define POOL_GROUPS 4       /* TAEF2's mid-block nn.GroupNorm(4, n): not stored in the weights */
#define POOL_EPS 1e-5f      /* nn.GroupNorm default */
#define MAX_KEY_INDEX 100000 /* keys beyond this are not a TAESD Sequential */

/* ---- layout detection --------------------------------------------------- */

typedef struct layout {
    const char *prefix;
    int part;  /* 1 decoder, 0 encoder, -1 decided from the keys (bare state dict) */
    int shift; /* Sequential index = key index + shift */
} layout;

static const layout k_layouts[] = {
    {"decoder.layers.", 1, 1}, /* diffusers AutoencoderTiny: clamp outside the Sequential */
    {"encoder.layers.", 0, 0},
    {"taesd_decoder.", 1, 0},  /* ComfyUI's combined state dict */
    {"taesd_encoder.", 0, 0},
    {"", -1, 0},               /* taesd_decoder.pth / taesd_encoder.pth */
};

/* Largest N among keys "<prefix>N.<rest>", or -1. */
static int max_key_index(const sdc_model_files *m, const char *prefix) {
    size_t pl = strlen(prefix);
    int best = -1;
    for (size_t i = 0; i < sdc_model_files_count(m); i++) {
        const char *name;
        sdc_model_files_at(m, i, &name);
        if (strncmp(name, prefix, pl) != 0) continue;
        const char *p = name + pl;
        long v = 0;
        int nd = 0;
        while (*p >= '0' && *p <= '9' && v <= MAX_KEY_INDEX) v = v * 10 + (*p++ - '0'), nd++;
        if (nd == 0 || *p != '.' || v > MAX_KEY_INDEX) continue;
        if (v > best) best = (int)v;
    }
    return best;
}

/* ---- loading ------------------------------------------------------------ */

static void load_conv(sdc_wload *l, int k, bool enc, sdc_taesd_layer *L) {
    const sdc_weight_info *w = sdc_wl_info(l, "%d.weight", k);
    if (!w || w->ndim != 4 || w->shape[2] != w->shape[3] || w->shape[2] % 2 == 0) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD layer '%s%d' is not a square odd-sized conv", l->prefix, k);
        return;
    }
    L->kind = SDC_TAESD_CONV;
    L->cout = w->shape[0];
    L->cin = w->shape[1];
    L->pad = (int)(w->shape[2] / 2);
    L->w = sdc_wl_conv(l, L->cout, L->cin, w->shape[2], w->shape[3], "%d.weight", k);
    if (sdc_wl_has(l, "%d.bias", k)) L->b = sdc_wl_vec(l, L->cout, "%d.bias", k);
    L->stride = enc && !L->b ? 2 : 1; /* TAESD's encoder downsamples with bias-free convs */
}

static void load_pool(sdc_wload *l, int k, sdc_taesd_layer *L) {
    const sdc_weight_info *p0 = sdc_wl_info(l, "%d.pool.0.weight", k);
    if (!p0 || p0->ndim < 2 || p0->shape[0] % POOL_GROUPS) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD block '%s%d' has a malformed pool branch", l->prefix, k);
        return;
    }
    int64_t g = L->pool_ch = p0->shape[0];
    L->pool_in_w = sdc_wl_linear(l, g, L->cin, "%d.pool.0.weight", k);
    L->pool_gn_w = sdc_wl_vec(l, g, "%d.pool.1.weight", k);
    L->pool_gn_b = sdc_wl_vec(l, g, "%d.pool.1.bias", k);
    L->pool_out_w = sdc_wl_linear(l, L->cin, g, "%d.pool.3.weight", k);
}

static void load_block(sdc_wload *l, int k, sdc_taesd_layer *L) {
    const sdc_weight_info *c0 = sdc_wl_info(l, "%d.conv.0.weight", k);
    if (!c0 || c0->ndim != 4) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD block '%s%d' lacks conv.0", l->prefix, k);
        return;
    }
    L->kind = SDC_TAESD_BLOCK;
    L->cout = c0->shape[0];
    L->cin = c0->shape[1];
    for (int i = 0; i < 3; i++) {
        L->cw[i] = sdc_wl_conv(l, L->cout, i ? L->cout : L->cin, 3, 3, "%d.conv.%d.weight", k, 2 * i);
        if (sdc_wl_has(l, "%d.conv.%d.bias", k, 2 * i)) L->cb[i] = sdc_wl_vec(l, L->cout, "%d.conv.%d.bias", k, 2 * i);
    }
    if (sdc_wl_has(l, "%d.skip.weight", k))
        L->skip_w = sdc_wl_linear(l, L->cout, L->cin, "%d.skip.weight", k);
    else if (L->cin != L->cout)
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD block '%s%d' changes channels but has no skip conv", l->prefix, k);
    if (sdc_wl_has(l, "%d.pool.0.weight", k)) load_pool(l, k, L);
}

/* A module without parameters, from its predecessor (see the file comment). */
static void infer_plain(sdc_wload *l, bool enc, int j, int k, sdc_taesd_layer *L, sdc_taesd_layer *prev) {
    if (!enc && j == 0) {
        L->kind = SDC_TAESD_CLAMP;
    } else if (prev && prev->kind == SDC_TAESD_CONV) {
        L->kind = SDC_TAESD_RELU;
        if (enc) prev->stride = 2; /* F32Encoder-style conv(stride 2) + ReLU */
    } else if (!enc && prev && prev->kind == SDC_TAESD_BLOCK) {
        L->kind = SDC_TAESD_UP;
    } else {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD %s: cannot infer module %s%d (no parameters)",
                      enc ? "encoder" : "decoder", l->prefix, k);
    }
}

/* Channel chain, first / last module and spatial factor. */
static void check_half(sdc_wload *l, bool enc, sdc_taesd_half *h, int64_t *latent_ch) {
    const char *what = enc ? "encoder" : "decoder";
    int64_t cur = enc ? 3 : -1;
    int factor = 1;
    for (int j = 0; j < h->n_layers && sdc_wl_ok(l); j++) {
        const sdc_taesd_layer *L = &h->layer[j];
        if (L->kind == SDC_TAESD_CONV || L->kind == SDC_TAESD_BLOCK) {
            if (cur < 0) cur = *latent_ch = L->cin;
            if (L->cin != cur)
                sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD %s layer %d takes %lld channels, gets %lld", what, j,
                              (long long)L->cin, (long long)cur);
            cur = L->cout;
        }
        if (L->kind == SDC_TAESD_UP || (L->kind == SDC_TAESD_CONV && L->stride == 2)) factor *= 2;
        if (factor > 1024) sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD %s: too many resolution steps", what);
    }
    if (!sdc_wl_ok(l)) return;
    if (enc) *latent_ch = cur;
    bool ok = enc ? h->layer[0].kind == SDC_TAESD_CONV : h->layer[0].kind == SDC_TAESD_CLAMP && cur == 3;
    if (!ok || *latent_ch <= 0)
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD %s: unexpected first or last module", what);
    h->factor = factor;
}

static void load_half(sdc_wload *l, bool enc, int shift, int max_index, sdc_taesd_half *h, int64_t *latent_ch) {
    int n = max_index + 1 + shift;
    if (n > SDC_TAESD_MAX_LAYERS) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "TAESD %s has %d modules (at most %d)", enc ? "encoder" : "decoder", n,
                      SDC_TAESD_MAX_LAYERS);
        return;
    }
    h->present = 1;
    h->n_layers = n;
    for (int j = 0; j < n && sdc_wl_ok(l); j++) {
        sdc_taesd_layer *L = &h->layer[j];
        int k = j - shift;
        L->index = j; /* TAESD's own Sequential numbering */
        if (k < 0)
            L->kind = SDC_TAESD_CLAMP;
        else if (sdc_wl_has(l, "%d.conv.0.weight", k))
            load_block(l, k, L);
        else if (sdc_wl_has(l, "%d.weight", k))
            load_conv(l, k, enc, L);
        else
            infer_plain(l, enc, j, k, L, j ? &h->layer[j - 1] : NULL);
    }
    check_half(l, enc, h, latent_ch);
}

/* Loads every part found in m; returns how many. */
static int load_file(sdc_taesd *t, const sdc_model_files *m, sdc_dtype mat_dtype, sdc_error *err) {
    int found = 0;
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_layouts) && err->status == SDC_OK; i++) {
        const layout *ly = &k_layouts[i];
        int mx = max_key_index(m, ly->prefix);
        if (mx < 0) continue;
        sdc_wload l = {.files = m, .store = &t->store, .mat_dtype = mat_dtype, .err = err, .prefix = ly->prefix};
        bool enc = ly->part == 0;
        if (ly->part < 0) enc = sdc_wl_has(&l, "0.weight") || sdc_wl_has(&l, "0.conv.0.weight");
        sdc_taesd_half *h = enc ? &t->enc : &t->dec;
        if (h->present) {
            sdc_error_set(err, SDC_ERR_FORMAT, "a second TAESD %s in '%s'", enc ? "encoder" : "decoder", m->path);
            break;
        }
        int64_t lc = 0;
        load_half(&l, enc, ly->shift, mx, h, &lc);
        if (sdc_wl_ok(&l) && t->latent_ch && lc != t->latent_ch)
            sdc_error_set(err, SDC_ERR_FORMAT, "TAESD encoder and decoder disagree on latent channels (%lld vs %lld)",
                          (long long)lc, (long long)t->latent_ch);
        t->latent_ch = lc;
        t->n_params += l.n_params;
        found++;
    }
    return found;
}

sdc_status sdc_taesd_load(const sdc_model_files *const *files, int n_files, sdc_dtype mat_dtype, sdc_taesd **out,
                          sdc_error *err) {
    *out = NULL;
    if (n_files < 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "TAESD: no files given");
    sdc_taesd *t = calloc(1, sizeof *t);
    if (!t) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int i = 0; i < n_files && err->status == SDC_OK; i++)
        if (load_file(t, files[i], mat_dtype, err) == 0 && err->status == SDC_OK)
            sdc_error_set(err, SDC_ERR_FORMAT, "no TAESD decoder or encoder in '%s'", files[i]->path);
    if (err->status == SDC_OK && t->dec.present && t->enc.present && t->dec.factor != t->enc.factor)
        sdc_error_set(err, SDC_ERR_FORMAT, "TAESD encoder and decoder scale by %d and %d", t->enc.factor, t->dec.factor);
    if (err->status != SDC_OK) {
        sdc_taesd_free(t);
        return err->status;
    }
    *out = t;
    return SDC_OK;
}

/* path itself, or the diffusers weight file inside a folder, into buf. */
static const char *weight_path(const char *path, char *buf, size_t size) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return path;
    static const char *const names[] = {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"};
    for (size_t i = 0; i < SDC_ARRAY_LEN(names); i++) {
        snprintf(buf, size, "%s/%s", path, names[i]);
        if (stat(buf, &st) == 0) return buf;
    }
    snprintf(buf, size, "%s/%s", path, names[0]);
    return buf; /* the open reports it missing */
}

sdc_status sdc_taesd_open(const char *const *paths, int n_paths, sdc_dtype mat_dtype, sdc_taesd **out,
                          sdc_error *err) {
    *out = NULL;
    if (n_paths < 1 || n_paths > 2) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "TAESD: give 1 or 2 files");
    char bufs[2][4096], real[2][PATH_MAX];
    const char *files[2] = {NULL, NULL};
    for (int i = 0; i < n_paths; i++) files[i] = weight_path(paths[i], bufs[i], sizeof bufs[i]);
    /* one file holding both halves (diffusers' AutoencoderTiny) named twice,
     * e.g. linked as taesd_decoder.* and taesd_encoder.*: opened once */
    if (n_paths == 2 && realpath(files[0], real[0]) && realpath(files[1], real[1]) && strcmp(real[0], real[1]) == 0)
        n_paths = 1;
    sdc_model_files *m[2] = {NULL, NULL};
    sdc_status st = SDC_OK;
    for (int i = 0; i < n_paths && st == SDC_OK; i++) st = sdc_model_files_open(files[i], &m[i], err);
    if (st == SDC_OK) st = sdc_taesd_load((const sdc_model_files *const *)m, n_paths, mat_dtype, out, err);
    if (st != SDC_OK) {
        for (int i = 0; i < 2; i++) sdc_model_files_close(m[i]);
        return st;
    }
    for (int i = 0; i < 2; i++) (*out)->owned[i] = m[i];
    return SDC_OK;
}

void sdc_taesd_free(sdc_taesd *t) {
    if (!t) return;
    sdc_wstore_free(&t->store);
    for (int i = 0; i < 2; i++) sdc_model_files_close(t->owned[i]);
    free(t);
}

/* ---- forward ---------------------------------------------------------------- */

typedef enum map_kind { MAP_RELU, MAP_CLAMP, MAP_AFFINE } map_kind;

typedef struct map_job {
    float *x;
    int64_t n;
    map_kind kind;
    float a, b;
} map_job;

#define MAP_CHUNK 65536

static void map_task(void *arg, int task) {
    const map_job *j = arg;
    int64_t lo = (int64_t)task * MAP_CHUNK, hi = SDC_MIN(lo + MAP_CHUNK, j->n);
    float *x = j->x;
    switch (j->kind) {
    case MAP_RELU: { /* fixed-length inner loops: gcc -O2 vectorizes only those */
        int64_t i = lo;
        for (; i + 16 <= hi; i += 16)
            for (int k = 0; k < 16; k++) x[i + k] = x[i + k] > 0.0f ? x[i + k] : 0.0f;
        for (; i < hi; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
    case MAP_CLAMP:
        for (int64_t i = lo; i < hi; i++) x[i] = 3.0f * tanhf(x[i] / 3.0f);
        break;
    case MAP_AFFINE:
        for (int64_t i = lo; i < hi; i++) x[i] = x[i] * j->a + j->b;
        break;
    }
}

/* In-place elementwise map of a contiguous f32 tensor; returns x. */
static sdc_tensor *map_(sdc_ctx *c, sdc_tensor *x, map_kind kind, float a, float b) {
    if (!x || !sdc_ctx_ok(c)) return NULL;
    map_job j = {.x = x->data, .n = sdc_tensor_numel(x), .kind = kind, .a = a, .b = b};
    sdc_pool_run(c->pool, (int)sdc_ceil_div(j.n, MAP_CHUNK), map_task, &j);
    return x;
}

static sdc_tensor *block_forward(sdc_ctx *c, const sdc_taesd_layer *L, const sdc_tensor *x) {
    if (L->pool_ch) { /* x = x + pool(x) */
        sdc_tensor *p = sdc_op_linear(c, x, L->pool_in_w, NULL);
        p = sdc_op_group_norm(c, p, POOL_GROUPS, L->pool_gn_w, L->pool_gn_b, POOL_EPS, 0);
        x = sdc_op_linear_res(c, map_(c, p, MAP_RELU, 0, 0), L->pool_out_w, NULL, x);
    }
    sdc_tensor *h = map_(c, sdc_op_conv2d(c, x, L->cw[0], L->cb[0], 1, 1), MAP_RELU, 0, 0);
    h = map_(c, sdc_op_conv2d(c, h, L->cw[1], L->cb[1], 1, 1), MAP_RELU, 0, 0);
    const sdc_tensor *skip = L->skip_w ? sdc_op_linear(c, x, L->skip_w, NULL) : x;
    return map_(c, sdc_op_conv2d_ex(c, h, L->cw[2], L->cb[2], 1, 1, 1, 1, 1, skip), MAP_RELU, 0, 0);
}

static sdc_tensor *layer_forward(sdc_ctx *c, const sdc_taesd_layer *L, sdc_tensor *x) {
    switch (L->kind) {
    case SDC_TAESD_CLAMP: return map_(c, x, MAP_CLAMP, 0, 0);
    case SDC_TAESD_RELU: return map_(c, x, MAP_RELU, 0, 0);
    case SDC_TAESD_CONV: return sdc_op_conv2d(c, x, L->w, L->b, L->stride, L->pad);
    case SDC_TAESD_UP: return x ? sdc_op_upsample_nearest(c, x, 2 * x->shape[1], 2 * x->shape[2]) : NULL;
    case SDC_TAESD_BLOCK: return block_forward(c, L, x);
    }
    return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "TAESD: bad layer kind");
}

/* Stage boundaries worth a dump: conv outputs, and the last layer before a
 * resolution change (the end of a Block stack). */
static bool stage_end(const sdc_taesd_half *h, int j) {
    const sdc_taesd_layer *L = &h->layer[j], *next = j + 1 < h->n_layers ? &h->layer[j + 1] : NULL;
    if (L->kind == SDC_TAESD_CONV || !next) return true;
    return next->kind == SDC_TAESD_UP || (next->kind == SDC_TAESD_CONV && next->stride == 2);
}

/* Runs h's layers on x (NHWC, allocated right after `base`). Each output is
 * moved down to `base`, so the arena holds one layer's input, output and
 * temporaries at a time. */
static sdc_tensor *run_layers(sdc_ctx *c, const sdc_taesd_half *h, sdc_arena_mark base, sdc_tensor *x,
                              const char *what) {
    for (int j = 0; j < h->n_layers && x; j++) {
        const sdc_taesd_layer *L = &h->layer[j];
        sdc_tensor *y = layer_forward(c, L, x);
        if (y != x) y = sdc_keep(c, base, y);
        x = y;
        if (stage_end(h, j)) sdc_ctx_dump(c, x, "taesd.%s.%d", what, L->index);
        if (!sdc_ctx_check_cancel(c)) return NULL;
    }
    return x;
}

sdc_tensor *sdc_taesd_decode(sdc_ctx *c, const sdc_taesd *t, const sdc_tensor *latent) {
    if (!latent || !sdc_ctx_ok(c)) return NULL;
    if (!t->dec.present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this TAESD has no decoder");
    if (latent->ndim != 4 || latent->shape[1] != t->latent_ch || latent->shape[2] < 1 || latent->shape[3] < 1)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "taesd decode: latent must be [B, %lld, h, w]",
                            (long long)t->latent_ch);
    sdc_arena_mark base = sdc_arena_get_mark(&c->arena);
    sdc_tensor *x = run_layers(c, &t->dec, base, sdc_op_nchw_to_nhwc(c, latent), "decoder");
    x = map_(c, x, MAP_AFFINE, 2.0f, -1.0f); /* [0, 1] -> [-1, 1] */
    return sdc_keep(c, base, sdc_op_nhwc_to_nchw(c, x));
}

sdc_tensor *sdc_taesd_encode(sdc_ctx *c, const sdc_taesd *t, const sdc_tensor *image) {
    if (!image || !sdc_ctx_ok(c)) return NULL;
    if (!t->enc.present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this TAESD has no encoder");
    int64_t f = t->enc.factor;
    if (image->ndim != 4 || image->shape[1] != 3 || image->shape[2] < f || image->shape[3] < f ||
        image->shape[2] % f || image->shape[3] % f)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "taesd encode: image must be [B, 3, H, W] with H, W multiples of %lld",
                            (long long)f);
    sdc_arena_mark base = sdc_arena_get_mark(&c->arena);
    sdc_tensor *x = map_(c, sdc_op_nchw_to_nhwc(c, image), MAP_AFFINE, 0.5f, 0.5f); /* [-1, 1] -> [0, 1] */
    x = run_layers(c, &t->enc, base, x, "encoder");
    return sdc_keep(c, base, sdc_op_nhwc_to_nchw(c, x));
}

/* ---- memory estimate -------------------------------------------------------- */

/* Arena bytes of one op output of n floats (descriptor + data, 64-aligned);
 * SIZE_MAX on overflow. */
static size_t out_bytes(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t n;
    size_t bytes, desc = (sizeof(sdc_tensor) + 63) & ~(size_t)63;
    if (__builtin_mul_overflow(a, b, &n) || __builtin_mul_overflow(n, c, &n) || __builtin_mul_overflow(n, d, &n) ||
        !sdc_mul_ok((size_t)n, 4, &bytes) || !sdc_align_up_ok(bytes, 64, &bytes) || bytes > SIZE_MAX - desc)
        return SIZE_MAX;
    return bytes + desc;
}

static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Peak of one layer on P = B*h*w pixels of `in` bytes; *out_b its output. */
static size_t layer_peak(const sdc_taesd_layer *L, int64_t B, int64_t *h, int64_t *w, size_t in, size_t *out_b) {
    size_t peak = in;
    switch (L->kind) {
    case SDC_TAESD_CLAMP:
    case SDC_TAESD_RELU: *out_b = in; return in;
    case SDC_TAESD_UP:
        *h *= 2, *w *= 2;
        *out_b = out_bytes(B, *h, *w, L->cout > 0 ? L->cout : 1);
        return add_sat(in, *out_b);
    case SDC_TAESD_CONV:
        *h = (*h + 2 * L->pad - (2 * L->pad + 1)) / L->stride + 1;
        *w = (*w + 2 * L->pad - (2 * L->pad + 1)) / L->stride + 1;
        *out_b = out_bytes(B, *h, *w, L->cout);
        return add_sat(in, *out_b);
    case SDC_TAESD_BLOCK: {
        size_t o = *out_b = out_bytes(B, *h, *w, L->cout);
        if (L->pool_ch) {
            size_t g = out_bytes(B, *h, *w, L->pool_ch);
            peak = add_sat(add_sat(peak, g), add_sat(g, out_bytes(B, *h, *w, L->cin)));
        }
        peak = add_sat(peak, add_sat(o, o)); /* conv.0, conv.2 */
        if (L->skip_w) peak = add_sat(peak, o);
        return add_sat(peak, o);
    }
    }
    return SIZE_MAX;
}

/* Walks a half from an input of ch x h x w; returns the peak. */
static size_t half_bytes(const sdc_taesd_half *hf, int64_t B, int64_t ch, int64_t h, int64_t w) {
    size_t in = out_bytes(B, h, w, ch), peak = in, out = in;
    int64_t cur = ch;
    for (int j = 0; j < hf->n_layers; j++) {
        sdc_taesd_layer L = hf->layer[j];
        if (L.kind == SDC_TAESD_UP) L.cout = cur; /* upsampling keeps the channels */
        size_t p = layer_peak(&L, B, &h, &w, in, &out);
        if (L.kind == SDC_TAESD_CONV || L.kind == SDC_TAESD_BLOCK) cur = L.cout;
        if (p > peak) peak = p;
        in = out;
    }
    return SDC_MAX(peak, add_sat(out, out)); /* the result and its NCHW copy */
}

size_t sdc_taesd_decode_bytes(const sdc_taesd *t, int64_t B, int64_t h, int64_t w) {
    if (!t->dec.present || B < 1 || h < 1 || w < 1) return 0;
    return half_bytes(&t->dec, B, t->latent_ch, h, w);
}

size_t sdc_taesd_encode_bytes(const sdc_taesd *t, int64_t B, int64_t H, int64_t W) {
    if (!t->enc.present || B < 1 || H < 1 || W < 1) return 0;
    return half_bytes(&t->enc, B, 3, H, W);
}

