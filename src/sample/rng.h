/* Random number generators that reproduce other programs' noise exactly.
 *
 * SDC_RNG_CPU: torch.randn on a CPU torch.Generator seeded with
 *   manual_seed(seed), bit for bit, as x86-64 builds of PyTorch draw it
 *   (verified against torch 1.13 with ATen CPU capability AVX2 and AVX512):
 *   mt19937 seeded with the low 32 bits,
 *   24-bit uniforms, Box-Muller on blocks of 16 with the Cephes-style
 *   log/sincos polynomials of ATen's avx_mathfun.h (with the FMA contractions
 *   GCC makes there); fewer than 16 values use ATen's scalar double path
 *   (53-bit uniforms, libm log/sin/cos, one cached second sample).
 * SDC_RNG_CPU_SCALAR: the same but with ATen's portable block transform
 *   (float libm logf/cosf/sinf): what torch draws with capability "default"
 *   (ARM, builds without AVX2). Bit-exact only where
 *   the C library's logf/sinf/cosf are glibc's.
 * SDC_RNG_PHILOX: A1111's "NV" noise (CUDA Philox4x32-10 as torch draws
 *   randn on CUDA, emulated in modules/rng_philox.py): each randn call uses
 *   counter (offset, 0, index, 0), key = seed; the offset grows by one per
 *   call. Box-Muller in double, rounded to float.
 *
 * Does not: thread (one generator, one caller), or draw other distributions.
 * docs/SAMPLING.md says how each generator was verified. */
#ifndef SDC_SAMPLE_RNG_H
#define SDC_SAMPLE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef enum sdc_rng_kind {
    SDC_RNG_CPU = 0,
    SDC_RNG_CPU_SCALAR,
    SDC_RNG_PHILOX
} sdc_rng_kind;

typedef struct sdc_rng {
    sdc_rng_kind kind;
    uint64_t seed;
    /* mt19937 (CPU kinds) */
    uint32_t mt[624];
    int mt_index;
    int has_cached; /* ATen's cached second double normal (scalar path) */
    double cached;
    /* Philox */
    uint32_t offset;
} sdc_rng;

/* Seeds like torch.manual_seed(seed) (CPU kinds: the low 32 bits seed
 * mt19937; the cache is cleared) or rng_philox.Generator(seed). */
void sdc_rng_init(sdc_rng *r, sdc_rng_kind kind, uint64_t seed);

/* out[0..n) = the next torch.randn(n) (any shape with n elements). */
void sdc_rng_randn(sdc_rng *r, float *out, size_t n);

/* Raw mt19937 output (CPU kinds), for tests. */
uint32_t sdc_rng_u32(sdc_rng *r);

/* "cpu", "cpu-scalar", "philox" (aliases: "gpu", "nv", "cuda" -> philox);
 * case-insensitive. Returns 0 on success, -1 for an unknown name. */
int sdc_rng_kind_from_name(const char *name, sdc_rng_kind *out);
const char *sdc_rng_kind_name(sdc_rng_kind k);

/* ComfyUI's initial noise for a batch: comfy.sample.prepare_noise.
 * batch_index NULL: torch.randn([B, C, H, W]) from manual_seed(seed) in one
 * draw. batch_index given (latent "batch_index", B entries >= 0): draws
 * [1, C, H, W] noises in order 0..max(index) from the same generator and
 * image b gets draw batch_index[b]. out: [B, per_image]. */
void sdc_rng_comfy_initial_noise(sdc_rng_kind kind, uint64_t seed, const int *batch_index, int batch,
                                 size_t per_image, float *out);

#endif
