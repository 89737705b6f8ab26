/* Resizing against Pillow 9.4 (Debian's python3-pil) and PyTorch 1.13:
 * expected outputs in tests/data/image were produced by those libraries
 * (make_data.py). PIL-compatible resampling is integer arithmetic, so the
 * comparison is exact; torch interpolation is float: tolerance 1e-6
 * absolute for reordering / contraction of a 4-term weighted sum of
 * values of magnitude < 5. */
#include <string.h>

#include "formats/weight_file.h"
#include "image/resize.h"
#include "test_image_common.h"

static void check_resize(const char *src_name, const char *want_name, int w, int h, sdc_resample f) {
    sdc_image src, want, got;
    if (!timg_load(src_name, &src)) return;
    if (!timg_load(want_name, &want)) {
        sdc_image_free(&src);
        return;
    }
    sdc_error e;
    sdc_error_clear(&e);
    if (sdc_image_resize(&src, w, h, f, &got, &e) == SDC_OK) {
        timg_diff d = timg_compare(&got, &want);
        CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu of %zu bytes differ, max %d", want_name, d.n_diff,
                  sdc_image_bytes(&want), d.max_abs);
        sdc_image_free(&got);
    } else {
        CHECK_MSG(0, "%s: %s", want_name, sdc_error_msg(&e));
    }
    sdc_image_free(&src);
    sdc_image_free(&want);
}

TEST(image_resize_matches_pil) {
    static const char *filters[] = {"nearest", "bilinear", "bicubic", "lanczos"};
    static const char *srcs[] = {"synth_a", "astro"};
    static const int sizes[][2] = {{37, 29}, {101, 77}};
    for (size_t s = 0; s < 2; s++)
        for (size_t z = 0; z < 2; z++)
            for (int f = 0; f < 4; f++) {
                char a[64], b[96];
                snprintf(a, sizeof a, "%s.png", srcs[s]);
                snprintf(b, sizeof b, "resize_%s_%s_%dx%d.png", srcs[s], filters[f], sizes[z][0], sizes[z][1]);
                CHECK(sdc_resample_from_name(filters[f]) == f);
                check_resize(a, b, sizes[z][0], sizes[z][1], (sdc_resample)f);
            }
    check_resize("synth_b_rgba.png", "resize_synth_b_rgba_bicubic_23x31.png", 23, 31, SDC_RESAMPLE_BICUBIC);
    check_resize("astro_gray.png", "resize_astro_gray_lanczos_50x21.png", 50, 21, SDC_RESAMPLE_LANCZOS);
}

TEST(image_resize_box_and_gray_conversion_match_pil) {
    sdc_image src, want, got;
    sdc_error e;
    sdc_error_clear(&e);
    REQUIRE(timg_load("synth_a.png", &src));
    REQUIRE(timg_load("resize_box_synth_a_bicubic.png", &want));
    double box[4] = {0, 0, 64, 0}; /* an empty span: PIL samples the first rows */
    REQUIRE(sdc_image_resize_box(&src, box, 64, 5, SDC_RESAMPLE_BICUBIC, &got, &e) == SDC_OK);
    timg_diff d = timg_compare(&got, &want);
    CHECK_MSG(d.same_shape && d.n_diff == 0, "%zu bytes differ", d.n_diff);
    sdc_image_free(&got);
    sdc_image_free(&want);
    double outside[4] = {0, 0, 65, 10};
    sdc_error_clear(&e);
    CHECK(sdc_image_resize_box(&src, outside, 8, 8, SDC_RESAMPLE_BILINEAR, &got, &e) == SDC_ERR_INVALID_ARG);
    sdc_image_free(&src);
    /* PIL's convert("L") */
    REQUIRE(timg_load("astro.png", &src));
    REQUIRE(timg_load("astro_gray.png", &want));
    REQUIRE(sdc_image_convert(&src, 1, &got, &e) == SDC_OK);
    d = timg_compare(&got, &want);
    CHECK_MSG(d.same_shape && d.n_diff == 0, "%zu bytes differ", d.n_diff);
    sdc_image_free(&got);
    sdc_image_free(&want);
    sdc_image_free(&src);
}

TEST(image_a1111_resize_modes_match_reference) {
    static const int sizes[][2] = {{48, 48}, {40, 56}, {72, 40}};
    sdc_image src;
    REQUIRE(timg_load("synth_a.png", &src));
    for (int mode = 0; mode < 3; mode++)
        for (size_t z = 0; z < 3; z++) {
            char name[64];
            snprintf(name, sizeof name, "a1111_mode%d_%dx%d.png", mode, sizes[z][0], sizes[z][1]);
            sdc_image want, got;
            if (!timg_load(name, &want)) continue;
            sdc_error e;
            sdc_error_clear(&e);
            if (sdc_image_resize_mode(&src, sizes[z][0], sizes[z][1], (sdc_resize_mode)mode, &got, &e) == SDC_OK) {
                timg_diff d = timg_compare(&got, &want);
                CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu bytes differ, max %d", name, d.n_diff, d.max_abs);
                sdc_image_free(&got);
            } else {
                CHECK_MSG(0, "%s: %s", name, sdc_error_msg(&e));
            }
            sdc_image_free(&want);
        }
    sdc_image_free(&src);
}

TEST(image_latent_interpolation_matches_torch) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_weight_file *f;
    REQUIRE(sdc_weight_file_open(IMG_DATA "latent_interp.safetensors", &f, &e) == SDC_OK);
    const sdc_weight_info *xi = sdc_weight_file_find(f, "x");
    REQUIRE(xi != NULL);
    sdc_tensor x = sdc_weight_tensor(xi);
    static const char *modes[] = {"nearest", "nearest-exact", "bilinear"};
    static const int sizes[][2] = {{12, 9}, {3, 4}, {10, 14}};
    for (int m = 0; m < 3; m++)
        for (size_t z = 0; z < 3; z++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%dx%d", modes[m], sizes[z][0], sizes[z][1]);
            const sdc_weight_info *wi = sdc_weight_file_find(f, name);
            REQUIRE_MSG(wi != NULL, "missing %s", name);
            float out[4 * 14 * 14];
            sdc_tensor y = sdc_tensor_4d(SDC_DTYPE_F32, out, 1, 4, sizes[z][0], sizes[z][1]);
            REQUIRE(sdc_latent_resize(&x, &y, (sdc_latent_interp)m, &e) == SDC_OK);
            sdc_cmp c = sdc_test_compare(out, wi->data, (size_t)sdc_tensor_numel(&y), 1e-6, 0);
            CHECK_MSG(c.ok, "%s: max diff %g", name, c.max_abs);
            if (m < 2) CHECK_MSG(c.max_abs == 0, "%s: nearest must be exact (%g)", name, c.max_abs);
        }
    sdc_weight_file_close(f);
}
