/* `sdc version`: version, CPU features, chosen kernels. */
#include <stdio.h>

#include "base/cpu.h"
#include "cli.h"
#include "kernels/kernels.h"

int sdc_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    const sdc_cpu_features *f = sdc_cpu_get();
    char feat[256];
    sdc_cpu_describe(f, feat, sizeof feat);
    printf("sdc %s\ncpu: %s\nfeatures: %s\nkernels: %s\n", SDC_VERSION, f->brand, feat, sdc_kernels_best()->name);
    return 0;
}
