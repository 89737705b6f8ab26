/* Model detection from names and shapes (see detect.h). */
#include "formats/detect.h"

#include "formats/model_config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mapfile.h"
#include "base/util.h"

#define NAME_LEN 512

static const sdc_weight_info *findf(const sdc_model_files *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const sdc_weight_info *findf(const sdc_model_files *m, const char *fmt, ...) {
    char name[NAME_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return n > 0 && (size_t)n < sizeof name ? sdc_model_files_find(m, name) : NULL;
}

static int64_t dim(const sdc_weight_info *w, int d) { return w && d < w->ndim ? w->shape[d] : 0; }

/* How many consecutive i = 0, 1, ... have a tensor P<a>i<b>. */
static int count_indexed(const sdc_model_files *m, const char *p, const char *a, const char *b) {
    int i = 0;
    while (i < 1000 && findf(m, "%s%s%d%s", p, a, i, b)) i++;
    return i;
}

/* ---- U-Net (ldm layout) ---- */

static void unet_level_attention(const sdc_model_files *m, sdc_unet_hparams *u, int block, int level) {
    char blk[64];
    snprintf(blk, sizeof blk, "input_blocks.%d.1.transformer_blocks.", block);
    int depth = count_indexed(m, u->prefix, blk, ".attn1.to_q.weight");
    if (level < SDC_DETECT_MAX_LEVELS && depth > u->transformer_depth[level]) u->transformer_depth[level] = depth;
    if (!depth) return;
    const sdc_weight_info *pin = findf(m, "%sinput_blocks.%d.1.proj_in.weight", u->prefix, block);
    if (pin) u->linear_proj = pin->ndim == 2;
    if (!u->context_dim) u->context_dim = dim(findf(m, "%sinput_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", u->prefix, block), 1);
}

static void detect_unet(const sdc_model_files *m, const char *P, sdc_unet_hparams *u) {
    const sdc_weight_info *ci = findf(m, "%sinput_blocks.0.0.weight", P);
    if (!ci || ci->ndim != 4 || ci->shape[0] <= 0) return;
    u->present = 1;
    u->prefix = P;
    u->model_channels = ci->shape[0];
    u->in_channels = ci->shape[1];
    u->out_channels = dim(findf(m, "%sout.2.weight", P), 0);
    int level = 0, res = 0;
    for (int b = 1; b < 256; b++) {
        if (findf(m, "%sinput_blocks.%d.0.op.weight", P, b)) {
            if (level == 0) u->num_res_blocks = res;
            level++;
            res = 0;
            continue;
        }
        const sdc_weight_info *c = findf(m, "%sinput_blocks.%d.0.out_layers.3.weight", P, b);
        if (!c) break;
        res++;
        if (level < SDC_DETECT_MAX_LEVELS) u->channel_mult[level] = c->shape[0] / u->model_channels;
        unet_level_attention(m, u, b, level);
    }
    if (level == 0) u->num_res_blocks = res;
    u->n_levels = SDC_MIN(level + 1, SDC_DETECT_MAX_LEVELS);
    u->mid_transformer_depth = count_indexed(m, P, "middle_block.1.transformer_blocks.", ".attn1.to_q.weight");
    if (!u->context_dim) u->context_dim = dim(findf(m, "%smiddle_block.1.transformer_blocks.0.attn2.to_k.weight", P), 1);
    u->adm_in_channels = dim(findf(m, "%slabel_emb.0.0.weight", P), 1);
}

/* ---- text encoders ---- */

static int detect_hf_text(const sdc_model_files *m, const char *P, sdc_text_hparams *t) {
    const sdc_weight_info *tok = findf(m, "%stext_model.embeddings.token_embedding.weight", P);
    if (!tok || tok->ndim != 2) return 0;
    t->present = 1;
    t->prefix = P;
    t->vocab = tok->shape[0];
    t->width = tok->shape[1];
    t->positions = dim(findf(m, "%stext_model.embeddings.position_embedding.weight", P), 0);
    t->layers = count_indexed(m, P, "text_model.encoder.layers.", ".self_attn.q_proj.weight");
    t->mlp_width = dim(findf(m, "%stext_model.encoder.layers.0.mlp.fc1.weight", P), 0);
    t->projection_dim = dim(findf(m, "%stext_projection.weight", P), 0);
    return 1;
}

static int detect_openclip(const sdc_model_files *m, const char *P, sdc_text_hparams *t) {
    const sdc_weight_info *tok = findf(m, "%stoken_embedding.weight", P);
    if (!tok || tok->ndim != 2) return 0;
    t->present = 1;
    t->prefix = P;
    t->openclip = 1;
    t->vocab = tok->shape[0];
    t->width = tok->shape[1];
    t->positions = dim(findf(m, "%spositional_embedding", P), 0);
    t->layers = count_indexed(m, P, "transformer.resblocks.", ".attn.in_proj_weight");
    t->mlp_width = dim(findf(m, "%stransformer.resblocks.0.mlp.c_fc.weight", P), 0);
    t->projection_dim = dim(findf(m, "%stext_projection", P), 1);
    return 1;
}

static void detect_text(const sdc_model_files *m, sdc_model_kind *k) {
    static const struct {
        const char *prefix;
        int openclip;
    } cands[] = {
        {"cond_stage_model.transformer.", 0}, {"conditioner.embedders.0.transformer.", 0},
        {"cond_stage_model.model.", 1},       {"conditioner.embedders.0.model.", 1},
        {"conditioner.embedders.1.model.", 1},
    };
    int n = 0;
    for (size_t i = 0; i < SDC_ARRAY_LEN(cands) && n < 2; i++) {
        int found = cands[i].openclip ? detect_openclip(m, cands[i].prefix, &k->text[n])
                                      : detect_hf_text(m, cands[i].prefix, &k->text[n]);
        if (!found) continue;
        k->components |= cands[i].openclip ? SDC_COMP_OPENCLIP : SDC_COMP_CLIP_L;
        n++;
    }
}

/* ---- VAE ---- */

static int detect_vae(const sdc_model_files *m, const char *P, sdc_vae_hparams *v, unsigned *comps) {
    const sdc_weight_info *ein = findf(m, "%sencoder.conv_in.weight", P), *din = findf(m, "%sdecoder.conv_in.weight", P);
    const sdc_weight_info *dout = findf(m, "%sdecoder.conv_out.weight", P);
    if ((!ein || ein->ndim != 4) && (!din || !dout || din->ndim != 4 || dout->ndim != 4)) return 0;
    if (!findf(m, "%sencoder.down.0.block.0.conv1.weight", P) && !findf(m, "%sdecoder.up.0.block.0.conv1.weight", P))
        return 0; /* not the KL autoencoder layout */
    v->present = 1;
    v->prefix = P;
    int enc = ein != NULL;
    v->ch = enc ? ein->shape[0] : dout->shape[1];
    v->n_levels = enc ? count_indexed(m, P, "encoder.down.", ".block.0.conv1.weight")
                      : count_indexed(m, P, "decoder.up.", ".block.0.conv1.weight");
    v->n_levels = SDC_MIN(v->n_levels, SDC_DETECT_MAX_LEVELS);
    for (int i = 0; i < v->n_levels && v->ch > 0; i++)
        v->ch_mult[i] = (enc ? dim(findf(m, "%sencoder.down.%d.block.0.conv2.weight", P, i), 0)
                             : dim(findf(m, "%sdecoder.up.%d.block.0.conv2.weight", P, i), 0)) / v->ch;
    v->num_res_blocks = enc ? count_indexed(m, P, "encoder.down.0.block.", ".conv1.weight")
                            : count_indexed(m, P, "decoder.up.0.block.", ".conv1.weight") - 1;
    v->z_channels = din ? dim(din, 1) : dim(findf(m, "%sencoder.conv_out.weight", P), 0) / 2;
    const sdc_weight_info *pq = findf(m, "%spost_quant_conv.weight", P), *q = findf(m, "%squant_conv.weight", P);
    v->embed_dim = pq ? dim(pq, 0) : dim(q, 0) / 2;
    if (enc) *comps |= SDC_COMP_VAE_ENCODER;
    if (din) *comps |= SDC_COMP_VAE_DECODER;
    return 1;
}

/* ---- name scan: LoRA, ControlNet, TAESD, embedding markers ---- */

typedef struct {
    size_t lora_down, peft_a, diffusers_lora, hada, lokr, full_diff, ia3, kohya, conv4;
    int64_t rank;
    const char *hint_prefix_end;    /* name holding "input_hint_block." */
    size_t hint_prefix_len;
    int diffusers_control, control_lora;
    int64_t lora_te_width, lora_te2, lora_context;
} name_scan;

static int ends(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static void scan_lora_name(name_scan *s, const char *name, const sdc_weight_info *w) {
    if (strncmp(name, "lora_unet_", 10) == 0 || strncmp(name, "lora_te", 7) == 0) s->kohya++;
    if (ends(name, ".lora_down.weight")) {
        s->lora_down++;
        s->rank = SDC_MAX(s->rank, dim(w, 0));
    }
    if (ends(name, ".lora_A.weight")) {
        s->peft_a++;
        s->rank = SDC_MAX(s->rank, dim(w, 0));
    }
    if (ends(name, ".lora.down.weight") || ends(name, "_lora.down.weight")) {
        s->diffusers_lora++;
        s->rank = SDC_MAX(s->rank, dim(w, 0));
    }
    if (ends(name, ".hada_w1_a")) s->hada++, s->rank = SDC_MAX(s->rank, dim(w, 1));
    if (ends(name, ".lokr_w1") || ends(name, ".lokr_w1_a")) s->lokr++;
    if (ends(name, ".diff") && strncmp(name, "lora_", 5) == 0) s->full_diff++;
    if (ends(name, ".on_input")) s->ia3++;
    /* what the LoRA was trained on: text width and the U-Net's cross-attention width */
    int down = ends(name, ".lora_down.weight") || ends(name, ".lora_A.weight") || ends(name, ".lora.down.weight");
    if (down && (strstr(name, "lora_te1_") || strstr(name, "lora_te_")) && strstr(name, "self_attn_q_proj"))
        s->lora_te_width = dim(w, 1);
    if (down && strstr(name, "lora_te2_")) s->lora_te2 = 1;
    if (down && (strstr(name, "attn2_to_k") || strstr(name, "attn2.to_k") || strstr(name, "attn2.processor.to_k")))
        s->lora_context = SDC_MAX(s->lora_context, dim(w, 1));
}

static void scan_names(const sdc_model_files *m, name_scan *s) {
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sdc_model_files_count(m); i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m, i, &name);
        scan_lora_name(s, name, w);
        if (ends(name, ".conv.4.weight")) s->conv4++;
        const char *h = strstr(name, "input_hint_block.");
        if (h && !s->hint_prefix_end) {
            s->hint_prefix_end = name;
            s->hint_prefix_len = (size_t)(h - name);
        }
        if (strncmp(name, "controlnet_cond_embedding.", 26) == 0 || strstr(name, ".controlnet_cond_embedding.")) s->diffusers_control = 1;
        if (strcmp(name, "lora_controlnet") == 0) s->control_lora = 1;
    }
}

static sdc_detect_family family_from_context(int64_t ctx, int64_t adm) {
    if (adm > 0 || ctx == 2048 || ctx == 1280) return ctx == 1280 || adm == 2560 ? SDC_DETECT_SDXL_REFINER : SDC_DETECT_SDXL;
    return ctx == 768 ? SDC_DETECT_SD1 : ctx == 1024 ? SDC_DETECT_SD2 : SDC_DETECT_FAMILY_UNKNOWN;
}

static void classify_lora(const name_scan *s, sdc_model_kind *k) {
    k->type = SDC_MODEL_LORA;
    k->lora_rank = s->rank;
    k->lora_modules = s->lora_down + s->peft_a + s->diffusers_lora + s->hada + s->lokr + s->full_diff + s->ia3;
    const char *sub = s->hada ? "lycoris-loha" : s->lokr ? "lycoris-lokr" : s->full_diff ? "lycoris-full"
                    : s->ia3 ? "lycoris-ia3" : s->kohya ? "kohya" : s->peft_a ? "peft" : "diffusers";
    snprintf(k->subtype, sizeof k->subtype, "%s", sub);
    if (s->lora_te2) k->family = SDC_DETECT_SDXL;
    else if (s->lora_context) k->family = family_from_context(s->lora_context, 0);
    else if (s->lora_te_width) k->family = s->lora_te_width == 768 ? SDC_DETECT_SD1 : s->lora_te_width == 1024 ? SDC_DETECT_SD2 : SDC_DETECT_FAMILY_UNKNOWN;
}

static int is_lora(const name_scan *s) {
    return s->lora_down || s->peft_a || s->diffusers_lora || s->hada || s->lokr || s->full_diff || s->ia3;
}

static void classify_controlnet(const sdc_model_files *m, const name_scan *s, sdc_model_kind *k) {
    k->type = SDC_MODEL_CONTROLNET;
    k->components |= SDC_COMP_CONTROL;
    static const char *prefixes[] = {"control_model.", ""};
    for (size_t i = 0; i < SDC_ARRAY_LEN(prefixes) && !k->unet.present; i++)
        if (s->hint_prefix_end && s->hint_prefix_len == strlen(prefixes[i]) &&
            strncmp(s->hint_prefix_end, prefixes[i], s->hint_prefix_len) == 0)
            detect_unet(m, prefixes[i], &k->unet);
    int64_t ctx = k->unet.context_dim;
    if (s->diffusers_control) {
        for (int b = 0; b < 4 && !ctx; b++) ctx = dim(findf(m, "down_blocks.%d.attentions.0.transformer_blocks.0.attn2.to_k.weight", b), 1);
        k->unet.in_channels = dim(findf(m, "conv_in.weight"), 1);
    }
    snprintf(k->subtype, sizeof k->subtype, "%s", s->control_lora ? "control-lora" : s->diffusers_control ? "diffusers" : "ldm");
    k->family = family_from_context(ctx, k->unet.adm_in_channels);
    if (s->control_lora && !ctx) k->family = SDC_DETECT_FAMILY_UNKNOWN;
}

/* TAESD: stacks of Block(conv, relu, conv, relu, conv) -> "N.conv.4.weight". */
static int classify_taesd(const sdc_model_files *m, const name_scan *s, sdc_model_kind *k) {
    if (s->conv4 == 0) return 0;
    k->type = SDC_MODEL_TAESD;
    int enc = 0, dec = 0;
    /* the convs outside the blocks: encoder in [64, 3], encoder out [latent, 64],
     * decoder in [64, latent], decoder out [3, 64] */
    for (size_t i = 0; i < sdc_model_files_count(m); i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m, i, &name);
        if (w->ndim != 4 || strstr(name, ".conv.")) continue;
        int64_t o = w->shape[0], in = w->shape[1];
        if (o == 64 && in == 3) {
            enc = 1;
        } else if (o == 64 && in <= 16) {
            dec = 1;
            k->taesd_latent_channels = in;
        } else if (in == 64 && o <= 16 && o != 3) {
            k->taesd_latent_channels = o;
        }
    }
    snprintf(k->subtype, sizeof k->subtype, "%s", enc && dec ? "encoder+decoder" : enc ? "encoder" : "decoder");
    if (enc) k->components |= SDC_COMP_VAE_ENCODER;
    if (dec) k->components |= SDC_COMP_VAE_DECODER;
    return 1;
}

static int classify_embedding(const sdc_model_files *m, sdc_model_kind *k) {
    const sdc_weight_info *w = sdc_model_files_find(m, "string_to_param.*");
    const char *sub = "a1111";
    if (!w && (w = sdc_model_files_find(m, "emb_params"))) sub = "a1111-safetensors";
    const sdc_weight_info *g = sdc_model_files_find(m, "clip_g");
    if (!w && g && (w = sdc_model_files_find(m, "clip_l"))) sub = "sdxl";
    if (!w && sdc_model_files_count(m) == 1) {
        const sdc_weight_info *only = sdc_model_files_at(m, 0, NULL);
        int64_t d = only->ndim ? only->shape[only->ndim - 1] : 0;
        if (only->ndim <= 2 && (d == 768 || d == 1024 || d == 1280)) w = only, sub = "diffusers";
    }
    if (!w || w->ndim < 1 || w->ndim > 2) return 0;
    k->type = SDC_MODEL_EMBEDDING;
    snprintf(k->subtype, sizeof k->subtype, "%s", sub);
    k->embedding_vectors = w->ndim == 2 ? w->shape[0] : 1;
    k->embedding_dim = w->shape[w->ndim - 1];
    if (strcmp(sub, "sdxl") == 0) k->family = SDC_DETECT_SDXL;
    else k->family = k->embedding_dim == 768 ? SDC_DETECT_SD1 : k->embedding_dim == 1024 ? SDC_DETECT_SD2 : SDC_DETECT_FAMILY_UNKNOWN;
    return 1;
}

/* ---- configs beside the weights ---- */

/* ---- putting it together ---- */

/* A checkpoint's family: its text encoders say it best (the U-Net's
 * context width is the fallback, e.g. for U-Net-only files). */
static sdc_detect_family checkpoint_family(const sdc_model_kind *k) {
    const sdc_text_hparams *t = &k->text[0];
    int64_t ctx = k->unet.context_dim, adm = k->unet.adm_in_channels;
    int conditioner = t->present && strncmp(t->prefix, "conditioner.", 12) == 0;
    if (adm > 0 || conditioner) {
        int refiner = adm == 2560 || ctx == 1280 || (conditioner && !k->text[1].present && t->openclip);
        return refiner ? SDC_DETECT_SDXL_REFINER : SDC_DETECT_SDXL;
    }
    if (t->present && !t->openclip) return SDC_DETECT_SD1;
    if (t->present && t->openclip) return SDC_DETECT_SD2;
    return family_from_context(ctx, adm);
}

static void classify_weights(const sdc_model_files *m, const name_scan *s, sdc_model_kind *k) {
    if (s->hint_prefix_end || s->diffusers_control) {
        classify_controlnet(m, s, k);
        return;
    }
    if (is_lora(s)) {
        classify_lora(s, k);
        return;
    }
    detect_unet(m, "model.diffusion_model.", &k->unet);
    if (k->unet.present) {
        k->type = SDC_MODEL_CHECKPOINT;
        k->components |= SDC_COMP_UNET;
        k->family = checkpoint_family(k);
        k->inpaint = k->unet.in_channels == 9;
    } else if (k->vae.present) {
        k->type = SDC_MODEL_VAE;
    } else if (classify_taesd(m, s, k)) {
        /* done */
    } else if (k->text[0].present) {
        k->type = SDC_MODEL_TEXT_ENCODER;
        int64_t w = k->text[0].width;
        k->family = k->text[1].present ? SDC_DETECT_SDXL : w == 768 ? SDC_DETECT_SD1 : w == 1024 ? SDC_DETECT_SD2 : SDC_DETECT_FAMILY_UNKNOWN;
    } else {
        classify_embedding(m, k);
    }
}

static void prediction_markers(const sdc_model_files *m, sdc_model_kind *k) {
    const char *spec = sdc_model_files_meta(m, "modelspec.prediction_type");
    if (!k->prediction && spec) {
        k->prediction = spec[0] == 'v' ? SDC_DETECT_PRED_V : strncmp(spec, "eps", 3) == 0 ? SDC_DETECT_PRED_EPSILON : SDC_DETECT_PRED_UNKNOWN;
        if (k->prediction) k->prediction_source = "modelspec metadata";
    }
    if (!k->prediction && sdc_model_files_find(m, "v_pred")) {
        k->prediction = SDC_DETECT_PRED_V;
        k->prediction_source = "v_pred marker tensor";
    }
    if (!k->prediction && (k->family == SDC_DETECT_SD1 || k->family == SDC_DETECT_SDXL || k->family == SDC_DETECT_SDXL_REFINER)) {
        k->prediction = SDC_DETECT_PRED_EPSILON;
        k->prediction_source = "family convention";
    }
}

static void heads_convention(sdc_model_kind *k) {
    if (!k->unet.present || k->unet.heads_source) return;
    if (k->family == SDC_DETECT_SD1) k->unet.num_heads = 8;
    else if (k->family != SDC_DETECT_FAMILY_UNKNOWN) k->unet.head_dim = 64;
    else return;
    k->unet.heads_source = "family convention";
}

/* Configs: a diffusers folder's JSON, or the .yaml with the file's base
 * name (read by model_config.c, shared with the pipeline). */
static sdc_status read_configs(const sdc_model_files *m, sdc_model_kind *k, sdc_error *err) {
    sdc_model_config c;
    sdc_model_config_init(&c);
    sdc_status st = sdc_model_config_read(m->path, &c, err);
    if (st) return st;
    const char *source = strstr(c.source, ".yaml") ? "yaml" : "config.json";
    if (c.v_prediction >= 0) {
        k->prediction = c.v_prediction ? SDC_DETECT_PRED_V : SDC_DETECT_PRED_EPSILON;
        k->prediction_source = strstr(c.source, ".yaml") ? "yaml" : "scheduler_config.json";
    }
    if (c.unet_num_heads > 0) k->unet.num_heads = c.unet_num_heads, k->unet.heads_source = source;
    else if (c.unet_head_dim > 0) k->unet.head_dim = c.unet_head_dim, k->unet.heads_source = source;
    return SDC_OK;
}

sdc_status sdc_detect(const sdc_model_files *m, sdc_model_kind *k, sdc_error *err) {
    memset(k, 0, sizeof *k);
    name_scan s;
    scan_names(m, &s);
    detect_text(m, k);
    if (!detect_vae(m, "first_stage_model.", &k->vae, &k->components)) detect_vae(m, "", &k->vae, &k->components);
    classify_weights(m, &s, k);
    sdc_status st = SDC_OK;
    if (k->type == SDC_MODEL_CHECKPOINT) {
        st = read_configs(m, k, err);
        prediction_markers(m, k);
        heads_convention(k);
    }
    return st;
}

const char *sdc_detect_type_name(sdc_model_type t) {
    static const char *names[] = {"unknown", "checkpoint", "VAE", "TAESD", "ControlNet", "LoRA", "embedding", "text encoder"};
    return (unsigned)t < SDC_ARRAY_LEN(names) ? names[t] : "unknown";
}

const char *sdc_detect_family_name(sdc_detect_family f) {
    static const char *names[] = {"unknown", "SD 1.x", "SD 2.x", "SDXL", "SDXL refiner"};
    return (unsigned)f < SDC_ARRAY_LEN(names) ? names[f] : "unknown";
}

const char *sdc_detect_family_id(sdc_detect_family f) {
    static const char *names[] = {"unknown", "sd1", "sd2", "sdxl", "sdxl-refiner"};
    return (unsigned)f < SDC_ARRAY_LEN(names) ? names[f] : "unknown";
}

const char *sdc_detect_pred_name(sdc_detect_pred p) {
    return p == SDC_DETECT_PRED_EPSILON ? "epsilon" : p == SDC_DETECT_PRED_V ? "v" : "unknown";
}
