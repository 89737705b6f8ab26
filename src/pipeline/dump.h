/* Per-stage tensor dumps for debugging numerics (docs/DEBUGGING.md).
 *
 * Install sdc_dumper as a context's dump hook and every named stage output
 * (clip.layer.N, unet.input_blocks.N, unet.middle_block, vae.decoder.up.N,
 * ...) is written to DIR/<name>.safetensors as float32 in PyTorch layout
 * (NHWC activations are written NCHW so they compare directly with a
 * PyTorch model's intermediate outputs). Repeated names (one per sampler
 * step) get a numeric suffix: unet.middle_block.0003. `sdc compare` then
 * finds the first stage that differs from a reference dump. */
#ifndef SDC_PIPELINE_DUMP_H
#define SDC_PIPELINE_DUMP_H

#include "base/error.h"
#include "tensor/ctx.h"

typedef struct sdc_dumper {
    char dir[3072];
    int n_written;
    sdc_error err; /* first write failure; dumping stops after it */
    /* per-name counters for repeated stages */
    char **names;
    int *counts;
    int n_names;
} sdc_dumper;

/* Creates dir if needed. */
sdc_status sdc_dumper_init(sdc_dumper *d, const char *dir, sdc_error *err);
void sdc_dumper_free(sdc_dumper *d);
/* Installs the hook on a context. */
void sdc_dumper_attach(sdc_dumper *d, sdc_ctx *c);
/* The hook itself (an sdc_dump_fn; user = the sdc_dumper), for requests
 * that create their own contexts (sdc_gen_request.dump). */
void sdc_dumper_hook(void *user, const char *name, const sdc_tensor *t);

#endif
