/* /object_info from the node table (see object_info.h). */
#include "workflow/object_info.h"

#include <math.h>

static json_t *number(double v, int is_int) {
    if (is_int && fabs(v) < 9.0e15) return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *input_entry(const sdc_wf_env *env, const sdc_wf_input_def *d) {
    json_t *opts = json_object(), *e = json_array();
    if (!opts || !e) {
        json_decref(opts), json_decref(e);
        return NULL;
    }
    int is_int = d->type == SDC_WF_INT;
    switch (d->type) {
    case SDC_WF_INT:
    case SDC_WF_FLOAT:
        json_object_set_new(opts, "default", number(d->def, is_int));
        if (d->min != d->max) {
            json_object_set_new(opts, "min", number(d->min, is_int));
            json_object_set_new(opts, "max", number(d->max, is_int));
        }
        if (d->step > 0) json_object_set_new(opts, "step", number(d->step, is_int));
        if (d->round > 0) json_object_set_new(opts, "round", json_real(d->round));
        if (d->control_after_generate) json_object_set_new(opts, "control_after_generate", json_true());
        json_array_append_new(e, json_string(sdc_wf_type_name(d->type)));
        break;
    case SDC_WF_STRING:
        if (d->multiline) json_object_set_new(opts, "multiline", json_true());
        if (d->sdef) json_object_set_new(opts, "default", json_string(d->sdef));
        json_array_append_new(e, json_string("STRING"));
        break;
    case SDC_WF_BOOLEAN:
        json_object_set_new(opts, "default", json_boolean(d->def != 0));
        json_array_append_new(e, json_string("BOOLEAN"));
        break;
    case SDC_WF_COMBO: {
        json_t *choices = sdc_wf_choices(env, d);
        if (d->image_upload) json_object_set_new(opts, "image_upload", json_true());
        if (json_array_size(choices) > 0) json_object_set(opts, "default", json_array_get(choices, 0));
        json_array_append_new(e, choices ? choices : json_array());
        break;
    }
    default: json_array_append_new(e, json_string(sdc_wf_type_name(d->type)));
    }
    if (json_object_size(opts)) json_array_append_new(e, opts);
    else json_decref(opts);
    return e;
}

json_t *sdc_wf_object_info_node(const sdc_wf_env *env, const sdc_wf_node_def *def) {
    json_t *req = json_object(), *opt = json_object(), *oreq = json_array(), *oopt = json_array();
    json_t *out = json_array(), *names = json_array(), *is_list = json_array();
    json_t *n = json_object();
    if (!req || !opt || !oreq || !oopt || !out || !names || !is_list || !n) goto fail;
    for (int i = 0; i < def->n_inputs; i++) {
        const sdc_wf_input_def *d = &def->inputs[i];
        json_object_set_new(d->optional ? opt : req, d->name, input_entry(env, d));
        json_array_append_new(d->optional ? oopt : oreq, json_string(d->name));
    }
    for (int k = 0; k < def->n_outputs; k++) {
        json_array_append_new(out, json_string(sdc_wf_type_name(def->outputs[k])));
        json_array_append_new(names, json_string(def->output_names[k] ? def->output_names[k] : sdc_wf_type_name(def->outputs[k])));
        json_array_append_new(is_list, json_false());
    }
    json_t *input = json_pack("{s:o}", "required", req);
    json_t *order = json_pack("{s:o}", "required", oreq);
    req = oreq = NULL;
    if (!input || !order) {
        json_decref(input), json_decref(order);
        goto fail;
    }
    if (json_object_size(opt)) json_object_set(input, "optional", opt), json_object_set(order, "optional", oopt);
    if (def->output_node) {
        json_object_set_new(input, "hidden", json_pack("{s:s, s:s}", "prompt", "PROMPT", "extra_pnginfo", "EXTRA_PNGINFO"));
        json_object_set_new(order, "hidden", json_pack("[s, s]", "prompt", "extra_pnginfo"));
    }
    json_object_set_new(n, "input", input);
    json_object_set_new(n, "input_order", order);
    json_object_set_new(n, "output", out);
    json_object_set_new(n, "output_is_list", is_list);
    json_object_set_new(n, "output_name", names);
    json_object_set_new(n, "name", json_string(def->name));
    json_object_set_new(n, "display_name", json_string(def->display_name ? def->display_name : def->name));
    json_object_set_new(n, "description", json_string(def->description ? def->description : ""));
    json_object_set_new(n, "python_module", json_string("nodes"));
    json_object_set_new(n, "category", json_string(def->category ? def->category : "sdc"));
    json_object_set_new(n, "output_node", json_boolean(def->output_node));
    json_decref(opt), json_decref(oopt);
    return n;
fail:
    json_decref(req), json_decref(opt), json_decref(oreq), json_decref(oopt);
    json_decref(out), json_decref(names), json_decref(is_list), json_decref(n);
    return NULL;
}

json_t *sdc_wf_object_info(const sdc_wf_env *env) {
    int count;
    const sdc_wf_node_def *t = sdc_wf_nodes(&count);
    json_t *o = json_object();
    for (int i = 0; o && i < count; i++) json_object_set_new(o, t[i].name, sdc_wf_object_info_node(env, &t[i]));
    return o;
}
