/* Flash-style attention (attention_impl.h) for AVX-512: Q.K^T tiles of
 * 12 queries x 32 keys (24 zmm accumulators; vdpbf16ps over (d, d+1) pairs
 * for bf16 compute on CPUs with AVX512_BF16), P.V tiles of 4 queries x up to
 * 6 vectors of D (D = 40 / 64 / 80 in one pass, 160 in two). Blocks of 48
 * queries x 64 keys: the score tile (12 KiB), the key block (D x 64 f32,
 * 10 KiB at D = 40) and the V rows it touches stay in L1 / L2. */
#include "base/cpu.h"
#include "kernels/x86/simd_avx512.h"
#include "kernels/x86/vmath.h"
#include "kernels/x86/x86_kernels.h"

#define QK_ROWS 12
#define PV_ROWS 4
#define PV_MAXV 6
#define QB 48
#define KB 64
#define KB_MAX 192
#define ATT_BF16 1

#include "kernels/x86/attention_impl.h"
