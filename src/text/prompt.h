/* Prompt syntax as AUTOMATIC1111's web UI reads it, and the framing of a
 * prompt into CLIP's 77-token windows ("long prompts"). docs/PROMPTS.md has
 * the rules with examples and the few deliberate differences.
 *
 *   (word) x1.1   ((word)) x1.21   (word:1.3)   [word] /1.1
 *   \( \) \[ \] \\ literal characters; unbalanced brackets apply to the end
 *   BREAK          ends the current 75-token chunk
 *   <lora:name:te[:unet[:dyn]]> (also <lyco:...>, <hypernet:name:m>, and
 *                  any <kind:args>): removed from the text, returned in a list
 *   # comment      to the end of the line (A1111's default; a flag turns it off)
 *
 * Not here: prompt editing/scheduling ([a:b:0.5], [a|b]) and composable
 * "AND" (A1111's outer layers; the text is read literally), textual
 * inversion embeddings. The encoder applies the token weights with
 * sdc_prompt_apply_weights. Thread-safe: no shared state (the tokenizer
 * passed in is used, see clip_tokenizer.h). */
#ifndef SDC_TEXT_PROMPT_H
#define SDC_TEXT_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/clip_tokenizer.h"

#define SDC_PROMPT_CHUNK_TOKENS 75 /* prompt tokens per chunk */
#define SDC_PROMPT_CHUNK_LEN 77    /* with the start and end tokens */
/* A1111's comma_padding_backtrack: a chunk that fills up moves the words
 * after its last comma to the next chunk when that comma is within this
 * many tokens of the end. */
#define SDC_PROMPT_COMMA_BACKTRACK 20

/* Flags of sdc_prompt_parse. */
#define SDC_PROMPT_NO_EMPHASIS 1u /* A1111 emphasis "None": brackets are plain text */
#define SDC_PROMPT_NO_COMMENTS 2u /* keep '#' and what follows it */

typedef struct sdc_prompt_fragment {
    char *text;    /* UTF-8, escapes resolved; "" possible */
    double weight; /* product of the enclosing brackets' multipliers */
    bool is_break; /* a BREAK (text "" and weight 1) */
} sdc_prompt_fragment;

/* One <kind:arg:arg...> tag. For lora/lyco: name = first positional arg,
 * te_multiplier = second (default 1), unet_multiplier = third (default: te),
 * dyn_dim = fourth (default -1 = none); named args te=, unet=, dyn= override.
 * For hypernet: te_multiplier is its multiplier (default 1), unet equal. */
typedef struct sdc_prompt_network {
    char *kind; /* "lora", "lyco", "hypernet", or whatever the tag said */
    char *name; /* first positional argument ("" when none) */
    char **args; /* every ':'-separated argument, as written */
    size_t n_args;
    double te_multiplier, unet_multiplier;
    int dyn_dim;
} sdc_prompt_network;

typedef struct sdc_prompt {
    sdc_prompt_fragment *frags; /* at least one */
    size_t n_frags;
    sdc_prompt_network *nets;
    size_t n_nets;
} sdc_prompt;

/* Parses prompt text (UTF-8, NUL-terminated). On success *out owns its
 * memory (sdc_prompt_free). Fails with SDC_ERR_INVALID_ARG for a weight or
 * multiplier that is not a number, e.g. "(cat:1.2.3)" (A1111 stops with an
 * error there too), and SDC_ERR_OOM. */
sdc_status sdc_prompt_parse(const char *text, unsigned flags, sdc_prompt *out, sdc_error *err);
void sdc_prompt_free(sdc_prompt *p);

/* A prompt framed for the text encoder: n_chunks windows of 77 tokens, each
 * start + up to 75 prompt tokens + end, then pad_id to the end (SD 1.x pads
 * with the end token 49407, SD 2.x / OpenCLIP with 0). Weights are 1 for
 * start, end and padding. */
typedef struct sdc_prompt_chunks {
    int32_t *ids;   /* [n_chunks, 77] */
    float *weights; /* [n_chunks, 77] */
    size_t n_chunks;
    size_t n_tokens; /* A1111's token count: 75 per full chunk + tokens of the last */
} sdc_prompt_chunks;

/* Tokenizes each fragment on its own and fills chunks as A1111 does: a BREAK
 * or a full chunk starts the next one; a chunk that fills up moves the
 * tokens after its last comma (",</w>") to the next chunk when that comma is
 * within SDC_PROMPT_COMMA_BACKTRACK tokens of its end; an empty prompt gives
 * one chunk. *out is malloc'd (sdc_prompt_chunks_free). */
sdc_status sdc_prompt_tokenize(sdc_clip_tokenizer *tok, const sdc_prompt *p, int32_t pad_id, sdc_prompt_chunks *out,
                               sdc_error *err);
void sdc_prompt_chunks_free(sdc_prompt_chunks *c);

/* A1111's emphasis ("Original"), applied by the encoder to one chunk's
 * output hidden states z [T, D] (T = 77, after the final layer norm or the
 * clip-skip layer): m = mean(z); z[t][:] *= w[t]; z *= m / mean(z). Means
 * over all T*D values, accumulated in double. When the weighted mean is 0 the
 * rescale is skipped (A1111 would divide by zero). */
void sdc_prompt_apply_weights(float *z, const float *w, size_t t, size_t d);

#endif
