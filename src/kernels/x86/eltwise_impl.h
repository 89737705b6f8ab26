/* Memory-bound kernels (normalizations, softmax, activations, broadcast
 * add/mul, nearest upsampling, row concatenation), written once over the
 * vector primitives and included by eltwise_avx512.c and eltwise_avx2.c
 * (after simd_*.h and vmath.h), which name the functions via SIMD_NAME.
 *
 * Work is split into tasks by size only (never by thread count) and every
 * output element is produced by one task in a fixed order, so results are
 * bitwise identical for any number of threads. Reductions (norm statistics)
 * are done in f32 in a fixed blocking: per-lane partial sums, then partial
 * results in index order.
 *
 * Does not: vectorize tiny broadcast periods (< VL elements use a plain
 * loop), or fuse ops beyond GroupNorm + SiLU. */
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/scratch.h"

/* elements per task of element-wise work: large enough to amortize task
 * claiming, small enough to balance a few threads on a 64x64x320 tensor */
#define ELT_CHUNK 16384

static inline int64_t n_chunks(int64_t n, int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

/* ---- activations ------------------------------------------------------------ */

static inline vf act_apply(sdc_act act, vf x) {
    switch (act) {
    case SDC_ACT_SILU: return vsilu(x);
    case SDC_ACT_GELU: return vgelu_erf(x);
    case SDC_ACT_GELU_TANH: return vgelu_tanh(x);
    case SDC_ACT_QUICK_GELU: return vquick_gelu(x);
    }
    return x;
}

typedef struct act_job {
    sdc_act act;
    int64_t n;
    const float *x;
    float *y;
} act_job;

static void act_task(void *v, int t) {
    const act_job *j = v;
    int64_t i0 = (int64_t)t * ELT_CHUNK, i1 = SDC_MIN(i0 + ELT_CHUNK, j->n);
    int64_t i = i0;
    for (; i + VL <= i1; i += VL) vstore(j->y + i, act_apply(j->act, vload(j->x + i)));
    if (i < i1) vstore_n(j->y + i, act_apply(j->act, vload_n(j->x + i, i1 - i)), i1 - i);
}

void SIMD_NAME(activation)(sdc_pool *pool, sdc_act act, int64_t n, const float *x, float *y) {
    act_job j = {act, n, x, y};
    sdc_pool_run(pool, (int)n_chunks(n, ELT_CHUNK), act_task, &j);
}

typedef struct geglu_job {
    int64_t M, F, rows;
    const float *x;
    float *y;
} geglu_job;

static void geglu_task(void *v, int t) {
    const geglu_job *j = v;
    int64_t m1 = SDC_MIN((int64_t)(t + 1) * j->rows, j->M);
    for (int64_t m = (int64_t)t * j->rows; m < m1; m++) {
        const float *a = j->x + m * 2 * j->F, *g = a + j->F;
        float *y = j->y + m * j->F;
        int64_t f = 0;
        for (; f + VL <= j->F; f += VL) vstore(y + f, vmul(vload(a + f), vgelu_erf(vload(g + f))));
        if (f < j->F) {
            int64_t r = j->F - f;
            vstore_n(y + f, vmul(vload_n(a + f, r), vgelu_erf(vload_n(g + f, r))), r);
        }
    }
}

void SIMD_NAME(geglu)(sdc_pool *pool, int64_t M, int64_t F, const float *x, float *y) {
    geglu_job j = {M, F, SDC_MAX(1, ELT_CHUNK / SDC_MAX(F, 1)), x, y};
    sdc_pool_run(pool, (int)n_chunks(M, j.rows), geglu_task, &j);
}

/* ---- broadcast add / mul ------------------------------------------------------ */

typedef struct bin_job {
    int mul;
    int64_t n, period;
    const float *a, *b;
    float *y;
} bin_job;

static inline vf bin_op(int mul, vf a, vf b) { return mul ? vmul(a, b) : vadd(a, b); }

/* y[i] = a[i] op b[bi + i - i0] for i in [i0, i0 + len) */
static inline void bin_run(int mul, const float *a, const float *b, float *y, int64_t len) {
    int64_t i = 0;
    for (; i + VL <= len; i += VL) vstore(y + i, bin_op(mul, vload(a + i), vload(b + i)));
    if (i < len) vstore_n(y + i, bin_op(mul, vload_n(a + i, len - i), vload_n(b + i, len - i)), len - i);
}

static void bin_task(void *v, int t) {
    const bin_job *j = v;
    int64_t i = (int64_t)t * ELT_CHUNK, i1 = SDC_MIN(i + ELT_CHUNK, j->n);
    if (j->period < VL) { /* tiny period (a scalar, RGB): plain loop */
        for (; i < i1; i++) j->y[i] = j->mul ? j->a[i] * j->b[i % j->period] : j->a[i] + j->b[i % j->period];
        return;
    }
    int64_t bi = i % j->period;
    while (i < i1) { /* runs that do not cross a period boundary */
        int64_t len = SDC_MIN(i1 - i, j->period - bi);
        bin_run(j->mul, j->a + i, j->b + bi, j->y + i, len);
        i += len;
        bi = 0;
    }
}

void SIMD_NAME(add)(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y) {
    bin_job j = {0, n, period, a, b, y};
    sdc_pool_run(pool, (int)n_chunks(n, ELT_CHUNK), bin_task, &j);
}

void SIMD_NAME(mul)(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y) {
    bin_job j = {1, n, period, a, b, y};
    sdc_pool_run(pool, (int)n_chunks(n, ELT_CHUNK), bin_task, &j);
}

/* ---- row reductions: softmax, layer norm ---------------------------------------- */

/* sum of x[0:n] in f32: VL lane-wise partial sums, then the lanes */
static inline float row_sum(const float *x, int64_t n) {
    vf s = vzero();
    int64_t i = 0;
    for (; i + VL <= n; i += VL) s = vadd(s, vload(x + i));
    if (i < n) s = vadd(s, vload_n(x + i, n - i));
    return vhsum(s);
}

typedef struct rows_job {
    int64_t M, C, rows;
    const float *x, *gamma, *beta;
    float eps;
    float *y;
} rows_job;

static void softmax_row(float *r, int64_t n) {
    vf mx = vset1(-INFINITY);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) mx = vmax(mx, vload(r + i));
    if (i < n) mx = vmax(mx, vselect_n(vload_n(r + i, n - i), vset1(-INFINITY), n - i));
    vf vm = vset1(vhmax(mx)), s = vzero();
    for (i = 0; i + VL <= n; i += VL) {
        vf e = vexp(vsub(vload(r + i), vm));
        vstore(r + i, e);
        s = vadd(s, e);
    }
    if (i < n) {
        vf e = vkeep_n(vexp(vsub(vload_n(r + i, n - i), vm)), n - i);
        vstore_n(r + i, e, n - i);
        s = vadd(s, e);
    }
    vf inv = vset1(1.0f / vhsum(s));
    for (i = 0; i + VL <= n; i += VL) vstore(r + i, vmul(vload(r + i), inv));
    if (i < n) vstore_n(r + i, vmul(vload_n(r + i, n - i), inv), n - i);
}

static void softmax_task(void *v, int t) {
    const rows_job *j = v;
    int64_t m1 = SDC_MIN((int64_t)(t + 1) * j->rows, j->M);
    for (int64_t m = (int64_t)t * j->rows; m < m1; m++) softmax_row(j->y + m * j->C, j->C);
}

void SIMD_NAME(softmax)(sdc_pool *pool, int64_t M, int64_t N, float *x) {
    if (N <= 0) return;
    rows_job j = {.M = M, .C = N, .rows = SDC_MAX(1, ELT_CHUNK / N), .y = x};
    sdc_pool_run(pool, (int)n_chunks(M, j.rows), softmax_task, &j);
}

static void layer_norm_task(void *v, int t) {
    const rows_job *j = v;
    int64_t m1 = SDC_MIN((int64_t)(t + 1) * j->rows, j->M), C = j->C;
    for (int64_t m = (int64_t)t * j->rows; m < m1; m++) {
        const float *x = j->x + m * C;
        float *y = j->y + m * C;
        vf mean = vset1(row_sum(x, C) / (float)C), acc = vzero();
        int64_t i = 0;
        for (; i + VL <= C; i += VL) {
            vf d = vsub(vload(x + i), mean);
            acc = vfmadd(d, d, acc);
        }
        if (i < C) {
            vf d = vkeep_n(vsub(vload_n(x + i, C - i), mean), C - i); /* zero past the row */
            acc = vfmadd(d, d, acc);
        }
        vf inv = vset1(1.0f / sqrtf(vhsum(acc) / (float)C + j->eps));
        for (i = 0; i < C; i += VL) {
            int64_t r = SDC_MIN((int64_t)VL, C - i);
            vf g = j->gamma ? vload_n(j->gamma + i, r) : vset1(1.0f);
            vf b = j->beta ? vload_n(j->beta + i, r) : vzero();
            vf yv = vfmadd(vmul(vsub(vload_n(x + i, r), mean), inv), g, b);
            vstore_n(y + i, yv, r);
        }
    }
}

void SIMD_NAME(layer_norm)(sdc_pool *pool, int64_t M, int64_t C, const float *x, const float *gamma,
                           const float *beta, float eps, float *y) {
    if (C <= 0) return;
    rows_job j = {M, C, SDC_MAX(1, ELT_CHUNK / C), x, gamma, beta, eps, y};
    sdc_pool_run(pool, (int)n_chunks(M, j.rows), layer_norm_task, &j);
}

/* ---- group norm (+ SiLU), channels last ------------------------------------------ */

/* Pixels are cut into at most GN_MAX_CHUNKS chunks per image; pass 1 and 2
 * produce per-chunk, per-channel partial sums, combined in chunk order. */
#define GN_MAX_CHUNKS 64

typedef struct gn_job {
    const sdc_group_norm_args *a;
    int64_t chunk, n_ch; /* pixels per chunk, chunks per image */
    float *partial;      /* [B, n_ch, C] */
    float *mean_c;       /* [B, C]: the channel's group mean (pass 2) / scale (pass 3) */
    float *shift_c;      /* [B, C] */
    int pass;
} gn_job;

static void gn_task(void *v, int t) {
    const gn_job *j = v;
    const sdc_group_norm_args *a = j->a;
    int64_t C = a->C, b = t / j->n_ch, ch = t % j->n_ch;
    int64_t p0 = ch * j->chunk, p1 = SDC_MIN(p0 + j->chunk, a->P);
    const float *x = a->x + b * a->P * C;
    float *part = j->partial + t * C;
    const float *mc = j->mean_c + b * C, *sc = j->shift_c + b * C;
    for (int64_t c = 0; c < C; c += VL) {
        int64_t r = SDC_MIN((int64_t)VL, C - c);
        if (j->pass == 3) {
            vf s = vload_n(mc + c, r), h = vload_n(sc + c, r);
            float *y = a->y + b * a->P * C;
            for (int64_t p = p0; p < p1; p++) {
                vf yv = vfmadd(vload_n(x + p * C + c, r), s, h);
                vstore_n(y + p * C + c, a->silu ? vsilu(yv) : yv, r);
            }
            continue;
        }
        vf acc = vzero(), m = j->pass == 2 ? vload_n(mc + c, r) : vzero();
        for (int64_t p = p0; p < p1; p++) {
            vf d = vsub(vload_n(x + p * C + c, r), m);
            acc = j->pass == 1 ? vadd(acc, d) : vfmadd(d, d, acc);
        }
        vstore_n(part + c, acc, r);
    }
}

/* Per-group totals of the partial sums of image b, in chunk then channel
 * order. */
static void gn_group_totals(const gn_job *j, int64_t b, float *tot) {
    const sdc_group_norm_args *a = j->a;
    int64_t cg = a->C / a->G;
    for (int64_t g = 0; g < a->G; g++) {
        float s = 0;
        for (int64_t ch = 0; ch < j->n_ch; ch++) {
            const float *part = j->partial + (b * j->n_ch + ch) * a->C + g * cg;
            for (int64_t c = 0; c < cg; c++) s += part[c];
        }
        tot[g] = s;
    }
}

void SIMD_NAME(group_norm)(sdc_pool *pool, const sdc_group_norm_args *a) {
    if (a->B <= 0 || a->P <= 0 || a->C <= 0 || a->G <= 0) return;
    gn_job j = {.a = a};
    j.chunk = SDC_MAX((int64_t)64, n_chunks(a->P, GN_MAX_CHUNKS));
    j.n_ch = n_chunks(a->P, j.chunk);
    size_t n_part, n_vec, n_all, bytes;
    bool ok = sdc_mul_ok((size_t)(a->B * j.n_ch), (size_t)a->C, &n_part) &&
              sdc_mul_ok((size_t)a->B, (size_t)a->C, &n_vec) && sdc_add_ok(n_part, 2 * n_vec, &n_all) &&
              sdc_add_ok(n_all, (size_t)a->G, &n_all) && sdc_mul_ok(n_all, sizeof(float), &bytes);
    float *s = ok ? sdc_x86_scratch(bytes) : NULL;
    if (!s) {
        sdc_ref_group_norm(pool, a);
        return;
    }
    j.partial = s;
    j.mean_c = s + n_part;
    j.shift_c = j.mean_c + n_vec;
    float *tot = j.shift_c + n_vec;
    int tasks = (int)(a->B * j.n_ch);
    int64_t cg = a->C / a->G;
    float n = (float)(a->P * cg);
    j.pass = 1;
    sdc_pool_run(pool, tasks, gn_task, &j);
    for (int64_t b = 0; b < a->B; b++) {
        gn_group_totals(&j, b, tot);
        for (int64_t c = 0; c < a->C; c++) j.mean_c[b * a->C + c] = tot[c / cg] / n;
    }
    j.pass = 2;
    sdc_pool_run(pool, tasks, gn_task, &j);
    for (int64_t b = 0; b < a->B; b++) {
        gn_group_totals(&j, b, tot);
        for (int64_t c = 0; c < a->C; c++) {
            float inv = 1.0f / sqrtf(tot[c / cg] / n + a->eps);
            float scale = inv * a->gamma[c], mean = j.mean_c[b * a->C + c];
            j.mean_c[b * a->C + c] = scale;
            j.shift_c[b * a->C + c] = a->beta[c] - mean * scale;
        }
    }
    j.pass = 3;
    sdc_pool_run(pool, tasks, gn_task, &j);
}

/* ---- data movement -------------------------------------------------------------------- */

typedef struct move_job {
    int64_t B, H, W, C, OH, OW; /* upsample */
    int64_t P, Ca, Cb, rows;    /* concat */
    const float *a, *b;
    float *y;
} move_job;

static void upsample_task(void *v, int t) {
    const move_job *j = v;
    int64_t b = t / j->OH, oh = t % j->OH, ih = oh * j->H / j->OH;
    const float *src = j->a + (b * j->H + ih) * j->W * j->C;
    float *dst = j->y + (b * j->OH + oh) * j->OW * j->C;
    for (int64_t ow = 0; ow < j->OW; ow++)
        memcpy(dst + ow * j->C, src + (ow * j->W / j->OW) * j->C, (size_t)j->C * sizeof(float));
}

void SIMD_NAME(upsample_nearest)(sdc_pool *pool, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH,
                                 int64_t OW, const float *x, float *y) {
    move_job j = {.B = B, .H = H, .W = W, .C = C, .OH = OH, .OW = OW, .a = x, .y = y};
    sdc_pool_run(pool, (int)(B * OH), upsample_task, &j);
}

static void concat_task(void *v, int t) {
    const move_job *j = v;
    int64_t p1 = SDC_MIN((int64_t)(t + 1) * j->rows, j->P);
    for (int64_t p = (int64_t)t * j->rows; p < p1; p++) {
        memcpy(j->y + p * (j->Ca + j->Cb), j->a + p * j->Ca, (size_t)j->Ca * sizeof(float));
        memcpy(j->y + p * (j->Ca + j->Cb) + j->Ca, j->b + p * j->Cb, (size_t)j->Cb * sizeof(float));
    }
}

void SIMD_NAME(concat_rows)(sdc_pool *pool, int64_t P, int64_t Ca, int64_t Cb, const float *a, const float *b,
                            float *y) {
    move_job j = {.P = P, .Ca = Ca, .Cb = Cb, .a = a, .b = b, .y = y};
    j.rows = SDC_MAX(1, ELT_CHUNK / SDC_MAX(Ca + Cb, 1));
    sdc_pool_run(pool, (int)n_chunks(P, j.rows), concat_task, &j);
}
