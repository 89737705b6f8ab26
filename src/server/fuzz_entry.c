/* Fuzz entry for the workflow validator (see fuzz_entry.h). */
#include "server/fuzz_entry.h"

#include <stdlib.h>

#include "server/http_util.h"
#include "workflow/graph.h"

int sdc_fuzz_workflow(const uint8_t *data, size_t size) {
    sdc_error err;
    sdc_error_clear(&err);
    json_t *doc = NULL;
    if (sdc_json_parse_bounded((const char *)data, size, 1, &doc, &err) != SDC_OK) {
        if (!err.msg[0]) abort(); /* a refusal without a message */
        return 1;
    }
    json_t *prompt = json_is_object(doc) && json_object_get(doc, "prompt") ? json_object_get(doc, "prompt") : doc;
    sdc_wf_env env = {0}; /* no folders: every model / image list is empty */
    sdc_wf_graph *g = NULL;
    json_t *error = NULL, *node_errors = NULL;
    sdc_status st = sdc_wf_graph_build(prompt, &env, &g, &error, &node_errors, &err);
    if (st == SDC_ERR_INVALID_ARG && !error) abort(); /* refused graphs always carry ComfyUI's error object */
    if (st == SDC_OK && (!g || g->n_outputs < 1 || g->n_order < g->n_outputs)) abort();
    for (int i = 0; g && i < g->n_order; i++) /* the order is upstream first */
        for (int k = 0; k < g->nodes[g->order[i]].def->n_inputs; k++) {
            int up = g->nodes[g->order[i]].in[k].link_node;
            int seen = 0;
            for (int j = 0; up >= 0 && j < i; j++) seen |= g->order[j] == up;
            if (up >= 0 && !seen) abort();
        }
    sdc_wf_graph_free(g);
    json_decref(error);
    json_decref(node_errors);
    json_decref(doc);
    return st == SDC_OK ? 0 : 1;
}
