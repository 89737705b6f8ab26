/* diffusers folders and diffusers-named files (see diffusers.h). */
#include "formats/diffusers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mapfile.h"
#include "base/util.h"
#include "formats/keymap.h"

#define NAME_MAX_LEN 512

typedef struct {
    char *name; /* canonical in_proj name */
    const sdc_weight_info *part[3];
} qkv_slot;

typedef struct {
    qkv_slot *slots;
    size_t n, cap;
    sdc_strmap index;
} qkv_set;

static void qkv_free(qkv_set *q) {
    for (size_t i = 0; i < q->n; i++) free(q->slots[i].name);
    free(q->slots);
    sdc_strmap_free(&q->index);
}

static sdc_status qkv_put(qkv_set *q, const char *name, int part, const sdc_weight_info *w, sdc_error *err) {
    size_t i;
    if (!sdc_strmap_get(&q->index, name, &i)) {
        if (q->n == q->cap) {
            size_t ncap = q->cap ? 2 * q->cap : 32;
            qkv_slot *ns = realloc(q->slots, ncap * sizeof *ns);
            if (!ns) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
            q->slots = ns;
            q->cap = ncap;
        }
        i = q->n;
        memset(&q->slots[i], 0, sizeof q->slots[i]);
        if (!(q->slots[i].name = sdc_strdup(name)) || sdc_strmap_put(&q->index, q->slots[i].name, i) < 0) {
            free(q->slots[i].name);
            return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        }
        q->n++;
    }
    if (q->slots[i].part[part]) return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' has two %c projections", name, "qkv"[part]);
    q->slots[i].part[part] = w;
    return SDC_OK;
}

/* Concatenates q, k, v along dim 0 (OpenCLIP's in_proj). */
static sdc_status qkv_finish(sdc_model_files *m, const qkv_slot *s, sdc_error *err) {
    const sdc_weight_info *q = s->part[0];
    for (int p = 0; p < 3; p++) {
        const sdc_weight_info *w = s->part[p];
        if (!w) return sdc_error_set(err, SDC_ERR_FORMAT, "'%s': the %c projection is missing", s->name, "qkv"[p]);
        if (w->dtype != q->dtype || w->ndim != q->ndim || w->ndim < 1 || w->ndim > 2 || w->nbytes != q->nbytes ||
            memcmp(w->shape, q->shape, sizeof w->shape) != 0)
            return sdc_error_set(err, SDC_ERR_FORMAT, "'%s': q, k and v differ in shape or dtype", s->name);
    }
    size_t total;
    if (!sdc_mul_ok(q->nbytes, 3, &total)) return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' too large", s->name);
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int p = 0; p < 3; p++) memcpy(buf + (size_t)p * q->nbytes, s->part[p]->data, q->nbytes);
    int64_t shape[2] = {3 * q->shape[0], q->ndim == 2 ? q->shape[1] : 0};
    return sdc_model_files_add_made(m, s->name, q->dtype, q->ndim, shape, buf, total, buf, err);
}

static sdc_status add_transposed(sdc_model_files *m, const char *name, const sdc_weight_info *w, sdc_error *err) {
    if (w->ndim != 2 || sdc_dtype_block_elems(w->dtype) != 1)
        return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is not a 2-D matrix", w->name);
    size_t r = (size_t)w->shape[0], c = (size_t)w->shape[1], es = (size_t)sdc_dtype_block_bytes(w->dtype);
    unsigned char *buf = malloc(w->nbytes ? w->nbytes : 1);
    if (!buf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    const unsigned char *src = w->data;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++) memcpy(buf + (j * r + i) * es, src + (i * c + j) * es, es);
    int64_t shape[2] = {w->shape[1], w->shape[0]};
    return sdc_model_files_add_made(m, name, w->dtype, 2, shape, buf, w->nbytes, buf, err);
}

static sdc_status map_one(sdc_model_files *m, qkv_set *q, const char *name, const sdc_weight_info *w, sdc_keymap_op op,
                          int part, sdc_error *err) {
    switch (op) {
    case SDC_KEYMAP_SAME: return sdc_model_files_add(m, name, w, err);
    case SDC_KEYMAP_CONV1X1:
        if (w->ndim != 2) return sdc_model_files_add(m, name, w, err);
        return sdc_model_files_add_made(m, name, w->dtype, 4, (int64_t[]){w->shape[0], w->shape[1], 1, 1}, w->data,
                                        w->nbytes, NULL, err);
    case SDC_KEYMAP_QKV: return qkv_put(q, name, part, w, err);
    case SDC_KEYMAP_TRANSPOSE: return add_transposed(m, name, w, err);
    }
    return sdc_error_set(err, SDC_ERR_INTERNAL, "unknown keymap op");
}

/* Registers the tensors of m->files[first .. first+n) as component comp. */
static sdc_status map_component(sdc_model_files *m, size_t first, size_t n, sdc_keymap_comp comp, const char *prefix,
                                sdc_error *err) {
    sdc_keymap_layout lay;
    memset(&lay, 0, sizeof lay);
    for (size_t k = first; k < first + n; k++)
        for (size_t i = 0; i < m->files[k]->count; i++) sdc_keymap_layout_add(&lay, comp, m->files[k]->tensors[i].name);
    qkv_set q;
    memset(&q, 0, sizeof q);
    sdc_strmap_init(&q.index);
    sdc_status st = SDC_OK;
    size_t plen = strlen(prefix);
    char name[NAME_MAX_LEN];
    memcpy(name, prefix, plen + 1);
    for (size_t k = first; k < first + n && !st; k++) {
        const sdc_weight_file *f = m->files[k];
        for (size_t i = 0; i < f->count && !st; i++) {
            sdc_keymap_op op;
            int part;
            if (sdc_keymap_from_diffusers(comp, &lay, f->tensors[i].name, name + plen, sizeof name - plen, &op, &part))
                st = map_one(m, &q, name, &f->tensors[i], op, part, err);
        }
    }
    for (size_t i = 0; i < q.n && !st; i++) st = qkv_finish(m, &q.slots[i], err);
    qkv_free(&q);
    return st;
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}
static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Loads dir/name as JSON (small files only); NULL when absent. */
static sdc_status load_json(const char *dir, const char *name, json_t **out, sdc_error *err) {
    char path[4096];
    *out = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!is_file(path)) return SDC_OK;
    char *text;
    size_t len;
    sdc_status st = sdc_read_file(path, 4u << 20, &text, &len, err);
    if (st) return st;
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    free(text);
    if (!*out) return sdc_error_set(err, SDC_ERR_FORMAT, "%s: invalid JSON: %s (line %d)", path, je.text, je.line);
    return SDC_OK;
}

/* The component's weight file, in order of preference. */
static int find_weights(const char *dir, char *out, size_t cap) {
    static const char *names[] = {
        "diffusion_pytorch_model.safetensors",  "model.safetensors",
        "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json",
        "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
        "diffusion_pytorch_model.fp16.safetensors.index.json", "model.fp16.safetensors.index.json",
        "diffusion_pytorch_model.bin", "pytorch_model.bin", "diffusion_pytorch_model.bin.index.json",
        "pytorch_model.bin.index.json", "diffusion_pytorch_model.fp16.bin", "pytorch_model.fp16.bin",
    };
    for (size_t i = 0; i < SDC_ARRAY_LEN(names); i++) {
        if ((size_t)snprintf(out, cap, "%s/%s", dir, names[i]) < cap && is_file(out)) return 1;
    }
    return 0;
}

typedef struct {
    sdc_keymap_comp comp;
    const char *prefix; /* NULL: keep the names as they are */
} target;

/* Which mapping a text encoder needs: OpenCLIP for gelu (SD 2.x) encoders. */
static target text_target(json_t *cfg, const sdc_weight_file *f, int sdxl, int second) {
    if (second) return (target){SDC_KEYMAP_OPENCLIP, "conditioner.embedders.1.model."};
    if (sdxl) return (target){SDC_KEYMAP_CLIP_HF, "conditioner.embedders.0.transformer."};
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    int open_clip = act ? strcmp(act, "gelu") == 0 : 0;
    if (!act && f) { /* no config: OpenCLIP widths */
        const sdc_weight_info *t = sdc_weight_file_find(f, "text_model.embeddings.token_embedding.weight");
        open_clip = t && t->ndim == 2 && t->shape[1] >= 1024;
    }
    return open_clip ? (target){SDC_KEYMAP_OPENCLIP, "cond_stage_model.model."}
                     : (target){SDC_KEYMAP_CLIP_HF, "cond_stage_model.transformer."};
}

/* Registers all tensors of the given files under their own names. */
static sdc_status add_raw(sdc_model_files *m, size_t first, size_t n, sdc_error *err) {
    sdc_status st = SDC_OK;
    for (size_t k = first; k < first + n && !st; k++)
        for (size_t i = 0; i < m->files[k]->count && !st; i++)
            st = sdc_model_files_add(m, m->files[k]->tensors[i].name, &m->files[k]->tensors[i], err);
    return st;
}

/* Opens component folder cdir; kind: "unet", "vae", "text", "text2" or NULL (from its config). */
static sdc_status open_component(sdc_model_files *m, const char *cdir, const char *kind, int sdxl, sdc_error *err) {
    char wpath[4096];
    if (!find_weights(cdir, wpath, sizeof wpath))
        return sdc_error_set(err, SDC_ERR_IO, "%s: no weights (diffusion_pytorch_model.safetensors, model.safetensors, ...)", cdir);
    json_t *cfg = NULL;
    sdc_status st = load_json(cdir, "config.json", &cfg, err);
    size_t first = 0, n = 0;
    if (!st) st = sdc_model_files_load(m, wpath, &first, &n, err);
    if (!st && !kind) {
        const char *cls = json_string_value(json_object_get(cfg, "_class_name"));
        json_t *arch = json_array_get(json_object_get(cfg, "architectures"), 0);
        if (!cls) cls = json_string_value(arch);
        kind = !cls ? NULL : strcmp(cls, "UNet2DConditionModel") == 0 ? "unet" : strcmp(cls, "AutoencoderKL") == 0 ? "vae"
             : strncmp(cls, "CLIPTextModel", 13) == 0 ? "text" : NULL;
    }
    target t = {SDC_KEYMAP_UNET, NULL};
    if (kind && strcmp(kind, "unet") == 0) t = (target){SDC_KEYMAP_UNET, "model.diffusion_model."};
    else if (kind && strcmp(kind, "vae") == 0) t = (target){SDC_KEYMAP_VAE, "first_stage_model."};
    else if (kind) t = text_target(cfg, n ? m->files[first] : NULL, sdxl, strcmp(kind, "text2") == 0);
    if (!st) st = t.prefix ? map_component(m, first, n, t.comp, t.prefix, err) : add_raw(m, first, n, err);
    json_decref(cfg);
    return st;
}

sdc_status sdc_diffusers_open(sdc_model_files *m, const char *dir, sdc_error *err) {
    static const struct {
        const char *sub, *kind;
    } parts[] = {{"unet", "unet"}, {"vae", "vae"}, {"text_encoder", "text"}, {"text_encoder_2", "text2"}};
    char path[4096];
    snprintf(path, sizeof path, "%s/text_encoder_2", dir);
    int sdxl = is_dir(path), found = 0;
    sdc_status st = SDC_OK;
    for (size_t i = 0; i < SDC_ARRAY_LEN(parts) && !st; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, parts[i].sub);
        if (!is_dir(path)) continue;
        found++;
        st = open_component(m, path, parts[i].kind, sdxl, err);
    }
    if (st || found) return st;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (is_file(path)) return open_component(m, dir, NULL, 0, err);
    return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is not a diffusers folder (no unet/, vae/, text_encoder/ or config.json)", dir);
}

static int has(const sdc_model_files *m, size_t first, size_t n, const char *name) {
    for (size_t k = first; k < first + n; k++)
        if (sdc_weight_file_find(m->files[k], name)) return 1;
    return 0;
}

sdc_status sdc_diffusers_map_single(sdc_model_files *m, size_t first, size_t n, int *mapped, sdc_error *err) {
    *mapped = 0;
    target t;
    if (has(m, first, n, "controlnet_cond_embedding.conv_in.weight")) return SDC_OK; /* a ControlNet: names kept */
    if (has(m, first, n, "conv_in.weight") && has(m, first, n, "time_embedding.linear_1.weight")) {
        t = (target){SDC_KEYMAP_UNET, "model.diffusion_model."};
    } else if (has(m, first, n, "decoder.conv_in.weight") && has(m, first, n, "decoder.up_blocks.0.resnets.0.conv1.weight")) {
        t = (target){SDC_KEYMAP_VAE, "first_stage_model."};
    } else if (has(m, first, n, "text_model.encoder.layers.0.self_attn.q_proj.weight")) {
        const sdc_weight_info *tok = sdc_weight_file_find(m->files[first], "text_model.embeddings.token_embedding.weight");
        int big_g = tok && tok->ndim == 2 && tok->shape[1] == 1280; /* SDXL's second encoder */
        t = text_target(NULL, m->files[first], 0, big_g);
    } else {
        return SDC_OK;
    }
    *mapped = 1;
    return map_component(m, first, n, t.comp, t.prefix, err);
}
