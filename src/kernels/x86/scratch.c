/* Thread-owned scratch buffers (see scratch.h). The buffer pointer lives in
 * a pthread key whose destructor frees it when a thread exits, so pool
 * workers and short-lived threads leave nothing behind. Buffers are mapped
 * straight from the system (page aligned) and unmapped when they grow:
 * through malloc, each outgrown buffer could stay in the process's heap
 * (glibc raises its mmap threshold after such frees), ~60 MB of resident
 * memory over a U-Net step. */
#include "kernels/x86/scratch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "base/util.h"

typedef struct scratch {
    void *p;
    size_t bytes;
} scratch;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

static void unmap(scratch *s) {
    if (s->p) munmap(s->p, s->bytes);
    s->p = NULL;
    s->bytes = 0;
}

static void scratch_destroy(void *v) {
    unmap(v);
    free(v);
}

static void key_init(void) { g_key_ok = pthread_key_create(&g_key, scratch_destroy) == 0; }

static scratch *thread_scratch(void) {
    pthread_once(&g_once, key_init);
    if (!g_key_ok) return NULL;
    scratch *s = pthread_getspecific(g_key);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (s && pthread_setspecific(g_key, s) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

void *sdc_x86_scratch(size_t bytes) {
    scratch *s = thread_scratch();
    if (!s) return NULL;
    if (bytes <= s->bytes) return s->p;
    /* grow by at least 1/4 so a slowly rising series of sizes does not
     * reallocate every call */
    size_t want = bytes;
    if (s->bytes <= SIZE_MAX / 2 && want < s->bytes + s->bytes / 4) want = s->bytes + s->bytes / 4;
    want = want > SIZE_MAX - 4095 ? 0 : (want + 4095) & ~(size_t)4095;
    if (want == 0) return NULL;
    unmap(s); /* contents need not survive */
    void *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    s->p = p;
    s->bytes = want;
    return p;
}

size_t sdc_x86_scratch_size(void) {
    scratch *s = thread_scratch();
    return s ? s->bytes : 0;
}

int sdc_slices_claim(sdc_slices *s) {
    for (;;) {
        for (int i = 0; i < s->n; i++) {
            int expect = 0;
            if (__atomic_compare_exchange_n(&s->busy[i], &expect, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return i;
        }
    }
}

void sdc_slices_release(sdc_slices *s, int i) { __atomic_store_n(&s->busy[i], 0, __ATOMIC_RELEASE); }
