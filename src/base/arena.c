/* Chunked bump arena (see arena.h). */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/util.h"

struct sdc_arena_chunk {
    sdc_arena_chunk *prev; /* older chunk */
    sdc_arena_chunk *next; /* newer chunk kept after a release (reused) */
    size_t size;           /* usable bytes in data */
    size_t offset;         /* bytes used */
    unsigned char *data;   /* 64-byte aligned */
};

static sdc_arena_chunk *chunk_new(size_t size) {
    sdc_arena_chunk *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->data = sdc_alloc_aligned(size);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->size = size;
    return c;
}

static void chunk_free_list(sdc_arena_chunk *c) {
    /* frees c and everything newer than it */
    while (c) {
        sdc_arena_chunk *n = c->next;
        sdc_free_aligned(c->data);
        free(c);
        c = n;
    }
}

static sdc_arena_chunk *oldest(sdc_arena_chunk *c) {
    while (c && c->prev) c = c->prev;
    return c;
}

int sdc_arena_init(sdc_arena *a, size_t initial) {
    a->head = NULL;
    a->used_total = a->high_water = a->capacity = 0;
    if (initial == 0) return 0;
    a->head = chunk_new(initial);
    if (!a->head) return -1;
    a->capacity = initial;
    return 0;
}

void sdc_arena_free(sdc_arena *a) {
    chunk_free_list(oldest(a->head));
    a->head = NULL;
    a->used_total = a->high_water = a->capacity = 0;
}

void *sdc_arena_alloc(sdc_arena *a, size_t size) {
    size_t need;
    if (!sdc_align_up_ok(size ? size : 1, 64, &need)) return NULL;
    for (;;) {
        sdc_arena_chunk *c = a->head;
        if (c && c->size - c->offset >= need) {
            void *p = c->data + c->offset;
            c->offset += need;
            a->used_total += need;
            if (a->used_total > a->high_water) a->high_water = a->used_total;
            return p;
        }
        if (c && c->next) { /* a chunk kept from before a release */
            a->head = c->next;
            a->head->offset = 0;
            continue;
        }
        /* grow by what is needed, in chunks of at least 64 MB: doubling
         * would hold up to twice the peak during a first run */
        size_t want = SDC_MAX(need, (size_t)64 << 20);
        sdc_arena_chunk *n = chunk_new(want);
        if (!n) return NULL;
        n->prev = c;
        if (c) c->next = n;
        a->head = n;
        a->capacity += want;
    }
}

sdc_arena_mark sdc_arena_get_mark(const sdc_arena *a) {
    sdc_arena_mark m = {a->head, a->head ? a->head->offset : 0, a->used_total};
    return m;
}

void sdc_arena_release(sdc_arena *a, sdc_arena_mark m) {
    if (!m.chunk) { /* mark taken before any chunk existed */
        a->head = oldest(a->head);
        if (a->head) a->head->offset = 0;
    } else {
        a->head = m.chunk;
        a->head->offset = m.offset;
    }
    a->used_total = m.used_total;
}

void sdc_arena_reset(sdc_arena *a) {
    sdc_arena_chunk *first = oldest(a->head);
    if (first && first->next) {
        /* the run spilled: keep one chunk large enough for the high water */
        chunk_free_list(first);
        a->head = chunk_new(a->high_water);
        a->capacity = a->head ? a->high_water : 0;
    } else {
        a->head = first;
    }
    if (a->head) a->head->offset = 0;
    a->used_total = 0;
}
