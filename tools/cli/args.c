/* Table-driven option parsing (see args.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sdc_args_help(FILE *f, const sdc_arg *args, int n_args, const char *usage, const char *extra_help) {
    fprintf(f, "usage: %s\n\noptions:\n", usage);
    for (int i = 0; i < n_args; i++) {
        const sdc_arg *a = &args[i];
        char left[96];
        const char *mv = a->metavar ? a->metavar : a->type == SDC_ARG_FLAG ? "" : a->type == SDC_ARG_STRING || a->type == SDC_ARG_LIST ? "TEXT" : "N";
        snprintf(left, sizeof left, "%s%s%s%s%s", a->alias ? a->alias : "", a->alias ? ", " : "", a->name, *mv ? " " : "", mv);
        fprintf(f, "  %-30s %s\n", left, a->help);
    }
    if (extra_help) fprintf(f, "\n%s", extra_help);
}

static const sdc_arg *find(const sdc_arg *args, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++) {
        if (strlen(args[i].name) == len && strncmp(args[i].name, name, len) == 0) return &args[i];
        if (args[i].alias && strlen(args[i].alias) == len && strncmp(args[i].alias, name, len) == 0) return &args[i];
    }
    return NULL;
}

static int set_value(const sdc_arg *a, const char *v) {
    char *end;
    errno = 0;
    bool ranged = !(a->min == 0 && a->max == 0);
    switch (a->type) {
    case SDC_ARG_STRING: *(const char **)a->target = v; return 0;
    case SDC_ARG_LIST: {
        sdc_arg_list *l = a->target;
        if (l->n == (int)(sizeof l->items / sizeof l->items[0])) {
            fprintf(stderr, "sdc: too many %s options\n", a->name);
            return 2;
        }
        l->items[l->n++] = v;
        return 0;
    }
    case SDC_ARG_INT:
    case SDC_ARG_INT64: {
        long long x = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno) {
            fprintf(stderr, "sdc: %s expects an integer, got '%s'\n", a->name, v);
            return 2;
        }
        if (ranged && (x < a->min || x > a->max)) {
            fprintf(stderr, "sdc: %s must be between %.0f and %.0f, got %lld\n", a->name, a->min, a->max, x);
            return 2;
        }
        if (a->type == SDC_ARG_INT) *(int *)a->target = (int)x;
        else *(long long *)a->target = x;
        return 0;
    }
    case SDC_ARG_FLOAT: {
        double x = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || errno || !isfinite(x)) {
            fprintf(stderr, "sdc: %s expects a number, got '%s'\n", a->name, v);
            return 2;
        }
        if (ranged && (x < a->min || x > a->max)) {
            fprintf(stderr, "sdc: %s must be between %g and %g, got %g\n", a->name, a->min, a->max, x);
            return 2;
        }
        *(float *)a->target = (float)x;
        return 0;
    }
    case SDC_ARG_FLAG: *(bool *)a->target = true; return 0;
    }
    return 2;
}

int sdc_args_parse(int argc, char **argv, const sdc_arg *args, int n_args, const char *usage, const char *extra_help,
                   const char **positional, int max_pos, int *n_pos) {
    int np = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && strcmp(s, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)) {
            sdc_args_help(stdout, args, n_args, usage, extra_help);
            return 1;
        }
        if (only_pos || s[0] != '-' || s[1] == '\0' || (s[1] >= '0' && s[1] <= '9')) {
            if (np >= max_pos) {
                fprintf(stderr, "sdc: unexpected argument '%s' (see --help)\n", s);
                return 2;
            }
            positional[np++] = s;
            continue;
        }
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        const sdc_arg *a = find(args, n_args, s, len);
        if (!a) {
            fprintf(stderr, "sdc: unknown option '%.*s' (see --help)\n", (int)len, s);
            return 2;
        }
        if (a->type == SDC_ARG_FLAG) {
            if (eq) {
                fprintf(stderr, "sdc: %s takes no value\n", a->name);
                return 2;
            }
            *(bool *)a->target = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "sdc: %s needs a value\n", a->name);
            return 2;
        }
        int r = set_value(a, v);
        if (r) return r;
    }
    if (n_pos) *n_pos = np;
    return 0;
}
