/* LoRA merging vs PyTorch (tests/data/control/make_refs.py): kohya (f16),
 * PEFT / diffusers (f32), LyCORIS LoHa / LoKr / full diff (bf16), and two
 * LoRAs at once, on the shared tiny SD 1.5 model. For each: merged tensors
 * (base + strength * delta, computed by the script from the kohya /
 * LyCORIS formulas) and the U-Net output with all merged weights (the
 * script's PyTorch U-Net, itself checked against the shared diffusers
 * outputs). Tolerances: merged tensors 1e-5 of their scale (f32 products
 * of short sums; observed ~1e-7); U-Net output 1e-4 of its scale (the
 * unpatched U-Net matches diffusers to ~1e-6; 1e-4 still catches any wrong
 * delta, which moves the output by > 1e-2).
 * Also: module name mapping vs the shared diffusers-layout U-Net, unmatched
 * key reporting, shape-mismatch errors, OpenCLIP in_proj slices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/keymap.h"
#include "formats/safetensors.h"
#include "harness.h"
#include "models/clip_text.h"
#include "models/lora.h"
#include "models/lora_names.h"
#include "models/unet.h"
#include "pipeline/sd_model.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"
#define TINY_DIFF_UNET "reference/model/sd15-random-tiny-diffusers/unet/diffusion_pytorch_model.safetensors"
#define DATA "tests/data/control/"
#define REF DATA "lora_ref.safetensors"

static float *f32_copy(const sdc_weight_info *w) {
    size_t n = (size_t)sdc_weight_numel(w);
    float *x = malloc(n * sizeof *x);
    if (x) sdc_convert_to_f32(w->dtype, w->data, x, n);
    return x;
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* Collects log messages (warnings about unmatched keys). */
typedef struct logbuf {
    char text[8192];
    size_t used;
    int warnings;
} logbuf;

static void log_collect(void *user, sdc_log_level level, const char *msg) {
    logbuf *b = user;
    if (level >= SDC_LOG_WARN) b->warnings++;
    int n = snprintf(b->text + b->used, sizeof b->text - b->used, "%s\n", msg);
    if (n > 0 && b->used + (size_t)n < sizeof b->text) b->used += (size_t)n;
}

TEST(lora_unet_names_match_diffusers_layout) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    sdc_weight_file *df;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE_MSG(sdc_weight_file_open(sdc_test_shared(TINY_DIFF_UNET), &df, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    int nres = sdc_unet_nres(mf, SDC_UNET_PREFIX);
    sdc_keymap_layout lay;
    memset(&lay, 0, sizeof lay);
    for (size_t i = 0; i < df->count; i++) sdc_keymap_layout_add(&lay, SDC_KEYMAP_UNET, df->tensors[i].name);
    CHECK(nres == 2);
    size_t n = 0, bad = 0;
    const char *p = SDC_UNET_PREFIX;
    for (size_t i = 0; i < sdc_model_files_count(mf); i++) {
        const char *canon;
        sdc_model_files_at(mf, i, &canon);
        if (strncmp(canon, p, strlen(p)) != 0) continue;
        char mod[256], d[256], back[300], dk[300];
        size_t len = strlen(canon) - strlen(p);
        const char *dot = strrchr(canon, '.');
        snprintf(mod, sizeof mod, "%.*s", (int)(len - strlen(dot)), canon + strlen(p));
        bool ok = sdc_unet_module_to_diffusers(mod, nres, d, sizeof d);
        snprintf(dk, sizeof dk, "%s%s", d, dot);
        /* the diffusers file holds exactly this name, and the formats keymap maps it back */
        sdc_keymap_op op;
        int part;
        ok = ok && sdc_weight_file_find(df, dk) &&
             sdc_keymap_from_diffusers(SDC_KEYMAP_UNET, &lay, dk, back, sizeof back, &op, &part) &&
             strcmp(back, canon + strlen(p)) == 0;
        if (!ok && bad++ < 5) sdc_test_fail(__FILE__, __LINE__, "'%s' -> '%s' -> '%s'", mod, d, back);
        n++;
    }
    CHECK(n == 494 && bad == 0);
    CHECK(n == df->count);
    sdc_weight_file_close(df);
    sdc_model_files_close(mf);
}

typedef struct lora_case {
    const char *name;
    const char *files[2];
    float su[2], st[2];
    size_t unmatched;
} lora_case;

/* Every "<case>.w.<canonical>" tensor of the reference: patched base vs it. */
static void check_merged(const lora_case *lc, sdc_lora_set *set, const sdc_model_files *mf, const sdc_weight_file *ref) {
    const sdc_wpatch *patch = sdc_lora_set_patch(set);
    char pre[64];
    snprintf(pre, sizeof pre, "%s.w.", lc->name);
    int n = 0;
    double worst = 0;
    for (size_t i = 0; i < ref->count; i++) {
        const sdc_weight_info *r = &ref->tensors[i];
        if (strncmp(r->name, pre, strlen(pre)) != 0) continue;
        const char *canon = r->name + strlen(pre);
        const sdc_weight_info *w = sdc_model_files_find(mf, canon);
        REQUIRE_MSG(w && patch && patch->has(patch->user, canon), "%s: '%s' not patched", lc->name, canon);
        float *x = f32_copy(w), *e = f32_copy(r);
        sdc_error err;
        sdc_error_clear(&err);
        CHECK(patch->apply(patch->user, canon, x, w->ndim, w->shape, &err) == SDC_OK);
        int64_t cnt = sdc_weight_numel(w);
        double scale = max_abs(e, cnt);
        sdc_cmp c = sdc_test_compare(x, e, (size_t)cnt, 1e-5 * scale, 0);
        CHECK_MSG(c.ok, "%s: %s max diff %g (scale %g)", lc->name, canon, c.max_abs, scale);
        worst = fmax(worst, c.max_abs / scale);
        free(x);
        free(e);
        n++;
    }
    CHECK_MSG(n > 0 || strcmp(lc->name, "combo") == 0, "%s: no merged tensors in the reference", lc->name);
    if (n) printf("    %s: %d merged tensors, max diff / scale %.3g\n", lc->name, n, worst);
}

/* U-Net loaded with the patch vs the PyTorch output on merged weights. */
static void check_unet(const lora_case *lc, sdc_lora_set *set, const sdc_model_files *mf) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_unet *u;
    sdc_unet_opts uo = {.mat_dtype = SDC_DTYPE_F32, .num_heads = 8, .patch = sdc_lora_set_patch(set)};
    REQUIRE_MSG(sdc_unet_load(mf, NULL, &uo, &u, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    const char *in = "reference/tiny/unet/b1_t999_8x8.safetensors";
    sdc_ref x, t, c, out;
    char key[64];
    snprintf(key, sizeof key, "%s.unet_out", lc->name);
    sdc_weight_file *ref;
    REQUIRE(sdc_weight_file_open(REF, &ref, &err) == SDC_OK);
    const sdc_weight_info *ro = sdc_weight_file_find(ref, key);
    REQUIRE(ro && sdc_ref_load(in, "sample", &x) && sdc_ref_load(in, "timestep", &t) &&
            sdc_ref_load(in, "encoder_hidden_states", &c) && sdc_ref_load(in, "out", &out));
    float *e = f32_copy(ro);
    sdc_tensor tx = sdc_tensor_make(SDC_DTYPE_F32, x.data, 4, x.shape), tt = sdc_tensor_make(SDC_DTYPE_F32, t.data, 1, t.shape);
    sdc_tensor tc = sdc_tensor_make(SDC_DTYPE_F32, c.data, 3, c.shape);
    sdc_ctx ctx;
    sdc_ctx_init(&ctx, NULL, 0);
    sdc_tensor *y = sdc_unet_forward(&ctx, u, &tx, &tt, &tc, NULL);
    CHECK_MSG(y != NULL, "%s", sdc_error_msg(&ctx.err));
    if (y) {
        double scale = max_abs(e, out.numel);
        sdc_cmp r = sdc_test_compare(y->data, e, (size_t)out.numel, 1e-4 * scale, 0);
        double effect = 0; /* the LoRA must matter: far from the unpatched output */
        for (int64_t i = 0; i < out.numel; i++) effect = fmax(effect, fabs(out.data[i] - e[i]));
        CHECK_MSG(r.ok, "%s: U-Net max diff %g (scale %g)", lc->name, r.max_abs, scale);
        CHECK_MSG(effect > 1e-2 * scale, "%s: the LoRA does not change the U-Net output", lc->name);
        printf("    %s: U-Net output max diff / scale %.3g (LoRA effect %.3g)\n", lc->name, r.max_abs / scale,
               effect / scale);
    }
    sdc_ctx_free(&ctx);
    free(e);
    sdc_ref_free(&x);
    sdc_ref_free(&t);
    sdc_ref_free(&c);
    sdc_ref_free(&out);
    sdc_weight_file_close(ref);
    sdc_unet_free(u);
}

static void run_case(const lora_case *lc) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    REQUIRE(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK);
    sdc_lora_set *set;
    REQUIRE(sdc_lora_set_new(&set, &err) == SDC_OK);
    for (int i = 0; i < 2 && lc->files[i]; i++)
        CHECK_MSG(sdc_lora_set_add(set, lc->files[i], lc->su[i], lc->st[i], &err) == SDC_OK, "%s", sdc_error_msg(&err));
    logbuf lb = {.used = 0};
    sdc_log log = {.fn = log_collect, .user = &lb, .level = SDC_LOG_DEBUG};
    CHECK_MSG(sdc_lora_set_bind(set, mf, &log, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK_MSG(sdc_lora_set_unmatched(set) == lc->unmatched, "%s: %zu unmatched", lc->name, sdc_lora_set_unmatched(set));
    CHECK((lb.warnings > 0) == (lc->unmatched > 0));
    for (size_t i = 0; i < sdc_lora_set_unmatched(set); i++) {
        const char *name = sdc_lora_set_unmatched_name(set, i, NULL);
        CHECK_MSG(name && strstr(lb.text, name), "unmatched '%s' not in the warning: %s", name ? name : "?", lb.text);
    }
    sdc_weight_file *ref;
    if (sdc_weight_file_open(REF, &ref, &err) == SDC_OK) {
        check_merged(lc, set, mf, ref);
        sdc_weight_file_close(ref);
    } else {
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    }
    check_unet(lc, set, mf);
    sdc_lora_set_free(set);
    sdc_model_files_close(mf);
}

TEST(lora_kohya_matches_pytorch) {
    lora_case lc = {"kohya", {DATA "lora_kohya.safetensors", NULL}, {0.8f, 0}, {0.5f, 0}, 2};
    run_case(&lc);
}

TEST(lora_peft_matches_pytorch) {
    lora_case lc = {"peft", {DATA "lora_peft.safetensors", NULL}, {1.0f, 0}, {1.0f, 0}, 1};
    run_case(&lc);
}

TEST(lora_lycoris_matches_pytorch) {
    lora_case lc = {"lyco", {DATA "lora_lyco.safetensors", NULL}, {0.6f, 0}, {1.2f, 0}, 0};
    run_case(&lc);
}

TEST(lora_two_files_sum) {
    lora_case lc = {"combo", {DATA "lora_kohya.safetensors", DATA "lora_lyco.safetensors"}, {0.8f, 0.6f}, {0.5f, 1.2f}, 2};
    run_case(&lc);
}

/* Writes a safetensors file of f32 tensors (names[i], shapes[i], data[i]). */
static bool write_f32(const char *path, int n, const char *const *names, const int64_t (*shapes)[4], const int *ndims,
                      float *const *data) {
    sdc_weight_info w[16];
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].name = (char *)names[i];
        w[i].dtype = SDC_DTYPE_F32;
        w[i].ndim = ndims[i];
        int64_t cnt = 1;
        for (int d = 0; d < ndims[i]; d++) cnt *= (w[i].shape[d] = shapes[i][d]);
        w[i].data = data[i];
        w[i].nbytes = (size_t)cnt * 4;
    }
    sdc_error err;
    sdc_error_clear(&err);
    bool ok = sdc_safetensors_write(path, w, (size_t)n, NULL, NULL, 0, 1, &err) == SDC_OK;
    if (!ok) sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return ok;
}

static sdc_status bind_one(const char *lora, sdc_error *err) {
    sdc_model_files *mf;
    sdc_lora_set *set;
    sdc_status st = sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, err);
    if (st) return st;
    st = sdc_lora_set_new(&set, err);
    if (!st) st = sdc_lora_set_add(set, lora, 1.0f, 1.0f, err);
    sdc_log quiet = {.fn = NULL, .level = SDC_LOG_NONE};
    if (!st) st = sdc_lora_set_bind(set, mf, &quiet, err);
    sdc_lora_set_free(set);
    sdc_model_files_close(mf);
    return st;
}

TEST(lora_other_family_is_a_clear_error) {
    /* an SD 2.x-style attn2.to_k LoRA (context 1024) on the SD 1.x-style tiny model (context 32) */
    static float down[4 * 1024], up[32 * 4];
    const char *names[2] = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight",
                            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight"};
    const int64_t shapes[2][4] = {{4, 1024}, {32, 4}};
    const int nd[2] = {2, 2};
    float *data[2] = {down, up};
    const char *path = sdc_test_tmp("lora_sd2.safetensors");
    REQUIRE(write_f32(path, 2, names, shapes, nd, data));
    sdc_error err;
    sdc_error_clear(&err);
    CHECK(bind_one(path, &err) == SDC_ERR_FORMAT);
    const char *m = sdc_error_msg(&err);
    CHECK_MSG(strstr(m, "another model family") && strstr(m, "attn2_to_k") && strstr(m, "[32, 1024]") &&
                  strstr(m, "[32, 32]"),
              "%s", m);
    /* nothing matches: an error, not a silent no-op */
    const char *names2[2] = {"lora_unet_no_such_block_proj.lora_down.weight", "lora_unet_no_such_block_proj.lora_up.weight"};
    const char *path2 = sdc_test_tmp("lora_none.safetensors");
    REQUIRE(write_f32(path2, 2, names2, shapes, nd, data));
    sdc_error_clear(&err);
    CHECK(bind_one(path2, &err) == SDC_ERR_FORMAT);
    CHECK_MSG(strstr(sdc_error_msg(&err), "none of its 1 modules") != NULL, "%s", sdc_error_msg(&err));
}

/* SD 2.x text encoders are OpenCLIP: q/k/v LoRA deltas land in row slices
 * of the fused in_proj_weight. The tiny HF CLIP's layers 0-1 are rewritten
 * in OpenCLIP names; the kohya LoRA's te deltas must match the reference
 * merged q/k/v, out_proj, fc1 / fc2 tensors. */
TEST(lora_openclip_in_proj_slices) {
    const char *hf = "cond_stage_model.transformer.text_model.encoder.layers.";
    const sdc_weight_file *base = sdc_ref_file(TINY_MODEL);
    REQUIRE(base);
    static float qkv[96 * 32], outp[32 * 32], fc1[128 * 32], fc2[32 * 128];
    const char *parts[3] = {"q_proj", "k_proj", "v_proj"};
    char name[256];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s0.self_attn.%s.weight", hf, parts[i]);
        const sdc_weight_info *w = sdc_weight_file_find(base, name);
        REQUIRE(w);
        sdc_convert_to_f32(w->dtype, w->data, qkv + i * 1024, 1024);
    }
    snprintf(name, sizeof name, "%s0.self_attn.out_proj.weight", hf);
    const sdc_weight_info *w = sdc_weight_file_find(base, name);
    REQUIRE(w);
    sdc_convert_to_f32(w->dtype, w->data, outp, 1024);
    snprintf(name, sizeof name, "%s1.mlp.fc1.weight", hf);
    REQUIRE((w = sdc_weight_file_find(base, name)) != NULL);
    sdc_convert_to_f32(w->dtype, w->data, fc1, 4096);
    snprintf(name, sizeof name, "%s1.mlp.fc2.weight", hf);
    REQUIRE((w = sdc_weight_file_find(base, name)) != NULL);
    sdc_convert_to_f32(w->dtype, w->data, fc2, 4096);
    const char *oc[4] = {"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
                         "cond_stage_model.model.transformer.resblocks.0.attn.out_proj.weight",
                         "cond_stage_model.model.transformer.resblocks.1.mlp.c_fc.weight",
                         "cond_stage_model.model.transformer.resblocks.1.mlp.c_proj.weight"};
    const int64_t shapes[4][4] = {{96, 32}, {32, 32}, {128, 32}, {32, 128}};
    const int nd[4] = {2, 2, 2, 2};
    float *data[4] = {qkv, outp, fc1, fc2};
    const char *path = sdc_test_tmp("openclip.safetensors");
    REQUIRE(write_f32(path, 4, oc, shapes, nd, data));

    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    sdc_lora_set *set;
    REQUIRE(sdc_model_files_open(path, &mf, &err) == SDC_OK && sdc_lora_set_new(&set, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_add(set, DATA "lora_kohya.safetensors", 0.8f, 0.5f, &err) == SDC_OK);
    sdc_log quiet = {.fn = NULL, .level = SDC_LOG_NONE};
    REQUIRE_MSG(sdc_lora_set_bind(set, mf, &quiet, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(sdc_lora_set_matched(set) == 6); /* q, k, v, out_proj, fc1, fc2 */
    const sdc_wpatch *patch = sdc_lora_set_patch(set);
    REQUIRE(patch);
    sdc_weight_file *ref;
    REQUIRE(sdc_weight_file_open(REF, &ref, &err) == SDC_OK);
    const char *hf_names[6] = {"0.self_attn.q_proj", "0.self_attn.k_proj", "0.self_attn.v_proj",
                               "0.self_attn.out_proj", "1.mlp.fc1", "1.mlp.fc2"};
    float *got[6] = {qkv, qkv + 1024, qkv + 2048, outp, fc1, fc2};
    for (int i = 0; i < 4; i++) {
        const sdc_weight_info *bw = sdc_model_files_find(mf, oc[i]);
        CHECK(patch->apply(patch->user, oc[i], data[i], bw->ndim, bw->shape, &err) == SDC_OK);
    }
    /* q / k / v / out_proj vs the PyTorch merge; fc1 / fc2 vs the same LoRA on the HF-layout model */
    sdc_model_files *tiny;
    sdc_lora_set *set2;
    REQUIRE(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &tiny, &err) == SDC_OK && sdc_lora_set_new(&set2, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_add(set2, DATA "lora_kohya.safetensors", 0.8f, 0.5f, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_bind(set2, tiny, &quiet, &err) == SDC_OK);
    const sdc_wpatch *p2 = sdc_lora_set_patch(set2);
    for (int i = 4; i < 6; i++) {
        snprintf(name, sizeof name, "%s%s.weight", hf, hf_names[i]);
        const sdc_weight_info *hw = sdc_model_files_find(tiny, name);
        float *e = f32_copy(hw);
        CHECK(p2->apply(p2->user, name, e, hw->ndim, hw->shape, &err) == SDC_OK);
        CHECK_MSG(memcmp(e, got[i], 4096 * sizeof *e) == 0, "%s differs from the HF-layout merge", hf_names[i]);
        free(e);
    }
    sdc_lora_set_free(set2);
    sdc_model_files_close(tiny);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "kohya.w.%s%s.weight", hf, hf_names[i]);
        const sdc_weight_info *r = sdc_weight_file_find(ref, name);
        REQUIRE_MSG(r, "%s", name);
        float *e = f32_copy(r);
        int64_t n = sdc_weight_numel(r);
        sdc_cmp c = sdc_test_compare(got[i], e, (size_t)n, 1e-5 * max_abs(e, n), 0);
        CHECK_MSG(c.ok, "%s: max diff %g", hf_names[i], c.max_abs);
        free(e);
    }
    sdc_weight_file_close(ref);
    sdc_lora_set_free(set);
    sdc_model_files_close(mf);
}

/* te strength 0: text-encoder weights are left alone; the CLIP and the
 * U-Net load through the patch with f16 matrices. */
TEST(lora_strength_zero_and_f16_load) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    sdc_lora_set *set;
    REQUIRE(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_new(&set, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_add(set, DATA "lora_kohya.safetensors", 1.0f, 0.0f, &err) == SDC_OK);
    sdc_log quiet = {.fn = NULL, .level = SDC_LOG_NONE};
    REQUIRE(sdc_lora_set_bind(set, mf, &quiet, &err) == SDC_OK);
    const sdc_wpatch *p = sdc_lora_set_patch(set);
    REQUIRE(p);
    CHECK(!p->has(p->user, "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"));
    CHECK(p->has(p->user, "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"));
    sdc_clip_text *clip = NULL;
    sdc_clip_text_opts co = {.mat_dtype = SDC_DTYPE_F16, .act = -1, .patch = p};
    CHECK(sdc_clip_text_load(mf, &co, &clip, &err) == SDC_OK);
    CHECK(sdc_lora_set_applied(set) == 0);
    sdc_unet *u = NULL;
    sdc_unet_opts uo = {.mat_dtype = SDC_DTYPE_F16, .num_heads = 8, .patch = p};
    CHECK_MSG(sdc_unet_load(mf, NULL, &uo, &u, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK_MSG(sdc_lora_set_applied(set) == 17, "%zu U-Net weights patched", sdc_lora_set_applied(set));
    sdc_unet_free(u);
    sdc_clip_text_free(clip);
    sdc_lora_set_free(set);
    sdc_model_files_close(mf);
}

/* The checkpoint loader binds and merges: same U-Net output as above. */
TEST(lora_through_sd_model_load) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_lora_set *set;
    REQUIRE(sdc_lora_set_new(&set, &err) == SDC_OK);
    REQUIRE(sdc_lora_set_add(set, DATA "lora_kohya.safetensors", 0.8f, 0.5f, &err) == SDC_OK);
    char model[1024], vocab[1024];
    snprintf(model, sizeof model, "%s", sdc_test_shared(TINY_MODEL));
    snprintf(vocab, sizeof vocab, "%s", sdc_test_shared("clip/bpe_simple_vocab_16e6.txt.gz"));
    sdc_log quiet = {.fn = NULL, .level = SDC_LOG_NONE};
    sdc_sd_model_opts o = {.model_path = model, .vocab_path = vocab, .mat_dtype = SDC_DTYPE_F32, .prediction = -1,
                           .log = &quiet, .loras = set};
    sdc_sd_model *m = NULL;
    REQUIRE_MSG(sdc_sd_model_load(&o, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK_MSG(sdc_lora_set_applied(set) == 23, "%zu weights patched", sdc_lora_set_applied(set));
    sdc_ref x, t, c;
    const char *in = "reference/tiny/unet/b1_t999_8x8.safetensors";
    REQUIRE(sdc_ref_load(in, "sample", &x) && sdc_ref_load(in, "timestep", &t) && sdc_ref_load(in, "encoder_hidden_states", &c));
    sdc_tensor tx = sdc_tensor_make(SDC_DTYPE_F32, x.data, 4, x.shape), tt = sdc_tensor_make(SDC_DTYPE_F32, t.data, 1, t.shape);
    sdc_tensor tc = sdc_tensor_make(SDC_DTYPE_F32, c.data, 3, c.shape);
    sdc_ctx ctx;
    sdc_ctx_init(&ctx, NULL, 0);
    sdc_tensor *y = sdc_unet_forward(&ctx, m->unet, &tx, &tt, &tc, NULL);
    sdc_weight_file *ref;
    REQUIRE(y && sdc_weight_file_open(REF, &ref, &err) == SDC_OK);
    float *e = f32_copy(sdc_weight_file_find(ref, "kohya.unet_out"));
    sdc_cmp r = sdc_test_compare(y->data, e, (size_t)x.numel, 1e-4 * max_abs(e, x.numel), 0);
    CHECK_MSG(r.ok, "kohya via sd_model: max diff %g", r.max_abs);
    free(e);
    sdc_weight_file_close(ref);
    sdc_ctx_free(&ctx);
    sdc_ref_free(&x);
    sdc_ref_free(&t);
    sdc_ref_free(&c);
    sdc_sd_model_free(m);
    sdc_lora_set_free(set);
}
