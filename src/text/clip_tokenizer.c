/* CLIP BPE tokenizer (see clip_tokenizer.h): vocabulary loading, the
 * pre-tokenization regex, byte-level BPE with a word cache, and the search
 * for a vocabulary file.
 *
 * BPE note: the reference merges, over and over, every occurrence of the
 * lowest-ranked adjacent pair. Here a heap pops candidate pairs by (rank,
 * position) instead; both give the same result whenever a merge never makes
 * a pair ranked below the merge that made it, which holds for every BPE
 * vocabulary produced by training (a token exists only after the merges
 * that build it), CLIP's included. It costs O(n log n) per word rather than
 * O(n^2), which matters for adversarial input such as a 100k-letter word. */
#include "text/clip_tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>
#include <zlib.h>

#include "base/util.h"
#include "text/text_clean.h"
#include "text/utf8.h"

/* CLIP takes exactly this many merges from its list (49152 ids minus the 256
 * byte symbols minus the two special tokens); transformers does the same. */
#define CLIP_N_MERGES (49152 - 256 - 2)
#define MAX_VOCAB_FILE (64u << 20)
#define MAX_IDS (1u << 22)
#define END_OF_WORD "</w>"
#define BOS_TOKEN "<|startoftext|>"
#define EOS_TOKEN "<|endoftext|>"
/* word cache limits: reset when exceeded (bounded memory for long runs) */
#define CACHE_MAX_ENTRIES 65536
#define CACHE_MAX_WORD 256

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, ids_len; /* key_len 0: empty slot */
} cache_entry;

typedef struct merge_slot {
    uint64_t key;        /* (left id << 32) | right id */
    uint32_t rank, res;  /* rank UINT32_MAX: empty slot */
} merge_slot;

typedef struct heap_item {
    uint32_t rank, pos;
} heap_item;

struct sdc_clip_tokenizer {
    char *strs; /* every token string, NUL-terminated, back to back */
    size_t strs_len, strs_cap;
    uint32_t *tok_off, *tok_len; /* [n_ids]; tok_off UINT32_MAX: no token has this id */
    size_t n_ids;
    uint32_t *vmap; /* [vmap_cap] string -> id + 1 (0: empty) */
    size_t vmap_cap;
    merge_slot *merges;
    size_t merge_cap;
    int32_t byte_id[256], byte_end_id[256];
    int32_t bos, eos;
    /* word cache */
    cache_entry *cache;
    size_t cache_cap, cache_count;
    char *ckeys;
    size_t ckeys_len, ckeys_cap;
    int32_t *cids;
    size_t cids_len, cids_cap;
    /* BPE scratch */
    int32_t *sym, *prev, *next;
    heap_item *heap;
    size_t scratch_cap;
    char *piece;
    size_t piece_cap;
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* Grows *p (elements of size elem) to hold at least need elements. */
static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return false;
        c *= 2;
    }
    void *np = realloc(*p, c * elem);
    if (!np) return false;
    *p = np;
    *cap = c;
    return true;
}

static bool printable_byte(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* CLIP's byte symbols: printable Latin-1 bytes stand for themselves, the
 * other 68 get U+0100 + their order among them. order[] is CLIP's id order
 * of the byte symbols: printable bytes ascending, then the others. */
static void byte_table(uint32_t sym[256], uint8_t order[256]) {
    unsigned k = 0, extra = 0;
    for (unsigned b = 0; b < 256; b++)
        if (printable_byte(b)) sym[b] = b, order[k++] = (uint8_t)b;
    for (unsigned b = 0; b < 256; b++)
        if (!printable_byte(b)) sym[b] = 256 + extra++, order[k++] = (uint8_t)b;
}

/* ---- vocabulary --------------------------------------------------------- */

static int32_t vocab_find(const sdc_clip_tokenizer *t, const char *s, size_t n) {
    if (!t->vmap_cap) return -1;
    size_t mask = t->vmap_cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->vmap[i];
        if (v == 0) return -1;
        uint32_t id = v - 1;
        if (t->tok_len[id] == n && memcmp(t->strs + t->tok_off[id], s, n) == 0) return (int32_t)id;
    }
}

/* Stores string s as token `id` (a later duplicate string takes over the
 * string -> id direction, as a Python dict built from the list would). */
static bool vocab_add(sdc_clip_tokenizer *t, const char *s, size_t n, uint32_t id) {
    if (!grow((void **)&t->strs, &t->strs_cap, t->strs_len + n + 1, 1)) return false;
    if (t->strs_len + n + 1 > UINT32_MAX) return false;
    uint32_t off = (uint32_t)t->strs_len;
    memcpy(t->strs + off, s, n);
    t->strs[off + n] = '\0';
    t->strs_len += n + 1;
    t->tok_off[id] = off;
    t->tok_len[id] = (uint32_t)n;
    size_t mask = t->vmap_cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->vmap[i];
        if (v == 0 || (t->tok_len[v - 1] == n && memcmp(t->strs + t->tok_off[v - 1], s, n) == 0)) {
            t->vmap[i] = id + 1;
            return true;
        }
    }
}

static bool vocab_alloc(sdc_clip_tokenizer *t, size_t n_ids) {
    t->n_ids = n_ids;
    t->tok_off = malloc(n_ids * sizeof(uint32_t));
    t->tok_len = calloc(n_ids, sizeof(uint32_t));
    t->vmap_cap = pow2_at_least(n_ids * 2);
    t->vmap = calloc(t->vmap_cap, sizeof(uint32_t));
    if (!t->tok_off || !t->tok_len || !t->vmap) return false;
    memset(t->tok_off, 0xFF, n_ids * sizeof(uint32_t));
    return true;
}

static void merge_put(sdc_clip_tokenizer *t, uint32_t a, uint32_t b, uint32_t rank, uint32_t res) {
    uint64_t key = ((uint64_t)a << 32) | b;
    size_t mask = t->merge_cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        merge_slot *m = &t->merges[i];
        if (m->rank == UINT32_MAX || m->key == key) {
            m->key = key;
            m->rank = rank; /* a repeated pair takes its later rank, as in a dict */
            m->res = res;
            return;
        }
    }
}

static const merge_slot *merge_get(const sdc_clip_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = t->merge_cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        const merge_slot *m = &t->merges[i];
        if (m->rank == UINT32_MAX) return NULL;
        if (m->key == key) return m;
    }
}

/* One merges-file line split on ASCII whitespace: up to 3 fields reported
 * (3 means "more than two"). */
typedef struct merge_line {
    const char *f[2];
    size_t len[2];
    int n;
} merge_line;

static merge_line split_merge_line(const char *s, size_t n) {
    merge_line m = {{NULL, NULL}, {0, 0}, 0};
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        if (i == n) break;
        size_t b = i;
        while (i < n && !(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        if (m.n == 2) {
            m.n = 3;
            break;
        }
        m.f[m.n] = s + b;
        m.len[m.n] = i - b;
        m.n++;
    }
    return m;
}

/* The merge lines CLIP uses: lines 1..CLIP_N_MERGES after splitting on '\n'
 * (line 0 is a header). Fills starts/lens; returns the count. */
static size_t merge_lines(const char *buf, size_t size, const char **starts, size_t *lens) {
    size_t count = 0, line = 0, pos = 0;
    while (pos <= size && count < CLIP_N_MERGES) {
        const char *nl = memchr(buf + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - buf) : size;
        if (line >= 1) {
            starts[count] = buf + pos;
            lens[count] = end - pos;
            count++;
        }
        line++;
        if (!nl) break;
        pos = end + 1;
    }
    return count;
}

static sdc_status add_merges(sdc_clip_tokenizer *t, const char **starts, const size_t *lens, size_t count,
                             const char *path, sdc_error *err) {
    t->merge_cap = pow2_at_least(count * 2 + 1);
    t->merges = malloc(t->merge_cap * sizeof(merge_slot));
    if (!t->merges) return sdc_error_set(err, SDC_ERR_OOM, "out of memory loading '%s'", path);
    for (size_t i = 0; i < t->merge_cap; i++) t->merges[i].rank = UINT32_MAX;
    char joined[1024];
    for (size_t r = 0; r < count; r++) {
        merge_line m = split_merge_line(starts[r], lens[r]);
        if (m.n == 0) continue;
        if (m.n != 2 || m.len[0] + m.len[1] >= sizeof joined)
            return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' line %zu: a merge must be two tokens", path, r + 2);
        memcpy(joined, m.f[0], m.len[0]);
        memcpy(joined + m.len[0], m.f[1], m.len[1]);
        int32_t a = vocab_find(t, m.f[0], m.len[0]), b = vocab_find(t, m.f[1], m.len[1]);
        int32_t res = vocab_find(t, joined, m.len[0] + m.len[1]);
        if (a < 0 || b < 0 || res < 0)
            return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' line %zu: merge '%.*s %.*s' uses a token missing from the vocabulary",
                                 path, r + 2, (int)m.len[0], m.f[0], (int)m.len[1], m.f[1]);
        merge_put(t, (uint32_t)a, (uint32_t)b, (uint32_t)r, (uint32_t)res);
    }
    return SDC_OK;
}

/* Byte symbols and special tokens, common to both vocabulary sources. */
static sdc_status finish_vocab(sdc_clip_tokenizer *t, const char *path, sdc_error *err) {
    uint32_t sym[256];
    uint8_t order[256];
    byte_table(sym, order);
    for (unsigned b = 0; b < 256; b++) {
        char s[8];
        size_t k = sdc_utf8_put(sym[b], s);
        t->byte_id[b] = vocab_find(t, s, k);
        memcpy(s + k, END_OF_WORD, 4);
        t->byte_end_id[b] = vocab_find(t, s, k + 4);
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return sdc_error_set(err, SDC_ERR_FORMAT, "'%s': the vocabulary lacks the symbol of byte 0x%02x", path, b);
    }
    t->bos = vocab_find(t, BOS_TOKEN, strlen(BOS_TOKEN));
    t->eos = vocab_find(t, EOS_TOKEN, strlen(EOS_TOKEN));
    if (t->bos < 0 || t->eos < 0)
        return sdc_error_set(err, SDC_ERR_FORMAT, "'%s': the vocabulary lacks " BOS_TOKEN " or " EOS_TOKEN, path);
    return SDC_OK;
}

/* Reads a whole file, gunzipping it when it is gzip (zlib reads plain files
 * unchanged). *out is malloc'd, NUL-terminated. */
static sdc_status read_maybe_gz(const char *path, char **out, size_t *size, sdc_error *err) {
    *out = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return sdc_error_set(err, SDC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            gzclose(f);
            return sdc_error_set(err, SDC_ERR_OOM, "out of memory reading '%s'", path);
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            sdc_error_set(err, SDC_ERR_FORMAT, "cannot read '%s': %s", path, msg);
            free(buf);
            gzclose(f);
            return err ? err->status : SDC_ERR_FORMAT;
        }
        n += (size_t)got;
        if (got == 0) break;
        if (n == cap) {
            if (cap >= MAX_VOCAB_FILE) {
                free(buf);
                gzclose(f);
                return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is larger than %u MiB: not a CLIP vocabulary", path,
                                     MAX_VOCAB_FILE >> 20);
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    gzclose(f);
    buf[n] = '\0';
    *out = buf;
    *size = n;
    return SDC_OK;
}

/* openai's format: the merges list alone; the vocabulary is the 256 byte
 * symbols, the same with "</w>", each merge's result, then the two specials. */
static sdc_status load_bpe_merges(sdc_clip_tokenizer *t, const char *path, sdc_error *err) {
    char *buf = NULL;
    size_t size = 0;
    const char **starts = malloc(CLIP_N_MERGES * sizeof(char *));
    size_t *lens = malloc(CLIP_N_MERGES * sizeof(size_t));
    sdc_status st = (!starts || !lens) ? sdc_error_set(err, SDC_ERR_OOM, "out of memory") : SDC_OK;
    if (st == SDC_OK) st = read_maybe_gz(path, &buf, &size, err);
    if (st != SDC_OK) goto done;
    const char *nl = memchr(buf, '\n', size);
    if (!memmem(buf, nl ? (size_t)(nl - buf) : size, "#version", 8)) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is not a BPE merges list (no '#version' header line)", path);
        goto done;
    }
    size_t count = merge_lines(buf, size, starts, lens);
    if (count == 0 || split_merge_line(starts[0], lens[0]).n != 2) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s' has no BPE merges", path);
        goto done;
    }
    if (!vocab_alloc(t, 512 + count + 2)) goto oom;
    uint32_t id = 0, sym[256];
    uint8_t order[256];
    char s[1024 + 8];
    byte_table(sym, order);
    for (int pass = 0; pass < 2; pass++)
        for (unsigned k = 0; k < 256; k++, id++) {
            size_t n = sdc_utf8_put(sym[order[k]], s);
            if (pass == 1) memcpy(s + n, END_OF_WORD, 4), n += 4;
            if (!vocab_add(t, s, n, id)) goto oom;
        }
    for (size_t r = 0; r < count; r++, id++) {
        merge_line m = split_merge_line(starts[r], lens[r]);
        size_t n = 0;
        for (int f = 0; f < m.n && f < 2; f++) {
            if (n + m.len[f] > 1024) {
                st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s' line %zu is too long", path, r + 2);
                goto done;
            }
            memcpy(s + n, m.f[f], m.len[f]);
            n += m.len[f];
        }
        if (!vocab_add(t, s, n, id)) goto oom;
    }
    if (!vocab_add(t, BOS_TOKEN, strlen(BOS_TOKEN), id++) || !vocab_add(t, EOS_TOKEN, strlen(EOS_TOKEN), id++))
        goto oom;
    st = add_merges(t, starts, lens, count, path, err);
    if (st == SDC_OK) st = finish_vocab(t, path, err);
    goto done;
oom:
    st = sdc_error_set(err, SDC_ERR_OOM, "out of memory loading '%s'", path);
done:
    free(buf);
    free(starts);
    free(lens);
    return st;
}

/* transformers' format: vocab.json (token -> id) and merges.txt (stripped,
 * then the same line window as openai's file). */
static sdc_status load_vocab_json(sdc_clip_tokenizer *t, const char *json_path, const char *merges_path,
                                  sdc_error *err) {
    struct stat sb;
    if (stat(json_path, &sb) != 0) return sdc_error_set(err, SDC_ERR_IO, "cannot open '%s': %s", json_path, strerror(errno));
    if ((size_t)sb.st_size > MAX_VOCAB_FILE)
        return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is too large for a CLIP vocabulary", json_path);
    json_error_t je;
    json_t *root = json_load_file(json_path, 0, &je);
    if (!root) return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' line %d: %s", json_path, je.line, je.text);
    sdc_status st = SDC_OK;
    char *buf = NULL;
    const char **starts = NULL;
    size_t *lens = NULL;
    const char *key;
    json_t *val;
    json_int_t max_id = -1;
    if (!json_is_object(root)) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is not a JSON object of token -> id", json_path);
        goto done;
    }
    json_object_foreach(root, key, val) {
        json_int_t v = json_is_integer(val) ? json_integer_value(val) : -1;
        if (v < 0 || v >= (json_int_t)MAX_IDS) {
            st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s': token '%s' has no valid id", json_path, key);
            goto done;
        }
        if (v > max_id) max_id = v;
    }
    if (max_id < 0 || !vocab_alloc(t, (size_t)max_id + 1)) goto oom;
    json_object_foreach(root, key, val) {
        uint32_t id = (uint32_t)json_integer_value(val);
        if (t->tok_off[id] != UINT32_MAX) {
            st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s': id %u is given to two tokens", json_path, id);
            goto done;
        }
        if (!vocab_add(t, key, strlen(key), id)) goto oom;
    }
    size_t size;
    st = read_maybe_gz(merges_path, &buf, &size, err);
    if (st != SDC_OK) goto done;
    size_t b = 0;
    while (b < size && (buf[b] == ' ' || (buf[b] >= '\t' && buf[b] <= '\r'))) b++;
    while (size > b && (buf[size - 1] == ' ' || (buf[size - 1] >= '\t' && buf[size - 1] <= '\r'))) size--;
    starts = malloc(CLIP_N_MERGES * sizeof(char *));
    lens = malloc(CLIP_N_MERGES * sizeof(size_t));
    if (!starts || !lens) goto oom;
    size_t count = merge_lines(buf + b, size - b, starts, lens);
    if (count == 0) {
        st = sdc_error_set(err, SDC_ERR_FORMAT, "'%s' has no BPE merges", merges_path);
        goto done;
    }
    st = add_merges(t, starts, lens, count, merges_path, err);
    if (st == SDC_OK) st = finish_vocab(t, json_path, err);
    goto done;
oom:
    st = sdc_error_set(err, SDC_ERR_OOM, "out of memory loading '%s'", json_path);
done:
    json_decref(root);
    free(buf);
    free(starts);
    free(lens);
    return st;
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Joins dir and name into out; false when it does not fit. */
static bool join_path(char *out, size_t size, const char *dir, const char *name) {
    int n = snprintf(out, size, "%s%s%s", dir, (*dir && dir[strlen(dir) - 1] != '/') ? "/" : "", name);
    return n >= 0 && (size_t)n < size;
}

static sdc_status load_dir(sdc_clip_tokenizer *t, const char *dir, sdc_error *err) {
    static const char *const subdirs[] = {"tokenizer", ""};
    char v[4096], m[4096], sub[4096];
    for (size_t i = 0; i < SDC_ARRAY_LEN(subdirs); i++) {
        if (!join_path(sub, sizeof sub, dir, subdirs[i]) || !join_path(v, sizeof v, sub, "vocab.json") ||
            !join_path(m, sizeof m, sub, "merges.txt"))
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "path too long: '%s'", dir);
        if (is_file(v) && is_file(m)) return load_vocab_json(t, v, m, err);
    }
    if (join_path(v, sizeof v, dir, SDC_CLIP_VOCAB_FILE) && is_file(v)) return load_bpe_merges(t, v, err);
    return sdc_error_set(err, SDC_ERR_IO,
                         "folder '%s' holds no CLIP vocabulary (looked for tokenizer/vocab.json + merges.txt, "
                         "vocab.json + merges.txt, " SDC_CLIP_VOCAB_FILE ")",
                         dir);
}

sdc_status sdc_clip_tokenizer_load(const char *path, sdc_clip_tokenizer **out, sdc_error *err) {
    *out = NULL;
    if (!path || !*path) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no vocabulary path given");
    sdc_clip_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st;
    size_t len = strlen(path);
    if (is_dir(path)) {
        st = load_dir(t, path, err);
    } else if (len >= 5 && strcmp(path + len - 5, ".json") == 0) {
        char dir[4096], m[4096];
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 0;
        snprintf(dir, sizeof dir, "%.*s", dl, path);
        if (!join_path(m, sizeof m, slash ? dir : ".", "merges.txt"))
            st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "path too long: '%s'", path);
        else st = load_vocab_json(t, path, m, err);
    } else {
        st = load_bpe_merges(t, path, err);
    }
    if (st != SDC_OK) {
        sdc_clip_tokenizer_free(t);
        return st;
    }
    *out = t;
    return SDC_OK;
}

void sdc_clip_tokenizer_free(sdc_clip_tokenizer *t) {
    if (!t) return;
    free(t->strs);
    free(t->tok_off);
    free(t->tok_len);
    free(t->vmap);
    free(t->merges);
    free(t->cache);
    free(t->ckeys);
    free(t->cids);
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->heap);
    free(t->piece);
    free(t);
}

int32_t sdc_clip_tokenizer_bos(const sdc_clip_tokenizer *t) { return t->bos; }
int32_t sdc_clip_tokenizer_eos(const sdc_clip_tokenizer *t) { return t->eos; }
size_t sdc_clip_tokenizer_vocab_size(const sdc_clip_tokenizer *t) { return t->n_ids; }

const char *sdc_clip_tokenizer_token(const sdc_clip_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->n_ids || t->tok_off[id] == UINT32_MAX) return NULL;
    return t->strs + t->tok_off[id];
}

int32_t sdc_clip_tokenizer_lookup(const sdc_clip_tokenizer *t, const char *token) {
    return vocab_find(t, token, strlen(token));
}

/* ---- BPE ---------------------------------------------------------------- */

static bool heap_less(heap_item a, heap_item b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(heap_item *h, size_t *n, heap_item x) {
    size_t i = (*n)++;
    while (i > 0 && heap_less(x, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void push_pair(sdc_clip_tokenizer *t, size_t *hn, int32_t left) {
    if (left < 0 || t->next[left] < 0) return;
    const merge_slot *m = merge_get(t, t->sym[left], t->sym[t->next[left]]);
    if (m) heap_push(t->heap, hn, (heap_item){m->rank, (uint32_t)left});
}

/* BPE of one word of n bytes; leaves the surviving symbols linked from 0. */
static bool bpe_word(sdc_clip_tokenizer *t, const unsigned char *w, size_t n) {
    size_t hcap;
    if (n > INT32_MAX || !sdc_mul_ok(n, 3, &hcap)) return false;
    if (n > t->scratch_cap) {
        size_t cap = pow2_at_least(n);
        int32_t *a = realloc(t->sym, cap * sizeof(int32_t));
        if (a) t->sym = a;
        int32_t *b = realloc(t->prev, cap * sizeof(int32_t));
        if (b) t->prev = b;
        int32_t *c = realloc(t->next, cap * sizeof(int32_t));
        if (c) t->next = c;
        heap_item *h = realloc(t->heap, cap * 3 * sizeof(heap_item));
        if (h) t->heap = h;
        if (!a || !b || !c || !h) return false;
        t->scratch_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        t->sym[i] = i + 1 == n ? t->byte_end_id[w[i]] : t->byte_id[w[i]];
        t->prev[i] = (int32_t)i - 1;
        t->next[i] = i + 1 == n ? -1 : (int32_t)i + 1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(t, &hn, (int32_t)i);
    while (hn > 0) {
        heap_item it = heap_pop(t->heap, &hn);
        int32_t l = (int32_t)it.pos, r = t->sym[l] < 0 ? -1 : t->next[l];
        if (r < 0) continue; /* left symbol merged away, or last */
        const merge_slot *m = merge_get(t, t->sym[l], t->sym[r]);
        if (!m || m->rank != it.rank) continue; /* stale candidate */
        t->sym[l] = (int32_t)m->res;
        t->sym[r] = -1;
        t->next[l] = t->next[r];
        if (t->next[r] >= 0) t->prev[t->next[r]] = l;
        push_pair(t, &hn, t->prev[l]);
        push_pair(t, &hn, l);
    }
    return true;
}

/* ---- word cache --------------------------------------------------------- */

static void cache_reset(sdc_clip_tokenizer *t) {
    if (t->cache) memset(t->cache, 0, t->cache_cap * sizeof(cache_entry));
    t->cache_count = 0;
    t->ckeys_len = 0;
    t->cids_len = 0;
}

static cache_entry *cache_slot(sdc_clip_tokenizer *t, const char *w, size_t n, uint64_t h) {
    size_t mask = t->cache_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        cache_entry *e = &t->cache[i];
        if (e->key_len == 0) return e;
        if (e->hash == h && e->key_len == n && memcmp(t->ckeys + e->key_off, w, n) == 0) return e;
    }
}

/* Stores ids for word w; silently skips caching when memory is short. */
static void cache_store(sdc_clip_tokenizer *t, const char *w, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    if (n > CACHE_MAX_WORD) return;
    if (t->cache_count >= CACHE_MAX_ENTRIES) cache_reset(t);
    if (!t->cache) {
        t->cache_cap = 4096;
        t->cache = calloc(t->cache_cap, sizeof(cache_entry));
        if (!t->cache) return;
    } else if ((t->cache_count + 1) * 2 > t->cache_cap) {
        cache_entry *old = t->cache;
        size_t old_cap = t->cache_cap;
        t->cache = calloc(old_cap * 2, sizeof(cache_entry));
        if (!t->cache) {
            t->cache = old;
            return;
        }
        t->cache_cap = old_cap * 2;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key_len) *cache_slot(t, t->ckeys + old[i].key_off, old[i].key_len, old[i].hash) = old[i];
        free(old);
    }
    if (!grow((void **)&t->ckeys, &t->ckeys_cap, t->ckeys_len + n, 1) ||
        !grow((void **)&t->cids, &t->cids_cap, t->cids_len + k, sizeof(int32_t)))
        return;
    cache_entry *e = cache_slot(t, w, n, h);
    e->hash = h;
    e->key_off = (uint32_t)t->ckeys_len;
    e->key_len = (uint32_t)n;
    e->ids_off = (uint32_t)t->cids_len;
    e->ids_len = (uint32_t)k;
    memcpy(t->ckeys + t->ckeys_len, w, n);
    memcpy(t->cids + t->cids_len, ids, k * sizeof(int32_t));
    t->ckeys_len += n;
    t->cids_len += k;
    t->cache_count++;
}

/* ---- tokenize ----------------------------------------------------------- */

typedef struct id_sink {
    int32_t *ids;
    size_t max, n;
} id_sink;

static void sink_put(id_sink *s, int32_t id) {
    if (s->n < s->max) s->ids[s->n] = id;
    s->n++;
}

/* One piece of UTF-8 bytes -> ids. */
static bool encode_piece(sdc_clip_tokenizer *t, const char *w, size_t n, id_sink *out) {
    if (n == strlen(BOS_TOKEN) && memcmp(w, BOS_TOKEN, n) == 0) return sink_put(out, t->bos), true;
    if (n == strlen(EOS_TOKEN) && memcmp(w, EOS_TOKEN, n) == 0) return sink_put(out, t->eos), true;
    uint64_t h = hash_bytes(w, n);
    if (t->cache) {
        cache_entry *e = cache_slot(t, w, n, h);
        if (e->key_len) {
            for (uint32_t i = 0; i < e->ids_len; i++) sink_put(out, t->cids[e->ids_off + i]);
            return true;
        }
    }
    if (!bpe_word(t, (const unsigned char *)w, n)) return false;
    int32_t local[64];
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = t->next[i]) {
        sink_put(out, t->sym[i]);
        if (k < SDC_ARRAY_LEN(local)) local[k] = t->sym[i];
        k++;
    }
    if (k <= SDC_ARRAY_LEN(local)) cache_store(t, w, n, h, local, k);
    return true;
}

static bool is_letter(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static bool is_number(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* The regex is case-insensitive; after lower-casing, the only code point
 * left that matches one of its ASCII letters differently is U+017F (long s,
 * which folds to 's'). */
static uint32_t fold(uint32_t c) { return c == 0x17F ? 's' : c; }

static size_t match_literal(const uint32_t *s, size_t n, size_t i, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++)
        if (i + k >= n || fold(s[i + k]) != (unsigned char)lit[k]) return 0;
    return k;
}

/* Code points the case-insensitive pattern matches with no alternative, so
 * they separate pieces like whitespace: whitespace, and U+0345 (combining
 * ypogegrammeni, not a letter itself but case-equivalent to the letter iota,
 * which keeps it out of the negated class [^\s\p{L}\p{N}] as well; found by
 * running the reference regex over every code point). */
static bool is_separator(uint32_t c) { return sdc_clip_is_space(c) || c == 0x345; }

/* Length of the regex match starting at s[i] (not a separator), following
 * the alternation order of CLIP's pattern. */
static size_t piece_len(const uint32_t *s, size_t n, size_t i) {
    static const char *const literals[] = {BOS_TOKEN, EOS_TOKEN, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    if (s[i] == '<' || s[i] == '\'')
        for (size_t k = 0; k < SDC_ARRAY_LEN(literals); k++) {
            size_t m = match_literal(s, n, i, literals[k]);
            if (m) return m;
        }
    size_t j = i + 1;
    if (is_letter(s[i])) {
        while (j < n && is_letter(s[j])) j++;
    } else if (!is_number(s[i])) {
        while (j < n && !is_separator(s[j]) && !is_letter(s[j]) && !is_number(s[j])) j++;
    }
    return j - i;
}

sdc_status sdc_clip_tokenize_n(sdc_clip_tokenizer *t, const char *text, size_t len, int32_t *ids, size_t max_ids,
                               size_t *n_ids, sdc_error *err) {
    *n_ids = 0;
    uint32_t *cps;
    size_t n;
    sdc_status st = sdc_clip_clean(text, len, &cps, &n, err);
    if (st != SDC_OK) return st;
    id_sink out = {ids, ids ? max_ids : 0, 0};
    for (size_t i = 0; i < n;) {
        if (is_separator(cps[i])) {
            i++;
            continue;
        }
        size_t m = piece_len(cps, n, i), bytes = 0;
        if (!grow((void **)&t->piece, &t->piece_cap, m * 4, 1)) goto oom;
        for (size_t k = 0; k < m; k++) bytes += sdc_utf8_put(cps[i + k], t->piece + bytes);
        if (!encode_piece(t, t->piece, bytes, &out)) goto oom;
        i += m;
    }
    free(cps);
    *n_ids = out.n;
    return SDC_OK;
oom:
    free(cps);
    return sdc_error_set(err, SDC_ERR_OOM, "out of memory tokenizing a %zu-byte text", len);
}

sdc_status sdc_clip_tokenize(sdc_clip_tokenizer *t, const char *text, int32_t *ids, size_t max_ids, size_t *n_ids,
                             sdc_error *err) {
    return sdc_clip_tokenize_n(t, text, strlen(text), ids, max_ids, n_ids, err);
}

/* ---- finding a vocabulary ----------------------------------------------- */

/* A usable vocabulary at path: a file, or a folder load_dir would accept. */
static bool vocab_at(const char *path) {
    if (is_file(path)) return true;
    if (!is_dir(path)) return false;
    char a[4096], b[4096];
    static const char *const pairs[][2] = {{"tokenizer/vocab.json", "tokenizer/merges.txt"},
                                           {"vocab.json", "merges.txt"}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(pairs); i++)
        if (join_path(a, sizeof a, path, pairs[i][0]) && join_path(b, sizeof b, path, pairs[i][1]) && is_file(a) &&
            is_file(b))
            return true;
    return join_path(a, sizeof a, path, SDC_CLIP_VOCAB_FILE) && is_file(a);
}

static bool try_path(const char *path, char *out, size_t size, char *tried, size_t tried_size) {
    if (vocab_at(path)) {
        snprintf(out, size, "%s", path);
        return strlen(path) < size;
    }
    size_t used = strlen(tried);
    if (used + 4 < tried_size) snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", path);
    return false;
}

/* Candidates 2-5 of the search order (see the header). */
static bool search_default(const char *model_path, char *out, size_t size, char *tried, size_t tsize) {
    char p[4096];
    if (model_path && *model_path) {
        if (is_dir(model_path)) {
            if (join_path(p, sizeof p, model_path, "tokenizer") && try_path(p, out, size, tried, tsize)) return true;
        } else {
            const char *slash = strrchr(model_path, '/');
            char dir[4096];
            snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - model_path) : 1, slash ? model_path : ".");
            if (join_path(p, sizeof p, dir, SDC_CLIP_VOCAB_FILE) && try_path(p, out, size, tried, tsize)) return true;
        }
    }
    const char *env = getenv("SDC_VOCAB");
    if (env && *env && try_path(env, out, size, tried, tsize)) return true;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(p, sizeof p, "%s/sdc/" SDC_CLIP_VOCAB_FILE, xdg);
    else if (home && *home) snprintf(p, sizeof p, "%s/.local/share/sdc/" SDC_CLIP_VOCAB_FILE, home);
    else p[0] = '\0';
    if (p[0] && try_path(p, out, size, tried, tsize)) return true;
    static const char *const fixed[] = {"/usr/local/share/sdc/" SDC_CLIP_VOCAB_FILE, "/usr/share/sdc/" SDC_CLIP_VOCAB_FILE,
                                        "../shared/clip/" SDC_CLIP_VOCAB_FILE, "shared/clip/" SDC_CLIP_VOCAB_FILE};
    for (size_t i = 0; i < SDC_ARRAY_LEN(fixed); i++)
        if (try_path(fixed[i], out, size, tried, tsize)) return true;
    return false;
}

sdc_status sdc_clip_vocab_find(const char *explicit_path, const char *model_path, char *out, size_t out_size,
                               sdc_error *err) {
    if (out_size) out[0] = '\0';
    if (explicit_path && *explicit_path) {
        if (!vocab_at(explicit_path))
            return sdc_error_set(err, SDC_ERR_IO,
                                 "vocabulary '%s' not found (give " SDC_CLIP_VOCAB_FILE
                                 ", a vocab.json with merges.txt beside it, or a folder holding them)",
                                 explicit_path);
        if ((size_t)snprintf(out, out_size, "%s", explicit_path) >= out_size)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "vocabulary path too long");
        return SDC_OK;
    }
    char tried[1024] = "";
    if (search_default(model_path, out, out_size, tried, sizeof tried)) return SDC_OK;
    return sdc_error_set(err, SDC_ERR_IO,
                         "no CLIP vocabulary found. Get " SDC_CLIP_VOCAB_FILE " (1.3 MB, in the clip/ folder of "
                         "the openai/CLIP repository) and put it in ~/.local/share/sdc/, or pass --vocab FILE, or set "
                         "SDC_VOCAB=FILE (a diffusers model folder brings its own tokenizer/). Looked in: %s",
                         tried);
}
