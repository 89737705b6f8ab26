/* How users name LoRAs: the CLI's "--lora FILE[:UNET[:TE]]" argument and
 * A1111's prompt tags "<lora:NAME:WEIGHT>", resolved to files in a LoRA
 * folder.
 *
 * Prompt tags follow A1111: <lora:NAME> (weight 1), <lora:NAME:W> (W for
 * both U-Net and text encoder), <lora:NAME:TE:UNET> (two numbers: the first
 * is the text-encoder weight), named forms te=W / unet=W; <lyco:...> is
 * accepted as a synonym. Tags are removed from the prompt text.
 * Not here: loading and merging (lora.h). Pure functions; thread-safe. */
#ifndef SDC_MODELS_LORA_TAGS_H
#define SDC_MODELS_LORA_TAGS_H

#include <stddef.h>

#include "base/error.h"

/* Parses "FILE", "FILE:UNET" (both strengths) or "FILE:UNET:TE". Numbers
 * are taken from the right, so "C:\x.safetensors:0.5" keeps its drive. */
sdc_status sdc_lora_spec_parse(const char *arg, char *path, size_t path_size, float *unet, float *te, sdc_error *err);

typedef struct sdc_lora_tag {
    char name[256];
    float unet, te;
} sdc_lora_tag;

/* Removes every <lora:...> / <lyco:...> tag from prompt. *clean (the prompt
 * without tags) and *tags (n entries, may be 0) are malloc'd: the caller
 * frees both. A malformed tag (no name, bad number) is an error naming it
 * (then *clean / *tags are NULL). */
sdc_status sdc_lora_tags_extract(const char *prompt, char **clean, sdc_lora_tag **tags, size_t *n, sdc_error *err);

/* The file of LoRA `name` in dir: NAME.safetensors (then .ckpt, .pt),
 * matched case-insensitively, in dir or its subfolders (3 levels). Names
 * may contain '/' but no ".." component. SDC_ERR_IO when not found. */
sdc_status sdc_lora_find(const char *dir, const char *name, char *out, size_t out_size, sdc_error *err);

#endif
