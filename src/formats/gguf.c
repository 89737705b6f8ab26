/* GGUF reader and writer (see gguf.h). Layout per ggml's docs/gguf.md. */
#include "formats/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/outfile.h"

enum { KV_U8, KV_I8, KV_U16, KV_I16, KV_U32, KV_I32, KV_F32, KV_BOOL, KV_STRING, KV_ARRAY, KV_U64, KV_I64, KV_F64, KV_COUNT };

static const int k_kv_size[KV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const struct {
    int ggml;
    sdc_dtype t;
} k_types[] = {
    {0, SDC_DTYPE_F32},   {1, SDC_DTYPE_F16},   {2, SDC_DTYPE_Q4_0}, {3, SDC_DTYPE_Q4_1}, {6, SDC_DTYPE_Q5_0},
    {7, SDC_DTYPE_Q5_1},  {8, SDC_DTYPE_Q8_0},  {24, SDC_DTYPE_I8},  {25, SDC_DTYPE_I16}, {26, SDC_DTYPE_I32},
    {27, SDC_DTYPE_I64},  {28, SDC_DTYPE_F64},  {30, SDC_DTYPE_BF16},
};

int sdc_gguf_type_of(sdc_dtype t) {
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_types); i++)
        if (k_types[i].t == t) return k_types[i].ggml;
    return -1;
}

static const char *ggml_type_name(uint32_t g) {
    static const char *names[] = {"f32", "f16", "q4_0", "q4_1", "q4_2", "q4_3", "q5_0", "q5_1", "q8_0", "q8_1",
                                  "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs",
                                  "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64",
                                  "iq1_m", "bf16"};
    return g < SDC_ARRAY_LEN(names) ? names[g] : "unknown";
}

/* ---- reader ------------------------------------------------------------------ */

typedef struct {
    const unsigned char *d;
    size_t size, pos;
    sdc_error *err;
} rd;

static sdc_status trunc_err(rd *r) {
    return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF truncated or a length runs past the end (at byte %zu)", r->pos);
}

static sdc_status get(rd *r, void *out, size_t n) {
    if (r->size - r->pos < n) return trunc_err(r);
    memcpy(out, r->d + r->pos, n); /* little-endian host (x86-64) */
    r->pos += n;
    return SDC_OK;
}

/* A string: u64 length + bytes, returned in place (not NUL-terminated). */
static sdc_status get_str(rd *r, const char **s, size_t *n, size_t max) {
    uint64_t len = 0;
    sdc_status st = get(r, &len, 8);
    if (st) return st;
    if (len > r->size - r->pos) return trunc_err(r);
    if (len > max) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF string of %" PRIu64 " bytes (at byte %zu)", len, r->pos);
    *s = (const char *)r->d + r->pos;
    *n = (size_t)len;
    r->pos += (size_t)len;
    return SDC_OK;
}

static sdc_status skip_value(rd *r, uint32_t type, int depth);

static sdc_status skip_array(rd *r, int depth) {
    uint32_t et = 0;
    uint64_t count = 0;
    sdc_status st = get(r, &et, 4);
    if (!st) st = get(r, &count, 8);
    if (st) return st;
    if (et >= KV_COUNT || depth > 2)
        return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF array of invalid type %u (at byte %zu)", et, r->pos);
    size_t min = et == KV_STRING || et == KV_ARRAY ? 8 : (size_t)k_kv_size[et];
    if (count > (r->size - r->pos) / min) return trunc_err(r);
    if (et != KV_STRING && et != KV_ARRAY) {
        r->pos += (size_t)count * min;
        return SDC_OK;
    }
    for (uint64_t i = 0; i < count && !st; i++) st = skip_value(r, et, depth + 1);
    return st;
}

static sdc_status skip_value(rd *r, uint32_t type, int depth) {
    const char *s;
    size_t n;
    if (type == KV_STRING) return get_str(r, &s, &n, SIZE_MAX);
    if (type == KV_ARRAY) return skip_array(r, depth);
    if (type >= KV_COUNT) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF value of invalid type %u", type);
    if (r->size - r->pos < (size_t)k_kv_size[type]) return trunc_err(r);
    r->pos += (size_t)k_kv_size[type];
    return SDC_OK;
}

/* A scalar as text (for metadata), from bytes already bounds-checked. */
static void scalar_text(uint32_t type, const unsigned char *p, char *buf, size_t cap) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
        uint64_t u64; int64_t i64; double f64;
    } v;
    memcpy(&v, p, (size_t)k_kv_size[type]);
    switch (type) {
    case KV_U8: snprintf(buf, cap, "%u", v.u8); break;
    case KV_I8: snprintf(buf, cap, "%d", v.i8); break;
    case KV_U16: snprintf(buf, cap, "%u", v.u16); break;
    case KV_I16: snprintf(buf, cap, "%d", v.i16); break;
    case KV_U32: snprintf(buf, cap, "%" PRIu32, v.u32); break;
    case KV_I32: snprintf(buf, cap, "%" PRId32, v.i32); break;
    case KV_F32: snprintf(buf, cap, "%.9g", (double)v.f32); break;
    case KV_BOOL: snprintf(buf, cap, "%s", v.u8 ? "true" : "false"); break;
    case KV_U64: snprintf(buf, cap, "%" PRIu64, v.u64); break;
    case KV_I64: snprintf(buf, cap, "%" PRId64, v.i64); break;
    default: snprintf(buf, cap, "%.17g", v.f64); break;
    }
}

/* Reads one key-value; records strings and scalars as metadata. */
static sdc_status parse_kv(rd *r, sdc_weight_file *f, sdc_strmap *seen, uint32_t *alignment) {
    const char *k;
    size_t kn;
    uint32_t type = 0;
    sdc_status st = get_str(r, &k, &kn, 4095);
    if (!st) st = get(r, &type, 4);
    if (st) return st;
    char key[4096];
    memcpy(key, k, kn);
    key[kn] = '\0';
    if (strlen(key) != kn) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF key with a NUL byte");
    size_t dummy;
    if (sdc_strmap_get(seen, key, &dummy)) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF key '%s' appears twice", key);
    size_t at = r->pos;
    if ((st = skip_value(r, type, 0))) return st;
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a = 0;
        if (type == KV_U32) memcpy(&a, r->d + at, 4);
        if (type != KV_U32 || a == 0 || (a & (a - 1)) || a > (1u << 20))
            return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF general.alignment is not a power-of-two u32");
        *alignment = a;
    }
    if (type == KV_ARRAY) {
        st = sdc_weight_file_add_meta(f, key, "(array)", r->err);
    } else if (type == KV_STRING) {
        size_t n = r->pos - at - 8;
        char *v = malloc(n + 1);
        if (!v) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
        memcpy(v, r->d + at + 8, n);
        v[n] = '\0';
        st = sdc_weight_file_add_meta(f, key, v, r->err);
        free(v);
    } else {
        char buf[64];
        scalar_text(type, r->d + at, buf, sizeof buf);
        st = sdc_weight_file_add_meta(f, key, buf, r->err);
    }
    if (!st && sdc_strmap_put(seen, f->meta_keys[f->n_meta - 1], 0) < 0)
        st = sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    return st;
}

typedef struct {
    char *name;
    sdc_dtype t;
    int ndim;
    int64_t shape[SDC_WEIGHT_MAX_DIMS];
    uint64_t offset, nbytes;
} tinfo;

static sdc_status parse_tinfo(rd *r, tinfo *ti) {
    const char *s;
    size_t n;
    uint32_t nd = 0, type = 0;
    sdc_status st = get_str(r, &s, &n, 65535);
    if (!st) st = get(r, &nd, 4);
    if (st) return st;
    if (!(ti->name = malloc(n + 1))) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    memcpy(ti->name, s, n);
    ti->name[n] = '\0';
    if (strlen(ti->name) != n) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor name with a NUL byte");
    if (nd > SDC_WEIGHT_MAX_DIMS)
        return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s' has %u dims", ti->name, nd);
    uint64_t ne[SDC_WEIGHT_MAX_DIMS], numel = 1;
    if ((st = get(r, ne, 8 * (size_t)nd)) || (st = get(r, &type, 4)) || (st = get(r, &ti->offset, 8))) return st;
    int found = 0;
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_types) && !found; i++) {
        if ((uint32_t)k_types[i].ggml != type) continue;
        ti->t = k_types[i].t;
        found = 1;
    }
    if (!found)
        return sdc_error_set(r->err, SDC_ERR_UNSUPPORTED, "GGUF tensor '%s' has type %s (%u), which sdc does not read",
                             ti->name, ggml_type_name(type), type);
    ti->ndim = (int)nd;
    for (uint32_t i = 0; i < nd; i++) {
        if (ne[i] > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, ne[i], &numel))
            return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s': dims overflow", ti->name);
        ti->shape[nd - 1 - i] = (int64_t)ne[i]; /* PyTorch order: outermost first */
    }
    uint64_t be = (uint64_t)sdc_dtype_block_elems(ti->t);
    if (nd > 0 && ne[0] % be)
        return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s': row of %" PRIu64 " is not a multiple of %" PRIu64,
                             ti->name, ne[0], be);
    if (nd == 0 && be > 1) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s': quantized scalar", ti->name);
    ti->nbytes = numel <= SIZE_MAX ? sdc_dtype_row_bytes(ti->t, (size_t)numel) : 0;
    if (numel && !ti->nbytes) return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s' is too large", ti->name);
    return SDC_OK;
}

static int cmp_tinfo(const void *a, const void *b) {
    const tinfo *const *x = a, *const *y = b;
    return ((*x)->offset > (*y)->offset) - ((*x)->offset < (*y)->offset);
}

/* Offsets aligned, inside the data section, no overlaps. */
static sdc_status check_layout(rd *r, tinfo *ti, size_t n, uint64_t data_size, uint32_t alignment) {
    tinfo **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return sdc_error_set(r->err, SDC_ERR_OOM, "out of memory");
    sdc_status st = SDC_OK;
    for (size_t i = 0; i < n && !st; i++) {
        order[i] = &ti[i];
        if (ti[i].offset % alignment)
            st = sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s': offset not aligned", ti[i].name);
        else if (ti[i].offset > data_size || ti[i].nbytes > data_size - ti[i].offset)
            st = sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s': data past the end of the file (truncated?)",
                               ti[i].name);
    }
    if (!st) qsort(order, n, sizeof *order, cmp_tinfo);
    uint64_t end = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (!order[i]->nbytes) continue;
        if (order[i]->offset < end) st = sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF tensor '%s' overlaps another", order[i]->name);
        end = order[i]->offset + order[i]->nbytes;
    }
    free(order);
    return st;
}

static sdc_status parse_body(rd *r, sdc_weight_file *f, uint64_t n_tensors, uint64_t n_kv, tinfo *ti) {
    uint32_t alignment = SDC_GGUF_ALIGNMENT;
    sdc_status st = SDC_OK;
    sdc_strmap seen;
    sdc_strmap_init(&seen);
    for (uint64_t i = 0; i < n_kv && !st; i++) st = parse_kv(r, f, &seen, &alignment);
    sdc_strmap_free(&seen);
    for (uint64_t i = 0; i < n_tensors && !st; i++) st = parse_tinfo(r, &ti[i]);
    if (st) return st;
    size_t data_start;
    if (!sdc_align_up_ok(r->pos, alignment, &data_start) || data_start > r->size)
        return sdc_error_set(r->err, SDC_ERR_FORMAT, "GGUF data section starts past the end of the file");
    if ((st = check_layout(r, ti, (size_t)n_tensors, r->size - data_start, alignment))) return st;
    for (uint64_t i = 0; i < n_tensors && !st; i++) {
        const void *p = ti[i].nbytes ? r->d + data_start + ti[i].offset : NULL;
        st = sdc_weight_file_add(f, ti[i].name, ti[i].t, ti[i].ndim, ti[i].shape, p, (size_t)ti[i].nbytes, r->err);
    }
    return st;
}

sdc_status sdc_gguf_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err) {
    rd r = {data, size, 0, err};
    char magic[4] = {0};
    uint32_t version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    sdc_status st = get(&r, magic, 4);
    if (!st && memcmp(magic, "GGUF", 4) != 0) return sdc_error_set(err, SDC_ERR_FORMAT, "not a GGUF file");
    if (!st) st = get(&r, &version, 4);
    if (!st && (version < 2 || version > 3))
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "GGUF version %u (sdc reads 2 and 3)", version);
    if (!st) st = get(&r, &n_tensors, 8);
    if (!st) st = get(&r, &n_kv, 8);
    if (st) return st;
    /* a tensor info takes >= 24 bytes and a key-value >= 13 */
    if (n_tensors > SDC_GGUF_MAX_TENSORS || n_tensors > (size - r.pos) / 24 || n_kv > SDC_GGUF_MAX_KV ||
        n_kv > (size - r.pos) / 13)
        return sdc_error_set(err, SDC_ERR_FORMAT, "GGUF claims %" PRIu64 " tensors and %" PRIu64 " key-values in %zu bytes",
                             n_tensors, n_kv, size);
    tinfo *ti = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *ti);
    if (!ti) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    st = parse_body(&r, f, n_tensors, n_kv, ti);
    for (uint64_t i = 0; i < n_tensors; i++) free(ti[i].name);
    free(ti);
    return st;
}

/* ---- writer ------------------------------------------------------------------ */

static sdc_status put_str(sdc_outfile *o, const char *s, sdc_error *err) {
    uint64_t n = strlen(s);
    sdc_status st = sdc_outfile_write(o, &n, 8, err);
    return st ? st : sdc_outfile_write(o, s, (size_t)n, err);
}

static sdc_status put_kv_str(sdc_outfile *o, const char *k, const char *v, sdc_error *err) {
    uint32_t t = KV_STRING;
    sdc_status st = put_str(o, k, err);
    if (!st) st = sdc_outfile_write(o, &t, 4, err);
    return st ? st : put_str(o, v, err);
}

static sdc_status check_writer_tensor(const sdc_weight_info *w, uint64_t *nbytes, sdc_error *err) {
    if (sdc_gguf_type_of(w->dtype) < 0)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "cannot store dtype %s in GGUF", sdc_dtype_name(w->dtype));
    if (w->ndim < 0 || w->ndim > 4)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s': GGUF stores at most 4 dims", w->name);
    size_t numel = 1;
    for (int d = 0; d < w->ndim; d++)
        if (w->shape[d] < 0 || !sdc_mul_ok(numel, (size_t)w->shape[d], &numel))
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s' has an invalid shape", w->name);
    int be = sdc_dtype_block_elems(w->dtype);
    if (be > 1 && (w->ndim == 0 || w->shape[w->ndim - 1] % be))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s': last dim is not a multiple of %d", w->name, be);
    *nbytes = numel ? sdc_dtype_row_bytes(w->dtype, numel) : 0;
    if (*nbytes != w->nbytes)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s': %zu bytes given, %llu needed", w->name, w->nbytes,
                             (unsigned long long)*nbytes);
    return SDC_OK;
}

static sdc_status put_header(sdc_outfile *o, const sdc_weight_info *t, size_t n, const char *const *mk,
                             const char *const *mv, size_t n_meta, sdc_error *err) {
    uint32_t version = 3, u32 = KV_U32, align = SDC_GGUF_ALIGNMENT;
    uint64_t nt = n, nkv = n_meta + 1, off = 0;
    sdc_status st = sdc_outfile_write(o, "GGUF", 4, err);
    if (!st) st = sdc_outfile_write(o, &version, 4, err);
    if (!st) st = sdc_outfile_write(o, &nt, 8, err);
    if (!st) st = sdc_outfile_write(o, &nkv, 8, err);
    if (!st) st = put_str(o, "general.alignment", err);
    if (!st) st = sdc_outfile_write(o, &u32, 4, err);
    if (!st) st = sdc_outfile_write(o, &align, 4, err);
    for (size_t i = 0; i < n_meta && !st; i++) st = put_kv_str(o, mk[i], mv[i], err);
    for (size_t i = 0; i < n && !st; i++) {
        uint64_t nbytes = 0, ne[4] = {1, 1, 1, 1};
        uint32_t nd = (uint32_t)t[i].ndim, type;
        if ((st = check_writer_tensor(&t[i], &nbytes, err))) break;
        type = (uint32_t)sdc_gguf_type_of(t[i].dtype);
        for (uint32_t d = 0; d < nd; d++) ne[d] = (uint64_t)t[i].shape[nd - 1 - d];
        if (nd == 0) nd = 1; /* scalars are stored as [1]: ggml tensors have at least one dim */
        st = put_str(o, t[i].name, err);
        if (!st) st = sdc_outfile_write(o, &nd, 4, err);
        if (!st) st = sdc_outfile_write(o, ne, 8 * (size_t)nd, err);
        if (!st) st = sdc_outfile_write(o, &type, 4, err);
        if (!st) st = sdc_outfile_write(o, &off, 8, err);
        off += (nbytes + SDC_GGUF_ALIGNMENT - 1) / SDC_GGUF_ALIGNMENT * SDC_GGUF_ALIGNMENT;
    }
    if (!st) st = sdc_outfile_pad(o, (size_t)((SDC_GGUF_ALIGNMENT - o->written % SDC_GGUF_ALIGNMENT) % SDC_GGUF_ALIGNMENT), err);
    return st;
}

#define FILL_CHUNK (4u << 20)

sdc_status sdc_gguf_write_stream(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_tensor_fill_fn fill,
                                 void *user, sdc_error *err) {
    sdc_strmap names;
    sdc_strmap_init(&names);
    sdc_status st = SDC_OK;
    for (size_t i = 0; i < n && !st; i++) {
        int r = tensors[i].name ? sdc_strmap_put(&names, tensors[i].name, i) : 0;
        if (r <= 0)
            st = r < 0 ? sdc_error_set(err, SDC_ERR_OOM, "out of memory")
                       : sdc_error_set(err, SDC_ERR_INVALID_ARG, "missing or duplicate tensor name '%s'",
                                       tensors[i].name ? tensors[i].name : "");
    }
    sdc_strmap_free(&names);
    if (st) return st;
    unsigned char *chunk = malloc(FILL_CHUNK);
    if (!chunk) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_outfile o;
    st = sdc_outfile_open(&o, path, overwrite, err);
    if (!st) st = put_header(&o, tensors, n, meta_keys, meta_values, n_meta, err);
    for (size_t i = 0; i < n && !st; i++) {
        size_t bb = (size_t)sdc_dtype_block_bytes(tensors[i].dtype), step = FILL_CHUNK / bb * bb;
        for (size_t off = 0; off < tensors[i].nbytes && !st; off += step) {
            size_t k = SDC_MIN(step, tensors[i].nbytes - off);
            st = fill(user, i, off, chunk, k, err);
            if (!st) st = sdc_outfile_write(&o, chunk, k, err);
        }
        if (!st) st = sdc_outfile_pad(&o, (SDC_GGUF_ALIGNMENT - tensors[i].nbytes % SDC_GGUF_ALIGNMENT) % SDC_GGUF_ALIGNMENT, err);
    }
    if (st) sdc_outfile_abort(&o);
    else st = sdc_outfile_commit(&o, err);
    free(chunk);
    return st;
}

static sdc_status fill_from_data(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err) {
    const sdc_weight_info *t = user;
    if (!t[i].data) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "tensor '%s' has no data", t[i].name);
    memcpy(dst, (const unsigned char *)t[i].data + offset, n);
    return SDC_OK;
}

sdc_status sdc_gguf_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                          const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err) {
    return sdc_gguf_write_stream(path, tensors, n, meta_keys, meta_values, n_meta, overwrite, fill_from_data,
                                 (void *)tensors, err);
}
