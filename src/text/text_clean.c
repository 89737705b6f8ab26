/* CLIP's text cleaning (see text_clean.h): the non-mojibake fixes of ftfy
 * 6.1.1's fix_text with its default configuration, Python's html.unescape,
 * whitespace cleanup and Python's str.lower, on arrays of code points.
 *
 * Implemented from the documented behaviour of those functions (facts checked
 * against ftfy 6.1.1 and CPython 3.11), not from their code. Not implemented:
 * ftfy's fix_encoding (mojibake detection and re-decoding, a large heuristic);
 * text that looks like mojibake ("cafÃ©") is tokenized as written. */
#include "text/text_clean.h"

#include <utf8proc.h>

#include "text/html_entities.h"

/* ftfy processes text in segments: lines (the '\n' stays with its line),
 * or at most this many code points. */
#define FTFY_MAX_SEGMENT 1000000
/* ftfy repeats its fixes until the text stops changing; real text settles in
 * two or three rounds, the cap only bounds adversarial input. */
#define FTFY_MAX_ROUNDS 64

bool sdc_clip_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's str.isspace (what str.strip removes): \s plus U+1C..U+1F. */
static bool py_isspace(uint32_t c) { return sdc_clip_is_space(c) || (c >= 0x1C && c <= 0x1F); }

static bool is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_ascii_alnum(uint32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int hex_value(uint32_t c) {
    if (is_ascii_digit(c)) return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* ---- html.unescape ------------------------------------------------------ */

/* Windows-1252 meaning of C1 code points U+80..U+9F; the five bytes that
 * Windows-1252 leaves undefined map to themselves (HTML5 and ftfy's "sloppy"
 * codec agree on this). */
static const uint16_t k_cp1252_c1[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Numeric references that HTML5 (and so html.unescape) drops entirely. */
static bool html_dropped_codepoint(uint32_t v) {
    if ((v >= 0x01 && v <= 0x08) || v == 0x0B || (v >= 0x0E && v <= 0x1F) || (v >= 0x7F && v <= 0x9F))
        return true;
    if (v >= 0xFDD0 && v <= 0xFDEF) return true;
    return (v & 0xFFFE) == 0xFFFE; /* U+xFFFE, U+xFFFF in every plane */
}

static void push_numeric_ref(sdc_cpbuf *out, uint32_t v) {
    if (v == 0x00) sdc_cpbuf_push(out, 0xFFFD);
    else if (v == 0x0D) sdc_cpbuf_push(out, 0x0D);
    else if (v >= 0x80 && v <= 0x9F) sdc_cpbuf_push(out, k_cp1252_c1[v - 0x80]);
    else if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) sdc_cpbuf_push(out, 0xFFFD);
    else if (html_dropped_codepoint(v)) return;
    else sdc_cpbuf_push(out, v);
}

/* Tries a numeric reference at in[i] == '&', in[i+1] == '#'. Returns the
 * code points consumed (0: no match). */
static size_t unescape_numeric(const uint32_t *in, size_t n, size_t i, sdc_cpbuf *out) {
    size_t j = i + 2;
    uint32_t v = 0;
    if (j < n && is_ascii_digit(in[j])) {
        for (; j < n && is_ascii_digit(in[j]); j++) v = v > 0x10FFFF ? v : v * 10 + (in[j] - '0');
    } else if (j + 1 < n && (in[j] == 'x' || in[j] == 'X') && hex_value(in[j + 1]) >= 0) {
        for (j++; j < n && hex_value(in[j]) >= 0; j++) v = v > 0x10FFFF ? v : v * 16 + (uint32_t)hex_value(in[j]);
    } else {
        return 0;
    }
    if (j < n && in[j] == ';') j++;
    push_numeric_ref(out, v);
    return j - i;
}

static bool named_ref_char(uint32_t c) {
    return !(c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';');
}

/* Named reference at in[i] == '&': up to 32 name characters and an optional
 * ';'; the whole name, else its longest prefix of at least 2 characters that
 * is a known name, else left as written. Returns code points consumed. */
static size_t unescape_named(const uint32_t *in, size_t n, size_t i, sdc_cpbuf *out) {
    size_t j = i + 1;
    while (j < n && j - (i + 1) < 32 && named_ref_char(in[j])) j++;
    size_t run = j - (i + 1);
    if (run == 0) return 0;
    if (j < n && in[j] == ';') j++;
    size_t slen = j - (i + 1);
    char name[32 * 4 + 2] = {0};
    size_t off[34] = {0}; /* byte offset of each prefix length */
    size_t k = 0;
    for (size_t t = 0; t < slen; t++) {
        off[t] = k;
        k += sdc_utf8_put(in[i + 1 + t], name + k);
    }
    off[slen] = k;
    const char *v = sdc_html5_entity(name, k);
    if (v) {
        sdc_cpbuf_push_utf8(out, v, strlen(v));
        return j - i;
    }
    for (size_t x = slen - 1; x >= 2; x--) {
        v = sdc_html5_entity(name, off[x]);
        if (v) {
            sdc_cpbuf_push_utf8(out, v, strlen(v));
            for (size_t t = x; t < slen; t++) sdc_cpbuf_push(out, in[i + 1 + t]);
            return j - i;
        }
    }
    for (size_t t = i; t < j; t++) sdc_cpbuf_push(out, in[t]);
    return j - i;
}

void sdc_html_unescape(const uint32_t *in, size_t n, sdc_cpbuf *out) {
    sdc_cpbuf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        size_t used = 0;
        if (in[i] == '&' && i + 1 < n)
            used = in[i + 1] == '#' ? unescape_numeric(in, n, i, out) : unescape_named(in, n, i, out);
        if (used == 0) {
            sdc_cpbuf_push(out, in[i]);
            used = 1;
        }
        i += used;
    }
}

/* ---- ftfy fixes --------------------------------------------------------- */

/* ftfy's unescape_html: only "&name;" / "&#num;" of at most 24 ASCII
 * letters and digits with the ';', from the HTML5 list or ftfy's all-caps
 * list; a numeric one only when html.unescape consumes it whole. */
static size_t ftfy_unescape_at(const uint32_t *in, size_t n, size_t i, sdc_cpbuf *out) {
    size_t j = i + 1;
    bool numeric = j < n && in[j] == '#';
    if (numeric) j++;
    size_t start = j;
    while (j < n && j - start < 25 && is_ascii_alnum(in[j])) j++;
    if (j == start || j - start > 24 || j >= n || in[j] != ';') return 0;
    size_t len = j + 1 - i; /* "&...;" */
    if (numeric) {
        sdc_cpbuf tmp = {0};
        sdc_html_unescape(in + i, len, &tmp);
        bool whole = !tmp.oom;
        for (size_t t = 0; whole && t < tmp.n; t++) whole = tmp.v[t] != ';';
        if (tmp.oom) out->oom = true;
        else if (whole)
            for (size_t t = 0; t < tmp.n; t++) sdc_cpbuf_push(out, tmp.v[t]);
        sdc_cpbuf_free(&tmp);
        return whole ? len : 0;
    }
    char name[26];
    size_t k = 0;
    for (size_t t = start; t <= j; t++) name[k++] = (char)in[t];
    const char *v = sdc_html5_entity(name, k);
    if (!v) v = sdc_html_ftfy_upper_entity(name, k);
    if (!v) return 0;
    sdc_cpbuf_push_utf8(out, v, strlen(v));
    return len;
}

static void ftfy_unescape_html(const sdc_cpbuf *in, sdc_cpbuf *out) {
    for (size_t i = 0; i < in->n;) {
        size_t used = in->v[i] == '&' ? ftfy_unescape_at(in->v, in->n, i, out) : 0;
        if (used == 0) {
            sdc_cpbuf_push(out, in->v[i]);
            used = 1;
        }
        i += used;
    }
}

/* Latin ligatures and legacy digraphs that ftfy splits (not æ, œ). */
static const char *ligature(uint32_t c) {
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xCA\xBCn";
    case 0x01F1: return "DZ";
    case 0x01F2: return "Dz";
    case 0x01F3: return "dz";
    case 0x01C4: return "D\xC5\xBD";
    case 0x01C5: return "D\xC5\xBE";
    case 0x01C6: return "d\xC5\xBE";
    case 0x01C7: return "LJ";
    case 0x01C8: return "Lj";
    case 0x01C9: return "lj";
    case 0x01CA: return "NJ";
    case 0x01CB: return "Nj";
    case 0x01CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xC5\xBFt";
    case 0xFB06: return "st";
    default: return NULL;
    }
}

/* Pushes the NFKC form of one code point (ftfy's width fix: U+FF01..U+FFEF
 * become their NFKC form when it differs). */
static void push_nfkc(sdc_cpbuf *out, uint32_t c) {
    char u8[4];
    size_t k = sdc_utf8_put(c, u8);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)u8, (utf8proc_ssize_t)k, &dst,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (r < 0) sdc_cpbuf_push(out, c);
    else sdc_cpbuf_push_utf8(out, (const char *)dst, (size_t)r);
    free(dst);
}

static bool is_removed_control(uint32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* Length of an ANSI terminal escape ESC '[' (digit | ';')* letter at in[i],
 * or 0. Digits are Unicode decimal digits (Python re's \d). */
static size_t terminal_escape_len(const uint32_t *in, size_t n, size_t i) {
    if (in[i] != 0x1B || i + 1 >= n || in[i + 1] != '[') return 0;
    size_t j = i + 2;
    while (j < n && (in[j] == ';' || utf8proc_category((utf8proc_int32_t)in[j]) == UTF8PROC_CATEGORY_ND)) j++;
    if (j < n && ((in[j] >= 'a' && in[j] <= 'z') || (in[j] >= 'A' && in[j] <= 'Z'))) return j + 1 - i;
    return 0;
}

/* The per-character fixes ftfy applies after unescaping, in its order:
 * C1 controls, ligatures, character width, curly quotes, line breaks,
 * terminal escapes, control characters. Each is a separate pass in ftfy; they
 * are fused here where no later pass can see an earlier pass's output
 * differently (checked per pass below). */
static void ftfy_char_fixes(const sdc_cpbuf *in, sdc_cpbuf *out) {
    sdc_cpbuf a = {0};
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c >= 0x80 && c <= 0x9F) c = k_cp1252_c1[c - 0x80]; /* fix_c1_controls */
        const char *lig = ligature(c);
        if (lig) {
            sdc_cpbuf_push_utf8(&a, lig, strlen(lig));
        } else if (c == 0x3000) {
            sdc_cpbuf_push(&a, ' ');
        } else if (c >= 0xFF01 && c <= 0xFFEF) {
            push_nfkc(&a, c);
        } else {
            sdc_cpbuf_push(&a, c);
        }
    }
    /* quotes and line breaks (outputs of the width map included) */
    for (size_t i = 0; i < a.n; i++) {
        uint32_t c = a.v[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        if (c == '\r' && i + 1 < a.n && a.v[i + 1] == '\n') continue; /* CRLF -> LF */
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        a.v[i] = c;
        sdc_cpbuf_push(out, c);
    }
    /* terminal escapes, then control characters, in place on out */
    size_t w = 0;
    for (size_t i = 0; i < out->n;) {
        size_t esc = terminal_escape_len(out->v, out->n, i);
        if (esc) {
            i += esc;
            continue;
        }
        out->v[w++] = out->v[i++];
    }
    out->n = w;
    w = 0;
    for (size_t i = 0; i < out->n; i++)
        if (!is_removed_control(out->v[i])) out->v[w++] = out->v[i];
    out->n = w;
    if (a.oom) out->oom = true;
    sdc_cpbuf_free(&a);
}

/* NFC via utf8proc. Code points below U+0300 are all NFC-stable and none
 * combines with a preceding character, so such text is returned as is. */
static void nfc(const sdc_cpbuf *in, sdc_cpbuf *out) {
    bool simple = true;
    for (size_t i = 0; i < in->n && simple; i++) simple = in->v[i] < 0x300;
    if (simple) {
        if (sdc_cpbuf_reserve(out, in->n)) {
            memcpy(out->v + out->n, in->v, in->n * sizeof(uint32_t));
            out->n += in->n;
        }
        return;
    }
    size_t len;
    char *u8 = sdc_cps_to_utf8(in->v, in->n, &len);
    if (!u8) {
        out->oom = true;
        return;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)u8, (utf8proc_ssize_t)len, &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r == UTF8PROC_ERROR_NOMEM) out->oom = true;
    else if (r < 0) sdc_cpbuf_push_utf8(out, u8, len); /* cannot happen for valid scalars */
    else sdc_cpbuf_push_utf8(out, (const char *)dst, (size_t)r);
    free(dst);
    free(u8);
}

static bool cps_equal(const sdc_cpbuf *a, const sdc_cpbuf *b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(uint32_t)) == 0);
}

static void swap_buf(sdc_cpbuf *a, sdc_cpbuf *b) {
    sdc_cpbuf t = *a;
    *a = *b;
    *b = t;
}

/* ftfy's fix_and_explain on one segment: all fixes, repeated until stable. */
static void ftfy_segment(const uint32_t *seg, size_t n, bool unescape, sdc_cpbuf *out) {
    sdc_cpbuf cur = {0}, prev = {0}, tmp = {0};
    sdc_cpbuf_reserve(&cur, n);
    if (!cur.oom) {
        memcpy(cur.v, seg, n * sizeof(uint32_t));
        cur.n = n;
    }
    for (int round = 0; round < FTFY_MAX_ROUNDS && !cur.oom; round++) {
        prev.n = 0;
        sdc_cpbuf_reserve(&prev, cur.n);
        if (prev.oom) break;
        memcpy(prev.v, cur.v, cur.n * sizeof(uint32_t));
        prev.n = cur.n;
        if (unescape) {
            tmp.n = 0;
            ftfy_unescape_html(&cur, &tmp);
            swap_buf(&cur, &tmp);
        }
        tmp.n = 0;
        ftfy_char_fixes(&cur, &tmp);
        cur.n = 0;
        nfc(&tmp, &cur);
        if (tmp.oom) cur.oom = true;
        if (cps_equal(&cur, &prev)) break;
    }
    if (cur.oom || prev.oom || tmp.oom) out->oom = true;
    else
        for (size_t i = 0; i < cur.n; i++) sdc_cpbuf_push(out, cur.v[i]);
    sdc_cpbuf_free(&cur);
    sdc_cpbuf_free(&prev);
    sdc_cpbuf_free(&tmp);
}

/* ftfy.fix_text: per line; HTML unescaping ("auto") switches off for good
 * at the first line that contains '<'. */
static void ftfy_fix_text(const sdc_cpbuf *in, sdc_cpbuf *out) {
    bool unescape = true;
    for (size_t pos = 0; pos < in->n;) {
        size_t end = pos;
        while (end < in->n && in->v[end] != '\n' && end - pos < FTFY_MAX_SEGMENT) end++;
        if (end < in->n && in->v[end] == '\n' && end - pos < FTFY_MAX_SEGMENT) end++;
        for (size_t i = pos; i < end && unescape; i++)
            if (in->v[i] == '<') unescape = false;
        ftfy_segment(in->v + pos, end - pos, unescape, out);
        pos = end;
    }
}

/* ---- lower case --------------------------------------------------------- */

static bool is_cased(uint32_t c) {
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return true;
    return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk and the word-break MidLetter,
 * MidNumLet and Single_Quote characters. */
static bool is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
        return true;
    default:
        break;
    }
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK;
}

/* Python's rule for U+03A3: final form when a cased letter precedes it and
 * none follows (case-ignorable characters skipped both ways). */
static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(s[j - 1])) j--;
    if (j == 0 || !is_cased(s[j - 1])) return false;
    for (j = i + 1; j < n && is_case_ignorable(s[j]); j++) {}
    return j == n || !is_cased(s[j]);
}

static void py_lower(const sdc_cpbuf *in, sdc_cpbuf *out) {
    sdc_cpbuf_reserve(out, in->n);
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i];
        if (c < 0x80) {
            sdc_cpbuf_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else if (c == 0x130) { /* the one unconditional multi-code-point mapping */
            sdc_cpbuf_push(out, 'i');
            sdc_cpbuf_push(out, 0x307);
        } else if (c == 0x3A3) {
            sdc_cpbuf_push(out, final_sigma(in->v, in->n, i) ? 0x3C2 : 0x3C3);
        } else {
            sdc_cpbuf_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
}

/* ---- the whole cleaning ------------------------------------------------- */

/* strip (isspace), runs of \s -> ' ', strip again. */
static void clean_whitespace(const sdc_cpbuf *in, sdc_cpbuf *out) {
    size_t b = 0, e = in->n;
    while (b < e && py_isspace(in->v[b])) b++;
    while (e > b && py_isspace(in->v[e - 1])) e--;
    sdc_cpbuf_reserve(out, e - b);
    for (size_t i = b; i < e; i++) {
        if (sdc_clip_is_space(in->v[i])) {
            if (out->n > 0 && out->v[out->n - 1] != ' ') sdc_cpbuf_push(out, ' ');
            continue;
        }
        sdc_cpbuf_push(out, in->v[i]);
    }
    while (out->n > 0 && py_isspace(out->v[out->n - 1])) out->n--;
}

sdc_status sdc_clip_clean(const char *text, size_t len, uint32_t **out, size_t *n, sdc_error *err) {
    *out = NULL;
    *n = 0;
    sdc_cpbuf a = {0}, b = {0};
    sdc_cpbuf_push_utf8(&a, text, len);
    ftfy_fix_text(&a, &b);
    a.n = 0;
    sdc_html_unescape(b.v, b.n, &a);
    b.n = 0;
    sdc_html_unescape(a.v, a.n, &b);
    a.n = 0;
    clean_whitespace(&b, &a);
    b.n = 0;
    py_lower(&a, &b);
    sdc_cpbuf_reserve(&b, 1); /* a non-NULL result even for empty text */
    if (a.oom || b.oom) {
        sdc_cpbuf_free(&a);
        sdc_cpbuf_free(&b);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory cleaning a %zu-byte text", len);
    }
    sdc_cpbuf_free(&a);
    *out = b.v;
    *n = b.n;
    return SDC_OK;
}

sdc_status sdc_clip_clean_utf8(const char *text, size_t len, char **out, size_t *out_len, sdc_error *err) {
    uint32_t *cps;
    size_t n;
    *out = NULL;
    sdc_status st = sdc_clip_clean(text, len, &cps, &n, err);
    if (st != SDC_OK) return st;
    *out = sdc_cps_to_utf8(cps, n, out_len);
    free(cps);
    if (!*out) return sdc_error_set(err, SDC_ERR_OOM, "out of memory cleaning a %zu-byte text", len);
    return SDC_OK;
}
