/* A1111 infotext formatting and parsing (see infotext.h for the rules).
 * The parser hand-codes A1111's re_param regex
 *   \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
 * with Python's findall semantics; JSON strings are unquoted with jansson. */
#include "image/infotext.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- growable string ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_addn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_add(sbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

/* ---- params struct ---- */

sdc_status sdc_gen_params_init(sdc_gen_params *p, sdc_error *err) {
    memset(p, 0, sizeof *p);
    p->steps = -1;
    p->seed = INT64_MIN;
    p->cfg_scale = NAN;
    p->denoising_strength = NAN;
    p->prompt = sdc_strdup("");
    p->negative_prompt = sdc_strdup("");
    if (!p->prompt || !p->negative_prompt) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    return SDC_OK;
}

void sdc_gen_params_free(sdc_gen_params *p) {
    if (!p) return;
    char **strs[] = {&p->prompt, &p->negative_prompt, &p->sampler, &p->scheduler,
                     &p->model_hash, &p->model_name, &p->version};
    for (size_t i = 0; i < SDC_ARRAY_LEN(strs); i++) free(*strs[i]);
    for (size_t i = 0; i < p->n_extra; i++) {
        free(p->extra[i].key);
        free(p->extra[i].value);
    }
    free(p->extra);
    memset(p, 0, sizeof *p);
}

sdc_status sdc_gen_params_set_str(char **field, const char *value, sdc_error *err) {
    char *c = NULL;
    if (value && !(c = sdc_strdup(value))) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    free(*field);
    *field = c;
    return SDC_OK;
}

sdc_status sdc_gen_params_add_extra(sdc_gen_params *p, const char *key, const char *value, sdc_error *err) {
    sdc_infotext_kv *e = realloc(p->extra, (p->n_extra + 1) * sizeof *e);
    if (!e) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    p->extra = e;
    e[p->n_extra].key = sdc_strdup(key);
    e[p->n_extra].value = value ? sdc_strdup(value) : NULL;
    if (!e[p->n_extra].key || (value && !e[p->n_extra].value)) {
        free(e[p->n_extra].key);
        free(e[p->n_extra].value);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    p->n_extra++;
    return SDC_OK;
}

/* ---- formatting ---- */

char *sdc_infotext_quote(const char *v) {
    if (!strpbrk(v, ",\n:")) return sdc_strdup(v);
    sbuf b = {0};
    sb_add(&b, "\"");
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        char esc[8];
        switch (*s) {
        case '"': sb_add(&b, "\\\""); break;
        case '\\': sb_add(&b, "\\\\"); break;
        case '\n': sb_add(&b, "\\n"); break;
        case '\r': sb_add(&b, "\\r"); break;
        case '\t': sb_add(&b, "\\t"); break;
        case '\b': sb_add(&b, "\\b"); break;
        case '\f': sb_add(&b, "\\f"); break;
        default:
            if (*s < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *s);
                sb_add(&b, esc);
            } else {
                sb_addn(&b, (const char *)s, 1);
            }
        }
    }
    sb_add(&b, "\"");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Shortest decimal that reads back as x, without a trailing ".0". */
static void fmt_double(double x, char *buf, size_t n) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static void add_param(sbuf *b, const char *key, const char *value) {
    if (b->n > 0) sb_add(b, ", ");
    sb_add(b, key);
    if (!value) return;
    char *q = sdc_infotext_quote(value);
    if (!q) {
        b->oom = 1;
        return;
    }
    sb_add(b, ": ");
    sb_add(b, q);
    free(q);
}

static void add_param_str(sbuf *b, const char *key, const char *value) {
    if (value) add_param(b, key, value);
}

static void add_param_double(sbuf *b, const char *key, double v) {
    char buf[64];
    if (isnan(v)) return;
    fmt_double(v, buf, sizeof buf);
    add_param(b, key, buf);
}

static void format_params(const sdc_gen_params *p, sbuf *b) {
    char buf[64];
    if (p->steps >= 0) snprintf(buf, sizeof buf, "%d", p->steps), add_param(b, "Steps", buf);
    add_param_str(b, "Sampler", p->sampler);
    add_param_str(b, "Schedule type", p->scheduler);
    add_param_double(b, "CFG scale", p->cfg_scale);
    if (p->seed != INT64_MIN) snprintf(buf, sizeof buf, "%lld", (long long)p->seed), add_param(b, "Seed", buf);
    if (p->width > 0 && p->height > 0) snprintf(buf, sizeof buf, "%dx%d", p->width, p->height), add_param(b, "Size", buf);
    add_param_str(b, "Model hash", p->model_hash);
    add_param_str(b, "Model", p->model_name);
    add_param_double(b, "Denoising strength", p->denoising_strength);
    if (p->clip_skip > 1) snprintf(buf, sizeof buf, "%d", p->clip_skip), add_param(b, "Clip skip", buf);
    for (size_t i = 0; i < p->n_extra; i++) add_param(b, p->extra[i].key, p->extra[i].value);
    add_param_str(b, "Version", p->version);
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

sdc_status sdc_infotext_format(const sdc_gen_params *p, char **out, sdc_error *err) {
    *out = NULL;
    sbuf params = {0}, all = {0};
    format_params(p, &params);
    sb_add(&all, p->prompt ? p->prompt : "");
    if (p->negative_prompt && p->negative_prompt[0]) {
        sb_add(&all, "\nNegative prompt: ");
        sb_add(&all, p->negative_prompt);
    }
    sb_add(&all, "\n");
    if (params.s) sb_add(&all, params.s);
    free(params.s);
    if (all.oom || params.oom) {
        free(all.s);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory formatting infotext");
    }
    /* Python's str.strip() */
    size_t a = 0, z = all.n;
    while (a < z && is_space((unsigned char)all.s[a])) a++;
    while (z > a && is_space((unsigned char)all.s[z - 1])) z--;
    memmove(all.s, all.s + a, z - a);
    all.s[z - a] = '\0';
    *out = all.s;
    return SDC_OK;
}

/* ---- parsing ---- */

static int is_word(unsigned char c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

typedef struct param_match {
    size_t key_at, key_len, val_at, val_len, end;
} param_match;

/* re_param matched at position p of s (length n)? */
static int match_param(const char *s, size_t n, size_t p, param_match *m) {
    while (p < n && is_space((unsigned char)s[p])) p++;
    if (p >= n || !is_word((unsigned char)s[p])) return 0;
    size_t k = p + 1;
    while (k < n && (is_word((unsigned char)s[k]) || s[k] == ' ' || s[k] == '-' || s[k] == '/')) k++;
    if (k - p < 2 || k >= n || s[k] != ':') return 0;
    m->key_at = p;
    m->key_len = k - p;
    size_t v = k + 1;
    while (v < n && is_space((unsigned char)s[v])) v++;
    if (v < n && s[v] == '"') { /* "(?:\\.|[^\\"])+" followed by , or end */
        size_t q = v + 1;
        while (q < n && s[q] != '"') {
            if (s[q] == '\\') {
                if (q + 1 >= n || s[q + 1] == '\n') break;
                q += 2;
            } else {
                q++;
            }
        }
        if (q < n && s[q] == '"' && q > v + 1 && (q + 1 == n || s[q + 1] == ',')) {
            m->val_at = v;
            m->val_len = q + 1 - v;
            m->end = q + 1 < n ? q + 2 : q + 1;
            return 1;
        }
    }
    size_t e = v;
    while (e < n && s[e] != ',') e++;
    m->val_at = v;
    m->val_len = e - v;
    m->end = e < n ? e + 1 : e;
    return 1;
}

/* Python's re.findall over the line: matches in order, scanning on by one
 * character after a failed start. Returns the number of matches; fills up
 * to max entries of out (out may be NULL to count). */
static size_t find_params(const char *s, size_t n, param_match *out, size_t max) {
    size_t count = 0, p = 0;
    while (p <= n) {
        param_match m;
        if (p < n && match_param(s, n, p, &m)) {
            if (out && count < max) out[count] = m;
            count++;
            p = m.end > p ? m.end : p + 1;
        } else {
            p++;
        }
    }
    return count;
}

/* Decodes a JSON string value ("..."); NULL when it is not one. */
static char *json_unquote(const char *v, size_t n) {
    json_error_t je;
    json_t *j = json_loadb(v, n, JSON_DECODE_ANY, &je);
    char *r = NULL;
    if (j && json_is_string(j)) {
        size_t len = json_string_length(j);
        r = malloc(len + 1);
        if (r) {
            memcpy(r, json_string_value(j), len);
            r[len] = '\0';
        }
    }
    json_decref(j);
    return r;
}

static int parse_int64(const char *v, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int parse_double(const char *v, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x)) return 0;
    *out = x;
    return 1;
}

/* Stores one key/value into the known field, or into extra. */
static sdc_status store_param(sdc_gen_params *p, const char *key, const char *v, sdc_error *err) {
    long long i, j;
    double d;
    int w, h;
    char tail;
    if (!strcmp(key, "Steps") && parse_int64(v, 0, 1000000, &i)) p->steps = (int)i;
    else if (!strcmp(key, "Seed") && parse_int64(v, -(1LL << 62), 1LL << 62, &i)) p->seed = i;
    else if (!strcmp(key, "CFG scale") && parse_double(v, &d)) p->cfg_scale = d;
    else if (!strcmp(key, "Denoising strength") && parse_double(v, &d)) p->denoising_strength = d;
    else if (!strcmp(key, "Clip skip") && parse_int64(v, 1, 1000, &j)) p->clip_skip = (int)j;
    else if (!strcmp(key, "Size") && sscanf(v, "%dx%d%c", &w, &h, &tail) == 2 && w > 0 && h > 0 &&
             strspn(v, "0123456789x") == strlen(v))
        p->width = w, p->height = h;
    else if (!strcmp(key, "Sampler")) return sdc_gen_params_set_str(&p->sampler, v, err);
    else if (!strcmp(key, "Schedule type")) return sdc_gen_params_set_str(&p->scheduler, v, err);
    else if (!strcmp(key, "Model hash")) return sdc_gen_params_set_str(&p->model_hash, v, err);
    else if (!strcmp(key, "Model")) return sdc_gen_params_set_str(&p->model_name, v, err);
    else if (!strcmp(key, "Version")) return sdc_gen_params_set_str(&p->version, v, err);
    else return sdc_gen_params_add_extra(p, key, v, err);
    return SDC_OK;
}

static sdc_status parse_param_line(const char *s, size_t n, sdc_gen_params *pairs, sdc_error *err) {
    size_t count = find_params(s, n, NULL, 0);
    param_match *m = calloc(count ? count : 1, sizeof *m);
    if (!m) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    find_params(s, n, m, count);
    sdc_status st = SDC_OK;
    for (size_t i = 0; i < count && st == SDC_OK; i++) {
        char *key = strndup(s + m[i].key_at, m[i].key_len);
        char *val = NULL;
        const char *v = s + m[i].val_at;
        size_t vl = m[i].val_len;
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') val = json_unquote(v, vl);
        if (!val) val = strndup(v, vl);
        if (!key || !val) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        else st = sdc_gen_params_add_extra(pairs, key, val, err);
        free(key);
        free(val);
    }
    free(m);
    return st;
}

/* Appends line to *dst, joined by "\n" unless *dst is empty (A1111). */
static sdc_status join_line(char **dst, const char *line, size_t n, sdc_error *err) {
    size_t old = strlen(*dst);
    char *r = realloc(*dst, old + n + 2);
    if (!r) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    if (old) r[old++] = '\n';
    memcpy(r + old, line, n);
    r[old + n] = '\0';
    *dst = r;
    return SDC_OK;
}

sdc_status sdc_infotext_split(const char *text, sdc_gen_params *p, sdc_error *err) {
    sdc_status st = sdc_gen_params_init(p, err);
    if (st != SDC_OK) return st;
    size_t a = 0, z = strlen(text);
    while (a < z && is_space((unsigned char)text[a])) a++;
    while (z > a && is_space((unsigned char)text[z - 1])) z--;
    const char *last = text + a;
    for (size_t i = a; i < z; i++)
        if (text[i] == '\n') last = text + i + 1;
    size_t last_len = (size_t)(text + z - last);
    int has_params = find_params(last, last_len, NULL, 0) >= 3;
    const char *end = has_params ? (last > text + a ? last - 1 : text + a) : text + z;
    int negative = 0;
    for (const char *line = text + a; st == SDC_OK && line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        const char *s = line, *e = le;
        while (s < e && is_space((unsigned char)*s)) s++;
        while (e > s && is_space((unsigned char)e[-1])) e--;
        if ((size_t)(e - s) >= 16 && memcmp(s, "Negative prompt:", 16) == 0) {
            negative = 1;
            s += 16;
            while (s < e && is_space((unsigned char)*s)) s++;
        }
        st = join_line(negative ? &p->negative_prompt : &p->prompt, s, (size_t)(e - s), err);
        line = nl ? nl + 1 : end;
    }
    if (st == SDC_OK && has_params) st = parse_param_line(last, last_len, p, err);
    return st;
}

sdc_status sdc_infotext_parse(const char *text, sdc_gen_params *p, sdc_error *err) {
    sdc_gen_params raw;
    sdc_status st = sdc_infotext_split(text, &raw, err);
    if (st == SDC_OK) st = sdc_gen_params_init(p, err);
    else memset(p, 0, sizeof *p);
    if (st == SDC_OK) {
        char *t = p->prompt;
        p->prompt = raw.prompt;
        raw.prompt = t;
        t = p->negative_prompt;
        p->negative_prompt = raw.negative_prompt;
        raw.negative_prompt = t;
    }
    for (size_t i = 0; st == SDC_OK && i < raw.n_extra; i++) {
        const char *v = raw.extra[i].value;
        st = store_param(p, raw.extra[i].key, v ? v : "", err);
    }
    if (st == SDC_OK && p->clip_skip == 0) p->clip_skip = 1; /* A1111: absent means 1 */
    sdc_gen_params_free(&raw);
    return st;
}

double sdc_infotext_float(float f) {
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}
