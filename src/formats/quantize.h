/* Block quantization for the GGUF writer: q8_0, q4_0, q4_1, q5_0, q5_1
 * (32 elements per block, f16 scales), the layouts tensor/quant.c
 * dequantizes. Rounding follows ggml's reference quantizers, so files
 * written here dequantize the same in stable-diffusion.cpp / llama.cpp:
 *   q8_0  d = max|x| / 127,              q = round(x / d)
 *   q4_0  d = m / -8 (m: the x of largest |x|), q = min(15, trunc(x / d + 8.5))
 *   q5_0  d = m / -16,                   q = min(31, trunc(x / d + 16.5))
 *   q4_1  d = (max - min) / 15, q = min(15, trunc((x - min) / d + 0.5))
 *   q5_1  d = (max - min) / 31, q = min(31, trunc((x - min) / d + 0.5)) */
#ifndef SDC_FORMATS_QUANTIZE_H
#define SDC_FORMATS_QUANTIZE_H

#include <stddef.h>

#include "tensor/dtype.h"

/* Quantizes n floats (a multiple of 32) into dst (n / 32 blocks of t).
 * Returns 0, or -1 when t is not a block type or n is not a multiple. */
int sdc_quantize_row(sdc_dtype t, const float *src, void *dst, size_t n);

#endif
