/* The memory-bound kernels (eltwise_impl.h) built for AVX2: group / layer
 * norm, softmax, activations, GEGLU, broadcast add / mul, nearest
 * upsampling, row concatenation. Functions are named sdc_avx2_*. */
#include "kernels/x86/simd_avx2.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86_kernels.h"

#include "kernels/x86/eltwise_impl.h"
