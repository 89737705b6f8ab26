/* Prompt validation and graph building (see graph.h). Error types and
 * messages are ComfyUI's (execution.py validate_inputs / validate_prompt)
 * so clients that show them keep working; "dependency_cycle" is ComfyUI's
 * newer executor's name for cycles. */
#include "workflow/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_NONE = 0, V_OK, V_BAD };

typedef struct vstate {
    json_t *prompt;
    const sdc_wf_env *env;
    sdc_wf_graph *g;
    int *state;
    json_t **errors; /* per node: array of error objects (or NULL) */
    int *kahn;       /* nodes in an upstream-first order */
    int n_kahn;
    int oom;
} vstate;

static json_t *make_error(const char *type, const char *message, const char *details, json_t *extra) {
    json_t *e = json_pack("{s:s, s:s, s:s, s:o}", "type", type, "message", message, "details", details ? details : "",
                          "extra_info", extra ? extra : json_object());
    return e;
}

static void add_error(vstate *s, int node, const char *type, const char *message, const char *input,
                      const char *details, json_t *received) {
    if (!s->errors[node]) s->errors[node] = json_array();
    json_t *extra = json_object();
    if (extra && input) json_object_set_new(extra, "input_name", json_string(input));
    if (extra && received) json_object_set(extra, "received_value", received);
    json_t *e = make_error(type, message, details ? details : (input ? input : ""), extra);
    if (!e || !s->errors[node] || json_array_append_new(s->errors[node], e)) s->oom = 1;
}

/* ---- literal conversion -------------------------------------------------------------- */

static int parse_number(json_t *v, double *out, int *is_int, long long *iout) {
    if (json_is_integer(v)) {
        *iout = json_integer_value(v);
        *out = (double)*iout;
        *is_int = 1;
        return 1;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        *is_int = 0;
        return isfinite(*out);
    }
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        char *end;
        long long x = strtoll(t, &end, 10);
        if (*t && *end == '\0') {
            *iout = x, *out = (double)x, *is_int = 1;
            return 1;
        }
        double d = strtod(t, &end);
        if (*t && *end == '\0' && isfinite(d)) {
            *out = d, *is_int = 0;
            return 1;
        }
    }
    return 0;
}

static int in_list(json_t *list, const char *v) {
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (strcmp(json_string_value(x), v) == 0) return 1;
    return 0;
}

static void range_error(vstate *s, int node, const sdc_wf_input_def *d, json_t *v, double x) {
    char msg[160];
    if (d->min != d->max && x < d->min) {
        snprintf(msg, sizeof msg, "Value %.17g smaller than min of %.17g", x, d->min);
        add_error(s, node, "value_smaller_than_min", msg, d->name, NULL, v);
    } else {
        snprintf(msg, sizeof msg, "Value %.17g bigger than max of %.17g", x, d->max);
        add_error(s, node, "value_bigger_than_max", msg, d->name, NULL, v);
    }
}

static json_t *convert_combo(vstate *s, int node, const sdc_wf_input_def *d, json_t *v) {
    json_t *list = sdc_wf_choices(s->env, d);
    json_t *out = NULL;
    if (!list) {
        s->oom = 1;
        return NULL;
    }
    if (json_is_string(v) && in_list(list, json_string_value(v))) {
        out = json_string(json_string_value(v));
    } else {
        char details[600];
        char *shown = json_dumps(v, JSON_ENCODE_ANY);
        snprintf(details, sizeof details, "%s: '%.200s' not in %s", d->name, json_is_string(v) ? json_string_value(v) : (shown ? shown : "?"),
                 json_array_size(list) > 20 ? "(list of many values)" : "the list of choices");
        free(shown);
        add_error(s, node, "value_not_in_list", "Value not in list", d->name, details, v);
    }
    json_decref(list);
    return out;
}

/* the literal converted to the input's type, or NULL with an error added */
static json_t *convert_literal(vstate *s, int node, const sdc_wf_input_def *d, json_t *v) {
    double x = 0;
    long long ix = 0;
    int is_int = 0;
    char msg[96];
    switch (d->type) {
    case SDC_WF_INT:
    case SDC_WF_FLOAT:
        if (json_is_boolean(v) || !parse_number(v, &x, &is_int, &ix) || (d->type == SDC_WF_INT && json_is_string(v) && !is_int)) {
            snprintf(msg, sizeof msg, "Failed to convert an input value to a %s value", sdc_wf_type_name(d->type));
            add_error(s, node, "invalid_input_type", msg, d->name, NULL, v);
            return NULL;
        }
        if (d->type == SDC_WF_INT && !is_int) { /* Python int(): truncate toward zero */
            if (!(fabs(x) < 9.2e18)) {
                add_error(s, node, "invalid_input_type", "Failed to convert an input value to a INT value", d->name, NULL, v);
                return NULL;
            }
            ix = (long long)x, x = (double)ix;
        }
        if (d->min != d->max && (x < d->min || x > d->max)) {
            range_error(s, node, d, v, x);
            return NULL;
        }
        return d->type == SDC_WF_INT ? json_integer(ix) : json_real(x);
    case SDC_WF_STRING:
        if (json_is_string(v)) return json_string(json_string_value(v));
        if (json_is_number(v)) {
            char *t = json_dumps(v, JSON_ENCODE_ANY);
            json_t *r = t ? json_string(t) : NULL;
            free(t);
            return r;
        }
        add_error(s, node, "invalid_input_type", "Failed to convert an input value to a STRING value", d->name, NULL, v);
        return NULL;
    case SDC_WF_BOOLEAN:
        if (json_is_boolean(v)) return json_boolean(json_is_true(v));
        add_error(s, node, "invalid_input_type", "Failed to convert an input value to a BOOLEAN value", d->name, NULL, v);
        return NULL;
    case SDC_WF_COMBO: return convert_combo(s, node, d, v);
    default:
        snprintf(msg, sizeof msg, "%s input must be a link [node_id, output_index]", sdc_wf_type_name(d->type));
        add_error(s, node, "invalid_input_type", msg, d->name, NULL, v);
        return NULL;
    }
}

/* ---- links ------------------------------------------------------------------------------ */

/* checks a [id, slot] link; returns the upstream node index or -1 */
static int check_link(vstate *s, int node, const sdc_wf_input_def *d, json_t *v, int *slot_out) {
    char details[256];
    json_t *id = json_array_get(v, 0), *slot = json_array_get(v, 1);
    char idbuf[65];
    if (json_array_size(v) != 2 || !(json_is_string(id) || json_is_integer(id)) || !json_is_integer(slot)) {
        add_error(s, node, "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", d->name, NULL, v);
        return -1;
    }
    if (json_is_string(id)) snprintf(idbuf, sizeof idbuf, "%s", json_string_value(id));
    else snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(id));
    int up = sdc_wf_graph_find(s->g, idbuf);
    if (up < 0) {
        snprintf(details, sizeof details, "%s: node '%.64s' does not exist", d->name, idbuf);
        add_error(s, node, "bad_linked_input", "Bad linked input: the linked node does not exist", d->name, details, v);
        return -1;
    }
    long long k = json_integer_value(slot);
    const sdc_wf_node_def *ud = s->g->nodes[up].def;
    if (k < 0 || k >= ud->n_outputs) {
        snprintf(details, sizeof details, "%s: node '%s' (%s) has no output %lld", d->name, idbuf, ud->name, k);
        add_error(s, node, "bad_linked_input", "Bad linked input: no such output slot", d->name, details, v);
        return -1;
    }
    sdc_wf_type got = ud->outputs[k];
    if (got != d->type) {
        snprintf(details, sizeof details, "%s, %s != %s", d->name, sdc_wf_type_name(got), sdc_wf_type_name(d->type));
        add_error(s, node, "return_type_mismatch", "Return type mismatch between linked nodes", d->name, details, v);
        return -1;
    }
    *slot_out = (int)k;
    return up;
}

/* Reads one input: literals are converted, links checked (not followed).
 * Returns 0 when fine, 1 when the node has an error here. */
static int read_input(vstate *s, int node, int i, json_t *inputs) {
    sdc_wf_gnode *gn = &s->g->nodes[node];
    const sdc_wf_input_def *d = &gn->def->inputs[i];
    json_t *v = json_object_get(inputs, d->name);
    gn->in[i].link_node = -1;
    if (!v || json_is_null(v)) {
        if (d->optional) return 0;
        add_error(s, node, "required_input_missing", "Required input is missing", d->name, NULL, NULL);
        return 1;
    }
    gn->in[i].present = 1;
    if (json_is_array(v)) {
        int slot = 0, up = check_link(s, node, d, v, &slot);
        if (up < 0) return 1;
        gn->in[i].link_node = up;
        gn->in[i].link_slot = slot;
        return 0;
    }
    gn->in[i].literal = convert_literal(s, node, d, v);
    return gn->in[i].literal ? 0 : 1;
}

/* Kahn's algorithm over the links (no recursion: request threads have
 * small stacks and graphs come from clients). Fills s->kahn with the
 * nodes in an upstream-first order; returns how many were ordered (the
 * rest sit on or behind a cycle). */
static int kahn_order(vstate *s) {
    sdc_wf_graph *g = s->g;
    int n = g->n, head = 0, tail = 0;
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    if (!indeg) return -1;
    for (int v = 0; v < n; v++)
        for (int i = 0; i < g->nodes[v].def->n_inputs; i++) indeg[v] += g->nodes[v].in[i].link_node >= 0;
    for (int v = 0; v < n; v++)
        if (indeg[v] == 0) s->kahn[tail++] = v;
    while (head < tail) {
        int u = s->kahn[head++];
        for (int v = 0; v < n; v++) /* n <= SDC_WF_MAX_NODES: quadratic is fine */
            for (int i = 0; i < g->nodes[v].def->n_inputs; i++)
                if (g->nodes[v].in[i].link_node == u && --indeg[v] == 0) s->kahn[tail++] = v;
    }
    free(indeg);
    return tail;
}

/* every node's state: V_OK when it and everything upstream validate */
static int validate_all(vstate *s) {
    sdc_wf_graph *g = s->g;
    for (int v = 0; v < g->n; v++) {
        json_t *inputs = json_object_get(json_object_get(s->prompt, g->nodes[v].id), "inputs");
        int ok = 1;
        for (int i = 0; i < g->nodes[v].def->n_inputs; i++)
            if (read_input(s, v, i, inputs)) ok = 0;
        s->state[v] = ok ? V_OK : V_BAD;
    }
    int ordered = kahn_order(s);
    if (ordered < 0) return -1;
    char *in_order = calloc((size_t)g->n + 1, 1);
    if (!in_order) return -1;
    for (int k = 0; k < ordered; k++) in_order[s->kahn[k]] = 1;
    for (int v = 0; v < g->n; v++)
        if (!in_order[v]) {
            add_error(s, v, "dependency_cycle", "Dependency cycle detected", NULL, "the node's inputs lead back to itself or come from a cycle", NULL);
            s->state[v] = V_BAD;
        }
    for (int k = 0; k < ordered; k++) { /* upstream first: a bad input makes the node bad */
        int v = s->kahn[k];
        for (int i = 0; i < g->nodes[v].def->n_inputs; i++) {
            int up = g->nodes[v].in[i].link_node;
            if (up >= 0 && s->state[up] != V_OK) s->state[v] = V_BAD;
        }
    }
    s->n_kahn = ordered;
    free(in_order);
    return 0;
}

/* ---- building ------------------------------------------------------------------------------- */

int sdc_wf_graph_find(const sdc_wf_graph *g, const char *id) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->nodes[i].id, id) == 0) return i;
    return -1;
}

void sdc_wf_graph_free(sdc_wf_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < SDC_WF_MAX_INPUTS; k++) json_decref(g->nodes[i].in[k].literal);
    free(g->nodes);
    free(g->order);
    free(g->outputs);
    free(g);
}

/* class_type of every node; fills g->nodes. Returns an error object or NULL */
static json_t *read_nodes(json_t *prompt, sdc_wf_graph *g) {
    const char *id;
    json_t *node;
    char details[128];
    json_object_foreach(prompt, id, node) {
        snprintf(details, sizeof details, "Node ID '#%.64s'", id);
        if (strlen(id) == 0 || strlen(id) > 64)
            return make_error("invalid_prompt", "Cannot execute because a node id is empty or longer than 64 bytes.", details, NULL);
        json_t *ct = json_object_get(node, "class_type");
        if (!json_is_object(node) || !json_is_string(ct))
            return make_error("invalid_prompt", "Cannot execute because a node is missing the class_type property.", details, NULL);
        json_t *inputs = json_object_get(node, "inputs");
        if (inputs && !json_is_object(inputs))
            return make_error("invalid_prompt", "Cannot execute because a node's inputs are not an object.", details, NULL);
        const sdc_wf_node_def *def = sdc_wf_node_find(json_string_value(ct));
        if (!def) {
            char msg[200];
            snprintf(msg, sizeof msg, "Cannot execute because node %.100s does not exist.", json_string_value(ct));
            return make_error("invalid_prompt", msg, details, NULL);
        }
        sdc_wf_gnode *gn = &g->nodes[g->n++];
        memset(gn, 0, sizeof *gn);
        snprintf(gn->id, sizeof gn->id, "%s", id);
        gn->def = def;
    }
    return NULL;
}

/* marks node and everything upstream (explicit stack) */
static int mark_upstream(const sdc_wf_graph *g, int node, char *mark) {
    int *stack = malloc(((size_t)g->n + 1) * sizeof *stack), top = 0;
    if (!stack) return -1;
    mark[node] = 1;
    stack[top++] = node;
    while (top > 0) {
        int v = stack[--top];
        for (int i = 0; i < g->nodes[v].def->n_inputs; i++) {
            int up = g->nodes[v].in[i].present ? g->nodes[v].in[i].link_node : -1;
            if (up >= 0 && !mark[up]) mark[up] = 1, stack[top++] = up;
        }
    }
    free(stack);
    return 0;
}

/* node_errors for a failed output o; also collects "message: details" lines */
static void report_output(vstate *s, int o, json_t *node_errors, json_t *lines) {
    char *mark = calloc((size_t)s->g->n, 1);
    if (!mark) {
        s->oom = 1;
        return;
    }
    if (mark_upstream(s->g, o, mark)) s->oom = 1;
    for (int i = 0; i < s->g->n; i++) {
        if (!mark[i] || !s->errors[i] || json_array_size(s->errors[i]) == 0) continue;
        json_t *ne = json_object_get(node_errors, s->g->nodes[i].id);
        if (!ne) {
            ne = json_pack("{s:O, s:[], s:s}", "errors", s->errors[i], "dependent_outputs", "class_type", s->g->nodes[i].def->name);
            if (!ne || json_object_set_new(node_errors, s->g->nodes[i].id, ne)) {
                s->oom = 1;
                continue;
            }
            size_t k;
            json_t *e;
            json_array_foreach(s->errors[i], k, e) {
                char line[1200];
                snprintf(line, sizeof line, "%s: %s", json_string_value(json_object_get(e, "message")),
                         json_string_value(json_object_get(e, "details")));
                json_array_append_new(lines, json_string(line));
            }
        }
        json_array_append_new(json_object_get(ne, "dependent_outputs"), json_string(s->g->nodes[o].id));
    }
    free(mark);
}

static json_t *failed_error(json_t *lines) {
    size_t total = 1, i;
    json_t *l;
    json_array_foreach(lines, i, l) total += strlen(json_string_value(l)) + 1;
    char *text = calloc(total, 1);
    if (!text) return NULL;
    json_array_foreach(lines, i, l) {
        if (i) strcat(text, "\n");
        strcat(text, json_string_value(l));
    }
    json_t *e = make_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", text, NULL);
    free(text);
    return e;
}

/* validates outputs, fills node_errors, the order and the output list */
static sdc_status validate_outputs(vstate *s, json_t **error, json_t *node_errors, sdc_error *err) {
    sdc_wf_graph *g = s->g;
    json_t *lines = json_array();
    if (!lines) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (validate_all(s)) s->oom = 1;
    for (int i = 0; !s->oom && i < g->n; i++) {
        if (!g->nodes[i].def->output_node) continue;
        if (s->state[i] == V_OK) g->outputs[g->n_outputs++] = i;
        else report_output(s, i, node_errors, lines);
    }
    sdc_status st = SDC_OK;
    if (s->oom) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    } else if (g->n_outputs == 0) {
        *error = failed_error(lines);
        st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "prompt outputs failed validation");
    } else { /* what the good outputs need, in Kahn order */
        char *need = calloc((size_t)g->n, 1);
        if (!need) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        for (int k = 0; need && k < g->n_outputs; k++)
            if (mark_upstream(g, g->outputs[k], need)) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        for (int k = 0; need && k < s->n_kahn; k++)
            if (need[s->kahn[k]]) g->order[g->n_order++] = s->kahn[k];
        free(need);
    }
    json_decref(lines);
    return st;
}

static int count_outputs(const sdc_wf_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->nodes[i].def->output_node;
    return n;
}

sdc_status sdc_wf_graph_build(json_t *prompt, const sdc_wf_env *env, sdc_wf_graph **out, json_t **error,
                              json_t **node_errors, sdc_error *err) {
    *out = NULL;
    *error = NULL;
    *node_errors = json_object();
    if (!json_is_object(prompt)) {
        *error = make_error("invalid_prompt", "The prompt must be an object of nodes", "", NULL);
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the prompt must be an object of nodes");
    }
    size_t n = json_object_size(prompt);
    if (n > SDC_WF_MAX_NODES) {
        *error = make_error("invalid_prompt", "Too many nodes", "", NULL);
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "more than %d nodes", SDC_WF_MAX_NODES);
    }
    sdc_wf_graph *g = calloc(1, sizeof *g);
    vstate s = {.prompt = prompt, .env = env, .g = g};
    if (g) {
        g->nodes = calloc(n + 1, sizeof *g->nodes);
        g->order = calloc(n + 1, sizeof *g->order);
        g->outputs = calloc(n + 1, sizeof *g->outputs);
        s.state = calloc(n + 1, sizeof *s.state);
        s.errors = calloc(n + 1, sizeof *s.errors);
        s.kahn = calloc(n + 1, sizeof *s.kahn);
    }
    sdc_status st = SDC_OK;
    if (!g || !g->nodes || !g->order || !g->outputs || !s.state || !s.errors || !s.kahn || !*node_errors) {
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    } else if ((*error = read_nodes(prompt, g))) {
        st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s", json_string_value(json_object_get(*error, "message")));
    } else if (count_outputs(g) == 0) {
        *error = make_error("prompt_no_outputs", "Prompt has no outputs", "", NULL);
        st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "prompt has no outputs");
    } else {
        st = validate_outputs(&s, error, *node_errors, err);
    }
    for (size_t i = 0; s.errors && i < n; i++) json_decref(s.errors[i]);
    free(s.errors);
    free(s.state);
    free(s.kahn);
    if (st) sdc_wf_graph_free(g);
    else *out = g;
    return st;
}
