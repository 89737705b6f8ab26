/* safetensors reader and writer (see safetensors.h). */
#include "formats/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

static const struct {
    const char *name;
    sdc_dtype t;
} k_dtypes[] = {
    {"F64", SDC_DTYPE_F64}, {"F32", SDC_DTYPE_F32}, {"F16", SDC_DTYPE_F16}, {"BF16", SDC_DTYPE_BF16},
    {"I64", SDC_DTYPE_I64}, {"I32", SDC_DTYPE_I32}, {"I16", SDC_DTYPE_I16}, {"I8", SDC_DTYPE_I8},
    {"U8", SDC_DTYPE_U8},   {"BOOL", SDC_DTYPE_BOOL},
};

const char *sdc_safetensors_dtype_name(sdc_dtype t) {
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_dtypes); i++)
        if (k_dtypes[i].t == t) return k_dtypes[i].name;
    return NULL;
}

typedef struct {
    size_t begin, end, index;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static sdc_status parse_meta(sdc_weight_file *f, json_t *meta, sdc_error *err) {
    if (!json_is_object(meta)) return sdc_error_set(err, SDC_ERR_FORMAT, "__metadata__ is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v)) return sdc_error_set(err, SDC_ERR_FORMAT, "metadata '%s' is not a string", k);
        sdc_status st = sdc_weight_file_add_meta(f, k, json_string_value(v), err);
        if (st) return st;
    }
    return SDC_OK;
}

/* Validates one tensor entry and returns its dtype/shape/byte span. */
static sdc_status parse_entry(const char *name, json_t *v, size_t data_size, sdc_dtype *dtype, int *ndim,
                              int64_t *shape, span *sp, sdc_error *err) {
    if (!json_is_object(v)) return sdc_error_set(err, SDC_ERR_FORMAT, "entry '%s' is not an object", name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"), *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' lacks dtype, shape or data_offsets", name);
    const char *dn = json_string_value(jd);
    int found = 0;
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_dtypes); i++)
        if (strcmp(dn, k_dtypes[i].name) == 0) {
            *dtype = k_dtypes[i].t;
            found = 1;
        }
    if (!found) return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has unsupported dtype '%s'", name, dn);
    size_t nd = json_array_size(js);
    if (nd > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has %zu dims", name, nd);
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has an invalid shape", name);
        shape[i] = (int64_t)json_integer_value(d);
        if (!sdc_mul_ok(numel, (size_t)shape[i], &numel))
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': shape product overflows", name);
    }
    *ndim = (int)nd;
    size_t bytes;
    if (!sdc_mul_ok(numel, (size_t)sdc_dtype_block_bytes(*dtype), &bytes))
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': byte size overflows", name);
    json_t *b0 = json_array_get(jo, 0), *b1 = json_array_get(jo, 1);
    if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 || json_integer_value(b1) < 0)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has invalid data_offsets", name);
    sp->begin = (size_t)json_integer_value(b0);
    sp->end = (size_t)json_integer_value(b1);
    if (sp->begin > sp->end || sp->end > data_size)
        return sdc_error_set(err, SDC_ERR_FORMAT,
                             "tensor '%s': data_offsets [%zu, %zu] outside the %zu data bytes (truncated file?)",
                             name, sp->begin, sp->end, data_size);
    if (sp->end - sp->begin != bytes)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': %zu bytes stored, shape and dtype need %zu", name,
                             sp->end - sp->begin, bytes);
    return SDC_OK;
}

sdc_status sdc_safetensors_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err) {
    if (size < 8) return sdc_error_set(err, SDC_ERR_FORMAT, "not a safetensors file (only %zu bytes)", size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    if (hlen > size - 8)
        return sdc_error_set(err, SDC_ERR_FORMAT, "not a safetensors file (header length %llu past end of file)",
                             (unsigned long long)hlen);
    if (hlen > SDC_SAFETENSORS_MAX_HEADER)
        return sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header too large (%llu bytes)", (unsigned long long)hlen);
    if (hlen < 2 || data[8] != '{')
        return sdc_error_set(err, SDC_ERR_FORMAT, "not a safetensors file (header does not start with '{')");
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!root) return sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header is not valid JSON: %s", jerr.text);
    sdc_status st = SDC_OK;
    span *spans = NULL;
    if (!json_is_object(root)) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header is not a JSON object");
        goto done;
    }
    const unsigned char *base = data + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    size_t n = json_object_size(root), ns = 0;
    spans = calloc(n ? n : 1, sizeof *spans);
    if (!spans) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_meta(f, val, err))) goto done;
            continue;
        }
        sdc_dtype dt = SDC_DTYPE_F32;
        int nd = 0;
        int64_t shape[SDC_WEIGHT_MAX_DIMS];
        span sp;
        if ((st = parse_entry(key, val, data_size, &dt, &nd, shape, &sp, err))) goto done;
        const unsigned char *p = base + sp.begin;
        size_t align = (size_t)sdc_dtype_block_bytes(dt);
        if (sp.end > sp.begin && ((uintptr_t)p % align) != 0) {
            /* misaligned for its element type: copy so kernels can load it */
            void *copy = malloc(sp.end - sp.begin);
            if (!copy) {
                st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
                goto done;
            }
            memcpy(copy, p, sp.end - sp.begin);
            if ((st = sdc_weight_file_own(f, copy, err))) goto done;
            p = copy;
        }
        sp.index = ns;
        spans[ns++] = sp;
        if ((st = sdc_weight_file_add(f, key, dt, nd, shape, sp.end > sp.begin ? p : NULL, sp.end - sp.begin, err)))
            goto done;
    }
    qsort(spans, ns, sizeof *spans, cmp_span);
    for (size_t i = 1; i < ns; i++) {
        if (spans[i].begin < spans[i - 1].end && spans[i].begin != spans[i].end) {
            st = sdc_error_set(err, SDC_ERR_FORMAT, "tensors overlap in the data section (offset %zu)", spans[i].begin);
            goto done;
        }
    }
done:
    free(spans);
    json_decref(root);
    return st;
}

/* ---- writer ---------------------------------------------------------------- */

static sdc_status write_all(FILE *fp, const void *p, size_t n, const char *path, sdc_error *err) {
    if (n && fwrite(p, 1, n, fp) != n) return sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return SDC_OK;
}

sdc_status sdc_safetensors_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err) {
    struct stat st_path;
    if (!overwrite && stat(path, &st_path) == 0)
        return sdc_error_set(err, SDC_ERR_IO, "'%s' exists (refusing to overwrite)", path);
    json_t *root = json_object();
    if (!root) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = SDC_OK;
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    if (n_meta) {
        json_t *meta = json_object();
        for (size_t i = 0; i < n_meta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]));
        json_object_set_new(root, "__metadata__", meta);
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const sdc_weight_info *w = &tensors[i];
        const char *dn = sdc_safetensors_dtype_name(w->dtype);
        if (!dn) {
            st = sdc_error_set(err, SDC_ERR_UNSUPPORTED, "cannot store dtype %s in safetensors", sdc_dtype_name(w->dtype));
            goto done;
        }
        json_t *e = json_object(), *shape = json_array();
        for (int d = 0; d < w->ndim; d++) json_array_append_new(shape, json_integer(w->shape[d]));
        json_object_set_new(e, "dtype", json_string(dn));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + w->nbytes)));
        if (json_object_set_new(root, w->name, e) != 0 || json_object_size(root) != i + 1 + (n_meta ? 1 : 0)) {
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "duplicate tensor name '%s'", w->name);
            goto done;
        }
        off += w->nbytes;
    }
    header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!header) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        goto done;
    }
    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;
    size_t tlen = strlen(path) + 16;
    tmp = malloc(tlen);
    if (!tmp) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        goto done;
    }
    snprintf(tmp, tlen, "%s.tmp%d", path, (int)getpid());
    fp = fopen(tmp, "wb");
    if (!fp) {
        st = sdc_error_set(err, SDC_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    if ((st = write_all(fp, lenb, 8, path, err)) || (st = write_all(fp, header, hlen, path, err))) goto done;
    for (size_t i = hlen; i < padded; i++)
        if ((st = write_all(fp, " ", 1, path, err))) goto done;
    for (size_t i = 0; i < n; i++)
        if ((st = write_all(fp, tensors[i].data, tensors[i].nbytes, path, err))) goto done;
    if (fclose(fp) != 0) {
        fp = NULL;
        st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        goto done;
    }
    fp = NULL;
    if (!overwrite && stat(path, &st_path) == 0) {
        st = sdc_error_set(err, SDC_ERR_IO, "'%s' exists (refusing to overwrite)", path);
        goto done;
    }
    if (rename(tmp, path) != 0) st = sdc_error_set(err, SDC_ERR_IO, "cannot rename to '%s': %s", path, strerror(errno));
done:
    if (fp) fclose(fp);
    if (st != SDC_OK && tmp) unlink(tmp);
    free(tmp);
    free(header);
    json_decref(root);
    return st;
}
