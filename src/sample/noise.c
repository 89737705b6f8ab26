/* Step-noise sources (see noise.h). */
#include "sample/noise.h"

#include <stdlib.h>
#include <string.h>

static sdc_status alloc_rngs(sdc_noise_source *ns, int count, sdc_error *err) {
    ns->rngs = calloc((size_t)count, sizeof(sdc_rng));
    if (!ns->rngs) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for %d generators", count);
    ns->count = count;
    return SDC_OK;
}

sdc_status sdc_noise_init_comfy(sdc_noise_source *ns, sdc_sampler_kind k, const sdc_sched *s, sdc_rng_kind rng,
                                uint64_t seed, size_t n, sdc_error *err) {
    memset(ns, 0, sizeof *ns);
    if (sdc_sampler_uses_brownian(k) && s && s->steps > 0) {
        double lo = 0, hi = s->sigmas[0];
        for (int i = 0; i <= s->steps; i++)
            if (s->sigmas[i] > 0 && (lo == 0 || s->sigmas[i] < lo)) lo = s->sigmas[i];
        if (lo < hi) {
            ns->brownian = 1;
            return sdc_brownian_init(&ns->tree, rng, seed, lo, hi, n, err);
        }
    }
    sdc_status st = alloc_rngs(ns, 1, err);
    if (st) return st;
    sdc_rng_init(&ns->rngs[0], rng, seed + 1); /* ComfyUI's default_noise_sampler on CPU */
    ns->per_rng = n;
    return SDC_OK;
}

sdc_status sdc_noise_init_a1111(sdc_noise_source *ns, sdc_rng_kind rng, const uint64_t *seeds, int batch,
                                size_t per_image, int64_t ensd, sdc_error *err) {
    memset(ns, 0, sizeof *ns);
    if (batch < 1 || !seeds) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "a1111 noise: need >= 1 seed");
    sdc_status st = alloc_rngs(ns, batch, err);
    if (st) return st;
    for (int i = 0; i < batch; i++) sdc_rng_init(&ns->rngs[i], rng, seeds[i]);
    ns->per_rng = per_image;
    (void)ensd;
    return SDC_OK;
}

void sdc_noise_a1111_initial(sdc_noise_source *ns, float *out, int64_t ensd, const uint64_t *seeds) {
    for (int i = 0; i < ns->count; i++) sdc_rng_randn(&ns->rngs[i], out + (size_t)i * ns->per_rng, ns->per_rng);
    if (ensd)
        for (int i = 0; i < ns->count; i++) sdc_rng_init(&ns->rngs[i], ns->rngs[i].kind, seeds[i] + (uint64_t)ensd);
}

void sdc_noise_free(sdc_noise_source *ns) {
    if (!ns) return;
    if (ns->brownian) sdc_brownian_free(&ns->tree);
    free(ns->rngs);
    memset(ns, 0, sizeof *ns);
}

sdc_status sdc_noise_source_fn(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err) {
    sdc_noise_source *ns = user;
    if (ns->brownian) return sdc_brownian_noise(&ns->tree, sigma, sigma_next, out, n, err);
    if (n != ns->per_rng * (size_t)ns->count)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "noise source made for %zu values, asked %zu",
                             ns->per_rng * (size_t)ns->count, n);
    for (int i = 0; i < ns->count; i++) sdc_rng_randn(&ns->rngs[i], out + (size_t)i * ns->per_rng, ns->per_rng);
    return SDC_OK;
}
