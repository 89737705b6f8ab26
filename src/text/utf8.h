/* UTF-8 <-> code point helpers and a growable code point buffer, shared by
 * the text layer (tokenizer cleaning, prompt parsing). Header-only (static
 * inline): the functions are small and hot.
 *
 * Decoding is Python-compatible for what CLIP's reference sees: each byte that
 * does not start a valid, shortest-form UTF-8 sequence (surrogates and values
 * above U+10FFFF are invalid) becomes one U+FFFD, as bytes read with Python's
 * surrogateescape and then cleaned by ftfy would. */
#ifndef SDC_TEXT_UTF8_H
#define SDC_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SDC_UTF8_REPLACEMENT 0xFFFDu

/* Decodes one code point from s[0..len) (len >= 1); returns the bytes used
 * (>= 1). Invalid input yields U+FFFD and consumes one byte. */
static inline size_t sdc_utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, v = c & 0x07, min = 0x10000;
    } else {
        *cp = SDC_UTF8_REPLACEMENT;
        return 1;
    }
    if (len < need + 1) {
        *cp = SDC_UTF8_REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = SDC_UTF8_REPLACEMENT;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = SDC_UTF8_REPLACEMENT;
        return 1;
    }
    *cp = v;
    return need + 1;
}

/* Writes cp as UTF-8 into out (room for 4 bytes); returns the length.
 * cp must be a valid scalar value. */
static inline size_t sdc_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Growable code point array. Allocation failure sets `oom` and turns later
 * pushes into no-ops, so a sequence of pushes is checked once at the end. */
typedef struct sdc_cpbuf {
    uint32_t *v;
    size_t n, cap;
    bool oom;
} sdc_cpbuf;

static inline bool sdc_cpbuf_reserve(sdc_cpbuf *b, size_t extra) {
    if (b->oom) return false;
    if (extra <= b->cap - b->n) return true;
    size_t want = b->cap ? b->cap : 64;
    while (want - b->n < extra) {
        if (want > SIZE_MAX / 2 / sizeof(uint32_t)) {
            b->oom = true;
            return false;
        }
        want *= 2;
    }
    uint32_t *nv = realloc(b->v, want * sizeof(uint32_t));
    if (!nv) {
        b->oom = true;
        return false;
    }
    b->v = nv;
    b->cap = want;
    return true;
}

static inline void sdc_cpbuf_push(sdc_cpbuf *b, uint32_t cp) {
    if (b->n == b->cap && !sdc_cpbuf_reserve(b, 1)) return;
    if (b->oom) return;
    b->v[b->n++] = cp;
}

/* Appends the code points of a UTF-8 string of len bytes. */
static inline void sdc_cpbuf_push_utf8(sdc_cpbuf *b, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    if (!sdc_cpbuf_reserve(b, len)) return;
    while (i < len) {
        uint32_t cp;
        i += sdc_utf8_next(u + i, len - i, &cp);
        b->v[b->n++] = cp;
    }
}

static inline void sdc_cpbuf_free(sdc_cpbuf *b) {
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
    b->oom = false;
}

/* UTF-8 encoding of cps[0..n) into a malloc'd NUL-terminated string (caller
 * frees); NULL on allocation failure or size overflow. */
static inline char *sdc_cps_to_utf8(const uint32_t *cps, size_t n, size_t *out_len) {
    if (n > (SIZE_MAX - 1) / 4) return NULL;
    char *s = malloc(n * 4 + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += sdc_utf8_put(cps[i], s + k);
    s[k] = '\0';
    if (out_len) *out_len = k;
    return s;
}

#endif
