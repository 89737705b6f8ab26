/* What a model file is, read from its tensor names and shapes (and, for
 * what weights cannot tell, the configs users keep beside them).
 *
 * Kinds: full checkpoints (SD 1.x, SD 2.x, SDXL base / refiner; inpainting
 * when the U-Net takes 9 input channels), standalone VAE, TAESD, ControlNet
 * (ldm and diffusers layouts, control-LoRA), LoRA (kohya, diffusers/PEFT,
 * LyCORIS LoHa/LoKr/full/IA3), textual-inversion embeddings (A1111 .pt and
 * .safetensors, diffusers learned_embeds, SDXL clip_l/clip_g), lone text
 * encoders and U-Nets. Hyperparameters come from shapes; only the
 * attention head count (not visible in weights) comes from a config
 * (ldm .yaml beside the file, diffusers unet/config.json) or, failing
 * that, the family's convention, and says so in heads_source.
 * Prediction type: a .yaml beside the file ("parameterization"), a
 * diffusers scheduler config ("prediction_type"), SAI model-spec metadata
 * ("modelspec.prediction_type") or a "v_pred" marker tensor; else the
 * family convention for SD 1.x / SDXL (epsilon) and unknown for SD 2.x.
 * Does not load any tensor data. */
#ifndef SDC_FORMATS_DETECT_H
#define SDC_FORMATS_DETECT_H

#include <stdint.h>

#include "formats/model_files.h"

typedef enum sdc_model_type {
    SDC_MODEL_UNKNOWN,
    SDC_MODEL_CHECKPOINT,   /* a diffusion U-Net, maybe with VAE and text encoders */
    SDC_MODEL_VAE,
    SDC_MODEL_TAESD,
    SDC_MODEL_CONTROLNET,
    SDC_MODEL_LORA,
    SDC_MODEL_EMBEDDING,
    SDC_MODEL_TEXT_ENCODER
} sdc_model_type;

typedef enum sdc_detect_family {
    SDC_DETECT_FAMILY_UNKNOWN,
    SDC_DETECT_SD1,
    SDC_DETECT_SD2,
    SDC_DETECT_SDXL,
    SDC_DETECT_SDXL_REFINER
} sdc_detect_family;

typedef enum sdc_detect_pred { SDC_DETECT_PRED_UNKNOWN, SDC_DETECT_PRED_EPSILON, SDC_DETECT_PRED_V } sdc_detect_pred;

/* component bits */
enum {
    SDC_COMP_UNET = 1,
    SDC_COMP_VAE_ENCODER = 2,
    SDC_COMP_VAE_DECODER = 4,
    SDC_COMP_CLIP_L = 8,      /* HF-layout CLIP text encoder */
    SDC_COMP_OPENCLIP = 16,   /* OpenCLIP text encoder (SD 2.x H, SDXL bigG) */
    SDC_COMP_CONTROL = 32     /* ControlNet hint block / zero convs */
};

#define SDC_DETECT_MAX_LEVELS 8

typedef struct sdc_unet_hparams {
    int present;
    const char *prefix;        /* static: "model.diffusion_model.", "control_model.", "" */
    int64_t in_channels, out_channels, model_channels, context_dim, adm_in_channels;
    int n_levels, num_res_blocks;
    int64_t channel_mult[SDC_DETECT_MAX_LEVELS];
    int transformer_depth[SDC_DETECT_MAX_LEVELS]; /* per level; 0: no attention */
    int mid_transformer_depth;
    int linear_proj;           /* transformer proj_in is linear (SD 2.x/SDXL) rather than 1x1 conv */
    int64_t num_heads, head_dim; /* 0: unknown; one of the two is set when known */
    const char *heads_source;  /* "yaml", "config.json", "family convention", or NULL */
} sdc_unet_hparams;

typedef struct sdc_text_hparams {
    int present;
    const char *prefix;        /* static */
    int openclip;              /* OpenCLIP layout (else HF) */
    int64_t width, layers, vocab, positions, mlp_width, projection_dim;
} sdc_text_hparams;

typedef struct sdc_vae_hparams {
    int present;
    const char *prefix;        /* static */
    int64_t ch, z_channels, embed_dim;
    int n_levels, num_res_blocks;
    int64_t ch_mult[SDC_DETECT_MAX_LEVELS];
} sdc_vae_hparams;

typedef struct sdc_model_kind {
    sdc_model_type type;
    sdc_detect_family family;
    unsigned components;       /* SDC_COMP_* */
    int inpaint;               /* U-Net takes 9 channels (latent + mask + masked image) */
    sdc_detect_pred prediction;
    const char *prediction_source; /* static; NULL when unknown */
    sdc_unet_hparams unet;
    sdc_text_hparams text[2];
    sdc_vae_hparams vae;
    char subtype[48];          /* LoRA / ControlNet / embedding / TAESD flavour */
    int64_t lora_rank;         /* largest rank */
    size_t lora_modules;
    int64_t embedding_vectors, embedding_dim;
    int64_t taesd_latent_channels;
} sdc_model_kind;

/* Fills *out. Never fails on an unknown model (type UNKNOWN); fails only
 * on an unreadable or malformed config file beside the model. */
sdc_status sdc_detect(const sdc_model_files *m, sdc_model_kind *out, sdc_error *err);

const char *sdc_detect_type_name(sdc_model_type t);
const char *sdc_detect_family_name(sdc_detect_family f);      /* "SD 1.x", ... */
const char *sdc_detect_family_id(sdc_detect_family f);        /* "sd1", "sd2", "sdxl", "sdxl-refiner", "unknown" */
const char *sdc_detect_pred_name(sdc_detect_pred p);

#endif
