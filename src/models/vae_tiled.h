/* Tiled autoencoder passes, for images whose activations do not fit in
 * memory, plus the activation-memory estimates a pipeline uses to decide.
 *
 * The latent (decode) or image (encode) is cut into overlapping square
 * tiles on a grid measured in latent pixels; each tile runs through the
 * model alone (batch 1), and the outputs are blended with linear feathering
 * across each overlap: along an axis, a tile's weight ramps from 0 at its
 * edge to 1 over the width of its overlap with the neighbour, and the
 * weights of all tiles covering a pixel are normalized to sum to 1, so
 * nothing is left of a seam but the difference between the two tiles'
 * views of the overlap. Tiles are spread evenly: n = ceil((L - overlap) /
 * (tile - overlap)) tiles per axis with starts rounded from i * (L - tile) /
 * (n - 1), so the last tile ends exactly at the edge and no sliver tiles
 * appear for sizes that are not a multiple of anything; an axis no longer
 * than one tile is a single tile.
 *
 * Tiles differ from the whole because the KL VAE's GroupNorm statistics
 * (and the decoder's mid-block attention) see only the tile; the blend
 * hides the seams, not the difference. docs/AUTOENCODERS.md gives measured
 * numbers. TAESD has no normalization, so its tiles differ only within the
 * receptive field of the tile borders.
 *
 * The per-tile model's own dump names are muted while tiling (they would
 * name tile tensors after whole-image stages); the blended result is dumped
 * as "vae_tiled.decode" / "vae_tiled.encode" (an NHWC view, as hooks expect
 * of 4-D image tensors; sdc_tiled_apply itself dumps nothing). Not here: the models
 * (vae.h, taesd.h). */
#ifndef SDC_MODELS_VAE_TILED_H
#define SDC_MODELS_VAE_TILED_H

#include "models/taesd.h"
#include "models/vae.h"

/* Tile geometry in latent pixels (encode tiles are 8x larger in image
 * pixels). The defaults follow diffusers (64-latent tiles, a quarter of
 * the tile overlapping, i.e. 16). 0 < overlap < tile; overlap 0 butts the
 * tiles together without blending. */
typedef struct sdc_vae_tiling {
    int tile;
    int overlap;
} sdc_vae_tiling;

#define SDC_VAE_TILE_DEFAULT 64
#define SDC_VAE_OVERLAP_DEFAULT 16

/* {SDC_VAE_TILE_DEFAULT, SDC_VAE_OVERLAP_DEFAULT} */
sdc_vae_tiling sdc_vae_tiling_default(void);

/* One model pass on a batch-1 NCHW tensor (sdc_vae_decode and friends). */
typedef sdc_tensor *(*sdc_tile_fn)(sdc_ctx *c, const void *model, const sdc_tensor *x);

/* What a tiled pass runs: fn on tiles of x; one latent pixel is in_unit
 * input pixels and out_unit output pixels (decode 1 and 8, encode 8 and 1);
 * the output has out_ch channels. */
typedef struct sdc_tile_pass {
    sdc_tile_fn fn;
    const void *model;
    int64_t in_unit, out_unit, out_ch;
} sdc_tile_pass;

/* Generic tiled pass: x [B, C, H, W] NCHW f32 (any strides), H and W
 * multiples of in_unit -> [B, out_ch, H/in_unit*out_unit, ...] NCHW in c's
 * arena. Batches run one after another. Errors are recorded in c (tiling
 * out of range, a tile result of the wrong shape, the model's own). */
sdc_tensor *sdc_tiled_apply(sdc_ctx *c, const sdc_tile_pass *p, const sdc_tensor *x, const sdc_vae_tiling *t);

/* sdc_vae_decode / sdc_vae_encode (same inputs, outputs and scaling), tiled.
 * t NULL = defaults. */
sdc_tensor *sdc_vae_decode_tiled(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z, const sdc_vae_tiling *t);
sdc_tensor *sdc_vae_encode_tiled(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image, const sdc_vae_tiling *t);
/* sdc_taesd_decode / sdc_taesd_encode, tiled. */
sdc_tensor *sdc_taesd_decode_tiled(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *latent, const sdc_vae_tiling *t);
sdc_tensor *sdc_taesd_encode_tiled(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *image, const sdc_vae_tiling *t);

/* Activation-arena bytes (peak) of sdc_vae_decode on [B, latent_ch, h, w]
 * and of sdc_vae_encode on [B, 3, H, W], following vae.c's allocation
 * order (tested against the arena's high-water mark). Does not include the
 * kernels' bounded per-thread scratch or the weights. SIZE_MAX on overflow. */
size_t sdc_vae_decode_bytes(const sdc_vae *v, int64_t B, int64_t h, int64_t w);
size_t sdc_vae_encode_bytes(const sdc_vae *v, int64_t B, int64_t H, int64_t W);
/* Same for the tiled passes (output + weights + one tile's pass). */
size_t sdc_vae_decode_tiled_bytes(const sdc_vae *v, int64_t B, int64_t h, int64_t w, const sdc_vae_tiling *t);
size_t sdc_vae_encode_tiled_bytes(const sdc_vae *v, int64_t B, int64_t H, int64_t W, const sdc_vae_tiling *t);

/* Whole-image pass when its estimate fits in budget_bytes (the fast path,
 * and exact), else tiled with t (NULL = defaults). budget 0 = always whole. */
sdc_tensor *sdc_vae_decode_auto(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z, size_t budget_bytes,
                                const sdc_vae_tiling *t);
sdc_tensor *sdc_vae_encode_auto(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image, size_t budget_bytes,
                                const sdc_vae_tiling *t);
/* Same for TAESD (estimate: sdc_taesd_decode_bytes). */
sdc_tensor *sdc_taesd_decode_auto(sdc_ctx *c, const sdc_taesd *m, const sdc_tensor *latent, size_t budget_bytes,
                                  const sdc_vae_tiling *t);

#endif
