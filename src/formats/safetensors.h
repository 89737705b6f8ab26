/* safetensors: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then raw
 * little-endian tensor bytes. Parsing validates everything before any
 * tensor is exposed: header length, JSON syntax, duplicate keys, dtypes,
 * shapes, overflow-checked byte counts, offsets inside the file, no
 * overlapping tensors. Data is used in place (zero-copy) unless misaligned
 * for its element type, in which case it is copied. */
#ifndef SDC_FORMATS_SAFETENSORS_H
#define SDC_FORMATS_SAFETENSORS_H

#include "formats/weight_file.h"

/* Largest header accepted (real SDXL headers are ~200 KB). */
#define SDC_SAFETENSORS_MAX_HEADER (100u << 20)

/* Parses bytes [data, data+size) into f. The bytes must outlive f. */
sdc_status sdc_safetensors_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err);

/* Writes tensors (dtype f32/f16/bf16/f64/i64/i32/i16/i8/u8/bool) and string
 * metadata (may be NULL/0) to path, atomically: to a temporary name, then
 * renamed. Refuses to replace an existing file unless overwrite. */
sdc_status sdc_safetensors_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err);

/* safetensors dtype string ("F32"...) for a dtype, or NULL. */
const char *sdc_safetensors_dtype_name(sdc_dtype t);

#endif
