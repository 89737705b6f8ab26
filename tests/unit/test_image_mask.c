/* Masks: extraction rules, A1111's mask blur against cv2.GaussianBlur,
 * latent-size masks against PIL (A1111) and torch (diffusers), and
 * ComfyUI's ImagePadForOutpaint mask (tests/data/image, make_data.py). */
#include <math.h>
#include <string.h>

#include "formats/weight_file.h"
#include "image/mask.h"
#include "test_image_common.h"

TEST(image_mask_sources) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img, m;
    REQUIRE(sdc_image_alloc(&img, 3, 1, 4, &e) == SDC_OK);
    const uint8_t px[12] = {255, 0, 0, 255, 0, 255, 0, 129, 10, 20, 30, 128};
    memcpy(img.data, px, 12);
    /* A1111 auto on RGBA with some transparency: alpha > 128 -> 255 */
    REQUIRE(sdc_mask_from_image(&img, SDC_MASK_AUTO, &m, &e) == SDC_OK);
    CHECK(m.channels == 1 && m.data[0] == 255 && m.data[1] == 255 && m.data[2] == 0);
    sdc_image_free(&m);
    REQUIRE(sdc_mask_from_image(&img, SDC_MASK_ALPHA_INVERTED, &m, &e) == SDC_OK);
    CHECK(m.data[0] == 0 && m.data[1] == 126 && m.data[2] == 127);
    sdc_image_free(&m);
    REQUIRE(sdc_mask_from_image(&img, SDC_MASK_GREEN, &m, &e) == SDC_OK);
    CHECK(m.data[0] == 0 && m.data[1] == 255 && m.data[2] == 20);
    sdc_image_free(&m);
    /* fully opaque RGBA: auto falls back to luma, PIL's L = (19595 R + 38470 G + 7471 B + 32768) >> 16 */
    for (int i = 0; i < 3; i++) img.data[4 * i + 3] = 255;
    REQUIRE(sdc_mask_from_image(&img, SDC_MASK_AUTO, &m, &e) == SDC_OK);
    CHECK(m.data[0] == 76 && m.data[1] == 150 && m.data[2] == 18);
    sdc_mask_invert(&m);
    CHECK(m.data[0] == 179);
    sdc_image_free(&m);
    sdc_image_free(&img);
    CHECK(sdc_mask_source_from_name("alpha-inverted") == SDC_MASK_ALPHA_INVERTED);
    CHECK(sdc_mask_source_from_name("magenta") == -1);
}

/* OpenCV blurs 8-bit images with an 8-bit fixed-point kernel; sdc builds
 * the same kernel, so the maps must be identical. */
TEST(image_mask_blur_matches_opencv) {
    sdc_image src, want, got;
    REQUIRE(timg_load("mask_src.png", &src));
    static const int blurs[][2] = {{4, 4}, {2, 7}, {1, 1}, {8, 3}, {16, 0}, {0, 11}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(blurs); i++) {
        char name[64];
        snprintf(name, sizeof name, "mask_blur_%d_%d.png", blurs[i][0], blurs[i][1]);
        if (!timg_load(name, &want)) continue;
        sdc_error e;
        sdc_error_clear(&e);
        REQUIRE(sdc_mask_blur(&src, blurs[i][0], blurs[i][1], &got, &e) == SDC_OK);
        timg_diff d = timg_compare(&got, &want);
        size_t n = sdc_image_bytes(&want);
        CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu of %zu differ, max %d", name, d.n_diff, n, d.max_abs);
        sdc_image_free(&got);
        sdc_image_free(&want);
    }
    sdc_error e;
    sdc_error_clear(&e);
    REQUIRE(sdc_mask_blur(&src, 0, 0, &got, &e) == SDC_OK);
    CHECK(timg_compare(&got, &src).n_diff == 0);
    sdc_image_free(&got);
    sdc_image_free(&src);
}

static const float *find_f32(const sdc_weight_file *f, const char *name, size_t n) {
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    if (!w || w->dtype != SDC_DTYPE_F32 || w->nbytes != n * sizeof(float)) return NULL;
    return w->data;
}

TEST(image_mask_to_latent_matches_a1111_and_diffusers) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_weight_file *f;
    REQUIRE(sdc_weight_file_open(IMG_DATA "masks.safetensors", &f, &e) == SDC_OK);
    sdc_image mb, src;
    REQUIRE(timg_load("mask_blur_4_4.png", &mb));
    REQUIRE(timg_load("mask_src.png", &src));
    float out[30];
    static const struct { const char *name; int mode, round; } cases[] = {
        {"a1111", SDC_MASK_LATENT_A1111, 0}, {"a1111_round", SDC_MASK_LATENT_A1111, 1},
        {"diffusers", SDC_MASK_LATENT_DIFFUSERS, 0}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(cases); i++) {
        const float *want = find_f32(f, cases[i].name, 30);
        REQUIRE_MSG(want != NULL, "missing %s", cases[i].name);
        REQUIRE(sdc_mask_to_latent(&mb, 6, 5, (sdc_mask_latent_mode)cases[i].mode, cases[i].round, out, &e) == SDC_OK);
        sdc_cmp c = sdc_test_compare(out, want, 30, 0, 0); /* same u8 / 255 in float32: exact */
        CHECK_MSG(c.ok, "%s: max diff %g", cases[i].name, c.max_abs);
    }
    sdc_image_free(&mb);
    sdc_image_free(&src);
    sdc_weight_file_close(f);
}

TEST(image_outpaint_pad_matches_comfyui) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_weight_file *f;
    REQUIRE(sdc_weight_file_open(IMG_DATA "masks.safetensors", &f, &e) == SDC_OK);
    sdc_image src, dst;
    REQUIRE(sdc_image_alloc(&src, 30, 24, 3, &e) == SDC_OK);
    for (size_t i = 0; i < sdc_image_bytes(&src); i++) src.data[i] = (uint8_t)(i * 7);
    static const struct { const char *name; int l, t, r, b, f; } cases[] = {
        {"comfy_pad_8_0_4_12_f10", 8, 0, 4, 12, 10}, {"comfy_pad_0_6_0_0_f5", 0, 6, 0, 0, 5},
        {"comfy_pad_3_3_3_3_f12", 3, 3, 3, 3, 12}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(cases); i++) {
        int w = 30 + cases[i].l + cases[i].r, h = 24 + cases[i].t + cases[i].b;
        const float *want = find_f32(f, cases[i].name, (size_t)w * (size_t)h);
        REQUIRE_MSG(want != NULL, "missing %s", cases[i].name);
        float *m;
        REQUIRE(sdc_outpaint_pad_comfy(&src, cases[i].l, cases[i].t, cases[i].r, cases[i].b, cases[i].f, 128, &dst, &m,
                                       &e) == SDC_OK);
        sdc_cmp c = sdc_test_compare(m, want, (size_t)w * (size_t)h, 0, 0); /* double square -> float: exact */
        CHECK_MSG(c.ok, "%s: max diff %g", cases[i].name, c.max_abs);
        CHECK(dst.width == w && dst.height == h);
        CHECK(dst.data[0] == (cases[i].l || cases[i].t ? 128 : src.data[0]));
        CHECK(memcmp(dst.data + ((size_t)cases[i].t * (size_t)w + (size_t)cases[i].l) * 3, src.data, 90) == 0);
        free(m);
        sdc_image_free(&dst);
    }
    sdc_image_free(&src);
    sdc_weight_file_close(f);
}

TEST(image_outpaint_extend_fills_and_mask) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image src, dst, mask, dst2, mask2;
    REQUIRE(sdc_image_alloc(&src, 5, 4, 3, &e) == SDC_OK);
    for (size_t i = 0; i < sdc_image_bytes(&src); i++) src.data[i] = (uint8_t)(10 + i);
    sdc_outpaint_spec sp = {2, 1, 3, 0, SDC_PAD_EDGE, {0, 0, 0}, 0, 0};
    REQUIRE(sdc_outpaint_extend(&src, &sp, &dst, &mask, &e) == SDC_OK);
    CHECK(dst.width == 10 && dst.height == 5);
    CHECK(memcmp(dst.data, src.data, 3) == 0);                        /* corner: nearest source pixel */
    CHECK(memcmp(dst.data + (4 * 10 + 9) * 3, src.data + (3 * 5 + 4) * 3, 3) == 0);
    CHECK(mask.data[0] == 255 && mask.data[1 * 10 + 2] == 0 && mask.data[4 * 10 + 9] == 255);
    sdc_image_free(&dst);
    sdc_image_free(&mask);
    sp.fill = SDC_PAD_NOISE;
    sp.seed = 42;
    sp.feather = 2;
    REQUIRE(sdc_outpaint_extend(&src, &sp, &dst, &mask, &e) == SDC_OK);
    REQUIRE(sdc_outpaint_extend(&src, &sp, &dst2, &mask2, &e) == SDC_OK);
    CHECK(timg_compare(&dst, &dst2).n_diff == 0); /* deterministic for a seed */
    /* feather 2, left/top/right padded: original row 2 (canvas row 3): column 0 has d = 0 -> 255,
     * column 1 d = 1 -> 255 * (1/2)^2 = 63.75 -> 64, column 2 d = 2 -> 0 */
    CHECK(mask.data[3 * 10 + 2] == 255 && mask.data[3 * 10 + 3] == 64 && mask.data[3 * 10 + 4] == 0);
    sdc_image_free(&dst);
    sdc_image_free(&mask);
    sdc_image_free(&dst2);
    sdc_image_free(&mask2);
    sp.left = -1;
    sdc_error_clear(&e);
    CHECK(sdc_outpaint_extend(&src, &sp, &dst, &mask, &e) == SDC_ERR_INVALID_ARG);
    sdc_image_free(&src);
}
