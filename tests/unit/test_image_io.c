/* Image I/O: PNG round trips and text chunks, decoding of PIL-written
 * PNG / JPEG / WebP files against PIL's own decode, the diffusers float ->
 * u8 rule against the shared reference PNGs, corrupt input, atomic writes. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/weight_file.h"
#include "image/png_io.h"
#include "test_image_common.h"

static void fill_pattern(sdc_image *img, unsigned seed) {
    size_t n = sdc_image_bytes(img);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        img->data[i] = (uint8_t)(seed >> 16);
    }
}

/* Type of the PNG chunk holding text key `key` ("tEXt", "iTXt", ...). */
static const char *chunk_type_of(const uint8_t *p, size_t n, const char *key, char out[5]) {
    strcpy(out, "none");
    size_t klen = strlen(key);
    for (size_t pos = 8; pos + 12 <= n;) {
        size_t len = ((size_t)p[pos] << 24) | ((size_t)p[pos + 1] << 16) | ((size_t)p[pos + 2] << 8) | p[pos + 3];
        const uint8_t *type = p + pos + 4, *data = p + pos + 8;
        if (len <= n - pos - 12 && len > klen && memcmp(data, key, klen) == 0 && data[klen] == 0) {
            memcpy(out, type, 4);
            out[4] = '\0';
            return out;
        }
        pos += len + 12;
    }
    return out;
}

TEST(image_png_roundtrip_channels_and_text) {
    sdc_error e;
    sdc_error_clear(&e);
    const char *ascii = "a cat, (masterpiece:1.2)\nNegative prompt: dog\nSteps: 20, Sampler: Euler a";
    const char *latin = "caf\xc3\xa9 cr\xc3\xa8me";                /* fits Latin-1 -> tEXt */
    const char *wide = "\xe7\x8c\xab \xf0\x9f\x90\x88 workflow"; /* CJK + emoji -> iTXt */
    for (int ch = 1; ch <= 4; ch++) {
        sdc_image img, back;
        REQUIRE(sdc_image_alloc(&img, 37, 23, ch, &e) == SDC_OK);
        fill_pattern(&img, (unsigned)ch);
        sdc_image_meta meta = {0}, got = {0};
        REQUIRE(sdc_image_meta_add(&meta, "parameters", ascii, &e) == SDC_OK);
        REQUIRE(sdc_image_meta_add(&meta, "latin", latin, &e) == SDC_OK);
        REQUIRE(sdc_image_meta_add(&meta, "workflow", wide, &e) == SDC_OK);
        uint8_t *buf;
        size_t n;
        REQUIRE(sdc_png_encode(&img, &meta, &buf, &n, &e) == SDC_OK);
        CHECK(sdc_png_decode(buf, n, SDC_PNG_PIXELS | SDC_PNG_TEXT, &back, &got, &e) == SDC_OK);
        timg_diff d = timg_compare(&img, &back);
        CHECK(d.same_shape && d.n_diff == 0);
        CHECK(got.count == 3);
        CHECK(sdc_image_meta_get(&got, "parameters") && strcmp(sdc_image_meta_get(&got, "parameters"), ascii) == 0);
        CHECK(sdc_image_meta_get(&got, "latin") && strcmp(sdc_image_meta_get(&got, "latin"), latin) == 0);
        CHECK(sdc_image_meta_get(&got, "workflow") && strcmp(sdc_image_meta_get(&got, "workflow"), wide) == 0);
        char t[5];
        CHECK(strcmp(chunk_type_of(buf, n, "parameters", t), "tEXt") == 0);
        CHECK(strcmp(chunk_type_of(buf, n, "latin", t), "tEXt") == 0);
        CHECK(strcmp(chunk_type_of(buf, n, "workflow", t), "iTXt") == 0);
        free(buf);
        sdc_image_free(&img);
        sdc_image_free(&back);
        sdc_image_meta_free(&meta);
        sdc_image_meta_free(&got);
    }
}

TEST(image_png_refuses_bad_text) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img;
    REQUIRE(sdc_image_alloc(&img, 4, 4, 3, &e) == SDC_OK);
    const char *bad_keys[] = {"", "0123456789012345678901234567890123456789012345678901234567890123456789012345678901",
                              "tab\tkey", "caf\xc3\xa9"};
    for (size_t i = 0; i < 4; i++) {
        sdc_image_meta meta = {0};
        REQUIRE(sdc_image_meta_add(&meta, bad_keys[i], "v", &e) == SDC_OK);
        uint8_t *buf;
        size_t n;
        sdc_error_clear(&e);
        CHECK(sdc_png_encode(&img, &meta, &buf, &n, &e) == SDC_ERR_INVALID_ARG && buf == NULL);
        sdc_image_meta_free(&meta);
    }
    sdc_image_meta meta = {0};
    REQUIRE(sdc_image_meta_add(&meta, "k", "bad \xff utf8", &e) == SDC_OK);
    uint8_t *buf;
    size_t n;
    sdc_error_clear(&e);
    CHECK(sdc_png_encode(&img, &meta, &buf, &n, &e) == SDC_ERR_INVALID_ARG);
    sdc_image_meta_free(&meta);
    sdc_image_free(&img);
}

TEST(image_png_reads_pil_text_chunks) {
    /* written by PIL: tEXt (Latin-1 "café"), zTXt, iTXt (CJK + emoji); LA image */
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img;
    sdc_image_meta meta = {0}, only = {0};
    REQUIRE(sdc_image_load(IMG_DATA "png_text_la.png", &img, &meta, &e) == SDC_OK);
    CHECK(img.channels == 2 && img.width == 40 && img.height == 56);
    const char *want_p = "a cat, caf\xc3\xa9\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Size: 40x56";
    const char *p = sdc_image_meta_get(&meta, "parameters"), *q = sdc_image_meta_get(&meta, "prompt"),
               *w = sdc_image_meta_get(&meta, "workflow");
    CHECK(p && strcmp(p, want_p) == 0);
    CHECK(q && strcmp(q, "{\"3\": {\"class_type\": \"KSampler\"}}") == 0);
    CHECK(w && strcmp(w, "\xe7\x8c\xab \xf0\x9f\x90\x88 nodes") == 0);
    REQUIRE(sdc_image_load_meta(IMG_DATA "png_text_la.png", &only, &e) == SDC_OK);
    CHECK(only.count == meta.count && only.count == 3);
    /* LA -> RGB drops alpha, gray replicated */
    sdc_image rgb;
    REQUIRE(sdc_image_convert(&img, 3, &rgb, &e) == SDC_OK);
    CHECK(rgb.data[0] == img.data[0] && rgb.data[2] == img.data[0] && rgb.data[3] == img.data[2]);
    sdc_image_free(&rgb);
    sdc_image_free(&img);
    sdc_image_meta_free(&meta);
    sdc_image_meta_free(&only);
}

TEST(image_png_expands_palette_16bit_interlaced) {
    static const char *cases[][2] = {{"png_palette_trns.png", "png_palette_trns_expected.png"},
                                     {"png_rgb16.png", "png_rgb16_expected.png"},
                                     {"png_interlaced.png", "png_interlaced_expected.png"}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(cases); i++) {
        sdc_image a, b;
        if (!timg_load(cases[i][0], &a)) continue;
        if (timg_load(cases[i][1], &b)) {
            timg_diff d = timg_compare(&a, &b);
            CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu bytes differ (shape %d)", cases[i][0], d.n_diff,
                      d.same_shape);
            sdc_image_free(&b);
        }
        sdc_image_free(&a);
    }
}

/* The shared reference PNGs were made from image01 as (x * 255).round():
 * our float -> u8 with round-half-even must reproduce them exactly. */
TEST(image_u8_rounding_matches_diffusers_reference_pngs) {
    static const char *cases[] = {"txt2img_ddim_64", "txt2img_euler_128", "img2img_ddim_64_s06"};
    for (size_t i = 0; i < SDC_ARRAY_LEN(cases); i++) {
        char st_path[256], png_rel[256];
        snprintf(st_path, sizeof st_path, "%s", sdc_test_shared("reference/tiny/pipe/"));
        size_t len = strlen(st_path);
        snprintf(st_path + len, sizeof st_path - len, "%s.safetensors", cases[i]);
        snprintf(png_rel, sizeof png_rel, "reference/tiny/pipe/%s.png", cases[i]);
        sdc_error e;
        sdc_error_clear(&e);
        sdc_weight_file *f;
        if (sdc_weight_file_open(st_path, &f, &e) != SDC_OK) SKIP("shared reference data not available");
        const sdc_weight_info *wi = sdc_weight_file_find(f, "image01");
        REQUIRE(wi != NULL);
        sdc_tensor nhwc = sdc_weight_tensor(wi); /* [1, H, W, 3] */
        sdc_tensor t = sdc_tensor_transpose(&nhwc, 1, 3);
        t = sdc_tensor_transpose(&t, 2, 3); /* [1, 3, H, W] view */
        sdc_image mine, trunc, ref;
        REQUIRE(sdc_image_from_tensor(&t, 0, SDC_RANGE_01, SDC_U8_ROUND_EVEN, &mine, &e) == SDC_OK);
        REQUIRE(sdc_image_from_tensor(&t, 0, SDC_RANGE_01, SDC_U8_TRUNCATE, &trunc, &e) == SDC_OK);
        REQUIRE(sdc_image_load(sdc_test_shared(png_rel), &ref, NULL, &e) == SDC_OK);
        timg_diff d = timg_compare(&mine, &ref), dt = timg_compare(&trunc, &ref);
        CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu bytes differ, max %d", cases[i], d.n_diff, d.max_abs);
        CHECK(dt.n_diff > 0 && dt.max_abs == 1); /* truncation is A1111's rule, not diffusers' */
        sdc_image_free(&mine);
        sdc_image_free(&trunc);
        sdc_image_free(&ref);
        sdc_weight_file_close(f);
    }
}

TEST(image_tensor_conversion_rules) {
    sdc_error e;
    sdc_error_clear(&e);
    /* exact halves: x * 255 in float32 is exactly k + 0.5 for these x */
    static const float halves[][3] = {{0.5f, 0, 0}, {1.5f, 2, 1}, {2.5f, 2, 2}, {3.5f, 4, 3}, {126.5f, 126, 126},
                                      {127.5f, 128, 127}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(halves); i++) {
        float x = halves[i][0] / 255.0f;
        REQUIRE(x * 255.0f == halves[i][0]);
        CHECK(sdc_image_float_to_u8(x, SDC_RANGE_01, SDC_U8_ROUND_EVEN) == (uint8_t)halves[i][1]);
        CHECK(sdc_image_float_to_u8(x, SDC_RANGE_01, SDC_U8_TRUNCATE) == (uint8_t)halves[i][2]);
    }
    CHECK(sdc_image_float_to_u8(-3.0f, SDC_RANGE_PM1, SDC_U8_ROUND_EVEN) == 0);
    CHECK(sdc_image_float_to_u8(1.5f, SDC_RANGE_PM1, SDC_U8_ROUND_EVEN) == 255);
    CHECK(sdc_image_float_to_u8(0.0f / 0.0f, SDC_RANGE_01, SDC_U8_ROUND_EVEN) == 0);
    /* every u8 survives u8 -> [-1, 1] -> u8 */
    sdc_image img, back;
    REQUIRE(sdc_image_alloc(&img, 256, 2, 3, &e) == SDC_OK);
    for (int i = 0; i < 256 * 2 * 3; i++) img.data[i] = (uint8_t)(i / 3 % 256 ^ (i % 3) * 85);
    float buf[3 * 2 * 256];
    sdc_tensor t = sdc_tensor_4d(SDC_DTYPE_F32, buf, 1, 3, 2, 256);
    REQUIRE(sdc_image_to_tensor(&img, SDC_RANGE_PM1, &t, 0, &e) == SDC_OK);
    CHECK(buf[0] == -1.0f);
    CHECK(*(float *)sdc_tensor_ptr(&t, 0, 1, 0, 0) == 2.0f * (85.0f / 255.0f) - 1.0f);
    REQUIRE(sdc_image_from_tensor(&t, 0, SDC_RANGE_PM1, SDC_U8_ROUND_EVEN, &back, &e) == SDC_OK);
    timg_diff d = timg_compare(&img, &back);
    CHECK(d.same_shape && d.n_diff == 0);
    sdc_image_free(&back);
    /* wrong sizes are refused */
    sdc_tensor small = sdc_tensor_4d(SDC_DTYPE_F32, buf, 1, 3, 2, 255);
    sdc_error_clear(&e);
    CHECK(sdc_image_to_tensor(&img, SDC_RANGE_01, &small, 0, &e) == SDC_ERR_INVALID_ARG);
    sdc_image_free(&img);
}

TEST(image_jpeg_webp_decode_like_pil) {
    static const char *cases[][2] = {{"astro_q90.jpg", "astro_q90_decoded.png"},
                                     {"cat_gray_prog.jpg", "cat_gray_prog_decoded.png"},
                                     {"synth_a_420.jpg", "synth_a_420_decoded.png"},
                                     {"cat_lossy.webp", "cat_lossy_decoded.png"},
                                     {"synth_b_lossless.webp", "synth_b_lossless_decoded.png"}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(cases); i++) {
        sdc_image a, b;
        if (!timg_load(cases[i][0], &a)) continue;
        if (timg_load(cases[i][1], &b)) {
            timg_diff d = timg_compare(&a, &b);
            CHECK_MSG(d.same_shape && d.n_diff == 0, "%s: %zu bytes differ, max %d (shape %d: %dx%dx%d)", cases[i][0],
                      d.n_diff, d.max_abs, d.same_shape, a.width, a.height, a.channels);
            sdc_image_free(&b);
        }
        sdc_image_free(&a);
    }
}

/* Truncations and byte flips of valid files: errors, never crashes or
 * leaks (ASan), and a failed decode leaves the image empty. */
TEST(image_decoders_survive_corrupt_input) {
    static const char *files[] = {"png_text_la.png", "png_interlaced.png", "astro_q90.jpg", "cat_gray_prog.jpg",
                                  "cat_lossy.webp", "synth_b_lossless.webp"};
    for (size_t f = 0; f < SDC_ARRAY_LEN(files); f++) {
        char path[256], *buf;
        size_t n;
        sdc_error e;
        sdc_error_clear(&e);
        snprintf(path, sizeof path, IMG_DATA "%s", files[f]);
        REQUIRE(sdc_read_file(path, 1 << 24, &buf, &n, &e) == SDC_OK);
        int truncated_ok = 0;
        for (size_t cut = 0; cut < n; cut += 1 + n / 23) {
            sdc_image img;
            sdc_image_meta meta = {0};
            sdc_error_clear(&e);
            sdc_status st = sdc_image_decode((const uint8_t *)buf, cut, &img, &meta, &e);
            if (st == SDC_OK) truncated_ok++;
            else CHECK(img.data == NULL && e.msg[0] != '\0');
            sdc_image_free(&img);
            sdc_image_meta_free(&meta);
        }
        CHECK_MSG(truncated_ok == 0, "%s: %d truncated versions decoded", files[f], truncated_ok);
        unsigned seed = 7;
        for (int rep = 0; rep < 40; rep++) {
            char *m = malloc(n);
            REQUIRE(m != NULL);
            memcpy(m, buf, n);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = 16 + (seed >> 8) % (n - 16);
                m[pos] = (char)(m[pos] ^ (1 << (seed % 8)));
            }
            sdc_image img;
            sdc_image_meta meta = {0};
            sdc_error_clear(&e);
            if (sdc_image_decode((const uint8_t *)m, n, &img, &meta, &e) != SDC_OK) CHECK(img.data == NULL);
            sdc_image_free(&img);
            sdc_image_meta_free(&meta);
            free(m);
        }
        free(buf);
    }
}

TEST(image_decoders_refuse_oversized_images) {
    sdc_error e;
    char *buf;
    size_t n;
    sdc_error_clear(&e);
    REQUIRE(sdc_read_file(IMG_DATA "png_interlaced.png", 1 << 20, &buf, &n, &e) == SDC_OK);
    /* IHDR width/height at offset 16; fix the CRC is not needed: the size
     * check must come first, before libpng even validates the chunk */
    uint8_t *p = (uint8_t *)buf;
    p[16] = 0; p[17] = 0; p[18] = 0x4E; p[19] = 0x20; /* 20000 */
    sdc_image img;
    sdc_error_clear(&e);
    CHECK(sdc_image_decode(p, n, &img, NULL, &e) != SDC_OK && img.data == NULL);
    /* a chunk claiming 2 GB in a small file (found by fuzz_png: libpng
     * allocated the declared length) is refused before libpng sees it */
    p[33] = 0x7F; p[34] = 0; p[35] = 0; p[36] = 0;
    sdc_error_clear(&e);
    CHECK(sdc_image_decode(p, n, &img, NULL, &e) == SDC_ERR_FORMAT && img.data == NULL);
    free(buf);
    REQUIRE(sdc_read_file(IMG_DATA "astro_q90.jpg", 1 << 20, &buf, &n, &e) == SDC_OK);
    p = (uint8_t *)buf;
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n; i++)
        if (p[i] == 0xFF && p[i + 1] == 0xC0) { sof = i; break; }
    REQUIRE(sof > 0);
    p[sof + 5] = 0x4E; p[sof + 6] = 0x20; /* height 20000 */
    p[sof + 7] = 0x4E; p[sof + 8] = 0x20; /* width 20000 */
    sdc_error_clear(&e);
    CHECK(sdc_image_decode(p, n, &img, NULL, &e) == SDC_ERR_UNSUPPORTED && img.data == NULL);
    CHECK(strstr(sdc_error_msg(&e), "limit") != NULL);
    free(buf);
}

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *ent;
    while (d && (ent = readdir(d)))
        if (strstr(ent->d_name, ".tmp-")) n++;
    if (d) closedir(d);
    return n;
}

TEST(image_save_is_atomic_and_keeps_existing_files) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image a, b, got;
    REQUIRE(sdc_image_alloc(&a, 9, 7, 3, &e) == SDC_OK && sdc_image_alloc(&b, 9, 7, 3, &e) == SDC_OK);
    fill_pattern(&a, 1);
    fill_pattern(&b, 2);
    const char *path = sdc_test_tmp("atomic.png");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    remove(path);
    REQUIRE(sdc_image_save_png(path, &a, NULL, 0, &e) == SDC_OK);
    sdc_error_clear(&e);
    CHECK(sdc_image_save_png(path, &b, NULL, 0, &e) == SDC_ERR_IO && strstr(sdc_error_msg(&e), "exists"));
    REQUIRE(sdc_image_load(path, &got, NULL, &e) == SDC_OK);
    CHECK(timg_compare(&got, &a).n_diff == 0);
    sdc_image_free(&got);
    sdc_error_clear(&e);
    CHECK(sdc_image_save_png(path, &b, NULL, SDC_WRITE_OVERWRITE, &e) == SDC_OK);
    REQUIRE(sdc_image_load(path, &got, NULL, &e) == SDC_OK);
    CHECK(timg_compare(&got, &b).n_diff == 0);
    sdc_image_free(&got);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.png", dir);
    sdc_error_clear(&e);
    CHECK(sdc_image_save_png(bad, &a, NULL, 0, &e) == SDC_ERR_IO);
    CHECK(count_tmp_files(dir) == 0);
    sdc_image_free(&a);
    sdc_image_free(&b);
}

TEST(image_sniff_and_unknown_format) {
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
    CHECK(sdc_image_sniff(gif, sizeof gif) == SDC_IMAGE_FORMAT_UNKNOWN);
    sdc_image img;
    sdc_error e;
    sdc_error_clear(&e);
    CHECK(sdc_image_decode(gif, sizeof gif, &img, NULL, &e) == SDC_ERR_FORMAT && img.data == NULL);
    sdc_error_clear(&e);
    CHECK(sdc_image_load("tests/data/image/does-not-exist.png", &img, NULL, &e) == SDC_ERR_IO);
    CHECK(strcmp(sdc_image_format_name(SDC_IMAGE_FORMAT_WEBP), "webp") == 0);
}

/* A1111 flattens RGBA inputs with PIL: background.alpha_composite(img);
 * the expected bytes were produced by Pillow 9.4 (the rule also matched
 * PIL on all 65536 (colour, alpha) pairs when written). */
TEST(image_flatten_matches_pil_alpha_composite) {
    static const uint8_t ca[5][2] = {{200, 128}, {17, 1}, {255, 254}, {90, 77}, {3, 200}};
    static const uint8_t bgs[2][3] = {{255, 0, 128}, {10, 250, 60}};
    static const uint8_t want[2][15] = {{227, 50, 91, 254, 0, 128, 255, 127, 1, 205, 14, 139, 57, 1, 225},
                                        {105, 175, 57, 10, 249, 61, 254, 127, 0, 34, 188, 92, 5, 55, 211}};
    sdc_error e;
    sdc_error_clear(&e);
    sdc_image img, out;
    REQUIRE(sdc_image_alloc(&img, 5, 1, 4, &e) == SDC_OK);
    for (int i = 0; i < 5; i++) {
        uint8_t c = ca[i][0];
        img.data[4 * i] = c;
        img.data[4 * i + 1] = (uint8_t)(c / 2);
        img.data[4 * i + 2] = (uint8_t)(255 - c);
        img.data[4 * i + 3] = ca[i][1];
    }
    for (int b = 0; b < 2; b++) {
        REQUIRE(sdc_image_flatten(&img, bgs[b], &out, &e) == SDC_OK);
        CHECK(out.channels == 3 && memcmp(out.data, want[b], 15) == 0);
        sdc_image_free(&out);
    }
    sdc_image_free(&img);
}

/* sdc_image_crop: the region's pixels, row by row; regions outside the
 * image or empty are refused */
TEST(image_crop_region) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_image img = {0}, c = {0};
    REQUIRE(sdc_image_alloc(&img, 7, 5, 3, &err) == SDC_OK);
    for (int i = 0; i < 7 * 5 * 3; i++) img.data[i] = (uint8_t)i;
    REQUIRE(sdc_image_crop(&img, 2, 1, 6, 4, &c, &err) == SDC_OK);
    CHECK(c.width == 4 && c.height == 3 && c.channels == 3);
    int bad = 0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++) bad += c.data[(y * 4 + x) * 3 + k] != (uint8_t)(((y + 1) * 7 + x + 2) * 3 + k);
    CHECK_MSG(bad == 0, "%d values differ", bad);
    sdc_image_free(&c);
    CHECK(sdc_image_crop(&img, 2, 1, 8, 4, &c, &err) == SDC_ERR_INVALID_ARG);
    CHECK(sdc_image_crop(&img, 3, 1, 3, 4, &c, &err) == SDC_ERR_INVALID_ARG);
    sdc_image_free(&img);
}
