/* make-model's weights (deterministic, scaled like PyTorch's default init,
 * the same bytes for any thread count) and the converter's per-tensor
 * type choice and round trips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arch.h"
#include "formats/convert.h"
#include "formats/make_model.h"
#include "formats/model_files.h"
#include "harness.h"
#include "tensor/quant.h"

static sdc_model_files *open_ok(const char *path) {
    sdc_error err = {0};
    sdc_model_files *m = NULL;
    CHECK_MSG(sdc_model_files_open(path, &m, &err) == SDC_OK, "%s: %s", path, sdc_error_msg(&err));
    return m;
}

/* Values of tensor `name` in m as f32. */
static float *values(const sdc_model_files *m, const char *name, size_t *n) {
    const sdc_weight_info *w = sdc_model_files_find(m, name);
    if (!w) return NULL;
    *n = (size_t)sdc_weight_numel(w);
    float *v = malloc(*n * sizeof *v);
    sdc_error err = {0};
    if (v && sdc_weight_convert(w, SDC_DTYPE_F32, v, *n * sizeof *v, &err) != SDC_OK) {
        free(v);
        return NULL;
    }
    return v;
}

TEST(formats_make_model_weights) {
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "%s", sdc_test_tmp("mm1.safetensors"));
    snprintf(p2, sizeof p2, "%s", sdc_test_tmp("mm2.safetensors"));
    sdc_make_model_opts o = {"sd15", "tiny", 123, SDC_DTYPE_F16, 0, 1};
    sdc_error err = {0};
    int64_t params = 0;
    REQUIRE_MSG(sdc_make_model(p1, &o, &params, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(params == 5544235);
    o.threads = 2;
    REQUIRE(sdc_make_model(p2, &o, NULL, &err) == SDC_OK);
    sdc_model_files *a = open_ok(p1), *b = open_ok(p2);
    REQUIRE(a && b);
    CHECK(strcmp(sdc_model_files_meta(a, "sdc.seed"), "123") == 0 && strcmp(sdc_model_files_meta(a, "sdc.family"), "sd15") == 0);
    for (size_t i = 0; i < sdc_model_files_count(a); i++) {
        const char *name;
        const sdc_weight_info *wa = sdc_model_files_at(a, i, &name), *wb = sdc_model_files_find(b, name);
        CHECK_MSG(wb && wa->nbytes == wb->nbytes && memcmp(wa->data, wb->data, wa->nbytes) == 0, "'%s' differs between 1 and 2 threads", name);
        CHECK(wa->dtype == SDC_DTYPE_F16);
    }
    /* a 3x3 conv: uniform within +-1/sqrt(fan_in), std bound/sqrt(3) */
    size_t n;
    float *w = values(a, "model.diffusion_model.output_blocks.2.0.in_layers.2.weight", &n); /* [64, 128, 3, 3] */
    REQUIRE(w && n == 64 * 128 * 9);
    double bound = 1.0 / sqrt(128.0 * 9.0), s = 0, ss = 0, mx = 0;
    for (size_t i = 0; i < n; i++) s += w[i], ss += (double)w[i] * w[i], mx = fmax(mx, fabs(w[i]));
    double mean = s / (double)n, sd = sqrt(ss / (double)n - mean * mean);
    /* f16 rounding can lift |x| by half an ulp (2^-11 relative) */
    CHECK_MSG(mx <= bound * (1 + 0x1p-11) && mx > 0.99 * bound, "max %g, bound %g", mx, bound);
    /* 73,728 samples: the sample std is within 1% of bound/sqrt(3) with overwhelming probability */
    CHECK_MSG(fabs(sd / (bound / sqrt(3.0)) - 1) < 0.01 && fabs(mean) < 0.01 * bound, "std %g mean %g", sd, mean);
    free(w);
    float *g = values(a, "first_stage_model.decoder.norm_out.weight", &n);
    REQUIRE(g);
    for (size_t i = 0; i < n; i++) CHECK(g[i] >= 0.9f - 1e-3f && g[i] <= 1.1f + 1e-3f);
    free(g);
    sdc_model_files_close(a);
    sdc_model_files_close(b);
    /* another seed gives other values; an existing output is refused */
    o.seed = 124;
    CHECK(sdc_make_model(p2, &o, NULL, &err) == SDC_ERR_IO);
    o.overwrite = 1;
    REQUIRE(sdc_make_model(p2, &o, NULL, &err) == SDC_OK);
    a = open_ok(p1), b = open_ok(p2);
    const sdc_weight_info *x = sdc_model_files_find(a, "model.diffusion_model.out.2.weight"), *y = sdc_model_files_find(b, "model.diffusion_model.out.2.weight");
    CHECK(x && y && memcmp(x->data, y->data, x->nbytes) != 0);
    sdc_model_files_close(a);
    sdc_model_files_close(b);
}

TEST(formats_convert_targets_and_roundtrip) {
    /* type choice */
    sdc_weight_info mat = {"m", SDC_DTYPE_F32, 2, {64, 64}, NULL, 0}, conv = {"c", SDC_DTYPE_F32, 4, {64, 64, 3, 3}, NULL, 0};
    sdc_weight_info vec = {"v", SDC_DTYPE_F16, 1, {64}, NULL, 0}, ids = {"i", SDC_DTYPE_I64, 2, {1, 77}, NULL, 0};
    sdc_weight_info q = {"q", SDC_DTYPE_Q8_0, 2, {4, 64}, NULL, 0};
    CHECK(sdc_convert_target(&mat, SDC_DTYPE_Q4_0, 1) == SDC_DTYPE_Q4_0);
    CHECK(sdc_convert_target(&conv, SDC_DTYPE_Q4_0, 1) == SDC_DTYPE_F16);
    CHECK(sdc_convert_target(&vec, SDC_DTYPE_Q4_0, 1) == SDC_DTYPE_F32);
    CHECK(sdc_convert_target(&ids, SDC_DTYPE_F16, 0) == SDC_DTYPE_I64);
    CHECK(sdc_convert_target(&q, -1, 0) == SDC_DTYPE_F32 && sdc_convert_target(&q, -1, 1) == SDC_DTYPE_Q8_0);
    CHECK(sdc_convert_target(&vec, SDC_DTYPE_BF16, 0) == SDC_DTYPE_BF16);
    /* reference -> q8_0 GGUF: every quantized tensor within q8_0's error bound of the original */
    sdc_model_files *ref = open_ok(sdc_test_shared("reference/model/sd15-random-tiny.safetensors"));
    REQUIRE(ref);
    char out[1024];
    snprintf(out, sizeof out, "%s", sdc_test_tmp("q8.gguf"));
    sdc_convert_opts o = {SDC_DTYPE_Q8_0, 0};
    sdc_error err = {0};
    REQUIRE_MSG(sdc_convert_model(ref, out, &o, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_model_files *g = open_ok(out);
    REQUIRE(g);
    CHECK(sdc_model_files_count(g) == sdc_model_files_count(ref));
    size_t nq = 0;
    for (size_t i = 0; i < sdc_model_files_count(ref); i++) {
        const char *name;
        const sdc_weight_info *r = sdc_model_files_at(ref, i, &name), *c = sdc_model_files_find(g, name);
        REQUIRE_MSG(c && c->dtype == sdc_convert_target(r, SDC_DTYPE_Q8_0, 1), "'%s'", name);
        if (c->dtype != SDC_DTYPE_Q8_0) continue;
        nq++;
        size_t n = (size_t)sdc_weight_numel(r);
        float *v = malloc(n * sizeof *v);
        sdc_dequantize_row(SDC_DTYPE_Q8_0, c->data, v, n);
        const float *src = r->data;
        for (size_t b = 0; b < n; b += 32) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(src[b + j]));
            for (int j = 0; j < 32; j++)
                if (fabsf(v[b + j] - src[b + j]) > amax / 127 * 0.57f + 1e-12f) {
                    CHECK_MSG(0, "'%s'[%zu]: %g vs %g", name, b + j, v[b + j], src[b + j]);
                    b = n;
                    break;
                }
        }
        free(v);
    }
    CHECK(nq > 100);
    sdc_model_files_close(g);
    /* q8_0 into safetensors is refused, an unknown extension too */
    CHECK(sdc_convert_model(ref, sdc_test_tmp("x.safetensors"), &o, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    o.type = -1;
    CHECK(sdc_convert_model(ref, sdc_test_tmp("x.bin"), &o, &err) == SDC_ERR_INVALID_ARG);
    sdc_model_files_close(ref);
}
