/* Optimized attention (every x86 table this CPU runs) against the scalar
 * reference: head dims 1..160 (40 / 64 / 80 / 160 as in SD), Tq != Tk,
 * cross attention with 77 / 154 keys, causal masks (also Tq != Tk), fused
 * qkv row strides, padded output rows, f32 and bf16 compute; bitwise equal
 * results on 1, 2 and 3 threads; and memory O(tokens), not O(Tq * Tk).
 *
 * Tolerance, per output row i (first-order error analysis; the reference
 * computes in double from the same bf16-rounded q, k in bf16 mode):
 *   logits: f32 dot products of D terms and the scaling, off by at most
 *     E = (D + 3) u |scale| max_j sum_d |q_d k_jd|;
 *   softmax weights: a logit error E moves normalized weights by at most
 *     2E relative; exp (~2 ulp) of the f32 difference s - max (rounding
 *     |s - max| u) and the f32 sums of Tk weights add (2 R + Tk + 16) u,
 *     R = max_j |s_j - max|;
 *   P.V: f32 sums of Tk products rescaled once per key block: (Tk + 64) u.
 *   |out - ref| <= Vmax (2E + (2R + 2Tk + 80) u), Vmax = max |v| over the
 *   row's keys. A wrong key, mask or normalization moves outputs by > 1e-2.
 *   bf16 compute (any table: the native path rounds P and V to bf16 as
 *   well, the emulated ones do not) adds Vmax (2 u_b + u_b^2 + 2 e_p),
 *   u_b = 2^-9: each weight and value rounded once, and e_p the relative
 *   error of the native path's base-2 exponentials (see the bound). */
#include "test_kernels_util.h"

#include <pthread.h>

#include "base/threadpool.h"
#include "base/util.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/x86/scratch.h"

typedef struct att_case {
    int64_t B, heads, Tq, Tk, D;
    int causal;
    int fused; /* q, k, v interleaved in one [B, T, 3 * heads * D] buffer (needs Tq == Tk) */
    int64_t out_pad;
    int neg_scale; /* scale -1/sqrt(D) instead of 1/sqrt(D) */
} att_case;

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

static float bf16r(float x) { return sdc_bf16_to_f32(sdc_f32_to_bf16(x)); }

/* Per-row tolerance (see the file comment), written into bound[B * Tq * heads]. */
static void att_bounds(const sdc_attention_args *a, float *bound) {
    int bf = a->compute == SDC_COMPUTE_BF16;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->heads; h++)
            for (int64_t i = 0; i < a->Tq; i++) {
                const float *q = a->q + (b * a->Tq + i) * a->ldq + h * a->D;
                int64_t nk = a->causal ? SDC_MIN(i + 1, a->Tk) : a->Tk;
                double smax = 0, mx = -INFINITY, mn = INFINITY, vmax = 0;
                for (int64_t j = 0; j < nk; j++) {
                    const float *k = a->k + (b * a->Tk + j) * a->ldk + h * a->D;
                    const float *v = a->v + (b * a->Tk + j) * a->ldv + h * a->D;
                    double sa = 0, s = 0;
                    for (int64_t d = 0; d < a->D; d++) {
                        double qd = bf ? bf16r(q[d]) : q[d], kd = bf ? bf16r(k[d]) : k[d];
                        sa += fabs(qd * kd);
                        s += qd * kd;
                        vmax = fmax(vmax, fabs((double)v[d]));
                    }
                    s *= a->scale;
                    smax = fmax(smax, sa);
                    mx = fmax(mx, s);
                    mn = fmin(mn, s);
                }
                double E = (double)(a->D + 3) * KT_U * fabs((double)a->scale) * smax, R = mx - mn;
                /* bf16 compute with vdpbf16ps also rounds P and V to bf16 (each
                 * product off by <= 2 u_b + u_b^2 relative, u_b = 2^-9) and takes
                 * P from base-2 polynomials (7.5e-5 relative, plus 1e-7 per key
                 * block of >= 32 keys from the correction factors; in numerator
                 * and denominator) */
                double bf_pv = bf ? 2 * 0x1p-9 + 0x1p-18 + 2 * (7.5e-5 + 1e-7 * (double)(a->Tk / 32 + 1)) : 0;
                bound[(b * a->Tq + i) * a->heads + h] =
                    (float)(vmax * (2 * E + (2 * R + 2 * (double)a->Tk + 80) * KT_U + bf_pv)) + 1e-30f;
            }
}

/* Runs one case on every table; false on a mismatch (details printed). */
/* worst[ki * 2 + comp] collects the largest |out - ref| / bound. */
static bool att_case_run(const sdc_kernels *const *tabs, int nk, sdc_pool **pools, const att_case *c,
                         sdc_compute comp, sdc_test_rng *rng, double *worst) {
    int64_t HD = c->heads * c->D, ld = c->fused ? 3 * HD : HD, ldo = HD + c->out_pad;
    size_t nq = (size_t)(c->B * c->Tq * ld), nkv = (size_t)(c->B * c->Tk * ld), no = (size_t)(c->B * c->Tq * ldo);
    float *qb = kt_random(rng, nq, -2, 2), *kb = c->fused ? qb : kt_random(rng, nkv, -2, 2);
    float *vb = c->fused ? qb : kt_random(rng, nkv, -1, 1);
    sdc_attention_args a = {.B = c->B, .heads = c->heads, .Tq = c->Tq, .Tk = c->Tk, .D = c->D,
                            .q = qb, .k = kb + (c->fused ? HD : 0), .v = vb + (c->fused ? 2 * HD : 0),
                            .ldq = ld, .ldk = ld, .ldv = ld, .ldo = ldo,
                            .scale = (c->neg_scale ? -1.0f : 1.0f) / sqrtf((float)c->D),
                            .causal = c->causal, .compute = comp};
    float *ref = kt_alloc(no), *bound = kt_alloc((size_t)(c->B * c->Tq * c->heads));
    a.out = ref;
    sdc_ref_attention(pools[1], &a);
    att_bounds(&a, bound);
    bool ok = true;
    for (int ki = 0; ki < nk && ok; ki++) {
        float *out[3];
        for (int t = 0; t < 3; t++) {
            out[t] = kt_alloc(no);
            for (size_t i = 0; i < no; i++) out[t][i] = 7.0f; /* padding must stay */
            sdc_attention_args ao = a;
            ao.out = out[t];
            tabs[ki]->attention(pools[t], &ao);
        }
        double *w = &worst[ki * 2 + (comp == SDC_COMPUTE_BF16)];
        for (int64_t row = 0; row < c->B * c->Tq && ok; row++)
            for (int64_t h = 0; h < c->heads && ok; h++)
                for (int64_t d = 0; d < c->D; d++) {
                    size_t idx = (size_t)(row * ldo + h * c->D + d);
                    double diff = fabs((double)out[0][idx] - (double)ref[idx]), bd = bound[row * c->heads + h];
                    *w = fmax(*w, diff / bd);
                    if (!(diff <= bd)) {
                        printf("    %s attention B%lld h%lld Tq%lld Tk%lld D%lld causal=%d %s: "
                               "row %lld head %lld d %lld got %.9g ref %.9g bound %.3g\n",
                               tabs[ki]->name, (long long)c->B, (long long)c->heads, (long long)c->Tq,
                               (long long)c->Tk, (long long)c->D, c->causal, comp ? "bf16" : "f32", (long long)row,
                               (long long)h, (long long)d, out[0][idx], ref[idx], bd);
                        ok = false;
                        break;
                    }
                }
        for (int64_t row = 0; row < c->B * c->Tq && ok; row++)
            for (int64_t p = HD; p < ldo; p++) ok = out[0][row * ldo + p] == 7.0f;
        if (!ok && c->out_pad) printf("    %s attention wrote into the output padding\n", tabs[ki]->name);
        for (int t = 1; t < 3 && ok; t++) {
            ok = memcmp(out[0], out[t], no * sizeof(float)) == 0;
            if (!ok) printf("    %s attention: %d threads differ from 1\n", tabs[ki]->name, sdc_pool_threads(pools[t]));
        }
        for (int t = 0; t < 3; t++) free(out[t]);
    }
    free(qb), free(ref), free(bound);
    if (!c->fused) free(kb), free(vb);
    return ok;
}

static const att_case k_att_cases[] = {
    /* B heads Tq Tk D causal fused out_pad neg_scale */
    {1, 1, 1, 1, 1, 0, 0, 0, 0},     {1, 2, 7, 7, 40, 1, 1, 0, 0},    {2, 3, 50, 77, 64, 0, 0, 3, 0},
    {1, 2, 77, 77, 64, 1, 1, 0, 0},  {1, 1, 100, 33, 80, 0, 0, 0, 0}, {1, 1, 13, 150, 160, 0, 0, 1, 0},
    {2, 1, 49, 130, 7, 0, 0, 0, 0},  {1, 1, 10, 300, 40, 1, 0, 0, 0}, {1, 1, 130, 20, 40, 1, 0, 0, 0},
    {1, 8, 200, 200, 40, 0, 1, 0, 0}, {2, 2, 65, 154, 40, 0, 0, 0, 0}, {1, 1, 97, 97, 3, 1, 0, 2, 0},
    {1, 2, 60, 300, 40, 1, 0, 0, 1},
};

TEST(kernels_attention_vs_ref) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pools[3];
    REQUIRE(pools_make(pools));
    sdc_test_rng rng = {11};
    int fails = 0;
    double worst[8] = {0};
    for (size_t c = 0; c < SDC_ARRAY_LEN(k_att_cases) && fails < 4; c++)
        for (int comp = 0; comp < 2; comp++)
            fails += !att_case_run(tabs, nt, pools, &k_att_cases[c], (sdc_compute)comp, &rng, worst);
    for (int ki = 0; ki < nt; ki++)
        printf("    %s attention: worst |d| / bound f32 %.3f, bf16 %.3f\n", tabs[ki]->name, worst[ki * 2],
               worst[ki * 2 + 1]);
    CHECK_MSG(fails == 0, "%d attention cases failed", fails);
    pools_free(pools);
}

typedef struct att_thread_job {
    const sdc_kernels *k;
    sdc_pool *pool;
    const sdc_attention_args *a;
    size_t scratch;
} att_thread_job;

/* Runs the kernel from a fresh thread, whose scratch starts empty, and
 * reports how much scratch that thread then holds (the kernel's only
 * memory: pool workers allocate nothing). */
static void *att_thread(void *v) {
    att_thread_job *j = v;
    j->k->attention(j->pool, j->a);
    j->scratch = sdc_x86_scratch_size();
    return NULL;
}

/* 2048 queries x 2048 keys x 2 heads: scores for all keys would be 32 MiB;
 * the kernel's scratch must stay O(tokens): transposed keys (B heads Tk D
 * floats) plus per-thread tiles. A few rows are checked against the
 * reference (rows are independent without a causal mask). */
TEST(kernels_attention_memory_is_linear) {
    const sdc_kernels *tabs[4];
    int nt = kt_tables(tabs);
    if (nt == 0) SKIP("no optimized table runs on this CPU");
    sdc_pool *pool = sdc_pool_create(2);
    REQUIRE(pool != NULL);
    sdc_test_rng rng = {12};
    const int64_t T = 2048, H = 2, D = 40, C = H * D;
    float *q = kt_random(&rng, (size_t)(T * C), -2, 2), *k = kt_random(&rng, (size_t)(T * C), -2, 2);
    float *v = kt_random(&rng, (size_t)(T * C), -1, 1), *out = kt_alloc((size_t)(T * C));
    float *ref = kt_alloc((size_t)(8 * C)), *bound = kt_alloc((size_t)(8 * H));
    sdc_attention_args a = {.B = 1, .heads = H, .Tq = T, .Tk = T, .D = D, .q = q, .k = k, .v = v, .ldq = C,
                            .ldk = C, .ldv = C, .out = out, .ldo = C, .scale = 1.0f / sqrtf((float)D)};
    for (int ti = 0; ti < nt; ti++) {
        att_thread_job tj = {tabs[ti], pool, &a, 0};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, att_thread, &tj) == 0);
        pthread_join(th, NULL);
        size_t used = tj.scratch, linear = (size_t)(H * T * D) * sizeof(float) + (2u << 20);
        CHECK_MSG(used <= linear && used < (size_t)(T * T) * sizeof(float),
                  "%s attention holds %zu bytes of scratch for %lld tokens", tabs[ti]->name, used, (long long)T);
        for (int part = 0; part < 2; part++) {
            int64_t r0 = part ? T - 4 : 0;
            sdc_attention_args ar = a;
            ar.Tq = 4, ar.q = q + r0 * C, ar.out = ref;
            sdc_ref_attention(NULL, &ar);
            att_bounds(&ar, bound);
            for (int64_t i = 0; i < 4; i++)
                for (int64_t c = 0; c < C; c++)
                    CHECK_MSG(fabsf(out[(r0 + i) * C + c] - ref[i * C + c]) <= bound[i * H + c / D],
                              "%s row %lld col %lld: %g vs %g", tabs[ti]->name, (long long)(r0 + i), (long long)c,
                              out[(r0 + i) * C + c], ref[i * C + c]);
        }
    }
    free(q), free(k), free(v), free(out), free(ref), free(bound);
    sdc_pool_destroy(pool);
}
