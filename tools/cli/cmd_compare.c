/* `sdc compare A B [--tol T]`: compares tensors of two safetensors files,
 * or two folders of stage dumps (--dump-dir), in the order the stages were
 * written, and names the first stage whose max |a - b| exceeds the
 * tolerance (relative to max |b|), or the pixels of two images (PNG, JPEG,
 * WebP; values in [0, 1], the tolerance absolute). Exit 0 when all agree,
 * 1 when one differs, 2 on bad usage. */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "args.h"
#include "cli.h"
#include "formats/weight_file.h"
#include "image/image_io.h"

typedef struct cmp_result {
    double max_abs, scale;
    int shape_ok;
} cmp_result;

static int compare_tensor(const sdc_weight_info *a, const sdc_weight_info *b, cmp_result *r) {
    int64_t na = sdc_weight_numel(a), nb = sdc_weight_numel(b);
    r->shape_ok = na == nb && sdc_dtype_is_float(a->dtype) && sdc_dtype_is_float(b->dtype);
    r->max_abs = r->scale = 0;
    if (!r->shape_ok) return 0;
    float *x = malloc((size_t)na * sizeof *x), *y = malloc((size_t)nb * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return -1;
    }
    sdc_convert_to_f32(a->dtype, a->data, x, (size_t)na);
    sdc_convert_to_f32(b->dtype, b->data, y, (size_t)nb);
    for (int64_t i = 0; i < na; i++) {
        double d = fabs((double)x[i] - y[i]);
        if (isnan(d)) d = INFINITY;
        if (d > r->max_abs) r->max_abs = d;
        if (fabs(y[i]) > r->scale) r->scale = fabs(y[i]);
    }
    free(x);
    free(y);
    return 0;
}

/* "FILE:NAME" selects one tensor of FILE (when FILE exists); else all */
static void split_spec(const char *spec, char *path, size_t size, const char **name) {
    snprintf(path, size, "%s", spec);
    *name = NULL;
    char *colon = strrchr(path, ':');
    struct stat st;
    if (colon && stat(path, &st) != 0) {
        *colon = '\0';
        if (stat(path, &st) == 0) *name = spec + (colon - path) + 1;
        else *colon = ':';
    }
}

/* compares every tensor of a that b also has (or the two named ones);
 * returns 1 at the first failure */
static int compare_files(const char *sa, const char *sb, const char *label, double tol, int *n_cmp) {
    sdc_error err;
    sdc_error_clear(&err);
    char pa[4096], pb[4096];
    const char *na, *nb;
    split_spec(sa, pa, sizeof pa, &na);
    split_spec(sb, pb, sizeof pb, &nb);
    sdc_weight_file *a = NULL, *b = NULL;
    if (sdc_weight_file_open(pa, &a, &err) || sdc_weight_file_open(pb, &b, &err)) {
        fprintf(stderr, "sdc compare: %s\n", sdc_error_msg(&err));
        sdc_weight_file_close(a);
        return 2;
    }
    if ((na && !sdc_weight_file_find(a, na)) || (nb && !sdc_weight_file_find(b, nb))) {
        fprintf(stderr, "sdc compare: no tensor '%s'\n", na && !sdc_weight_file_find(a, na) ? na : nb);
        sdc_weight_file_close(a);
        sdc_weight_file_close(b);
        return 2;
    }
    int rc = 0;
    for (size_t i = 0; i < a->count && rc == 0; i++) {
        const sdc_weight_info *wa = &a->tensors[i];
        if (na && strcmp(wa->name, na) != 0) continue;
        const sdc_weight_info *wb = sdc_weight_file_find(b, nb ? nb : wa->name);
        if (!wb) continue;
        cmp_result r;
        if (compare_tensor(wa, wb, &r) != 0) rc = 2;
        (*n_cmp)++;
        double rel = r.scale > 0 ? r.max_abs / r.scale : r.max_abs;
        bool bad = !r.shape_ok || !(rel <= tol);
        printf("%-4s %-40s max abs %-11.4g scale %-10.4g rel %.3g%s\n", bad ? "DIFF" : "ok", label ? label : wa->name,
               r.max_abs, r.scale, rel, r.shape_ok ? "" : "  (shapes differ)");
        if (bad) rc = 1;
    }
    sdc_weight_file_close(a);
    sdc_weight_file_close(b);
    if (*n_cmp == 0) {
        fprintf(stderr, "sdc compare: the files share no tensor names (use FILE:NAME)\n");
        return 2;
    }
    return rc;
}

/* a file name with an image extension */
static bool is_image(const char *path) {
    const char *dot = strrchr(path, '.');
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".webp"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof *ext; i++)
        if (strcasecmp(dot, ext[i]) == 0) return true;
    return false;
}

/* pixels of two images as values in [0, 1]: same size and channels, max
 * |a - b| within tol (absolute: 1/255 = one 8-bit step) */
static int compare_images(const char *pa, const char *pb, double tol) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_image a = {0}, b = {0};
    if (sdc_image_load(pa, &a, NULL, &err) || sdc_image_load(pb, &b, NULL, &err)) {
        fprintf(stderr, "sdc compare: %s\n", sdc_error_msg(&err));
        sdc_image_free(&a);
        return 2;
    }
    int rc;
    if (a.width != b.width || a.height != b.height || a.channels != b.channels) {
        printf("DIFF image: %dx%dx%d vs %dx%dx%d\n", a.width, a.height, a.channels, b.width, b.height, b.channels);
        rc = 1;
    } else {
        size_t n = (size_t)a.width * (size_t)a.height * (size_t)a.channels, differ = 0;
        int max = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)a.data[i] - (int)b.data[i]);
            if (d > max) max = d;
            differ += d != 0;
        }
        bool bad = !(max / 255.0 <= tol);
        printf("%-4s image %dx%dx%d: max abs %.4g (%d/255), %zu of %zu values differ\n", bad ? "DIFF" : "ok", a.width,
               a.height, a.channels, max / 255.0, max, differ, n);
        rc = bad;
    }
    sdc_image_free(&a);
    sdc_image_free(&b);
    return rc;
}

typedef struct entry {
    char *name;
    double mtime;
} entry;

static int by_time(const void *x, const void *y) {
    const entry *a = x, *b = y;
    return a->mtime < b->mtime ? -1 : a->mtime > b->mtime ? 1 : strcmp(a->name, b->name);
}

/* the dumps of folder a in the order they were written */
static int compare_dirs(const char *da, const char *db, double tol) {
    DIR *d = opendir(da);
    if (!d) return 2;
    entry *list = NULL;
    size_t n = 0;
    struct dirent *e;
    char path[4096], other[4096];
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 13 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", da, e->d_name);
        if (stat(path, &st) != 0) continue;
        entry *nl = realloc(list, (n + 1) * sizeof *nl);
        if (!nl) break;
        list = nl;
        list[n].name = strdup(e->d_name);
        list[n].mtime = (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
        n++;
    }
    closedir(d);
    qsort(list, n, sizeof *list, by_time);
    int rc = 0, n_cmp = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        snprintf(path, sizeof path, "%s/%s", da, list[i].name);
        snprintf(other, sizeof other, "%s/%s", db, list[i].name);
        struct stat st;
        if (stat(other, &st) != 0) continue;
        char label[256];
        snprintf(label, sizeof label, "%.*s", (int)(strlen(list[i].name) - 12), list[i].name);
        rc = compare_files(path, other, label, tol, &n_cmp);
    }
    for (size_t i = 0; i < n; i++) free(list[i].name);
    free(list);
    if (rc == 1) printf("first difference above %g found (stages before it agree)\n", tol);
    else if (rc == 0) printf("%d stages agree within %g\n", n_cmp, tol);
    return rc;
}

int sdc_cmd_compare(int argc, char **argv) {
    float tol = 1e-3f;
    sdc_arg args[] = {{"--tol", NULL, SDC_ARG_FLOAT, &tol, 0, 1e9, "tolerance on max |a-b| / max |b| (1e-3)", "T"}};
    const char *pos[2];
    int np = 0;
    int rc = sdc_args_parse(argc, argv, args, 1, "sdc compare A B [--tol T]   (files, FILE:TENSOR, --dump-dir folders, or two images)",
                            "A is checked against B (the reference). Folders are compared stage by stage\n"
                            "in the order A's dumps were written; the first stage that differs is the\n"
                            "place to look.\n",
                            pos, 2, &np);
    if (rc) return rc == 1 ? 0 : 2;
    if (np != 2) {
        fprintf(stderr, "sdc compare: needs two files or folders (see --help)\n");
        return 2;
    }
    struct stat sa, sb;
    if (stat(pos[0], &sa) == 0 && stat(pos[1], &sb) == 0 && S_ISDIR(sa.st_mode) && S_ISDIR(sb.st_mode))
        return compare_dirs(pos[0], pos[1], tol);
    if (is_image(pos[0]) && is_image(pos[1])) return compare_images(pos[0], pos[1], tol);
    int n = 0;
    return compare_files(pos[0], pos[1], NULL, tol, &n);
}
