/* Logging through a caller-supplied callback. Library code never prints to
 * stdout; with no callback installed, messages at or above the level go to
 * stderr. The callback and level live in an sdc_log object owned by the
 * caller (the CLI has one; a library user may have one per model). */
#ifndef SDC_BASE_LOG_H
#define SDC_BASE_LOG_H

typedef enum sdc_log_level {
    SDC_LOG_DEBUG = 0,
    SDC_LOG_INFO = 1,
    SDC_LOG_WARN = 2,
    SDC_LOG_ERROR = 3,
    SDC_LOG_NONE = 4
} sdc_log_level;

typedef void (*sdc_log_fn)(void *user, sdc_log_level level, const char *msg);

typedef struct sdc_log {
    sdc_log_fn fn;      /* NULL: write to stderr */
    void *user;
    sdc_log_level level; /* messages below this are dropped */
} sdc_log;

/* log may be NULL (then only warnings and errors go to stderr). */
void sdc_logf(const sdc_log *log, sdc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
