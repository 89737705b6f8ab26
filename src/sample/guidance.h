/* Classifier-free guidance on the model's x0 estimates (or noise
 * predictions: out = uncond + scale * (cond - uncond) is linear, and x0 =
 * x - sigma * eps maps eps-space guidance to x0-space guidance exactly, so
 * guiding either gives the same step). The caller batches cond and uncond
 * through the model; with scale == 1 the uncond pass is not needed
 * (sdc_cfg_needs_uncond). Does not: rescale-CFG, CFG++, per-region conds. */
#ifndef SDC_SAMPLE_GUIDANCE_H
#define SDC_SAMPLE_GUIDANCE_H

#include <stddef.h>

/* 0 when scale == 1: out = cond, skip the unconditional evaluation
 * (ComfyUI and A1111 skip it too). */
int sdc_cfg_needs_uncond(double scale);

/* out[i] = uncond[i] + scale * (cond[i] - uncond[i]); out may alias either input. */
void sdc_cfg_combine(const float *cond, const float *uncond, double scale, float *out, size_t n);

#endif
