/* The job queue, the single compute worker, and the progress state
 * /sdapi/v1/progress reports.
 *
 * Every job (A1111 generation, ComfyUI prompt, doodle, model switch) is
 * queued in FIFO order (ComfyUI's "front" puts one at the head) and run
 * by one worker thread; request threads that need the result wait on the
 * job's condition variable, so they never hold up the queue. Cancelling
 * marks the running job (its sampler stops at the next step) or completes
 * a queued one at once. All shared state is under s->lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "image/png_io.h"
#include "server/srv_internal.h"

srv_job *srv_job_new(srv_job_kind kind, srv_job_fn run, void *data, void (*free_data)(void *)) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->run = run;
    j->data = data;
    j->free_data = free_data;
    j->refs = 1;
    j->http_status = 200;
    pthread_cond_init(&j->done, NULL);
    srv_uuid(j->id);
    return j;
}

static void job_free(srv_job *j) {
    if (j->free_data) j->free_data(j->data);
    json_decref(j->result);
    json_decref(j->queue_item);
    pthread_cond_destroy(&j->done);
    free(j);
}

/* with the lock held */
static void unref_locked(srv_job *j) {
    if (--j->refs == 0) job_free(j);
}

void srv_job_unref(sdc_server *s, srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&s->lock);
    unref_locked(j);
    pthread_mutex_unlock(&s->lock);
}

void srv_queue_push(sdc_server *s, srv_job *j, int front) {
    pthread_mutex_lock(&s->lock);
    j->refs++;
    j->state = SRV_QUEUED;
    if (s->stopping) { /* refused: done at once, cancelled */
        j->cancel = 1;
        j->state = SRV_DONE;
        j->http_status = 503;
        unref_locked(j);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    if (front) {
        j->next = s->head;
        s->head = j;
        if (!s->tail) s->tail = j;
    } else {
        j->next = NULL;
        if (s->tail) s->tail->next = j;
        else s->head = j;
        s->tail = j;
    }
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (j->kind == SRV_JOB_COMFY) srv_ws_status(s);
}

void srv_job_wait(sdc_server *s, srv_job *j) {
    pthread_mutex_lock(&s->lock);
    while (j->state != SRV_DONE) pthread_cond_wait(&j->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* completes a job that never ran (lock held) */
static void finish_unrun(srv_job *j) {
    j->cancel = 1;
    j->state = SRV_DONE;
    if (j->http_status == 200) j->http_status = 409;
    pthread_cond_broadcast(&j->done);
    unref_locked(j); /* the queue's reference */
}

int srv_cancel_jobs(sdc_server *s, srv_job_kind kind, const char *client_id, int include_running) {
    int n = 0;
    pthread_mutex_lock(&s->lock);
    srv_job **pp = &s->head, *prev = NULL;
    while (*pp) {
        srv_job *j = *pp;
        if (j->kind == kind && (!client_id || !strcmp(j->client_id, client_id))) {
            *pp = j->next;
            if (s->tail == j) s->tail = prev;
            finish_unrun(j);
            n++;
        } else {
            prev = j;
            pp = &j->next;
        }
    }
    srv_job *r = s->running;
    if (include_running && r && r->kind == kind && (!client_id || !strcmp(r->client_id, client_id))) {
        r->cancel = 1;
        n++;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

int srv_cancel_running(sdc_server *s, int kind) {
    pthread_mutex_lock(&s->lock);
    srv_job *r = s->running;
    int hit = r && (kind < 0 || (int)r->kind == kind);
    if (hit) r->cancel = 1;
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int srv_delete_queued(sdc_server *s, srv_job_kind kind, const char *id) {
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    for (srv_job **pp = &s->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        srv_job *j = *pp;
        if (j->kind != kind || strcmp(j->id, id) != 0) continue;
        *pp = j->next;
        if (s->tail == j) s->tail = prev;
        finish_unrun(j);
        hit = 1;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

int srv_job_cancelled(sdc_server *s, srv_job *j) {
    pthread_mutex_lock(&s->lock);
    int c = j->cancel || j->skip || s->stopping;
    pthread_mutex_unlock(&s->lock);
    return c;
}

/* ---- the worker --------------------------------------------------------------------------- */

static void *worker_main(void *arg) {
    sdc_server *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->wake, &s->lock);
        if (s->stopping) break;
        srv_job *j = s->head;
        s->head = j->next;
        if (!s->head) s->tail = NULL;
        j->next = NULL;
        j->state = SRV_RUNNING;
        s->running = j;
        pthread_mutex_unlock(&s->lock);
        if (j->kind == SRV_JOB_COMFY) srv_ws_status(s);
        j->run(s, j);
        pthread_mutex_lock(&s->lock);
        s->running = NULL;
        j->state = SRV_DONE;
        pthread_cond_broadcast(&j->done);
        int comfy = j->kind == SRV_JOB_COMFY;
        unref_locked(j);
        if (comfy) {
            pthread_mutex_unlock(&s->lock);
            srv_ws_status(s);
            pthread_mutex_lock(&s->lock);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

sdc_status srv_jobs_start(sdc_server *s, sdc_error *err) {
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) return sdc_error_set(err, SDC_ERR_OOM, "cannot start the worker thread");
    s->prog.job_count = 0;
    return SDC_OK;
}

void srv_jobs_shutdown(sdc_server *s) {
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    if (s->running) s->running->cancel = 1;
    while (s->head) {
        srv_job *j = s->head;
        s->head = j->next;
        j->http_status = 503;
        finish_unrun(j);
    }
    s->tail = NULL;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void srv_jobs_stop(sdc_server *s) {
    if (s->worker) pthread_join(s->worker, NULL);
    s->worker = 0;
}

/* ---- progress -------------------------------------------------------------------------------- */

void srv_progress_begin(sdc_server *s, const char *job, int job_count) {
    pthread_mutex_lock(&s->lock);
    srv_progress *p = &s->prog;
    p->active = 1;
    snprintf(p->job, sizeof p->job, "%s", job);
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(p->job_timestamp, sizeof p->job_timestamp, "%Y%m%d%H%M%S", &tm);
    p->started = sdc_time_now();
    p->step = p->steps = p->job_no = 0;
    p->job_count = job_count;
    p->interrupted = p->skipped = 0;
    free(p->preview_png);
    p->preview_png = NULL;
    p->preview_len = 0;
    pthread_mutex_unlock(&s->lock);
}

void srv_progress_step(sdc_server *s, int step, int steps, int job_no) {
    pthread_mutex_lock(&s->lock);
    s->prog.step = step;
    s->prog.steps = steps;
    s->prog.job_no = job_no;
    s->prog.step_time = sdc_time_now();
    pthread_mutex_unlock(&s->lock);
}

void srv_progress_preview(sdc_server *s, const sdc_image *rgb, const char *client_id) {
    uint8_t *png = NULL;
    size_t n = 0;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_png_encode(rgb, NULL, &png, &n, &err) != SDC_OK) return;
    if (client_id && client_id[0]) {
        uint8_t *frame = malloc(n + 4);
        if (frame) { /* ComfyUI: event 1 (PREVIEW_IMAGE), then the image format (2 = PNG), then the bytes */
            frame[0] = 0, frame[1] = 0, frame[2] = 0, frame[3] = 2;
            memcpy(frame + 4, png, n);
            srv_ws_send_binary(s, client_id, 1, frame, n + 4);
            free(frame);
        }
    }
    pthread_mutex_lock(&s->lock);
    free(s->prog.preview_png);
    s->prog.preview_png = png;
    s->prog.preview_len = n;
    s->prog.preview_id++;
    pthread_mutex_unlock(&s->lock);
}

void srv_progress_end(sdc_server *s) {
    pthread_mutex_lock(&s->lock);
    s->prog.active = 0;
    s->prog.job[0] = '\0';
    s->prog.step = s->prog.steps = 0;
    s->prog.job_count = 0;
    pthread_mutex_unlock(&s->lock);
}
