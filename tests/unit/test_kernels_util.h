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

/* Bound on |Winograd F(2x2, 3x3) conv - reference| for bf16 compute (3x3,
 * stride 1), per output: the kernel rounds the transformed weights
 * U = G w_b G^T and inputs V = B^T d B to bf16 (w_b: weights rounded to
 * bf16, as the reference rounds them; d: the f32 pixels, which the
 * reference rounds instead), products exact, f32 sums:
 *   |y - ref| <= (3 u_b + u_b^2 + (Cin + 16) u) S_w + 4 u (|ref| + |bias| + |res|),
 *   S_w = sum_xi |A|(x)|A| sum_cin |U| (|B|^T |d| |B|),
 * u_b = 2^-9 covering the roundings of U and V and the reference's
 * rounding of d (|V_b - V| <= u_b |B|^T|d||B|). wf: the stored weight
 * values [Cout, 3, 3, Cin] as f32; y_ref the reference output. A worst
 * case over all terms: only gross errors exceed it (exactness tests in
 * test_kernels_winograd.c catch the rest). */
static inline void kt_winograd_bound(const sdc_conv2d_args *a, const float *wf, const float *y_ref, float *bound) {
    int64_t OH = a->H + a->pad_t + a->pad_b - 2, OW = a->W + a->pad_l + a->pad_r - 2, Ci = a->Cin, Co = a->Cout;
    double *U = malloc((size_t)(Co * Ci * 16) * sizeof(double)), *V = malloc((size_t)(Ci * 16) * sizeof(double));
    if (!U || !V) abort();
    static const double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
    for (int64_t o = 0; o < Co; o++)
        for (int64_t c = 0; c < Ci; c++)
            for (int x = 0; x < 16; x++) {
                double s = 0;
                for (int i = 0; i < 3; i++)
                    for (int k = 0; k < 3; k++)
                        s += G[x / 4][i] * G[x % 4][k] * sdc_bf16_to_f32(sdc_f32_to_bf16(wf[((o * 3 + i) * 3 + k) * Ci + c]));
                U[(o * Ci + c) * 16 + x] = fabs(s);
            }
    static const double Bt[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}}; /* |B^T| */
    static const double At[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};                            /* |A^T| */
    double ub = 0x1p-9, k = 3 * ub + ub * ub + (double)(Ci + 16) * KT_U;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t ty = 0; ty < (OH + 1) / 2; ty++)
            for (int64_t tx = 0; tx < (OW + 1) / 2; tx++) {
                for (int64_t c = 0; c < Ci; c++)
                    for (int x = 0; x < 16; x++) {
                        double s = 0;
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++) {
                                int64_t iy = 2 * ty - a->pad_t + i, ix = 2 * tx - a->pad_l + j;
                                if (iy >= 0 && iy < a->H && ix >= 0 && ix < a->W)
                                    s += Bt[x / 4][i] * Bt[x % 4][j] * fabs(a->x[((b * a->H + iy) * a->W + ix) * Ci + c]);
                            }
                        V[c * 16 + x] = s;
                    }
                for (int64_t o = 0; o < Co; o++) {
                    double S[16] = {0};
                    for (int64_t c = 0; c < Ci; c++)
                        for (int x = 0; x < 16; x++) S[x] += U[(o * Ci + c) * 16 + x] * V[c * 16 + x];
                    for (int y = 0; y < 2; y++)
                        for (int z = 0; z < 2; z++) {
                            int64_t oy = 2 * ty + y, ox = 2 * tx + z;
                            if (oy >= OH || ox >= OW) continue;
                            double sw = 0;
                            for (int x = 0; x < 16; x++) sw += At[y][x / 4] * At[z][x % 4] * S[x];
                            int64_t idx = ((b * OH + oy) * OW + ox) * Co + o;
                            double extra = fabs(y_ref[idx]) + (a->bias ? fabs(a->bias[o]) : 0) +
                                           (a->residual ? fabs(a->residual[idx]) : 0);
                            bound[idx] = (float)(k * sw + 4 * KT_U * extra) + 1e-37f;
                        }
                }
            }
    free(U), free(V);
}

#endif
