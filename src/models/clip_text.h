/* CLIP text transformer (the conditioning encoder of SD 1.x / 2.x).
 *
 * Configured from the weights: width, layers, MLP size, vocabulary and
 * context length come from tensor shapes. Two checkpoint layouts:
 *  - HF / OpenAI CLIP-L (SD 1.x): prefix "cond_stage_model.transformer.
 *    text_model.", separate q/k/v projections, quick-GELU;
 *  - OpenCLIP ViT-H (SD 2.x): prefix "cond_stage_model.model.", fused
 *    in_proj, GELU.
 * q/k/v are fused into one projection at load either way. What the weights
 * cannot tell (head count, activation) comes from the layout's convention
 * or the config beside the model (sdc_clip_text_opts).
 *
 * Not here: tokenization and prompt weighting (src/text/). */
#ifndef SDC_MODELS_CLIP_TEXT_H
#define SDC_MODELS_CLIP_TEXT_H

#include "formats/model_files.h"
#include "models/wload.h"
#include "tensor/ops.h"

typedef enum sdc_clip_layout { SDC_CLIP_LAYOUT_HF = 0, SDC_CLIP_LAYOUT_OPENCLIP = 1 } sdc_clip_layout;

typedef struct sdc_clip_text_config {
    sdc_clip_layout layout;
    int64_t vocab, width, layers, heads, ff, max_pos;
    sdc_act act;
    float eps;
    int32_t pad_id; /* padding token: 49407 (end) for SD 1.x, 0 for OpenCLIP */
} sdc_clip_text_config;

/* Overrides for what weights cannot tell; 0 / -1 = use the convention. */
typedef struct sdc_clip_text_opts {
    sdc_dtype mat_dtype; /* f32 / f16 / bf16 for matrices */
    int64_t heads;       /* 0: width/64 (real models), see clip_text.c */
    int act;             /* -1: by layout; else an sdc_act */
    const sdc_wpatch *patch; /* NULL, or changes merged at load (LoRA) */
} sdc_clip_text_opts;

typedef struct sdc_clip_layer {
    sdc_tensor *ln1_w, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b;
    sdc_tensor *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} sdc_clip_layer;

typedef struct sdc_clip_text {
    sdc_clip_text_config cfg;
    sdc_tensor *tok_emb; /* [vocab, width] in the stored dtype (f32 / f16 / bf16) */
    sdc_tensor *pos_emb; /* [max_pos, width] f32 */
    sdc_clip_layer *layer;
    sdc_tensor *final_ln_w, *final_ln_b;
    sdc_wstore store;
    int64_t n_params;
} sdc_clip_text;

/* Is a CLIP text model present, and under which layout? Returns 0 if none. */
int sdc_clip_text_detect(const sdc_model_files *m, sdc_clip_layout *layout);

/* The model may point into m's mapped data: keep m open while it lives. */
sdc_status sdc_clip_text_load(const sdc_model_files *m, const sdc_clip_text_opts *opts, sdc_clip_text **out,
                              sdc_error *err);
void sdc_clip_text_free(sdc_clip_text *c);

/* Encodes B sequences of T token ids (ids[b*T + t]; T <= max_pos).
 * Runs the first `layers_used` layers (cfg.layers for the last layer; one
 * less for "clip skip 2" / SD 2.x penultimate) and applies the final layer
 * norm when final_ln. Returns [B, T, width]. */
sdc_tensor *sdc_clip_text_forward(sdc_ctx *c, const sdc_clip_text *m, const int32_t *ids, int64_t B, int64_t T,
                                  int64_t layers_used, int final_ln);

#endif
