/* Atomic output files for the writers (safetensors, GGUF, make-model).
 *
 * Bytes go to a temporary file beside the destination ("PATH.tmpPID") and
 * only sdc_outfile_commit renames it into place, so a failed or cancelled
 * write never leaves a partial file under the real name. Writes are
 * buffered and streamed: callers never need the whole file in memory, and
 * a background thread writes one 4 MiB buffer while the caller fills the
 * other, so producing the data and writing it overlap. Does not fsync (a crash right after commit may lose the data on
 * some file systems, but never exposes a half-written file under PATH on a
 * journaled one). Not thread-safe: one writer per sdc_outfile. */
#ifndef SDC_FORMATS_OUTFILE_H
#define SDC_FORMATS_OUTFILE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sdc_outfile {
    char *path, *tmp;
    int fd;
    int overwrite;
    unsigned char *buf; /* buffer being filled */
    size_t used;
    uint64_t written;   /* bytes written so far (buffered included) */
    /* background writer: writes `pending` while the caller fills `buf` */
    unsigned char *spare, *pending;
    size_t pending_n;
    int running, stop, werr; /* werr: errno of a failed write, 0 if none */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sdc_outfile;

/* Creates the temporary file. Refuses when PATH exists and !overwrite.
 * On failure *o is left closed (safe to pass to sdc_outfile_abort). */
sdc_status sdc_outfile_open(sdc_outfile *o, const char *path, int overwrite, sdc_error *err);
sdc_status sdc_outfile_write(sdc_outfile *o, const void *p, size_t n, sdc_error *err);
/* Writes n zero bytes (padding). */
sdc_status sdc_outfile_pad(sdc_outfile *o, size_t n, sdc_error *err);
/* Flushes, closes and renames the temporary file to PATH. On failure the
 * temporary file is removed. The outfile is closed either way. */
sdc_status sdc_outfile_commit(sdc_outfile *o, sdc_error *err);
/* Closes and removes the temporary file (no-op when already closed). */
void sdc_outfile_abort(sdc_outfile *o);

#endif
