/* sdc_bench: performance tables, never a pass/fail test.
 *
 *   sdc_bench ops [--threads N] [--kernels NAME] [--filter TEXT] [--time SEC] [--no-ref]
 *
 * `ops` first measures this machine's arithmetic peak (register-only FMA
 * and vdpbf16ps loops, 1 thread and N threads), then times every hot kernel
 * at Stable Diffusion shapes and prints time, rate, fraction of the measured
 * peak and the speed-up over the scalar reference kernels. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static volatile float g_sink;

void sdc_bench_sink(float v) { g_sink = v; }

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "ops") == 0) return sdc_bench_ops(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "e2e") == 0) return sdc_bench_e2e(argc - 1, argv + 1);
    fprintf(stderr,
            "usage: sdc_bench ops [--threads N] [--kernels ref|avx2|avx512] [--filter TEXT] [--time SEC] "
            "[--no-ref]\n       sdc_bench e2e --model FILE [--taesd FILE] [--precision bf16|f32|f16] [--quick] "
            "[--no-pack]\n");
    return 2;
}
