/* The random numbers of a generation, drawn as the program each RNG kind
 * imitates draws them:
 *  - SDC_RNG_CPU / CPU_SCALAR (ComfyUI): initial noise = torch.randn([B, C,
 *    h, w]) from manual_seed(seed) in one draw; step noise for ancestral
 *    samplers = torch.randn([B, C, h, w]) from a CPU generator seeded with
 *    seed + 1 (comfy k_diffusion default_noise_sampler on CPU); SDE samplers
 *    use the Brownian tree seeded with seed (brownian.h).
 *  - SDC_RNG_PHILOX (A1111, "NV" source): image i has its own Philox
 *    generator seeded with seed + i; its first draw is the initial noise
 *    and later draws are the step noise (A1111's ImageRNG).
 * Owns its generators; not thread-safe. */
#ifndef SDC_PIPELINE_NOISE_SOURCE_H
#define SDC_PIPELINE_NOISE_SOURCE_H

#include "sample/brownian.h"
#include "sample/rng.h"
#include "sample/sampler.h"

#define SDC_NOISE_MAX_BATCH 64

typedef struct sdc_noise_source {
    sdc_rng_kind kind;
    uint64_t seed;
    int B;
    size_t per_image;
    sdc_rng step;                          /* CPU kinds: the step-noise generator */
    sdc_rng image[SDC_NOISE_MAX_BATCH];    /* philox: one per image */
    sdc_brownian brown;
    int has_brown;
} sdc_noise_source;

sdc_status sdc_noise_source_init(sdc_noise_source *s, sdc_rng_kind kind, uint64_t seed, int B, size_t per_image,
                                 sdc_error *err);
void sdc_noise_source_free(sdc_noise_source *s);

/* The initial noise [B, per_image] (the first draw). */
void sdc_noise_initial(sdc_noise_source *s, float *out);

/* Uses a Brownian tree over [sigma_min, sigma_max] for step noise (SDE
 * samplers with CPU kinds). */
sdc_status sdc_noise_use_brownian(sdc_noise_source *s, double sigma_min, double sigma_max, sdc_error *err);

/* An sdc_noise_fn (sampler.h): user = the sdc_noise_source. */
sdc_status sdc_noise_step(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err);

#endif
