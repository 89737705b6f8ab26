/* ControlNet: loading (ldm and diffusers layouts) and the forward pass
 * (see controlnet.h). The trunk is an sdc_unet without output blocks. */
#include "models/controlnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/keymap.h"

/* ---- diffusers layout -> canonical names -------------------------------- */

static int count_prefixed(const sdc_model_files *m, const char *fmt) {
    char name[256];
    int n = 0;
    for (; n < 1000; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!sdc_model_files_find(m, name)) break;
    }
    return n;
}

/* The canonical (bare ldm) name of a diffusers ControlNetModel tensor, or
 * false for names a ControlNet does not use. The trunk goes through the
 * formats keymap (diffusers U-Net names); the ControlNet-only parts are
 * mapped here. */
static bool canon_of(const char *d, const sdc_keymap_layout *lay, int n_blocks, char *out, size_t size) {
    int k, n = 0;
    if (sscanf(d, "controlnet_cond_embedding.blocks.%d.%n", &k, &n) == 1 && n > 0)
        return snprintf(out, size, "input_hint_block.%d.%s", 2 * k + 2, d + n) < (int)size;
    if (strncmp(d, "controlnet_cond_embedding.conv_in.", 34) == 0)
        return snprintf(out, size, "input_hint_block.0.%s", d + 34) < (int)size;
    if (strncmp(d, "controlnet_cond_embedding.conv_out.", 35) == 0)
        return snprintf(out, size, "input_hint_block.%d.%s", 2 * n_blocks + 2, d + 35) < (int)size;
    n = 0;
    if (sscanf(d, "controlnet_down_blocks.%d.%n", &k, &n) == 1 && n > 0)
        return snprintf(out, size, "zero_convs.%d.0.%s", k, d + n) < (int)size;
    if (strncmp(d, "controlnet_mid_block.", 21) == 0)
        return snprintf(out, size, "middle_block_out.0.%s", d + 21) < (int)size;
    sdc_keymap_op op;
    int part;
    return sdc_keymap_from_diffusers(SDC_KEYMAP_UNET, lay, d, out, size, &op, &part) && op == SDC_KEYMAP_SAME;
}

static sdc_status diffusers_view(const sdc_model_files *files, sdc_model_files **out, sdc_error *err) {
    sdc_model_files *v = calloc(1, sizeof *v);
    if (!v || !(v->path = sdc_strdup(files->path))) {
        free(v);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    }
    sdc_strmap_init(&v->names);
    sdc_keymap_layout lay;
    memset(&lay, 0, sizeof lay);
    for (size_t i = 0; i < sdc_model_files_count(files); i++) {
        const char *d;
        sdc_model_files_at(files, i, &d);
        sdc_keymap_layout_add(&lay, SDC_KEYMAP_UNET, d);
    }
    int n_blocks = count_prefixed(files, "controlnet_cond_embedding.blocks.%d.weight");
    sdc_status st = lay.unet_resnets_per_down > 0
                        ? SDC_OK
                        : sdc_error_set(err, SDC_ERR_FORMAT, "'%s': diffusers ControlNet without down_blocks", files->path);
    char name[300];
    for (size_t i = 0; i < sdc_model_files_count(files) && !st; i++) {
        const char *d;
        const sdc_weight_info *w = sdc_model_files_at(files, i, &d);
        if (canon_of(d, &lay, n_blocks, name, sizeof name)) st = sdc_model_files_add(v, name, w, err);
    }
    if (st) {
        sdc_model_files_close(v);
        return st;
    }
    *out = v;
    return SDC_OK;
}

/* ---- loading ----------------------------------------------------------- */

static void load_parts(sdc_controlnet *cn, sdc_wload *l) {
    int64_t prev = -1;
    cn->n_hint = 0;
    while (cn->n_hint < SDC_CONTROLNET_MAX_HINT && sdc_wl_has(l, "input_hint_block.%d.weight", 2 * cn->n_hint)) {
        int j = cn->n_hint;
        const sdc_weight_info *w = sdc_wl_info(l, "input_hint_block.%d.weight", 2 * j);
        if (j == 0 && w->ndim == 4) cn->hint_ch = w->shape[1];
        cn->hint_w[j] = sdc_wl_conv(l, -1, prev, 3, 3, "input_hint_block.%d.weight", 2 * j);
        cn->hint_b[j] = sdc_wl_vec(l, w->ndim ? w->shape[0] : -1, "input_hint_block.%d.bias", 2 * j);
        prev = w->ndim ? w->shape[0] : -1;
        cn->n_hint++;
    }
    cn->downscale = 1;
    for (int j = 0; j < cn->n_hint; j++) { /* diffusers: blocks come in (same size, stride 2) pairs */
        cn->hint_stride[j] = j >= 1 && j <= cn->n_hint - 2 && (j - 1) % 2 == 1 ? 2 : 1;
        cn->downscale *= cn->hint_stride[j];
    }
    const sdc_unet_config *cfg = &cn->trunk->cfg;
    if (sdc_wl_ok(l) && (cn->n_hint < 2 || prev != cfg->model_ch))
        sdc_error_set(l->err, SDC_ERR_FORMAT, "ControlNet hint encoder: %d convolutions ending in %lld channels (U-Net: %lld)",
                      cn->n_hint, (long long)prev, (long long)cfg->model_ch);
    for (int i = 0; i < cfg->n_input && sdc_wl_ok(l); i++) {
        cn->zero_w[i] = sdc_wl_linear(l, -1, -1, "zero_convs.%d.0.weight", i);
        cn->zero_b[i] = sdc_wl_vec(l, cn->zero_w[i] ? cn->zero_w[i]->shape[0] : -1, "zero_convs.%d.0.bias", i);
    }
    cn->mid_w = sdc_wl_linear(l, -1, -1, "middle_block_out.0.weight");
    cn->mid_b = sdc_wl_vec(l, cn->mid_w ? cn->mid_w->shape[0] : -1, "middle_block_out.0.bias");
}

/* Layout of files: sets *prefix, or builds a diffusers view. */
static sdc_status detect(const sdc_model_files *files, const char **prefix, sdc_model_files **view, sdc_error *err) {
    if (sdc_model_files_find(files, "control_model.input_hint_block.0.weight")) *prefix = "control_model.";
    else if (sdc_model_files_find(files, "input_hint_block.0.weight")) *prefix = "";
    else if (sdc_model_files_find(files, "controlnet_cond_embedding.conv_in.weight")) {
        *prefix = "";
        return diffusers_view(files, view, err);
    } else
        return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is not a ControlNet (no input_hint_block / controlnet_cond_embedding)",
                             files->path);
    return SDC_OK;
}

sdc_status sdc_controlnet_load(const sdc_model_files *files, const char *prefix, const sdc_controlnet_opts *opts,
                               sdc_controlnet **out, sdc_error *err) {
    *out = NULL;
    sdc_controlnet *cn = calloc(1, sizeof *cn);
    if (!cn) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_status st = prefix ? SDC_OK : detect(files, &prefix, &cn->view, err);
    const sdc_model_files *m = cn->view ? cn->view : files;
    sdc_unet_opts uo = {.mat_dtype = opts ? opts->mat_dtype : SDC_DTYPE_F32, .num_heads = opts ? opts->num_heads : 0,
                        .head_dim = opts ? opts->head_dim : 0};
    if (!st) st = sdc_unet_load(m, prefix, &uo, &cn->trunk, err);
    if (!st) {
        sdc_wload l = {.files = m, .store = &cn->store, .mat_dtype = uo.mat_dtype, .err = err, .prefix = prefix};
        load_parts(cn, &l);
        st = err->status;
    }
    if (st) {
        sdc_controlnet_free(cn);
        return st;
    }
    *out = cn;
    return SDC_OK;
}

sdc_status sdc_controlnet_open(const char *path, const sdc_controlnet_opts *opts, sdc_controlnet **out,
                               sdc_error *err) {
    *out = NULL;
    sdc_model_files *f = NULL;
    sdc_status st = sdc_model_files_open(path, &f, err);
    if (!st && (st = sdc_controlnet_load(f, NULL, opts, out, err)) != SDC_OK) sdc_error_prefix(err, "%s", path);
    if (st) {
        sdc_model_files_close(f);
        return st;
    }
    (*out)->owned = f;
    return SDC_OK;
}

void sdc_controlnet_free(sdc_controlnet *cn) {
    if (!cn) return;
    sdc_unet_free(cn->trunk);
    sdc_wstore_free(&cn->store);
    sdc_model_files_close(cn->view);
    sdc_model_files_close(cn->owned);
    free(cn);
}

/* ---- forward ----------------------------------------------------------- */

void sdc_control_residuals_init(sdc_control_residuals *r) { memset(r, 0, sizeof *r); }

sdc_tensor *sdc_controlnet_encode_hint(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *hint) {
    if (!hint || !sdc_ctx_ok(c)) return NULL;
    bool nhwc = hint->ndim == 4 && hint->shape[3] == cn->hint_ch;
    if (hint->ndim != 4 || (!nhwc && hint->shape[1] != cn->hint_ch))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "controlnet: the hint must be an image with %lld channels",
                            (long long)cn->hint_ch);
    sdc_tensor *h = nhwc ? sdc_op_contiguous(c, hint) : sdc_op_nchw_to_nhwc(c, hint);
    for (int j = 0; j < cn->n_hint && h; j++) {
        h = sdc_op_conv2d(c, h, cn->hint_w[j], cn->hint_b[j], cn->hint_stride[j], 1);
        if (j + 1 < cn->n_hint) h = sdc_op_act_(c, SDC_ACT_SILU, h);
    }
    sdc_ctx_dump(c, h, "controlnet.hint");
    return h;
}

/* hint_emb [1 or B, h, w, C] as [B, h, w, C] */
static const sdc_tensor *hint_batch(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *x, const sdc_tensor *e) {
    int64_t B = x->shape[0], h = x->shape[2], w = x->shape[3], C = cn->trunk->cfg.model_ch;
    if (e->ndim != 4 || e->shape[1] != h || e->shape[2] != w || e->shape[3] != C || (e->shape[0] != 1 && e->shape[0] != B))
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG,
                            "controlnet: the control image gives a %lldx%lld hint, the latent is %lldx%lld: resize the "
                            "control image to the output size (%lldx%lld)",
                            (long long)e->shape[2], (long long)e->shape[1], (long long)w, (long long)h,
                            (long long)(w * cn->downscale), (long long)(h * cn->downscale));
    if (e->shape[0] == B) return e;
    sdc_tensor *r = sdc_new_4d(c, B, h, w, C);
    sdc_tensor *one = sdc_op_contiguous(c, e);
    if (!r || !one) return NULL;
    size_t n = (size_t)(h * w * C);
    for (int64_t b = 0; b < B; b++) memcpy((float *)r->data + (size_t)b * n, one->data, n * sizeof(float));
    return r;
}

/* acc += strength * linear(x) */
static sdc_tensor *residual(sdc_ctx *c, const sdc_tensor *x, const sdc_tensor *w, const sdc_tensor *b, float strength,
                            sdc_tensor *acc) {
    sdc_tensor *r = sdc_op_scale_(c, sdc_op_linear(c, x, w, b), strength);
    return acc ? sdc_op_add_(c, acc, r) : r;
}

sdc_status sdc_controlnet_forward_encoded(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *x,
                                          const sdc_tensor *t, const sdc_tensor *context, const sdc_tensor *hint_emb,
                                          float strength, sdc_control_residuals *acc) {
    if (!x || !hint_emb || !sdc_ctx_ok(c)) return sdc_ctx_ok(c) ? SDC_ERR_INVALID_ARG : c->err.status;
    const sdc_unet_config *cfg = &cn->trunk->cfg;
    if (x->ndim != 4) {
        sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "controlnet: latents must be NCHW [B, C, h, w]");
        return c->err.status;
    }
    if (acc->n_skip && acc->n_skip != cfg->n_input) {
        sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "controlnet: ControlNets with %d and %d input blocks cannot be combined",
                     acc->n_skip, cfg->n_input);
        return c->err.status;
    }
    const sdc_tensor *hint = hint_batch(c, cn, x, hint_emb);
    sdc_tensor *skips[SDC_UNET_MAX_BLOCKS] = {0};
    sdc_tensor *mid = hint ? sdc_unet_forward_encoder(c, cn->trunk, x, t, context, hint, skips) : NULL;
    if (!mid) return c->err.status ? c->err.status : SDC_ERR_INTERNAL;
    for (int i = 0; i < cfg->n_input; i++) {
        acc->skip[i] = residual(c, skips[i], cn->zero_w[i], cn->zero_b[i], strength, acc->skip[i]);
        acc->skip_c[i] = acc->skip[i];
        sdc_ctx_dump(c, acc->skip[i], "controlnet.skip.%d", i);
    }
    acc->mid = residual(c, mid, cn->mid_w, cn->mid_b, strength, acc->mid);
    sdc_ctx_dump(c, acc->mid, "controlnet.mid");
    acc->n_skip = cfg->n_input;
    acc->extra = (sdc_unet_extra){.skip_add = acc->skip_c, .n_skip_add = acc->n_skip, .mid_add = acc->mid};
    return c->err.status;
}

sdc_status sdc_controlnet_forward(sdc_ctx *c, const sdc_controlnet *cn, const sdc_tensor *x, const sdc_tensor *t,
                                  const sdc_tensor *context, const sdc_tensor *hint, float strength,
                                  sdc_control_residuals *acc) {
    sdc_tensor *e = sdc_controlnet_encode_hint(c, cn, hint);
    return e ? sdc_controlnet_forward_encoded(c, cn, x, t, context, e, strength, acc) : c->err.status;
}

bool sdc_control_active(int step, int n_steps, float start, float end) {
    if (n_steps <= 0 || step < 0 || step >= n_steps) return false;
    return (float)step / (float)n_steps >= start && (float)(step + 1) / (float)n_steps <= end;
}

sdc_status sdc_control_units_run(sdc_ctx *c, const sdc_control_unit *units, int n_units, int step, int n_steps,
                                 const sdc_tensor *x, const sdc_tensor *t, const sdc_tensor *context,
                                 sdc_control_residuals *r, const sdc_unet_extra **extra) {
    sdc_control_residuals_init(r);
    *extra = NULL;
    for (int i = 0; i < n_units && sdc_ctx_ok(c); i++) {
        if (!sdc_control_active(step, n_steps, units[i].start, units[i].end) || units[i].strength == 0.0f) continue;
        sdc_controlnet_forward_encoded(c, units[i].cn, x, t, context, units[i].hint_emb, units[i].strength, r);
    }
    if (r->n_skip && sdc_ctx_ok(c)) *extra = &r->extra;
    return c->err.status;
}
