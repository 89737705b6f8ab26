/* PyTorch zip checkpoints -> weight file (see torch_ckpt.h). */
#include "formats/torch_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/pickle.h"
#include "formats/zip.h"

#define MAX_NEST 8

typedef struct {
    const unsigned char *data; /* NULL until loaded */
    size_t size;
} storage_bytes;

typedef struct {
    sdc_weight_file *f;
    sdc_zip zip;
    char prefix[256];     /* "archive/" */
    sdc_strmap cache;     /* storage key -> slot in loaded */
    storage_bytes *loaded;
    size_t n_loaded, cap_loaded;
    sdc_error *err;
} loader;

/* Finds the archive's folder: the one holding data.pkl. */
static sdc_status find_prefix(loader *L) {
    for (size_t i = 0; i < L->zip.n; i++) {
        const char *name = L->zip.entries[i].name, *slash = strchr(name, '/');
        size_t plen = slash ? (size_t)(slash - name) + 1 : 0;
        if (strcmp(name + plen, "data.pkl") == 0 && plen < sizeof L->prefix) {
            memcpy(L->prefix, name, plen);
            L->prefix[plen] = '\0';
            return SDC_OK;
        }
    }
    return sdc_error_set(L->err, SDC_ERR_FORMAT, "zip archive has no data.pkl (not a PyTorch checkpoint)");
}

static const sdc_zip_entry *entry(loader *L, const char *rest) {
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s%s", L->prefix, rest) >= sizeof name) return NULL;
    return sdc_zip_find(&L->zip, name);
}

static sdc_status check_byteorder(loader *L) {
    const sdc_zip_entry *e = entry(L, "byteorder");
    if (!e) return SDC_OK; /* older archives: always little-endian */
    const unsigned char *p;
    void *owned;
    sdc_status st = sdc_zip_read(&L->zip, e, &p, &owned, L->err);
    if (st) return st;
    int little = e->size == 6 && memcmp(p, "little", 6) == 0;
    free(owned);
    return little ? SDC_OK : sdc_error_set(L->err, SDC_ERR_UNSUPPORTED, "big-endian PyTorch checkpoints are not supported");
}

/* The bytes of storage `key` (loaded once, inflated if compressed). */
static sdc_status storage(loader *L, const sdc_pk_obj *s, storage_bytes *out) {
    size_t slot;
    if (sdc_strmap_get(&L->cache, s->s, &slot)) {
        *out = L->loaded[slot];
        return SDC_OK;
    }
    if (strlen(s->s) > 200 || strchr(s->s, '/'))
        return sdc_error_set(L->err, SDC_ERR_FORMAT, "invalid storage key '%.40s'", s->s);
    char rest[256];
    snprintf(rest, sizeof rest, "data/%s", s->s);
    const sdc_zip_entry *e = entry(L, rest);
    if (!e) return sdc_error_set(L->err, SDC_ERR_FORMAT, "storage '%s' is missing from the archive", s->s);
    size_t need;
    if (!sdc_mul_ok((size_t)s->numel, (size_t)sdc_dtype_block_bytes(s->dtype), &need) || need > e->size)
        return sdc_error_set(L->err, SDC_ERR_FORMAT, "storage '%s' holds %llu bytes, its %lld %s elements need more",
                             s->s, (unsigned long long)e->size, (long long)s->numel, sdc_dtype_name(s->dtype));
    storage_bytes b = {NULL, (size_t)e->size};
    void *owned = NULL;
    sdc_status st = sdc_zip_read(&L->zip, e, &b.data, &owned, L->err);
    if (!st && owned) st = sdc_weight_file_own(L->f, owned, L->err);
    if (st) return st;
    if (L->n_loaded == L->cap_loaded) {
        size_t ncap = L->cap_loaded ? 2 * L->cap_loaded : 256;
        storage_bytes *nl = realloc(L->loaded, ncap * sizeof *nl);
        if (!nl) return sdc_error_set(L->err, SDC_ERR_OOM, "out of memory");
        L->loaded = nl;
        L->cap_loaded = ncap;
    }
    L->loaded[L->n_loaded] = b;
    if (sdc_strmap_put(&L->cache, s->s, L->n_loaded) < 0) return sdc_error_set(L->err, SDC_ERR_OOM, "out of memory");
    L->n_loaded++;
    *out = b;
    return SDC_OK;
}

/* Copies a strided view into a contiguous buffer (row-major order). */
static void gather(unsigned char *dst, const unsigned char *src, const sdc_pk_obj *t, size_t esize) {
    int64_t idx[SDC_WEIGHT_MAX_DIMS] = {0};
    int nd = t->ndim;
    size_t inner = nd ? (size_t)t->shape[nd - 1] : 1;
    int64_t istride = nd ? t->stride[nd - 1] : 0;
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * t->stride[d];
        if (istride == 1) {
            memcpy(dst, src + (size_t)off * esize, inner * esize);
            dst += inner * esize;
        } else {
            for (size_t j = 0; j < inner; j++, dst += esize)
                memcpy(dst, src + (size_t)(off + (int64_t)j * istride) * esize, esize);
        }
        int d = nd - 2;
        while (d >= 0 && ++idx[d] == t->shape[d]) idx[d--] = 0;
        if (d < 0) break;
    }
}

/* Checks the view against its storage: numel, bytes, last element index. */
static sdc_status view_extent(loader *L, const char *name, const sdc_pk_obj *t, size_t *numel, int *contiguous) {
    uint64_t n = 1, last = (uint64_t)t->offset, expect = 1;
    *contiguous = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        uint64_t sz = (uint64_t)t->shape[d], sd = (uint64_t)t->stride[d], span;
        if (__builtin_mul_overflow(n, sz, &n)) goto overflow;
        if (sz == 0) continue;
        if (__builtin_mul_overflow(sz - 1, sd, &span) || __builtin_add_overflow(last, span, &last)) goto overflow;
        if (sz > 1 && sd != expect) *contiguous = 0;
        if (__builtin_mul_overflow(expect, sz, &expect)) goto overflow;
    }
    if (n > SIZE_MAX) goto overflow;
    *numel = (size_t)n;
    if (n && last >= (uint64_t)t->storage->numel)
        return sdc_error_set(L->err, SDC_ERR_FORMAT, "tensor '%s' reaches element %llu of a %lld-element storage", name,
                             (unsigned long long)last, (long long)t->storage->numel);
    return SDC_OK;
overflow:
    return sdc_error_set(L->err, SDC_ERR_FORMAT, "tensor '%s': size or strides overflow", name);
}

static sdc_status add_tensor(loader *L, const char *name, const sdc_pk_obj *t) {
    size_t numel, esize = (size_t)sdc_dtype_block_bytes(t->storage->dtype), nbytes;
    int contiguous;
    sdc_status st = view_extent(L, name, t, &numel, &contiguous);
    if (st) return st;
    if (!sdc_mul_ok(numel, esize, &nbytes)) return sdc_error_set(L->err, SDC_ERR_FORMAT, "tensor '%s' too large", name);
    const unsigned char *p = NULL;
    if (numel) {
        storage_bytes b;
        if ((st = storage(L, t->storage, &b))) return st;
        const unsigned char *base = b.data + (size_t)t->offset * esize;
        if (contiguous && (uintptr_t)base % esize == 0) {
            p = base;
        } else {
            unsigned char *copy = malloc(nbytes);
            if (!copy) return sdc_error_set(L->err, SDC_ERR_OOM, "out of memory copying '%s'", name);
            if (contiguous) memcpy(copy, base, nbytes);
            else gather(copy, base, t, esize);
            if ((st = sdc_weight_file_own(L->f, copy, L->err))) return st;
            p = copy;
        }
    }
    return sdc_weight_file_add(L->f, name, t->storage->dtype, t->ndim, t->shape, p, nbytes, L->err);
}

/* Adds every tensor of dict d (and of nested dicts, names joined by '.'). */
static sdc_status walk(loader *L, sdc_pk_obj *d, const char *prefix, int depth) {
    if (depth > MAX_NEST || d->visited) return SDC_OK;
    d->visited = 1;
    for (size_t i = 0; i + 1 < d->n; i += 2) {
        const sdc_pk_obj *k = d->items[i];
        sdc_pk_obj *v = d->items[i + 1];
        if (k->kind != SDC_PK_STR || (v->kind != SDC_PK_TENSOR && v->kind != SDC_PK_DICT)) continue;
        size_t len = strlen(prefix) + k->len + 2;
        char *name = malloc(len);
        if (!name) return sdc_error_set(L->err, SDC_ERR_OOM, "out of memory");
        snprintf(name, len, "%s%s%s", prefix, k->s, v->kind == SDC_PK_DICT ? "." : "");
        sdc_status st = v->kind == SDC_PK_TENSOR ? add_tensor(L, name, v) : walk(L, v, name, depth + 1);
        free(name);
        if (st) return st;
    }
    return SDC_OK;
}

static sdc_status load(loader *L, const unsigned char *data, size_t size) {
    sdc_status st = sdc_zip_open(&L->zip, data, size, L->err);
    if (!st) st = find_prefix(L);
    if (!st) st = check_byteorder(L);
    if (st) return st;
    const unsigned char *pk;
    void *pk_owned = NULL;
    const sdc_zip_entry *e = entry(L, "data.pkl");
    sdc_pickle *p = NULL;
    st = sdc_zip_read(&L->zip, e, &pk, &pk_owned, L->err);
    if (!st) st = sdc_pickle_load(pk, (size_t)e->size, &p, L->err);
    if (!st) {
        sdc_pk_obj *root = sdc_pickle_root(p);
        sdc_pk_obj *sd = (sdc_pk_obj *)sdc_pk_dict_get(root, "state_dict");
        if (sd && sd->kind == SDC_PK_DICT) root = sd;
        if (root->kind != SDC_PK_DICT)
            st = sdc_error_set(L->err, SDC_ERR_FORMAT, "checkpoint holds no dict of tensors");
        else
            st = walk(L, root, "", 0);
    }
    sdc_pickle_free(p);
    free(pk_owned);
    return st;
}

sdc_status sdc_torch_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err) {
    loader L;
    memset(&L, 0, sizeof L);
    L.f = f;
    L.err = err;
    sdc_strmap_init(&L.cache);
    sdc_status st = load(&L, data, size);
    sdc_strmap_free(&L.cache);
    free(L.loaded);
    sdc_zip_close(&L.zip);
    return st;
}

sdc_status sdc_torch_check_pickle(const unsigned char *data, size_t size, sdc_error *err) {
    sdc_pickle *p = NULL;
    sdc_status st = sdc_pickle_load(data, size, &p, err);
    sdc_pickle_free(p);
    return st;
}
