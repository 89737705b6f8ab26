/* Node-graph building blocks shared by the validator, the executor and the
 * node implementations: value types (ComfyUI's socket types), runtime
 * values, node definitions (the table /object_info is generated from), and
 * the environment nodes run in.
 *
 * Values are reference-counted and immutable once made, so a node's cached
 * outputs can be shared by later prompts. MODEL / CLIP / VAE values are
 * descriptions (checkpoint path + LoRA list + clip skip, or a VAE file),
 * not pointers: nodes get the loaded weights from the model cache when they
 * run, so a cached value never dangles when the cache evicts a model.
 * Latents are the pipeline's scaled latents (VAE mean x scaling factor),
 * NCHW; images are ComfyUI's float NHWC [B, H, W, 3] in [0, 1]; masks
 * [B, H, W] in [0, 1] (1 = repaint).
 *
 * Not thread-safe: values belong to the executor's thread. */
#ifndef SDC_WORKFLOW_WF_TYPES_H
#define SDC_WORKFLOW_WF_TYPES_H

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "image/image.h"
#include "kernels/kernels.h"
#include "workflow/catalog.h"
#include "workflow/model_cache.h"

typedef enum sdc_wf_type {
    SDC_WF_INT = 0,
    SDC_WF_FLOAT,
    SDC_WF_STRING,
    SDC_WF_BOOLEAN,
    SDC_WF_COMBO, /* a string from a list */
    SDC_WF_MODEL,
    SDC_WF_CLIP,
    SDC_WF_VAE,
    SDC_WF_CONDITIONING,
    SDC_WF_LATENT,
    SDC_WF_IMAGE,
    SDC_WF_MASK,
    SDC_WF_CONTROL_NET,
    SDC_WF_TYPE_COUNT
} sdc_wf_type;

/* "INT", "MODEL", ... (COMBO has no socket name: "COMBO"). */
const char *sdc_wf_type_name(sdc_wf_type t);
/* Widget types are given as literals; the others only through links. */
static inline int sdc_wf_type_is_widget(sdc_wf_type t) { return t <= SDC_WF_COMBO; }

#define SDC_WF_MAX_CONTROL 4

typedef enum sdc_wf_vae_kind { SDC_WF_VAE_CHECKPOINT = 0, SDC_WF_VAE_FILE, SDC_WF_VAE_TAESD } sdc_wf_vae_kind;

struct sdc_wf_value;

typedef struct sdc_wf_control {
    char path[SDC_MODEL_PATH_MAX]; /* ControlNet file */
    struct sdc_wf_value *image;    /* IMAGE hint (a reference is held) */
    float strength, start_percent, end_percent;
} sdc_wf_control;

typedef struct sdc_wf_value {
    sdc_wf_type type;
    int refs;
    union {
        int64_t i;
        double f;
        char *s; /* STRING / COMBO (owned) */
        int b;
        struct { /* MODEL, CLIP */
            sdc_model_key key;
            int clip_skip; /* A1111 meaning; 0: the model's default */
        } model;
        struct { /* VAE */
            sdc_wf_vae_kind kind;
            sdc_model_key ckpt;                  /* CHECKPOINT */
            char path[SDC_MODEL_PATH_MAX];       /* FILE / TAESD decoder */
            char path2[SDC_MODEL_PATH_MAX];      /* TAESD encoder ("" if none) */
        } vae;
        struct { /* CONDITIONING: one entry, [1, T, D] */
            int64_t T, D;
            float *data;
            int n_control;
            sdc_wf_control control[SDC_WF_MAX_CONTROL];
        } cond;
        struct { /* LATENT */
            int64_t B, C, h, w;
            float *samples;         /* [B, C, h, w] scaled */
            float *mask;            /* noise mask [mB, mH, mW] (1 = denoise) or NULL */
            int64_t mB, mH, mW;
        } latent;
        struct { /* IMAGE */
            int64_t B, H, W;
            float *data; /* [B, H, W, 3] */
        } image;
        struct { /* MASK */
            int64_t B, H, W;
            float *data; /* [B, H, W] */
        } mask;
        char path[SDC_MODEL_PATH_MAX]; /* CONTROL_NET */
    } u;
} sdc_wf_value;

/* A new value with one reference (zeroed payload), or NULL on OOM. */
sdc_wf_value *sdc_wf_value_new(sdc_wf_type t);
sdc_wf_value *sdc_wf_value_ref(sdc_wf_value *v);
void sdc_wf_value_unref(sdc_wf_value *v); /* NULL-safe; frees owned buffers at 0 */

/* ---- node definitions ----------------------------------------------------------- */

/* Dynamic choice lists of COMBO inputs. */
typedef enum sdc_wf_list {
    SDC_WF_LIST_NONE = 0,
    SDC_WF_LIST_CHECKPOINTS,
    SDC_WF_LIST_LORAS,
    SDC_WF_LIST_VAES,        /* standalone VAEs + "taesd" when TAESD is present */
    SDC_WF_LIST_CONTROLNETS,
    SDC_WF_LIST_INPUT_IMAGES,
    SDC_WF_LIST_SAMPLERS,
    SDC_WF_LIST_SCHEDULERS
} sdc_wf_list;

typedef struct sdc_wf_input_def {
    const char *name;
    sdc_wf_type type;
    int optional;
    double def, min, max, step, round; /* INT / FLOAT (min == max == 0: unbounded) */
    const char *sdef;                  /* STRING default */
    int multiline;                     /* STRING */
    const char *const *choices;        /* COMBO: static list (NULL-terminated) */
    sdc_wf_list list;                  /* COMBO: dynamic list */
    int image_upload;                  /* COMBO of input images with an upload widget */
    int control_after_generate;        /* seed widgets */
} sdc_wf_input_def;

#define SDC_WF_MAX_INPUTS 16
#define SDC_WF_MAX_OUTPUTS 4

struct sdc_wf_call;
typedef sdc_status (*sdc_wf_node_fn)(struct sdc_wf_call *call, sdc_error *err);

typedef struct sdc_wf_node_def {
    const char *name, *display_name, *category, *description;
    const sdc_wf_input_def *inputs;
    int n_inputs;
    sdc_wf_type outputs[SDC_WF_MAX_OUTPUTS];
    const char *output_names[SDC_WF_MAX_OUTPUTS]; /* NULL: the type name */
    int n_outputs;
    int output_node;
    int volatile_file; /* reads an input file: its size and time join the cache signature */
    sdc_wf_node_fn run;
} sdc_wf_node_def;

/* The node table (generated object_info, validation, execution). */
const sdc_wf_node_def *sdc_wf_nodes(int *n);
const sdc_wf_node_def *sdc_wf_node_find(const char *class_type);

/* ---- environment ------------------------------------------------------------------ */

typedef struct sdc_wf_env {
    const sdc_catalog *cat;
    sdc_model_cache *cache;
    sdc_pool *pool;
    sdc_compute compute;
    const char *input_dir, *output_dir, *temp_dir;
    const sdc_log *log;
    int previews;  /* send step previews (TAESD when present, else latent -> RGB) */
    /* events: type and data (borrowed); previews: an RGB image. Both may be NULL. */
    void (*on_event)(void *user, const char *type, json_t *data);
    void (*on_preview)(void *user, const sdc_image *rgb);
    int (*cancelled)(void *user); /* nonzero: stop at the next step / node */
    void *user;
} sdc_wf_env;

/* Choices of a COMBO input (static or dynamic) as a new JSON array of strings. */
json_t *sdc_wf_choices(const sdc_wf_env *env, const sdc_wf_input_def *in);

/* A node being run: resolved inputs (in the definition's order; NULL for an
 * absent optional input), outputs to fill, and the UI result of output
 * nodes ({"images": [...]}). */
typedef struct sdc_wf_call {
    const sdc_wf_env *env;
    const sdc_wf_node_def *def;
    const char *node_id, *prompt_id;
    json_t *prompt;        /* the whole prompt (SaveImage metadata) */
    json_t *extra_pnginfo; /* may be NULL */
    sdc_wf_value *in[SDC_WF_MAX_INPUTS];
    sdc_wf_value *out[SDC_WF_MAX_OUTPUTS];
    json_t *ui;
} sdc_wf_call;

/* Input by name (NULL when absent or unknown). */
sdc_wf_value *sdc_wf_arg(const sdc_wf_call *c, const char *name);
int64_t sdc_wf_arg_int(const sdc_wf_call *c, const char *name);
double sdc_wf_arg_float(const sdc_wf_call *c, const char *name);
const char *sdc_wf_arg_str(const sdc_wf_call *c, const char *name);

#endif
