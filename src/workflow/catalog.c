/* Model folder listings and name resolution (see catalog.h). */
#include "workflow/catalog.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/util.h"

#define MAX_DEPTH 4
#define MAX_ENTRIES 10000

/* folders under the models root that hold other things than checkpoints */
static const char *const k_special[] = {"loras", "lora", "controlnet", "vae", "vae_approx", "embeddings", "input",
                                        "output", "temp", "upscale_models", "clip", "clip_vision", "unet", NULL};

static const char *const k_ext_ckpt[] = {".safetensors", ".ckpt", ".gguf", NULL};
static const char *const k_ext_lora[] = {".safetensors", ".ckpt", ".pt", NULL};
static const char *const k_ext_cn[] = {".safetensors", ".ckpt", ".pth", ".pt", NULL};
static const char *const k_ext_vae[] = {".safetensors", ".ckpt", ".pt", ".pth", NULL};

const char *sdc_cat_kind_name(sdc_cat_kind kind) {
    static const char *const names[] = {"checkpoint", "LoRA", "ControlNet", "VAE"};
    return kind < SDC_CAT_COUNT ? names[kind] : "model";
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

sdc_status sdc_catalog_init(sdc_catalog *c, const char *models_dir, const char *lora_dir, sdc_error *err) {
    memset(c, 0, sizeof *c);
    if (!models_dir || !is_dir(models_dir)) return sdc_error_set(err, SDC_ERR_IO, "models folder '%s' does not exist", models_dir ? models_dir : "");
    if (snprintf(c->root, sizeof c->root, "%s", models_dir) >= (int)sizeof c->root) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "models folder path too long");
    size_t n = strlen(c->root);
    while (n > 1 && c->root[n - 1] == '/') c->root[--n] = '\0';
    snprintf(c->dirs[SDC_CAT_CHECKPOINT], SDC_CAT_PATH_MAX, "%s", c->root);
    int w = lora_dir ? snprintf(c->dirs[SDC_CAT_LORA], SDC_CAT_PATH_MAX, "%s", lora_dir)
                     : snprintf(c->dirs[SDC_CAT_LORA], SDC_CAT_PATH_MAX, "%s/loras", c->root);
    w |= snprintf(c->dirs[SDC_CAT_CONTROLNET], SDC_CAT_PATH_MAX, "%s/controlnet", c->root);
    w |= snprintf(c->dirs[SDC_CAT_VAE], SDC_CAT_PATH_MAX, "%s/vae", c->root);
    if (w < 0 || n + 16 >= SDC_CAT_PATH_MAX) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "models folder path too long");
    return SDC_OK;
}

void sdc_name_list_free(sdc_name_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->paths[i]);
    }
    free(l->names);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

static int has_ext(const char *name, const char *const *exts) {
    size_t n = strlen(name);
    for (int i = 0; exts[i]; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcasecmp(name + n - e, exts[i]) == 0) return 1;
    }
    return 0;
}

int sdc_name_list_add(sdc_name_list *l, const char *name, const char *path) {
    char **nn = realloc(l->names, (l->n + 1) * sizeof *nn);
    if (!nn) return -1;
    l->names = nn;
    char **np = realloc(l->paths, (l->n + 1) * sizeof *np);
    if (!np) return -1;
    l->paths = np;
    l->names[l->n] = strdup(name);
    l->paths[l->n] = strdup(path);
    if (!l->names[l->n] || !l->paths[l->n]) {
        free(l->names[l->n]);
        free(l->paths[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

static int is_special(const char *name) {
    for (int i = 0; k_special[i]; i++)
        if (strcasecmp(name, k_special[i]) == 0) return 1;
    return 0;
}

static int is_taesd_file(const char *name) {
    return strncasecmp(name, "taesd", 5) == 0 || strncasecmp(name, "taesdxl", 7) == 0;
}

typedef struct walk {
    sdc_cat_kind kind;
    const char *const *exts;
    sdc_name_list *out;
} walk;

/* lists dir (relative prefix rel) into w->out; returns -1 on OOM */
static int walk_dir(walk *w, const char *dir, const char *rel, int depth) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[SDC_CAT_PATH_MAX * 2], name[SDC_CAT_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (snprintf(name, sizeof name, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof name) continue;
        if (is_dir(path)) {
            if (depth == 0 && w->kind == SDC_CAT_CHECKPOINT && is_special(e->d_name)) continue;
            char idx[SDC_CAT_PATH_MAX * 2 + 32];
            snprintf(idx, sizeof idx, "%s/model_index.json", path);
            if (w->kind == SDC_CAT_CHECKPOINT && is_file(idx)) rc = w->out->n < MAX_ENTRIES ? sdc_name_list_add(w->out, name, path) : 0;
            else if (depth + 1 < MAX_DEPTH) rc = walk_dir(w, path, name, depth + 1);
        } else if (has_ext(e->d_name, w->exts) && is_file(path)) {
            if (w->kind == SDC_CAT_VAE && is_taesd_file(e->d_name)) continue;
            if (w->out->n < MAX_ENTRIES) rc = sdc_name_list_add(w->out, name, path);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_idx(const void *a, const void *b, void *names) {
    char **n = names;
    return strcmp(n[*(const size_t *)a], n[*(const size_t *)b]);
}

static void sort_list(sdc_name_list *l) {
    if (l->n < 2) return;
    size_t *idx = malloc(l->n * sizeof *idx + 1);
    char **names = malloc(l->n * sizeof *names + 1), **paths = malloc(l->n * sizeof *paths + 1);
    if (!idx || !names || !paths) {
        free(idx), free(names), free(paths);
        return;
    }
    for (size_t i = 0; i < l->n; i++) idx[i] = i;
    qsort_r(idx, l->n, sizeof *idx, cmp_idx, l->names);
    for (size_t i = 0; i < l->n; i++) names[i] = l->names[idx[i]], paths[i] = l->paths[idx[i]];
    memcpy(l->names, names, l->n * sizeof *names);
    memcpy(l->paths, paths, l->n * sizeof *paths);
    free(idx), free(names), free(paths);
}

sdc_status sdc_catalog_list(const sdc_catalog *c, sdc_cat_kind kind, sdc_name_list *out, sdc_error *err) {
    memset(out, 0, sizeof *out);
    static const char *const *const exts[] = {k_ext_ckpt, k_ext_lora, k_ext_cn, k_ext_vae};
    if (kind >= SDC_CAT_COUNT) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown model kind");
    walk w = {.kind = kind, .exts = exts[kind], .out = out};
    if (walk_dir(&w, c->dirs[kind], "", 0) != 0) {
        sdc_name_list_free(out);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    sort_list(out);
    return SDC_OK;
}

void sdc_catalog_stem(const char *name, char *out, size_t size) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(out, size, "%.*s", (int)n, base);
}

/* name without a trailing " [hash]" (A1111 titles) */
static void strip_hash(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s", name);
    size_t n = strlen(out);
    if (n > 3 && out[n - 1] == ']') {
        char *sp = strrchr(out, '[');
        if (sp && sp > out && sp[-1] == ' ') sp[-1] = '\0';
    }
}

static int matches(const char *listed, const char *want) {
    if (strcasecmp(listed, want) == 0) return 1;
    char a[SDC_CAT_PATH_MAX], b[SDC_CAT_PATH_MAX];
    sdc_catalog_stem(listed, a, sizeof a);
    if (strcasecmp(a, want) == 0) return 1;
    /* "sub/x" against "sub/x.safetensors" */
    const char *dot = strrchr(listed, '.'), *slash = strrchr(listed, '/');
    if (dot && (!slash || dot > slash)) {
        snprintf(b, sizeof b, "%.*s", (int)(dot - listed), listed);
        if (strcasecmp(b, want) == 0) return 1;
    }
    return 0;
}

sdc_status sdc_catalog_find(const sdc_catalog *c, sdc_cat_kind kind, const char *name, char *path, size_t path_size,
                            char *listed, size_t listed_size, sdc_error *err) {
    if (!name || !name[0]) return sdc_error_set(err, SDC_ERR_IO, "no %s name given", sdc_cat_kind_name(kind));
    sdc_name_list l;
    sdc_status st = sdc_catalog_list(c, kind, &l, err);
    if (st) return st;
    char want[SDC_CAT_PATH_MAX];
    strip_hash(name, want, sizeof want);
    size_t hit = l.n;
    for (size_t i = 0; i < l.n && hit == l.n; i++)
        if (strcmp(l.names[i], name) == 0) hit = i;
    for (size_t i = 0; i < l.n && hit == l.n; i++)
        if (matches(l.names[i], want)) hit = i;
    if (hit == l.n) {
        sdc_name_list_free(&l);
        return sdc_error_set(err, SDC_ERR_IO, "%s '%s' not found in %s", sdc_cat_kind_name(kind), name, c->dirs[kind]);
    }
    if (path) snprintf(path, path_size, "%s", l.paths[hit]);
    if (listed) snprintf(listed, listed_size, "%s", l.names[hit]);
    sdc_name_list_free(&l);
    return SDC_OK;
}

/* first file in dir whose name starts with stem and has a weight extension */
static int find_prefixed(const char *dir, const char *stem, char *out, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t sl = strlen(stem);
        if (strncasecmp(e->d_name, stem, sl) != 0 || e->d_name[sl] != '.' || !has_ext(e->d_name, k_ext_vae)) continue;
        char p[SDC_CAT_PATH_MAX * 2];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p || !is_file(p)) continue;
        snprintf(out, size, "%s", p);
        found = 1;
    }
    closedir(d);
    return found;
}

int sdc_catalog_taesd(const sdc_catalog *c, char *dec, char *enc, size_t size) {
    char dirs[2][SDC_CAT_PATH_MAX + 16];
    snprintf(dirs[0], sizeof dirs[0], "%s", c->dirs[SDC_CAT_VAE]);
    snprintf(dirs[1], sizeof dirs[1], "%s/vae_approx", c->root);
    dec[0] = enc[0] = '\0';
    for (int i = 0; i < 2 && !dec[0]; i++) {
        if (find_prefixed(dirs[i], "taesd_decoder", dec, size)) find_prefixed(dirs[i], "taesd_encoder", enc, size);
    }
    return dec[0] != '\0';
}
