/* The one table that maps other tensor layouts onto canonical names (the
 * original single-file "ldm" names, see model_files.h).
 *
 * Today it maps diffusers component names (unet/, vae/, text_encoder/,
 * text_encoder_2/) to canonical names. Each rule matches a diffusers name
 * prefix with numbered parts ("down_blocks.#.resnets.#."), computes the
 * ldm block numbers from them and the model's layout (resnets per block,
 * which up blocks have attention), renames the leaf module through a small
 * pair table, and says what must happen to the data:
 *   SAME      the tensor is used as is
 *   CONV1X1   a [C, C] linear weight that single files store as a 1x1 conv
 *             [C, C, 1, 1] (VAE mid-block attention): same bytes, new shape
 *   QKV(0..2) q/k/v projections that OpenCLIP stores concatenated along
 *             dim 0 as attn.in_proj_weight / in_proj_bias (needs a copy)
 *   TRANSPOSE OpenCLIP's text_projection is the transpose of HF's
 *             text_projection.weight (needs a copy)
 * Names the table does not know (e.g. text_model.embeddings.position_ids)
 * are left out. docs/FORMATS.md lists the table in prose. */
#ifndef SDC_FORMATS_KEYMAP_H
#define SDC_FORMATS_KEYMAP_H

#include <stddef.h>

typedef enum sdc_keymap_comp {
    SDC_KEYMAP_UNET,     /* -> model.diffusion_model. */
    SDC_KEYMAP_VAE,      /* -> first_stage_model. */
    SDC_KEYMAP_CLIP_HF,  /* HF CLIP kept in HF layout under a prefix (SD 1.x, SDXL te1) */
    SDC_KEYMAP_OPENCLIP  /* HF CLIP names -> OpenCLIP names (SD 2.x, SDXL te2) */
} sdc_keymap_comp;

typedef enum sdc_keymap_op {
    SDC_KEYMAP_SAME,
    SDC_KEYMAP_CONV1X1,
    SDC_KEYMAP_QKV,
    SDC_KEYMAP_TRANSPOSE
} sdc_keymap_op;

/* What the numbering rules need to know about a diffusers U-Net / VAE,
 * collected from its tensor names with sdc_keymap_layout_add. */
#define SDC_KEYMAP_MAX_BLOCKS 8
typedef struct sdc_keymap_layout {
    int unet_resnets_per_down;               /* layers_per_block */
    int unet_up_has_attn[SDC_KEYMAP_MAX_BLOCKS];
    int vae_up_blocks;
} sdc_keymap_layout;

void sdc_keymap_layout_add(sdc_keymap_layout *lay, sdc_keymap_comp comp, const char *diffusers_name);

/* Canonical name (without the component prefix) of a diffusers tensor.
 * Returns 1 and fills out/op/part when mapped, 0 when the name is not in
 * the table (or does not fit in cap). */
int sdc_keymap_from_diffusers(sdc_keymap_comp comp, const sdc_keymap_layout *lay, const char *name, char *out,
                              size_t cap, sdc_keymap_op *op, int *part);

#endif
