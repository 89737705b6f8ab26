/* safetensors: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw
 * little-endian tensor bytes. Parsing validates everything before any
 * tensor is exposed: header length, JSON syntax (only whitespace may follow
 * the object inside the header), duplicate keys, dtypes, shapes,
 * overflow-checked byte counts, offsets inside the file, no overlapping
 * tensors. Data is used in place (zero-copy) unless misaligned for its
 * element type, in which case it is copied.
 *
 * Also here: the sharded-model index ("*.safetensors.index.json", whose
 * "weight_map" maps each tensor to a shard file in the same folder).
 * Not here: choosing the format of a file (weight_file.c), opening the
 * shards (model_files.c). */
#ifndef SDC_FORMATS_SAFETENSORS_H
#define SDC_FORMATS_SAFETENSORS_H

#include "formats/weight_file.h"

/* Largest header accepted (real SDXL headers are ~200 KB). */
#define SDC_SAFETENSORS_MAX_HEADER (100u << 20)
/* Largest index.json accepted. */
#define SDC_SAFETENSORS_MAX_INDEX (64u << 20)

/* Parses bytes [data, data+size) into f. The bytes must outlive f. */
sdc_status sdc_safetensors_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err);

/* Writes tensors (dtype f32/f16/bf16/f64/i64/i32/i16/i8/u8/bool) and string
 * metadata (may be NULL/0) to path, atomically: to a temporary name, then
 * renamed. Refuses to replace an existing file unless overwrite. Each
 * tensor's nbytes must match its shape and dtype; names must be unique. */
sdc_status sdc_safetensors_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err);
/* The same, with tensor bytes produced by fill (tensors[i].data ignored):
 * streams files of any size with a few MiB of memory. */
sdc_status sdc_safetensors_write_stream(const char *path, const sdc_weight_info *tensors, size_t n,
                                        const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                                        int overwrite, sdc_tensor_fill_fn fill, void *user, sdc_error *err);

/* safetensors dtype string ("F32"...) for a dtype, or NULL. */
const char *sdc_safetensors_dtype_name(sdc_dtype t);

/* A parsed "*.safetensors.index.json". Shard names are plain file names
 * (no '/' and not "." or ".."), relative to the index's folder. */
typedef struct sdc_shard_index {
    char **shards;        /* distinct shard file names, in first-use order */
    size_t n_shards;
    char **tensor_names;  /* weight_map keys */
    size_t *tensor_shard; /* shard index for each key */
    size_t n_tensors;
} sdc_shard_index;

/* Parses index JSON text (len bytes). Free with sdc_shard_index_free. */
sdc_status sdc_shard_index_parse(const char *text, size_t len, sdc_shard_index *out, sdc_error *err);
void sdc_shard_index_free(sdc_shard_index *ix);

#endif
