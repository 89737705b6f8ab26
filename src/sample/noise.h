/* Step-noise sources for the samplers (sdc_noise_fn of sampler.h), with the
 * conventions of the programs whose results we reproduce:
 *  - ComfyUI: one torch CPU generator for the whole batch seeded with
 *    seed + 1 (its initial noise used `seed`), torch.randn of the full
 *    latent shape per call; the SDE samplers (dpmpp_sde, dpmpp_2m_sde,
 *    dpmpp_3m_sde) use a Brownian tree seeded with `seed` over the
 *    schedule's [smallest non-zero sigma, largest sigma] instead.
 *  - A1111: one generator per image, seeded seed + i, whose first draw is
 *    the image's initial noise and whose later draws are the step noise
 *    (optionally re-seeded with seed + i + eta_noise_seed_delta, "ENSD").
 * Does not: subseeds / variation seeds, resized-seed noise. */
#ifndef SDC_SAMPLE_NOISE_H
#define SDC_SAMPLE_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sample/brownian.h"
#include "sample/rng.h"
#include "sample/sampler.h"

typedef struct sdc_noise_source {
    int brownian;          /* 1: tree, 0: generators */
    sdc_brownian tree;
    sdc_rng *rngs;         /* [count] generators (one per image, or one for the batch) */
    int count;
    size_t per_rng;        /* values each generator draws per call */
} sdc_noise_source;

/* ComfyUI's default noise for sampler k over schedule s; n = batch latent size. */
sdc_status sdc_noise_init_comfy(sdc_noise_source *ns, sdc_sampler_kind k, const sdc_sched *s, sdc_rng_kind rng,
                                uint64_t seed, size_t n, sdc_error *err);
/* A1111's per-image generators (seeds[i], batch of `batch` images of
 * per_image values). Draw the initial noise with sdc_noise_a1111_initial
 * first; ensd != 0 re-seeds each generator with seeds[i] + ensd after it. */
sdc_status sdc_noise_init_a1111(sdc_noise_source *ns, sdc_rng_kind rng, const uint64_t *seeds, int batch,
                                size_t per_image, int64_t ensd, sdc_error *err);
/* out: [batch, per_image] first draw of each image's generator. */
void sdc_noise_a1111_initial(sdc_noise_source *ns, float *out, int64_t ensd, const uint64_t *seeds);
void sdc_noise_free(sdc_noise_source *ns);

/* The sdc_noise_fn for a source (user = the source). */
sdc_status sdc_noise_source_fn(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err);

#endif
