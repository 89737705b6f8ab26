/* Tensor descriptors and views (see tensor.h). */
#include "tensor/tensor.h"

#include <assert.h>
#include <stdio.h>

sdc_tensor sdc_tensor_make(sdc_dtype dtype, void *data, int ndim, const int64_t *shape) {
    sdc_tensor t = {0};
    assert(ndim >= 1 && ndim <= SDC_MAX_DIMS);
    t.dtype = dtype;
    t.ndim = ndim;
    t.data = data;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = s;
        s *= shape[i];
    }
    return t;
}

sdc_tensor sdc_tensor_1d(sdc_dtype dtype, void *data, int64_t d0) {
    int64_t s[1] = {d0};
    return sdc_tensor_make(dtype, data, 1, s);
}
sdc_tensor sdc_tensor_2d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1) {
    int64_t s[2] = {d0, d1};
    return sdc_tensor_make(dtype, data, 2, s);
}
sdc_tensor sdc_tensor_3d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return sdc_tensor_make(dtype, data, 3, s);
}
sdc_tensor sdc_tensor_4d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    return sdc_tensor_make(dtype, data, 4, s);
}

int64_t sdc_tensor_numel(const sdc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

bool sdc_tensor_is_contiguous(const sdc_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool sdc_tensor_same_shape(const sdc_tensor *a, const sdc_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *sdc_tensor_shape_str(const sdc_tensor *t, char *buf, int size) {
    int n = snprintf(buf, (size_t)size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += snprintf(buf + n, (size_t)(size - n), i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, (size_t)(size - n), "]");
    return buf;
}

static size_t elem_size(sdc_dtype t) { return (size_t)sdc_dtype_block_bytes(t); }

sdc_tensor sdc_tensor_slice(const sdc_tensor *t, int dim, int64_t start, int64_t len) {
    assert(dim >= 0 && dim < t->ndim && start >= 0 && start + len <= t->shape[dim]);
    sdc_tensor v = *t;
    v.shape[dim] = len;
    v.data = (char *)t->data + (size_t)(start * t->stride[dim]) * elem_size(t->dtype);
    return v;
}

sdc_tensor sdc_tensor_transpose(const sdc_tensor *t, int d0, int d1) {
    sdc_tensor v = *t;
    v.shape[d0] = t->shape[d1];
    v.shape[d1] = t->shape[d0];
    v.stride[d0] = t->stride[d1];
    v.stride[d1] = t->stride[d0];
    return v;
}

sdc_tensor sdc_tensor_reshape(const sdc_tensor *t, int ndim, const int64_t *shape) {
    assert(sdc_tensor_is_contiguous(t));
    sdc_tensor v = sdc_tensor_make(t->dtype, t->data, ndim, shape);
    assert(sdc_tensor_numel(&v) == sdc_tensor_numel(t));
    return v;
}

void *sdc_tensor_ptr(const sdc_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    int64_t off = i0 * t->stride[0] + i1 * t->stride[1] + i2 * t->stride[2] + i3 * t->stride[3];
    return (char *)t->data + (size_t)off * elem_size(t->dtype);
}

static float load_f(const sdc_tensor *t, const void *p) {
    switch (t->dtype) {
    case SDC_DTYPE_F16: return sdc_f16_to_f32(*(const uint16_t *)p);
    case SDC_DTYPE_BF16: return sdc_bf16_to_f32(*(const uint16_t *)p);
    default: return *(const float *)p;
    }
}

static void store_f(sdc_tensor *t, void *p, float v) {
    switch (t->dtype) {
    case SDC_DTYPE_F16: *(uint16_t *)p = sdc_f32_to_f16(v); break;
    case SDC_DTYPE_BF16: *(uint16_t *)p = sdc_f32_to_bf16(v); break;
    default: *(float *)p = v; break;
    }
}

void sdc_tensor_copy(sdc_tensor *dst, const sdc_tensor *src) {
    int64_t s[4] = {1, 1, 1, 1};
    int off = 4 - src->ndim;
    for (int i = 0; i < src->ndim; i++) s[off + i] = src->shape[i];
    int64_t idx[4];
    for (idx[0] = 0; idx[0] < s[0]; idx[0]++)
        for (idx[1] = 0; idx[1] < s[1]; idx[1]++)
            for (idx[2] = 0; idx[2] < s[2]; idx[2]++)
                for (idx[3] = 0; idx[3] < s[3]; idx[3]++) {
                    int64_t j[4] = {0, 0, 0, 0};
                    for (int i = 0; i < src->ndim; i++) j[i] = idx[off + i];
                    float v = load_f(src, sdc_tensor_ptr(src, j[0], j[1], j[2], j[3]));
                    store_f(dst, sdc_tensor_ptr(dst, j[0], j[1], j[2], j[3]), v);
                }
}
