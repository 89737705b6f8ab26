/* Loaded models kept between requests: checkpoints (with their LoRA set
 * merged in), standalone VAEs, TAESD and ControlNets, each kind with its
 * own small capacity; getting an entry that is not loaded evicts the least
 * recently used entry of that kind (capacity 1 for checkpoints: switching
 * models frees the old one before the new one loads).
 *
 * A checkpoint's key is its path + the LoRA list (files and strengths, in
 * order): merged weights are copies, so another LoRA set is another model.
 * Pointers handed out stay valid until the next get of the same kind (or
 * clear / free): a caller uses at most one checkpoint at a time.
 *
 * Not thread-safe: the server's single compute worker is its only user. */
#ifndef SDC_WORKFLOW_MODEL_CACHE_H
#define SDC_WORKFLOW_MODEL_CACHE_H

#include "base/log.h"
#include "base/threadpool.h"
#include "models/controlnet.h"
#include "models/taesd.h"
#include "pipeline/sd_model.h"

#define SDC_MAX_LORAS 8
#define SDC_MODEL_PATH_MAX 1024

typedef struct sdc_lora_ref {
    char path[SDC_MODEL_PATH_MAX];
    float unet, te;
} sdc_lora_ref;

typedef struct sdc_model_key {
    char path[SDC_MODEL_PATH_MAX];
    int n_loras;
    sdc_lora_ref loras[SDC_MAX_LORAS];
} sdc_model_key;

typedef struct sdc_model_cache_opts {
    int max_checkpoints;  /* >= 1 */
    sdc_dtype mat_dtype;  /* weights: SDC_WLOAD_KEEP (f32 path), f16 or bf16 */
    const char *vocab;    /* NULL: search beside the model (clip_tokenizer.h) */
    const char *fallback_vocab; /* used when that search finds nothing (e.g. MODELS/bpe_simple_vocab_16e6.txt.gz) */
    const sdc_log *log;
    sdc_pool *pool;       /* for LoRA merges and packing (borrowed) */
    sdc_compute pack;     /* SDC_COMPUTE_BF16: pack U-Net weights at load for the best kernels, as
                           * `sdc generate --precision bf16` does; F32 (0): no packing */
} sdc_model_cache_opts;

typedef struct sdc_model_cache sdc_model_cache;

sdc_status sdc_model_cache_new(const sdc_model_cache_opts *o, sdc_model_cache **out, sdc_error *err);
void sdc_model_cache_free(sdc_model_cache *c);
/* Frees every loaded model. */
void sdc_model_cache_clear(sdc_model_cache *c);

/* Appends a LoRA to a key (SDC_ERR_INVALID_ARG when full or the path is too long). */
sdc_status sdc_model_key_add_lora(sdc_model_key *k, const char *path, float unet, float te, sdc_error *err);
/* Canonical text of a key (for cache lookups and node signatures). */
void sdc_model_key_text(const sdc_model_key *k, char *out, size_t size);

/* Loads (or finds loaded) a checkpoint; a load also hashes the file, as
 * A1111 does, into the hash cache (formats/file_hash.h). */
sdc_status sdc_model_cache_checkpoint(sdc_model_cache *c, const sdc_model_key *key, sdc_sd_model **out,
                                      sdc_error *err);
/* A standalone VAE file (single-file or bare "decoder.*" names). */
sdc_status sdc_model_cache_vae(sdc_model_cache *c, const char *path, sdc_vae **out, sdc_error *err);
/* TAESD from a decoder file and an optional encoder file (enc may be NULL or ""). */
sdc_status sdc_model_cache_taesd(sdc_model_cache *c, const char *dec, const char *enc, sdc_taesd **out,
                                 sdc_error *err);
/* A ControlNet; heads follow the model it will run with (may be NULL). */
sdc_status sdc_model_cache_controlnet(sdc_model_cache *c, const char *path, const sdc_sd_model *m,
                                      sdc_controlnet **out, sdc_error *err);

/* Loads so far (for tests: a cache hit loads nothing). */
int sdc_model_cache_loads(const sdc_model_cache *c);

#endif
