/* x86 CPUID/XGETBV feature detection (see cpu.h). Non-x86 builds report
 * nothing, so only the portable kernels are chosen. */
#include "base/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(sdc_cpu_features *f) {
    unsigned a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    if (!osxsave) return;
    unsigned long long xcr0 = xgetbv0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (!ymm_ok) f->fma = f->f16c = false;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = ymm_ok && ((b >> 5) & 1);
        if (zmm_ok) {
            f->avx512f = (b >> 16) & 1;
            f->avx512dq = (b >> 17) & 1;
            f->avx512bw = (b >> 30) & 1;
            f->avx512vl = (b >> 31) & 1;
            f->avx512_vnni = (c >> 11) & 1;
            f->avx512_fp16 = (d >> 23) & 1;
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512_bf16 = (a >> 5) & 1;
        }
    }
    unsigned ext = __get_cpuid_max(0x80000000u, NULL);
    if (ext >= 0x80000004u) {
        unsigned *w = (unsigned *)f->brand;
        for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002u + i, w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
        f->brand[sizeof f->brand - 1] = '\0';
    }
}
#else
static void detect(sdc_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

static sdc_cpu_features g_features; /* written once under pthread_once */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init_once(void) {
    detect(&g_features);
    const char *cap = getenv("SDC_CPU_CAP");
    if (!cap) return;
    sdc_cpu_features *f = &g_features;
    if (strcmp(cap, "avx2") == 0 || strcmp(cap, "portable") == 0) {
        f->avx512f = f->avx512bw = f->avx512vl = f->avx512dq = false;
        f->avx512_bf16 = f->avx512_fp16 = f->avx512_vnni = false;
    }
    if (strcmp(cap, "portable") == 0) f->avx2 = f->fma = f->f16c = false;
}

const sdc_cpu_features *sdc_cpu_get(void) {
    pthread_once(&g_once, init_once);
    return &g_features;
}

void sdc_cpu_describe(const sdc_cpu_features *f, char *buf, int size) {
    snprintf(buf, (size_t)size, "%s%s%s%s%s%s%s", f->avx2 ? "avx2 " : "", f->fma ? "fma " : "",
             f->f16c ? "f16c " : "", f->avx512f && f->avx512bw && f->avx512vl ? "avx512 " : "",
             f->avx512_bf16 ? "avx512_bf16 " : "", f->avx512_fp16 ? "avx512_fp16 " : "",
             f->avx512_vnni ? "avx512_vnni" : "");
}
