/* Architecture descriptions -> the tensor list of a checkpoint (canonical
 * ldm names and shapes), for `sdc make-model` and for tests that need a
 * model's key set without its bytes.
 *
 * The generator is table-driven: each module kind (U-Net resblock, spatial
 * transformer, VAE resnet / attention, CLIP and OpenCLIP layers) is a table
 * of (name suffix, init kind, shape in symbolic dims, fan-in dims); the
 * walk over levels follows the original ldm code (input/middle/output
 * blocks with the skip-channel bookkeeping, the VAE's down/up stacks).
 * Presets: sd15 / sd2 / sdxl at size "full" (the released models' shapes;
 * sd15 full has 1.07 B parameters) and "tiny" (sd15 tiny is exactly the
 * shared reference model sd15-random-tiny's key set and shapes).
 * Not here: the weights' values (make_model.c). */
#ifndef SDC_FORMATS_ARCH_H
#define SDC_FORMATS_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define SDC_ARCH_MAX_LEVELS 8

typedef struct sdc_arch_unet {
    int64_t in_channels, out_channels, model_channels, context_dim, adm_in_channels;
    int n_levels, num_res_blocks;
    int64_t channel_mult[SDC_ARCH_MAX_LEVELS];
    int depth[SDC_ARCH_MAX_LEVELS]; /* transformer blocks per attention; 0: no attention at that level */
    int mid_depth;
    int linear_proj;
} sdc_arch_unet;

typedef struct sdc_arch_vae {
    int64_t ch, z_channels, embed_dim, in_channels;
    int n_levels, num_res_blocks;
    int64_t ch_mult[SDC_ARCH_MAX_LEVELS];
} sdc_arch_vae;

typedef struct sdc_arch_text {
    const char *prefix;  /* e.g. "cond_stage_model.transformer." (HF) or "cond_stage_model.model." (OpenCLIP) */
    int openclip;
    int64_t width, layers, vocab, positions, mlp_width, projection_dim; /* projection: OpenCLIP only, 0: none */
} sdc_arch_text;

/* TAESD (madebyollin/taesd): a decoder and an encoder of plain 3x3 convs
 * and residual blocks, written in ComfyUI's combined layout
 * ("taesd_decoder.N..." / "taesd_encoder.N..."). */
typedef struct sdc_arch_taesd {
    int64_t ch;     /* 0: none; 64 for the published TAESD */
    int64_t latent; /* 4 for SD 1.x / 2.x */
} sdc_arch_taesd;

typedef struct sdc_arch {
    sdc_arch_unet unet;
    sdc_arch_vae vae;
    sdc_arch_text text[2];
    int n_text;
    sdc_arch_taesd taesd;
} sdc_arch;

typedef enum sdc_arch_init {
    SDC_ARCH_INIT_WEIGHT,    /* uniform +-1/sqrt(fan_in) (PyTorch's default for conv and linear) */
    SDC_ARCH_INIT_BIAS,      /* uniform +-1/sqrt(fan_in) of its layer (PyTorch's default) */
    SDC_ARCH_INIT_NORM_W,    /* 1 + small noise */
    SDC_ARCH_INIT_NORM_B,    /* small noise around 0 */
    SDC_ARCH_INIT_EMBED,     /* std 0.02 (CLIP's embedding init) */
    SDC_ARCH_INIT_LOGIT      /* the constant ln(100) */
} sdc_arch_init;

typedef struct sdc_arch_tensor {
    char *name;
    int ndim;
    int64_t shape[4];
    sdc_arch_init init;
    int64_t fan_in;
} sdc_arch_tensor;

/* Fills *a with a preset: family "sd15" | "sd2" | "sdxl" | "taesd", size "full" | "tiny". */
sdc_status sdc_arch_preset(const char *family, const char *size, sdc_arch *a, sdc_error *err);

/* The tensor list of a (U-Net under "model.diffusion_model.", VAE under
 * "first_stage_model.", text encoders under their prefixes). Caller frees
 * with sdc_arch_tensors_free. */
sdc_status sdc_arch_tensors(const sdc_arch *a, sdc_arch_tensor **out, size_t *n, sdc_error *err);
void sdc_arch_tensors_free(sdc_arch_tensor *t, size_t n);

#endif
