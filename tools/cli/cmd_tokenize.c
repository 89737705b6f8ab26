/* `sdc tokenize [--vocab FILE] TEXT...`: prints the CLIP token ids of TEXT on
 * one line, separated by spaces, framed by the start and end tokens,
 * untruncated and unpadded (docs/DESIGN.md section 2). TEXT is raw text: no
 * prompt syntax. Several TEXT arguments are joined with single spaces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "text/clip_tokenizer.h"

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: sdc tokenize [--vocab PATH] [--] TEXT...\n"
            "Prints the CLIP token ids of TEXT (start and end tokens included, no\n"
            "truncation, no padding, no prompt syntax).\n"
            "  --vocab PATH   " SDC_CLIP_VOCAB_FILE ", a vocab.json (merges.txt beside it),\n"
            "                 or a folder holding either (a diffusers model or its tokenizer/)\n"
            "Without --vocab: $SDC_VOCAB, ~/.local/share/sdc/, /usr/local/share/sdc/,\n"
            "/usr/share/sdc/ (see docs/PROMPTS.md).\n");
}

/* Joins argv[first..argc) with spaces into a malloc'd string. */
static char *join_args(int argc, char **argv, int first) {
    size_t len = 1;
    for (int i = first; i < argc; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = first; i < argc; i++) {
        if (i > first) strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static int print_ids(sdc_clip_tokenizer *tok, const char *text) {
    sdc_error err = {0};
    size_t n = 0;
    if (sdc_clip_tokenize(tok, text, NULL, 0, &n, &err) != SDC_OK) goto fail;
    int32_t *ids = malloc((n ? n : 1) * sizeof(int32_t));
    if (!ids) {
        fprintf(stderr, "sdc tokenize: out of memory\n");
        return 1;
    }
    if (sdc_clip_tokenize(tok, text, ids, n, &n, &err) != SDC_OK) {
        free(ids);
        goto fail;
    }
    printf("%d", (int)sdc_clip_tokenizer_bos(tok));
    for (size_t i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf(" %d\n", (int)sdc_clip_tokenizer_eos(tok));
    free(ids);
    return 0;
fail:
    fprintf(stderr, "sdc tokenize: %s\n", sdc_error_msg(&err));
    return 1;
}

int sdc_cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            tokenize_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--vocab") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sdc tokenize: --vocab needs a path\n");
                return 2;
            }
            vocab = argv[++i];
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sdc tokenize: unknown option '%s' (use -- before text that starts with '-')\n", argv[i]);
            tokenize_usage(stderr);
            return 2;
        }
        break;
    }
    if (i >= argc) {
        tokenize_usage(stderr);
        return 2;
    }
    sdc_error err = {0};
    char path[4096];
    if (sdc_clip_vocab_find(vocab, NULL, path, sizeof path, &err) != SDC_OK) {
        fprintf(stderr, "sdc tokenize: %s\n", sdc_error_msg(&err));
        return 2;
    }
    sdc_clip_tokenizer *tok = NULL;
    if (sdc_clip_tokenizer_load(path, &tok, &err) != SDC_OK) {
        fprintf(stderr, "sdc tokenize: %s\n", sdc_error_msg(&err));
        return 1;
    }
    char *text = join_args(argc, argv, i);
    int rc = 1;
    if (!text) fprintf(stderr, "sdc tokenize: out of memory\n");
    else rc = print_ids(tok, text);
    free(text);
    sdc_clip_tokenizer_free(tok);
    return rc;
}
