/* `sdc serve`: an HTTP server speaking the A1111 web UI API
 * (/sdapi/v1/...), the ComfyUI API (/prompt, /history, /view, /ws, ...)
 * and sdc's own endpoints (/sdc/v1/...), and serving the web UI's static
 * files. docs/SERVER.md lists every endpoint and what is supported.
 *
 * Models stay loaded between requests (workflow/model_cache.h). Jobs run
 * one at a time, in order, on a single compute worker thread whose thread
 * pool does the math; request threads only parse, queue and wait, and
 * never write to a socket from the worker (WebSocket messages go through
 * per-client queues with their own sender threads). Jobs are cancelled
 * between sampler steps.
 *
 * Safety: binds 127.0.0.1 unless told otherwise; optional API key on
 * every API route; bounded bodies, JSON depth and image sizes; client
 * file names confined to their folders (workflow/files.h). */
#ifndef SDC_SERVER_SERVER_H
#define SDC_SERVER_SERVER_H

#include <stddef.h>

#include "base/error.h"
#include "base/log.h"
#include "kernels/kernels.h"
#include "tensor/dtype.h"

typedef struct sdc_server_opts {
    const char *host;       /* "127.0.0.1" */
    int port;               /* 7860; 0 picks a free port (sdc_server_port) */
    const char *models_dir; /* required */
    const char *lora_dir;   /* NULL: models_dir/loras */
    const char *output_dir; /* NULL: "output" */
    const char *input_dir;  /* NULL: "input" */
    const char *temp_dir;   /* NULL: "temp" */
    const char *web_dir;    /* NULL: no static files */
    const char *api_key;    /* NULL: no key */
    const char *vocab;      /* NULL: search beside each model */
    int threads;            /* compute threads, 0: all cores */
    int http_threads;       /* request threads, 0: 64 */
    int max_models;         /* checkpoints kept loaded, 0: 1 */
    sdc_dtype mat_dtype;    /* SDC_WLOAD_KEEP (f32), f16 or bf16 */
    sdc_compute compute;
    size_t max_body;        /* bytes, 0: 64 MiB */
    long max_pixels;        /* per generated image, 0: 4 MP */
    int previews;           /* 0 none, 1 on (TAESD when present, else latent -> RGB) */
    const sdc_log *log;
} sdc_server_opts;

void sdc_server_opts_default(sdc_server_opts *o);

typedef struct sdc_server sdc_server;

/* Starts listening and the worker. Fails when the port is taken, a folder
 * is missing or the models folder holds nothing usable. */
sdc_status sdc_server_start(const sdc_server_opts *o, sdc_server **out, sdc_error *err);
/* The port actually bound. */
int sdc_server_port(const sdc_server *s);
/* Stops accepting, cancels the running job, drops queued ones, joins the
 * worker and frees everything. NULL-safe. */
void sdc_server_stop(sdc_server *s);

#endif
