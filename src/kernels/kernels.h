/* Compute kernels: one table of function pointers per implementation.
 *
 * Every kernel has a scalar reference (kernels/ref/) that defines its
 * meaning, and may have optimized versions (kernels/x86/) chosen at run time
 * from the CPU's features. Kernels work on raw f32 buffers with explicit
 * shapes and leading dimensions; shape checking and allocation happen one
 * layer up, in tensor/ops.c. Kernels never allocate from the heap on the
 * hot path except per-thread scratch they own; they split work over the
 * given pool so that each output element is computed by exactly one task in
 * a fixed order (bitwise identical results for any thread count).
 *
 * Layout conventions (PyTorch dimension order, innermost last):
 *   activations  [M, K] row-major with a leading dimension (lda >= K)
 *   images       NHWC: [B, H, W, C]
 *   weights      [N, K] row-major ("out, in" as nn.Linear stores them);
 *                conv weights prepared to [Cout, kh, kw, Cin] at load. */
#ifndef SDC_KERNELS_KERNELS_H
#define SDC_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "tensor/dtype.h"

/* Arithmetic used for weight products. F32: weights are widened exactly to
 * f32. BF16: activations are rounded to bf16 and multiplied with bf16
 * weights (f16 weights rounded to bf16), accumulating in f32 — the fast path
 * on CPUs with AVX512_BF16. */
typedef enum sdc_compute { SDC_COMPUTE_F32 = 0, SDC_COMPUTE_BF16 = 1 } sdc_compute;

struct sdc_kernels;

/* A weight matrix B [N, K] packed ahead of time (at model load) by one
 * kernel table for one compute mode, so that its GEMM / convolution calls
 * stop repacking the weights on every call. Made by that table's
 * pack_weights in memory the caller owns (freed with the weights); the
 * layout after this header is private to the table. Calls hand it to
 * gemm / conv2d only when table and compute match. */
typedef struct sdc_packed_weights {
    const struct sdc_kernels *table;
    sdc_compute compute;
    int64_t N, K;
} sdc_packed_weights;

/* C[m, n] = sum_k A[m, k] * B[n, k] + bias[n] + residual[m, n]
 * bias and residual may be NULL; residual may alias C (ldr == ldc). */
typedef struct sdc_gemm_args {
    int64_t M, N, K;
    const float *A;
    int64_t lda;
    sdc_dtype b_type; /* f32, f16 or bf16 */
    const void *B;
    int64_t ldb;
    const float *bias;
    const float *residual;
    int64_t ldr;
    float *C;
    int64_t ldc;
    sdc_compute compute;
    /* NULL, or B packed by this table for this compute mode: then B may be
     * NULL (the kernel reads only the packed form) */
    const sdc_packed_weights *packed;
} sdc_gemm_args;

/* y = conv2d(x, w) + bias (+ residual), NHWC, zero padding.
 * OH = (H + pad_t + pad_b - kh) / stride + 1, likewise OW. */
typedef struct sdc_conv2d_args {
    int64_t B, H, W, Cin;
    int64_t Cout, kh, kw, stride;
    int64_t pad_t, pad_l, pad_b, pad_r;
    const float *x;   /* [B, H, W, Cin] */
    sdc_dtype w_type; /* f32, f16 or bf16 */
    const void *w;    /* [Cout, kh, kw, Cin] */
    const float *bias;     /* [Cout] or NULL */
    const float *residual; /* [B, OH, OW, Cout] or NULL; may alias y */
    float *y;              /* [B, OH, OW, Cout] */
    sdc_compute compute;
    /* NULL, or w as a [Cout, kh*kw*Cin] matrix packed by this table for
     * this compute mode: then w may be NULL */
    const sdc_packed_weights *packed;
} sdc_conv2d_args;

/* Scaled dot-product attention, per batch b and head h:
 *   out[b, i, h*D:(h+1)*D] = softmax_j(scale * q_i . k_j  [+ causal mask j > i]) v_j
 * Rows are tokens; q row i of batch b starts at q + (b*Tq + i)*ldq + h*D
 * (likewise k, v with Tk and ldk/ldv; out with Tq and ldo), so projections
 * laid out [B, T, heads*D] (or fused qkv) are used in place. Memory use is
 * O(tokens): scores are never materialized for all keys at once. */
typedef struct sdc_attention_args {
    int64_t B, heads, Tq, Tk, D;
    const float *q, *k, *v;
    int64_t ldq, ldk, ldv;
    float *out;
    int64_t ldo;
    float scale;
    int causal;
    sdc_compute compute;
} sdc_attention_args;

/* Group norm over x [B, P, C] (P = H*W pixels, channels innermost):
 * groups of C/G consecutive channels; statistics in f64-free f32 with a
 * two-pass mean/variance; y = (x - mean) / sqrt(var + eps) * gamma + beta,
 * then SiLU when silu != 0. y may alias x. */
typedef struct sdc_group_norm_args {
    int64_t B, P, C, G;
    const float *x;
    const float *gamma, *beta; /* [C] */
    float eps;
    int silu;
    float *y;
} sdc_group_norm_args;

typedef enum sdc_act {
    SDC_ACT_SILU,
    SDC_ACT_GELU,      /* erf form */
    SDC_ACT_GELU_TANH, /* tanh approximation */
    SDC_ACT_QUICK_GELU /* x * sigmoid(1.702 x) */
} sdc_act;

typedef struct sdc_kernels {
    const char *name; /* "ref", "avx2", "avx512", "avx512-bf16" */
    void (*gemm)(sdc_pool *pool, const sdc_gemm_args *a);
    void (*conv2d)(sdc_pool *pool, const sdc_conv2d_args *a);
    void (*attention)(sdc_pool *pool, const sdc_attention_args *a);
    void (*group_norm)(sdc_pool *pool, const sdc_group_norm_args *a);
    /* y[m, :] = layer_norm(x[m, :]) * gamma + beta, rows of C; y may alias x */
    void (*layer_norm)(sdc_pool *pool, int64_t M, int64_t C, const float *x, const float *gamma,
                       const float *beta, float eps, float *y);
    /* in-place softmax of each row of x [M, N] */
    void (*softmax)(sdc_pool *pool, int64_t M, int64_t N, float *x);
    /* y[i] = act(x[i]); y may alias x */
    void (*activation)(sdc_pool *pool, sdc_act act, int64_t n, const float *x, float *y);
    /* GEGLU: y[m, f] = x[m, f] * gelu(x[m, F + f]) for x [M, 2F], y [M, F] */
    void (*geglu)(sdc_pool *pool, int64_t M, int64_t F, const float *x, float *y);
    /* y = a + b, y = a * b (b broadcast: b_period elements repeated; equal
     * to n for same-shape operands, C for a per-channel vector). y may alias a */
    void (*add)(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t b_period, float *y);
    void (*mul)(sdc_pool *pool, int64_t n, const float *a, const float *b, int64_t b_period, float *y);
    /* nearest resize NHWC [B, H, W, C] -> [B, OH, OW, C]: src = floor(dst * in / out) */
    void (*upsample_nearest)(sdc_pool *pool, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH,
                             int64_t OW, const float *x, float *y);
    /* y[p, :] = concat(a[p, :Ca], b[p, :Cb]) for P rows */
    void (*concat_rows)(sdc_pool *pool, int64_t P, int64_t Ca, int64_t Cb, const float *a, const float *b,
                        float *y);
    /* Optional (NULL in tables that never pack). Bytes needed to pack a
     * weight matrix [N, K] of type t for `compute`, or 0 when this table
     * would not use a packed form for it (calls then pack as they go). */
    size_t (*packed_size)(int64_t N, int64_t K, sdc_dtype t, sdc_compute compute);
    /* Packs B [N, K] of type t (rows ldb apart) into dst (64-byte aligned,
     * packed_size bytes) and returns dst as the packed form. */
    const sdc_packed_weights *(*pack_weights)(sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t, const void *B,
                                              int64_t ldb, sdc_compute compute, void *dst);
} sdc_kernels;

/* The scalar reference table. */
const sdc_kernels *sdc_kernels_ref(void);
/* The best table for this CPU (honours SDC_KERNELS=ref|avx2|avx512 in the
 * environment). */
const sdc_kernels *sdc_kernels_best(void);
/* A named table ("ref", "avx2", "avx512"), or NULL when this CPU or build
 * lacks it. */
const sdc_kernels *sdc_kernels_by_name(const char *name);

/* Sinusoidal timestep embedding (diffusers Timesteps with
 * downscale_freq_shift = 0, max_period 10000): emb[b, :half] = cos(t*f),
 * emb[b, half:] = sin(t*f) when flip_sin_to_cos, else sin first;
 * f_i = exp(-ln(10000) * i / (half - shift)). dim even. Not on a hot path. */
void sdc_timestep_embedding(int64_t B, const float *t, int64_t dim, int flip_sin_to_cos, float shift,
                            float *emb);

#endif
