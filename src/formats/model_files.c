/* Model = weight files + canonical names (see model_files.h). */
#include "formats/model_files.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void sdc_model_files_close(sdc_model_files *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_files; i++) sdc_weight_file_close(m->files[i]);
    free(m->files);
    for (size_t i = 0; i < m->n_refs; i++) free(m->ref_names[i]);
    free(m->ref_names);
    free(m->refs);
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

sdc_status sdc_model_files_open(const char *path, sdc_model_files **out, sdc_error *err) {
    *out = NULL;
    sdc_model_files *m = calloc(1, sizeof *m);
    if (!m || !(m->path = sdc_strdup(path))) {
        free(m);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    sdc_strmap_init(&m->names);
    m->files = calloc(1, sizeof *m->files);
    sdc_status st = m->files ? sdc_weight_file_open(path, &m->files[0], err) : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (st == SDC_OK) {
        m->n_files = 1;
        const sdc_weight_file *f = m->files[0];
        for (size_t i = 0; i < f->count && st == SDC_OK; i++)
            st = sdc_model_files_add(m, f->tensors[i].name, &f->tensors[i], err);
    }
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
