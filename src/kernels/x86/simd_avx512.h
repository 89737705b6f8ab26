/* Vector primitives over AVX-512 zmm registers (16 floats), the same API as
 * simd_avx2.h so that vmath.h, eltwise_impl.h and attention_impl.h are
 * written once for both. Include only from *_avx512.c files. */
#ifndef SDC_KERNELS_X86_SIMD_AVX512_H
#define SDC_KERNELS_X86_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define VL 16
#define SIMD_NAME(x) sdc_avx512_##x
typedef __m512 vf;
typedef __mmask16 vmask;

static inline __mmask16 vtail(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline vf vload_n(const float *p, int64_t n) { return _mm512_maskz_loadu_ps(vtail(n), p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void vstore_n(float *p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, vtail(n), v); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  /* a*b + c */
static inline vf vfnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a*b */
static inline vf vabs(vf a) { return _mm512_abs_ps(a); }
static inline float vhsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float vhmax(vf a) { return _mm512_reduce_max_ps(a); }
/* lanes >= n zeroed / replaced by `other` */
static inline vf vkeep_n(vf v, int64_t n) { return _mm512_maskz_mov_ps(vtail(n), v); }
static inline vf vselect_n(vf v, vf other, int64_t n) { return _mm512_mask_blend_ps(vtail(n), other, v); }
/* masks from comparisons, and selection */
static inline vmask vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vmask vgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vf vselect(vmask m, vf if_true, vf if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
/* round to the nearest integer (ties to even), as a float */
static inline vf vround(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* a * 2^n for integer-valued n with 2^n a normal float */
static inline vf vscale2(vf a, vf n) { return _mm512_scalef_ps(a, n); }
/* half-width (ymm) vectors, for tails of at most VL / 2 lanes */
#define SIMD_HALF 1
typedef __m256 vhf;
static inline vhf vh_zero(void) { return _mm256_setzero_ps(); }
static inline vhf vh_lo(vf v) { return _mm512_castps512_ps256(v); }
static inline vhf vh_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vhf vh_load_n(const float *p, int64_t n) { return _mm256_maskz_loadu_ps((__mmask8)vtail(n), p); }
static inline void vh_store(float *p, vhf v) { _mm256_storeu_ps(p, v); }
static inline vhf vh_mul(vhf a, vhf b) { return _mm256_mul_ps(a, b); }
static inline vhf vh_fmadd(vhf a, vhf b, vhf c) { return _mm256_fmadd_ps(a, b, c); }
/* values rounded to bf16 (ties to even), kept as f32; NaN stays a quiet NaN */
static inline vf vround_bf16(vf v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u)));
}

#endif
