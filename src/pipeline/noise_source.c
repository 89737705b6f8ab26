/* Noise sources (see noise_source.h). */
#include "pipeline/noise_source.h"

#include <string.h>

sdc_status sdc_noise_source_init(sdc_noise_source *s, sdc_rng_kind kind, uint64_t seed, int B, size_t per_image,
                                 sdc_error *err) {
    memset(s, 0, sizeof *s);
    if (B < 1 || B > SDC_NOISE_MAX_BATCH)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "batch of %d images (at most %d)", B, SDC_NOISE_MAX_BATCH);
    s->kind = kind;
    s->seed = seed;
    s->B = B;
    s->per_image = per_image;
    if (kind == SDC_RNG_PHILOX) {
        for (int i = 0; i < B; i++) sdc_rng_init(&s->image[i], kind, seed + (uint64_t)i);
    } else {
        sdc_rng_init(&s->step, kind, seed + 1);
    }
    return SDC_OK;
}

void sdc_noise_source_free(sdc_noise_source *s) {
    if (s->has_brown) sdc_brownian_free(&s->brown);
    s->has_brown = 0;
}

void sdc_noise_initial(sdc_noise_source *s, float *out) {
    if (s->kind == SDC_RNG_PHILOX) {
        for (int i = 0; i < s->B; i++) sdc_rng_randn(&s->image[i], out + (size_t)i * s->per_image, s->per_image);
        return;
    }
    sdc_rng r;
    sdc_rng_init(&r, s->kind, s->seed);
    sdc_rng_randn(&r, out, (size_t)s->B * s->per_image);
}

sdc_status sdc_noise_use_brownian(sdc_noise_source *s, double sigma_min, double sigma_max, sdc_error *err) {
    if (s->kind == SDC_RNG_PHILOX || s->has_brown) return SDC_OK; /* A1111 draws SDE noise from its generators */
    sdc_status st = sdc_brownian_init(&s->brown, s->kind, s->seed, sigma_min, sigma_max, (size_t)s->B * s->per_image, err);
    if (st == SDC_OK) s->has_brown = 1;
    return st;
}

sdc_status sdc_noise_step(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err) {
    sdc_noise_source *s = user;
    if (n != (size_t)s->B * s->per_image)
        return sdc_error_set(err, SDC_ERR_INTERNAL, "noise of %zu values asked from a source of %zu", n,
                             (size_t)s->B * s->per_image);
    if (s->has_brown) return sdc_brownian_noise(&s->brown, sigma, sigma_next, out, n, err);
    if (s->kind == SDC_RNG_PHILOX) {
        for (int i = 0; i < s->B; i++) sdc_rng_randn(&s->image[i], out + (size_t)i * s->per_image, s->per_image);
        return SDC_OK;
    }
    sdc_rng_randn(&s->step, out, n);
    return SDC_OK;
}
