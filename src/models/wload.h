/* Weight loading for model code: looks tensors up by canonical name,
 * checks their shapes, and returns them in the form the ops want.
 *
 *  - matrices (linear [N, K], or 1x1 convs [N, K, 1, 1] used as linear) in
 *    the model's matrix dtype (f32 / f16 / bf16): zero-copy from the file
 *    mapping when the dtype already matches, else converted once;
 *  - convolutions [Cout, Cin, kh, kw] repacked to [Cout, kh, kw, Cin] for
 *    the NHWC kernels (always a copy, except 1x1);
 *  - vectors (biases, norm parameters) as f32.
 *
 * With packing (sdc_wpack), matrices and convolutions are also packed for
 * the kernel table that will run the model (kernels.h sdc_packed_weights),
 * so its GEMMs stop repacking weights on every call. The plain tensor then
 * is the file's data as stored, used in place (convolutions as a strided
 * [Cout, kh, kw, Cin] view of the stored [Cout, Cin, kh, kw]; its mapped
 * pages are let go, to fault back in only if a call cannot read the packed
 * form), except for fused matrices (sdc_wl_linear_cat), which are held in
 * packed form alone (data NULL), and patched or quantized weights, which
 * keep their converted copy as well.
 *
 * Converted copies belong to the sdc_wstore (freed with it). Every loader
 * call records the first failure in the sdc_error and returns NULL; later
 * calls then return NULL at once, so a model's load function can run
 * straight through and check the error once. Not thread-safe. */
#ifndef SDC_MODELS_WLOAD_H
#define SDC_MODELS_WLOAD_H

#include <stdbool.h>

#include "base/mapfile.h"
#include "formats/model_files.h"
#include "kernels/kernels.h"
#include "tensor/tensor.h"

/* Owner of converted weight buffers and their descriptors. */
typedef struct sdc_wstore {
    void **bufs;
    size_t n, cap;
    size_t bytes; /* total bytes held */
} sdc_wstore;

void sdc_wstore_free(sdc_wstore *s);
/* 64-byte-aligned buffer owned by the store; NULL on OOM. */
void *sdc_wstore_alloc(sdc_wstore *s, size_t bytes);

/* Changes applied to weights as they load (LoRA merging): for every tensor
 * with has() true, the loader converts the stored tensor to f32 in its
 * file layout, calls apply() to add the deltas in place, then converts to
 * the model's dtype / layout. Names are canonical (with prefix). */
typedef struct sdc_wpatch {
    bool (*has)(void *user, const char *name);
    sdc_status (*apply)(void *user, const char *name, float *w, int ndim, const int64_t *shape, sdc_error *err);
    void *user;
} sdc_wpatch;

/* Packing at load: for the kernel table and compute mode that will run the
 * model (a run in another table or mode uses the plain weights). */
typedef struct sdc_wpack {
    const sdc_kernels *k;
    sdc_compute compute;
    sdc_pool *pool; /* threads for packing; NULL: the loading thread */
} sdc_wpack;

/* mat_dtype value: keep each matrix in its stored dtype when that is f32,
 * f16 or bf16 (zero-copy), else widen to f32. */
#define SDC_WLOAD_KEEP SDC_DTYPE_COUNT

typedef struct sdc_wload {
    const sdc_model_files *files;
    const sdc_wpatch *patch; /* NULL: weights as stored */
    sdc_wstore *store;
    sdc_dtype mat_dtype; /* f32, f16, bf16, or SDC_WLOAD_KEEP */
    sdc_error *err;
    const char *prefix; /* prepended to every name, e.g. "model.diffusion_model." */
    int release_source; /* drop the mapped pages of weights that were copied (conv repacks) */
    const sdc_wpack *pack; /* NULL, or pack matrices for this table and mode */
    int no_pack;        /* set around matrices only ever used with a few rows (time embeddings) */
    int64_t n_params;   /* parameters loaded so far */
    void *temp;         /* packing's reusable temporary (sdc_wl_free_temp) */
    size_t temp_bytes;
} sdc_wload;

/* Frees the temporary that packing keeps across weights; call when a
 * loader with `pack` set is done. */
void sdc_wl_free_temp(sdc_wload *l);

/* Any dim given as -1 is not checked. Names are printf formats appended
 * to the prefix. */
sdc_tensor *sdc_wl_vec(sdc_wload *l, int64_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
sdc_tensor *sdc_wl_linear(sdc_wload *l, int64_t N, int64_t K, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
sdc_tensor *sdc_wl_conv(sdc_wload *l, int64_t Cout, int64_t Cin, int64_t kh, int64_t kw, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Any tensor as f32, shape as stored (up to 4 dims), e.g. embeddings. */
sdc_tensor *sdc_wl_f32(sdc_wload *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stacks several [n_i, K] matrices into one [sum n_i, K] (fused q/k/v). */
sdc_tensor *sdc_wl_linear_cat(sdc_wload *l, int n_parts, const char *const *names, int64_t K);
/* Stacks several [n_i] vectors into one f32 [sum n_i]; a NULL entry in
 * names means "zeros of size sizes[i]" (a missing bias). */
sdc_tensor *sdc_wl_vec_cat(sdc_wload *l, int n_parts, const char *const *names, const int64_t *sizes);

/* Does the (prefixed) name exist? */
bool sdc_wl_has(const sdc_wload *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stored info of a (prefixed) name, or NULL (no error recorded). */
const sdc_weight_info *sdc_wl_info(const sdc_wload *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool sdc_wl_ok(const sdc_wload *l) { return l->err->status == SDC_OK; }

#endif
