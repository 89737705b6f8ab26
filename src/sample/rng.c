/* Exact re-implementations of torch's CPU randn and A1111's Philox randn.
 * See rng.h for what each generator reproduces; docs/SAMPLING.md for how
 * it was verified. The float arithmetic below is written operation by
 * operation in the order (and with the fused multiply-adds) of the
 * original, because the goal is the same bits, not just the same
 * distribution. Nothing here is vectorized: noise is a negligible part of
 * a diffusion run. */
#include "sample/rng.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* ---- mt19937 as torch seeds it ------------------------------------------ */

static void mt_seed(sdc_rng *r, uint32_t seed) {
    r->mt[0] = seed;
    for (int i = 1; i < 624; i++) r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mt_index = 624;
}

static void mt_twist(sdc_rng *r) {
    for (int i = 0; i < 624; i++) {
        uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % 624] & 0x7fffffffu);
        uint32_t v = r->mt[(i + 397) % 624] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        r->mt[i] = v;
    }
    r->mt_index = 0;
}

uint32_t sdc_rng_u32(sdc_rng *r) {
    if (r->mt_index >= 624) mt_twist(r);
    uint32_t y = r->mt[r->mt_index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* ATen uniform_real_distribution<float>: 24 random bits / 2^24. */
static float uniform_f32(sdc_rng *r) { return (float)(sdc_rng_u32(r) & 0xffffffu) * 0x1p-24f; }

/* ATen uniform_real_distribution<double>: random64() = (first << 32) | second,
 * low 53 bits / 2^53. */
static double uniform_f64(sdc_rng *r) {
    uint64_t hi = sdc_rng_u32(r), lo = sdc_rng_u32(r);
    uint64_t v = (hi << 32) | lo;
    return (double)(v & ((1ull << 53) - 1)) * 0x1p-53;
}

/* ATen normal_distribution<double> (tensors of fewer than 16 elements):
 * Box-Muller with the second value cached in the generator. */
static double normal_f64(sdc_rng *r) {
    if (r->has_cached) {
        r->has_cached = 0;
        return r->cached;
    }
    double u1 = uniform_f64(r), u2 = uniform_f64(r);
    double radius = sqrt(-2.0 * log(1.0 - u2));
    double theta = 2.0 * M_PI * u1;
    r->cached = radius * sin(theta);
    r->has_cached = 1;
    return radius * cos(theta);
}

/* ---- avx_mathfun-style log and sincos, one lane at a time ---------------- */

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* log256_ps for x in (0, 1] (the only inputs Box-Muller gives it). */
static float cephes_logf(float x) {
    if (x < 0x1p-126f) x = 0x1p-126f;
    int32_t ex = (int32_t)(f_bits(x) >> 23) - 0x7f;
    x = bits_f((f_bits(x) & ~0x7f800000u) | f_bits(0.5f));
    float e = (float)ex + 1.0f;
    float tmp = x < 0.707106781186547524f ? x : 0.0f;
    if (x < 0.707106781186547524f) e -= 1.0f;
    x = (x - 1.0f) + tmp;
    float z = x * x;
    float y = fmaf(7.0376836292E-2f, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = fmaf(-z, 0.5f, y);
    return fmaf(e, 0.693359375f, x + y);
}

/* sincos256_ps for x >= 0 (theta = 2 pi u with u in [0, 1)). */
static void cephes_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin = f_bits(x) & 0x80000000u;
    x = fabsf(x);
    int32_t j = (int32_t)(x * 1.27323954473516f);
    j = (j + 1) & ~1;
    float y = (float)j;
    uint32_t swap_sin = (uint32_t)(j & 4) << 29;
    int poly_sin = (j & 2) == 0; /* first polynomial selected for the sine */
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
    sign_sin ^= swap_sin;
    float z = x * x;
    float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    float vs = poly_sin ? ys : yc, vc = poly_sin ? yc : ys;
    *s = bits_f(f_bits(vs) ^ sign_sin);
    *c = bits_f(f_bits(vc) ^ sign_cos);
}

/* ATen normal_fill_16_AVX2 on data[0..16) holding uniforms. */
static void box_muller16_avx2(float *d) {
    const float two_pi = (float)(2.0 * M_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j], u2 = d[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float s, c;
        cephes_sincosf(two_pi * u2, &s, &c);
        d[j] = radius * c;
        d[j + 8] = radius * s;
    }
}

/* ATen normal_fill_16 (portable): float libm, theta rounded from double. */
static void box_muller16_scalar(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j], u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

static void randn_cpu(sdc_rng *r, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_f64(r);
        return;
    }
    void (*block)(float *) = r->kind == SDC_RNG_CPU ? box_muller16_avx2 : box_muller16_scalar;
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(r);
    for (size_t i = 0; i + 16 <= n; i += 16) block(out + i);
    if (n % 16) { /* ATen redraws the last 16 values */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(r);
        block(tail);
    }
}

/* ---- Philox4x32-10, as A1111's rng_philox.py ----------------------------- */

static void philox(uint32_t ctr[4], uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)ctr[0] * 0xD2511F53u, p1 = (uint64_t)ctr[2] * 0xCD9E8D57u;
        uint32_t c0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ k0;
        uint32_t c2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ k1;
        ctr[1] = (uint32_t)p1;
        ctr[3] = (uint32_t)p0;
        ctr[0] = c0;
        ctr[2] = c2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

static void randn_philox(sdc_rng *r, float *out, size_t n) {
    /* rng_philox.py's float32 constants, promoted to double by numpy */
    const double inv32 = (double)2.3283064e-10f, inv32_half = (double)(2.3283064e-10f / 2);
    const double inv32_2pi = (double)(float)(2.3283064e-10 * 6.2831855);
    const double inv32_2pi_half = (double)((float)(2.3283064e-10 * 6.2831855) / 2);
    uint32_t k0 = (uint32_t)r->seed, k1 = (uint32_t)(r->seed >> 32);
    for (size_t i = 0; i < n; i++) {
        uint32_t ctr[4] = {r->offset, 0, (uint32_t)i, 0};
        philox(ctr, k0, k1);
        double u = ctr[0] * inv32 + inv32_half;
        double v = ctr[1] * inv32_2pi + inv32_2pi_half;
        out[i] = (float)(sqrt(-2.0 * log(u)) * sin(v));
    }
    r->offset++;
}

/* ---- public -------------------------------------------------------------- */

void sdc_rng_init(sdc_rng *r, sdc_rng_kind kind, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->seed = seed;
    mt_seed(r, (uint32_t)seed);
}

void sdc_rng_randn(sdc_rng *r, float *out, size_t n) {
    if (r->kind == SDC_RNG_PHILOX) randn_philox(r, out, n);
    else randn_cpu(r, out, n);
}

static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int sdc_rng_kind_from_name(const char *name, sdc_rng_kind *out) {
    static const struct {
        const char *name;
        sdc_rng_kind kind;
    } names[] = {{"cpu", SDC_RNG_CPU},       {"cpu-scalar", SDC_RNG_CPU_SCALAR}, {"cpu_scalar", SDC_RNG_CPU_SCALAR},
                 {"philox", SDC_RNG_PHILOX}, {"gpu", SDC_RNG_PHILOX},            {"nv", SDC_RNG_PHILOX},
                 {"cuda", SDC_RNG_PHILOX}};
    if (!name) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name_eq(name, names[i].name)) {
            *out = names[i].kind;
            return 0;
        }
    return -1;
}

const char *sdc_rng_kind_name(sdc_rng_kind k) {
    switch (k) {
    case SDC_RNG_CPU: return "cpu";
    case SDC_RNG_CPU_SCALAR: return "cpu-scalar";
    case SDC_RNG_PHILOX: return "philox";
    }
    return "?";
}

void sdc_rng_comfy_initial_noise(sdc_rng_kind kind, uint64_t seed, const int *batch_index, int batch,
                                 size_t per_image, float *out) {
    sdc_rng r;
    sdc_rng_init(&r, kind, seed);
    if (!batch_index) {
        sdc_rng_randn(&r, out, per_image * (size_t)batch);
        return;
    }
    int max_index = 0, last = 0;
    for (int b = 0; b < batch; b++)
        if (batch_index[b] > max_index) max_index = batch_index[b], last = b;
    /* Draws 0..max_index in order. An unused draw lands in the slot of the
     * image with the largest index, which is overwritten by the last draw. */
    for (int d = 0; d <= max_index; d++) {
        int first = -1;
        for (int b = 0; b < batch; b++)
            if (batch_index[b] == d) {
                if (first < 0) {
                    first = b;
                    sdc_rng_randn(&r, out + (size_t)b * per_image, per_image);
                } else {
                    memcpy(out + (size_t)b * per_image, out + (size_t)first * per_image, per_image * sizeof(float));
                }
            }
        if (first < 0) sdc_rng_randn(&r, out + (size_t)last * per_image, per_image);
    }
}
