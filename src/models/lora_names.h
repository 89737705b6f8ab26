/* Module names of the SD U-Net and CLIP text encoders in the layouts LoRA
 * files (and diffusers-layout ControlNets) use, mapped onto sdc's canonical
 * (ldm single-file) names.
 *
 *  - U-Net: ldm "input_blocks.4.0.in_layers.2" -> diffusers
 *    "down_blocks.1.resnets.0.conv1". The mapping needs one structural
 *    fact, the number of ResBlocks per level (nres: 2 for SD 1.x / 2.x /
 *    SDXL), which callers read from the weights.
 *  - Text encoders: HF CLIP names ("text_model.encoder.layers.N.self_attn.
 *    q_proj") for canonical HF-layout weights, and for OpenCLIP weights the
 *    HF module that lands in a slice of the fused in_proj (q/k/v rows).
 *
 * Names here are module paths (no ".weight"). Pure string functions: no
 * allocation, thread-safe. They return false (and leave out unspecified)
 * for names outside the known structure or when out is too small.
 *
 * The other direction (diffusers tensor -> canonical, for whole diffusers
 * checkpoints and ControlNets) is the formats keymap (formats/keymap.h);
 * LoRAs need this one because kohya names ('_' for '.') can only be matched
 * by generating every spelling from the model's own names. */
#ifndef SDC_MODELS_LORA_NAMES_H
#define SDC_MODELS_LORA_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/model_files.h"

/* ldm U-Net module path (without "model.diffusion_model.") -> diffusers
 * module path. nres: ResBlocks per level. */
bool sdc_unet_module_to_diffusers(const char *ldm, int nres, char *out, size_t size);
/* ResBlocks per level of the U-Net under prefix (e.g.
 * "model.diffusion_model."): the first downsampler's block index minus 1,
 * else the number of input blocks minus 1. 0 when there is no U-Net. */
int sdc_unet_nres(const sdc_model_files *m, const char *prefix);

/* Text encoder layouts whose weights LoRAs patch. */
typedef struct sdc_te_names {
    const char *canon_prefix; /* "cond_stage_model.transformer." (HF) or "cond_stage_model.model." (OpenCLIP) */
    int openclip;
    const char *kohya_prefix; /* "lora_te_", "lora_te1_", "lora_te2_" */
    const char *peft_prefix;  /* "text_encoder.", "text_encoder_2." */
} sdc_te_names;

/* The known text encoders (SD 1.x, SD 2.x, SDXL's two). */
const sdc_te_names *sdc_te_names_table(size_t *n);

/* For an OpenCLIP canonical weight name relative to its prefix (e.g.
 * "transformer.resblocks.3.attn.in_proj_weight"), the HF modules it holds:
 * up to 3 (q, k, v for in_proj, each `rows_each` rows at offsets
 * 0, rows_each, 2*rows_each); *n = 0 when the name is not patchable.
 * Names are written to out[i] (each `size` bytes). */
void sdc_openclip_to_hf(const char *name, char out[3][160], int *n);

#endif
