/* ControlNets for one generation: the control images prepared (preprocessed
 * by the caller if wanted, resized to the output size), their hint
 * embeddings computed once, and the per-step hook (ksample.h sdc_extra_fn)
 * that runs the active units on each U-Net input and hands the summed
 * residuals to the U-Net. */
#ifndef SDC_PIPELINE_CONTROL_H
#define SDC_PIPELINE_CONTROL_H

#include "image/image.h"
#include "models/controlnet.h"
#include "tensor/ctx.h"

#define SDC_MAX_CONTROLS 8

typedef struct sdc_control_spec {
    const sdc_controlnet *cn; /* borrowed: loaded by the caller (and cached by a server) */
    const sdc_image *image;   /* RGB control image, any size (resized to the output) */
    float strength, start, end; /* strength; active fraction of the steps [start, end] */
} sdc_control_spec;

typedef struct sdc_control_set {
    int n;
    sdc_control_unit units[SDC_MAX_CONTROLS];
    sdc_ctx hint_ctx; /* holds the hint embeddings */
    sdc_control_residuals res;
} sdc_control_set;

/* Encodes the hints for an output of width x height. */
sdc_status sdc_control_set_prepare(sdc_control_set *s, const sdc_control_spec *specs, int n, int width, int height,
                                   sdc_pool *pool, sdc_compute compute, sdc_error *err);
void sdc_control_set_free(sdc_control_set *s);

/* The sdc_extra_fn for a prepared set (user = the set). 9-channel
 * inpainting inputs are cut to the latent channels for the ControlNets. */
sdc_status sdc_control_extra_fn(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                                const sdc_tensor *context, double sigma, int step, int steps, sdc_unet_extra *extra);

#endif
