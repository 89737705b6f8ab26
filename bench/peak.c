/* Measuring this machine's arithmetic peak, shared by the benchmarks. */
#include <stdatomic.h>

#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "bench.h"

typedef struct peak_job {
    double (*fn)(int64_t);
    int64_t iters;
    atomic_int started;
    int n;
    double flops[64];
} peak_job;

static void peak_task(void *v, int t) {
    peak_job *j = v;
    /* wait until every task runs, so they really run at the same time */
    atomic_fetch_add(&j->started, 1);
    while (atomic_load(&j->started) < j->n) {
    }
    j->flops[t] = j->fn(j->iters);
}

double sdc_bench_peak_rate(sdc_pool *pool, int n, double (*fn)(int64_t)) {
    peak_job j = {.fn = fn, .iters = 1000000, .n = n};
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        atomic_store(&j.started, 0);
        double t0 = sdc_time_now();
        sdc_pool_run(n > 1 ? pool : NULL, n, peak_task, &j);
        double dt = sdc_time_now() - t0, f = 0;
        for (int i = 0; i < n; i++) f += j.flops[i];
        if (f / dt > best) best = f / dt;
    }
    return best * 1e-9;
}

void sdc_bench_peaks(sdc_pool *pool, int n, double *f32, double *bf16) {
    const sdc_cpu_features *f = sdc_cpu_get();
    double (*fma)(int64_t) = f->avx512f ? sdc_bench_peak_fma_avx512 : f->avx2 ? sdc_bench_peak_fma_avx2 : NULL;
    *f32 = fma ? sdc_bench_peak_rate(pool, n, fma) : 0;
    *bf16 = f->avx512_bf16 ? sdc_bench_peak_rate(pool, n, sdc_bench_peak_dpbf16_avx512) : 0;
}
