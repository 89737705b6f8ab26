/* SD 2.x specifics checked against independent PyTorch references:
 * the OpenCLIP text-encoder layout (fused in_proj, GELU, penultimate layer
 * + ln_final) built from the tiny model's weights, vs PyTorch's own
 * nn.MultiheadAttention (tests/data/sd2/gen_openclip_ref.py); and the
 * linear-projection U-Net variant (SD 2.x stores proj_in/proj_out as
 * [C, C] matrices), which must give exactly the 1x1-conv model's output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"
#define HF "cond_stage_model.transformer.text_model."
#define OC "cond_stage_model.model."

typedef struct built {
    sdc_model_files *m;
    sdc_weight_info *infos; /* owned descriptors (names and data owned too) */
    int n, cap;
} built;

static sdc_model_files *empty_files(void) {
    sdc_model_files *m = calloc(1, sizeof *m);
    m->path = strdup("(built in test)");
    sdc_strmap_init(&m->names);
    return m;
}

/* adds a copy of src (or the concatenation of srcs along dim 0) as `name` */
static void add_cat(built *b, const sdc_weight_file *f, const char *name, int n_src, const char *const *src) {
    sdc_weight_info *w = &b->infos[b->n++];
    memset(w, 0, sizeof *w);
    size_t bytes = 0;
    for (int i = 0; i < n_src; i++) bytes += sdc_weight_file_find(f, src[i])->nbytes;
    char *data = malloc(bytes), *p = data;
    const sdc_weight_info *first = sdc_weight_file_find(f, src[0]);
    *w = *first;
    w->shape[0] = 0;
    for (int i = 0; i < n_src; i++) {
        const sdc_weight_info *s = sdc_weight_file_find(f, src[i]);
        memcpy(p, s->data, s->nbytes);
        p += s->nbytes;
        w->shape[0] += s->shape[0];
    }
    w->name = strdup(name);
    w->data = data;
    w->nbytes = bytes;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files_add(b->m, name, w, &err);
}

static void add1(built *b, const sdc_weight_file *f, const char *name, const char *src) { add_cat(b, f, name, 1, &src); }

static void free_built(built *b) {
    for (int i = 0; i < b->n; i++) {
        free(b->infos[i].name);
        free((void *)b->infos[i].data);
    }
    free(b->infos);
    sdc_model_files_close(b->m);
}

/* the tiny model's text encoder in OpenCLIP's layout */
static void build_openclip(built *b, const sdc_weight_file *f, int layers) {
    b->m = empty_files();
    b->infos = calloc(16 * (size_t)layers + 8, sizeof *b->infos);
    char n[256], s[3][256];
    add1(b, f, OC "token_embedding.weight", HF "embeddings.token_embedding.weight");
    add1(b, f, OC "positional_embedding", HF "embeddings.position_embedding.weight");
    add1(b, f, OC "ln_final.weight", HF "final_layer_norm.weight");
    add1(b, f, OC "ln_final.bias", HF "final_layer_norm.bias");
    static const char *pairs[][2] = {{"ln_1", "layer_norm1"}, {"ln_2", "layer_norm2"}, {"attn.out_proj", "self_attn.out_proj"},
                                     {"mlp.c_fc", "mlp.fc1"}, {"mlp.c_proj", "mlp.fc2"}};
    for (int i = 0; i < layers; i++) {
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 2; k++) {
                const char *suffix = k ? "bias" : "weight";
                snprintf(n, sizeof n, OC "transformer.resblocks.%d.%s.%s", i, pairs[j][0], suffix);
                snprintf(s[0], sizeof s[0], HF "encoder.layers.%d.%s.%s", i, pairs[j][1], suffix);
                add1(b, f, n, s[0]);
            }
        for (int k = 0; k < 2; k++) {
            const char *suffix = k ? "bias" : "weight";
            for (int q = 0; q < 3; q++)
                snprintf(s[q], sizeof s[q], HF "encoder.layers.%d.self_attn.%c_proj.%s", i, "qkv"[q], suffix);
            const char *src[3] = {s[0], s[1], s[2]};
            snprintf(n, sizeof n, OC "transformer.resblocks.%d.attn.in_proj_%s", i, suffix);
            add_cat(b, f, n, 3, src);
        }
    }
}

TEST(sd2_openclip_text_encoder_matches_pytorch) {
    const sdc_weight_file *f = sdc_ref_file(TINY_MODEL);
    REQUIRE(f != NULL);
    built b = {0};
    build_openclip(&b, f, 5);
    sdc_error err;
    sdc_error_clear(&err);
    sdc_clip_text *m = NULL;
    sdc_clip_text_opts o = {.mat_dtype = SDC_DTYPE_F32, .act = -1};
    REQUIRE_MSG(sdc_clip_text_load(b.m, &o, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(m->cfg.layout == SDC_CLIP_LAYOUT_OPENCLIP && m->cfg.act == SDC_ACT_GELU && m->cfg.pad_id == 0);
    sdc_weight_file *rf = NULL;
    REQUIRE(sdc_weight_file_open("tests/data/sd2/openclip_ref.safetensors", &rf, &err) == SDC_OK);
    const sdc_weight_info *ids = sdc_weight_file_find(rf, "input_ids");
    REQUIRE(ids && ids->dtype == SDC_DTYPE_I32);
    static const char *outs[2] = {"last", "penultimate"};
    for (int k = 0; k < 2; k++) {
        sdc_ctx c;
        sdc_ctx_init(&c, NULL, 0);
        sdc_tensor *y = sdc_clip_text_forward(&c, m, ids->data, 1, ids->shape[1], m->cfg.layers - k, 1);
        const sdc_weight_info *want = sdc_weight_file_find(rf, outs[k]);
        CHECK_MSG(y && want, "%s", sdc_error_msg(&c.err));
        if (y && want) {
            sdc_cmp r = sdc_test_compare(y->data, want->data, (size_t)sdc_weight_numel(want), 1e-4, 0);
            CHECK_MSG(r.ok, "%s: max abs diff %g", outs[k], r.max_abs);
            printf("    openclip %s max abs diff %.3g\n", outs[k], r.max_abs);
        }
        sdc_ctx_free(&c);
    }
    sdc_weight_file_close(rf);
    sdc_clip_text_free(m);
    free_built(&b);
}

/* the U-Net with SD 2.x-style linear proj_in / proj_out ([C, C] instead of
 * [C, C, 1, 1]); data shared with the file, descriptors owned */
static sdc_model_files *linear_proj_unet(const sdc_weight_file *f, sdc_weight_info **infos) {
    sdc_model_files *m = empty_files();
    *infos = calloc(f->count, sizeof **infos);
    sdc_error err;
    sdc_error_clear(&err);
    for (size_t i = 0; i < f->count; i++) {
        sdc_weight_info *w = &(*infos)[i];
        *w = f->tensors[i];
        size_t len = strlen(w->name);
        bool proj = (len > 15 && strcmp(w->name + len - 15, ".proj_in.weight") == 0) ||
                    (len > 16 && strcmp(w->name + len - 16, ".proj_out.weight") == 0);
        if (proj && w->ndim == 4) w->ndim = 2;
        sdc_model_files_add(m, w->name, w, &err);
    }
    return m;
}

TEST(sd2_linear_projection_unet_equals_conv_projection) {
    const sdc_weight_file *f = sdc_ref_file(TINY_MODEL);
    REQUIRE(f != NULL);
    sdc_weight_info *infos = NULL;
    sdc_model_files *lin = linear_proj_unet(f, &infos);
    sdc_model_files *conv = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &conv, &err) == SDC_OK);
    sdc_unet_opts o = {.mat_dtype = SDC_DTYPE_F32, .num_heads = 8};
    sdc_unet *ul = NULL, *uc = NULL;
    REQUIRE_MSG(sdc_unet_load(lin, NULL, &o, &ul, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE_MSG(sdc_unet_load(conv, NULL, &o, &uc, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    const char *file = "reference/tiny/unet/b2cfg_t500_8x8.safetensors";
    sdc_ref x, t, ctx;
    REQUIRE(sdc_ref_load(file, "sample", &x) && sdc_ref_load(file, "timestep", &t) &&
            sdc_ref_load(file, "encoder_hidden_states", &ctx));
    sdc_tensor tx = sdc_tensor_make(SDC_DTYPE_F32, x.data, 4, x.shape), tt = sdc_tensor_make(SDC_DTYPE_F32, t.data, 1, t.shape);
    sdc_tensor tc = sdc_tensor_make(SDC_DTYPE_F32, ctx.data, 3, ctx.shape);
    sdc_ctx c1, c2;
    sdc_ctx_init(&c1, NULL, 0);
    sdc_ctx_init(&c2, NULL, 0);
    sdc_tensor *a = sdc_unet_forward(&c1, ul, &tx, &tt, &tc, NULL), *b = sdc_unet_forward(&c2, uc, &tx, &tt, &tc, NULL);
    REQUIRE(a && b);
    CHECK(memcmp(a->data, b->data, (size_t)sdc_tensor_numel(a) * sizeof(float)) == 0);
    sdc_ctx_free(&c1);
    sdc_ctx_free(&c2);
    sdc_ref_free(&x);
    sdc_ref_free(&t);
    sdc_ref_free(&ctx);
    sdc_unet_free(ul);
    sdc_unet_free(uc);
    sdc_model_files_close(conv);
    sdc_model_files_close(lin);
    free(infos);
}
