/* LoRA-family weight patches merged into a model while it loads.
 *
 * Formats (safetensors files, any float dtype):
 *  - kohya / A1111: "lora_unet_<module>", "lora_te_<module>" (SDXL:
 *    "lora_te1_" / "lora_te2_") with ".lora_down.weight", ".lora_up.weight",
 *    optional ".lora_mid.weight" (Tucker) and ".alpha"; <module> is the
 *    diffusers module path (or the ldm path) with '_' for '.';
 *  - diffusers / PEFT: "unet.<module>", "text_encoder.<module>",
 *    "base_model.model.<module>" or bare diffusers paths with
 *    ".lora_A.weight" / ".lora_B.weight" (also ".lora_A.default.weight"),
 *    ".lora.down.weight" / ".lora.up.weight", and the attention-processor
 *    style ".processor.to_q_lora.down.weight";
 *  - LyCORIS: LoCon (conv LoRA, 3x3 down x 1x1 up), LoHa (hada_w1_a/b,
 *    hada_w2_a/b, optional hada_t1/t2), LoKr (lokr_w1 or lokr_w1_a/b,
 *    lokr_w2 or lokr_w2_a/b, optional lokr_t2), full "diff" / "diff_b".
 *
 * delta = up . down * (alpha / rank) * strength (rank = rows of down; no
 * alpha: scale 1), reshaped to the weight (1x1 and 3x3 convs); LoHa and
 * LoKr as LyCORIS defines them. Each module is mapped to the canonical
 * (ldm single-file) name of the base model's weight; text-encoder modules
 * of an OpenCLIP model (SD 2.x) land in row slices of the fused in_proj.
 *
 * Use: sdc_lora_set_new, _add each file with its U-Net / text-encoder
 * strengths, _bind to the opened model (resolves names, checks shapes,
 * reports unmatched keys), then pass sdc_lora_set_patch() to the model
 * loaders (sdc_unet_opts.patch, sdc_clip_text_opts.patch): the deltas are
 * added in f32 as each weight loads, before dtype conversion / fusion /
 * repacking. The set keeps its files mapped until freed. Not thread-safe.
 *
 * Not here: DoRA (dora_scale) and OFT/BOFT/GLoRA modules (reported as
 * unsupported, never silently applied wrong); prompt tags (lora_tags.h). */
#ifndef SDC_MODELS_LORA_H
#define SDC_MODELS_LORA_H

#include "base/log.h"
#include "base/threadpool.h"
#include "formats/model_files.h"
#include "models/wload.h"

typedef struct sdc_lora_set sdc_lora_set;

sdc_status sdc_lora_set_new(sdc_lora_set **out, sdc_error *err);
void sdc_lora_set_free(sdc_lora_set *s);

/* Opens a LoRA file and groups its tensors into modules. Strengths scale
 * the U-Net and text-encoder deltas (0 disables that part). Fails on
 * unreadable files and on modules whose tensors are inconsistent. */
sdc_status sdc_lora_set_add(sdc_lora_set *s, const char *path, float unet_strength, float te_strength,
                            sdc_error *err);

/* Maps every module of every added file onto the model's weights and
 * checks shapes. Modules that match no weight are logged as a warning
 * (listing their names) and counted; a file none of whose modules match,
 * or a module whose delta has another shape than its weight (a LoRA for
 * another model family), is an error naming the key and both shapes.
 * May be called again for another model. */
sdc_status sdc_lora_set_bind(sdc_lora_set *s, const sdc_model_files *model, const sdc_log *log, sdc_error *err);

/* The patch for the model loaders (valid after a successful bind, while s
 * lives); NULL when nothing is to be patched. */
const sdc_wpatch *sdc_lora_set_patch(sdc_lora_set *s);

/* Optional thread pool for the delta products (borrowed; NULL = inline). */
void sdc_lora_set_pool(sdc_lora_set *s, sdc_pool *pool);

/* After bind: modules matched / unmatched over all files, and the i-th
 * unmatched module name ("lora_unet_..." as in the file) with its file. */
size_t sdc_lora_set_matched(const sdc_lora_set *s);
size_t sdc_lora_set_unmatched(const sdc_lora_set *s);
const char *sdc_lora_set_unmatched_name(const sdc_lora_set *s, size_t i, const char **file);
/* Patches applied so far (weights that went through apply). */
size_t sdc_lora_set_applied(const sdc_lora_set *s);

#endif
