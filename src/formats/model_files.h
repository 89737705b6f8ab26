/* A model as the loaders see it: one or more weight files behind one
 * namespace of canonical tensor names.
 *
 * Canonical names are those of the original single-file (ldm) checkpoints:
 * "model.diffusion_model.*" (U-Net), "first_stage_model.*" (VAE),
 * "cond_stage_model.transformer.text_model.*" (SD 1.x CLIP) or
 * "cond_stage_model.model.*" (SD 2.x OpenCLIP); SDXL single files use
 * "conditioner.embedders.0.transformer.text_model.*" and
 * "conditioner.embedders.1.model.*" for their two text encoders.
 *
 * sdc_model_files_open accepts:
 *   - a single weight file (safetensors, PyTorch .ckpt/.pt/.pth/.bin, GGUF):
 *     names kept as stored, except files in diffusers naming (a lone
 *     unet / vae / text encoder), which are mapped like a diffusers folder;
 *   - a sharded model: "*.safetensors.index.json" (all shards in its folder);
 *   - a diffusers folder (model_index.json; unet/, vae/, text_encoder/,
 *     text_encoder_2/ with config.json and *.safetensors, a shard index, or
 *     a torch .bin) or a single diffusers component folder (config.json +
 *     weights): names mapped through keymap.h's table. Linear [C, C] VAE
 *     attention weights appear with the single-file shape [C, C, 1, 1]
 *     (same bytes); SD 2.x / SDXL OpenCLIP q/k/v are concatenated into
 *     in_proj (copied). Tensors the table does not know are left out.
 * Read-only after open; lookups are thread-safe. */
#ifndef SDC_FORMATS_MODEL_FILES_H
#define SDC_FORMATS_MODEL_FILES_H

#include "formats/weight_file.h"

typedef struct sdc_model_files {
    char *path;
    sdc_weight_file **files; /* owned */
    size_t n_files;
    sdc_strmap names;        /* canonical name -> index into refs */
    const sdc_weight_info **refs;
    char **ref_names;        /* owned canonical names (when renamed) */
    size_t n_refs, cap_refs;
    const char *layout;      /* "single file", "sharded", "diffusers" (static) */
    sdc_weight_info **made;  /* tensors the opener made (reshaped / concatenated); owned with their data */
    size_t n_made, cap_made;
} sdc_model_files;

/* Opens a weight file, a shard index or a diffusers folder (see above).
 * On failure *out is NULL and err says which file and why. */
sdc_status sdc_model_files_open(const char *path, sdc_model_files **out, sdc_error *err);
void sdc_model_files_close(sdc_model_files *m);

/* Tensor by canonical name, or NULL. */
const sdc_weight_info *sdc_model_files_find(const sdc_model_files *m, const char *name);
/* Number of tensors, and the i-th (canonical name in *name). */
size_t sdc_model_files_count(const sdc_model_files *m);
const sdc_weight_info *sdc_model_files_at(const sdc_model_files *m, size_t i, const char **name);
/* Metadata string from the first file that has key (safetensors
 * __metadata__, GGUF key-values), or NULL. */
const char *sdc_model_files_meta(const sdc_model_files *m, const char *key);

/* Is [p, p + n) inside one of the files' read-only mappings (as opposed
 * to a buffer the loader owns)? Only such memory may be released with
 * sdc_mapfile_release. */
int sdc_model_files_is_mapped(const sdc_model_files *m, const void *p, size_t n);

/* For openers: registers a tensor of an opened file under a canonical name
 * (copied). Duplicate names are an error. */
sdc_status sdc_model_files_add(sdc_model_files *m, const char *name, const sdc_weight_info *w, sdc_error *err);
/* Registers a tensor the opener made: info copied; data (when owned_data)
 * is a malloc'd buffer that m frees on close. */
sdc_status sdc_model_files_add_made(sdc_model_files *m, const char *name, sdc_dtype dtype, int ndim,
                                    const int64_t *shape, const void *data, size_t nbytes, void *owned_data,
                                    sdc_error *err);
/* Takes ownership of an opened weight file (closed on failure too). */
sdc_status sdc_model_files_add_file(sdc_model_files *m, sdc_weight_file *f, sdc_error *err);
/* Opens a weight file, or every shard of a "*.index.json", into m->files
 * (names not registered); the new files are m->files[*first .. *first+*n).
 * For a shard index, checks every weight_map entry is in its shard. */
sdc_status sdc_model_files_load(sdc_model_files *m, const char *path, size_t *first, size_t *n, sdc_error *err);

#endif
