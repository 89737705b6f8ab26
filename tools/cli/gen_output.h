/* What `sdc generate` writes: PNG files with A1111 `parameters` text,
 * output names for batches, the optional float tensor, and the reading
 * of verification tensors. */
#ifndef SDC_CLI_GEN_OUTPUT_H
#define SDC_CLI_GEN_OUTPUT_H

#include <stdbool.h>

#include "pipeline/generate.h"

/* Name of image `index` of `total`: the output path itself for a single
 * image, else "base-NNNN.ext" (NNNN from 1). */
void sdc_out_name(const char *output, int index, int total, char *buf, size_t size);

/* A1111's display names of samplers and schedulers, for the infotext
 * other tools read back ("DPM++ 2M", "Karras"). */
const char *sdc_out_sampler_label(sdc_sampler_kind k);
const char *sdc_out_scheduler_label(sdc_scheduler k);

/* The A1111 infotext for image b of a result. model_name / model_hash
 * (A1111's 10-digit short hash) may be NULL. masked_padding >= 0: "only
 * masked" inpainting with that padding (A1111's "Inpaint area" keys). */
char *sdc_out_infotext(const sdc_gen_request *p, const char *sampler_label, const char *sched_label,
                       const char *model_name, const char *model_hash, uint64_t seed, bool img2img, int clip_skip,
                       int masked_padding);

/* Writes image b of r as PNG with the infotext; rounding to 8 bits: half
 * to even as diffusers and the references, or truncating as A1111. */
sdc_status sdc_out_save_png(const char *path, const sdc_gen_result *r, int64_t b, const char *infotext, bool overwrite,
                            sdc_u8_rounding rounding, sdc_error *err);

/* Reads tensor `name` of a safetensors file as f32 and checks its shape. */
sdc_status sdc_out_read_tensor(const char *path, const char *name, int ndim, const int64_t *shape, float **out,
                               sdc_error *err);

/* Writes images [n, 3, H, W] (f32, [0, 1]) as tensor "image". */
sdc_status sdc_out_write_tensor(const char *path, const float *images, int64_t n, int64_t H, int64_t W, bool overwrite,
                                sdc_error *err);

#endif
