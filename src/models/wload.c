/* Weight loading helpers (see wload.h). */
#include "models/wload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void sdc_wstore_free(sdc_wstore *s) {
    for (size_t i = 0; i < s->n; i++) sdc_free_aligned(s->bufs[i]);
    free(s->bufs);
    memset(s, 0, sizeof *s);
}

void *sdc_wstore_alloc(sdc_wstore *s, size_t bytes) {
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        void **nb = realloc(s->bufs, ncap * sizeof *nb);
        if (!nb) return NULL;
        s->bufs = nb;
        s->cap = ncap;
    }
    void *p = sdc_alloc_aligned(bytes);
    if (!p) return NULL;
    s->bufs[s->n++] = p;
    s->bytes += bytes;
    return p;
}

static void full_name(const sdc_wload *l, char *buf, size_t size, const char *fmt, va_list ap) {
    int n = snprintf(buf, size, "%s", l->prefix ? l->prefix : "");
    if (n < 0 || (size_t)n >= size) n = 0;
    vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

static const sdc_weight_info *lookup(sdc_wload *l, const char *name) {
    if (!sdc_wl_ok(l)) return NULL;
    const sdc_weight_info *w = sdc_model_files_find(l->files, name);
    if (!w) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "missing tensor '%s'", name);
        return NULL;
    }
    if (!sdc_dtype_is_float(w->dtype) && w->dtype < SDC_DTYPE_Q8_0) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "tensor '%s' has non-float dtype %s", name, sdc_dtype_name(w->dtype));
        return NULL;
    }
    return w;
}

static bool check_dims(sdc_wload *l, const char *name, const sdc_weight_info *w, int nd, const int64_t *want) {
    bool ok = w->ndim == nd;
    for (int i = 0; ok && i < nd; i++) ok = want[i] < 0 || w->shape[i] == want[i];
    if (ok) return true;
    char got[128] = "", exp[128] = "";
    int g = 0, e = 0;
    for (int i = 0; i < w->ndim; i++) g += snprintf(got + g, sizeof got - (size_t)g, i ? ", %lld" : "%lld", (long long)w->shape[i]);
    for (int i = 0; i < nd; i++) {
        if (want[i] < 0) e += snprintf(exp + e, sizeof exp - (size_t)e, i ? ", *" : "*");
        else e += snprintf(exp + e, sizeof exp - (size_t)e, i ? ", %lld" : "%lld", (long long)want[i]);
    }
    sdc_error_set(l->err, SDC_ERR_FORMAT, "tensor '%s' has shape [%s], expected [%s]", name, got, exp);
    return false;
}

/* the dtype a matrix is held in */
static sdc_dtype mat_type(const sdc_wload *l, const sdc_weight_info *w) {
    if (l->mat_dtype != SDC_WLOAD_KEEP) return l->mat_dtype;
    bool plain = w->dtype == SDC_DTYPE_F32 || w->dtype == SDC_DTYPE_F16 || w->dtype == SDC_DTYPE_BF16;
    return plain ? w->dtype : SDC_DTYPE_F32;
}

static sdc_tensor *new_desc(sdc_wload *l) {
    sdc_tensor *t = sdc_wstore_alloc(l->store, sizeof *t);
    if (!t) sdc_error_set(l->err, SDC_ERR_OOM, "out of memory loading weights");
    return t;
}

/* f32/f16/bf16/quantized data -> dst dtype, n elements */
static void convert(sdc_dtype src_t, const void *src, sdc_dtype dst_t, void *dst, size_t n) {
    if (src_t == dst_t) {
        memcpy(dst, src, n * (size_t)sdc_dtype_block_bytes(dst_t));
        return;
    }
    if (dst_t == SDC_DTYPE_F32) {
        sdc_convert_to_f32(src_t, src, dst, n);
        return;
    }
    float tmp[1024];
    size_t bs = (size_t)sdc_dtype_block_elems(src_t);
    for (size_t i = 0; i < n; i += 1024) {
        size_t m = SDC_MIN((size_t)1024, n - i);
        sdc_convert_to_f32(src_t, (const char *)src + i / bs * (size_t)sdc_dtype_block_bytes(src_t), tmp, m);
        sdc_convert_from_f32(dst_t, tmp, (char *)dst + i * (size_t)sdc_dtype_block_bytes(dst_t), m);
    }
}

/* Converts w's data (n elements) into dst of dtype t, applying the patch
 * for `name` when there is one. */
static bool convert_patched(sdc_wload *l, const char *name, const sdc_weight_info *w, sdc_dtype t, void *dst, size_t n) {
    if (!l->patch || !l->patch->has(l->patch->user, name)) {
        convert(w->dtype, w->data, t, dst, n);
        return true;
    }
    float *f = t == SDC_DTYPE_F32 ? dst : malloc(n * sizeof *f);
    if (!f) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory patching '%s'", name);
        return false;
    }
    convert(w->dtype, w->data, SDC_DTYPE_F32, f, n);
    bool ok = l->patch->apply(l->patch->user, name, f, w->ndim, w->shape, l->err) == SDC_OK;
    if (t != SDC_DTYPE_F32) {
        if (ok) sdc_convert_from_f32(t, f, dst, n);
        free(f);
    }
    return ok;
}

static bool patched(const sdc_wload *l, const char *name) { return l->patch && l->patch->has(l->patch->user, name); }

/* A copy of w's data in dtype t (or the data itself when it already is and
 * nothing patches it). name is the canonical name (for patches). */
static void *as_dtype(sdc_wload *l, const char *name, const sdc_weight_info *w, sdc_dtype t, bool allow_alias) {
    size_t n = (size_t)sdc_weight_numel(w);
    l->n_params += (int64_t)n;
    if (w->dtype == t && allow_alias && !patched(l, name)) return (void *)w->data;
    void *buf = sdc_wstore_alloc(l->store, n * (size_t)sdc_dtype_block_bytes(t));
    if (!buf) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory converting '%s'", name);
        return NULL;
    }
    return convert_patched(l, name, w, t, buf, n) ? buf : NULL;
}

/* ---- packing at load ------------------------------------------------------ */

static bool plain_dtype(sdc_dtype t) { return t == SDC_DTYPE_F32 || t == SDC_DTYPE_F16 || t == SDC_DTYPE_BF16; }

/* Bytes of the packed form of an [N, K] matrix of type t; 0 when not packing. */
static size_t pack_bytes(const sdc_wload *l, int64_t N, int64_t K, sdc_dtype t) {
    if (!l->pack || !l->pack->k || !l->pack->k->packed_size || !l->pack->k->pack_weights || l->no_pack) return 0;
    return l->pack->k->packed_size(N, K, t, l->pack->compute);
}

/* Packs src [N, K] (type st, rows K apart) into the store as t->packed. */
static bool pack_into(sdc_wload *l, const char *name, sdc_tensor *t, int64_t N, int64_t K, sdc_dtype st,
                      const void *src, size_t bytes) {
    void *buf = sdc_wstore_alloc(l->store, bytes);
    if (!buf) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory packing '%s'", name);
        return false;
    }
    t->packed = l->pack->k->pack_weights(l->pack->pool, N, K, st, src, K, l->pack->compute, buf);
    return true;
}

/* The stored data will only be read again if a call cannot use the packed
 * form: let its mapped pages go (they fault back in from the file). */
static void release_mapped(const sdc_wload *l, const sdc_weight_info *w) {
    if (l->release_source && sdc_model_files_is_mapped(l->files, w->data, w->nbytes))
        sdc_mapfile_release(w->data, w->nbytes);
}

/* A stored matrix used in place next to its packed form: file dtype f32 /
 * f16 / bf16, nothing patches it, and packing is on. */
static bool pack_in_place(const sdc_wload *l, const char *name, const sdc_weight_info *w, int64_t N, int64_t K) {
    return plain_dtype(w->dtype) && !patched(l, name) && pack_bytes(l, N, K, w->dtype) > 0;
}

/* [N, K] matrix w as a tensor: with packing, the stored data in place plus
 * the packed form; else as_dtype's data in mt (also packed when packing). */
static sdc_tensor *matrix(sdc_wload *l, const char *name, const sdc_weight_info *w, int64_t N, int64_t K, sdc_dtype mt,
                          int nd) {
    bool in_place = pack_in_place(l, name, w, N, K);
    sdc_dtype dt = in_place ? w->dtype : mt;
    void *data = in_place ? (void *)w->data : as_dtype(l, name, w, mt, true);
    if (in_place) l->n_params += (int64_t)sdc_weight_numel(w);
    sdc_tensor *t = data ? new_desc(l) : NULL;
    if (!t) return NULL;
    *t = nd == 4 ? sdc_tensor_4d(dt, data, N, 1, 1, K) : sdc_tensor_2d(dt, data, N, K);
    size_t pb = pack_bytes(l, N, K, dt);
    if (pb && !pack_into(l, name, t, N, K, dt, data, pb)) return NULL;
    if (in_place) release_mapped(l, w);
    return t;
}

sdc_tensor *sdc_wl_vec(sdc_wload *l, int64_t n, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    const sdc_weight_info *w = lookup(l, name);
    if (!w) return NULL;
    int64_t numel = sdc_weight_numel(w);
    if (n >= 0 && numel != n) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "tensor '%s' has %lld elements, expected %lld", name, (long long)numel,
                      (long long)n);
        return NULL;
    }
    void *data = as_dtype(l, name, w, SDC_DTYPE_F32, true);
    sdc_tensor *t = data ? new_desc(l) : NULL;
    if (t) *t = sdc_tensor_1d(SDC_DTYPE_F32, data, numel);
    return t;
}

sdc_tensor *sdc_wl_f32(sdc_wload *l, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    const sdc_weight_info *w = lookup(l, name);
    if (!w) return NULL;
    void *data = as_dtype(l, name, w, SDC_DTYPE_F32, true);
    sdc_tensor *t = data ? new_desc(l) : NULL;
    if (t) {
        *t = sdc_weight_tensor(w);
        t->dtype = SDC_DTYPE_F32;
        t->data = data;
    }
    return t;
}

sdc_tensor *sdc_wl_linear(sdc_wload *l, int64_t N, int64_t K, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    const sdc_weight_info *w = lookup(l, name);
    if (!w) return NULL;
    int64_t want4[4] = {N, K, 1, 1};
    if (!(w->ndim == 4 ? check_dims(l, name, w, 4, want4) : check_dims(l, name, w, 2, want4))) return NULL;
    return matrix(l, name, w, w->shape[0], w->shape[1], mat_type(l, w), 2);
}

typedef struct transpose_job {
    const void *src;
    void *dst;
    int64_t co, ci, taps;
    size_t es;
} transpose_job;

#define TRANSPOSE_ROWS 16 /* output channels per task */

/* [co][ci][taps] -> [co][taps][ci] for rows [16 t, 16 t + 16): reads in
 * order, writes `taps` sequential streams. */
static void transpose_task(void *v, int t) {
    const transpose_job *j = v;
    int64_t o1 = SDC_MIN(j->co, (int64_t)(t + 1) * TRANSPOSE_ROWS), ci = j->ci, taps = j->taps;
    for (int64_t o = (int64_t)t * TRANSPOSE_ROWS; o < o1; o++) {
        int64_t base = o * ci * taps;
        if (j->es == 2) {
            const uint16_t *s = (const uint16_t *)j->src + base;
            uint16_t *d = (uint16_t *)j->dst + base;
            for (int64_t c = 0; c < ci; c++)
                for (int64_t k = 0; k < taps; k++) d[k * ci + c] = s[c * taps + k];
        } else {
            const uint32_t *s = (const uint32_t *)j->src + base;
            uint32_t *d = (uint32_t *)j->dst + base;
            for (int64_t c = 0; c < ci; c++)
                for (int64_t k = 0; k < taps; k++) d[k * ci + c] = s[c * taps + k];
        }
    }
}

/* [co][ci][taps] -> [co][taps][ci] for 2- or 4-byte elements, on the
 * packing threads when there are some */
static void transpose_taps(const sdc_wload *l, const void *src, void *dst, int64_t co, int64_t ci, int64_t taps,
                           size_t es) {
    transpose_job j = {src, dst, co, ci, taps, es};
    sdc_pool_run(l->pack ? l->pack->pool : NULL, (int)sdc_ceil_div(co, TRANSPOSE_ROWS), transpose_task, &j);
}

/* A temporary of at least `bytes`, kept across calls (page faults of a
 * fresh allocation per weight cost more than the copy); freed by
 * sdc_wl_free_temp. */
static void *wl_temp(sdc_wload *l, size_t bytes) {
    if (l->temp_bytes >= bytes) return l->temp;
    free(l->temp);
    l->temp = malloc(bytes);
    l->temp_bytes = l->temp ? bytes : 0;
    return l->temp;
}

void sdc_wl_free_temp(sdc_wload *l) {
    free(l->temp);
    l->temp = NULL;
    l->temp_bytes = 0;
}

/* Packed convolution weights: transposed to [Cout, kh, kw, Cin] in a
 * temporary, packed from there; the tensor is a strided [Cout, kh, kw, Cin]
 * view of the stored [Cout, Cin, kh, kw] data. */
static sdc_tensor *conv_packed(sdc_wload *l, const char *name, const sdc_weight_info *w, sdc_tensor *t) {
    int64_t co = w->shape[0], ci = w->shape[1], h = w->shape[2], wd = w->shape[3], K = ci * h * wd;
    size_t es = (size_t)sdc_dtype_block_bytes(w->dtype), n = (size_t)(co * K), pb = pack_bytes(l, co, K, w->dtype);
    void *tmp = wl_temp(l, n * es);
    if (!tmp) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory packing '%s'", name);
        return NULL;
    }
    transpose_taps(l, w->data, tmp, co, ci, h * wd, es);
    if (!pack_into(l, name, t, co, K, w->dtype, tmp, pb)) return NULL;
    const sdc_packed_weights *p = t->packed;
    *t = sdc_tensor_4d(w->dtype, (void *)w->data, co, h, wd, ci);
    t->stride[0] = K, t->stride[1] = wd, t->stride[2] = 1, t->stride[3] = h * wd;
    t->packed = p;
    l->n_params += (int64_t)n;
    release_mapped(l, w);
    return t;
}

sdc_tensor *sdc_wl_conv(sdc_wload *l, int64_t Cout, int64_t Cin, int64_t kh, int64_t kw, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    const sdc_weight_info *w = lookup(l, name);
    int64_t want[4] = {Cout, Cin, kh, kw};
    if (!w || !check_dims(l, name, w, 4, want)) return NULL;
    int64_t co = w->shape[0], ci = w->shape[1], h = w->shape[2], wd = w->shape[3];
    sdc_dtype mt = mat_type(l, w);
    if (h == 1 && wd == 1) /* [Cout, Cin, 1, 1] is already [Cout, 1, 1, Cin] */
        return matrix(l, name, w, co, ci, mt, 4);
    sdc_tensor *t = new_desc(l);
    if (!t) return NULL;
    if (pack_in_place(l, name, w, co, h * wd * ci)) return conv_packed(l, name, w, t);
    /* convert to the target dtype, then transpose [co][ci][h][w] -> [co][h][w][ci] */
    /* convert (or patch) into a temporary unless the stored data can be
     * transposed as is, then transpose into the kept buffer */
    size_t es = (size_t)sdc_dtype_block_bytes(mt), n = (size_t)(co * ci * h * wd);
    const void *src = w->data;
    void *tmp = NULL;
    if (w->dtype != mt || patched(l, name)) {
        tmp = malloc(n * es);
        if (!tmp) {
            sdc_error_set(l->err, SDC_ERR_OOM, "out of memory converting '%s'", name);
            return NULL;
        }
        if (!convert_patched(l, name, w, mt, tmp, n)) {
            free(tmp);
            return NULL;
        }
        src = tmp;
    }
    l->n_params += (int64_t)n;
    void *out = sdc_wstore_alloc(l->store, n * es);
    if (out) transpose_taps(l, src, out, co, ci, h * wd, es);
    free(tmp);
    /* the stored copy will not be read again: let its pages go */
    if (out && l->release_source && sdc_model_files_is_mapped(l->files, w->data, w->nbytes))
        sdc_mapfile_release(w->data, w->nbytes);
    if (!out) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory repacking '%s'", name);
        return NULL;
    }
    *t = sdc_tensor_4d(mt, out, co, h, wd, ci);
    size_t pb = pack_bytes(l, co, h * wd * ci, mt); /* patched or quantized: packed next to the copy */
    if (pb && !pack_into(l, name, t, co, h * wd * ci, mt, out, pb)) return NULL;
    return t;
}

sdc_tensor *sdc_wl_linear_cat(sdc_wload *l, int n_parts, const char *const *names, int64_t K) {
    const sdc_weight_info *ws[8];
    int64_t rows = 0;
    char name[512];
    if (n_parts > 8) return NULL;
    for (int i = 0; i < n_parts; i++) {
        snprintf(name, sizeof name, "%s%s", l->prefix ? l->prefix : "", names[i]);
        ws[i] = lookup(l, name);
        int64_t want[4] = {-1, K, 1, 1}; /* [N, K] or a 1x1 conv [N, K, 1, 1] */
        if (!ws[i] || !check_dims(l, name, ws[i], ws[i]->ndim == 4 ? 4 : 2, want)) return NULL;
        rows += ws[i]->shape[0];
    }
    sdc_dtype mt = mat_type(l, ws[0]);
    size_t es = (size_t)sdc_dtype_block_bytes(mt), pb = plain_dtype(mt) ? pack_bytes(l, rows, K, mt) : 0;
    /* packing: the fused matrix is built in a temporary and kept packed only */
    char *out = pb ? malloc((size_t)(rows * K) * es) : sdc_wstore_alloc(l->store, (size_t)(rows * K) * es);
    sdc_tensor *t = out ? new_desc(l) : NULL;
    if (!t) {
        if (pb) free(out);
        if (sdc_wl_ok(l)) sdc_error_set(l->err, SDC_ERR_OOM, "out of memory loading '%s'", names[0]);
        return NULL;
    }
    size_t off = 0;
    bool ok = true;
    for (int i = 0; i < n_parts && ok; i++) {
        size_t n = (size_t)sdc_weight_numel(ws[i]);
        snprintf(name, sizeof name, "%s%s", l->prefix ? l->prefix : "", names[i]);
        ok = convert_patched(l, name, ws[i], mt, out + off * es, n);
        l->n_params += (int64_t)n;
        off += n;
    }
    *t = sdc_tensor_2d(mt, pb ? NULL : out, rows, K);
    if (ok && pb) ok = pack_into(l, names[0], t, rows, K, mt, out, pb);
    if (pb) free(out);
    return ok ? t : NULL;
}

sdc_tensor *sdc_wl_vec_cat(sdc_wload *l, int n_parts, const char *const *names, const int64_t *sizes) {
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) total += sizes[i];
    float *out = sdc_wl_ok(l) ? sdc_wstore_alloc(l->store, (size_t)total * 4) : NULL;
    sdc_tensor *t = out ? new_desc(l) : NULL;
    if (!t) return NULL;
    int64_t off = 0;
    char name[512];
    for (int i = 0; i < n_parts; i++) {
        if (!names[i]) {
            memset(out + off, 0, (size_t)sizes[i] * 4);
        } else {
            snprintf(name, sizeof name, "%s%s", l->prefix ? l->prefix : "", names[i]);
            const sdc_weight_info *w = lookup(l, name);
            if (!w) return NULL;
            if (sdc_weight_numel(w) != sizes[i]) {
                sdc_error_set(l->err, SDC_ERR_FORMAT, "tensor '%s' has %lld elements, expected %lld", name,
                              (long long)sdc_weight_numel(w), (long long)sizes[i]);
                return NULL;
            }
            if (!convert_patched(l, name, w, SDC_DTYPE_F32, out + off, (size_t)sizes[i])) return NULL;
            l->n_params += sizes[i];
        }
        off += sizes[i];
    }
    *t = sdc_tensor_1d(SDC_DTYPE_F32, out, total);
    return t;
}

bool sdc_wl_has(const sdc_wload *l, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    return sdc_model_files_find(l->files, name) != NULL;
}

const sdc_weight_info *sdc_wl_info(const sdc_wload *l, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    full_name(l, name, sizeof name, fmt, ap);
    va_end(ap);
    return sdc_model_files_find(l->files, name);
}
