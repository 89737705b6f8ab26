/* Brownian-tree noise for the SDE samplers, reproducing what ComfyUI's
 * BrownianTreeNoiseSampler (k-diffusion) draws through torchsde's
 * BrownianTree(t0=sigma_min, t1=sigma_max, entropy=seed, tol=1e-6,
 * pool_size=24, halfway_tree): a dyadic tree over [sigma_min, sigma_max]
 * whose node seeds come from numpy's SeedSequence(entropy, spawn_key=
 * (key, depth), pool_size=24), each node's increment split between its
 * children by a Brownian bridge with torch.randn (sdc_rng, CPU kinds)
 * seeded from its parent. The noise for a move sigma -> sigma_next is
 * (W(sigma_next) - W(sigma)) / sqrt(|sigma_next - sigma|).
 *
 * Nothing is cached between queries: each walks down from the root, one
 * randn of the latent size per tree node it passes (about 25 levels for
 * SD's sigma range, two branches for an interval).
 * Does not: Levy areas (torchsde's other options), batched per-image seeds. */
#ifndef SDC_SAMPLE_BROWNIAN_H
#define SDC_SAMPLE_BROWNIAN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sample/rng.h"

typedef struct sdc_brownian {
    sdc_rng_kind rng;  /* SDC_RNG_CPU or SDC_RNG_CPU_SCALAR */
    uint64_t entropy;  /* the seed */
    size_t n;          /* elements of the latent (whole batch, one tree) */
    double t0, t1;     /* the interval as given (sigma_min, sigma_max, float32 values) */
    double start, end; /* rounded to 1e-6 as torchsde does */
    float *w_root;     /* [n] W over the whole interval */
    float *work;       /* [2n] scratch: noise, sum */
} sdc_brownian;

/* sigma_min < sigma_max (the schedule's smallest non-zero and largest
 * sigma). Allocates; free with sdc_brownian_free. */
sdc_status sdc_brownian_init(sdc_brownian *b, sdc_rng_kind rng, uint64_t seed, double sigma_min, double sigma_max,
                             size_t n, sdc_error *err);
void sdc_brownian_free(sdc_brownian *b);

/* An sdc_noise_fn (sampler.h) over an sdc_brownian (user = the tree). */
sdc_status sdc_brownian_noise(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err);

/* numpy.random.SeedSequence(entropy, spawn_key=key[0..n_key), pool_size)
 * .generate_state(n_out) (uint32 words). For tests and the tree. */
void sdc_seed_sequence(uint64_t entropy, const uint64_t *key, int n_key, int pool_size, uint32_t *out, int n_out);

#endif
