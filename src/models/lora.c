/* LoRA / LoCon / LoHa / LoKr merging (see lora.h).
 *
 * Three stages: _add groups a file's tensors into modules by key suffix;
 * _bind maps module names onto the model's canonical weight names through
 * an alias table generated from the model's own names (ldm, kohya and
 * diffusers spellings of each weight) and checks the delta shapes; the
 * patch's apply() rebuilds each delta in f32 and adds it to the weight.
 * Not here: the module naming rules themselves (lora_names.c). */
#include "models/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/kernels.h"
#include "models/lora_names.h"
#include "models/unet.h"

enum role {
    R_DOWN, R_UP, R_MID, R_ALPHA, R_HW1A, R_HW1B, R_HW2A, R_HW2B, R_HT1, R_HT2,
    R_KW1, R_KW1A, R_KW1B, R_KW2, R_KW2A, R_KW2B, R_KT2, R_DIFF, R_DIFFB, R_DORA, R_COUNT
};

enum kind { K_NONE, K_LORA, K_LOHA, K_LOKR, K_DIFF, K_UNSUPPORTED };

/* Longer suffixes first: ".down.weight" is a tail of ".lora.down.weight". */
static const struct {
    const char *suffix;
    int role;
} k_suffix[] = {
    {".lora_linear_layer.down.weight", R_DOWN}, {".lora_linear_layer.up.weight", R_UP},
    {".lora_A.default.weight", R_DOWN},         {".lora_B.default.weight", R_UP},
    {".lora_down.weight", R_DOWN},              {".lora_up.weight", R_UP},
    {".lora_mid.weight", R_MID},                {".lora_A.weight", R_DOWN},
    {".lora_B.weight", R_UP},                   {".lora.down.weight", R_DOWN},
    {".lora.up.weight", R_UP},                  {".down.weight", R_DOWN},
    {".up.weight", R_UP},                       {".alpha", R_ALPHA},
    {".hada_w1_a", R_HW1A},                     {".hada_w1_b", R_HW1B},
    {".hada_w2_a", R_HW2A},                     {".hada_w2_b", R_HW2B},
    {".hada_t1", R_HT1},                        {".hada_t2", R_HT2},
    {".lokr_w1", R_KW1},                        {".lokr_w1_a", R_KW1A},
    {".lokr_w1_b", R_KW1B},                     {".lokr_w2", R_KW2},
    {".lokr_w2_a", R_KW2A},                     {".lokr_w2_b", R_KW2B},
    {".lokr_t2", R_KT2},                        {".diff", R_DIFF},
    {".diff_b", R_DIFFB},                       {".dora_scale", R_DORA},
};

typedef struct lmod {
    char *name; /* module name as in the file (key without role suffix) */
    const sdc_weight_info *t[R_COUNT];
    int kind, file;
    const char *why;     /* unsupported / unmatched reason */
    int target;          /* index into targets, -1 when unmatched */
    bool te;             /* text-encoder module (te strength) */
    int64_t row_off;     /* first row of the target this delta covers */
    int64_t out, cols;   /* delta shape [out, cols] */
} lmod;

typedef struct lfile {
    char *path;
    sdc_weight_file *wf;
    float su, st;
    size_t first, count; /* its modules: mods[first .. first + count) */
} lfile;

typedef struct target {
    char *canon;
    size_t *mods;
    size_t n, cap;
} target;

struct sdc_lora_set {
    lfile *files;
    size_t n_files;
    lmod *mods;
    size_t n_mods, cap_mods;
    target *targets;
    size_t n_targets;
    sdc_strmap target_index;
    sdc_wpatch patch;
    sdc_pool *pool;
    size_t n_matched, n_unmatched, applied;
};

/* ---- set / files / modules ---------------------------------------------- */

sdc_status sdc_lora_set_new(sdc_lora_set **out, sdc_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_strmap_init(&(*out)->target_index);
    return SDC_OK;
}

static void clear_targets(sdc_lora_set *s) {
    for (size_t i = 0; i < s->n_targets; i++) {
        free(s->targets[i].canon);
        free(s->targets[i].mods);
    }
    free(s->targets);
    s->targets = NULL;
    s->n_targets = 0;
    sdc_strmap_free(&s->target_index);
    sdc_strmap_init(&s->target_index);
}

void sdc_lora_set_free(sdc_lora_set *s) {
    if (!s) return;
    clear_targets(s);
    sdc_strmap_free(&s->target_index);
    for (size_t i = 0; i < s->n_mods; i++) free(s->mods[i].name);
    free(s->mods);
    for (size_t i = 0; i < s->n_files; i++) {
        free(s->files[i].path);
        sdc_weight_file_close(s->files[i].wf);
    }
    free(s->files);
    free(s);
}

void sdc_lora_set_pool(sdc_lora_set *s, sdc_pool *pool) { s->pool = pool; }

static const char *file_base(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Module named `name` (len bytes) of file f: found or appended. */
static lmod *module_for(sdc_lora_set *s, sdc_strmap *index, const char *name, size_t len, int f, sdc_error *err) {
    char *key = malloc(len + 1);
    if (!key) return NULL;
    memcpy(key, name, len);
    key[len] = 0;
    size_t at;
    if (sdc_strmap_get(index, key, &at)) {
        free(key);
        return &s->mods[at];
    }
    if (s->n_mods == s->cap_mods) {
        size_t ncap = s->cap_mods ? 2 * s->cap_mods : 64;
        lmod *nm = realloc(s->mods, ncap * sizeof *nm);
        if (!nm) {
            free(key);
            return NULL;
        }
        s->mods = nm;
        s->cap_mods = ncap;
    }
    lmod *m = &s->mods[s->n_mods];
    memset(m, 0, sizeof *m);
    m->name = key;
    m->file = f;
    m->target = -1;
    if (sdc_strmap_put(index, key, s->n_mods) < 0) {
        free(key);
        return NULL;
    }
    s->n_mods++;
    (void)err;
    return m;
}

static int kind_of(const lmod *m) {
    bool lora = m->t[R_DOWN] || m->t[R_UP] || m->t[R_MID];
    bool loha = false, lokr = false;
    for (int r = R_HW1A; r <= R_HT2; r++) loha |= m->t[r] != NULL;
    for (int r = R_KW1; r <= R_KT2; r++) lokr |= m->t[r] != NULL;
    bool diff = m->t[R_DIFF] != NULL;
    if (m->t[R_DORA] || m->t[R_DIFFB]) return K_UNSUPPORTED;
    if (lora + loha + lokr + diff != 1) return lora + loha + lokr + diff ? K_UNSUPPORTED : K_NONE;
    return lora ? K_LORA : loha ? K_LOHA : lokr ? K_LOKR : K_DIFF;
}

static sdc_status group_file(sdc_lora_set *s, int f, sdc_error *err) {
    const sdc_weight_file *wf = s->files[f].wf;
    sdc_strmap index;
    sdc_strmap_init(&index);
    size_t first = s->n_mods;
    sdc_status st = SDC_OK;
    for (size_t i = 0; i < wf->count && !st; i++) {
        const sdc_weight_info *w = &wf->tensors[i];
        size_t len = strlen(w->name), j = 0;
        for (; j < SDC_ARRAY_LEN(k_suffix); j++) {
            size_t sl = strlen(k_suffix[j].suffix);
            if (len > sl && strcmp(w->name + len - sl, k_suffix[j].suffix) == 0) break;
        }
        bool known = j < SDC_ARRAY_LEN(k_suffix);
        size_t mlen = known ? len - strlen(k_suffix[j].suffix) : len;
        lmod *m = module_for(s, &index, w->name, mlen, f, err);
        if (!m) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        else if (!known) m->why = "unknown key kind";
        else if (!sdc_dtype_is_float(w->dtype)) st = sdc_error_set(err, SDC_ERR_FORMAT, "LoRA '%s': tensor '%s' is not floating point", file_base(s->files[f].path), w->name);
        else m->t[k_suffix[j].role] = w;
    }
    for (size_t i = first; i < s->n_mods && !st; i++) {
        lmod *m = &s->mods[i];
        if (m->why) {
            m->kind = K_UNSUPPORTED;
            continue;
        }
        m->kind = kind_of(m);
        if (m->kind == K_UNSUPPORTED)
            m->why = m->t[R_DORA] ? "DoRA, unsupported" : m->t[R_DIFFB] ? "bias diff, unsupported" : "mixed module kinds";
        else if (m->kind == K_NONE) m->why = "alpha without weights";
    }
    /* the index borrowed the module names; they stay owned by the modules */
    sdc_strmap_free(&index);
    return st;
}

sdc_status sdc_lora_set_add(sdc_lora_set *s, const char *path, float unet_strength, float te_strength,
                            sdc_error *err) {
    if (!isfinite(unet_strength) || !isfinite(te_strength))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "LoRA '%s': strength is not a finite number", path);
    lfile *nf = realloc(s->files, (s->n_files + 1) * sizeof *nf);
    if (!nf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    s->files = nf;
    lfile *f = &s->files[s->n_files];
    memset(f, 0, sizeof *f);
    f->su = unet_strength;
    f->st = te_strength;
    f->path = sdc_strdup(path);
    if (!f->path) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = sdc_weight_file_open(path, &f->wf, err);
    if (st) {
        free(f->path);
        return st;
    }
    s->n_files++;
    size_t first = s->n_mods;
    f->first = first;
    st = group_file(s, (int)s->n_files - 1, err);
    f->count = s->n_mods - first;
    if (st) { /* drop this file's modules and the file */
        for (size_t i = first; i < s->n_mods; i++) free(s->mods[i].name);
        s->n_mods = first;
        s->n_files--;
        free(f->path);
        sdc_weight_file_close(f->wf);
    }
    return st;
}

/* ---- aliases: every spelling of every patchable model weight ------------ */

typedef struct alias {
    const char *canon; /* borrowed from the model */
    int64_t row_off, rows; /* rows < 0: the whole tensor */
    bool te;
} alias;

typedef struct alias_table {
    sdc_strmap map; /* key (owned, in keys) -> index into a */
    char **keys;
    alias *a;
    size_t n, cap;
} alias_table;

static void alias_free(alias_table *t) {
    for (size_t i = 0; i < t->n; i++) free(t->keys[i]);
    free(t->keys);
    free(t->a);
    sdc_strmap_free(&t->map);
}

/* Adds prefix + name (with '.' -> '_' when underscore); duplicates keep
 * the first entry. Returns false on OOM. */
static bool alias_add(alias_table *t, const char *prefix, const char *name, bool underscore, alias a) {
    if (t->n == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 1024;
        char **nk = realloc(t->keys, ncap * sizeof *nk);
        if (!nk) return false;
        t->keys = nk;
        alias *na = realloc(t->a, ncap * sizeof *na);
        if (!na) return false;
        t->a = na;
        t->cap = ncap;
    }
    size_t pl = strlen(prefix), nl = strlen(name);
    char *k = malloc(pl + nl + 1);
    if (!k) return false;
    memcpy(k, prefix, pl);
    for (size_t i = 0; i <= nl; i++) k[pl + i] = underscore && name[i] == '.' ? '_' : name[i];
    int r = sdc_strmap_put(&t->map, k, t->n);
    if (r <= 0) {
        free(k);
        return r == 0;
    }
    t->keys[t->n] = k;
    t->a[t->n++] = a;
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* U-Net weight `module` (ldm path without prefix and ".weight"). */
static bool unet_aliases(alias_table *t, const char *module, int nres, alias a) {
    char d[256];
    bool ok = alias_add(t, "lora_unet_", module, true, a);
    if (ok && sdc_unet_module_to_diffusers(module, nres, d, sizeof d)) {
        ok = alias_add(t, "lora_unet_", d, true, a) && alias_add(t, "unet.", d, false, a);
        size_t n = strlen(d);
        if (ok && ends_with(d, ".to_out.0")) { /* attention-processor style "to_out_lora" */
            d[n - 2] = 0;
            ok = alias_add(t, "unet.", d, false, a);
        }
    }
    return ok;
}

/* HF CLIP module "text_model.encoder.layers.N.self_attn.q_proj" etc. */
static bool te_aliases(alias_table *t, const sdc_te_names *te, const char *module, alias a) {
    bool ok = alias_add(t, te->kohya_prefix, module, true, a) && alias_add(t, te->peft_prefix, module, false, a);
    static const char *const proc[][2] = {{"self_attn.q_proj", "self_attn.to_q"}, {"self_attn.k_proj", "self_attn.to_k"},
                                          {"self_attn.v_proj", "self_attn.to_v"}, {"self_attn.out_proj", "self_attn.to_out"}};
    for (size_t i = 0; ok && i < SDC_ARRAY_LEN(proc); i++)
        if (ends_with(module, proc[i][0])) {
            char p[256];
            int n = snprintf(p, sizeof p, "%.*s%s", (int)(strlen(module) - strlen(proc[i][0])), module, proc[i][1]);
            if (n > 0 && (size_t)n < sizeof p) ok = alias_add(t, te->peft_prefix, p, false, a);
        }
    return ok;
}

static bool canon_aliases(alias_table *t, const char *canon, const sdc_weight_info *w, int nres) {
    alias a = {.canon = canon, .row_off = 0, .rows = -1};
    char module[256];
    size_t n = strlen(canon);
    const char *up = SDC_UNET_PREFIX;
    if (strncmp(canon, up, strlen(up)) == 0 && ends_with(canon, ".weight") && n - strlen(up) - 7 < sizeof module) {
        snprintf(module, sizeof module, "%.*s", (int)(n - strlen(up) - 7), canon + strlen(up));
        return unet_aliases(t, module, nres, a);
    }
    size_t nt;
    const sdc_te_names *tes = sdc_te_names_table(&nt);
    for (size_t i = 0; i < nt; i++) {
        const char *rel = canon + strlen(tes[i].canon_prefix);
        if (strncmp(canon, tes[i].canon_prefix, strlen(tes[i].canon_prefix)) != 0) continue;
        a.te = true;
        if (!tes[i].openclip) {
            if (strncmp(rel, "text_model.", 11) != 0 || !ends_with(rel, ".weight") || strlen(rel) - 7 >= sizeof module) return true;
            snprintf(module, sizeof module, "%.*s", (int)(strlen(rel) - 7), rel);
            return te_aliases(t, &tes[i], module, a);
        }
        char hf[3][160];
        int k;
        sdc_openclip_to_hf(rel, hf, &k);
        for (int j = 0; j < k; j++) {
            if (k == 3) {
                a.rows = w->shape[0] / 3;
                a.row_off = j * a.rows;
            }
            if (!te_aliases(t, &tes[i], hf[j], a)) return false;
        }
        return true;
    }
    return true;
}

static sdc_status build_aliases(alias_table *t, const sdc_model_files *model, sdc_error *err) {
    memset(t, 0, sizeof *t);
    sdc_strmap_init(&t->map);
    int nres = sdc_unet_nres(model, SDC_UNET_PREFIX);
    for (size_t i = 0; i < sdc_model_files_count(model); i++) {
        const char *canon;
        const sdc_weight_info *w = sdc_model_files_at(model, i, &canon);
        if (!canon_aliases(t, canon, w, nres)) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    return SDC_OK;
}

/* Lookup key of a module name: kohya names as they are; dotted names
 * without the attention-processor decorations. */
static const alias *find_alias(const alias_table *t, const char *name) {
    char k[512];
    const char *bm = "base_model.model.";
    if (strncmp(name, bm, strlen(bm)) == 0) snprintf(k, sizeof k, "unet.%s", name + strlen(bm));
    else snprintf(k, sizeof k, "%s", name);
    char *p;
    while ((p = strstr(k, ".processor.")) != NULL) memmove(p, p + 10, strlen(p + 10) + 1);
    if (ends_with(k, "_lora")) k[strlen(k) - 5] = 0;
    size_t i;
    if (sdc_strmap_get(&t->map, k, &i)) return &t->a[i];
    char k2[520];
    snprintf(k2, sizeof k2, "unet.%s", k);
    if (strncmp(k, "lora_", 5) != 0 && sdc_strmap_get(&t->map, k2, &i)) return &t->a[i];
    return NULL;
}

/* ---- delta shapes ------------------------------------------------------- */

static int64_t numel(const sdc_weight_info *w) { return w ? sdc_weight_numel(w) : 0; }
static bool is_mat(const sdc_weight_info *w) { return w && (w->ndim == 2 || w->ndim == 4) && w->shape[0] > 0; }
static int64_t kernel_elems(const sdc_weight_info *t) { return t->shape[2] * t->shape[3]; }

/* Tucker core t [r, r, kh, kw] with wa [r, P], wb [r, Q] (LyCORIS layout). */
static bool tucker_ok(const sdc_weight_info *t, const sdc_weight_info *wa, const sdc_weight_info *wb) {
    return t && wa && wb && t->ndim == 4 && wa->ndim == 2 && wb->ndim == 2 && t->shape[0] == t->shape[1] &&
           wa->shape[0] == t->shape[0] && wb->shape[0] == t->shape[1];
}

/* [rows, cols] of a product a [o, r] . b [r, ...] (b flattened). */
static bool product_shape(const sdc_weight_info *a, const sdc_weight_info *b, int64_t *o, int64_t *cols) {
    if (!is_mat(a) || !is_mat(b) || numel(a) % a->shape[0] || numel(a) / a->shape[0] != b->shape[0]) return false;
    *o = a->shape[0];
    *cols = numel(b) / b->shape[0];
    return true;
}

static const char *lora_shape(const lmod *m, int64_t *o, int64_t *cols) {
    const sdc_weight_info *d = m->t[R_DOWN], *u = m->t[R_UP], *mid = m->t[R_MID];
    if (!d || !u) return "needs both down and up weights";
    if (!mid) return product_shape(u, d, o, cols) ? NULL : "down / up shapes do not fit";
    int64_t r = d->shape[0];
    if (!is_mat(d) || !is_mat(u) || mid->ndim != 4 || mid->shape[0] != r || mid->shape[1] != r || numel(u) % r ||
        (d->ndim == 4 && kernel_elems(d) != 1))
        return "down / mid / up shapes do not fit";
    *o = u->shape[0];
    *cols = numel(d) / r * kernel_elems(mid);
    return numel(u) == *o * r ? NULL : "up shape does not fit";
}

static const char *loha_shape(const lmod *m, int64_t *o, int64_t *cols) {
    const sdc_weight_info *const *t = m->t;
    if (!t[R_HW1A] || !t[R_HW1B] || !t[R_HW2A] || !t[R_HW2B]) return "needs hada_w1_a/b and hada_w2_a/b";
    int64_t o2, c2;
    if (t[R_HT1] || t[R_HT2]) {
        if (!tucker_ok(t[R_HT1], t[R_HW1A], t[R_HW1B]) || !tucker_ok(t[R_HT2], t[R_HW2A], t[R_HW2B]))
            return "hada_t / hada_w shapes do not fit";
        *o = t[R_HW1A]->shape[1];
        *cols = t[R_HW1B]->shape[1] * kernel_elems(t[R_HT1]);
        o2 = t[R_HW2A]->shape[1];
        c2 = t[R_HW2B]->shape[1] * kernel_elems(t[R_HT2]);
    } else if (!product_shape(t[R_HW1A], t[R_HW1B], o, cols) || !product_shape(t[R_HW2A], t[R_HW2B], &o2, &c2)) {
        return "hada_w shapes do not fit";
    }
    return o2 == *o && c2 == *cols ? NULL : "the two Hadamard factors differ in shape";
}

/* LoKr: kron(w1 [a, b], w2 [c, w2cols]) -> [a*c, b*w2cols]. */
static const char *lokr_shape(const lmod *m, int64_t *o, int64_t *cols) {
    const sdc_weight_info *const *t = m->t;
    int64_t a, b, c, w2c;
    if (t[R_KW1] && t[R_KW1]->ndim == 2) {
        a = t[R_KW1]->shape[0];
        b = t[R_KW1]->shape[1];
    } else if (!t[R_KW1] && t[R_KW1A] && t[R_KW1B] && t[R_KW1B]->ndim == 2) {
        if (!product_shape(t[R_KW1A], t[R_KW1B], &a, &b)) return "lokr_w1_a / lokr_w1_b shapes do not fit";
    } else {
        return "needs lokr_w1 (2-D) or lokr_w1_a and lokr_w1_b";
    }
    if (t[R_KW2] && is_mat(t[R_KW2])) {
        c = t[R_KW2]->shape[0];
        w2c = numel(t[R_KW2]) / c;
    } else if (!t[R_KW2] && t[R_KT2]) {
        if (!tucker_ok(t[R_KT2], t[R_KW2A], t[R_KW2B])) return "lokr_t2 / lokr_w2 shapes do not fit";
        c = t[R_KW2A]->shape[1];
        w2c = t[R_KW2B]->shape[1] * kernel_elems(t[R_KT2]);
    } else if (!t[R_KW2] && t[R_KW2A] && t[R_KW2B]) {
        if (!product_shape(t[R_KW2A], t[R_KW2B], &c, &w2c)) return "lokr_w2_a / lokr_w2_b shapes do not fit";
    } else {
        return "needs lokr_w2 or lokr_w2_a and lokr_w2_b";
    }
    if (a <= 0 || b <= 0 || c <= 0 || w2c <= 0 || a > INT32_MAX / c || b > INT32_MAX / w2c) return "bad LoKr sizes";
    *o = a * c;
    *cols = b * w2c;
    return NULL;
}

/* Checks the module's own tensors; sets [out, cols] of its delta. */
static const char *delta_shape(const lmod *m, int64_t *o, int64_t *cols) {
    switch (m->kind) {
    case K_LORA: return lora_shape(m, o, cols);
    case K_LOHA: return loha_shape(m, o, cols);
    case K_LOKR: return lokr_shape(m, o, cols);
    case K_DIFF:
        *o = m->t[R_DIFF]->ndim ? m->t[R_DIFF]->shape[0] : 1;
        *cols = *o > 0 ? numel(m->t[R_DIFF]) / *o : 0;
        return *o > 0 ? NULL : "empty diff";
    default: return "unsupported module";
    }
}

static float scalar_of(const sdc_weight_info *w) {
    float v[1] = {1.0f};
    if (w && numel(w) >= 1) sdc_convert_to_f32(w->dtype, w->data, v, 1);
    return v[0];
}

/* alpha / rank as each format defines it (1 without alpha). */
static float module_scale(const lmod *m) {
    const sdc_weight_info *al = m->t[R_ALPHA];
    if (!al) return 1.0f;
    int64_t rank = 0;
    if (m->kind == K_LORA) rank = m->t[R_DOWN]->shape[0];
    else if (m->kind == K_LOHA) rank = m->t[R_HW1B]->shape[0];
    else if (m->kind == K_LOKR) rank = m->t[R_KW2B] ? m->t[R_KW2B]->shape[0] : m->t[R_KW1B] ? m->t[R_KW1B]->shape[0] : 0;
    return rank > 0 ? scalar_of(al) / (float)rank : 1.0f;
}

/* ---- delta products ----------------------------------------------------- */

static float *f32_of(const sdc_weight_info *w) {
    size_t n = (size_t)numel(w);
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (x) sdc_convert_to_f32(w->dtype, w->data, x, n);
    return x;
}

/* C[M, N] (row stride ldc) = (accumulate ? C : 0) + k * A[M, K] . B[K, N]. */
static bool matmul(sdc_pool *pool, int64_t M, int64_t N, int64_t K, const float *A, const float *B, float k,
                   float *C, int64_t ldc, bool accumulate) {
    float *as = malloc((size_t)(M * K) * sizeof *as), *bt = malloc((size_t)(N * K) * sizeof *bt);
    if (!as || !bt) {
        free(as);
        free(bt);
        return false;
    }
    for (int64_t i = 0; i < M * K; i++) as[i] = A[i] * k;
    for (int64_t r = 0; r < K; r++)
        for (int64_t j = 0; j < N; j++) bt[j * K + r] = B[r * N + j];
    sdc_gemm_args g = {.M = M, .N = N, .K = K, .A = as, .lda = K, .b_type = SDC_DTYPE_F32, .B = bt, .ldb = K,
                       .residual = accumulate ? C : NULL, .ldr = ldc, .C = C, .ldc = ldc, .compute = SDC_COMPUTE_F32};
    sdc_kernels_best()->gemm(pool, &g);
    free(as);
    free(bt);
    return true;
}

/* out[p, q, k] = sum_i sum_j t[i, j, k] * wb[j, q] * wa[i, p]
 * (t [R, R, KK], wa [R, P], wb [R, Q]); returns [P, Q*KK] or NULL. */
static float *tucker(const float *t, const float *wa, const float *wb, int64_t R, int64_t P, int64_t Q, int64_t KK) {
    float *tmp = calloc((size_t)(R * Q * KK), sizeof *tmp), *out = calloc((size_t)(P * Q * KK), sizeof *out);
    if (!tmp || !out) {
        free(tmp);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < R; i++) /* tmp[i, q, k] = sum_j t[i, j, k] wb[j, q] */
        for (int64_t j = 0; j < R; j++)
            for (int64_t q = 0; q < Q; q++) {
                float b = wb[j * Q + q];
                for (int64_t k = 0; k < KK; k++) tmp[(i * Q + q) * KK + k] += t[(i * R + j) * KK + k] * b;
            }
    for (int64_t p = 0; p < P; p++)
        for (int64_t i = 0; i < R; i++) {
            float a = wa[i * P + p];
            for (int64_t e = 0; e < Q * KK; e++) out[p * Q * KK + e] += a * tmp[i * Q * KK + e];
        }
    free(tmp);
    return out;
}

/* Full [o, cols] matrix of a LoRA-style factor pair or Tucker triple. */
static float *rebuild(sdc_pool *pool, const sdc_weight_info *a, const sdc_weight_info *b, const sdc_weight_info *t,
                      int64_t o, int64_t cols) {
    float *fa = f32_of(a), *fb = f32_of(b), *ft = t ? f32_of(t) : NULL, *out = NULL;
    if (fa && fb && (!t || ft)) {
        if (t) {
            out = tucker(ft, fa, fb, t->shape[0], o, b->shape[1], kernel_elems(t));
        } else {
            out = malloc((size_t)(o * cols) * sizeof *out);
            if (out && !matmul(pool, o, cols, b->shape[0], fa, fb, 1.0f, out, cols, false)) {
                free(out);
                out = NULL;
            }
        }
    }
    free(fa);
    free(fb);
    free(ft);
    return out;
}

/* [rows, cols] of a plain full matrix or of a factor product. */
static float *full_or_product(sdc_pool *pool, const sdc_weight_info *full, const sdc_weight_info *a,
                              const sdc_weight_info *b, const sdc_weight_info *t, int64_t rows, int64_t cols) {
    return full ? f32_of(full) : rebuild(pool, a, b, t, rows, cols);
}

static bool add_lora(sdc_pool *pool, const lmod *m, float k, float *w) {
    const sdc_weight_info *d = m->t[R_DOWN], *u = m->t[R_UP];
    if (m->t[R_MID]) { /* Tucker LoCon: delta = einsum(mid, up, down) */
        float *fm = f32_of(m->t[R_MID]), *fu = f32_of(u), *fd = f32_of(d), *ut = NULL, *delta = NULL;
        int64_t r = d->shape[0];
        if (fm && fu && fd && (ut = malloc((size_t)(r * m->out) * sizeof *ut))) {
            for (int64_t o = 0; o < m->out; o++)
                for (int64_t i = 0; i < r; i++) ut[i * m->out + o] = fu[o * r + i];
            delta = tucker(fm, ut, fd, r, m->out, numel(d) / r, kernel_elems(m->t[R_MID]));
            for (int64_t i = 0; delta && i < m->out * m->cols; i++) w[i] += k * delta[i];
        }
        bool ok = delta != NULL;
        free(fm);
        free(fu);
        free(fd);
        free(ut);
        free(delta);
        return ok;
    }
    float *fu = f32_of(u), *fd = f32_of(d);
    bool ok = fu && fd && matmul(pool, m->out, m->cols, d->shape[0], fu, fd, k, w, m->cols, true);
    free(fu);
    free(fd);
    return ok;
}

static bool add_loha(sdc_pool *pool, const lmod *m, float k, float *w) {
    const sdc_weight_info *const *t = m->t;
    float *m1 = rebuild(pool, t[R_HW1A], t[R_HW1B], t[R_HT1], m->out, m->cols);
    float *m2 = m1 ? rebuild(pool, t[R_HW2A], t[R_HW2B], t[R_HT2], m->out, m->cols) : NULL;
    for (int64_t i = 0; m2 && i < m->out * m->cols; i++) w[i] += k * m1[i] * m2[i];
    bool ok = m2 != NULL;
    free(m1);
    free(m2);
    return ok;
}

static bool add_lokr(sdc_pool *pool, const lmod *m, float k, float *w) {
    const sdc_weight_info *const *t = m->t;
    int64_t a = t[R_KW1] ? t[R_KW1]->shape[0] : t[R_KW1A]->shape[0];
    int64_t b = t[R_KW1] ? t[R_KW1]->shape[1] : t[R_KW1B]->shape[1];
    int64_t c = m->out / a, w2c = m->cols / b;
    float *w1 = full_or_product(pool, t[R_KW1], t[R_KW1A], t[R_KW1B], NULL, a, b);
    float *w2 = w1 ? full_or_product(pool, t[R_KW2], t[R_KW2A], t[R_KW2B], t[R_KT2], c, w2c) : NULL;
    for (int64_t i = 0; w2 && i < a; i++)
        for (int64_t p = 0; p < c; p++) {
            float *row = w + (i * c + p) * m->cols;
            for (int64_t j = 0; j < b; j++) {
                float s = k * w1[i * b + j];
                const float *src = w2 + p * w2c;
                for (int64_t q = 0; q < w2c; q++) row[j * w2c + q] += s * src[q];
            }
        }
    bool ok = w2 != NULL;
    free(w1);
    free(w2);
    return ok;
}

/* w (the target rows this module covers) += k * delta */
static bool add_delta(sdc_pool *pool, const lmod *m, float k, float *w) {
    switch (m->kind) {
    case K_LORA: return add_lora(pool, m, k, w);
    case K_LOHA: return add_loha(pool, m, k, w);
    case K_LOKR: return add_lokr(pool, m, k, w);
    case K_DIFF: {
        float *d = f32_of(m->t[R_DIFF]);
        bool ok = d != NULL;
        for (int64_t i = 0; ok && i < m->out * m->cols; i++) w[i] += k * d[i];
        free(d);
        return ok;
    }
    default: return false;
    }
}

/* ---- bind --------------------------------------------------------------- */

static void shape_str(const sdc_weight_info *w, char *buf, size_t size) {
    int n = snprintf(buf, size, "[");
    for (int i = 0; i < w->ndim && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, i ? ", %lld" : "%lld", (long long)w->shape[i]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
}

static sdc_status add_to_target(sdc_lora_set *s, const char *canon, size_t mod, sdc_error *err) {
    size_t ti;
    if (!sdc_strmap_get(&s->target_index, canon, &ti)) {
        target *nt = realloc(s->targets, (s->n_targets + 1) * sizeof *nt);
        if (!nt) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        s->targets = nt;
        ti = s->n_targets;
        memset(&nt[ti], 0, sizeof *nt);
        if (!(nt[ti].canon = sdc_strdup(canon))) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        s->n_targets++;
        if (sdc_strmap_put(&s->target_index, nt[ti].canon, ti) < 0) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    target *t = &s->targets[ti];
    if (t->n == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 4;
        size_t *nm = realloc(t->mods, ncap * sizeof *nm);
        if (!nm) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        t->mods = nm;
        t->cap = ncap;
    }
    t->mods[t->n++] = mod;
    s->mods[mod].target = (int)ti;
    return SDC_OK;
}

/* Resolves one module; *matched tells whether it names a model weight. */
static sdc_status bind_module(sdc_lora_set *s, const alias_table *al, const sdc_model_files *model, size_t mi,
                              bool *matched, sdc_error *err) {
    lmod *m = &s->mods[mi];
    const lfile *f = &s->files[m->file];
    const alias *a = m->why ? NULL : find_alias(al, m->name);
    *matched = a != NULL;
    if (!a) {
        if (!m->why) m->why = "no such weight in this model";
        return SDC_OK;
    }
    const sdc_weight_info *w = sdc_model_files_find(model, a->canon);
    const char *bad = delta_shape(m, &m->out, &m->cols);
    if (bad)
        return sdc_error_set(err, SDC_ERR_FORMAT, "LoRA '%s': module '%s': %s", file_base(f->path), m->name, bad);
    int64_t rows = a->rows >= 0 ? a->rows : (w->ndim ? w->shape[0] : 1);
    int64_t cols = w->ndim && w->shape[0] ? sdc_weight_numel(w) / w->shape[0] : 1;
    if (m->out != rows || m->cols != cols) {
        char ws[96];
        shape_str(w, ws, sizeof ws);
        return sdc_error_set(err, SDC_ERR_FORMAT,
                             "LoRA '%s' seems made for another model family: module '%s' changes a [%lld, %lld] weight, "
                             "but this model's '%s' is %s%s",
                             file_base(f->path), m->name, (long long)m->out, (long long)m->cols, a->canon, ws,
                             a->rows >= 0 ? " (a q/k/v slice of it)" : "");
    }
    m->te = a->te;
    m->row_off = a->row_off;
    float strength = m->te ? f->st : f->su;
    return strength != 0.0f ? add_to_target(s, a->canon, mi, err) : SDC_OK;
}

/* One warning per file listing the modules that were not applied. */
static void warn_unmatched(const sdc_lora_set *s, const lfile *f, size_t n_bad, const sdc_log *log) {
    char list[2048];
    size_t used = 0, shown = 0;
    list[0] = 0;
    for (size_t i = f->first; i < f->first + f->count; i++) {
        const lmod *m = &s->mods[i];
        if (m->target >= 0 || !m->why) continue;
        if (shown == 20 || used + strlen(m->name) + 64 > sizeof list) break;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s)", shown ? ", " : "", m->name, m->why);
        shown++;
    }
    sdc_logf(log, SDC_LOG_WARN, "LoRA '%s': %zu of %zu modules match no weight of this model and are ignored: %s%s",
             file_base(f->path), n_bad, f->count, list, shown < n_bad ? ", ..." : "");
}

static sdc_status bind_file(sdc_lora_set *s, const alias_table *al, const sdc_model_files *model, size_t fi,
                            const sdc_log *log, sdc_error *err) {
    const lfile *f = &s->files[fi];
    size_t good = 0, bad = 0;
    for (size_t i = f->first; i < f->first + f->count; i++) {
        bool matched;
        sdc_status st = bind_module(s, al, model, i, &matched, err);
        if (st) return st;
        if (matched) good++;
        else bad++;
    }
    s->n_matched += good;
    s->n_unmatched += bad;
    if (bad) warn_unmatched(s, f, bad, log);
    if (!good)
        return sdc_error_set(err, SDC_ERR_FORMAT,
                             "LoRA '%s': none of its %zu modules matches a weight of this model (a LoRA for another "
                             "model family?)",
                             file_base(f->path), f->count);
    sdc_logf(log, SDC_LOG_INFO, "LoRA '%s': %zu modules (U-Net strength %g, text encoder strength %g)",
             file_base(f->path), good, (double)f->su, (double)f->st);
    return SDC_OK;
}

static bool patch_has(void *user, const char *name);
static sdc_status patch_apply(void *user, const char *name, float *w, int ndim, const int64_t *shape, sdc_error *err);

sdc_status sdc_lora_set_bind(sdc_lora_set *s, const sdc_model_files *model, const sdc_log *log, sdc_error *err) {
    clear_targets(s);
    s->n_matched = s->n_unmatched = 0;
    for (size_t i = 0; i < s->n_mods; i++) {
        s->mods[i].target = -1;
        if (s->mods[i].why && strcmp(s->mods[i].why, "no such weight in this model") == 0) s->mods[i].why = NULL;
    }
    alias_table al;
    sdc_status st = build_aliases(&al, model, err);
    for (size_t f = 0; f < s->n_files && !st; f++) st = bind_file(s, &al, model, f, log, err);
    alias_free(&al);
    if (st) {
        clear_targets(s);
        return st;
    }
    s->patch = (sdc_wpatch){.has = patch_has, .apply = patch_apply, .user = s};
    return SDC_OK;
}

/* ---- the patch ---------------------------------------------------------- */

static bool patch_has(void *user, const char *name) {
    const sdc_lora_set *s = user;
    size_t i;
    return sdc_strmap_get(&s->target_index, name, &i) != 0;
}

static sdc_status patch_apply(void *user, const char *name, float *w, int ndim, const int64_t *shape, sdc_error *err) {
    sdc_lora_set *s = user;
    size_t ti;
    if (!sdc_strmap_get(&s->target_index, name, &ti)) return SDC_OK;
    int64_t rows = ndim ? shape[0] : 1, n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    const target *t = &s->targets[ti];
    for (size_t i = 0; i < t->n; i++) {
        const lmod *m = &s->mods[t->mods[i]];
        const lfile *f = &s->files[m->file];
        if (m->row_off + m->out > rows || rows * m->cols != n)
            return sdc_error_set(err, SDC_ERR_INTERNAL, "LoRA '%s': '%s' changed shape since bind", file_base(f->path), name);
        float k = (m->te ? f->st : f->su) * module_scale(m);
        if (!add_delta(s->pool, m, k, w + m->row_off * m->cols))
            return sdc_error_set(err, SDC_ERR_OOM, "out of memory applying LoRA '%s' to '%s'", file_base(f->path), name);
    }
    s->applied++;
    return SDC_OK;
}

const sdc_wpatch *sdc_lora_set_patch(sdc_lora_set *s) { return s->n_targets ? &s->patch : NULL; }

size_t sdc_lora_set_matched(const sdc_lora_set *s) { return s->n_matched; }
size_t sdc_lora_set_unmatched(const sdc_lora_set *s) { return s->n_unmatched; }
size_t sdc_lora_set_applied(const sdc_lora_set *s) { return s->applied; }

const char *sdc_lora_set_unmatched_name(const sdc_lora_set *s, size_t i, const char **file) {
    for (size_t j = 0; j < s->n_mods; j++) {
        const lmod *m = &s->mods[j];
        if (m->target >= 0 || !m->why) continue;
        if (i-- == 0) {
            if (file) *file = s->files[m->file].path;
            return m->name;
        }
    }
    return NULL;
}
