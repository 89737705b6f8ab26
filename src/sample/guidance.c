/* Classifier-free guidance (see guidance.h). */
#include "sample/guidance.h"

int sdc_cfg_needs_uncond(double scale) { return scale != 1.0; }

void sdc_cfg_combine(const float *cond, const float *uncond, double scale, float *out, size_t n) {
    float s = (float)scale;
    for (size_t i = 0; i < n; i++) {
        float u = uncond[i];
        out[i] = u + s * (cond[i] - u);
    }
}
