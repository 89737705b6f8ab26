/* Flash-style attention (attention_impl.h) for AVX-512: Q.K^T tiles of
 * 12 queries x 32 keys (24 zmm accumulators), P.V tiles of 4 queries x up to
 * 6 vectors of D (D = 40 / 64 / 80 in one pass, 160 in two). Blocks of 48
 * queries x 64 keys: the score tile (12 KiB), the key block (D x 64 f32,
 * 10 KiB at D = 40) and the V rows it touches stay in L1 / L2. bf16 compute
 * on CPUs with AVX512_BF16 goes to attention_bf16_avx512.c (vdpbf16ps for
 * both products). */
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
#define ATT_BF16_NATIVE sdc_avx512_attention_bf16

#include "kernels/x86/attention_impl.h"
