/* Out-of-line parts of util.h. */
#include "base/util.h"

#include <string.h>
#include <time.h>

void *sdc_alloc_aligned(size_t size) {
    size_t rounded;
    if (size == 0) size = 1;
    if (!sdc_align_up_ok(size, 64, &rounded)) return NULL;
    return aligned_alloc(64, rounded);
}

void sdc_free_aligned(void *p) { free(p); }

char *sdc_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double sdc_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
