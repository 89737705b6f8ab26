/* What a model's weights cannot tell, read from the configs users keep
 * beside their checkpoints:
 *  - an ldm .yaml with the checkpoint's base name (A1111's convention):
 *    parameterization, scale_factor, unet num_heads / num_head_channels,
 *    the text encoder class and layer;
 *  - a diffusers folder's model_index.json, unet/config.json,
 *    vae/config.json, text_encoder/config.json, scheduler/scheduler_config.json.
 * Every field starts "unknown" (0 / -1) so that callers can tell what was
 * found from what must come from convention. Also a small YAML-to-JSON
 * loader (libyaml) so both config kinds are queried the same way. */
#ifndef SDC_FORMATS_MODEL_CONFIG_H
#define SDC_FORMATS_MODEL_CONFIG_H

#include <jansson.h>

#include "base/error.h"

typedef struct sdc_model_config {
    int v_prediction;        /* -1 unknown, 0 epsilon, 1 v */
    float scale_factor;      /* 0 unknown */
    int64_t unet_num_heads;  /* 0 unknown */
    int64_t unet_head_dim;   /* 0 unknown */
    int64_t clip_heads;      /* 0 unknown */
    int clip_act;            /* -1 unknown, else sdc_act */
    int clip_penultimate;    /* -1 unknown, 1 when the encoder uses the penultimate layer (SD 2.x) */
    char source[512];        /* which files were read, for -v */
} sdc_model_config;

void sdc_model_config_init(sdc_model_config *c);

/* Reads the configs that belong to `model_path` (a file: its .yaml
 * sibling; a folder: the diffusers JSON files). Missing configs are not an
 * error; malformed ones are. */
sdc_status sdc_model_config_read(const char *model_path, sdc_model_config *c, sdc_error *err);

/* Parses a YAML document into JSON values (scalars that look like numbers
 * or booleans become numbers / booleans). Caller json_decref()s. */
sdc_status sdc_yaml_load(const char *path, json_t **out, sdc_error *err);

/* Follows a dotted path ("model.params.unet_config.params.num_heads");
 * NULL when any part is missing. Borrowed reference. */
json_t *sdc_json_path(json_t *root, const char *path);

#endif
