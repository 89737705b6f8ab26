/* Format-independent weight container (see weight_file.h). */
#include "formats/weight_file.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torch_ckpt.h"

sdc_weight_file *sdc_weight_file_new(const char *path, sdc_error *err) {
    sdc_weight_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = sdc_strdup(path ? path : ""))) {
        free(f);
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    sdc_strmap_init(&f->index);
    return f;
}

void sdc_weight_file_close(sdc_weight_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->count; i++) free(f->tensors[i].name);
    free(f->tensors);
    sdc_strmap_free(&f->index);
    for (size_t i = 0; i < f->n_owned; i++) free(f->owned[i]);
    free(f->owned);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    sdc_mapfile_close(&f->map);
    free(f->path);
    free(f);
}

/* The alignment the readers of a dtype's data rely on: the element size
 * (up to 8), or 2 for quantized blocks (their f16 scales). */
static size_t data_alignment(sdc_dtype t) {
    size_t b = (size_t)sdc_dtype_block_bytes(t);
    if (b == 0 || (b & (b - 1))) return 2;
    return b > 8 ? 8 : b;
}

sdc_status sdc_weight_file_add(sdc_weight_file *f, const char *name, sdc_dtype dtype, int ndim, const int64_t *shape,
                               const void *data, size_t nbytes, sdc_error *err) {
    if (ndim < 0 || ndim > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has %d dims (max %d)", name, ndim,
                             SDC_WEIGHT_MAX_DIMS);
    /* data at an offset its element type cannot be read from (a file laid
     * out with alignment 1, say) is copied: every reader may load elements
     * through typed pointers */
    if (data && nbytes && (uintptr_t)data % data_alignment(dtype) != 0) {
        void *copy = malloc(nbytes);
        if (!copy) return sdc_error_set(err, SDC_ERR_OOM, "out of memory copying '%s'", name);
        memcpy(copy, data, nbytes);
        sdc_status st = sdc_weight_file_own(f, copy, err);
        if (st) return st;
        data = copy;
    }
    /* every parser checks numel; this also bounds the product of the non-zero
     * dims, so code that multiplies dims in any order never overflows */
    int64_t prod = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || (shape[i] > 0 && __builtin_mul_overflow(prod, shape[i], &prod)))
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has an invalid or overflowing shape", name);
    if (f->count == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 256;
        sdc_weight_info *nt = realloc(f->tensors, ncap * sizeof *nt);
        if (!nt) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        /* the index holds pointers to names, which stay put (separately allocated) */
        f->tensors = nt;
        f->cap = ncap;
    }
    sdc_weight_info *w = &f->tensors[f->count];
    memset(w, 0, sizeof *w);
    if (!(w->name = sdc_strdup(name))) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    int r = sdc_strmap_put(&f->index, w->name, f->count);
    if (r <= 0) {
        free(w->name);
        if (r < 0) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return sdc_error_set(err, SDC_ERR_FORMAT, "duplicate tensor name '%s'", name);
    }
    w->dtype = dtype;
    w->ndim = ndim;
    for (int i = 0; i < ndim; i++) w->shape[i] = shape[i];
    w->data = data;
    w->nbytes = nbytes;
    f->count++;
    return SDC_OK;
}

sdc_status sdc_weight_file_own(sdc_weight_file *f, void *buf, sdc_error *err) {
    if (f->n_owned == f->cap_owned) {
        size_t ncap = f->cap_owned ? f->cap_owned * 2 : 16;
        void **n = realloc(f->owned, ncap * sizeof *n);
        if (!n) {
            free(buf);
            return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        }
        f->owned = n;
        f->cap_owned = ncap;
    }
    f->owned[f->n_owned++] = buf;
    return SDC_OK;
}

sdc_status sdc_weight_file_add_meta(sdc_weight_file *f, const char *key, const char *value, sdc_error *err) {
    char **nk = realloc(f->meta_keys, (f->n_meta + 1) * sizeof *nk);
    if (!nk) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    f->meta_keys = nk;
    char **nv = realloc(f->meta_values, (f->n_meta + 1) * sizeof *nv);
    if (!nv) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    f->meta_values = nv;
    char *k = sdc_strdup(key), *v = sdc_strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    f->meta_keys[f->n_meta] = k;
    f->meta_values[f->n_meta] = v;
    f->n_meta++;
    return SDC_OK;
}

const sdc_weight_info *sdc_weight_file_find(const sdc_weight_file *f, const char *name) {
    size_t i;
    return sdc_strmap_get(&f->index, name, &i) ? &f->tensors[i] : NULL;
}

const char *sdc_weight_file_meta(const sdc_weight_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int64_t sdc_weight_numel(const sdc_weight_info *w) {
    int64_t n = 1;
    for (int i = 0; i < w->ndim; i++)
        if (w->shape[i] == 0) return 0;
    for (int i = 0; i < w->ndim; i++) n *= w->shape[i];
    return n;
}

sdc_tensor sdc_weight_tensor(const sdc_weight_info *w) {
    int64_t shape[SDC_MAX_DIMS];
    int nd = w->ndim;
    if (nd == 0) {
        shape[0] = 1;
        nd = 1;
    } else if (nd <= SDC_MAX_DIMS) {
        for (int i = 0; i < nd; i++) shape[i] = w->shape[i];
    } else {
        int extra = nd - SDC_MAX_DIMS;
        shape[0] = 1;
        for (int i = 0; i <= extra; i++) shape[0] *= w->shape[i];
        for (int i = 1; i < SDC_MAX_DIMS; i++) shape[i] = w->shape[extra + i];
        nd = SDC_MAX_DIMS;
    }
    return sdc_tensor_make(w->dtype, (void *)w->data, nd, shape);
}

/* Picks the parser from the first bytes. */
static sdc_status parse_any(sdc_weight_file *f, sdc_error *err) {
    const unsigned char *d = f->map.data;
    size_t n = f->map.size;
    if (n >= 4 && memcmp(d, "PK\x03\x04", 4) == 0) {
        f->format = "pytorch";
        return sdc_torch_parse(f, d, n, err);
    }
    if (n >= 4 && memcmp(d, "GGUF", 4) == 0) {
        f->format = "gguf";
        return sdc_gguf_parse(f, d, n, err);
    }
    if (n >= 2 && d[0] == 0x80 && d[1] <= 5)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED,
                             "legacy (pre-1.6) PyTorch format or a bare pickle: re-save it with a current torch.save "
                             "or convert it to safetensors");
    if (n >= 9 && d[8] == '{') {
        f->format = "safetensors";
        return sdc_safetensors_parse(f, d, n, err);
    }
    return sdc_error_set(err, SDC_ERR_FORMAT,
                         "unknown file format (not safetensors, a PyTorch zip checkpoint or GGUF)");
}

sdc_status sdc_weight_file_open(const char *path, sdc_weight_file **out, sdc_error *err) {
    *out = NULL;
    sdc_weight_file *f = sdc_weight_file_new(path, err);
    if (!f) return err ? err->status : SDC_ERR_OOM;
    sdc_status st = sdc_mapfile_open(&f->map, path, err);
    if (st == SDC_OK) {
        st = parse_any(f, err);
        if (st != SDC_OK) sdc_error_prefix(err, "%s", path);
    }
    if (st != SDC_OK) {
        sdc_weight_file_close(f);
        return st;
    }
    *out = f;
    return SDC_OK;
}

sdc_status sdc_weight_convert(const sdc_weight_info *w, sdc_dtype to, void *dst, size_t dst_bytes, sdc_error *err) {
    if (to != SDC_DTYPE_F32 && to != SDC_DTYPE_F16 && to != SDC_DTYPE_BF16)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "cannot convert '%s' to %s", w->name, sdc_dtype_name(to));
    size_t n = (size_t)sdc_weight_numel(w), need;
    if (!sdc_mul_ok(n, (size_t)sdc_dtype_block_bytes(to), &need) || need > dst_bytes)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "buffer too small for '%s'", w->name);
    size_t be = (size_t)sdc_dtype_block_elems(w->dtype), bb = (size_t)sdc_dtype_block_bytes(w->dtype);
    if (n % be || sdc_dtype_row_bytes(w->dtype, n) != w->nbytes)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has %zu bytes, not %zu %s elements", w->name, w->nbytes,
                             n, sdc_dtype_name(w->dtype));
    if (n == 0) return SDC_OK;
    if (to == SDC_DTYPE_F32 || to == w->dtype) {
        if (to == w->dtype) memcpy(dst, w->data, need);
        else sdc_convert_to_f32(w->dtype, w->data, dst, n);
        return SDC_OK;
    }
    float tmp[4096]; /* a multiple of every block size */
    size_t ob = (size_t)sdc_dtype_block_bytes(to);
    for (size_t i = 0; i < n; i += 4096) {
        size_t m = SDC_MIN((size_t)4096, n - i);
        sdc_convert_to_f32(w->dtype, (const unsigned char *)w->data + i / be * bb, tmp, m);
        sdc_convert_from_f32(to, tmp, (unsigned char *)dst + i * ob, m);
    }
    return SDC_OK;
}
