/* Model configs beside checkpoints (see model_config.h). */
#include "formats/model_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "base/mapfile.h"
#include "kernels/kernels.h"

#define MAX_CONFIG_BYTES (4u << 20)
#define MAX_YAML_DEPTH 64

void sdc_model_config_init(sdc_model_config *c) {
    memset(c, 0, sizeof *c);
    c->v_prediction = -1;
    c->clip_act = -1;
    c->clip_penultimate = -1;
}

/* ---- YAML -> JSON ------------------------------------------------------------ */

static json_t *scalar_value(const char *s, size_t n, yaml_scalar_style_t style) {
    if (style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcasecmp(s, "true") || !strcasecmp(s, "yes")) return json_true();
        if (!strcasecmp(s, "false") || !strcasecmp(s, "no")) return json_false();
        if (!strcmp(s, "null") || !strcmp(s, "~") || n == 0) return json_null();
        char *end;
        errno = 0;
        long long i = strtoll(s, &end, 10);
        if (*end == '\0' && errno == 0) return json_integer(i);
        double d = strtod(s, &end);
        if (*end == '\0' && end != s) return json_real(d);
    }
    return json_stringn(s, n);
}

/* Builds the value that starts with the event just read. */
static json_t *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth, sdc_error *err) {
    if (depth > MAX_YAML_DEPTH) {
        sdc_error_set(err, SDC_ERR_FORMAT, "YAML nested too deeply");
        return NULL;
    }
    if (ev->type == YAML_SCALAR_EVENT)
        return scalar_value((const char *)ev->data.scalar.value, ev->data.scalar.length, ev->data.scalar.style);
    if (ev->type == YAML_ALIAS_EVENT) return json_null(); /* aliases are not used by ldm configs */
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT) {
        sdc_error_set(err, SDC_ERR_FORMAT, "unexpected YAML event");
        return NULL;
    }
    json_t *out = is_map ? json_object() : json_array();
    json_t *key = NULL;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(p, &e)) {
            sdc_error_set(err, SDC_ERR_FORMAT, "YAML: %s (line %zu)", p->problem ? p->problem : "parse error",
                          p->problem_mark.line + 1);
            break;
        }
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&e);
            json_decref(key);
            return out;
        }
        json_t *v = yaml_node(p, &e, depth + 1, err);
        yaml_event_delete(&e);
        if (!v) break;
        if (!is_map) {
            json_array_append_new(out, v);
        } else if (!key) {
            key = v;
        } else {
            json_object_set_new(out, json_is_string(key) ? json_string_value(key) : "?", v);
            json_decref(key);
            key = NULL;
        }
    }
    json_decref(key);
    json_decref(out);
    return NULL;
}

sdc_status sdc_yaml_load(const char *path, json_t **out, sdc_error *err) {
    *out = NULL;
    char *text;
    size_t n;
    sdc_status st = sdc_read_file(path, MAX_CONFIG_BYTES, &text, &n, err);
    if (st) return st;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    json_t *root = NULL;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            sdc_error_set(err, SDC_ERR_FORMAT, "%s: YAML %s (line %zu)", path, p.problem ? p.problem : "parse error",
                          p.problem_mark.line + 1);
            break;
        }
        yaml_event_type_t t = e.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT || t == YAML_SCALAR_EVENT) {
            root = yaml_node(&p, &e, 0, err);
            yaml_event_delete(&e);
            if (!root) sdc_error_prefix(err, "%s", path);
            break;
        }
        yaml_event_delete(&e);
        if (t == YAML_STREAM_END_EVENT) {
            root = json_object(); /* empty document */
            break;
        }
    }
    yaml_parser_delete(&p);
    free(text);
    if (!root) return err && err->status ? err->status : SDC_ERR_FORMAT;
    *out = root;
    return SDC_OK;
}

json_t *sdc_json_path(json_t *root, const char *path) {
    char key[128];
    json_t *cur = root;
    while (cur && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return cur;
}

/* ---- reading the configs ---------------------------------------------------- */

static void note_source(sdc_model_config *c, const char *path) {
    size_t used = strlen(c->source);
    snprintf(c->source + used, sizeof c->source - used, "%s%s", used ? ", " : "", path);
}

static int64_t json_int(json_t *v) { return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0; }

static void apply_ldm_yaml(json_t *y, sdc_model_config *c) {
    json_t *param = sdc_json_path(y, "model.params.parameterization");
    if (json_is_string(param)) c->v_prediction = strcmp(json_string_value(param), "v") == 0;
    json_t *sf = sdc_json_path(y, "model.params.scale_factor");
    if (json_is_number(sf)) c->scale_factor = (float)json_number_value(sf);
    int64_t heads = json_int(sdc_json_path(y, "model.params.unet_config.params.num_heads"));
    int64_t hd = json_int(sdc_json_path(y, "model.params.unet_config.params.num_head_channels"));
    if (hd > 0) c->unet_head_dim = hd; /* ldm: num_head_channels wins when set (not -1) */
    else if (heads > 0) c->unet_num_heads = heads;
    json_t *target = sdc_json_path(y, "model.params.cond_stage_config.target");
    json_t *layer = sdc_json_path(y, "model.params.cond_stage_config.params.layer");
    if (json_is_string(layer)) c->clip_penultimate = strcmp(json_string_value(layer), "penultimate") == 0;
    else if (json_is_string(target) && strstr(json_string_value(target), "OpenCLIP")) c->clip_penultimate = 1;
}

/* diffusers: attention_head_dim is the head *count* (an old naming quirk),
 * an int or one entry per level; per-level counts become a head width. */
static void apply_diffusers_unet(json_t *u, sdc_model_config *c) {
    json_t *ahd = json_object_get(u, "num_attention_heads");
    if (!ahd || json_is_null(ahd)) ahd = json_object_get(u, "attention_head_dim");
    json_t *boc = json_object_get(u, "block_out_channels");
    if (json_is_integer(ahd) && json_integer_value(ahd) > 0) {
        c->unet_num_heads = json_integer_value(ahd);
    } else if (json_is_array(ahd) && json_is_array(boc) && json_array_size(ahd) > 0) {
        int64_t h0 = json_int(json_array_get(ahd, 0)), c0 = json_int(json_array_get(boc, 0));
        bool same_heads = true, same_width = h0 > 0 && c0 % h0 == 0;
        for (size_t i = 1; i < json_array_size(ahd) && i < json_array_size(boc); i++) {
            int64_t h = json_int(json_array_get(ahd, i)), ch = json_int(json_array_get(boc, i));
            same_heads &= h == h0;
            same_width &= h > 0 && ch % h == 0 && ch / h == c0 / h0;
        }
        if (same_heads) c->unet_num_heads = h0;
        else if (same_width) c->unet_head_dim = c0 / h0;
    }
}

static sdc_status read_json(const char *dir, const char *rel, json_t **out, sdc_model_config *c, sdc_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return SDC_OK;
    json_error_t je;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!*out) return sdc_error_set(err, SDC_ERR_FORMAT, "%s: invalid JSON: %s (line %d)", path, je.text, je.line);
    note_source(c, path);
    return SDC_OK;
}

static sdc_status read_diffusers(const char *dir, sdc_model_config *c, sdc_error *err) {
    json_t *j;
    sdc_status st;
    if ((st = read_json(dir, "unet/config.json", &j, c, err))) return st;
    if (j) apply_diffusers_unet(j, c);
    json_decref(j);
    if ((st = read_json(dir, "vae/config.json", &j, c, err))) return st;
    json_t *sf = sdc_json_path(j, "scaling_factor");
    if (json_is_number(sf)) c->scale_factor = (float)json_number_value(sf);
    json_decref(j);
    if ((st = read_json(dir, "text_encoder/config.json", &j, c, err))) return st;
    if (j) {
        int64_t h = json_int(json_object_get(j, "num_attention_heads"));
        if (h > 0) c->clip_heads = h;
        json_t *act = json_object_get(j, "hidden_act");
        if (json_is_string(act)) {
            const char *a = json_string_value(act);
            c->clip_act = !strcmp(a, "quick_gelu") ? SDC_ACT_QUICK_GELU : !strcmp(a, "gelu") ? SDC_ACT_GELU : SDC_ACT_GELU_TANH;
        }
    }
    json_decref(j);
    if ((st = read_json(dir, "scheduler/scheduler_config.json", &j, c, err))) return st;
    json_t *pt = sdc_json_path(j, "prediction_type");
    if (json_is_string(pt)) c->v_prediction = strcmp(json_string_value(pt), "v_prediction") == 0;
    json_decref(j);
    return SDC_OK;
}

sdc_status sdc_model_config_read(const char *model_path, sdc_model_config *c, sdc_error *err) {
    struct stat st; /* a missing model is the model loader's error to report, not ours */
    if (stat(model_path, &st) == 0 && S_ISDIR(st.st_mode)) return read_diffusers(model_path, c, err);
    /* a file: look for BASE.yaml beside it (BASE = name without extension) */
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s", model_path);
    char *dot = strrchr(yaml, '.'), *slash = strrchr(yaml, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
    size_t n = strlen(yaml);
    if (n + 6 >= sizeof yaml) return SDC_OK;
    memcpy(yaml + n, ".yaml", 6);
    if (stat(yaml, &st) != 0) return SDC_OK;
    json_t *y;
    sdc_status s = sdc_yaml_load(yaml, &y, err);
    if (s) return s;
    apply_ldm_yaml(y, c);
    note_source(c, yaml);
    json_decref(y);
    return SDC_OK;
}
