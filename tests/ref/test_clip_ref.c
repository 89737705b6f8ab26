/* CLIP text encoder vs the diffusers/transformers reference on the tiny
 * model (../shared/reference/tiny/text): f32 weights must agree to 1e-4
 * max abs (the reference's own cross-check against openai/CLIP is ~2e-6). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "models/clip_text.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"

static const char *k_cases[] = {"astronaut", "empty", "weights_syntax", "unicode", "long_truncated"};

static void run_case(const sdc_clip_text *m, const char *name, double *worst) {
    char file[256];
    snprintf(file, sizeof file, "reference/tiny/text/%s.safetensors", name);
    int32_t *ids = NULL;
    int64_t n = 0;
    sdc_ref last, pen;
    if (!sdc_ref_load_i32(file, "input_ids", &ids, &n)) return;
    if (!sdc_ref_load(file, "last_hidden_state", &last) || !sdc_ref_load(file, "penultimate_final_ln", &pen)) return;
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    c.k = sdc_kernels_ref();
    sdc_tensor *y = sdc_clip_text_forward(&c, m, ids, 1, n, m->cfg.layers, 1);
    CHECK_MSG(y != NULL, "%s: forward failed: %s", name, sdc_error_msg(&c.err));
    if (y) {
        sdc_cmp r = sdc_test_compare(y->data, last.data, (size_t)last.numel, 1e-4, 0);
        CHECK_MSG(r.ok, "%s last_hidden_state: max abs diff %g", name, r.max_abs);
        *worst = fmax(*worst, r.max_abs);
    }
    sdc_ctx_reset(&c);
    y = sdc_clip_text_forward(&c, m, ids, 1, n, m->cfg.layers - 1, 1);
    if (y) {
        sdc_cmp r = sdc_test_compare(y->data, pen.data, (size_t)pen.numel, 1e-4, 0);
        CHECK_MSG(r.ok, "%s clip-skip-2: max abs diff %g", name, r.max_abs);
        *worst = fmax(*worst, r.max_abs);
    }
    sdc_ctx_free(&c);
    sdc_ref_free(&last);
    sdc_ref_free(&pen);
    free(ids);
}

TEST(clip_text_tiny_matches_reference) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_clip_text *m;
    sdc_clip_text_opts opts = {.mat_dtype = SDC_DTYPE_F32, .heads = 0, .act = -1};
    REQUIRE_MSG(sdc_clip_text_load(mf, &opts, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(m->cfg.layers == 5 && m->cfg.width == 32 && m->cfg.heads == 4 && m->cfg.ff == 128);
    double worst = 0;
    for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++) run_case(m, k_cases[i], &worst);
    printf("    clip f32 max abs diff vs reference: %.3g\n", worst);
    sdc_clip_text_free(m);
    sdc_model_files_close(mf);
}
