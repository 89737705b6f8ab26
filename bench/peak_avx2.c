/* Register-only AVX2 FMA loop (see peak_avx512.c): 12 independent ymm
 * accumulators updated as acc += m * c (all 16 ymm registers are used), the
 * peak the avx2 kernel table can reach. */
#include <immintrin.h>
#include <stdint.h>

#include "bench.h"

#define CHAINS 12
#define OPAQUE(v) __asm__ volatile("" : "+x"(v))

double sdc_bench_peak_fma_avx2(int64_t iters) {
    __m256 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(0.001f * (float)i);
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    OPAQUE(m);
    OPAQUE(c);
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(m, c, acc[i]);
    }
    float buf[8], s = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(buf, acc[i]);
        for (int j = 0; j < 8; j++) s += buf[j];
    }
    sdc_bench_sink(s);
    return (double)iters * CHAINS * 8 * 2;
}
