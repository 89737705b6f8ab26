/* ControlNet vs PyTorch (tests/data/control/make_refs.py, whose U-Net is
 * checked there against the shared diffusers outputs). The test ControlNets
 * are assembled here: trunk = the tiny U-Net's encoder * 0.75 (CN1) or
 * * 0.5 (CN2) — exact in f32 on both sides — plus the stored hint encoder /
 * zero convs / middle_block_out (CN2: those * -0.5). Checked: hint
 * embedding, residuals, U-Net output with CN1 and with CN1 + CN2 summed,
 * the diffusers layout (names from the script's own table), NCHW hints,
 * size errors, and the step-range rule. Tolerance: 1e-4 of each tensor's
 * scale (f32 throughout; observed ~1e-6). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "harness.h"
#include "models/controlnet.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"
#define CFG_CASE "reference/tiny/unet/b2cfg_t500_8x8.safetensors"
#define DATA "tests/data/control/"

/* Tensors to write; data malloc'd f32, freed by wl_free. */
typedef struct wlist {
    sdc_weight_info t[1024];
    char names[1024][160];
    size_t n;
} wlist;

static void wl_add(wlist *l, const char *name, const sdc_weight_info *src, float scale) {
    if (l->n == 1024) return;
    sdc_weight_info *w = &l->t[l->n];
    *w = *src;
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    w->name = l->names[l->n];
    size_t n = (size_t)sdc_weight_numel(src);
    float *x = malloc(n * sizeof *x);
    sdc_convert_to_f32(src->dtype, src->data, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
    w->dtype = SDC_DTYPE_F32;
    w->data = x;
    w->nbytes = n * sizeof *x;
    l->n++;
}

static void wl_free(wlist *l) {
    for (size_t i = 0; i < l->n; i++) free((void *)l->t[i].data);
    l->n = 0;
}

/* Bare ldm ControlNet tensors: scaled trunk of the tiny U-Net + parts. */
static bool build_cn(wlist *l, float trunk_scale, float part_scale) {
    sdc_error err;
    sdc_error_clear(&err);
    const sdc_weight_file *base = sdc_ref_file(TINY_MODEL);
    sdc_weight_file *parts;
    if (!base || sdc_weight_file_open(DATA "cn_parts.safetensors", &parts, &err)) return false;
    const char *p = "model.diffusion_model.";
    for (size_t i = 0; i < base->count; i++) {
        const char *n = base->tensors[i].name;
        if (strncmp(n, p, strlen(p)) != 0) continue;
        n += strlen(p);
        if (!strncmp(n, "time_embed.", 11) || !strncmp(n, "input_blocks.", 13) || !strncmp(n, "middle_block.", 13))
            wl_add(l, n, &base->tensors[i], trunk_scale);
    }
    for (size_t i = 0; i < parts->count; i++) wl_add(l, parts->tensors[i].name, &parts->tensors[i], part_scale);
    sdc_weight_file_close(parts);
    return true;
}

/* Writes l with every name passed through rename (NULL: prefix). */
static bool write_cn(const wlist *l, const char *path, const char *prefix, json_t *rename) {
    static wlist out; /* names only; data borrowed */
    out.n = l->n;
    for (size_t i = 0; i < l->n; i++) {
        out.t[i] = l->t[i];
        json_t *r = rename ? json_object_get(rename, l->t[i].name) : NULL;
        if (rename && !r) return false;
        snprintf(out.names[i], sizeof out.names[0], "%s%s", rename ? "" : prefix, r ? json_string_value(r) : l->t[i].name);
        out.t[i].name = out.names[i];
    }
    sdc_error err;
    sdc_error_clear(&err);
    sdc_status st = sdc_safetensors_write(path, out.t, out.n, NULL, NULL, 0, 1, &err);
    if (st) sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return st == SDC_OK;
}

static sdc_controlnet *open_cn(const char *path) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_controlnet *cn = NULL;
    sdc_controlnet_opts o = {.mat_dtype = SDC_DTYPE_F32, .num_heads = 8};
    if (sdc_controlnet_open(path, &o, &cn, &err)) sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return cn;
}

/* The script's hint image, NHWC [1, 64, 64, 3] (or NCHW). */
static void hint_image(float *x, bool nchw) {
    for (int y = 0; y < 64; y++)
        for (int xx = 0; xx < 64; xx++)
            for (int c = 0; c < 3; c++) {
                float v = (float)((y * 7 + xx * 13 + c * 5) % 17) / 16.0f;
                x[nchw ? (c * 64 + y) * 64 + xx : (y * 64 + xx) * 3 + c] = v;
            }
}

/* A tensor of tests/data/control/cn_ref.safetensors as f32. */
static bool load_ref(const char *name, sdc_ref *out) {
    static sdc_weight_file *f;
    sdc_error err;
    sdc_error_clear(&err);
    memset(out, 0, sizeof *out);
    if (!f && sdc_weight_file_open(DATA "cn_ref.safetensors", &f, &err)) return false; /* kept open: tests only */
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    if (!w) return false;
    out->ndim = w->ndim;
    memcpy(out->shape, w->shape, sizeof out->shape);
    out->numel = sdc_weight_numel(w);
    out->data = malloc((size_t)out->numel * sizeof(float));
    sdc_convert_to_f32(w->dtype, w->data, out->data, (size_t)out->numel);
    return true;
}

/* NHWC tensor vs an NCHW reference */
static void check_nhwc(const sdc_tensor *y, const char *ref_name, double tol, const char *what) {
    sdc_ref r;
    if (!y || !load_ref(ref_name, &r)) {
        CHECK_MSG(y != NULL, "%s: no output", what);
        return;
    }
    int64_t B = y->shape[0], H = y->shape[1], W = y->shape[2], C = y->shape[3];
    CHECK(r.numel == B * H * W * C);
    float *t = malloc((size_t)r.numel * sizeof *t);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t c = 0; c < C; c++)
                    t[((b * C + c) * H + h) * W + w] = ((const float *)y->data)[((b * H + h) * W + w) * C + c];
    double scale = 0;
    for (int64_t i = 0; i < r.numel; i++) scale = fmax(scale, fabs(r.data[i]));
    sdc_cmp cm = sdc_test_compare(t, r.data, (size_t)r.numel, tol * scale, 0);
    CHECK_MSG(cm.ok, "%s: max diff %g (scale %g)", what, cm.max_abs, scale);
    free(t);
    sdc_ref_free(&r);
}

/* NCHW output vs reference */
static void check_nchw(const sdc_tensor *y, const char *ref_name, double tol, const char *what) {
    sdc_ref r;
    REQUIRE_MSG(y && load_ref(ref_name, &r), "%s: no output or reference", what);
    CHECK(sdc_tensor_numel(y) == r.numel);
    double scale = 0;
    for (int64_t i = 0; i < r.numel; i++) scale = fmax(scale, fabs(r.data[i]));
    sdc_cmp cm = sdc_test_compare(y->data, r.data, (size_t)r.numel, tol * scale, 0);
    CHECK_MSG(cm.ok, "%s: max diff %g (scale %g)", what, cm.max_abs, scale);
    printf("    %s: max diff / scale %.3g\n", what, cm.max_abs / scale);
    sdc_ref_free(&r);
}

typedef struct cn_inputs {
    sdc_ref x, t, ctx;
    sdc_tensor tx, tt, tc;
} cn_inputs;

static bool inputs_load(cn_inputs *in) {
    if (!sdc_ref_load(CFG_CASE, "sample", &in->x) || !sdc_ref_load(CFG_CASE, "timestep", &in->t) ||
        !sdc_ref_load(CFG_CASE, "encoder_hidden_states", &in->ctx))
        return false;
    in->tx = sdc_tensor_make(SDC_DTYPE_F32, in->x.data, 4, in->x.shape);
    in->tt = sdc_tensor_make(SDC_DTYPE_F32, in->t.data, 1, in->t.shape);
    in->tc = sdc_tensor_make(SDC_DTYPE_F32, in->ctx.data, 3, in->ctx.shape);
    return true;
}

static void inputs_free(cn_inputs *in) {
    sdc_ref_free(&in->x);
    sdc_ref_free(&in->t);
    sdc_ref_free(&in->ctx);
}

/* U-Net output with the residuals of the given ControlNets (NHWC hint). */
static void run_controlled(sdc_unet *u, sdc_controlnet **cns, const float *strengths, int n, const char *ref_name,
                           bool stage_checks, const char *what) {
    cn_inputs in;
    REQUIRE(inputs_load(&in));
    static float img[64 * 64 * 3];
    hint_image(img, false);
    sdc_tensor hint = sdc_tensor_4d(SDC_DTYPE_F32, img, 1, 64, 64, 3);
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    sdc_control_residuals r;
    sdc_control_residuals_init(&r);
    for (int i = 0; i < n; i++) {
        sdc_tensor *e = sdc_controlnet_encode_hint(&c, cns[i], &hint);
        if (i == 0 && stage_checks) check_nhwc(e, "hint_emb", 1e-4, "hint embedding");
        CHECK(sdc_controlnet_forward_encoded(&c, cns[i], &in.tx, &in.tt, &in.tc, e, strengths[i], &r) == SDC_OK);
    }
    REQUIRE_MSG(sdc_ctx_ok(&c), "%s", sdc_error_msg(&c.err));
    if (stage_checks) {
        check_nhwc(r.skip[0], "cn1.skip.0", 1e-4, "residual 0");
        check_nhwc(r.skip[3], "cn1.skip.3", 1e-4, "residual 3");
        check_nhwc(r.skip[8], "cn1.skip.8", 1e-4, "residual 8");
        check_nhwc(r.mid, "cn1.mid", 1e-4, "middle residual");
    }
    sdc_tensor *y = sdc_unet_forward(&c, u, &in.tx, &in.tt, &in.tc, &r.extra);
    CHECK_MSG(y != NULL, "%s", sdc_error_msg(&c.err));
    check_nchw(y, ref_name, 1e-4, what);
    sdc_ctx_free(&c);
    inputs_free(&in);
}

static sdc_unet *load_unet(sdc_model_files **mf) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_unet *u = NULL;
    sdc_unet_opts o = {.mat_dtype = SDC_DTYPE_F32, .num_heads = 8};
    if (sdc_model_files_open(sdc_test_shared(TINY_MODEL), mf, &err) || sdc_unet_load(*mf, NULL, &o, &u, &err))
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return u;
}

TEST(controlnet_ldm_layout_matches_pytorch) {
    static wlist l1, l2;
    REQUIRE(build_cn(&l1, 0.75f, 1.0f) && build_cn(&l2, 0.5f, -0.5f));
    const char *p1 = sdc_test_tmp("cn1.safetensors"), *p2 = NULL;
    REQUIRE(write_cn(&l1, p1, "control_model.", NULL));
    sdc_controlnet *cn[2] = {open_cn(p1), NULL};
    p2 = sdc_test_tmp("cn2.safetensors");
    REQUIRE(write_cn(&l2, p2, "", NULL)); /* bare names: also a layout in the wild */
    cn[1] = open_cn(p2);
    wl_free(&l1);
    wl_free(&l2);
    sdc_model_files *mf = NULL;
    sdc_unet *u = load_unet(&mf);
    REQUIRE(cn[0] && cn[1] && u);
    CHECK(cn[0]->n_hint == 8 && cn[0]->downscale == 8 && cn[0]->hint_ch == 3 && cn[0]->trunk->cfg.n_input == 9);
    float s[2] = {0.7f, 1.3f};
    run_controlled(u, cn, s, 1, "unet_out_cn1", true, "U-Net with ControlNet");
    run_controlled(u, cn, s, 2, "unet_out_cn12", false, "U-Net with two ControlNets");
    sdc_controlnet_free(cn[0]);
    sdc_controlnet_free(cn[1]);
    sdc_unet_free(u);
    sdc_model_files_close(mf);
}

TEST(controlnet_diffusers_layout_matches_pytorch) {
    static wlist l;
    json_error_t je;
    json_t *names = json_load_file(DATA "cn_diffusers_keys.json", 0, &je);
    REQUIRE_MSG(names, "cn_diffusers_keys.json: %s", je.text);
    REQUIRE(build_cn(&l, 0.75f, 1.0f));
    const char *p = sdc_test_tmp("cn_diffusers.safetensors");
    bool ok = write_cn(&l, p, NULL, names);
    wl_free(&l);
    json_decref(names);
    REQUIRE(ok);
    sdc_controlnet *cn = open_cn(p);
    sdc_model_files *mf = NULL;
    sdc_unet *u = load_unet(&mf);
    REQUIRE(cn && u);
    float s = 0.7f;
    run_controlled(u, &cn, &s, 1, "unet_out_cn1", true, "U-Net with diffusers-layout ControlNet");
    sdc_controlnet_free(cn);
    sdc_unet_free(u);
    sdc_model_files_close(mf);
}

TEST(controlnet_hint_layouts_and_errors) {
    static wlist l;
    REQUIRE(build_cn(&l, 0.75f, 1.0f));
    const char *p = sdc_test_tmp("cn_hint.safetensors");
    REQUIRE(write_cn(&l, p, "control_model.", NULL));
    wl_free(&l);
    sdc_controlnet *cn = open_cn(p);
    REQUIRE(cn);
    static float a[64 * 64 * 3], b[64 * 64 * 3];
    hint_image(a, false);
    hint_image(b, true);
    sdc_tensor ha = sdc_tensor_4d(SDC_DTYPE_F32, a, 1, 64, 64, 3), hb = sdc_tensor_4d(SDC_DTYPE_F32, b, 1, 3, 64, 64);
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    sdc_tensor *ea = sdc_controlnet_encode_hint(&c, cn, &ha), *eb = sdc_controlnet_encode_hint(&c, cn, &hb);
    REQUIRE(ea && eb);
    CHECK(memcmp(ea->data, eb->data, (size_t)sdc_tensor_numel(ea) * 4) == 0);
    /* a 16x16 latent does not fit an 8x8 hint: clear error naming the size to use */
    cn_inputs in;
    REQUIRE(inputs_load(&in));
    static float big[2 * 4 * 16 * 16];
    sdc_tensor x16 = sdc_tensor_4d(SDC_DTYPE_F32, big, 2, 4, 16, 16);
    sdc_control_residuals r;
    sdc_control_residuals_init(&r);
    CHECK(sdc_controlnet_forward_encoded(&c, cn, &x16, &in.tt, &in.tc, ea, 1.0f, &r) == SDC_ERR_INVALID_ARG);
    CHECK_MSG(strstr(sdc_error_msg(&c.err), "128x128") != NULL, "%s", sdc_error_msg(&c.err));
    sdc_ctx_free(&c);
    inputs_free(&in);
    sdc_controlnet_free(cn);
}

TEST(controlnet_step_range) {
    /* diffusers: active when i/n >= start and (i+1)/n <= end */
    CHECK(sdc_control_active(0, 20, 0.0f, 1.0f) && sdc_control_active(19, 20, 0.0f, 1.0f));
    CHECK(sdc_control_active(9, 20, 0.0f, 0.5f) && !sdc_control_active(10, 20, 0.0f, 0.5f));
    CHECK(!sdc_control_active(4, 20, 0.25f, 1.0f) && sdc_control_active(5, 20, 0.25f, 1.0f));
    CHECK(!sdc_control_active(0, 4, 0.3f, 0.7f) && sdc_control_active(2, 4, 0.3f, 0.75f) &&
          !sdc_control_active(3, 4, 0.3f, 0.75f));
    CHECK(!sdc_control_active(0, 0, 0.0f, 1.0f) && !sdc_control_active(5, 5, 0.0f, 1.0f));
}

TEST(controlnet_rejects_other_files) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_controlnet *cn = NULL;
    CHECK(sdc_controlnet_open(sdc_test_shared(TINY_MODEL), NULL, &cn, &err) == SDC_ERR_FORMAT && cn == NULL);
    CHECK(strstr(sdc_error_msg(&err), "not a ControlNet") != NULL);
}

/* The pipeline's wiring (pipeline/control.c + sdc_generate): strength 0 or
 * a step range that excludes every step gives exactly the plain image; a
 * ControlNet in range changes it. */
#include "pipeline/control.h"
#include "pipeline/generate.h"

static bool gen_with(const sdc_sd_model *m, const sdc_control_spec *spec, float *out) {
    sdc_control_set set;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_control_set_prepare(&set, spec, spec ? 1 : 0, 64, 64, NULL, SDC_COMPUTE_F32, &err) != SDC_OK) {
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
        return false;
    }
    sdc_gen_request r;
    sdc_gen_request_default(&r);
    r.prompt = "a red fox";
    r.width = r.height = 64;
    r.steps = 3;
    r.seed = 9;
    if (spec) {
        r.extra_fn = sdc_control_extra_fn;
        r.extra_user = &set;
    }
    sdc_gen_result res;
    bool ok = sdc_generate(m, NULL, &r, &res, &err) == SDC_OK;
    if (!ok) sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    else memcpy(out, res.image01, 3 * 64 * 64 * sizeof(float)), sdc_gen_result_free(&res);
    sdc_control_set_free(&set);
    return ok;
}

TEST(controlnet_pipeline_wiring) {
    static wlist l;
    REQUIRE(build_cn(&l, 0.75f, 1.0f));
    const char *path = sdc_test_tmp("cn_pipe.safetensors");
    bool written = write_cn(&l, path, "control_model.", NULL);
    wl_free(&l);
    REQUIRE(written);
    sdc_controlnet *cn = open_cn(path);
    REQUIRE(cn != NULL);
    char model[4096], vocab[4096];
    snprintf(model, sizeof model, "%s", sdc_test_shared(TINY_MODEL));
    snprintf(vocab, sizeof vocab, "%s", sdc_test_shared("clip"));
    sdc_sd_model_opts mo = {.model_path = model, .vocab_path = vocab, .mat_dtype = SDC_DTYPE_F32, .prediction = -1};
    sdc_sd_model *m = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE_MSG(sdc_sd_model_load(&mo, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_image hint = {0};
    REQUIRE(sdc_image_alloc(&hint, 40, 48, 3, &err) == SDC_OK); /* another size: resized to 64x64 */
    for (size_t i = 0; i < sdc_image_bytes(&hint); i++) hint.data[i] = (uint8_t)((i * 37) % 251);
    static float plain[3 * 64 * 64], zero[3 * 64 * 64], off[3 * 64 * 64], on[3 * 64 * 64];
    sdc_control_spec s0 = {.cn = cn, .image = &hint, .strength = 0, .start = 0, .end = 1};
    sdc_control_spec s_off = {.cn = cn, .image = &hint, .strength = 1, .start = 0.99f, .end = 1};
    sdc_control_spec s_on = {.cn = cn, .image = &hint, .strength = 1, .start = 0, .end = 1};
    if (gen_with(m, NULL, plain) && gen_with(m, &s0, zero) && gen_with(m, &s_off, off) && gen_with(m, &s_on, on)) {
        CHECK(memcmp(plain, zero, sizeof plain) == 0);
        CHECK(memcmp(plain, off, sizeof plain) == 0);
        double d = 0;
        for (size_t i = 0; i < 3 * 64 * 64; i++) d = fmax(d, fabs(plain[i] - on[i]));
        CHECK_MSG(d > 1e-3, "the ControlNet changed nothing (max diff %g)", d);
    }
    sdc_image_free(&hint);
    sdc_sd_model_free(m);
    sdc_controlnet_free(cn);
}
