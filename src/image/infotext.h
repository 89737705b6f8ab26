/* A1111 "infotext": the generation parameters A1111 writes into a PNG's
 * `parameters` text chunk, formatted and parsed as A1111 does
 * (modules/processing.py create_infotext, modules/infotext_utils.py).
 *
 * Layout: the prompt (may span lines), then "Negative prompt: ..." (may span
 * lines) when there is one, then one line "Key: value, Key: value, ...".
 * Values containing ',', ':' or a newline are written as JSON strings
 * (json.dumps(v, ensure_ascii=False)); the parser reads the last line with
 * A1111's regex and unquotes JSON strings. The last line counts as
 * parameters only when it holds at least 3 key/value pairs; otherwise it is
 * part of the prompt. Each prompt line is stripped of surrounding spaces.
 *
 * Known fields map to struct members; every other key keeps its text in
 * `extra`, in order. Differences from A1111: "\w" in keys is taken as ASCII
 * letters, digits, '_' and any non-ASCII byte; whitespace is ASCII only;
 * other "WxH" values stay whole in `extra` (A1111 splits them into K-1/K-2).
 *
 * Not here: reading/writing the PNG chunk (png_io.h), ComfyUI's JSON. */
#ifndef SDC_IMAGE_INFOTEXT_H
#define SDC_IMAGE_INFOTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sdc_infotext_kv {
    char *key;   /* owned */
    char *value; /* owned; NULL for a bare key (A1111 writes "K" when value == key) */
} sdc_infotext_kv;

/* Unset members: NULL strings, -1 integers (seed: INT64_MIN), NaN doubles,
 * 0 width / height / clip_skip. */
typedef struct sdc_gen_params {
    char *prompt, *negative_prompt; /* never NULL after init / parse ("" when empty) */
    int steps;
    char *sampler;   /* "Sampler", e.g. "Euler a", "DPM++ 2M" */
    char *scheduler; /* "Schedule type", e.g. "Karras" */
    double cfg_scale;
    int64_t seed;
    int width, height; /* "Size: WxH" */
    char *model_hash, *model_name;
    double denoising_strength;
    int clip_skip; /* written only when > 1 (A1111); parse gives 1 when absent */
    char *version;
    sdc_infotext_kv *extra;
    size_t n_extra;
} sdc_gen_params;

/* Sets every member to unset, prompts to "". */
sdc_status sdc_gen_params_init(sdc_gen_params *p, sdc_error *err);
void sdc_gen_params_free(sdc_gen_params *p);
/* Replaces an owned string member (*field) with a copy of value (NULL ok). */
sdc_status sdc_gen_params_set_str(char **field, const char *value, sdc_error *err);
/* Appends an extra key (value NULL = bare key). */
sdc_status sdc_gen_params_add_extra(sdc_gen_params *p, const char *key, const char *value, sdc_error *err);

/* A float setting as the user typed it (0.7f -> 0.7, not 0.699999988...):
 * the shortest decimal that reads back as the same float. */
double sdc_infotext_float(float f);

/* Formats the infotext into a malloc'd string *out (caller frees). */
sdc_status sdc_infotext_format(const sdc_gen_params *p, char **out, sdc_error *err);

/* Parses an infotext into *p (initialised here; free with
 * sdc_gen_params_free even on failure). Fails only when out of memory;
 * unknown keys and values that do not parse land in `extra`. */
sdc_status sdc_infotext_parse(const char *text, sdc_gen_params *p, sdc_error *err);

/* The first half of parsing: prompt, negative prompt, and every key/value
 * pair of the parameter line in order, unquoted, all in p->extra (no
 * field mapping, no defaults). Same ownership as sdc_infotext_parse. */
sdc_status sdc_infotext_split(const char *text, sdc_gen_params *p, sdc_error *err);

/* A1111's quote(): the value as is, or as a JSON string when it contains
 * ',', ':' or '\n'. Returns a malloc'd string or NULL on OOM. */
char *sdc_infotext_quote(const char *value);

#endif
