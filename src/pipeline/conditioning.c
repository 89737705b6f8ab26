/* Prompt encoding (see conditioning.h). */
#include "pipeline/conditioning.h"

#include <string.h>

sdc_tensor *sdc_encode_chunks(sdc_ctx *c, const sdc_sd_model *m, const sdc_prompt_chunks *ch, int clip_skip) {
    if (!sdc_ctx_ok(c)) return NULL;
    const sdc_clip_text *clip = m->clip;
    int64_t D = clip->cfg.width, T = SDC_PROMPT_CHUNK_LEN, n = (int64_t)ch->n_chunks;
    if (clip_skip <= 0) clip_skip = m->default_clip_skip;
    int64_t layers = clip->cfg.layers - (clip_skip - 1);
    if (layers < 1)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "clip skip %d is more than the text encoder's %lld layers", clip_skip,
                            (long long)clip->cfg.layers);
    sdc_tensor *out = sdc_new_3d(c, 1, n * T, D);
    for (int64_t i = 0; i < n && out; i++) {
        sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
        sdc_tensor *z = sdc_clip_text_forward(c, clip, ch->ids + i * T, 1, T, layers, 1);
        if (!z) return NULL;
        sdc_prompt_apply_weights(z->data, ch->weights + i * T, (size_t)T, (size_t)D);
        memcpy((float *)out->data + i * T * D, z->data, (size_t)(T * D) * sizeof(float));
        sdc_arena_release(&c->arena, mark);
    }
    return out;
}

sdc_tensor *sdc_encode_prompt(sdc_ctx *c, const sdc_sd_model *m, const char *text, int clip_skip) {
    if (!sdc_ctx_ok(c)) return NULL;
    sdc_prompt p;
    sdc_prompt_chunks ch;
    memset(&ch, 0, sizeof ch);
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_prompt_parse(text ? text : "", 0, &p, &err) != SDC_OK)
        return sdc_ctx_fail(c, err.status, "prompt: %s", sdc_error_msg(&err));
    sdc_status st = sdc_prompt_tokenize(m->tok, &p, m->clip->cfg.pad_id, &ch, &err);
    sdc_prompt_free(&p);
    if (st != SDC_OK) return sdc_ctx_fail(c, st, "prompt: %s", sdc_error_msg(&err));
    sdc_tensor *out = sdc_encode_chunks(c, m, &ch, clip_skip);
    sdc_prompt_chunks_free(&ch);
    return out;
}
