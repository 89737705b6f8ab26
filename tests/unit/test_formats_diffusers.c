/* Canonical names from every layout: the reference model's single file
 * and its diffusers folder must give the same names, shapes and bytes;
 * SD 2.x / SDXL text encoders map HF CLIP to OpenCLIP (q/k/v concatenated,
 * text_projection transposed); sharded safetensors; lone diffusers files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/model_files.h"
#include "formats/safetensors.h"
#include "harness.h"

#define REF_SINGLE "reference/model/sd15-random-tiny.safetensors"
#define REF_DIR "reference/model/sd15-random-tiny-diffusers"

static sdc_model_files *open_model(const char *path) {
    sdc_error err = {0};
    sdc_model_files *m = NULL;
    sdc_status st = sdc_model_files_open(path, &m, &err);
    CHECK_MSG(st == SDC_OK, "open %s: %s", path, sdc_error_msg(&err));
    return m;
}

static int same_tensor(const sdc_weight_info *a, const sdc_weight_info *b) {
    return a->dtype == b->dtype && a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0 &&
           a->nbytes == b->nbytes && (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
}

TEST(formats_diffusers_folder_equals_single_file) {
    char single[1024], dir[1024];
    snprintf(single, sizeof single, "%s", sdc_test_shared(REF_SINGLE));
    snprintf(dir, sizeof dir, "%s", sdc_test_shared(REF_DIR));
    sdc_model_files *a = open_model(single), *b = open_model(dir);
    if (!a || !b) {
        sdc_model_files_close(a);
        sdc_model_files_close(b);
        return;
    }
    CHECK(strcmp(a->layout, "single file") == 0 && strcmp(b->layout, "diffusers") == 0);
    CHECK_MSG(sdc_model_files_count(a) == 822, "single file: %zu tensors", sdc_model_files_count(a));
    CHECK_MSG(sdc_model_files_count(a) == sdc_model_files_count(b), "%zu vs %zu tensors", sdc_model_files_count(a),
              sdc_model_files_count(b));
    int bad = 0;
    for (size_t i = 0; i < sdc_model_files_count(a); i++) {
        const char *name;
        const sdc_weight_info *wa = sdc_model_files_at(a, i, &name), *wb = sdc_model_files_find(b, name);
        if (!wb || !same_tensor(wa, wb)) {
            if (bad++ < 5) CHECK_MSG(0, "'%s' %s in the diffusers folder", name, wb ? "differs" : "is missing");
        }
    }
    CHECK_MSG(bad == 0, "%d tensors missing or different", bad);
    /* the VAE attention reshape [C, C] -> [C, C, 1, 1] is a view: no copy */
    const sdc_weight_info *q = sdc_model_files_find(b, "first_stage_model.decoder.mid.attn_1.q.weight");
    REQUIRE(q && q->ndim == 4 && q->shape[2] == 1 && q->shape[3] == 1);
    int in_a_file = 0;
    for (size_t k = 0; k < b->n_files; k++) {
        const sdc_weight_info *raw = sdc_weight_file_find(b->files[k], "decoder.mid_block.attentions.0.to_q.weight");
        if (raw) in_a_file = raw->data == q->data && raw->ndim == 2;
    }
    CHECK(in_a_file);
    sdc_model_files_close(a);
    sdc_model_files_close(b);
}

TEST(formats_diffusers_lone_component_files) {
    char single[1024], path[1024];
    snprintf(single, sizeof single, "%s", sdc_test_shared(REF_SINGLE));
    sdc_model_files *a = open_model(single);
    REQUIRE(a);
    const char *comps[] = {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                           "text_encoder/model.safetensors", "vae"};
    const char *prefixes[] = {"model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "first_stage_model."};
    for (int c = 0; c < 4; c++) {
        snprintf(path, sizeof path, "%s/%s", sdc_test_shared(REF_DIR), comps[c]);
        sdc_model_files *b = open_model(path);
        if (!b) continue;
        size_t expect = 0;
        for (size_t i = 0; i < sdc_model_files_count(a); i++) {
            const char *name;
            const sdc_weight_info *wa = sdc_model_files_at(a, i, &name);
            if (strncmp(name, prefixes[c], strlen(prefixes[c])) != 0) continue;
            expect++;
            const sdc_weight_info *wb = sdc_model_files_find(b, name);
            CHECK_MSG(wb && same_tensor(wa, wb), "%s: '%s'", comps[c], name);
        }
        CHECK_MSG(sdc_model_files_count(b) == expect, "%s: %zu tensors, want %zu", comps[c], sdc_model_files_count(b), expect);
        sdc_model_files_close(b);
    }
    sdc_model_files_close(a);
}

/* ---- synthetic files ---- */

typedef struct {
    sdc_weight_info t[64];
    float data[64][256];
    int n;
} tset;

/* Adds an f32 tensor whose element i is id * 100 + i. */
static void tadd(tset *s, const char *name, int nd, int64_t d0, int64_t d1) {
    sdc_weight_info *w = &s->t[s->n];
    w->name = (char *)name;
    w->dtype = SDC_DTYPE_F32;
    w->ndim = nd;
    w->shape[0] = d0;
    w->shape[1] = d1;
    size_t n = (size_t)(nd == 1 ? d0 : d0 * d1);
    for (size_t i = 0; i < n; i++) s->data[s->n][i] = (float)(s->n * 100 + (int)i);
    w->data = s->data[s->n];
    w->nbytes = n * 4;
    s->n++;
}

static char g_names[64][96];

/* HF CLIP text model: width 8, 2 layers, vocab 10, 4 positions (+ projection). */
static void hf_clip(tset *s, int with_projection) {
    int k = 0;
    s->n = 0;
#define NAME(...) (snprintf(g_names[k], sizeof g_names[k], __VA_ARGS__), g_names[k++])
    tadd(s, NAME("text_model.embeddings.token_embedding.weight"), 2, 10, 8);
    tadd(s, NAME("text_model.embeddings.position_embedding.weight"), 2, 4, 8);
    tadd(s, NAME("text_model.embeddings.position_ids"), 2, 1, 4);
    for (int l = 0; l < 2; l++) {
        const char *p = "text_model.encoder.layers";
        tadd(s, NAME("%s.%d.self_attn.q_proj.weight", p, l), 2, 8, 8);
        tadd(s, NAME("%s.%d.self_attn.q_proj.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.self_attn.k_proj.weight", p, l), 2, 8, 8);
        tadd(s, NAME("%s.%d.self_attn.k_proj.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.self_attn.v_proj.weight", p, l), 2, 8, 8);
        tadd(s, NAME("%s.%d.self_attn.v_proj.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.self_attn.out_proj.weight", p, l), 2, 8, 8);
        tadd(s, NAME("%s.%d.self_attn.out_proj.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.layer_norm1.weight", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.layer_norm1.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.layer_norm2.weight", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.layer_norm2.bias", p, l), 1, 8, 0);
        tadd(s, NAME("%s.%d.mlp.fc1.weight", p, l), 2, 32, 8);
        tadd(s, NAME("%s.%d.mlp.fc1.bias", p, l), 1, 32, 0);
        tadd(s, NAME("%s.%d.mlp.fc2.weight", p, l), 2, 8, 32);
        tadd(s, NAME("%s.%d.mlp.fc2.bias", p, l), 1, 8, 0);
    }
    tadd(s, NAME("text_model.final_layer_norm.weight"), 1, 8, 0);
    tadd(s, NAME("text_model.final_layer_norm.bias"), 1, 8, 0);
    if (with_projection) tadd(s, NAME("text_projection.weight"), 2, 6, 8);
#undef NAME
}

static const sdc_weight_info *by_name(const tset *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0) return &s->t[i];
    return NULL;
}

static void write_component(const char *dir, const char *sub, const char *config, const tset *s) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/config.json", dir, sub);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(config, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s/model.safetensors", dir, sub);
    sdc_error err = {0};
    CHECK_MSG(sdc_safetensors_write(path, s->t, (size_t)s->n, NULL, NULL, 0, 1, &err) == SDC_OK, "%s", sdc_error_msg(&err));
}

/* OpenCLIP layer l of model m (prefix P) matches HF layer l of s. */
static void check_openclip(const sdc_model_files *m, const char *P, const tset *s) {
    char name[256], hf[256];
    for (int l = 0; l < 2; l++) {
        for (int b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "%stransformer.resblocks.%d.attn.in_proj_%s", P, l, b ? "bias" : "weight");
            const sdc_weight_info *w = sdc_model_files_find(m, name);
            CHECK_MSG(w && w->shape[0] == 24 && w->ndim == 2 - b, "%s", name);
            if (!w) continue;
            for (int part = 0; part < 3; part++) {
                snprintf(hf, sizeof hf, "text_model.encoder.layers.%d.self_attn.%c_proj.%s", l, "qkv"[part], b ? "bias" : "weight");
                const sdc_weight_info *h = by_name(s, hf);
                CHECK_MSG(memcmp((const char *)w->data + (size_t)part * h->nbytes, h->data, h->nbytes) == 0, "%s part %d", name, part);
            }
        }
        snprintf(name, sizeof name, "%stransformer.resblocks.%d.mlp.c_proj.weight", P, l);
        snprintf(hf, sizeof hf, "text_model.encoder.layers.%d.mlp.fc2.weight", l);
        const sdc_weight_info *w = sdc_model_files_find(m, name);
        CHECK_MSG(w && w->data == NULL ? 0 : w && memcmp(w->data, by_name(s, hf)->data, w->nbytes) == 0, "%s", name);
    }
    snprintf(name, sizeof name, "%spositional_embedding", P);
    const sdc_weight_info *pe = sdc_model_files_find(m, name);
    CHECK(pe && pe->ndim == 2 && pe->shape[0] == 4 &&
          memcmp(pe->data, by_name(s, "text_model.embeddings.position_embedding.weight")->data, pe->nbytes) == 0);
    snprintf(name, sizeof name, "%sln_final.weight", P);
    CHECK(sdc_model_files_find(m, name) != NULL);
}

TEST(formats_diffusers_sd2_and_sdxl_text_encoders) {
    static tset s, s2;
    hf_clip(&s, 0);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", sdc_test_tmp("sd2"));
    write_component(dir, "text_encoder", "{\"hidden_act\": \"gelu\", \"hidden_size\": 8}", &s);
    sdc_model_files *m = open_model(dir);
    REQUIRE(m);
    check_openclip(m, "cond_stage_model.model.", &s);
    /* 2 layers x 12 + token + positional + ln_final weight/bias; position_ids dropped */
    CHECK_MSG(sdc_model_files_count(m) == 28, "%zu tensors", sdc_model_files_count(m));
    sdc_model_files_close(m);
    /* SDXL: text_encoder (HF names, embedders.0) + text_encoder_2 (OpenCLIP, embedders.1, projection transposed) */
    hf_clip(&s2, 1);
    snprintf(dir, sizeof dir, "%s", sdc_test_tmp("sdxl"));
    write_component(dir, "text_encoder", "{\"hidden_act\": \"quick_gelu\"}", &s);
    write_component(dir, "text_encoder_2", "{\"hidden_act\": \"gelu\"}", &s2);
    m = open_model(dir);
    REQUIRE(m);
    check_openclip(m, "conditioner.embedders.1.model.", &s2);
    const sdc_weight_info *hp = by_name(&s2, "text_projection.weight"), *p = sdc_model_files_find(m, "conditioner.embedders.1.model.text_projection");
    REQUIRE(p && p->ndim == 2 && p->shape[0] == 8 && p->shape[1] == 6);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 8; j++) CHECK(((const float *)p->data)[j * 6 + i] == ((const float *)hp->data)[i * 8 + j]);
    CHECK(sdc_model_files_find(m, "conditioner.embedders.0.transformer.text_model.encoder.layers.1.mlp.fc2.bias") != NULL);
    CHECK(sdc_model_files_find(m, "conditioner.embedders.0.transformer.text_model.embeddings.position_ids") == NULL);
    CHECK_MSG(sdc_model_files_count(m) == 36 + 29, "%zu tensors", sdc_model_files_count(m)); /* HF: 2 + 2x16 + 2 */
    sdc_model_files_close(m);
}
