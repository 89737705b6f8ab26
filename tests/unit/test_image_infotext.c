/* A1111 infotext: the splitter against Python's re + json over A1111's
 * regex (tests/data/image/infotext_cases.json, make_data.py), the
 * formatter against strings written out from A1111's create_infotext
 * rules, and format -> parse round trips. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "image/infotext.h"
#include "test_image_common.h"

TEST(image_infotext_split_matches_a1111_regex) {
    json_error_t je;
    json_t *cases = json_load_file(IMG_DATA "infotext_cases.json", 0, &je);
    REQUIRE_MSG(cases && json_is_array(cases), "cannot read infotext_cases.json: %s", je.text);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        sdc_error e;
        sdc_error_clear(&e);
        sdc_gen_params p;
        REQUIRE(sdc_infotext_split(text, &p, &e) == SDC_OK);
        CHECK_MSG(strcmp(p.prompt, json_string_value(json_object_get(c, "prompt"))) == 0, "case %zu prompt: [%s]", i,
                  p.prompt);
        CHECK_MSG(strcmp(p.negative_prompt, json_string_value(json_object_get(c, "negative"))) == 0,
                  "case %zu negative: [%s]", i, p.negative_prompt);
        json_t *pairs = json_object_get(c, "pairs");
        CHECK_MSG(p.n_extra == json_array_size(pairs), "case %zu: %zu pairs, expected %zu", i, p.n_extra,
                  json_array_size(pairs));
        for (size_t k = 0; k < p.n_extra && k < json_array_size(pairs); k++) {
            json_t *pair = json_array_get(pairs, k);
            const char *key = json_string_value(json_array_get(pair, 0)), *val = json_string_value(json_array_get(pair, 1));
            CHECK_MSG(strcmp(p.extra[k].key, key) == 0 && p.extra[k].value && strcmp(p.extra[k].value, val) == 0,
                      "case %zu pair %zu: [%s]=[%s], expected [%s]=[%s]", i, k, p.extra[k].key,
                      p.extra[k].value ? p.extra[k].value : "(null)", key, val);
        }
        sdc_gen_params_free(&p);
    }
    json_decref(cases);
}

static void fill_example(sdc_gen_params *p) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_gen_params_set_str(&p->prompt, "a cat, sitting\non a mat", &e);
    sdc_gen_params_set_str(&p->negative_prompt, "dog", &e);
    p->steps = 20;
    sdc_gen_params_set_str(&p->sampler, "Euler a", &e);
    sdc_gen_params_set_str(&p->scheduler, "Karras", &e);
    p->cfg_scale = 7;
    p->seed = 1;
    p->width = 512;
    p->height = 768;
    sdc_gen_params_set_str(&p->model_hash, "abcdef1234", &e);
    sdc_gen_params_set_str(&p->model_name, "name", &e);
    p->denoising_strength = 0.6;
    p->clip_skip = 2;
    sdc_gen_params_set_str(&p->version, "sdc 0.1.0", &e);
}

TEST(image_infotext_format_like_a1111) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_gen_params p;
    REQUIRE(sdc_gen_params_init(&p, &e) == SDC_OK);
    fill_example(&p);
    char *s;
    REQUIRE(sdc_infotext_format(&p, &s, &e) == SDC_OK);
    const char *want = "a cat, sitting\non a mat\nNegative prompt: dog\n"
                       "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, "
                       "Model hash: abcdef1234, Model: name, Denoising strength: 0.6, Clip skip: 2, Version: sdc 0.1.0";
    CHECK_MSG(strcmp(s, want) == 0, "got:\n%s", s);
    free(s);
    /* quoting (json.dumps, ensure_ascii=False), extras before Version, bare keys, clip skip 1 omitted */
    sdc_gen_params_set_str(&p.model_name, "my,model: v2", &e);
    sdc_gen_params_set_str(&p.negative_prompt, "", &e);
    p.clip_skip = 1;
    p.cfg_scale = 7.5;
    p.denoising_strength = NAN;
    REQUIRE(sdc_gen_params_add_extra(&p, "Lora hashes", "add_detail: 7c6b, \"x\\y\"\t\xc3\xa9", &e) == SDC_OK);
    REQUIRE(sdc_gen_params_add_extra(&p, "Tiling", NULL, &e) == SDC_OK);
    REQUIRE(sdc_infotext_format(&p, &s, &e) == SDC_OK);
    want = "a cat, sitting\non a mat\n"
           "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7.5, Seed: 1, Size: 512x768, "
           "Model hash: abcdef1234, Model: \"my,model: v2\", Lora hashes: \"add_detail: 7c6b, \\\"x\\\\y\\\"\\t\xc3\xa9\", "
           "Tiling, Version: sdc 0.1.0";
    CHECK_MSG(strcmp(s, want) == 0, "got:\n%s", s);
    free(s);
    sdc_gen_params_free(&p);
    /* nothing but a prompt: no trailing newline (A1111 strips) */
    REQUIRE(sdc_gen_params_init(&p, &e) == SDC_OK);
    sdc_gen_params_set_str(&p.prompt, "  x  ", &e);
    REQUIRE(sdc_infotext_format(&p, &s, &e) == SDC_OK);
    CHECK(strcmp(s, "x") == 0);
    free(s);
    sdc_gen_params_free(&p);
    char *q = sdc_infotext_quote("plain value");
    CHECK(q && strcmp(q, "plain value") == 0);
    free(q);
}

TEST(image_infotext_roundtrip_fields) {
    sdc_error e;
    sdc_error_clear(&e);
    sdc_gen_params p, r;
    REQUIRE(sdc_gen_params_init(&p, &e) == SDC_OK);
    fill_example(&p);
    sdc_gen_params_set_str(&p.model_name, "my,model: \"v2\"", &e);
    p.cfg_scale = 0.1 + 0.2; /* shortest repr must read back exactly */
    REQUIRE(sdc_gen_params_add_extra(&p, "ENSD", "31337", &e) == SDC_OK);
    char *s;
    REQUIRE(sdc_infotext_format(&p, &s, &e) == SDC_OK);
    REQUIRE(sdc_infotext_parse(s, &r, &e) == SDC_OK);
    CHECK(strcmp(r.prompt, p.prompt) == 0 && strcmp(r.negative_prompt, "dog") == 0);
    CHECK(r.steps == 20 && r.seed == 1 && r.width == 512 && r.height == 768 && r.clip_skip == 2);
    CHECK(r.cfg_scale == p.cfg_scale && r.denoising_strength == 0.6);
    CHECK(r.sampler && strcmp(r.sampler, "Euler a") == 0 && r.scheduler && strcmp(r.scheduler, "Karras") == 0);
    CHECK(r.model_name && strcmp(r.model_name, "my,model: \"v2\"") == 0);
    CHECK(r.model_hash && strcmp(r.model_hash, "abcdef1234") == 0 && r.version && strcmp(r.version, "sdc 0.1.0") == 0);
    CHECK(r.n_extra == 1 && strcmp(r.extra[0].key, "ENSD") == 0 && strcmp(r.extra[0].value, "31337") == 0);
    free(s);
    sdc_gen_params_free(&r);
    sdc_gen_params_free(&p);
    /* defaults and malformed values */
    REQUIRE(sdc_infotext_parse("x\nSteps: many, Seed: 5, Size: 12x, CFG scale: 3", &r, &e) == SDC_OK);
    CHECK(r.steps == -1 && r.seed == 5 && r.width == 0 && r.cfg_scale == 3 && r.clip_skip == 1);
    CHECK(r.n_extra == 2 && strcmp(r.extra[0].key, "Steps") == 0 && strcmp(r.extra[1].value, "12x") == 0);
    sdc_gen_params_free(&r);
}
