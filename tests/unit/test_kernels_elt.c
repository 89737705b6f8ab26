/* Optimized memory-bound kernels (every x86 table this CPU runs) against the
 * scalar reference: activations (accuracy sweep of the vectorized exp / erf
 * approximations), GEGLU, softmax, layer norm, group norm (+SiLU), broadcast
 * add / mul, nearest upsampling, row concatenation; odd lengths, aliasing,
 * and bitwise equality of results on 1, 2 and 3 threads. */
#include "test_kernels_util.h"

#include "base/threadpool.h"
#include "base/util.h"
#include "kernels/ref/ref_kernels.h"

/* |got - ref| in units of ulp(ref) (ulp of the f32 reference value, 2^-149
 * for zero / subnormals). */
static double ulp_err(float got, float ref) {
    double r = fabs((double)ref), ulp = r < 0x1p-126 ? 0x1p-149 : ldexp(1.0, ilogb(r) - 23);
    return fabs((double)got - (double)ref) / ulp;
}

static bool pools_make(sdc_pool **p) {
    p[0] = NULL;
    p[1] = sdc_pool_create(2);
    p[2] = sdc_pool_create(3);
    return p[1] && p[2];
}
static void pools_free(sdc_pool **p) {
    sdc_pool_destroy(p[1]);
    sdc_pool_destroy(p[2]);
}

/* ---- activations ---------------------------------------------------------------- */

static const char *const k_act_names[] = {"silu", "gelu", "gelu_tanh", "quick_gelu"};

/* Accurate double-precision activations for the sweep. sdc_ref_act is the
 * op's definition, but its 0.5 x (1 + erf / tanh) forms cancel in double
 * for x < -6 (1 + tanh(-19) is 0 in double), so the tails are checked
 * against the same functions written without cancellation:
 * 0.5 x erfc(-x / sqrt 2) and x / (1 + exp(-2u)). */
static double act_exact(sdc_act act, double x) {
    switch (act) {
    case SDC_ACT_SILU: return x / (1.0 + exp(-x));
    case SDC_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case SDC_ACT_GELU_TANH: return x / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case SDC_ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    }
    return x;
}

/* Error budget, in ulp, from rounding the argument the kernel feeds to exp:
 * a relative error r of an argument of magnitude A becomes a relative error
 * r A of the result, up to r A / u ulp. This is inherent to evaluating the
 * function in f32 (PyTorch's f32 kernels do the same) and is what dominates
 * in the tails:
 *   SiLU: -x is exact (0);  quick-GELU: 1.702 x, one rounding (A);
 *   tanh-GELU: k (x + c x^3) takes four roundings (4 A);
 *   erf-GELU: z = x * f32(1/sqrt 2) carries two roundings (the constant and
 *   the product: 2 z^2 each through exp(-z^2)) and the sum R(t) - z^2
 *   rounds to ulp(z^2) (z^2 more): 4 z^2 = 2 x^2. */
static double act_arg_ulps(sdc_act act, double x) {
    double k = 2.0 * sqrt(2.0 / M_PI);
    switch (act) {
    case SDC_ACT_SILU: return 0;
    case SDC_ACT_GELU: return 2 * x * x;
    case SDC_ACT_GELU_TANH: return 4 * fabs(k * (x + 0.044715 * x * x * x));
    case SDC_ACT_QUICK_GELU: return fabs(1.702 * x);
    }
    return 0;
}

/* Tolerance: 8 ulp + the argument budget above. Beyond exp's own ~2 ulp,
 * x / (1 + e) adds two roundings and passes e's error scaled by e / (1 + e)
 * < 1; erf-GELU adds the erfc polynomial (~4 ulp measured). Results below
 * 1e-36 max(1, |x|) count as zero (exp saturates / flushes there). The
 * measured worst cases are printed. */
TEST(kernels_activation_accuracy_sweep) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    /* every 97th float with 1e-6 <= |x| <= 30 (about 4.3 million values),
     * plus specials */
    size_t n = 0, cap = 1u << 23;
    float *x = kt_alloc(cap), *y = kt_alloc(cap);
    for (uint32_t u = sdc_f32_bits(1e-6f); u <= sdc_f32_bits(30.0f) && n + 2 < cap; u += 97) {
        x[n++] = sdc_bits_f32(u);
        x[n++] = -sdc_bits_f32(u);
    }
    x[n++] = 100.0f, x[n++] = -100.0f, x[n++] = 1e-30f, x[n++] = -1e-30f, x[n++] = 0.0f;
    for (int ti = 0; ti < nt; ti++) {
        for (int act = 0; act < 4; act++) {
            tabs[ti]->activation(NULL, (sdc_act)act, (int64_t)n, x, y);
            double worst = 0, worst_x = 0, worst_mid = 0;
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) {
                double ref = act_exact((sdc_act)act, x[i]), floor = 1e-36 * fmax(1.0, fabs((double)x[i]));
                double e = fabs(ref) < floor ? (fabs((double)y[i] - ref) <= floor ? 0 : INFINITY)
                                             : ulp_err(y[i], (float)ref) - 0.5; /* vs the exact value */
                if (e > worst) worst = e, worst_x = x[i];
                if (fabs((double)x[i]) < 4 && e > worst_mid) worst_mid = e;
                if (!(e <= 8 + act_arg_ulps((sdc_act)act, x[i]))) bad++;
            }
            printf("    %s %-10s max %.1f ulp (at x=%g); %.1f ulp for |x| < 4\n", tabs[ti]->name, k_act_names[act],
                   worst, worst_x, worst_mid);
            CHECK_MSG(bad == 0, "%s %s: %zu values over the bound", tabs[ti]->name, k_act_names[act], bad);
        }
    }
    free(x), free(y);
}

TEST(kernels_activation_lengths_aliasing_nan) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {3};
    static const int64_t lens[] = {1, 7, 16, 17, 100, 16384 + 5, 70001};
    for (int ti = 0; ti < nt; ti++)
        for (size_t li = 0; li < SDC_ARRAY_LEN(lens); li++)
            for (int act = 0; act < 4; act++) {
                int64_t n = lens[li];
                float *x = kt_random(&rng, (size_t)n + 1, -6, 6), *ref = kt_alloc((size_t)n + 1);
                x[n] = 12345.0f; /* sentinel past the end */
                if (n > 3) x[3] = NAN;
                sdc_ref_activation(NULL, (sdc_act)act, n, x, ref);
                float *out[3];
                for (int t = 0; t < 3; t++) {
                    out[t] = kt_alloc((size_t)n + 1);
                    memcpy(out[t], x, ((size_t)n + 1) * sizeof(float));
                    tabs[ti]->activation(pools[t], (sdc_act)act, n, out[t], out[t]); /* in place */
                }
                if (n > 3) { /* NaN compared apart (the harness compares values) */
                    CHECK_MSG(isnan(out[0][3]), "%s %s: NaN did not propagate", tabs[ti]->name, k_act_names[act]);
                    for (int t = 0; t < 3; t++) out[t][3] = 0;
                    ref[3] = 0;
                }
                sdc_cmp c = sdc_test_compare(out[0], ref, (size_t)n, 1e-6, 1e-5); /* see the sweep for ulps */
                CHECK_MSG(c.ok, "%s %s n=%lld: max diff %g", tabs[ti]->name, k_act_names[act], (long long)n, c.max_abs);
                CHECK_MSG(out[0][n] == 12345.0f, "%s wrote past the end", tabs[ti]->name);
                for (int t = 1; t < 3; t++) CHECK(memcmp(out[0], out[t], (size_t)n * sizeof(float)) == 0);
                for (int t = 0; t < 3; t++) free(out[t]);
                free(x), free(ref);
            }
    pools_free(pools);
}

TEST(kernels_geglu_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {4};
    static const int64_t shapes[][2] = {{1, 1}, {3, 7}, {5, 16}, {9, 33}, {77, 1280}, {2, 5000}};
    for (int ti = 0; ti < nt; ti++)
        for (size_t s = 0; s < SDC_ARRAY_LEN(shapes); s++) {
            int64_t M = shapes[s][0], F = shapes[s][1];
            float *x = kt_random(&rng, (size_t)(M * 2 * F), -5, 5), *ref = kt_alloc((size_t)(M * F));
            sdc_ref_geglu(NULL, M, F, x, ref);
            float *out[3];
            for (int t = 0; t < 3; t++) {
                out[t] = kt_alloc((size_t)(M * F));
                tabs[ti]->geglu(pools[t], M, F, x, out[t]);
            }
            /* gelu's ulps (sweep) times a product: 1e-6 absolute covers |x| <= 5 */
            sdc_cmp c = sdc_test_compare(out[0], ref, (size_t)(M * F), 1e-6, 1e-5);
            CHECK_MSG(c.ok, "%s geglu %lldx%lld: max diff %g", tabs[ti]->name, (long long)M, (long long)F, c.max_abs);
            for (int t = 1; t < 3; t++) CHECK(memcmp(out[0], out[t], (size_t)(M * F) * sizeof(float)) == 0);
            for (int t = 0; t < 3; t++) free(out[t]);
            free(x), free(ref);
        }
    pools_free(pools);
}

/* ---- softmax, layer norm, group norm -------------------------------------------------- */

TEST(kernels_softmax_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {5};
    static const int64_t shapes[][2] = {{1, 1}, {3, 7}, {4, 16}, {5, 77}, {2, 100}, {3, 4096}, {3000, 9}};
    for (int ti = 0; ti < nt; ti++)
        for (size_t s = 0; s < SDC_ARRAY_LEN(shapes); s++) {
            int64_t M = shapes[s][0], N = shapes[s][1];
            float *x = kt_random(&rng, (size_t)(M * N), -20, 20), *ref = kt_alloc((size_t)(M * N));
            memcpy(ref, x, (size_t)(M * N) * sizeof(float));
            sdc_ref_softmax(NULL, M, N, ref);
            float *out[3];
            for (int t = 0; t < 3; t++) {
                out[t] = kt_alloc((size_t)(M * N));
                memcpy(out[t], x, (size_t)(M * N) * sizeof(float));
                tabs[ti]->softmax(pools[t], M, N, out[t]);
            }
            /* relative, per element: the f32 difference x - max (rounding
             * error up to |x - max| u, which exp turns into a relative error),
             * exp (~2 ulp), an f32 sum of N positive terms in VL lanes then
             * across lanes (at most N/8 + 4 roundings of a partial sum <= the
             * total), the reciprocal and the product */
            float *bound = kt_alloc((size_t)(M * N));
            for (int64_t m = 0; m < M; m++) {
                float mx = -INFINITY;
                for (int64_t i = 0; i < N; i++) mx = fmaxf(mx, x[m * N + i]);
                for (int64_t i = 0; i < N; i++)
                    bound[m * N + i] = (float)((fabs((double)x[m * N + i] - mx) + (double)N / 8 + 12) * KT_U *
                                               ref[m * N + i]) + 1e-37f;
            }
            char what[64];
            snprintf(what, sizeof what, "%s softmax %lldx%lld", tabs[ti]->name, (long long)M, (long long)N);
            CHECK(kt_within(what, out[0], ref, bound, (size_t)(M * N)));
            free(bound);
            for (int t = 1; t < 3; t++) CHECK(memcmp(out[0], out[t], (size_t)(M * N) * sizeof(float)) == 0);
            for (int t = 0; t < 3; t++) free(out[t]);
            free(x), free(ref);
        }
    pools_free(pools);
}

/* Norm tolerance: statistics are f32 sums of up to ~10^5 terms in blocked
 * order (errors ~sqrt(n) u relative to the sums in practice); on these
 * inputs (offset 3, spread 1) outputs have magnitude <= ~6, so 2e-5 absolute
 * + 1e-5 relative holds with room, while a wrong mean, variance or channel
 * grouping moves outputs by > 1e-2. */
#define NORM_ATOL 2e-5
#define NORM_RTOL 1e-5

TEST(kernels_layer_norm_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {6};
    static const int64_t shapes[][2] = {{1, 1}, {3, 7}, {4, 16}, {77, 768}, {9, 320}, {2, 1001}, {700, 40}};
    for (int ti = 0; ti < nt; ti++)
        for (size_t s = 0; s < SDC_ARRAY_LEN(shapes); s++)
            for (int affine = 0; affine < 2; affine++) {
                int64_t M = shapes[s][0], C = shapes[s][1];
                float *x = kt_random(&rng, (size_t)(M * C), 2, 4), *ref = kt_alloc((size_t)(M * C));
                float *g = affine ? kt_random(&rng, (size_t)C, -1.5, 1.5) : NULL;
                float *b = affine ? kt_random(&rng, (size_t)C, -1, 1) : NULL;
                sdc_ref_layer_norm(NULL, M, C, x, g, b, 1e-5f, ref);
                float *out[3];
                for (int t = 0; t < 3; t++) {
                    out[t] = kt_alloc((size_t)(M * C));
                    memcpy(out[t], x, (size_t)(M * C) * sizeof(float));
                    tabs[ti]->layer_norm(pools[t], M, C, out[t], g, b, 1e-5f, out[t]); /* in place */
                }
                sdc_cmp c = sdc_test_compare(out[0], ref, (size_t)(M * C), NORM_ATOL, NORM_RTOL);
                CHECK_MSG(c.ok, "%s layer_norm %lldx%lld: max diff %g", tabs[ti]->name, (long long)M, (long long)C,
                          c.max_abs);
                for (int t = 1; t < 3; t++) CHECK(memcmp(out[0], out[t], (size_t)(M * C) * sizeof(float)) == 0);
                for (int t = 0; t < 3; t++) free(out[t]);
                free(x), free(ref), free(g), free(b);
            }
    pools_free(pools);
}

TEST(kernels_group_norm_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {7};
    /* B, P, C, G */
    static const int64_t shapes[][4] = {{1, 1, 4, 2},   {2, 7, 12, 3},    {1, 64, 32, 32}, {2, 333, 64, 32},
                                        {1, 4096, 320, 32}, {1, 5000, 20, 4}, {3, 65, 17, 1}};
    for (int ti = 0; ti < nt; ti++)
        for (size_t s = 0; s < SDC_ARRAY_LEN(shapes); s++)
            for (int silu = 0; silu < 2; silu++) {
                int64_t B = shapes[s][0], P = shapes[s][1], C = shapes[s][2], G = shapes[s][3];
                size_t n = (size_t)(B * P * C);
                float *x = kt_random(&rng, n, 2, 4), *ref = kt_alloc(n);
                float *g = kt_random(&rng, (size_t)C, -1.5, 1.5), *b = kt_random(&rng, (size_t)C, -1, 1);
                sdc_group_norm_args a = {.B = B, .P = P, .C = C, .G = G, .x = x, .gamma = g, .beta = b,
                                         .eps = 1e-6f, .silu = silu, .y = ref};
                sdc_ref_group_norm(NULL, &a);
                float *out[3];
                for (int t = 0; t < 3; t++) {
                    out[t] = kt_alloc(n);
                    memcpy(out[t], x, n * sizeof(float));
                    sdc_group_norm_args ao = a;
                    ao.x = ao.y = out[t]; /* in place */
                    tabs[ti]->group_norm(pools[t], &ao);
                }
                sdc_cmp c = sdc_test_compare(out[0], ref, n, NORM_ATOL, NORM_RTOL);
                CHECK_MSG(c.ok, "%s group_norm B%lld P%lld C%lld G%lld silu=%d: max diff %g", tabs[ti]->name,
                          (long long)B, (long long)P, (long long)C, (long long)G, silu, c.max_abs);
                for (int t = 1; t < 3; t++) CHECK(memcmp(out[0], out[t], n * sizeof(float)) == 0);
                for (int t = 0; t < 3; t++) free(out[t]);
                free(x), free(ref), free(g), free(b);
            }
    pools_free(pools);
}

/* ---- exact ops ------------------------------------------------------------------------------ */

TEST(kernels_add_mul_broadcast_exact) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {8};
    static const int64_t cases[][2] = {{1, 1}, {7, 7}, {1000, 1}, {999, 3}, {1024, 16}, {1000, 17},
                                       {40000, 320}, {33333, 33333}, {50000, 1280}};
    for (int ti = 0; ti < nt; ti++)
        for (size_t ci = 0; ci < SDC_ARRAY_LEN(cases); ci++)
            for (int op = 0; op < 2; op++) {
                int64_t n = cases[ci][0], period = cases[ci][1];
                float *a = kt_random(&rng, (size_t)n, -3, 3), *b = kt_random(&rng, (size_t)period, -3, 3);
                float *ref = kt_alloc((size_t)n);
                (op ? sdc_ref_mul : sdc_ref_add)(NULL, n, a, b, period, ref);
                for (int t = 0; t < 3; t++) {
                    float *y = kt_alloc((size_t)n);
                    memcpy(y, a, (size_t)n * sizeof(float));
                    (op ? tabs[ti]->mul : tabs[ti]->add)(pools[t], n, y, b, period, y); /* y aliases a */
                    CHECK_MSG(memcmp(y, ref, (size_t)n * sizeof(float)) == 0, "%s %s n=%lld period=%lld differs",
                              tabs[ti]->name, op ? "mul" : "add", (long long)n, (long long)period);
                    free(y);
                }
                free(a), free(b), free(ref);
            }
    pools_free(pools);
}

TEST(kernels_upsample_concat_exact) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {9};
    /* B, H, W, C, OH, OW: 2x, non-integer ratios, downscale, odd channels */
    static const int64_t ups[][6] = {{2, 4, 5, 3, 8, 10}, {1, 3, 3, 17, 7, 5}, {1, 9, 7, 4, 3, 2}, {1, 1, 1, 1, 1, 1}};
    for (int ti = 0; ti < nt; ti++) {
        for (size_t u = 0; u < SDC_ARRAY_LEN(ups); u++) {
            const int64_t *s = ups[u];
            size_t nx = (size_t)(s[0] * s[1] * s[2] * s[3]), ny = (size_t)(s[0] * s[4] * s[5] * s[3]);
            float *x = kt_random(&rng, nx, -1, 1), *ref = kt_alloc(ny);
            sdc_ref_upsample_nearest(NULL, s[0], s[1], s[2], s[3], s[4], s[5], x, ref);
            for (int t = 0; t < 3; t++) {
                float *y = kt_alloc(ny);
                tabs[ti]->upsample_nearest(pools[t], s[0], s[1], s[2], s[3], s[4], s[5], x, y);
                CHECK_MSG(memcmp(y, ref, ny * sizeof(float)) == 0, "%s upsample case %zu differs", tabs[ti]->name, u);
                free(y);
            }
            free(x), free(ref);
        }
        static const int64_t cats[][3] = {{1, 1, 1}, {7, 3, 5}, {4096, 320, 320}, {100, 0, 9}};
        for (size_t c = 0; c < SDC_ARRAY_LEN(cats); c++) {
            int64_t P = cats[c][0], Ca = cats[c][1], Cb = cats[c][2];
            float *a = kt_random(&rng, (size_t)(P * Ca), -1, 1), *b = kt_random(&rng, (size_t)(P * Cb), -1, 1);
            float *ref = kt_alloc((size_t)(P * (Ca + Cb)));
            sdc_ref_concat_rows(NULL, P, Ca, Cb, a, b, ref);
            for (int t = 0; t < 3; t++) {
                float *y = kt_alloc((size_t)(P * (Ca + Cb)));
                tabs[ti]->concat_rows(pools[t], P, Ca, Cb, a, b, y);
                CHECK_MSG(memcmp(y, ref, (size_t)(P * (Ca + Cb)) * sizeof(float)) == 0, "%s concat case %zu differs",
                          tabs[ti]->name, c);
                free(y);
            }
            free(a), free(b), free(ref);
        }
    }
    pools_free(pools);
}
