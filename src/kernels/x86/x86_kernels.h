/* The x86 kernel functions that dispatch.c assembles into the "avx512" and
 * "avx2" tables. Each is defined in a file built with that instruction set's
 * flags (*_avx512.c, *_avx2.c) and must only be called after the CPU has
 * been checked (sdc_kernels_by_name does). Semantics: kernels.h. */
#ifndef SDC_KERNELS_X86_KERNELS_H
#define SDC_KERNELS_X86_KERNELS_H

#include "kernels/kernels.h"
#include "kernels/x86/gemm.h"

#define SDC_X86_DECLARE(isa)                                                                                    \
    const sdc_gemm_isa *sdc_##isa##_gemm_isa(void);                                                             \
    void sdc_##isa##_gemm(sdc_pool *pool, const sdc_gemm_args *a);                                              \
    void sdc_##isa##_conv2d(sdc_pool *pool, const sdc_conv2d_args *a);                                          \
    void sdc_##isa##_attention(sdc_pool *pool, const sdc_attention_args *a);                                    \
    void sdc_##isa##_group_norm(sdc_pool *pool, const sdc_group_norm_args *a);                                  \
    void sdc_##isa##_layer_norm(sdc_pool *pool, int64_t M, int64_t C, const float *x, const float *gamma,       \
                                const float *beta, float eps, float *y);                                        \
    void sdc_##isa##_softmax(sdc_pool *pool, int64_t M, int64_t N, float *x);                                   \
    void sdc_##isa##_activation(sdc_pool *pool, sdc_act act, int64_t n, const float *x, float *y);              \
    void sdc_##isa##_geglu(sdc_pool *pool, int64_t M, int64_t F, const float *x, float *y);                     \
    void sdc_##isa##_add(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y);   \
    void sdc_##isa##_mul(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y);   \
    void sdc_##isa##_upsample_nearest(sdc_pool *pool, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH,   \
                                      int64_t OW, const float *x, float *y);                                    \
    void sdc_##isa##_concat_rows(sdc_pool *pool, int64_t P, int64_t Ca, int64_t Cb, const float *a,             \
                                 const float *b, float *y);

SDC_X86_DECLARE(avx512)
SDC_X86_DECLARE(avx2)

/* The AVX-512 GEMM parts as used on CPUs without AVX512_BF16 (bf16 compute
 * emulated with f32 FMAs on bf16-rounded operands), for tests. */
const sdc_gemm_isa *sdc_avx512_gemm_isa_emulated_bf16(void);
/* Weights packed ahead of time for the avx512 GEMM (kernels.h
 * packed_size / pack_weights; the caller sets the table field). */
size_t sdc_avx512_packed_size(int64_t N, int64_t K, sdc_dtype t, sdc_compute compute);
sdc_packed_weights *sdc_avx512_pack_weights(sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t, const void *B,
                                            int64_t ldb, sdc_compute compute, void *dst);
/* 3x3 stride-1 convolution by Winograd F(2x2, 3x3) in bf16 (the avx512
 * isa's winograd entry, see gemm.h), and whether it takes a shape (for
 * tests: its rounding differs from the direct convolution's). */
bool sdc_avx512_conv_winograd(const sdc_gemm_isa *isa, sdc_pool *pool, const sdc_conv2d_args *a, const void *panels,
                              int64_t panel_bytes);
bool sdc_avx512_winograd_fits(const sdc_conv2d_args *a);
/* Tests only: chunk budgets in bytes (transformed weights; V and M of a
 * tile chunk), 0 = defaults. Not thread-safe. */
void sdc_avx512_winograd_set_budgets(size_t u_bytes, size_t vm_bytes);
/* Attention with vdpbf16ps for Q.K^T and P.V (bf16 compute; needs
 * AVX512_BF16): attention_bf16_avx512.c. */
void sdc_avx512_attention_bf16(sdc_pool *pool, const sdc_attention_args *a);

#undef SDC_X86_DECLARE

#endif
