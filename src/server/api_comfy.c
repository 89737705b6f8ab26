/* The ComfyUI API (server.py's routes, also under /api/...): /prompt,
 * /queue, /history, /view, /upload/image, /object_info, /interrupt,
 * /free, /system_stats, /embeddings, /extensions, /models, and the
 * prompt runs on the worker with WebSocket events to the client that
 * queued them. Shapes follow ComfyUI; docs/SERVER.md lists the
 * differences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "base/util.h"
#include "image/image_io.h"
#include "server/http_util.h"
#include "server/srv_internal.h"
#include "workflow/files.h"
#include "workflow/object_info.h"

#define MAX_HISTORY 10000

typedef struct comfy_data {
    json_t *prompt, *extra_data;
} comfy_data;

static void comfy_data_free(void *p) {
    comfy_data *d = p;
    if (!d) return;
    json_decref(d->prompt);
    json_decref(d->extra_data);
    free(d);
}

/* ---- running a prompt (worker) ------------------------------------------------------------- */

typedef struct run_ctx {
    sdc_server *srv;
    srv_job *job;
    json_t *messages; /* history status messages */
} run_ctx;

static void on_event(void *user, const char *type, json_t *data) {
    run_ctx *rc = user;
    if (!strcmp(type, "execution_start") || !strcmp(type, "execution_cached") || !strcmp(type, "execution_success") ||
        !strcmp(type, "execution_error") || !strcmp(type, "execution_interrupted"))
        json_array_append_new(rc->messages, json_pack("[s, O]", type, data));
    if (!strcmp(type, "progress"))
        srv_progress_step(rc->srv, (int)json_integer_value(json_object_get(data, "value")),
                          (int)json_integer_value(json_object_get(data, "max")), 0);
    if (rc->job->client_id[0]) srv_ws_send(rc->srv, rc->job->client_id, type, data);
}

static void on_preview(void *user, const sdc_image *rgb) {
    run_ctx *rc = user;
    srv_progress_preview(rc->srv, rgb, rc->job->client_id);
}

static int cancelled(void *user) {
    run_ctx *rc = user;
    return srv_job_cancelled(rc->srv, rc->job);
}

static void add_history(sdc_server *s, srv_job *j, json_t *outputs, int ok, json_t *messages) {
    json_t *entry = json_pack("{s:O, s:O, s:{s:s, s:b, s:O}, s:{}}", "prompt", j->queue_item, "outputs", outputs, "status",
                              "status_str", ok ? "success" : "error", "completed", ok, "messages", messages, "meta");
    if (!entry) return;
    pthread_mutex_lock(&s->lock);
    if (json_object_size(s->history) >= MAX_HISTORY) { /* drop the oldest */
        void *it = json_object_iter(s->history);
        if (it) json_object_del(s->history, json_object_iter_key(it));
    }
    json_object_set_new(s->history, j->id, entry);
    pthread_mutex_unlock(&s->lock);
}

void srv_comfy_run(sdc_server *s, srv_job *j) {
    comfy_data *d = j->data;
    run_ctx rc = {.srv = s, .job = j, .messages = json_array()};
    s->env.on_event = on_event;
    s->env.on_preview = on_preview;
    s->env.cancelled = cancelled;
    s->env.user = &rc;
    srv_progress_begin(s, "comfy", 1);
    sdc_wf_graph *g = NULL;
    json_t *error = NULL, *ne = NULL, *outputs = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_status st = sdc_wf_graph_build(d->prompt, &s->env, &g, &error, &ne, &err);
    if (st) { /* the graph was valid when queued; its files may have gone */
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:[], s:s, s:s, s:[], s:{}, s:{}}", "prompt_id", j->id, "node_id", "",
                               "node_type", "", "exception_message", sdc_error_msg(&err), "executed", "exception_type",
                               "ValidationError", "traceback", "current_inputs", "current_outputs");
        on_event(&rc, "execution_error", ev);
        json_decref(ev);
    } else {
        json_t *pnginfo = json_object_get(d->extra_data, "extra_pnginfo");
        sdc_wf_result r;
        st = sdc_wf_exec_run(s->exec, g, d->prompt, json_is_object(pnginfo) ? pnginfo : NULL, j->id, &r, &err);
        outputs = r.outputs;
        if (st) sdc_logf(s->o.log, SDC_LOG_WARN, "prompt %s: %s", j->id, sdc_error_msg(&err));
    }
    json_t *out = outputs ? json_incref(outputs) : json_object();
    add_history(s, j, out, st == SDC_OK, rc.messages);
    json_decref(out);
    json_decref(outputs);
    json_decref(error), json_decref(ne), json_decref(rc.messages);
    sdc_wf_graph_free(g);
    s->env.on_event = NULL, s->env.on_preview = NULL, s->env.cancelled = NULL, s->env.user = NULL;
    srv_progress_end(s);
}

/* ---- /prompt ------------------------------------------------------------------------------------ */

static int queue_remaining(sdc_server *s) {
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (srv_job *j = s->head; j; j = j->next) n += j->kind == SRV_JOB_COMFY;
    n += s->running && s->running->kind == SRV_JOB_COMFY;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static json_t *output_ids(const sdc_wf_graph *g) {
    json_t *a = json_array();
    for (int i = 0; a && i < g->n_outputs; i++) json_array_append_new(a, json_string(g->nodes[g->outputs[i]].id));
    return a;
}

static void post_prompt(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 0);
    if (!body) return;
    json_t *prompt = json_object_get(body, "prompt");
    if (!prompt) {
        srv_json(r, 400, json_pack("{s:s, s:[]}", "error", "no prompt", "node_errors"));
        json_decref(body);
        return;
    }
    sdc_wf_graph *g = NULL;
    json_t *error = NULL, *ne = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_wf_graph_build(prompt, &s->env, &g, &error, &ne, &err) != SDC_OK) {
        srv_json(r, err.status == SDC_ERR_INVALID_ARG ? 400 : 500,
                 json_pack("{s:o, s:o}", "error", error ? error : json_string(sdc_error_msg(&err)), "node_errors", ne ? ne : json_object()));
        json_decref(body);
        return;
    }
    comfy_data *d = calloc(1, sizeof *d);
    srv_job *j = d ? srv_job_new(SRV_JOB_COMFY, srv_comfy_run, d, comfy_data_free) : NULL;
    json_t *extra = json_object_get(body, "extra_data");
    if (!j) {
        free(d);
        srv_error(r, 500, "out of memory");
    } else {
        d->prompt = json_incref(prompt);
        d->extra_data = json_is_object(extra) ? json_deep_copy(extra) : json_object();
        const char *cid = json_string_value(json_object_get(body, "client_id"));
        if (cid) {
            snprintf(j->client_id, sizeof j->client_id, "%s", cid);
            json_object_set_new(d->extra_data, "client_id", json_string(cid));
        }
        int front = json_is_true(json_object_get(body, "front"));
        json_t *num = json_object_get(body, "number");
        pthread_mutex_lock(&s->lock);
        j->number = json_is_number(num) ? json_number_value(num) : (front ? -s->next_number : s->next_number);
        s->next_number += 1;
        pthread_mutex_unlock(&s->lock);
        json_t *num_json = j->number == (double)(long long)j->number ? json_integer((json_int_t)j->number) : json_real(j->number);
        j->queue_item = json_pack("[O, s, O, O, o]", num_json, j->id, prompt, d->extra_data, output_ids(g));
        srv_json(r, 200, json_pack("{s:s, s:O, s:O}", "prompt_id", j->id, "number", num_json, "node_errors", ne));
        json_decref(num_json);
        srv_queue_push(s, j, front);
        srv_job_unref(s, j);
    }
    sdc_wf_graph_free(g);
    json_decref(error), json_decref(ne), json_decref(body);
}

/* ---- /queue, /history ------------------------------------------------------------------------------- */

static void get_queue(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *running = json_array(), *pending = json_array();
    pthread_mutex_lock(&s->lock);
    if (s->running && s->running->kind == SRV_JOB_COMFY && s->running->queue_item) json_array_append(running, s->running->queue_item);
    for (srv_job *j = s->head; j; j = j->next)
        if (j->kind == SRV_JOB_COMFY && j->queue_item) json_array_append(pending, j->queue_item);
    pthread_mutex_unlock(&s->lock);
    srv_json(r, 200, json_pack("{s:o, s:o}", "queue_running", running, "queue_pending", pending));
}

static void post_queue(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 0);
    if (!body) return;
    if (json_is_true(json_object_get(body, "clear"))) srv_cancel_jobs(s, SRV_JOB_COMFY, NULL, 0);
    json_t *del = json_object_get(body, "delete"), *id;
    size_t i;
    json_array_foreach(del, i, id) { /* queued prompts only: the running one stays, as in ComfyUI */
        if (json_is_string(id)) srv_delete_queued(s, SRV_JOB_COMFY, json_string_value(id));
    }
    json_decref(body);
    srv_ws_status(s);
    srv_bytes(r, 200, "text/plain", "", 0, NULL);
}

static void get_history(srv_req *r, const char *id) {
    sdc_server *s = r->srv;
    char buf[32];
    long max = srv_query(r, "max_items", buf, sizeof buf) > 0 ? strtol(buf, NULL, 10) : -1;
    json_t *out = json_object();
    pthread_mutex_lock(&s->lock);
    if (id) {
        json_t *e = json_object_get(s->history, id);
        if (e) json_object_set_new(out, id, json_deep_copy(e));
    } else {
        long n = (long)json_object_size(s->history), skip = max >= 0 && max < n ? n - max : 0, i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(s->history, k, v) {
            if (i++ >= skip) json_object_set_new(out, k, json_deep_copy(v));
        }
    }
    pthread_mutex_unlock(&s->lock);
    srv_json(r, 200, out);
}

static void post_history(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 0);
    if (!body) return;
    pthread_mutex_lock(&s->lock);
    if (json_is_true(json_object_get(body, "clear"))) json_object_clear(s->history);
    json_t *del = json_object_get(body, "delete"), *id;
    size_t i;
    json_array_foreach(del, i, id) if (json_is_string(id)) json_object_del(s->history, json_string_value(id));
    pthread_mutex_unlock(&s->lock);
    json_decref(body);
    srv_bytes(r, 200, "text/plain", "", 0, NULL);
}

/* ---- files ------------------------------------------------------------------------------------------ */

static const char *dir_by_type(sdc_server *s, const char *type) {
    if (!type[0] || !strcmp(type, "output")) return s->output_dir;
    if (!strcmp(type, "input")) return s->input_dir;
    if (!strcmp(type, "temp")) return s->temp_dir;
    return NULL;
}

static void get_view(srv_req *r) {
    sdc_server *s = r->srv;
    char name[1100], sub[1100] = "", type[32] = "output", rel[2300], path[4096];
    if (srv_query(r, "filename", name, sizeof name) <= 0) {
        srv_error(r, 404, "no filename");
        return;
    }
    if (srv_query(r, "type", type, sizeof type) == -2) type[0] = '?';
    const char *dir = dir_by_type(s, type);
    if (!dir || sdc_path_rel_ok(name, 0, 0)) {
        srv_error(r, 400, "invalid filename or type");
        return;
    }
    int has_sub = srv_query(r, "subfolder", sub, sizeof sub);
    if (has_sub == -2 || sdc_path_rel_ok(sub, 1, 1)) {
        srv_error(r, 403, "invalid subfolder");
        return;
    }
    snprintf(rel, sizeof rel, "%s%s%s", sub, sub[0] ? "/" : "", name);
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_path_join_within(dir, rel, path, sizeof path, &err) != SDC_OK) {
        srv_error(r, 403, "%s", sdc_error_msg(&err));
        return;
    }
    srv_file(r, path, name);
}

/* "stem (i).ext" for the i-th duplicate name */
static void numbered(const char *name, int i, char *out, size_t size) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) snprintf(out, size, "%s (%d)", name, i);
    else snprintf(out, size, "%.*s (%d)%s", (int)(dot - name), name, i, dot);
}

static int same_content(const char *path, const uint8_t *data, size_t len) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct stat st;
    int same = fstat(fileno(f), &st) == 0 && (size_t)st.st_size == len;
    uint8_t *buf = same ? malloc(65536) : NULL; /* heap: request threads have 100 KiB stacks */
    size_t off = 0, n;
    same = same && buf;
    while (same && (n = fread(buf, 1, 65536, f)) > 0) {
        same = off + n <= len && memcmp(buf, data + off, n) == 0;
        off += n;
    }
    free(buf);
    fclose(f);
    return same && off == len;
}

static void upload_parts(srv_req *r, const sdc_form *form);

static void upload_image(srv_req *r) {
    sdc_form *form = malloc(sizeof *form); /* 17 KiB: request threads have 100 KiB stacks */
    sdc_error err;
    sdc_error_clear(&err);
    if (!form) srv_error(r, 500, "out of memory");
    else if (!r->body || sdc_form_parse(r->content_type, (const uint8_t *)r->body, r->body_len, form, &err) != SDC_OK)
        srv_error(r, 400, "%s", r->body ? sdc_error_msg(&err) : "multipart body required");
    else upload_parts(r, form);
    free(form);
}

static void upload_parts(srv_req *r, const sdc_form *form) {
    sdc_server *s = r->srv;
    sdc_error err;
    sdc_error_clear(&err);
    const sdc_form_part *img = sdc_form_get(form, "image"), *ow = sdc_form_get(form, "overwrite"),
                        *tp = sdc_form_get(form, "type"), *sp = sdc_form_get(form, "subfolder");
    char type[16] = "input", sub[1100] = "", name[300], rel[1500], folder[4096], path[4096];
    if (tp) snprintf(type, sizeof type, "%.*s", (int)SDC_MIN(tp->size, 15), (const char *)tp->data);
    if (sp) snprintf(sub, sizeof sub, "%.*s", (int)SDC_MIN(sp->size, 1099), (const char *)sp->data);
    int overwrite = ow && ((ow->size == 4 && !memcmp(ow->data, "true", 4)) || (ow->size == 1 && ow->data[0] == '1'));
    const char *dir = dir_by_type(s, type);
    if (!img || !img->filename[0] || !dir || sdc_path_rel_ok(img->filename, 0, 0) || sdc_path_rel_ok(sub, 1, 1)) {
        srv_error(r, 400, "an 'image' file part with a plain file name is required (type input, temp or output)");
        return;
    }
    if (sdc_image_sniff(img->data, img->size) == SDC_IMAGE_FORMAT_UNKNOWN) {
        srv_error(r, 400, "'%s' is not a PNG, JPEG or WebP image", img->filename);
        return;
    }
    if (sdc_path_join_within(dir, sub, folder, sizeof folder, &err) || sdc_mkdirs(folder, &err) ||
        sdc_path_join_within(dir, sub, folder, sizeof folder, &err)) {
        srv_error(r, 403, "%s", sdc_error_msg(&err));
        return;
    }
    snprintf(name, sizeof name, "%s", img->filename);
    int dup = 0;
    for (int i = 1;; i++) {
        snprintf(rel, sizeof rel, "%s%s%s", sub, sub[0] ? "/" : "", name);
        if (sdc_path_join_within(dir, rel, path, sizeof path, &err)) {
            srv_error(r, 403, "%s", sdc_error_msg(&err));
            return;
        }
        if (overwrite || access(path, F_OK) != 0) break;
        if ((dup = same_content(path, img->data, img->size))) break;
        if (i > 9999) {
            srv_error(r, 409, "too many files named like '%s'", img->filename);
            return;
        }
        numbered(img->filename, i, name, sizeof name);
    }
    if (!dup && sdc_file_write_atomic(path, img->data, img->size, SDC_WRITE_OVERWRITE, &err) != SDC_OK) {
        srv_error(r, 500, "%s", sdc_error_msg(&err));
        return;
    }
    srv_json(r, 200, json_pack("{s:s, s:s, s:s}", "name", name, "subfolder", sub, "type", type));
}

/* ---- small routes --------------------------------------------------------------------------------- */

static void system_stats(srv_req *r) {
    struct sysinfo si;
    long long total = 0, avail = 0;
    if (sysinfo(&si) == 0) total = (long long)si.totalram * si.mem_unit, avail = (long long)si.freeram * si.mem_unit;
    long long page = sysconf(_SC_PAGESIZE), avpages = sysconf(_SC_AVPHYS_PAGES);
    if (page > 0 && avpages > 0) avail = page * avpages;
    srv_json(r, 200, json_pack("{s:{s:s, s:I, s:I, s:s, s:s, s:s, s:b, s:[]}, s:[{s:s, s:s, s:i, s:I, s:I, s:i, s:i}]}", "system",
                               "os", "posix", "ram_total", (json_int_t)total, "ram_free", (json_int_t)avail, "comfyui_version",
                               "sdc", "python_version", "", "pytorch_version", "", "embedded_python", 0, "argv", "devices",
                               "name", "cpu", "type", "cpu", "index", 0, "vram_total", (json_int_t)total, "vram_free",
                               (json_int_t)avail, "torch_vram_total", 0, "torch_vram_free", 0));
}

static void list_models(srv_req *r, const char *folder) {
    static const char *const kinds[] = {"checkpoints", "loras", "controlnet", "vae"};
    if (!folder) {
        srv_json(r, 200, json_pack("[s, s, s, s]", kinds[0], kinds[1], kinds[2], kinds[3]));
        return;
    }
    for (int k = 0; k < 4; k++) {
        if (strcmp(folder, kinds[k]) != 0) continue;
        sdc_name_list l;
        sdc_error err;
        sdc_error_clear(&err);
        json_t *a = json_array();
        if (sdc_catalog_list(&r->srv->cat, (sdc_cat_kind)k, &l, &err) == SDC_OK) {
            for (size_t i = 0; i < l.n; i++) json_array_append_new(a, json_string(l.names[i]));
            sdc_name_list_free(&l);
        }
        srv_json(r, 200, a);
        return;
    }
    srv_error(r, 404, "unknown model folder");
}

static void clear_cache_job(sdc_server *s, srv_job *j) {
    (void)j;
    sdc_wf_exec_clear(s->exec);
    sdc_model_cache_clear(s->cache);
}

static void post_free(srv_req *r) {
    json_t *body = srv_body_json(r, 0);
    if (!body) return;
    if (json_is_true(json_object_get(body, "unload_models")) || json_is_true(json_object_get(body, "free_memory"))) {
        srv_job *j = srv_job_new(SRV_JOB_LOAD, clear_cache_job, NULL, NULL);
        if (j) srv_queue_push(r->srv, j, 0), srv_job_unref(r->srv, j);
    }
    json_decref(body);
    srv_bytes(r, 200, "text/plain", "", 0, NULL);
}

static void object_info(srv_req *r, const char *cls) {
    if (!cls) {
        srv_json(r, 200, sdc_wf_object_info(&r->srv->env));
        return;
    }
    json_t *o = json_object();
    const sdc_wf_node_def *d = sdc_wf_node_find(cls);
    if (o && d) json_object_set_new(o, d->name, sdc_wf_object_info_node(&r->srv->env, d));
    srv_json(r, 200, o);
}

int srv_comfy_route(srv_req *r) {
    const char *p = r->path;
    if (!strncmp(p, "/api/", 5)) p += 4;
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
    if (!strcmp(p, "/prompt") && get) srv_json(r, 200, json_pack("{s:{s:i}}", "exec_info", "queue_remaining", queue_remaining(r->srv)));
    else if (!strcmp(p, "/prompt") && post) post_prompt(r);
    else if (!strcmp(p, "/queue") && get) get_queue(r);
    else if (!strcmp(p, "/queue") && post) post_queue(r);
    else if (!strcmp(p, "/history") && get) get_history(r, NULL);
    else if (!strncmp(p, "/history/", 9) && get) get_history(r, p + 9);
    else if (!strcmp(p, "/history") && post) post_history(r);
    else if (!strcmp(p, "/view") && get) get_view(r);
    else if (!strcmp(p, "/upload/image") && post) upload_image(r);
    else if (!strcmp(p, "/object_info") && get) object_info(r, NULL);
    else if (!strncmp(p, "/object_info/", 13) && get) object_info(r, p + 13);
    else if (!strcmp(p, "/interrupt") && post) {
        srv_cancel_running(r->srv, SRV_JOB_COMFY); /* ComfyUI: the running prompt only */
        srv_bytes(r, 200, "text/plain", "", 0, NULL);
    } else if (!strcmp(p, "/free") && post) post_free(r);
    else if (!strcmp(p, "/system_stats") && get) system_stats(r);
    else if ((!strcmp(p, "/embeddings") || !strcmp(p, "/extensions")) && get) srv_json(r, 200, json_array());
    else if (!strcmp(p, "/models") && get) list_models(r, NULL);
    else if (!strncmp(p, "/models/", 8) && get) list_models(r, p + 8);
    else return 0;
    return 1;
}
