/* Register-only AVX-512 loops that measure this machine's arithmetic peak:
 * 24 independent zmm accumulators (more than FMA latency x throughput on
 * any current core), each updated as acc += m * c (the accumulator as the
 * addend, as in a GEMM micro-kernel: on Zen 4 a chain through the
 * multiplicand runs several times slower), no memory operands, so nothing
 * but the FMA / dot product units limits them. Used by sdc_bench to express kernel speed as
 * a fraction of what the core can do. */
#include <immintrin.h>
#include <stdint.h>

#include "bench.h"

#define CHAINS 24

/* Hides a value from the optimizer (no constant folding of m * c). */
#define OPAQUE(v) __asm__ volatile("" : "+v"(v))

double sdc_bench_peak_fma_avx512(int64_t iters) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(0.001f * (float)i);
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    OPAQUE(m);
    OPAQUE(c);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(m, c, acc[i]);
    }
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(acc[i]);
    sdc_bench_sink(s);
    return (double)iters * CHAINS * 16 * 2;
}

double sdc_bench_peak_dpbf16_avx512(int64_t iters) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_setzero_ps();
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x38003800);
    OPAQUE(a);
    OPAQUE(b);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(acc[i]);
    sdc_bench_sink(s);
    return (double)iters * CHAINS * 32 * 2;
}
