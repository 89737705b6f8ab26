/* Persistent thread pool.
 *
 * sdc_pool_run(pool, n_tasks, fn, arg) calls fn(arg, i) once for every task
 * index i in [0, n_tasks), spread over the pool's threads (the calling thread
 * takes part), and returns when all are done. Ops split their output into
 * tasks by problem size, never by thread count, and each output element is
 * computed by exactly one task in a fixed order, so results are bitwise
 * identical for any number of threads.
 *
 * One pool may be used by one caller at a time (not re-entrant: fn must not
 * call sdc_pool_run on the same pool). A NULL pool runs tasks inline. */
#ifndef SDC_BASE_THREADPOOL_H
#define SDC_BASE_THREADPOOL_H

typedef struct sdc_pool sdc_pool;

typedef void (*sdc_task_fn)(void *arg, int task);

/* n_threads <= 0: one per online CPU. Returns NULL on failure. */
sdc_pool *sdc_pool_create(int n_threads);
void sdc_pool_destroy(sdc_pool *p);
int sdc_pool_threads(const sdc_pool *p); /* 1 for NULL */

void sdc_pool_run(sdc_pool *p, int n_tasks, sdc_task_fn fn, void *arg);

/* Index of the calling thread inside the pool while running a task
 * (0 = the caller of sdc_pool_run), for per-thread scratch buffers. */
int sdc_pool_thread_index(void);

#endif
