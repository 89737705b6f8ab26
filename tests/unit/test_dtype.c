/* dtype conversions: f16 exhaustively, bf16 rounding and specials. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tensor/dtype.h"

/* Independent f16 decoder: value = (-1)^s * 2^(e-15) * (1 + m/1024), by ldexp. */
static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, -24);
    else v = ldexp(1.0 + m / 1024.0, e - 15);
    return s ? -v : v;
}

TEST(f16_to_f32_exhaustive) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sdc_f16_to_f32((uint16_t)h);
        double want = f16_value((uint16_t)h);
        if (isnan(want)) {
            CHECK_MSG(isnan(f), "h=%04x should be NaN", h);
        } else {
            CHECK_MSG((double)f == want && !!signbit(f) == !!signbit(want), "h=%04x: got %g want %g", h, f, want);
        }
    }
}

TEST(f16_roundtrip_exhaustive) {
    /* every f16 value survives f16 -> f32 -> f16 (NaN stays NaN, quiet) */
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t back = sdc_f32_to_f16(sdc_f16_to_f32((uint16_t)h));
        bool nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (nan) CHECK_MSG(((back >> 10) & 31) == 31 && (back & 1023) && (back & 0x200), "NaN %04x -> %04x", h, back);
        else CHECK_MSG(back == h, "%04x -> %04x", h, back);
    }
}

/* Rounding of values between consecutive f16 numbers: ties go to even, and
 * every f32 in between goes to the nearer one. Checked for all 65,536
 * neighbours: the midpoint, and one f32 ulp either side of it. */
TEST(f16_round_to_nearest_even_exhaustive) {
    for (uint32_t h = 0; h < 0x7c00; h++) { /* positive finite; sign is symmetric */
        double lo = f16_value((uint16_t)h), hi = h + 1 == 0x7c00 ? 65536.0 : f16_value((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2); /* exact in f32 */
        uint16_t want_mid = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        CHECK_MSG(sdc_f32_to_f16(mid) == want_mid, "tie above %04x -> %04x", h, sdc_f32_to_f16(mid));
        CHECK_MSG(sdc_f32_to_f16(nextafterf(mid, 0)) == h, "below tie %04x", h);
        CHECK_MSG(sdc_f32_to_f16(nextafterf(mid, INFINITY)) == h + 1, "above tie %04x", h);
        CHECK(sdc_f32_to_f16(-mid) == (want_mid | 0x8000));
    }
    CHECK(sdc_f32_to_f16(65519.99f) == 0x7bff);
    CHECK(sdc_f32_to_f16(1e10f) == 0x7c00);
    CHECK(sdc_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(sdc_f32_to_f16(0x1p-26f) == 0);       /* below half the smallest subnormal */
    CHECK(sdc_f32_to_f16(0x1.0p-25f) == 0);      /* exactly half: tie to even (0) */
    CHECK(sdc_f32_to_f16(0x1.000002p-25f) == 1); /* just above half */
    CHECK(sdc_f32_to_f16(-0.0f) == 0x8000);
}

TEST(bf16_conversions) {
    CHECK(sdc_f32_to_bf16(1.0f) == 0x3f80);
    /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0) */
    CHECK(sdc_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
    CHECK(sdc_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    CHECK(sdc_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82); /* tie, odd below -> up */
    CHECK(sdc_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(sdc_f32_to_bf16(3.4e38f) == 0x7f80); /* rounds past the max to inf */
    uint16_t n = sdc_f32_to_bf16(NAN);
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f));
    /* a NaN whose payload is only in the low bits must not become inf */
    uint16_t n2 = sdc_f32_to_bf16(sdc_bits_f32(0x7f800001u));
    CHECK((n2 & 0x7f) != 0);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sdc_bf16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        CHECK_MSG(sdc_f32_to_bf16(f) == h, "bf16 %04x does not round-trip", h);
    }
    CHECK(sdc_bf16_to_f32(0x0001) == 0x1p-133f); /* subnormal */
}

TEST(dtype_names_and_sizes) {
    CHECK(sdc_dtype_from_name("f16") == SDC_DTYPE_F16);
    CHECK(sdc_dtype_from_name("fp16") == SDC_DTYPE_F16);
    CHECK(sdc_dtype_from_name("BF16") == SDC_DTYPE_BF16);
    CHECK(sdc_dtype_from_name("nope") == -1);
    CHECK(sdc_dtype_row_bytes(SDC_DTYPE_Q8_0, 64) == 68);
    CHECK(sdc_dtype_row_bytes(SDC_DTYPE_Q8_0, 33) == 0);
    CHECK(sdc_dtype_row_bytes(SDC_DTYPE_F32, SIZE_MAX / 2) == 0);
    CHECK(strcmp(sdc_dtype_name(SDC_DTYPE_Q4_1), "q4_1") == 0);
}
