/* Model conversion (see convert.h). */
#include "formats/convert.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/gguf.h"
#include "formats/quantize.h"
#include "formats/safetensors.h"

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static int is_block(sdc_dtype t) { return sdc_dtype_block_elems(t) > 1; }

sdc_dtype sdc_convert_target(const sdc_weight_info *w, int requested, int gguf) {
    int floaty = sdc_dtype_is_float(w->dtype) || is_block(w->dtype);
    if (!floaty) return w->dtype;
    if (requested < 0) {
        if (gguf ? sdc_gguf_type_of(w->dtype) >= 0 : sdc_safetensors_dtype_name(w->dtype) != NULL) return w->dtype;
        return SDC_DTYPE_F32;
    }
    sdc_dtype r = (sdc_dtype)requested;
    if (!is_block(r)) return r;
    int64_t last = w->ndim ? w->shape[w->ndim - 1] : 0;
    if (w->ndim >= 2 && last % sdc_dtype_block_elems(r) == 0 && sdc_weight_numel(w) >= 1024) return r;
    return w->ndim >= 2 ? SDC_DTYPE_F16 : SDC_DTYPE_F32;
}

typedef struct {
    const sdc_weight_info **src;
    sdc_weight_info *out;
} job;

/* Source elements [e0, e0 + n) as f32 (e0 and n whole blocks of the source type). */
static void read_f32(const sdc_weight_info *w, size_t e0, size_t n, float *dst) {
    size_t be = (size_t)sdc_dtype_block_elems(w->dtype), bb = (size_t)sdc_dtype_block_bytes(w->dtype);
    sdc_convert_to_f32(w->dtype, (const unsigned char *)w->data + e0 / be * bb, dst, n);
}

#define SUB 4096 /* elements per conversion step: a multiple of every block size */

static sdc_status fill(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err) {
    job *j = user;
    const sdc_weight_info *w = j->src[i];
    sdc_dtype to = j->out[i].dtype;
    if (to == w->dtype) {
        memcpy(dst, (const unsigned char *)w->data + offset, n);
        return SDC_OK;
    }
    size_t be = (size_t)sdc_dtype_block_elems(to), bb = (size_t)sdc_dtype_block_bytes(to);
    if (offset % bb || n % bb) return sdc_error_set(err, SDC_ERR_INTERNAL, "fill request splits a block");
    size_t e0 = offset / bb * be, count = n / bb * be;
    float buf[SUB];
    for (size_t k = 0; k < count; k += SUB) {
        size_t m = SDC_MIN((size_t)SUB, count - k);
        read_f32(w, e0 + k, m, buf);
        unsigned char *d = (unsigned char *)dst + k / be * bb;
        if (is_block(to)) sdc_quantize_row(to, buf, d, m);
        else sdc_convert_from_f32(to, buf, d, m);
    }
    return SDC_OK;
}

/* Output descriptors: canonical names, target dtypes, byte sizes. */
static sdc_status plan(const sdc_model_files *m, int requested, int gguf, job *j, sdc_error *err) {
    size_t n = sdc_model_files_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m, i, &name);
        sdc_dtype to = sdc_convert_target(w, requested, gguf);
        if (gguf ? sdc_gguf_type_of(to) < 0 : !sdc_safetensors_dtype_name(to))
            return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "tensor '%s': %s cannot be stored in %s", name,
                                 sdc_dtype_name(to), gguf ? "GGUF" : "safetensors");
        size_t numel = (size_t)sdc_weight_numel(w);
        j->src[i] = w;
        j->out[i] = (sdc_weight_info){(char *)name, to, w->ndim, {0}, NULL, numel ? sdc_dtype_row_bytes(to, numel) : 0};
        memcpy(j->out[i].shape, w->shape, sizeof w->shape);
    }
    return SDC_OK;
}

/* Input metadata worth keeping, plus where it came from. */
static size_t collect_meta(const sdc_model_files *m, const char **keys, const char **vals, size_t cap) {
    size_t k = 0;
    const sdc_weight_file *f = m->n_files ? m->files[0] : NULL;
    for (size_t i = 0; f && i < f->n_meta && k + 1 < cap; i++) {
        if (strcmp(f->meta_keys[i], "general.alignment") == 0 || strcmp(f->meta_values[i], "(array)") == 0 ||
            strcmp(f->meta_keys[i], "sdc.converted_from") == 0)
            continue;
        keys[k] = f->meta_keys[i];
        vals[k++] = f->meta_values[i];
    }
    keys[k] = "sdc.converted_from";
    vals[k++] = f ? f->format : "none";
    return k;
}

sdc_status sdc_convert_model(const sdc_model_files *m, const char *out_path, const sdc_convert_opts *o, sdc_error *err) {
    int gguf = ends_with(out_path, ".gguf");
    if (!gguf && !ends_with(out_path, ".safetensors"))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "output '%s' must end in .safetensors or .gguf", out_path);
    if (!gguf && o->type >= 0 && is_block((sdc_dtype)o->type))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s needs a .gguf output", sdc_dtype_name((sdc_dtype)o->type));
    size_t n = sdc_model_files_count(m);
    job j = {calloc(n ? n : 1, sizeof *j.src), calloc(n ? n : 1, sizeof *j.out)};
    const char *keys[64], *vals[64];
    sdc_status st = j.src && j.out ? plan(m, o->type, gguf, &j, err) : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t nm = collect_meta(m, keys, vals, 64);
    if (!st && gguf) st = sdc_gguf_write_stream(out_path, j.out, n, keys, vals, nm, o->overwrite, fill, &j, err);
    else if (!st) st = sdc_safetensors_write_stream(out_path, j.out, n, keys, vals, nm, o->overwrite, fill, &j, err);
    free(j.src);
    free(j.out);
    return st;
}
