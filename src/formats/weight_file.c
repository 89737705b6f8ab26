/* Format-independent weight container (see weight_file.h). */
#include "formats/weight_file.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/safetensors.h"

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

sdc_status sdc_weight_file_add(sdc_weight_file *f, const char *name, sdc_dtype dtype, int ndim, const int64_t *shape,
                               const void *data, size_t nbytes, sdc_error *err) {
    if (ndim < 0 || ndim > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has %d dims (max %d)", name, ndim,
                             SDC_WEIGHT_MAX_DIMS);
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

sdc_status sdc_weight_file_open(const char *path, sdc_weight_file **out, sdc_error *err) {
    *out = NULL;
    sdc_weight_file *f = sdc_weight_file_new(path, err);
    if (!f) return err ? err->status : SDC_ERR_OOM;
    sdc_status st = sdc_mapfile_open(&f->map, path, err);
    if (st == SDC_OK) {
        f->format = "safetensors";
        st = sdc_safetensors_parse(f, f->map.data, f->map.size, err);
        if (st != SDC_OK) sdc_error_prefix(err, "%s", path);
    }
    if (st != SDC_OK) {
        sdc_weight_file_close(f);
        return st;
    }
    *out = f;
    return SDC_OK;
}
