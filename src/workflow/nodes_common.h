/* Helpers shared by the node implementations (nodes_*.c): ComfyUI's
 * sampler / scheduler names, value constructors, image conversions,
 * torch-style interpolation of float planes, and model access.
 *
 * Each nodes_*.c file exports its part of the node table; nodes.c joins
 * them. Not thread-safe (the executor's thread). */
#ifndef SDC_WORKFLOW_NODES_COMMON_H
#define SDC_WORKFLOW_NODES_COMMON_H

#include "sample/sampler.h"
#include "workflow/wf_types.h"

/* ---- names -------------------------------------------------------------------- */

typedef struct sdc_wf_sampler_name {
    const char *name;
    sdc_sampler_kind kind;
} sdc_wf_sampler_name;

typedef struct sdc_wf_sched_name {
    const char *name;
    sdc_scheduler kind;
} sdc_wf_sched_name;

/* ComfyUI's KSampler.SAMPLERS / SCHEDULERS that sdc runs (NULL-terminated). */
const sdc_wf_sampler_name *sdc_wf_comfy_samplers(void);
const sdc_wf_sched_name *sdc_wf_comfy_schedulers(void);
int sdc_wf_sampler_lookup(const char *name, sdc_sampler_kind *out);
int sdc_wf_scheduler_lookup(const char *name, sdc_scheduler *out);

/* ---- values ---------------------------------------------------------------------- */

/* New zeroed IMAGE [B, H, W, 3], MASK [B, H, W], LATENT [B, C, h, w]; NULL
 * with an error when sizes are out of bounds or memory runs out. */
sdc_wf_value *sdc_wf_image_new(int64_t B, int64_t H, int64_t W, sdc_error *err);
sdc_wf_value *sdc_wf_mask_new(int64_t B, int64_t H, int64_t W, sdc_error *err);
sdc_wf_value *sdc_wf_latent_new(int64_t B, int64_t C, int64_t h, int64_t w, sdc_error *err);
/* Copy of a latent (samples and mask). */
sdc_wf_value *sdc_wf_latent_clone(const sdc_wf_value *l, sdc_error *err);

/* Item b of an IMAGE as an 8-bit RGB image, ComfyUI's way
 * (clip(255 x, 0, 255).astype(uint8): truncation). */
sdc_status sdc_wf_image_to_u8(const sdc_wf_value *img, int64_t b, sdc_image *out, sdc_error *err);
/* Writes an 8-bit image (gray or RGB; alpha dropped) into item b as v / 255. */
void sdc_wf_image_set_u8(sdc_wf_value *img, int64_t b, const sdc_image *src);

/* ---- interpolation ---------------------------------------------------------------- */

typedef enum sdc_wf_interp {
    SDC_WF_NEAREST_EXACT = 0,
    SDC_WF_BILINEAR, /* torch bilinear, align_corners=False, no antialias */
    SDC_WF_AREA,     /* torch area = adaptive average pooling */
    SDC_WF_BICUBIC,  /* torch bicubic, A = -0.75, align_corners=False */
    SDC_WF_LANCZOS   /* PIL Lanczos on 8-bit pixels (images only) */
} sdc_wf_interp;

int sdc_wf_interp_from_name(const char *name, sdc_wf_interp *out);

/* Resizes n planes: plane p of src is at src + p * src_plane with strides
 * (sy, sx); of dst at dst + p * dst_plane with (dy, dx). Sizes H x W ->
 * H2 x W2, all >= 1. Not for LANCZOS. */
sdc_status sdc_wf_resize_planes(const float *src, int64_t n, int64_t src_plane, int64_t H, int64_t W, int64_t sy,
                                int64_t sx, float *dst, int64_t dst_plane, int64_t H2, int64_t W2, int64_t dy,
                                int64_t dx, sdc_wf_interp m, sdc_error *err);

/* ComfyUI's common_upscale crop="center": the source window (x, y, w, h)
 * with the target's aspect ratio. */
void sdc_wf_center_crop(int64_t W, int64_t H, int64_t W2, int64_t H2, int64_t *x, int64_t *y, int64_t *cw, int64_t *ch);

/* IMAGE -> new IMAGE of W2 x H2 (crop: 0 disabled, 1 center). */
sdc_wf_value *sdc_wf_image_resize(const sdc_wf_value *img, int64_t W2, int64_t H2, sdc_wf_interp m, int crop,
                                  sdc_error *err);

/* ---- models -------------------------------------------------------------------------- */

/* The loaded checkpoint (with LoRAs) a MODEL / CLIP / checkpoint VAE describes. */
sdc_status sdc_wf_checkpoint(const sdc_wf_env *env, const sdc_model_key *key, sdc_sd_model **out, sdc_error *err);

/* Node table parts (nodes_*.c). */
extern const sdc_wf_node_def sdc_wf_nodes_model[];
extern const int sdc_wf_nodes_model_n;
extern const sdc_wf_node_def sdc_wf_nodes_latent[];
extern const int sdc_wf_nodes_latent_n;
extern const sdc_wf_node_def sdc_wf_nodes_image[];
extern const int sdc_wf_nodes_image_n;

#define SDC_WF_MAX_RESOLUTION 8192

#endif
