/* GGUF (versions 2 and 3), the llama.cpp / stable-diffusion.cpp container:
 * "GGUF", version, tensor and key-value counts, typed key-values, tensor
 * infos (name, dims innermost-first, ggml type, offset), then the aligned
 * data section.
 *
 * Reader: validates every count against the bytes left (so absurd counts
 * fail before any allocation), string and array lengths, nesting, tensor
 * dims (overflow-checked), block-size multiples, alignment, offsets inside
 * the file and non-overlapping. Tensors keep their stored dtype
 * (f32/f16/bf16/f64/i8..i64 and q8_0/q4_0/q4_1/q5_0/q5_1) and point into
 * the mapping; shapes are given in PyTorch order (GGUF's reversed). String
 * and scalar key-values become weight-file metadata (numbers as text);
 * arrays are validated and skipped. Other ggml types (k-quants...) are
 * refused by name.
 * Writer: version 3, string key-values plus general.alignment = 32,
 * streamed through a fill callback, atomic (temp + rename); 0-d tensors
 * are stored with shape [1] (ggml tensors have at least one dim). */
#ifndef SDC_FORMATS_GGUF_H
#define SDC_FORMATS_GGUF_H

#include "formats/weight_file.h"

#define SDC_GGUF_MAX_TENSORS (1u << 20)
#define SDC_GGUF_MAX_KV (1u << 20)
#define SDC_GGUF_ALIGNMENT 32

sdc_status sdc_gguf_parse(sdc_weight_file *f, const unsigned char *data, size_t size, sdc_error *err);

/* Writes tensors (any dtype the reader accepts; nbytes must match) and
 * string metadata. For block-quantized tensors fill is called with whole
 * blocks (offsets and sizes multiples of the block bytes). */
sdc_status sdc_gguf_write_stream(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta, int overwrite, sdc_tensor_fill_fn fill,
                                 void *user, sdc_error *err);
/* Same, with tensor bytes taken from tensors[i].data. */
sdc_status sdc_gguf_write(const char *path, const sdc_weight_info *tensors, size_t n, const char *const *meta_keys,
                          const char *const *meta_values, size_t n_meta, int overwrite, sdc_error *err);

/* ggml type id of a dtype, or -1 when GGUF cannot store it. */
int sdc_gguf_type_of(sdc_dtype t);

#endif
