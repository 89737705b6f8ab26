/* LoRA names in CLI arguments and prompt tags (see lora_tags.h). */
#include "models/lora_tags.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Whole string [s, s+n) as a finite float. */
static bool parse_num(const char *s, size_t n, float *out) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v) || fabs(v) > 1e6) return false;
    *out = (float)v;
    return true;
}

sdc_status sdc_lora_spec_parse(const char *arg, char *path, size_t path_size, float *unet, float *te, sdc_error *err) {
    size_t len = strlen(arg);
    float nums[2];
    int k = 0;
    while (k < 2) {
        const char *colon = NULL;
        for (size_t i = len; i > 0; i--)
            if (arg[i - 1] == ':') {
                colon = arg + i - 1;
                break;
            }
        if (!colon || !parse_num(colon + 1, (size_t)(arg + len - colon - 1), &nums[k])) break;
        len = (size_t)(colon - arg);
        k++;
    }
    if (len == 0 || len >= path_size) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "--lora '%s': expected FILE[:UNET[:TE]]", arg);
    memcpy(path, arg, len);
    path[len] = 0;
    /* numbers were read right to left */
    *unet = k == 0 ? 1.0f : k == 1 ? nums[0] : nums[1];
    *te = k == 2 ? nums[0] : *unet;
    return SDC_OK;
}

/* Parses the inside of a tag ("NAME:0.5:te=1"); false when malformed. */
static bool parse_tag(const char *s, size_t n, sdc_lora_tag *t) {
    const char *end = s + n, *p = memchr(s, ':', n);
    size_t nl = (size_t)((p ? p : end) - s);
    while (nl && isspace((unsigned char)s[nl - 1])) nl--;
    while (nl && isspace((unsigned char)*s)) s++, nl--;
    if (nl == 0 || nl >= sizeof t->name) return false;
    memcpy(t->name, s, nl);
    t->name[nl] = 0;
    float pos[2] = {1.0f, 1.0f};
    int npos = 0;
    bool te_set = false, unet_set = false;
    while (p && p < end) {
        const char *q = p + 1, *next = memchr(q, ':', (size_t)(end - q));
        const char *fe = next ? next : end, *eq = memchr(q, '=', (size_t)(fe - q));
        float v;
        if (eq) {
            if (!parse_num(eq + 1, (size_t)(fe - eq - 1), &v)) return false;
            if ((size_t)(eq - q) == 2 && !strncmp(q, "te", 2)) t->te = v, te_set = true;
            else if ((size_t)(eq - q) == 4 && !strncmp(q, "unet", 4)) t->unet = v, unet_set = true;
            /* other named parameters (A1111's dyn=...) are ignored */
        } else {
            if (npos == 2 || !parse_num(q, (size_t)(fe - q), &v)) return false;
            pos[npos++] = v;
        }
        p = next;
    }
    if (!te_set) t->te = pos[0];
    if (!unet_set) t->unet = npos == 2 ? pos[1] : (te_set ? t->te : pos[0]);
    return true;
}

sdc_status sdc_lora_tags_extract(const char *prompt, char **clean, sdc_lora_tag **tags, size_t *n, sdc_error *err) {
    size_t len = strlen(prompt), cap = 0, o = 0;
    sdc_status st = SDC_OK;
    bool oom = false;
    *clean = malloc(len + 1);
    *tags = NULL;
    *n = 0;
    for (const char *s = prompt; *s && *clean && !st;) {
        bool tag = !strncmp(s, "<lora:", 6) || !strncmp(s, "<lyco:", 6);
        const char *close = tag ? strchr(s, '>') : NULL;
        if (!close) {
            (*clean)[o++] = *s++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 4;
            sdc_lora_tag *nt = realloc(*tags, cap * sizeof *nt);
            if (!nt) {
                oom = true;
                break;
            }
            *tags = nt;
        }
        if (!parse_tag(s + 6, (size_t)(close - s - 6), &(*tags)[*n]))
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "bad LoRA tag '%.*s': expected <lora:NAME[:WEIGHT]>",
                               (int)(close - s + 1), s);
        (*n)++;
        s = close + 1;
    }
    if (!st && (!*clean || oom)) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (st) {
        free(*clean);
        free(*tags);
        *clean = NULL;
        *tags = NULL;
        *n = 0;
        return st;
    }
    (*clean)[o] = 0;
    return SDC_OK;
}

static bool has_dotdot(const char *name) {
    for (const char *p = name; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return true;
    return false;
}

/* Depth-first search of dir for a file named want (case-insensitive). */
static bool search(const char *dir, const char *want, int depth, char *out, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    char sub[4096];
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int w = snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (w < 0 || (size_t)w >= sizeof sub) continue;
        struct stat st;
        if (stat(sub, &st) != 0) continue;
        if (S_ISREG(st.st_mode) && strcasecmp(e->d_name, want) == 0 && (size_t)w < size) {
            memcpy(out, sub, (size_t)w + 1);
            found = true;
        } else if (S_ISDIR(st.st_mode) && depth > 0) {
            found = search(sub, want, depth - 1, out, size);
        }
    }
    closedir(d);
    return found;
}

sdc_status sdc_lora_find(const char *dir, const char *name, char *out, size_t out_size, sdc_error *err) {
    if (!*name || has_dotdot(name) || name[0] == '/')
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "LoRA name '%s' is not a plain name", name);
    static const char *const k_ext[] = {".safetensors", ".ckpt", ".pt"};
    const char *slash = strrchr(name, '/');
    char sub[4096], want[512];
    for (size_t i = 0; i < sizeof k_ext / sizeof *k_ext; i++) {
        /* "sub/name" searches below dir/sub */
        snprintf(sub, sizeof sub, "%s%s%.*s", dir, slash ? "/" : "", slash ? (int)(slash - name) : 0, name);
        if (snprintf(want, sizeof want, "%s%s", slash ? slash + 1 : name, k_ext[i]) >= (int)sizeof want) break;
        if (search(sub, want, 3, out, out_size)) return SDC_OK;
    }
    return sdc_error_set(err, SDC_ERR_IO, "LoRA '%s' not found in '%s' (looked for %s.safetensors, .ckpt, .pt)", name,
                         dir, name);
}
