/* Sampling API behaviour: names and aliases, img2img start rules, initial
 * noise scales, callbacks (cancel, inpaint-style edits), VP output, input
 * validation, prediction-type conversions and CFG. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "ref/refdata.h"
#include "sample/guidance.h"
#include "sample/sampler.h"
#include "sample/schedule.h"

static sdc_noise_schedule g_ns;
static void init_ns(void) {
    sdc_error err = {0};
    sdc_noise_schedule_init(&g_ns, 0.00085, 0.012, 1000, &err);
}

TEST(sample_names_and_aliases) {
    sdc_sampler_kind k;
    sdc_scheduler s = SDC_SCHED_NORMAL;
    int has = -1;
    sdc_error err = {0};
    CHECK(sdc_sampler_from_name("DPM++ 2M Karras", &k, &s, &has, &err) == SDC_OK);
    CHECK(k == SDC_SAMPLER_DPMPP_2M && s == SDC_SCHED_KARRAS && has == 1);
    CHECK(sdc_sampler_from_name("euler a", &k, &s, &has, &err) == SDC_OK && k == SDC_SAMPLER_EULER_ANCESTRAL && !has);
    CHECK(sdc_sampler_from_name("Euler_Ancestral", &k, NULL, NULL, &err) == SDC_OK && k == SDC_SAMPLER_EULER_ANCESTRAL);
    /* canonical names win and imply no scheduler; ddim's default is ddim_uniform */
    CHECK(sdc_sampler_from_name("DDIM", &k, &s, &has, &err) == SDC_OK && k == SDC_SAMPLER_DDIM && !has);
    CHECK(sdc_sampler_default_scheduler(SDC_SAMPLER_DDIM) == SDC_SCHED_DDIM_UNIFORM);
    CHECK(sdc_sampler_from_name("dpmpp_3m_sde", &k, NULL, NULL, &err) == SDC_OK && k == SDC_SAMPLER_DPMPP_3M_SDE);
    for (int i = 0; i < SDC_SAMPLER_COUNT; i++) { /* every canonical name round-trips */
        CHECK(sdc_sampler_from_name(sdc_sampler_name((sdc_sampler_kind)i), &k, NULL, NULL, &err) == SDC_OK);
        CHECK(k == (sdc_sampler_kind)i);
    }
    CHECK(sdc_sampler_from_name("warp_drive", &k, NULL, NULL, &err) == SDC_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "warp_drive") && strstr(err.msg, "dpmpp_2m"));
    sdc_error_clear(&err);
    CHECK(sdc_scheduler_from_name("Karras", &s, &err) == SDC_OK && s == SDC_SCHED_KARRAS);
    CHECK(sdc_scheduler_from_name("SGM-Uniform", &s, &err) == SDC_OK && s == SDC_SCHED_SGM_UNIFORM);
    for (int i = 0; i < SDC_SCHED_COUNT; i++) {
        CHECK(sdc_scheduler_from_name(sdc_scheduler_name((sdc_scheduler)i), &s, &err) == SDC_OK);
        CHECK(s == (sdc_scheduler)i);
    }
    CHECK(sdc_scheduler_from_name("lunar", &s, &err) == SDC_ERR_INVALID_ARG && strstr(err.msg, "ddim_uniform"));
}

TEST(sample_init_noise_scales) {
    init_ns();
    sdc_sched sc;
    sdc_error err = {0};
    double smax = sdc_noise_schedule_sigma_max(&g_ns);
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_NORMAL, 10, NULL, &err) == SDC_OK);
    CHECK(sc.init_noise_scale == smax); /* diffusers Euler, linspace spacing */
    sdc_sched_free(&sc);
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_KARRAS, 10, NULL, &err) == SDC_OK);
    CHECK(fabs(sc.init_noise_scale - sqrt(1 + smax * smax)) < 1e-6); /* ComfyUI at sigma_max */
    sdc_sched_free(&sc);
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_DDIM_UNIFORM, 20, NULL, &err) == SDC_OK);
    CHECK(sc.timesteps[0] == 951 && sc.timesteps[19] == 1 && sc.timesteps[20] == 0);
    CHECK(sc.sigmas[20] == g_ns.sigmas[0]); /* last step to alphas_cumprod[0] */
    CHECK(fabs(sc.init_noise_scale * sdc_sigma_vp_scale(sc.sigmas[0]) - 1) < 1e-12); /* VP N(0,1) */
    sdc_sched_free(&sc);
    sdc_sched_opts o;
    sdc_sched_opts_default(&o);
    o.init_noise = SDC_INIT_NOISE_SIGMA;
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_KARRAS, 10, &o, &err) == SDC_OK);
    CHECK(sc.init_noise_scale == sc.sigmas[0]);
    sdc_sched_free(&sc);
    CHECK(sdc_sched_build(&sc, &g_ns, SDC_SCHED_KARRAS, 0, NULL, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    CHECK(sdc_sched_build(&sc, &g_ns, SDC_SCHED_LCM, 51, NULL, &err) == SDC_ERR_INVALID_ARG);
}

TEST(sample_discard_penultimate_sigma) {
    /* ComfyUI for dpm_2: one more step, then drop the second-to-last sigma */
    init_ns();
    sdc_sched a, b;
    sdc_error err = {0};
    sdc_sched_opts o;
    sdc_sched_opts_default(&o);
    o.discard_penultimate = sdc_sampler_discards_penultimate(SDC_SAMPLER_DPM_2);
    CHECK(o.discard_penultimate);
    REQUIRE(sdc_sched_build(&a, &g_ns, SDC_SCHED_KARRAS, 8, &o, &err) == SDC_OK);
    REQUIRE(sdc_sched_build(&b, &g_ns, SDC_SCHED_KARRAS, 9, NULL, &err) == SDC_OK);
    CHECK(a.steps == 8);
    for (int i = 0; i < 8; i++) CHECK(a.sigmas[i] == b.sigmas[i]);
    CHECK(a.sigmas[8] == 0 && b.sigmas[8] > 0);
    sdc_sched_free(&a);
    sdc_sched_free(&b);
}

TEST(sample_img2img_rules) {
    init_ns();
    sdc_sched full, part;
    sdc_error err = {0};
    /* diffusers: 20 steps at strength 0.6 run the last 12 (the img2img
     * pipeline reference in ../shared records the timesteps it used) */
    REQUIRE(sdc_sched_build_img2img(&part, &g_ns, SDC_SCHED_DDIM_UNIFORM, 20, 0.6, SDC_IMG2IMG_DIFFUSERS, NULL, &err) ==
            SDC_OK);
    sdc_ref ts;
    if (sdc_ref_load("reference/tiny/pipe/img2img_ddim_64_s06.safetensors", "step_timesteps", &ts)) {
        CHECK(part.steps == ts.numel);
        for (int i = 0; i < part.steps && i < ts.numel; i++) CHECK(part.timesteps[i] == ts.data[i]);
        sdc_ref_free(&ts);
    }
    CHECK(part.init_noise_scale == part.sigmas[0]); /* x = latent + noise * sigma_start */
    sdc_sched_free(&part);
    /* A1111: t_enc = int(0.6 * 20) = 12 -> sigmas[20 - 12 - 1:], 13 steps */
    REQUIRE(sdc_sched_build(&full, &g_ns, SDC_SCHED_KARRAS, 20, NULL, &err) == SDC_OK);
    REQUIRE(sdc_sched_build_img2img(&part, &g_ns, SDC_SCHED_KARRAS, 20, 0.6, SDC_IMG2IMG_A1111, NULL, &err) == SDC_OK);
    CHECK(part.steps == 13);
    for (int i = 0; i <= 13; i++) CHECK(part.sigmas[i] == full.sigmas[7 + i]);
    sdc_sched_free(&part);
    sdc_sched_free(&full);
    /* ComfyUI: int(20 / 0.6) = 33-step schedule, its last 20 steps */
    REQUIRE(sdc_sched_build(&full, &g_ns, SDC_SCHED_KARRAS, 33, NULL, &err) == SDC_OK);
    REQUIRE(sdc_sched_build_img2img(&part, &g_ns, SDC_SCHED_KARRAS, 20, 0.6, SDC_IMG2IMG_COMFY, NULL, &err) == SDC_OK);
    CHECK(part.steps == 20);
    for (int i = 0; i <= 20; i++) CHECK(part.sigmas[i] == full.sigmas[13 + i]);
    sdc_sched_free(&part);
    sdc_sched_free(&full);
    /* tiny strength: diffusers runs int(20 * 0.01) = 0 steps */
    REQUIRE(sdc_sched_build_img2img(&part, &g_ns, SDC_SCHED_DDIM_UNIFORM, 20, 0.01, SDC_IMG2IMG_DIFFUSERS, NULL, &err) ==
            SDC_OK);
    CHECK(part.steps == 0);
    sdc_sched_free(&part);
    CHECK(sdc_sched_build_img2img(&part, &g_ns, SDC_SCHED_KARRAS, 20, 1.5, SDC_IMG2IMG_COMFY, NULL, &err) ==
          SDC_ERR_INVALID_ARG);
}

typedef struct counter {
    int calls, cancel_at;
    float set_denoised;
} counter;

static sdc_status half_denoise(void *user, const sdc_denoise_args *a, sdc_error *err) {
    counter *c = user;
    c->calls++;
    for (size_t i = 0; i < a->n; i++) a->x0[i] = a->x[i] * 0.5f;
    (void)err;
    return SDC_OK;
}

static int on_step(void *user, sdc_step_info *info) {
    counter *c = user;
    if (c->cancel_at >= 0 && info->step == c->cancel_at) return 1;
    if (!isnan(c->set_denoised))
        for (size_t i = 0; i < info->n; i++) info->denoised[i] = c->set_denoised;
    return 0;
}

TEST(sample_callbacks_cancel_and_edit) {
    init_ns();
    sdc_sched sc;
    sdc_error err = {0};
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_KARRAS, 6, NULL, &err) == SDC_OK);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    counter c = {0, 2, NAN};
    sdc_sampler_ctx ctx = {half_denoise, &c, on_step, &c, NULL, NULL};
    CHECK(sdc_sample(SDC_SAMPLER_HEUN, NULL, &sc, &g_ns, &ctx, x, 8, &err) == SDC_ERR_CANCELLED);
    CHECK(c.calls == 5); /* heun: 2 evaluations in steps 0 and 1, the first of step 2 */
    CHECK(strstr(err.msg, "cancel") != NULL);
    sdc_error_clear(&err);
    /* an edited x0 estimate drives the update: euler's last step lands on it */
    counter e = {0, -1, 0.25f};
    ctx.denoise_user = &e;
    ctx.step_user = &e;
    CHECK(sdc_sample(SDC_SAMPLER_EULER, NULL, &sc, &g_ns, &ctx, x, 8, &err) == SDC_OK);
    for (int i = 0; i < 8; i++) CHECK(fabsf(x[i] - 0.25f) < 1e-6f);
    CHECK(e.calls == 6);
    /* a stochastic sampler without a noise source is refused */
    CHECK(sdc_sample(SDC_SAMPLER_EULER_ANCESTRAL, NULL, &sc, &g_ns, &ctx, x, 8, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    sdc_sched_free(&sc);
    /* increasing sigmas are refused */
    double bad[3] = {1.0, 2.0, 0.0};
    CHECK(sdc_sched_from_sigmas(&sc, &g_ns, bad, 3, &err) == SDC_ERR_INVALID_ARG);
}

TEST(sample_vp_output_when_schedule_ends_above_zero) {
    init_ns();
    sdc_sched sc;
    sdc_error err = {0};
    REQUIRE(sdc_sched_build(&sc, &g_ns, SDC_SCHED_DDIM_UNIFORM, 4, NULL, &err) == SDC_OK);
    counter c = {0, -1, NAN};
    sdc_sampler_ctx ctx = {half_denoise, &c, NULL, NULL, NULL, NULL};
    float a[4] = {1, -2, 3, 0.5f}, b[4];
    memcpy(b, a, sizeof a);
    sdc_sampler_opts o;
    sdc_sampler_opts_default(SDC_SAMPLER_DDIM, &o);
    REQUIRE(sdc_sample(SDC_SAMPLER_DDIM, &o, &sc, &g_ns, &ctx, a, 4, &err) == SDC_OK);
    o.keep_sigma_space = 1;
    REQUIRE(sdc_sample(SDC_SAMPLER_DDIM, &o, &sc, &g_ns, &ctx, b, 4, &err) == SDC_OK);
    double s = sdc_sigma_vp_scale(sc.sigmas[4]);
    CHECK(s < 0.9996 && s > 0.999); /* sigma(t=0) = 0.0292 */
    for (int i = 0; i < 4; i++) CHECK(fabsf(a[i] - (float)(b[i] * s)) <= 1e-6f * fabsf(b[i]));
    sdc_sched_free(&sc);
}

TEST(sample_prediction_conversions) {
    /* Build x from a known x0 and eps, express the model output as eps or
     * v = alpha * eps - sigma_vp * x0 (VP form), and recover x0. */
    const double sigma = 3.7;
    const double alpha = 1 / sqrt(1 + sigma * sigma), sigma_vp = sigma * alpha;
    float x0[3] = {0.3f, -1.1f, 0.02f}, eps[3] = {1.2f, 0.4f, -0.7f}, x[3], v[3], got[3];
    for (int i = 0; i < 3; i++) {
        x[i] = (float)(x0[i] + sigma * eps[i]);
        v[i] = (float)(alpha * eps[i] - sigma_vp * x0[i]);
    }
    sdc_pred_to_x0(SDC_PRED_EPS, 0, x, eps, sigma, 500, got, 3);
    for (int i = 0; i < 3; i++) CHECK(fabsf(got[i] - x0[i]) < 1e-5f);
    sdc_pred_to_x0(SDC_PRED_V, 0, x, v, sigma, 500, got, 3);
    for (int i = 0; i < 3; i++) CHECK(fabsf(got[i] - x0[i]) < 1e-5f);
    sdc_pred_scalings s = sdc_pred_get_scalings(SDC_PRED_V, sigma);
    CHECK(fabs(s.c_in - alpha) < 1e-15);
    /* LCM boundary condition: at t = 0 the output is (almost) the input */
    double cs, co;
    sdc_pred_lcm_scalings(0, 10, &cs, &co);
    CHECK(cs == 1 && co == 0);
    sdc_pred_lcm_scalings(999, 10, &cs, &co);
    CHECK(cs < 3e-9 && fabs(co - 1) < 1e-8);
}

TEST(sample_cfg_combine) {
    float cond[3] = {1, 2, 3}, unc[3] = {0.5f, 2, 4}, out[3];
    sdc_cfg_combine(cond, unc, 7.5, out, 3);
    CHECK(out[0] == 0.5f + 7.5f * 0.5f && out[1] == 2 && out[2] == 4 - 7.5f);
    sdc_cfg_combine(cond, unc, 1.0, out, 3);
    CHECK(memcmp(out, cond, sizeof cond) == 0);
    CHECK(!sdc_cfg_needs_uncond(1.0) && sdc_cfg_needs_uncond(7.5) && sdc_cfg_needs_uncond(0.0));
}

TEST(sample_timestep_spacings) {
    /* diffusers' three timestep_spacing rules at 4 steps over 1000 */
    init_ns();
    sdc_sched sc;
    sdc_error err = {0};
    static const double lead[4] = {751, 501, 251, 1}, trail[4] = {999, 749, 499, 249}, lin[4] = {999, 666, 333, 0};
    REQUIRE(sdc_sched_build_spaced(&sc, &g_ns, SDC_SPACING_LEADING, 4, 1, 1, &err) == SDC_OK);
    for (int i = 0; i < 4; i++) CHECK(sc.timesteps[i] == lead[i] && sc.sigmas[i] == g_ns.sigmas[(int)lead[i]]);
    CHECK(sc.sigmas[4] == g_ns.sigmas[0]);
    sdc_sched ref; /* the same as ddim_uniform */
    REQUIRE(sdc_sched_build(&ref, &g_ns, SDC_SCHED_DDIM_UNIFORM, 4, NULL, &err) == SDC_OK);
    for (int i = 0; i <= 4; i++) CHECK(sc.sigmas[i] == ref.sigmas[i]);
    CHECK(sc.init_noise_scale == ref.init_noise_scale);
    sdc_sched_free(&ref);
    sdc_sched_free(&sc);
    REQUIRE(sdc_sched_build_spaced(&sc, &g_ns, SDC_SPACING_TRAILING, 4, 0, 0, &err) == SDC_OK);
    for (int i = 0; i < 4; i++) CHECK(sc.timesteps[i] == trail[i]);
    CHECK(sc.sigmas[4] == 0 && sc.init_noise_scale == sc.sigmas[0]);
    sdc_sched_free(&sc);
    REQUIRE(sdc_sched_build_spaced(&sc, &g_ns, SDC_SPACING_LINSPACE, 4, 0, 0, &err) == SDC_OK);
    for (int i = 0; i < 4; i++) CHECK(sc.timesteps[i] == lin[i]);
    sdc_sched_free(&sc);
    CHECK(sdc_sched_build_spaced(&sc, &g_ns, SDC_SPACING_LEADING, 1000, 1, 0, &err) == SDC_ERR_INVALID_ARG);
}
