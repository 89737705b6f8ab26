/* Tiled VAE / TAESD passes and activation-memory estimates (see
 * vae_tiled.h). The estimates replay vae.c's allocation order (which op
 * output stays alive when); they do not run anything. */
#include "models/vae_tiled.h"

#include <stdint.h>
#include <string.h>

#include "base/util.h"

sdc_vae_tiling sdc_vae_tiling_default(void) {
    return (sdc_vae_tiling){.tile = SDC_VAE_TILE_DEFAULT, .overlap = SDC_VAE_OVERLAP_DEFAULT};
}

/* ---- tile grid ------------------------------------------------------------ */

typedef struct axis {
    int64_t n;      /* tiles along the axis */
    int64_t size;   /* tile size, latent pixels */
    int64_t *start; /* [n] tile starts, latent pixels */
    float *w;       /* [n][size * unit] normalized blend weights, output pixels */
} axis;

/* Raw feathering weight of output pixel p (0 <= p < len) of tile i. */
static float ramp(const axis *a, int64_t i, int64_t unit, int64_t p) {
    int64_t len = a->size * unit;
    float r = 1.0f;
    if (i > 0) {
        int64_t ov = (a->start[i - 1] + a->size - a->start[i]) * unit;
        if (ov > 0 && p < ov) r *= ((float)p + 0.5f) / (float)ov;
    }
    if (i + 1 < a->n) {
        int64_t ov = (a->start[i] + a->size - a->start[i + 1]) * unit;
        if (ov > 0 && p >= len - ov) r *= ((float)(len - p) - 0.5f) / (float)ov;
    }
    return r;
}

/* Plans the tiles of an axis of L latent pixels and their weights (arena). */
static bool axis_plan(sdc_ctx *c, axis *a, int64_t L, const sdc_vae_tiling *t, int64_t unit) {
    a->size = SDC_MIN(L, (int64_t)t->tile);
    a->n = L > t->tile ? sdc_ceil_div(L - t->overlap, t->tile - t->overlap) : 1;
    int64_t len = a->size * unit;
    a->start = sdc_arena_alloc(&c->arena, (size_t)a->n * sizeof *a->start); /* n <= L: no overflow */
    if (!a->start) {
        sdc_ctx_fail(c, SDC_ERR_OOM, "out of activation memory");
        return false;
    }
    sdc_tensor *w = sdc_new_2d(c, a->n, len);
    sdc_tensor *sum = sdc_new_2d(c, L, unit);
    if (!w || !sum) return false;
    a->w = w->data;
    float *s = sum->data;
    memset(s, 0, (size_t)(L * unit) * sizeof *s);
    for (int64_t i = 0; i < a->n; i++)
        a->start[i] = a->n == 1 ? 0 : (2 * i * (L - a->size) + (a->n - 1)) / (2 * (a->n - 1));
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t p = 0; p < len; p++) s[a->start[i] * unit + p] += a->w[i * len + p] = ramp(a, i, unit, p);
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t p = 0; p < len; p++) a->w[i * len + p] /= s[a->start[i] * unit + p];
    return true;
}

/* out[b] += y * wy (rows) * wx (columns) over the tile at (oy, ox). */
static void blend(sdc_tensor *out, int64_t b, const sdc_tensor *y, int64_t oy, int64_t ox, const float *wy,
                  const float *wx) {
    int64_t C = y->shape[1], th = y->shape[2], tw = y->shape[3], OH = out->shape[2], OW = out->shape[3];
    const float *src = y->data;
    float *dst = (float *)out->data + b * C * OH * OW;
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t py = 0; py < th; py++) {
            const float *yr = src + (ch * th + py) * tw;
            float *orow = dst + (ch * OH + oy + py) * OW + ox;
            for (int64_t px = 0; px < tw; px++) orow[px] += yr[px] * wy[py] * wx[px];
        }
}

/* One tile: copy its input, run the model, check and blend the result. */
static bool run_tile(sdc_ctx *c, const sdc_tile_pass *p, const sdc_tensor *x, sdc_tensor *out, int64_t b,
                     const axis *ay, int64_t iy, const axis *ax, int64_t ix) {
    int64_t iu = p->in_unit, ou = p->out_unit;
    sdc_tensor v = sdc_tensor_slice(x, 0, b, 1);
    v = sdc_tensor_slice(&v, 2, ay->start[iy] * iu, ay->size * iu);
    v = sdc_tensor_slice(&v, 3, ax->start[ix] * iu, ax->size * iu);
    sdc_tensor *in = sdc_new(c, 4, v.shape);
    if (!in) return false;
    sdc_tensor_copy(in, &v);
    sdc_tensor *y = p->fn(c, p->model, in);
    if (!y) return false;
    int64_t want[4] = {1, p->out_ch, ay->size * ou, ax->size * ou};
    for (int d = 0; d < 4; d++)
        if (y->shape[d] != want[d] || !sdc_tensor_is_contiguous(y) || y->dtype != SDC_DTYPE_F32) {
            sdc_ctx_fail(c, SDC_ERR_INTERNAL, "tiled pass: a tile result has an unexpected shape");
            return false;
        }
    blend(out, b, y, ay->start[iy] * ou, ax->start[ix] * ou, ay->w + iy * want[2], ax->w + ix * want[3]);
    return true;
}

static sdc_tensor *tile_loop(sdc_ctx *c, const sdc_tile_pass *p, const sdc_tensor *x, const sdc_vae_tiling *t) {
    int64_t B = x->shape[0], Lh = x->shape[2] / p->in_unit, Lw = x->shape[3] / p->in_unit;
    sdc_tensor *out = sdc_new_4d(c, B, p->out_ch, Lh * p->out_unit, Lw * p->out_unit);
    axis ay, ax;
    if (!out || !axis_plan(c, &ay, Lh, t, p->out_unit) || !axis_plan(c, &ax, Lw, t, p->out_unit)) return NULL;
    memset(out->data, 0, (size_t)sdc_tensor_numel(out) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t iy = 0; iy < ay.n; iy++)
            for (int64_t ix = 0; ix < ax.n; ix++) {
                sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
                bool ok = run_tile(c, p, x, out, b, &ay, iy, &ax, ix);
                sdc_arena_release(&c->arena, mark);
                if (!ok || !sdc_ctx_check_cancel(c)) return NULL;
            }
    return out;
}

sdc_tensor *sdc_tiled_apply(sdc_ctx *c, const sdc_tile_pass *p, const sdc_tensor *x, const sdc_vae_tiling *t) {
    if (!x || !sdc_ctx_ok(c)) return NULL;
    sdc_vae_tiling def = sdc_vae_tiling_default();
    if (!t) t = &def;
    if (t->tile < 1 || t->overlap < 0 || t->overlap >= t->tile)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "tiling: need 0 <= overlap (%d) < tile (%d)", t->overlap, t->tile);
    if (p->in_unit < 1 || p->out_unit < 1 || p->out_ch < 1)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "tiling: bad pass description");
    if (x->ndim != 4 || x->dtype != SDC_DTYPE_F32 || x->shape[2] < p->in_unit || x->shape[3] < p->in_unit ||
        x->shape[2] % p->in_unit || x->shape[3] % p->in_unit)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "tiling: input must be f32 [B, C, H, W], H and W multiples of %lld",
                            (long long)p->in_unit);
    sdc_dump_fn dump = c->dump; /* tile tensors must not pass for whole-image stages */
    c->dump = NULL;
    sdc_tensor *out = tile_loop(c, p, x, t);
    c->dump = dump;
    return out;
}

/* ---- wrappers ------------------------------------------------------------- */

static sdc_tensor *vae_dec(sdc_ctx *c, const void *m, const sdc_tensor *x) { return sdc_vae_decode(c, m, x); }
static sdc_tensor *vae_enc(sdc_ctx *c, const void *m, const sdc_tensor *x) { return sdc_vae_encode(c, m, x); }
static sdc_tensor *tae_dec(sdc_ctx *c, const void *m, const sdc_tensor *x) { return sdc_taesd_decode(c, m, x); }
static sdc_tensor *tae_enc(sdc_ctx *c, const void *m, const sdc_tensor *x) { return sdc_taesd_encode(c, m, x); }

static int64_t vae_moment_ch(const sdc_vae *v) {
    const sdc_vae_half *e = &v->enc;
    if (e->quant_w) return e->quant_w->shape[0];
    return e->conv_out_w ? e->conv_out_w->shape[0] : 2 * v->latent_ch;
}

/* Dumps an NCHW result as the strided NHWC view dump hooks expect of 4-D
 * image tensors (they write NHWC activations back as NCHW). */
static sdc_tensor *dumped(sdc_ctx *c, sdc_tensor *y, const char *name) {
    if (!y || !c->dump) return y;
    sdc_tensor v = sdc_tensor_transpose(y, 1, 2); /* [B, H, C, W] */
    v = sdc_tensor_transpose(&v, 2, 3);           /* [B, H, W, C] */
    sdc_ctx_dump(c, &v, "%s", name);
    return y;
}

sdc_tensor *sdc_vae_decode_tiled(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z, const sdc_vae_tiling *t) {
    sdc_tile_pass p = {.fn = vae_dec, .model = v, .in_unit = 1, .out_unit = 8, .out_ch = 3};
    if (v->dec.conv_out_w) p.out_ch = v->dec.conv_out_w->shape[0];
    return dumped(c, sdc_tiled_apply(c, &p, z, t), "vae_tiled.decode");
}

sdc_tensor *sdc_vae_encode_tiled(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image, const sdc_vae_tiling *t) {
    if (!v->enc.present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this VAE has no encoder");
    sdc_tile_pass p = {.fn = vae_enc, .model = v, .in_unit = 8, .out_unit = 1, .out_ch = vae_moment_ch(v)};
    return dumped(c, sdc_tiled_apply(c, &p, image, t), "vae_tiled.encode");
}

sdc_tensor *sdc_taesd_decode_tiled(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *latent, const sdc_vae_tiling *t) {
    if (!m->dec.present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this TAESD has no decoder");
    sdc_tile_pass p = {.fn = tae_dec, .model = m, .in_unit = 1, .out_unit = m->dec.factor, .out_ch = 3};
    return dumped(c, sdc_tiled_apply(c, &p, latent, t), "vae_tiled.decode");
}

sdc_tensor *sdc_taesd_encode_tiled(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *image, const sdc_vae_tiling *t) {
    if (!m->enc.present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this TAESD has no encoder");
    sdc_tile_pass p = {.fn = tae_enc, .model = m, .in_unit = m->enc.factor, .out_unit = 1, .out_ch = m->latent_ch};
    return dumped(c, sdc_tiled_apply(c, &p, image, t), "vae_tiled.encode");
}

/* ---- memory estimates --------------------------------------------------------- */

/* Replays arena allocations: cur = bytes live, peak = high-water mark. */
typedef struct sim {
    size_t cur, peak;
} sim;

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

/* Bytes of one op output of n floats: descriptor + data, each 64-aligned. */
static size_t out_bytes(int64_t n) {
    size_t data, desc = (sizeof(sdc_tensor) + 63) & ~(size_t)63;
    if (n < 0 || !sdc_mul_ok((size_t)n, 4, &data) || !sdc_align_up_ok(data ? data : 1, 64, &data)) return SIZE_MAX;
    return sat_add(desc, data);
}

static int64_t mul3(int64_t a, int64_t b, int64_t c) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r)) return -1;
    return r;
}

static void sim_alloc(sim *s, int64_t n) {
    s->cur = sat_add(s->cur, out_bytes(n));
    if (s->cur > s->peak) s->peak = s->cur;
}

/* sdc_keep: back to mark, then the kept output. */
static void sim_keep(sim *s, size_t mark, int64_t n) {
    s->cur = mark;
    sim_alloc(s, n);
}

/* vae.c: every stage keeps its output at `base`, the mark before the
 * decode's first tensor (the input and all temporaries are dropped);
 * the second group norm of a block and the head's group norm work in place. */
static void sim_res(sim *s, const sdc_vae_res *r, int64_t P, size_t base) {
    sim_alloc(s, mul3(P, r->cin, 1));  /* norm1 */
    sim_alloc(s, mul3(P, r->cout, 1)); /* conv1 */
    if (r->short_w) sim_alloc(s, mul3(P, r->cout, 1));
    sim_alloc(s, mul3(P, r->cout, 1)); /* conv2 + residual */
    sim_keep(s, base, mul3(P, r->cout, 1));
}

static void sim_mid(sim *s, const sdc_vae_half *h, int64_t P, size_t base) {
    sim_res(s, &h->mid1, P, base);
    int64_t C = h->mid_attn.C;
    sim_alloc(s, mul3(P, C, 1)); /* norm */
    sim_alloc(s, mul3(P, C, 3)); /* qkv */
    sim_alloc(s, mul3(P, C, 1)); /* attention */
    sim_alloc(s, mul3(P, C, 1)); /* projection + residual */
    sim_keep(s, base, mul3(P, C, 1));
    sim_res(s, &h->mid2, P, base);
}

size_t sdc_vae_decode_bytes(const sdc_vae *v, int64_t B, int64_t h, int64_t w) {
    const sdc_vae_half *d = &v->dec;
    if (!d->present || !d->conv_in_w || B < 1 || h < 1 || w < 1) return 0;
    sim s = {0, 0};
    size_t base = 0;
    int64_t P = mul3(B, h, w);
    sim_alloc(&s, mul3(P, v->latent_ch, 1));
    if (d->quant_w) sim_alloc(&s, mul3(P, v->latent_ch, 1));
    sim_alloc(&s, mul3(P, d->conv_in_w->shape[0], 1));
    sim_keep(&s, base, mul3(P, d->conv_in_w->shape[0], 1));
    sim_mid(&s, d, P, base);
    for (int i = d->n_levels - 1; i >= 0; i--) {
        const sdc_vae_level *L = &d->level[i];
        for (int j = 0; j < L->n_res; j++) sim_res(&s, &L->res[j], P, base);
        if (!L->sample_w) continue;
        P = mul3(P, 4, 1);
        sim_alloc(&s, mul3(P, L->sample_w->shape[3], 1)); /* upsampled */
        sim_alloc(&s, mul3(P, L->sample_w->shape[0], 1));
        sim_keep(&s, base, mul3(P, L->sample_w->shape[0], 1));
    }
    sim_alloc(&s, mul3(P, d->conv_out_w->shape[0], 1)); /* conv_out (the norm is in place) */
    sim_alloc(&s, mul3(P, d->conv_out_w->shape[0], 1)); /* to NCHW */
    return s.peak;
}

size_t sdc_vae_encode_bytes(const sdc_vae *v, int64_t B, int64_t H, int64_t W) {
    const sdc_vae_half *e = &v->enc;
    if (!e->present || !e->conv_in_w || B < 1 || H < 1 || W < 1) return 0;
    sim s = {0, 0};
    size_t base = 0;
    int64_t h = H, w = W, P = mul3(B, h, w);
    sim_alloc(&s, mul3(P, 3, 1));
    sim_alloc(&s, mul3(P, e->conv_in_w->shape[0], 1));
    sim_keep(&s, base, mul3(P, e->conv_in_w->shape[0], 1));
    for (int i = 0; i < e->n_levels; i++) {
        const sdc_vae_level *L = &e->level[i];
        for (int j = 0; j < L->n_res; j++) sim_res(&s, &L->res[j], P, base);
        if (!L->sample_w) continue;
        h = (h - 2) / 2 + 1; /* pad right/bottom by one, 3x3, stride 2 */
        w = (w - 2) / 2 + 1;
        P = mul3(B, h, w);
        sim_alloc(&s, mul3(P, L->sample_w->shape[0], 1));
        sim_keep(&s, base, mul3(P, L->sample_w->shape[0], 1));
    }
    sim_mid(&s, e, P, base);
    int64_t m = vae_moment_ch(v);
    sim_alloc(&s, mul3(P, e->conv_out_w->shape[0], 1));
    if (e->quant_w) sim_alloc(&s, mul3(P, m, 1));
    sim_alloc(&s, mul3(P, m, 1));
    return s.peak;
}

/* Arena bytes of the tiled pass around one tile: output + grid + tile input. */
static size_t tiled_overhead(int64_t B, int64_t out_ch, int64_t Lh, int64_t Lw, int64_t ou, int64_t in_ch, int64_t iu,
                             const sdc_vae_tiling *t) {
    int64_t th = SDC_MIN(Lh, (int64_t)t->tile), tw = SDC_MIN(Lw, (int64_t)t->tile);
    int64_t nh = Lh > t->tile ? sdc_ceil_div(Lh - t->overlap, t->tile - t->overlap) : 1;
    int64_t nw = Lw > t->tile ? sdc_ceil_div(Lw - t->overlap, t->tile - t->overlap) : 1;
    size_t starts = (size_t)(nh + nw) * sizeof(int64_t) + 128; /* two 64-aligned blocks */
    size_t s = sat_add(starts, out_bytes(mul3(mul3(B, out_ch, Lh), Lw, ou * ou)));
    s = sat_add(s, sat_add(out_bytes(mul3(nh, th, ou)), out_bytes(mul3(Lh, ou, 1))));
    s = sat_add(s, sat_add(out_bytes(mul3(nw, tw, ou)), out_bytes(mul3(Lw, ou, 1))));
    return sat_add(s, out_bytes(mul3(mul3(in_ch, th, tw), iu * iu, 1)));
}

static bool tiling_ok(const sdc_vae_tiling *t) { return t->tile >= 1 && t->overlap >= 0 && t->overlap < t->tile; }

size_t sdc_vae_decode_tiled_bytes(const sdc_vae *v, int64_t B, int64_t h, int64_t w, const sdc_vae_tiling *t) {
    sdc_vae_tiling def = sdc_vae_tiling_default();
    if (!t) t = &def;
    if (!tiling_ok(t) || B < 1 || h < 1 || w < 1) return 0;
    int64_t out_ch = v->dec.conv_out_w ? v->dec.conv_out_w->shape[0] : 3;
    size_t s = tiled_overhead(B, out_ch, h, w, 8, v->latent_ch, 1, t);
    return sat_add(s, sdc_vae_decode_bytes(v, 1, SDC_MIN(h, (int64_t)t->tile), SDC_MIN(w, (int64_t)t->tile)));
}

size_t sdc_vae_encode_tiled_bytes(const sdc_vae *v, int64_t B, int64_t H, int64_t W, const sdc_vae_tiling *t) {
    sdc_vae_tiling def = sdc_vae_tiling_default();
    if (!t) t = &def;
    if (!tiling_ok(t) || B < 1 || H < 8 || W < 8) return 0;
    int64_t h = H / 8, w = W / 8, th = SDC_MIN(h, (int64_t)t->tile), tw = SDC_MIN(w, (int64_t)t->tile);
    size_t s = tiled_overhead(B, vae_moment_ch(v), h, w, 1, 3, 8, t);
    return sat_add(s, sdc_vae_encode_bytes(v, 1, th * 8, tw * 8));
}

sdc_tensor *sdc_vae_decode_auto(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z, size_t budget_bytes,
                                const sdc_vae_tiling *t) {
    if (!z || !sdc_ctx_ok(c)) return NULL;
    if (budget_bytes == 0 || z->ndim != 4 ||
        sdc_vae_decode_bytes(v, z->shape[0], z->shape[2], z->shape[3]) <= budget_bytes)
        return sdc_vae_decode(c, v, z);
    return sdc_vae_decode_tiled(c, v, z, t);
}

sdc_tensor *sdc_vae_encode_auto(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image, size_t budget_bytes,
                                const sdc_vae_tiling *t) {
    if (!image || !sdc_ctx_ok(c)) return NULL;
    if (budget_bytes == 0 || image->ndim != 4 ||
        sdc_vae_encode_bytes(v, image->shape[0], image->shape[2], image->shape[3]) <= budget_bytes)
        return sdc_vae_encode(c, v, image);
    return sdc_vae_encode_tiled(c, v, image, t);
}

sdc_tensor *sdc_taesd_decode_auto(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *latent, size_t budget_bytes,
                                  const sdc_vae_tiling *t) {
    if (!latent || !sdc_ctx_ok(c)) return NULL;
    if (budget_bytes == 0 || latent->ndim != 4 ||
        sdc_taesd_decode_bytes(m, latent->shape[0], latent->shape[2], latent->shape[3]) <= budget_bytes)
        return sdc_taesd_decode(c, m, latent);
    return sdc_taesd_decode_tiled(c, m, latent, t);
}

