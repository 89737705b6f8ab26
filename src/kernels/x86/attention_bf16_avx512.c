/* Flash-style attention with bf16 products (kernels.h sdc_attention_args,
 * compute = BF16) for CPUs with AVX512_BF16: both Q.K^T and P.V run on
 * vdpbf16ps, accumulating in f32. attention_impl.h (f32, and bf16 emulated
 * with f32 FMAs) hands calls here when the CPU has the instruction.
 *
 * Per task = (batch, head, block of QB queries), for each block of kb keys:
 *   for each group of 12 queries:
 *     t = Q K^T, -inf where masked      12 x 32 register tiles over (d, d+1)
 *                                       pairs of bf16 q, k; raw dot products
 *     m' = max(m, c rowmax t)           c = |scale| log2 e: base-2 units
 *     P = 2^(c t - m') (bf16), corr = 2^(m - m'), l = corr l + rowsum P
 *   O = corr O + P V                    8 queries x up to 3 zmm (+ 1 ymm) of
 *                                       D, over pairs of keys
 *   out = O / l
 * The scores of a group are turned into weights while they are in L1. The
 * row maxima of a group come from one transposing reduction (not a
 * horizontal reduction per row), the row sums stay vectors until the end.
 * Each weight costs one fused multiply-subtract, a floor-reduction
 * (vreduceps), a degree-3 polynomial for 2^f on [0, 1] (relative error
 * 7.5e-5, fitted with numpy) and a vscalefps; the polynomial error is far
 * below the bf16 rounding of P (2^-9). The correction factors, which
 * multiply into every earlier weight, use a degree-6 polynomial (9e-8,
 * exactly 1 when the maximum stays). A negative scale negates q (exact), so
 * c > 0 and max(c t) = c max(t).
 *
 * Operands: K is transposed once per call into key blocks [Dp/2][kb][2]
 * (pairs of d adjacent, as vdpbf16ps multiplies them), V is packed into
 * [kb/2][Dv][2] (pairs of keys adjacent, Dv = D rounded up to 8), both bf16,
 * keys past Tk zero. Memory stays O(tokens): the packed K and V plus a
 * tile of QB x kb weights per thread.
 *
 * Rounding: q, k (as the reference), P and V are rounded to bf16 (nearest
 * even); products are exact in f32 and summed in f32. Against the reference
 * (P and V exact) this adds at most ~2 * 2^-9 * max|v| per output; the
 * tolerance is derived in tests/unit/test_kernels_attn.c. Work is split by
 * shape only, each output row computed by one task in a fixed order:
 * bitwise identical results for any thread count.
 *
 * Does not: support masks other than causal, a zero or non-finite scale,
 * or D > 4096 (the caller uses the emulated path / the reference). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/scratch.h"
#include "kernels/x86/x86_kernels.h"

#define QK_ROWS 12 /* Q.K^T tile: 12 queries x 32 keys = 24 zmm accumulators */
#define PV_ROWS 8  /* P.V tile: 8 queries x up to 3 zmm + 1 ymm of D */
#define PV_MAXV 3
#define QB 48 /* queries per task: a multiple of QK_ROWS and PV_ROWS */
#define KB 128 /* keys per block for long sequences (multiple of 32) */
#define KB_MAX 192 /* up to this many keys: one block of all keys, rounded up to 32 */

typedef struct ab_job {
    const sdc_attention_args *a;
    int64_t Dp;            /* D rounded up to even (pairs of q, k) */
    int64_t Dv;            /* D rounded up to 8 (packed V row, O row) */
    int64_t kb, nkb, nqb;  /* keys per block, key blocks, query blocks per head */
    float c;               /* |scale| * log2(e) */
    int neg;               /* scale < 0: q is negated */
    int64_t kt_head_bytes; /* packed K of one (batch, head) */
    int64_t vp_head_bytes; /* packed V of one (batch, head) */
    char *kt, *vp;
    sdc_slices priv; /* per task: Q block, scores, weights, O, row statistics */
} ab_job;

static inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* n (<= 32) f32 values at p as 32 bf16 (RNE), zero past n. */
static inline __m512i bf16x32(const float *p, int64_t n) {
    __m512 lo = _mm512_maskz_loadu_ps(lanes(n), p), hi = _mm512_maskz_loadu_ps(lanes(n - 16), p + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* ---- operand packing ------------------------------------------------------- */

/* K of (b, h) into blocks [Dp/2][kb][2] (32-bit pairs scattered by key); V
 * into [kb/2][Dv][2] (two keys' rows interleaved). Zero past Tk and D. */
static void pack_task(void *v, int t) {
    const ab_job *j = v;
    const sdc_attention_args *a = j->a;
    int64_t b = t / a->heads, h = t % a->heads, kb = j->kb;
    uint32_t *kt = (uint32_t *)(j->kt + t * j->kt_head_bytes);
    uint16_t *vp = (uint16_t *)(j->vp + t * j->vp_head_bytes);
    memset(kt, 0, (size_t)j->kt_head_bytes);
    memset(vp, 0, (size_t)j->vp_head_bytes);
    uint32_t row[(4096 + 32) / 2] __attribute__((aligned(64)));
    for (int64_t key = 0; key < a->Tk; key++) {
        int64_t blk = key / kb, c = key % kb;
        const float *k = a->k + (b * a->Tk + key) * a->ldk + h * a->D;
        for (int64_t d = 0; d < a->D; d += 32) _mm512_storeu_si512(row + d / 2, bf16x32(k + d, a->D - d));
        uint32_t *kd = kt + blk * (j->Dp / 2) * kb + c;
        for (int64_t d2 = 0; d2 < j->Dp / 2; d2++) kd[d2 * kb] = row[d2];
    }
    for (int64_t key = 0; key < a->Tk; key += 2) { /* V rows key, key + 1 -> pairs */
        int64_t blk = key / kb, c = key % kb;
        const float *v0 = a->v + (b * a->Tk + key) * a->ldv + h * a->D;
        const float *v1 = key + 1 < a->Tk ? v0 + a->ldv : NULL;
        uint16_t *vd = vp + blk * kb * j->Dv + (c / 2) * j->Dv * 2;
        for (int64_t d = 0; d < a->D; d += 16) {
            __mmask16 m = lanes(a->D - d);
            __m512 x0 = _mm512_maskz_loadu_ps(m, v0 + d);
            __m512 x1 = v1 ? _mm512_maskz_loadu_ps(m, v1 + d) : _mm512_setzero_ps();
            /* bf16 of x0 in the low, x1 in the high half of each 32-bit lane */
            __m512i w = _mm512_or_si512(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x0)),
                                        _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x1)), 16));
            _mm512_mask_storeu_epi32(vd + d * 2, m, w);
        }
    }
}

/* ---- Q.K^T tiles ------------------------------------------------------------ */

/* s[0:12, 0:32] = q . kt (raw dot products), -inf at columns >= lim[r]
 * (lim NULL: no mask); rowmax[r] = max(rowmax[r], row r). q rows Dp bf16
 * apart, kt [Dp/2][kb][2], s rows kb apart. */
static void qk_tile(const uint16_t *q, int64_t Dp, const uint16_t *kt, int64_t kb, const int64_t *lim, float *s,
                    __m512 *rowmax) {
    __m512 acc[QK_ROWS][2];
#pragma GCC unroll 12
    for (int r = 0; r < QK_ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t d = 0; d < Dp; d += 2) {
        __m512bh k0 = (__m512bh)_mm512_loadu_si512(kt + d * kb), k1 = (__m512bh)_mm512_loadu_si512(kt + d * kb + 32);
#pragma GCC unroll 12
        for (int r = 0; r < QK_ROWS; r++) {
            int32_t pair;
            memcpy(&pair, q + r * Dp + d, 4);
            __m512bh qv = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], qv, k0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], qv, k1);
        }
    }
    __m512 ninf = _mm512_set1_ps(-INFINITY);
#pragma GCC unroll 12
    for (int r = 0; r < QK_ROWS; r++) {
        __m512 x0 = acc[r][0], x1 = acc[r][1];
        if (lim) {
            x0 = _mm512_mask_blend_ps(lanes(lim[r]), ninf, x0);
            x1 = _mm512_mask_blend_ps(lanes(lim[r] - 16), ninf, x1);
        }
        _mm512_storeu_ps(s + r * kb, x0);
        _mm512_storeu_ps(s + r * kb + 16, x1);
        rowmax[r] = _mm512_max_ps(rowmax[r], _mm512_max_ps(x0, x1));
    }
}

/* ---- softmax in base 2 --------------------------------------------------------- */

/* 2^x for x <= 0 (-inf gives 0): x = n + f with n = floor(x), f in [0, 1]
 * (vreduceps), 2^f by a degree-3 polynomial, times 2^n (vscalefps). */
static inline __m512 exp2_neg(__m512 x) {
    __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); /* x - floor(x) */
    __m512 p = _mm512_set1_ps(7.802452147e-02f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.260671556e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.958335638e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.999251962e-01f));
    return _mm512_scalef_ps(p, x); /* p * 2^floor(x) */
}

/* The same to 9e-8 relative, exactly 1 at x = 0: the correction factors,
 * whose errors would otherwise compound over the key blocks. */
static inline __m512 exp2_fine(__m512 x) {
    __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 p = _mm512_set1_ps(2.161291486e-04f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.246784581e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.675451554e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.548528209e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402293086e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470633e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, x);
}

/* A macro: the shuffle immediates must be constants at the call (clang). */
#define MAX_LO_HI(x, y, lo, hi) _mm512_max_ps(_mm512_shuffle_f32x4((x), (y), (lo)), _mm512_shuffle_f32x4((x), (y), (hi)))

/* Lane i = the maximum of v[i]'s 16 lanes, for 16 vectors at once: a
 * transposing reduction tree (45 shuffles and maxima instead of 16
 * horizontal reductions). */
static __m512 rowmax16(const __m512 v[16]) {
    __m512 a[8], b[4], c[2];
    for (int k = 0; k < 8; k++) a[k] = MAX_LO_HI(v[k], v[k + 8], 0x44, 0xEE); /* 8 of v[k] | 8 of v[k+8] */
    for (int k = 0; k < 4; k++) b[k] = MAX_LO_HI(a[k], a[k + 4], 0x88, 0xDD); /* 4 each: k, k+8, k+4, k+12 */
    for (int k = 0; k < 2; k++) {
        __m512d x = _mm512_castps_pd(b[k]), y = _mm512_castps_pd(b[k + 2]);
        c[k] = _mm512_max_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    __m512 d = _mm512_max_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
    /* d holds rows 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15 (the order is its own inverse) */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), d);
}

typedef struct ab_tile {
    uint16_t *q;    /* [QB][Dp] */
    float *s;       /* [QK_ROWS][kb] scores of one query group */
    uint16_t *p;    /* [QB][kb] weights */
    float *o;       /* [QB][Dv] */
    __m512 *rowmax; /* [16] */
    __m512 *l;      /* [QB] row sums, as vectors */
    float *m, *corr; /* [QB + 16] */
} ab_tile;

/* Weights of rows [r0, r0 + QK_ROWS) for this block from t->s (columns up
 * to kv rounded to 32; masked ones hold -inf): new maxima, correction
 * factors, P as bf16, running sums. */
static void softmax_group(const ab_job *j, ab_tile *t, int64_t r0, int64_t kv) {
    int64_t cols = sdc_ceil_div(kv, 32) * 32, kb = j->kb;
    __m512 v[16], c = _mm512_set1_ps(j->c);
    for (int i = 0; i < 16; i++) v[i] = i < QK_ROWS ? t->rowmax[i] : _mm512_set1_ps(-INFINITY);
    __m512 mo = _mm512_loadu_ps(t->m + r0), mn = _mm512_max_ps(mo, _mm512_mul_ps(rowmax16(v), c));
    _mm512_storeu_ps(t->corr + r0, exp2_fine(_mm512_sub_ps(mo, mn))); /* 0 while mo = -inf */
    _mm512_storeu_ps(t->m + r0, mn); /* lanes past the group are rewritten by the next group */
    for (int64_t r = 0; r < QK_ROWS; r++) {
        const float *s = t->s + r * kb;
        uint16_t *p = t->p + (r0 + r) * kb;
        __m512 nm = _mm512_set1_ps(-t->m[r0 + r]), sum = _mm512_setzero_ps();
        for (int64_t x = 0; x < cols; x += 32) {
            __m512 p0 = exp2_neg(_mm512_fmadd_ps(_mm512_loadu_ps(s + x), c, nm));
            __m512 p1 = exp2_neg(_mm512_fmadd_ps(_mm512_loadu_ps(s + x + 16), c, nm));
            sum = _mm512_add_ps(sum, _mm512_add_ps(p0, p1));
            _mm512_storeu_si512(p + x, (__m512i)_mm512_cvtne2ps_pbh(p1, p0));
        }
        t->l[r0 + r] = _mm512_fmadd_ps(t->l[r0 + r], _mm512_set1_ps(t->corr[r0 + r]), sum);
    }
}

/* ---- P.V tiles ------------------------------------------------------------------- */

/* O[0:8, 0 : NV*16 (+8 when HALF)] = corr * O + P[0:8, 0:2 np] . Vp over np
 * key pairs; o rows ldo apart, p rows kb bf16 apart, vp rows (key pairs)
 * ldv bf16 apart. NV and HALF are constants at every call site. */
static inline __attribute__((always_inline)) void pv_tile_n(float *o, int64_t ldo, const float *corr, const uint16_t *p,
                                                            int64_t kb, const uint16_t *vp, int64_t ldv, int64_t np,
                                                            int NV, int HALF) {
    __m512 acc[PV_ROWS][PV_MAXV];
    __m256 acch[PV_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < PV_ROWS; r++) {
        __m512 c = _mm512_set1_ps(corr[r]);
#pragma GCC unroll 3
        for (int x = 0; x < NV; x++) acc[r][x] = _mm512_mul_ps(_mm512_loadu_ps(o + r * ldo + x * 16), c);
        if (HALF) acch[r] = _mm256_mul_ps(_mm256_loadu_ps(o + r * ldo + NV * 16), _mm512_castps512_ps256(c));
    }
    for (int64_t j = 0; j < np; j++) {
        const uint16_t *vr = vp + j * ldv;
        __m512bh vv[PV_MAXV];
        __m256bh vh = (__m256bh)_mm256_setzero_si256();
#pragma GCC unroll 3
        for (int x = 0; x < NV; x++) vv[x] = (__m512bh)_mm512_loadu_si512(vr + x * 32);
        if (HALF) vh = (__m256bh)_mm256_loadu_si256((const __m256i *)(vr + NV * 32));
#pragma GCC unroll 8
        for (int r = 0; r < PV_ROWS; r++) {
            int32_t pair;
            memcpy(&pair, p + r * kb + 2 * j, 4);
            __m512bh pv = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 3
            for (int x = 0; x < NV; x++) acc[r][x] = _mm512_dpbf16_ps(acc[r][x], pv, vv[x]);
            if (HALF) acch[r] = _mm256_dpbf16_ps(acch[r], (__m256bh)_mm512_castsi512_si256((__m512i)pv), vh);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < PV_ROWS; r++) {
#pragma GCC unroll 3
        for (int x = 0; x < NV; x++) _mm512_storeu_ps(o + r * ldo + x * 16, acc[r][x]);
        if (HALF) _mm256_storeu_ps(o + r * ldo + NV * 16, acch[r]);
    }
}

static void pv_tile(float *o, int64_t ldo, const float *corr, const uint16_t *p, int64_t kb, const uint16_t *vp,
                    int64_t ldv, int64_t np, int nv, int half) {
    switch (nv * 2 + half) {
    case 1: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 0, 1); break;
    case 2: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 1, 0); break;
    case 3: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 1, 1); break;
    case 4: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 2, 0); break;
    case 5: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 2, 1); break;
    case 6: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 3, 0); break;
    case 7: pv_tile_n(o, ldo, corr, p, kb, vp, ldv, np, 3, 1); break;
    default: break;
    }
}

/* O = corr O + P V for all QB rows: the row's D columns in passes of at
 * most PV_MAXV full vectors (split evenly), the 8-column tail with the last. */
static void pv_block(const ab_job *j, ab_tile *t, const uint16_t *vblk, int64_t np) {
    int64_t nfull = j->Dv / 16, passes = SDC_MAX(1, sdc_ceil_div(nfull, PV_MAXV));
    int half = (int)(j->Dv % 16 != 0);
    int64_t x0 = 0;
    for (int64_t ps = 0; ps < passes; ps++) {
        int64_t nvp = (nfull - x0) / (passes - ps); /* even split */
        int hp = ps == passes - 1 ? half : 0;
        for (int64_t r = 0; r < QB; r += PV_ROWS)
            pv_tile(t->o + r * j->Dv + x0 * 16, j->Dv, t->corr + r, t->p + r * j->kb, j->kb, vblk + x0 * 32,
                    j->Dv * 2, np, (int)nvp, hp);
        x0 += nvp;
    }
}

/* ---- one task ------------------------------------------------------------------------ */

static size_t q_bytes(const ab_job *j) { return sdc_round64((size_t)(QB * j->Dp) * 2); }
static size_t s_bytes(const ab_job *j) { return sdc_round64((size_t)(QK_ROWS * j->kb) * 4); }
static size_t p_bytes(const ab_job *j) { return sdc_round64((size_t)(QB * j->kb) * 2); }
static size_t o_bytes(const ab_job *j) { return sdc_round64((size_t)(QB * j->Dv) * 4); }

static size_t tile_bytes(const ab_job *j) {
    return q_bytes(j) + s_bytes(j) + p_bytes(j) + o_bytes(j) + sizeof(__m512) * (16 + QB) +
           2 * sizeof(float) * (QB + 16);
}

static void tile_map(const ab_job *j, char *base, ab_tile *t) {
    t->q = (uint16_t *)base;
    base += q_bytes(j);
    t->s = (float *)base;
    base += s_bytes(j);
    t->p = (uint16_t *)base;
    base += p_bytes(j);
    t->o = (float *)base;
    base += o_bytes(j);
    t->rowmax = (__m512 *)base;
    t->l = t->rowmax + 16;
    t->m = (float *)(t->l + QB);
    t->corr = t->m + QB + 16;
}

/* Q rows [i0, i0 + QB) of (b, h) as bf16 (negated when scale < 0), zero
 * past Tq and D; O and sums zero; maxima -inf (rows past Tq start at 0, as
 * if a key had been seen, so they never compute -inf - -inf). */
static void task_start(const ab_job *j, int64_t b, int64_t h, int64_t i0, ab_tile *t) {
    const sdc_attention_args *a = j->a;
    for (int64_t r = 0; r < QB; r++) {
        uint16_t *d = t->q + r * j->Dp;
        int valid = i0 + r < a->Tq;
        const float *q = a->q + (b * a->Tq + i0 + r) * a->ldq + h * a->D;
        for (int64_t c = 0; c < j->Dp; c += 32) {
            __m512i x = valid ? bf16x32(q + c, a->D - c) : _mm512_setzero_si512();
            if (j->neg) x = _mm512_xor_si512(x, _mm512_set1_epi16((short)0x8000));
            _mm512_mask_storeu_epi16(d + c, (__mmask32)(j->Dp - c >= 32 ? 0xFFFFFFFFu : (1u << (j->Dp - c)) - 1), x);
        }
        t->m[r] = valid ? -INFINITY : 0.0f;
        t->l[r] = _mm512_setzero_ps();
    }
    memset(t->o, 0, (size_t)(QB * j->Dv) * sizeof(float));
}

/* Scores and weights of the block at key j0 (kv valid keys) for all rows. */
static void weights_block(const ab_job *j, const uint16_t *ktb, int64_t i0, int64_t j0, int64_t kv, ab_tile *t) {
    const sdc_attention_args *a = j->a;
    for (int64_t r = 0; r < QB; r += QK_ROWS) {
        for (int x = 0; x < QK_ROWS; x++) t->rowmax[x] = _mm512_set1_ps(-INFINITY);
        for (int64_t c = 0; c < kv; c += 32) {
            int64_t lim[QK_ROWS];
            /* masked when the tile reaches past Tk, or past the first row's query (causal) */
            bool mask = c + 32 > kv || (a->causal && j0 + c + 31 > i0 + r);
            for (int64_t x = 0; x < QK_ROWS; x++) lim[x] = (a->causal ? SDC_MIN(kv, i0 + r + x + 1 - j0) : kv) - c;
            qk_tile(t->q + r * j->Dp, j->Dp, ktb + c * 2, j->kb, mask ? lim : NULL, t->s + c, t->rowmax);
        }
        softmax_group(j, t, r, kv);
    }
}

static void att_task(void *v, int task) {
    ab_job *j = v;
    const sdc_attention_args *a = j->a;
    int64_t bh = task / j->nqb, b = bh / a->heads, h = bh % a->heads, i0 = (task % j->nqb) * QB;
    int slot = sdc_slices_claim(&j->priv);
    ab_tile t;
    tile_map(j, sdc_slice_ptr(&j->priv, slot), &t);
    task_start(j, b, h, i0, &t);
    int64_t kend = a->causal ? SDC_MIN(a->Tk, i0 + QB) : a->Tk; /* keys any row of the block sees */
    const uint16_t *kt = (const uint16_t *)(j->kt + bh * j->kt_head_bytes);
    const uint16_t *vp = (const uint16_t *)(j->vp + bh * j->vp_head_bytes);
    for (int64_t j0 = 0; j0 < kend; j0 += j->kb) {
        int64_t kv = SDC_MIN(j->kb, a->Tk - j0), blk = j0 / j->kb;
        weights_block(j, kt + blk * j->Dp * j->kb, i0, j0, kv, &t);
        pv_block(j, &t, vp + blk * j->kb * j->Dv, sdc_ceil_div(kv, 2));
    }
    int64_t rows = SDC_MIN((int64_t)QB, a->Tq - i0);
    for (int64_t r = 0; r < rows; r++) {
        float *out = a->out + (b * a->Tq + i0 + r) * a->ldo + h * a->D;
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(t.l[r]));
        for (int64_t c = 0; c < a->D; c += 16) {
            __mmask16 m = lanes(a->D - c);
            _mm512_mask_storeu_ps(out + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, t.o + r * j->Dv + c), inv));
        }
    }
    sdc_slices_release(&j->priv, slot);
}

void sdc_avx512_attention_bf16(sdc_pool *pool, const sdc_attention_args *a) {
    if (a->B <= 0 || a->heads <= 0 || a->Tq <= 0 || a->Tk <= 0 || a->D <= 0) return;
    if (a->D > 4096 || !(a->scale != 0 && isfinite(a->scale))) {
        sdc_ref_attention(pool, a);
        return;
    }
    ab_job j = {.a = a};
    j.Dp = (a->D + 1) / 2 * 2;
    j.Dv = (a->D + 7) / 8 * 8;
    j.kb = a->Tk <= KB_MAX ? sdc_ceil_div(a->Tk, 32) * 32 : KB;
    j.nkb = sdc_ceil_div(a->Tk, j.kb);
    j.nqb = sdc_ceil_div(a->Tq, QB);
    j.c = fabsf(a->scale) * 1.44269504088896341f;
    j.neg = a->scale < 0;
    size_t kt_head = 0, vp_head = 0, ops = 0, all = 0, tile = tile_bytes(&j), priv = 0, total = 0;
    int nt = SDC_MAX(1, SDC_MIN(sdc_pool_threads(pool), 64));
    bool ok = sdc_mul_ok((size_t)(j.nkb * j.Dp * j.kb), 2, &kt_head) &&
              sdc_mul_ok((size_t)(j.nkb * j.kb * j.Dv), 2, &vp_head) &&
              sdc_add_ok(sdc_round64(kt_head), sdc_round64(vp_head), &ops) &&
              sdc_mul_ok(ops, (size_t)(a->B * a->heads), &all) && sdc_mul_ok(tile, (size_t)nt, &priv) &&
              sdc_add_ok(all, priv, &total);
    char *base = ok ? sdc_x86_scratch(total) : NULL;
    if (!base) {
        sdc_ref_attention(pool, a);
        return;
    }
    j.kt_head_bytes = (int64_t)sdc_round64(kt_head);
    j.vp_head_bytes = (int64_t)sdc_round64(vp_head);
    j.kt = base;
    j.vp = base + j.kt_head_bytes * a->B * a->heads;
    j.priv.base = base + all;
    j.priv.bytes = tile;
    j.priv.n = nt;
    sdc_pool_run(pool, (int)(a->B * a->heads), pack_task, &j);
    sdc_pool_run(pool, (int)(a->B * a->heads * j.nqb), att_task, &j);
}
