/* `sdc_bench e2e`: the stages of a real generation on a full-size model
 * (made by `sdc make-model --size full`), as a table: model load (from the
 * page cache), text encoding, one U-Net step with CFG at 512x512 and
 * 256x256, VAE decode at 512x512, TAESD decode, whole images (20 steps
 * euler, 4 steps lcm), peak memory; each with its FLOP count (GEMM, conv
 * and attention work counted by the ops) and the fraction of this
 * machine's arithmetic peak, measured in the same run. U-Net steps are the
 * best of the runs after two warm-ups (steady state, as in a generation).
 * bf16 packs the U-Net's weights at load as `sdc generate` does (--no-pack:
 * not). Never a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/util.h"
#include "bench.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate.h"
#include "tensor/ops.h"

typedef struct e2e_cfg {
    const char *model, *taesd, *vocab;
    sdc_dtype mat_dtype;
    sdc_compute compute;
    int threads, quick;
    const char *only; /* comma list of stages to run (load always runs): text,unet,vae,taesd,image */
    int no_pack; /* bf16: leave the U-Net's weights unpacked (packed per call, as before packing at load) */
    double peak; /* GFLOP/s of the arithmetic in use */
    sdc_pool *pool;
} e2e_cfg;

static int wanted(const e2e_cfg *c, const char *stage) { return !c->only || strstr(c->only, stage) != NULL; }

static void row(const char *name, double seconds, double flops, double peak) {
    char rate[32] = "-", pct[16] = "-", gf[32] = "-";
    if (flops > 0) {
        snprintf(gf, sizeof gf, "%.1f", flops * 1e-9);
        snprintf(rate, sizeof rate, "%.1f", flops / seconds * 1e-9);
        if (peak > 0) snprintf(pct, sizeof pct, "%.0f%%", 100.0 * flops / seconds * 1e-9 / peak);
    }
    printf("| %-36s | %9.3f | %9s | %8s | %6s |\n", name, seconds, gf, rate, pct);
    fflush(stdout);
}

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static sdc_sd_model *load(const e2e_cfg *c, double *seconds) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_wpack pack = {.k = sdc_kernels_best(), .compute = c->compute, .pool = c->pool};
    sdc_sd_model_opts o = {.model_path = c->model, .vocab_path = c->vocab, .taesd_path = c->taesd,
                           .mat_dtype = c->mat_dtype, .prediction = -1,
                           .pack = c->compute == SDC_COMPUTE_BF16 && !c->no_pack ? &pack : NULL};
    sdc_sd_model *m = NULL;
    double t0 = sdc_time_now();
    if (sdc_sd_model_load(&o, &m, &err) != SDC_OK) fprintf(stderr, "sdc_bench: %s\n", sdc_error_msg(&err));
    *seconds = sdc_time_now() - t0;
    return m;
}

/* one U-Net evaluation on a [2, 4, h, w] batch (CFG: cond + uncond) */
static void unet_step(const e2e_cfg *c, const sdc_sd_model *m, const sdc_tensor *ctx, int size, const char *name) {
    sdc_ctx x;
    sdc_ctx_init(&x, c->pool, 0);
    x.compute = c->compute;
    int64_t h = size / 8, n = 2 * 4 * h * h;
    double best = INFINITY, flops = 0;
    /* the first run sizes the arena, the second may still fault in its
     * merged chunk: the best of the later runs is the steady state */
    for (int rep = 0; rep < 3; rep++) {
        sdc_tensor *lat = sdc_new_4d(&x, 2, 4, h, h), *t = sdc_new(&x, 1, (int64_t[]){2});
        sdc_tensor *cc = sdc_new_3d(&x, 2, ctx->shape[1], ctx->shape[2]);
        if (!lat || !t || !cc) break;
        for (int64_t i = 0; i < n; i++) ((float *)lat->data)[i] = sinf((float)i * 0.37f);
        ((float *)t->data)[0] = ((float *)t->data)[1] = 500.0f;
        memcpy(cc->data, ctx->data, (size_t)sdc_tensor_numel(ctx) * 4);
        memcpy((float *)cc->data + sdc_tensor_numel(ctx), ctx->data, (size_t)sdc_tensor_numel(ctx) * 4);
        double f0 = x.flops, t0 = sdc_time_now();
        sdc_tensor *y = sdc_unet_forward(&x, m->unet, lat, t, cc, NULL);
        double dt = sdc_time_now() - t0;
        if (!y) break;
        if (rep > 1 && dt < best) best = dt;
        flops = x.flops - f0;
        sdc_ctx_reset(&x);
    }
    if (!sdc_ctx_ok(&x)) fprintf(stderr, "sdc_bench: %s\n", sdc_error_msg(&x.err));
    else row(name, best, flops, c->peak);
    sdc_ctx_free(&x);
}

static void decode(const e2e_cfg *c, const sdc_sd_model *m, int taesd) {
    sdc_ctx x;
    sdc_ctx_init(&x, c->pool, 0);
    x.compute = c->compute;
    double best = INFINITY, flops = 0;
    /* as for the U-Net: the first run sizes the arena and faults it in */
    for (int rep = 0; rep < 3; rep++) {
        sdc_tensor *z = sdc_new_4d(&x, 1, 4, 64, 64);
        if (!z) break;
        for (int64_t i = 0; i < 4 * 64 * 64; i++) ((float *)z->data)[i] = cosf((float)i * 0.11f);
        double f0 = x.flops, t0 = sdc_time_now();
        sdc_tensor *img = taesd ? sdc_taesd_decode(&x, m->taesd, z) : sdc_vae_decode(&x, m->vae, z);
        double dt = sdc_time_now() - t0;
        if (!img) break;
        if (rep > 0 && dt < best) best = dt;
        flops = x.flops - f0;
        sdc_ctx_reset(&x);
    }
    if (!sdc_ctx_ok(&x)) fprintf(stderr, "sdc_bench: %s\n", sdc_error_msg(&x.err));
    else row(taesd ? "TAESD decode 512x512" : "VAE decode 512x512", best, flops, c->peak);
    sdc_ctx_free(&x);
}

static void image(const e2e_cfg *c, const sdc_sd_model *m, sdc_sampler_kind s, sdc_scheduler sch, int steps, float cfg,
                  const char *name) {
    sdc_gen_request r;
    sdc_gen_request_default(&r);
    r.prompt = "a lighthouse on a cliff at dusk, oil painting";
    r.negative_prompt = "blurry";
    r.sampler = s;
    r.scheduler = sch;
    r.steps = steps;
    r.cfg_scale = cfg;
    r.compute = c->compute;
    r.seed = 42;
    sdc_gen_result res;
    sdc_error err;
    sdc_error_clear(&err);
    double t0 = sdc_time_now();
    if (sdc_generate(m, c->pool, &r, &res, &err) != SDC_OK) {
        fprintf(stderr, "sdc_bench: %s\n", sdc_error_msg(&err));
        return;
    }
    row(name, sdc_time_now() - t0, 0, 0);
    sdc_gen_result_free(&res);
}

static int parse(int argc, char **argv, e2e_cfg *c) {
    const char *prec = "bf16";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--model") && v) c->model = v, i++;
        else if (!strcmp(a, "--taesd") && v) c->taesd = v, i++;
        else if (!strcmp(a, "--vocab") && v) c->vocab = v, i++;
        else if (!strcmp(a, "--precision") && v) prec = v, i++;
        else if (!strcmp(a, "--threads") && v) c->threads = atoi(v), i++;
        else if (!strcmp(a, "--quick")) c->quick = 1;
        else if (!strcmp(a, "--only") && v) c->only = v, i++;
        else if (!strcmp(a, "--no-pack")) c->no_pack = 1;
        else return -1;
    }
    if (!strcmp(prec, "bf16")) c->mat_dtype = SDC_WLOAD_KEEP, c->compute = SDC_COMPUTE_BF16;
    else if (!strcmp(prec, "f32")) c->mat_dtype = SDC_WLOAD_KEEP, c->compute = SDC_COMPUTE_F32;
    else if (!strcmp(prec, "f16")) c->mat_dtype = SDC_DTYPE_F16, c->compute = SDC_COMPUTE_F32;
    else return -1;
    return c->model ? 0 : -1;
}

int sdc_bench_e2e(int argc, char **argv) {
    e2e_cfg c = {.threads = 0};
    if (parse(argc, argv, &c) != 0) {
        fprintf(stderr, "usage: sdc_bench e2e --model FILE [--taesd FILE] [--vocab PATH] [--precision bf16|f32|f16] "
                        "[--threads N] [--quick] [--no-pack] [--only text,unet,vae,taesd,image]\n");
        return 2;
    }
    c.pool = sdc_pool_create(c.threads);
    int n = sdc_pool_threads(c.pool);
    double pf32, pbf16;
    sdc_bench_peaks(c.pool, n, &pf32, &pbf16);
    c.peak = c.compute == SDC_COMPUTE_BF16 && pbf16 > 0 ? pbf16 : pf32;
    printf("sdc_bench e2e: %s, %d threads, precision %s; peak f32 %.0f GFLOP/s, bf16 %.0f GFLOP/s (measured now)\n\n",
           c.model, n, c.compute == SDC_COMPUTE_BF16 ? "bf16" : c.mat_dtype == SDC_DTYPE_F16 ? "f16" : "f32", pf32, pbf16);
    printf("| %-36s | %9s | %9s | %8s | %6s |\n|%s|%s|%s|%s|%s|\n", "stage", "seconds", "GFLOP", "GFLOP/s", "% peak",
           "--------------------------------------", "-----------", "-----------", "----------", "--------");
    double t_first, t_cached;
    sdc_sd_model *m = load(&c, &t_first);
    if (!m) return 1;
    sdc_sd_model_free(m);
    m = load(&c, &t_cached);
    if (!m) return 1;
    row("model load (first)", t_first, 0, 0);
    row("model load (page cache)", t_cached, 0, 0);
    sdc_ctx x;
    sdc_ctx_init(&x, c.pool, 0);
    x.compute = c.compute;
    double t0 = sdc_time_now();
    sdc_tensor *ctx = sdc_encode_prompt(&x, m, "a lighthouse on a cliff at dusk, oil painting", 0);
    sdc_encode_prompt(&x, m, "blurry", 0);
    if (wanted(&c, "text")) row("text encoding (prompt + negative)", sdc_time_now() - t0, x.flops, c.peak);
    if (ctx && wanted(&c, "unet")) {
        unet_step(&c, m, ctx, 512, "U-Net step 512x512, CFG (batch 2)");
        unet_step(&c, m, ctx, 256, "U-Net step 256x256, CFG (batch 2)");
    }
    sdc_ctx_free(&x);
    if (wanted(&c, "vae")) decode(&c, m, 0);
    if (m->taesd && wanted(&c, "taesd")) decode(&c, m, 1);
    if (!c.quick && wanted(&c, "image")) {
        image(&c, m, SDC_SAMPLER_EULER, SDC_SCHED_NORMAL, 20, 7.0f, "image 512x512, euler 20 steps");
        image(&c, m, SDC_SAMPLER_LCM, SDC_SCHED_LCM, 4, 1.0f, "image 512x512, lcm 4 steps (cfg 1)");
    }
    printf("\npeak resident memory: %ld MB\n", peak_rss_mb());
    sdc_sd_model_free(m);
    sdc_pool_destroy(c.pool);
    return 0;
}
