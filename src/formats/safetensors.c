/* safetensors reader, writer and shard index (see safetensors.h). */
#include "formats/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/outfile.h"

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
    size_t begin, end;
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

static sdc_status parse_shape(const char *name, json_t *js, int *ndim, int64_t *shape, size_t *numel, sdc_error *err) {
    size_t nd = json_array_size(js);
    if (nd > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has %zu dims (max %d)", name, nd, SDC_WEIGHT_MAX_DIMS);
    *numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has an invalid shape", name);
        shape[i] = (int64_t)json_integer_value(d);
        if ((uint64_t)shape[i] > SIZE_MAX || !sdc_mul_ok(*numel, (size_t)shape[i], numel))
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': shape product overflows", name);
    }
    *ndim = (int)nd;
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
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_dtypes) && !found; i++)
        if (strcmp(dn, k_dtypes[i].name) == 0) {
            *dtype = k_dtypes[i].t;
            found = 1;
        }
    if (!found) return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s' has unsupported dtype '%.32s'", name, dn);
    size_t numel = 0, bytes = 0;
    sdc_status st = parse_shape(name, js, ndim, shape, &numel, err);
    if (st) return st;
    if (!sdc_mul_ok(numel, (size_t)sdc_dtype_block_bytes(*dtype), &bytes))
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': byte size overflows", name);
    json_t *b0 = json_array_get(jo, 0), *b1 = json_array_get(jo, 1);
    if (!json_is_integer(b0) || !json_is_integer(b1) || json_integer_value(b0) < 0 || json_integer_value(b1) < 0)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' has invalid data_offsets", name);
    uint64_t o0 = (uint64_t)json_integer_value(b0), o1 = (uint64_t)json_integer_value(b1);
    if (o0 > o1 || o1 > data_size)
        return sdc_error_set(err, SDC_ERR_FORMAT,
                             "tensor '%s': data_offsets [%llu, %llu] outside the %zu data bytes (truncated file?)", name,
                             (unsigned long long)o0, (unsigned long long)o1, data_size);
    sp->begin = (size_t)o0;
    sp->end = (size_t)o1;
    if (sp->end - sp->begin != bytes)
        return sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s': %zu bytes stored, shape and dtype need %zu", name,
                             sp->end - sp->begin, bytes);
    return SDC_OK;
}

/* Registers one tensor (sdc_weight_file_add copies it when misaligned for its element type). */
static sdc_status add_tensor(sdc_weight_file *f, const char *name, sdc_dtype dt, int nd, const int64_t *shape,
                             const unsigned char *p, size_t nbytes, sdc_error *err) {
    return sdc_weight_file_add(f, name, dt, nd, shape, nbytes ? p : NULL, nbytes, err);
}

static sdc_status check_overlaps(span *spans, size_t ns, sdc_error *err) {
    qsort(spans, ns, sizeof *spans, cmp_span);
    size_t max_end = 0;
    for (size_t i = 0; i < ns; i++) {
        if (spans[i].begin == spans[i].end) continue; /* empty tensors occupy nothing */
        if (spans[i].begin < max_end)
            return sdc_error_set(err, SDC_ERR_FORMAT, "tensors overlap in the data section (offset %zu)", spans[i].begin);
        max_end = spans[i].end;
    }
    return SDC_OK;
}

static sdc_status load_header(const unsigned char *data, size_t size, json_t **root, size_t *hlen_out, sdc_error *err) {
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
    const char *h = (const char *)data + 8;
    *root = json_loadb(h, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!*root) return sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header is not valid JSON: %s", jerr.text);
    /* only padding (spaces) may follow the object */
    for (size_t i = (size_t)jerr.position; i < hlen; i++) {
        if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r' && h[i] != '\0') {
            json_decref(*root);
            *root = NULL;
            return sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header has trailing bytes after the JSON object");
        }
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return sdc_error_set(err, SDC_ERR_FORMAT, "safetensors header is not a JSON object");
    }
    *hlen_out = (size_t)hlen;
    return SDC_OK;
}

sdc_status sdc_safetensors_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err) {
    json_t *root = NULL;
    size_t hlen = 0;
    sdc_status st = load_header(data, size, &root, &hlen, err);
    if (st) return st;
    const unsigned char *base = data + 8 + hlen;
    size_t data_size = size - 8 - hlen;
    size_t n = json_object_size(root), ns = 0;
    span *spans = calloc(n ? n : 1, sizeof *spans);
    if (!spans) {
        json_decref(root);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_meta(f, val, err))) break;
            continue;
        }
        sdc_dtype dt = SDC_DTYPE_F32;
        int nd = 0;
        int64_t shape[SDC_WEIGHT_MAX_DIMS];
        span sp;
        if ((st = parse_entry(key, val, data_size, &dt, &nd, shape, &sp, err))) break;
        spans[ns++] = sp;
        if ((st = add_tensor(f, key, dt, nd, shape, base + sp.begin, sp.end - sp.begin, err))) break;
    }
    if (st == SDC_OK) st = check_overlaps(spans, ns, err);
    free(spans);
    json_decref(root);
    return st;
}

/* ---- writer ---------------------------------------------------------------- */

static sdc_status check_tensor(const sdc_weight_info *w, sdc_error *err) {
    if (!w->name || !*w->name || strcmp(w->name, "__metadata__") == 0)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid tensor name '%s'", w->name ? w->name : "(null)");
    if (!sdc_safetensors_dtype_name(w->dtype))
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "cannot store dtype %s in safetensors", sdc_dtype_name(w->dtype));
    if (w->ndim < 0 || w->ndim > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s' has %d dims", w->name, w->ndim);
    size_t numel = 1, bytes;
    for (int d = 0; d < w->ndim; d++)
        if (w->shape[d] < 0 || !sdc_mul_ok(numel, (size_t)w->shape[d], &numel))
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s' has an invalid shape", w->name);
    if (!sdc_mul_ok(numel, (size_t)sdc_dtype_block_bytes(w->dtype), &bytes) || bytes != w->nbytes)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s': %zu bytes given, shape and dtype need %zu", w->name,
                             w->nbytes, bytes);
    return SDC_OK;
}

/* The JSON header text, padded with spaces to a multiple of 8. */
static sdc_status make_header(const sdc_weight_info *tensors, size_t n, const char *const *mk, const char *const *mv,
                              size_t n_meta, char **out, sdc_error *err) {
    *out = NULL;
    json_t *root = json_object(), *meta = n_meta ? json_object() : NULL;
    sdc_status st = SDC_OK;
    if (!root || (n_meta && !meta)) {
        json_decref(root);
        json_decref(meta);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    for (size_t i = 0; i < n_meta && st == SDC_OK; i++)
        if (!mk[i] || !mv[i] || json_object_set_new(meta, mk[i], json_string(mv[i])) != 0)
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid metadata entry %zu (not UTF-8?)", i);
    if (meta && json_object_set_new(root, "__metadata__", meta) != 0 && st == SDC_OK)
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < n && st == SDC_OK; i++) {
        const sdc_weight_info *w = &tensors[i];
        if ((st = check_tensor(w, err))) break;
        if (json_object_get(root, w->name)) {
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "duplicate tensor name '%s'", w->name);
            break;
        }
        json_t *shape = json_array();
        for (int d = 0; d < w->ndim && shape; d++) json_array_append_new(shape, json_integer(w->shape[d]));
        json_t *e = json_pack("{s:s,s:o,s:[I,I]}", "dtype", sdc_safetensors_dtype_name(w->dtype), "shape", shape,
                              "data_offsets", (json_int_t)off, (json_int_t)(off + w->nbytes));
        if (!e || json_object_set_new(root, w->name, e) != 0)
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "cannot store tensor name '%s' (not UTF-8?)", w->name);
        off += w->nbytes;
    }
    char *text = st == SDC_OK ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (st) return st;
    if (!text) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    char *p = realloc(text, padded + 1);
    if (!p) {
        free(text);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    memset(p + len, ' ', padded - len);
    p[padded] = '\0';
    *out = p;
    return SDC_OK;
}

#define FILL_CHUNK (4u << 20)

sdc_status sdc_safetensors_write_stream(const char *path, const sdc_weight_info *tensors, size_t n,
                                        const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                        int overwrite, sdc_tensor_fill_fn fill, void *user, sdc_error *err) {
    char *header = NULL;
    sdc_status st = make_header(tensors, n, meta_keys, meta_values, n_meta, &header, err);
    if (st) return st;
    unsigned char *chunk = malloc(FILL_CHUNK);
    sdc_outfile o;
    if (!chunk) {
        free(header);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    if ((st = sdc_outfile_open(&o, path, overwrite, err))) goto done;
    size_t hlen = strlen(header);
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    st = sdc_outfile_write(&o, lenb, 8, err);
    if (!st) st = sdc_outfile_write(&o, header, hlen, err);
    for (size_t i = 0; i < n && !st; i++) {
        for (size_t off = 0; off < tensors[i].nbytes && !st; off += FILL_CHUNK) {
            size_t k = SDC_MIN((size_t)FILL_CHUNK, tensors[i].nbytes - off);
            st = fill(user, i, off, chunk, k, err);
            if (!st) st = sdc_outfile_write(&o, chunk, k, err);
        }
    }
    if (st) sdc_outfile_abort(&o);
    else st = sdc_outfile_commit(&o, err);
done:
    free(chunk);
    free(header);
    return st;
}

static sdc_status fill_from_data(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err) {
    const sdc_weight_info *t = user;
    if (!t[i].data) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s' has no data", t[i].name);
    memcpy(dst, (const unsigned char *)t[i].data + offset, n);
    return SDC_OK;
}

sdc_status sdc_safetensors_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err) {
    return sdc_safetensors_write_stream(path, tensors, n, meta_keys, meta_values, n_meta, overwrite, fill_from_data,
                                        (void *)tensors, err);
}

/* ---- shard index ----------------------------------------------------------- */

void sdc_shard_index_free(sdc_shard_index *ix) {
    for (size_t i = 0; i < ix->n_shards; i++) free(ix->shards[i]);
    for (size_t i = 0; i < ix->n_tensors; i++) free(ix->tensor_names[i]);
    free(ix->shards);
    free(ix->tensor_names);
    free(ix->tensor_shard);
    memset(ix, 0, sizeof *ix);
}

static int plain_file_name(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Index of shard name s in ix, adding it when new; -1 on out of memory. */
static long shard_slot(sdc_shard_index *ix, const char *s) {
    for (size_t i = 0; i < ix->n_shards; i++)
        if (strcmp(ix->shards[i], s) == 0) return (long)i;
    char *copy = sdc_strdup(s);
    if (!copy) return -1;
    ix->shards[ix->n_shards] = copy;
    return (long)ix->n_shards++;
}

sdc_status sdc_shard_index_parse(const char *text, size_t len, sdc_shard_index *out, sdc_error *err) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return sdc_error_set(err, SDC_ERR_FORMAT, "index is not valid JSON: %s (line %d)", jerr.text, jerr.line);
    json_t *map = json_object_get(root, "weight_map");
    sdc_status st = SDC_OK;
    size_t n = json_object_size(map);
    if (!json_is_object(map) || n == 0) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "index has no \"weight_map\" object");
        goto done;
    }
    out->shards = calloc(n, sizeof *out->shards);
    out->tensor_names = calloc(n, sizeof *out->tensor_names);
    out->tensor_shard = calloc(n, sizeof *out->tensor_shard);
    if (!out->shards || !out->tensor_names || !out->tensor_shard) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        if (!json_is_string(val) || !plain_file_name(json_string_value(val))) {
            st = sdc_error_set(err, SDC_ERR_FORMAT, "weight_map entry '%s' is not a file name in the same folder", key);
            goto done;
        }
        long s = shard_slot(out, json_string_value(val));
        char *name = sdc_strdup(key);
        if (s < 0 || !name) {
            free(name);
            st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
            goto done;
        }
        out->tensor_names[out->n_tensors] = name;
        out->tensor_shard[out->n_tensors++] = (size_t)s;
    }
done:
    json_decref(root);
    if (st) sdc_shard_index_free(out);
    return st;
}
