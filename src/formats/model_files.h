/* A model as the loaders see it: one or more weight files behind one
 * namespace of canonical tensor names.
 *
 * Canonical names are those of the original single-file (ldm) checkpoints:
 * "model.diffusion_model.*" (U-Net), "first_stage_model.*" (VAE),
 * "cond_stage_model.transformer.text_model.*" (SD 1.x CLIP) or
 * "cond_stage_model.model.*" (SD 2.x OpenCLIP). Other layouts (diffusers
 * folders, ...) are mapped onto these names when opened, through one table,
 * so model code is written once against canonical names.
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
} sdc_model_files;

/* Opens a single weight file (safetensors, ...) or, as support lands, a
 * diffusers folder. */
sdc_status sdc_model_files_open(const char *path, sdc_model_files **out, sdc_error *err);
void sdc_model_files_close(sdc_model_files *m);

/* Tensor by canonical name, or NULL. */
const sdc_weight_info *sdc_model_files_find(const sdc_model_files *m, const char *name);
/* Number of tensors, and the i-th (canonical name in *name). */
size_t sdc_model_files_count(const sdc_model_files *m);
const sdc_weight_info *sdc_model_files_at(const sdc_model_files *m, size_t i, const char **name);

/* For openers: registers a tensor of an opened file under a canonical name
 * (copied). Duplicate names are an error. */
sdc_status sdc_model_files_add(sdc_model_files *m, const char *name, const sdc_weight_info *w, sdc_error *err);

#endif
