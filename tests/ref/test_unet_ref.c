/* U-Net vs diffusers on the tiny model (../shared/reference/tiny/unet):
 * batch 1 and CFG batch 2, 8x8 and 16x16 latents. Tolerance: 1e-3 of the
 * output's scale (max |ref|), f32 weights — the bound; observed
 * differences are ~1e-6 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "models/unet.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void run_case(const sdc_unet *u, const sdc_kernels *k, sdc_compute compute, const char *name, double tol_rel,
                     double *worst) {
    char file[256];
    snprintf(file, sizeof file, "reference/tiny/unet/%s.safetensors", name);
    sdc_ref out;
    if (!sdc_ref_load(file, "out", &out)) return;
    sdc_error err;
    int64_t n = 0;
    float *y = sdc_ref_unet_case(u, k, compute, name, &n, &err);
    CHECK_MSG(y != NULL, "%s: %s", name, sdc_error_msg(&err));
    CHECK_MSG(!y || n == out.numel, "%s: %lld values, the reference has %lld", name, (long long)n, (long long)out.numel);
    if (y && n == out.numel) {
        double scale = max_abs(out.data, out.numel);
        sdc_cmp r = sdc_test_compare(y, out.data, (size_t)out.numel, tol_rel * scale, 0);
        CHECK_MSG(r.ok, "%s: max abs diff %g (scale %g)", name, r.max_abs, scale);
        *worst = fmax(*worst, r.max_abs / scale);
    }
    free(y);
    sdc_ref_free(&out);
}

/* The model borrows the file's mapping: *mf must stay open while u lives. */
static sdc_unet *load_tiny(sdc_dtype dt, sdc_model_files **mf) {
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_model_files_open(sdc_test_shared(TINY_MODEL), mf, &err) != SDC_OK) {
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
        return NULL;
    }
    sdc_unet *u = NULL;
    sdc_unet_opts opts = {.mat_dtype = dt, .num_heads = 8};
    if (sdc_unet_load(*mf, NULL, &opts, &u, &err) != SDC_OK) sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return u;
}

static const char *k_cases[] = {"b1_t999_8x8", "b2cfg_t500_8x8", "b2cfg_t1_16x16"};

TEST(unet_tiny_matches_reference_f32) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_unet *u;
    sdc_unet_opts opts = {.mat_dtype = SDC_DTYPE_F32, .num_heads = 8};
    REQUIRE_MSG(sdc_unet_load(mf, NULL, &opts, &u, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(u->cfg.model_ch == 32 && u->cfg.in_ch == 4 && u->cfg.context_dim == 32);
    CHECK(u->cfg.n_input == 9 && u->cfg.n_output == 9);
    double worst = 0;
    for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++)
        run_case(u, sdc_kernels_ref(), SDC_COMPUTE_F32, k_cases[i], 1e-3, &worst);
    printf("    unet f32 (ref kernels) max diff / scale: %.3g\n", worst);
    sdc_unet_free(u);
    sdc_model_files_close(mf);
}

/* f16 / bf16 weights: the tiny model's weights are exactly representable in
 * f16, so f16 storage changes nothing in f32 compute; bf16 storage and bf16
 * compute round weights and activations to 8 mantissa bits: reported, with a
 * loose sanity bound (5% of scale) that catches wiring errors only. */
TEST(unet_tiny_reduced_precision_error) {
    static const struct {
        sdc_dtype dt;
        sdc_compute compute;
        const char *name;
        double tol;
    } modes[] = {{SDC_DTYPE_F16, SDC_COMPUTE_F32, "f16 weights", 1e-3},
                 {SDC_DTYPE_BF16, SDC_COMPUTE_F32, "bf16 weights", 5e-2},
                 {SDC_DTYPE_BF16, SDC_COMPUTE_BF16, "bf16 compute", 5e-2}};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        sdc_model_files *mf = NULL;
        sdc_unet *u = load_tiny(modes[m].dt, &mf);
        REQUIRE(u != NULL);
        double worst = 0;
        for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++)
            run_case(u, sdc_kernels_best(), modes[m].compute, k_cases[i], modes[m].tol, &worst);
        printf("    unet %s max diff / scale: %.3g\n", modes[m].name, worst);
        sdc_unet_free(u);
        sdc_model_files_close(mf);
    }
}
