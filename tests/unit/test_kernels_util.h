/* Helpers shared by the kernel tests (test_kernels_*.c): the optimized
 * tables present on this machine, weight conversion, error bounds.
 * Header-only (static inline) so each test file stays self-contained. */
#ifndef SDC_TESTS_KERNELS_UTIL_H
#define SDC_TESTS_KERNELS_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"

/* Optimized tables this CPU can run (those not listed are reported as such
 * by the test that needs them). Returns how many were put in out[]. */
static inline int kt_tables(const sdc_kernels *out[4]) {
    static const char *const names[] = {"avx512", "avx2"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        const sdc_kernels *k = sdc_kernels_by_name(names[i]);
        if (k) out[n++] = k;
    }
    return n;
}

/* A weight buffer of type t holding f32 values w (rounded for f16/bf16);
 * also writes back into w the values the buffer really holds, so reference
 * and optimized kernels see the same numbers. Caller frees. */
static inline void *kt_weights(sdc_dtype t, float *w, size_t n) {
    size_t es = t == SDC_DTYPE_F32 ? 4 : 2;
    void *p = malloc(n * es + 64);
    if (!p) abort();
    sdc_convert_from_f32(t, w, p, n);
    sdc_convert_to_f32(t, p, w, n);
    return p;
}

/* |w| for a weight buffer (clears sign bits). */
static inline void *kt_abs_weights(sdc_dtype t, const void *w, size_t n) {
    size_t es = t == SDC_DTYPE_F32 ? 4 : 2;
    void *p = malloc(n * es + 64);
    if (!p) abort();
    memcpy(p, w, n * es);
    for (size_t i = 0; i < n; i++) {
        if (es == 4)
            ((uint32_t *)p)[i] &= 0x7fffffffu;
        else
            ((uint16_t *)p)[i] &= 0x7fffu;
    }
    return p;
}

static inline float *kt_abs(const float *x, size_t n) {
    float *p = malloc(n * sizeof *p + 64);
    if (!p) abort();
    for (size_t i = 0; i < n; i++) p[i] = fabsf(x[i]);
    return p;
}

static inline float *kt_alloc(size_t n) {
    float *p = malloc(n * sizeof *p + 64);
    if (!p) abort();
    return p;
}

static inline float *kt_random(sdc_test_rng *r, size_t n, float lo, float hi) {
    float *p = kt_alloc(n);
    sdc_test_fill(r, p, n, lo, hi);
    return p;
}

/* Checks |got - ref| <= bound[i] everywhere (bound from the magnitudes of
 * the summed terms, see the callers); reports the worst ratio. Returns
 * true when it holds. NaN anywhere fails. */
static inline bool kt_within(const char *what, const float *got, const float *ref, const float *bound, size_t n) {
    double worst = 0;
    size_t wi = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double q = d / ((double)bound[i] + 1e-37);
        if (!(d <= bound[i])) bad++;
        if (!(q <= worst)) {
            worst = q;
            wi = i;
        }
    }
    if (bad)
        printf("    %s: %zu of %zu outside the bound; worst at %zu: got %.9g ref %.9g bound %.3g\n", what, bad, n,
               wi, got[wi], ref[wi], bound[wi]);
    return bad == 0;
}

/* Unit roundoff of f32. */
#define KT_U 0x1p-24

#endif
