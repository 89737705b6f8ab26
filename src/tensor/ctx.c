/* Compute context (see ctx.h). */
#include "tensor/ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

sdc_status sdc_ctx_init(sdc_ctx *c, sdc_pool *pool, size_t arena_bytes) {
    memset(c, 0, sizeof *c);
    c->pool = pool;
    c->k = sdc_kernels_best();
    c->compute = SDC_COMPUTE_F32;
    if (sdc_arena_init(&c->arena, arena_bytes) != 0)
        return sdc_error_set(&c->err, SDC_ERR_OOM, "cannot allocate %zu bytes of activation memory", arena_bytes);
    return SDC_OK;
}

void sdc_ctx_free(sdc_ctx *c) { sdc_arena_free(&c->arena); }

void sdc_ctx_reset(sdc_ctx *c) {
    sdc_arena_reset(&c->arena);
    sdc_error_clear(&c->err);
}

sdc_tensor *sdc_ctx_fail(sdc_ctx *c, sdc_status s, const char *fmt, ...) {
    if (c->err.status != SDC_OK) return NULL;
    char buf[SDC_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sdc_error_set(&c->err, s, "%s", buf);
    return NULL;
}

void sdc_ctx_dump(sdc_ctx *c, const sdc_tensor *t, const char *fmt, ...) {
    if (!c->dump || !t || !sdc_ctx_ok(c)) return;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    c->dump(c->dump_user, name, t);
}

bool sdc_ctx_check_cancel(sdc_ctx *c) {
    if (!sdc_ctx_ok(c)) return false;
    if (c->cancel && c->cancel(c->cancel_user)) {
        sdc_error_set(&c->err, SDC_ERR_CANCELLED, "cancelled");
        return false;
    }
    return true;
}
