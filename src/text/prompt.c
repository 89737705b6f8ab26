/* A1111 prompt syntax and long-prompt chunking (see prompt.h).
 *
 * Follows the documented behaviour of A1111's prompt_parser.py
 * (parse_prompt_attention), extra_networks.py (tag extraction), the
 * "Comments" script, and sd_hijack_clip.py (tokenize_line), re-derived, not
 * translated. Deliberate differences are listed in docs/PROMPTS.md: BREAK
 * inside brackets still breaks (A1111 turns it into a negatively weighted
 * word), weights use ASCII digits only.
 *
 * Not here: tokenizing words (clip_tokenizer.c), the text encoder. */
#include "text/prompt.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/util.h"
#include "text/text_clean.h"
#include "text/utf8.h"

/* Growable byte string; failures set oom and make appends no-ops. */
typedef struct strbuf {
    char *s;
    size_t n, cap;
    bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

/* Python re's \s and \w (Unicode str patterns). */
static bool py_space(uint32_t c) { return sdc_clip_is_space(c) || (c >= 0x1C && c <= 0x1F); }
static bool py_word(uint32_t c) {
    if (c == '_') return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t c;
    *len = sdc_utf8_next((const unsigned char *)s + i, n - i, &c);
    return c;
}

/* The code point that ends right before byte i (i > 0). */
static uint32_t cp_before(const char *s, size_t i) {
    size_t b = i - 1, len;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80 && i - b < 4) b--;
    return cp_at(s, i, b, &len);
}

/* Python's float() for the strings it meets here; C locale, whole string. */
static bool py_float(const char *s, size_t n, double *out) {
    char buf[64];
    while (n > 0 && py_space((unsigned char)*s)) s++, n--;
    while (n > 0 && py_space((unsigned char)s[n - 1])) n--;
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *p = buf + (buf[0] == '+' || buf[0] == '-');
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return false; /* C hex floats are not Python's */
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c) return false;
    char *end;
    *out = strtod_l(buf, &end, c);
    freelocale(c);
    return end == buf + n;
}

/* ---- comments and extra-network tags ------------------------------------ */

/* A1111's "Comments" script: a line starting with '#' becomes a line break
 * (the line and its '\n'); then any '#' to the end of its line likewise. */
static void strip_comments(const char *s, size_t n, strbuf *out) {
    strbuf a = {0};
    for (size_t i = 0; i < n;) {
        size_t h = (i == 0 && s[0] == '#') ? 0 : (s[i] == '\n' && i + 1 < n && s[i + 1] == '#') ? i + 1 : SIZE_MAX;
        if (h == SIZE_MAX) {
            sb_add(&a, s + i, 1);
            i++;
            continue;
        }
        const char *nl = memchr(s + h, '\n', n - h);
        i = nl ? (size_t)(nl - s) + 1 : n;
        sb_add(&a, "\n", 1);
    }
    for (size_t i = 0; i < a.n;) {
        if (a.s[i] != '#') {
            sb_add(out, a.s + i, 1);
            i++;
            continue;
        }
        const char *nl = memchr(a.s + i, '\n', a.n - i);
        i = nl ? (size_t)(nl - a.s) + 1 : a.n;
        sb_add(out, "\n", 1);
    }
    if (a.oom) out->oom = true;
    free(a.s);
}

/* Length of a tag <\w+:[^>]+> at s[i] == '<', or 0; *colon gets the
 * position of the ':' after the kind. */
static size_t tag_len(const char *s, size_t n, size_t i, size_t *colon) {
    size_t j = i + 1, len;
    while (j < n && py_word(cp_at(s, n, j, &len))) j += len;
    if (j == i + 1 || j >= n || s[j] != ':') return 0;
    *colon = j;
    const char *gt = memchr(s + j + 1, '>', n - j - 1);
    if (!gt || gt == s + j + 1) return 0;
    return (size_t)(gt - s) + 1 - i;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Positional/named arguments as A1111's ExtraNetworkParams and the LoRA
 * network read them. */
static sdc_status network_values(sdc_prompt_network *net, sdc_error *err) {
    const char *pos[4] = {NULL, NULL, NULL, NULL};
    const char *te = NULL, *unet = NULL, *dyn = NULL;
    size_t n_pos = 0;
    for (size_t k = 0; k < net->n_args; k++) {
        const char *a = net->args[k], *eq = strchr(a, '=');
        bool named = eq && !strchr(eq + 1, '='); /* split('=', 2) gives exactly two parts */
        if (named && (size_t)(eq - a) == 2 && strncmp(a, "te", 2) == 0) te = eq + 1;
        else if (named && (size_t)(eq - a) == 4 && strncmp(a, "unet", 4) == 0) unet = eq + 1;
        else if (named && (size_t)(eq - a) == 3 && strncmp(a, "dyn", 3) == 0) dyn = eq + 1;
        else if (!named && n_pos < 4) pos[n_pos++] = a;
        else if (!named) n_pos++;
    }
    net->name = sdc_strdup(pos[0] ? pos[0] : "");
    if (!net->name) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    const char *tes = te ? te : pos[1], *unets = unet ? unet : pos[2], *dyns = dyn ? dyn : pos[3];
    net->te_multiplier = 1.0;
    if (tes && !py_float(tes, strlen(tes), &net->te_multiplier)) goto bad;
    net->unet_multiplier = net->te_multiplier;
    if (unets && !py_float(unets, strlen(unets), &net->unet_multiplier)) goto bad;
    if (!isfinite(net->te_multiplier) || !isfinite(net->unet_multiplier)) goto bad;
    net->dyn_dim = -1;
    if (dyns) {
        char *end;
        long v = strtol(dyns, &end, 10);
        if (end == dyns || *end || v < 0 || v > 1 << 20) goto bad;
        net->dyn_dim = (int)v;
    }
    return SDC_OK;
bad:
    return sdc_error_set(err, SDC_ERR_INVALID_ARG, "prompt: <%s:%s...> has a multiplier that is not a number",
                         net->kind, net->name);
}

static sdc_status add_network(sdc_prompt *p, const char *s, size_t colon, size_t i, size_t len, sdc_error *err) {
    sdc_prompt_network *nn = realloc(p->nets, (p->n_nets + 1) * sizeof *nn);
    if (!nn) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    p->nets = nn;
    sdc_prompt_network *net = &p->nets[p->n_nets++];
    memset(net, 0, sizeof *net);
    net->kind = dup_n(s + i + 1, colon - i - 1);
    const char *a = s + colon + 1, *end = s + i + len - 1; /* args up to the '>' */
    size_t count = 1;
    for (const char *q = a; q < end; q++) count += *q == ':';
    net->args = calloc(count, sizeof(char *));
    if (!net->kind || !net->args) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (const char *q = a;; q++) {
        if (q == end || *q == ':') {
            net->args[net->n_args] = dup_n(a, (size_t)(q - a));
            if (!net->args[net->n_args++]) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
            a = q + 1;
            if (q == end) break;
        }
    }
    return network_values(net, err);
}

/* Removes every <kind:args> tag (A1111 removes unknown kinds too). */
static sdc_status extract_networks(const char *s, size_t n, sdc_prompt *p, strbuf *out, sdc_error *err) {
    for (size_t i = 0; i < n;) {
        size_t colon = 0, len = s[i] == '<' ? tag_len(s, n, i, &colon) : 0;
        if (len == 0) {
            sb_add(out, s + i, 1);
            i++;
            continue;
        }
        sdc_status st = add_network(p, s, colon, i, len, err);
        if (st != SDC_OK) return st;
        i += len;
    }
    return SDC_OK;
}

/* ---- emphasis ----------------------------------------------------------- */

typedef struct frag_list {
    sdc_prompt_fragment *v;
    size_t n, cap;
    bool oom;
} frag_list;

static void frag_add(frag_list *l, const char *s, size_t n, bool is_break) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        sdc_prompt_fragment *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            l->oom = true;
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    char *t = dup_n(s, n);
    if (!t) {
        l->oom = true;
        return;
    }
    l->v[l->n++] = (sdc_prompt_fragment){t, 1.0, is_break};
}

/* A1111's multiply_range; BREAK markers keep their meaning (see header). */
static void multiply_from(frag_list *l, size_t start, double m) {
    for (size_t i = start; i < l->n; i++)
        if (!l->v[i].is_break) l->v[i].weight *= m;
}

/* Length of a "BREAK" word at s[i] (a \b on both sides within s[0..n)). */
static bool break_word_at(const char *s, size_t n, size_t i) {
    if (n - i < 5 || memcmp(s + i, "BREAK", 5) != 0) return false;
    size_t len;
    if (i > 0 && py_word(cp_before(s, i))) return false;
    return i + 5 == n || !py_word(cp_at(s, n, i + 5, &len));
}

/* Plain text: split at \s*\bBREAK\b\s*, a BREAK marker between the parts. */
static void add_plain(frag_list *l, const char *s, size_t n) {
    size_t part = 0, len;
    for (size_t i = 0; i < n;) {
        size_t ws = i; /* a run of \s that may precede BREAK */
        while (ws < n && py_space(cp_at(s, n, ws, &len))) ws += len;
        if (break_word_at(s, n, ws)) {
            size_t e = ws + 5;
            while (e < n && py_space(cp_at(s, n, e, &len))) e += len;
            frag_add(l, s + part, i - part, false);
            frag_add(l, "", 0, true);
            part = i = e;
            continue;
        }
        cp_at(s, n, i, &len);
        i += len;
    }
    frag_add(l, s + part, n - part, false);
}

/* ":" \s* [+-]?[.0-9]+ \s* ")" at s[i] == ':'; returns its length and the
 * number's span, or 0. */
static size_t weight_token(const char *s, size_t n, size_t i, size_t *num, size_t *num_len) {
    size_t j = i + 1, len;
    while (j < n && py_space(cp_at(s, n, j, &len))) j += len;
    size_t b = j;
    if (j < n && (s[j] == '+' || s[j] == '-')) j++;
    size_t d = j;
    while (j < n && (s[j] == '.' || (s[j] >= '0' && s[j] <= '9'))) j++;
    if (j == d) return 0;
    *num = b;
    *num_len = j - b;
    while (j < n && py_space(cp_at(s, n, j, &len))) j += len;
    return j < n && s[j] == ')' ? j + 1 - i : 0;
}

typedef struct bracket_stack {
    size_t *v;
    size_t n, cap;
} bracket_stack;

static bool stack_push(bracket_stack *st, size_t x) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        size_t *nv = realloc(st->v, cap * sizeof *nv);
        if (!nv) return false;
        st->v = nv;
        st->cap = cap;
    }
    st->v[st->n++] = x;
    return true;
}

static bool is_syntax(char c) { return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':'; }

/* One token of A1111's attention regex at s[i]; returns bytes consumed. */
static size_t emphasis_step(const char *s, size_t n, size_t i, frag_list *l, bracket_stack *round,
                            bracket_stack *square, sdc_error *err, sdc_status *st) {
    char c = s[i];
    size_t num = 0, num_len = 0, k;
    if (c == '\\') {
        bool esc = i + 1 < n && (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' || s[i + 1] == ']' ||
                                 s[i + 1] == '\\');
        frag_add(l, s + i + 1, esc ? 1 : 0, false); /* a lone '\' is dropped */
        return esc ? 2 : 1;
    }
    if (c == '(' || c == '[') {
        if (!stack_push(c == '(' ? round : square, l->n)) l->oom = true;
        return 1;
    }
    if (c == ':' && (k = weight_token(s, n, i, &num, &num_len)) > 0) {
        if (round->n == 0) return add_plain(l, s + i, k), k;
        double w;
        if (!py_float(s + num, num_len, &w)) {
            *st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "prompt: '%.*s' is not a number (in '%.*s')", (int)num_len,
                                s + num, (int)k, s + i);
            return k;
        }
        multiply_from(l, round->v[--round->n], w);
        return k;
    }
    if (c == ')' && round->n) return multiply_from(l, round->v[--round->n], 1.1), 1;
    if (c == ']' && square->n) return multiply_from(l, square->v[--square->n], 1 / 1.1), 1;
    if (c == ':' || c == ')' || c == ']') return add_plain(l, s + i, 1), 1;
    size_t j = i;
    while (j < n && !is_syntax(s[j])) j++;
    add_plain(l, s + i, j - i);
    return j - i;
}

static sdc_status parse_emphasis(const char *s, size_t n, unsigned flags, frag_list *l, sdc_error *err) {
    sdc_status st = SDC_OK;
    if (flags & SDC_PROMPT_NO_EMPHASIS) {
        frag_add(l, s, n, false);
    } else {
        bracket_stack round = {0}, square = {0};
        for (size_t i = 0; i < n && st == SDC_OK;) i += emphasis_step(s, n, i, l, &round, &square, err, &st);
        for (size_t k = 0; k < round.n; k++) multiply_from(l, round.v[k], 1.1);
        for (size_t k = 0; k < square.n; k++) multiply_from(l, square.v[k], 1 / 1.1);
        free(round.v);
        free(square.v);
    }
    if (l->n == 0) frag_add(l, "", 0, false);
    /* merge neighbours of equal weight, as A1111 does before tokenizing */
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        sdc_prompt_fragment *prev = w ? &l->v[w - 1] : NULL, *cur = &l->v[i];
        if (prev && !prev->is_break && !cur->is_break && prev->weight == cur->weight && !l->oom) {
            size_t a = strlen(prev->text), b = strlen(cur->text);
            char *t = realloc(prev->text, a + b + 1);
            if (t) {
                memcpy(t + a, cur->text, b + 1);
                prev->text = t;
                free(cur->text);
                continue;
            }
            l->oom = true; /* keep the fragment unmerged; the parse fails below */
        }
        l->v[w++] = *cur;
    }
    l->n = w;
    if (st == SDC_OK && l->oom) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory parsing a prompt");
    return st;
}

sdc_status sdc_prompt_parse(const char *text, unsigned flags, sdc_prompt *out, sdc_error *err) {
    memset(out, 0, sizeof *out);
    size_t n = strlen(text);
    strbuf a = {0}, b = {0};
    frag_list l = {0};
    if (!(flags & SDC_PROMPT_NO_COMMENTS)) strip_comments(text, n, &a);
    else sb_add(&a, text, n);
    sb_add(&a, "", 0);
    sdc_status st = a.oom ? sdc_error_set(err, SDC_ERR_OOM, "out of memory parsing a prompt") : SDC_OK;
    if (st == SDC_OK) st = extract_networks(a.s, a.n, out, &b, err);
    sb_add(&b, "", 0);
    if (st == SDC_OK && b.oom) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory parsing a prompt");
    if (st == SDC_OK) st = parse_emphasis(b.s, b.n, flags, &l, err);
    out->frags = l.v;
    out->n_frags = l.n;
    free(a.s);
    free(b.s);
    if (st != SDC_OK) sdc_prompt_free(out);
    return st;
}

void sdc_prompt_free(sdc_prompt *p) {
    for (size_t i = 0; i < p->n_frags; i++) free(p->frags[i].text);
    free(p->frags);
    for (size_t i = 0; i < p->n_nets; i++) {
        sdc_prompt_network *net = &p->nets[i];
        free(net->kind);
        free(net->name);
        for (size_t k = 0; k < net->n_args; k++) free(net->args[k]);
        free(net->args);
    }
    free(p->nets);
    memset(p, 0, sizeof *p);
}

/* ---- chunks ------------------------------------------------------------- */

typedef struct chunker {
    sdc_prompt_chunks *out;
    size_t cap;                               /* chunks allocated */
    int32_t cur[SDC_PROMPT_CHUNK_TOKENS];     /* the chunk being filled */
    float cur_w[SDC_PROMPT_CHUNK_TOKENS];
    size_t n;                                 /* tokens in cur */
    long last_comma;                          /* position in cur, -1: none */
    int32_t bos, eos, pad;
} chunker;

/* A1111's next_chunk: pads cur with the end token, frames it, starts anew. */
static bool next_chunk(chunker *c, bool is_last) {
    sdc_prompt_chunks *o = c->out;
    if (o->n_chunks == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4, bytes;
        if (!sdc_mul_ok(cap, SDC_PROMPT_CHUNK_LEN * sizeof(float), &bytes)) return false;
        int32_t *ids = realloc(o->ids, bytes);
        if (ids) o->ids = ids;
        float *w = realloc(o->weights, bytes);
        if (w) o->weights = w;
        if (!ids || !w) return false;
        c->cap = cap;
    }
    o->n_tokens += is_last ? c->n : SDC_PROMPT_CHUNK_TOKENS;
    int32_t *ids = o->ids + o->n_chunks * SDC_PROMPT_CHUNK_LEN;
    float *w = o->weights + o->n_chunks * SDC_PROMPT_CHUNK_LEN;
    ids[0] = c->bos;
    for (size_t k = 0; k < SDC_PROMPT_CHUNK_TOKENS; k++) ids[k + 1] = k < c->n ? c->cur[k] : c->eos;
    ids[SDC_PROMPT_CHUNK_LEN - 1] = c->eos;
    for (size_t k = 0; k < SDC_PROMPT_CHUNK_LEN; k++) w[k] = k >= 1 && k <= c->n ? c->cur_w[k - 1] : 1.0f;
    if (c->pad != c->eos) { /* SD 2.x: everything after the first end token is padding */
        size_t k = 1;
        while (ids[k] != c->eos) k++;
        for (k++; k < SDC_PROMPT_CHUNK_LEN; k++) ids[k] = c->pad;
    }
    o->n_chunks++;
    c->n = 0;
    c->last_comma = -1;
    return true;
}

/* Appends one token, with A1111's comma backtracking at a full chunk. */
static bool chunk_token(chunker *c, int32_t tok, float w, int32_t comma) {
    if (tok == comma) {
        c->last_comma = (long)c->n;
    } else if (c->n == SDC_PROMPT_CHUNK_TOKENS && c->last_comma != -1 &&
               (long)c->n - c->last_comma <= SDC_PROMPT_COMMA_BACKTRACK) {
        size_t at = (size_t)c->last_comma + 1, moved = c->n - at;
        int32_t ids[SDC_PROMPT_CHUNK_TOKENS];
        float ws[SDC_PROMPT_CHUNK_TOKENS];
        memcpy(ids, c->cur + at, moved * sizeof(int32_t));
        memcpy(ws, c->cur_w + at, moved * sizeof(float));
        c->n = at;
        if (!next_chunk(c, false)) return false;
        memcpy(c->cur, ids, moved * sizeof(int32_t));
        memcpy(c->cur_w, ws, moved * sizeof(float));
        c->n = moved;
    }
    if (c->n == SDC_PROMPT_CHUNK_TOKENS && !next_chunk(c, false)) return false;
    c->cur[c->n] = tok;
    c->cur_w[c->n] = w;
    c->n++;
    return true;
}

sdc_status sdc_prompt_tokenize(sdc_clip_tokenizer *tok, const sdc_prompt *p, int32_t pad_id, sdc_prompt_chunks *out,
                               sdc_error *err) {
    memset(out, 0, sizeof *out);
    chunker c = {.out = out, .last_comma = -1, .pad = pad_id};
    c.bos = sdc_clip_tokenizer_bos(tok);
    c.eos = sdc_clip_tokenizer_eos(tok);
    int32_t comma = sdc_clip_tokenizer_lookup(tok, ",</w>");
    int32_t *ids = NULL;
    size_t cap = 0;
    sdc_status st = SDC_OK;
    for (size_t f = 0; f < p->n_frags && st == SDC_OK; f++) {
        const sdc_prompt_fragment *fr = &p->frags[f];
        if (fr->is_break) {
            if (!next_chunk(&c, false)) goto oom;
            continue;
        }
        size_t n = 0;
        st = sdc_clip_tokenize(tok, fr->text, ids, cap, &n, err);
        if (st == SDC_OK && n > cap) {
            free(ids);
            cap = n;
            ids = malloc(cap * sizeof(int32_t));
            if (!ids) goto oom;
            st = sdc_clip_tokenize(tok, fr->text, ids, cap, &n, err);
        }
        for (size_t k = 0; k < n && st == SDC_OK; k++)
            if (!chunk_token(&c, ids[k], (float)fr->weight, comma)) goto oom;
    }
    if (st == SDC_OK && (c.n > 0 || out->n_chunks == 0) && !next_chunk(&c, true)) goto oom;
    free(ids);
    if (st != SDC_OK) sdc_prompt_chunks_free(out);
    return st;
oom:
    free(ids);
    sdc_prompt_chunks_free(out);
    return sdc_error_set(err, SDC_ERR_OOM, "out of memory tokenizing a prompt");
}

void sdc_prompt_chunks_free(sdc_prompt_chunks *c) {
    free(c->ids);
    free(c->weights);
    memset(c, 0, sizeof *c);
}

void sdc_prompt_apply_weights(float *z, const float *w, size_t t, size_t d) {
    double before = 0, after = 0;
    size_t count = t * d;
    if (count == 0) return;
    for (size_t i = 0; i < count; i++) before += z[i];
    for (size_t i = 0; i < t; i++)
        for (size_t k = 0; k < d; k++) {
            z[i * d + k] *= w[i];
            after += z[i * d + k];
        }
    if (after == 0) return;
    float scale = (float)(before / after); /* ratio of the means: the counts cancel */
    for (size_t i = 0; i < count; i++) z[i] *= scale;
}
