/* KL-f8 autoencoder (ldm "AutoencoderKL", the SD 1.x / 2.x / XL VAE),
 * configured from the weights: channel counts per level, res blocks per
 * level and latent channels come from tensor shapes.
 *
 * Decoder: latent (already divided by the scaling factor) -> image in
 * [-1, 1] (unclamped). Encoder: image in [-1, 1] -> posterior mean and
 * log-variance (clamped to [-30, 20]); sampling is the caller's choice.
 * Works on any image size that is a multiple of 8. Large images can be
 * processed in tiles (vae_tiled.h). Not here: TAESD (taesd.h). */
#ifndef SDC_MODELS_VAE_H
#define SDC_MODELS_VAE_H

#include "formats/model_files.h"
#include "models/wload.h"
#include "tensor/ops.h"

#define SDC_VAE_MAX_LEVELS 8
#define SDC_VAE_MAX_RES 4

typedef struct sdc_vae_res {
    int64_t cin, cout;
    sdc_tensor *norm1_w, *norm1_b, *conv1_w, *conv1_b, *norm2_w, *norm2_b, *conv2_w, *conv2_b, *short_w, *short_b;
} sdc_vae_res;

typedef struct sdc_vae_attn {
    int64_t C;
    sdc_tensor *norm_w, *norm_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
} sdc_vae_attn;

typedef struct sdc_vae_level {
    int n_res;
    sdc_vae_res res[SDC_VAE_MAX_RES];
    sdc_tensor *sample_w, *sample_b; /* down- or up-sampling conv; NULL if none */
} sdc_vae_level;

typedef struct sdc_vae_half { /* encoder or decoder */
    int present;
    int n_levels;
    sdc_tensor *conv_in_w, *conv_in_b;
    sdc_vae_level level[SDC_VAE_MAX_LEVELS];
    sdc_vae_res mid1, mid2;
    sdc_vae_attn mid_attn;
    sdc_tensor *norm_out_w, *norm_out_b, *conv_out_w, *conv_out_b;
    sdc_tensor *quant_w, *quant_b; /* quant_conv (encoder) / post_quant_conv (decoder) */
} sdc_vae_half;

typedef struct sdc_vae {
    int64_t latent_ch;
    float scaling_factor; /* 0.18215 for SD 1.x / 2.x, 0.13025 for SDXL */
    sdc_vae_half enc, dec;
    sdc_wstore store;
    int64_t n_params;
} sdc_vae;

#define SDC_VAE_PREFIX "first_stage_model."

/* Loads whichever halves are present (a decoder is required). The model
 * may point into m's mapped data: keep m open while it lives.
 * scaling_factor <= 0 selects the default (0.18215). */
sdc_status sdc_vae_load(const sdc_model_files *m, const char *prefix, sdc_dtype mat_dtype, float scaling_factor,
                        sdc_vae **out, sdc_error *err);
void sdc_vae_free(sdc_vae *v);

/* z [B, latent_ch, h, w] (NCHW, unscaled: latent / scaling_factor) ->
 * image [B, 3, 8h, 8w] NCHW in about [-1, 1]. */
sdc_tensor *sdc_vae_decode(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z);
/* image [B, 3, H, W] NCHW in [-1, 1] -> moments [B, 2*latent_ch, H/8, W/8]
 * (mean, then log-variance clamped to [-30, 20]). */
sdc_tensor *sdc_vae_encode(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image);

#endif
