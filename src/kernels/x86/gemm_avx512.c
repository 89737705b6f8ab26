/* AVX-512 parts of the GEMM engine (gemm.h): weight packing with in-register
 * 16x16 transposes, activation row packing, and the 14x32 micro-kernels
 * (f32 FMA and AVX512_BF16 vdpbf16ps).
 *
 * Why 14x32: a tile of 14 rows x 32 columns holds 28 zmm accumulators, plus
 * 2 zmm of B and the broadcast A operand = 31 of 32 registers. Per k step it
 * issues 28 FMAs for 2 vector loads and 14 embedded broadcasts, so loads never
 * limit the FMA rate; 28 independent accumulators hide the FMA latency on
 * every current core (Zen 4 runs a zmm FMA as two 256-bit halves; the loop is
 * FMA-bound either way). NR = 32 divides the U-Net's channel counts
 * (320/640/1280); MR = 14 leaves at most 13 padded rows per column of tiles.
 *
 * The bf16 micro-kernel has the same shape with k stepping by pairs:
 * vdpbf16ps multiplies a broadcast (A[m][k], A[m][k+1]) pair with 16
 * column pairs of the B panel, accumulating in f32.
 *
 * Built with -mavx512f/bw/vl/dq/bf16; only called after the dispatcher has
 * checked the CPU (the bf16 instructions only when AVX512_BF16 is there). */
#include <immintrin.h>
#include <string.h>

#include "base/cpu.h"
#include "kernels/x86/gemm.h"
#include "kernels/x86/x86_kernels.h"

#define MR 14
#define NR 32

/* ---- 16x16 transpose of 32-bit elements ----------------------------------- */

static inline __m512 unpacklo_pd_ps(__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}
static inline __m512 unpackhi_pd_ps(__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}

/* r[i] = row i on entry, column i on return. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + e], 128-bit lane L: rows 4i..4i+3 at column 4L + e */
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = unpacklo_pd_ps(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = unpackhi_pd_ps(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = unpacklo_pd_ps(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = unpackhi_pd_ps(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int e = 0; e < 4; e++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x44), v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xEE);
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x44);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xEE);
        r[e] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[4 + e] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[8 + e] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + e] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}

/* ---- conversions ------------------------------------------------------------ */

static inline __mmask16 mask16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }
static inline __mmask32 mask32(int64_t n) { return n >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << n) - 1); }

/* f32 values rounded to the nearest bf16 (ties to even), kept as f32; NaN
 * stays a quiet NaN, as sdc_f32_to_bf16 does. */
static inline __m512 round_bf16(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u)));
}

/* n (<= 16) elements of type t at p, widened exactly to f32, zero past n. */
static inline __m512 load_f32(const void *p, sdc_dtype t, int64_t n) {
    __mmask16 m = mask16(n);
    if (t == SDC_DTYPE_F32) return _mm512_maskz_loadu_ps(m, p);
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (t == SDC_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* n (<= 32) elements of type t at p as 32 bf16 (RNE), zero past n. */
static inline __m512i load_bf16x32(const void *p, sdc_dtype t, int64_t n) {
    if (t == SDC_DTYPE_BF16) return _mm512_maskz_loadu_epi16(mask32(n), p);
    __m512 lo, hi;
    if (t == SDC_DTYPE_F32) {
        lo = _mm512_maskz_loadu_ps(mask16(n), p);
        hi = _mm512_maskz_loadu_ps(mask16(n - 16 > 0 ? n - 16 : 0), (const float *)p + 16);
    } else {
        __m512i h = _mm512_maskz_loadu_epi16(mask32(n), p);
        lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
        hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
    }
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* ---- packing ------------------------------------------------------------------- */

static void pack_b_f32(const char *B, sdc_dtype t, int64_t ldb_bytes, int64_t nvalid, int64_t K, int rnd,
                       float *dst) {
    for (int64_t k = 0; k < K; k += 16) {
        int64_t nk = K - k < 16 ? K - k : 16;
        for (int g = 0; g < NR / 16; g++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int64_t n = g * 16 + i;
                r[i] = n < nvalid ? load_f32(B + n * ldb_bytes + k * (t == SDC_DTYPE_F32 ? 4 : 2), t, nk)
                                  : _mm512_setzero_ps();
                if (rnd) r[i] = round_bf16(r[i]);
            }
            transpose16(r);
            for (int64_t kk = 0; kk < nk; kk++) _mm512_storeu_ps(dst + (k + kk) * NR + g * 16, r[kk]);
        }
    }
}

static void pack_b_bf16(const char *B, sdc_dtype t, int64_t ldb_bytes, int64_t nvalid, int64_t K, int64_t Kp,
                        uint32_t *dst) {
    int64_t esz = t == SDC_DTYPE_F32 ? 4 : 2;
    for (int64_t k = 0; k < Kp; k += 32) {
        int64_t npairs = (Kp - k) / 2 < 16 ? (Kp - k) / 2 : 16;
        for (int g = 0; g < NR / 16; g++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int64_t n = g * 16 + i;
                r[i] = n < nvalid ? _mm512_castsi512_ps(load_bf16x32(B + n * ldb_bytes + k * esz, t, K - k))
                                  : _mm512_setzero_ps();
            }
            transpose16(r); /* 32-bit units: each unit is a (k, k+1) pair */
            for (int64_t p = 0; p < npairs; p++) _mm512_storeu_ps(dst + (k / 2 + p) * NR + g * 16, r[p]);
        }
    }
}

static void pack_b(const void *B, sdc_dtype t, int64_t ldb, int64_t nvalid, int64_t K, int64_t Kp, sdc_pack_fmt fmt,
                   void *dst) {
    int64_t ldb_bytes = ldb * (t == SDC_DTYPE_F32 ? 4 : 2);
    if (fmt == SDC_PACK_BF16)
        pack_b_bf16(B, t, ldb_bytes, nvalid, K, Kp, dst);
    else
        pack_b_f32(B, t, ldb_bytes, nvalid, K, fmt == SDC_PACK_F32_BF16R, dst);
}

static void pack_a_row(const float *src, int64_t n, sdc_pack_fmt fmt, void *dst) {
    if (fmt == SDC_PACK_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else if (fmt == SDC_PACK_F32_BF16R) {
        float *d = dst;
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 m = mask16(n - i);
            _mm512_mask_storeu_ps(d + i, m, round_bf16(_mm512_maskz_loadu_ps(m, src + i)));
        }
    } else {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i += 32)
            _mm512_mask_storeu_epi16(d + i, mask32(n - i), load_bf16x32(src + i, SDC_DTYPE_F32, n - i));
    }
}

/* ---- micro-kernels -------------------------------------------------------------- */

/* Adds bias / residual (first k block) or the C already there, and stores
 * rows < mr, columns < nr. acc[r][h]: row r, columns 16h..16h+15. */
static inline void store_tile(const sdc_ukr_args *u, __m512 acc[MR][2]) {
    __mmask16 m0 = mask16(u->nr), m1 = mask16(u->nr - 16 > 0 ? u->nr - 16 : 0);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (u->first && u->bias) {
        bias0 = _mm512_maskz_loadu_ps(m0, u->bias);
        bias1 = _mm512_maskz_loadu_ps(m1, u->bias + 16);
    }
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) {
        if (r >= u->mr) break;
        float *c = u->c + r * u->ldc;
        __m512 v0 = acc[r][0], v1 = acc[r][1];
        if (u->first) {
            v0 = _mm512_add_ps(v0, bias0);
            v1 = _mm512_add_ps(v1, bias1);
            if (u->res) {
                const float *q = u->res + r * u->ldr;
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, q));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, q + 16));
            }
        } else {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
        }
        _mm512_mask_storeu_ps(c, m0, v0);
        _mm512_mask_storeu_ps(c + 16, m1, v1);
    }
}

/* Prefetches as asm statements: GCC 12 deletes a loop of _mm_prefetch
 * calls as having no effect. prefetchw (write intent) is on every CPU with
 * AVX-512 (a no-op hint elsewhere). Never faults. */
static inline void prefetch_w(const void *p) { __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p)); }
static inline void prefetch_r(const void *p) { __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p)); }

/* The tile's C rows (and, in the first k block, residual rows) are only
 * touched after the k loop, thousands of cycles later: request them now
 * (C with intent to write), so the stores do not wait on L3 / DRAM
 * (5-10% on K = 320 GEMMs). */
static inline void prefetch_tile(const sdc_ukr_args *u) {
    bool res = u->first && u->res && u->res != u->c;
    for (int r = 0; r < u->mr; r++) {
        const float *c = u->c + r * u->ldc;
        prefetch_w(c);
        prefetch_w(c + 16);
        if (res) {
            prefetch_r(u->res + r * u->ldr);
            prefetch_r(u->res + r * u->ldr + 16);
        }
    }
}

static void ukr_f32(const sdc_ukr_args *u) {
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    prefetch_tile(u);
    const float *a = u->a, *b = u->b;
    int64_t rs = u->rs_a;
    for (int64_t k = 0; k < u->kc; k++) {
        __m512 b0 = _mm512_load_ps(b + k * NR), b1 = _mm512_load_ps(b + k * NR + 16);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r * rs + k]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    store_tile(u, acc);
}

static void ukr_bf16(const sdc_ukr_args *u) {
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    prefetch_tile(u);
    const uint16_t *a = u->a, *b = u->b;
    int64_t rs = u->rs_a;
    /* one prefetch per k pair walks the share of the next panel (without
     * one, the current panel's line: a no-op) */
    const char *pf = u->pf ? u->pf : (const char *)b;
    int64_t pf_step = u->pf ? u->pf_len / (u->kc / 2) : 0;
    for (int64_t k = 0; k < u->kc; k += 2) {
        _mm_prefetch(pf + (k / 2) * pf_step, _MM_HINT_T0);
        __m512bh b0 = (__m512bh)_mm512_load_si512(b + k * NR), b1 = (__m512bh)_mm512_load_si512(b + k * NR + 32);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + r * rs + k, 4);
            __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    store_tile(u, acc);
}

/* ---- few-row GEMM ------------------------------------------------------------------ */

/* Columns in groups of 4 (16 accumulators for 4 rows), K in vectors of 16:
 * each weight row is read once, converted in registers. */
static void gemv(const sdc_gemm_args *a, int64_t n0, int64_t n1, int round) {
    int64_t M = a->M, K = a->K, esz = a->b_type == SDC_DTYPE_F32 ? 4 : 2;
    const char *B = a->B;
    for (int64_t n = n0; n < n1; n += 4) {
        int nc = (int)(n1 - n < 4 ? n1 - n : 4);
        __m512 acc[SDC_GEMV_MAX_ROWS][4];
        for (int m = 0; m < SDC_GEMV_MAX_ROWS; m++)
            for (int c = 0; c < 4; c++) acc[m][c] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k += 16) {
            int64_t nk = K - k < 16 ? K - k : 16;
            __m512 bv[4];
            for (int c = 0; c < 4; c++) {
                bv[c] = c < nc ? load_f32(B + ((n + c) * a->ldb + k) * esz, a->b_type, nk) : _mm512_setzero_ps();
                if (round) bv[c] = round_bf16(bv[c]);
            }
            for (int m = 0; m < SDC_GEMV_MAX_ROWS; m++) {
                if (m >= M) break;
                __m512 av = _mm512_maskz_loadu_ps(mask16(nk), a->A + m * a->lda + k);
                if (round) av = round_bf16(av);
                for (int c = 0; c < 4; c++) acc[m][c] = _mm512_fmadd_ps(av, bv[c], acc[m][c]);
            }
        }
        for (int m = 0; m < M; m++)
            for (int c = 0; c < nc; c++) {
                float v = _mm512_reduce_add_ps(acc[m][c]);
                if (a->bias) v += a->bias[n + c];
                if (a->residual) v += a->residual[m * a->ldr + n + c];
                a->C[m * a->ldc + n + c] = v;
            }
    }
}

/* ---- tables ---------------------------------------------------------------------- */

/* kc: 128 k of f32 B micro-panel = 16 KiB, half of the 32 KiB L1 (the A
 * rows and C tile need the rest); bf16 packs twice as many k in the same
 * bytes. mc_panels = 8: an A block of 112 x 128 f32 = 56 KiB in L2. */
static const sdc_gemm_isa k_isa = {
    .mr = MR, .nr = NR, .kc_f32 = 256, .kc_bf16 = 512, .mc_panels = 8, .bf16_native = 0,
    .pack_b = pack_b, .pack_a_row = pack_a_row, .ukr_f32 = ukr_f32, .ukr_bf16 = NULL, .gemv = gemv,
};
static const sdc_gemm_isa k_isa_bf16 = {
    .mr = MR, .nr = NR, .kc_f32 = 256, .kc_bf16 = 512, .mc_panels = 8, .bf16_native = 1,
    .pack_b = pack_b, .pack_a_row = pack_a_row, .ukr_f32 = ukr_f32, .ukr_bf16 = ukr_bf16, .gemv = gemv,
    .winograd = sdc_avx512_conv_winograd,
};

const sdc_gemm_isa *sdc_avx512_gemm_isa(void) { return sdc_cpu_get()->avx512_bf16 ? &k_isa_bf16 : &k_isa; }

const sdc_gemm_isa *sdc_avx512_gemm_isa_emulated_bf16(void) { return &k_isa; }

void sdc_avx512_gemm(sdc_pool *pool, const sdc_gemm_args *a) { sdc_x86_gemm(sdc_avx512_gemm_isa(), pool, a); }

void sdc_avx512_conv2d(sdc_pool *pool, const sdc_conv2d_args *a) {
    sdc_x86_conv2d(sdc_avx512_gemm_isa(), pool, a);
}

size_t sdc_avx512_packed_size(int64_t N, int64_t K, sdc_dtype t, sdc_compute compute) {
    return sdc_x86_packed_size(sdc_avx512_gemm_isa(), N, K, t, compute);
}

sdc_packed_weights *sdc_avx512_pack_weights(sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t, const void *B,
                                            int64_t ldb, sdc_compute compute, void *dst) {
    return sdc_x86_pack_weights(sdc_avx512_gemm_isa(), pool, N, K, t, B, ldb, compute, dst);
}
