/* Chooses the kernel table for this CPU (see kernels.h).
 *
 * Tables: "ref" (scalar reference, any CPU), "avx2" (AVX2 + FMA + F16C),
 * "avx512" (AVX-512 F/BW/VL/DQ; uses vdpbf16ps for bf16 compute when the
 * CPU has AVX512_BF16, and an exact emulation otherwise). A table is only
 * handed out when sdc_cpu_get() reports its features, so one binary runs on
 * any x86-64; SDC_CPU_CAP=avx2|portable caps the detection to test the
 * fallbacks, SDC_KERNELS=ref|avx2|avx512 forces a table (ignored, with the
 * best table used instead, when this CPU lacks it). Every kernel of both x86
 * tables is specialized; the reference stays the definition they are tested
 * against. */
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/x86_kernels.h"

#if defined(__x86_64__)
static const sdc_packed_weights *pack_avx512(sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t, const void *B,
                                             int64_t ldb, sdc_compute compute, void *dst);

#define SDC_X86_TABLE(isa, label, packed_size_fn, pack_fn) \
    static const sdc_kernels k_##isa = {                   \
        .name = label,                                     \
        .gemm = sdc_##isa##_gemm,                          \
        .conv2d = sdc_##isa##_conv2d,                      \
        .attention = sdc_##isa##_attention,                \
        .group_norm = sdc_##isa##_group_norm,              \
        .layer_norm = sdc_##isa##_layer_norm,              \
        .softmax = sdc_##isa##_softmax,                    \
        .activation = sdc_##isa##_activation,              \
        .geglu = sdc_##isa##_geglu,                        \
        .add = sdc_##isa##_add,                            \
        .mul = sdc_##isa##_mul,                            \
        .upsample_nearest = sdc_##isa##_upsample_nearest,  \
        .concat_rows = sdc_##isa##_concat_rows,            \
        .packed_size = packed_size_fn,                     \
        .pack_weights = pack_fn,                           \
    };

SDC_X86_TABLE(avx512, "avx512", sdc_avx512_packed_size, pack_avx512)
SDC_X86_TABLE(avx2, "avx2", NULL, NULL) /* no native bf16 format: nothing to pack */

/* the packed form names the table whose calls may read it */
static const sdc_packed_weights *pack_avx512(sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t, const void *B,
                                             int64_t ldb, sdc_compute compute, void *dst) {
    sdc_packed_weights *p = sdc_avx512_pack_weights(pool, N, K, t, B, ldb, compute, dst);
    if (p) p->table = &k_avx512;
    return p;
}

static bool have_avx512(const sdc_cpu_features *f) {
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->fma && f->f16c;
}
static bool have_avx2(const sdc_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
#endif

const sdc_kernels *sdc_kernels_by_name(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, "ref") == 0) return sdc_kernels_ref();
#if defined(__x86_64__)
    const sdc_cpu_features *f = sdc_cpu_get();
    if (strcmp(name, "avx512") == 0 && have_avx512(f)) return &k_avx512;
    if (strcmp(name, "avx2") == 0 && have_avx2(f)) return &k_avx2;
#endif
    return NULL;
}

const sdc_kernels *sdc_kernels_best(void) {
    const char *forced = getenv("SDC_KERNELS");
    if (forced) {
        const sdc_kernels *k = sdc_kernels_by_name(forced);
        if (k) return k;
    }
    static const char *const order[] = {"avx512", "avx2"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const sdc_kernels *k = sdc_kernels_by_name(order[i]);
        if (k) return k;
    }
    return sdc_kernels_ref();
}
