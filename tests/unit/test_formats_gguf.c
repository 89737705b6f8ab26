/* GGUF read/write and block quantization: round trips with error bounds
 * derived from each format's step size, exact cases, and hostile files
 * (absurd counts, truncation, bad offsets, unknown types) that must fail
 * cleanly. Dequantization is tensor/quant.c's (written independently from
 * the GGUF spec), so the round trip also checks the bit layouts agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapfile.h"
#include "formats/gguf.h"
#include "formats/quantize.h"
#include "formats/weight_file.h"
#include "harness.h"
#include "tensor/quant.h"

static const sdc_dtype k_qtypes[] = {SDC_DTYPE_Q8_0, SDC_DTYPE_Q4_0, SDC_DTYPE_Q4_1, SDC_DTYPE_Q5_0, SDC_DTYPE_Q5_1};

/* Largest error allowed for one block of x after quantizing to t.
 * Rounding to the nearest level costs half a step; the symmetric formats
 * clamp the far end, which costs up to one full step; storing the scale
 * (and min) as f16 moves every level by up to 2^-11 relative (levels up to
 * 2^bits steps away from the anchor). */
static double bound(sdc_dtype t, const float *x) {
    double amax = 0, mn = x[0], mx = x[0];
    for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(x[j])), mn = fmin(mn, x[j]), mx = fmax(mx, x[j]);
    const double f16rel = 0x1p-11;
    switch (t) {
    case SDC_DTYPE_Q8_0: return amax / 127 * (0.5 + 127 * f16rel) + 1e-12;
    case SDC_DTYPE_Q4_0: return amax / 8 * (1.0 + 16 * f16rel) + 1e-12;
    case SDC_DTYPE_Q5_0: return amax / 16 * (1.0 + 32 * f16rel) + 1e-12;
    case SDC_DTYPE_Q4_1: return (mx - mn) / 15 * (0.5 + 15 * f16rel) + fabs(mn) * f16rel + 1e-12;
    default: return (mx - mn) / 31 * (0.5 + 31 * f16rel) + fabs(mn) * f16rel + 1e-12;
    }
}

TEST(formats_quantize_roundtrip_error_bounds) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static unsigned char q[N * 2];
    sdc_test_rng rng = {42};
    for (int i = 0; i < N; i++) x[i] = sdc_test_normal(&rng) * (i < N / 2 ? 1.0f : 0.01f);
    for (int j = 0; j < 32; j++) x[j] = 0.0f;                 /* an all-zero block: d = 0 */
    for (int j = 32; j < 64; j++) x[j] = 0.75f;               /* a constant block */
    for (int j = 64; j < 96; j++) x[j] = j == 70 ? -3.0f : 0.1f; /* one outlier */
    for (size_t k = 0; k < sizeof k_qtypes / sizeof k_qtypes[0]; k++) {
        sdc_dtype t = k_qtypes[k];
        REQUIRE(sdc_quantize_row(t, x, q, N) == 0);
        sdc_dequantize_row(t, q, y, N);
        double worst = 0;
        int bad = 0;
        for (int b = 0; b < N / 32; b++) {
            double lim = bound(t, x + 32 * b);
            for (int j = 0; j < 32; j++) {
                double e = fabs((double)y[32 * b + j] - x[32 * b + j]);
                worst = fmax(worst, e / (lim > 0 ? lim : 1));
                if (e > lim && bad++ < 3) CHECK_MSG(0, "%s block %d [%d]: %g vs %g (bound %g)", sdc_dtype_name(t), b, j, y[32 * b + j], x[32 * b + j], lim);
            }
        }
        CHECK_MSG(bad == 0, "%s: %d values outside the bound (worst %.3f of bound)", sdc_dtype_name(t), bad, worst);
        for (int j = 0; j < 32; j++) CHECK_MSG(y[j] == 0.0f, "%s: zero block", sdc_dtype_name(t));
        /* the outlier is the anchor of symmetric formats: kept to f16 precision */
        CHECK_MSG(fabs(y[70] + 3.0) <= 3.0 * 0x1p-10, "%s: outlier %g", sdc_dtype_name(t), y[70]);
    }
    /* q8_0 values on its grid (k * d, d exact in f16) come back exactly */
    for (int j = 0; j < 32; j++) x[j] = (float)(j * 8 - 127) / 64.0f; /* max 1.984375 = 127/64: d = 1/64 */
    REQUIRE(sdc_quantize_row(SDC_DTYPE_Q8_0, x, q, 32) == 0);
    sdc_dequantize_row(SDC_DTYPE_Q8_0, q, y, 32);
    for (int j = 0; j < 32; j++) CHECK(y[j] == x[j]);
    CHECK(sdc_quantize_row(SDC_DTYPE_F16, x, q, 32) == -1 && sdc_quantize_row(SDC_DTYPE_Q8_0, x, q, 31) == -1);
}

TEST(formats_gguf_write_read_roundtrip) {
    static float f32[3 * 5], qsrc[2 * 64];
    static uint16_t f16[4], bf16[6];
    static unsigned char qbuf[5][2 * 2 * 24];
    int32_t i32[3] = {-7, 0, 123456};
    float scalar = -2.5f;
    for (int i = 0; i < 15; i++) f32[i] = (float)i * 0.5f - 3;
    for (int i = 0; i < 4; i++) f16[i] = sdc_f32_to_f16((float)i + 0.25f);
    for (int i = 0; i < 6; i++) bf16[i] = sdc_f32_to_bf16((float)i * -1.5f);
    sdc_test_rng rng = {7};
    sdc_test_fill(&rng, qsrc, 128, -1, 1);
    sdc_weight_info t[13] = {
        {"a.f32", SDC_DTYPE_F32, 2, {3, 5}, f32, sizeof f32},
        {"a.f16", SDC_DTYPE_F16, 1, {4}, f16, sizeof f16},
        {"a.bf16", SDC_DTYPE_BF16, 3, {1, 2, 3}, bf16, sizeof bf16},
        {"a.i32", SDC_DTYPE_I32, 1, {3}, i32, sizeof i32},
        {"a.scalar", SDC_DTYPE_F32, 0, {0}, &scalar, 4},
        {"a.empty", SDC_DTYPE_F32, 2, {0, 4}, NULL, 0},
        {"conv.4d", SDC_DTYPE_F32, 4, {1, 1, 3, 5}, f32, sizeof f32},
    };
    int n = 7;
    for (size_t k = 0; k < 5; k++) {
        sdc_dtype qt = k_qtypes[k];
        size_t nb = sdc_dtype_row_bytes(qt, 128);
        REQUIRE(sdc_quantize_row(qt, qsrc, qbuf[k], 128) == 0);
        t[n++] = (sdc_weight_info){(char *)sdc_dtype_name(qt), qt, 2, {2, 64}, qbuf[k], nb};
    }
    const char *mk[] = {"general.name", "sdc.family"}, *mv[] = {"tiny test", "sd15"};
    const char *path = sdc_test_tmp("rt.gguf");
    sdc_error err = {0};
    REQUIRE_MSG(sdc_gguf_write(path, t, (size_t)n, mk, mv, 2, 0, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_weight_file *f = NULL;
    REQUIRE_MSG(sdc_weight_file_open(path, &f, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(strcmp(f->format, "gguf") == 0 && f->count == (size_t)n);
    for (int i = 0; i < n; i++) {
        const sdc_weight_info *w = sdc_weight_file_find(f, t[i].name);
        REQUIRE_MSG(w != NULL, "%s missing", t[i].name);
        CHECK_MSG(w->dtype == t[i].dtype && w->nbytes == t[i].nbytes, "%s", t[i].name);
        int nd = t[i].ndim ? t[i].ndim : 1; /* scalars come back as [1] */
        CHECK_MSG(w->ndim == nd, "%s ndim %d", t[i].name, w->ndim);
        for (int d = 0; d < t[i].ndim; d++) CHECK_MSG(w->shape[d] == t[i].shape[d], "%s dim %d", t[i].name, d);
        if (w->nbytes) CHECK_MSG(memcmp(w->data, t[i].data, w->nbytes) == 0, "%s data", t[i].name);
        if (w->nbytes) CHECK(((uintptr_t)w->data - (uintptr_t)f->map.data) % SDC_GGUF_ALIGNMENT == 0);
    }
    CHECK(strcmp(sdc_weight_file_meta(f, "sdc.family"), "sd15") == 0);
    CHECK(strcmp(sdc_weight_file_meta(f, "general.alignment"), "32") == 0);
    /* the load path's conversion: q8_0 -> f32 equals dequantize_row */
    const sdc_weight_info *q = sdc_weight_file_find(f, "q8_0");
    float a[128], b[128];
    REQUIRE(sdc_weight_convert(q, SDC_DTYPE_F32, a, sizeof a, &err) == SDC_OK);
    sdc_dequantize_row(SDC_DTYPE_Q8_0, q->data, b, 128);
    CHECK(memcmp(a, b, sizeof a) == 0);
    uint16_t h[128];
    REQUIRE(sdc_weight_convert(q, SDC_DTYPE_F16, h, sizeof h, &err) == SDC_OK);
    for (int i = 0; i < 128; i++) CHECK(h[i] == sdc_f32_to_f16(b[i]));
    CHECK(sdc_weight_convert(q, SDC_DTYPE_F16, h, sizeof h - 2, &err) == SDC_ERR_INVALID_ARG);
    sdc_weight_file_close(f);
    /* writer refuses rows that are not whole blocks */
    sdc_error_clear(&err);
    sdc_weight_info badq = {"bad", SDC_DTYPE_Q8_0, 2, {64, 2}, qbuf[0], 136};
    CHECK(sdc_gguf_write(sdc_test_tmp("bad.gguf"), &badq, 1, NULL, NULL, 0, 0, &err) == SDC_ERR_INVALID_ARG);
}

/* ---- hostile files, built byte by byte ---- */

typedef struct {
    unsigned char b[1024];
    size_t n;
} gbuf;

static void g_put(gbuf *g, const void *p, size_t n) {
    if (g->n + n <= sizeof g->b) memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void g_u32(gbuf *g, uint32_t v) { g_put(g, &v, 4); }
static void g_u64(gbuf *g, uint64_t v) { g_put(g, &v, 8); }
static void g_str(gbuf *g, const char *s) { g_u64(g, strlen(s)); g_put(g, s, strlen(s)); }

/* Header with one KV (general.name) and one tensor "t" of ggml type `type`, dims ne0 x ne1, at offset off. */
static gbuf one_tensor(uint32_t version, uint32_t type, uint64_t ne0, uint64_t ne1, uint64_t off, size_t data) {
    gbuf g = {{0}, 0};
    g_put(&g, "GGUF", 4);
    g_u32(&g, version);
    g_u64(&g, 1);
    g_u64(&g, 1);
    g_str(&g, "general.name");
    g_u32(&g, 8);
    g_str(&g, "x");
    g_str(&g, "t");
    g_u32(&g, 2);
    g_u64(&g, ne0);
    g_u64(&g, ne1);
    g_u32(&g, type);
    g_u64(&g, off);
    while (g.n % 32) g_put(&g, "", 1);
    g.n += data; /* zero bytes of tensor data */
    return g;
}

static sdc_status gparse(const gbuf *g, size_t n, sdc_error *err) {
    sdc_error_clear(err);
    sdc_weight_file *f = sdc_weight_file_new("mem", err);
    sdc_status st = sdc_gguf_parse(f, g->b, n, err);
    sdc_weight_file_close(f);
    return st;
}

static void gexpect(gbuf g, sdc_status want, const char *needle, int line) {
    sdc_error err = {0};
    sdc_status st = gparse(&g, g.n, &err);
    CHECK_MSG(st == want, "line %d: %s (%s)", line, sdc_status_name(st), sdc_error_msg(&err));
    CHECK_MSG(strstr(sdc_error_msg(&err), needle) != NULL || (!needle[0] && st == SDC_OK), "line %d: '%s' lacks '%s'", line,
              sdc_error_msg(&err), needle);
}
#define GEXPECT(g, want, needle) gexpect(g, want, needle, __LINE__)

/* general.alignment 1 puts tensor data at any byte: an f16 tensor at an
 * odd address is copied (every reader loads elements through typed
 * pointers) and reads back exactly. */
TEST(formats_gguf_alignment_one_copies_misaligned_data) {
    gbuf g = {{0}, 0};
    g_put(&g, "GGUF", 4);
    g_u32(&g, 3);
    g_u64(&g, 1); /* tensors */
    g_u64(&g, 1); /* KVs */
    g_str(&g, "general.alignment");
    g_u32(&g, 4); /* u32 */
    g_u32(&g, 1);
    g_str(&g, "t");
    g_u32(&g, 1);
    g_u64(&g, 3);
    g_u32(&g, 1); /* f16 */
    g_u64(&g, 1); /* offset 1 in the data section (which starts right here: 90 bytes, even) */
    g_put(&g, "", 1);
    size_t at = g.n;
    const uint16_t h[3] = {0x3C00, 0xC000, 0x3800}; /* 1, -2, 0.5 */
    g_put(&g, h, sizeof h);
    REQUIRE_MSG(((uintptr_t)(g.b + at)) % 2 == 1, "the test's tensor must sit at an odd address");
    sdc_error err;
    sdc_error_clear(&err);
    sdc_weight_file *f = sdc_weight_file_new("mem", &err);
    REQUIRE(f);
    REQUIRE_MSG(sdc_gguf_parse(f, g.b, g.n, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    const sdc_weight_info *w = sdc_weight_file_find(f, "t");
    REQUIRE(w && w->dtype == SDC_DTYPE_F16);
    CHECK(((uintptr_t)w->data) % 2 == 0);
    float v[3];
    sdc_convert_to_f32(w->dtype, w->data, v, 3);
    CHECK_MSG(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f, "%g %g %g", v[0], v[1], v[2]);
    sdc_weight_file_close(f);
}

TEST(formats_gguf_hostile_files) {
    GEXPECT(one_tensor(3, 0, 4, 2, 0, 32), SDC_OK, "");
    GEXPECT(one_tensor(1, 0, 4, 2, 0, 32), SDC_ERR_UNSUPPORTED, "version 1");
    GEXPECT(one_tensor(3, 12, 256, 1, 0, 256), SDC_ERR_UNSUPPORTED, "q4_K");
    GEXPECT(one_tensor(3, 99, 4, 2, 0, 32), SDC_ERR_UNSUPPORTED, "unknown");
    GEXPECT(one_tensor(3, 0, 4, 2, 0, 31), SDC_ERR_FORMAT, "past the end");
    GEXPECT(one_tensor(3, 0, 4, 2, 8, 64), SDC_ERR_FORMAT, "not aligned");
    GEXPECT(one_tensor(3, 0, (uint64_t)1 << 62, 8, 0, 32), SDC_ERR_FORMAT, "overflow");
    GEXPECT(one_tensor(3, 8, 48, 1, 0, 64), SDC_ERR_FORMAT, "multiple of 32");
    GEXPECT(one_tensor(3, 0, (uint64_t)1 << 40, 1, 0, 32), SDC_ERR_FORMAT, "past the end");
    /* absurd counts fail before allocating */
    gbuf g = one_tensor(3, 0, 4, 2, 0, 32);
    memcpy(g.b + 8, &(uint64_t){(uint64_t)1 << 60}, 8);
    GEXPECT(g, SDC_ERR_FORMAT, "claims");
    g = one_tensor(3, 0, 4, 2, 0, 32);
    memcpy(g.b + 16, &(uint64_t){1000000}, 8);
    GEXPECT(g, SDC_ERR_FORMAT, "claims");
    /* a key string longer than the file */
    g = one_tensor(3, 0, 4, 2, 0, 32);
    memcpy(g.b + 24, &(uint64_t){(uint64_t)-1}, 8);
    GEXPECT(g, SDC_ERR_FORMAT, "past the end");
    /* invalid value type */
    g = one_tensor(3, 0, 4, 2, 0, 32);
    memcpy(g.b + 24 + 8 + 12, &(uint32_t){77}, 4);
    GEXPECT(g, SDC_ERR_FORMAT, "type 77");
    /* two tensors on the same bytes, and a duplicate key */
    gbuf h = {{0}, 0};
    g_put(&h, "GGUF", 4), g_u32(&h, 3), g_u64(&h, 2), g_u64(&h, 2);
    g_str(&h, "k"), g_u32(&h, 4), g_u32(&h, 1);
    g_str(&h, "j"), g_u32(&h, 4), g_u32(&h, 1);
    for (int i = 0; i < 2; i++) g_str(&h, i ? "b" : "a"), g_u32(&h, 1), g_u64(&h, 16), g_u32(&h, 0), g_u64(&h, 32 * (uint64_t)i); /* a: [0, 64), b: [32, 96) */
    while (h.n % 32) g_put(&h, "", 1);
    h.n += 96;
    GEXPECT(h, SDC_ERR_FORMAT, "overlaps");
    memcpy(h.b + 24 + 17 + 8, "k", 1); /* second key "j" -> "k" (first KV: 9 + 4 + 4 bytes) */
    GEXPECT(h, SDC_ERR_FORMAT, "twice");
    /* an array of arrays of arrays... nested too deep */
    gbuf a = {{0}, 0};
    g_put(&a, "GGUF", 4), g_u32(&a, 3), g_u64(&a, 0), g_u64(&a, 1);
    g_str(&a, "deep"), g_u32(&a, 9);
    for (int i = 0; i < 5; i++) g_u32(&a, 9), g_u64(&a, 1);
    g_u32(&a, 0), g_u64(&a, 0);
    GEXPECT(a, SDC_ERR_FORMAT, "array");
    /* every truncation of a valid file fails */
    g = one_tensor(3, 0, 4, 2, 0, 32);
    sdc_error err = {0};
    for (size_t n = 0; n < g.n; n++) CHECK_MSG(gparse(&g, n, &err) != SDC_OK, "truncated to %zu accepted", n);
}
