/* Tensor operations used by model code.
 *
 * Each op checks shapes and dtypes, allocates its f32 output from the
 * context's arena, and runs the context's kernel. When the context already
 * holds an error, or any input is NULL, an op returns NULL and does nothing
 * (sticky errors: model code checks sdc_ctx_ok once at the end).
 *
 * Activations are f32. Weights ("w") may be f32, f16 or bf16; biases and
 * norm parameters must be f32 (model loaders convert them). Image-like
 * tensors are NHWC [B, H, W, C]; token tensors are [B, T, C]. */
#ifndef SDC_TENSOR_OPS_H
#define SDC_TENSOR_OPS_H

#include "tensor/ctx.h"

/* Uninitialized f32 tensor of the given shape (1..4 dims). */
sdc_tensor *sdc_new(sdc_ctx *c, int ndim, const int64_t *shape);
sdc_tensor *sdc_new_2d(sdc_ctx *c, int64_t d0, int64_t d1);
sdc_tensor *sdc_new_3d(sdc_ctx *c, int64_t d0, int64_t d1, int64_t d2);
sdc_tensor *sdc_new_4d(sdc_ctx *c, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* A copy of a descriptor in the arena (to return views from ops). */
sdc_tensor *sdc_view(sdc_ctx *c, const sdc_tensor *t);
/* Frees everything allocated in the arena after `mark` except y, which is
 * moved down to the mark (y must be contiguous and allocated after the
 * mark). Lets a block keep its output and drop its temporaries. */
sdc_tensor *sdc_keep(sdc_ctx *c, sdc_arena_mark mark, const sdc_tensor *y);
/* Contiguous f32 copy of any (strided, f16/bf16) tensor. */
sdc_tensor *sdc_op_contiguous(sdc_ctx *c, const sdc_tensor *x);

/* y = x @ w^T + b (+ residual). x [..., K] with rows possibly strided
 * (stride of the second-to-last dim), w [N, K], b [N] or NULL,
 * residual like y or NULL. y [..., N], contiguous. */
sdc_tensor *sdc_op_linear(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b);
sdc_tensor *sdc_op_linear_res(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b,
                              const sdc_tensor *residual);

/* 2-D convolution, NHWC. w [Cout, kh, kw, Cin] (prepared layout), b [Cout]
 * or NULL. Symmetric padding `pad`; conv2d_ex takes four pads and an
 * optional residual [B, OH, OW, Cout] added to the output. */
sdc_tensor *sdc_op_conv2d(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b, int stride,
                          int pad);
sdc_tensor *sdc_op_conv2d_ex(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b, int stride,
                             int pad_t, int pad_l, int pad_b, int pad_r, const sdc_tensor *residual);

/* Group norm of x [B, ..., C] (channels last), G groups; optional SiLU. */
sdc_tensor *sdc_op_group_norm(sdc_ctx *c, const sdc_tensor *x, int groups, const sdc_tensor *gamma,
                              const sdc_tensor *beta, float eps, int silu);
/* The same in place (x is overwritten and returned; x must be contiguous). */
sdc_tensor *sdc_op_group_norm_(sdc_ctx *c, sdc_tensor *x, int groups, const sdc_tensor *gamma, const sdc_tensor *beta,
                               float eps, int silu);
/* Layer norm over the last dim. gamma/beta may be NULL (1 / 0). */
sdc_tensor *sdc_op_layer_norm(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *gamma, const sdc_tensor *beta,
                              float eps);

/* New tensor act(x); the _ variant works in place and returns x. */
sdc_tensor *sdc_op_act(sdc_ctx *c, sdc_act act, const sdc_tensor *x);
sdc_tensor *sdc_op_act_(sdc_ctx *c, sdc_act act, sdc_tensor *x);
/* GEGLU over the last dim: x [..., 2F] -> [..., F]. */
sdc_tensor *sdc_op_geglu(sdc_ctx *c, const sdc_tensor *x);
/* In-place softmax over the last dim. */
sdc_tensor *sdc_op_softmax_(sdc_ctx *c, sdc_tensor *x);

/* a + b and a * b. b is the same shape as a, or [C] (last dim of a), or
 * [B, C] broadcast over the middle dims of a [B, ..., C]. The _ variants
 * write into a. */
sdc_tensor *sdc_op_add(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b);
sdc_tensor *sdc_op_add_(sdc_ctx *c, sdc_tensor *a, const sdc_tensor *b);
sdc_tensor *sdc_op_mul(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b);
sdc_tensor *sdc_op_mul_(sdc_ctx *c, sdc_tensor *a, const sdc_tensor *b);
/* x * s in place. */
sdc_tensor *sdc_op_scale_(sdc_ctx *c, sdc_tensor *x, float s);

/* Nearest resize of NHWC x to [B, OH, OW, C] (2x upsampling: OH = 2H). */
sdc_tensor *sdc_op_upsample_nearest(sdc_ctx *c, const sdc_tensor *x, int64_t OH, int64_t OW);
/* Concatenation along the last dim; leading dims must agree. */
sdc_tensor *sdc_op_concat_last(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b);

/* Multi-head attention. q [B, Tq, C], k [B, Tk, C], v [B, Tk, C] (rows may
 * be strided views, e.g. slices of a fused qkv projection), C = heads * D.
 * Scale 1/sqrt(D). Returns [B, Tq, C]. */
sdc_tensor *sdc_op_attention(sdc_ctx *c, const sdc_tensor *q, const sdc_tensor *k, const sdc_tensor *v, int heads,
                             int causal);

/* Layout changes at model edges: [B, C, H, W] <-> [B, H, W, C]. */
sdc_tensor *sdc_op_nchw_to_nhwc(sdc_ctx *c, const sdc_tensor *x);
sdc_tensor *sdc_op_nhwc_to_nchw(sdc_ctx *c, const sdc_tensor *x);

/* Sinusoidal timestep embedding [B] -> [B, dim] (see kernels.h). */
sdc_tensor *sdc_op_timestep_embedding(sdc_ctx *c, const sdc_tensor *t, int64_t dim, int flip_sin_to_cos,
                                      float shift);

#endif
