/* Atomic buffered output file with a background writer (see outfile.h). */
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

static int write_fully(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *writer_main(void *arg) {
    sdc_outfile *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->pending && !o->stop) pthread_cond_wait(&o->cv, &o->mu);
        if (!o->pending) break; /* stop, nothing left */
        unsigned char *p = o->pending;
        size_t n = o->pending_n;
        pthread_mutex_unlock(&o->mu);
        int e = o->werr ? 0 : write_fully(o->fd, p, n);
        pthread_mutex_lock(&o->mu);
        if (e && !o->werr) o->werr = e;
        o->pending = NULL;
        pthread_cond_broadcast(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/* Waits until the writer has no buffer; returns its error (errno) or 0. */
static int wait_idle(sdc_outfile *o) {
    if (!o->running) return o->werr;
    pthread_mutex_lock(&o->mu);
    while (o->pending) pthread_cond_wait(&o->cv, &o->mu);
    int e = o->werr;
    pthread_mutex_unlock(&o->mu);
    return e;
}

static void stop_writer(sdc_outfile *o) {
    if (!o->running) return;
    pthread_mutex_lock(&o->mu);
    o->stop = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    o->running = 0;
}

static void release(sdc_outfile *o) {
    stop_writer(o);
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    free(o->buf);
    free(o->spare);
    free(o->path);
    free(o->tmp);
    o->buf = o->spare = NULL;
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
    o->spare = malloc(OUT_BUF);
    if (!o->path || !o->tmp || !o->buf || !o->spare) {
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
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    o->running = pthread_create(&o->thread, NULL, writer_main, o) == 0;
    if (!o->running) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    return SDC_OK;
}

/* Hands the filled buffer to the writer (or writes it here without one). */
static sdc_status flush(sdc_outfile *o, sdc_error *err) {
    int e = wait_idle(o);
    if (!e && o->used && !o->running) e = write_fully(o->fd, o->buf, o->used);
    if (e) return sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(e));
    if (o->used && o->running) {
        pthread_mutex_lock(&o->mu);
        o->pending = o->buf;
        o->pending_n = o->used;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        unsigned char *t = o->buf;
        o->buf = o->spare;
        o->spare = t;
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
    int e = wait_idle(o);
    if (!st && e) st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(e));
    stop_writer(o);
    if (st == SDC_OK && close(o->fd) != 0)
        st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", o->tmp, strerror(errno));
    else if (st != SDC_OK)
        close(o->fd);
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
    stop_writer(o);
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
        if (o->tmp) unlink(o->tmp);
    }
    release(o);
}
