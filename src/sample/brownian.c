/* Brownian tree (see brownian.h): numpy's SeedSequence hashing, torchsde's
 * halfway tree with 1e-6 rounding, and the Brownian-bridge split of a
 * node's increment, in the float32 arithmetic order torch uses. */
#include "sample/brownian.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numpy SeedSequence ---------------------------------------------------- */

#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_L 0xca01f9ddu
#define SS_MIX_R 0x4973f715u
#define SS_MAX_WORDS 64

static uint32_t hashmix(uint32_t v, uint32_t *hc) {
    v ^= *hc;
    *hc *= SS_MULT_A;
    v *= *hc;
    return v ^ (v >> 16);
}
static uint32_t mix(uint32_t x, uint32_t y) {
    uint32_t r = SS_MIX_L * x - SS_MIX_R * y;
    return r ^ (r >> 16);
}
/* numpy's _int_to_uint32_array: little-endian 32-bit words, [0] for 0. */
static int int_words(uint64_t v, uint32_t *out) {
    int k = 0;
    do {
        out[k++] = (uint32_t)v;
        v >>= 32;
    } while (v);
    return k;
}

void sdc_seed_sequence(uint64_t entropy, const uint64_t *key, int n_key, int pool_size, uint32_t *out, int n_out) {
    uint32_t ent[SS_MAX_WORDS] = {0}, pool[SS_MAX_WORDS];
    if (pool_size > 32) pool_size = 32;
    int n = int_words(entropy, ent);
    if (n_key > 0 && n < pool_size) n = pool_size; /* zero padding before a spawn key */
    for (int i = 0; i < n_key && n + 2 <= SS_MAX_WORDS; i++) n += int_words(key[i], ent + n);
    uint32_t hc = SS_INIT_A;
    for (int i = 0; i < pool_size; i++) pool[i] = hashmix(i < n ? ent[i] : 0, &hc);
    for (int s = 0; s < pool_size; s++)
        for (int d = 0; d < pool_size; d++)
            if (s != d) pool[d] = mix(pool[d], hashmix(pool[s], &hc));
    for (int s = pool_size; s < n; s++)
        for (int d = 0; d < pool_size; d++) pool[d] = mix(pool[d], hashmix(ent[s], &hc));
    uint32_t hb = SS_INIT_B;
    for (int i = 0; i < n_out; i++) {
        uint32_t v = pool[i % pool_size] ^ hb;
        hb *= SS_MULT_B;
        v *= hb;
        out[i] = v ^ (v >> 16);
    }
}

/* ---- the tree ---------------------------------------------------------------- */

#define POOL 24
#define MAX_DEPTH 60

/* Python's round(x, 6): correctly rounded to 6 decimals, then the nearest double. */
static double round6(double x) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", x);
    return strtod(buf, NULL);
}

static void randn_seeded(const sdc_brownian *b, uint32_t seed, float *out) {
    sdc_rng r;
    sdc_rng_init(&r, b->rng, seed);
    sdc_rng_randn(&r, out, b->n);
}

sdc_status sdc_brownian_init(sdc_brownian *b, sdc_rng_kind rng, uint64_t seed, double sigma_min, double sigma_max,
                             size_t n, sdc_error *err) {
    memset(b, 0, sizeof *b);
    if (rng == SDC_RNG_PHILOX) rng = SDC_RNG_CPU; /* ComfyUI builds the tree on CPU */
    if (!(sigma_min >= 0 && sigma_max > sigma_min) || n == 0)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "brownian tree: need 0 <= sigma_min < sigma_max and n > 0");
    if (n > SIZE_MAX / (4 * sizeof(float))) return sdc_error_set(err, SDC_ERR_OOM, "brownian tree: size overflows");
    b->rng = rng;
    b->entropy = seed;
    b->n = n;
    b->t0 = sigma_min;
    b->t1 = sigma_max;
    b->start = round6(sigma_min);
    b->end = round6(sigma_max);
    b->w_root = malloc(n * sizeof(float));
    b->work = malloc(2 * n * sizeof(float));
    if (!b->w_root || !b->work) {
        sdc_brownian_free(b);
        return sdc_error_set(err, SDC_ERR_OOM, "brownian tree: out of memory for %zu values", n);
    }
    uint32_t st[3];
    sdc_seed_sequence(seed, NULL, 0, POOL, st, 3);
    randn_seeded(b, st[0], b->w_root);
    float scale = (float)sqrt(sigma_max - sigma_min);
    for (size_t i = 0; i < n; i++) b->w_root[i] *= scale;
    return SDC_OK;
}

void sdc_brownian_free(sdc_brownian *b) {
    if (!b) return;
    free(b->w_root);
    free(b->work);
    memset(b, 0, sizeof *b);
}

/* Level buffers: W of the node being visited at each depth (lazily allocated). */
typedef struct walk {
    const sdc_brownian *b;
    float *lvl[MAX_DEPTH + 1];
    float *noise, *acc;
    int first, oom;
} walk;

static float *level(walk *w, int d) {
    if (!w->lvl[d] && !(w->lvl[d] = malloc(w->b->n * sizeof(float)))) w->oom = 1;
    return w->lvl[d];
}

/* torchsde's _loc: adds to acc, left to right, the W of the maximal tree
 * nodes covering [ta, tb] below node [s, e] (key, depth d, W in lvl[d]).
 * A child's W comes from its parent's by the Brownian bridge, with noise
 * seeded from the parent: left = W (m - s)/(e - s) + sqrt((m - s)(e - m)/(e - s)) z,
 * right = W - left. */
static void locate(walk *w, double s, double e, uint64_t key, int d, double ta, double tb) {
    const sdc_brownian *b = w->b;
    size_t n = b->n;
    float *W = w->lvl[d];
    if ((ta == s && tb == e) || d >= MAX_DEPTH) {
        if (w->first) memset(w->acc, 0, n * sizeof(float)), w->first = 0;
        for (size_t i = 0; i < n; i++) w->acc[i] += W[i];
        return;
    }
    double mid = round6(0.5 * (e + s));
    float *child = level(w, d + 1);
    if (!child) return;
    uint64_t spawn[2] = {key, (uint64_t)d};
    uint32_t seeds[4];
    sdc_seed_sequence(b->entropy, spawn, 2, POOL, seeds, 4);
    randn_seeded(b, seeds[0], w->noise);
    double hr = 1 / (e - s), ld = mid - s, rd = e - mid;
    float fl = (float)ld, fh = (float)hr, fs = (float)sqrt(ld * rd * hr);
    for (size_t i = 0; i < n; i++) child[i] = (W[i] * fl) * fh + fs * w->noise[i];
    if (tb <= mid) {
        locate(w, s, mid, 2 * key, d + 1, ta, tb);
        return;
    }
    if (ta < mid) locate(w, s, mid, 2 * key, d + 1, ta, mid); /* deeper levels leave child intact */
    for (size_t i = 0; i < n; i++) child[i] = W[i] - child[i];
    locate(w, mid, e, 2 * key + 1, d + 1, ta > mid ? ta : mid, tb);
}

sdc_status sdc_brownian_noise(void *user, double sigma, double sigma_next, float *out, size_t n, sdc_error *err) {
    sdc_brownian *b = user;
    if (n != b->n) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "brownian tree made for %zu values, asked %zu", b->n, n);
    /* queries arrive as float32 sigmas; the tree sorts them and clamps to its range */
    float fa = (float)sigma, fb = (float)sigma_next;
    double lo = fa < fb ? fa : fb, hi = fa < fb ? fb : fa;
    float sign = fa < fb ? 1.0f : -1.0f;
    if (lo < b->start) lo = b->start;
    if (hi < b->start) hi = b->start;
    if (lo > b->end) lo = b->end;
    if (hi > b->end) hi = b->end;
    walk w = {b, {0}, b->work, b->work + n, 1, 0};
    if (lo == hi) {
        memset(w.acc, 0, n * sizeof(float));
    } else {
        w.lvl[0] = b->w_root;
        locate(&w, b->start, b->end, 0, 0, round6(lo), round6(hi));
    }
    for (int d = 1; d <= MAX_DEPTH; d++) free(w.lvl[d]);
    if (w.oom) return sdc_error_set(err, SDC_ERR_OOM, "brownian tree: out of memory");
    float *acc = w.acc;
    float denom = sqrtf(fabsf(fb - fa));
    for (size_t i = 0; i < n; i++) out[i] = acc[i] * sign / denom;
    return SDC_OK;
}
