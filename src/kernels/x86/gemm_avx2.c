/* AVX2 + FMA + F16C parts of the GEMM engine (gemm.h): weight packing with
 * 8x8 in-register transposes, activation row packing, and the 6x16
 * micro-kernel, for CPUs without AVX-512.
 *
 * Why 6x16: 16 ymm registers hold 12 accumulators (6 rows x 2 vectors of 8
 * columns), 2 vectors of B and one broadcast A value. Per k step: 12 FMAs
 * for 2 loads and 6 broadcasts, 12 independent accumulators to cover the
 * FMA latency at two FMAs per cycle.
 *
 * bf16 compute has no native instruction here: operands are rounded to
 * bf16 while packing (f32 storage) and multiplied with f32 FMAs, which is
 * exactly what vdpbf16ps computes (products of bf16 values are exact in f32),
 * up to the order of the f32 additions. */
#include <immintrin.h>
#include <string.h>

#include "kernels/x86/gemm.h"
#include "kernels/x86/x86_kernels.h"

#define MR 6
#define NR 16

/* ---- 8x8 transpose of floats ------------------------------------------------ */

static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + e], 128-bit lane L: rows 4i..4i+3 at column 4L + e */
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int e = 0; e < 4; e++) {
        r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
        r[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
    }
}

/* ---- conversions --------------------------------------------------------------- */

static inline __m256i tail_mask(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)), idx);
}

/* f32 values rounded to the nearest bf16 (ties to even), kept as f32; NaN
 * stays a quiet NaN, as sdc_f32_to_bf16 does. */
static inline __m256 round_bf16(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    __m256i q = _mm256_or_si256(u, _mm256_set1_epi32(0x00400000));
    r = _mm256_blendv_epi8(r, q, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

/* n (<= 8) elements of type t at p, widened exactly to f32, zero past n. */
static inline __m256 load_f32(const void *p, sdc_dtype t, int64_t n) {
    if (t == SDC_DTYPE_F32) return _mm256_maskload_ps(p, tail_mask(n));
    __m128i h;
    if (n >= 8) {
        h = _mm_loadu_si128(p);
    } else {
        uint16_t tmp[8] = {0};
        memcpy(tmp, p, (size_t)n * 2);
        h = _mm_loadu_si128((const __m128i *)tmp);
    }
    if (t == SDC_DTYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* ---- packing --------------------------------------------------------------------- */

static void pack_b(const void *B, sdc_dtype t, int64_t ldb, int64_t nvalid, int64_t K, int64_t Kp, sdc_pack_fmt fmt,
                   void *dst) {
    (void)Kp; /* f32 formats only: Kp == K */
    int64_t esz = t == SDC_DTYPE_F32 ? 4 : 2;
    const char *base = B;
    float *d = dst;
    for (int64_t k = 0; k < K; k += 8) {
        int64_t nk = K - k < 8 ? K - k : 8;
        for (int g = 0; g < NR / 8; g++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                int64_t n = g * 8 + i;
                r[i] = n < nvalid ? load_f32(base + (n * ldb + k) * esz, t, nk) : _mm256_setzero_ps();
                if (fmt == SDC_PACK_F32_BF16R) r[i] = round_bf16(r[i]);
            }
            transpose8(r);
            for (int64_t kk = 0; kk < nk; kk++) _mm256_store_ps(d + (k + kk) * NR + g * 8, r[kk]);
        }
    }
}

static void pack_a_row(const float *src, int64_t n, sdc_pack_fmt fmt, void *dst) {
    if (fmt == SDC_PACK_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    float *d = dst;
    for (int64_t i = 0; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(d + i, m, round_bf16(_mm256_maskload_ps(src + i, m)));
    }
}

/* ---- micro-kernel -------------------------------------------------------------------- */

static void ukr_f32(const sdc_ukr_args *u) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const float *a = u->a, *b = u->b;
    int64_t rs = u->rs_a;
    for (int64_t k = 0; k < u->kc; k++) {
        __m256 b0 = _mm256_load_ps(b + k * NR), b1 = _mm256_load_ps(b + k * NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * rs + k);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    __m256i m0 = tail_mask(u->nr), m1 = tail_mask(u->nr - 8 > 0 ? u->nr - 8 : 0);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (u->first && u->bias) {
        bias0 = _mm256_maskload_ps(u->bias, m0);
        bias1 = _mm256_maskload_ps(u->bias + 8, m1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        if (r >= u->mr) break;
        float *c = u->c + r * u->ldc;
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (u->first) {
            v0 = _mm256_add_ps(v0, bias0);
            v1 = _mm256_add_ps(v1, bias1);
            if (u->res) {
                const float *q = u->res + r * u->ldr;
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(q, m0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(q + 8, m1));
            }
        } else {
            v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c, m0));
            v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c + 8, m1));
        }
        _mm256_maskstore_ps(c, m0, v0);
        _mm256_maskstore_ps(c + 8, m1, v1);
    }
}

/* ---- few-row GEMM ------------------------------------------------------------------ */

/* Columns in groups of 2 (8 accumulators for 4 rows), K in vectors of 8:
 * each weight row is read once, converted in registers. */
static void gemv(const sdc_gemm_args *a, int64_t n0, int64_t n1, int round) {
    int64_t M = a->M, K = a->K, esz = a->b_type == SDC_DTYPE_F32 ? 4 : 2;
    const char *B = a->B;
    for (int64_t n = n0; n < n1; n += 2) {
        int nc = (int)(n1 - n < 2 ? n1 - n : 2);
        __m256 acc[SDC_GEMV_MAX_ROWS][2];
        for (int m = 0; m < SDC_GEMV_MAX_ROWS; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
        for (int64_t k = 0; k < K; k += 8) {
            int64_t nk = K - k < 8 ? K - k : 8;
            __m256 bv[2];
            for (int c = 0; c < 2; c++) {
                bv[c] = c < nc ? load_f32(B + ((n + c) * a->ldb + k) * esz, a->b_type, nk) : _mm256_setzero_ps();
                if (round) bv[c] = round_bf16(bv[c]);
            }
            for (int m = 0; m < SDC_GEMV_MAX_ROWS; m++) {
                if (m >= M) break;
                __m256 av = _mm256_maskload_ps(a->A + m * a->lda + k, tail_mask(nk));
                if (round) av = round_bf16(av);
                for (int c = 0; c < 2; c++) acc[m][c] = _mm256_fmadd_ps(av, bv[c], acc[m][c]);
            }
        }
        for (int m = 0; m < M; m++)
            for (int c = 0; c < nc; c++) {
                float buf[8], v = 0;
                _mm256_storeu_ps(buf, acc[m][c]);
                for (int i = 0; i < 8; i++) v += buf[i];
                if (a->bias) v += a->bias[n + c];
                if (a->residual) v += a->residual[m * a->ldr + n + c];
                a->C[m * a->ldc + n + c] = v;
            }
    }
}

/* kc 256: B micro-panel 256 x 16 f32 = 16 KiB (half of L1); row tiles of
 * 16 micro-panels = 96 rows, an A block of 96 KiB in L2. */
static const sdc_gemm_isa k_isa = {
    .mr = MR, .nr = NR, .kc_f32 = 256, .kc_bf16 = 256, .mc_panels = 16, .bf16_native = 0,
    .pack_b = pack_b, .pack_a_row = pack_a_row, .ukr_f32 = ukr_f32, .ukr_bf16 = NULL, .gemv = gemv,
};

const sdc_gemm_isa *sdc_avx2_gemm_isa(void) { return &k_isa; }

void sdc_avx2_gemm(sdc_pool *pool, const sdc_gemm_args *a) { sdc_x86_gemm(&k_isa, pool, a); }

void sdc_avx2_conv2d(sdc_pool *pool, const sdc_conv2d_args *a) { sdc_x86_conv2d(&k_isa, pool, a); }
