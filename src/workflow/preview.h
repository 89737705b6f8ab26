/* Step previews: a small RGB picture of the sampler's current x0
 * estimate, made with TAESD when a decoder is available (8x the latent
 * size, about the VAE's look) or else with the SD 1.x latent -> RGB linear
 * approximation (latent size; ComfyUI's Latent2RGB factors for SD 1.5,
 * applied to scaled latents, then (v + 1) / 2 clamped).
 *
 * Not here: sending previews anywhere. Thread-safety: none needed beyond
 * the pool's rule (one caller at a time). */
#ifndef SDC_WORKFLOW_PREVIEW_H
#define SDC_WORKFLOW_PREVIEW_H

#include "base/threadpool.h"
#include "image/image.h"
#include "kernels/kernels.h"
#include "models/taesd.h"

/* x0: [B, C, h, w] scaled latents (NCHW); item 0 is shown. t: TAESD with a
 * decoder, or NULL for the linear approximation (needs C == 4). *out is a
 * new RGB image. */
sdc_status sdc_preview_latent(const float *x0, int64_t C, int64_t h, int64_t w, const sdc_taesd *t, sdc_pool *pool,
                              sdc_image *out, sdc_error *err);

#endif
