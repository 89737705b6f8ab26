/* Random-weight checkpoints with real key names and shapes (sdc make-model).
 *
 * Tensors come from arch.h's generator; values are a deterministic
 * function of (seed, tensor name, element index) through a counter-based
 * hash, so any byte range of any tensor can be produced on its own:
 * writing streams through the writers' fill callback with a few MiB of
 * memory whatever the model size, on every thread of the pool. Scales
 * follow PyTorch's default init: weights and biases uniform in
 * +-1/sqrt(fan_in), norm weights 1 +- 0.1, norm biases +- 0.1, embeddings
 * with std 0.02 (CLIP's init), logit_scale ln(100) — so activations stay
 * finite through a forward pass. The output is written atomically (temp +
 * rename) as safetensors, or GGUF when the path ends in ".gguf", with
 * __metadata__ {sdc.family, sdc.size, sdc.seed, sdc.generator}. */
#ifndef SDC_FORMATS_MAKE_MODEL_H
#define SDC_FORMATS_MAKE_MODEL_H

#include <stdint.h>

#include "base/error.h"
#include "tensor/dtype.h"

typedef struct sdc_make_model_opts {
    const char *family; /* "sd15", "sd2", "sdxl", "taesd" */
    const char *size;   /* "tiny", "full" */
    uint64_t seed;
    sdc_dtype dtype;    /* f32, f16 or bf16 */
    int overwrite;
    int threads;        /* <= 0: all CPUs */
} sdc_make_model_opts;

/* Writes the model to path. *n_params (may be NULL) gets the parameter count. */
sdc_status sdc_make_model(const char *path, const sdc_make_model_opts *o, int64_t *n_params, sdc_error *err);

/* Element i of a tensor named `name` made with seed (what the file holds, before rounding to the dtype). */
float sdc_make_model_value(uint64_t seed, const char *name, int init, int64_t fan_in, uint64_t i);

#endif
