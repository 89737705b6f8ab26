/* Small helpers used everywhere: overflow-checked size arithmetic, min/max,
 * aligned allocation. Header-only on purpose (all static inline). */
#ifndef SDC_BASE_UTIL_H
#define SDC_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define SDC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SDC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SDC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* *out = a * b; false when it overflows size_t. */
static inline bool sdc_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* *out = a + b; false when it overflows size_t. */
static inline bool sdc_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
/* Rounds n up to a multiple of align (a power of two); false on overflow. */
static inline bool sdc_align_up_ok(size_t n, size_t align, size_t *out) {
    size_t t;
    if (!sdc_add_ok(n, align - 1, &t)) return false;
    *out = t & ~(align - 1);
    return true;
}

static inline int64_t sdc_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* 64-byte aligned allocation (cache line, one AVX-512 register). Free with
 * sdc_free_aligned. Returns NULL on failure or when size overflows. */
void *sdc_alloc_aligned(size_t size);
void sdc_free_aligned(void *p);

/* strdup that returns NULL on NULL input. Caller frees. */
char *sdc_strdup(const char *s);

/* Monotonic clock in seconds. */
double sdc_time_now(void);

#endif
