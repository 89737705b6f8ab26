/* A loaded Stable Diffusion checkpoint: weights, configs, tokenizer, and
 * the three models (text encoder, U-Net, VAE), with the facts the pipeline
 * needs (family, prediction type, latent scale, default clip skip).
 *
 * Loading order of truth: explicit options > configs beside the model
 * (model_config.h) > what the weights show > the family's convention.
 * The model keeps its files mapped; weights in the file's dtype are used in
 * place. Read-only after load: several generations may share one model
 * (each with its own sdc_ctx). */
#ifndef SDC_PIPELINE_SD_MODEL_H
#define SDC_PIPELINE_SD_MODEL_H

#include "base/log.h"
#include "formats/detect.h"
#include "formats/model_files.h"
#include "models/clip_text.h"
#include "models/lora.h"
#include "models/unet.h"
#include "models/taesd.h"
#include "models/vae.h"
#include "formats/model_config.h"
#include "text/clip_tokenizer.h"

typedef struct sdc_sd_model_opts {
    const char *model_path; /* single file or diffusers folder */
    const char *vocab_path; /* NULL: search (clip_tokenizer.h) */
    const char *vae_path;   /* NULL: the checkpoint's own VAE */
    const char *taesd_path; /* NULL, or a TAESD decoder (file or folder) for fast decoding */
    sdc_dtype mat_dtype;    /* weight dtype for matrices: f32, f16 or bf16 */
    int prediction;         /* -1 auto, 0 epsilon, 1 v */
    int text_only;          /* load the tokenizer and text encoder only (encode-text) */
    const sdc_log *log;
    sdc_lora_set *loras;    /* NULL, or LoRAs (lora.h) bound to the checkpoint and merged as it loads */
    const sdc_wpack *pack;  /* NULL, or pack the U-Net's matrices at load for the kernel table and
                               compute mode that will run it (wload.h; faster steps) */
} sdc_sd_model_opts;

typedef struct sdc_sd_model {
    sdc_model_files *files, *vae_files;
    sdc_model_config cfg;
    sdc_detect_family family;
    int v_prediction;
    float scale_factor;
    int default_clip_skip; /* A1111 meaning: 1 last layer, 2 penultimate (SD 2.x) */
    sdc_clip_tokenizer *tok;
    sdc_clip_text *clip;
    sdc_unet *unet;
    sdc_vae *vae;
    sdc_taesd *taesd; /* NULL unless taesd_path was given */
    char name[256]; /* file name without folder and extension */
    double load_seconds;
} sdc_sd_model;

sdc_status sdc_sd_model_load(const sdc_sd_model_opts *opts, sdc_sd_model **out, sdc_error *err);
void sdc_sd_model_free(sdc_sd_model *m);

/* Lets the text encoder's mapped weight pages leave resident memory until
 * they are next read (they fault back in from the page cache): lowers the
 * peak of a one-shot generation by the encoder's size. Never unsafe. */
void sdc_sd_model_release_text(const sdc_sd_model *m);

#endif
