/* Shared declarations of the benchmark program (the files in bench/). Benchmarks
 * print tables; they are never pass/fail tests. */
#ifndef SDC_BENCH_H
#define SDC_BENCH_H

#include <stdint.h>

/* Peak loops: run `iters` iterations, return the floating-point operations
 * done (an FMA counts 2, a bf16 pair dot product 4 per lane). */
double sdc_bench_peak_fma_avx512(int64_t iters);
double sdc_bench_peak_dpbf16_avx512(int64_t iters);
double sdc_bench_peak_fma_avx2(int64_t iters);

/* GFLOP/s of a peak loop run on n threads at once (best of 3). */
typedef struct sdc_pool sdc_pool;
double sdc_bench_peak_rate(sdc_pool *pool, int n, double (*fn)(int64_t));
/* This machine's f32 FMA and bf16 peaks (GFLOP/s, n threads; bf16 0 when
 * the CPU lacks AVX512_BF16). */
void sdc_bench_peaks(sdc_pool *pool, int n, double *f32, double *bf16);

/* Keeps a result alive so the compiler cannot drop the loop. */
void sdc_bench_sink(float v);

/* `sdc_bench ops`: the op table (bench_ops.c). */
int sdc_bench_ops(int argc, char **argv);
/* `sdc_bench e2e`: whole-model stages and images (bench_e2e.c). */
int sdc_bench_e2e(int argc, char **argv);

#endif
