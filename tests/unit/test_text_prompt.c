/* Prompt syntax (A1111 rules) and 77-token chunking.
 *
 * Expected fragments come from A1111's own doctests of
 * parse_prompt_attention (exact doubles as Python printed them) and from
 * cases worked out by hand from its rules; token ids from openai/CLIP's
 * tokenizer (a photograph.. as in test_text_tokenizer.c; cat 2368, dog 1929,
 * ',' 267, a 320, b 321, important 2829, word 2653, an 550). Weights are
 * compared exactly: they are products of the same doubles in the same
 * order as in A1111. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "text/clip_tokenizer.h"
#include "text/prompt.h"

#define BOS 49406
#define EOS 49407
#define CAT 2368
#define DOG 1929
#define COMMA 267

typedef struct want_frag {
    const char *text; /* NULL: a BREAK */
    double weight;
} want_frag;

static void check_frags(const char *prompt, unsigned flags, const want_frag *want, size_t n, int line) {
    sdc_prompt p;
    sdc_error err = {0};
    if (sdc_prompt_parse(prompt, flags, &p, &err) != SDC_OK) {
        sdc_test_fail(__FILE__, line, "'%s': %s", prompt, sdc_error_msg(&err));
        return;
    }
    bool ok = p.n_frags == n;
    for (size_t i = 0; ok && i < n; i++) {
        if (!want[i].text) ok = p.frags[i].is_break;
        else ok = !p.frags[i].is_break && strcmp(p.frags[i].text, want[i].text) == 0 && p.frags[i].weight == want[i].weight;
    }
    if (!ok) {
        sdc_test_fail(__FILE__, line, "'%s': fragments differ; got %zu:", prompt, p.n_frags);
        for (size_t i = 0; i < p.n_frags; i++)
            fprintf(stderr, "      [%s'%s', %.17g]\n", p.frags[i].is_break ? "BREAK " : "", p.frags[i].text,
                    p.frags[i].weight);
    }
    sdc_prompt_free(&p);
}

#define FRAGS(prompt, flags, ...)                                                         \
    do {                                                                                  \
        static const want_frag w_[] = {__VA_ARGS__};                                      \
        check_frags(prompt, flags, w_, sizeof w_ / sizeof w_[0], __LINE__);               \
    } while (0)

TEST(text_prompt_a1111_doctests) {
    FRAGS("normal text", 0, {"normal text", 1.0});
    FRAGS("an (important) word", 0, {"an ", 1.0}, {"important", 1.1}, {" word", 1.0});
    FRAGS("(unbalanced", 0, {"unbalanced", 1.1});
    FRAGS("\\(literal\\]", 0, {"(literal]", 1.0});
    FRAGS("(unnecessary)(parens)", 0, {"unnecessaryparens", 1.1});
    FRAGS("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", 0, {"a ", 1.0}, {"house", 1.5730000000000004},
          {" ", 1.1}, {"on", 1.0}, {" a ", 1.1}, {"hill", 0.55}, {", sun, ", 1.1}, {"sky", 1.4641000000000006},
          {".", 1.1});
}

TEST(text_prompt_emphasis_rules) {
    FRAGS("((word))", 0, {"word", 1.2100000000000002});
    FRAGS("[word]", 0, {"word", 0.9090909090909091});
    FRAGS("[[word]]", 0, {"word", 0.8264462809917354});
    FRAGS("(word:1.3)", 0, {"word", 1.3});
    FRAGS("(word : 1.5 )", 0, {"word ", 1.5});      /* spaces around the number */
    FRAGS("(a:1.1)(b)", 0, {"ab", 1.1}); /* equal weights merge */
    FRAGS("a:1.2) b", 0, {"a:1.2) b", 1.0});           /* no open bracket: text */
    FRAGS("a) b] c:", 0, {"a) b] c:", 1.0});
    FRAGS("unbalanced]", 0, {"unbalanced]", 1.0});
    FRAGS("a \\\\ b \\c", 0, {"a \\ b c", 1.0});        /* \\ is '\', a lone '\' vanishes */
    FRAGS("(a\\)b)", 0, {"a)b", 1.1});
    FRAGS("", 0, {"", 1.0});
    FRAGS("(word)", SDC_PROMPT_NO_EMPHASIS, {"(word)", 1.0});
    sdc_prompt p;
    sdc_error err = {0};
    CHECK(sdc_prompt_parse("(cat:1.2.3)", 0, &p, &err) == SDC_ERR_INVALID_ARG);
    CHECK(strstr(sdc_error_msg(&err), "1.2.3") != NULL);
    sdc_error_clear(&err);
    CHECK(sdc_prompt_parse("(cat:.)", 0, &p, &err) == SDC_ERR_INVALID_ARG);
}

TEST(text_prompt_break_and_comments) {
    FRAGS("a BREAK b", 0, {"a", 1.0}, {NULL, 0}, {"b", 1.0});
    FRAGS("a\nBREAK\tb", 0, {"a", 1.0}, {NULL, 0}, {"b", 1.0});
    FRAGS("aBREAK b BREAKs BREAK_x", 0, {"aBREAK b BREAKs BREAK_x", 1.0});
    FRAGS("a BREAK", 0, {"a", 1.0}, {NULL, 0}, {"", 1.0});
    FRAGS("(a BREAK b)", 0, {"a", 1.1}, {NULL, 0}, {"b", 1.1});
    FRAGS("a, b # not this\nc", 0, {"a, b \nc", 1.0});
    FRAGS("# whole line\nc", 0, {"\nc", 1.0});
    FRAGS("a # x", SDC_PROMPT_NO_COMMENTS, {"a # x", 1.0});
}

TEST(text_prompt_network_tags) {
    sdc_prompt p;
    sdc_error err = {0};
    REQUIRE(sdc_prompt_parse("a <lora:foo:0.8> cat <lyco:bar:0.5:0.7> <hypernet:h> <lora:x:te=0.25:unet=0.75:dyn=8>"
                             " <foo:bar> <lora:>x",
                             0, &p, &err) == SDC_OK);
    REQUIRE(p.n_nets == 5);
    CHECK(p.n_frags == 1 && strcmp(p.frags[0].text, "a  cat     <lora:>x") == 0);
    CHECK(strcmp(p.nets[0].kind, "lora") == 0 && strcmp(p.nets[0].name, "foo") == 0);
    CHECK(p.nets[0].te_multiplier == 0.8 && p.nets[0].unet_multiplier == 0.8 && p.nets[0].dyn_dim == -1);
    CHECK(strcmp(p.nets[1].kind, "lyco") == 0 && strcmp(p.nets[1].name, "bar") == 0);
    CHECK(p.nets[1].te_multiplier == 0.5 && p.nets[1].unet_multiplier == 0.7);
    CHECK(strcmp(p.nets[2].kind, "hypernet") == 0 && p.nets[2].te_multiplier == 1.0 && p.nets[2].n_args == 1);
    CHECK(p.nets[3].te_multiplier == 0.25 && p.nets[3].unet_multiplier == 0.75 && p.nets[3].dyn_dim == 8);
    CHECK(strcmp(p.nets[4].kind, "foo") == 0 && strcmp(p.nets[4].name, "bar") == 0);
    sdc_prompt_free(&p);
    CHECK(sdc_prompt_parse("<lora:foo:strong>", 0, &p, &err) == SDC_ERR_INVALID_ARG);
}

static sdc_clip_tokenizer *tokenizer(void) {
    sdc_error err = {0};
    sdc_clip_tokenizer *tok = NULL;
    if (sdc_clip_tokenizer_load(sdc_test_shared("clip/bpe_simple_vocab_16e6.txt.gz"), &tok, &err) != SDC_OK)
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return tok;
}

static bool chunks_of(sdc_clip_tokenizer *tok, const char *text, int32_t pad, sdc_prompt_chunks *c) {
    sdc_prompt p;
    sdc_error err = {0};
    if (sdc_prompt_parse(text, 0, &p, &err) != SDC_OK) return false;
    sdc_status st = sdc_prompt_tokenize(tok, &p, pad, c, &err);
    sdc_prompt_free(&p);
    return st == SDC_OK;
}

/* Expected chunk: start, body, end, then pad; weights 1 except body_w. */
static bool chunk_is(const sdc_prompt_chunks *c, size_t k, const int32_t *body, const float *body_w, size_t n,
                     int32_t pad) {
    const int32_t *ids = c->ids + k * 77;
    const float *w = c->weights + k * 77;
    if (ids[0] != BOS || w[0] != 1.0f || ids[n + 1] != EOS || w[n + 1] != 1.0f) return false;
    for (size_t i = 0; i < n; i++)
        if (ids[i + 1] != body[i] || w[i + 1] != (body_w ? body_w[i] : 1.0f)) return false;
    for (size_t i = n + 2; i < 77; i++)
        if (ids[i] != pad || w[i] != 1.0f) return false;
    return true;
}

static char *repeat(const char *word, int times, const char *tail) {
    size_t n = strlen(word) * (size_t)times + strlen(tail) + 1;
    char *s = malloc(n);
    s[0] = '\0';
    for (int i = 0; i < times; i++) strcat(s, word);
    strcat(s, tail);
    return s;
}

TEST(text_prompt_chunks_framing) {
    sdc_clip_tokenizer *tok = tokenizer();
    REQUIRE(tok);
    sdc_prompt_chunks c;
    REQUIRE(chunks_of(tok, "", EOS, &c));
    CHECK(c.n_chunks == 1 && c.n_tokens == 0 && chunk_is(&c, 0, NULL, NULL, 0, EOS));
    sdc_prompt_chunks_free(&c);

    static const int32_t a_cat[] = {320, CAT};
    static const float a_cat_w[] = {1.0f, 1.5f};
    REQUIRE(chunks_of(tok, "a (cat:1.5)", EOS, &c));
    CHECK(c.n_chunks == 1 && c.n_tokens == 2 && chunk_is(&c, 0, a_cat, a_cat_w, 2, EOS));
    sdc_prompt_chunks_free(&c);
    REQUIRE(chunks_of(tok, "a (cat:1.5)", 0, &c)); /* SD 2.x padding */
    CHECK(c.n_chunks == 1 && chunk_is(&c, 0, a_cat, a_cat_w, 2, 0));
    sdc_prompt_chunks_free(&c);

    static const int32_t a[] = {320}, b[] = {321};
    REQUIRE(chunks_of(tok, "a BREAK b", EOS, &c));
    CHECK(c.n_chunks == 2 && c.n_tokens == 76 && chunk_is(&c, 0, a, NULL, 1, EOS) && chunk_is(&c, 1, b, NULL, 1, EOS));
    sdc_prompt_chunks_free(&c);
    REQUIRE(chunks_of(tok, "BREAK a", EOS, &c)); /* a BREAK first leaves an empty chunk */
    CHECK(c.n_chunks == 2 && chunk_is(&c, 0, NULL, NULL, 0, EOS) && chunk_is(&c, 1, a, NULL, 1, EOS));
    sdc_prompt_chunks_free(&c);
    REQUIRE(chunks_of(tok, "a BREAK", EOS, &c)); /* ...a BREAK last does not */
    CHECK(c.n_chunks == 1 && chunk_is(&c, 0, a, NULL, 1, EOS));
    sdc_prompt_chunks_free(&c);
    sdc_clip_tokenizer_free(tok);
}

TEST(text_prompt_chunks_long_and_commas) {
    sdc_clip_tokenizer *tok = tokenizer();
    REQUIRE(tok);
    int32_t cats[75], dogs[75], body[75];
    for (int i = 0; i < 75; i++) cats[i] = CAT, dogs[i] = DOG;
    sdc_prompt_chunks c;
    /* 80 words, no comma: 75 + 5 */
    char *s = repeat("cat ", 80, "");
    REQUIRE(chunks_of(tok, s, EOS, &c));
    CHECK(c.n_chunks == 2 && c.n_tokens == 80 && chunk_is(&c, 0, cats, NULL, 75, EOS) &&
          chunk_is(&c, 1, cats, NULL, 5, EOS));
    sdc_prompt_chunks_free(&c);
    free(s);
    /* comma at token 60, 15 tokens before the end: the words after it move */
    char *head = repeat("cat ", 60, ", ");
    s = repeat("dog ", 20, "");
    char *t = malloc(strlen(head) + strlen(s) + 1);
    strcpy(t, head);
    strcat(t, s);
    memcpy(body, cats, sizeof cats);
    body[60] = COMMA;
    REQUIRE(chunks_of(tok, t, EOS, &c));
    CHECK(c.n_chunks == 2 && c.n_tokens == 95 && chunk_is(&c, 0, body, NULL, 61, EOS) &&
          chunk_is(&c, 1, dogs, NULL, 20, EOS));
    sdc_prompt_chunks_free(&c);
    free(head);
    free(s);
    free(t);
    /* comma at token 50, 25 before the end: beyond the 20-token backtrack */
    head = repeat("cat ", 50, ", ");
    s = repeat("dog ", 30, "");
    t = malloc(strlen(head) + strlen(s) + 1);
    strcpy(t, head);
    strcat(t, s);
    body[50] = COMMA;
    for (int i = 51; i < 75; i++) body[i] = DOG;
    REQUIRE(chunks_of(tok, t, EOS, &c));
    CHECK(c.n_chunks == 2 && c.n_tokens == 81 && chunk_is(&c, 0, body, NULL, 75, EOS) &&
          chunk_is(&c, 1, dogs, NULL, 6, EOS));
    sdc_prompt_chunks_free(&c);
    free(head);
    free(s);
    free(t);
    sdc_clip_tokenizer_free(tok);
}

TEST(text_prompt_apply_weights_by_hand) {
    /* z = [[1,2],[3,4]], w = [1,2]: weighted [[1,2],[6,8]] has sum 17, the
     * original 10, so everything is scaled by 10/17. */
    float z[4] = {1, 2, 3, 4};
    const float w[2] = {1, 2};
    sdc_prompt_apply_weights(z, w, 2, 2);
    const float want[4] = {10.0f / 17, 20.0f / 17, 60.0f / 17, 80.0f / 17};
    for (int i = 0; i < 4; i++) CHECK_MSG(fabsf(z[i] - want[i]) <= 1e-6f, "z[%d] = %g, want %g", i, z[i], want[i]);
    CHECK(fabsf((z[0] + z[1] + z[2] + z[3]) / 4 - 2.5f) <= 1e-6f); /* the mean is kept */
    float u[3] = {0.5f, -1.0f, 2.0f};
    const float ones[3] = {1, 1, 1};
    sdc_prompt_apply_weights(u, ones, 3, 1); /* weights 1: unchanged */
    CHECK(u[0] == 0.5f && u[1] == -1.0f && u[2] == 2.0f);
    float zero[2] = {1, -1};
    const float w2[2] = {1, 1};
    sdc_prompt_apply_weights(zero, w2, 2, 1); /* mean 0 stays 0, no NaN */
    CHECK(zero[0] == 1 && zero[1] == -1);
}
