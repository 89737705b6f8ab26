/* Internals shared by the server's files: the server object, requests and
 * responses, the job queue and its worker, progress state, WebSocket
 * clients, and the route handlers of each API. Not a public header. */
#ifndef SDC_SERVER_SRV_INTERNAL_H
#define SDC_SERVER_SRV_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "image/image.h"
#include "server/server.h"
#include "workflow/catalog.h"
#include "workflow/exec.h"
#include "workflow/model_cache.h"

/* ---- requests and responses ------------------------------------------------------- */

typedef struct srv_req {
    struct mg_connection *conn;
    sdc_server *srv;
    const char *method, *path, *query; /* path: decoded, without the query */
    char *body;                        /* NUL-terminated copy (NULL for GET) */
    size_t body_len;
    const char *content_type;
} srv_req;

/* Sends a JSON response and frees body (may be NULL: "null"). */
void srv_json(srv_req *r, int status, json_t *body);
void srv_bytes(srv_req *r, int status, const char *ctype, const void *data, size_t len, const char *extra_headers);
/* {"error": msg} with a status (ComfyUI / sdc routes). */
void srv_error(srv_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* FastAPI's {"detail": msg} (A1111 routes). */
void srv_detail(srv_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses the body as a JSON object; on failure answers 400 (a1111: 422
 * FastAPI style) and returns NULL. */
json_t *srv_body_json(srv_req *r, int a1111);
/* Query parameter into out; returns length or -1. */
int srv_query(const srv_req *r, const char *name, char *out, size_t size);
/* Sends a file (content type from its extension). */
void srv_file(srv_req *r, const char *path, const char *download_name);

/* ---- jobs --------------------------------------------------------------------------- */

typedef enum srv_job_kind { SRV_JOB_A1111 = 0, SRV_JOB_COMFY, SRV_JOB_DOODLE, SRV_JOB_LOAD } srv_job_kind;
typedef enum srv_job_state { SRV_QUEUED = 0, SRV_RUNNING, SRV_DONE } srv_job_state;

typedef struct srv_job srv_job;
typedef void (*srv_job_fn)(sdc_server *s, srv_job *j);

struct srv_job {
    srv_job_kind kind;
    char id[40];        /* ComfyUI prompt_id (uuid) or a generated id */
    char client_id[128];
    double number;      /* ComfyUI queue number */
    srv_job_state state;
    int cancel;         /* set under the server lock: stop between steps */
    int skip;           /* A1111 skip: stop the current batch only */
    int refs;
    pthread_cond_t done;
    srv_job_fn run;
    void *data;
    void (*free_data)(void *data);
    json_t *result;     /* set by run (sync jobs) */
    int http_status;    /* for sync jobs: 200, or the error status */
    json_t *queue_item; /* ComfyUI: [number, prompt_id, prompt, extra_data, outputs] */
    srv_job *next;
};

/* The worker: start; refuse new work and finish queued jobs as cancelled
 * (waiters wake); join. */
sdc_status srv_jobs_start(sdc_server *s, sdc_error *err);
void srv_jobs_shutdown(sdc_server *s);
void srv_jobs_stop(sdc_server *s);

srv_job *srv_job_new(srv_job_kind kind, srv_job_fn run, void *data, void (*free_data)(void *));
/* Drops a reference (under the server lock or not: takes it). */
void srv_job_unref(sdc_server *s, srv_job *j);
/* Queues j (front: at the head). Takes a reference for the queue. */
void srv_queue_push(sdc_server *s, srv_job *j, int front);
/* Waits until j is done. */
void srv_job_wait(sdc_server *s, srv_job *j);
/* Cancels queued jobs of a kind and client (NULL client = any) and, with
 * include_running, the running one when it matches; returns how many. */
int srv_cancel_jobs(sdc_server *s, srv_job_kind kind, const char *client_id, int include_running);
/* Cancels the running job if it is of this kind (-1: any); 1 when one was. */
int srv_cancel_running(sdc_server *s, int kind);
/* Removes the queued job with this id (it completes as cancelled); 1 when found. */
int srv_delete_queued(sdc_server *s, srv_job_kind kind, const char *id);
/* Should the running job stop? (polled by samplers) */
int srv_job_cancelled(sdc_server *s, srv_job *j);

/* ---- progress (A1111 /progress, ComfyUI previews) ------------------------------------ */

typedef struct srv_progress {
    int active;
    char job[64];
    char job_timestamp[32];
    double started, step_time;
    int step, steps, job_no, job_count;
    int interrupted, skipped;
    uint8_t *preview_png; /* last preview (owned) */
    size_t preview_len;
    int preview_id;
} srv_progress;

void srv_progress_begin(sdc_server *s, const char *job, int job_count);
void srv_progress_step(sdc_server *s, int step, int steps, int job_no);
/* Encodes rgb as PNG, stores it for /progress and sends it to a ComfyUI
 * client when client_id is set (binary preview frame). */
void srv_progress_preview(sdc_server *s, const sdc_image *rgb, const char *client_id);
void srv_progress_end(sdc_server *s);

/* ---- WebSocket ------------------------------------------------------------------------ */

typedef struct srv_ws_client srv_ws_client;
void srv_ws_setup(sdc_server *s);
void srv_ws_shutdown(sdc_server *s);
/* Queues {"type": type, "data": data} for client_id (NULL: everyone). Never blocks. */
void srv_ws_send(sdc_server *s, const char *client_id, const char *type, json_t *data);
/* Queues a binary frame: 4-byte big-endian event type + payload. */
void srv_ws_send_binary(sdc_server *s, const char *client_id, uint32_t event, const void *data, size_t len);
/* The ComfyUI "status" message to everyone (queue length changed). */
void srv_ws_status(sdc_server *s);

/* ---- the server ------------------------------------------------------------------------- */

#define SRV_MAX_OPTIONS 64

/* The doodle's last conditioning: a drawing session sends the same prompt
 * with every frame, so encoding it once saves ~0.1 s per frame (compute
 * worker only; no lock). key: model key text + prompts; NULL when empty. */
typedef struct srv_cond_memo {
    char *key;
    float *cond, *uncond; /* uncond NULL when cfg was 1 */
    int64_t cond_shape[3], uncond_shape[3];
} srv_cond_memo;

void srv_cond_memo_clear(srv_cond_memo *m);

struct sdc_server {
    sdc_server_opts o;
    char host[256], models_dir[1024], output_dir[1024], input_dir[1024], temp_dir[1024], web_dir[1024], api_key[256];
    char vocab[1024], root_vocab[1100];
    struct mg_context *mg;
    int port;
    sdc_catalog cat;
    sdc_pool *pool;
    sdc_model_cache *cache;
    sdc_wf_exec *exec;
    sdc_wf_env env;

    pthread_mutex_t lock; /* queue, jobs, progress, history, options */
    pthread_cond_t wake;
    pthread_t worker;
    int stopping;
    srv_job *head, *tail, *running;
    double next_number;
    srv_progress prog;
    json_t *history;      /* ComfyUI: prompt_id -> entry */
    json_t *options;      /* A1111 options as last set */
    char checkpoint[1024]; /* A1111 default checkpoint name ("" = first found) */
    int clip_skip;         /* A1111 CLIP_stop_at_last_layers (1 = last) */
    srv_cond_memo doodle_memo;

    pthread_mutex_t ws_lock;
    srv_ws_client *ws_clients;
};

/* Runs the current job's work for a ComfyUI prompt (worker thread). */
void srv_comfy_run(sdc_server *s, srv_job *j);

/* Route handlers: each returns 1 when it answered the request. */
int srv_a1111_route(srv_req *r);
int srv_comfy_route(srv_req *r);
int srv_sdc_route(srv_req *r);

/* A random UUID v4 string into out[37]. */
void srv_uuid(char out[37]);
/* Milliseconds since the epoch. */
long long srv_now_ms(void);

/* Decodes a base64 image (data: URLs too) into an RGB image (alpha
 * composited on white when flatten, else kept as decoded). Bounded by the
 * server's pixel limit; message in err. */
sdc_status srv_decode_image(sdc_server *s, const char *b64, int flatten, sdc_image *out, sdc_error *err);
/* PNG bytes of an image (with optional text chunks) as base64 (malloc'd). */
char *srv_png_base64(const sdc_image *img, const char *key, const char *value);

#endif
