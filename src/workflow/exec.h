/* Runs validated graphs (graph.h) with ComfyUI's caching: a node runs only
 * when its signature (class, literal inputs, the signatures of the nodes
 * it links to, and for file-reading nodes the file's size and time) differs
 * from the one its outputs were cached under for the same node id; cached
 * outputs live between prompts and are dropped for node ids a new prompt
 * does not have. Output nodes' UI results ({"images": [...]}) are cached
 * with them, so a repeated prompt reports the same files without running.
 *
 * Events (env->on_event) follow ComfyUI's WebSocket messages:
 * execution_start, execution_cached {nodes}, executing {node} per node
 * run, progress {value, max, node} from samplers, executed {node, output}
 * for output nodes, then execution_success, execution_error or
 * execution_interrupted, and finally executing {node: null}. Every
 * event's data carries "prompt_id".
 *
 * Not thread-safe: one executor per worker thread. */
#ifndef SDC_WORKFLOW_EXEC_H
#define SDC_WORKFLOW_EXEC_H

#include <jansson.h>

#include "workflow/graph.h"
#include "workflow/wf_types.h"

typedef struct sdc_wf_exec sdc_wf_exec;

sdc_status sdc_wf_exec_new(const sdc_wf_env *env, sdc_wf_exec **out, sdc_error *err);
void sdc_wf_exec_free(sdc_wf_exec *ex);
/* Drops every cached output. */
void sdc_wf_exec_clear(sdc_wf_exec *ex);

typedef struct sdc_wf_result {
    json_t *outputs;   /* {node_id: ui} of every output node that has a UI result (new reference) */
    int n_executed;    /* nodes that ran (not cached) */
    int n_cached;
    char failed_node[65]; /* on failure: the node that failed ("" when none) */
} sdc_wf_result;

/* Runs graph g built from `prompt` (kept for SaveImage's metadata;
 * extra_pnginfo may be NULL). On failure (SDC_ERR_CANCELLED when
 * interrupted) the events have been sent and err holds the message;
 * outputs of nodes that finished stay cached. r->outputs is set in both
 * cases. */
sdc_status sdc_wf_exec_run(sdc_wf_exec *ex, const sdc_wf_graph *g, json_t *prompt, json_t *extra_pnginfo,
                           const char *prompt_id, sdc_wf_result *r, sdc_error *err);

#endif
