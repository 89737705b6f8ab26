/* Error records and status names. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sdc_status_name(sdc_status s) {
    switch (s) {
    case SDC_OK: return "ok";
    case SDC_ERR_INVALID_ARG: return "invalid argument";
    case SDC_ERR_IO: return "I/O error";
    case SDC_ERR_FORMAT: return "format error";
    case SDC_ERR_OOM: return "out of memory";
    case SDC_ERR_UNSUPPORTED: return "unsupported";
    case SDC_ERR_CANCELLED: return "cancelled";
    case SDC_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void sdc_error_clear(sdc_error *e) {
    if (!e) return;
    e->status = SDC_OK;
    e->msg[0] = '\0';
}

sdc_status sdc_error_set(sdc_error *e, sdc_status s, const char *fmt, ...) {
    if (!e) return s;
    if (e->status != SDC_OK) return e->status;
    e->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return s;
}

void sdc_error_prefix(sdc_error *e, const char *fmt, ...) {
    if (!e || e->status == SDC_OK) return;
    char prefix[SDC_ERRMSG_MAX], old[SDC_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* prefix, ": ", old message, truncated to the buffer */
    size_t n = strnlen(prefix, sizeof e->msg - 1);
    memcpy(e->msg, prefix, n);
    for (const char *s = ": "; *s && n < sizeof e->msg - 1; s++) e->msg[n++] = *s;
    size_t rest = strnlen(old, sizeof old);
    if (rest > sizeof e->msg - 1 - n) rest = sizeof e->msg - 1 - n;
    memcpy(e->msg + n, old, rest);
    e->msg[n + rest] = '\0';
}

const char *sdc_error_msg(const sdc_error *e) { return (e && e->status != SDC_OK) ? e->msg : ""; }
