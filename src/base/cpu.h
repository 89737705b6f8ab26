/* CPU feature detection, done once, read by the kernel dispatcher. */
#ifndef SDC_BASE_CPU_H
#define SDC_BASE_CPU_H

#include <stdbool.h>

typedef struct sdc_cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_bf16, avx512_fp16, avx512_vnni;
    char brand[64];
} sdc_cpu_features;

/* Detected features, with OS support for the register state checked
 * (XGETBV). The environment variable SDC_CPU_CAP=portable|avx2|avx512 caps
 * what is reported, to test the fallbacks on a machine that has more. */
const sdc_cpu_features *sdc_cpu_get(void);

/* "avx512 bf16 vnni" style one-line summary into buf. */
void sdc_cpu_describe(const sdc_cpu_features *f, char *buf, int size);

#endif
