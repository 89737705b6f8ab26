/* Text cleaning exactly as CLIP's reference tokenizer does it before BPE:
 *
 *   whitespace_clean(basic_clean(text)).lower()
 *
 * basic_clean = ftfy.fix_text (ftfy 6.1.1 defaults), then html.unescape twice,
 * then strip; whitespace_clean = every run of whitespace -> one space, strip;
 * lower = Python's str.lower (full mapping: U+0130 -> "i\u0307", and the final
 * sigma rule). See docs/PROMPTS.md for the ftfy steps implemented and the one
 * that is not (ftfy's mojibake repair, `fix_encoding`).
 *
 * Does not split into words or tokens (clip_tokenizer.c does); does not parse
 * prompt syntax (prompt.c does). Thread-safe (no shared state). */
#ifndef SDC_TEXT_TEXT_CLEAN_H
#define SDC_TEXT_TEXT_CLEAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/utf8.h"

/* Cleans UTF-8 text[0..len) (invalid bytes become U+FFFD) into code points.
 * *out is malloc'd (caller frees; non-NULL on success even when *n == 0).
 * Fails only with SDC_ERR_OOM. */
sdc_status sdc_clip_clean(const char *text, size_t len, uint32_t **out, size_t *n, sdc_error *err);

/* The same, as a malloc'd NUL-terminated UTF-8 string (caller frees). */
sdc_status sdc_clip_clean_utf8(const char *text, size_t len, char **out, size_t *out_len, sdc_error *err);

/* Python's html.unescape on code points: named references from the HTML5
 * list (with and without ';', longest prefix), decimal and hex numeric
 * references with HTML5's fixes for invalid numbers. Appends the result of
 * in[0..n) to out. Exposed for tests. */
void sdc_html_unescape(const uint32_t *in, size_t n, sdc_cpbuf *out);

/* The whitespace set of CLIP's pre-tokenization regex (\s of Python's
 * `regex` module: Unicode White_Space). */
bool sdc_clip_is_space(uint32_t cp);

#endif
