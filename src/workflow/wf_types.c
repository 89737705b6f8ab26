/* Values, arguments and choice lists of the node graph (see wf_types.h). */
#include "workflow/wf_types.h"

#include <stdlib.h>
#include <string.h>

#include "sample/sampler.h"
#include "workflow/files.h"
#include "workflow/nodes_common.h"

const char *sdc_wf_type_name(sdc_wf_type t) {
    static const char *const names[SDC_WF_TYPE_COUNT] = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "MODEL", "CLIP",
                                                         "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "CONTROL_NET"};
    return t < SDC_WF_TYPE_COUNT ? names[t] : "?";
}

sdc_wf_value *sdc_wf_value_new(sdc_wf_type t) {
    sdc_wf_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->type = t;
    v->refs = 1;
    return v;
}

sdc_wf_value *sdc_wf_value_ref(sdc_wf_value *v) {
    if (v) v->refs++;
    return v;
}

void sdc_wf_value_unref(sdc_wf_value *v) {
    if (!v || --v->refs > 0) return;
    switch (v->type) {
    case SDC_WF_STRING:
    case SDC_WF_COMBO: free(v->u.s); break;
    case SDC_WF_CONDITIONING:
        free(v->u.cond.data);
        for (int i = 0; i < v->u.cond.n_control; i++) sdc_wf_value_unref(v->u.cond.control[i].image);
        break;
    case SDC_WF_LATENT:
        free(v->u.latent.samples);
        free(v->u.latent.mask);
        break;
    case SDC_WF_IMAGE: free(v->u.image.data); break;
    case SDC_WF_MASK: free(v->u.mask.data); break;
    default: break;
    }
    free(v);
}

sdc_wf_value *sdc_wf_arg(const sdc_wf_call *c, const char *name) {
    for (int i = 0; i < c->def->n_inputs; i++)
        if (strcmp(c->def->inputs[i].name, name) == 0) return c->in[i];
    return NULL;
}

int64_t sdc_wf_arg_int(const sdc_wf_call *c, const char *name) {
    sdc_wf_value *v = sdc_wf_arg(c, name);
    if (!v) return 0;
    return v->type == SDC_WF_FLOAT ? (int64_t)v->u.f : v->u.i;
}

double sdc_wf_arg_float(const sdc_wf_call *c, const char *name) {
    sdc_wf_value *v = sdc_wf_arg(c, name);
    if (!v) return 0;
    return v->type == SDC_WF_INT ? (double)v->u.i : v->u.f;
}

const char *sdc_wf_arg_str(const sdc_wf_call *c, const char *name) {
    sdc_wf_value *v = sdc_wf_arg(c, name);
    return v && (v->type == SDC_WF_STRING || v->type == SDC_WF_COMBO) && v->u.s ? v->u.s : "";
}

static json_t *catalog_names(const sdc_wf_env *env, sdc_cat_kind kind) {
    json_t *a = json_array();
    sdc_name_list l;
    sdc_error err;
    sdc_error_clear(&err);
    if (!a || !env || !env->cat || sdc_catalog_list(env->cat, kind, &l, &err) != SDC_OK) return a;
    for (size_t i = 0; i < l.n; i++) json_array_append_new(a, json_string(l.names[i]));
    sdc_name_list_free(&l);
    return a;
}

static json_t *input_images(const sdc_wf_env *env) {
    json_t *a = json_array();
    sdc_name_list l;
    if (a && env && env->input_dir && sdc_wf_list_files(env->input_dir, &l) == SDC_OK) {
        for (size_t i = 0; i < l.n; i++) json_array_append_new(a, json_string(l.names[i]));
        sdc_name_list_free(&l);
    }
    return a;
}

json_t *sdc_wf_choices(const sdc_wf_env *env, const sdc_wf_input_def *in) {
    json_t *a = NULL;
    char dec[SDC_CAT_PATH_MAX], enc[SDC_CAT_PATH_MAX];
    switch (in->list) {
    case SDC_WF_LIST_CHECKPOINTS: return catalog_names(env, SDC_CAT_CHECKPOINT);
    case SDC_WF_LIST_LORAS: return catalog_names(env, SDC_CAT_LORA);
    case SDC_WF_LIST_CONTROLNETS: return catalog_names(env, SDC_CAT_CONTROLNET);
    case SDC_WF_LIST_VAES:
        a = catalog_names(env, SDC_CAT_VAE);
        if (a && env && env->cat && sdc_catalog_taesd(env->cat, dec, enc, sizeof dec)) json_array_append_new(a, json_string("taesd"));
        return a;
    case SDC_WF_LIST_INPUT_IMAGES: return input_images(env);
    case SDC_WF_LIST_SAMPLERS:
        a = json_array();
        for (int i = 0; a && sdc_wf_comfy_samplers()[i].name; i++) json_array_append_new(a, json_string(sdc_wf_comfy_samplers()[i].name));
        return a;
    case SDC_WF_LIST_SCHEDULERS:
        a = json_array();
        for (int i = 0; a && sdc_wf_comfy_schedulers()[i].name; i++)
            json_array_append_new(a, json_string(sdc_wf_comfy_schedulers()[i].name));
        return a;
    default: break;
    }
    a = json_array();
    for (int i = 0; a && in->choices && in->choices[i]; i++) json_array_append_new(a, json_string(in->choices[i]));
    return a;
}
