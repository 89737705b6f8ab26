/* Stage dumps (see dump.h). */
#include "pipeline/dump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/safetensors.h"
#include "tensor/ops.h"

sdc_status sdc_dumper_init(sdc_dumper *d, const char *dir, sdc_error *err) {
    memset(d, 0, sizeof *d);
    if (strlen(dir) >= sizeof d->dir - 64) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "dump folder path too long");
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sdc_error_set(err, SDC_ERR_IO, "cannot create dump folder '%s': %s", dir, strerror(errno));
    return SDC_OK;
}

void sdc_dumper_free(sdc_dumper *d) {
    for (int i = 0; i < d->n_names; i++) free(d->names[i]);
    free(d->names);
    free(d->counts);
    d->names = NULL;
    d->counts = NULL;
    d->n_names = 0;
}

/* how many times this name was dumped before */
static int seen_count(sdc_dumper *d, const char *name) {
    for (int i = 0; i < d->n_names; i++)
        if (strcmp(d->names[i], name) == 0) return d->counts[i]++;
    char **nn = realloc(d->names, (size_t)(d->n_names + 1) * sizeof *nn);
    int *nc = nn ? realloc(d->counts, (size_t)(d->n_names + 1) * sizeof *nc) : NULL;
    if (nn) d->names = nn;
    if (!nc) return 0;
    d->counts = nc;
    d->names[d->n_names] = strdup(name);
    d->counts[d->n_names] = 1;
    if (d->names[d->n_names]) d->n_names++;
    return 0;
}

void sdc_dumper_hook(void *user, const char *name, const sdc_tensor *t) {
    sdc_dumper *d = user;
    if (d->err.status != SDC_OK || t->dtype != SDC_DTYPE_F32) return;
    int k = seen_count(d, name);
    char path[4096];
    if (k == 0) snprintf(path, sizeof path, "%s/%s.safetensors", d->dir, name);
    else snprintf(path, sizeof path, "%s/%s.%04d.safetensors", d->dir, name, k);
    /* NHWC image activations are written NCHW, like PyTorch holds them */
    sdc_tensor v = *t;
    if (t->ndim == 4) {
        v.shape[1] = t->shape[3], v.stride[1] = t->stride[3];
        v.shape[2] = t->shape[1], v.stride[2] = t->stride[1];
        v.shape[3] = t->shape[2], v.stride[3] = t->stride[2];
    }
    size_t n = (size_t)sdc_tensor_numel(t);
    float *buf = malloc(n * sizeof *buf);
    if (!buf) {
        sdc_error_set(&d->err, SDC_ERR_OOM, "out of memory dumping '%s'", name);
        return;
    }
    sdc_tensor out = sdc_tensor_make(SDC_DTYPE_F32, buf, v.ndim, v.shape);
    sdc_tensor_copy(&out, &v);
    sdc_weight_info w = {.name = "x", .dtype = SDC_DTYPE_F32, .ndim = v.ndim, .data = buf, .nbytes = n * 4};
    for (int i = 0; i < v.ndim; i++) w.shape[i] = v.shape[i];
    if (sdc_safetensors_write(path, &w, 1, NULL, NULL, 0, 1, &d->err) == SDC_OK) d->n_written++;
    free(buf);
}

void sdc_dumper_attach(sdc_dumper *d, sdc_ctx *c) {
    c->dump = sdc_dumper_hook;
    c->dump_user = d;
}
