/* Atomic buffered output file (see outfile.h). */
#include "formats/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define OUT_BUF (4u << 20)

static void release(sdc_outfile *o) {
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    free(o->buf);
    free(o->path);
    free(o->tmp);
    o->buf = NULL;
    o->path = o->tmp = NULL;
}

sdc_status sdc_outfile_open(sdc_outfile *o, const char *path, int overwrite, sdc_error *err) {
    memset(o, 0, sizeof *o);
    o->fd = -1;
    struct stat sb;
    if (!overwrite && stat(path, &sb) == 0)
        return sdc_error_set(err, SDC_ERR_IO, "'%s' exists (refusing to overwrite)", path);
    size_t tlen = strlen(path) + 32;
    o->path = sdc_strdup(path);
    o->tmp = malloc(tlen);
    o->buf = malloc(OUT_BUF);
    if (!o->path || !o->tmp || !o->buf) {
        release(o);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    snprintf(o->tmp, tlen, "%s.tmp%d", path, (int)getpid());
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        sdc_status st = sdc_error_set(err, SDC_ERR_IO, "cannot create '%s': %s", o->tmp, strerror(errno));
        release(o);
        return st;
    }
    o->overwrite = overwrite;
    return SDC_OK;
}

static sdc_status flush(sdc_outfile *o, sdc_error *err) {
    size_t done = 0;
    while (done < o->used) {
        ssize_t w = write(o->fd, o->buf + done, o->used - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", o->tmp, w < 0 ? strerror(errno) : "short write");
        done += (size_t)w;
    }
    o->used = 0;
    return SDC_OK;
}

sdc_status sdc_outfile_write(sdc_outfile *o, const void *p, size_t n, sdc_error *err) {
    if (o->fd < 0) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "write to a closed output file");
    const unsigned char *s = p;
    while (n) {
        size_t k = SDC_MIN(n, OUT_BUF - o->used);
        memcpy(o->buf + o->used, s, k);
        o->used += k;
        o->written += k;
        s += k;
        n -= k;
        if (o->used == OUT_BUF) {
            sdc_status st = flush(o, err);
            if (st) return st;
        }
    }
    return SDC_OK;
}

sdc_status sdc_outfile_pad(sdc_outfile *o, size_t n, sdc_error *err) {
    static const unsigned char zeros[256];
    while (n) {
        size_t k = SDC_MIN(n, sizeof zeros);
        sdc_status st = sdc_outfile_write(o, zeros, k, err);
        if (st) return st;
        n -= k;
    }
    return SDC_OK;
}

sdc_status sdc_outfile_commit(sdc_outfile *o, sdc_error *err) {
    if (o->fd < 0) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "commit of a closed output file");
    sdc_status st = flush(o, err);
    if (st == SDC_OK && close(o->fd) != 0)
        st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(errno));
    o->fd = -1;
    struct stat sb;
    if (st == SDC_OK && !o->overwrite && stat(o->path, &sb) == 0)
        st = sdc_error_set(err, SDC_ERR_IO, "'%s' exists (refusing to overwrite)", o->path);
    if (st == SDC_OK && rename(o->tmp, o->path) != 0)
        st = sdc_error_set(err, SDC_ERR_IO, "cannot rename to '%s': %s", o->path, strerror(errno));
    if (st != SDC_OK) unlink(o->tmp);
    release(o);
    return st;
}

void sdc_outfile_abort(sdc_outfile *o) {
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
        if (o->tmp) unlink(o->tmp);
    }
    release(o);
}
