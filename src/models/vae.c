/* KL-f8 VAE (see vae.h). */
#include "models/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define GN_GROUPS 32
#define GN_EPS 1e-6f

/* ---- loading ------------------------------------------------------------ */

static void load_res(sdc_wload *l, const char *p, sdc_vae_res *r) {
    const sdc_weight_info *c1 = sdc_wl_info(l, "%s.conv1.weight", p);
    if (!c1 || c1->ndim != 4) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "VAE block '%s%s' lacks conv1", l->prefix, p);
        return;
    }
    r->cout = c1->shape[0];
    r->cin = c1->shape[1];
    r->norm1_w = sdc_wl_vec(l, r->cin, "%s.norm1.weight", p);
    r->norm1_b = sdc_wl_vec(l, r->cin, "%s.norm1.bias", p);
    r->conv1_w = sdc_wl_conv(l, r->cout, r->cin, 3, 3, "%s.conv1.weight", p);
    r->conv1_b = sdc_wl_vec(l, r->cout, "%s.conv1.bias", p);
    r->norm2_w = sdc_wl_vec(l, r->cout, "%s.norm2.weight", p);
    r->norm2_b = sdc_wl_vec(l, r->cout, "%s.norm2.bias", p);
    r->conv2_w = sdc_wl_conv(l, r->cout, r->cout, 3, 3, "%s.conv2.weight", p);
    r->conv2_b = sdc_wl_vec(l, r->cout, "%s.conv2.bias", p);
    if (sdc_wl_has(l, "%s.nin_shortcut.weight", p)) {
        r->short_w = sdc_wl_linear(l, r->cout, r->cin, "%s.nin_shortcut.weight", p);
        r->short_b = sdc_wl_vec(l, r->cout, "%s.nin_shortcut.bias", p);
    }
}

static void load_attn(sdc_wload *l, const char *p, sdc_vae_attn *a) {
    const sdc_weight_info *n = sdc_wl_info(l, "%s.norm.weight", p);
    if (!n) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "VAE attention '%s%s' missing", l->prefix, p);
        return;
    }
    int64_t C = a->C = sdc_weight_numel(n);
    char q[192], k[192], v[192], qb[192], kb[192], vb[192];
    snprintf(q, sizeof q, "%s.q.weight", p);
    snprintf(k, sizeof k, "%s.k.weight", p);
    snprintf(v, sizeof v, "%s.v.weight", p);
    snprintf(qb, sizeof qb, "%s.q.bias", p);
    snprintf(kb, sizeof kb, "%s.k.bias", p);
    snprintf(vb, sizeof vb, "%s.v.bias", p);
    const char *wn[3] = {q, k, v}, *bn[3] = {qb, kb, vb};
    int64_t sizes[3] = {C, C, C};
    a->norm_w = sdc_wl_vec(l, C, "%s.norm.weight", p);
    a->norm_b = sdc_wl_vec(l, C, "%s.norm.bias", p);
    /* q, k, v (1x1 convs [C, C, 1, 1] or linear [C, C]) stacked as one [3C, C] projection */
    a->qkv_w = sdc_wl_linear_cat(l, 3, wn, C);
    a->qkv_b = sdc_wl_vec_cat(l, 3, bn, sizes);
    a->proj_w = sdc_wl_linear(l, C, C, "%s.proj_out.weight", p);
    a->proj_b = sdc_wl_vec(l, C, "%s.proj_out.bias", p);
}

/* "encoder" / "decoder": levels are "down.i" / "up.i" with blocks and an
 * optional "downsample.conv" / "upsample.conv". */
static void load_half(sdc_wload *l, bool enc, sdc_vae_half *h) {
    const char *side = enc ? "encoder" : "decoder", *lv = enc ? "down" : "up";
    const char *samp = enc ? "downsample" : "upsample";
    char p[128];
    h->present = 1;
    h->conv_in_w = sdc_wl_conv(l, -1, -1, 3, 3, "%s.conv_in.weight", side);
    h->conv_in_b = sdc_wl_vec(l, -1, "%s.conv_in.bias", side);
    while (h->n_levels < SDC_VAE_MAX_LEVELS && sdc_wl_has(l, "%s.%s.%d.block.0.conv1.weight", side, lv, h->n_levels)) h->n_levels++;
    if (h->n_levels == 0) sdc_error_set(l->err, SDC_ERR_FORMAT, "VAE %s has no levels", side);
    for (int i = 0; i < h->n_levels && sdc_wl_ok(l); i++) {
        sdc_vae_level *L = &h->level[i];
        while (L->n_res < SDC_VAE_MAX_RES && sdc_wl_has(l, "%s.%s.%d.block.%d.conv1.weight", side, lv, i, L->n_res)) {
            snprintf(p, sizeof p, "%s.%s.%d.block.%d", side, lv, i, L->n_res);
            load_res(l, p, &L->res[L->n_res++]);
        }
        if (sdc_wl_has(l, "%s.%s.%d.%s.conv.weight", side, lv, i, samp)) {
            L->sample_w = sdc_wl_conv(l, -1, -1, 3, 3, "%s.%s.%d.%s.conv.weight", side, lv, i, samp);
            L->sample_b = sdc_wl_vec(l, -1, "%s.%s.%d.%s.conv.bias", side, lv, i, samp);
        }
    }
    snprintf(p, sizeof p, "%s.mid.block_1", side);
    load_res(l, p, &h->mid1);
    snprintf(p, sizeof p, "%s.mid.attn_1", side);
    load_attn(l, p, &h->mid_attn);
    snprintf(p, sizeof p, "%s.mid.block_2", side);
    load_res(l, p, &h->mid2);
    h->norm_out_w = sdc_wl_vec(l, -1, "%s.norm_out.weight", side);
    h->norm_out_b = sdc_wl_vec(l, -1, "%s.norm_out.bias", side);
    h->conv_out_w = sdc_wl_conv(l, -1, -1, 3, 3, "%s.conv_out.weight", side);
    h->conv_out_b = sdc_wl_vec(l, -1, "%s.conv_out.bias", side);
    const char *q = enc ? "quant_conv" : "post_quant_conv";
    if (sdc_wl_has(l, "%s.weight", q)) {
        h->quant_w = sdc_wl_linear(l, -1, -1, "%s.weight", q);
        h->quant_b = sdc_wl_vec(l, -1, "%s.bias", q);
    }
}

sdc_status sdc_vae_load(const sdc_model_files *m, const char *prefix, sdc_dtype mat_dtype, float scaling_factor,
                        sdc_vae **out, sdc_error *err) {
    *out = NULL;
    sdc_vae *v = calloc(1, sizeof *v);
    if (!v) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_wload l = {.files = m, .store = &v->store, .mat_dtype = mat_dtype, .err = err, .release_source = 1,
                   .prefix = prefix ? prefix : SDC_VAE_PREFIX};
    v->scaling_factor = scaling_factor > 0 ? scaling_factor : 0.18215f;
    if (!sdc_wl_has(&l, "decoder.conv_in.weight")) {
        sdc_error_set(err, SDC_ERR_FORMAT, "no VAE decoder in '%s' (missing %sdecoder.conv_in.weight)", m->path, l.prefix);
    } else {
        load_half(&l, false, &v->dec);
        v->latent_ch = v->dec.conv_in_w ? v->dec.conv_in_w->shape[3] : 0;
        if (sdc_wl_has(&l, "encoder.conv_in.weight")) load_half(&l, true, &v->enc);
    }
    v->n_params = l.n_params;
    if (!sdc_wl_ok(&l)) {
        sdc_vae_free(v);
        return err->status;
    }
    *out = v;
    return SDC_OK;
}

void sdc_vae_free(sdc_vae *v) {
    if (!v) return;
    sdc_wstore_free(&v->store);
    free(v);
}

/* ---- forward ---------------------------------------------------------------- */

/* Each stage replaces its input: the output is kept at `base`, a mark taken
 * before the input was allocated, so the input and every temporary are
 * freed (a decode at 512x512 would otherwise hold every level's tensors). */
static sdc_tensor *res_forward(sdc_ctx *c, const sdc_vae_res *r, const sdc_tensor *x, sdc_arena_mark base) {
    sdc_arena_mark mark = base;
    sdc_tensor *h = sdc_op_group_norm(c, x, GN_GROUPS, r->norm1_w, r->norm1_b, GN_EPS, 1);
    h = sdc_op_conv2d(c, h, r->conv1_w, r->conv1_b, 1, 1);
    h = sdc_op_group_norm_(c, h, GN_GROUPS, r->norm2_w, r->norm2_b, GN_EPS, 1);
    const sdc_tensor *skip = r->short_w ? sdc_op_linear(c, x, r->short_w, r->short_b) : x;
    return sdc_keep(c, mark, sdc_op_conv2d_ex(c, h, r->conv2_w, r->conv2_b, 1, 1, 1, 1, 1, skip));
}

static sdc_tensor *attn_forward(sdc_ctx *c, const sdc_vae_attn *a, const sdc_tensor *x, sdc_arena_mark base) {
    if (!x) return NULL;
    sdc_arena_mark mark = base;
    int64_t B = x->shape[0], H = x->shape[1], W = x->shape[2], C = a->C;
    sdc_tensor *h = sdc_op_group_norm(c, x, GN_GROUPS, a->norm_w, a->norm_b, GN_EPS, 0);
    sdc_tensor *qkv = sdc_op_linear(c, h, a->qkv_w, a->qkv_b); /* [B, H, W, 3C] */
    if (!qkv) return NULL;
    sdc_tensor flat = sdc_tensor_reshape(qkv, 3, (int64_t[]){B, H * W, 3 * C});
    sdc_tensor q = sdc_tensor_slice(&flat, 2, 0, C), k = sdc_tensor_slice(&flat, 2, C, C), v = sdc_tensor_slice(&flat, 2, 2 * C, C);
    sdc_tensor *o = sdc_op_attention(c, &q, &k, &v, 1, 0);
    if (!o) return NULL;
    sdc_tensor img = sdc_tensor_reshape(o, 4, (int64_t[]){B, H, W, C});
    return sdc_keep(c, mark, sdc_op_linear_res(c, &img, a->proj_w, a->proj_b, x));
}

static sdc_tensor *mid_forward(sdc_ctx *c, const sdc_vae_half *h, sdc_tensor *x, sdc_arena_mark base) {
    x = res_forward(c, &h->mid1, x, base);
    x = attn_forward(c, &h->mid_attn, x, base);
    return res_forward(c, &h->mid2, x, base);
}

static sdc_tensor *head_forward(sdc_ctx *c, const sdc_vae_half *h, sdc_tensor *x) {
    x = sdc_op_group_norm_(c, x, GN_GROUPS, h->norm_out_w, h->norm_out_b, GN_EPS, 1); /* x is not needed after */
    return sdc_op_conv2d(c, x, h->conv_out_w, h->conv_out_b, 1, 1);
}

sdc_tensor *sdc_vae_decode(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *z) {
    if (!z || !sdc_ctx_ok(c)) return NULL;
    if (z->ndim != 4 || z->shape[1] != v->latent_ch)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "vae decode: latent must be [B, %lld, h, w]", (long long)v->latent_ch);
    const sdc_vae_half *d = &v->dec;
    sdc_arena_mark base = sdc_arena_get_mark(&c->arena);
    sdc_tensor *x = sdc_op_nchw_to_nhwc(c, z);
    if (d->quant_w) x = sdc_op_linear(c, x, d->quant_w, d->quant_b);
    x = sdc_keep(c, base, sdc_op_conv2d(c, x, d->conv_in_w, d->conv_in_b, 1, 1));
    x = mid_forward(c, d, x, base);
    sdc_ctx_dump(c, x, "vae.decoder.mid");
    for (int i = d->n_levels - 1; i >= 0 && x; i--) {
        const sdc_vae_level *L = &d->level[i];
        for (int j = 0; j < L->n_res; j++) x = res_forward(c, &L->res[j], x, base);
        if (L->sample_w && x) {
            sdc_tensor *u = sdc_op_upsample_nearest(c, x, 2 * x->shape[1], 2 * x->shape[2]);
            x = sdc_keep(c, base, sdc_op_conv2d(c, u, L->sample_w, L->sample_b, 1, 1));
        }
        sdc_ctx_dump(c, x, "vae.decoder.up.%d", i);
    }
    x = head_forward(c, d, x);
    return sdc_op_nhwc_to_nchw(c, x);
}

sdc_tensor *sdc_vae_encode(sdc_ctx *c, const sdc_vae *v, const sdc_tensor *image) {
    if (!image || !sdc_ctx_ok(c)) return NULL;
    const sdc_vae_half *e = &v->enc;
    if (!e->present) return sdc_ctx_fail(c, SDC_ERR_UNSUPPORTED, "this VAE has no encoder");
    if (image->ndim != 4 || image->shape[1] != 3 || image->shape[2] % 8 || image->shape[3] % 8)
        return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "vae encode: image must be [B, 3, H, W] with H, W multiples of 8");
    sdc_arena_mark base = sdc_arena_get_mark(&c->arena);
    sdc_tensor *x = sdc_op_nchw_to_nhwc(c, image);
    x = sdc_keep(c, base, sdc_op_conv2d(c, x, e->conv_in_w, e->conv_in_b, 1, 1));
    for (int i = 0; i < e->n_levels && x; i++) {
        const sdc_vae_level *L = &e->level[i];
        for (int j = 0; j < L->n_res; j++) x = res_forward(c, &L->res[j], x, base);
        if (L->sample_w) /* ldm pads right and bottom by one, then convolves with stride 2 */
            x = sdc_keep(c, base, sdc_op_conv2d_ex(c, x, L->sample_w, L->sample_b, 2, 0, 0, 1, 1, NULL));
        sdc_ctx_dump(c, x, "vae.encoder.down.%d", i);
    }
    x = mid_forward(c, e, x, base);
    x = head_forward(c, e, x);
    if (e->quant_w) x = sdc_op_linear(c, x, e->quant_w, e->quant_b);
    if (!x) return NULL;
    /* clamp the log-variance half */
    int64_t C = x->shape[3], n = sdc_tensor_numel(x) / C, half = C / 2;
    float *d = x->data;
    for (int64_t p = 0; p < n; p++)
        for (int64_t ch = half; ch < C; ch++) d[p * C + ch] = fminf(fmaxf(d[p * C + ch], -30.0f), 20.0f);
    return sdc_op_nhwc_to_nchw(c, x);
}
