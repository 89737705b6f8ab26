/* Optimized GEMM and convolution (every x86 table this CPU runs) against
 * the scalar reference, on awkward shapes, every weight dtype and compute
 * mode, strided operands, bias / residual (also aliasing the output); and
 * bitwise equality of results computed with 1, 2 and 3 threads.
 *
 * Tolerance, per output element: |got - ref| <= (K + 4) * u * S, u = 2^-24,
 * S = sum_k |a_k b_k| + |bias| + |residual|. The reference sums exactly
 * (double); an f32 summation of K products plus three more terms, in any
 * order and blocking, with or without FMA, commits at most K + 3 roundings
 * of at most u times a partial sum bounded by S. The bound holds for bf16
 * compute too: both sides round the same operands to bf16, and a product of
 * two bf16 values is exact in f32. S is computed by the reference kernel
 * itself on |A|, |B|. A wrong or missing term shows up as an error of order
 * |a_k b_k|, far above the bound for these K.
 *
 * Weights packed ahead of time (tables with pack_weights, bf16 compute):
 * the same call with the packed form and no plain weights must give the
 * plain call's result bit for bit (same packed values, same blocking),
 * except with at most SDC_GEMV_MAX_ROWS rows, where the plain call takes
 * the unpacked few-row kernel: then the bound above applies. */
#include "test_kernels_util.h"

#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/x86_kernels.h"

typedef struct gemm_case {
    int64_t M, N, K;
    int64_t lda_pad, ldc_pad;
    int bias;
    int res; /* 0 none, 1 separate buffer, 2 aliasing C */
} gemm_case;

static const sdc_dtype k_wtypes[] = {SDC_DTYPE_F32, SDC_DTYPE_F16, SDC_DTYPE_BF16};

/* Table k's packed form of weights B [N, K] (rows K apart), or NULL when k
 * packs nothing for this type and mode; *buf gets the memory to free. */
static const sdc_packed_weights *pack_for(const sdc_kernels *k, sdc_pool *pool, int64_t N, int64_t K, sdc_dtype t,
                                          const void *B, sdc_compute comp, void **buf) {
    *buf = NULL;
    size_t n = k->packed_size ? k->packed_size(N, K, t, comp) : 0;
    if (!n) return NULL;
    *buf = sdc_alloc_aligned(n);
    if (!*buf) return NULL;
    const sdc_packed_weights *p = k->pack_weights(pool, N, K, t, B, K, comp, *buf);
    CHECK_MSG(p && p->table == k && p->N == N && p->K == K && p->compute == comp, "%s: packed header", k->name);
    return p;
}

/* The case again with packed weights only (B NULL), on 1, 2 and 3 threads:
 * bitwise equal to the plain result out0, or within the bound when the
 * plain call took the few-row kernel. */
static bool gemm_check_packed(const sdc_kernels *k, sdc_pool **pools, const gemm_case *gc, const sdc_gemm_args *g,
                              const float *out0, const float *ref, const float *bound, const char *what) {
    void *buf;
    const sdc_packed_weights *p = pack_for(k, pools[1], g->N, g->K, g->b_type, g->B, g->compute, &buf);
    if (!p) return true;
    size_t n = (size_t)(g->M * g->ldc);
    float *first = kt_alloc(n), *o = kt_alloc(n);
    bool ok = true;
    for (int t = 0; t < 3 && ok; t++) {
        for (size_t i = 0; i < n; i++) o[i] = NAN;
        sdc_gemm_args go = *g;
        go.B = NULL, go.packed = p, go.C = o;
        if (gc->res == 2) {
            memcpy(o, g->residual, n * sizeof(float));
            go.residual = o;
        }
        k->gemm(pools[t], &go);
        if (g->M > SDC_GEMV_MAX_ROWS) {
            ok = memcmp(o, out0, n * sizeof(float)) == 0;
        } else if (t == 0) {
            for (int64_t m = 0; m < g->M && ok; m++)
                ok = kt_within(what, o + m * g->ldc, ref + m * g->ldc, bound + m * g->ldc, (size_t)g->N);
            memcpy(first, o, n * sizeof(float));
        } else {
            ok = memcmp(o, first, n * sizeof(float)) == 0;
        }
        if (!ok) printf("    %s: packed weights, %d threads: differs\n", what, sdc_pool_threads(pools[t]));
    }
    free(first), free(o);
    sdc_free_aligned(buf);
    return ok;
}

/* The optimized result of table k for case g (1, 2 and 3 threads) against
 * the reference and its bound; padding columns (ldc > N) must be left
 * alone. */
static bool gemm_check_table(const sdc_kernels *k, sdc_pool **pools, const gemm_case *gc, const sdc_gemm_args *g,
                             const float *ref, const float *bound) {
    int64_t M = g->M, N = g->N, ldc = g->ldc;
    const float *res = g->residual;
    bool ok = true;
    float *out[3];
    for (int t = 0; t < 3; t++) {
        out[t] = kt_alloc((size_t)(M * ldc));
        for (int64_t i = 0; i < M * ldc; i++) out[t][i] = NAN; /* padding columns must stay untouched */
        sdc_gemm_args go = *g;
        go.C = out[t];
        if (gc->res == 2) { /* residual aliasing the output */
            memcpy(out[t], res, (size_t)(M * ldc) * sizeof(float));
            go.residual = out[t];
        }
        k->gemm(pools[t], &go);
    }
    char what[160];
    snprintf(what, sizeof what, "%s gemm M=%lld N=%lld K=%lld w=%s %s", k->name, (long long)M, (long long)N,
             (long long)g->K, sdc_dtype_name(g->b_type), g->compute == SDC_COMPUTE_BF16 ? "bf16" : "f32");
    for (int64_t m = 0; m < M && ok; m++) {
        ok = kt_within(what, out[0] + m * ldc, ref + m * ldc, bound + m * ldc, (size_t)N);
        for (int64_t n = N; n < ldc && ok; n++) {
            float want = gc->res == 2 ? res[m * ldc + n] : NAN;
            ok = memcmp(&out[0][m * ldc + n], &want, 4) == 0;
            if (!ok) printf("    %s: padding column %lld of row %lld was written\n", what, (long long)n, (long long)m);
        }
    }
    for (int t = 1; t < 3 && ok; t++) {
        ok = memcmp(out[0], out[t], (size_t)(M * ldc) * sizeof(float)) == 0;
        if (!ok) printf("    %s: %d threads differ from 1 thread\n", what, sdc_pool_threads(pools[t]));
    }
    if (ok) ok = gemm_check_packed(k, pools, gc, g, out[0], ref, bound, what);
    for (int t = 0; t < 3; t++) free(out[t]);
    return ok;
}

/* Runs one case on each of the nk tables; returns false on a mismatch
 * (details printed). */
static bool gemm_case_run(const sdc_kernels *const *tabs, int nk, sdc_pool **pools, const gemm_case *gc,
                          sdc_dtype bt, sdc_compute comp, sdc_test_rng *rng) {
    int64_t M = gc->M, N = gc->N, K = gc->K, lda = K + gc->lda_pad, ldc = N + gc->ldc_pad;
    float *A = kt_random(rng, (size_t)(M * lda), -1, 1);
    float *Bf = kt_random(rng, (size_t)(N * K), -1, 1);
    void *B = kt_weights(bt, Bf, (size_t)(N * K));
    float *bias = gc->bias ? kt_random(rng, (size_t)N, -1, 1) : NULL;
    float *res = gc->res ? kt_random(rng, (size_t)(M * ldc), -2, 2) : NULL;
    float *ref = kt_alloc((size_t)(M * ldc)), *bound = kt_alloc((size_t)(M * ldc));
    sdc_gemm_args g = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .b_type = bt, .B = B, .ldb = K,
                       .bias = bias, .residual = res, .ldr = ldc, .C = ref, .ldc = ldc, .compute = comp};
    sdc_ref_gemm(pools[1], &g);
    /* S = |A| |B|^T + |bias| + |res| */
    float *absA = kt_abs(A, (size_t)(M * lda)), *absb = bias ? kt_abs(bias, (size_t)N) : NULL;
    float *absr = res ? kt_abs(res, (size_t)(M * ldc)) : NULL;
    void *absB = kt_abs_weights(bt, B, (size_t)(N * K));
    sdc_gemm_args gs = g;
    gs.A = absA, gs.B = absB, gs.bias = absb, gs.residual = absr, gs.C = bound;
    sdc_ref_gemm(pools[1], &gs);
    for (int64_t i = 0; i < M * ldc; i++) bound[i] = (float)((double)(K + 4) * KT_U * bound[i]) + 1e-37f;

    bool ok = true;
    for (int ki = 0; ki < nk && ok; ki++) ok = gemm_check_table(tabs[ki], pools, gc, &g, ref, bound);
    free(A), free(Bf), free(B), free(bias), free(res), free(ref), free(bound);
    free(absA), free(absb), free(absr), free(absB);
    return ok;
}

/* pools[0] = none (inline), [1] = 2 threads, [2] = 3 threads */
static bool make_pools(sdc_pool **p) {
    p[0] = NULL;
    p[1] = sdc_pool_create(2);
    p[2] = sdc_pool_create(3);
    return p[1] && p[2];
}
static void free_pools(sdc_pool **p) {
    sdc_pool_destroy(p[1]);
    sdc_pool_destroy(p[2]);
}

static const gemm_case k_gemm_cases[] = {
    {1, 1, 1, 0, 0, 0, 0},       {1, 37, 64, 3, 0, 1, 0},     {7, 7, 7, 0, 5, 1, 1},
    {16, 32, 16, 0, 0, 0, 2},    {33, 35, 130, 5, 3, 1, 1},   {100, 100, 259, 0, 0, 1, 2},
    {257, 33, 19, 1, 0, 0, 1},   {14, 64, 256, 0, 0, 1, 0},   {29, 96, 300, 7, 1, 0, 0},
    {3, 200, 1000, 0, 0, 1, 1},  {200, 13, 5, 2, 2, 1, 2},    {57, 320, 320, 0, 0, 1, 1},
    {130, 70, 2, 0, 0, 0, 0},    {43, 31, 33, 0, 0, 1, 0},    {2, 1280, 320, 0, 0, 1, 0},
    {450, 64, 96, 0, 0, 1, 2},
};

TEST(kernels_gemm_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(make_pools(pools));
    sdc_test_rng rng = {42};
    int fails = 0;
    for (size_t c = 0; c < SDC_ARRAY_LEN(k_gemm_cases); c++)
        for (int w = 0; w < 3; w++)
            for (int comp = 0; comp < 2; comp++)
                if (!gemm_case_run(tabs, nt, pools, &k_gemm_cases[c], k_wtypes[w], (sdc_compute)comp, &rng) &&
                    ++fails > 5)
                    goto done;
done:
    CHECK_MSG(fails == 0, "%d gemm cases failed", fails);
    free_pools(pools);
}

/* Weights over the packed-scratch chunk size (16 MiB of packed f32) with
 * enough rows for the shared packed-weight path (M > 224): the columns are
 * then packed and multiplied in several chunks. The reference runs on a
 * few of the rows only (rows are independent). The chunking is in the
 * portable driver, so the first (widest) table is enough: ~1 G multiply-
 * adds is what it takes to exceed the chunk. */
TEST(kernels_gemm_column_chunks) {
    const sdc_kernels *tabs[4];
    if (kt_tables(tabs) == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pool = sdc_pool_create(2);
    REQUIRE(pool != NULL);
    sdc_test_rng rng = {7};
    const int64_t M = 240, N = 1100, K = 4000;
    float *A = kt_random(&rng, (size_t)(M * K), -1, 1), *B = kt_random(&rng, (size_t)(N * K), -1, 1);
    float *bias = kt_random(&rng, (size_t)N, -1, 1), *C = kt_alloc((size_t)(M * N));
    float *ref = kt_alloc((size_t)(2 * N)), *bound = kt_alloc((size_t)(2 * N));
    float *absA = kt_abs(A, (size_t)(M * K)), *absB = kt_abs(B, (size_t)(N * K)), *absb = kt_abs(bias, (size_t)N);
    static const int64_t rows[] = {0, 13, 14, 120, 238};
    for (int ti = 0; ti < 1; ti++) {
        sdc_gemm_args g = {.M = M, .N = N, .K = K, .A = A, .lda = K, .b_type = SDC_DTYPE_F32, .B = B, .ldb = K,
                           .bias = bias, .C = C, .ldc = N};
        tabs[ti]->gemm(pool, &g);
        for (size_t r = 0; r < SDC_ARRAY_LEN(rows); r++) {
            sdc_gemm_args gr = g, gs = g;
            gr.M = gs.M = 2;
            gr.A = A + rows[r] * K, gr.C = ref;
            gs.A = absA + rows[r] * K, gs.B = absB, gs.bias = absb, gs.C = bound;
            sdc_ref_gemm(pool, &gr);
            sdc_ref_gemm(pool, &gs);
            for (int64_t i = 0; i < 2 * N; i++) bound[i] = (float)((double)(K + 4) * KT_U * bound[i]);
            char what[96];
            snprintf(what, sizeof what, "%s chunked gemm rows %lld-%lld", tabs[ti]->name, (long long)rows[r],
                     (long long)rows[r] + 1);
            CHECK(kt_within(what, C + rows[r] * N, ref, bound, (size_t)(2 * N)));
        }
    }
    free(A), free(B), free(bias), free(C), free(ref), free(bound), free(absA), free(absB), free(absb);
    sdc_pool_destroy(pool);
}

/* ---- convolution ------------------------------------------------------------ */

typedef struct conv_case {
    int64_t B, H, W, Cin, Cout, kh, kw, stride, pt, pl, pb, pr;
    int bias, res;
} conv_case;

/* The optimized result of table k for case a (1, 2 and 3 threads) against
 * the reference and its bound. */
static bool conv_check_table(const sdc_kernels *k, sdc_pool **pools, const conv_case *cc, const sdc_conv2d_args *a,
                             size_t ny, const float *ref, const float *bound) {
    bool ok = true;
    float *out[3];
    for (int t = 0; t < 3; t++) {
        out[t] = kt_alloc(ny);
        sdc_conv2d_args ao = *a;
        ao.y = out[t];
        if (cc->res == 2) {
            memcpy(out[t], a->residual, ny * sizeof(float));
            ao.residual = out[t];
        }
        k->conv2d(pools[t], &ao);
    }
    char what[200];
    snprintf(what, sizeof what,
             "%s conv B=%lld %lldx%lldx%lld->%lld k=%lldx%lld s=%lld pad=%lld,%lld,%lld,%lld w=%s %s", k->name,
             (long long)cc->B, (long long)cc->H, (long long)cc->W, (long long)cc->Cin, (long long)cc->Cout,
             (long long)cc->kh, (long long)cc->kw, (long long)cc->stride, (long long)cc->pt, (long long)cc->pl,
             (long long)cc->pb, (long long)cc->pr, sdc_dtype_name(a->w_type),
             a->compute == SDC_COMPUTE_BF16 ? "bf16" : "f32");
    ok = kt_within(what, out[0], ref, bound, ny);
    for (int t = 1; t < 3 && ok; t++) {
        ok = memcmp(out[0], out[t], ny * sizeof(float)) == 0;
        if (!ok) printf("    %s: %d threads differ from 1 thread\n", what, sdc_pool_threads(pools[t]));
    }
    /* packed weights only: the plain result bit for bit */
    void *buf;
    const sdc_packed_weights *p =
        ok ? pack_for(k, pools[1], cc->Cout, cc->kh * cc->kw * cc->Cin, a->w_type, a->w, a->compute, &buf) : NULL;
    for (int t = 0; t < 3 && p && ok; t++) {
        sdc_conv2d_args ao = *a;
        ao.w = NULL, ao.packed = p, ao.y = out[1];
        if (cc->res == 2) {
            memcpy(out[1], a->residual, ny * sizeof(float));
            ao.residual = out[1];
        }
        k->conv2d(pools[t], &ao);
        ok = memcmp(out[0], out[1], ny * sizeof(float)) == 0;
        if (!ok) printf("    %s: packed weights, %d threads: differs\n", what, sdc_pool_threads(pools[t]));
    }
    if (p) sdc_free_aligned(buf);
    for (int t = 0; t < 3; t++) free(out[t]);
    return ok;
}

static bool conv_case_run(const sdc_kernels *const *tabs, int nk, sdc_pool **pools, const conv_case *cc,
                          sdc_dtype wt, sdc_compute comp, sdc_test_rng *rng) {
    int64_t OH = (cc->H + cc->pt + cc->pb - cc->kh) / cc->stride + 1;
    int64_t OW = (cc->W + cc->pl + cc->pr - cc->kw) / cc->stride + 1;
    size_t nx = (size_t)(cc->B * cc->H * cc->W * cc->Cin), nw = (size_t)(cc->Cout * cc->kh * cc->kw * cc->Cin);
    size_t ny = (size_t)(cc->B * OH * OW * cc->Cout);
    float *x = kt_random(rng, nx, -1, 1), *wf = kt_random(rng, nw, -1, 1);
    void *w = kt_weights(wt, wf, nw);
    float *bias = cc->bias ? kt_random(rng, (size_t)cc->Cout, -1, 1) : NULL;
    float *res = cc->res ? kt_random(rng, ny, -2, 2) : NULL;
    float *ref = kt_alloc(ny), *bound = kt_alloc(ny);
    sdc_conv2d_args a = {.B = cc->B, .H = cc->H, .W = cc->W, .Cin = cc->Cin, .Cout = cc->Cout, .kh = cc->kh,
                         .kw = cc->kw, .stride = cc->stride, .pad_t = cc->pt, .pad_l = cc->pl, .pad_b = cc->pb,
                         .pad_r = cc->pr, .x = x, .w_type = wt, .w = w, .bias = bias, .residual = res, .y = ref,
                         .compute = comp};
    sdc_ref_conv2d(pools[1], &a);
    float *absx = kt_abs(x, nx), *absb = bias ? kt_abs(bias, (size_t)cc->Cout) : NULL;
    float *absr = res ? kt_abs(res, ny) : NULL;
    void *absw = kt_abs_weights(wt, w, nw);
    sdc_conv2d_args as = a;
    as.x = absx, as.w = absw, as.bias = absb, as.residual = absr, as.y = bound;
    sdc_ref_conv2d(pools[1], &as);
    int64_t K = cc->kh * cc->kw * cc->Cin;
    for (size_t i = 0; i < ny; i++) bound[i] = (float)((double)(K + 4) * KT_U * bound[i]) + 1e-37f;
    /* the avx512 table with AVX512_BF16 takes bf16 3x3 convolutions by
     * Winograd where they fit: its own rounding bound */
    float *wbound = NULL;
    if (comp == SDC_COMPUTE_BF16 && sdc_kernels_by_name("avx512") && sdc_cpu_get()->avx512_bf16 &&
        sdc_avx512_winograd_fits(&a)) {
        wbound = kt_alloc(ny);
        kt_winograd_bound(&a, wf, ref, wbound);
    }

    bool ok = true;
    for (int ki = 0; ki < nk && ok; ki++)
        ok = conv_check_table(tabs[ki], pools, cc, &a, ny, ref,
                              wbound && strcmp(tabs[ki]->name, "avx512") == 0 ? wbound : bound);
    free(wbound);
    free(x), free(wf), free(w), free(bias), free(res), free(ref), free(bound);
    free(absx), free(absb), free(absr), free(absw);
    return ok;
}

static const conv_case k_conv_cases[] = {
    /* B  H  W Cin Cout kh kw s  pt pl pb pr bias res */
    {1, 5, 7, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0},      /* odd sizes, tiny channels */
    {2, 8, 8, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* the U-Net's 3x3 with residual */
    {1, 9, 11, 17, 40, 3, 3, 2, 0, 0, 1, 1, 1, 0},   /* stride 2, asymmetric pad (diffusers downsample) */
    {2, 7, 6, 8, 33, 3, 3, 2, 1, 1, 1, 1, 0, 2},     /* stride 2, residual aliasing the output */
    {1, 6, 5, 64, 7, 1, 1, 1, 0, 0, 0, 0, 1, 1},     /* 1x1 = plain GEMM */
    {1, 6, 5, 9, 12, 1, 1, 2, 0, 0, 0, 0, 1, 0},     /* 1x1 stride 2 (not pointwise) */
    {1, 4, 4, 4, 3, 3, 3, 1, 2, 0, 0, 2, 1, 1},      /* one-sided pads */
    {1, 12, 10, 3, 1, 4, 2, 3, 1, 2, 0, 1, 0, 0},    /* non-square kernel, stride 3, one output channel */
    {1, 10, 10, 130, 20, 3, 3, 1, 1, 1, 1, 1, 1, 0}, /* K = 1170 over several k blocks */
    {3, 3, 3, 2, 2, 3, 3, 1, 0, 0, 0, 0, 0, 0},      /* single output pixel per image */
    {2, 12, 11, 16, 40, 3, 3, 1, 1, 1, 1, 1, 1, 2},  /* M = 264: shared packed weights (M > 224) */
};

TEST(kernels_conv2d_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(make_pools(pools));
    sdc_test_rng rng = {99};
    int fails = 0;
    for (size_t c = 0; c < SDC_ARRAY_LEN(k_conv_cases); c++)
        for (int w = 0; w < 3; w++)
            for (int comp = 0; comp < 2; comp++)
                if (!conv_case_run(tabs, nt, pools, &k_conv_cases[c], k_wtypes[w], (sdc_compute)comp, &rng) &&
                    ++fails > 5)
                    goto done;
done:
    CHECK_MSG(fails == 0, "%d conv cases failed", fails);
    free_pools(pools);
}

/* The AVX-512 table on a CPU without AVX512_BF16: bf16 compute through
 * bf16-rounded f32 operands and f32 FMAs (same tolerance argument). */
static void gemm_emulated_bf16(sdc_pool *pool, const sdc_gemm_args *a) {
    sdc_x86_gemm(sdc_avx512_gemm_isa_emulated_bf16(), pool, a);
}
static void conv_emulated_bf16(sdc_pool *pool, const sdc_conv2d_args *a) {
    sdc_x86_conv2d(sdc_avx512_gemm_isa_emulated_bf16(), pool, a);
}

TEST(kernels_gemm_avx512_without_bf16) {
    if (!sdc_kernels_by_name("avx512")) SKIP("no AVX-512 on this CPU");
    sdc_kernels k = *sdc_kernels_by_name("avx512");
    k.name = "avx512-emulated-bf16";
    k.gemm = gemm_emulated_bf16;
    k.conv2d = conv_emulated_bf16;
    k.packed_size = NULL; /* the emulated format is not packed ahead (f32 panels) */
    k.pack_weights = NULL;
    const sdc_kernels *tabs[1] = {&k};
    sdc_pool *pools[3];
    REQUIRE(make_pools(pools));
    sdc_test_rng rng = {5};
    for (size_t c = 0; c < 6; c++)
        CHECK(gemm_case_run(tabs, 1, pools, &k_gemm_cases[c * 2 + 1], SDC_DTYPE_F16, SDC_COMPUTE_BF16, &rng));
    for (size_t c = 0; c < 4; c++)
        CHECK(conv_case_run(tabs, 1, pools, &k_conv_cases[c], SDC_DTYPE_BF16, SDC_COMPUTE_BF16, &rng));
    free_pools(pools);
}

/* The dispatcher: names resolve to tables of that name, unknown names and
 * unavailable tables give NULL, the best table is one of them. */
TEST(kernels_dispatch_names) {
    CHECK(sdc_kernels_by_name("ref") == sdc_kernels_ref());
    CHECK(sdc_kernels_by_name("nonsense") == NULL);
    const char *names[] = {"avx512", "avx2"};
    for (int i = 0; i < 2; i++) {
        const sdc_kernels *k = sdc_kernels_by_name(names[i]);
        if (k) {
            CHECK(strcmp(k->name, names[i]) == 0);
            CHECK(k->gemm && k->conv2d && k->attention && k->group_norm && k->layer_norm && k->softmax &&
                  k->activation && k->geglu && k->add && k->mul && k->upsample_nearest && k->concat_rows);
        }
    }
    const sdc_kernels *best = sdc_kernels_best();
    CHECK(best != NULL && best->gemm != NULL);
}
