/* Model = weight files + canonical names (see model_files.h). Diffusers
 * folders and diffusers-named single files are handled in diffusers.c. */
#include "formats/model_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mapfile.h"
#include "base/util.h"
#include "formats/diffusers.h"
#include "formats/safetensors.h"

/* A tensor made by an opener; m->made points at .info (first member). */
typedef struct {
    sdc_weight_info info;
    void *owned; /* data buffer owned by the model, or NULL */
} made_tensor;

void sdc_model_files_close(sdc_model_files *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_files; i++) sdc_weight_file_close(m->files[i]);
    free(m->files);
    for (size_t i = 0; i < m->n_refs; i++) free(m->ref_names[i]);
    free(m->ref_names);
    free(m->refs);
    for (size_t i = 0; i < m->n_made; i++) {
        made_tensor *t = (made_tensor *)m->made[i];
        free(t->info.name);
        free(t->owned);
        free(t);
    }
    free(m->made);
    sdc_strmap_free(&m->names);
    free(m->path);
    free(m);
}

sdc_status sdc_model_files_add(sdc_model_files *m, const char *name, const sdc_weight_info *w, sdc_error *err) {
    if (m->n_refs == m->cap_refs) {
        size_t ncap = m->cap_refs ? m->cap_refs * 2 : 512;
        const sdc_weight_info **nr = realloc(m->refs, ncap * sizeof *nr);
        if (!nr) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        m->refs = nr;
        char **nn = realloc(m->ref_names, ncap * sizeof *nn);
        if (!nn) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        m->ref_names = nn;
        m->cap_refs = ncap;
    }
    char *copy = sdc_strdup(name);
    if (!copy) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    int r = sdc_strmap_put(&m->names, copy, m->n_refs);
    if (r <= 0) {
        free(copy);
        return r < 0 ? sdc_error_set(err, SDC_ERR_OOM, "out of memory")
                     : sdc_error_set(err, SDC_ERR_FORMAT, "tensor '%s' appears twice", name);
    }
    m->refs[m->n_refs] = w;
    m->ref_names[m->n_refs] = copy;
    m->n_refs++;
    return SDC_OK;
}

sdc_status sdc_model_files_add_made(sdc_model_files *m, const char *name, sdc_dtype dtype, int ndim,
                                    const int64_t *shape, const void *data, size_t nbytes, void *owned_data,
                                    sdc_error *err) {
    if (m->n_made == m->cap_made) {
        size_t ncap = m->cap_made ? 2 * m->cap_made : 64;
        sdc_weight_info **nm = realloc(m->made, ncap * sizeof *nm);
        if (!nm) {
            free(owned_data);
            return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        }
        m->made = nm;
        m->cap_made = ncap;
    }
    made_tensor *t = calloc(1, sizeof *t);
    if (!t || !(t->info.name = sdc_strdup(name))) {
        free(t);
        free(owned_data);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    t->owned = owned_data;
    t->info.dtype = dtype;
    t->info.ndim = ndim;
    for (int i = 0; i < ndim; i++) t->info.shape[i] = shape[i];
    t->info.data = owned_data ? owned_data : data;
    t->info.nbytes = nbytes;
    m->made[m->n_made++] = &t->info;
    return sdc_model_files_add(m, name, &t->info, err);
}

sdc_status sdc_model_files_add_file(sdc_model_files *m, sdc_weight_file *f, sdc_error *err) {
    sdc_weight_file **nf = realloc(m->files, (m->n_files + 1) * sizeof *nf);
    if (!nf) {
        sdc_weight_file_close(f);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    m->files = nf;
    m->files[m->n_files++] = f;
    return SDC_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Opens each shard named by an index and checks the weight map. */
static sdc_status load_shards(sdc_model_files *m, const char *index_path, size_t *n_added, sdc_error *err) {
    char *text = NULL;
    size_t len = 0;
    sdc_shard_index ix;
    sdc_status st = sdc_read_file(index_path, SDC_SAFETENSORS_MAX_INDEX, &text, &len, err);
    if (!st) st = sdc_shard_index_parse(text, len, &ix, err);
    free(text);
    if (st) {
        sdc_error_prefix(err, "%s", index_path);
        return st;
    }
    size_t first = m->n_files, dlen = strlen(index_path);
    while (dlen && index_path[dlen - 1] != '/') dlen--;
    for (size_t i = 0; i < ix.n_shards && !st; i++) {
        char *p = malloc(dlen + strlen(ix.shards[i]) + 1);
        sdc_weight_file *f = NULL;
        if (!p) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        else sprintf(p, "%.*s%s", (int)dlen, index_path, ix.shards[i]);
        if (!st) st = sdc_weight_file_open(p, &f, err);
        if (!st) st = sdc_model_files_add_file(m, f, err);
        free(p);
    }
    for (size_t i = 0; i < ix.n_tensors && !st; i++)
        if (!sdc_weight_file_find(m->files[first + ix.tensor_shard[i]], ix.tensor_names[i]))
            st = sdc_error_set(err, SDC_ERR_FORMAT, "%s: tensor '%s' is not in its shard '%s'", index_path,
                               ix.tensor_names[i], ix.shards[ix.tensor_shard[i]]);
    *n_added = m->n_files - first;
    sdc_shard_index_free(&ix);
    return st;
}

sdc_status sdc_model_files_load(sdc_model_files *m, const char *path, size_t *first, size_t *n, sdc_error *err) {
    *first = m->n_files;
    *n = 0;
    if (ends_with(path, ".index.json")) return load_shards(m, path, n, err);
    sdc_weight_file *f = NULL;
    sdc_status st = sdc_weight_file_open(path, &f, err);
    if (!st) st = sdc_model_files_add_file(m, f, err);
    if (!st) *n = 1;
    return st;
}

/* Registers every tensor of files [first, first + n) under its own name. */
static sdc_status add_all(sdc_model_files *m, size_t first, size_t n, sdc_error *err) {
    sdc_status st = SDC_OK;
    for (size_t k = first; k < first + n && !st; k++) {
        const sdc_weight_file *f = m->files[k];
        for (size_t i = 0; i < f->count && !st; i++) st = sdc_model_files_add(m, f->tensors[i].name, &f->tensors[i], err);
    }
    return st;
}

static sdc_status open_path(sdc_model_files *m, const char *path, sdc_error *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        m->layout = "diffusers";
        return sdc_diffusers_open(m, path, err);
    }
    size_t first, n;
    sdc_status st = sdc_model_files_load(m, path, &first, &n, err);
    if (st) return st;
    m->layout = ends_with(path, ".index.json") ? "sharded" : "single file";
    int mapped = 0;
    st = sdc_diffusers_map_single(m, first, n, &mapped, err);
    if (!st && !mapped) st = add_all(m, first, n, err);
    return st;
}

sdc_status sdc_model_files_open(const char *path, sdc_model_files **out, sdc_error *err) {
    *out = NULL;
    sdc_model_files *m = calloc(1, sizeof *m);
    if (!m || !(m->path = sdc_strdup(path))) {
        free(m);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    sdc_strmap_init(&m->names);
    sdc_status st = open_path(m, path, err);
    if (st != SDC_OK) {
        sdc_model_files_close(m);
        return st;
    }
    *out = m;
    return SDC_OK;
}

const sdc_weight_info *sdc_model_files_find(const sdc_model_files *m, const char *name) {
    size_t i;
    return sdc_strmap_get(&m->names, name, &i) ? m->refs[i] : NULL;
}

size_t sdc_model_files_count(const sdc_model_files *m) { return m->n_refs; }

const sdc_weight_info *sdc_model_files_at(const sdc_model_files *m, size_t i, const char **name) {
    if (name) *name = m->ref_names[i];
    return m->refs[i];
}

const char *sdc_model_files_meta(const sdc_model_files *m, const char *key) {
    for (size_t i = 0; i < m->n_files; i++) {
        const char *v = sdc_weight_file_meta(m->files[i], key);
        if (v) return v;
    }
    return NULL;
}

int sdc_model_files_is_mapped(const sdc_model_files *m, const void *p, size_t n) {
    const unsigned char *q = p;
    for (size_t i = 0; i < m->n_files; i++) {
        const sdc_mapfile *f = &m->files[i]->map;
        if (f->data && q >= f->data && n <= f->size && (size_t)(q - f->data) <= f->size - n) return 1;
    }
    return 0;
}
