/* `sdc serve`: runs the HTTP server (src/server) until SIGINT / SIGTERM,
 * then shuts down cleanly (the running job is cancelled between steps,
 * queued requests are answered, models are freed). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "models/wload.h"
#include "server/server.h"

typedef struct serve_opts {
    const char *host, *models, *loras, *output, *input, *temp, *web, *api_key, *vocab, *precision, *port_file, *preview;
    int port, threads, http_threads, max_models, max_body_mb;
    bool verbose;
} serve_opts;

static void log_stderr(void *user, sdc_log_level level, const char *msg) {
    (void)user;
    fprintf(stderr, "%s%s\n", level >= SDC_LOG_WARN ? "warning: " : "", msg);
}

static int fail(const char *msg) {
    fprintf(stderr, "sdc serve: %s\n", msg);
    return 2;
}

static int make_server_opts(const serve_opts *o, sdc_server_opts *so) {
    sdc_server_opts_default(so);
    so->host = o->host;
    so->port = o->port;
    so->models_dir = o->models;
    so->lora_dir = o->loras;
    so->output_dir = o->output;
    so->input_dir = o->input;
    so->temp_dir = o->temp;
    so->web_dir = o->web;
    so->api_key = o->api_key;
    so->vocab = o->vocab;
    so->threads = o->threads;
    so->http_threads = o->http_threads;
    so->max_models = o->max_models;
    so->max_body = (size_t)o->max_body_mb << 20;
    if (!o->web && access("web/index.html", R_OK) == 0) so->web_dir = "web";
    if (!strcmp(o->precision, "f32")) so->mat_dtype = SDC_WLOAD_KEEP, so->compute = SDC_COMPUTE_F32;
    else if (!strcmp(o->precision, "bf16")) so->mat_dtype = SDC_WLOAD_KEEP, so->compute = SDC_COMPUTE_BF16;
    else if (!strcmp(o->precision, "f16")) so->mat_dtype = SDC_DTYPE_F16, so->compute = SDC_COMPUTE_F32;
    else return fail("--precision must be f32, bf16 or f16");
    if (!strcmp(o->preview, "none")) so->previews = 0;
    else if (strcmp(o->preview, "auto")) return fail("--preview must be auto or none");
    if (!o->models) return fail("--models-dir is required (see --help)");
    return 0;
}

int sdc_cmd_serve(int argc, char **argv) {
    serve_opts o = {.host = "127.0.0.1", .port = 7860, .precision = "f32", .preview = "auto", .max_body_mb = 64};
    const sdc_arg args[] = {
        {"--host", NULL, SDC_ARG_STRING, &o.host, 0, 0, "address to listen on (127.0.0.1; 0.0.0.0 for every interface)", "ADDR"},
        {"--port", "-p", SDC_ARG_INT, &o.port, 0, 65535, "port (7860; 0 picks a free one)", "N"},
        {"--models-dir", "-m", SDC_ARG_STRING, &o.models, 0, 0, "checkpoints; loras/, controlnet/, vae/ inside (required)", "DIR"},
        {"--lora-dir", NULL, SDC_ARG_STRING, &o.loras, 0, 0, "LoRA folder (MODELS/loras)", "DIR"},
        {"--output-dir", "-o", SDC_ARG_STRING, &o.output, 0, 0, "where images are saved (./output)", "DIR"},
        {"--input-dir", NULL, SDC_ARG_STRING, &o.input, 0, 0, "uploaded images (./input)", "DIR"},
        {"--temp-dir", NULL, SDC_ARG_STRING, &o.temp, 0, 0, "preview images (./temp)", "DIR"},
        {"--web-dir", NULL, SDC_ARG_STRING, &o.web, 0, 0, "static web UI served at / (./web when present)", "DIR"},
        {"--api-key", NULL, SDC_ARG_STRING, &o.api_key, 0, 0, "require this key (Authorization: Bearer KEY or X-API-Key)", "KEY"},
        {"--vocab", NULL, SDC_ARG_STRING, &o.vocab, 0, 0, "CLIP vocabulary for models without a tokenizer", "PATH"},
        {"--threads", "-t", SDC_ARG_INT, &o.threads, 0, 1024, "compute threads (0: all cores)", "N"},
        {"--http-threads", NULL, SDC_ARG_INT, &o.http_threads, 0, 1024, "request threads (64)", "N"},
        {"--max-models", NULL, SDC_ARG_INT, &o.max_models, 0, 8, "checkpoints kept loaded (1)", "N"},
        {"--max-body-mb", NULL, SDC_ARG_INT, &o.max_body_mb, 1, 4096, "largest request body in MiB (64)", "N"},
        {"--precision", NULL, SDC_ARG_STRING, &o.precision, 0, 0, "f32 (exact, default), bf16 (fast), f16", "P"},
        {"--preview", NULL, SDC_ARG_STRING, &o.preview, 0, 0, "step previews: auto (TAESD when present) or none", "MODE"},
        {"--port-file", NULL, SDC_ARG_STRING, &o.port_file, 0, 0, "write the bound port here once listening", "FILE"},
        {"--verbose", "-v", SDC_ARG_FLAG, &o.verbose, 0, 0, "log model loads and requests", NULL},
    };
    int rc = sdc_args_parse(argc, argv, args, (int)(sizeof args / sizeof args[0]), "sdc serve --models-dir DIR [options]",
                            "Serves the A1111 API (/sdapi/v1/...), the ComfyUI API (/prompt, /ws, ...) and the web UI.\n"
                            "docs/SERVER.md lists the endpoints.\n",
                            NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    sdc_server_opts so;
    if ((rc = make_server_opts(&o, &so))) return rc;
    sdc_log log = {.fn = log_stderr, .level = o.verbose ? SDC_LOG_DEBUG : SDC_LOG_WARN};
    so.log = &log;
    /* signals go to sigwait below, never to the server's threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sdc_server *s;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_status st = sdc_server_start(&so, &s, &err);
    if (st) {
        fprintf(stderr, "sdc serve: %s\n", sdc_error_msg(&err));
        return st == SDC_ERR_IO || st == SDC_ERR_INVALID_ARG ? 2 : 1;
    }
    fprintf(stderr, "sdc serve: listening on http://%s:%d (models: %s%s)\n", o.host, sdc_server_port(s), o.models,
            o.api_key ? ", API key required" : "");
    if (o.port_file) {
        FILE *f = fopen(o.port_file, "w");
        if (f) fprintf(f, "%d\n", sdc_server_port(s)), fclose(f);
    }
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "sdc serve: %s, shutting down\n", sig == SIGINT ? "interrupted" : "terminated");
    sdc_server_stop(s);
    return 0;
}
