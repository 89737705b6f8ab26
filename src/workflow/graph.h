/* ComfyUI API-format prompts ({"id": {"class_type": ..., "inputs": {...}}})
 * checked against the node table and turned into an executable graph.
 *
 * Validation follows ComfyUI's validate_prompt: every node must name a
 * known class; output nodes are found; each output's upstream nodes are
 * checked (required inputs present, links well-formed [node_id, slot] to
 * an existing node and slot of the right type, literals convertible to
 * the input type, within min / max, COMBO values in their list); a link
 * cycle is an error on every node in it. Errors are reported in ComfyUI's
 * JSON shapes: an `error` object {type, message, details, extra_info} and
 * `node_errors` {node_id: {errors: [...], dependent_outputs: [...],
 * class_type}}. As in ComfyUI, a prompt runs when at least one output
 * validates; the others are listed in node_errors and skipped.
 *
 * Bounds: at most SDC_WF_MAX_NODES nodes; ids up to 64 bytes. Nothing
 * recurses over the graph (links are ordered with Kahn's algorithm), so a
 * deep chain from a client cannot exhaust a request thread's stack.
 * Not here: execution (exec.h). */
#ifndef SDC_WORKFLOW_GRAPH_H
#define SDC_WORKFLOW_GRAPH_H

#include <jansson.h>

#include "workflow/wf_types.h"

#define SDC_WF_MAX_NODES 2000

typedef struct sdc_wf_input {
    int present;
    int link_node;   /* index of the upstream node, -1 for a literal */
    int link_slot;
    json_t *literal; /* converted literal (owned reference), or NULL */
} sdc_wf_input;

typedef struct sdc_wf_gnode {
    char id[65];
    const sdc_wf_node_def *def;
    sdc_wf_input in[SDC_WF_MAX_INPUTS];
} sdc_wf_gnode;

typedef struct sdc_wf_graph {
    sdc_wf_gnode *nodes;
    int n;
    int *order;   /* nodes to run, upstream first */
    int n_order;
    int *outputs; /* the output nodes that validated */
    int n_outputs;
} sdc_wf_graph;

/* Validates prompt and builds the graph. Returns SDC_OK (*out set,
 * *node_errors an object, possibly with errors of skipped outputs) or
 * SDC_ERR_INVALID_ARG (*error and *node_errors set, *out NULL); other
 * statuses for out of memory. *error / *node_errors are new references
 * (either may be NULL on OOM). env supplies the dynamic choice lists. */
sdc_status sdc_wf_graph_build(json_t *prompt, const sdc_wf_env *env, sdc_wf_graph **out, json_t **error,
                              json_t **node_errors, sdc_error *err);
void sdc_wf_graph_free(sdc_wf_graph *g);

/* Node index by id, or -1. */
int sdc_wf_graph_find(const sdc_wf_graph *g, const char *id);

#endif
