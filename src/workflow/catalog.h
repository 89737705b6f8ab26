/* The models folder as the server and the node graph see it: which
 * checkpoints, LoRAs, ControlNets and VAEs exist, under which names, and
 * where TAESD lives.
 *
 * Layout (docs/SERVER.md): DIR/ holds checkpoints (*.safetensors, *.ckpt,
 * *.gguf single files, and diffusers folders with model_index.json, in DIR
 * or any subfolder but the special ones); DIR/loras (or an explicit LoRA
 * folder), DIR/controlnet, DIR/vae (TAESD: taesd_decoder.* and
 * taesd_encoder.* in DIR/vae or DIR/vae_approx). Names are paths relative
 * to their folder with '/' separators ("sd15.safetensors",
 * "sub/x.safetensors"), as ComfyUI lists them.
 *
 * Names are resolved only against a fresh listing, so a request can name
 * nothing but files the operator put into the folders (symlinks placed
 * there by the operator are followed; client-chosen paths never are).
 * Listings are made on each call (the folders are small); thread-safe. */
#ifndef SDC_WORKFLOW_CATALOG_H
#define SDC_WORKFLOW_CATALOG_H

#include <stddef.h>

#include "base/error.h"

typedef enum sdc_cat_kind {
    SDC_CAT_CHECKPOINT = 0,
    SDC_CAT_LORA,
    SDC_CAT_CONTROLNET,
    SDC_CAT_VAE, /* standalone VAEs (TAESD files are not listed; see sdc_catalog_taesd) */
    SDC_CAT_COUNT
} sdc_cat_kind;

#define SDC_CAT_PATH_MAX 1024

typedef struct sdc_catalog {
    char root[SDC_CAT_PATH_MAX];
    char dirs[SDC_CAT_COUNT][SDC_CAT_PATH_MAX];
} sdc_catalog;

typedef struct sdc_name_list {
    char **names; /* sorted, relative to the kind's folder */
    char **paths; /* full paths */
    size_t n;
} sdc_name_list;

/* models_dir must exist; lora_dir NULL = models_dir/loras. */
sdc_status sdc_catalog_init(sdc_catalog *c, const char *models_dir, const char *lora_dir, sdc_error *err);

/* Lists a kind (an absent folder lists nothing). Free with sdc_name_list_free. */
sdc_status sdc_catalog_list(const sdc_catalog *c, sdc_cat_kind kind, sdc_name_list *out, sdc_error *err);
void sdc_name_list_free(sdc_name_list *l);
/* Appends copies of (name, path); returns 0, or -1 when out of memory. */
int sdc_name_list_add(sdc_name_list *l, const char *name, const char *path);

/* Resolves a name a client gave: the exact listed name first, then (for
 * A1111 clients) the same without a trailing " [hash]", without the file
 * extension, or the base name alone, compared case-insensitively. Writes
 * the full path and the listed name (either may be NULL). SDC_ERR_IO with
 * a message naming the kind when nothing matches. */
sdc_status sdc_catalog_find(const sdc_catalog *c, sdc_cat_kind kind, const char *name, char *path, size_t path_size,
                            char *listed, size_t listed_size, sdc_error *err);

/* TAESD decoder / encoder files (taesd_decoder.* / taesd_encoder.*) in
 * DIR/vae or DIR/vae_approx; writes "" for a part not found. Returns 1
 * when a decoder exists. */
int sdc_catalog_taesd(const sdc_catalog *c, char *dec, char *enc, size_t size);

/* "checkpoint", "LoRA", ... for messages. */
const char *sdc_cat_kind_name(sdc_cat_kind kind);

/* The file name without folders and extension ("sub/x.safetensors" -> "x"). */
void sdc_catalog_stem(const char *name, char *out, size_t size);

#endif
