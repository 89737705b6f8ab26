/* Flash-style scaled dot-product attention (kernels.h sdc_attention_args),
 * written once over the vector primitives and included by
 * attention_avx512.c and attention_avx2.c, which set the tile constants:
 *   QK_ROWS  query rows of the Q.K^T register tile (x 2 vectors of keys)
 *   PV_ROWS  query rows of the P.V register tile (x up to PV_MAXV vectors of D)
 *   QB       query block (a multiple of QK_ROWS and PV_ROWS)
 *   KB       key block for long key sequences (a multiple of 2 VL); when all
 *            keys fit in KB_MAX (cross attention: 77 / 154 text tokens) the
 *            block is all keys, rounded up to 2 VL, so no block is mostly
 *            padding
 *   ATT_BF16_NATIVE  when defined: the function that takes bf16 compute on
 *            CPUs with AVX512_BF16 (attention_bf16_avx512.c)
 *
 * Algorithm, per task = (batch, head, block of QB queries):
 *   for each block of kb keys:
 *     t = scale Q K^T, -inf where masked   QK_ROWS x 2VL register tiles; the
 *                                          tile also scales, masks
 *                                          (causal: key j > query i; keys past
 *                                          Tk) and keeps per-row vector maxima
 *     m' = max(m, rowmax t);  c = exp(m - m');  P = exp(t - m');  l = c l + rowsum P
 *     O = c O + P V                        PV_ROWS x D register tiles, V read in place
 *   out = O / l
 * so memory is O(tokens): a QB x kb score tile per thread, never Tq x Tk.
 * K is transposed once per call into key blocks [D][kb] so the Q.K^T tile
 * loads keys as vectors.
 *
 * bf16 compute without vdpbf16ps rounds q and k to bf16 (as the reference
 * does) and multiplies in f32 (exact products); P and V stay f32. Work is
 * split by shape only and every output row is produced by one task in a
 * fixed order: results are bitwise identical for any thread count.
 *
 * Does not: materialize scores for all keys, support masks other than
 * causal, or handle D = 0 / Tk = 0 (ops.c never passes them). */
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/scratch.h"

typedef struct att_job {
    const sdc_attention_args *a;
    int round;             /* bf16-rounded q, k (bf16 compute without vdpbf16ps) */
    int64_t Dp;            /* D rounded up to even */
    int64_t kb, nkb;       /* keys per block, key blocks */
    int64_t nqb;           /* query blocks per (batch, head) */
    int64_t nv;            /* vectors per row of O */
    int64_t kt_head_bytes; /* transposed keys of one (batch, head) */
    char *kt;              /* [B*heads][nkb][Dp][kb] f32 */
    sdc_slices priv;       /* per task: Q block, S tile, O tile, row stats */
} att_job;

/* ---- key transposition ------------------------------------------------------ */

static void kt_task(void *v, int t) {
    const att_job *j = v;
    const sdc_attention_args *a = j->a;
    int64_t b = t / a->heads, h = t % a->heads;
    char *dst = j->kt + t * j->kt_head_bytes;
    memset(dst, 0, (size_t)j->kt_head_bytes);
    for (int64_t key = 0; key < a->Tk; key++) {
        const float *k = a->k + (b * a->Tk + key) * a->ldk + h * a->D;
        int64_t kb = j->kb, blk_i = key / kb, c = key % kb;
        float *blk = (float *)dst + blk_i * j->Dp * kb;
        for (int64_t d = 0; d < a->D; d++) blk[d * kb + c] = j->round ? sdc_bf16_to_f32(sdc_f32_to_bf16(k[d])) : k[d];
    }
}

/* ---- Q.K^T tiles ------------------------------------------------------------------ */

/* Where a tile's scores stop counting: row r keeps columns < lim[r] (keys
 * past Tk, and keys after the query under a causal mask, become -inf). */
typedef struct qk_out {
    float *s;        /* tile's [0, 0] in the score block, rows kb apart */
    vf *rowmax;      /* QK_ROWS running vector maxima */
    int64_t kb;
    const int64_t *lim; /* QK_ROWS limits relative to the tile's first column, or NULL: none */
    float scale;
} qk_out;

/* Scales, masks, stores the tile and folds it into the row maxima. */
static inline __attribute__((always_inline)) void qk_finish(vf acc[QK_ROWS][2], const qk_out *o) {
    vf sc = vset1(o->scale), ninf = vset1(-INFINITY);
#pragma GCC unroll 16
    for (int r = 0; r < QK_ROWS; r++) {
        vf x0 = vmul(acc[r][0], sc), x1 = vmul(acc[r][1], sc);
        if (o->lim) {
            x0 = vselect_n(x0, ninf, o->lim[r]);
            x1 = vselect_n(x1, ninf, o->lim[r] - VL);
        }
        vstore(o->s + r * o->kb, x0);
        vstore(o->s + r * o->kb + VL, x1);
        o->rowmax[r] = vmax(o->rowmax[r], vmax(x0, x1));
    }
}

/* acc = Q[0:QK_ROWS, 0:D] . Kt[0:D, 0:2VL]; q rows Dp apart, kt rows kb apart. */
static inline void qk_tile_f32(const float *q, int64_t Dp, int64_t D, const float *kt, const qk_out *o) {
    vf acc[QK_ROWS][2];
#pragma GCC unroll 16
    for (int r = 0; r < QK_ROWS; r++) acc[r][0] = acc[r][1] = vzero();
    for (int64_t d = 0; d < D; d++) {
        vf k0 = vload(kt + d * o->kb), k1 = vload(kt + d * o->kb + VL);
#pragma GCC unroll 16
        for (int r = 0; r < QK_ROWS; r++) {
            vf qv = vset1(q[r * Dp + d]);
            acc[r][0] = vfmadd(qv, k0, acc[r][0]);
            acc[r][1] = vfmadd(qv, k1, acc[r][1]);
        }
    }
    qk_finish(acc, o);
}


/* ---- P.V tiles -------------------------------------------------------------------- */

/* O[0:PV_ROWS, dc : dc + NV VL] = corr * O + P[0:PV_ROWS, 0:kv] . V[0:kv, dc : ...];
 * o rows ldo apart, p rows kb apart, v rows ldv apart; the last vector
 * covers `last` (<= VL) columns of V. NV and HALF are constants at every
 * call site (pv_tile dispatches), so the accumulators live in registers.
 * HALF (only with SIMD_HALF, last <= VL / 2): the last vector is a half-width
 * register. On Zen 4 a 256-bit FMA costs half a 512-bit one, so D = 40
 * (16 + 16 + 8) does 5/6 of the FMA work of three full vectors. */
static inline __attribute__((always_inline)) void pv_tile_n(float *o, int64_t ldo, const float *corr, const float *p,
                                                            int64_t kb, const float *v, int64_t ldv, int64_t kv,
                                                            int NV, int HALF, int64_t last) {
    int NF = HALF ? NV - 1 : NV; /* full-width vectors */
    vf acc[PV_ROWS][PV_MAXV];
#ifdef SIMD_HALF
    vhf acch[PV_ROWS];
#endif
#pragma GCC unroll 8
    for (int r = 0; r < PV_ROWS; r++) {
        vf c = vset1(corr[r]);
#pragma GCC unroll 8
        for (int x = 0; x < NF; x++) acc[r][x] = vmul(vload(o + r * ldo + x * VL), c);
#ifdef SIMD_HALF
        if (HALF) acch[r] = vh_mul(vh_load(o + r * ldo + NF * VL), vh_lo(c));
#endif
    }
    for (int64_t j = 0; j < kv; j++) {
        const float *vr = v + j * ldv;
        vf vv[PV_MAXV];
#pragma GCC unroll 8
        for (int x = 0; x < NF; x++) vv[x] = x < NV - 1 ? vload(vr + x * VL) : vload_n(vr + x * VL, last);
#ifdef SIMD_HALF
        vhf vh = vh_zero();
        if (HALF) vh = vh_load_n(vr + NF * VL, last);
#endif
#pragma GCC unroll 8
        for (int r = 0; r < PV_ROWS; r++) {
            vf pr = vset1(p[r * kb + j]);
#pragma GCC unroll 8
            for (int x = 0; x < NF; x++) acc[r][x] = vfmadd(pr, vv[x], acc[r][x]);
#ifdef SIMD_HALF
            if (HALF) acch[r] = vh_fmadd(vh_lo(pr), vh, acch[r]);
#endif
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < PV_ROWS; r++) {
#pragma GCC unroll 8
        for (int x = 0; x < NF; x++) vstore(o + r * ldo + x * VL, acc[r][x]);
#ifdef SIMD_HALF
        if (HALF) vh_store(o + r * ldo + NF * VL, acch[r]);
#endif
    }
}

static void pv_tile(float *o, int64_t ldo, const float *corr, const float *p, int64_t kb, const float *v, int64_t ldv,
                    int64_t kv, int nv, int64_t last) {
#ifdef SIMD_HALF
    if (last <= VL / 2) {
        switch (nv) {
        case 1: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 1, 1, last); return;
        case 2: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 2, 1, last); return;
        case 3: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 3, 1, last); return;
        case 4: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 4, 1, last); return;
        default: break; /* wider: full vectors below */
        }
    }
#endif
    switch (nv) {
    case 1: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 1, 0, last); break;
    case 2: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 2, 0, last); break;
    case 3: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 3, 0, last); break;
    case 4: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 4, 0, last); break;
#if PV_MAXV >= 6
    case 5: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 5, 0, last); break;
    case 6: pv_tile_n(o, ldo, corr, p, kb, v, ldv, kv, 6, 0, last); break;
#endif
    default: break;
    }
}

/* ---- one task: (batch, head, query block) ------------------------------------------ */

typedef struct att_tile {
    float *q;     /* [QB][Dp] */
    float *s;     /* [QB][kb] scores, then probabilities */
    float *o;     /* [QB][nv VL] */
    vf *rowmax;   /* [QB] running vector maxima of the current key block */
    float *m, *l, *mnew, *corr; /* [QB] */
} att_tile;

static size_t att_q_bytes(const att_job *j) { return sdc_round64((size_t)(QB * j->Dp) * 4); }

static void att_tile_map(const att_job *j, char *base, att_tile *t) {
    t->q = (float *)base;
    t->rowmax = (vf *)(base + att_q_bytes(j));
    t->s = (float *)(t->rowmax + QB);
    t->o = t->s + QB * j->kb;
    t->m = t->o + QB * j->nv * VL;
    t->l = t->m + QB;
    t->mnew = t->l + QB;
    t->corr = t->mnew + QB;
}

static size_t att_tile_bytes(const att_job *j) {
    size_t floats = (size_t)(QB * j->kb + QB * j->nv * VL + 4 * QB);
    return sdc_round64(att_q_bytes(j) + sizeof(vf) * QB + sizeof(float) * floats);
}

/* Q block rows [i0, i0 + QB) of (b, h) into t->q, zero past Tq and D. */
static void att_load_q(const att_job *j, int64_t b, int64_t h, int64_t i0, att_tile *t) {
    const sdc_attention_args *a = j->a;
    for (int64_t r = 0; r < QB; r++) {
        const float *q = a->q + (b * a->Tq + i0 + r) * a->ldq + h * a->D;
        int valid = i0 + r < a->Tq;
        float *d = t->q + r * j->Dp;
        for (int64_t c = 0; c < j->Dp; c++)
            d[c] = !valid || c >= a->D ? 0.0f : j->round ? sdc_bf16_to_f32(sdc_f32_to_bf16(q[c])) : q[c];
    }
}

/* Scores of the key block starting at key j0 (kv keys < Tk) for all QB
 * rows: t->s = scale Q.K^T, -inf where masked; then the new row maxima. */
static void att_scores(const att_job *j, const char *ktb, int64_t i0, int64_t j0, int64_t kv, att_tile *t) {
    const sdc_attention_args *a = j->a;
    for (int64_t r = 0; r < QB; r++) t->rowmax[r] = vset1(-INFINITY);
    for (int64_t r = 0; r < QB; r += QK_ROWS)
        for (int64_t c = 0; c < kv; c += 2 * VL) {
            int64_t lim[QK_ROWS];
            /* a tile needs masking when it reaches past Tk, or past the
             * first row's query under a causal mask */
            bool mask = c + 2 * VL > kv || (a->causal && j0 + c + 2 * VL - 1 > i0 + r);
            for (int64_t x = 0; x < QK_ROWS; x++)
                lim[x] = (a->causal ? SDC_MIN(kv, i0 + r + x + 1 - j0) : kv) - c;
            qk_out o = {t->s + r * j->kb + c, t->rowmax + r, j->kb, mask ? lim : NULL, a->scale};
            qk_tile_f32(t->q + r * j->Dp, j->Dp, a->D, (const float *)ktb + c, &o);
        }
    for (int64_t r = 0; r < QB; r++) {
        float mx = vhmax(t->rowmax[r]);
        t->mnew[r] = mx > t->m[r] ? mx : t->m[r];
    }
}

/* Probabilities in place, correction factors, running sums. */
static void att_softmax(int64_t kb, int64_t kv, att_tile *t) {
    for (int64_t r = 0; r < QB; r += VL) { /* corr = exp(m - m'), 0 while m = -inf */
        vf m = vload(t->m + r), mn = vload(t->mnew + r);
        vstore(t->corr + r, vexp(vsub(m, mn)));
        vstore(t->m + r, mn);
    }
    for (int64_t r = 0; r < QB; r++) {
        float *s = t->s + r * kb;
        vf mn = vset1(t->mnew[r]), sum = vzero();
        for (int64_t c = 0; c < kv; c += VL) {
            vf p = vexp(vsub(vload(s + c), mn));
            vstore(s + c, p);
            sum = vadd(sum, p); /* masked lanes are exp(-inf) = 0 */
        }
        t->l[r] = t->l[r] * t->corr[r] + vhsum(sum);
    }
}

static void att_task(void *v, int task) {
    att_job *j = v;
    const sdc_attention_args *a = j->a;
    int64_t bh = task / j->nqb, b = bh / a->heads, h = bh % a->heads, i0 = (task % j->nqb) * QB;
    int slot = sdc_slices_claim(&j->priv);
    att_tile t;
    att_tile_map(j, sdc_slice_ptr(&j->priv, slot), &t);
    att_load_q(j, b, h, i0, &t);
    int64_t ldo_t = j->nv * VL, kb = j->kb;
    memset(t.o, 0, (size_t)(QB * ldo_t) * sizeof(float));
    for (int64_t r = 0; r < QB; r++) {
        /* rows past Tq start as if a key had been seen, so no -inf - -inf */
        t.m[r] = i0 + r < a->Tq ? -INFINITY : 0.0f;
        t.l[r] = 0.0f;
    }
    int64_t kend = a->causal ? SDC_MIN(a->Tk, i0 + QB) : a->Tk; /* keys any row of the block sees */
    const float *vbase = a->v + b * a->Tk * a->ldv + h * a->D;
    for (int64_t j0 = 0; j0 < kend; j0 += kb) {
        int64_t kv = SDC_MIN(kb, a->Tk - j0);
        const char *ktb = j->kt + bh * j->kt_head_bytes + (j0 / kb) * j->Dp * kb * 4;
        att_scores(j, ktb, i0, j0, kv, &t);
        att_softmax(kb, kv, &t);
        for (int64_t dc = 0; dc < j->nv; dc += PV_MAXV) { /* O = corr O + P V, PV_MAXV vectors at a time */
            int nvc = (int)SDC_MIN((int64_t)PV_MAXV, j->nv - dc);
            int64_t last = SDC_MIN((int64_t)VL, a->D - (dc + nvc - 1) * VL);
            for (int64_t r = 0; r < QB; r += PV_ROWS)
                pv_tile(t.o + r * ldo_t + dc * VL, ldo_t, t.corr + r, t.s + r * kb, kb,
                        vbase + j0 * a->ldv + dc * VL, a->ldv, kv, nvc, last);
        }
    }
    int64_t rows = SDC_MIN((int64_t)QB, a->Tq - i0);
    for (int64_t r = 0; r < rows; r++) {
        float *out = a->out + (b * a->Tq + i0 + r) * a->ldo + h * a->D;
        vf inv = vset1(1.0f / t.l[r]);
        for (int64_t c = 0; c < a->D; c += VL) vstore_n(out + c, vmul(vload(t.o + r * ldo_t + c), inv), a->D - c);
    }
    sdc_slices_release(&j->priv, slot);
}

void SIMD_NAME(attention)(sdc_pool *pool, const sdc_attention_args *a) {
    if (a->B <= 0 || a->heads <= 0 || a->Tq <= 0 || a->Tk <= 0 || a->D <= 0) return;
#ifdef ATT_BF16_NATIVE
    if (a->compute == SDC_COMPUTE_BF16 && sdc_cpu_get()->avx512_bf16) {
        ATT_BF16_NATIVE(pool, a);
        return;
    }
#endif
    att_job j = {.a = a};
    j.round = a->compute == SDC_COMPUTE_BF16;
    j.Dp = (a->D + 1) / 2 * 2;
    j.kb = a->Tk <= KB_MAX ? sdc_ceil_div(a->Tk, 2 * VL) * 2 * VL : KB;
    j.nkb = sdc_ceil_div(a->Tk, j.kb);
    j.nqb = sdc_ceil_div(a->Tq, QB);
    j.nv = sdc_ceil_div(a->D, VL);
    size_t kt_head = 0, kt_all = 0, tile = att_tile_bytes(&j), priv = 0, total = 0;
    int nt = SDC_MAX(1, SDC_MIN(sdc_pool_threads(pool), 64));
    bool ok = sdc_mul_ok((size_t)(j.nkb * j.Dp * j.kb), 4, &kt_head) &&
              sdc_mul_ok(sdc_round64(kt_head), (size_t)(a->B * a->heads), &kt_all) &&
              sdc_mul_ok(tile, (size_t)nt, &priv) && sdc_add_ok(kt_all, priv, &total);
    char *base = ok ? sdc_x86_scratch(total) : NULL;
    if (!base) {
        sdc_ref_attention(pool, a);
        return;
    }
    j.kt_head_bytes = (int64_t)sdc_round64(kt_head);
    j.kt = base;
    j.priv.base = base + kt_all;
    j.priv.bytes = tile;
    j.priv.n = nt;
    sdc_pool_run(pool, (int)(a->B * a->heads), kt_task, &j);
    sdc_pool_run(pool, (int)(a->B * a->heads * j.nqb), att_task, &j);
}
