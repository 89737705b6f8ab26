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

/* Keeps a result alive so the compiler cannot drop the loop. */
void sdc_bench_sink(float v);

/* `sdc_bench ops`: the op table (bench_ops.c). */
int sdc_bench_ops(int argc, char **argv);

#endif
