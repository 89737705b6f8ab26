/* The denoising U-Net of SD 1.x / 2.x (ldm "UNetModel"), configured from
 * the weights.
 *
 * The block structure is read from the checkpoint's key names: which
 * input / middle / output blocks hold a ResBlock, a spatial transformer, a
 * down- or up-sampler, their channel counts, transformer depth, linear vs
 * 1x1-conv projections and input channels (9 for inpainting models). What
 * the weights cannot tell — the attention head count — comes from the
 * options (a config beside the model), else from the family convention
 * (context 768: 8 heads; 1024 / 2048: 64-wide heads).
 *
 * Any latent size works (multiples of 8 px in the image): a stride-2
 * convolution rounds odd sizes up, and each upsampler targets the size of
 * the skip connection it joins. Batch of any size (CFG runs cond and
 * uncond together).
 *
 * Not here: SDXL's extra conditioning (label_emb) — planned. */
#ifndef SDC_MODELS_UNET_H
#define SDC_MODELS_UNET_H

#include "formats/model_files.h"
#include "models/wload.h"
#include "tensor/ops.h"

#define SDC_UNET_MAX_BLOCKS 32

typedef struct sdc_unet_opts {
    sdc_dtype mat_dtype;
    int64_t num_heads; /* > 0: fixed head count (SD 1.x: 8) */
    int64_t head_dim;  /* > 0: fixed head width (SD 2.x: 64) */
    const sdc_wpatch *patch; /* NULL, or changes merged at load (LoRA) */
    const sdc_wpack *pack;   /* NULL, or pack matrices at load for the table / mode that will run it */
} sdc_unet_opts;

typedef struct sdc_resblock {
    int64_t cin, cout;
    sdc_tensor *norm1_w, *norm1_b, *conv1_w, *conv1_b, *emb_w, *emb_b;
    sdc_tensor *norm2_w, *norm2_b, *conv2_w, *conv2_b, *skip_w, *skip_b; /* skip: NULL when cin == cout */
} sdc_resblock;

typedef struct sdc_tblock {
    sdc_tensor *norm1_w, *norm1_b, *qkv_w, *o1_w, *o1_b;
    sdc_tensor *norm2_w, *norm2_b, *q2_w, *kv2_w, *o2_w, *o2_b;
    sdc_tensor *norm3_w, *norm3_b, *ff1_w, *ff1_b, *ff2_w, *ff2_b;
} sdc_tblock;

typedef struct sdc_transformer {
    int64_t C, heads, depth;
    sdc_tensor *norm_w, *norm_b, *proj_in_w, *proj_in_b, *proj_out_w, *proj_out_b;
    sdc_tblock *blocks;
} sdc_transformer;

typedef enum sdc_unet_layer_kind { SDC_UL_RES, SDC_UL_ATTN, SDC_UL_DOWN, SDC_UL_UP, SDC_UL_CONV_IN } sdc_unet_layer_kind;

typedef struct sdc_unet_layer {
    sdc_unet_layer_kind kind;
    sdc_resblock res;
    sdc_transformer attn;
    sdc_tensor *conv_w, *conv_b; /* DOWN / UP / CONV_IN */
} sdc_unet_layer;

typedef struct sdc_unet_block {
    int n;
    sdc_unet_layer layer[3];
} sdc_unet_block;

typedef struct sdc_unet_config {
    int64_t in_ch, out_ch, model_ch, emb_dim, context_dim;
    int n_input, n_output; /* block counts */
    int64_t num_heads, head_dim; /* as resolved (one of them is 0) */
} sdc_unet_config;

typedef struct sdc_unet {
    sdc_unet_config cfg;
    sdc_tensor *time1_w, *time1_b, *time2_w, *time2_b;
    sdc_unet_block input[SDC_UNET_MAX_BLOCKS], middle, output[SDC_UNET_MAX_BLOCKS];
    sdc_tensor *out_norm_w, *out_norm_b, *out_conv_w, *out_conv_b;
    sdc_wstore store;
    int64_t n_params;
} sdc_unet;

#define SDC_UNET_PREFIX "model.diffusion_model."

/* The model may point into m's mapped data: keep m open while it lives. */
sdc_status sdc_unet_load(const sdc_model_files *m, const char *prefix, const sdc_unet_opts *opts, sdc_unet **out,
                         sdc_error *err);
void sdc_unet_free(sdc_unet *u);

/* Extra inputs: ControlNet residuals (NHWC, one per input block, added to
 * the skips, and one for the middle block output), scaled by the caller. */
typedef struct sdc_unet_extra {
    const sdc_tensor *const *skip_add; /* [n_input] entries, each may be NULL */
    int n_skip_add;
    const sdc_tensor *mid_add;
} sdc_unet_extra;

/* eps / v prediction for latents x [B, in_ch, h, w] (NCHW), timesteps t [B]
 * (float; fractional allowed), context [B, T, context_dim]; extra may be
 * NULL. Returns [B, out_ch, h, w] NCHW. */
sdc_tensor *sdc_unet_forward(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *x, const sdc_tensor *t,
                             const sdc_tensor *context, const sdc_unet_extra *extra);

/* The encoder half (a ControlNet's trunk): input blocks and middle block.
 * hint_add (NHWC [B, h, w, model_ch], or NULL) is added after input block
 * 0; skips receives each input block's output (n_input entries, NHWC).
 * Returns the middle block's output (NHWC). Works for models without
 * output blocks. */
sdc_tensor *sdc_unet_forward_encoder(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *x, const sdc_tensor *t,
                                     const sdc_tensor *context, const sdc_tensor *hint_add, sdc_tensor **skips);
/* silu(time_embed(timestep_embedding(t))) [B, emb_dim]: what every
 * ResBlock consumes. */
sdc_tensor *sdc_unet_time_embedding(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *t);

#endif
