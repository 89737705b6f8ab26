/* dtype table and scalar conversions (see dtype.h). Block-quantized
 * dequantization lives in formats/quant.c; this file only knows sizes. */
#include "tensor/dtype.h"

#include <math.h>
#include <pthread.h>
#include <strings.h>

#include "base/util.h"
#include "tensor/quant.h"

typedef struct {
    const char *name;
    int block_elems, block_bytes, is_float;
} dtype_info;

static const dtype_info k_info[SDC_DTYPE_COUNT] = {
    [SDC_DTYPE_F32] = {"f32", 1, 4, 1},   [SDC_DTYPE_F16] = {"f16", 1, 2, 1},
    [SDC_DTYPE_BF16] = {"bf16", 1, 2, 1}, [SDC_DTYPE_F64] = {"f64", 1, 8, 1},
    [SDC_DTYPE_I64] = {"i64", 1, 8, 0},   [SDC_DTYPE_I32] = {"i32", 1, 4, 0},
    [SDC_DTYPE_I16] = {"i16", 1, 2, 0},   [SDC_DTYPE_I8] = {"i8", 1, 1, 0},
    [SDC_DTYPE_U8] = {"u8", 1, 1, 0},     [SDC_DTYPE_BOOL] = {"bool", 1, 1, 0},
    [SDC_DTYPE_Q8_0] = {"q8_0", 32, 34, 0}, [SDC_DTYPE_Q4_0] = {"q4_0", 32, 18, 0},
    [SDC_DTYPE_Q4_1] = {"q4_1", 32, 20, 0}, [SDC_DTYPE_Q5_0] = {"q5_0", 32, 22, 0},
    [SDC_DTYPE_Q5_1] = {"q5_1", 32, 24, 0},
};

const char *sdc_dtype_name(sdc_dtype t) {
    return (unsigned)t < SDC_DTYPE_COUNT ? k_info[t].name : "?";
}

int sdc_dtype_from_name(const char *name) {
    static const struct { const char *alias; sdc_dtype t; } aliases[] = {
        {"fp32", SDC_DTYPE_F32}, {"float32", SDC_DTYPE_F32}, {"float", SDC_DTYPE_F32},
        {"fp16", SDC_DTYPE_F16}, {"float16", SDC_DTYPE_F16}, {"half", SDC_DTYPE_F16},
        {"bfloat16", SDC_DTYPE_BF16},
    };
    for (int t = 0; t < SDC_DTYPE_COUNT; t++)
        if (strcasecmp(name, k_info[t].name) == 0) return t;
    for (size_t i = 0; i < SDC_ARRAY_LEN(aliases); i++)
        if (strcasecmp(name, aliases[i].alias) == 0) return (int)aliases[i].t;
    return -1;
}

int sdc_dtype_block_elems(sdc_dtype t) { return k_info[t].block_elems; }
int sdc_dtype_block_bytes(sdc_dtype t) { return k_info[t].block_bytes; }
int sdc_dtype_is_float(sdc_dtype t) { return (unsigned)t < SDC_DTYPE_COUNT && k_info[t].is_float; }

size_t sdc_dtype_row_bytes(sdc_dtype t, size_t n) {
    size_t be = (size_t)k_info[t].block_elems, out;
    if (n % be) return 0;
    if (!sdc_mul_ok(n / be, (size_t)k_info[t].block_bytes, &out)) return 0;
    return out;
}

uint16_t sdc_f32_to_f16(float f) {
    uint32_t x = sdc_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) {
        /* result is subnormal (or zero): value = m * 2^-24, round m to an integer */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23;
        uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 bits to drop (113 - e + 13) */
        uint32_t q = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round mantissa 23 -> 10 bits (carry may bump exponent) */
    uint32_t h = ((ax - 0x38000000u) >> 13);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float sdc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return sdc_bits_f32(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0));
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return sign ? -v : v;
    }
    return sdc_bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

/* f16 -> f32 for bulk conversions: a table of all 65,536 values, built
 * once from sdc_f16_to_f32 (the exact, tested conversion). */
static float g_f16_table[65536];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;

static void build_f16_table(void) {
    for (uint32_t h = 0; h < 65536; h++) g_f16_table[h] = sdc_f16_to_f32((uint16_t)h);
}

void sdc_convert_to_f32(sdc_dtype t, const void *src, float *dst, size_t n) {
    switch (t) {
    case SDC_DTYPE_F32: memcpy(dst, src, n * 4); return;
    case SDC_DTYPE_F16:
        pthread_once(&g_f16_once, build_f16_table);
        for (size_t i = 0; i < n; i++) dst[i] = g_f16_table[((const uint16_t *)src)[i]];
        return;
    case SDC_DTYPE_BF16: for (size_t i = 0; i < n; i++) dst[i] = sdc_bf16_to_f32(((const uint16_t *)src)[i]); return;
    case SDC_DTYPE_F64: for (size_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i]; return;
    case SDC_DTYPE_I64: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; return;
    case SDC_DTYPE_I32: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; return;
    case SDC_DTYPE_I16: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int16_t *)src)[i]; return;
    case SDC_DTYPE_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i]; return;
    case SDC_DTYPE_U8:
    case SDC_DTYPE_BOOL: for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; return;
    default: sdc_dequantize_row(t, src, dst, n); return;
    }
}

void sdc_convert_from_f32(sdc_dtype t, const float *src, void *dst, size_t n) {
    switch (t) {
    case SDC_DTYPE_F32: memcpy(dst, src, n * 4); return;
    case SDC_DTYPE_F16: for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sdc_f32_to_f16(src[i]); return;
    case SDC_DTYPE_BF16: for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = sdc_f32_to_bf16(src[i]); return;
    default: return; /* callers only convert to float types (checked by them) */
    }
}
