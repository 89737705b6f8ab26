/* Scalar reference kernels, exported individually so optimized tables can
 * fall back to them for ops they do not specialize. */
#ifndef SDC_KERNELS_REF_H
#define SDC_KERNELS_REF_H

#include "kernels/kernels.h"

static inline int64_t sdc_ceil_div_i64(int64_t a, int64_t b) { return (a + b - 1) / b; }

void sdc_ref_gemm(sdc_pool *pool, const sdc_gemm_args *a);
void sdc_ref_conv2d(sdc_pool *pool, const sdc_conv2d_args *a);
void sdc_ref_attention(sdc_pool *pool, const sdc_attention_args *a);
void sdc_ref_group_norm(sdc_pool *pool, const sdc_group_norm_args *a);
void sdc_ref_layer_norm(sdc_pool *pool, int64_t M, int64_t C, const float *x, const float *gamma,
                        const float *beta, float eps, float *y);
void sdc_ref_softmax(sdc_pool *pool, int64_t M, int64_t N, float *x);
void sdc_ref_activation(sdc_pool *pool, sdc_act act, int64_t n, const float *x, float *y);
void sdc_ref_geglu(sdc_pool *pool, int64_t M, int64_t F, const float *x, float *y);
void sdc_ref_add(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y);
void sdc_ref_mul(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t period, float *y);
void sdc_ref_upsample_nearest(sdc_pool *pool, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH,
                              int64_t OW, const float *x, float *y);
void sdc_ref_concat_rows(sdc_pool *pool, int64_t P, int64_t Ca, int64_t Cb, const float *a, const float *b,
                         float *y);
/* One activation value in double precision, rounded to f32. */
float sdc_ref_act(sdc_act act, float x);

#endif
