/* diffusers layouts -> canonical names (names through keymap.h's table).
 *
 * A diffusers folder has model_index.json and one folder per component:
 * unet/, vae/, text_encoder/ (and text_encoder_2/ for SDXL), each with a
 * config.json and its weights: *.safetensors (preferred), a shard index,
 * or a torch .bin (fp16 variants are used when the plain file is absent).
 * A folder with only config.json + weights is one component, told apart
 * by config.json's "_class_name" / "architectures". Text encoders go to
 * OpenCLIP names when their config says hidden_act "gelu" (SD 2.x) or
 * they are text_encoder_2 (SDXL); otherwise HF names under the SD 1.x
 * prefix (or SDXL's conditioner.embedders.0). Not handled here: scheduler
 * and tokenizer files (pipeline code reads those configs). */
#ifndef SDC_FORMATS_DIFFUSERS_H
#define SDC_FORMATS_DIFFUSERS_H

#include "formats/model_files.h"

/* Opens every known component of the folder at dir into m. */
sdc_status sdc_diffusers_open(sdc_model_files *m, const char *dir, sdc_error *err);

/* If the tensors of m->files[first .. first+n) are one component in
 * diffusers naming (a lone unet / vae / text encoder file), registers them
 * under canonical names and sets *mapped; otherwise does nothing. */
sdc_status sdc_diffusers_map_single(sdc_model_files *m, size_t first, size_t n, int *mapped, sdc_error *err);

#endif
