/* ControlNet for SD 1.x / 2.x U-Nets.
 *
 * A ControlNet is a copy of the U-Net's encoder half (time embedding,
 * input blocks, middle block) plus
 *  - a hint encoder: 3x3 convolutions with SiLU between them, three of them
 *    stride 2, taking the control image (RGB in [0, 1], image resolution)
 *    to the latent resolution with model_ch channels; its output is added
 *    after input block 0;
 *  - a zero (1x1) convolution on the output of every input block and one
 *    on the middle block's output: the residuals added to the U-Net's skip
 *    connections and middle output (sdc_unet_extra), scaled by a strength.
 *
 * Two checkpoint layouts: the original (ldm / cldm, "control_model."
 * prefix or bare: input_hint_block.{0,2,..,14}, zero_convs.N.0,
 * middle_block_out.0) and diffusers' ControlNetModel
 * (controlnet_cond_embedding.conv_in / blocks.N / conv_out,
 * controlnet_down_blocks.N, controlnet_mid_block, and the trunk under
 * diffusers U-Net names), mapped to the first when opened. The trunk runs
 * through sdc_unet_forward_encoder.
 *
 * Not here: "guess mode" / soft weights, shuffle's global pooling,
 * T2I-adapters, control-LoRAs, SDXL ControlNets (label_emb), image
 * preprocessing (canny etc., src/image/). Thread-safety: read-only after
 * load; one sdc_ctx per concurrent forward. */
#ifndef SDC_MODELS_CONTROLNET_H
#define SDC_MODELS_CONTROLNET_H

#include <stdbool.h>

#include "models/unet.h"

#define SDC_CONTROLNET_MAX_HINT 16

typedef struct sdc_controlnet_opts {
    sdc_dtype mat_dtype;
    int64_t num_heads, head_dim; /* as sdc_unet_opts; 0: by convention */
} sdc_controlnet_opts;

typedef struct sdc_controlnet {
    sdc_unet *trunk;
    int n_hint;          /* hint encoder convolutions */
    int64_t hint_ch;     /* input channels of the hint image (3) */
    sdc_tensor *hint_w[SDC_CONTROLNET_MAX_HINT], *hint_b[SDC_CONTROLNET_MAX_HINT];
    int hint_stride[SDC_CONTROLNET_MAX_HINT];
    sdc_tensor *zero_w[SDC_UNET_MAX_BLOCKS], *zero_b[SDC_UNET_MAX_BLOCKS];
    sdc_tensor *mid_w, *mid_b;
    sdc_wstore store;
    sdc_model_files *view;  /* canonical-name view of a diffusers layout (owned) */
    sdc_model_files *owned; /* files opened by sdc_controlnet_open */
    int downscale;          /* image pixels per latent pixel (8) */
} sdc_controlnet;

/* Loads from opened files; prefix NULL detects the layout ("control_model.",
 * bare ldm names, or diffusers). The model may point into the files' data:
 * keep them open while it lives. */
sdc_status sdc_controlnet_load(const sdc_model_files *files, const char *prefix, const sdc_controlnet_opts *opts,
                               sdc_controlnet **out, sdc_error *err);
/* Opens path (safetensors / ckpt) and loads it; the ControlNet owns the files. */
sdc_status sdc_controlnet_open(const char *path, const sdc_controlnet_opts *opts, sdc_controlnet **out,
                               sdc_error *err);
void sdc_controlnet_free(sdc_controlnet *cn);

/* Residuals of one or more ControlNets, summed, ready for the U-Net.
 * Tensors live in the sdc_ctx arena of the forward calls that made them. */
typedef struct sdc_control_residuals {
    sdc_tensor *skip[SDC_UNET_MAX_BLOCKS]; /* NHWC, one per input block */
    const sdc_tensor *skip_c[SDC_UNET_MAX_BLOCKS];
    int n_skip;
    sdc_tensor *mid;
    sdc_unet_extra extra; /* points into this struct: do not copy it around */
} sdc_control_residuals;

void sdc_control_residuals_init(sdc_control_residuals *r);

/* The hint encoder alone: hint [Bh, H, W, C] (NHWC) or [Bh, C, H, W]
 * (NCHW; recognised when shape[3] is not the hint channel count), values in
 * [0, 1]. Returns NHWC [Bh, H/8, W/8, model_ch]; the result does not depend
 * on the step, so a pipeline may compute it once per generation. */
sdc_tensor *sdc_controlnet_encode_hint(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *hint);

/* Runs the ControlNet for latents x [B, C, h, w] (NCHW, the U-Net's
 * input), timesteps t [B], context [B, T, D], the encoded hint
 * (batch 1 or B; batch 1 is repeated, e.g. for a cond/uncond batch) and
 * adds strength * residuals into acc (allocated on first use). Returns the
 * context's status. */
sdc_status sdc_controlnet_forward_encoded(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *x,
                                          const sdc_tensor *t, const sdc_tensor *context, const sdc_tensor *hint_emb,
                                          float strength, sdc_control_residuals *acc);
/* The same from the hint image (encode_hint + forward_encoded). */
sdc_status sdc_controlnet_forward(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *x, const sdc_tensor *t,
                                  const sdc_tensor *context, const sdc_tensor *hint, float strength,
                                  sdc_control_residuals *acc);

/* Is a unit with guidance range [start, end] (fractions of the steps)
 * active at step i of n (0-based)? diffusers' rule: i / n >= start and
 * (i + 1) / n <= end. */
bool sdc_control_active(int step, int n_steps, float start, float end);

/* One ControlNet application as the pipeline drives it. */
typedef struct sdc_control_unit {
    const sdc_controlnet *cn;
    const sdc_tensor *hint_emb; /* from sdc_controlnet_encode_hint */
    float strength, start, end;
} sdc_control_unit;

/* Runs every unit active at this step and sums their residuals into *r;
 * *extra is &r->extra, or NULL when no unit is active (then the U-Net runs
 * plain). */
sdc_status sdc_control_units_run(sdc_ctx *c, const sdc_control_unit *units, int n_units, int step, int n_steps,
                                 const sdc_tensor *x, const sdc_tensor *t, const sdc_tensor *context,
                                 sdc_control_residuals *r, const sdc_unet_extra **extra);

#endif
