/* Open-addressing string map (see strmap.h). */
#include "base/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void sdc_strmap_init(sdc_strmap *m) { memset(m, 0, sizeof *m); }

void sdc_strmap_free(sdc_strmap *m) {
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static int grow(sdc_strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    const char **nk = calloc(ncap, sizeof *nk);
    size_t *nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = hash_str(m->keys[i]) & (ncap - 1);
        while (nk[j]) j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = nk;
    m->values = nv;
    m->cap = ncap;
    return 0;
}

int sdc_strmap_put(sdc_strmap *m, const char *key, size_t value) {
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) return -1;
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) return 0;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->values[j] = value;
    m->count++;
    return 1;
}

int sdc_strmap_get(const sdc_strmap *m, const char *key, size_t *value) {
    if (!m->cap) return 0;
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0) {
            *value = m->values[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}
