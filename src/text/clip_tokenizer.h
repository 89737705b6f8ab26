/* CLIP byte-level BPE tokenizer, giving the same ids as openai/CLIP's
 * SimpleTokenizer and transformers' CLIPTokenizer (with ftfy).
 *
 * Pipeline for a text: cleaning (text_clean.h: ftfy fixes, html.unescape
 * twice, whitespace, lower case) -> CLIP's pre-tokenization regex
 * (<|startoftext|>, <|endoftext|>, 's 't 're 've 'm 'll 'd, runs of letters,
 * single digits, runs of anything else but whitespace) -> each piece's UTF-8
 * bytes mapped to symbols, the last one with "</w>" -> BPE merges by rank.
 *
 * Vocabulary sources: openai's bpe_simple_vocab_16e6.txt.gz (the merges; the
 * vocabulary is derived from them as CLIP does), the same merges list
 * uncompressed, or a diffusers/transformers tokenizer folder (vocab.json +
 * merges.txt). SD 1.x (CLIP ViT-L) and SD 2.x (OpenCLIP ViT-H) use the same
 * vocabulary; only the padding id differs (a parameter of prompt.h).
 *
 * Not here: prompt syntax (prompt.h), the 77-token framing (prompt.h), the
 * text transformer (models/clip_text). Thread safety: a tokenizer caches BPE
 * results, so sdc_clip_tokenize must not run on one tokenizer from two
 * threads at once; load/free/lookup functions are otherwise independent. */
#ifndef SDC_TEXT_CLIP_TOKENIZER_H
#define SDC_TEXT_CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sdc_clip_tokenizer sdc_clip_tokenizer;

/* The canonical file name of CLIP's vocabulary. */
#define SDC_CLIP_VOCAB_FILE "bpe_simple_vocab_16e6.txt.gz"

/* Loads a vocabulary from `path`:
 *   - a directory: its tokenizer/ subfolder (a diffusers model), or the
 *     directory itself, holding vocab.json + merges.txt or
 *     bpe_simple_vocab_16e6.txt.gz;
 *   - a .json file: vocab.json, with merges.txt beside it;
 *   - any other file: a BPE merges list, gzip-compressed or not.
 * On success *out owns everything (free with sdc_clip_tokenizer_free). On
 * failure *out is NULL and err says what is wrong with which file. */
sdc_status sdc_clip_tokenizer_load(const char *path, sdc_clip_tokenizer **out, sdc_error *err);
void sdc_clip_tokenizer_free(sdc_clip_tokenizer *tok);

/* Tokenizes UTF-8 text (NUL-terminated; the _n form takes a length; invalid
 * bytes count as U+FFFD) WITHOUT start/end tokens, no truncation: writes the
 * first min(total, max_ids) ids to ids (may be NULL when max_ids is 0) and the
 * total count to *n_ids, so a caller can size a buffer with a first call.
 * Fails only when out of memory. */
sdc_status sdc_clip_tokenize(sdc_clip_tokenizer *tok, const char *text, int32_t *ids, size_t max_ids,
                             size_t *n_ids, sdc_error *err);
sdc_status sdc_clip_tokenize_n(sdc_clip_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                               size_t max_ids, size_t *n_ids, sdc_error *err);

int32_t sdc_clip_tokenizer_bos(const sdc_clip_tokenizer *tok); /* <|startoftext|>, 49406 in CLIP */
int32_t sdc_clip_tokenizer_eos(const sdc_clip_tokenizer *tok); /* <|endoftext|>, 49407 in CLIP */
/* Number of ids (one more than the largest id). */
size_t sdc_clip_tokenizer_vocab_size(const sdc_clip_tokenizer *tok);

/* The vocabulary string of an id, in CLIP's byte-level form (e.g.
 * "photograph</w>"); NULL for an unknown id. Owned by the tokenizer. */
const char *sdc_clip_tokenizer_token(const sdc_clip_tokenizer *tok, int32_t id);

/* The id of a vocabulary string (e.g. ",</w>"), or -1. */
int32_t sdc_clip_tokenizer_lookup(const sdc_clip_tokenizer *tok, const char *token);

/* Finds a vocabulary for a model, first match wins:
 *   1. explicit (--vocab): must exist, it is an error if it does not;
 *   2. model_path a directory (diffusers): model_path/tokenizer/;
 *      model_path a file: bpe_simple_vocab_16e6.txt.gz beside it;
 *   3. $SDC_VOCAB (a file or a folder);
 *   4. $XDG_DATA_HOME/sdc/ (default ~/.local/share/sdc/), /usr/local/share/sdc/,
 *      /usr/share/sdc/ (each holding bpe_simple_vocab_16e6.txt.gz);
 *   5. for development: ../shared/clip/ and shared/clip/ from the current
 *      directory.
 * explicit and model_path may be NULL. Writes the path to load into out. On
 * failure returns SDC_ERR_IO with a message that says where the file comes
 * from and where to put it. */
sdc_status sdc_clip_vocab_find(const char *explicit_path, const char *model_path, char *out, size_t out_size,
                               sdc_error *err);

#endif
