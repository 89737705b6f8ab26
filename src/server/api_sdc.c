/* sdc's own endpoints: GET /sdc/v1/info (what the web UI needs to build
 * its menus) and POST /sdc/v1/doodle (the doodle canvas: a sketch and a
 * prompt in, a quick picture out).
 *
 * Doodle: with a ControlNet whose name contains "scribble" (or the one
 * named), the sketch becomes a scribble control image (dark strokes ->
 * white on black) and the picture is made from noise; without one, the
 * sketch is the img2img start (denoise 0.85 by default). An LCM LoRA
 * (named, or the first LoRA whose name contains "lcm") turns on the lcm
 * sampler. Encoding and decoding use TAESD when DIR/vae has it. A newer
 * request with the same client_id cancels an older one (queued or
 * between two steps), which then answers 409 {"cancelled": true}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "image/preprocess.h"
#include "image/resize.h"
#include "pipeline/conditioning.h"
#include "pipeline/ksample.h"
#include "sample/sampler.h"
#include "server/a1111.h"
#include "workflow/control.h"
#include "workflow/nodes_common.h"
#include "workflow/preview.h"

typedef struct doodle {
    char *prompt, *negative;
    sdc_image sketch; /* RGB at width x height */
    float *hint;      /* scribble control [H, W, 3], or NULL */
    char cn_path[SDC_MODEL_PATH_MAX];
    sdc_model_key key;
    int width, height, steps;
    float cfg, strength, denoise;
    uint64_t seed;
    sdc_sampler_kind sampler;
    sdc_scheduler scheduler;
    json_t *frame_id;
    double queued;
} doodle;

static void doodle_free(void *p) {
    doodle *d = p;
    if (!d) return;
    free(d->prompt), free(d->negative), free(d->hint);
    sdc_image_free(&d->sketch);
    json_decref(d->frame_id);
    free(d);
}

/* first listed name containing `part` (case-insensitive) into out; 0 when found */
static int find_containing(sdc_server *s, sdc_cat_kind kind, const char *part, char *out, size_t size) {
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    int found = -1;
    if (sdc_catalog_list(&s->cat, kind, &l, &err) != SDC_OK) return -1;
    for (size_t i = 0; i < l.n && found; i++)
        if (strcasestr(l.names[i], part)) snprintf(out, size, "%s", l.names[i]), found = 0;
    sdc_name_list_free(&l);
    return found;
}

/* a named model, "" / "none" for none, or (auto) the first containing `part` */
static int pick(sdc_server *s, json_t *body, const char *field, sdc_cat_kind kind, const char *part, char *path,
                char *msg, size_t msg_size) {
    const char *want = json_string_value(json_object_get(body, field));
    char name[SDC_MODEL_PATH_MAX];
    sdc_error err;
    sdc_error_clear(&err);
    path[0] = '\0';
    if (want && (!want[0] || !strcasecmp(want, "none"))) return 0;
    if (!want) {
        if (find_containing(s, kind, part, name, sizeof name)) return 0;
        want = name;
    }
    if (sdc_catalog_find(&s->cat, kind, want, path, SDC_MODEL_PATH_MAX, NULL, 0, &err)) {
        snprintf(msg, msg_size, "%s", sdc_error_msg(&err));
        return 404;
    }
    return 0;
}

static double num(json_t *body, const char *k, double def, double lo, double hi) {
    json_t *v = json_object_get(body, k);
    double x = json_is_number(v) ? json_number_value(v) : def;
    return x < lo ? lo : (x > hi ? hi : x);
}

static sdc_status make_hint(doodle *d, sdc_error *err) {
    sdc_image thr = {0};
    sdc_status st = sdc_scribble_threshold(&d->sketch, SDC_SCRIBBLE_THRESHOLD_DEFAULT, &thr, err);
    size_t n = (size_t)d->width * (size_t)d->height;
    if (!st && !(d->hint = malloc(n * 3 * sizeof(float)))) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) d->hint[i * 3] = d->hint[i * 3 + 1] = d->hint[i * 3 + 2] = thr.data[i] / 255.0f;
    sdc_image_free(&thr);
    return st;
}

/* returns an HTTP status (0: fine) and a message */
static int parse_doodle(sdc_server *s, json_t *body, doodle *d, char *msg, size_t msg_size) {
    const char *img = json_string_value(json_object_get(body, "image"));
    d->prompt = strdup(json_string_value(json_object_get(body, "prompt")) ? json_string_value(json_object_get(body, "prompt")) : "");
    d->negative = strdup(json_string_value(json_object_get(body, "negative_prompt")) ? json_string_value(json_object_get(body, "negative_prompt")) : "");
    if (!d->prompt || !d->negative) return 500;
    d->width = (int)num(body, "width", 256, 64, 1024) / 8 * 8;
    d->height = (int)num(body, "height", 256, 64, 1024) / 8 * 8;
    d->steps = (int)num(body, "steps", 4, 1, 50);
    d->cfg = (float)num(body, "cfg_scale", 1.5, 0, 30);
    d->strength = (float)num(body, "control_strength", 1.0, 0, 2);
    d->denoise = (float)num(body, "denoise", 0.85, 0.05, 1);
    json_t *seed = json_object_get(body, "seed");
    char id[37];
    srv_uuid(id);
    d->seed = json_is_integer(seed) && json_integer_value(seed) >= 0 ? (uint64_t)json_integer_value(seed) : strtoull(id + 24, NULL, 16) % 4294967294ull;
    d->frame_id = json_incref(json_object_get(body, "frame_id"));
    sdc_image raw = {0};
    sdc_error err;
    sdc_error_clear(&err);
    if (!img || srv_decode_image(s, img, 1, &raw, &err) ||
        sdc_image_resize(&raw, d->width, d->height, SDC_RESAMPLE_BILINEAR, &d->sketch, &err)) {
        snprintf(msg, msg_size, "image: %s", img ? sdc_error_msg(&err) : "a base64 PNG sketch is required");
        sdc_image_free(&raw);
        return 422;
    }
    sdc_image_free(&raw);
    char ckpt[SDC_MODEL_PATH_MAX], lora[SDC_MODEL_PATH_MAX];
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!model && srv_a1111_default_checkpoint(s, ckpt, sizeof ckpt) == 0) model = ckpt;
    if (!model || sdc_catalog_find(&s->cat, SDC_CAT_CHECKPOINT, model, d->key.path, sizeof d->key.path, NULL, 0, &err)) {
        snprintf(msg, msg_size, "%s", model ? sdc_error_msg(&err) : "no checkpoint in the models folder");
        return 404;
    }
    int rc = pick(s, body, "lora", SDC_CAT_LORA, "lcm", lora, msg, msg_size);
    if (!rc) rc = pick(s, body, "controlnet", SDC_CAT_CONTROLNET, "scribble", d->cn_path, msg, msg_size);
    if (rc) return rc;
    if (lora[0] && sdc_model_key_add_lora(&d->key, lora, 1.0f, 1.0f, &err)) return 500;
    int lcm = strcasestr(lora, "lcm") || strcasestr(d->key.path, "lcm");
    const char *sampler = json_string_value(json_object_get(body, "sampler"));
    if (!sampler) sampler = lcm ? "lcm" : "euler_ancestral";
    if (sdc_sampler_from_name(sampler, &d->sampler, NULL, NULL, &err)) {
        snprintf(msg, msg_size, "%s", sdc_error_msg(&err));
        return 422;
    }
    d->scheduler = d->sampler == SDC_SAMPLER_LCM ? SDC_SCHED_SGM_UNIFORM : SDC_SCHED_NORMAL_COMFY;
    if (d->cn_path[0] && make_hint(d, &err)) return 500;
    return 0;
}

/* ---- running (worker) ------------------------------------------------------------------------------ */

typedef struct doodle_run {
    sdc_server *srv;
    srv_job *job;
    sdc_ctx ctx;
    sdc_taesd *taesd;
} doodle_run;

static int on_progress(void *user, const sdc_progress *p) {
    doodle_run *dr = user;
    srv_progress_step(dr->srv, p->step, p->steps, 0);
    return srv_job_cancelled(dr->srv, dr->job);
}

static sdc_status ctx_err(sdc_ctx *c, sdc_error *err) { return sdc_error_set(err, c->err.status, "%s", sdc_error_msg(&c->err)); }

/* the sketch as a scaled latent [1, 4, h, w] (TAESD encoder when present) */
static float *encode_sketch(doodle_run *dr, const doodle *d, const sdc_sd_model *m, sdc_error *err) {
    sdc_tensor *x = sdc_new_4d(&dr->ctx, 1, 3, d->height, d->width);
    if (!x || sdc_image_to_tensor(&d->sketch, SDC_RANGE_PM1, x, 0, err)) return x ? NULL : (ctx_err(&dr->ctx, err), NULL);
    int taesd = dr->taesd && dr->taesd->enc.present;
    sdc_tensor *z = taesd ? sdc_taesd_encode(&dr->ctx, dr->taesd, x) : sdc_vae_encode(&dr->ctx, m->vae, x);
    if (!z) return ctx_err(&dr->ctx, err), NULL;
    size_t n = (size_t)(4 * (d->height / 8) * (d->width / 8));
    float *lat = malloc(n * sizeof *lat);
    if (!lat) return sdc_error_set(err, SDC_ERR_OOM, "out of memory"), NULL;
    for (size_t i = 0; i < n; i++) lat[i] = ((float *)z->data)[i] * (taesd ? 1.0f : m->scale_factor);
    return lat;
}

static sdc_status decode(doodle_run *dr, const doodle *d, const sdc_sd_model *m, const float *lat, sdc_image *out,
                         sdc_error *err) {
    int64_t h = d->height / 8, w = d->width / 8;
    sdc_tensor *z = sdc_new_4d(&dr->ctx, 1, 4, h, w);
    if (!z) return ctx_err(&dr->ctx, err);
    for (int64_t i = 0; i < 4 * h * w; i++) ((float *)z->data)[i] = dr->taesd ? lat[i] : lat[i] / m->scale_factor;
    sdc_tensor *img = dr->taesd ? sdc_taesd_decode(&dr->ctx, dr->taesd, z) : sdc_vae_decode(&dr->ctx, m->vae, z);
    if (!img) return ctx_err(&dr->ctx, err);
    return sdc_image_from_tensor(img, 0, SDC_RANGE_PM1, SDC_U8_TRUNCATE, out, err);
}

void srv_cond_memo_clear(srv_cond_memo *m) {
    free(m->key), free(m->cond), free(m->uncond);
    memset(m, 0, sizeof *m);
}

static float *copy_tensor(const sdc_tensor *t, int64_t shape[3]) {
    size_t n = (size_t)sdc_tensor_numel(t);
    float *p = malloc(n * sizeof *p);
    if (p) memcpy(p, t->data, n * sizeof *p);
    for (int i = 0; i < 3; i++) shape[i] = t->shape[i];
    return p;
}

static sdc_tensor *memo_tensor(sdc_ctx *c, const float *p, const int64_t shape[3]) {
    sdc_tensor *t = sdc_new_3d(c, shape[0], shape[1], shape[2]);
    if (t) memcpy(t->data, p, (size_t)sdc_tensor_numel(t) * sizeof *p);
    return t;
}

/* cond and uncond (cfg != 1) for the doodle's prompts: from the memo when
 * the model and prompts are those of the previous frame; 0 on success */
static int conditioning(doodle_run *dr, const doodle *d, const sdc_sd_model *m, sdc_tensor **cond,
                        sdc_tensor **uncond) {
    srv_cond_memo *memo = &dr->srv->doodle_memo;
    char model[sizeof(sdc_model_key) + 64];
    sdc_model_key_text(&d->key, model, sizeof model);
    int need_uncond = d->cfg != 1.0f;
    size_t kn = strlen(model) + strlen(d->prompt) + strlen(d->negative) + 32;
    char *key = malloc(kn); /* the prompt's length keeps "a|b" + "" apart from "a" + "b" */
    if (key) snprintf(key, kn, "%s\n%zu:%s\n%s", model, strlen(d->prompt), d->prompt, d->negative);
    if (key && memo->key && !strcmp(memo->key, key) && (memo->uncond || !need_uncond)) {
        free(key);
        *cond = memo_tensor(&dr->ctx, memo->cond, memo->cond_shape);
        *uncond = need_uncond ? memo_tensor(&dr->ctx, memo->uncond, memo->uncond_shape) : NULL;
        return !*cond || (need_uncond && !*uncond);
    }
    *cond = sdc_encode_prompt(&dr->ctx, m, d->prompt, 0);
    *uncond = need_uncond ? sdc_encode_prompt(&dr->ctx, m, d->negative, 0) : NULL;
    if (!*cond || (need_uncond && !*uncond)) {
        free(key);
        return 1;
    }
    srv_cond_memo_clear(memo);
    memo->key = key; /* a memo without a key is never used */
    memo->cond = copy_tensor(*cond, memo->cond_shape);
    memo->uncond = *uncond ? copy_tensor(*uncond, memo->uncond_shape) : NULL;
    if (!memo->cond || (*uncond && !memo->uncond)) srv_cond_memo_clear(memo);
    return 0;
}

static sdc_status sample(doodle_run *dr, doodle *d, const sdc_sd_model *m, float *out, sdc_error *err) {
    sdc_tensor *cond, *uncond;
    if (conditioning(dr, d, m, &cond, &uncond)) return ctx_err(&dr->ctx, err);
    sdc_ksample k;
    sdc_ksample_default(&k);
    k.B = 1, k.C = 4, k.h = d->height / 8, k.w = d->width / 8;
    k.cond = cond, k.uncond = uncond, k.cfg_scale = d->cfg;
    k.sampler = d->sampler, k.scheduler = d->scheduler, k.steps = d->steps;
    k.seed = d->seed, k.rng = SDC_RNG_CPU, k.compute = dr->srv->o.compute;
    k.on_progress = on_progress, k.user = dr;
    float *lat = NULL;
    sdc_control_hook hook;
    int hooked = 0;
    sdc_status st = SDC_OK;
    if (d->hint) {
        sdc_controlnet *cn;
        st = sdc_model_cache_controlnet(dr->srv->cache, d->cn_path, m, &cn, err);
        sdc_control_spec spec = {.cn = cn, .hint = d->hint, .strength = d->strength, .start = 0, .end = 1};
        if (!st) st = sdc_control_hook_init(&hook, dr->srv->pool, dr->srv->o.compute, &spec, 1, d->height, d->width, err);
        hooked = !st;
        k.extra_fn = sdc_control_hook_fn, k.extra_user = &hook;
    } else {
        lat = encode_sketch(dr, d, m, err);
        if (!lat) st = err->status;
        k.latent = lat, k.denoise = d->denoise, k.rule = SDC_IMG2IMG_COMFY;
    }
    if (!st) st = sdc_ksample_run(m, dr->srv->pool, &k, out, NULL, err);
    if (hooked) sdc_control_hook_free(&hook);
    free(lat);
    return st;
}

static void run_doodle(sdc_server *s, srv_job *j) {
    doodle *d = j->data;
    doodle_run dr = {.srv = s, .job = j};
    sdc_error err;
    sdc_error_clear(&err);
    double t0 = sdc_time_now();
    srv_progress_begin(s, "doodle", 1);
    char dec[SDC_CAT_PATH_MAX], enc[SDC_CAT_PATH_MAX];
    if (sdc_catalog_taesd(&s->cat, dec, enc, sizeof dec) && sdc_model_cache_taesd(s->cache, dec, enc, &dr.taesd, &err))
        sdc_logf(s->o.log, SDC_LOG_WARN, "doodle: TAESD unusable, using the VAE: %s", sdc_error_msg(&err)),
            dr.taesd = NULL, sdc_error_clear(&err); /* fall back on the VAE */
    sdc_sd_model *m;
    float *lat = malloc((size_t)(4 * (d->height / 8) * (d->width / 8)) * sizeof(float));
    sdc_image img = {0};
    sdc_status st = lat ? sdc_model_cache_checkpoint(s->cache, &d->key, &m, &err) : sdc_error_set(&err, SDC_ERR_OOM, "out of memory");
    if (!st && sdc_ctx_init(&dr.ctx, s->pool, 0)) st = sdc_error_set(&err, SDC_ERR_OOM, "out of memory");
    dr.ctx.compute = s->o.compute;
    if (!st) st = sample(&dr, d, m, lat, &err);
    if (!st) st = decode(&dr, d, m, lat, &img, &err);
    char *b64 = st ? NULL : srv_png_base64(&img, NULL, NULL);
    if (st == SDC_ERR_CANCELLED) {
        j->http_status = 409;
        j->result = json_pack("{s:b, s:O}", "cancelled", 1, "frame_id", d->frame_id ? d->frame_id : json_null());
    } else if (st || !b64) {
        j->http_status = 500;
        j->result = json_pack("{s:s}", "error", st ? sdc_error_msg(&err) : "out of memory");
    } else {
        json_t *fid = d->frame_id ? json_incref(d->frame_id) : json_integer((json_int_t)srv_now_ms());
        j->result = json_pack("{s:s, s:f, s:o, s:I}", "image", b64, "seconds", sdc_time_now() - t0, "frame_id", fid, "seed",
                              (json_int_t)d->seed);
    }
    free(b64), free(lat);
    sdc_image_free(&img);
    sdc_ctx_free(&dr.ctx);
    srv_progress_end(s);
}

static void post_doodle(srv_req *r) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 0);
    if (!body) return;
    doodle *d = calloc(1, sizeof *d);
    char msg[600] = "out of memory";
    int rc = d ? parse_doodle(s, body, d, msg, sizeof msg) : 500;
    srv_job *j = rc ? NULL : srv_job_new(SRV_JOB_DOODLE, run_doodle, d, doodle_free);
    if (rc || !j) {
        srv_error(r, rc ? rc : 500, "%s", msg);
        doodle_free(d);
        json_decref(body);
        return;
    }
    const char *cid = json_string_value(json_object_get(body, "client_id"));
    if (cid && cid[0]) {
        snprintf(j->client_id, sizeof j->client_id, "%s", cid);
        srv_cancel_jobs(s, SRV_JOB_DOODLE, j->client_id, 1); /* the newest drawing wins */
    }
    srv_queue_push(s, j, 0);
    srv_job_wait(s, j);
    if (j->result) srv_json(r, j->http_status, json_incref(j->result));
    else srv_json(r, 409, json_pack("{s:b}", "cancelled", 1));
    srv_job_unref(s, j);
    json_decref(body);
}

/* ---- info ------------------------------------------------------------------------------------------------ */

static json_t *names(sdc_server *s, sdc_cat_kind kind) {
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    json_t *a = json_array();
    if (a && sdc_catalog_list(&s->cat, kind, &l, &err) == SDC_OK) {
        for (size_t i = 0; i < l.n; i++) json_array_append_new(a, json_string(l.names[i]));
        sdc_name_list_free(&l);
    }
    return a;
}

static void get_info(srv_req *r) {
    sdc_server *s = r->srv;
    char dec[SDC_CAT_PATH_MAX], enc[SDC_CAT_PATH_MAX], ckpt[SDC_MODEL_PATH_MAX] = "", lcm[SDC_MODEL_PATH_MAX] = "",
                                                      scribble[SDC_MODEL_PATH_MAX] = "";
    int taesd = sdc_catalog_taesd(&s->cat, dec, enc, sizeof dec);
    srv_a1111_default_checkpoint(s, ckpt, sizeof ckpt);
    json_t *samplers = json_array(), *schedulers = json_array(), *a1111 = json_array();
    for (int i = 0; sdc_wf_comfy_samplers()[i].name; i++) json_array_append_new(samplers, json_string(sdc_wf_comfy_samplers()[i].name));
    for (int i = 0; sdc_wf_comfy_schedulers()[i].name; i++) json_array_append_new(schedulers, json_string(sdc_wf_comfy_schedulers()[i].name));
    int n;
    const srv_a1111_sampler *as = srv_a1111_samplers(&n);
    for (int i = 0; i < n; i++) json_array_append_new(a1111, json_string(as[i].name));
    int has_lcm = find_containing(s, SDC_CAT_LORA, "lcm", lcm, sizeof lcm) == 0;
    int has_scr = find_containing(s, SDC_CAT_CONTROLNET, "scribble", scribble, sizeof scribble) == 0;
    srv_json(r, 200, json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:s, s:o, s:o, s:o, s:{s:o, s:o}, s:b}", "version", "sdc",
                               "models", names(s, SDC_CAT_CHECKPOINT), "loras", names(s, SDC_CAT_LORA), "controlnets",
                               names(s, SDC_CAT_CONTROLNET), "vaes", names(s, SDC_CAT_VAE), "taesd", taesd, "default_model",
                               ckpt, "samplers", samplers, "schedulers", schedulers, "a1111_samplers", a1111, "doodle",
                               "lora", has_lcm ? json_string(lcm) : json_null(), "controlnet",
                               has_scr ? json_string(scribble) : json_null(), "api_key_required", s->api_key[0] != 0));
}

int srv_sdc_route(srv_req *r) {
    if (!strcmp(r->path, "/sdc/v1/info") && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))) get_info(r);
    else if (!strcmp(r->path, "/sdc/v1/doodle") && !strcmp(r->method, "POST")) post_doodle(r);
    else if (!strncmp(r->path, "/sdc/", 5)) srv_error(r, 404, "not found");
    else return 0;
    return 1;
}
