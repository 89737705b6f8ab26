/* ControlNet driving (see control.h). */
#include "pipeline/control.h"

#include <string.h>

#include "image/resize.h"
#include "tensor/ops.h"

void sdc_control_set_free(sdc_control_set *s) {
    if (s->n) sdc_ctx_free(&s->hint_ctx);
    memset(s, 0, sizeof *s);
}

static sdc_status prepare_one(sdc_control_set *s, const sdc_control_spec *sp, int width, int height, sdc_error *err) {
    sdc_image resized = {0};
    const sdc_image *img = sp->image;
    if (img->width != width || img->height != height) { /* A1111 "just resize" */
        sdc_status st = sdc_image_resize_mode(img, width, height, SDC_RESIZE_JUST, &resized, err);
        if (st) return st;
        img = &resized;
    }
    sdc_ctx *c = &s->hint_ctx;
    sdc_tensor *t = sdc_new_4d(c, 1, 3, height, width);
    sdc_status st = t ? sdc_image_to_tensor(img, SDC_RANGE_01, t, 0, err)
                      : sdc_error_set(err, c->err.status, "%s", sdc_error_msg(&c->err));
    sdc_image_free(&resized);
    if (st) return st;
    sdc_tensor *emb = sdc_controlnet_encode_hint(c, sp->cn, t);
    if (!emb) return sdc_error_set(err, c->err.status, "control image: %s", sdc_error_msg(&c->err));
    s->units[s->n++] = (sdc_control_unit){.cn = sp->cn, .hint_emb = emb, .strength = sp->strength,
                                          .start = sp->start, .end = sp->end};
    return SDC_OK;
}

sdc_status sdc_control_set_prepare(sdc_control_set *s, const sdc_control_spec *specs, int n, int width, int height,
                                   sdc_pool *pool, sdc_compute compute, sdc_error *err) {
    memset(s, 0, sizeof *s);
    if (n <= 0) return SDC_OK;
    if (n > SDC_MAX_CONTROLS) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "at most %d ControlNets", SDC_MAX_CONTROLS);
    if (sdc_ctx_init(&s->hint_ctx, pool, 0) != SDC_OK) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    s->hint_ctx.compute = compute;
    sdc_control_residuals_init(&s->res);
    for (int i = 0; i < n; i++) {
        sdc_status st = prepare_one(s, &specs[i], width, height, err);
        if (st) {
            int keep = s->n ? s->n : 1; /* the context exists: free it below */
            s->n = keep;
            sdc_control_set_free(s);
            return st;
        }
    }
    return SDC_OK;
}

sdc_status sdc_control_extra_fn(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                                const sdc_tensor *context, double sigma, int step, int steps, sdc_unet_extra *extra) {
    (void)sigma;
    sdc_control_set *s = user;
    const sdc_tensor *x = x_in;
    int64_t lc = s->units[0].cn->trunk->cfg.in_ch;
    if (x_in->shape[1] > lc) { /* inpainting model input: latent channels only */
        sdc_tensor v = sdc_tensor_slice(x_in, 1, 0, lc);
        x = sdc_op_contiguous(c, &v);
        if (!x) return c->err.status;
    }
    const sdc_unet_extra *e = NULL;
    sdc_status st = sdc_control_units_run(c, s->units, s->n, step, steps, x, t, context, &s->res, &e);
    if (st) return st;
    if (e) *extra = *e;
    return SDC_OK;
}
