/* Model detection and the architecture generator.
 * - sd15 tiny from the generator has exactly the reference model's names
 *   and shapes; sd15 full has the released SD 1.5 parameter counts
 *   (diffusers' UNet2DConditionModel 859,520,964, AutoencoderKL 83,653,863,
 *   CLIPTextModel 123,060,480: public facts, not computed here).
 * - detection on the reference file and folder, and on name/shape-only
 *   models of every kind (tensor data is never read by detection). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/arch.h"
#include "formats/detect.h"
#include "formats/model_files.h"
#include "harness.h"

static int64_t numel(const int64_t *s, int nd) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= s[i];
    return n;
}

static void param_counts(const sdc_arch_tensor *t, size_t n, int64_t *unet, int64_t *vae, int64_t *text) {
    *unet = *vae = *text = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k = numel(t[i].shape, t[i].ndim);
        if (strncmp(t[i].name, "model.", 6) == 0) *unet += k;
        else if (strncmp(t[i].name, "first_stage_model.", 18) == 0) *vae += k;
        else *text += k;
    }
}

TEST(formats_arch_tiny_matches_reference_keys) {
    sdc_arch a;
    sdc_error err = {0};
    REQUIRE(sdc_arch_preset("sd15", "tiny", &a, &err) == SDC_OK);
    sdc_arch_tensor *t;
    size_t n;
    REQUIRE(sdc_arch_tensors(&a, &t, &n, &err) == SDC_OK);
    sdc_model_files *ref = NULL;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared("reference/model/sd15-random-tiny.safetensors"), &ref, &err) == SDC_OK,
                "%s", sdc_error_msg(&err));
    CHECK_MSG(n == sdc_model_files_count(ref), "%zu generated, %zu in the reference", n, sdc_model_files_count(ref));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const sdc_weight_info *w = sdc_model_files_find(ref, t[i].name);
        int ok = w && w->ndim == t[i].ndim && memcmp(w->shape, t[i].shape, sizeof(int64_t) * (size_t)w->ndim) == 0;
        if (!ok && bad++ < 5) CHECK_MSG(0, "'%s' %s", t[i].name, w ? "has another shape" : "is not in the reference");
    }
    CHECK(bad == 0);
    int64_t u, v, x;
    param_counts(t, n, &u, &v, &x);
    /* the reference's info.json n_params */
    CHECK_MSG(u == 2164452 && v == 1732679 && x == 1647104, "%lld %lld %lld", (long long)u, (long long)v, (long long)x);
    sdc_model_files_close(ref);
    sdc_arch_tensors_free(t, n);
}

TEST(formats_arch_full_sd15_parameter_counts) {
    sdc_arch a;
    sdc_error err = {0};
    REQUIRE(sdc_arch_preset("sd15", "full", &a, &err) == SDC_OK);
    sdc_arch_tensor *t;
    size_t n;
    REQUIRE(sdc_arch_tensors(&a, &t, &n, &err) == SDC_OK);
    int64_t u, v, x;
    param_counts(t, n, &u, &v, &x);
    CHECK_MSG(u == 859520964, "unet %lld", (long long)u);
    CHECK_MSG(v == 83653863, "vae %lld", (long long)v);
    CHECK_MSG(x == 123060480, "text %lld", (long long)x);
    sdc_arch_tensors_free(t, n);
    CHECK(sdc_arch_preset("sd15", "huge", &a, &err) == SDC_ERR_INVALID_ARG);
    CHECK(sdc_arch_preset("sd9", "full", &a, &err) == SDC_ERR_INVALID_ARG);
}

/* ---- shape-only models ---- */

static sdc_model_files *fake_new(const char *path) {
    sdc_model_files *m = calloc(1, sizeof *m);
    m->path = strdup(path);
    m->layout = "single file";
    sdc_strmap_init(&m->names);
    return m;
}

static void fake_add(sdc_model_files *m, const char *name, int nd, const int64_t *shape) {
    sdc_error err = {0};
    CHECK_MSG(sdc_model_files_add_made(m, name, SDC_DTYPE_F16, nd, shape, NULL, 0, NULL, &err) == SDC_OK, "%s", sdc_error_msg(&err));
}
#define ADD(m, name, ...) fake_add(m, name, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* A model with the arch's tensors; skip: prefix of names to leave out; strip: keep only names with
 * this prefix, removing it; add: prefix put in front of every name. */
static sdc_model_files *fake_arch2(const sdc_arch *a, const char *path, const char *skip, const char *strip, const char *add) {
    sdc_arch_tensor *t;
    size_t n;
    sdc_error err = {0};
    sdc_model_files *m = fake_new(path);
    if (sdc_arch_tensors(a, &t, &n, &err) != SDC_OK) return m;
    for (size_t i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (skip && strncmp(name, skip, strlen(skip)) == 0) continue;
        if (strip && strncmp(name, strip, strlen(strip)) != 0) continue;
        char full[600];
        snprintf(full, sizeof full, "%s%s", add ? add : "", strip ? name + strlen(strip) : name);
        fake_add(m, full, t[i].ndim, t[i].shape);
    }
    sdc_arch_tensors_free(t, n);
    return m;
}

static sdc_model_files *fake_arch(const sdc_arch *a, const char *path, const char *skip, const char *strip) {
    return fake_arch2(a, path, skip, strip, NULL);
}

static sdc_model_kind detect(const sdc_model_files *m) {
    sdc_model_kind k;
    sdc_error err = {0};
    CHECK_MSG(sdc_detect(m, &k, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    return k;
}

static void check_unet(const sdc_unet_hparams *u, const sdc_arch_unet *a) {
    CHECK(u->present);
    CHECK_MSG(u->model_channels == a->model_channels && u->in_channels == a->in_channels && u->out_channels == a->out_channels,
              "channels %lld %lld %lld", (long long)u->model_channels, (long long)u->in_channels, (long long)u->out_channels);
    CHECK_MSG(u->n_levels == a->n_levels && u->num_res_blocks == a->num_res_blocks, "levels %d res %d", u->n_levels, u->num_res_blocks);
    for (int i = 0; i < a->n_levels; i++)
        CHECK_MSG(u->channel_mult[i] == a->channel_mult[i] && u->transformer_depth[i] == a->depth[i], "level %d: mult %lld depth %d", i,
                  (long long)u->channel_mult[i], u->transformer_depth[i]);
    CHECK_MSG(u->mid_transformer_depth == a->mid_depth && u->context_dim == a->context_dim, "mid %d ctx %lld",
              u->mid_transformer_depth, (long long)u->context_dim);
    CHECK(u->linear_proj == a->linear_proj && u->adm_in_channels == a->adm_in_channels);
}

TEST(formats_detect_reference_model) {
    sdc_arch a;
    sdc_error err = {0};
    REQUIRE(sdc_arch_preset("sd15", "tiny", &a, &err) == SDC_OK);
    const char *paths[2] = {"reference/model/sd15-random-tiny.safetensors", "reference/model/sd15-random-tiny-diffusers"};
    for (int p = 0; p < 2; p++) {
        sdc_model_files *m = NULL;
        REQUIRE(sdc_model_files_open(sdc_test_shared(paths[p]), &m, &err) == SDC_OK);
        sdc_model_kind k = detect(m);
        CHECK(k.type == SDC_MODEL_CHECKPOINT && k.family == SDC_DETECT_SD1 && !k.inpaint);
        CHECK(k.components == (SDC_COMP_UNET | SDC_COMP_VAE_ENCODER | SDC_COMP_VAE_DECODER | SDC_COMP_CLIP_L));
        check_unet(&k.unet, &a.unet);
        /* the .yaml beside the file says num_heads: 8, the folder's unet config attention_head_dim: 8 */
        CHECK(k.unet.num_heads == 8 && strcmp(k.unet.heads_source, p ? "config.json" : "yaml") == 0);
        CHECK(k.prediction == SDC_DETECT_PRED_EPSILON);
        CHECK(k.vae.present && k.vae.ch == 32 && k.vae.n_levels == 4 && k.vae.ch_mult[3] == 2 && k.vae.num_res_blocks == 2 &&
              k.vae.z_channels == 4 && k.vae.embed_dim == 4);
        CHECK(k.text[0].present && !k.text[0].openclip && k.text[0].width == 32 && k.text[0].layers == 5 &&
              k.text[0].vocab == 49408 && k.text[0].positions == 77 && k.text[0].mlp_width == 128 && !k.text[1].present);
        sdc_model_files_close(m);
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(formats_detect_families_from_shapes) {
    sdc_arch a;
    sdc_error err = {0};
    char path[1024];
    /* SD 1.5 full */
    REQUIRE(sdc_arch_preset("sd15", "full", &a, &err) == SDC_OK);
    sdc_model_files *m = fake_arch(&a, "/nonexistent/x.safetensors", NULL, NULL);
    sdc_model_kind k = detect(m);
    CHECK(k.type == SDC_MODEL_CHECKPOINT && k.family == SDC_DETECT_SD1);
    check_unet(&k.unet, &a.unet);
    CHECK(k.unet.num_heads == 8 && strcmp(k.unet.heads_source, "family convention") == 0);
    CHECK(k.text[0].width == 768 && k.text[0].layers == 12 && k.vae.ch == 128);
    sdc_model_files_close(m);
    /* SD 2.x: prediction unknown from weights; v from the .yaml beside the file */
    REQUIRE(sdc_arch_preset("sd2", "full", &a, &err) == SDC_OK);
    snprintf(path, sizeof path, "%s", sdc_test_tmp("sd2-768.safetensors"));
    m = fake_arch(&a, path, NULL, NULL);
    k = detect(m);
    CHECK(k.family == SDC_DETECT_SD2 && k.prediction == SDC_DETECT_PRED_UNKNOWN && k.components & SDC_COMP_OPENCLIP);
    check_unet(&k.unet, &a.unet);
    CHECK(k.unet.head_dim == 64 && k.text[0].openclip && k.text[0].width == 1024 && k.text[0].layers == 24 &&
          k.text[0].projection_dim == 1024);
    write_text(sdc_test_tmp("sd2-768.yaml"), "model:\n  params:\n    parameterization: \"v\"\n    unet_config:\n"
                                             "      params:\n        num_head_channels: 64\n");
    k = detect(m);
    CHECK(k.prediction == SDC_DETECT_PRED_V && strcmp(k.prediction_source, "yaml") == 0 && strcmp(k.unet.heads_source, "yaml") == 0);
    sdc_model_files_close(m);
    /* SDXL base, with and without a v_pred marker */
    REQUIRE(sdc_arch_preset("sdxl", "full", &a, &err) == SDC_OK);
    m = fake_arch(&a, "/nonexistent/xl.safetensors", NULL, NULL);
    k = detect(m);
    CHECK(k.family == SDC_DETECT_SDXL && k.prediction == SDC_DETECT_PRED_EPSILON && k.text[0].present && k.text[1].present);
    check_unet(&k.unet, &a.unet);
    CHECK(k.text[1].openclip && k.text[1].width == 1280 && k.text[1].layers == 32);
    ADD(m, "v_pred", 0);
    k = detect(m);
    CHECK(k.prediction == SDC_DETECT_PRED_V);
    sdc_model_files_close(m);
    /* SDXL refiner: 384 channels, context 1280, adm 2560, one OpenCLIP encoder */
    sdc_arch r = a;
    const int64_t mult[] = {1, 2, 4, 4};
    const int depth[] = {0, 4, 4, 0};
    r.unet.model_channels = 384, r.unet.n_levels = 4, r.unet.context_dim = 1280, r.unet.adm_in_channels = 2560, r.unet.mid_depth = 4;
    for (int i = 0; i < 4; i++) r.unet.channel_mult[i] = mult[i], r.unet.depth[i] = depth[i];
    r.text[0] = a.text[1];
    r.text[0].prefix = "conditioner.embedders.0.model.";
    r.n_text = 1;
    m = fake_arch(&r, "/nonexistent/refiner.safetensors", NULL, NULL);
    k = detect(m);
    CHECK(k.family == SDC_DETECT_SDXL_REFINER && k.text[0].openclip && !k.text[1].present);
    check_unet(&k.unet, &r.unet);
    sdc_model_files_close(m);
    /* inpainting: 9 input channels */
    REQUIRE(sdc_arch_preset("sd15", "tiny", &a, &err) == SDC_OK);
    a.unet.in_channels = 9;
    m = fake_arch(&a, "/nonexistent/inpaint.safetensors", NULL, NULL);
    k = detect(m);
    CHECK(k.inpaint && k.unet.in_channels == 9 && k.family == SDC_DETECT_SD1);
    sdc_model_files_close(m);
}

TEST(formats_detect_add_ons) {
    sdc_arch a;
    sdc_error err = {0};
    REQUIRE(sdc_arch_preset("sd15", "full", &a, &err) == SDC_OK);
    /* standalone VAE (ldm names, no prefix) */
    sdc_model_files *m = fake_arch(&a, "/nonexistent/vae.pt", NULL, "first_stage_model.");
    sdc_model_kind k = detect(m);
    CHECK(k.type == SDC_MODEL_VAE && k.vae.present && k.vae.ch == 128 && strcmp(k.vae.prefix, "") == 0);
    CHECK(k.components == (SDC_COMP_VAE_ENCODER | SDC_COMP_VAE_DECODER));
    sdc_model_files_close(m);
    /* ControlNet, ldm layout with and without the control_model. prefix */
    for (int p = 0; p < 2; p++) {
        m = fake_arch2(&a, "/nonexistent/cn.pth", NULL, "model.diffusion_model.", p ? "control_model." : "");
        ADD(m, p ? "control_model.input_hint_block.0.weight" : "input_hint_block.0.weight", 16, 3, 3, 3);
        ADD(m, p ? "control_model.zero_convs.0.0.weight" : "zero_convs.0.0.weight", 320, 320, 1, 1);
        k = detect(m);
        CHECK_MSG(k.type == SDC_MODEL_CONTROLNET && k.family == SDC_DETECT_SD1 && strcmp(k.subtype, "ldm") == 0, "prefix %d", p);
        CHECK(k.unet.present && k.unet.model_channels == 320 && k.unet.context_dim == 768);
        sdc_model_files_close(m);
    }
    /* ControlNet, diffusers layout (SD 2.x context), and a control-LoRA */
    m = fake_new("/nonexistent/cn");
    ADD(m, "controlnet_cond_embedding.conv_in.weight", 16, 3, 3, 3);
    ADD(m, "conv_in.weight", 320, 4, 3, 3);
    ADD(m, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", 320, 1024);
    k = detect(m);
    CHECK(k.type == SDC_MODEL_CONTROLNET && k.family == SDC_DETECT_SD2 && strcmp(k.subtype, "diffusers") == 0);
    sdc_model_files_close(m);
    m = fake_new("/nonexistent/cl");
    ADD(m, "lora_controlnet", 0);
    ADD(m, "input_hint_block.0.weight", 16, 3, 3, 3);
    k = detect(m);
    CHECK(k.type == SDC_MODEL_CONTROLNET && strcmp(k.subtype, "control-lora") == 0);
    sdc_model_files_close(m);
    /* TAESD encoder and decoder */
    m = fake_new("/nonexistent/taesd");
    ADD(m, "encoder.layers.0.weight", 64, 3, 3, 3);
    ADD(m, "encoder.layers.1.conv.4.weight", 64, 64, 3, 3);
    ADD(m, "encoder.layers.14.weight", 4, 64, 3, 3);
    ADD(m, "decoder.layers.1.weight", 64, 4, 3, 3);
    ADD(m, "decoder.layers.3.conv.4.weight", 64, 64, 3, 3);
    ADD(m, "decoder.layers.18.weight", 3, 64, 3, 3);
    k = detect(m);
    CHECK(k.type == SDC_MODEL_TAESD && strcmp(k.subtype, "encoder+decoder") == 0 && k.taesd_latent_channels == 4);
    sdc_model_files_close(m);
    m = fake_new("/nonexistent/taesd_decoder.pth");
    ADD(m, "1.weight", 64, 4, 3, 3);
    ADD(m, "3.conv.4.weight", 64, 64, 3, 3);
    k = detect(m);
    CHECK(k.type == SDC_MODEL_TAESD && strcmp(k.subtype, "decoder") == 0);
    sdc_model_files_close(m);
}

TEST(formats_detect_loras_and_embeddings) {
    struct {
        const char *name;
        int64_t d0, d1;
    } cases[][3] = {
        {{"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight", 4, 768},
         {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 4, 768}, {NULL, 0, 0}},
        {{"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 8, 768},
         {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 8, 1280},
         {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight", 8, 2048}},
        {{"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight", 16, 1024}, {NULL, 0, 0}, {NULL, 0, 0}},
        {{"lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a", 320, 4}, {NULL, 0, 0}, {NULL, 0, 0}},
        {{"lora_unet_down_blocks_0_attentions_0_proj_in.lokr_w1", 4, 4}, {NULL, 0, 0}, {NULL, 0, 0}},
    };
    const char *sub[] = {"kohya", "kohya", "peft", "lycoris-loha", "lycoris-lokr"};
    sdc_detect_family fam[] = {SDC_DETECT_SD1, SDC_DETECT_SDXL, SDC_DETECT_SD2, SDC_DETECT_FAMILY_UNKNOWN, SDC_DETECT_FAMILY_UNKNOWN};
    int64_t rank[] = {4, 8, 16, 4, 0};
    for (int c = 0; c < 5; c++) {
        sdc_model_files *m = fake_new("/nonexistent/lora.safetensors");
        for (int i = 0; i < 3 && cases[c][i].name; i++) fake_add(m, cases[c][i].name, 2, (int64_t[]){cases[c][i].d0, cases[c][i].d1});
        sdc_model_kind k = detect(m);
        CHECK_MSG(k.type == SDC_MODEL_LORA && strcmp(k.subtype, sub[c]) == 0 && k.family == fam[c] && k.lora_rank == rank[c],
                  "case %d: %s %s %s rank %lld", c, sdc_detect_type_name(k.type), k.subtype, sdc_detect_family_name(k.family),
                  (long long)k.lora_rank);
        sdc_model_files_close(m);
    }
    struct {
        const char *a, *b;
        int64_t n, d;
        const char *sub;
        sdc_detect_family fam;
    } emb[] = {
        {"string_to_param.*", "string_to_token.*", 2, 768, "a1111", SDC_DETECT_SD1},
        {"emb_params", NULL, 4, 1024, "a1111-safetensors", SDC_DETECT_SD2},
        {"clip_l", "clip_g", 3, 768, "sdxl", SDC_DETECT_SDXL},
        {"<cat-toy>", NULL, 0, 768, "diffusers", SDC_DETECT_SD1},
    };
    for (int c = 0; c < 4; c++) {
        sdc_model_files *m = fake_new("/nonexistent/emb.pt");
        if (emb[c].n) ADD(m, emb[c].a, emb[c].n, emb[c].d);
        else ADD(m, emb[c].a, emb[c].d);
        if (emb[c].b) ADD(m, emb[c].b, emb[c].n, 1280);
        sdc_model_kind k = detect(m);
        CHECK_MSG(k.type == SDC_MODEL_EMBEDDING && strcmp(k.subtype, emb[c].sub) == 0 && k.family == emb[c].fam &&
                      k.embedding_dim == emb[c].d && k.embedding_vectors == (emb[c].n ? emb[c].n : 1),
                  "embedding case %d: %s %s", c, sdc_detect_type_name(k.type), k.subtype);
        sdc_model_files_close(m);
    }
    /* nothing recognisable */
    sdc_model_files *m = fake_new("/nonexistent/x");
    ADD(m, "foo.bar", 3, 3);
    ADD(m, "baz", 5);
    CHECK(detect(m).type == SDC_MODEL_UNKNOWN);
    sdc_model_files_close(m);
}

/* make-model's TAESD: the published decoder / encoder parameter counts
 * (1,222,531 and 1,222,532 in madebyollin/taesd's taesd_decoder.pth /
 * taesd_encoder.pth), and the TAESD loader accepts the layout. */
#include "formats/make_model.h"
#include "models/taesd.h"

TEST(formats_arch_taesd_matches_published_sizes) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_arch a;
    REQUIRE(sdc_arch_preset("taesd", "full", &a, &err) == SDC_OK);
    sdc_arch_tensor *t = NULL;
    size_t n = 0;
    REQUIRE(sdc_arch_tensors(&a, &t, &n, &err) == SDC_OK);
    int64_t dec = 0, enc = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t p = 1;
        for (int d = 0; d < t[i].ndim; d++) p *= t[i].shape[d];
        if (strncmp(t[i].name, "taesd_decoder.", 14) == 0) dec += p;
        else if (strncmp(t[i].name, "taesd_encoder.", 14) == 0) enc += p;
    }
    CHECK_MSG(dec == 1222531 && enc == 1222532, "decoder %lld, encoder %lld parameters", (long long)dec, (long long)enc);
    sdc_arch_tensors_free(t, n);
    const char *path = sdc_test_tmp("taesd-made.safetensors");
    sdc_make_model_opts o = {"taesd", "tiny", 1, SDC_DTYPE_F32, 1, 1};
    int64_t params = 0;
    REQUIRE_MSG(sdc_make_model(path, &o, &params, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_taesd *m = NULL;
    CHECK_MSG(sdc_taesd_open(&path, 1, SDC_DTYPE_F32, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(m && m->latent_ch == 4);
    sdc_taesd_free(m);
}
