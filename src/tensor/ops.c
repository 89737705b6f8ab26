/* Shape-checked ops over the kernel table (see ops.h). */
#include "tensor/ops.h"

#include <math.h>
#include <string.h>

#include "base/util.h"

#define SHAPE_BUF 64

/* Returns true when every pointer is non-NULL and the context is healthy. */
static bool ready(sdc_ctx *c, const void *a, const void *b, const void *d) {
    return sdc_ctx_ok(c) && a && b && d;
}
static const int ANY = 1; /* placeholder for unused ready() slots */

static bool is_f32(sdc_ctx *c, const sdc_tensor *t, const char *op, const char *what) {
    if (t->dtype == SDC_DTYPE_F32) return true;
    sdc_ctx_fail(c, SDC_ERR_INTERNAL, "%s: %s must be f32, got %s", op, what, sdc_dtype_name(t->dtype));
    return false;
}

static bool is_weight_type(sdc_ctx *c, const sdc_tensor *t, const char *op) {
    if (t->dtype == SDC_DTYPE_F32 || t->dtype == SDC_DTYPE_F16 || t->dtype == SDC_DTYPE_BF16) return true;
    sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "%s: weight dtype %s not supported", op, sdc_dtype_name(t->dtype));
    return false;
}

sdc_tensor *sdc_new(sdc_ctx *c, int ndim, const int64_t *shape) {
    if (!sdc_ctx_ok(c)) return NULL;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !sdc_mul_ok(n, (size_t)shape[i], &n))
            return sdc_ctx_fail(c, SDC_ERR_OOM, "tensor size overflows");
    size_t bytes;
    if (!sdc_mul_ok(n, 4, &bytes)) return sdc_ctx_fail(c, SDC_ERR_OOM, "tensor size overflows");
    sdc_tensor *t = sdc_arena_alloc(&c->arena, sizeof *t);
    void *data = t ? sdc_arena_alloc(&c->arena, bytes) : NULL;
    if (!data) return sdc_ctx_fail(c, SDC_ERR_OOM, "out of activation memory (%zu bytes)", bytes);
    *t = sdc_tensor_make(SDC_DTYPE_F32, data, ndim, shape);
    return t;
}

sdc_tensor *sdc_new_2d(sdc_ctx *c, int64_t d0, int64_t d1) { return sdc_new(c, 2, (int64_t[]){d0, d1}); }
sdc_tensor *sdc_new_3d(sdc_ctx *c, int64_t d0, int64_t d1, int64_t d2) {
    return sdc_new(c, 3, (int64_t[]){d0, d1, d2});
}
sdc_tensor *sdc_new_4d(sdc_ctx *c, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    return sdc_new(c, 4, (int64_t[]){d0, d1, d2, d3});
}

sdc_tensor *sdc_view(sdc_ctx *c, const sdc_tensor *t) {
    if (!sdc_ctx_ok(c) || !t) return NULL;
    sdc_tensor *v = sdc_arena_alloc(&c->arena, sizeof *v);
    if (!v) return sdc_ctx_fail(c, SDC_ERR_OOM, "out of activation memory");
    *v = *t;
    return v;
}

sdc_tensor *sdc_keep(sdc_ctx *c, sdc_arena_mark mark, const sdc_tensor *y) {
    if (!y || !sdc_ctx_ok(c)) return NULL;
    if (!sdc_tensor_is_contiguous(y)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "keep: strided tensor");
    sdc_tensor old = *y; /* the descriptor may be overwritten below */
    sdc_arena_release(&c->arena, mark);
    sdc_tensor *t = sdc_new(c, old.ndim, old.shape);
    if (t && t->data != old.data) memmove(t->data, old.data, (size_t)sdc_tensor_numel(&old) * 4);
    return t;
}

sdc_tensor *sdc_op_contiguous(sdc_ctx *c, const sdc_tensor *x) {
    if (!ready(c, x, &ANY, &ANY)) return NULL;
    sdc_tensor *y = sdc_new(c, x->ndim, x->shape);
    if (y) sdc_tensor_copy(y, x);
    return y;
}

/* The weights' packed form when this context's table and compute mode can
 * read it, else NULL (the plain data is used). */
static const sdc_packed_weights *usable_packed(const sdc_ctx *c, const sdc_tensor *w) {
    const sdc_packed_weights *p = w->packed;
    return p && p->table == c->k && p->compute == c->compute ? p : NULL;
}

/* Weights held only in packed form cannot serve another table / mode. */
static bool have_weights(sdc_ctx *c, const sdc_tensor *w, const sdc_packed_weights *pw, const char *op) {
    if (pw || w->data) return true;
    sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED,
                 "%s: weights were packed at load for another kernel table or precision; load the model for this one",
                 op);
    return false;
}

/* rows of a [..., K] tensor whose last dim is contiguous and whose leading
 * dims collapse into one row index with a single stride */
static bool as_rows(const sdc_tensor *x, int64_t *rows, int64_t *ld) {
    int nd = x->ndim;
    if (x->stride[nd - 1] != 1 && x->shape[nd - 1] != 1) return false;
    *rows = 1;
    *ld = nd >= 2 ? x->stride[nd - 2] : x->shape[nd - 1];
    for (int i = nd - 2; i >= 0; i--) {
        if (i < nd - 2 && x->shape[i] != 1 && x->stride[i] != x->stride[i + 1] * x->shape[i + 1]) return false;
        *rows *= x->shape[i];
    }
    return true;
}

sdc_tensor *sdc_op_linear_res(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b,
                              const sdc_tensor *residual) {
    if (!ready(c, x, w, &ANY)) return NULL;
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    int64_t K = x->shape[x->ndim - 1], M, lda;
    if (w->ndim != 2 || w->shape[1] != K || !sdc_tensor_is_contiguous(w))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "linear: input %s does not match weight %s",
                            sdc_tensor_shape_str(x, s1, SHAPE_BUF), sdc_tensor_shape_str(w, s2, SHAPE_BUF));
    if (!is_f32(c, x, "linear", "input") || !is_weight_type(c, w, "linear")) return NULL;
    const sdc_packed_weights *pw = usable_packed(c, w);
    if (!have_weights(c, w, pw, "linear")) return NULL;
    if (!as_rows(x, &M, &lda)) {
        x = sdc_op_contiguous(c, x);
        if (!x) return NULL;
        lda = K;
    }
    int64_t N = w->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != N || !is_f32(c, b, "linear", "bias")))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "linear: bias %s, expected [%lld]",
                            sdc_tensor_shape_str(b, s1, SHAPE_BUF), (long long)N);
    int64_t shape[SDC_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = N;
    if (residual) {
        sdc_tensor expect = sdc_tensor_make(SDC_DTYPE_F32, NULL, x->ndim, shape);
        if (!sdc_tensor_same_shape(residual, &expect) || !sdc_tensor_is_contiguous(residual))
            return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "linear: residual %s, expected %s",
                                sdc_tensor_shape_str(residual, s1, SHAPE_BUF), sdc_tensor_shape_str(&expect, s2, SHAPE_BUF));
    }
    sdc_tensor *y = sdc_new(c, x->ndim, shape);
    if (!y) return NULL;
    sdc_gemm_args g = {
        .M = M, .N = N, .K = K, .A = x->data, .lda = lda,
        .b_type = w->dtype, .B = w->data, .ldb = K,
        .bias = b ? b->data : NULL,
        .residual = residual ? residual->data : NULL, .ldr = N,
        .C = y->data, .ldc = N, .compute = c->compute, .packed = pw,
    };
    c->k->gemm(c->pool, &g);
    c->flops += 2.0 * (double)M * (double)N * (double)K;
    return y;
}

sdc_tensor *sdc_op_linear(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b) {
    return sdc_op_linear_res(c, x, w, b, NULL);
}

sdc_tensor *sdc_op_conv2d_ex(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b, int stride,
                             int pad_t, int pad_l, int pad_b, int pad_r, const sdc_tensor *residual) {
    if (!ready(c, x, w, &ANY)) return NULL;
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    if (x->ndim != 4 || w->ndim != 4 || w->shape[3] != x->shape[3])
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "conv2d: input %s (NHWC) does not match weight %s ([Cout,kh,kw,Cin])",
                            sdc_tensor_shape_str(x, s1, SHAPE_BUF), sdc_tensor_shape_str(w, s2, SHAPE_BUF));
    if (!is_f32(c, x, "conv2d", "input") || !is_weight_type(c, w, "conv2d")) return NULL;
    /* packed weights may keep a strided view of the file's [Cout, Cin, kh, kw]
     * data: calls that cannot read the packed form copy it (slow path) */
    const sdc_packed_weights *pw = usable_packed(c, w);
    if (!have_weights(c, w, pw, "conv2d")) return NULL;
    const void *wdata = sdc_tensor_is_contiguous(w) ? w->data : NULL;
    sdc_dtype wtype = w->dtype;
    if (!pw && !wdata) {
        sdc_tensor *wc = sdc_op_contiguous(c, w);
        if (!wc) return NULL;
        wdata = wc->data;
        wtype = wc->dtype;
    }
    if (!sdc_tensor_is_contiguous(x) && !(x = sdc_op_contiguous(c, x))) return NULL;
    int64_t B = x->shape[0], H = x->shape[1], W = x->shape[2];
    int64_t Cout = w->shape[0], kh = w->shape[1], kw = w->shape[2];
    if (stride < 1 || H + pad_t + pad_b < kh || W + pad_l + pad_r < kw)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "conv2d: input %s too small for kernel %lldx%lld",
                            sdc_tensor_shape_str(x, s1, SHAPE_BUF), (long long)kh, (long long)kw);
    if (b && (b->ndim != 1 || b->shape[0] != Cout || !is_f32(c, b, "conv2d", "bias")))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "conv2d: bias does not match %lld output channels", (long long)Cout);
    int64_t OH = (H + pad_t + pad_b - kh) / stride + 1, OW = (W + pad_l + pad_r - kw) / stride + 1;
    sdc_tensor *y = sdc_new_4d(c, B, OH, OW, Cout);
    if (!y) return NULL;
    if (residual && (!sdc_tensor_same_shape(residual, y) || !sdc_tensor_is_contiguous(residual)))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "conv2d: residual %s, expected %s",
                            sdc_tensor_shape_str(residual, s1, SHAPE_BUF), sdc_tensor_shape_str(y, s2, SHAPE_BUF));
    sdc_conv2d_args a = {
        .B = B, .H = H, .W = W, .Cin = x->shape[3], .Cout = Cout, .kh = kh, .kw = kw, .stride = stride,
        .pad_t = pad_t, .pad_l = pad_l, .pad_b = pad_b, .pad_r = pad_r,
        .x = x->data, .w_type = wtype, .w = wdata, .bias = b ? b->data : NULL,
        .residual = residual ? residual->data : NULL, .y = y->data, .compute = c->compute, .packed = pw,
    };
    c->k->conv2d(c->pool, &a);
    c->flops += 2.0 * (double)(B * OH * OW) * (double)Cout * (double)(kh * kw * a.Cin);
    return y;
}

sdc_tensor *sdc_op_conv2d(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b, int stride,
                          int pad) {
    return sdc_op_conv2d_ex(c, x, w, b, stride, pad, pad, pad, pad, NULL);
}

static bool check_vec(sdc_ctx *c, const sdc_tensor *v, int64_t n, const char *op, const char *what) {
    if (!v) return true;
    if (v->ndim == 1 && v->shape[0] == n && v->dtype == SDC_DTYPE_F32) return true;
    char s[SHAPE_BUF];
    sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "%s: %s is %s %s, expected f32 [%lld]", op, what,
                 sdc_dtype_name(v->dtype), sdc_tensor_shape_str(v, s, SHAPE_BUF), (long long)n);
    return false;
}

static const sdc_tensor *contiguous_f32(sdc_ctx *c, const sdc_tensor *x, const char *op) {
    if (!x || !sdc_ctx_ok(c)) return NULL;
    if (!is_f32(c, x, op, "input")) return NULL;
    return sdc_tensor_is_contiguous(x) ? x : sdc_op_contiguous(c, x);
}

static sdc_tensor *group_norm_into(sdc_ctx *c, const sdc_tensor *x, sdc_tensor *y, int groups, const sdc_tensor *gamma,
                                   const sdc_tensor *beta, float eps, int silu) {
    int64_t C = x->shape[x->ndim - 1], B = x->shape[0];
    if (x->ndim < 2 || groups <= 0 || C % groups)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "group_norm: %lld channels not divisible into %d groups",
                            (long long)C, groups);
    if (!check_vec(c, gamma, C, "group_norm", "gamma") || !check_vec(c, beta, C, "group_norm", "beta")) return NULL;
    if (!y && !(y = sdc_new(c, x->ndim, x->shape))) return NULL;
    sdc_group_norm_args a = {.B = B, .P = sdc_tensor_numel(x) / (B * C), .C = C, .G = groups,
                             .x = x->data, .gamma = gamma->data, .beta = beta->data, .eps = eps,
                             .silu = silu, .y = y->data};
    c->k->group_norm(c->pool, &a);
    return y;
}

sdc_tensor *sdc_op_group_norm(sdc_ctx *c, const sdc_tensor *x, int groups, const sdc_tensor *gamma,
                              const sdc_tensor *beta, float eps, int silu) {
    if (!(x = contiguous_f32(c, x, "group_norm")) || !gamma || !beta) return NULL;
    return group_norm_into(c, x, NULL, groups, gamma, beta, eps, silu);
}

sdc_tensor *sdc_op_group_norm_(sdc_ctx *c, sdc_tensor *x, int groups, const sdc_tensor *gamma, const sdc_tensor *beta,
                               float eps, int silu) {
    if (!x || !gamma || !beta || !sdc_ctx_ok(c) || !is_f32(c, x, "group_norm", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(x)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "group_norm: in-place on a strided view");
    return group_norm_into(c, x, x, groups, gamma, beta, eps, silu);
}

sdc_tensor *sdc_op_layer_norm(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *gamma, const sdc_tensor *beta,
                              float eps) {
    if (!(x = contiguous_f32(c, x, "layer_norm"))) return NULL;
    int64_t C = x->shape[x->ndim - 1];
    if (!check_vec(c, gamma, C, "layer_norm", "gamma") || !check_vec(c, beta, C, "layer_norm", "beta")) return NULL;
    sdc_tensor *y = sdc_new(c, x->ndim, x->shape);
    if (!y) return NULL;
    c->k->layer_norm(c->pool, sdc_tensor_numel(x) / C, C, x->data, gamma ? gamma->data : NULL,
                     beta ? beta->data : NULL, eps, y->data);
    return y;
}

sdc_tensor *sdc_op_act_(sdc_ctx *c, sdc_act act, sdc_tensor *x) {
    if (!x || !sdc_ctx_ok(c)) return NULL;
    if (!is_f32(c, x, "activation", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(x)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "activation: in-place on a strided view");
    c->k->activation(c->pool, act, sdc_tensor_numel(x), x->data, x->data);
    return x;
}

sdc_tensor *sdc_op_act(sdc_ctx *c, sdc_act act, const sdc_tensor *x) {
    if (!(x = contiguous_f32(c, x, "activation"))) return NULL;
    sdc_tensor *y = sdc_new(c, x->ndim, x->shape);
    if (y) c->k->activation(c->pool, act, sdc_tensor_numel(x), x->data, y->data);
    return y;
}

sdc_tensor *sdc_op_geglu(sdc_ctx *c, const sdc_tensor *x) {
    if (!(x = contiguous_f32(c, x, "geglu"))) return NULL;
    int64_t two_f = x->shape[x->ndim - 1];
    if (two_f % 2) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "geglu: last dim %lld is odd", (long long)two_f);
    int64_t shape[SDC_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = two_f / 2;
    sdc_tensor *y = sdc_new(c, x->ndim, shape);
    if (y) c->k->geglu(c->pool, sdc_tensor_numel(x) / two_f, two_f / 2, x->data, y->data);
    return y;
}

sdc_tensor *sdc_op_softmax_(sdc_ctx *c, sdc_tensor *x) {
    if (!x || !sdc_ctx_ok(c) || !is_f32(c, x, "softmax", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(x)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "softmax: in-place on a strided view");
    int64_t N = x->shape[x->ndim - 1];
    c->k->softmax(c->pool, sdc_tensor_numel(x) / N, N, x->data);
    return x;
}

typedef void (*binary_kernel)(sdc_pool *, int64_t, const float *, const float *, int64_t, float *);

/* y = a (op) b with the broadcast rules of ops.h; y may be a */
static sdc_tensor *binary(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b, sdc_tensor *y, binary_kernel k,
                          const char *op) {
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    if (!(b = contiguous_f32(c, b, op))) return NULL;
    int64_t n = sdc_tensor_numel(a), C = a->shape[a->ndim - 1];
    if (sdc_tensor_same_shape(a, b)) {
        k(c->pool, n, a->data, b->data, n, y->data);
    } else if (b->ndim == 1 && b->shape[0] == C) {
        k(c->pool, n, a->data, b->data, C, y->data);
    } else if (b->ndim == 2 && a->ndim >= 2 && b->shape[0] == a->shape[0] && b->shape[1] == C) {
        int64_t per = n / a->shape[0];
        for (int64_t i = 0; i < a->shape[0]; i++)
            k(c->pool, per, (const float *)a->data + i * per, (const float *)b->data + i * C, C,
              (float *)y->data + i * per);
    } else {
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "%s: cannot broadcast %s to %s", op,
                            sdc_tensor_shape_str(b, s1, SHAPE_BUF), sdc_tensor_shape_str(a, s2, SHAPE_BUF));
    }
    return y;
}

sdc_tensor *sdc_op_add(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b) {
    if (!(a = contiguous_f32(c, a, "add")) || !b) return NULL;
    sdc_tensor *y = sdc_new(c, a->ndim, a->shape);
    return y ? binary(c, a, b, y, c->k->add, "add") : NULL;
}
sdc_tensor *sdc_op_add_(sdc_ctx *c, sdc_tensor *a, const sdc_tensor *b) {
    if (!a || !b || !sdc_ctx_ok(c) || !is_f32(c, a, "add", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(a)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "add: in-place on a strided view");
    return binary(c, a, b, a, c->k->add, "add");
}
sdc_tensor *sdc_op_mul(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b) {
    if (!(a = contiguous_f32(c, a, "mul")) || !b) return NULL;
    sdc_tensor *y = sdc_new(c, a->ndim, a->shape);
    return y ? binary(c, a, b, y, c->k->mul, "mul") : NULL;
}
sdc_tensor *sdc_op_mul_(sdc_ctx *c, sdc_tensor *a, const sdc_tensor *b) {
    if (!a || !b || !sdc_ctx_ok(c) || !is_f32(c, a, "mul", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(a)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "mul: in-place on a strided view");
    return binary(c, a, b, a, c->k->mul, "mul");
}

sdc_tensor *sdc_op_scale_(sdc_ctx *c, sdc_tensor *x, float s) {
    if (!x || !sdc_ctx_ok(c) || !is_f32(c, x, "scale", "input")) return NULL;
    if (!sdc_tensor_is_contiguous(x)) return sdc_ctx_fail(c, SDC_ERR_INTERNAL, "scale: in-place on a strided view");
    c->k->mul(c->pool, sdc_tensor_numel(x), x->data, &s, 1, x->data);
    return x;
}

sdc_tensor *sdc_op_upsample_nearest(sdc_ctx *c, const sdc_tensor *x, int64_t OH, int64_t OW) {
    if (!(x = contiguous_f32(c, x, "upsample"))) return NULL;
    if (x->ndim != 4 || OH < 1 || OW < 1) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "upsample: expects NHWC input");
    sdc_tensor *y = sdc_new_4d(c, x->shape[0], OH, OW, x->shape[3]);
    if (y) c->k->upsample_nearest(c->pool, x->shape[0], x->shape[1], x->shape[2], x->shape[3], OH, OW, x->data, y->data);
    return y;
}

sdc_tensor *sdc_op_concat_last(sdc_ctx *c, const sdc_tensor *a, const sdc_tensor *b) {
    if (!(a = contiguous_f32(c, a, "concat")) || !(b = contiguous_f32(c, b, "concat"))) return NULL;
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    bool ok = a->ndim == b->ndim;
    for (int i = 0; ok && i < a->ndim - 1; i++) ok = a->shape[i] == b->shape[i];
    if (!ok)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "concat: %s and %s differ before the last dim",
                            sdc_tensor_shape_str(a, s1, SHAPE_BUF), sdc_tensor_shape_str(b, s2, SHAPE_BUF));
    int64_t Ca = a->shape[a->ndim - 1], Cb = b->shape[b->ndim - 1];
    int64_t shape[SDC_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 1] = Ca + Cb;
    sdc_tensor *y = sdc_new(c, a->ndim, shape);
    if (y) c->k->concat_rows(c->pool, sdc_tensor_numel(a) / Ca, Ca, Cb, a->data, b->data, y->data);
    return y;
}

sdc_tensor *sdc_op_attention(sdc_ctx *c, const sdc_tensor *q, const sdc_tensor *k, const sdc_tensor *v, int heads,
                             int causal) {
    if (!ready(c, q, k, v)) return NULL;
    char s1[SHAPE_BUF], s2[SHAPE_BUF];
    bool ok = q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && q->shape[0] == k->shape[0] &&
              k->shape[0] == v->shape[0] && k->shape[1] == v->shape[1] && q->shape[2] == k->shape[2] &&
              k->shape[2] == v->shape[2] && heads > 0 && q->shape[2] % heads == 0;
    if (!ok)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "attention: q %s, k %s, heads %d do not fit",
                            sdc_tensor_shape_str(q, s1, SHAPE_BUF), sdc_tensor_shape_str(k, s2, SHAPE_BUF), heads);
    const sdc_tensor *in[3] = {q, k, v};
    int64_t ld[3];
    for (int i = 0; i < 3; i++) {
        int64_t rows;
        if (!is_f32(c, in[i], "attention", "q/k/v")) return NULL;
        if (!as_rows(in[i], &rows, &ld[i])) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "attention: unsupported view");
    }
    int64_t B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], C = q->shape[2], D = C / heads;
    sdc_tensor *y = sdc_new_3d(c, B, Tq, C);
    if (!y) return NULL;
    sdc_attention_args a = {.B = B, .heads = heads, .Tq = Tq, .Tk = Tk, .D = D,
                            .q = q->data, .k = k->data, .v = v->data,
                            .ldq = ld[0], .ldk = ld[1], .ldv = ld[2],
                            .out = y->data, .ldo = C, .scale = 1.0f / sqrtf((float)D),
                            .causal = causal, .compute = c->compute};
    c->k->attention(c->pool, &a);
    c->flops += 4.0 * (double)(B * heads) * (double)Tq * (double)Tk * (double)D; /* QK^T and PV */
    return y;
}

static sdc_tensor *permute_4d(sdc_ctx *c, const sdc_tensor *x, bool to_nhwc) {
    if (!x || !sdc_ctx_ok(c)) return NULL;
    if (x->ndim != 4) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "layout change expects a 4-D tensor");
    /* view x with dims reordered, then copy into a contiguous tensor */
    sdc_tensor v = *x;
    int order_nhwc[4] = {0, 2, 3, 1}, order_nchw[4] = {0, 3, 1, 2};
    const int *ord = to_nhwc ? order_nhwc : order_nchw;
    for (int i = 0; i < 4; i++) {
        v.shape[i] = x->shape[ord[i]];
        v.stride[i] = x->stride[ord[i]];
    }
    sdc_tensor *y = sdc_new(c, 4, v.shape);
    if (y) sdc_tensor_copy(y, &v);
    return y;
}

sdc_tensor *sdc_op_nchw_to_nhwc(sdc_ctx *c, const sdc_tensor *x) { return permute_4d(c, x, true); }
sdc_tensor *sdc_op_nhwc_to_nchw(sdc_ctx *c, const sdc_tensor *x) { return permute_4d(c, x, false); }

sdc_tensor *sdc_op_timestep_embedding(sdc_ctx *c, const sdc_tensor *t, int64_t dim, int flip_sin_to_cos,
                                      float shift) {
    if (!(t = contiguous_f32(c, t, "timestep_embedding"))) return NULL;
    if (t->ndim != 1 || dim < 2 || dim % 2)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "timestep_embedding: expects [B] timesteps and an even dim");
    sdc_tensor *y = sdc_new_2d(c, t->shape[0], dim);
    if (y) sdc_timestep_embedding(t->shape[0], t->data, dim, flip_sin_to_cos, shift, y->data);
    return y;
}
