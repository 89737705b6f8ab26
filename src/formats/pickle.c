/* Restricted unpickler (see pickle.h). Opcode semantics follow CPython's
 * Lib/pickletools.py documentation; nothing here executes Python. */
#include "formats/pickle.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* ---- allowlisted globals ---------------------------------------------------- */

enum {
    G_ORDERED_DICT,
    G_REBUILD_TENSOR,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_STATE,
    G_REBUILD_FROM_TYPE_V2,
    G_TYPE_TAG,     /* torch.Tensor, Parameter: only passed around */
    G_NP_SCALAR,    /* opaque constructors */
    G_NP_DTYPE,
    G_CODECS_ENCODE,
    G_STORAGE       /* storage type tags, dtype in the table */
};

static const struct {
    const char *module, *name;
    int kind;
    sdc_dtype dtype;
} k_globals[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor", G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_STATE, 0},
    {"torch._tensor", "_rebuild_from_type_v2", G_REBUILD_FROM_TYPE_V2, 0},
    {"torch", "Tensor", G_TYPE_TAG, 0},
    {"torch.nn.parameter", "Parameter", G_TYPE_TAG, 0},
    {"numpy.core.multiarray", "scalar", G_NP_SCALAR, 0},
    {"numpy", "dtype", G_NP_DTYPE, 0},
    {"_codecs", "encode", G_CODECS_ENCODE, 0},
    {"torch", "FloatStorage", G_STORAGE, SDC_DTYPE_F32},
    {"torch", "HalfStorage", G_STORAGE, SDC_DTYPE_F16},
    {"torch", "BFloat16Storage", G_STORAGE, SDC_DTYPE_BF16},
    {"torch", "DoubleStorage", G_STORAGE, SDC_DTYPE_F64},
    {"torch", "LongStorage", G_STORAGE, SDC_DTYPE_I64},
    {"torch", "IntStorage", G_STORAGE, SDC_DTYPE_I32},
    {"torch", "ShortStorage", G_STORAGE, SDC_DTYPE_I16},
    {"torch", "CharStorage", G_STORAGE, SDC_DTYPE_I8},
    {"torch", "ByteStorage", G_STORAGE, SDC_DTYPE_U8},
    {"torch", "BoolStorage", G_STORAGE, SDC_DTYPE_BOOL},
    {"torch", "UntypedStorage", G_STORAGE, SDC_DTYPE_U8},
};

/* ---- arena ------------------------------------------------------------------- */

typedef struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} block;

struct sdc_pickle {
    block *blocks;
    size_t bytes, limit;
    sdc_pk_obj *root;
};

static void *arena_alloc(sdc_pickle *p, size_t n) {
    n = (n + 15) & ~(size_t)15;
    block *b = p->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = SDC_MAX(n, p->bytes < ((size_t)1 << 20) ? (size_t)64 << 10 : (size_t)1 << 20);
        if (p->bytes + cap > p->limit) return NULL;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = p->blocks;
        b->used = 0;
        b->cap = cap;
        p->blocks = b;
        p->bytes += cap;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

void sdc_pickle_free(sdc_pickle *p) {
    if (!p) return;
    for (block *b = p->blocks, *nb; b; b = nb) {
        nb = b->next;
        free(b);
    }
    free(p);
}

sdc_pk_obj *sdc_pickle_root(const sdc_pickle *p) { return p->root; }

/* ---- VM state ---------------------------------------------------------------- */

typedef struct {
    sdc_pickle *p;
    const unsigned char *d;
    size_t len, pos, op_pos;
    sdc_pk_obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    sdc_pk_obj **memo;
    size_t memo_cap, memo_next;
    sdc_error *err;
} vm;

static sdc_status fail(vm *v, sdc_status s, const char *what) {
    return sdc_error_set(v->err, s, "pickle: %s (at byte %zu)", what, v->op_pos);
}

static sdc_pk_obj *new_obj(vm *v, sdc_pk_kind kind) {
    sdc_pk_obj *o = arena_alloc(v->p, sizeof *o);
    if (o) {
        memset(o, 0, sizeof *o);
        o->kind = kind;
    }
    return o;
}

static sdc_status push(vm *v, sdc_pk_obj *o) {
    if (!o) return fail(v, SDC_ERR_OOM, "out of memory (or object budget exceeded)");
    if (v->sp == v->scap) {
        size_t ncap = v->scap ? v->scap * 2 : 64;
        sdc_pk_obj **ns = realloc(v->stack, ncap * sizeof *ns);
        if (!ns) return fail(v, SDC_ERR_OOM, "out of memory");
        v->stack = ns;
        v->scap = ncap;
    }
    v->stack[v->sp++] = o;
    return SDC_OK;
}

/* Lowest usable stack index: values above the newest mark. */
static size_t floor_sp(const vm *v) { return v->nmarks ? v->marks[v->nmarks - 1] : 0; }

static sdc_pk_obj *pop(vm *v) { return v->sp > floor_sp(v) ? v->stack[--v->sp] : NULL; }
static sdc_pk_obj *top(vm *v) { return v->sp > floor_sp(v) ? v->stack[v->sp - 1] : NULL; }

static sdc_status need(vm *v, size_t n) {
    return v->len - v->pos >= n ? SDC_OK : fail(v, SDC_ERR_FORMAT, "truncated");
}

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = (x << 8) | p[i];
    return x;
}

/* Appends item to a list/tuple/dict item array (arena; doubles). */
static sdc_status append_item(vm *v, sdc_pk_obj *c, sdc_pk_obj *item) {
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        sdc_pk_obj **ni = arena_alloc(v->p, ncap * sizeof *ni);
        if (!ni) return fail(v, SDC_ERR_OOM, "out of memory (or object budget exceeded)");
        if (c->n) memcpy(ni, c->items, c->n * sizeof *ni);
        c->items = ni;
        c->cap = ncap;
    }
    c->items[c->n++] = item;
    return SDC_OK;
}

/* Pops everything above the newest mark into a new container of kind. */
static sdc_status pop_mark(vm *v, size_t *from) {
    if (!v->nmarks) return fail(v, SDC_ERR_FORMAT, "no mark on the stack");
    *from = v->marks[--v->nmarks];
    return SDC_OK;
}

static sdc_status make_seq(vm *v, sdc_pk_kind kind, size_t from) {
    sdc_pk_obj *t = new_obj(v, kind);
    if (!t) return push(v, NULL);
    for (size_t i = from; i < v->sp; i++) {
        sdc_status st = append_item(v, t, v->stack[i]);
        if (st) return st;
    }
    v->sp = from;
    return push(v, t);
}

static sdc_pk_obj *make_str(vm *v, sdc_pk_kind kind, const unsigned char *s, size_t n) {
    sdc_pk_obj *o = new_obj(v, kind);
    char *c = o ? arena_alloc(v->p, n + 1) : NULL;
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    o->s = c;
    o->len = n;
    return o;
}

static sdc_pk_obj *make_int(vm *v, int64_t x) {
    sdc_pk_obj *o = new_obj(v, SDC_PK_INT);
    if (o) o->i = x;
    return o;
}

const sdc_pk_obj *sdc_pk_dict_get(const sdc_pk_obj *d, const char *key) {
    if (!d || d->kind != SDC_PK_DICT) return NULL;
    for (size_t i = 0; i + 1 < d->n; i += 2) {
        const sdc_pk_obj *k = d->items[i];
        if (k->kind == SDC_PK_STR && strcmp(k->s, key) == 0) return d->items[i + 1];
    }
    return NULL;
}

/* ---- globals and calls ------------------------------------------------------- */

static sdc_status find_global(vm *v, const char *module, size_t mlen, const char *name, size_t nlen) {
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_globals); i++) {
        if (strlen(k_globals[i].module) == mlen && memcmp(k_globals[i].module, module, mlen) == 0 &&
            strlen(k_globals[i].name) == nlen && memcmp(k_globals[i].name, name, nlen) == 0) {
            sdc_pk_obj *g = new_obj(v, SDC_PK_GLOBAL);
            if (g) g->global = (int)i;
            return push(v, g);
        }
    }
    return sdc_error_set(v->err, SDC_ERR_UNSUPPORTED,
                         "pickle refers to '%.*s.%.*s', which sdc refuses to load: checkpoints may contain only "
                         "tensors, dicts, lists, strings and numbers (at byte %zu)",
                         (int)SDC_MIN(mlen, (size_t)120), module, (int)SDC_MIN(nlen, (size_t)120), name, v->op_pos);
}

static int gkind(const sdc_pk_obj *o) { return o && o->kind == SDC_PK_GLOBAL ? k_globals[o->global].kind : -1; }

static int is_int(const sdc_pk_obj *o) { return o && (o->kind == SDC_PK_INT || o->kind == SDC_PK_BOOL); }

/* Reads an int tuple (size or stride) into out. */
static sdc_status int_tuple(vm *v, const sdc_pk_obj *t, int64_t *out, int *n) {
    if (!t || (t->kind != SDC_PK_TUPLE && t->kind != SDC_PK_LIST)) return fail(v, SDC_ERR_FORMAT, "tensor size/stride is not a tuple");
    if (t->n > SDC_WEIGHT_MAX_DIMS) return fail(v, SDC_ERR_UNSUPPORTED, "tensor has too many dimensions");
    for (size_t i = 0; i < t->n; i++) {
        if (!is_int(t->items[i]) || t->items[i]->i < 0) return fail(v, SDC_ERR_FORMAT, "tensor size/stride entry is not a non-negative integer");
        out[i] = t->items[i]->i;
    }
    *n = (int)t->n;
    return SDC_OK;
}

/* _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) */
static sdc_status rebuild_tensor(vm *v, const sdc_pk_obj *args, int v2) {
    if (args->n < (v2 ? 6u : 4u) || args->items[0]->kind != SDC_PK_STORAGE || !is_int(args->items[1]) ||
        args->items[1]->i < 0)
        return fail(v, SDC_ERR_FORMAT, "malformed tensor record");
    sdc_pk_obj *t = new_obj(v, SDC_PK_TENSOR);
    if (!t) return push(v, NULL);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    int ns = 0, nst = 0;
    sdc_status st = int_tuple(v, args->items[2], t->shape, &ns);
    if (!st) st = int_tuple(v, args->items[3], t->stride, &nst);
    if (!st && ns != nst) st = fail(v, SDC_ERR_FORMAT, "tensor size and stride differ in length");
    t->ndim = ns;
    return st ? st : push(v, t);
}

/* Applies an allowlisted callable to an argument tuple. */
static sdc_status call(vm *v, sdc_pk_obj *fn, sdc_pk_obj *args) {
    if (!args || args->kind != SDC_PK_TUPLE) return fail(v, SDC_ERR_FORMAT, "call arguments are not a tuple");
    switch (gkind(fn)) {
    case G_ORDERED_DICT: {
        sdc_pk_obj *d = new_obj(v, SDC_PK_DICT);
        if (args->n != 0) return fail(v, SDC_ERR_UNSUPPORTED, "OrderedDict built from arguments");
        return push(v, d);
    }
    case G_REBUILD_TENSOR: return rebuild_tensor(v, args, 0);
    case G_REBUILD_TENSOR_V2: return rebuild_tensor(v, args, 1);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_STATE:
        if (args->n < 3 || args->items[0]->kind != SDC_PK_TENSOR) return fail(v, SDC_ERR_FORMAT, "malformed parameter record");
        return push(v, args->items[0]);
    case G_REBUILD_FROM_TYPE_V2: {
        /* (func, new_type, args, state): func(*args), the type and state are dropped */
        if (args->n < 3 || gkind(args->items[0]) < G_REBUILD_TENSOR || gkind(args->items[0]) > G_REBUILD_PARAMETER_STATE ||
            gkind(args->items[1]) != G_TYPE_TAG)
            return fail(v, SDC_ERR_FORMAT, "malformed _rebuild_from_type_v2 record");
        return call(v, args->items[0], args->items[2]);
    }
    case G_NP_SCALAR:
    case G_NP_DTYPE:
    case G_CODECS_ENCODE: return push(v, new_obj(v, SDC_PK_OPAQUE));
    default: return fail(v, SDC_ERR_UNSUPPORTED, "call of a value that is not an allowed function");
    }
}

/* persistent_load(('storage', type, key, location, numel)) */
static sdc_status persistent(vm *v, const sdc_pk_obj *pid) {
    if (!pid || pid->kind != SDC_PK_TUPLE || pid->n != 5 || pid->items[0]->kind != SDC_PK_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return fail(v, SDC_ERR_UNSUPPORTED, "persistent id is not a torch storage record");
    const sdc_pk_obj *ty = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (gkind(ty) != G_STORAGE || key->kind != SDC_PK_STR || !is_int(numel) || numel->i < 0)
        return fail(v, SDC_ERR_FORMAT, "malformed storage record");
    sdc_pk_obj *s = new_obj(v, SDC_PK_STORAGE);
    if (s) {
        s->dtype = k_globals[ty->global].dtype;
        s->s = key->s;
        s->len = key->len;
        s->numel = numel->i;
    }
    return push(v, s);
}

/* ---- memo ---------------------------------------------------------------------- */

static sdc_status memo_put(vm *v, uint64_t idx) {
    sdc_pk_obj *o = top(v);
    if (!o) return fail(v, SDC_ERR_FORMAT, "memo store with an empty stack");
    if (idx > v->len) return fail(v, SDC_ERR_FORMAT, "memo index out of range");
    if (idx >= v->memo_cap) {
        size_t ncap = SDC_MAX((size_t)idx + 1, v->memo_cap * 2);
        sdc_pk_obj **nm = realloc(v->memo, ncap * sizeof *nm);
        if (!nm) return fail(v, SDC_ERR_OOM, "out of memory");
        memset(nm + v->memo_cap, 0, (ncap - v->memo_cap) * sizeof *nm);
        v->memo = nm;
        v->memo_cap = ncap;
    }
    v->memo[idx] = o;
    if (idx >= v->memo_next) v->memo_next = (size_t)idx + 1;
    return SDC_OK;
}

static sdc_status memo_get(vm *v, uint64_t idx) {
    if (idx >= v->memo_cap || !v->memo[idx]) return fail(v, SDC_ERR_FORMAT, "memo read of an unset index");
    return push(v, v->memo[idx]);
}

/* ---- opcodes --------------------------------------------------------------------- */

/* Reads a newline-terminated text argument (GLOBAL, INT, FLOAT...). */
static sdc_status read_line(vm *v, const char **s, size_t *n) {
    const unsigned char *nl = memchr(v->d + v->pos, '\n', v->len - v->pos);
    if (!nl) return fail(v, SDC_ERR_FORMAT, "truncated text argument");
    *s = (const char *)v->d + v->pos;
    *n = (size_t)(nl - (v->d + v->pos));
    v->pos += *n + 1;
    return SDC_OK;
}

static sdc_status op_string(vm *v, sdc_pk_kind kind, int len_bytes) {
    sdc_status st = need(v, (size_t)len_bytes);
    if (st) return st;
    uint64_t n = rd_le(v->d + v->pos, len_bytes);
    v->pos += (size_t)len_bytes;
    if ((st = need(v, n > SIZE_MAX ? SIZE_MAX : (size_t)n))) return st;
    sdc_pk_obj *o = make_str(v, kind, v->d + v->pos, (size_t)n);
    v->pos += (size_t)n;
    return push(v, o);
}

/* LONG1 / LONG4: little-endian two's complement of n bytes. */
static sdc_status op_long(vm *v, int len_bytes) {
    sdc_status st = need(v, (size_t)len_bytes);
    if (st) return st;
    uint64_t n = rd_le(v->d + v->pos, len_bytes);
    v->pos += (size_t)len_bytes;
    if ((st = need(v, n > SIZE_MAX ? SIZE_MAX : (size_t)n))) return st;
    const unsigned char *b = v->d + v->pos;
    v->pos += (size_t)n;
    if (n > 8) return push(v, new_obj(v, SDC_PK_OPAQUE)); /* a big integer: kept opaque */
    uint64_t x = rd_le(b, (int)n);
    if (n && n < 8 && (b[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return push(v, make_int(v, (int64_t)x));
}

static sdc_status op_text_number(vm *v, int is_float) {
    const char *s;
    size_t n;
    sdc_status st = read_line(v, &s, &n);
    if (st) return st;
    char buf[64];
    if (n == 0 || n >= sizeof buf) return fail(v, SDC_ERR_FORMAT, "bad text number");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == 'L') buf[n - 1] = '\0'; /* protocol-0 long suffix */
    char *end;
    sdc_pk_obj *o;
    if (is_float) {
        o = new_obj(v, SDC_PK_FLOAT);
        if (o) o->f = strtod(buf, &end);
    } else if (strcmp(buf, "00") == 0 || strcmp(buf, "01") == 0) {
        o = new_obj(v, SDC_PK_BOOL);
        if (o) o->i = buf[1] == '1';
        end = buf + 2;
    } else {
        o = make_int(v, strtoll(buf, &end, 10));
    }
    if (o && *end != '\0') return fail(v, SDC_ERR_FORMAT, "bad text number");
    return push(v, o);
}

static sdc_status op_global_text(vm *v) {
    const char *m, *n;
    size_t ml, nl;
    sdc_status st = read_line(v, &m, &ml);
    if (!st) st = read_line(v, &n, &nl);
    return st ? st : find_global(v, m, ml, n, nl);
}

static sdc_status op_stack_global(vm *v) {
    sdc_pk_obj *name = pop(v), *mod = pop(v);
    if (!name || !mod || name->kind != SDC_PK_STR || mod->kind != SDC_PK_STR)
        return fail(v, SDC_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return find_global(v, mod->s, mod->len, name->s, name->len);
}

static sdc_status op_setitems(vm *v, size_t from) {
    if ((v->sp - from) % 2) return fail(v, SDC_ERR_FORMAT, "SETITEMS with an odd number of values");
    if (from == 0 || from <= floor_sp(v)) return fail(v, SDC_ERR_FORMAT, "SETITEMS without a dict");
    sdc_pk_obj *dict = v->stack[from - 1];
    if (dict->kind != SDC_PK_DICT) return fail(v, SDC_ERR_FORMAT, "SETITEMS on a value that is not a dict");
    for (size_t i = from; i < v->sp; i++) {
        sdc_status st = append_item(v, dict, v->stack[i]);
        if (st) return st;
    }
    v->sp = from;
    return SDC_OK;
}

static sdc_status op_appends(vm *v, size_t from) {
    if (from == 0 || from <= floor_sp(v)) return fail(v, SDC_ERR_FORMAT, "APPENDS without a list");
    sdc_pk_obj *list = v->stack[from - 1];
    if (list->kind != SDC_PK_LIST) return fail(v, SDC_ERR_FORMAT, "APPENDS on a value that is not a list");
    for (size_t i = from; i < v->sp; i++) {
        sdc_status st = append_item(v, list, v->stack[i]);
        if (st) return st;
    }
    v->sp = from;
    return SDC_OK;
}

static sdc_status op_mark(vm *v) {
    if (v->nmarks == v->mcap) {
        size_t ncap = v->mcap ? v->mcap * 2 : 16;
        size_t *nm = realloc(v->marks, ncap * sizeof *nm);
        if (!nm) return fail(v, SDC_ERR_OOM, "out of memory");
        v->marks = nm;
        v->mcap = ncap;
    }
    v->marks[v->nmarks++] = v->sp;
    return SDC_OK;
}

static sdc_status op_build(vm *v) {
    sdc_pk_obj *state = pop(v), *obj = top(v);
    if (!state || !obj) return fail(v, SDC_ERR_FORMAT, "BUILD with too few values");
    /* OrderedDict._metadata, Parameter state, numpy dtype state: dropped */
    if (obj->kind == SDC_PK_DICT || obj->kind == SDC_PK_TENSOR || obj->kind == SDC_PK_OPAQUE) return SDC_OK;
    return fail(v, SDC_ERR_UNSUPPORTED, "BUILD on a value that is not a dict or tensor");
}

static sdc_status op_collection(vm *v, int op) {
    size_t from = 0;
    sdc_status st;
    switch (op) {
    case '(': return op_mark(v);
    case ')': return push(v, new_obj(v, SDC_PK_TUPLE));
    case ']': return push(v, new_obj(v, SDC_PK_LIST));
    case '}': return push(v, new_obj(v, SDC_PK_DICT));
    case 0x8f: return push(v, new_obj(v, SDC_PK_LIST));         /* EMPTY_SET: a list will do */
    case 't': return (st = pop_mark(v, &from)) ? st : make_seq(v, SDC_PK_TUPLE, from);
    case 'l': return (st = pop_mark(v, &from)) ? st : make_seq(v, SDC_PK_LIST, from);
    case 0x91: return (st = pop_mark(v, &from)) ? st : make_seq(v, SDC_PK_LIST, from); /* FROZENSET */
    case 'd':
        if ((st = pop_mark(v, &from))) return st;
        if ((v->sp - from) % 2) return fail(v, SDC_ERR_FORMAT, "DICT with an odd number of values");
        return make_seq(v, SDC_PK_DICT, from);
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t k = (size_t)(op - 0x84);
        if (v->sp - floor_sp(v) < k) return fail(v, SDC_ERR_FORMAT, "TUPLEn with too few values");
        return make_seq(v, SDC_PK_TUPLE, v->sp - k);
    }
    case 'a': {
        sdc_pk_obj *x = pop(v), *list = top(v);
        if (!x || !list || list->kind != SDC_PK_LIST) return fail(v, SDC_ERR_FORMAT, "APPEND on a value that is not a list");
        return append_item(v, list, x);
    }
    case 'e':
    case 0x90: /* ADDITEMS (set) */
        if ((st = pop_mark(v, &from))) return st;
        return op_appends(v, from);
    case 's': {
        sdc_pk_obj *val = pop(v), *key = pop(v), *dict = top(v);
        if (!val || !key || !dict || dict->kind != SDC_PK_DICT) return fail(v, SDC_ERR_FORMAT, "SETITEM on a value that is not a dict");
        st = append_item(v, dict, key);
        return st ? st : append_item(v, dict, val);
    }
    case 'u': return (st = pop_mark(v, &from)) ? st : op_setitems(v, from);
    }
    return fail(v, SDC_ERR_INTERNAL, "collection opcode");
}

static sdc_status op_memo(vm *v, int op) {
    sdc_status st;
    const char *s;
    size_t n;
    switch (op) {
    case 'q':
        if ((st = need(v, 1))) return st;
        return memo_put(v, v->d[v->pos++]);
    case 'r':
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return memo_put(v, rd_le(v->d + v->pos - 4, 4));
    case 0x94: return memo_put(v, v->memo_next);
    case 'h':
        if ((st = need(v, 1))) return st;
        return memo_get(v, v->d[v->pos++]);
    case 'j':
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return memo_get(v, rd_le(v->d + v->pos - 4, 4));
    case 'p':
    case 'g': {
        if ((st = read_line(v, &s, &n))) return st;
        char buf[24];
        if (n == 0 || n >= sizeof buf) return fail(v, SDC_ERR_FORMAT, "bad memo index");
        memcpy(buf, s, n);
        buf[n] = '\0';
        char *end;
        unsigned long long idx = strtoull(buf, &end, 10);
        if (*end) return fail(v, SDC_ERR_FORMAT, "bad memo index");
        return op == 'p' ? memo_put(v, idx) : memo_get(v, idx);
    }
    }
    return fail(v, SDC_ERR_INTERNAL, "memo opcode");
}

static sdc_status op_scalar(vm *v, int op) {
    sdc_status st;
    sdc_pk_obj *o;
    switch (op) {
    case 'N': return push(v, new_obj(v, SDC_PK_NONE));
    case 0x88:
    case 0x89:
        o = new_obj(v, SDC_PK_BOOL);
        if (o) o->i = op == 0x88;
        return push(v, o);
    case 'J':
        if ((st = need(v, 4))) return st;
        v->pos += 4;
        return push(v, make_int(v, (int32_t)(uint32_t)rd_le(v->d + v->pos - 4, 4)));
    case 'K':
        if ((st = need(v, 1))) return st;
        return push(v, make_int(v, v->d[v->pos++]));
    case 'M':
        if ((st = need(v, 2))) return st;
        v->pos += 2;
        return push(v, make_int(v, (int64_t)rd_le(v->d + v->pos - 2, 2)));
    case 0x8a: return op_long(v, 1);
    case 0x8b: return op_long(v, 4);
    case 'I':
    case 'L': return op_text_number(v, 0);
    case 'F': return op_text_number(v, 1);
    case 'G': {
        if ((st = need(v, 8))) return st;
        uint64_t bits = 0; /* big-endian IEEE double */
        for (int i = 0; i < 8; i++) bits = (bits << 8) | v->d[v->pos + (size_t)i];
        v->pos += 8;
        o = new_obj(v, SDC_PK_FLOAT);
        if (o) memcpy(&o->f, &bits, 8);
        return push(v, o);
    }
    case 'X': return op_string(v, SDC_PK_STR, 4);
    case 0x8c: return op_string(v, SDC_PK_STR, 1);
    case 0x8d: return op_string(v, SDC_PK_STR, 8);
    case 'T': return op_string(v, SDC_PK_BYTES, 4);
    case 'U': return op_string(v, SDC_PK_BYTES, 1);
    case 'B': return op_string(v, SDC_PK_BYTES, 4);
    case 'C': return op_string(v, SDC_PK_BYTES, 1);
    case 0x8e:
    case 0x96: return op_string(v, SDC_PK_BYTES, 8);
    }
    return fail(v, SDC_ERR_INTERNAL, "scalar opcode");
}

/* Runs one opcode; *done is set by STOP. */
static sdc_status step(vm *v, int *done) {
    v->op_pos = v->pos;
    int op = v->d[v->pos++];
    sdc_status st;
    sdc_pk_obj *a, *b;
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = need(v, 1))) return st;
        if (v->d[v->pos] > 5) return fail(v, SDC_ERR_UNSUPPORTED, "pickle protocol above 5");
        v->pos++;
        return SDC_OK;
    case 0x95: /* FRAME: framing is only a read-ahead hint */
        if ((st = need(v, 8))) return st;
        v->pos += 8;
        return SDC_OK;
    case '.':
        if (!(v->p->root = pop(v))) return fail(v, SDC_ERR_FORMAT, "STOP with an empty stack");
        *done = 1;
        return SDC_OK;
    case '0': return pop(v) ? SDC_OK : fail(v, SDC_ERR_FORMAT, "POP with an empty stack");
    case '1': {
        size_t from = 0;
        if ((st = pop_mark(v, &from))) return st;
        v->sp = from;
        return SDC_OK;
    }
    case '2': return (a = top(v)) ? push(v, a) : fail(v, SDC_ERR_FORMAT, "DUP with an empty stack");
    case 'c': return op_global_text(v);
    case 0x93: return op_stack_global(v);
    case 'R':
        a = pop(v), b = pop(v);
        return a && b ? call(v, b, a) : fail(v, SDC_ERR_FORMAT, "REDUCE with too few values");
    case 0x81: /* NEWOBJ cls args: only OrderedDict */
        a = pop(v), b = pop(v);
        if (!a || !b || gkind(b) != G_ORDERED_DICT) return fail(v, SDC_ERR_UNSUPPORTED, "NEWOBJ of a class other than OrderedDict");
        return call(v, b, a);
    case 'b': return op_build(v);
    case 'Q': return (a = pop(v)) ? persistent(v, a) : fail(v, SDC_ERR_FORMAT, "BINPERSID with an empty stack");
    case 'i': case 'o': case 0x92: case 0x82: case 0x83: case 0x84: case 'P': case 0x97: case 0x98:
        return fail(v, SDC_ERR_UNSUPPORTED, "opcode that builds arbitrary objects (INST/OBJ/NEWOBJ_EX/EXT/PERSID/buffers) refused");
    case '(': case ')': case ']': case '}': case 0x8f: case 't': case 'l': case 0x91: case 'd':
    case 0x85: case 0x86: case 0x87: case 'a': case 'e': case 0x90: case 's': case 'u':
        return op_collection(v, op);
    case 'q': case 'r': case 0x94: case 'h': case 'j': case 'p': case 'g': return op_memo(v, op);
    case 'N': case 0x88: case 0x89: case 'J': case 'K': case 'M': case 0x8a: case 0x8b: case 'I': case 'L':
    case 'F': case 'G': case 'X': case 0x8c: case 0x8d: case 'T': case 'U': case 'B': case 'C': case 0x8e: case 0x96:
        return op_scalar(v, op);
    }
    return sdc_error_set(v->err, SDC_ERR_UNSUPPORTED, "pickle: unsupported opcode 0x%02x (at byte %zu)", op, v->op_pos);
}

sdc_status sdc_pickle_load(const unsigned char *data, size_t len, sdc_pickle **out, sdc_error *err) {
    *out = NULL;
    sdc_pickle *p = calloc(1, sizeof *p);
    if (!p) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    /* every opcode creates at most a couple of small objects: bound the arena */
    size_t limit;
    p->limit = sdc_mul_ok(len, 512, &limit) && sdc_add_ok(limit, (size_t)16 << 20, &limit) ? limit : SIZE_MAX;
    vm v = {.p = p, .d = data, .len = len, .err = err};
    sdc_status st = SDC_OK;
    int done = 0;
    while (!st && !done) {
        if (v.pos >= v.len) {
            st = sdc_error_set(err, SDC_ERR_FORMAT, "pickle: truncated (no STOP opcode)");
            break;
        }
        st = step(&v, &done);
    }
    free(v.stack);
    free(v.marks);
    free(v.memo);
    if (st) {
        sdc_pickle_free(p);
        return st;
    }
    *out = p;
    return SDC_OK;
}
