/* `sdc_bench ops`: kernel timings at Stable Diffusion 1.5 shapes (512x512
 * images: 64x64 latents, 4096 tokens at the first U-Net level).
 *
 * Each row: the best of several runs after one warm-up run (which also
 * grows the kernels' scratch), the rate in GFLOP/s (or GB/s for memory-bound
 * ops), the fraction of the peak measured at the start of the same run with
 * the same thread count, and the speed-up over the scalar reference kernels.
 * The reference is timed on a slice of the problem (fewer rows / pixels /
 * queries) and scaled linearly, since the full problem takes minutes there;
 * such figures are marked "~". */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/threadpool.h"
#include "base/util.h"
#include "bench.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"

typedef struct bench_cfg {
    sdc_pool *pool;
    int threads;
    const sdc_kernels *k;
    const char *filter;
    double min_time;
    int with_ref;
    double peak_f32, peak_bf16; /* GFLOP/s with `threads` threads */
} bench_cfg;

/* ---- peak ---------------------------------------------------------------- */

/* ---- timing ------------------------------------------------------------------ */

typedef void (*op_fn)(const bench_cfg *c, const sdc_kernels *k, void *arg);

/* Best time of several runs after a warm-up: at least 3 runs and min_time
 * seconds in all (at most 50 runs). */
static double time_op(const bench_cfg *c, const sdc_kernels *k, op_fn fn, void *arg, double min_time) {
    fn(c, k, arg);
    double best = INFINITY, total = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || total < min_time); rep++) {
        double t0 = sdc_time_now();
        fn(c, k, arg);
        double dt = sdc_time_now() - t0;
        total += dt;
        if (dt < best) best = dt;
    }
    return best;
}

static void print_header(void) {
    printf("%-44s %10s %9s %7s %9s\n", "op", "time ms", "rate", "% peak", "vs ref");
}

/* unit: "GFLOP/s" rows give flops and a peak; "GB/s" rows give bytes. */
static void print_row(const char *name, double t, double work, int flops, double peak, double ref_t, int ref_est) {
    char rate[32], pct[16] = "-", vs[24] = "-";
    snprintf(rate, sizeof rate, "%.1f %s", work / t * 1e-9, flops ? "GF/s" : "GB/s");
    if (flops && peak > 0) snprintf(pct, sizeof pct, "%.0f%%", 100.0 * work / t * 1e-9 / peak);
    if (ref_t > 0) snprintf(vs, sizeof vs, "%s%.0fx", ref_est ? "~" : "", ref_t / t);
    printf("%-44s %10.3f %12s %7s %9s\n", name, t * 1e3, rate, pct, vs);
    fflush(stdout);
}

static bool selected(const bench_cfg *c, const char *name) { return !c->filter || strstr(name, c->filter); }

static float *rand_buf(size_t n, uint64_t seed) {
    float *p = sdc_alloc_aligned(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "sdc_bench: out of memory\n");
        exit(1);
    }
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (float)((double)(s >> 11) * 0x1p-53 * 2.0 - 1.0);
    }
    return p;
}

/* ---- GEMM ---------------------------------------------------------------------- */

static void run_gemm(const bench_cfg *c, const sdc_kernels *k, void *arg) { k->gemm(c->pool, arg); }

static void bench_gemm(const bench_cfg *c, int64_t M, int64_t N, int64_t K, sdc_dtype wt, sdc_compute comp) {
    char name[96];
    snprintf(name, sizeof name, "gemm %lldx%lldx%lld w=%s %s", (long long)M, (long long)N, (long long)K,
             sdc_dtype_name(wt), comp == SDC_COMPUTE_BF16 ? "bf16" : "f32");
    if (!selected(c, name)) return;
    float *A = rand_buf((size_t)(M * K), 1), *Bf = rand_buf((size_t)(N * K), 2), *bias = rand_buf((size_t)N, 3);
    float *C = rand_buf((size_t)(M * N), 4);
    void *B = Bf;
    if (wt != SDC_DTYPE_F32) {
        B = sdc_alloc_aligned((size_t)(N * K) * 2);
        sdc_convert_from_f32(wt, Bf, B, (size_t)(N * K));
    }
    sdc_gemm_args g = {.M = M, .N = N, .K = K, .A = A, .lda = K, .b_type = wt, .B = B, .ldb = K, .bias = bias,
                       .C = C, .ldc = N, .compute = comp};
    double t = time_op(c, c->k, run_gemm, &g, c->min_time), ref_t = 0;
    if (c->with_ref) {
        sdc_gemm_args gr = g;
        gr.M = SDC_MIN(M, 32);
        ref_t = time_op(c, sdc_kernels_ref(), run_gemm, &gr, 0) * (double)M / (double)gr.M;
    }
    double peak = comp == SDC_COMPUTE_BF16 && c->peak_bf16 > 0 ? c->peak_bf16 : c->peak_f32;
    print_row(name, t, 2.0 * (double)M * (double)N * (double)K, 1, peak, ref_t, 1);
    if (B != Bf) sdc_free_aligned(B);
    sdc_free_aligned(A), sdc_free_aligned(Bf), sdc_free_aligned(bias), sdc_free_aligned(C);
}

/* ---- convolution ------------------------------------------------------------------ */

static void run_conv(const bench_cfg *c, const sdc_kernels *k, void *arg) { k->conv2d(c->pool, arg); }

static void bench_conv(const bench_cfg *c, int64_t B, int64_t H, int64_t Cin, int64_t Cout, sdc_dtype wt,
                       sdc_compute comp) {
    char name[96];
    snprintf(name, sizeof name, "conv3x3 %lldx%lldx%lldx%lld->%lld w=%s %s", (long long)B, (long long)H,
             (long long)H, (long long)Cin, (long long)Cout, sdc_dtype_name(wt),
             comp == SDC_COMPUTE_BF16 ? "bf16" : "f32");
    if (!selected(c, name)) return;
    size_t nx = (size_t)(B * H * H * Cin), nw = (size_t)(Cout * 9 * Cin), ny = (size_t)(B * H * H * Cout);
    float *x = rand_buf(nx, 5), *wf = rand_buf(nw, 6), *bias = rand_buf((size_t)Cout, 7), *y = rand_buf(ny, 8);
    void *w = wf;
    if (wt != SDC_DTYPE_F32) {
        w = sdc_alloc_aligned(nw * 2);
        sdc_convert_from_f32(wt, wf, w, nw);
    }
    sdc_conv2d_args a = {.B = B, .H = H, .W = H, .Cin = Cin, .Cout = Cout, .kh = 3, .kw = 3, .stride = 1,
                         .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1, .x = x, .w_type = wt, .w = w,
                         .bias = bias, .y = y, .compute = comp};
    double t = time_op(c, c->k, run_conv, &a, c->min_time), ref_t = 0;
    if (c->with_ref) { /* one image, 2 output rows (the reference splits by rows too) */
        sdc_conv2d_args ar = a;
        ar.B = 1;
        ar.H = 2;
        ar.pad_b = 1;
        ref_t = time_op(c, sdc_kernels_ref(), run_conv, &ar, 0) * (double)(B * H) / 2.0;
    }
    double flops = 2.0 * (double)(B * H * H) * (double)Cout * 9.0 * (double)Cin;
    double peak = comp == SDC_COMPUTE_BF16 && c->peak_bf16 > 0 ? c->peak_bf16 : c->peak_f32;
    print_row(name, t, flops, 1, peak, ref_t, 1);
    if (w != wf) sdc_free_aligned(w);
    sdc_free_aligned(x), sdc_free_aligned(wf), sdc_free_aligned(bias), sdc_free_aligned(y);
}

/* ---- attention ----------------------------------------------------------------------- */

static void run_attn(const bench_cfg *c, const sdc_kernels *k, void *arg) { k->attention(c->pool, arg); }

static void bench_attention(const bench_cfg *c, int64_t B, int64_t heads, int64_t Tq, int64_t Tk, int64_t D,
                            sdc_compute comp) {
    char name[96];
    snprintf(name, sizeof name, "attention B%lld %lldx%lld h%lld d%lld %s", (long long)B, (long long)Tq,
             (long long)Tk, (long long)heads, (long long)D, comp == SDC_COMPUTE_BF16 ? "bf16" : "f32");
    if (!selected(c, name)) return;
    int64_t C = heads * D;
    float *q = rand_buf((size_t)(B * Tq * C), 9), *kk = rand_buf((size_t)(B * Tk * C), 10);
    float *v = rand_buf((size_t)(B * Tk * C), 11), *o = rand_buf((size_t)(B * Tq * C), 12);
    sdc_attention_args a = {.B = B, .heads = heads, .Tq = Tq, .Tk = Tk, .D = D, .q = q, .k = kk, .v = v,
                            .ldq = C, .ldk = C, .ldv = C, .out = o, .ldo = C, .scale = 1.0f / sqrtf((float)D),
                            .compute = comp};
    double t = time_op(c, c->k, run_attn, &a, c->min_time), ref_t = 0;
    if (c->with_ref) {
        sdc_attention_args ar = a;
        ar.Tq = SDC_MIN(Tq, 32);
        ref_t = time_op(c, sdc_kernels_ref(), run_attn, &ar, 0) * (double)Tq / (double)ar.Tq;
    }
    double flops = 4.0 * (double)(B * heads) * (double)Tq * (double)Tk * (double)D;
    /* with AVX512_BF16, bf16 compute runs both products on vdpbf16ps */
    double peak = comp == SDC_COMPUTE_BF16 && c->peak_bf16 > 0 ? c->peak_bf16 : c->peak_f32;
    print_row(name, t, flops, 1, peak, ref_t, 1);
    sdc_free_aligned(q), sdc_free_aligned(kk), sdc_free_aligned(v), sdc_free_aligned(o);
}

/* ---- memory-bound ops ------------------------------------------------------------------ */

typedef struct elt_job {
    int what; /* 0 group norm + silu, 1 layer norm, 2 gelu, 3 geglu, 4 silu, 5 add (broadcast), 6 softmax */
    int64_t rows, cols, groups;
    float *x, *y, *g, *b;
} elt_job;

static void run_elt(const bench_cfg *c, const sdc_kernels *k, void *arg) {
    elt_job *j = arg;
    switch (j->what) {
    case 0: {
        sdc_group_norm_args a = {.B = 2, .P = j->rows / 2, .C = j->cols, .G = j->groups, .x = j->x,
                                 .gamma = j->g, .beta = j->b, .eps = 1e-5f, .silu = 1, .y = j->y};
        k->group_norm(c->pool, &a);
        break;
    }
    case 1: k->layer_norm(c->pool, j->rows, j->cols, j->x, j->g, j->b, 1e-5f, j->y); break;
    case 2: k->activation(c->pool, SDC_ACT_GELU, j->rows * j->cols, j->x, j->y); break;
    case 3: k->geglu(c->pool, j->rows, j->cols, j->x, j->y); break;
    case 4: k->activation(c->pool, SDC_ACT_SILU, j->rows * j->cols, j->x, j->y); break;
    case 5: k->add(c->pool, j->rows * j->cols, j->x, j->g, j->cols, j->y); break;
    case 6: memcpy(j->y, j->x, (size_t)(j->rows * j->cols) * 4), k->softmax(c->pool, j->rows, j->cols, j->y); break;
    }
}

/* bytes: what the op must read and write at least */
static void bench_elt(const bench_cfg *c, const char *name, int what, int64_t rows, int64_t cols, int64_t groups,
                      double bytes_per_elem) {
    if (!selected(c, name)) return;
    size_t n = (size_t)(rows * cols) * (what == 3 ? 2 : 1);
    elt_job j = {what, rows, cols, groups, rand_buf(n, 13), rand_buf(n, 14), rand_buf((size_t)cols, 15),
                 rand_buf((size_t)cols, 16)};
    double t = time_op(c, c->k, run_elt, &j, c->min_time);
    double ref_t = c->with_ref ? time_op(c, sdc_kernels_ref(), run_elt, &j, 0) : 0;
    print_row(name, t, bytes_per_elem * (double)(rows * cols), 0, 0, ref_t, 0);
    sdc_free_aligned(j.x), sdc_free_aligned(j.y), sdc_free_aligned(j.g), sdc_free_aligned(j.b);
}

/* ---- driver -------------------------------------------------------------------------------- */

static void measure_peaks(bench_cfg *c) {
    const sdc_cpu_features *f = sdc_cpu_get();
    int avx512 = strcmp(c->k->name, "avx512") == 0;
    double (*fma)(int64_t) = avx512 ? sdc_bench_peak_fma_avx512 : sdc_bench_peak_fma_avx2;
    if (strcmp(c->k->name, "ref") == 0) fma = f->avx512f ? sdc_bench_peak_fma_avx512 : f->avx2 ? sdc_bench_peak_fma_avx2 : NULL;
    if (!fma) return;
    double f1 = sdc_bench_peak_rate(c->pool, 1, fma), fn = c->threads > 1 ? sdc_bench_peak_rate(c->pool, c->threads, fma) : f1;
    printf("peak f32 FMA (%s): %.1f GFLOP/s on 1 thread, %.1f on %d\n", fma == sdc_bench_peak_fma_avx512 ? "zmm" : "ymm",
           f1, fn, c->threads);
    c->peak_f32 = fn;
    if (avx512 && f->avx512_bf16) {
        double b1 = sdc_bench_peak_rate(c->pool, 1, sdc_bench_peak_dpbf16_avx512);
        double bn = c->threads > 1 ? sdc_bench_peak_rate(c->pool, c->threads, sdc_bench_peak_dpbf16_avx512) : b1;
        printf("peak bf16 vdpbf16ps: %.1f GFLOP/s on 1 thread, %.1f on %d\n", b1, bn, c->threads);
        c->peak_bf16 = bn;
    }
}

static void run_all(const bench_cfg *c) {
    static const int64_t gemms[][3] = {{4096, 320, 320}, {4096, 1280, 320}, {4096, 320, 1280}, {1024, 1024, 1024},
                                       {8192, 640, 2880}, {77, 768, 768}, {2, 1280, 1280}};
    print_header();
    for (size_t i = 0; i < SDC_ARRAY_LEN(gemms); i++) {
        bench_gemm(c, gemms[i][0], gemms[i][1], gemms[i][2], SDC_DTYPE_F32, SDC_COMPUTE_F32);
        bench_gemm(c, gemms[i][0], gemms[i][1], gemms[i][2], SDC_DTYPE_F16, SDC_COMPUTE_F32);
        bench_gemm(c, gemms[i][0], gemms[i][1], gemms[i][2], SDC_DTYPE_F16, SDC_COMPUTE_BF16);
    }
    static const int64_t convs[][3] = {{64, 320, 320}, {32, 640, 640}, {16, 1280, 1280}, {8, 1280, 1280}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(convs); i++) {
        bench_conv(c, 2, convs[i][0], convs[i][1], convs[i][2], SDC_DTYPE_F16, SDC_COMPUTE_F32);
        bench_conv(c, 2, convs[i][0], convs[i][1], convs[i][2], SDC_DTYPE_F16, SDC_COMPUTE_BF16);
    }
    bench_attention(c, 1, 8, 4096, 4096, 40, SDC_COMPUTE_F32);
    bench_attention(c, 1, 8, 4096, 4096, 40, SDC_COMPUTE_BF16);
    bench_attention(c, 1, 8, 4096, 77, 40, SDC_COMPUTE_F32);
    bench_attention(c, 1, 8, 4096, 77, 40, SDC_COMPUTE_BF16);
    bench_attention(c, 1, 8, 1024, 1024, 80, SDC_COMPUTE_F32);
    bench_attention(c, 1, 8, 1024, 1024, 80, SDC_COMPUTE_BF16);
    bench_attention(c, 1, 12, 77, 77, 64, SDC_COMPUTE_F32);
    bench_elt(c, "group_norm+silu 2x64x64x320 G32", 0, 2 * 4096, 320, 32, 8);
    bench_elt(c, "layer_norm 4096x320", 1, 4096, 320, 0, 8);
    bench_elt(c, "gelu(erf) 4096x1280", 2, 4096, 1280, 0, 8);
    bench_elt(c, "geglu 4096x2560->1280", 3, 4096, 1280, 0, 12);
    bench_elt(c, "silu 2x64x64x320", 4, 8192, 320, 0, 8);
    bench_elt(c, "add per-channel 2x64x64x320", 5, 8192, 320, 0, 8);
    bench_elt(c, "softmax 8x4096 rows of 77", 6, 8 * 4096, 77, 0, 8);
}

int sdc_bench_ops(int argc, char **argv) {
    bench_cfg c = {.threads = 0, .min_time = 0.5, .with_ref = 1};
    const char *kname = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) c.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) kname = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) c.filter = argv[++i];
        else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) c.min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--no-ref") == 0) c.with_ref = 0;
        else {
            fprintf(stderr, "sdc_bench ops: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    c.k = kname ? sdc_kernels_by_name(kname) : sdc_kernels_best();
    if (!c.k) {
        fprintf(stderr, "sdc_bench: kernel table '%s' is not available on this CPU\n", kname);
        return 1;
    }
    c.pool = sdc_pool_create(c.threads);
    if (!c.pool) {
        fprintf(stderr, "sdc_bench: cannot create the thread pool\n");
        return 1;
    }
    c.threads = sdc_pool_threads(c.pool);
    char feat[128];
    sdc_cpu_describe(sdc_cpu_get(), feat, sizeof feat);
    printf("sdc_bench ops: %s [%s], kernels %s, %d threads; best of >= 3 runs\n", sdc_cpu_get()->brand, feat,
           c.k->name, c.threads);
    measure_peaks(&c);
    run_all(&c);
    sdc_pool_destroy(c.pool);
    return 0;
}
