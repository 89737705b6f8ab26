/* Loader and conditioning nodes: CheckpointLoaderSimple, VAELoader,
 * LoraLoader, ControlNetLoader, CLIPTextEncode, CLIPSetLastLayer,
 * ControlNetApply, ControlNetApplyAdvanced. Inputs, defaults and ranges
 * are ComfyUI's (nodes.py).
 *
 * Loaders resolve names against the models folder and load through the
 * model cache at once, so a bad file fails on its loader node. LoRAs are
 * merged while the checkpoint loads: a LoraLoader's MODEL and CLIP both
 * describe checkpoint + LoRA list (with both strengths), which the cache
 * loads once. CLIPTextEncode uses A1111's prompt syntax and emphasis
 * (pipeline/conditioning.h), which equals ComfyUI's for unweighted text.
 * ControlNet applications ride on the conditioning; the sampler applies
 * the positive conditioning's list to the whole batch (ComfyUI applies
 * ControlNetApply to both halves too; ControlNetApplyAdvanced puts the
 * same unit on both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/conditioning.h"
#include "workflow/nodes_common.h"

static sdc_status resolve(const sdc_wf_env *env, sdc_cat_kind kind, const char *name, char *path, sdc_error *err) {
    if (!env->cat) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no models folder");
    return sdc_catalog_find(env->cat, kind, name, path, SDC_MODEL_PATH_MAX, NULL, 0, err);
}

static sdc_status checkpoint_loader(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *model = sdc_wf_value_new(SDC_WF_MODEL), *clip = sdc_wf_value_new(SDC_WF_CLIP),
                 *vae = sdc_wf_value_new(SDC_WF_VAE);
    c->out[0] = model, c->out[1] = clip, c->out[2] = vae;
    if (!model || !clip || !vae) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = resolve(c->env, SDC_CAT_CHECKPOINT, sdc_wf_arg_str(c, "ckpt_name"), model->u.model.key.path, err);
    sdc_sd_model *m;
    if (!st) st = sdc_wf_checkpoint(c->env, &model->u.model.key, &m, err);
    clip->u.model.key = model->u.model.key;
    vae->u.vae.kind = SDC_WF_VAE_CHECKPOINT;
    vae->u.vae.ckpt = model->u.model.key;
    return st;
}

static sdc_status vae_loader(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *v = c->out[0] = sdc_wf_value_new(SDC_WF_VAE);
    if (!v) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    const char *name = sdc_wf_arg_str(c, "vae_name");
    if (strcmp(name, "taesd") == 0) {
        v->u.vae.kind = SDC_WF_VAE_TAESD;
        if (!c->env->cat || !sdc_catalog_taesd(c->env->cat, v->u.vae.path, v->u.vae.path2, SDC_MODEL_PATH_MAX))
            return sdc_error_set(err, SDC_ERR_IO, "no taesd_decoder file in the vae folder");
        sdc_taesd *t;
        return sdc_model_cache_taesd(c->env->cache, v->u.vae.path, v->u.vae.path2, &t, err);
    }
    v->u.vae.kind = SDC_WF_VAE_FILE;
    sdc_status st = resolve(c->env, SDC_CAT_VAE, name, v->u.vae.path, err);
    sdc_vae *vae;
    if (!st) st = sdc_model_cache_vae(c->env->cache, v->u.vae.path, &vae, err);
    return st;
}

static sdc_status lora_loader(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *model = sdc_wf_arg(c, "model"), *clip = sdc_wf_arg(c, "clip");
    float sm = (float)sdc_wf_arg_float(c, "strength_model"), sc = (float)sdc_wf_arg_float(c, "strength_clip");
    if (sm == 0 && sc == 0) {
        c->out[0] = sdc_wf_value_ref((sdc_wf_value *)model);
        c->out[1] = sdc_wf_value_ref((sdc_wf_value *)clip);
        return SDC_OK;
    }
    char path[SDC_MODEL_PATH_MAX];
    sdc_status st = resolve(c->env, SDC_CAT_LORA, sdc_wf_arg_str(c, "lora_name"), path, err);
    if (st) return st;
    sdc_wf_value *mo = c->out[0] = sdc_wf_value_new(SDC_WF_MODEL), *co = c->out[1] = sdc_wf_value_new(SDC_WF_CLIP);
    if (!mo || !co) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    mo->u.model = model->u.model;
    co->u.model = clip->u.model;
    st = sdc_model_key_add_lora(&mo->u.model.key, path, sm, sc, err);
    if (!st) st = sdc_model_key_add_lora(&co->u.model.key, path, sm, sc, err);
    sdc_sd_model *m;
    if (!st) st = sdc_wf_checkpoint(c->env, &mo->u.model.key, &m, err); /* binds and merges now: errors show here */
    return st;
}

static sdc_status controlnet_loader(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *v = c->out[0] = sdc_wf_value_new(SDC_WF_CONTROL_NET);
    if (!v) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    /* loaded by the sampler, with the model's attention heads */
    return resolve(c->env, SDC_CAT_CONTROLNET, sdc_wf_arg_str(c, "control_net_name"), v->u.path, err);
}

static sdc_status clip_text_encode(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *clip = sdc_wf_arg(c, "clip");
    sdc_sd_model *m;
    sdc_status st = sdc_wf_checkpoint(c->env, &clip->u.model.key, &m, err);
    if (st) return st;
    sdc_ctx ctx;
    if (sdc_ctx_init(&ctx, c->env->pool, 0) != SDC_OK) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    ctx.compute = c->env->compute;
    ctx.log = c->env->log;
    sdc_tensor *t = sdc_encode_prompt(&ctx, m, sdc_wf_arg_str(c, "text"), clip->u.model.clip_skip);
    sdc_wf_value *v = t ? sdc_wf_value_new(SDC_WF_CONDITIONING) : NULL;
    if (!t) st = sdc_error_set(err, ctx.err.status, "%s", sdc_error_msg(&ctx.err));
    else if (!v || !(v->u.cond.data = malloc((size_t)(t->shape[1] * t->shape[2]) * sizeof(float))))
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (!st) {
        v->u.cond.T = t->shape[1];
        v->u.cond.D = t->shape[2];
        memcpy(v->u.cond.data, t->data, (size_t)(t->shape[1] * t->shape[2]) * sizeof(float));
    }
    c->out[0] = v;
    sdc_ctx_free(&ctx);
    return st;
}

static sdc_status clip_set_last_layer(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *v = c->out[0] = sdc_wf_value_new(SDC_WF_CLIP);
    if (!v) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    v->u.model = sdc_wf_arg(c, "clip")->u.model;
    v->u.model.clip_skip = (int)-sdc_wf_arg_int(c, "stop_at_clip_layer"); /* -1 -> 1 (last), -2 -> 2 */
    return SDC_OK;
}

/* a copy of cond with one more ControlNet unit */
static sdc_wf_value *cond_with_control(const sdc_wf_value *cond, const char *path, sdc_wf_value *image, float strength,
                                       float start, float end, sdc_error *err) {
    if (cond->u.cond.n_control >= SDC_WF_MAX_CONTROL) {
        sdc_error_set(err, SDC_ERR_UNSUPPORTED, "at most %d ControlNets per conditioning", SDC_WF_MAX_CONTROL);
        return NULL;
    }
    sdc_wf_value *v = sdc_wf_value_new(SDC_WF_CONDITIONING);
    size_t n = (size_t)(cond->u.cond.T * cond->u.cond.D);
    if (!v || !(v->u.cond.data = malloc(n * sizeof(float)))) {
        sdc_wf_value_unref(v);
        sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        return NULL;
    }
    v->u.cond.T = cond->u.cond.T, v->u.cond.D = cond->u.cond.D;
    memcpy(v->u.cond.data, cond->u.cond.data, n * sizeof(float));
    v->u.cond.n_control = cond->u.cond.n_control;
    memcpy(v->u.cond.control, cond->u.cond.control, sizeof v->u.cond.control);
    for (int i = 0; i < v->u.cond.n_control; i++) sdc_wf_value_ref(v->u.cond.control[i].image);
    sdc_wf_control *ctl = &v->u.cond.control[v->u.cond.n_control++];
    snprintf(ctl->path, sizeof ctl->path, "%s", path);
    ctl->image = sdc_wf_value_ref(image);
    ctl->strength = strength, ctl->start_percent = start, ctl->end_percent = end;
    return v;
}

static sdc_status controlnet_apply(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *cond = sdc_wf_arg(c, "conditioning");
    float s = (float)sdc_wf_arg_float(c, "strength");
    if (s == 0) {
        c->out[0] = sdc_wf_value_ref(cond);
        return SDC_OK;
    }
    c->out[0] = cond_with_control(cond, sdc_wf_arg(c, "control_net")->u.path, sdc_wf_arg(c, "image"), s, 0.0f, 1.0f, err);
    return c->out[0] ? SDC_OK : err->status;
}

static sdc_status controlnet_apply_advanced(sdc_wf_call *c, sdc_error *err) {
    sdc_wf_value *pos = sdc_wf_arg(c, "positive"), *neg = sdc_wf_arg(c, "negative");
    float s = (float)sdc_wf_arg_float(c, "strength");
    if (s == 0) {
        c->out[0] = sdc_wf_value_ref(pos);
        c->out[1] = sdc_wf_value_ref(neg);
        return SDC_OK;
    }
    const char *path = sdc_wf_arg(c, "control_net")->u.path;
    sdc_wf_value *img = sdc_wf_arg(c, "image");
    float a = (float)sdc_wf_arg_float(c, "start_percent"), b = (float)sdc_wf_arg_float(c, "end_percent");
    c->out[0] = cond_with_control(pos, path, img, s, a, b, err);
    if (c->out[0]) c->out[1] = cond_with_control(neg, path, img, s, a, b, err);
    return c->out[0] && c->out[1] ? SDC_OK : err->status;
}

/* ---- definitions --------------------------------------------------------------------- */

static const sdc_wf_input_def in_ckpt[] = {{.name = "ckpt_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_CHECKPOINTS}};
static const sdc_wf_input_def in_vae[] = {{.name = "vae_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_VAES}};
static const sdc_wf_input_def in_lora[] = {
    {.name = "model", .type = SDC_WF_MODEL},
    {.name = "clip", .type = SDC_WF_CLIP},
    {.name = "lora_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_LORAS},
    {.name = "strength_model", .type = SDC_WF_FLOAT, .def = 1.0, .min = -100.0, .max = 100.0, .step = 0.01},
    {.name = "strength_clip", .type = SDC_WF_FLOAT, .def = 1.0, .min = -100.0, .max = 100.0, .step = 0.01},
};
static const sdc_wf_input_def in_cn[] = {{.name = "control_net_name", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_CONTROLNETS}};
static const sdc_wf_input_def in_text[] = {
    {.name = "text", .type = SDC_WF_STRING, .multiline = 1, .sdef = ""},
    {.name = "clip", .type = SDC_WF_CLIP},
};
static const sdc_wf_input_def in_last[] = {
    {.name = "clip", .type = SDC_WF_CLIP},
    {.name = "stop_at_clip_layer", .type = SDC_WF_INT, .def = -1, .min = -24, .max = -1, .step = 1},
};
static const sdc_wf_input_def in_apply[] = {
    {.name = "conditioning", .type = SDC_WF_CONDITIONING},
    {.name = "control_net", .type = SDC_WF_CONTROL_NET},
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "strength", .type = SDC_WF_FLOAT, .def = 1.0, .min = 0.0, .max = 10.0, .step = 0.01},
};
static const sdc_wf_input_def in_apply_adv[] = {
    {.name = "positive", .type = SDC_WF_CONDITIONING},
    {.name = "negative", .type = SDC_WF_CONDITIONING},
    {.name = "control_net", .type = SDC_WF_CONTROL_NET},
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "strength", .type = SDC_WF_FLOAT, .def = 1.0, .min = 0.0, .max = 10.0, .step = 0.01},
    {.name = "start_percent", .type = SDC_WF_FLOAT, .def = 0.0, .min = 0.0, .max = 1.0, .step = 0.001},
    {.name = "end_percent", .type = SDC_WF_FLOAT, .def = 1.0, .min = 0.0, .max = 1.0, .step = 0.001},
    {.name = "vae", .type = SDC_WF_VAE, .optional = 1},
};

const sdc_wf_node_def sdc_wf_nodes_model[] = {
    {.name = "CheckpointLoaderSimple", .display_name = "Load Checkpoint", .category = "loaders",
     .description = "Loads a diffusion model checkpoint.", .inputs = in_ckpt, .n_inputs = 1,
     .outputs = {SDC_WF_MODEL, SDC_WF_CLIP, SDC_WF_VAE}, .n_outputs = 3, .run = checkpoint_loader},
    {.name = "VAELoader", .display_name = "Load VAE", .category = "loaders", .inputs = in_vae, .n_inputs = 1,
     .outputs = {SDC_WF_VAE}, .n_outputs = 1, .run = vae_loader},
    {.name = "LoraLoader", .display_name = "Load LoRA", .category = "loaders", .inputs = in_lora, .n_inputs = 5,
     .outputs = {SDC_WF_MODEL, SDC_WF_CLIP}, .n_outputs = 2, .run = lora_loader},
    {.name = "ControlNetLoader", .display_name = "Load ControlNet Model", .category = "loaders", .inputs = in_cn,
     .n_inputs = 1, .outputs = {SDC_WF_CONTROL_NET}, .n_outputs = 1, .run = controlnet_loader},
    {.name = "CLIPTextEncode", .display_name = "CLIP Text Encode (Prompt)", .category = "conditioning",
     .inputs = in_text, .n_inputs = 2, .outputs = {SDC_WF_CONDITIONING}, .n_outputs = 1, .run = clip_text_encode},
    {.name = "CLIPSetLastLayer", .display_name = "CLIP Set Last Layer", .category = "conditioning", .inputs = in_last,
     .n_inputs = 2, .outputs = {SDC_WF_CLIP}, .n_outputs = 1, .run = clip_set_last_layer},
    {.name = "ControlNetApply", .display_name = "Apply ControlNet (OLD)", .category = "conditioning/controlnet",
     .inputs = in_apply, .n_inputs = 4, .outputs = {SDC_WF_CONDITIONING}, .n_outputs = 1, .run = controlnet_apply},
    {.name = "ControlNetApplyAdvanced", .display_name = "Apply ControlNet", .category = "conditioning/controlnet",
     .inputs = in_apply_adv, .n_inputs = 8, .outputs = {SDC_WF_CONDITIONING, SDC_WF_CONDITIONING},
     .output_names = {"positive", "negative"}, .n_outputs = 2, .run = controlnet_apply_advanced},
};
const int sdc_wf_nodes_model_n = (int)(sizeof sdc_wf_nodes_model / sizeof sdc_wf_nodes_model[0]);
