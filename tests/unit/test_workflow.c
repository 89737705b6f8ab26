/* Node-graph validation and execution (src/workflow): ComfyUI's error
 * shapes for bad graphs, the default txt2img graph on the shared tiny
 * model (its image must equal what the pipeline API computes for the same
 * settings, bit for bit: both run the same sampler on the same noise, so
 * any wiring mistake in the nodes shows), caching between prompts, event
 * order, and the generated object_info. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "formats/make_model.h"
#include "image/image_io.h"
#include "pipeline/generate.h"
#include "test_workflow_common.h"
#include "workflow/exec.h"
#include "workflow/graph.h"
#include "workflow/object_info.h"

#define DATA "tests/data/server/"

typedef struct recorder {
    char types[4096];
    int executing, progress, previews;
} recorder;

static void on_event(void *user, const char *type, json_t *data) {
    recorder *r = user;
    size_t n = strlen(r->types);
    snprintf(r->types + n, sizeof r->types - n, "%s%s", n ? "," : "", type);
    if (!strcmp(type, "executing") && json_is_string(json_object_get(data, "node"))) r->executing++;
    if (!strcmp(type, "progress")) r->progress++;
}

static void on_preview(void *user, const sdc_image *img) {
    recorder *r = user;
    if (img->width > 0 && img->channels == 3) r->previews++;
}

typedef struct fixture {
    wf_dirs dirs;
    sdc_catalog cat;
    sdc_model_cache *cache;
    sdc_pool *pool;
    sdc_wf_env env;
    recorder rec;
} fixture;

static int fixture_init(fixture *f) {
    memset(f, 0, sizeof *f);
    sdc_error err;
    sdc_error_clear(&err);
    if (wf_setup(&f->dirs)) return -1;
    if (sdc_catalog_init(&f->cat, f->dirs.models, NULL, &err)) return -1;
    f->pool = sdc_pool_create(1);
    sdc_model_cache_opts mo = {.max_checkpoints = 1, .mat_dtype = SDC_WLOAD_KEEP, .pool = f->pool};
    if (sdc_model_cache_new(&mo, &f->cache, &err)) return -1;
    f->env = (sdc_wf_env){.cat = &f->cat, .cache = f->cache, .pool = f->pool, .input_dir = f->dirs.input,
                          .output_dir = f->dirs.output, .temp_dir = f->dirs.temp, .previews = 1, .on_event = on_event,
                          .on_preview = on_preview, .user = &f->rec};
    return 0;
}

static void fixture_free(fixture *f) {
    sdc_model_cache_free(f->cache);
    sdc_pool_destroy(f->pool);
}

static json_t *load_graph(void) {
    json_error_t je;
    return json_load_file(DATA "txt2img_api.json", 0, &je);
}

/* validates; returns the status, *error and *ne set */
static sdc_status check_graph(fixture *f, json_t *p, json_t **error, json_t **ne) {
    sdc_wf_graph *g = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_status st = sdc_wf_graph_build(p, &f->env, &g, error, ne, &err);
    sdc_wf_graph_free(g);
    return st;
}

/* the type of the first error of node id */
static const char *node_error_type(json_t *ne, const char *id) {
    return json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(ne, id), "errors"), 0), "type"));
}

TEST(workflow_validate_default_graph) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    json_t *p = load_graph();
    REQUIRE(p);
    sdc_wf_graph *g = NULL;
    json_t *error = NULL, *ne = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    CHECK_MSG(sdc_wf_graph_build(p, &f.env, &g, &error, &ne, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE(g);
    CHECK(g->n == 7 && g->n_order == 7 && g->n_outputs == 1);
    CHECK(json_object_size(ne) == 0 && error == NULL);
    /* upstream first: the checkpoint loader before every node that links to it, SaveImage last */
    int pos_ckpt = -1, pos_sampler = -1;
    for (int i = 0; i < g->n_order; i++) {
        if (!strcmp(g->nodes[g->order[i]].id, "4")) pos_ckpt = i;
        if (!strcmp(g->nodes[g->order[i]].id, "3")) pos_sampler = i;
    }
    CHECK(pos_ckpt >= 0 && pos_ckpt < pos_sampler);
    CHECK(!strcmp(g->nodes[g->order[g->n_order - 1]].id, "9"));
    sdc_wf_graph_free(g);
    json_decref(ne), json_decref(error), json_decref(p);
    fixture_free(&f);
}

TEST(workflow_validate_reports_comfy_errors) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    json_t *p, *error = NULL, *ne = NULL;
    struct {
        const char *path, *value, *node, *type;
    } cases[] = {
        {"3", "{\"steps\": 0}", "3", "value_smaller_than_min"},
        {"3", "{\"cfg\": 1000}", "3", "value_bigger_than_max"},
        {"3", "{\"sampler_name\": \"no_such_sampler\"}", "3", "value_not_in_list"},
        {"3", "{\"steps\": \"many\"}", "3", "invalid_input_type"},
        {"3", "{\"model\": [\"5\", 0]}", "3", "return_type_mismatch"},
        {"3", "{\"model\": [\"99\", 0]}", "3", "bad_linked_input"},
        {"3", "{\"model\": [\"4\", 7]}", "3", "bad_linked_input"},
        {"3", "{\"model\": [\"4\"]}", "3", "bad_linked_input"},
        {"4", "{\"ckpt_name\": \"missing.safetensors\"}", "4", "value_not_in_list"},
        {"8", "{\"samples\": null}", "8", "required_input_missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = load_graph();
        json_t *patch = json_loads(cases[i].value, 0, NULL);
        json_object_update(json_object_get(json_object_get(p, cases[i].path), "inputs"), patch);
        if (json_is_null(json_object_get(patch, "samples"))) json_object_del(json_object_get(json_object_get(p, "8"), "inputs"), "samples");
        CHECK_MSG(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG, "case %zu accepted", i);
        const char *t = node_error_type(ne, cases[i].node);
        CHECK_MSG(t && !strcmp(t, cases[i].type), "case %zu: got %s, expected %s", i, t ? t : "(none)", cases[i].type);
        CHECK(!strcmp(json_string_value(json_object_get(error, "type")), "prompt_outputs_failed_validation"));
        json_t *dep = json_object_get(json_object_get(ne, cases[i].node), "dependent_outputs");
        CHECK_MSG(json_array_size(dep) == 1 && !strcmp(json_string_value(json_array_get(dep, 0)), "9"), "case %zu", i);
        json_decref(patch), json_decref(p), json_decref(error), json_decref(ne);
    }
    fixture_free(&f);
}

TEST(workflow_validate_graph_level_errors) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    json_t *error = NULL, *ne = NULL, *p = load_graph();
    json_object_set_new(json_object_get(p, "6"), "class_type", json_string("NoSuchNode"));
    CHECK(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG);
    CHECK(!strcmp(json_string_value(json_object_get(error, "type")), "invalid_prompt"));
    CHECK(strstr(json_string_value(json_object_get(error, "message")), "NoSuchNode") != NULL);
    json_decref(p), json_decref(error), json_decref(ne);

    p = load_graph();
    json_object_del(p, "9");
    CHECK(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG);
    CHECK(!strcmp(json_string_value(json_object_get(error, "type")), "prompt_no_outputs"));
    json_decref(p), json_decref(error), json_decref(ne);

    /* a cycle: the sampler's latent comes from an upscale of its own output */
    p = load_graph();
    json_object_set_new(p, "10", json_pack("{s:s, s:{s:[s,i], s:s, s:i, s:i, s:s}}", "class_type", "LatentUpscale", "inputs",
                                           "samples", "3", 0, "upscale_method", "bilinear", "width", 64, "height", 64, "crop", "disabled"));
    json_object_set_new(json_object_get(json_object_get(p, "3"), "inputs"), "latent_image", json_pack("[s,i]", "10", 0));
    CHECK(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG);
    const char *t3 = node_error_type(ne, "3"), *t10 = node_error_type(ne, "10");
    CHECK_MSG((t3 && !strcmp(t3, "dependency_cycle")) || (t10 && !strcmp(t10, "dependency_cycle")), "no cycle error: %s / %s",
              t3 ? t3 : "-", t10 ? t10 : "-");
    json_decref(p), json_decref(error), json_decref(ne);

    p = json_pack("[i]", 1);
    CHECK(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG && error);
    json_decref(p), json_decref(error), json_decref(ne);
    p = json_pack("{s:{s:i}}", "1", "class_type", 5);
    CHECK(check_graph(&f, p, &error, &ne) == SDC_ERR_INVALID_ARG && error);
    json_decref(p), json_decref(error), json_decref(ne);
    fixture_free(&f);
}

/* the tiny checkpoint through the fixture's model cache, or NULL */
static sdc_sd_model *tiny_model(fixture *f) {
    sdc_sd_model *m;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_key key = {0};
    if (sdc_catalog_find(&f->cat, SDC_CAT_CHECKPOINT, "sd15-random-tiny", key.path, sizeof key.path, NULL, 0, &err)) return NULL;
    return sdc_model_cache_checkpoint(f->cache, &key, &m, &err) ? NULL : m;
}

/* the default graph's settings (txt2img_api.json) as a pipeline request */
static void graph_request(sdc_gen_request *r, uint64_t seed) {
    sdc_gen_request_default(r);
    r->prompt = "masterpiece best quality girl";
    r->negative_prompt = "bad hands";
    r->width = r->height = 64;
    r->steps = 3;
    r->cfg_scale = 8;
    r->sampler = SDC_SAMPLER_EULER;
    r->scheduler = SDC_SCHED_NORMAL_COMFY;
    r->seed = seed;
    r->rng = SDC_RNG_CPU;
}

/* the same settings through the pipeline API: image [B, 3, H, W] in [0, 1] */
static float *pipeline_image(fixture *f, uint64_t seed) {
    sdc_sd_model *m = tiny_model(f);
    if (!m) return NULL;
    sdc_gen_request r;
    graph_request(&r, seed);
    sdc_error err;
    sdc_error_clear(&err);
    sdc_gen_result res;
    if (sdc_generate(m, f->pool, &r, &res, &err)) return NULL;
    return res.image01;
}

/* 8-bit values of png that differ from image01 [3, H, W] truncated to 8
 * bits as ComfyUI's SaveImage does: *diff of them, by at most *worst levels */
static void count_differences(const sdc_image *png, const float *image01, int *diff, int *worst) {
    int64_t HW = (int64_t)png->width * png->height;
    *diff = *worst = 0;
    for (int64_t i = 0; i < HW; i++)
        for (int c = 0; c < 3; c++) {
            float v = fminf(fmaxf(image01[c * HW + i], 0), 1) * 255.0f;
            int d = abs((int)png->data[i * 3 + c] - (int)(uint8_t)v);
            *diff += d != 0;
            *worst = d > *worst ? d : *worst;
        }
}

static sdc_status run_prompt(fixture *f, json_t *p, sdc_wf_exec *ex, sdc_wf_result *r) {
    sdc_wf_graph *g = NULL;
    json_t *error = NULL, *ne = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    sdc_status st = sdc_wf_graph_build(p, &f->env, &g, &error, &ne, &err);
    if (!st) st = sdc_wf_exec_run(ex, g, p, NULL, "test-prompt", r, &err);
    if (st && st != SDC_ERR_CANCELLED) fprintf(stderr, "run_prompt: %s\n", sdc_error_msg(&err));
    sdc_wf_graph_free(g);
    json_decref(error), json_decref(ne);
    return st;
}

TEST(workflow_txt2img_matches_pipeline_and_caches) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    sdc_wf_exec *ex;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_wf_exec_new(&f.env, &ex, &err) == SDC_OK);
    json_t *p = load_graph();
    sdc_wf_result r;
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK);
    CHECK(r.n_executed == 7 && r.n_cached == 0);
    CHECK_MSG(!strcmp(f.rec.types, "execution_start,execution_cached,executing,executing,executing,executing,executing,"
                                   "progress,progress,progress,executing,executing,executed,execution_success,executing"),
              "events: %s", f.rec.types);
    CHECK_MSG(f.rec.previews >= 2 && f.rec.previews <= 3, "%d previews", f.rec.previews); /* first, last, then every 0.5 s */
    json_t *img = json_array_get(json_object_get(json_object_get(r.outputs, "9"), "images"), 0);
    const char *fname = json_string_value(json_object_get(img, "filename"));
    REQUIRE(fname);
    CHECK(!strcmp(fname, "ComfyUI_00001_.png"));
    CHECK(!strcmp(json_string_value(json_object_get(img, "type")), "output"));
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", f.dirs.output, fname);
    sdc_image png = {0};
    sdc_image_meta meta = {0};
    REQUIRE(sdc_image_load(path, &png, &meta, &err) == SDC_OK);
    CHECK(png.width == 64 && png.height == 64 && png.channels == 3);
    json_t *saved = json_loads(sdc_image_meta_get(&meta, "prompt") ? sdc_image_meta_get(&meta, "prompt") : "", 0, NULL);
    CHECK_MSG(saved && json_equal(saved, p), "the PNG's prompt chunk differs from the prompt");
    json_decref(saved);
    float *ref = pipeline_image(&f, 8566257);
    REQUIRE(ref);
    /* The latents are identical; the decode's last step differs by design:
     * ComfyUI maps (x + 1) / 2, the pipeline (diffusers) x / 2 + 0.5, which
     * may round one float ulp apart and so truncate to the next 8-bit
     * level. Allow that one level on a few values, nothing more. */
    int diff, worst;
    count_differences(&png, ref, &diff, &worst);
    CHECK_MSG(worst <= 1 && diff <= 12, "%d of %d pixel values differ from the pipeline API's (max %d levels)", diff,
              64 * 64 * 3, worst);
    free(ref);
    sdc_image_free(&png);
    sdc_image_meta_free(&meta);
    json_decref(r.outputs);

    /* the same prompt again: everything cached, same outputs reported */
    f.rec.types[0] = '\0';
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK);
    CHECK_MSG(r.n_executed == 0 && r.n_cached == 7, "executed %d cached %d", r.n_executed, r.n_cached);
    CHECK(!strcmp(f.rec.types, "execution_start,execution_cached,execution_success,executing"));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(r.outputs, "9"), "images"), 0), "filename")),
                  "ComfyUI_00001_.png"));
    json_decref(r.outputs);

    /* a new seed re-runs the sampler and what depends on it, and saves the next file */
    json_object_set_new(json_object_get(json_object_get(p, "3"), "inputs"), "seed", json_integer(1));
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK);
    CHECK_MSG(r.n_executed == 3 && r.n_cached == 4, "executed %d cached %d", r.n_executed, r.n_cached);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(r.outputs, "9"), "images"), 0), "filename")),
                  "ComfyUI_00002_.png"));
    json_decref(r.outputs);
    CHECK_MSG(sdc_model_cache_loads(f.cache) <= 2, "%d model loads for one checkpoint", sdc_model_cache_loads(f.cache));
    json_decref(p);
    sdc_wf_exec_free(ex);
    fixture_free(&f);
}

static int cancel_now(void *user) { return user != NULL; }

TEST(workflow_interrupt_stops_and_reports) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    f.env.cancelled = cancel_now;
    sdc_wf_exec *ex;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_wf_exec_new(&f.env, &ex, &err) == SDC_OK);
    json_t *p = load_graph();
    sdc_wf_result r;
    CHECK(run_prompt(&f, p, ex, &r) == SDC_ERR_CANCELLED);
    CHECK_MSG(strstr(f.rec.types, "execution_interrupted") != NULL, "%s", f.rec.types);
    CHECK(r.n_executed == 0);
    json_decref(r.outputs);
    json_decref(p);
    sdc_wf_exec_free(ex);
    fixture_free(&f);
}

TEST(workflow_object_info_describes_widgets) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    json_t *o = sdc_wf_object_info(&f.env);
    REQUIRE(o);
    json_t *ks = json_object_get(o, "KSampler");
    json_t *seed = json_object_get(json_object_get(json_object_get(ks, "input"), "required"), "seed");
    CHECK(!strcmp(json_string_value(json_array_get(seed, 0)), "INT"));
    CHECK(json_is_true(json_object_get(json_array_get(seed, 1), "control_after_generate")));
    json_t *samplers = json_array_get(json_object_get(json_object_get(json_object_get(ks, "input"), "required"), "sampler_name"), 0);
    CHECK(json_is_array(samplers) && !strcmp(json_string_value(json_array_get(samplers, 0)), "euler"));
    json_t *ckpts = json_array_get(json_object_get(json_object_get(json_object_get(json_object_get(o, "CheckpointLoaderSimple"), "input"), "required"), "ckpt_name"), 0);
    CHECK(json_array_size(ckpts) == 1 && !strcmp(json_string_value(json_array_get(ckpts, 0)), "sd15-random-tiny.safetensors"));
    CHECK(json_is_true(json_object_get(json_object_get(o, "SaveImage"), "output_node")));
    json_t *names = json_object_get(json_object_get(o, "ControlNetApplyAdvanced"), "output_name");
    CHECK(!strcmp(json_string_value(json_array_get(names, 1)), "negative"));
    const char *required[] = {"CheckpointLoaderSimple", "CLIPTextEncode", "CLIPSetLastLayer", "EmptyLatentImage", "KSampler",
                              "KSamplerAdvanced", "VAEDecode", "VAEEncode", "VAEEncodeForInpaint", "SetLatentNoiseMask",
                              "LoadImage", "LoadImageMask", "SaveImage", "PreviewImage", "ImageScale", "LatentUpscale",
                              "ImagePadForOutpaint", "LoraLoader", "ControlNetLoader", "ControlNetApplyAdvanced",
                              "ControlNetApply", "Canny", "VAELoader"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) CHECK_MSG(json_object_get(o, required[i]), "%s missing", required[i]);
    json_decref(o);
    fixture_free(&f);
}

/* ---- ControlNet ------------------------------------------------------------------------------- */

#include "formats/safetensors.h"
#include "formats/weight_file.h"
#include "workflow/control.h"

/* A ControlNet for the tiny model (bare ldm names): the U-Net's encoder as
 * the trunk plus the test hint encoder / zero convs of tests/data/control
 * (the control engineer's tests check these numerics against PyTorch). */
int sdc_test_write_controlnet(const char *path) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_weight_file *base = NULL, *parts = NULL;
    if (sdc_weight_file_open(sdc_test_shared("reference/model/sd15-random-tiny.safetensors"), &base, &err) ||
        sdc_weight_file_open("tests/data/control/cn_parts.safetensors", &parts, &err)) {
        sdc_weight_file_close(base);
        return -1;
    }
    sdc_weight_info *t = calloc(base->count + parts->count, sizeof *t);
    size_t n = 0;
    const char *p = "model.diffusion_model.";
    for (size_t i = 0; t && i < base->count; i++) {
        const char *nm = base->tensors[i].name;
        if (strncmp(nm, p, strlen(p)) != 0) continue;
        nm += strlen(p);
        if (strncmp(nm, "time_embed.", 11) && strncmp(nm, "input_blocks.", 13) && strncmp(nm, "middle_block.", 13)) continue;
        t[n] = base->tensors[i];
        t[n++].name = (char *)nm;
    }
    for (size_t i = 0; t && i < parts->count; i++) t[n++] = parts->tensors[i];
    int rc = t && sdc_safetensors_write(path, t, n, NULL, NULL, 0, 1, &err) == SDC_OK ? 0 : -1;
    free(t);
    sdc_weight_file_close(base);
    sdc_weight_file_close(parts);
    return rc;
}

/* the default graph with a ControlNet on both conditionings, hint = a flat color */
static json_t *control_graph(double strength) {
    json_t *p = load_graph();
    json_object_set_new(p, "20", json_pack("{s:s, s:{s:i, s:i, s:i, s:i}}", "class_type", "EmptyImage", "inputs", "width", 64,
                                           "height", 64, "batch_size", 1, "color", 0x80c040));
    json_object_set_new(p, "21", json_pack("{s:s, s:{s:s}}", "class_type", "ControlNetLoader", "inputs", "control_net_name",
                                           "control_scribble_tiny.safetensors"));
    json_object_set_new(p, "22", json_pack("{s:s, s:{s:[s,i], s:[s,i], s:[s,i], s:[s,i], s:f, s:f, s:f}}", "class_type",
                                           "ControlNetApplyAdvanced", "inputs", "positive", "6", 0, "negative", "7", 0,
                                           "control_net", "21", 0, "image", "20", 0, "strength", strength, "start_percent",
                                           0.0, "end_percent", 1.0));
    json_t *ks = json_object_get(json_object_get(p, "3"), "inputs");
    json_object_set_new(ks, "positive", json_pack("[s,i]", "22", 0));
    json_object_set_new(ks, "negative", json_pack("[s,i]", "22", 1));
    return p;
}

static int load_output(fixture *f, sdc_wf_result *r, sdc_image *img) {
    const char *fname = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(r->outputs, "9"), "images"), 0), "filename"));
    char path[PATH_MAX * 2];
    sdc_error err;
    sdc_error_clear(&err);
    if (!fname) return -1;
    snprintf(path, sizeof path, "%s/%s", f->dirs.output, fname);
    return sdc_image_load(path, img, NULL, &err) == SDC_OK ? 0 : -1;
}

TEST(workflow_controlnet_nodes) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    char cn_dir[PATH_MAX + 16], cn_path[PATH_MAX * 2];
    snprintf(cn_dir, sizeof cn_dir, "%s/controlnet", f.dirs.models);
    mkdir(cn_dir, 0755);
    snprintf(cn_path, sizeof cn_path, "%s/control_scribble_tiny.safetensors", cn_dir);
    REQUIRE_MSG(sdc_test_write_controlnet(cn_path) == 0, "cannot write the test ControlNet");
    sdc_wf_exec *ex;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_wf_exec_new(&f.env, &ex, &err) == SDC_OK);
    sdc_image plain = {0}, zero = {0}, ctl = {0};
    sdc_wf_result r;
    json_t *p = load_graph(), *p0 = control_graph(0.0), *p1 = control_graph(0.9);
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK && load_output(&f, &r, &plain) == 0);
    json_decref(r.outputs);
    REQUIRE(run_prompt(&f, p0, ex, &r) == SDC_OK && load_output(&f, &r, &zero) == 0);
    json_decref(r.outputs);
    REQUIRE(run_prompt(&f, p1, ex, &r) == SDC_OK && load_output(&f, &r, &ctl) == 0);
    json_decref(r.outputs);
    /* strength 0 passes the conditioning through (ComfyUI): the same image */
    CHECK(memcmp(plain.data, zero.data, sdc_image_bytes(&plain)) == 0);
    int changed = 0;
    for (size_t i = 0; i < sdc_image_bytes(&plain); i++) changed += plain.data[i] != ctl.data[i];
    CHECK_MSG(changed > (int)sdc_image_bytes(&plain) / 4, "the ControlNet changed only %d values", changed);

    /* the same run through the pipeline API with the control hook (sigma rule, 0..1) */
    sdc_sd_model *m;
    sdc_controlnet *cn;
    sdc_model_key key = {0};
    REQUIRE(sdc_catalog_find(&f.cat, SDC_CAT_CHECKPOINT, "sd15-random-tiny", key.path, sizeof key.path, NULL, 0, &err) == SDC_OK);
    REQUIRE(sdc_model_cache_checkpoint(f.cache, &key, &m, &err) == SDC_OK);
    REQUIRE(sdc_model_cache_controlnet(f.cache, cn_path, m, &cn, &err) == SDC_OK);
    float *hint = malloc(64 * 64 * 3 * sizeof *hint);
    for (int i = 0; i < 64 * 64; i++) hint[i * 3] = 0x80 / 255.0f, hint[i * 3 + 1] = 0xc0 / 255.0f, hint[i * 3 + 2] = 0x40 / 255.0f;
    sdc_control_spec spec = {.cn = cn, .hint = hint, .strength = 0.9f, .start = 0.0f, .end = 1.0f, .sigma_rule = 1};
    sdc_control_hook hook;
    REQUIRE(sdc_control_hook_init(&hook, f.pool, SDC_COMPUTE_F32, &spec, 1, 64, 64, &err) == SDC_OK);
    sdc_gen_request g;
    sdc_gen_request_default(&g);
    g.prompt = "masterpiece best quality girl", g.negative_prompt = "bad hands";
    g.width = g.height = 64, g.steps = 3, g.cfg_scale = 8, g.sampler = SDC_SAMPLER_EULER;
    g.scheduler = SDC_SCHED_NORMAL_COMFY, g.seed = 8566257, g.rng = SDC_RNG_CPU;
    g.extra_fn = sdc_control_hook_fn, g.extra_user = &hook;
    sdc_gen_result res;
    REQUIRE(sdc_generate(m, f.pool, &g, &res, &err) == SDC_OK);
    int worst = 0, diff = 0; /* one 8-bit level: (x + 1) / 2 vs x / 2 + 0.5, see above */
    for (int64_t i = 0; i < 64 * 64; i++)
        for (int c = 0; c < 3; c++) {
            int d = abs((int)ctl.data[i * 3 + c] - (int)(uint8_t)(fminf(fmaxf(res.image01[c * 64 * 64 + i], 0), 1) * 255.0f));
            diff += d != 0;
            worst = d > worst ? d : worst;
        }
    CHECK_MSG(worst <= 1 && diff <= 12, "%d values differ from the pipeline API's (max %d levels)", diff, worst);
    sdc_gen_result_free(&res);
    sdc_control_hook_free(&hook);
    free(hint);
    sdc_image_free(&plain), sdc_image_free(&zero), sdc_image_free(&ctl);
    json_decref(p), json_decref(p0), json_decref(p1);
    sdc_wf_exec_free(ex);
    fixture_free(&f);
}

/* ---- interpolation (ImageScale, LatentUpscale, ControlNet hints) ---------------------------------- */

#include "workflow/nodes_common.h"

TEST(workflow_image_resize_matches_torch_rules) {
    sdc_error err;
    sdc_error_clear(&err);
    /* two 2x2 images, distinct per channel: value = 100 b + 10 c + (2 y + x) */
    sdc_wf_value *img = sdc_wf_image_new(2, 2, 2, &err);
    REQUIRE(img);
    for (int b = 0; b < 2; b++)
        for (int p = 0; p < 4; p++)
            for (int c = 0; c < 3; c++) img->u.image.data[(b * 4 + p) * 3 + c] = (float)(100 * b + 10 * c + p);
    /* torch bilinear, align_corners=False, 2 -> 4: source x = (i + 0.5) / 2 - 0.5, clamped at 0:
     * weights (1, 0), (.75, .25), (.25, .75), (0, 1) */
    sdc_wf_value *up = sdc_wf_image_resize(img, 4, 4, SDC_WF_BILINEAR, 0, &err);
    REQUIRE(up);
    const float wx[4][2] = {{1, 0}, {0.75f, 0.25f}, {0.25f, 0.75f}, {0, 1}};
    float worst = 0;
    for (int b = 0; b < 2; b++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++) {
                    float v00 = (float)(100 * b + 10 * c), want = 0;
                    for (int j = 0; j < 2; j++)
                        for (int i = 0; i < 2; i++) want += wx[y][j] * wx[x][i] * (v00 + (float)(2 * j + i));
                    worst = fmaxf(worst, fabsf(up->u.image.data[((b * 4 + y) * 4 + x) * 3 + c] - want));
                }
    CHECK_MSG(worst < 1e-5f, "bilinear max diff %g", worst);
    sdc_wf_value *ne = sdc_wf_image_resize(img, 4, 4, SDC_WF_NEAREST_EXACT, 0, &err); /* source index floor((i + .5) / 2) */
    REQUIRE(ne);
    CHECK(ne->u.image.data[((1 * 4 + 3) * 4 + 2) * 3 + 1] == 100 + 10 + 3 && ne->u.image.data[(1 * 4 + 1) * 3 + 2] == 20);
    sdc_wf_value *down = sdc_wf_image_resize(up, 2, 2, SDC_WF_AREA, 0, &err); /* area: means of 2x2 blocks */
    REQUIRE(down);
    float m = (up->u.image.data[(0 * 4 + 0) * 3] + up->u.image.data[(0 * 4 + 1) * 3] + up->u.image.data[(1 * 4 + 0) * 3] +
               up->u.image.data[(1 * 4 + 1) * 3]) / 4;
    CHECK(fabsf(down->u.image.data[0] - m) < 1e-5f);
    /* center crop to a wide target keeps the middle rows (ComfyUI's common_upscale) */
    int64_t cx, cy, cw, ch;
    sdc_wf_center_crop(64, 64, 128, 64, &cx, &cy, &cw, &ch);
    CHECK(cx == 0 && cy == 16 && cw == 64 && ch == 32);
    sdc_wf_value_unref(img), sdc_wf_value_unref(up), sdc_wf_value_unref(ne), sdc_wf_value_unref(down);
}

/* One TAESD file holding both halves (diffusers' AutoencoderTiny layout)
 * reached as both taesd_decoder.* and taesd_encoder.* (links, as a user may
 * set up vae/): the cache opens it once and gets both halves, where opening
 * it twice would refuse a second decoder. Two distinct files holding both
 * halves are still refused. */
TEST(workflow_cache_taesd_one_file_two_names) {
    fixture f;
    REQUIRE(fixture_init(&f) == 0);
    sdc_error err;
    sdc_error_clear(&err);
    char both[PATH_MAX], dec[PATH_MAX + 32], enc[PATH_MAX + 32], other[PATH_MAX + 32];
    snprintf(both, sizeof both, "%s", sdc_test_tmp("taesd_both.safetensors"));
    snprintf(dec, sizeof dec, "%s/taesd_decoder.safetensors", f.dirs.models);
    snprintf(enc, sizeof enc, "%s/taesd_encoder.safetensors", f.dirs.models);
    snprintf(other, sizeof other, "%s/taesd_copy.safetensors", f.dirs.models);
    sdc_make_model_opts mo = {.family = "taesd", .size = "tiny", .seed = 3, .dtype = SDC_DTYPE_F32, .overwrite = 1,
                              .threads = 1};
    REQUIRE_MSG(sdc_make_model(both, &mo, NULL, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE(sdc_make_model(other, &mo, NULL, &err) == SDC_OK);
    unlink(dec), unlink(enc);
    REQUIRE(symlink(both, dec) == 0 && symlink(both, enc) == 0);
    sdc_taesd *t = NULL;
    CHECK_MSG(sdc_model_cache_taesd(f.cache, dec, enc, &t, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(t != NULL && t->enc.present);
    sdc_error_clear(&err);
    CHECK(sdc_model_cache_taesd(f.cache, dec, other, &t, &err) != SDC_OK);
    unlink(dec), unlink(enc), unlink(other), unlink(both);
    fixture_free(&f);
}

/* The pipeline's hires fix (latent upscaler) is, in ComfyUI terms,
 * KSampler -> LatentUpscale (bilinear) -> KSampler (denoise < 1) with the
 * same seed: A1111 builds int(steps / s) steps and runs the last `steps`
 * as ComfyUI's KSampler does, and draws fresh noise of the new size from
 * the seed. The two code paths (pipeline and nodes) must give the same
 * picture, to the one 8-bit level their final mappings may differ by
 * (see workflow_txt2img_matches_pipeline_and_caches). */
TEST(workflow_hires_fix_matches_latent_upscale_graph) {
    fixture f;
    if (fixture_init(&f)) SKIP("shared tiny model not available");
    sdc_wf_exec *ex;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_wf_exec_new(&f.env, &ex, &err) == SDC_OK);
    json_t *p = load_graph();
    REQUIRE(p);
    json_t *up = json_pack("{s:s, s:{s:[s,i], s:s, s:i, s:i, s:s}}", "class_type", "LatentUpscale", "inputs", "samples", "3",
                           0, "upscale_method", "bilinear", "width", 128, "height", 96, "crop", "disabled");
    json_t *ks = json_deep_copy(json_object_get(p, "3"));
    json_t *in = json_object_get(ks, "inputs");
    json_object_set_new(in, "latent_image", json_pack("[s,i]", "10", 0));
    json_object_set_new(in, "denoise", json_real(0.6));
    json_object_set_new(in, "steps", json_integer(4));
    json_object_set_new(p, "10", up);
    json_object_set_new(p, "11", ks);
    json_object_set_new(json_object_get(json_object_get(p, "8"), "inputs"), "samples", json_pack("[s,i]", "11", 0));
    sdc_wf_result r;
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK);
    json_t *img = json_array_get(json_object_get(json_object_get(r.outputs, "9"), "images"), 0);
    const char *fname = json_string_value(json_object_get(img, "filename"));
    REQUIRE(fname);
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", f.dirs.output, fname);
    sdc_image png = {0};
    REQUIRE(sdc_image_load(path, &png, NULL, &err) == SDC_OK);
    REQUIRE(png.width == 128 && png.height == 96 && png.channels == 3);

    sdc_sd_model *m = tiny_model(&f);
    REQUIRE(m);
    sdc_gen_request q;
    graph_request(&q, 8566257);
    q.hr_width = 128, q.hr_height = 96, q.hr_steps = 4, q.hr_denoise = 0.6f, q.hr_upscaler = SDC_HR_LATENT;
    sdc_gen_result res;
    REQUIRE_MSG(sdc_generate(m, f.pool, &q, &res, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE(res.W == 128 && res.H == 96);
    int diff, worst;
    count_differences(&png, res.image01, &diff, &worst);
    CHECK_MSG(worst <= 1 && diff <= 40, "%d of %d values differ from the graph's (max %d levels)", diff, 128 * 96 * 3, worst);
    sdc_gen_result_free(&res);
    sdc_image_free(&png);
    json_decref(r.outputs);

    /* image upscaler: VAEDecode -> ImageScale (lanczos, on 8-bit pixels as
     * A1111 and ComfyUI resize) -> VAEEncode -> KSampler. The decodes'
     * one-ulp difference can move a few 8-bit values before the resize,
     * which the second pass carries on: measured 1 value, 1 level */
    json_object_set_new(p, "12", json_pack("{s:s, s:{s:[s,i], s:s, s:i, s:i, s:s}}", "class_type", "ImageScale", "inputs",
                                           "image", "13", 0, "upscale_method", "lanczos", "width", 128, "height", 96,
                                           "crop", "disabled"));
    json_object_set_new(p, "13", json_pack("{s:s, s:{s:[s,i], s:[s,i]}}", "class_type", "VAEDecode", "inputs", "samples",
                                           "3", 0, "vae", "4", 2));
    json_object_set_new(p, "14", json_pack("{s:s, s:{s:[s,i], s:[s,i]}}", "class_type", "VAEEncode", "inputs", "pixels",
                                           "12", 0, "vae", "4", 2));
    json_object_set_new(json_object_get(json_object_get(p, "11"), "inputs"), "latent_image", json_pack("[s,i]", "14", 0));
    json_object_del(p, "10");
    REQUIRE(run_prompt(&f, p, ex, &r) == SDC_OK);
    img = json_array_get(json_object_get(json_object_get(r.outputs, "9"), "images"), 0);
    fname = json_string_value(json_object_get(img, "filename"));
    REQUIRE(fname);
    snprintf(path, sizeof path, "%s/%s", f.dirs.output, fname);
    REQUIRE(sdc_image_load(path, &png, NULL, &err) == SDC_OK);
    q.hr_upscaler = SDC_HR_LANCZOS;
    REQUIRE_MSG(sdc_generate(m, f.pool, &q, &res, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    REQUIRE(png.width == 128 && png.height == 96 && res.W == 128 && res.H == 96);
    count_differences(&png, res.image01, &diff, &worst);
    printf("    lanczos hires vs graph: %d values differ, max %d levels\n", diff, worst);
    CHECK_MSG(worst <= 1 && diff <= 40, "%d of %d values differ from the graph's (max %d levels)", diff, 128 * 96 * 3, worst);
    sdc_gen_result_free(&res);
    sdc_image_free(&png);
    json_decref(r.outputs);
    json_decref(p);
    sdc_wf_exec_free(ex);
    fixture_free(&f);
}
