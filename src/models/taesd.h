/* TAESD, the tiny autoencoder with the SD VAE's latent interface
 * (madebyollin/taesd; diffusers AutoencoderTiny), configured from the
 * weights: the module list, channel counts, block counts and the spatial
 * factor all come from the key names and tensor shapes.
 *
 * TAESD is a plain nn.Sequential of 3x3 convs, ReLUs, 2x nearest upsamples
 * and residual Blocks (conv-relu-conv-relu-conv + identity or 1x1 skip, then
 * ReLU; optionally a GroupNorm "pool" branch in front, as in TAEF2). Its
 * images are in [0, 1] and its latents are the SD VAE's *scaled* latents
 * (what the pipeline holds, latent scale 1). This module speaks the
 * pipeline's conventions instead:
 *
 *   decode: latent NCHW [B, lc, h, w] (scaled SD latent, as the sampler
 *           holds it) -> image NCHW [B, 3, 8h, 8w] = 2 * taesd(latent) - 1,
 *           about [-1, 1], unclamped: a drop-in for sdc_vae_decode(latent /
 *           scaling_factor) (the VAE wants unscaled latents, TAESD does not).
 *   encode: image NCHW [B, 3, H, W] in [-1, 1] -> latent NCHW [B, lc, H/8,
 *           W/8] = taesd_encoder((image + 1) / 2), already scaled: use it
 *           where the pipeline would use vae_mean * scaling_factor. There is
 *           no posterior: TAESD's encoder is deterministic.
 *
 * Layouts read (docs/AUTOENCODERS.md): TAESD's own state dicts
 * (taesd_decoder.pth / taesd_encoder.pth or their .safetensors copies, keys
 * "1.weight", "3.conv.0.weight", ...; ComfyUI's "taesd_decoder." /
 * "taesd_encoder." prefixes), and diffusers AutoencoderTiny
 * ("decoder.layers.N...", "encoder.layers.N...", where the decoder's
 * indices are one lower because diffusers applies the tanh clamp outside
 * its Sequential).
 *
 * Dump names (sdc_ctx_dump): "taesd.decoder.N" / "taesd.encoder.N", N being
 * the module's index in TAESD's own Sequential, after every conv and at the
 * end of each Block stack (before a resolution change), in TAESD's own
 * value range ([0, 1] images). Not here: the KL VAE (vae.h), tiling
 * (vae_tiled.h). */
#ifndef SDC_MODELS_TAESD_H
#define SDC_MODELS_TAESD_H

#include "formats/model_files.h"
#include "models/wload.h"
#include "tensor/ops.h"

#define SDC_TAESD_MAX_LAYERS 128

typedef enum sdc_taesd_kind {
    SDC_TAESD_CLAMP, /* x = 3 tanh(x / 3) (TAESD's "Clamp") */
    SDC_TAESD_CONV,  /* k x k conv, padding k/2, stride 1 or 2 */
    SDC_TAESD_RELU,
    SDC_TAESD_UP,    /* 2x nearest upsample */
    SDC_TAESD_BLOCK
} sdc_taesd_kind;

typedef struct sdc_taesd_layer {
    sdc_taesd_kind kind;
    int index;             /* position in TAESD's own nn.Sequential (dump names) */
    int64_t cin, cout;     /* channels in / out (CONV, BLOCK) */
    int stride, pad;       /* CONV */
    sdc_tensor *w, *b;     /* CONV: w [cout, k, k, cin] (prepared), b [cout] or NULL */
    sdc_tensor *cw[3], *cb[3]; /* BLOCK: the three 3x3 convs (cb may be NULL) */
    sdc_tensor *skip_w;    /* BLOCK: 1x1 skip [cout, cin], NULL = identity */
    int64_t pool_ch;       /* BLOCK: GroupNorm branch width, 0 = none */
    sdc_tensor *pool_in_w, *pool_gn_w, *pool_gn_b, *pool_out_w; /* [pool_ch, cin], [pool_ch] x2, [cin, pool_ch] */
} sdc_taesd_layer;

typedef struct sdc_taesd_half { /* decoder or encoder */
    int present;
    int n_layers;
    sdc_taesd_layer layer[SDC_TAESD_MAX_LAYERS];
    int factor; /* spatial factor between image and latent (8 for SD) */
} sdc_taesd_half;

typedef struct sdc_taesd {
    int64_t latent_ch;
    sdc_taesd_half dec, enc;
    sdc_wstore store;
    int64_t n_params;
    sdc_model_files *owned[2]; /* files opened by sdc_taesd_open (else NULL) */
} sdc_taesd;

/* Loads a decoder and/or an encoder from n_files model files (e.g.
 * {taesd_decoder.pth, taesd_encoder.pth}, or one diffusers
 * diffusion_pytorch_model.safetensors holding both). Each file is searched
 * for every layout; finding no part, or the same part twice, is an
 * SDC_ERR_FORMAT error. mat_dtype: f32, f16 or bf16 for the conv weights.
 * The model may point into the files' mapped data: keep them open while it
 * lives. */
sdc_status sdc_taesd_load(const sdc_model_files *const *files, int n_files, sdc_dtype mat_dtype, sdc_taesd **out,
                          sdc_error *err);
/* Same from paths (1 or 2; the same file twice counts once); a folder
 * stands for its diffusion_pytorch_model.safetensors. The model owns the
 * opened files. */
sdc_status sdc_taesd_open(const char *const *paths, int n_paths, sdc_dtype mat_dtype, sdc_taesd **out,
                          sdc_error *err);
void sdc_taesd_free(sdc_taesd *t);

/* latent [B, latent_ch, h, w] NCHW (scaled SD latent) -> image
 * [B, 3, f*h, f*w] NCHW in about [-1, 1] (f = dec.factor). Errors (no
 * decoder, wrong shape) are recorded in c. */
sdc_tensor *sdc_taesd_decode(sdc_ctx *c, const sdc_taesd *t, const sdc_tensor *latent);
/* image [B, 3, H, W] NCHW in [-1, 1], H and W multiples of enc.factor ->
 * latent [B, latent_ch, H/f, W/f] NCHW (scaled SD latent). */
sdc_tensor *sdc_taesd_encode(sdc_ctx *c, const sdc_taesd *t, const sdc_tensor *image);

/* Activation-arena peak (bytes) of sdc_taesd_decode on [B, latent_ch, h, w]
 * and of sdc_taesd_encode on [B, 3, H, W], replaying taesd.c's allocations
 * (tested against the arena's high-water mark); 0 when that half is missing,
 * SIZE_MAX on overflow. Kernel scratch and weights not included. */
size_t sdc_taesd_decode_bytes(const sdc_taesd *t, int64_t B, int64_t h, int64_t w);
size_t sdc_taesd_encode_bytes(const sdc_taesd *t, int64_t B, int64_t H, int64_t W);

#endif
