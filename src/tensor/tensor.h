/* Tensor descriptor: dtype + up to 4-D shape + strides + data pointer.
 *
 * Shapes are in PyTorch order (outermost first); strides count elements.
 * A tensor never owns its data: data lives in an arena, a model's weight
 * store, or a caller's buffer. Views share data and change shape/strides.
 * Activations inside models are NHWC ([B, H, W, C]) so that convolutions,
 * linear layers and attention all reduce to one GEMM form (see
 * docs/ARCHITECTURE.md); conversion to/from NCHW happens at model edges. */
#ifndef SDC_TENSOR_TENSOR_H
#define SDC_TENSOR_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/dtype.h"

#define SDC_MAX_DIMS 4

struct sdc_packed_weights;

typedef struct sdc_tensor {
    sdc_dtype dtype;
    int ndim;
    int64_t shape[SDC_MAX_DIMS];
    int64_t stride[SDC_MAX_DIMS]; /* elements; unused dims are 0 */
    void *data; /* NULL only for weights held in packed form alone (see packed) */
    /* weights only: the matrix packed ahead of time for a kernel table
     * (kernels.h sdc_packed_weights), or NULL; owned by the weight store */
    const struct sdc_packed_weights *packed;
} sdc_tensor;

/* Contiguous (row-major) descriptor over `data`. ndim in 1..4. */
sdc_tensor sdc_tensor_make(sdc_dtype dtype, void *data, int ndim, const int64_t *shape);
sdc_tensor sdc_tensor_1d(sdc_dtype dtype, void *data, int64_t d0);
sdc_tensor sdc_tensor_2d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1);
sdc_tensor sdc_tensor_3d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1, int64_t d2);
sdc_tensor sdc_tensor_4d(sdc_dtype dtype, void *data, int64_t d0, int64_t d1, int64_t d2, int64_t d3);

int64_t sdc_tensor_numel(const sdc_tensor *t);
bool sdc_tensor_is_contiguous(const sdc_tensor *t);
bool sdc_tensor_same_shape(const sdc_tensor *a, const sdc_tensor *b);
/* "[2, 4, 64, 64]" into buf; returns buf. */
const char *sdc_tensor_shape_str(const sdc_tensor *t, char *buf, int size);

/* Views. Plain (non-block) dtypes only; they never fail for valid
 * arguments, and the caller guarantees validity (asserted in debug). */
/* Elements [start, start+len) along dim. */
sdc_tensor sdc_tensor_slice(const sdc_tensor *t, int dim, int64_t start, int64_t len);
/* Swaps two dims (strides follow). */
sdc_tensor sdc_tensor_transpose(const sdc_tensor *t, int d0, int d1);
/* New shape with the same element count; t must be contiguous. */
sdc_tensor sdc_tensor_reshape(const sdc_tensor *t, int ndim, const int64_t *shape);

/* Address of element (i0, i1, i2, i3) (unused indices 0). */
void *sdc_tensor_ptr(const sdc_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3);

/* Copies src into dst element by element (same shape, any strides), with
 * dtype conversion between f32/f16/bf16. */
void sdc_tensor_copy(sdc_tensor *dst, const sdc_tensor *src);

#endif
