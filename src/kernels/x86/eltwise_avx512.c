/* The memory-bound kernels (eltwise_impl.h) built for AVX512: group / layer
 * norm, softmax, activations, GEGLU, broadcast add / mul, nearest
 * upsampling, row concatenation. Functions are named sdc_avx512_*. */
#include "kernels/x86/simd_avx512.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86_kernels.h"

#include "kernels/x86/eltwise_impl.h"
