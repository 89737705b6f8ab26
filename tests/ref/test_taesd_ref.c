/* TAESD decode / encode vs a PyTorch reference (tests/data/taesd, made by
 * gen_taesd_ref.py: random f16-exact weights, 6 channels), in TAESD's own
 * layout, the diffusers AutoencoderTiny layout and a torch .pth.
 *
 * Tolerance: 1e-4 of the output's largest magnitude, f32 weights. The only
 * differences from PyTorch are summation order in the convolutions (K = 54
 * terms per output here) and tanhf vs torch's tanh: a few ulp per layer,
 * about 1e-6 relative after 20 layers; 1e-4 leaves room for other kernels
 * while any real mistake (a wrong tap, stride, layer order or missing ReLU)
 * shows as an O(1) difference. The two safetensors layouts hold identical
 * weights, so their outputs must agree bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/taesd.h"

#define DATA "tests/data/taesd/"

typedef struct ref_t {
    float *data;
    int64_t shape[4];
    int64_t numel;
} ref_t;

/* Tensor `name` of a reference file as f32 (NCHW, 4-D). */
static bool load_ref(const char *file, const char *name, ref_t *out) {
    memset(out, 0, sizeof *out);
    sdc_error err;
    sdc_error_clear(&err);
    sdc_weight_file *f;
    if (sdc_weight_file_open(file, &f, &err) != SDC_OK) {
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
        return false;
    }
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    bool ok = w && w->ndim == 4;
    if (ok) {
        memcpy(out->shape, w->shape, sizeof out->shape);
        out->numel = sdc_weight_numel(w);
        out->data = malloc((size_t)out->numel * sizeof(float));
        ok = out->data != NULL;
        if (ok) sdc_convert_to_f32(w->dtype, w->data, out->data, (size_t)out->numel);
    }
    if (!ok) sdc_test_fail(__FILE__, __LINE__, "%s: no 4-D tensor '%s'", file, name);
    sdc_weight_file_close(f);
    return ok;
}

static void ref_free(ref_t *r) { free(r->data); }

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* got (contiguous, got_numel elements) vs want at 1e-4 of want's scale. */
static void check_close(const char *what, const sdc_tensor *got, const ref_t *want) {
    CHECK_MSG(got != NULL, "%s: no output", what);
    if (!got) return;
    REQUIRE_MSG(sdc_tensor_numel(got) == want->numel, "%s: %lld elements, want %lld", what,
                (long long)sdc_tensor_numel(got), (long long)want->numel);
    for (int d = 0; d < 4; d++) CHECK_MSG(got->shape[d] == want->shape[d], "%s: dim %d is %lld, want %lld", what, d,
                                          (long long)got->shape[d], (long long)want->shape[d]);
    double scale = max_abs(want->data, want->numel);
    sdc_cmp r = sdc_test_compare(got->data, want->data, (size_t)want->numel, 1e-4 * scale, 0);
    CHECK_MSG(r.ok, "%s: max abs diff %g (scale %g)", what, r.max_abs, scale);
    printf("    %s: max diff / scale %.3g\n", what, r.max_abs / scale);
}

static sdc_taesd *open_taesd(const char *a, const char *b) {
    const char *paths[2] = {a, b};
    sdc_error err;
    sdc_error_clear(&err);
    sdc_taesd *t = NULL;
    sdc_status st = sdc_taesd_open(paths, b ? 2 : 1, SDC_DTYPE_F32, &t, &err);
    CHECK_MSG(st == SDC_OK, "open %s: %s", a, sdc_error_msg(&err));
    return t;
}

/* Decodes ref file's "latent"; returns the image copied to the heap. */
static float *decode_file(sdc_ctx *c, const sdc_taesd *t, const char *file, int64_t *numel) {
    ref_t z, want;
    float *copy = NULL;
    if (load_ref(file, "latent", &z) && load_ref(file, "image", &want)) {
        sdc_tensor tz = sdc_tensor_make(SDC_DTYPE_F32, z.data, 4, z.shape);
        sdc_tensor *img = sdc_taesd_decode(c, t, &tz);
        CHECK_MSG(img != NULL, "%s: %s", file, sdc_error_msg(&c->err));
        check_close(file, img, &want);
        if (img && (copy = malloc((size_t)want.numel * sizeof *copy))) memcpy(copy, img->data, (size_t)want.numel * 4);
        *numel = want.numel;
    }
    sdc_ctx_reset(c);
    ref_free(&z);
    ref_free(&want);
    return copy;
}

static float *encode_file(sdc_ctx *c, const sdc_taesd *t, int64_t *numel) {
    const char *file = DATA "ref_encode_48x64.safetensors";
    ref_t x, want;
    float *copy = NULL;
    if (load_ref(file, "image", &x) && load_ref(file, "latent", &want)) {
        sdc_tensor tx = sdc_tensor_make(SDC_DTYPE_F32, x.data, 4, x.shape);
        sdc_tensor *lat = sdc_taesd_encode(c, t, &tx);
        CHECK_MSG(lat != NULL, "encode: %s", sdc_error_msg(&c->err));
        check_close("encode 48x64", lat, &want);
        if (lat && (copy = malloc((size_t)want.numel * sizeof *copy))) memcpy(copy, lat->data, (size_t)want.numel * 4);
        *numel = want.numel;
    }
    sdc_ctx_reset(c);
    ref_free(&x);
    ref_free(&want);
    return copy;
}

static const char *const k_decode_files[2] = {DATA "ref_decode_6x8.safetensors", DATA "ref_decode_5x7.safetensors"};

TEST(taesd_own_layout_matches_reference) {
    sdc_taesd *t = open_taesd(DATA "taesd_decoder.safetensors", DATA "taesd_encoder.safetensors");
    REQUIRE(t);
    /* configuration read from the keys: 6 channels, TAESD's module lists */
    CHECK(t->latent_ch == 4 && t->dec.factor == 8 && t->enc.factor == 8);
    CHECK(t->dec.n_layers == 20 && t->enc.n_layers == 15);
    CHECK(t->dec.layer[0].kind == SDC_TAESD_CLAMP && t->dec.layer[2].kind == SDC_TAESD_RELU);
    CHECK(t->dec.layer[6].kind == SDC_TAESD_UP && t->dec.layer[7].kind == SDC_TAESD_CONV && !t->dec.layer[7].b);
    CHECK(t->dec.layer[3].kind == SDC_TAESD_BLOCK && t->dec.layer[3].cout == 6 && !t->dec.layer[3].skip_w);
    CHECK(t->enc.layer[2].kind == SDC_TAESD_CONV && t->enc.layer[2].stride == 2 && t->enc.layer[0].stride == 1);
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    int64_t n;
    for (int i = 0; i < 2; i++) free(decode_file(&c, t, k_decode_files[i], &n));
    free(encode_file(&c, t, &n));
    sdc_ctx_free(&c);
    sdc_taesd_free(t);
}

typedef struct dump_cap {
    const char *name;
    float *nchw; /* captured, converted to NCHW */
    int64_t shape[4];
} dump_cap;

static void capture(void *user, const char *name, const sdc_tensor *t) {
    dump_cap *caps = user;
    for (; caps->name; caps++) {
        if (strcmp(caps->name, name) != 0 || t->ndim != 4) continue;
        int64_t B = t->shape[0], H = t->shape[1], W = t->shape[2], C = t->shape[3];
        free(caps->nchw);
        caps->nchw = malloc((size_t)(B * H * W * C) * sizeof(float));
        if (!caps->nchw) return;
        const float *x = t->data;
        for (int64_t b = 0; b < B; b++)
            for (int64_t p = 0; p < H * W; p++)
                for (int64_t ch = 0; ch < C; ch++) caps->nchw[((b * C + ch) * H * W) + p] = x[(b * H * W + p) * C + ch];
        int64_t s[4] = {B, C, H, W};
        memcpy(caps->shape, s, sizeof s);
    }
}

TEST(taesd_decoder_stages_match_reference) {
    sdc_taesd *t = open_taesd(DATA "taesd_decoder.safetensors", NULL);
    REQUIRE(t);
    CHECK(t->dec.present && !t->enc.present);
    dump_cap caps[] = {{"taesd.decoder.1", NULL, {0}}, {"taesd.decoder.5", NULL, {0}}, {"taesd.decoder.7", NULL, {0}},
                       {NULL, NULL, {0}}};
    const char *ref_names[] = {"dec.1", "dec.5", "dec.7"};
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    c.dump = capture;
    c.dump_user = caps;
    int64_t n;
    free(decode_file(&c, t, k_decode_files[1], &n));
    for (int i = 0; i < 3; i++) {
        ref_t want;
        if (!load_ref(k_decode_files[1], ref_names[i], &want)) continue;
        CHECK_MSG(caps[i].nchw != NULL, "stage %s was not dumped", caps[i].name);
        if (caps[i].nchw) {
            sdc_tensor got = sdc_tensor_make(SDC_DTYPE_F32, caps[i].nchw, 4, caps[i].shape);
            check_close(caps[i].name, &got, &want);
        }
        free(caps[i].nchw);
        ref_free(&want);
    }
    sdc_ctx_free(&c);
    sdc_taesd_free(t);
}

TEST(taesd_diffusers_layout_equals_own_layout) {
    sdc_taesd *own = open_taesd(DATA "taesd_decoder.safetensors", DATA "taesd_encoder.safetensors");
    sdc_taesd *dif = open_taesd(DATA "diffusers", NULL); /* a folder: its diffusion_pytorch_model.safetensors */
    REQUIRE(own && dif);
    CHECK(dif->dec.n_layers == own->dec.n_layers && dif->enc.n_layers == own->enc.n_layers);
    CHECK(dif->dec.layer[0].kind == SDC_TAESD_CLAMP && dif->n_params == own->n_params);
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    int64_t na = 0, nb = 0;
    float *a = decode_file(&c, own, k_decode_files[0], &na), *b = decode_file(&c, dif, k_decode_files[0], &nb);
    CHECK_MSG(a && b && na == nb && memcmp(a, b, (size_t)na * 4) == 0, "diffusers-layout decode differs");
    free(a);
    free(b);
    a = encode_file(&c, own, &na);
    b = encode_file(&c, dif, &nb);
    CHECK_MSG(a && b && na == nb && memcmp(a, b, (size_t)na * 4) == 0, "diffusers-layout encode differs");
    free(a);
    free(b);
    sdc_ctx_free(&c);
    sdc_taesd_free(own);
    sdc_taesd_free(dif);
}

TEST(taesd_pth_layout_matches_reference) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *m;
    if (sdc_model_files_open(DATA "taesd_decoder.pth", &m, &err) != SDC_OK) {
        printf("    (.pth not readable here: %s)\n", sdc_error_msg(&err));
        SKIP("torch zip checkpoints cannot be opened by this build");
    }
    sdc_model_files_close(m);
    sdc_taesd *t = open_taesd(DATA "taesd_decoder.pth", NULL);
    REQUIRE(t);
    CHECK(t->dec.n_layers == 20 && t->latent_ch == 4);
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    int64_t n;
    for (int i = 0; i < 2; i++) free(decode_file(&c, t, k_decode_files[i], &n));
    sdc_ctx_free(&c);
    sdc_taesd_free(t);
}

TEST(taesd_variant_pool_skip_factor2) {
    sdc_taesd *t = open_taesd(DATA "variant_decoder.safetensors", NULL);
    REQUIRE(t);
    CHECK(t->dec.factor == 2 && t->dec.n_layers == 8);
    CHECK(t->dec.layer[3].kind == SDC_TAESD_BLOCK && t->dec.layer[3].pool_ch == 24);
    CHECK(t->dec.layer[6].kind == SDC_TAESD_BLOCK && t->dec.layer[6].skip_w && t->dec.layer[6].cout == 4);
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    int64_t n;
    free(decode_file(&c, t, DATA "ref_variant_4x4.safetensors", &n));
    sdc_ctx_free(&c);
    sdc_taesd_free(t);
}

TEST(taesd_rejects_bad_input) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_taesd *t = NULL;
    const char *kl[] = {sdc_test_shared("reference/model/sd15-random-tiny.safetensors")};
    CHECK(sdc_taesd_open(kl, 1, SDC_DTYPE_F32, &t, &err) == SDC_ERR_FORMAT && t == NULL);
    CHECK(strstr(sdc_error_msg(&err), "no TAESD") != NULL);
    sdc_error_clear(&err);
    const char *twice[] = {DATA "taesd_decoder.safetensors", DATA "diffusers"};
    CHECK(sdc_taesd_open(twice, 2, SDC_DTYPE_F32, &t, &err) == SDC_ERR_FORMAT && t == NULL);
    t = open_taesd(DATA "taesd_encoder.safetensors", NULL);
    REQUIRE(t);
    sdc_ctx c;
    REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
    float buf[3 * 12 * 8] = {0};
    sdc_tensor z = sdc_tensor_4d(SDC_DTYPE_F32, buf, 1, 4, 2, 2);
    CHECK(sdc_taesd_decode(&c, t, &z) == NULL && c.err.status == SDC_ERR_UNSUPPORTED);
    sdc_ctx_reset(&c);
    sdc_tensor img = sdc_tensor_4d(SDC_DTYPE_F32, buf, 1, 3, 12, 8); /* 12 is not a multiple of 8 */
    CHECK(sdc_taesd_encode(&c, t, &img) == NULL && c.err.status == SDC_ERR_INVALID_ARG);
    sdc_ctx_free(&c);
    sdc_taesd_free(t);
}

/* The estimates replay taesd.c's allocations: never below the arena's
 * high-water mark of a fresh context, and not far above (25%). */
TEST(taesd_memory_estimates_match_arena) {
    sdc_taesd *t = open_taesd(DATA "taesd_decoder.safetensors", DATA "taesd_encoder.safetensors");
    sdc_taesd *v = open_taesd(DATA "variant_decoder.safetensors", NULL);
    REQUIRE(t && v);
    static float buf[2 * 3 * 40 * 56];
    const int64_t shapes[4][4] = {{2, 4, 5, 7}, {1, 3, 40, 56}, {1, 4, 3, 9}, {1, 4, 6, 8}};
    for (int k = 0; k < 4; k++) {
        const int64_t *s = shapes[k];
        const sdc_taesd *m = k == 2 ? v : t;
        sdc_tensor x = sdc_tensor_make(SDC_DTYPE_F32, buf, 4, s);
        sdc_ctx c;
        REQUIRE(sdc_ctx_init(&c, NULL, 0) == SDC_OK);
        sdc_tensor *y = k == 1 ? sdc_taesd_encode(&c, m, &x) : sdc_taesd_decode(&c, m, &x);
        size_t est = k == 1 ? sdc_taesd_encode_bytes(m, s[0], s[2], s[3]) : sdc_taesd_decode_bytes(m, s[0], s[2], s[3]);
        size_t hw = c.arena.high_water;
        printf("    case %d: estimate %zu, arena high water %zu\n", k, est, hw);
        CHECK_MSG(y && est >= hw && (double)est <= 1.25 * (double)hw, "case %d: estimate %zu, used %zu", k, est, hw);
        sdc_ctx_free(&c);
    }
    CHECK(sdc_taesd_decode_bytes(t, 1, 64, 64) > 4 * sdc_taesd_decode_bytes(t, 1, 16, 16));
    CHECK(sdc_taesd_decode_bytes(t, 1, (int64_t)1 << 50, 8) == SIZE_MAX);
    CHECK(sdc_taesd_encode_bytes(v, 1, 8, 8) == 0); /* no encoder */
    sdc_taesd_free(t);
    sdc_taesd_free(v);
}

