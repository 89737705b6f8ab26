/* A1111's /sdapi/v1/txt2img and /img2img: the request fields A1111
 * clients send, validated into FastAPI-style 422 details, queued as a
 * job, run with sdc_generate (A1111's philox noise, seed + i per image,
 * A1111's img2img step rule), and answered as A1111 does: base64 PNGs
 * with the infotext chunk, the request as "parameters", and "info" (a
 * JSON string with seeds, infotexts, ...). docs/SERVER.md lists which
 * fields are honoured, approximated or ignored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "formats/file_hash.h"
#include "image/image_io.h"
#include "image/infotext.h"
#include "image/mask.h"
#include "image/preprocess.h"
#include "image/resize.h"
#include "models/lora_tags.h"
#include "pipeline/generate.h"
#include "pipeline/inpaint_area.h"
#include "server/a1111.h"
#include "workflow/control.h"
#include "workflow/files.h"
#include "workflow/preview.h"

#define MAX_UNITS SDC_CONTROL_MAX

typedef struct cn_unit {
    char path[SDC_MODEL_PATH_MAX];
    float *hint;    /* [H, W, 3] in [0, 1] */
    float *hr_hint; /* the same at the hires size, or NULL */
    float weight, start, end;
} cn_unit;

typedef struct gen_req {
    int img2img;
    char *prompt, *negative;
    long long seed;
    sdc_sampler_kind sampler;
    sdc_scheduler scheduler;
    char sampler_label[64], sched_label[64], model_name[256], model_title[SDC_MODEL_PATH_MAX];
    char model_hash[65]; /* A1111's short hash (10 hex digits), "" when the file has none (a folder) */
    int steps, batch_size, n_iter, width, height, clip_skip, mask_blur, send_images, save_images;
    int sgm_noise; /* A1111's sgm_noise_multiplier option */
    sdc_latent_fill fill; /* inpainting_fill */
    int only_masked, masked_padding; /* inpaint_full_res, inpaint_full_res_padding */
    int hr_width, hr_height, hr_steps; /* hires fix (enable_hr): target size, 0 = off */
    sdc_hr_upscaler hr_upscaler;
    char *hr_prompt, *hr_negative;      /* NULL: the first pass's */
    int hr_sampler, hr_scheduler;       /* -1: the first pass's */
    char hr_sampler_label[64], hr_sched_label[64];
    float cfg, denoise, eta;
    sdc_model_key key;
    sdc_image init, mask;
    int n_units;
    cn_unit units[MAX_UNITS];
    json_t *params, *warnings;
} gen_req;

static void gen_req_free(void *p) {
    gen_req *q = p;
    if (!q) return;
    free(q->prompt), free(q->negative);
    sdc_image_free(&q->init), sdc_image_free(&q->mask);
    for (int i = 0; i < q->n_units; i++) free(q->units[i].hint), free(q->units[i].hr_hint);
    json_decref(q->params), json_decref(q->warnings);
    free(q->hr_prompt), free(q->hr_negative);
    free(q);
}

/* ---- field parsing with FastAPI-style errors --------------------------------------------------- */

typedef struct fields {
    json_t *body, *detail;
} fields;

static void field_error(fields *f, const char *key, const char *msg, const char *type) {
    json_array_append_new(f->detail, json_pack("{s:[s,s], s:s, s:s}", "loc", "body", key, "msg", msg, "type", type));
}

static long long get_int(fields *f, const char *key, long long def, long long lo, long long hi) {
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v)) return def;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_integer(v) && !(json_is_real(v) && d == floor(d))) {
        field_error(f, key, "value is not a valid integer", "type_error.integer");
        return def;
    }
    long long x = json_is_integer(v) ? json_integer_value(v) : (long long)d;
    char msg[96];
    if (x < lo || x > hi) {
        snprintf(msg, sizeof msg, "ensure this value is %s %lld", x < lo ? "greater than or equal to" : "less than or equal to", x < lo ? lo : hi);
        field_error(f, key, msg, x < lo ? "value_error.number.not_ge" : "value_error.number.not_le");
        return def;
    }
    return x;
}

static double get_num(fields *f, const char *key, double def, double lo, double hi) {
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_number(v)) {
        field_error(f, key, "value is not a valid float", "type_error.float");
        return def;
    }
    double x = json_number_value(v);
    char msg[96];
    if (!(x >= lo && x <= hi)) {
        snprintf(msg, sizeof msg, "ensure this value is %s %g", x < lo ? "greater than or equal to" : "less than or equal to", x < lo ? lo : hi);
        field_error(f, key, msg, x < lo ? "value_error.number.not_ge" : "value_error.number.not_le");
        return def;
    }
    return x;
}

static const char *get_str(fields *f, const char *key, const char *def) {
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_string(v)) {
        field_error(f, key, "str type expected", "type_error.str");
        return def;
    }
    return json_string_value(v);
}

static int get_bool(fields *f, const char *key, int def) {
    json_t *v = json_object_get(f->body, key);
    if (!v || json_is_null(v)) return def;
    if (!json_is_boolean(v)) {
        field_error(f, key, "value could not be parsed to a boolean", "type_error.bool");
        return def;
    }
    return json_is_true(v);
}

/* ---- model, LoRAs, sampler ----------------------------------------------------------------------- */

/* returns 404 for an unknown checkpoint, 0 when fine */
static int parse_model(sdc_server *s, fields *f, gen_req *q, char *msg, size_t msg_size) {
    json_t *ov = json_object_get(f->body, "override_settings");
    const char *want = json_string_value(json_object_get(ov, "sd_model_checkpoint"));
    char name[SDC_MODEL_PATH_MAX];
    sdc_error err;
    sdc_error_clear(&err);
    if (!want) {
        if (srv_a1111_default_checkpoint(s, name, sizeof name)) {
            snprintf(msg, msg_size, "no checkpoint in the models folder %.400s", s->models_dir);
            return 404;
        }
        want = name;
    }
    if (sdc_catalog_find(&s->cat, SDC_CAT_CHECKPOINT, want, q->key.path, sizeof q->key.path, q->model_title,
                         sizeof q->model_title, &err)) {
        snprintf(msg, msg_size, "%s", sdc_error_msg(&err));
        return 404;
    }
    sdc_catalog_stem(q->model_title, q->model_name, sizeof q->model_name);
    json_t *cs = json_object_get(ov, "CLIP_stop_at_last_layers"), *sgm = json_object_get(ov, "sgm_noise_multiplier");
    pthread_mutex_lock(&s->lock);
    q->clip_skip = s->clip_skip;
    q->sgm_noise = json_is_boolean(sgm) ? json_is_true(sgm) : json_is_true(json_object_get(s->options, "sgm_noise_multiplier"));
    pthread_mutex_unlock(&s->lock);
    if (json_is_integer(cs) && json_integer_value(cs) >= 1 && json_integer_value(cs) <= 12) q->clip_skip = (int)json_integer_value(cs);
    return 0;
}

/* <lora:name:w> tags: A1111 skips LoRAs it cannot find (with a warning) */
static void parse_loras(sdc_server *s, fields *f, gen_req *q) {
    char *clean = NULL;
    sdc_lora_tag *tags = NULL;
    size_t n = 0;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_lora_tags_extract(q->prompt, &clean, &tags, &n, &err) != SDC_OK) {
        field_error(f, "prompt", sdc_error_msg(&err), "value_error.lora");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char path[SDC_MODEL_PATH_MAX], msg[400];
        sdc_error_clear(&err);
        if (tags[i].unet == 0 && tags[i].te == 0) continue; /* nothing to merge: the base model serves */
        if (sdc_catalog_find(&s->cat, SDC_CAT_LORA, tags[i].name, path, sizeof path, NULL, 0, &err) != SDC_OK) {
            snprintf(msg, sizeof msg, "LoRA '%s' not found: ignored", tags[i].name);
            json_array_append_new(q->warnings, json_string(msg));
        } else if (sdc_model_key_add_lora(&q->key, path, tags[i].unet, tags[i].te, &err) != SDC_OK) {
            field_error(f, "prompt", sdc_error_msg(&err), "value_error.lora");
        }
    }
    free(clean);
    free(tags);
}

static void parse_sampler(fields *f, gen_req *q) {
    const char *name = get_str(f, "sampler_name", NULL);
    if (!name) name = get_str(f, "sampler_index", "Euler");
    const char *sched = get_str(f, "scheduler", "automatic");
    char msg[300];
    if (srv_a1111_resolve_sampler(name, sched, &q->sampler, &q->scheduler, q->sampler_label, q->sched_label,
                                  sizeof q->sampler_label, msg, sizeof msg))
        field_error(f, strstr(msg, "scheduler") ? "scheduler" : "sampler_name", msg, "value_error");
}

/* ---- images and ControlNet units --------------------------------------------------------------------- */

static sdc_status resize_to(const sdc_image *src, int w, int h, int mode, sdc_image *dst, sdc_error *err) {
    if (src->width == w && src->height == h) return sdc_image_clone(src, dst, err);
    sdc_resize_mode m = mode == 1 ? SDC_RESIZE_CROP : mode == 2 ? SDC_RESIZE_FILL : SDC_RESIZE_JUST; /* 3 (latent) as 0 */
    return sdc_image_resize_mode(src, w, h, m, dst, err);
}

static void parse_img2img(sdc_server *s, fields *f, gen_req *q) {
    json_t *imgs = json_object_get(f->body, "init_images");
    const char *b64 = json_string_value(json_array_get(imgs, 0));
    int mode = (int)get_int(f, "resize_mode", 0, 0, 3);
    sdc_image raw = {0};
    sdc_error err;
    sdc_error_clear(&err);
    if (!b64) {
        field_error(f, "init_images", "img2img needs init_images: a list of base64 images", "value_error.missing");
        return;
    }
    const char *mb64 = get_str(f, "mask", NULL);
    /* "only masked": the picture keeps its size (width x height is the processing size) */
    q->only_masked = mb64 && get_bool(f, "inpaint_full_res", 0);
    q->masked_padding = (int)get_int(f, "inpaint_full_res_padding", 0, 0, 4096);
    if (srv_decode_image(s, b64, 1, &raw, &err) ||
        (q->only_masked ? sdc_image_clone(&raw, &q->init, &err) : resize_to(&raw, q->width, q->height, mode, &q->init, &err))) {
        field_error(f, "init_images", sdc_error_msg(&err), "value_error.image");
        sdc_image_free(&raw);
        return;
    }
    sdc_image_free(&raw);
    if (!mb64) return;
    sdc_image mraw = {0}, bin = {0};
    int mw = q->only_masked ? q->init.width : q->width, mh = q->only_masked ? q->init.height : q->height;
    if (srv_decode_image(s, mb64, 0, &mraw, &err) || sdc_mask_from_image(&mraw, SDC_MASK_AUTO, &bin, &err) ||
        resize_to(&bin, mw, mh, q->only_masked ? 0 : mode, &q->mask, &err)) {
        field_error(f, "mask", sdc_error_msg(&err), "value_error.image");
    } else if (get_int(f, "inpainting_mask_invert", 0, 0, 1)) {
        sdc_mask_invert(&q->mask);
    }
    sdc_image_free(&mraw), sdc_image_free(&bin);
    /* 0 fill (not done: starts from the original, with a warning), 1 original, 2 latent noise, 3 latent nothing */
    int fill = (int)get_int(f, "inpainting_fill", 1, 0, 3);
    q->fill = fill == 2 ? SDC_FILL_LATENT_NOISE : fill == 3 ? SDC_FILL_LATENT_NOTHING : SDC_FILL_ORIGINAL;
    if (fill == 0)
        json_array_append_new(q->warnings, json_string("inpainting_fill 0 (fill) is not supported: the masked area starts "
                                                       "from the original image (1)"));
}

/* sd-webui-controlnet preprocessors sdc has: none, canny, invert, scribble, scribble_xdog */
static sdc_status preprocess(const char *module, const sdc_image *src, json_t *u, sdc_image *dst, sdc_error *err) {
    double a = json_is_number(json_object_get(u, "threshold_a")) ? json_number_value(json_object_get(u, "threshold_a")) : -1;
    double b = json_is_number(json_object_get(u, "threshold_b")) ? json_number_value(json_object_get(u, "threshold_b")) : -1;
    sdc_image rgb = {0}, one = {0};
    sdc_status st = sdc_image_to_rgb_white(src, &rgb, err);
    if (!st && (!strcasecmp(module, "none") || !module[0])) return *dst = rgb, SDC_OK;
    if (!st && !strcasecmp(module, "canny")) st = sdc_canny(&rgb, a >= 0 ? a : 100, b >= 0 ? b : 200, &one, err);
    else if (!st && !strncasecmp(module, "invert", 6)) {
        st = sdc_image_convert(&rgb, 1, &one, err);
        for (size_t i = 0; !st && i < sdc_image_bytes(&one); i++) one.data[i] = (uint8_t)(255 - one.data[i]);
    } else if (!st && (!strcasecmp(module, "scribble") || !strcasecmp(module, "scribble_thr") || !strcasecmp(module, "threshold")))
        st = sdc_scribble_threshold(&rgb, a >= 0 ? (int)a : SDC_SCRIBBLE_THRESHOLD_DEFAULT, &one, err);
    else if (!st && !strcasecmp(module, "scribble_xdog"))
        st = sdc_scribble_xdog(&rgb, a >= 0 ? (int)a : SDC_XDOG_THRESHOLD_DEFAULT, &one, err);
    else if (!st)
        st = sdc_error_set(err, SDC_ERR_UNSUPPORTED, "ControlNet module '%s' is not supported (none, canny, invert, scribble, scribble_xdog)", module);
    sdc_image_free(&rgb);
    if (!st) st = sdc_image_convert(&one, 3, dst, err);
    sdc_image_free(&one);
    return st;
}

static sdc_status unit_hint(sdc_server *s, const gen_req *q, json_t *u, int w, int h, float **out, sdc_error *err) {
    json_t *im = json_object_get(u, "image");
    if (!im) im = json_object_get(u, "input_image");
    if (json_is_object(im)) im = json_object_get(im, "image");
    sdc_image src = {0}, pre = {0}, sized = {0};
    sdc_status st;
    if (json_is_string(im)) st = srv_decode_image(s, json_string_value(im), 0, &src, err);
    else if (q->init.data) st = sdc_image_clone(&q->init, &src, err); /* A1111 uses the img2img input */
    else return sdc_error_set(err, SDC_ERR_INVALID_ARG, "a ControlNet unit needs an image");
    const char *module = json_string_value(json_object_get(u, "module"));
    if (!st) st = preprocess(module ? module : "none", &src, u, &pre, err);
    json_t *rm = json_object_get(u, "resize_mode");
    int mode = json_is_integer(rm) ? (int)json_integer_value(rm)
               : json_is_string(rm) && !strcasecmp(json_string_value(rm), "Just Resize") ? 0
               : json_is_string(rm) && !strcasecmp(json_string_value(rm), "Resize and Fill") ? 2 : 1;
    if (!st) st = resize_to(&pre, w, h, mode, &sized, err);
    size_t n = (size_t)w * (size_t)h * 3;
    if (!st && !(*out = malloc(n * sizeof(float)))) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) (*out)[i] = sized.data[i] / 255.0f;
    sdc_image_free(&src), sdc_image_free(&pre), sdc_image_free(&sized);
    return st;
}

/* alwayson_scripts.controlnet.args; returns 404 for an unknown model */
static int parse_controlnet(sdc_server *s, fields *f, gen_req *q, char *msg, size_t msg_size) {
    json_t *args = json_object_get(json_object_get(json_object_get(f->body, "alwayson_scripts"), "controlnet"), "args");
    size_t i;
    json_t *u;
    json_array_foreach(args, i, u) {
        if (json_is_false(json_object_get(u, "enabled"))) continue;
        const char *model = json_string_value(json_object_get(u, "model"));
        if (!model || !strcasecmp(model, "none") || !model[0]) continue;
        if (q->n_units == MAX_UNITS) {
            field_error(f, "alwayson_scripts", "too many ControlNet units", "value_error");
            return 0;
        }
        cn_unit *cu = &q->units[q->n_units];
        sdc_error err;
        sdc_error_clear(&err);
        if (sdc_catalog_find(&s->cat, SDC_CAT_CONTROLNET, model, cu->path, sizeof cu->path, NULL, 0, &err)) {
            snprintf(msg, msg_size, "%s", sdc_error_msg(&err));
            return 404;
        }
        json_t *w = json_object_get(u, "weight"), *gs = json_object_get(u, "guidance_start"), *ge = json_object_get(u, "guidance_end");
        cu->weight = json_is_number(w) ? (float)json_number_value(w) : 1.0f;
        cu->start = json_is_number(gs) ? (float)json_number_value(gs) : 0.0f;
        cu->end = json_is_number(ge) ? (float)json_number_value(ge) : 1.0f;
        if (unit_hint(s, q, u, q->width, q->height, &cu->hint, &err) ||
            (q->hr_width > 0 && unit_hint(s, q, u, q->hr_width, q->hr_height, &cu->hr_hint, &err))) {
            field_error(f, "alwayson_scripts", sdc_error_msg(&err), "value_error.controlnet");
            free(cu->hint), free(cu->hr_hint);
            cu->hint = cu->hr_hint = NULL;
            return 0;
        }
        q->n_units++;
    }
    return 0;
}

/* ---- the whole request --------------------------------------------------------------------------------- */

static long long random_seed(void) {
    char id[37];
    srv_uuid(id);
    return (long long)(strtoull(id + 24, NULL, 16) % 4294967294ull);
}

/* enable_hr: A1111's hires fix. Target int(size x hr_scale), or
 * hr_resize_x / _y (one of them: the other keeps the aspect); rounded down
 * to multiples of 8. denoising_strength is the second pass's (0.7 when
 * absent). */
static void parse_hires(sdc_server *s, fields *f, gen_req *q) {
    if (q->img2img || !get_bool(f, "enable_hr", 0)) return;
    double scale = get_num(f, "hr_scale", 2.0, 1.0, 16.0);
    long long rx = get_int(f, "hr_resize_x", 0, 0, 8192), ry = get_int(f, "hr_resize_y", 0, 0, 8192);
    long long w = (long long)(q->width * scale), h = (long long)(q->height * scale);
    if (rx > 0 && ry > 0) w = rx, h = ry;
    else if (rx > 0) w = rx, h = rx * q->height / q->width;
    else if (ry > 0) h = ry, w = ry * q->width / q->height;
    q->hr_width = (int)(w / 8 * 8), q->hr_height = (int)(h / 8 * 8);
    if (q->hr_width < 8 || q->hr_height < 8 || q->hr_width > 8192 || q->hr_height > 8192 ||
        (long)q->hr_width * q->hr_height > s->o.max_pixels)
        field_error(f, "hr_scale", "the hires size is outside what this server allows", "value_error.size");
    q->hr_steps = (int)get_int(f, "hr_second_pass_steps", 0, 0, 10000);
    q->denoise = json_object_get(f->body, "denoising_strength") ? (float)get_num(f, "denoising_strength", 0.7, 0.0, 1.0) : 0.7f;
    if (!(q->denoise > 0)) field_error(f, "denoising_strength", "the hires pass needs a strength above 0", "value_error.number.not_gt");
    const char *up = get_str(f, "hr_upscaler", "Latent");
    int u = sdc_hr_upscaler_from_name(up);
    if (u < 0)
        field_error(f, "hr_upscaler", "supported: Latent, Latent (nearest), Latent (nearest-exact), Lanczos, Nearest, None",
                    "value_error.upscaler");
    q->hr_upscaler = u < 0 ? SDC_HR_LATENT : (sdc_hr_upscaler)u;
    /* the second pass's own prompts and sampler ("" / "Use same ..." = the first pass's) */
    const char *hp = get_str(f, "hr_prompt", ""), *hn = get_str(f, "hr_negative_prompt", "");
    if (hp[0] && strcmp(hp, q->prompt)) q->hr_prompt = strdup(hp);
    if (hn[0] && strcmp(hn, q->negative)) q->hr_negative = strdup(hn);
    q->hr_sampler = q->hr_scheduler = -1;
    const char *hs = get_str(f, "hr_sampler_name", ""), *hsch = get_str(f, "hr_scheduler", "");
    bool same_sampler = !hs[0] || !strcasecmp(hs, "Use same sampler");
    bool same_sched = !hsch[0] || !strcasecmp(hsch, "Use same scheduler");
    if (!same_sampler || !same_sched) {
        sdc_sampler_kind k;
        sdc_scheduler sch;
        char msg[300];
        if (srv_a1111_resolve_sampler(same_sampler ? q->sampler_label : hs, same_sched ? q->sched_label : hsch, &k, &sch,
                                      q->hr_sampler_label, q->hr_sched_label, sizeof q->hr_sampler_label, msg, sizeof msg)) {
            field_error(f, "hr_sampler_name", msg, "value_error");
            return;
        }
        q->hr_sampler = (int)k, q->hr_scheduler = (int)sch;
    }
}

static int parse_request(sdc_server *s, fields *f, gen_req *q, char *msg, size_t msg_size) {
    q->prompt = strdup(get_str(f, "prompt", ""));
    q->negative = strdup(get_str(f, "negative_prompt", ""));
    q->warnings = json_array();
    if (!q->prompt || !q->negative || !q->warnings) return 500;
    q->seed = get_int(f, "seed", -1, -1, 4294967295ll * 1024);
    if (q->seed < 0) q->seed = random_seed();
    q->steps = (int)get_int(f, "steps", 50, 1, 10000);
    q->batch_size = (int)get_int(f, "batch_size", 1, 1, 64);
    q->n_iter = (int)get_int(f, "n_iter", 1, 1, 1000);
    q->cfg = (float)get_num(f, "cfg_scale", 7.0, 0.0, 100.0);
    long long w = get_int(f, "width", 512, 8, 8192), h = get_int(f, "height", 512, 8, 8192);
    q->width = (int)(w / 8 * 8), q->height = (int)(h / 8 * 8); /* the latent is size / 8 */
    if ((long)q->width * q->height > s->o.max_pixels) field_error(f, "width", "width x height is larger than this server allows", "value_error.size");
    q->denoise = (float)get_num(f, "denoising_strength", q->img2img ? 0.75 : 0.0, 0.0, 1.0);
    q->eta = (float)get_num(f, "eta", -1.0, -1.0, 100.0);
    q->mask_blur = (int)get_int(f, "mask_blur", 4, 0, 64);
    q->send_images = get_bool(f, "send_images", 1);
    q->save_images = get_bool(f, "save_images", 0);
    const char *script = get_str(f, "script_name", NULL);
    if (script && script[0] && strcasecmp(script, "none")) field_error(f, "script_name", "scripts are not supported", "value_error.script");
    parse_sampler(f, q);
    int rc = parse_model(s, f, q, msg, msg_size);
    if (rc) return rc;
    parse_loras(s, f, q);
    if (q->img2img) parse_img2img(s, f, q);
    parse_hires(s, f, q);
    return parse_controlnet(s, f, q, msg, msg_size);
}

/* ---- running (worker) ------------------------------------------------------------------------------------ */

typedef struct run_state {
    sdc_server *srv;
    srv_job *job;
    int iter;
    sdc_taesd *taesd;
    double last_preview;
} run_state;

static int on_progress(void *user, const sdc_progress *p) {
    run_state *rs = user;
    srv_progress_step(rs->srv, p->step, p->steps, rs->iter);
    double now = sdc_time_now(); /* previews: first and last step, else at most every half second */
    if (rs->srv->o.previews && p->denoised && (p->step == 1 || p->step == p->steps || now - rs->last_preview >= 0.5)) {
        rs->last_preview = now;
        sdc_image img = {0};
        sdc_error err;
        sdc_error_clear(&err);
        if (sdc_preview_latent(p->denoised, p->C, p->h, p->w, rs->taesd, rs->srv->pool, &img, &err) == SDC_OK)
            srv_progress_preview(rs->srv, &img, NULL);
        sdc_image_free(&img);
    }
    return srv_job_cancelled(rs->srv, rs->job);
}

static void fill_request(const gen_req *q, sdc_gen_request *g);

static char *infotext(const gen_req *q, long long seed) {
    sdc_gen_params ip;
    sdc_error err;
    sdc_error_clear(&err);
    char *text = NULL;
    if (sdc_gen_params_init(&ip, &err)) return NULL;
    sdc_gen_params_set_str(&ip.prompt, q->prompt, &err);
    sdc_gen_params_set_str(&ip.negative_prompt, q->negative, &err);
    ip.steps = q->steps;
    sdc_gen_params_set_str(&ip.sampler, q->sampler_label, &err);
    sdc_gen_params_set_str(&ip.scheduler, q->sched_label, &err);
    ip.cfg_scale = q->cfg;
    ip.seed = seed;
    ip.width = q->width, ip.height = q->height;
    sdc_gen_params_set_str(&ip.model_name, q->model_name, &err);
    if (q->model_hash[0]) sdc_gen_params_set_str(&ip.model_hash, q->model_hash, &err);
    if (q->img2img || q->hr_width > 0) ip.denoising_strength = sdc_infotext_float(q->denoise);
    sdc_gen_request g;
    fill_request(q, &g);
    sdc_gen_add_inpaint_params(&g, q->only_masked ? q->masked_padding : -1, &ip, &err);
    ip.clip_skip = q->clip_skip;
    sdc_gen_add_hires_params(&g, q->hr_sampler_label, q->hr_sched_label, &ip, &err);
    sdc_gen_params_set_str(&ip.version, "sdc", &err);
    if (!err.status) sdc_infotext_format(&ip, &text, &err);
    sdc_gen_params_free(&ip);
    return text;
}

/* saves to OUTPUT/txt2img-images/NNNNN-SEED.png as A1111 names them */
static void save_png(sdc_server *s, const gen_req *q, const sdc_image *img, long long seed, const char *info) {
    char dir[2048], path[2600], folder[2100];
    sdc_error err;
    sdc_error_clear(&err);
    snprintf(folder, sizeof folder, "%s", q->img2img ? "img2img-images" : "txt2img-images");
    if (sdc_path_join_within(s->output_dir, folder, dir, sizeof dir, &err) || sdc_mkdirs(dir, &err)) return;
    sdc_image_meta meta = {0};
    sdc_image_meta_add(&meta, "parameters", info ? info : "", &err);
    for (int n = 0; n < 100000; n++) {
        snprintf(path, sizeof path, "%s/%05d-%lld.png", dir, n, seed);
        sdc_error_clear(&err);
        if (sdc_image_save_png(path, img, &meta, 0, &err) == SDC_OK || !strstr(sdc_error_msg(&err), "exists")) break;
    }
    sdc_image_meta_free(&meta);
}

typedef struct outputs {
    json_t *images, *infotexts, *seeds;
} outputs;

static void collect(sdc_server *s, const gen_req *q, const sdc_gen_result *r, long long seed0, outputs *o) {
    for (int64_t b = 0; b < r->B; b++) {
        sdc_tensor t = sdc_tensor_4d(SDC_DTYPE_F32, r->image01, r->B, 3, r->H, r->W);
        sdc_image img = {0};
        sdc_error err;
        sdc_error_clear(&err);
        long long seed = seed0 + b;
        if (sdc_image_from_tensor(&t, b, SDC_RANGE_01, SDC_U8_TRUNCATE, &img, &err)) continue; /* A1111: astype(uint8) */
        char *info = infotext(q, seed);
        if (q->save_images) save_png(s, q, &img, seed, info);
        char *b64 = q->send_images ? srv_png_base64(&img, "parameters", info ? info : "") : NULL;
        if (b64) json_array_append_new(o->images, json_string(b64));
        json_array_append_new(o->infotexts, json_string(info ? info : ""));
        json_array_append_new(o->seeds, json_integer(seed));
        free(b64), free(info);
        sdc_image_free(&img);
    }
}

static json_t *info_json(const gen_req *q, const outputs *o, const char *stamp) {
    json_t *prompts = json_array(), *negs = json_array();
    for (size_t i = 0; i < json_array_size(o->seeds); i++) {
        json_array_append_new(prompts, json_string(q->prompt));
        json_array_append_new(negs, json_string(q->negative));
    }
    json_t *info = json_pack("{s:s, s:o, s:s, s:o, s:I, s:O, s:I, s:O, s:f, s:i, s:i, s:s, s:f, s:i, s:i, s:b, s:n, s:s, s:o,"
                             " s:n, s:n, s:i, s:i, s:f, s:{}, s:i, s:O, s:[], s:s, s:i, s:b, s:s, s:O}",
                             "prompt", q->prompt, "all_prompts", prompts, "negative_prompt", q->negative,
                             "all_negative_prompts", negs, "seed", (json_int_t)q->seed, "all_seeds", o->seeds, "subseed",
                             (json_int_t)q->seed, "all_subseeds", o->seeds, "subseed_strength", 0.0, "width", q->width,
                             "height", q->height, "sampler_name", q->sampler_label, "cfg_scale", (double)q->cfg, "steps",
                             q->steps, "batch_size", q->batch_size, "restore_faces", 0, "face_restoration_model",
                             "sd_model_name", q->model_name, "sd_model_hash", q->model_hash[0] ? json_string(q->model_hash) : json_null(),
                             "sd_vae_name", "sd_vae_hash",
                             "seed_resize_from_w", -1, "seed_resize_from_h", -1, "denoising_strength", sdc_infotext_float(q->denoise),
                             "extra_generation_params", "index_of_first_image", 0, "infotexts", o->infotexts, "styles",
                             "job_timestamp", stamp, "clip_skip", q->clip_skip, "is_using_inpainting_conditioning", 0,
                             "version", "sdc", "warnings", q->warnings);
    if (info) json_object_set_new(info, "scheduler", json_string(q->sched_label));
    char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
    json_t *s = json_string(text ? text : "{}");
    free(text);
    json_decref(info);
    return s;
}

/* hires: the hook for the hires pass (hints at the hires size) */
static sdc_status setup_controls(sdc_server *s, gen_req *q, const sdc_sd_model *m, bool hires, sdc_control_hook *hook,
                                 sdc_error *err) {
    sdc_control_spec specs[MAX_UNITS];
    for (int i = 0; i < q->n_units; i++) {
        sdc_controlnet *cn;
        sdc_status st = sdc_model_cache_controlnet(s->cache, q->units[i].path, m, &cn, err);
        if (st) return st;
        specs[i] = (sdc_control_spec){.cn = cn, .hint = hires ? q->units[i].hr_hint : q->units[i].hint,
                                      .strength = q->units[i].weight, .start = q->units[i].start, .end = q->units[i].end};
    }
    return sdc_control_hook_init(hook, s->pool, s->o.compute, specs, q->n_units, hires ? q->hr_height : q->height,
                                 hires ? q->hr_width : q->width, err);
}

static void fill_request(const gen_req *q, sdc_gen_request *g) {
    sdc_gen_request_default(g);
    g->prompt = q->prompt, g->negative_prompt = q->negative;
    g->width = q->width, g->height = q->height;
    g->steps = q->steps, g->cfg_scale = q->cfg;
    g->sampler = q->sampler, g->scheduler = q->scheduler;
    g->eta = q->eta;
    g->clip_skip = q->clip_skip;
    g->rng = SDC_RNG_PHILOX;
    /* A1111 starts from noise * sigma_max (its sgm_noise_multiplier option, off by default,
     * gives the sqrt(1 + sigma_max^2) that ComfyUI and diffusers use) */
    g->init_noise = q->sgm_noise ? SDC_INIT_NOISE_VP : SDC_INIT_NOISE_SIGMA;
    g->batch_size = q->batch_size;
    if (q->img2img) {
        g->init_image = &q->init;
        g->strength = q->denoise;
        g->mask = q->mask.data ? &q->mask : NULL;
        g->mask_blur = q->mask_blur;
        g->inpaint_fill = q->fill;
        g->img2img_rule = SDC_IMG2IMG_A1111;
    }
    if (q->hr_width > 0) {
        g->hr_width = q->hr_width, g->hr_height = q->hr_height;
        g->hr_steps = q->hr_steps;
        g->hr_denoise = q->denoise;
        g->hr_upscaler = q->hr_upscaler;
        g->hr_prompt = q->hr_prompt, g->hr_negative_prompt = q->hr_negative;
        g->hr_sampler = q->hr_sampler, g->hr_scheduler = q->hr_scheduler;
    }
}

static sdc_status run_batches(sdc_server *s, srv_job *j, gen_req *q, sdc_sd_model *m, run_state *rs, outputs *o,
                              sdc_error *err) {
    sdc_control_hook hook, hr_hook;
    int hooked = 0, hr_hooked = 0;
    sdc_status st = SDC_OK;
    if (q->n_units) {
        st = setup_controls(s, q, m, false, &hook, err);
        hooked = 1;
    }
    if (!st && q->n_units && q->hr_width > 0) {
        st = setup_controls(s, q, m, true, &hr_hook, err);
        hr_hooked = 1;
    }
    sdc_gen_request g;
    fill_request(q, &g);
    g.on_progress = on_progress, g.user = rs;
    g.compute = s->o.compute;
    g.log = s->o.log;
    if (hooked && !st) g.extra_fn = sdc_control_hook_fn, g.extra_user = &hook;
    if (hr_hooked && !st) g.hr_extra_fn = sdc_control_hook_fn, g.hr_extra_user = &hr_hook;
    for (int it = 0; !st && it < q->n_iter; it++) {
        rs->iter = it;
        g.seed = (uint64_t)(q->seed + (long long)it * q->batch_size);
        sdc_gen_result r;
        st = q->only_masked ? sdc_generate_only_masked(m, s->pool, &g, q->masked_padding, &r, NULL, err)
                            : sdc_generate(m, s->pool, &g, &r, err);
        if (st == SDC_ERR_CANCELLED) {
            pthread_mutex_lock(&s->lock);
            int skipped = j->skip && !j->cancel;
            j->skip = 0;
            pthread_mutex_unlock(&s->lock);
            if (skipped) { /* A1111 skip: drop this batch, go on */
                sdc_error_clear(err);
                st = SDC_OK;
                continue;
            }
        }
        if (!st) collect(s, q, &r, (long long)g.seed, o);
        sdc_gen_result_free(&r);
    }
    if (hooked) sdc_control_hook_free(&hook);
    if (hr_hooked) sdc_control_hook_free(&hr_hook);
    return st;
}

static void run_a1111(sdc_server *s, srv_job *j) {
    gen_req *q = j->data;
    run_state rs = {.srv = s, .job = j};
    sdc_error err;
    sdc_error_clear(&err);
    srv_progress_begin(s, q->img2img ? "img2img" : "txt2img", q->n_iter);
    outputs o = {.images = json_array(), .infotexts = json_array(), .seeds = json_array()};
    sdc_sd_model *m;
    char dec[SDC_CAT_PATH_MAX], enc[SDC_CAT_PATH_MAX];
    if (s->o.previews && sdc_catalog_taesd(&s->cat, dec, enc, sizeof dec) && sdc_model_cache_taesd(s->cache, dec, NULL, &rs.taesd, &err))
        rs.taesd = NULL, sdc_error_clear(&err);
    sdc_status st = sdc_model_cache_checkpoint(s->cache, &q->key, &m, &err);
    /* hashed by the load (model_cache.h): A1111's short hash for the infotext */
    if (!st && sdc_file_sha256_cached(q->key.path, q->model_hash)) q->model_hash[10] = '\0';
    else q->model_hash[0] = '\0';
    if (!st) st = run_batches(s, j, q, m, &rs, &o, &err);
    if (st && st != SDC_ERR_CANCELLED) {
        j->http_status = st == SDC_ERR_INVALID_ARG || st == SDC_ERR_UNSUPPORTED ? 422 : 500;
        j->result = json_pack("{s:s, s:s, s:s, s:s}", "error", sdc_status_name(st), "detail", sdc_error_msg(&err), "body",
                              "", "errors", sdc_error_msg(&err));
    } else { /* interrupted: A1111 answers with what it has */
        char stamp[32];
        pthread_mutex_lock(&s->lock);
        if (st == SDC_ERR_CANCELLED) s->prog.interrupted = 1;
        snprintf(stamp, sizeof stamp, "%s", s->prog.job_timestamp);
        pthread_mutex_unlock(&s->lock);
        j->result = json_pack("{s:O, s:O, s:o}", "images", o.images, "parameters", q->params, "info", info_json(q, &o, stamp));
    }
    json_decref(o.images), json_decref(o.infotexts), json_decref(o.seeds);
    srv_progress_end(s);
}

/* ---- the route -------------------------------------------------------------------------------------------- */

static json_t *echo_params(json_t *body, int img2img) {
    json_t *p = json_deep_copy(body);
    if (p && img2img) { /* A1111 leaves the images out unless include_init_images */
        json_object_set_new(p, "init_images", json_null());
        json_object_set_new(p, "mask", json_null());
    }
    return p;
}

void srv_a1111_generate(srv_req *r, int img2img) {
    sdc_server *s = r->srv;
    json_t *body = srv_body_json(r, 1);
    if (!body) return;
    gen_req *q = calloc(1, sizeof *q);
    fields f = {.body = body, .detail = json_array()};
    char msg[600] = "";
    int rc = q && f.detail ? 0 : 500;
    if (!rc) {
        q->img2img = img2img;
        rc = parse_request(s, &f, q, msg, sizeof msg);
    }
    if (rc) {
        if (rc == 404) srv_detail(r, 404, "%s", msg);
        else srv_detail(r, 500, "out of memory");
    } else if (json_array_size(f.detail)) {
        srv_json(r, 422, json_pack("{s:O}", "detail", f.detail));
    } else {
        q->params = echo_params(body, img2img);
        srv_job *j = srv_job_new(SRV_JOB_A1111, run_a1111, q, gen_req_free);
        if (!j) {
            srv_detail(r, 500, "out of memory");
        } else {
            q = NULL; /* owned by the job */
            srv_queue_push(s, j, 0);
            srv_job_wait(s, j);
            if (j->result) srv_json(r, j->http_status, json_incref(j->result));
            else srv_detail(r, j->http_status == 200 ? 500 : j->http_status, "the job was cancelled");
            srv_job_unref(s, j);
        }
    }
    gen_req_free(q);
    json_decref(f.detail);
    json_decref(body);
}
