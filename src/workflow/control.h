/* ControlNet during sampling: the sdc_extra_fn hook (ksample.h) that runs
 * one or more ControlNets before each U-Net call and hands the summed
 * residuals to the U-Net.
 *
 * Hints are encoded once per run (their embedding does not depend on the
 * step) in the hook's own context, which lives for the whole run. Whether
 * a unit is active is decided either by step fraction (A1111 /
 * sd-webui-controlnet guidance_start / guidance_end: diffusers' rule,
 * controlnet.h) or by sigma (ComfyUI start_percent / end_percent: active
 * while sigma(start) >= sigma >= sigma(end), with ComfyUI's
 * percent_to_sigma on the model's training schedule). The residuals apply
 * to the whole U-Net batch (conditional and unconditional halves alike).
 * For 9-channel inpainting U-Nets the ControlNets see the first 4 channels.
 *
 * Not thread-safe; one hook per run. */
#ifndef SDC_WORKFLOW_CONTROL_H
#define SDC_WORKFLOW_CONTROL_H

#include "models/controlnet.h"
#include "pipeline/ksample.h"

#define SDC_CONTROL_MAX 4

typedef struct sdc_control_spec {
    const sdc_controlnet *cn;
    const float *hint; /* [H, W, 3] in [0, 1] at the output size */
    float strength, start, end;
    int sigma_rule;    /* 0: start / end are step fractions; 1: ComfyUI percents */
} sdc_control_spec;

typedef struct sdc_control_hook {
    sdc_ctx ctx; /* hint embeddings for the whole run */
    int n;
    sdc_control_spec spec[SDC_CONTROL_MAX];
    sdc_control_unit unit[SDC_CONTROL_MAX];
    double sigma_start[SDC_CONTROL_MAX], sigma_end[SDC_CONTROL_MAX];
    sdc_control_residuals res;
} sdc_control_hook;

/* Encodes the hints (H x W, the output size). specs are copied; the
 * ControlNets and hint buffers must outlive the hook. */
sdc_status sdc_control_hook_init(sdc_control_hook *h, sdc_pool *pool, sdc_compute compute, const sdc_control_spec *specs,
                                 int n, int64_t H, int64_t W, sdc_error *err);
void sdc_control_hook_free(sdc_control_hook *h);

/* The sdc_extra_fn; user = the hook. */
sdc_status sdc_control_hook_fn(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                               const sdc_tensor *context, double sigma, int step, int steps, sdc_unet_extra *extra);

/* ComfyUI's ModelSamplingDiscrete.percent_to_sigma on the SD schedule:
 * p <= 0 -> a huge sigma, p >= 1 -> 0, else sigma(t = (1 - p) * 999). */
double sdc_control_percent_to_sigma(double p);

#endif
