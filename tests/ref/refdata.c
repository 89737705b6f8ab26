/* Reference tensor loading for tests (see refdata.h). */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_CACHED 64

static struct {
    char *path;
    sdc_weight_file *f;
} g_cache[MAX_CACHED];
static int g_cached;

static void close_cache(void) {
    for (int i = 0; i < g_cached; i++) {
        sdc_weight_file_close(g_cache[i].f);
        free(g_cache[i].path);
    }
    g_cached = 0;
}

const sdc_weight_file *sdc_ref_file(const char *shared_rel) {
    for (int i = 0; i < g_cached; i++)
        if (strcmp(g_cache[i].path, shared_rel) == 0) return g_cache[i].f;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_weight_file *f;
    if (sdc_weight_file_open(sdc_test_shared(shared_rel), &f, &err) != SDC_OK) {
        sdc_test_fail(__FILE__, __LINE__, "cannot open reference %s: %s", shared_rel, sdc_error_msg(&err));
        return NULL;
    }
    if (g_cached == 0) atexit(close_cache);
    if (g_cached == MAX_CACHED) return f; /* leaks one file; tests only */
    g_cache[g_cached].path = strdup(shared_rel);
    g_cache[g_cached].f = f;
    g_cached++;
    return f;
}

bool sdc_ref_load(const char *shared_rel, const char *name, sdc_ref *out) {
    memset(out, 0, sizeof *out);
    const sdc_weight_file *f = sdc_ref_file(shared_rel);
    if (!f) return false;
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    if (!w) {
        sdc_test_fail(__FILE__, __LINE__, "reference %s has no tensor '%s'", shared_rel, name);
        return false;
    }
    out->ndim = w->ndim;
    memcpy(out->shape, w->shape, sizeof out->shape);
    out->numel = sdc_weight_numel(w);
    out->data = malloc((size_t)(out->numel ? out->numel : 1) * sizeof(float));
    if (!out->data) return false;
    sdc_convert_to_f32(w->dtype, w->data, out->data, (size_t)out->numel);
    return true;
}

void sdc_ref_free(sdc_ref *r) {
    free(r->data);
    memset(r, 0, sizeof *r);
}

bool sdc_ref_load_i32(const char *shared_rel, const char *name, int32_t **ids, int64_t *n) {
    sdc_ref r;
    if (!sdc_ref_load(shared_rel, name, &r)) return false;
    *ids = malloc((size_t)r.numel * sizeof **ids);
    for (int64_t i = 0; i < r.numel; i++) (*ids)[i] = (int32_t)r.data[i];
    *n = r.numel;
    sdc_ref_free(&r);
    return true;
}

float *sdc_ref_unet_case(const sdc_unet *u, const sdc_kernels *k, sdc_compute compute, const char *name, int64_t *n,
                         sdc_error *err) {
    char file[256];
    snprintf(file, sizeof file, "reference/tiny/unet/%s.safetensors", name);
    sdc_error_clear(err);
    sdc_ref x, t, ctx;
    if (!sdc_ref_load(file, "sample", &x) || !sdc_ref_load(file, "timestep", &t) ||
        !sdc_ref_load(file, "encoder_hidden_states", &ctx)) {
        sdc_error_set(err, SDC_ERR_IO, "cannot read %s", file);
        return NULL;
    }
    sdc_tensor tx = sdc_tensor_make(SDC_DTYPE_F32, x.data, 4, x.shape);
    sdc_tensor tt = sdc_tensor_make(SDC_DTYPE_F32, t.data, 1, t.shape);
    sdc_tensor tc = sdc_tensor_make(SDC_DTYPE_F32, ctx.data, 3, ctx.shape);
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    c.k = k;
    c.compute = compute;
    sdc_tensor *y = sdc_unet_forward(&c, u, &tx, &tt, &tc, NULL);
    float *out = NULL;
    if (!y) sdc_error_set(err, c.err.status, "%s", sdc_error_msg(&c.err));
    else if ((out = malloc((size_t)sdc_tensor_numel(y) * sizeof *out))) {
        *n = sdc_tensor_numel(y);
        memcpy(out, y->data, (size_t)*n * sizeof *out);
    }
    sdc_ctx_free(&c);
    sdc_ref_free(&x), sdc_ref_free(&t), sdc_ref_free(&ctx);
    return out;
}
