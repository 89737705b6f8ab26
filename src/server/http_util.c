/* HTTP helpers (see http_util.h): base64, query strings, multipart bodies,
 * bounded JSON. No I/O. */
#include "server/http_util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/util.h"

/* ---- base64 ---------------------------------------------------------------- */

static const char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

sdc_status sdc_b64_encode(const uint8_t *data, size_t size, char **out, size_t *out_len, sdc_error *err) {
    *out = NULL;
    size_t groups = size / 3 + (size % 3 != 0), n, bytes;
    if (!sdc_mul_ok(groups, 4, &n) || !sdc_add_ok(n, 1, &bytes)) return sdc_error_set(err, SDC_ERR_OOM, "base64: too large");
    char *s = malloc(bytes);
    if (!s) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < size) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size) v |= data[i + 2];
        s[o++] = k_b64[(v >> 18) & 63];
        s[o++] = k_b64[(v >> 12) & 63];
        s[o++] = i + 1 < size ? k_b64[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < size ? k_b64[v & 63] : '=';
    }
    s[o] = '\0';
    *out = s;
    if (out_len) *out_len = o;
    return SDC_OK;
}

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* skips "data:<mime>;base64," */
static void skip_data_url(const char **text, size_t *len) {
    if (*len < 5 || strncasecmp(*text, "data:", 5) != 0) return;
    const char *comma = memchr(*text, ',', *len);
    if (!comma) return;
    *len -= (size_t)(comma + 1 - *text);
    *text = comma + 1;
}

sdc_status sdc_b64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len, sdc_error *err) {
    *out = NULL;
    *out_len = 0;
    skip_data_url(&text, &len);
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t o = 0;
    uint32_t acc = 0;
    int nbits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(buf);
            return sdc_error_set(err, SDC_ERR_FORMAT, "invalid base64: unexpected character at offset %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            buf[o++] = (uint8_t)(acc >> nbits);
        }
    }
    if (nbits >= 6 || pad > 2) { /* one lone symbol in the last quantum, or too much padding */
        free(buf);
        return sdc_error_set(err, SDC_ERR_FORMAT, "invalid base64: truncated data");
    }
    *out = buf;
    *out_len = o;
    return SDC_OK;
}

/* ---- query strings ----------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* URL-decodes src[0..n) into out; -2 when it does not fit or holds NUL */
static int url_decode(const char *src, size_t n, char *out, size_t size) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '+') c = ' ';
        else if (c == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            c = hexval(src[i + 1]) * 16 + hexval(src[i + 2]);
            i += 2;
        }
        if (c == 0 || o + 1 >= size) return -2;
        out[o++] = (char)c;
    }
    if (size == 0) return -2;
    out[o] = '\0';
    return (int)o;
}

int sdc_query_get(const char *query, const char *name, char *out, size_t size) {
    if (!query || !name) return -1;
    size_t nl = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        char key[256];
        if (klen < sizeof key && url_decode(p, klen, key, sizeof key) >= 0 && strlen(key) == nl &&
            memcmp(key, name, nl) == 0) {
            if (!eq) return size ? (out[0] = '\0', 0) : -2;
            return url_decode(eq + 1, len - klen - 1, out, size);
        }
        if (!end) break;
        p = end + 1;
    }
    return -1;
}

/* ---- multipart ------------------------------------------------------------------ */

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || n < m) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == (uint8_t)needle[0] && memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

/* boundary="..." or boundary=... from the Content-Type header */
static int form_boundary(const char *ct, char *out, size_t size) {
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) return -1;
    const char *b = strcasestr(ct, "boundary=");
    if (!b) return -1;
    b += 9;
    size_t n;
    if (*b == '"') {
        const char *e = strchr(++b, '"');
        if (!e) return -1;
        n = (size_t)(e - b);
    } else {
        n = strcspn(b, "; \t");
    }
    if (n == 0 || n + 3 > size || n > 70) return -1;
    memcpy(out, "--", 2);
    memcpy(out + 2, b, n);
    out[n + 2] = '\0';
    return 0;
}

/* value of attribute `attr` ("name", "filename") in a Content-Disposition line */
static void disposition_attr(const char *line, size_t len, const char *attr, char *out, size_t size) {
    out[0] = '\0';
    size_t al = strlen(attr);
    for (size_t i = 0; i + al + 1 < len; i++) {
        if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') && strncasecmp(line + i, attr, al) == 0 &&
            line[i + al] == '=') {
            const char *v = line + i + al + 1;
            size_t rest = len - (i + al + 1), n = 0;
            if (rest && *v == '"') {
                v++, rest--;
                while (n < rest && v[n] != '"') n++;
            } else {
                while (n < rest && v[n] != ';' && v[n] != ' ') n++;
            }
            if (n >= size) n = size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

/* headers of one part: [p, hend) */
static void part_headers(const uint8_t *p, const uint8_t *hend, sdc_form_part *part) {
    while (p < hend) {
        const uint8_t *eol = find_bytes(p, (size_t)(hend - p), "\r\n", 2);
        size_t len = eol ? (size_t)(eol - p) : (size_t)(hend - p);
        const char *line = (const char *)p;
        if (len > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) {
            disposition_attr(line + 20, len - 20, "name", part->name, sizeof part->name);
            disposition_attr(line + 20, len - 20, "filename", part->filename, sizeof part->filename);
        } else if (len > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
            size_t s = 13;
            while (s < len && line[s] == ' ') s++;
            size_t n = SDC_MIN(len - s, sizeof part->content_type - 1);
            memcpy(part->content_type, line + s, n);
            part->content_type[n] = '\0';
        }
        p += len + 2;
    }
}

sdc_status sdc_form_parse(const char *content_type, const uint8_t *body, size_t size, sdc_form *form, sdc_error *err) {
    memset(form, 0, sizeof *form);
    char bnd[80], delim[84];
    if (form_boundary(content_type, bnd, sizeof bnd)) return sdc_error_set(err, SDC_ERR_FORMAT, "not a multipart/form-data body with a boundary");
    size_t bl = strlen(bnd);
    snprintf(delim, sizeof delim, "\r\n%s", bnd);
    const uint8_t *p = find_bytes(body, size, bnd, bl), *end = body + size;
    if (!p) return sdc_error_set(err, SDC_ERR_FORMAT, "multipart body without its boundary");
    p += bl;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return SDC_OK; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return sdc_error_set(err, SDC_ERR_FORMAT, "malformed multipart delimiter");
        p += 2;
        const uint8_t *hend = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) return sdc_error_set(err, SDC_ERR_FORMAT, "multipart part without headers");
        if (form->n == SDC_FORM_MAX_PARTS) return sdc_error_set(err, SDC_ERR_FORMAT, "more than %d multipart parts", SDC_FORM_MAX_PARTS);
        sdc_form_part *part = &form->parts[form->n];
        memset(part, 0, sizeof *part);
        part_headers(p, hend + 2, part);
        const uint8_t *data = hend + 4;
        const uint8_t *next = find_bytes(data, (size_t)(end - data), delim, bl + 2);
        if (!next) return sdc_error_set(err, SDC_ERR_FORMAT, "unterminated multipart part");
        if (!part->name[0]) return sdc_error_set(err, SDC_ERR_FORMAT, "multipart part without a name");
        part->data = data;
        part->size = (size_t)(next - data);
        form->n++;
        p = next + bl + 2;
    }
}

const sdc_form_part *sdc_form_get(const sdc_form *form, const char *name) {
    for (int i = 0; i < form->n; i++)
        if (strcmp(form->parts[i].name, name) == 0) return &form->parts[i];
    return NULL;
}

/* ---- JSON -------------------------------------------------------------------------- */

int sdc_json_depth(const json_t *v) {
    int d = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) d = SDC_MAX(d, sdc_json_depth(x));
        return d + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) d = SDC_MAX(d, sdc_json_depth(x));
        return d + 1;
    }
    return 0;
}

/* nesting of the raw text, so a hostile document is refused before the
 * parser recurses into it */
static int text_depth_ok(const char *t, size_t n) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > SDC_JSON_MAX_DEPTH) return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

sdc_status sdc_json_parse_bounded(const char *text, size_t len, int any_type, json_t **out, sdc_error *err) {
    *out = NULL;
    if (!text_depth_ok(text, len))
        return sdc_error_set(err, SDC_ERR_FORMAT, "JSON nested deeper than %d levels", SDC_JSON_MAX_DEPTH);
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v) return sdc_error_set(err, SDC_ERR_FORMAT, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!any_type && !json_is_object(v)) {
        json_decref(v);
        return sdc_error_set(err, SDC_ERR_FORMAT, "the body must be a JSON object");
    }
    *out = v;
    return SDC_OK;
}
