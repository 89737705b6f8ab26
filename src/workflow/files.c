/* Safe names and listings in the input / output / temp folders (see files.h). */
#include "workflow/files.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int sdc_path_rel_ok(const char *rel, int allow_slash, int allow_empty) {
    if (!rel) return -1;
    size_t n = strlen(rel);
    if (n == 0) return allow_empty ? 0 : -1;
    if (n > 1024 || rel[0] == '/') return -1;
    const char *p = rel;
    while (*p) {
        size_t c = strcspn(p, "/");
        if (c == 0 || c > 255) return -1;
        if ((c == 1 && p[0] == '.') || (c == 2 && p[0] == '.' && p[1] == '.')) return -1;
        for (size_t i = 0; i < c; i++)
            if ((unsigned char)p[i] < 32 || p[i] == '\\' || p[i] == 127) return -1;
        p += c;
        if (*p == '/') {
            if (!allow_slash || p[1] == '\0') return -1;
            p++;
        }
    }
    return 0;
}

static int inside(const char *base_real, const char *path_real) {
    size_t n = strlen(base_real);
    if (strncmp(base_real, path_real, n) != 0) return 0;
    return path_real[n] == '\0' || path_real[n] == '/' || (n == 1 && base_real[0] == '/');
}

sdc_status sdc_path_join_within(const char *base, const char *rel, char *out, size_t size, sdc_error *err) {
    char base_real[PATH_MAX], probe[PATH_MAX], real[PATH_MAX];
    if (!base || !realpath(base, base_real)) return sdc_error_set(err, SDC_ERR_IO, "folder '%s' does not exist", base ? base : "");
    if (sdc_path_rel_ok(rel, 1, 1)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid file name '%.200s'", rel ? rel : "");
    int n = snprintf(out, size, "%s%s%s", base, rel[0] ? "/" : "", rel);
    if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof probe) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "file name too long");
    memcpy(probe, out, (size_t)n + 1);
    for (;;) { /* the deepest existing ancestor, resolved */
        if (realpath(probe, real)) break;
        if (errno != ENOENT && errno != ENOTDIR) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid file name '%.200s'", rel);
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid file name '%.200s'", rel);
        *slash = '\0';
    }
    if (!inside(base_real, real)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "'%.200s' is outside the allowed folder", rel);
    return SDC_OK;
}

sdc_status sdc_mkdirs(const char *dir, sdc_error *err) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return sdc_error_set(err, SDC_ERR_IO, "path too long");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return sdc_error_set(err, SDC_ERR_IO, "cannot create '%s': %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return sdc_error_set(err, SDC_ERR_IO, "cannot create '%s': %s", p, strerror(errno));
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return sdc_error_set(err, SDC_ERR_IO, "'%s' is not a folder", p);
    return SDC_OK;
}

static int image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".webp"));
}

static void list_dir(const char *dir, const char *rel, int depth, sdc_name_list *l) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && l->n < 10000) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_MAX], name[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (snprintf(name, sizeof name, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= (int)sizeof name) continue;
        struct stat st;
        if (lstat(path, &st) != 0) continue; /* symlinks are not followed: clients may not plant them anyway */
        if (S_ISDIR(st.st_mode) && depth < 2) list_dir(path, name, depth + 1, l);
        else if (S_ISREG(st.st_mode) && image_ext(e->d_name) && sdc_name_list_add(l, name, path)) break;
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

sdc_status sdc_wf_list_files(const char *dir, sdc_name_list *out) {
    memset(out, 0, sizeof *out);
    list_dir(dir, "", 0, out);
    /* names and paths sort the same way (same prefix) */
    if (out->n > 1) {
        qsort(out->names, out->n, sizeof *out->names, cmp_str);
        qsort(out->paths, out->n, sizeof *out->paths, cmp_str);
    }
    return SDC_OK;
}

/* largest NNNNN among "stem_NNNNN_*" files in folder */
static int max_counter(const char *folder, const char *stem) {
    DIR *d = opendir(folder);
    if (!d) return 0;
    size_t sl = strlen(stem);
    int best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, stem, sl) != 0 || e->d_name[sl] != '_') continue;
        const char *p = e->d_name + sl + 1;
        char *end;
        long v = strtol(p, &end, 10);
        if (end != p && *end == '_' && v > best && v < 100000000) best = (int)v;
    }
    closedir(d);
    return best;
}

sdc_status sdc_wf_save_path(const char *out_dir, const char *prefix, char *folder, size_t folder_size, char *stem,
                            size_t stem_size, char *subfolder, size_t sub_size, int *counter, sdc_error *err) {
    const char *slash = strrchr(prefix, '/');
    const char *base = slash ? slash + 1 : prefix;
    if (!base[0] || sdc_path_rel_ok(prefix, 1, 0))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "invalid filename_prefix '%.200s' (no '..', absolute paths or empty names)", prefix);
    snprintf(subfolder, sub_size, "%.*s", slash ? (int)(slash - prefix) : 0, prefix);
    snprintf(stem, stem_size, "%s", base);
    sdc_status st = sdc_path_join_within(out_dir, subfolder, folder, folder_size, err);
    if (!st) st = sdc_mkdirs(folder, err);
    if (!st) { /* the folder exists now: check again with links resolved */
        char again[PATH_MAX];
        st = sdc_path_join_within(out_dir, subfolder, again, sizeof again, err);
    }
    if (!st) *counter = max_counter(folder, stem) + 1;
    return st;
}
