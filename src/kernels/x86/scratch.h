/* Scratch memory of the optimized kernels.
 *
 * Kernels never allocate on the hot path: each call asks the calling
 * thread's scratch buffer for the bytes it needs (packed weight panels,
 * packed activation blocks, attention tiles) and hands slices of it to the
 * pool's tasks. The buffer is allocated on first use, grown when a larger
 * call arrives, reused afterwards, and freed when the thread exits.
 *
 * Does not: zero memory, keep contents across calls, or serve nested use
 * (one kernel call at a time per thread; kernels never call each other
 * while holding their slice). */
#ifndef SDC_KERNELS_X86_SCRATCH_H
#define SDC_KERNELS_X86_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

/* A 64-byte aligned buffer of at least `bytes` owned by the calling thread,
 * valid until this thread's next call. NULL when the allocation fails (the
 * caller then falls back to the reference kernel). */
void *sdc_x86_scratch(size_t bytes);

/* Bytes the calling thread's scratch currently holds (for tests). */
size_t sdc_x86_scratch_size(void);

/* Per-task claims on a set of equal private slices: with n slices (one per
 * pool thread), a running task takes a free slice and gives it back when
 * done. Used instead of the pool's thread index so that a slice can never be
 * shared, whatever thread runs the task. */
typedef struct sdc_slices {
    char *base;
    size_t bytes; /* of one slice, a multiple of 64 */
    int n;
    int busy[64]; /* atomic flags, one per slice */
} sdc_slices;

/* Claims a free slice (spins briefly if all are busy, which cannot happen
 * when n >= the pool's thread count). Returns its index. */
int sdc_slices_claim(sdc_slices *s);
void sdc_slices_release(sdc_slices *s, int i);
static inline void *sdc_slice_ptr(const sdc_slices *s, int i) { return s->base + (size_t)i * s->bytes; }

/* Round up to a multiple of 64 bytes; 0 on overflow. */
static inline size_t sdc_round64(size_t n) { return n > SIZE_MAX - 63 ? 0 : (n + 63) & ~(size_t)63; }

#endif
