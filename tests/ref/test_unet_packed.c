/* U-Net with its matrices packed at load (wload.h sdc_wpack) on the tiny
 * model: in the table and compute mode it was packed for, the output equals
 * the unpacked model's bit for bit (a packed form holds exactly the values
 * a call would pack, multiplied in the same order); convolutions keep a
 * strided view of the file's data that serves other modes (same result as
 * the unpacked weights); fused q/k/v matrices are held packed only, so
 * another mode reports a clear error instead of computing garbage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/unet.h"
#include "refdata.h"

#define TINY_MODEL "reference/model/sd15-random-tiny.safetensors"

static sdc_unet *load(const sdc_model_files *mf, const sdc_wpack *pack) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_unet *u = NULL;
    sdc_unet_opts opts = {.mat_dtype = SDC_WLOAD_KEEP, .num_heads = 8, .pack = pack};
    if (sdc_unet_load(mf, NULL, &opts, &u, &err) != SDC_OK)
        sdc_test_fail(__FILE__, __LINE__, "%s", sdc_error_msg(&err));
    return u;
}

/* y = conv(x, w) with table k in mode `compute` on a fixed input. */
static float *conv(const sdc_tensor *w, const sdc_kernels *k, sdc_compute compute, int64_t *n) {
    sdc_ctx c;
    sdc_ctx_init(&c, NULL, 0);
    c.k = k;
    c.compute = compute;
    sdc_tensor *x = sdc_new_4d(&c, 2, 6, 5, w->shape[3]);
    float *out = NULL;
    if (x) {
        for (int64_t i = 0; i < sdc_tensor_numel(x); i++) ((float *)x->data)[i] = sinf(0.7f * (float)i);
        sdc_tensor *y = sdc_op_conv2d(&c, x, w, NULL, 1, 1);
        CHECK_MSG(y != NULL, "conv: %s", sdc_error_msg(&c.err));
        if (y && (out = malloc((size_t)sdc_tensor_numel(y) * sizeof *out))) {
            *n = sdc_tensor_numel(y);
            memcpy(out, y->data, (size_t)*n * sizeof *out);
        }
    }
    sdc_ctx_free(&c);
    return out;
}

TEST(unet_packed_weights_match_unpacked) {
    const sdc_kernels *k = sdc_kernels_best();
    if (!k->packed_size || !k->packed_size(320, 320, SDC_DTYPE_F32, SDC_COMPUTE_BF16))
        SKIP("the best kernel table packs nothing ahead on this CPU");
    sdc_error err;
    sdc_error_clear(&err);
    sdc_model_files *mf = NULL;
    REQUIRE_MSG(sdc_model_files_open(sdc_test_shared(TINY_MODEL), &mf, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_pool *pool = sdc_pool_create(2);
    sdc_wpack pack = {.k = k, .compute = SDC_COMPUTE_BF16, .pool = pool};
    sdc_unet *plain = load(mf, NULL), *packed = load(mf, &pack);
    REQUIRE(plain && packed && pool);
    const sdc_resblock *rb = &packed->input[1].layer[0].res;
    const sdc_tblock *tb = &packed->input[1].layer[1].attn.blocks[0];
    CHECK(rb->conv1_w->packed && rb->conv1_w->data && !sdc_tensor_is_contiguous(rb->conv1_w));
    CHECK(tb->qkv_w->packed && !tb->qkv_w->data && tb->ff1_w->packed && tb->ff1_w->data);
    CHECK(!rb->emb_w->packed && !packed->time1_w->packed); /* one row per image: not packed */

    static const char *cases[] = {"b1_t999_8x8", "b2cfg_t500_8x8", "b2cfg_t1_16x16"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t n0 = 0, n1 = 0;
        sdc_error e0, e1;
        float *y0 = sdc_ref_unet_case(plain, k, SDC_COMPUTE_BF16, cases[i], &n0, &e0);
        float *y1 = sdc_ref_unet_case(packed, k, SDC_COMPUTE_BF16, cases[i], &n1, &e1);
        CHECK_MSG(y0 && y1 && n0 == n1 && memcmp(y0, y1, (size_t)n0 * sizeof *y0) == 0,
                  "%s: packed and plain U-Net differ", cases[i]);
        free(y0), free(y1);
    }
    /* another mode: convolutions through their strided view, same result */
    const sdc_tensor *pw = rb->conv1_w, *uw = plain->input[1].layer[0].res.conv1_w;
    int64_t n0 = 0, n1 = 0;
    float *c0 = conv(uw, k, SDC_COMPUTE_F32, &n0), *c1 = conv(pw, k, SDC_COMPUTE_F32, &n1);
    CHECK_MSG(c0 && c1 && n0 == n1 && memcmp(c0, c1, (size_t)n0 * sizeof *c0) == 0, "f32 conv via the strided view");
    free(c0), free(c1);
    /* ... but the packed-only fused matrices refuse it */
    sdc_error e;
    float *y = sdc_ref_unet_case(packed, k, SDC_COMPUTE_F32, cases[0], &n0, &e);
    CHECK_MSG(!y && e.status == SDC_ERR_UNSUPPORTED, "f32 compute on a model packed for bf16: status %d", (int)e.status);
    free(y);

    sdc_unet_free(plain);
    sdc_unet_free(packed);
    sdc_pool_destroy(pool);
    sdc_model_files_close(mf);
}
