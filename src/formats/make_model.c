/* Random-weight model writer (see make_model.h). */
#include "formats/make_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "base/util.h"
#include "formats/arch.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

static uint64_t mix(uint64_t z) { /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull ^ mix(seed);
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return mix(h);
}

typedef struct {
    float scale, offset; /* value = offset + scale * u, u uniform in [-1, 1) */
} affine;

static affine init_affine(int init, int64_t fan_in) {
    switch (init) {
    case SDC_ARCH_INIT_WEIGHT:
    case SDC_ARCH_INIT_BIAS: return (affine){(float)(1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1))), 0.0f};
    case SDC_ARCH_INIT_NORM_W: return (affine){0.1f, 1.0f};
    case SDC_ARCH_INIT_NORM_B: return (affine){0.1f, 0.0f};
    case SDC_ARCH_INIT_EMBED: return (affine){0.02f * 1.7320508f, 0.0f}; /* uniform with std 0.02 */
    default: return (affine){0.0f, 4.6051702f};                          /* ln(100) */
    }
}

/* uniform in [-1, 1) from 24 bits */
static float unit(uint32_t bits) { return (float)(int32_t)(bits >> 8) * 0x1p-23f - 1.0f; }

static float value_at(uint64_t key, affine a, uint64_t i) {
    uint64_t r = mix(key + (i >> 1) * 0x9e3779b97f4a7c15ull);
    return a.offset + a.scale * unit((uint32_t)(i & 1 ? r >> 32 : r));
}

float sdc_make_model_value(uint64_t seed, const char *name, int init, int64_t fan_in, uint64_t i) {
    return value_at(name_key(seed, name), init_affine(init, fan_in), i);
}

/* ---- streaming fill, split over the pool ---- */

typedef struct {
    const sdc_arch_tensor *t;
    uint64_t *keys;
    sdc_dtype dtype;
    sdc_pool *pool;
    /* the chunk being filled */
    size_t tensor;
    uint64_t first;
    size_t count;
    void *dst;
} maker;

#define TASK_ELEMS 65536

/* f32 -> f16, round to nearest even: inline fast path for normal results
 * (nearly all weights), the exact reference for the rest. */
static inline uint16_t to_f16(float f) {
    uint32_t u = sdc_f32_bits(f), a = u & 0x7fffffffu;
    if (a - 0x38800000u < 0x477ff000u - 0x38800000u) /* 2^-14 <= |f| < 65520 */
        return (uint16_t)(((u >> 16) & 0x8000u) | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
    return sdc_f32_to_f16(f);
}

static void fill_task(void *arg, int task) {
    maker *mk = arg;
    const sdc_arch_tensor *t = &mk->t[mk->tensor];
    affine a = init_affine(t->init, t->fan_in);
    uint64_t key = mk->keys[mk->tensor], first = mk->first;
    size_t lo = (size_t)task * TASK_ELEMS, hi = SDC_MIN(lo + TASK_ELEMS, mk->count);
    if (mk->dtype == SDC_DTYPE_F16) {
        uint16_t *d = mk->dst;
        size_t i = lo;
        if (i < hi && ((first + i) & 1)) d[i] = to_f16(value_at(key, a, first + i)), i++;
        for (; i + 1 < hi; i += 2) { /* one hash per pair: the same values as value_at */
            uint64_t r = mix(key + ((first + i) >> 1) * 0x9e3779b97f4a7c15ull);
            d[i] = to_f16(a.offset + a.scale * unit((uint32_t)r));
            d[i + 1] = to_f16(a.offset + a.scale * unit((uint32_t)(r >> 32)));
        }
        if (i < hi) d[i] = to_f16(value_at(key, a, first + i));
        return;
    }
    float buf[1024];
    for (size_t i = lo; i < hi; i += 1024) {
        size_t n = SDC_MIN((size_t)1024, hi - i);
        for (size_t j = 0; j < n; j++) buf[j] = value_at(key, a, first + i + j);
        sdc_convert_from_f32(mk->dtype, buf, (char *)mk->dst + i * (size_t)sdc_dtype_block_bytes(mk->dtype), n);
    }
}

static sdc_status fill(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err) {
    maker *mk = user;
    size_t es = (size_t)sdc_dtype_block_bytes(mk->dtype);
    if (offset % es || n % es) return sdc_error_set(err, SDC_ERR_INTERNAL, "unaligned fill request");
    mk->tensor = i;
    mk->first = offset / es;
    mk->count = n / es;
    mk->dst = dst;
    sdc_pool_run(mk->pool, (int)((mk->count + TASK_ELEMS - 1) / TASK_ELEMS), fill_task, mk);
    return SDC_OK;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static sdc_status write_model(const char *path, const sdc_make_model_opts *o, const sdc_arch_tensor *t, size_t n,
                              sdc_weight_info *infos, maker *mk, sdc_error *err) {
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    const char *mk_keys[] = {"format", "sdc.generator", "sdc.family", "sdc.size", "sdc.seed", "sdc.dtype"};
    const char *mk_vals[] = {"pt", "sdc make-model (random weights)", o->family, o->size, seed, sdc_dtype_name(o->dtype)};
    size_t es = (size_t)sdc_dtype_block_bytes(o->dtype);
    for (size_t i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d];
        infos[i] = (sdc_weight_info){t[i].name, o->dtype, t[i].ndim, {0}, NULL, (size_t)numel * es};
        for (int d = 0; d < t[i].ndim; d++) infos[i].shape[d] = t[i].shape[d];
        mk->keys[i] = name_key(o->seed, t[i].name);
    }
    if (ends_with(path, ".gguf"))
        return sdc_gguf_write_stream(path, infos, n, mk_keys, mk_vals, SDC_ARRAY_LEN(mk_keys), o->overwrite, fill, mk, err);
    return sdc_safetensors_write_stream(path, infos, n, mk_keys, mk_vals, SDC_ARRAY_LEN(mk_keys), o->overwrite, fill, mk, err);
}

sdc_status sdc_make_model(const char *path, const sdc_make_model_opts *o, int64_t *n_params, sdc_error *err) {
    if (o->dtype != SDC_DTYPE_F32 && o->dtype != SDC_DTYPE_F16 && o->dtype != SDC_DTYPE_BF16)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "make-model writes f32, f16 or bf16, not %s", sdc_dtype_name(o->dtype));
    sdc_arch a;
    sdc_arch_tensor *t = NULL;
    size_t n = 0;
    sdc_status st = sdc_arch_preset(o->family, o->size, &a, err);
    if (!st) st = sdc_arch_tensors(&a, &t, &n, err);
    if (st) return st;
    sdc_weight_info *infos = calloc(n, sizeof *infos);
    maker mk = {t, calloc(n, sizeof(uint64_t)), o->dtype, sdc_pool_create(o->threads), 0, 0, 0, NULL};
    if (!infos || !mk.keys) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (!st) st = write_model(path, o, t, n, infos, &mk, err);
    if (!st && n_params) {
        *n_params = 0;
        for (size_t i = 0; i < n; i++) *n_params += (int64_t)(infos[i].nbytes / (size_t)sdc_dtype_block_bytes(o->dtype));
    }
    sdc_pool_destroy(mk.pool);
    free(mk.keys);
    free(infos);
    sdc_arch_tensors_free(t, n);
    return st;
}
