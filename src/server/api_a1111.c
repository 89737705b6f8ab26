/* The A1111 web UI API routes (/sdapi/v1/...) other than the generation
 * itself (a1111_gen.c): samplers, schedulers, model lists, options,
 * progress with live previews, interrupt / skip, png-info, memory,
 * cmd-flags, and the few sd-webui-controlnet routes clients probe.
 * Response shapes are A1111's; docs/SERVER.md notes what is fixed or
 * empty here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "base/util.h"
#include "formats/file_hash.h"
#include "image/image_io.h"
#include "image/infotext.h"
#include "image/png_io.h"
#include "server/a1111.h"
#include "server/http_util.h"

/* ---- samplers and schedulers --------------------------------------------------------------------- */

static const srv_a1111_sampler k_samplers[] = {
    {"DPM++ 2M", {"k_dpmpp_2m", NULL}, SDC_SAMPLER_DPMPP_2M, "karras", "{\"scheduler\": \"karras\"}"},
    {"DPM++ SDE", {"k_dpmpp_sde", NULL}, SDC_SAMPLER_DPMPP_SDE, "karras", "{\"scheduler\": \"karras\", \"second_order\": true, \"brownian_noise\": true}"},
    {"DPM++ 2M SDE", {"k_dpmpp_2m_sde", NULL}, SDC_SAMPLER_DPMPP_2M_SDE, "exponential", "{\"scheduler\": \"exponential\", \"brownian_noise\": true}"},
    {"DPM++ 2M SDE Heun", {"k_dpmpp_2m_sde_heun", NULL}, SDC_SAMPLER_DPMPP_2M_SDE_HEUN, "exponential",
     "{\"scheduler\": \"exponential\", \"brownian_noise\": true, \"solver_type\": \"heun\"}"},
    {"DPM++ 2S a", {"k_dpmpp_2s_a", NULL}, SDC_SAMPLER_DPMPP_2S_ANCESTRAL, "karras", "{\"scheduler\": \"karras\", \"uses_ensd\": true, \"second_order\": true}"},
    {"DPM++ 3M SDE", {"k_dpmpp_3m_sde", NULL}, SDC_SAMPLER_DPMPP_3M_SDE, "exponential",
     "{\"scheduler\": \"exponential\", \"discard_next_to_last_sigma\": true, \"brownian_noise\": true}"},
    {"Euler a", {"k_euler_a", "k_euler_ancestral", NULL}, SDC_SAMPLER_EULER_ANCESTRAL, "uniform", "{\"uses_ensd\": true}"},
    {"Euler", {"k_euler", NULL}, SDC_SAMPLER_EULER, "uniform", "{}"},
    {"LMS", {"k_lms", NULL}, SDC_SAMPLER_LMS, "uniform", "{}"},
    {"Heun", {"k_heun", NULL}, SDC_SAMPLER_HEUN, "uniform", "{\"second_order\": true}"},
    {"DPM2", {"k_dpm_2", NULL}, SDC_SAMPLER_DPM_2, "karras", "{\"scheduler\": \"karras\", \"discard_next_to_last_sigma\": true, \"second_order\": true}"},
    {"DPM2 a", {"k_dpm_2_a", NULL}, SDC_SAMPLER_DPM_2_ANCESTRAL, "karras",
     "{\"scheduler\": \"karras\", \"discard_next_to_last_sigma\": true, \"uses_ensd\": true, \"second_order\": true}"},
    {"DDPM", {"k_ddpm", NULL}, SDC_SAMPLER_DDPM, "uniform", "{}"},
    {"DDIM", {"ddim", NULL}, SDC_SAMPLER_DDIM, "ddim", "{}"},
    {"LCM", {"k_lcm", NULL}, SDC_SAMPLER_LCM, "uniform", "{}"},
    {"UniPC", {"unipc", NULL}, SDC_SAMPLER_UNI_PC_BH2, "uniform", "{}"},
};

/* A1111's scheduler names; "uniform" and "normal" are both k-diffusion's
 * get_sigmas (sdc normal_comfy), "ddim" is the DDIM timestep rule */
static const srv_a1111_scheduler k_schedulers[] = {
    {"uniform", "Uniform", SDC_SCHED_NORMAL_COMFY}, {"karras", "Karras", SDC_SCHED_KARRAS},
    {"exponential", "Exponential", SDC_SCHED_EXPONENTIAL}, {"sgm_uniform", "SGM Uniform", SDC_SCHED_SGM_UNIFORM},
    {"kl_optimal", "KL Optimal", SDC_SCHED_KL_OPTIMAL}, {"simple", "Simple", SDC_SCHED_SIMPLE},
    {"normal", "Normal", SDC_SCHED_NORMAL_COMFY}, {"ddim", "DDIM", SDC_SCHED_DDIM_UNIFORM}, {"beta", "Beta", SDC_SCHED_BETA},
};

const srv_a1111_sampler *srv_a1111_samplers(int *n) {
    *n = (int)SDC_ARRAY_LEN(k_samplers);
    return k_samplers;
}

const srv_a1111_scheduler *srv_a1111_schedulers(int *n) {
    *n = (int)SDC_ARRAY_LEN(k_schedulers);
    return k_schedulers;
}

static const srv_a1111_scheduler *find_scheduler(const char *name) {
    for (size_t i = 0; name && i < SDC_ARRAY_LEN(k_schedulers); i++)
        if (!strcasecmp(k_schedulers[i].name, name) || !strcasecmp(k_schedulers[i].label, name)) return &k_schedulers[i];
    return NULL;
}

int srv_a1111_resolve_sampler(const char *sampler, const char *scheduler, sdc_sampler_kind *kind, sdc_scheduler *sched,
                              char *sampler_label, char *sched_label, size_t label_size, char *msg, size_t msg_size) {
    const srv_a1111_sampler *hit = NULL;
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_samplers) && !hit; i++) {
        if (!strcasecmp(k_samplers[i].name, sampler)) hit = &k_samplers[i];
        for (int a = 0; !hit && k_samplers[i].aliases[a]; a++)
            if (!strcasecmp(k_samplers[i].aliases[a], sampler)) hit = &k_samplers[i];
    }
    int implied = 0;
    sdc_scheduler implied_sched = SDC_SCHED_NORMAL_COMFY;
    const srv_a1111_scheduler *auto_sched = NULL;
    if (hit) {
        *kind = hit->kind;
        auto_sched = find_scheduler(hit->scheduler);
        snprintf(sampler_label, label_size, "%s", hit->name);
    } else { /* "DPM++ 2M Karras" (older A1111) or a ComfyUI / sdc name */
        sdc_error err;
        sdc_error_clear(&err);
        if (sdc_sampler_from_name(sampler, kind, &implied_sched, &implied, &err) != SDC_OK) {
            snprintf(msg, msg_size, "Sampler not found: %s", sampler);
            return -1;
        }
        snprintf(sampler_label, label_size, "%s", sampler);
        auto_sched = find_scheduler(implied ? sdc_scheduler_name(implied_sched) : "uniform");
    }
    const srv_a1111_scheduler *sc = !scheduler || !strcasecmp(scheduler, "automatic") ? auto_sched : find_scheduler(scheduler);
    if (!sc) {
        snprintf(msg, msg_size, "scheduler '%s' is not supported", scheduler);
        return -1;
    }
    *sched = sc->kind;
    snprintf(sched_label, label_size, "%s", sc->label);
    return 0;
}

int srv_a1111_default_checkpoint(sdc_server *s, char *name, size_t size) {
    pthread_mutex_lock(&s->lock);
    snprintf(name, size, "%s", s->checkpoint);
    pthread_mutex_unlock(&s->lock);
    if (name[0]) return 0;
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_catalog_list(&s->cat, SDC_CAT_CHECKPOINT, &l, &err) != SDC_OK || l.n == 0) return -1;
    snprintf(name, size, "%s", l.names[0]);
    sdc_name_list_free(&l);
    return 0;
}

/* ---- lists --------------------------------------------------------------------------------------- */

static void get_samplers(srv_req *r) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < SDC_ARRAY_LEN(k_samplers); i++) {
        json_t *aliases = json_array();
        for (int k = 0; k_samplers[i].aliases[k]; k++) json_array_append_new(aliases, json_string(k_samplers[i].aliases[k]));
        json_array_append_new(a, json_pack("{s:s, s:o, s:o}", "name", k_samplers[i].name, "aliases", aliases, "options",
                                           json_loads(k_samplers[i].options, 0, NULL)));
    }
    srv_json(r, 200, a);
}

static void get_schedulers(srv_req *r) {
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s, s:s, s:n, s:i, s:b}", "name", "automatic", "label", "Automatic", "aliases",
                                       "default_rho", -1, "need_inner_model", 0));
    for (size_t i = 0; a && i < SDC_ARRAY_LEN(k_schedulers); i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:n, s:f, s:b}", "name", k_schedulers[i].name, "label", k_schedulers[i].label,
                                           "aliases", "default_rho", k_schedulers[i].kind == SDC_SCHED_KARRAS ? 7.0 : -1.0,
                                           "need_inner_model", 0));
    srv_json(r, 200, a);
}

/* the config file beside a checkpoint (A1111 reads NAME.yaml), or NULL */
static json_t *config_of(const char *path) {
    char yaml[2100];
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return json_null();
    snprintf(yaml, sizeof yaml, "%.*s.yaml", (int)(dot - path), path);
    return access(yaml, R_OK) == 0 ? json_string(yaml) : json_null();
}

/* A1111's title of a listed checkpoint: "name [short hash]" once the file
 * was hashed (a load hashes it), else the name; sha gets the whole hash
 * (or ""). Returns whether the file was hashed. */
static bool checkpoint_title(const char *name, const char *path, char *title, size_t size, char sha[65]) {
    bool hashed = path && sdc_file_sha256_cached(path, sha);
    if (hashed) snprintf(title, size, "%s [%.10s]", name, sha);
    else snprintf(title, size, "%s", name), sha[0] = '\0';
    return hashed;
}

static void get_models(srv_req *r, sdc_cat_kind kind) {
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    json_t *a = json_array();
    if (sdc_catalog_list(&r->srv->cat, kind, &l, &err) == SDC_OK) {
        for (size_t i = 0; a && i < l.n; i++) {
            char stem[512];
            sdc_catalog_stem(l.names[i], stem, sizeof stem);
            if (kind == SDC_CAT_CHECKPOINT) {
                char sha[65], title[SDC_MODEL_PATH_MAX + 16];
                bool hashed = checkpoint_title(l.names[i], l.paths[i], title, sizeof title, sha);
                json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:s, s:o}", "title", title, "model_name", stem,
                                                   "hash", hashed ? json_stringn(sha, 10) : json_null(), "sha256",
                                                   hashed ? json_string(sha) : json_null(), "filename", l.paths[i],
                                                   "config", config_of(l.paths[i])));
            } else if (kind == SDC_CAT_VAE) {
                json_array_append_new(a, json_pack("{s:s, s:s}", "model_name", l.names[i], "filename", l.paths[i]));
            } else {
                json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:{}}", "name", stem, "alias", stem, "path", l.paths[i], "metadata"));
            }
        }
        sdc_name_list_free(&l);
    }
    srv_json(r, 200, a);
}

/* ---- options --------------------------------------------------------------------------------------------- */

static json_t *options_json(sdc_server *s) {
    char ckpt[SDC_MODEL_PATH_MAX] = "";
    srv_a1111_default_checkpoint(s, ckpt, sizeof ckpt);
    pthread_mutex_lock(&s->lock);
    json_t *o = json_deep_copy(s->options);
    int clip = s->clip_skip;
    pthread_mutex_unlock(&s->lock);
    if (!o) return NULL;
    char path[SDC_MODEL_PATH_MAX], sha[65], title[SDC_MODEL_PATH_MAX + 16];
    sdc_error err;
    sdc_error_clear(&err);
    bool found = ckpt[0] && sdc_catalog_find(&s->cat, SDC_CAT_CHECKPOINT, ckpt, path, sizeof path, NULL, 0, &err) == SDC_OK;
    bool hashed = checkpoint_title(ckpt, found ? path : NULL, title, sizeof title, sha);
    json_object_set_new(o, "sd_model_checkpoint", json_string(title));
    json_object_set_new(o, "sd_checkpoint_hash", hashed ? json_string(sha) : json_null());
    json_object_set_new(o, "CLIP_stop_at_last_layers", json_integer(clip));
    if (!json_object_get(o, "sd_vae")) json_object_set_new(o, "sd_vae", json_string("Automatic"));
    json_object_set_new(o, "samples_format", json_string("png"));
    json_object_set_new(o, "outdir_samples", json_string(s->output_dir));
    json_object_set_new(o, "randn_source", json_string("NV"));
    json_object_set_new(o, "eta_noise_seed_delta", json_integer(0));
    json_object_set_new(o, "live_previews_enable", json_boolean(s->o.previews));
    json_object_set_new(o, "show_progress_every_n_steps", json_integer(1));
    return o;
}

static void load_job(sdc_server *s, srv_job *j) {
    sdc_model_key *key = j->data;
    sdc_sd_model *m;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_model_cache_checkpoint(s->cache, key, &m, &err) != SDC_OK) {
        j->http_status = 500;
        j->result = json_pack("{s:s}", "detail", sdc_error_msg(&err));
    }
}

/* sd_model_checkpoint: resolves, loads (A1111 answers once loaded) */
static int set_checkpoint(srv_req *r, const char *name) {
    sdc_server *s = r->srv;
    sdc_model_key *key = calloc(1, sizeof *key);
    char listed[SDC_MODEL_PATH_MAX];
    sdc_error err;
    sdc_error_clear(&err);
    if (!key || sdc_catalog_find(&s->cat, SDC_CAT_CHECKPOINT, name, key->path, sizeof key->path, listed, sizeof listed, &err)) {
        free(key);
        srv_detail(r, 404, "%s", key ? sdc_error_msg(&err) : "out of memory");
        return -1;
    }
    srv_job *j = srv_job_new(SRV_JOB_LOAD, load_job, key, free);
    if (!j) {
        free(key);
        srv_detail(r, 500, "out of memory");
        return -1;
    }
    srv_queue_push(s, j, 0);
    srv_job_wait(s, j);
    int ok = j->http_status == 200 && !j->result;
    if (!ok) srv_json(r, j->http_status == 200 ? 500 : j->http_status, json_incref(j->result));
    srv_job_unref(s, j);
    if (!ok) return -1;
    pthread_mutex_lock(&s->lock);
    snprintf(s->checkpoint, sizeof s->checkpoint, "%s", listed);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void post_options(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 1);
    if (!body) return;
    json_t *cs = json_object_get(body, "CLIP_stop_at_last_layers");
    if (cs && (!json_is_integer(cs) || json_integer_value(cs) < 1 || json_integer_value(cs) > 12)) {
        srv_json(r, 422, json_pack("{s:[{s:[s,s], s:s, s:s}]}", "detail", "loc", "body", "CLIP_stop_at_last_layers", "msg",
                                   "an integer from 1 to 12 is required", "type", "value_error"));
        json_decref(body);
        return;
    }
    const char *ckpt = json_string_value(json_object_get(body, "sd_model_checkpoint"));
    if (ckpt && set_checkpoint(r, ckpt)) {
        json_decref(body);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (cs) s->clip_skip = (int)json_integer_value(cs);
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) { /* kept and echoed; only the two above change anything */
        if (strcmp(k, "sd_model_checkpoint") && strcmp(k, "CLIP_stop_at_last_layers") && json_object_size(s->options) < 1000)
            json_object_set(s->options, k, v);
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(body);
    srv_json(r, 200, NULL);
}

/* ---- progress, interrupt, skip -------------------------------------------------------------------------- */

static void get_progress(srv_req *r) {
    sdc_server *s = r->srv;
    char skip[16] = "";
    srv_query(r, "skip_current_image", skip, sizeof skip);
    pthread_mutex_lock(&s->lock);
    srv_progress p = s->prog;
    char *b64 = NULL;
    if (p.active && p.preview_png && strcasecmp(skip, "true") != 0) {
        sdc_error err;
        sdc_error_clear(&err);
        sdc_b64_encode(p.preview_png, p.preview_len, &b64, NULL, &err);
    }
    pthread_mutex_unlock(&s->lock);
    double progress = 0, eta = 0, elapsed = p.active ? sdc_time_now() - p.started : 0;
    if (p.active && p.job_count > 0) {
        progress = ((double)p.job_no + (p.steps ? (double)p.step / p.steps : 0.0)) / p.job_count;
        if (progress > 0.01) eta = elapsed / progress - elapsed;
    }
    json_t *state = json_pack("{s:b, s:b, s:b, s:s, s:i, s:s, s:i, s:i, s:i}", "skipped", p.skipped, "interrupted",
                              p.interrupted, "stopping_generation", 0, "job", p.active ? p.job : "", "job_count",
                              p.active ? p.job_count : 0, "job_timestamp", p.job_timestamp, "job_no", p.job_no,
                              "sampling_step", p.step, "sampling_steps", p.steps);
    json_t *o = json_pack("{s:f, s:f, s:o, s:n, s:n}", "progress", progress, "eta_relative", eta, "state", state,
                          "current_image", "textinfo");
    if (o && b64) json_object_set_new(o, "current_image", json_string(b64));
    free(b64);
    srv_json(r, 200, o);
}

static void post_interrupt(srv_req *r, int skip) {
    sdc_server *s = r->srv;
    pthread_mutex_lock(&s->lock);
    srv_job *j = s->running;
    if (j && j->kind != SRV_JOB_LOAD) {
        if (skip) j->skip = 1, s->prog.skipped = 1;
        else j->cancel = 1, s->prog.interrupted = 1;
    }
    pthread_mutex_unlock(&s->lock);
    srv_json(r, 200, json_object());
}

/* ---- png-info, memory, flags -------------------------------------------------------------------------------- */

static void png_info(srv_req *r) {
    json_t *body = srv_body_json(r, 1);
    if (!body) return;
    const char *b64 = json_string_value(json_object_get(body, "image"));
    uint8_t *bytes = NULL;
    size_t n = 0;
    sdc_image_meta meta = {0};
    sdc_error err;
    sdc_error_clear(&err);
    if (!b64 || sdc_b64_decode(b64, strlen(b64), &bytes, &n, &err) || !sdc_png_is_png(bytes, n) ||
        sdc_png_decode(bytes, n, SDC_PNG_TEXT, NULL, &meta, &err)) {
        /* an unreadable image: A1111 answers with empty info */
        srv_json(r, 200, json_pack("{s:s, s:{}, s:{}}", "info", "", "items", "parameters"));
    } else {
        const char *info = sdc_image_meta_get(&meta, "parameters");
        json_t *items = json_object(), *params = json_object();
        for (size_t i = 0; i < meta.count; i++)
            if (strcmp(meta.items[i].key, "parameters")) json_object_set_new(items, meta.items[i].key, json_string(meta.items[i].value));
        sdc_gen_params p;
        if (info && sdc_infotext_split(info, &p, &err) == SDC_OK) {
            json_object_set_new(params, "Prompt", json_string(p.prompt));
            json_object_set_new(params, "Negative prompt", json_string(p.negative_prompt));
            for (size_t i = 0; i < p.n_extra; i++) {
                const char *k = p.extra[i].key, *v = p.extra[i].value ? p.extra[i].value : p.extra[i].key;
                int w, h;
                char tail;
                if (!strcmp(k, "Size") && sscanf(v, "%dx%d%c", &w, &h, &tail) == 2) { /* A1111 splits WxH */
                    json_object_set_new(params, "Size-1", json_sprintf("%d", w));
                    json_object_set_new(params, "Size-2", json_sprintf("%d", h));
                } else {
                    json_object_set_new(params, k, json_string(v));
                }
            }
        }
        sdc_gen_params_free(&p);
        srv_json(r, 200, json_pack("{s:s, s:o, s:o}", "info", info ? info : "", "items", items, "parameters", params));
    }
    free(bytes);
    sdc_image_meta_free(&meta);
    json_decref(body);
}

static void memory(srv_req *r) {
    struct sysinfo si;
    double total = 0, free_b = 0;
    if (sysinfo(&si) == 0) total = (double)si.totalram * si.mem_unit, free_b = (double)si.freeram * si.mem_unit;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    srv_json(r, 200, json_pack("{s:{s:f, s:f, s:f, s:f}, s:{s:s}}", "ram", "free", free_b, "used", total - free_b, "total",
                               total, "peak_process", (double)ru.ru_maxrss * 1024.0, "cuda", "error",
                               "sdc runs on the CPU: no CUDA"));
}

static void cmd_flags(srv_req *r) {
    sdc_server *s = r->srv;
    srv_json(r, 200, json_pack("{s:b, s:b, s:i, s:s, s:s, s:s, s:s, s:b, s:b, s:s}", "api", 1, "listen",
                               strcmp(s->host, "127.0.0.1") != 0, "port", s->port, "ckpt_dir", s->models_dir, "lora_dir",
                               s->cat.dirs[SDC_CAT_LORA], "controlnet_dir", s->cat.dirs[SDC_CAT_CONTROLNET], "vae_dir",
                               s->cat.dirs[SDC_CAT_VAE], "api_auth", s->api_key[0] != 0, "nowebui", !s->web_dir[0],
                               "data_dir", s->output_dir));
}

static void controlnet_lists(srv_req *r, int modules) {
    if (modules) {
        srv_json(r, 200, json_pack("{s:[s,s,s,s,s]}", "module_list", "none", "canny", "invert", "scribble", "scribble_xdog"));
        return;
    }
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    json_t *a = json_array();
    if (sdc_catalog_list(&r->srv->cat, SDC_CAT_CONTROLNET, &l, &err) == SDC_OK) {
        for (size_t i = 0; i < l.n; i++) {
            char stem[512];
            sdc_catalog_stem(l.names[i], stem, sizeof stem);
            json_array_append_new(a, json_string(stem));
        }
        sdc_name_list_free(&l);
    }
    srv_json(r, 200, json_pack("{s:o}", "model_list", a));
}

int srv_a1111_route(srv_req *r) {
    const char *p = r->path;
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"), post = !strcmp(r->method, "POST");
    if (!strcmp(p, "/controlnet/model_list") && get) controlnet_lists(r, 0);
    else if (!strcmp(p, "/controlnet/module_list") && get) controlnet_lists(r, 1);
    else if (!strcmp(p, "/controlnet/version") && get) srv_json(r, 200, json_pack("{s:i}", "version", 2));
    else if (strncmp(p, "/sdapi/v1/", 10)) return 0;
    else if (!strcmp(p + 10, "txt2img") && post) srv_a1111_generate(r, 0);
    else if (!strcmp(p + 10, "img2img") && post) srv_a1111_generate(r, 1);
    else if (!strcmp(p + 10, "progress") && get) get_progress(r);
    else if (!strcmp(p + 10, "interrupt") && post) post_interrupt(r, 0);
    else if (!strcmp(p + 10, "skip") && post) post_interrupt(r, 1);
    else if (!strcmp(p + 10, "samplers") && get) get_samplers(r);
    else if (!strcmp(p + 10, "schedulers") && get) get_schedulers(r);
    else if (!strcmp(p + 10, "sd-models") && get) get_models(r, SDC_CAT_CHECKPOINT);
    else if (!strcmp(p + 10, "sd-vae") && get) get_models(r, SDC_CAT_VAE);
    else if (!strcmp(p + 10, "loras") && get) get_models(r, SDC_CAT_LORA);
    else if ((!strcmp(p + 10, "upscalers") || !strcmp(p + 10, "latent-upscale-modes") || !strcmp(p + 10, "prompt-styles") ||
              !strcmp(p + 10, "face-restorers") || !strcmp(p + 10, "realesrgan-models") || !strcmp(p + 10, "hypernetworks") ||
              !strcmp(p + 10, "script-info") || !strcmp(p + 10, "extensions")) && get)
        srv_json(r, 200, json_array());
    else if (!strcmp(p + 10, "scripts") && get) srv_json(r, 200, json_pack("{s:[], s:[]}", "txt2img", "img2img"));
    else if (!strcmp(p + 10, "embeddings") && get) srv_json(r, 200, json_pack("{s:{}, s:{}}", "loaded", "skipped"));
    else if (!strcmp(p + 10, "png-info") && post) png_info(r);
    else if (!strcmp(p + 10, "options") && get) srv_json(r, 200, options_json(r->srv));
    else if (!strcmp(p + 10, "options") && post) post_options(r);
    else if (!strcmp(p + 10, "cmd-flags") && get) cmd_flags(r);
    else if (!strcmp(p + 10, "memory") && get) memory(r);
    else if ((!strcmp(p + 10, "refresh-checkpoints") || !strcmp(p + 10, "refresh-loras") || !strcmp(p + 10, "refresh-vae")) && post)
        srv_json(r, 200, NULL); /* listings are read live */
    else if (!strcmp(p + 10, "sd-modules") && get) srv_json(r, 200, json_array());
    else srv_detail(r, 404, "Not Found");
    return 1;
}
