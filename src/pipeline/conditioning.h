/* Prompt -> text conditioning, as A1111 computes it: prompt syntax
 * (emphasis, BREAK, LoRA tags removed), 77-token chunks encoded one by
 * one, clip skip (hidden state of layer L - skip + 1, then the final layer
 * norm), emphasis applied to each chunk's output with the mean restored,
 * chunks concatenated along the sequence: [1, 77 * chunks, width].
 *
 * Not thread-safe per model (the tokenizer caches); the pipeline encodes
 * on one thread. */
#ifndef SDC_PIPELINE_CONDITIONING_H
#define SDC_PIPELINE_CONDITIONING_H

#include "pipeline/sd_model.h"
#include "tensor/ops.h"
#include "text/prompt.h"

/* clip_skip: A1111 meaning (1 = last layer, 2 = penultimate, ...); 0 =
 * the model's default. Returns [1, 77 * chunks, width] in the context's
 * arena, or NULL with the error in c->err. <lora:...> tags are ignored
 * here (the loader merges LoRAs before encoding). */
sdc_tensor *sdc_encode_prompt(sdc_ctx *c, const sdc_sd_model *m, const char *text, int clip_skip);

/* Encodes already framed chunks (ids and weights [n, 77]). */
sdc_tensor *sdc_encode_chunks(sdc_ctx *c, const sdc_sd_model *m, const sdc_prompt_chunks *chunks, int clip_skip);

#endif
