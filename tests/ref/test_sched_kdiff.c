/* Schedulers and samplers against k-diffusion / ComfyUI run on fixed inputs
 * (tests/data/sample/kdiff.safetensors, made by gen_refs.py with
 * crowsonkb/k-diffusion's sampling.py, and ComfyUI's scheduler and
 * ddpm/lcm/ipndm formulas, and wl-zhao/UniPC's uni_pc.py). The model is a fake denoiser, x0 =
 * tanh(x) * 0.9 + 0.05 * sigma; the stochastic samplers replay the noise
 * the reference drew. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/weight_file.h"
#include "harness.h"
#include "sample/sampler.h"
#include "sample/schedule.h"

static sdc_weight_file *g_file;

static const float *get(const char *name, size_t *n) {
    *n = 0;
    if (!g_file) {
        sdc_error err = {0};
        if (sdc_weight_file_open("tests/data/sample/kdiff.safetensors", &g_file, &err) != SDC_OK) {
            sdc_test_fail(__FILE__, __LINE__, "%s", err.msg);
            return NULL;
        }
    }
    *n = 0;
    const sdc_weight_info *w = sdc_weight_file_find(g_file, name);
    if (!w || w->dtype != SDC_DTYPE_F32) {
        sdc_test_fail(__FILE__, __LINE__, "missing f32 tensor %s", name);
        return NULL;
    }
    *n = (size_t)sdc_weight_numel(w);
    return w->data;
}

static void init_ns(sdc_noise_schedule *ns) {
    sdc_error err = {0};
    sdc_noise_schedule_init(ns, 0.00085, 0.012, 1000, &err);
}

TEST(sched_comfy_schedulers_match) {
    /* ComfyUI computes these in float32 torch; we in double rounded to
     * float at the end, so a few float ulps (2e-6 relative) separate them. */
    static const struct {
        const char *name;
        sdc_scheduler kind;
    } cases[] = {{"karras", SDC_SCHED_KARRAS},           {"exponential", SDC_SCHED_EXPONENTIAL},
                 {"normal_comfy", SDC_SCHED_NORMAL_COMFY}, {"sgm_uniform", SDC_SCHED_SGM_UNIFORM},
                 {"simple", SDC_SCHED_SIMPLE},           {"beta", SDC_SCHED_BETA},
                 {"linear_quadratic", SDC_SCHED_LINEAR_QUADRATIC}, {"kl_optimal", SDC_SCHED_KL_OPTIMAL}};
    static const int steps[] = {1, 4, 10, 25};
    sdc_noise_schedule ns;
    init_ns(&ns);
    size_t n;
    const float *train = get("train_sigmas", &n);
    REQUIRE(train && n == 1000);
    for (int i = 0; i < 1000; i++) CHECK(ns.sigmas[i] == train[i]);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int s = 0; s < 4; s++) {
            char name[64];
            snprintf(name, sizeof name, "sched_%s_%d", cases[c].name, steps[s]);
            if (steps[s] == 1 && (cases[c].kind == SDC_SCHED_LINEAR_QUADRATIC || cases[c].kind == SDC_SCHED_KL_OPTIMAL))
                continue;
            const float *ref = get(name, &n);
            if (!ref) continue;
            sdc_sched sc;
            sdc_error err = {0};
            REQUIRE_MSG(sdc_sched_build(&sc, &ns, cases[c].kind, steps[s], NULL, &err) == SDC_OK, "%s", err.msg);
            CHECK_MSG((size_t)sc.steps + 1 == n, "%s: %d sigmas, want %zu", name, sc.steps + 1, n);
            for (size_t i = 0; i < n && i <= (size_t)sc.steps; i++)
                CHECK_MSG(fabs(sc.sigmas[i] - ref[i]) <= 2e-6 * ref[i], "%s[%zu] = %.9g, want %.9g", name, i,
                          sc.sigmas[i], ref[i]);
            sdc_sched_free(&sc);
        }
}

TEST(sched_sigma_timestep_maps_match_kdiffusion) {
    sdc_noise_schedule ns;
    init_ns(&ns);
    size_t n, m;
    const float *ps = get("t_probe_sigma", &n), *pt = get("t_probe_t", &m);
    REQUIRE(ps && pt && n == m);
    /* k-diffusion interpolates float32 log sigmas: agree to ~1e-4 in t */
    for (size_t i = 0; i < n; i++) {
        double t = sdc_noise_schedule_timestep(&ns, ps[i]);
        CHECK_MSG(fabs(t - pt[i]) <= 2e-4 + 1e-5 * pt[i], "t(%.7g) = %.7f, want %.7f", ps[i], t, pt[i]);
    }
    const float *qt = get("sigma_probe_t", &n), *qs = get("sigma_probe_sigma", &m);
    REQUIRE(qt && qs && n == m);
    for (size_t i = 0; i < n; i++) {
        double s = sdc_noise_schedule_sigma(&ns, qt[i]);
        CHECK_MSG(fabs(s - qs[i]) <= 2e-6 * qs[i], "sigma(%g) = %.8g, want %.8g", qt[i], s, qs[i]);
    }
}

typedef struct fake {
    const float *noise;
    size_t n_noise, used;
} fake;

static sdc_status fake_denoise(void *user, const sdc_denoise_args *a, sdc_error *err) {
    for (size_t i = 0; i < a->n; i++) a->x0[i] = tanhf(a->x[i]) * 0.9f + 0.05f * (float)a->sigma;
    (void)user, (void)err;
    return SDC_OK;
}

static sdc_status fake_noise(void *user, double s, double sn, float *out, size_t n, sdc_error *err) {
    fake *f = user;
    if (f->used + n > f->n_noise) return sdc_error_set(err, SDC_ERR_INTERNAL, "reference noise exhausted");
    memcpy(out, f->noise + f->used, n * sizeof(float));
    f->used += n;
    (void)s, (void)sn;
    return SDC_OK;
}

static void run_traj(sdc_sampler_kind k, const char *ref_name, const char *sched, double eta) {
    sdc_noise_schedule ns;
    init_ns(&ns);
    char name[96];
    size_t nsig, nx, nt, nn;
    snprintf(name, sizeof name, "sched_%s", sched);
    const float *sig = get(name, &nsig);
    const float *x_init = get("x_init", &nx);
    snprintf(name, sizeof name, "traj_%s__%s", ref_name, sched);
    const float *traj = get(name, &nt);
    snprintf(name, sizeof name, "noise_%s__%s", ref_name, sched);
    const float *noise = get(name, &nn);
    if (!sig || !x_init || !traj || !noise || nt != nx) return;
    double sigmas[64];
    for (size_t i = 0; i < nsig && i < 64; i++) sigmas[i] = sig[i];
    sdc_sched sc;
    sdc_error err = {0};
    REQUIRE(sdc_sched_from_sigmas(&sc, &ns, sigmas, (int)nsig, &err) == SDC_OK);
    float x[64];
    REQUIRE(nx <= 64);
    for (size_t i = 0; i < nx; i++) x[i] = x_init[i] * sig[0];
    fake f = {noise, nn, 0};
    sdc_sampler_ctx ctx = {fake_denoise, NULL, NULL, NULL, fake_noise, &f};
    sdc_sampler_opts o;
    sdc_sampler_opts_default(k, &o);
    if (eta >= 0) o.eta = eta;
    sdc_status st = sdc_sample(k, &o, &sc, &ns, &ctx, x, nx, &err);
    CHECK_MSG(st == SDC_OK, "%s: %s", ref_name, err.msg);
    double worst = 0, scale = 1;
    for (size_t i = 0; i < nx; i++) {
        worst = fmax(worst, fabs(x[i] - traj[i]));
        scale = fmax(scale, fabs(traj[i]));
    }
    /* float32 on both sides, different operation order (torch keeps sigmas
     * as float32 tensors, we use double scalars): ~1e-7 per step, measured
     * <= 1e-6 over 25 steps; the bound is 1e-5 of the latent's scale. */
    CHECK_MSG(worst <= 1e-5 * scale, "%s on %s: max diff %.3g (scale %.3g)", ref_name, sched, worst, scale);
    if (sdc_test_failed()) printf("    %s on %s: max diff %.3g\n", ref_name, sched, worst);
    sdc_sched_free(&sc);
}

TEST(sampler_trajectories_match_kdiffusion) {
    run_traj(SDC_SAMPLER_EULER, "euler", "karras_10", -1);
    run_traj(SDC_SAMPLER_EULER, "euler", "normal_comfy_4", -1);
    run_traj(SDC_SAMPLER_EULER_ANCESTRAL, "euler_ancestral", "karras_10", -1);
    run_traj(SDC_SAMPLER_HEUN, "heun", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPM_2, "dpm_2", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPM_2_ANCESTRAL, "dpm_2_ancestral", "karras_10", -1);
    run_traj(SDC_SAMPLER_LMS, "lms", "karras_10", -1);
    run_traj(SDC_SAMPLER_LMS, "lms", "exponential_4", -1);
    run_traj(SDC_SAMPLER_DPMPP_2S_ANCESTRAL, "dpmpp_2s_ancestral", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_SDE, "dpmpp_sde", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_2M, "dpmpp_2m", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_2M, "dpmpp_2m", "sgm_uniform_25", -1);
    run_traj(SDC_SAMPLER_DPMPP_2M_SDE, "dpmpp_2m_sde", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_2M_SDE_HEUN, "dpmpp_2m_sde_heun", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_3M_SDE, "dpmpp_3m_sde", "karras_10", -1);
    run_traj(SDC_SAMPLER_DPMPP_3M_SDE, "dpmpp_3m_sde", "exponential_25", -1);
}

TEST(sampler_trajectories_match_comfy_formulas) {
    run_traj(SDC_SAMPLER_DDPM, "ddpm", "karras_10", -1);
    run_traj(SDC_SAMPLER_LCM, "lcm", "sgm_uniform_4", -1);
    run_traj(SDC_SAMPLER_IPNDM, "ipndm", "karras_10", -1);
    run_traj(SDC_SAMPLER_IPNDM_V, "ipndm_v", "karras_10", -1);
    run_traj(SDC_SAMPLER_DDIM, "ddim_eta", "karras_10", 0.5);
}

TEST(sampler_unipc_matches_reference_unipc) {
    /* wl-zhao/UniPC's multistep bh solver driven as ComfyUI does (time = sigma) */
    run_traj(SDC_SAMPLER_UNI_PC, "uni_pc", "karras_10", -1);
    run_traj(SDC_SAMPLER_UNI_PC, "uni_pc", "karras_4", -1);
    run_traj(SDC_SAMPLER_UNI_PC_BH2, "uni_pc_bh2", "karras_10", -1);
    run_traj(SDC_SAMPLER_UNI_PC_BH2, "uni_pc_bh2", "exponential_25", -1);
}
