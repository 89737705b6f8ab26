/* Flash-style attention (attention_impl.h) for AVX2: Q.K^T tiles of 6
 * queries x 16 keys (12 ymm accumulators), P.V tiles of 2 queries x up to 6
 * vectors of D; blocks of 48 queries x 64 keys. bf16 compute rounds q and k
 * to bf16 and multiplies in f32 (exact products). */
#include "kernels/x86/simd_avx2.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86_kernels.h"

#define QK_ROWS 6
#define PV_ROWS 2
#define PV_MAXV 6
#define QB 48
#define KB 64
#define KB_MAX 192

#include "kernels/x86/attention_impl.h"
