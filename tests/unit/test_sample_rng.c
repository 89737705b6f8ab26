/* RNGs against stored outputs of the programs they reproduce
 * (tests/data/sample/rng.safetensors and brownian.safetensors, made by
 * gen_refs.py): torch 1.13's CPU randn on its AVX2 and portable kernels,
 * ComfyUI's noise conventions, A1111's rng_philox.py, numpy's
 * SeedSequence and torchsde's BrownianTree as ComfyUI queries it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/weight_file.h"
#include "harness.h"
#include "sample/brownian.h"
#include "sample/noise.h"
#include "sample/rng.h"

static sdc_weight_file *open_data(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/sample/%s", name);
    sdc_weight_file *f = NULL;
    sdc_error err = {0};
    if (sdc_weight_file_open(path, &f, &err) != SDC_OK) sdc_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return f;
}

/* float32 tensor `name` of f (NULL and a failure when missing / not F32). */
static const float *tensor(const sdc_weight_file *f, const char *name, size_t *n) {
    *n = 0;
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    if (!w || w->dtype != SDC_DTYPE_F32) {
        sdc_test_fail(__FILE__, __LINE__, "missing f32 tensor %s", name);
        return NULL;
    }
    *n = (size_t)sdc_weight_numel(w);
    return w->data;
}

/* count of values whose bits differ */
static size_t bit_diffs(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(a + i, b + i, 4) != 0;
    return bad;
}

static void check_table(const sdc_weight_file *f, const char *prefix, sdc_rng_kind kind) {
    static const uint64_t seeds[] = {0, 1, 42, 123456789, 4294967301ull};
    static const size_t sizes[] = {1, 2, 7, 15, 16, 17, 33, 64, 1000};
    float out[4096];
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s_s%llu_n%zu", prefix, (unsigned long long)seeds[s], sizes[k]);
            size_t n;
            const float *ref = tensor(f, name, &n);
            if (!ref) continue;
            sdc_rng r;
            sdc_rng_init(&r, kind, seeds[s]);
            sdc_rng_randn(&r, out, n);
            size_t bad = bit_diffs(out, ref, n);
            CHECK_MSG(bad == 0, "%s: %zu of %zu values differ (first %.9g vs %.9g)", name, bad, n, out[0], ref[0]);
        }
    char name[64];
    size_t n;
    snprintf(name, sizeof name, "%s_s7_n4096", prefix);
    const float *ref = tensor(f, name, &n);
    sdc_rng r;
    if (ref && n == 4096) {
        sdc_rng_init(&r, kind, 7);
        sdc_rng_randn(&r, out, n);
        CHECK_MSG(bit_diffs(out, ref, n) == 0, "%s: differs", name);
    }
    /* consecutive draws 3, 5, 16, 1, 20 from one generator: the scalar path
     * caches its second Box-Muller value across calls */
    snprintf(name, sizeof name, "%s_seq99", prefix);
    ref = tensor(f, name, &n);
    if (ref && n == 45) {
        sdc_rng_init(&r, kind, 99);
        size_t at = 0;
        static const size_t ks[] = {3, 5, 16, 1, 20};
        for (int i = 0; i < 5; i++) sdc_rng_randn(&r, out + at, ks[i]), at += ks[i];
        CHECK_MSG(bit_diffs(out, ref, n) == 0, "%s: differs", name);
    }
}

TEST(rng_cpu_matches_torch_avx2_bit_for_bit) {
    sdc_weight_file *f = open_data("rng.safetensors");
    REQUIRE(f);
    check_table(f, "cpu", SDC_RNG_CPU);
    /* the well-known first values: torch.manual_seed(0); torch.randn(1) */
    sdc_rng r;
    float v;
    sdc_rng_init(&r, SDC_RNG_CPU, 0);
    sdc_rng_randn(&r, &v, 1);
    CHECK(v == 1.5409961f);
    sdc_weight_file_close(f);
}

TEST(rng_cpu_scalar_matches_torch_portable_kernel) {
    sdc_weight_file *f = open_data("rng.safetensors");
    REQUIRE(f);
    check_table(f, "cpuscalar", SDC_RNG_CPU_SCALAR);
    sdc_weight_file_close(f);
}

TEST(rng_comfy_noise_conventions) {
    sdc_weight_file *f = open_data("rng.safetensors");
    REQUIRE(f);
    size_t n;
    float out[1024];
    const float *ref = tensor(f, "comfy_init_b2", &n); /* [2,4,4,6] in one draw */
    if (ref) {
        sdc_rng_comfy_initial_noise(SDC_RNG_CPU, 1234, NULL, 2, 96, out);
        CHECK(n == 192 && bit_diffs(out, ref, n) == 0);
    }
    int idx[3] = {2, 0, 2}; /* batch_index: draws 0,1,2 of [1,4,4,6]; 1 discarded */
    ref = tensor(f, "comfy_init_idx", &n);
    if (ref) {
        sdc_rng_comfy_initial_noise(SDC_RNG_CPU, 1234, idx, 3, 96, out);
        CHECK(n == 288 && bit_diffs(out, ref, n) == 0);
    }
    int idx2[2] = {1, 3}; /* 36 values per image: not a multiple of 16 */
    ref = tensor(f, "comfy_init_odd_idx", &n);
    if (ref) {
        sdc_rng_comfy_initial_noise(SDC_RNG_CPU, 77, idx2, 2, 36, out);
        CHECK(n == 72 && bit_diffs(out, ref, n) == 0);
    }
    ref = tensor(f, "comfy_anc_b2", &n); /* ancestral noise: seed + 1, whole batch per call */
    if (ref) {
        sdc_rng r;
        sdc_rng_init(&r, SDC_RNG_CPU, 1234 + 1);
        for (int i = 0; i < 3; i++) sdc_rng_randn(&r, out + 192 * i, 192);
        CHECK(n == 576 && bit_diffs(out, ref, n) == 0);
    }
    sdc_weight_file_close(f);
}

TEST(rng_philox_matches_a1111) {
    /* A1111's numpy emulation computes Box-Muller in double with numpy's
     * log/sin; we use libm's. Values are float32: allow 1 ulp, and require
     * nearly all to be identical. */
    sdc_weight_file *f = open_data("rng.safetensors");
    REQUIRE(f);
    static const uint64_t seeds[] = {0, 1, 42, (1ull << 40) + 3};
    float *out = malloc(1041 * sizeof(float));
    REQUIRE(out);
    for (int s = 0; s < 4; s++) {
        char name[64];
        snprintf(name, sizeof name, "philox_s%llu", (unsigned long long)seeds[s]);
        size_t n;
        const float *ref = tensor(f, name, &n);
        if (!ref || n != 12 + 5 + 1024) continue;
        sdc_rng r;
        sdc_rng_init(&r, SDC_RNG_PHILOX, seeds[s]);
        sdc_rng_randn(&r, out, 12); /* offsets 0, 1, 2: one per call */
        sdc_rng_randn(&r, out + 12, 5);
        sdc_rng_randn(&r, out + 17, 1024);
        size_t exact = 0, far = 0;
        for (size_t i = 0; i < n; i++) {
            exact += out[i] == ref[i];
            far += fabsf(out[i] - ref[i]) > nextafterf(fabsf(ref[i]), INFINITY) - fabsf(ref[i]);
        }
        CHECK_MSG(far == 0 && exact >= n - n / 100, "%s: %zu exact, %zu beyond 1 ulp of %zu", name, exact, far, n);
    }
    /* A1111's documented first values for seed 0 (rng_philox.py docstring, 1e-6) */
    sdc_rng r;
    sdc_rng_init(&r, SDC_RNG_PHILOX, 0);
    sdc_rng_randn(&r, out, 4);
    CHECK(fabsf(out[0] + 0.92466259f) < 1e-6f && fabsf(out[3] - 0.14518388f) < 1e-6f);
    free(out);
    sdc_weight_file_close(f);
}

TEST(rng_kind_names) {
    sdc_rng_kind k;
    CHECK(sdc_rng_kind_from_name("CPU", &k) == 0 && k == SDC_RNG_CPU);
    CHECK(sdc_rng_kind_from_name("philox", &k) == 0 && k == SDC_RNG_PHILOX);
    CHECK(sdc_rng_kind_from_name("NV", &k) == 0 && k == SDC_RNG_PHILOX);
    CHECK(sdc_rng_kind_from_name("cpu-scalar", &k) == 0 && k == SDC_RNG_CPU_SCALAR);
    CHECK(sdc_rng_kind_from_name("mersenne", &k) == -1);
    CHECK(strcmp(sdc_rng_kind_name(SDC_RNG_PHILOX), "philox") == 0);
}

TEST(rng_seed_sequence_matches_numpy) {
    sdc_weight_file *f = open_data("brownian.safetensors");
    REQUIRE(f);
    static const struct {
        const char *name;
        uint64_t ent, key[2];
        int nk;
    } cases[] = {{"seedseq_0_root", 0, {0, 0}, 0},
                 {"seedseq_123456_5_3", 123456, {5, 3}, 2},
                 {"seedseq_1099511627783_1_1", (1ull << 40) + 7, {1, 1}, 2}};
    for (int c = 0; c < 3; c++) {
        const sdc_weight_info *w = sdc_weight_file_find(f, cases[c].name);
        if (!w || w->dtype != SDC_DTYPE_I64 || sdc_weight_numel(w) != 4) {
            sdc_test_fail(__FILE__, __LINE__, "missing %s", cases[c].name);
            continue;
        }
        uint32_t got[4];
        sdc_seed_sequence(cases[c].ent, cases[c].key, cases[c].nk, 24, got, 4);
        const int64_t *want = w->data;
        for (int i = 0; i < 4; i++) CHECK_MSG((int64_t)got[i] == want[i], "%s[%d]", cases[c].name, i);
    }
    sdc_weight_file_close(f);
}

TEST(rng_brownian_tree_matches_torchsde) {
    sdc_weight_file *f = open_data("brownian.safetensors");
    REQUIRE(f);
    static const uint64_t seeds[] = {0, 123456};
    for (int s = 0; s < 2; s++) {
        char name[64];
        size_t np, nn, nr;
        snprintf(name, sizeof name, "bt%llu_pairs", (unsigned long long)seeds[s]);
        const float *pairs = tensor(f, name, &np);
        snprintf(name, sizeof name, "bt%llu_noise", (unsigned long long)seeds[s]);
        const float *noise = tensor(f, name, &nn);
        snprintf(name, sizeof name, "bt%llu_range", (unsigned long long)seeds[s]);
        const float *range = tensor(f, name, &nr);
        if (!pairs || !noise || !range) continue;
        size_t q = np / 2, n = nn / q;
        sdc_brownian b;
        sdc_error err = {0};
        REQUIRE(sdc_brownian_init(&b, SDC_RNG_CPU, seeds[s], range[0], range[1], n, &err) == SDC_OK);
        float *out = malloc(n * sizeof(float));
        REQUIRE(out);
        size_t bad = 0;
        double worst = 0;
        for (size_t i = 0; i < q; i++) {
            REQUIRE(sdc_brownian_noise(&b, pairs[2 * i], pairs[2 * i + 1], out, n, &err) == SDC_OK);
            bad += bit_diffs(out, noise + i * n, n);
            for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs(out[j] - noise[i * n + j]));
        }
        CHECK_MSG(bad == 0, "seed %llu: %zu of %zu values differ (max %.3g)", (unsigned long long)seeds[s], bad, q * n,
                  worst);
        free(out);
        sdc_brownian_free(&b);
    }
    sdc_weight_file_close(f);
}

TEST(rng_noise_sources_follow_comfy_and_a1111) {
    sdc_weight_file *f = open_data("rng.safetensors");
    REQUIRE(f);
    sdc_noise_schedule nsch;
    sdc_error err = {0};
    REQUIRE(sdc_noise_schedule_init(&nsch, 0.00085, 0.012, 1000, &err) == SDC_OK);
    sdc_sched sc;
    REQUIRE(sdc_sched_build(&sc, &nsch, SDC_SCHED_KARRAS, 5, NULL, &err) == SDC_OK);
    /* ComfyUI, ancestral sampler: generator seeded seed + 1, whole batch per call */
    sdc_noise_source src;
    REQUIRE(sdc_noise_init_comfy(&src, SDC_SAMPLER_EULER_ANCESTRAL, &sc, SDC_RNG_CPU, 1234, 192, &err) == SDC_OK);
    CHECK(!src.brownian);
    size_t n;
    const float *ref = tensor(f, "comfy_anc_b2", &n);
    float out[576];
    for (int i = 0; i < 3; i++) REQUIRE(sdc_noise_source_fn(&src, 1, 0.5, out + 192 * i, 192, &err) == SDC_OK);
    if (ref) CHECK(n == 576 && bit_diffs(out, ref, n) == 0);
    CHECK(sdc_noise_source_fn(&src, 1, 0.5, out, 100, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    sdc_noise_free(&src);
    /* ComfyUI, SDE sampler: a Brownian tree over the schedule's range */
    REQUIRE(sdc_noise_init_comfy(&src, SDC_SAMPLER_DPMPP_2M_SDE, &sc, SDC_RNG_CPU, 9, 32, &err) == SDC_OK);
    CHECK(src.brownian && src.tree.t0 == sc.sigmas[sc.steps - 1] && src.tree.t1 == sc.sigmas[0]);
    sdc_noise_free(&src);
    /* A1111: generator i seeded seeds[i]; first draw = initial noise, then steps */
    uint64_t seeds[2] = {5, 6};
    REQUIRE(sdc_noise_init_a1111(&src, SDC_RNG_CPU, seeds, 2, 16, 0, &err) == SDC_OK);
    float init[32], step[32], want[32];
    sdc_noise_a1111_initial(&src, init, 0, seeds);
    REQUIRE(sdc_noise_source_fn(&src, 1, 0.5, step, 32, &err) == SDC_OK);
    for (int i = 0; i < 2; i++) {
        sdc_rng r;
        sdc_rng_init(&r, SDC_RNG_CPU, seeds[i]);
        sdc_rng_randn(&r, want, 16);
        sdc_rng_randn(&r, want + 16, 16);
        CHECK(bit_diffs(init + 16 * i, want, 16) == 0 && bit_diffs(step + 16 * i, want + 16, 16) == 0);
    }
    sdc_noise_free(&src);
    sdc_sched_free(&sc);
    sdc_weight_file_close(f);
}
