/* `sdc encode-text`: the text conditioning of a prompt as sdc computes it
 * for generation (A1111 prompt syntax, 77-token chunks, clip skip,
 * emphasis), written as float32 tensor `context` [1, 77*k, D] (and
 * `negative_context` for --negative-prompt). Loads only the text encoder. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "formats/safetensors.h"
#include "pipeline/conditioning.h"

static void weight_of(const sdc_tensor *t, const char *name, sdc_weight_info *w) {
    memset(w, 0, sizeof *w);
    w->name = (char *)name;
    w->dtype = SDC_DTYPE_F32;
    w->ndim = 3;
    for (int i = 0; i < 3; i++) w->shape[i] = t->shape[i];
    w->data = t->data;
    w->nbytes = (size_t)sdc_tensor_numel(t) * sizeof(float);
}

int sdc_cmd_encode_text(int argc, char **argv) {
    const char *model = NULL, *vocab = NULL, *prompt = NULL, *negative = NULL, *output = NULL;
    int clip_skip = 0;
    bool overwrite = false;
    sdc_arg args[] = {
        {"--model", "-m", SDC_ARG_STRING, &model, 0, 0, "checkpoint or diffusers folder (required)", "PATH"},
        {"--prompt", "-p", SDC_ARG_STRING, &prompt, 0, 0, "prompt (A1111 syntax) (required)", "TEXT"},
        {"--negative-prompt", "-n", SDC_ARG_STRING, &negative, 0, 0, "also encode this as negative_context", "TEXT"},
        {"--clip-skip", NULL, SDC_ARG_INT, &clip_skip, 1, 24, "1 = last layer, 2 = penultimate (model default)", "N"},
        {"--vocab", NULL, SDC_ARG_STRING, &vocab, 0, 0, "CLIP vocabulary", "PATH"},
        {"--output", "-o", SDC_ARG_STRING, &output, 0, 0, "output .safetensors (required)", "FILE"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &overwrite, 0, 0, "replace an existing output", NULL},
    };
    int rc = sdc_args_parse(argc, argv, args, (int)(sizeof args / sizeof *args),
                            "sdc encode-text --model M --prompt P [--negative-prompt N] [--clip-skip K] --output FILE",
                            NULL, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    if (!model || !prompt || !output) {
        fprintf(stderr, "sdc encode-text: --model, --prompt and --output are required\n");
        return 2;
    }
    sdc_error err;
    sdc_error_clear(&err);
    sdc_sd_model_opts mo = {.model_path = model, .vocab_path = vocab, .mat_dtype = SDC_WLOAD_KEEP, .prediction = -1,
                            .text_only = 1};
    sdc_sd_model *m = NULL;
    sdc_status st = sdc_sd_model_load(&mo, &m, &err);
    if (st) {
        fprintf(stderr, "sdc encode-text: %s\n", sdc_error_msg(&err));
        return st == SDC_ERR_OOM || st == SDC_ERR_INTERNAL ? 1 : 2;
    }
    sdc_pool *pool = sdc_pool_create(0);
    sdc_ctx c;
    sdc_ctx_init(&c, pool, 0);
    sdc_tensor *ctx = sdc_encode_prompt(&c, m, prompt, clip_skip);
    sdc_tensor *neg = negative ? sdc_encode_prompt(&c, m, negative, clip_skip) : NULL;
    rc = 0;
    if (!sdc_ctx_ok(&c)) {
        fprintf(stderr, "sdc encode-text: %s\n", sdc_error_msg(&c.err));
        rc = 2;
    } else {
        sdc_weight_info w[2];
        weight_of(ctx, "context", &w[0]);
        if (neg) weight_of(neg, "negative_context", &w[1]);
        if (sdc_safetensors_write(output, w, neg ? 2 : 1, NULL, NULL, 0, overwrite, &err) != SDC_OK) {
            fprintf(stderr, "sdc encode-text: %s\n", sdc_error_msg(&err));
            rc = 2;
        }
    }
    sdc_ctx_free(&c);
    sdc_pool_destroy(pool);
    sdc_sd_model_free(m);
    return rc;
}
