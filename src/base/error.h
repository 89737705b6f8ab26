/* Per-context error record: a status plus a message.
 *
 * Every context that can fail (a model file, a compute context, a parser) owns
 * one sdc_error; there is no global error buffer. The first error recorded
 * sticks: later calls to sdc_error_set on an already-failed record keep the
 * original message, because the first failure is the one that explains the
 * rest. Not thread-safe: one writer per record. */
#ifndef SDC_BASE_ERROR_H
#define SDC_BASE_ERROR_H

#include "base/status.h"

#define SDC_ERRMSG_MAX 512

typedef struct sdc_error {
    sdc_status status;
    char msg[SDC_ERRMSG_MAX];
} sdc_error;

void sdc_error_clear(sdc_error *e);

/* Records (status, printf-style message) unless an error is already recorded.
 * Returns the status now held by e (the first one), so callers can write
 * `return sdc_error_set(err, SDC_ERR_FORMAT, "...")`. e may be NULL. */
sdc_status sdc_error_set(sdc_error *e, sdc_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the held message with "context: " (e.g. the file name), keeping
 * the status. Useful when a low-level parser did not know the file name. */
void sdc_error_prefix(sdc_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message, or "" when no error is held. */
const char *sdc_error_msg(const sdc_error *e);

#endif
