/* Winograd F(2x2, 3x3) convolution (winograd_avx512.c: bf16 compute on CPUs
 * with AVX512_BF16) against the scalar reference.
 *
 * Exactness: with pixels k/8 (|k| <= 8), weights k/4 (|k| <= 4) and dyadic
 * bias / residual, every transformed value is a dyadic number of at most 9
 * significant bits (|B^T d B| <= 4 in steps of 1/8; |G w G^T| <= 9/4 in
 * steps of 1/16), so the bf16 roundings of the transforms are exact, every
 * product and f32 sum is exact (magnitudes below 2^24 steps of 1/128 for
 * Cin <= 512), and the result must equal the reference bit for bit. That
 * catches any wrong tap, transform, tile edge, channel chunk or padding;
 * it runs with the chunk budgets shrunk so the chunk loops turn, with
 * weights packed ahead and per call, and on 1, 2 and 3 threads.
 *
 * Rounding: on random data the result stays within the worst-case bound
 * of kt_winograd_bound (test_kernels_util.h), and its RMS error against the
 * exact convolution is reported next to the direct bf16 convolution's
 * (Winograd's is 1.5-1.9x larger on SD-like shapes; checked below 3x). */
#include "test_kernels_util.h"

#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/x86_kernels.h"

typedef struct wg_case {
    int64_t B, H, W, Cin, Cout, pt, pl, pb, pr;
    int bias, res; /* res: 0 none, 1 separate, 2 aliasing the output */
    size_t u_budget, vm_budget; /* 0: default chunk budgets */
} wg_case;

static bool have_winograd(void) { return sdc_kernels_by_name("avx512") && sdc_cpu_get()->avx512_bf16; }

/* k / den with |k| <= lim, from the test rng */
static void fill_dyadic(sdc_test_rng *r, float *p, size_t n, int lim, float den) {
    float *u = kt_random(r, n, 0, 1);
    for (size_t i = 0; i < n; i++) p[i] = (float)((int)(u[i] * (float)(2 * lim + 1)) - lim) / den;
    free(u);
}

static sdc_conv2d_args wg_args(const wg_case *c, const float *x, sdc_dtype wt, const void *w, const float *bias,
                               const float *res, float *y) {
    return (sdc_conv2d_args){.B = c->B, .H = c->H, .W = c->W, .Cin = c->Cin, .Cout = c->Cout, .kh = 3, .kw = 3,
                             .stride = 1, .pad_t = c->pt, .pad_l = c->pl, .pad_b = c->pb, .pad_r = c->pr, .x = x,
                             .w_type = wt, .w = w, .bias = bias, .residual = res, .y = y,
                             .compute = SDC_COMPUTE_BF16};
}

/* The kernel's result for a (optionally with packed weights only) on a pool. */
static void wg_run(const sdc_conv2d_args *a, const sdc_packed_weights *p, sdc_pool *pool, int res_alias,
                   const float *res, size_t ny, float *y) {
    sdc_conv2d_args ao = *a;
    ao.y = y;
    if (p) ao.w = NULL, ao.packed = p;
    if (res_alias) {
        memcpy(y, res, ny * sizeof(float));
        ao.residual = y;
    }
    sdc_kernels_by_name("avx512")->conv2d(pool, &ao);
}

static bool wg_exact_case(const wg_case *c, sdc_dtype wt, sdc_pool **pools, sdc_test_rng *rng) {
    int64_t OH = c->H + c->pt + c->pb - 2, OW = c->W + c->pl + c->pr - 2;
    size_t nx = (size_t)(c->B * c->H * c->W * c->Cin), nw = (size_t)(c->Cout * 9 * c->Cin);
    size_t ny = (size_t)(c->B * OH * OW * c->Cout);
    float *x = kt_alloc(nx), *wf = kt_alloc(nw), *bias = kt_alloc((size_t)c->Cout), *res = kt_alloc(ny);
    fill_dyadic(rng, x, nx, 8, 8), fill_dyadic(rng, wf, nw, 4, 4);
    fill_dyadic(rng, bias, (size_t)c->Cout, 64, 128), fill_dyadic(rng, res, ny, 256, 128);
    void *w = kt_weights(wt, wf, nw);
    float *ref = kt_alloc(ny), *y = kt_alloc(ny);
    sdc_conv2d_args a = wg_args(c, x, wt, w, c->bias ? bias : NULL, c->res ? res : NULL, ref);
    sdc_ref_conv2d(pools[1], &a);
    bool ok = sdc_avx512_winograd_fits(&a);
    if (!ok) printf("    case %lldx%lldx%lld->%lld: Winograd declined it\n", (long long)c->H, (long long)c->W,
                    (long long)c->Cin, (long long)c->Cout);
    const sdc_kernels *k = sdc_kernels_by_name("avx512");
    size_t pbytes = k->packed_size(c->Cout, 9 * c->Cin, wt, SDC_COMPUTE_BF16);
    void *pbuf = sdc_alloc_aligned(pbytes);
    const sdc_packed_weights *p = pbuf ? k->pack_weights(pools[1], c->Cout, 9 * c->Cin, wt, w, 9 * c->Cin,
                                                          SDC_COMPUTE_BF16, pbuf) : NULL;
    sdc_avx512_winograd_set_budgets(c->u_budget, c->vm_budget);
    for (int t = 0; t < 3 && ok; t++)
        for (int packed = 0; packed < 2 && ok; packed++) {
            wg_run(&a, packed ? p : NULL, pools[t], c->res == 2, res, ny, y);
            ok = memcmp(y, ref, ny * sizeof(float)) == 0;
            if (!ok) {
                size_t i = 0;
                while (i < ny && y[i] == ref[i]) i++;
                printf("    exact case %lldx%lldx%lld->%lld pads %lld,%lld,%lld,%lld w=%s %s, %d threads: "
                       "element %zu got %.9g want %.9g\n", (long long)c->H, (long long)c->W, (long long)c->Cin,
                       (long long)c->Cout, (long long)c->pt, (long long)c->pl, (long long)c->pb, (long long)c->pr,
                       sdc_dtype_name(wt), packed ? "packed" : "plain", sdc_pool_threads(pools[t]), i, y[i], ref[i]);
            }
        }
    sdc_avx512_winograd_set_budgets(0, 0);
    sdc_free_aligned(pbuf);
    free(x), free(wf), free(bias), free(res), free(w), free(ref), free(y);
    return ok;
}

static const wg_case k_wg_cases[] = {
    /* B  H  W Cin Cout pads       bias res budgets */
    {2, 16, 16, 32, 32, 1, 1, 1, 1, 0, 0, 0, 0},
    {2, 12, 11, 16, 40, 1, 1, 1, 1, 1, 2, 0, 0},          /* odd width, partial panel, residual aliasing y */
    {1, 17, 23, 34, 70, 1, 1, 1, 1, 1, 1, 0, 0},          /* odd sizes, Cin not a multiple of 16 */
    {2, 14, 14, 64, 48, 0, 1, 1, 0, 1, 0, 0, 0},          /* asymmetric padding (output 13x13) */
    {1, 20, 18, 130, 96, 1, 1, 1, 1, 1, 1, 0, 0},         /* Cin = 130: a partial vector of channels */
    {2, 12, 12, 600, 32, 1, 1, 1, 1, 1, 1, 0, 0},         /* Cin 600: two K blocks */
    {2, 16, 18, 48, 160, 1, 1, 1, 1, 1, 1, 100000, 0},    /* several output-channel chunks */
    {2, 18, 16, 48, 72, 1, 1, 1, 1, 1, 2, 0, 200000},     /* several tile chunks, partial last one */
    {1, 24, 22, 40, 96, 1, 1, 1, 1, 0, 1, 80000, 150000}, /* both */
};

TEST(kernels_winograd_exact) {
    if (!have_winograd()) SKIP("no AVX512_BF16 on this CPU");
    sdc_pool *pools[3] = {NULL, sdc_pool_create(2), sdc_pool_create(3)};
    REQUIRE(pools[1] && pools[2]);
    sdc_test_rng rng = {31};
    static const sdc_dtype wts[] = {SDC_DTYPE_F32, SDC_DTYPE_F16, SDC_DTYPE_BF16};
    int fails = 0;
    for (size_t c = 0; c < SDC_ARRAY_LEN(k_wg_cases) && fails < 3; c++)
        for (int w = 0; w < 3; w++) fails += !wg_exact_case(&k_wg_cases[c], wts[w], pools, &rng);
    CHECK_MSG(fails == 0, "%d Winograd cases differ from the reference", fails);
    sdc_pool_destroy(pools[1]);
    sdc_pool_destroy(pools[2]);
}

/* RMS of (got - exact) over n */
static double rms_err(const float *got, const float *exact, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)got[i] - exact[i]) * ((double)got[i] - exact[i]);
    return sqrt(s / (double)n);
}

static void conv_emulated(sdc_pool *pool, const sdc_conv2d_args *a) {
    sdc_x86_conv2d(sdc_avx512_gemm_isa_emulated_bf16(), pool, a);
}

TEST(kernels_winograd_rounding) {
    if (!have_winograd()) SKIP("no AVX512_BF16 on this CPU");
    sdc_pool *pool = sdc_pool_create(2);
    REQUIRE(pool != NULL);
    sdc_test_rng rng = {77};
    const wg_case c = {2, 16, 16, 320, 64, 1, 1, 1, 1, 1, 1, 0, 0};
    size_t nx = (size_t)(c.B * c.H * c.W * c.Cin), nw = (size_t)(c.Cout * 9 * c.Cin), ny = (size_t)(c.B * 256 * c.Cout);
    float *x = kt_random(&rng, nx, -1, 1), *wf = kt_random(&rng, nw, -0.02f, 0.02f);
    float *bias = kt_random(&rng, (size_t)c.Cout, -1, 1), *res = kt_random(&rng, ny, -1, 1);
    void *w = kt_weights(SDC_DTYPE_F16, wf, nw);
    float *ref = kt_alloc(ny), *exact = kt_alloc(ny), *y = kt_alloc(ny), *direct = kt_alloc(ny), *bound = kt_alloc(ny);
    sdc_conv2d_args a = wg_args(&c, x, SDC_DTYPE_F16, w, bias, res, ref);
    sdc_ref_conv2d(pool, &a);
    sdc_conv2d_args ae = a;
    ae.compute = SDC_COMPUTE_F32, ae.y = exact;
    sdc_ref_conv2d(pool, &ae);
    sdc_conv2d_args ad = a;
    ad.y = direct;
    conv_emulated(pool, &ad); /* the direct bf16 convolution's rounding */
    wg_run(&a, NULL, pool, 0, res, ny, y);
    kt_winograd_bound(&a, wf, ref, bound);
    CHECK(kt_within("winograd 16x16x320->64", y, ref, bound, ny));
    double ew = rms_err(y, exact, ny), ed = rms_err(direct, exact, ny);
    printf("    RMS error vs exact: Winograd %.3g, direct bf16 %.3g (ratio %.2f)\n", ew, ed, ew / ed);
    CHECK_MSG(ew < 3 * ed, "Winograd error %.3g vs direct %.3g", ew, ed); /* measured 1.85x here */
    free(x), free(wf), free(bias), free(res), free(w), free(ref), free(exact), free(y), free(direct), free(bound);
    sdc_pool_destroy(pool);
}

TEST(kernels_winograd_declines) {
    if (!have_winograd()) SKIP("no AVX512_BF16 on this CPU");
    wg_case c = {2, 16, 16, 32, 32, 1, 1, 1, 1, 0, 0, 0, 0};
    sdc_conv2d_args a = wg_args(&c, NULL, SDC_DTYPE_F16, NULL, NULL, NULL, NULL);
    CHECK(sdc_avx512_winograd_fits(&a));
    sdc_conv2d_args b = a;
    b.compute = SDC_COMPUTE_F32;
    CHECK(!sdc_avx512_winograd_fits(&b)); /* exact f32 keeps the direct convolution */
    b = a, b.stride = 2;
    CHECK(!sdc_avx512_winograd_fits(&b));
    b = a, b.kh = b.kw = 1;
    CHECK(!sdc_avx512_winograd_fits(&b));
    b = a, b.Cin = 33;
    CHECK(!sdc_avx512_winograd_fits(&b)); /* pairs of channels would straddle taps */
    b = a, b.B = 1, b.H = b.W = 8;
    CHECK(!sdc_avx512_winograd_fits(&b)); /* 16 tiles: too few */
}
