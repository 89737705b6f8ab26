/* Thread pool with briefly-spinning, then sleeping, workers (see
 * threadpool.h).
 *
 * A U-Net step issues thousands of ops, so handing work out must be cheap:
 * workers spin on a generation counter for a few tens of microseconds
 * (enough to catch the next op of a running model) and then sleep on a
 * futex, so that an idle pool, or a machine busy with other processes,
 * does not lose a core to spinning. The caller waits for the last task the
 * same way. Tasks are claimed from an atomic counter; which thread runs a
 * task never changes what the task computes. */
#include "base/threadpool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPIN_ITERS 20000 /* pause instructions before sleeping (~50-200 us) */

struct sdc_pool {
    int n_threads;
    pthread_t *threads;
    atomic_uint generation; /* bumped for each job; workers sleep on it */
    atomic_int next_task;
    atomic_uint pending; /* workers that have not finished the job; the caller sleeps on it */
    int n_tasks;
    sdc_task_fn fn;
    void *arg;
    atomic_bool quit;
};

static _Thread_local int tls_thread_index;

int sdc_pool_thread_index(void) { return tls_thread_index; }

static void futex_wait(atomic_uint *addr, unsigned expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *addr) { syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }

/* Waits until *addr != value: spins, then sleeps. */
static unsigned wait_change(atomic_uint *addr, unsigned value) {
    unsigned v;
    for (int i = 0; i < SPIN_ITERS; i++) {
        if ((v = atomic_load_explicit(addr, memory_order_acquire)) != value) return v;
        __builtin_ia32_pause();
    }
    while ((v = atomic_load_explicit(addr, memory_order_acquire)) == value) futex_wait(addr, value);
    return v;
}

typedef struct {
    sdc_pool *p;
    int index;
} worker_arg;

static void run_tasks(sdc_pool *p) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->arg, t);
    }
}

static void *worker_main(void *varg) {
    worker_arg wa = *(worker_arg *)varg;
    free(varg);
    sdc_pool *p = wa.p;
    tls_thread_index = wa.index;
    unsigned seen = 0;
    for (;;) {
        seen = wait_change(&p->generation, seen);
        if (atomic_load(&p->quit)) break;
        run_tasks(p);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) futex_wake(&p->pending);
    }
    return NULL;
}

sdc_pool *sdc_pool_create(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    sdc_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = 1;
    if (n_threads > 1 && !(p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads))) goto fail;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) goto fail;
        wa->p = p;
        wa->index = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            goto fail;
        }
        p->n_threads = i + 1;
    }
    return p;
fail:
    sdc_pool_destroy(p);
    return NULL;
}

void sdc_pool_destroy(sdc_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, true);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    futex_wake(&p->generation);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i - 1], NULL);
    free(p->threads);
    free(p);
}

int sdc_pool_threads(const sdc_pool *p) { return p ? p->n_threads : 1; }

void sdc_pool_run(sdc_pool *p, int n_tasks, sdc_task_fn fn, void *arg) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, (unsigned)(p->n_threads - 1), memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    futex_wake(&p->generation);
    run_tasks(p);
    unsigned left;
    while ((left = atomic_load_explicit(&p->pending, memory_order_acquire)) != 0) wait_change(&p->pending, left);
}
