/* Model conversion: any input sdc opens (safetensors, .ckpt, GGUF, shard
 * index, diffusers folder) -> one safetensors or GGUF file, under the
 * canonical tensor names, streamed (a few MiB of memory) and atomic.
 *
 * Target dtype per tensor (sdc_convert_target):
 *   - integer tensors (position ids...) keep their type;
 *   - f32 / f16 / bf16 requested: every float tensor becomes that type;
 *   - a block type requested (GGUF only): tensors with >= 2 dims whose last
 *     dim is a multiple of 32 and that hold >= 1024 elements are quantized;
 *     other matrices (3x3 conv kernels...) become f16 and vectors (biases,
 *     norms) f32, as stable-diffusion.cpp does;
 *   - nothing requested: the stored type when the output format can hold
 *     it, else f32 (quantized -> safetensors is dequantized exactly).
 * Metadata strings of the input are kept (except GGUF's general.alignment
 * and array placeholders); sdc.converted_from records the input format. */
#ifndef SDC_FORMATS_CONVERT_H
#define SDC_FORMATS_CONVERT_H

#include "formats/model_files.h"

typedef struct sdc_convert_opts {
    int type;       /* sdc_dtype, or -1 to keep */
    int overwrite;
} sdc_convert_opts;

/* GGUF when out_path ends in ".gguf", safetensors when ".safetensors". */
sdc_status sdc_convert_model(const sdc_model_files *m, const char *out_path, const sdc_convert_opts *o, sdc_error *err);

sdc_dtype sdc_convert_target(const sdc_weight_info *w, int requested, int gguf);

#endif
