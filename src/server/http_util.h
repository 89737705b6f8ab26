/* Pure helpers for the HTTP server: base64 (with data: URLs), URL query
 * strings, multipart/form-data bodies and bounded JSON parsing (safe file
 * names inside folders: workflow/files.h).
 *
 * Everything here works on bytes the client sent, so every size is checked
 * and every failure is a status with a message (never a crash). No sockets,
 * no civetweb: the functions are unit-tested on their own and fuzzable.
 * Thread-safe (no shared state). */
#ifndef SDC_SERVER_HTTP_UTIL_H
#define SDC_SERVER_HTTP_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* ---- base64 ---------------------------------------------------------------- */

/* Standard base64 with padding into a malloc'd NUL-terminated string
 * (*out_len without the NUL). */
sdc_status sdc_b64_encode(const uint8_t *data, size_t size, char **out, size_t *out_len, sdc_error *err);

/* Decodes standard or URL-safe base64 (padding optional, whitespace
 * ignored). A "data:...;base64," prefix is skipped, as A1111 accepts. The
 * result is malloc'd. Bad characters or a truncated quantum are
 * SDC_ERR_FORMAT. */
sdc_status sdc_b64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len, sdc_error *err);

/* ---- URL query strings ------------------------------------------------------ */

/* Value of `name` in a query string "a=1&b=x%20y" (URL-decoded, '+' is a
 * space) into out (size bytes, NUL-terminated). Returns the decoded length,
 * -1 when absent, -2 when it does not fit or decodes to a NUL byte. */
int sdc_query_get(const char *query, const char *name, char *out, size_t size);

/* ---- multipart/form-data ---------------------------------------------------- */

typedef struct sdc_form_part {
    char name[128];
    char filename[256]; /* "" when the part is not a file */
    char content_type[128];
    const uint8_t *data; /* points into the body */
    size_t size;
} sdc_form_part;

#define SDC_FORM_MAX_PARTS 32

typedef struct sdc_form {
    sdc_form_part parts[SDC_FORM_MAX_PARTS];
    int n;
} sdc_form;

/* Parses a multipart body given the request's Content-Type header (which
 * carries the boundary). Parts borrow the body's bytes. Malformed bodies
 * (no boundary, missing headers, unterminated parts, too many parts) are
 * SDC_ERR_FORMAT. */
sdc_status sdc_form_parse(const char *content_type, const uint8_t *body, size_t size, sdc_form *form, sdc_error *err);
/* The first part named `name`, or NULL. */
const sdc_form_part *sdc_form_get(const sdc_form *form, const char *name);

/* ---- JSON ------------------------------------------------------------------- */

#define SDC_JSON_MAX_DEPTH 64

/* Parses a JSON document of len bytes that must be an object (or, with
 * any_type, any value) no deeper than SDC_JSON_MAX_DEPTH. The message says
 * where parsing failed. */
sdc_status sdc_json_parse_bounded(const char *text, size_t len, int any_type, json_t **out, sdc_error *err);
/* Nesting depth of a value (scalars 0). */
int sdc_json_depth(const json_t *v);

#endif
