/* Compute context: what a model forward needs besides its weights.
 *
 * Holds the activation arena, the (borrowed) thread pool, the kernel table,
 * the arithmetic mode, a sticky error, an optional per-stage dump hook and
 * an optional cancel hook. Ops (ops.h) allocate their outputs from the
 * arena; once the context holds an error, every op returns NULL without
 * doing work, so model code runs straight through and checks the status
 * once at the end. One context per concurrent forward; not thread-safe. */
#ifndef SDC_TENSOR_CTX_H
#define SDC_TENSOR_CTX_H

#include "base/arena.h"
#include "base/error.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "tensor/tensor.h"

/* Called with each named stage output when set (see docs/DEBUGGING.md).
 * The tensor is valid only during the call. */
typedef void (*sdc_dump_fn)(void *user, const char *name, const sdc_tensor *t);
/* Returns nonzero to cancel; polled between model blocks / sampler steps. */
typedef int (*sdc_cancel_fn)(void *user);

typedef struct sdc_ctx {
    sdc_arena arena;
    sdc_pool *pool; /* borrowed; NULL = single-threaded */
    const sdc_kernels *k;
    sdc_compute compute;
    sdc_error err;
    const sdc_log *log; /* borrowed; may be NULL */
    sdc_dump_fn dump;
    void *dump_user;
    sdc_cancel_fn cancel;
    void *cancel_user;
    double flops; /* multiply-adds x 2 of the GEMM / conv / attention ops run so far (benchmarks) */
} sdc_ctx;

/* arena_bytes: expected activation peak (0 = grow on demand).
 * Returns SDC_OK or SDC_ERR_OOM. Kernel table defaults to the best one. */
sdc_status sdc_ctx_init(sdc_ctx *c, sdc_pool *pool, size_t arena_bytes);
void sdc_ctx_free(sdc_ctx *c);
/* Frees all activations and clears the error (start of a new run). */
void sdc_ctx_reset(sdc_ctx *c);

static inline bool sdc_ctx_ok(const sdc_ctx *c) { return c->err.status == SDC_OK; }

/* Records an error (first one sticks) and returns NULL for convenience. */
sdc_tensor *sdc_ctx_fail(sdc_ctx *c, sdc_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Calls the dump hook, if any, with a named tensor. name may use printf
 * formatting (e.g. "unet.input_blocks.%d"). */
void sdc_ctx_dump(sdc_ctx *c, const sdc_tensor *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Polls the cancel hook; on cancel records SDC_ERR_CANCELLED and returns
 * false. */
bool sdc_ctx_check_cancel(sdc_ctx *c);

#endif
