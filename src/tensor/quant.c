/* Block dequantization (see quant.h). Quantization (writing) lives in
 * formats/, next to the GGUF writer that needs it. */
#include "tensor/quant.h"

#include <stdint.h>

static float f16_at(const uint8_t *p) { return sdc_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }

void sdc_dequantize_row(sdc_dtype t, const void *src, float *dst, size_t n) {
    const uint8_t *b = src;
    size_t nb = n / 32;
    for (size_t i = 0; i < nb; i++, dst += 32) {
        switch (t) {
        case SDC_DTYPE_Q8_0: {
            float d = f16_at(b);
            for (int j = 0; j < 32; j++) dst[j] = d * (float)(int8_t)b[2 + j];
            b += 34;
            break;
        }
        case SDC_DTYPE_Q4_0: {
            float d = f16_at(b);
            for (int j = 0; j < 16; j++) {
                dst[j] = d * (float)((b[2 + j] & 0x0f) - 8);
                dst[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
            }
            b += 18;
            break;
        }
        case SDC_DTYPE_Q4_1: {
            float d = f16_at(b), m = f16_at(b + 2);
            for (int j = 0; j < 16; j++) {
                dst[j] = d * (float)(b[4 + j] & 0x0f) + m;
                dst[j + 16] = d * (float)(b[4 + j] >> 4) + m;
            }
            b += 20;
            break;
        }
        case SDC_DTYPE_Q5_0:
        case SDC_DTYPE_Q5_1: {
            int has_min = t == SDC_DTYPE_Q5_1;
            float d = f16_at(b), m = has_min ? f16_at(b + 2) : 0.0f;
            const uint8_t *qhp = b + (has_min ? 4 : 2);
            uint32_t qh = (uint32_t)qhp[0] | ((uint32_t)qhp[1] << 8) | ((uint32_t)qhp[2] << 16) | ((uint32_t)qhp[3] << 24);
            const uint8_t *qs = qhp + 4;
            int off = has_min ? 0 : 16;
            for (int j = 0; j < 16; j++) {
                int lo = (qs[j] & 0x0f) | (int)(((qh >> j) << 4) & 0x10);
                int hi = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
                dst[j] = d * (float)(lo - off) + m;
                dst[j + 16] = d * (float)(hi - off) + m;
            }
            b += has_min ? 24 : 22;
            break;
        }
        default:
            for (int j = 0; j < 32; j++) dst[j] = 0.0f; /* not a block type: callers check first */
            break;
        }
    }
}
