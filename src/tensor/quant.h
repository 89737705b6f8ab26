/* GGUF/ggml block quantization formats: q8_0, q4_0, q4_1, q5_0, q5_1.
 * Layouts follow the GGUF specification (32 elements per block, f16 scales,
 * little-endian). Dequantization is exact given the stored values. */
#ifndef SDC_TENSOR_QUANT_H
#define SDC_TENSOR_QUANT_H

#include <stddef.h>

#include "tensor/dtype.h"

/* n must be a multiple of 32. */
void sdc_dequantize_row(sdc_dtype t, const void *src, float *dst, size_t n);

#endif
