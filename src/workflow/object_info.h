/* ComfyUI's /object_info, generated from the node table: for each node its
 * inputs (required / optional / hidden, each [TYPE, {default, min, max,
 * step, ...}] or [[choices], {...}] for lists), input_order, outputs,
 * output names, category, display name and whether it is an output node,
 * so ComfyUI's node editor can build the widgets. Dynamic lists
 * (checkpoints, LoRAs, input images ...) come from env at call time. */
#ifndef SDC_WORKFLOW_OBJECT_INFO_H
#define SDC_WORKFLOW_OBJECT_INFO_H

#include <jansson.h>

#include "workflow/wf_types.h"

/* One node's entry (new reference), or NULL on OOM. */
json_t *sdc_wf_object_info_node(const sdc_wf_env *env, const sdc_wf_node_def *def);
/* {name: entry} for every node (new reference). */
json_t *sdc_wf_object_info(const sdc_wf_env *env);

#endif
