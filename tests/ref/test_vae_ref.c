/* VAE decode / encode vs diffusers on the tiny model, with the optimized
 * kernels. Tolerance: 1e-3 of the output's scale, f32 weights (the issue's
 * bound); observed ~2e-6. */
#include <math.h>
#include <stdio.h>

#include "harness.h"
#include "models/vae.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void check_close(const char *what, const float *got, const sdc_ref *want, double tol_rel) {
    double scale = max_abs(want->data, want->numel);
    sdc_cmp r = sdc_test_compare(got, want->data, (size_t)want->numel, tol_rel * scale, 0);
    CHECK_MSG(r.ok, "%s: max abs diff %g (scale %g)", what, r.max_abs, scale);
    printf("    %s: max diff / scale %.3g\n", what, r.max_abs / scale);
}

TEST(vae_tiny_decode_encode_match_reference) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_vae *v;
    REQUIRE_MSG(sdc_vae_load(mf, NULL, SDC_DTYPE_F32, 0, &v, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(v->latent_ch == 4 && v->dec.n_levels == 4 && v->enc.present);
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    /* optimized kernels: each is tested against its scalar reference on its own */
    const char *dec_files[] = {"reference/tiny/vae/decode_8x8.safetensors", "reference/tiny/vae/decode_16x16.safetensors"};
    for (int i = 0; i < 2; i++) {
        sdc_ref z, want;
        if (!sdc_ref_load(dec_files[i], "latent", &z) || !sdc_ref_load(dec_files[i], "decoded", &want)) continue;
        for (int64_t j = 0; j < z.numel; j++) z.data[j] /= v->scaling_factor;
        sdc_tensor tz = sdc_tensor_make(SDC_DTYPE_F32, z.data, 4, z.shape);
        sdc_tensor *img = sdc_vae_decode(&c, v, &tz);
        CHECK_MSG(img != NULL, "%s", sdc_error_msg(&c.err));
        if (img && sdc_tensor_numel(img) == want.numel) check_close(dec_files[i], img->data, &want, 1e-3);
        sdc_ctx_reset(&c);
        sdc_ref_free(&z);
        sdc_ref_free(&want);
    }
    const char *enc = "reference/tiny/vae/encode_64x64.safetensors";
    sdc_ref image, mean, logvar;
    if (sdc_ref_load(enc, "image", &image) && sdc_ref_load(enc, "posterior_mean", &mean) &&
        sdc_ref_load(enc, "posterior_logvar", &logvar)) {
        sdc_tensor ti = sdc_tensor_make(SDC_DTYPE_F32, image.data, 4, image.shape);
        sdc_tensor *mom = sdc_vae_encode(&c, v, &ti);
        CHECK_MSG(mom != NULL, "%s", sdc_error_msg(&c.err));
        if (mom) {
            REQUIRE(mom->shape[1] == 8 && sdc_tensor_numel(mom) == 2 * mean.numel);
            check_close("encode mean", mom->data, &mean, 1e-3);
            check_close("encode logvar", (const float *)mom->data + mean.numel, &logvar, 1e-3);
        }
    }
    sdc_ref_free(&image);
    sdc_ref_free(&mean);
    sdc_ref_free(&logvar);
    sdc_ctx_free(&c);
    sdc_vae_free(v);
    sdc_model_files_close(mf);
}
