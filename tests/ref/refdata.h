/* Helpers for tests that compare with reference tensors stored as
 * safetensors (../shared/reference and tests/data). */
#ifndef SDC_TESTS_REFDATA_H
#define SDC_TESTS_REFDATA_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/weight_file.h"
#include "models/unet.h"

/* A reference tensor converted to f32 (integers by value). Free with
 * sdc_ref_free. */
typedef struct sdc_ref {
    float *data;
    int ndim;
    int64_t shape[8];
    int64_t numel;
} sdc_ref;

/* Opens a file relative to the shared folder (cached: several tests read
 * the same file). NULL (and a test failure) when it cannot be opened. */
const sdc_weight_file *sdc_ref_file(const char *shared_rel);
/* Loads tensor `name` of a shared reference file; false (and a test
 * failure) when missing. */
bool sdc_ref_load(const char *shared_rel, const char *name, sdc_ref *out);
void sdc_ref_free(sdc_ref *r);
/* Same, returning int32 values (token ids). Caller frees *ids. */
bool sdc_ref_load_i32(const char *shared_rel, const char *name, int32_t **ids, int64_t *n);

/* U-Net u on the inputs of reference case reference/tiny/unet/<name>
 * (sample, timestep, encoder_hidden_states) with kernel table k in mode
 * compute: a malloc'd copy of the output (*n values), or NULL with the
 * context's error in *err. */
float *sdc_ref_unet_case(const sdc_unet *u, const sdc_kernels *k, sdc_compute compute, const char *name, int64_t *n,
                         sdc_error *err);

#endif
