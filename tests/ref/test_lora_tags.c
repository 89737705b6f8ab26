/* LoRA names: --lora FILE[:UNET[:TE]] arguments, A1111 prompt tags, and
 * finding files in a LoRA folder. Expected values follow A1111's
 * extra-networks rules (one number: both weights; two: text encoder first). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "models/lora_tags.h"

TEST(lora_spec_parse) {
    char path[256];
    float u, t;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_lora_spec_parse("a.safetensors", path, sizeof path, &u, &t, &err) == SDC_OK);
    CHECK(strcmp(path, "a.safetensors") == 0 && u == 1.0f && t == 1.0f);
    REQUIRE(sdc_lora_spec_parse("dir/a.safetensors:0.8", path, sizeof path, &u, &t, &err) == SDC_OK);
    CHECK(strcmp(path, "dir/a.safetensors") == 0 && u == 0.8f && t == 0.8f);
    REQUIRE(sdc_lora_spec_parse("a.safetensors:0.8:-0.25", path, sizeof path, &u, &t, &err) == SDC_OK);
    CHECK(strcmp(path, "a.safetensors") == 0 && u == 0.8f && t == -0.25f);
    REQUIRE(sdc_lora_spec_parse("C:/x:y.safetensors:1.5", path, sizeof path, &u, &t, &err) == SDC_OK);
    CHECK(strcmp(path, "C:/x:y.safetensors") == 0 && u == 1.5f && t == 1.5f);
    CHECK(sdc_lora_spec_parse(":0.5", path, sizeof path, &u, &t, &err) == SDC_ERR_INVALID_ARG);
}

TEST(lora_prompt_tags) {
    char *clean;
    sdc_lora_tag *tags;
    size_t n;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_lora_tags_extract("a cat <lora:LCM_sd15:1>, <lora:style:0.6:0.8> <lyco:x:te=0.2:unet=0.3>"
                                  "<lora:plain> (red:1.2)",
                                  &clean, &tags, &n, &err) == SDC_OK);
    CHECK_MSG(strcmp(clean, "a cat ,   (red:1.2)") == 0, "'%s'", clean);
    REQUIRE(n == 4);
    CHECK(strcmp(tags[0].name, "LCM_sd15") == 0 && tags[0].unet == 1.0f && tags[0].te == 1.0f);
    CHECK(strcmp(tags[1].name, "style") == 0 && tags[1].te == 0.6f && tags[1].unet == 0.8f);
    CHECK(strcmp(tags[2].name, "x") == 0 && tags[2].te == 0.2f && tags[2].unet == 0.3f);
    CHECK(strcmp(tags[3].name, "plain") == 0 && tags[3].unet == 1.0f && tags[3].te == 1.0f);
    free(clean);
    free(tags);
    REQUIRE(sdc_lora_tags_extract("no tags <b>", &clean, &tags, &n, &err) == SDC_OK);
    CHECK(n == 0 && strcmp(clean, "no tags <b>") == 0);
    free(clean);
    free(tags);
    CHECK(sdc_lora_tags_extract("x <lora:a:abc>", &clean, &tags, &n, &err) == SDC_ERR_INVALID_ARG);
    CHECK(clean == NULL && tags == NULL && strstr(sdc_error_msg(&err), "<lora:a:abc>") != NULL);
}

static void touch(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
}

TEST(lora_find_in_folder) {
    char dir[512], sub[600], p[700], out[1024];
    snprintf(dir, sizeof dir, "%s", sdc_test_tmp("loras"));
    snprintf(sub, sizeof sub, "%s/styles", dir);
    REQUIRE(mkdir(dir, 0700) == 0 && mkdir(sub, 0700) == 0);
    snprintf(p, sizeof p, "%s/LCM-LoRA-SDv1-5.safetensors", dir);
    touch(p);
    snprintf(p, sizeof p, "%s/Watercolor.SafeTensors", sub);
    touch(p);
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE(sdc_lora_find(dir, "lcm-lora-sdv1-5", out, sizeof out, &err) == SDC_OK);
    CHECK(strstr(out, "/LCM-LoRA-SDv1-5.safetensors") != NULL);
    REQUIRE(sdc_lora_find(dir, "watercolor", out, sizeof out, &err) == SDC_OK);
    CHECK(strstr(out, "styles/Watercolor.SafeTensors") != NULL);
    REQUIRE(sdc_lora_find(dir, "styles/WATERCOLOR", out, sizeof out, &err) == SDC_OK);
    CHECK(sdc_lora_find(dir, "missing", out, sizeof out, &err) == SDC_ERR_IO);
    CHECK(strstr(sdc_error_msg(&err), "missing") != NULL);
    sdc_error_clear(&err);
    CHECK(sdc_lora_find(dir, "../etc/passwd", out, sizeof out, &err) == SDC_ERR_INVALID_ARG);
}
