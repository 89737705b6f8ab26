/* CLIP text transformer (see clip_text.h). */
#include "models/clip_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define HF_PREFIX "cond_stage_model.transformer.text_model."
#define OC_PREFIX "cond_stage_model.model."

int sdc_clip_text_detect(const sdc_model_files *m, sdc_clip_layout *layout) {
    if (sdc_model_files_find(m, HF_PREFIX "embeddings.token_embedding.weight")) {
        *layout = SDC_CLIP_LAYOUT_HF;
        return 1;
    }
    if (sdc_model_files_find(m, OC_PREFIX "token_embedding.weight")) {
        *layout = SDC_CLIP_LAYOUT_OPENCLIP;
        return 1;
    }
    return 0;
}

static int64_t count_layers(const sdc_wload *l, const char *fmt) {
    int64_t n = 0;
    while (sdc_wl_has(l, fmt, (int)n)) n++;
    return n;
}

static void load_layer_hf(sdc_wload *l, const sdc_clip_text_config *cfg, int64_t i, sdc_clip_layer *L) {
    char q[128], k[128], v[128], qb[128], kb[128], vb[128];
    int64_t D = cfg->width;
    snprintf(q, sizeof q, "encoder.layers.%d.self_attn.q_proj.weight", (int)i);
    snprintf(k, sizeof k, "encoder.layers.%d.self_attn.k_proj.weight", (int)i);
    snprintf(v, sizeof v, "encoder.layers.%d.self_attn.v_proj.weight", (int)i);
    snprintf(qb, sizeof qb, "encoder.layers.%d.self_attn.q_proj.bias", (int)i);
    snprintf(kb, sizeof kb, "encoder.layers.%d.self_attn.k_proj.bias", (int)i);
    snprintf(vb, sizeof vb, "encoder.layers.%d.self_attn.v_proj.bias", (int)i);
    const char *wn[3] = {q, k, v}, *bn[3] = {qb, kb, vb};
    int64_t sizes[3] = {D, D, D};
    L->qkv_w = sdc_wl_linear_cat(l, 3, wn, D);
    L->qkv_b = sdc_wl_vec_cat(l, 3, bn, sizes);
    L->ln1_w = sdc_wl_vec(l, D, "encoder.layers.%d.layer_norm1.weight", (int)i);
    L->ln1_b = sdc_wl_vec(l, D, "encoder.layers.%d.layer_norm1.bias", (int)i);
    L->out_w = sdc_wl_linear(l, D, D, "encoder.layers.%d.self_attn.out_proj.weight", (int)i);
    L->out_b = sdc_wl_vec(l, D, "encoder.layers.%d.self_attn.out_proj.bias", (int)i);
    L->ln2_w = sdc_wl_vec(l, D, "encoder.layers.%d.layer_norm2.weight", (int)i);
    L->ln2_b = sdc_wl_vec(l, D, "encoder.layers.%d.layer_norm2.bias", (int)i);
    L->fc1_w = sdc_wl_linear(l, cfg->ff, D, "encoder.layers.%d.mlp.fc1.weight", (int)i);
    L->fc1_b = sdc_wl_vec(l, cfg->ff, "encoder.layers.%d.mlp.fc1.bias", (int)i);
    L->fc2_w = sdc_wl_linear(l, D, cfg->ff, "encoder.layers.%d.mlp.fc2.weight", (int)i);
    L->fc2_b = sdc_wl_vec(l, D, "encoder.layers.%d.mlp.fc2.bias", (int)i);
}

static void load_layer_openclip(sdc_wload *l, const sdc_clip_text_config *cfg, int64_t i, sdc_clip_layer *L) {
    int64_t D = cfg->width;
    const char *p = "transformer.resblocks.";
    L->qkv_w = sdc_wl_linear(l, 3 * D, D, "%s%d.attn.in_proj_weight", p, (int)i);
    L->qkv_b = sdc_wl_vec(l, 3 * D, "%s%d.attn.in_proj_bias", p, (int)i);
    L->ln1_w = sdc_wl_vec(l, D, "%s%d.ln_1.weight", p, (int)i);
    L->ln1_b = sdc_wl_vec(l, D, "%s%d.ln_1.bias", p, (int)i);
    L->out_w = sdc_wl_linear(l, D, D, "%s%d.attn.out_proj.weight", p, (int)i);
    L->out_b = sdc_wl_vec(l, D, "%s%d.attn.out_proj.bias", p, (int)i);
    L->ln2_w = sdc_wl_vec(l, D, "%s%d.ln_2.weight", p, (int)i);
    L->ln2_b = sdc_wl_vec(l, D, "%s%d.ln_2.bias", p, (int)i);
    L->fc1_w = sdc_wl_linear(l, cfg->ff, D, "%s%d.mlp.c_fc.weight", p, (int)i);
    L->fc1_b = sdc_wl_vec(l, cfg->ff, "%s%d.mlp.c_fc.bias", p, (int)i);
    L->fc2_w = sdc_wl_linear(l, D, cfg->ff, "%s%d.mlp.c_proj.weight", p, (int)i);
    L->fc2_b = sdc_wl_vec(l, D, "%s%d.mlp.c_proj.bias", p, (int)i);
}

/* Reads the sizes from the embedding and first-layer shapes. */
static void read_config(sdc_wload *l, sdc_clip_text_config *cfg, const sdc_clip_text_opts *opts) {
    bool hf = cfg->layout == SDC_CLIP_LAYOUT_HF;
    const sdc_weight_info *tok = sdc_wl_info(l, hf ? "embeddings.token_embedding.weight" : "token_embedding.weight");
    const sdc_weight_info *pos = sdc_wl_info(l, hf ? "embeddings.position_embedding.weight" : "positional_embedding");
    const sdc_weight_info *fc1 = sdc_wl_info(l, hf ? "encoder.layers.0.mlp.fc1.weight" : "transformer.resblocks.0.mlp.c_fc.weight");
    if (!tok || !pos || !fc1 || tok->ndim != 2 || pos->ndim != 2 || fc1->ndim != 2) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "CLIP text model: embeddings or first layer missing or malformed");
        return;
    }
    cfg->vocab = tok->shape[0];
    cfg->width = tok->shape[1];
    cfg->max_pos = pos->shape[0];
    cfg->ff = fc1->shape[0];
    cfg->layers = count_layers(l, hf ? "encoder.layers.%d.mlp.fc1.weight" : "transformer.resblocks.%d.mlp.c_fc.weight");
    /* Real CLIP text models use 64-wide heads (CLIP-L: 12, OpenCLIP-H: 16).
     * Test-size models narrower than 64 use 8-wide heads, the convention of
     * the reference generator; a config beside the model overrides both. */
    cfg->heads = opts && opts->heads > 0 ? opts->heads : (cfg->width % 64 == 0 ? cfg->width / 64 : SDC_MAX(1, cfg->width / 8));
    cfg->act = opts && opts->act >= 0 ? (sdc_act)opts->act : hf ? SDC_ACT_QUICK_GELU : SDC_ACT_GELU;
    cfg->eps = 1e-5f;
    cfg->pad_id = hf ? 49407 : 0;
    if (cfg->width % cfg->heads || pos->shape[1] != cfg->width || cfg->layers < 1)
        sdc_error_set(l->err, SDC_ERR_FORMAT, "CLIP text model: inconsistent sizes (width %lld, heads %lld, layers %lld)",
                      (long long)cfg->width, (long long)cfg->heads, (long long)cfg->layers);
}

/* The token embedding stays in its stored dtype (49408 x 1024 floats would
 * be 200 MB as f32); embed() widens the few rows a prompt uses. */
static sdc_tensor *token_table(sdc_wload *l, const char *name, const sdc_clip_text_config *cfg) {
    const sdc_weight_info *w = sdc_wl_ok(l) ? sdc_wl_info(l, "%s", name) : NULL;
    if (!w || w->ndim != 2 || w->shape[0] != cfg->vocab || w->shape[1] != cfg->width ||
        !(w->dtype == SDC_DTYPE_F32 || w->dtype == SDC_DTYPE_F16 || w->dtype == SDC_DTYPE_BF16))
        return sdc_wl_f32(l, "%s", name); /* anything unusual: widen it all (reports errors too) */
    sdc_tensor *t = sdc_wstore_alloc(l->store, sizeof *t);
    if (!t) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    *t = sdc_weight_tensor(w);
    l->n_params += sdc_weight_numel(w);
    return t;
}

sdc_status sdc_clip_text_load(const sdc_model_files *m, const sdc_clip_text_opts *opts, sdc_clip_text **out,
                              sdc_error *err) {
    *out = NULL;
    sdc_clip_text *c = calloc(1, sizeof *c);
    if (!c) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (!sdc_clip_text_detect(m, &c->cfg.layout)) {
        free(c);
        return sdc_error_set(err, SDC_ERR_FORMAT, "no CLIP text encoder in '%s'", m->path);
    }
    bool hf = c->cfg.layout == SDC_CLIP_LAYOUT_HF;
    sdc_wload l = {.files = m, .store = &c->store, .mat_dtype = opts ? opts->mat_dtype : SDC_DTYPE_F32,
                   .err = err, .prefix = hf ? HF_PREFIX : OC_PREFIX, .patch = opts ? opts->patch : NULL};
    read_config(&l, &c->cfg, opts);
    const sdc_clip_text_config *cfg = &c->cfg;
    if (sdc_wl_ok(&l)) c->layer = calloc((size_t)cfg->layers, sizeof *c->layer);
    if (sdc_wl_ok(&l) && !c->layer) sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    c->tok_emb = token_table(&l, hf ? "embeddings.token_embedding.weight" : "token_embedding.weight", cfg);
    c->pos_emb = sdc_wl_f32(&l, hf ? "embeddings.position_embedding.weight" : "positional_embedding");
    for (int64_t i = 0; sdc_wl_ok(&l) && i < cfg->layers; i++)
        (hf ? load_layer_hf : load_layer_openclip)(&l, cfg, i, &c->layer[i]);
    c->final_ln_w = sdc_wl_vec(&l, cfg->width, hf ? "final_layer_norm.weight" : "ln_final.weight");
    c->final_ln_b = sdc_wl_vec(&l, cfg->width, hf ? "final_layer_norm.bias" : "ln_final.bias");
    c->n_params = l.n_params;
    if (!sdc_wl_ok(&l)) {
        sdc_clip_text_free(c);
        return err->status;
    }
    *out = c;
    return SDC_OK;
}

void sdc_clip_text_free(sdc_clip_text *c) {
    if (!c) return;
    free(c->layer);
    sdc_wstore_free(&c->store);
    free(c);
}

static sdc_tensor *embed(sdc_ctx *c, const sdc_clip_text *m, const int32_t *ids, int64_t B, int64_t T) {
    int64_t D = m->cfg.width;
    if (T > m->cfg.max_pos) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "%lld tokens exceed the %lld positions of the text encoder", (long long)T, (long long)m->cfg.max_pos);
    sdc_tensor *x = sdc_new_3d(c, B, T, D);
    if (!x) return NULL;
    const float *pos = m->pos_emb->data;
    const char *tok = m->tok_emb->data;
    size_t row = (size_t)D * (size_t)sdc_dtype_block_bytes(m->tok_emb->dtype);
    float *out = x->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            int32_t id = ids[b * T + t];
            if (id < 0 || id >= m->cfg.vocab) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "token id %d outside the vocabulary", id);
            float *o = out + (b * T + t) * D;
            sdc_convert_to_f32(m->tok_emb->dtype, tok + (size_t)id * row, o, (size_t)D);
            for (int64_t d = 0; d < D; d++) o[d] += pos[t * D + d];
        }
    return x;
}

static sdc_tensor *layer_forward(sdc_ctx *c, const sdc_clip_text_config *cfg, const sdc_clip_layer *L, sdc_tensor *x) {
    int64_t D = cfg->width;
    sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
    /* the layer's output replaces x in place, so temporaries can be released */
    sdc_tensor *h = sdc_op_layer_norm(c, x, L->ln1_w, L->ln1_b, cfg->eps);
    sdc_tensor *qkv = sdc_op_linear(c, h, L->qkv_w, L->qkv_b); /* [B, T, 3D] */
    if (!qkv) return NULL;
    sdc_tensor q = sdc_tensor_slice(qkv, 2, 0, D), k = sdc_tensor_slice(qkv, 2, D, D), v = sdc_tensor_slice(qkv, 2, 2 * D, D);
    sdc_tensor *a = sdc_op_attention(c, &q, &k, &v, (int)cfg->heads, 1);
    sdc_tensor *x2 = sdc_op_linear_res(c, a, L->out_w, L->out_b, x);
    h = sdc_op_layer_norm(c, x2, L->ln2_w, L->ln2_b, cfg->eps);
    h = sdc_op_act_(c, cfg->act, sdc_op_linear(c, h, L->fc1_w, L->fc1_b));
    sdc_tensor *y = sdc_op_linear_res(c, h, L->fc2_w, L->fc2_b, x2);
    if (!y) return NULL;
    memcpy(x->data, y->data, (size_t)sdc_tensor_numel(x) * 4);
    sdc_arena_release(&c->arena, mark);
    return x;
}

sdc_tensor *sdc_clip_text_forward(sdc_ctx *c, const sdc_clip_text *m, const int32_t *ids, int64_t B, int64_t T,
                                  int64_t layers_used, int final_ln) {
    if (!sdc_ctx_ok(c)) return NULL;
    if (layers_used < 1 || layers_used > m->cfg.layers)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "clip skip leaves %lld of %lld layers", (long long)layers_used,
                            (long long)m->cfg.layers);
    sdc_tensor *x = embed(c, m, ids, B, T);
    sdc_ctx_dump(c, x, "clip.embeddings");
    for (int64_t i = 0; i < layers_used && x; i++) {
        x = layer_forward(c, &m->cfg, &m->layer[i], x);
        sdc_ctx_dump(c, x, "clip.layer.%d", (int)i);
    }
    if (final_ln) x = sdc_op_layer_norm(c, x, m->final_ln_w, m->final_ln_b, m->cfg.eps);
    return x;
}
