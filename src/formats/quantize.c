/* Block quantizers (see quantize.h). */
#include "formats/quantize.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void put_f16(uint8_t *p, float v) {
    uint16_t h = sdc_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static void q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* q4_0 / q5_0: symmetric around the element of largest magnitude. */
static void qx_0(const float *x, uint8_t *b, int bits) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    int half = 1 << (bits - 1), top = (1 << bits) - 1;
    float d = max / (float)-half, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(x[j] * id + (float)half + 0.5f);
        q[j] = (uint8_t)(v > top ? top : v < 0 ? 0 : v);
    }
    uint8_t *qs = b + 2;
    if (bits == 5) {
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j | (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
        for (int i = 0; i < 4; i++) qs[i] = (uint8_t)(qh >> (8 * i));
        qs += 4;
    }
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

/* q4_1 / q5_1: offset by the block minimum. */
static void qx_1(const float *x, uint8_t *b, int bits) {
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) min = fminf(min, x[j]), max = fmaxf(max, x[j]);
    int top = (1 << bits) - 1;
    float d = (max - min) / (float)top, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    put_f16(b + 2, min);
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)((x[j] - min) * id + 0.5f);
        q[j] = (uint8_t)(v > top ? top : v < 0 ? 0 : v);
    }
    uint8_t *qs = b + 4;
    if (bits == 5) {
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j | (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
        for (int i = 0; i < 4; i++) qs[i] = (uint8_t)(qh >> (8 * i));
        qs += 4;
    }
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

int sdc_quantize_row(sdc_dtype t, const float *src, void *dst, size_t n) {
    if (n % 32 || sdc_dtype_block_elems(t) != 32) return -1;
    uint8_t *b = dst;
    size_t bb = (size_t)sdc_dtype_block_bytes(t);
    for (size_t i = 0; i < n; i += 32, b += bb) {
        switch (t) {
        case SDC_DTYPE_Q8_0: q8_0(src + i, b); break;
        case SDC_DTYPE_Q4_0: qx_0(src + i, b, 4); break;
        case SDC_DTYPE_Q5_0: qx_0(src + i, b, 5); break;
        case SDC_DTYPE_Q4_1: qx_1(src + i, b, 4); break;
        case SDC_DTYPE_Q5_1: qx_1(src + i, b, 5); break;
        default: return -1;
        }
    }
    return 0;
}
