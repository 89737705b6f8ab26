/* ControlNet sampling hook (see control.h). */
#include "workflow/control.h"

#include <string.h>

#include "sample/schedule.h"
#include "tensor/ops.h"

double sdc_control_percent_to_sigma(double p) {
    if (p <= 0.0) return 999999999.9;
    if (p >= 1.0) return 0.0;
    sdc_noise_schedule ns;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_noise_schedule_init(&ns, 0.00085, 0.012, 1000, &err) != SDC_OK) return 0.0;
    return sdc_noise_schedule_sigma(&ns, (1.0 - p) * 999.0);
}

sdc_status sdc_control_hook_init(sdc_control_hook *h, sdc_pool *pool, sdc_compute compute, const sdc_control_spec *specs,
                                 int n, int64_t H, int64_t W, sdc_error *err) {
    memset(h, 0, sizeof *h);
    if (n < 0 || n > SDC_CONTROL_MAX) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "at most %d ControlNets", SDC_CONTROL_MAX);
    if (sdc_ctx_init(&h->ctx, pool, 0) != SDC_OK) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    h->ctx.compute = compute;
    h->n = n;
    for (int i = 0; i < n; i++) {
        h->spec[i] = specs[i];
        sdc_tensor hint = sdc_tensor_4d(SDC_DTYPE_F32, (void *)specs[i].hint, 1, H, W, 3); /* NHWC */
        sdc_tensor *emb = sdc_controlnet_encode_hint(&h->ctx, specs[i].cn, &hint);
        if (!emb) return sdc_error_set(err, h->ctx.err.status, "ControlNet hint: %s", sdc_error_msg(&h->ctx.err));
        h->unit[i] = (sdc_control_unit){.cn = specs[i].cn, .hint_emb = emb, .strength = specs[i].strength,
                                        .start = specs[i].start, .end = specs[i].end};
        if (specs[i].sigma_rule) {
            h->sigma_start[i] = sdc_control_percent_to_sigma(specs[i].start);
            h->sigma_end[i] = sdc_control_percent_to_sigma(specs[i].end);
            h->unit[i].start = 0.0f; /* activity is decided by sigma below */
            h->unit[i].end = 1.0f;
        }
    }
    return SDC_OK;
}

void sdc_control_hook_free(sdc_control_hook *h) {
    sdc_ctx_free(&h->ctx);
    memset(h, 0, sizeof *h);
}

/* the first 4 channels of a 9-channel inpainting input, contiguous */
static const sdc_tensor *latent_part(sdc_ctx *c, const sdc_tensor *x) {
    if (x->shape[1] <= 4) return x;
    sdc_tensor *y = sdc_new_4d(c, x->shape[0], 4, x->shape[2], x->shape[3]);
    if (!y) return NULL;
    sdc_tensor part = sdc_tensor_slice(x, 1, 0, 4);
    sdc_tensor_copy(y, &part);
    return y;
}

sdc_status sdc_control_hook_fn(void *user, sdc_ctx *c, const sdc_tensor *x_in, const sdc_tensor *t,
                               const sdc_tensor *context, double sigma, int step, int steps, sdc_unet_extra *extra) {
    sdc_control_hook *h = user;
    sdc_control_unit active[SDC_CONTROL_MAX];
    int n = 0;
    for (int i = 0; i < h->n; i++) {
        /* small tolerance: sigmas are stored as float32 values */
        if (h->spec[i].sigma_rule && !(sigma <= h->sigma_start[i] * (1 + 1e-6) && sigma >= h->sigma_end[i] * (1 - 1e-6))) continue;
        active[n++] = h->unit[i];
    }
    memset(extra, 0, sizeof *extra);
    if (n == 0) return SDC_OK;
    const sdc_tensor *x = latent_part(c, x_in);
    if (!x) return c->err.status;
    const sdc_unet_extra *got = NULL;
    sdc_status st = sdc_control_units_run(c, active, n, step, steps, x, t, context, &h->res, &got);
    if (!st && got) *extra = *got;
    return st;
}
