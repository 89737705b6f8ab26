/* Arena allocator for activations and other per-run memory.
 *
 * Bump allocation, every block 64-byte aligned. An arena is sized up front
 * (sdc_arena_init with the expected peak); if a run needs more, further
 * chunks are added, and the next sdc_arena_reset merges them into one chunk
 * of the high-water size, so from the second run on no allocation happens.
 * Marks give stack-like release inside a run (free a block's temporaries,
 * keep its output by allocating the output first).
 *
 * Not thread-safe: one arena per compute context. Memory handed out is owned
 * by the arena and valid until the next reset/release below it or free. */
#ifndef SDC_BASE_ARENA_H
#define SDC_BASE_ARENA_H

#include <stddef.h>

typedef struct sdc_arena_chunk sdc_arena_chunk;

typedef struct sdc_arena {
    sdc_arena_chunk *head; /* current chunk (newest); chunks form a list */
    size_t used_total;     /* bytes handed out in this run, all chunks */
    size_t high_water;     /* max used_total since init */
    size_t capacity;       /* sum of chunk sizes */
} sdc_arena;

typedef struct sdc_arena_mark {
    sdc_arena_chunk *chunk;
    size_t offset;
    size_t used_total;
} sdc_arena_mark;

/* Creates an empty arena with one chunk of `initial` bytes (0: none yet).
 * Returns 0 on success, -1 when the chunk cannot be allocated. */
int sdc_arena_init(sdc_arena *a, size_t initial);
void sdc_arena_free(sdc_arena *a);

/* 64-byte-aligned block of `size` bytes, or NULL when out of memory.
 * Contents are uninitialized. */
void *sdc_arena_alloc(sdc_arena *a, size_t size);

sdc_arena_mark sdc_arena_get_mark(const sdc_arena *a);
/* Frees everything allocated after the mark. Chunks added after the mark
 * stay allocated (reused by later allocations of this run). */
void sdc_arena_release(sdc_arena *a, sdc_arena_mark m);

/* Frees everything; if the run spilled into several chunks, replaces them
 * with one chunk of the high-water size. */
void sdc_arena_reset(sdc_arena *a);

#endif
