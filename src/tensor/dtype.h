/* Element types and exact scalar conversions.
 *
 * f16 (IEEE binary16) and bf16 conversions round to nearest, ties to even,
 * keep subnormals, infinities and NaN (NaN stays NaN, made quiet). These are
 * the reference; vectorized converters in kernels/ are tested against them. */
#ifndef SDC_TENSOR_DTYPE_H
#define SDC_TENSOR_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum sdc_dtype {
    SDC_DTYPE_F32 = 0,
    SDC_DTYPE_F16,
    SDC_DTYPE_BF16,
    SDC_DTYPE_F64,
    SDC_DTYPE_I64,
    SDC_DTYPE_I32,
    SDC_DTYPE_I16,
    SDC_DTYPE_I8,
    SDC_DTYPE_U8,
    SDC_DTYPE_BOOL,
    /* block-quantized (GGUF): element size is per block, see dtype.c */
    SDC_DTYPE_Q8_0,
    SDC_DTYPE_Q4_0,
    SDC_DTYPE_Q4_1,
    SDC_DTYPE_Q5_0,
    SDC_DTYPE_Q5_1,
    SDC_DTYPE_COUNT
} sdc_dtype;

/* "f32", "f16", "bf16", "q8_0", ... */
const char *sdc_dtype_name(sdc_dtype t);
/* Parses a name as printed by sdc_dtype_name (also "fp16", "float32"...);
 * returns -1 when unknown. */
int sdc_dtype_from_name(const char *name);

/* Elements per block (1 for plain types) and bytes per block. */
int sdc_dtype_block_elems(sdc_dtype t);
int sdc_dtype_block_bytes(sdc_dtype t);
/* Bytes for n elements (n a multiple of the block size); 0 on overflow or
 * when n is not a multiple of the block. */
size_t sdc_dtype_row_bytes(sdc_dtype t, size_t n);
int sdc_dtype_is_float(sdc_dtype t); /* f32 / f16 / bf16 / f64 */

static inline uint32_t sdc_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float sdc_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t sdc_f32_to_f16(float f);
float sdc_f16_to_f32(uint16_t h);

static inline uint16_t sdc_f32_to_bf16(float f) {
    uint32_t u = sdc_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                            /* RNE */
    return (uint16_t)(u >> 16);
}
static inline float sdc_bf16_to_f32(uint16_t h) { return sdc_bits_f32((uint32_t)h << 16); }

/* Converts n elements of a float-like type (f32/f16/bf16/f64, or a quantized
 * block type when n is a multiple of its block) to f32. Integer types are
 * converted by value. */
void sdc_convert_to_f32(sdc_dtype src_type, const void *src, float *dst, size_t n);
/* Converts n f32 values to f32/f16/bf16. */
void sdc_convert_from_f32(sdc_dtype dst_type, const float *src, void *dst, size_t n);

#endif
