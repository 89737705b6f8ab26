/* Loaded-model cache (see model_cache.h). */
#include "workflow/model_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/file_hash.h"
#include "formats/model_files.h"
#include "kernels/kernels.h"

enum { K_CKPT = 0, K_VAE, K_TAESD, K_CN, K_COUNT };

#define MAX_ENTRIES 8

typedef struct vae_entry {
    sdc_model_files *files;
    sdc_vae *vae;
} vae_entry;

typedef struct entry {
    char key[SDC_MODEL_PATH_MAX * (SDC_MAX_LORAS + 1) + 512];
    void *obj;
    unsigned long long used;
} entry;

struct sdc_model_cache {
    sdc_model_cache_opts o;
    entry e[K_COUNT][MAX_ENTRIES];
    int n[K_COUNT];
    int cap[K_COUNT];
    unsigned long long clock;
    int loads;
};

static void free_obj(int kind, void *obj) {
    if (!obj) return;
    switch (kind) {
    case K_CKPT: sdc_sd_model_free(obj); break;
    case K_VAE: {
        vae_entry *v = obj;
        sdc_vae_free(v->vae);
        sdc_model_files_close(v->files);
        free(v);
        break;
    }
    case K_TAESD: sdc_taesd_free(obj); break;
    case K_CN: sdc_controlnet_free(obj); break;
    }
}

sdc_status sdc_model_cache_new(const sdc_model_cache_opts *o, sdc_model_cache **out, sdc_error *err) {
    *out = NULL;
    sdc_model_cache *c = calloc(1, sizeof *c);
    if (!c) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    c->o = *o;
    c->cap[K_CKPT] = o->max_checkpoints < 1 ? 1 : (o->max_checkpoints > MAX_ENTRIES ? MAX_ENTRIES : o->max_checkpoints);
    c->cap[K_VAE] = 2;
    c->cap[K_TAESD] = 2;
    c->cap[K_CN] = 4;
    *out = c;
    return SDC_OK;
}

void sdc_model_cache_clear(sdc_model_cache *c) {
    if (!c) return;
    for (int k = 0; k < K_COUNT; k++) {
        for (int i = 0; i < c->n[k]; i++) free_obj(k, c->e[k][i].obj);
        c->n[k] = 0;
    }
}

void sdc_model_cache_free(sdc_model_cache *c) {
    sdc_model_cache_clear(c);
    free(c);
}

int sdc_model_cache_loads(const sdc_model_cache *c) { return c->loads; }

sdc_status sdc_model_key_add_lora(sdc_model_key *k, const char *path, float unet, float te, sdc_error *err) {
    if (k->n_loras >= SDC_MAX_LORAS) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "at most %d LoRAs per model", SDC_MAX_LORAS);
    sdc_lora_ref *r = &k->loras[k->n_loras];
    if (snprintf(r->path, sizeof r->path, "%s", path) >= (int)sizeof r->path) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "LoRA path too long");
    r->unet = unet;
    r->te = te;
    k->n_loras++;
    return SDC_OK;
}

void sdc_model_key_text(const sdc_model_key *k, char *out, size_t size) {
    int n = snprintf(out, size, "%s", k->path);
    for (int i = 0; i < k->n_loras && n >= 0 && (size_t)n < size; i++)
        n += snprintf(out + n, size - (size_t)n, "|%s:%.9g:%.9g", k->loras[i].path, (double)k->loras[i].unet,
                      (double)k->loras[i].te);
}

/* the cached object of kind k under key, or NULL; touches it */
static void *lookup(sdc_model_cache *c, int k, const char *key) {
    for (int i = 0; i < c->n[k]; i++)
        if (strcmp(c->e[k][i].key, key) == 0) {
            c->e[k][i].used = ++c->clock;
            return c->e[k][i].obj;
        }
    return NULL;
}

/* frees least recently used entries until one slot is free */
static void make_room(sdc_model_cache *c, int k) {
    while (c->n[k] >= c->cap[k]) {
        int lru = 0;
        for (int i = 1; i < c->n[k]; i++)
            if (c->e[k][i].used < c->e[k][lru].used) lru = i;
        free_obj(k, c->e[k][lru].obj);
        c->e[k][lru] = c->e[k][c->n[k] - 1];
        c->n[k]--;
    }
}

static void insert(sdc_model_cache *c, int k, const char *key, void *obj) {
    entry *e = &c->e[k][c->n[k]++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->obj = obj;
    e->used = ++c->clock;
    c->loads++;
}

static sdc_status load_checkpoint(sdc_model_cache *c, const sdc_model_key *key, sdc_sd_model **out, sdc_error *err) {
    sdc_lora_set *set = NULL;
    sdc_status st = SDC_OK;
    if (key->n_loras > 0) {
        st = sdc_lora_set_new(&set, err);
        for (int i = 0; !st && i < key->n_loras; i++)
            st = sdc_lora_set_add(set, key->loras[i].path, key->loras[i].unet, key->loras[i].te, err);
        if (!st) sdc_lora_set_pool(set, c->o.pool);
    }
    const char *vocab = c->o.vocab;
    if (!vocab && c->o.fallback_vocab) { /* the model's own vocabulary first, then the fallback */
        char found[4096];
        sdc_error probe;
        sdc_error_clear(&probe);
        if (sdc_clip_vocab_find(NULL, key->path, found, sizeof found, &probe) != SDC_OK) vocab = c->o.fallback_vocab;
    }
    if (!st) {
        sdc_wpack pack = {.k = sdc_kernels_best(), .compute = c->o.pack, .pool = c->o.pool};
        sdc_sd_model_opts mo = {.model_path = key->path, .vocab_path = vocab, .mat_dtype = c->o.mat_dtype,
                                .prediction = -1, .log = c->o.log, .loras = set,
                                .pack = c->o.pack == SDC_COMPUTE_BF16 ? &pack : NULL};
        st = sdc_sd_model_load(&mo, out, err);
    }
    sdc_lora_set_free(set);
    return st;
}

sdc_status sdc_model_cache_checkpoint(sdc_model_cache *c, const sdc_model_key *key, sdc_sd_model **out,
                                      sdc_error *err) {
    char text[sizeof c->e[0][0].key];
    sdc_model_key_text(key, text, sizeof text);
    if ((*out = lookup(c, K_CKPT, text))) return SDC_OK;
    make_room(c, K_CKPT);
    sdc_status st = load_checkpoint(c, key, out, err);
    if (!st) insert(c, K_CKPT, text, *out);
    /* as A1111 does when it loads a checkpoint: its SHA-256 (once per file,
     * cached in ~/.cache/sdc; folders have none), for infotexts and model
     * lists (sdc_file_sha256_cached) */
    char sha[65];
    sdc_error herr;
    sdc_error_clear(&herr);
    if (!st) sdc_file_sha256(key->path, 1, sha, &herr);
    return st;
}

sdc_status sdc_model_cache_vae(sdc_model_cache *c, const char *path, sdc_vae **out, sdc_error *err) {
    vae_entry *v = lookup(c, K_VAE, path);
    if (v) {
        *out = v->vae;
        return SDC_OK;
    }
    make_room(c, K_VAE);
    v = calloc(1, sizeof *v);
    if (!v) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = sdc_model_files_open(path, &v->files, err);
    if (!st) {
        const char *prefix = sdc_model_files_find(v->files, SDC_VAE_PREFIX "decoder.conv_in.weight") ? NULL : "";
        st = sdc_vae_load(v->files, prefix, c->o.mat_dtype, 0, &v->vae, err);
    }
    if (st) {
        free_obj(K_VAE, v);
        return st;
    }
    insert(c, K_VAE, path, v);
    *out = v->vae;
    return SDC_OK;
}

sdc_status sdc_model_cache_taesd(sdc_model_cache *c, const char *dec, const char *enc, sdc_taesd **out,
                                 sdc_error *err) {
    char key[SDC_MODEL_PATH_MAX * 2 + 4];
    snprintf(key, sizeof key, "%s|%s", dec, enc ? enc : "");
    if ((*out = lookup(c, K_TAESD, key))) return SDC_OK;
    make_room(c, K_TAESD);
    const char *paths[2] = {dec, enc};
    /* TAESD is small: f32 weights keep previews exact and cost nothing */
    sdc_status st = sdc_taesd_open(paths, enc && enc[0] ? 2 : 1, SDC_DTYPE_F32, out, err);
    if (!st) insert(c, K_TAESD, key, *out);
    return st;
}

sdc_status sdc_model_cache_controlnet(sdc_model_cache *c, const char *path, const sdc_sd_model *m,
                                      sdc_controlnet **out, sdc_error *err) {
    sdc_controlnet_opts co = {.mat_dtype = c->o.mat_dtype};
    if (m) {
        co.num_heads = m->cfg.unet_num_heads;
        co.head_dim = m->cfg.unet_head_dim;
    }
    char key[SDC_MODEL_PATH_MAX + 64];
    snprintf(key, sizeof key, "%s|%lld|%lld", path, (long long)co.num_heads, (long long)co.head_dim);
    if ((*out = lookup(c, K_CN, key))) return SDC_OK;
    make_room(c, K_CN);
    sdc_status st = sdc_controlnet_open(path, &co, out, err);
    if (!st) insert(c, K_CN, key, *out);
    return st;
}
