/* A model file's named tensors, whatever the file format.
 *
 * sdc_weight_file is the one container every format parser fills:
 * safetensors, PyTorch zip checkpoints and GGUF, all zero-copy over an
 * mmap where the bytes allow it (see docs/FORMATS.md). Tensor data either
 * points into the mapping or into buffers the file owns; either way it
 * lives until sdc_weight_file_close. Tensors keep their stored dtype
 * (block-quantized ones included); sdc_weight_convert gives f32/f16/bf16.
 * Thread-safety: read-only after open, so concurrent lookups are fine. */
#ifndef SDC_FORMATS_WEIGHT_FILE_H
#define SDC_FORMATS_WEIGHT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/mapfile.h"
#include "base/strmap.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

#define SDC_WEIGHT_MAX_DIMS 8

typedef struct sdc_weight_info {
    char *name;
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_WEIGHT_MAX_DIMS];
    const void *data;
    size_t nbytes;
} sdc_weight_info;

typedef struct sdc_weight_file {
    char *path;
    sdc_weight_info *tensors;
    size_t count, cap;
    sdc_strmap index;       /* name -> position in tensors */
    sdc_mapfile map;        /* the mapped file, when zero-copy */
    void **owned;           /* buffers to free on close */
    size_t n_owned, cap_owned;
    char **meta_keys, **meta_values; /* string metadata (safetensors __metadata__) */
    size_t n_meta;
    const char *format;     /* "safetensors", "torch zip", "gguf" (static string) */
} sdc_weight_file;

/* Opens a weight file, choosing the parser from its first bytes (zip ->
 * PyTorch, "GGUF", else safetensors; a bare pickle / legacy torch file is
 * refused). On failure returns an error whose message names the file, and
 * *out is NULL. */
sdc_status sdc_weight_file_open(const char *path, sdc_weight_file **out, sdc_error *err);
void sdc_weight_file_close(sdc_weight_file *f);

const sdc_weight_info *sdc_weight_file_find(const sdc_weight_file *f, const char *name);
/* Metadata string for key, or NULL. */
const char *sdc_weight_file_meta(const sdc_weight_file *f, const char *key);

int64_t sdc_weight_numel(const sdc_weight_info *w);
/* 1..4-D descriptor over the weight's data (shape copied); ndim > 4 is
 * collapsed into the leading dim. The tensor does not own data. */
sdc_tensor sdc_weight_tensor(const sdc_weight_info *w);

/* Converts w's elements (any float, integer or block-quantized dtype) to
 * `to` (f32, f16 or bf16) into dst, which holds dst_bytes. Fails when dst
 * is too small or `to` is not one of those. */
sdc_status sdc_weight_convert(const sdc_weight_info *w, sdc_dtype to, void *dst, size_t dst_bytes, sdc_error *err);

/* Bytes [offset, offset + n) of tensor i of a writer's list, into dst.
 * Writers call it in increasing offset order, in chunks of a few MiB, so
 * tensors can be generated or converted on the fly. */
typedef sdc_status (*sdc_tensor_fill_fn)(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err);

/* --- for parsers -------------------------------------------------------- */
sdc_weight_file *sdc_weight_file_new(const char *path, sdc_error *err);
/* Appends a tensor (name copied). Rejects duplicate names. */
sdc_status sdc_weight_file_add(sdc_weight_file *f, const char *name, sdc_dtype dtype, int ndim, const int64_t *shape,
                               const void *data, size_t nbytes, sdc_error *err);
/* Takes ownership of a malloc'd buffer, freed on close. */
sdc_status sdc_weight_file_own(sdc_weight_file *f, void *buf, sdc_error *err);
sdc_status sdc_weight_file_add_meta(sdc_weight_file *f, const char *key, const char *value, sdc_error *err);

#endif
