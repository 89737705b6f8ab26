/* Logging dispatch (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

void sdc_logf(const sdc_log *log, sdc_log_level level, const char *fmt, ...) {
    sdc_log_level min = log ? log->level : SDC_LOG_WARN;
    if (level < min) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (log && log->fn) {
        log->fn(log->user, level, buf);
        return;
    }
    static const char *names[] = {"debug", "info", "warning", "error", ""};
    fprintf(stderr, "sdc %s: %s\n", names[level], buf);
}
