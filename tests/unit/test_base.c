/* Base layer: arena, thread pool, error records. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "harness.h"

TEST(arena_alignment_marks_and_reset) {
    sdc_arena a;
    REQUIRE(sdc_arena_init(&a, 1000) == 0);
    void *p1 = sdc_arena_alloc(&a, 3);
    void *p2 = sdc_arena_alloc(&a, 100);
    CHECK(((uintptr_t)p1 & 63) == 0 && ((uintptr_t)p2 & 63) == 0);
    CHECK((char *)p2 - (char *)p1 == 64);
    sdc_arena_mark m = sdc_arena_get_mark(&a);
    void *p3 = sdc_arena_alloc(&a, 5000); /* spills into a new chunk */
    CHECK(p3 != NULL && ((uintptr_t)p3 & 63) == 0);
    memset(p3, 1, 5000);
    sdc_arena_release(&a, m);
    void *p4 = sdc_arena_alloc(&a, 10);
    CHECK(p4 == (char *)p2 + 128); /* back in the first chunk */
    size_t hw = a.high_water;
    CHECK(hw >= 64 + 128 + 5056);
    sdc_arena_reset(&a);
    CHECK(a.capacity == hw); /* merged into one chunk of the high water */
    void *q = sdc_arena_alloc(&a, 5000);
    void *q2 = sdc_arena_alloc(&a, 128);
    CHECK(q && q2 && (char *)q2 - (char *)q == 5056); /* no new chunk needed */
    CHECK(sdc_arena_alloc(&a, SIZE_MAX - 10) == NULL);
    sdc_arena_free(&a);
}

typedef struct {
    atomic_int hits[1000];
    int64_t out[1000];
} pool_job;

static void pool_task(void *arg, int task) {
    pool_job *j = arg;
    atomic_fetch_add(&j->hits[task], 1);
    int64_t acc = 0;
    for (int i = 0; i <= task; i++) acc += (int64_t)i * i;
    j->out[task] = acc;
}

TEST(threadpool_runs_each_task_once) {
    for (int threads = 1; threads <= 4; threads++) {
        sdc_pool *p = sdc_pool_create(threads);
        REQUIRE(p != NULL);
        CHECK(sdc_pool_threads(p) == threads);
        for (int rep = 0; rep < 12; rep++) {
            static pool_job j;
            memset(&j, 0, sizeof j);
            int n = 1 + (rep * 37) % 1000;
            sdc_pool_run(p, n, pool_task, &j);
            for (int i = 0; i < 1000; i++) {
                CHECK(atomic_load(&j.hits[i]) == (i < n ? 1 : 0));
                if (i < n) CHECK(j.out[i] == (int64_t)i * (i + 1) * (2 * i + 1) / 6);
            }
        }
        sdc_pool_destroy(p);
    }
}

TEST(error_first_message_sticks) {
    sdc_error e;
    sdc_error_clear(&e);
    CHECK(e.status == SDC_OK && strcmp(sdc_error_msg(&e), "") == 0);
    CHECK(sdc_error_set(&e, SDC_ERR_FORMAT, "bad header in %s", "x.safetensors") == SDC_ERR_FORMAT);
    CHECK(sdc_error_set(&e, SDC_ERR_IO, "later") == SDC_ERR_FORMAT);
    sdc_error_prefix(&e, "loading %s", "model");
    CHECK(strcmp(sdc_error_msg(&e), "loading model: bad header in x.safetensors") == 0);
    CHECK(strcmp(sdc_status_name(SDC_ERR_OOM), "out of memory") == 0);
}
