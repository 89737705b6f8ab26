/* Graph execution with per-node output caching (see exec.h). */
#include "workflow/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "workflow/files.h"

typedef struct cached {
    char id[65];
    const sdc_wf_node_def *def;
    uint64_t sig[2];
    sdc_wf_value *out[SDC_WF_MAX_OUTPUTS];
    json_t *ui;
} cached;

struct sdc_wf_exec {
    const sdc_wf_env *env;
    cached *c;
    int n, cap;
};

sdc_status sdc_wf_exec_new(const sdc_wf_env *env, sdc_wf_exec **out, sdc_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    (*out)->env = env;
    return SDC_OK;
}

static void drop(cached *c) {
    for (int k = 0; k < SDC_WF_MAX_OUTPUTS; k++) sdc_wf_value_unref(c->out[k]);
    json_decref(c->ui);
    memset(c, 0, sizeof *c);
}

void sdc_wf_exec_clear(sdc_wf_exec *ex) {
    for (int i = 0; i < ex->n; i++) drop(&ex->c[i]);
    ex->n = 0;
}

void sdc_wf_exec_free(sdc_wf_exec *ex) {
    if (!ex) return;
    sdc_wf_exec_clear(ex);
    free(ex->c);
    free(ex);
}

static cached *find(sdc_wf_exec *ex, const char *id) {
    for (int i = 0; i < ex->n; i++)
        if (strcmp(ex->c[i].id, id) == 0) return &ex->c[i];
    return NULL;
}

static cached *get_slot(sdc_wf_exec *ex, const char *id) {
    cached *c = find(ex, id);
    if (c) return c;
    if (ex->n == ex->cap) {
        int cap = ex->cap ? ex->cap * 2 : 16;
        cached *nc = realloc(ex->c, (size_t)cap * sizeof *nc);
        if (!nc) return NULL;
        ex->c = nc;
        ex->cap = cap;
    }
    c = &ex->c[ex->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    return c;
}

/* forget outputs of node ids the new prompt does not have (or has with another class) */
static void prune(sdc_wf_exec *ex, const sdc_wf_graph *g) {
    for (int i = 0; i < ex->n;) {
        int k = sdc_wf_graph_find(g, ex->c[i].id);
        if (k < 0 || g->nodes[k].def != ex->c[i].def) {
            drop(&ex->c[i]);
            ex->c[i] = ex->c[--ex->n];
        } else {
            i++;
        }
    }
}

/* ---- signatures -------------------------------------------------------------------- */

static void hash_bytes(uint64_t h[2], const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h[0] = (h[0] ^ b[i]) * 0x100000001b3ULL;
        h[1] = (h[1] ^ b[i]) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    }
}

static void hash_str(uint64_t h[2], const char *s) { hash_bytes(h, s, strlen(s) + 1); }

/* file size and time of a volatile input file (LoadImage's IS_CHANGED) */
static void hash_file(uint64_t h[2], const sdc_wf_env *env, const char *name) {
    char path[4096];
    sdc_error err;
    sdc_error_clear(&err);
    struct stat st;
    if (env->input_dir && sdc_path_join_within(env->input_dir, name, path, sizeof path, &err) == SDC_OK && stat(path, &st) == 0) {
        long long v[3] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec};
        hash_bytes(h, v, sizeof v);
    }
}

static void signature(const sdc_wf_env *env, const sdc_wf_graph *g, uint64_t (*sigs)[2], int node) {
    const sdc_wf_gnode *gn = &g->nodes[node];
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    hash_str(h, gn->def->name);
    for (int i = 0; i < gn->def->n_inputs; i++) {
        const sdc_wf_input *in = &gn->in[i];
        hash_str(h, gn->def->inputs[i].name);
        if (!in->present) {
            hash_str(h, "-");
        } else if (in->link_node >= 0) {
            hash_bytes(h, sigs[in->link_node], sizeof sigs[0]);
            hash_bytes(h, &in->link_slot, sizeof in->link_slot);
        } else {
            char *t = json_dumps(in->literal, JSON_ENCODE_ANY | JSON_COMPACT);
            hash_str(h, t ? t : "?");
            if (t && gn->def->volatile_file && json_is_string(in->literal)) hash_file(h, env, json_string_value(in->literal));
            free(t);
        }
    }
    sigs[node][0] = h[0];
    sigs[node][1] = h[1];
}

/* ---- events --------------------------------------------------------------------------- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(const sdc_wf_env *env, const char *type, json_t *data) {
    if (env->on_event && data) env->on_event(env->user, type, data);
    json_decref(data);
}

static void emit_error(const sdc_wf_env *env, const sdc_wf_graph *g, int node, const char *prompt_id, json_t *executed,
                       sdc_status st, const sdc_error *err) {
    const sdc_wf_gnode *gn = &g->nodes[node];
    json_t *d = json_pack("{s:s, s:s, s:s, s:O, s:I}", "prompt_id", prompt_id, "node_id", gn->id, "node_type",
                          gn->def->name, "executed", executed, "timestamp", (json_int_t)now_ms());
    if (d && st != SDC_ERR_CANCELLED) {
        json_object_set_new(d, "exception_message", json_string(sdc_error_msg(err)));
        json_object_set_new(d, "exception_type", json_string(sdc_status_name(st)));
        json_object_set_new(d, "traceback", json_array());
        json_object_set_new(d, "current_inputs", json_object());
        json_object_set_new(d, "current_outputs", json_object());
    }
    emit(env, st == SDC_ERR_CANCELLED ? "execution_interrupted" : "execution_error", d);
}

/* ---- running one node ----------------------------------------------------------------- */

static sdc_wf_value *literal_value(const sdc_wf_input_def *d, json_t *lit) {
    sdc_wf_value *v = sdc_wf_value_new(d->type);
    if (!v) return NULL;
    switch (d->type) {
    case SDC_WF_INT: v->u.i = json_integer_value(lit); break;
    case SDC_WF_FLOAT: v->u.f = json_number_value(lit); break;
    case SDC_WF_BOOLEAN: v->u.b = json_is_true(lit); break;
    default:
        v->u.s = strdup(json_string_value(lit) ? json_string_value(lit) : "");
        if (!v->u.s) {
            sdc_wf_value_unref(v);
            return NULL;
        }
    }
    return v;
}

static sdc_status run_node(sdc_wf_exec *ex, const sdc_wf_graph *g, int node, sdc_wf_call *call, sdc_error *err) {
    const sdc_wf_gnode *gn = &g->nodes[node];
    sdc_status st = SDC_OK;
    for (int i = 0; i < gn->def->n_inputs && !st; i++) {
        const sdc_wf_input *in = &gn->in[i];
        if (!in->present) continue;
        if (in->link_node >= 0) {
            cached *up = find(ex, g->nodes[in->link_node].id);
            call->in[i] = up ? sdc_wf_value_ref(up->out[in->link_slot]) : NULL;
            if (!call->in[i]) st = sdc_error_set(err, SDC_ERR_INTERNAL, "input '%s' has no value", gn->def->inputs[i].name);
        } else {
            call->in[i] = literal_value(&gn->def->inputs[i], in->literal);
            if (!call->in[i]) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        }
    }
    if (!st) st = gn->def->run(call, err);
    for (int k = 0; !st && k < gn->def->n_outputs; k++)
        if (!call->out[k]) st = sdc_error_set(err, SDC_ERR_INTERNAL, "node %s made no output %d", gn->def->name, k);
    for (int i = 0; i < SDC_WF_MAX_INPUTS; i++) sdc_wf_value_unref(call->in[i]);
    return st;
}

static sdc_status execute(sdc_wf_exec *ex, const sdc_wf_graph *g, int node, json_t *prompt, json_t *extra,
                          const char *prompt_id, sdc_error *err) {
    const sdc_wf_env *env = ex->env;
    const sdc_wf_gnode *gn = &g->nodes[node];
    emit(env, "executing", json_pack("{s:s, s:s, s:s}", "node", gn->id, "display_node", gn->id, "prompt_id", prompt_id));
    sdc_wf_call call = {.env = env, .def = gn->def, .node_id = gn->id, .prompt_id = prompt_id, .prompt = prompt,
                        .extra_pnginfo = extra};
    sdc_status st = run_node(ex, g, node, &call, err);
    cached *c = st ? NULL : get_slot(ex, gn->id);
    if (!st && !c) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (st || !c) {
        for (int k = 0; k < SDC_WF_MAX_OUTPUTS; k++) sdc_wf_value_unref(call.out[k]);
        json_decref(call.ui);
        cached *old = find(ex, gn->id);
        if (old) drop(old), snprintf(old->id, sizeof old->id, "%s", gn->id); /* keep the slot, empty */
        return st ? st : SDC_ERR_OOM;
    }
    drop(c);
    snprintf(c->id, sizeof c->id, "%s", gn->id);
    c->def = gn->def;
    memcpy(c->out, call.out, sizeof c->out);
    c->ui = call.ui;
    if (c->ui)
        emit(env, "executed", json_pack("{s:s, s:s, s:O, s:s}", "node", gn->id, "display_node", gn->id, "output", c->ui,
                                        "prompt_id", prompt_id));
    return SDC_OK;
}

static void record_sig(sdc_wf_exec *ex, const char *id, const uint64_t sig[2]) {
    cached *c = find(ex, id);
    if (c) memcpy(c->sig, sig, sizeof c->sig);
}

static int is_cached(sdc_wf_exec *ex, const sdc_wf_gnode *gn, const uint64_t sig[2]) {
    cached *c = find(ex, gn->id);
    if (!c || c->def != gn->def || memcmp(c->sig, sig, sizeof c->sig) != 0) return 0;
    for (int k = 0; k < gn->def->n_outputs; k++)
        if (!c->out[k]) return 0;
    return gn->def->n_outputs > 0 || c->ui != NULL;
}

static json_t *collect_outputs(sdc_wf_exec *ex, const sdc_wf_graph *g) {
    json_t *o = json_object();
    for (int k = 0; o && k < g->n_outputs; k++) {
        cached *c = find(ex, g->nodes[g->outputs[k]].id);
        if (c && c->ui) json_object_set(o, c->id, c->ui);
    }
    return o;
}

sdc_status sdc_wf_exec_run(sdc_wf_exec *ex, const sdc_wf_graph *g, json_t *prompt, json_t *extra_pnginfo,
                           const char *prompt_id, sdc_wf_result *r, sdc_error *err) {
    memset(r, 0, sizeof *r);
    const sdc_wf_env *env = ex->env;
    uint64_t(*sigs)[2] = calloc((size_t)g->n + 1, sizeof *sigs);
    json_t *cached_ids = json_array(), *executed = json_array();
    if (!sigs || !cached_ids || !executed) {
        free(sigs), json_decref(cached_ids), json_decref(executed);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    emit(env, "execution_start", json_pack("{s:s, s:I}", "prompt_id", prompt_id, "timestamp", (json_int_t)now_ms()));
    prune(ex, g);
    char *skip = calloc((size_t)g->n + 1, 1);
    for (int k = 0; k < g->n_order; k++) {
        int node = g->order[k];
        signature(env, g, sigs, node);
        if (skip && is_cached(ex, &g->nodes[node], sigs[node])) {
            skip[node] = 1;
            r->n_cached++;
            json_array_append_new(cached_ids, json_string(g->nodes[node].id));
        }
    }
    emit(env, "execution_cached", json_pack("{s:O, s:s, s:I}", "nodes", cached_ids, "prompt_id", prompt_id, "timestamp",
                                            (json_int_t)now_ms()));
    sdc_status st = skip ? SDC_OK : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int k = 0; !st && k < g->n_order; k++) {
        int node = g->order[k];
        if (skip[node]) continue;
        if (env->cancelled && env->cancelled(env->user)) st = sdc_error_set(err, SDC_ERR_CANCELLED, "interrupted");
        if (!st) st = execute(ex, g, node, prompt, extra_pnginfo, prompt_id, err);
        if (st) {
            snprintf(r->failed_node, sizeof r->failed_node, "%s", g->nodes[node].id);
            emit_error(env, g, node, prompt_id, executed, st, err);
            break;
        }
        record_sig(ex, g->nodes[node].id, sigs[node]);
        json_array_append_new(executed, json_string(g->nodes[node].id));
        r->n_executed++;
    }
    if (!st) emit(env, "execution_success", json_pack("{s:s, s:I}", "prompt_id", prompt_id, "timestamp", (json_int_t)now_ms()));
    emit(env, "executing", json_pack("{s:n, s:n, s:s}", "node", "display_node", "prompt_id", prompt_id));
    r->outputs = collect_outputs(ex, g);
    free(skip);
    free(sigs);
    json_decref(cached_ids);
    json_decref(executed);
    return st;
}
