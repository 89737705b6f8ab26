/* U-Net: loading from key names and the forward pass (see unet.h). */
#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define GN_GROUPS 32
#define RES_EPS 1e-5f
#define ATTN_GN_EPS 1e-6f
#define LN_EPS 1e-5f

/* ---- loading ------------------------------------------------------------ */

static void load_res(sdc_wload *l, const char *p, sdc_resblock *r) {
    const sdc_weight_info *c1 = sdc_wl_info(l, "%s.in_layers.2.weight", p);
    if (!c1 || c1->ndim != 4) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "ResBlock '%s%s' lacks its first convolution", l->prefix, p);
        return;
    }
    r->cout = c1->shape[0];
    r->cin = c1->shape[1];
    r->norm1_w = sdc_wl_vec(l, r->cin, "%s.in_layers.0.weight", p);
    r->norm1_b = sdc_wl_vec(l, r->cin, "%s.in_layers.0.bias", p);
    r->conv1_w = sdc_wl_conv(l, r->cout, r->cin, 3, 3, "%s.in_layers.2.weight", p);
    r->conv1_b = sdc_wl_vec(l, r->cout, "%s.in_layers.2.bias", p);
    l->no_pack = 1; /* used with one row per image */
    r->emb_w = sdc_wl_linear(l, r->cout, -1, "%s.emb_layers.1.weight", p);
    l->no_pack = 0;
    r->emb_b = sdc_wl_vec(l, r->cout, "%s.emb_layers.1.bias", p);
    r->norm2_w = sdc_wl_vec(l, r->cout, "%s.out_layers.0.weight", p);
    r->norm2_b = sdc_wl_vec(l, r->cout, "%s.out_layers.0.bias", p);
    r->conv2_w = sdc_wl_conv(l, r->cout, r->cout, 3, 3, "%s.out_layers.3.weight", p);
    r->conv2_b = sdc_wl_vec(l, r->cout, "%s.out_layers.3.bias", p);
    if (sdc_wl_has(l, "%s.skip_connection.weight", p)) {
        r->skip_w = sdc_wl_linear(l, r->cout, r->cin, "%s.skip_connection.weight", p);
        r->skip_b = sdc_wl_vec(l, r->cout, "%s.skip_connection.bias", p);
    } else if (r->cin != r->cout) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "ResBlock '%s%s' changes channels but has no skip connection", l->prefix, p);
    }
}

static void load_tblock(sdc_wload *l, const char *p, int64_t C, int64_t ctx_dim, sdc_tblock *b) {
    char q[512], k[512], v[512];
    snprintf(q, sizeof q, "%s.attn1.to_q.weight", p);
    snprintf(k, sizeof k, "%s.attn1.to_k.weight", p);
    snprintf(v, sizeof v, "%s.attn1.to_v.weight", p);
    const char *qkv[3] = {q, k, v};
    b->norm1_w = sdc_wl_vec(l, C, "%s.norm1.weight", p);
    b->norm1_b = sdc_wl_vec(l, C, "%s.norm1.bias", p);
    b->qkv_w = sdc_wl_linear_cat(l, 3, qkv, C);
    b->o1_w = sdc_wl_linear(l, C, C, "%s.attn1.to_out.0.weight", p);
    b->o1_b = sdc_wl_vec(l, C, "%s.attn1.to_out.0.bias", p);
    snprintf(k, sizeof k, "%s.attn2.to_k.weight", p);
    snprintf(v, sizeof v, "%s.attn2.to_v.weight", p);
    const char *kv[2] = {k, v};
    b->norm2_w = sdc_wl_vec(l, C, "%s.norm2.weight", p);
    b->norm2_b = sdc_wl_vec(l, C, "%s.norm2.bias", p);
    b->q2_w = sdc_wl_linear(l, C, C, "%s.attn2.to_q.weight", p);
    b->kv2_w = sdc_wl_linear_cat(l, 2, kv, ctx_dim);
    b->o2_w = sdc_wl_linear(l, C, C, "%s.attn2.to_out.0.weight", p);
    b->o2_b = sdc_wl_vec(l, C, "%s.attn2.to_out.0.bias", p);
    b->norm3_w = sdc_wl_vec(l, C, "%s.norm3.weight", p);
    b->norm3_b = sdc_wl_vec(l, C, "%s.norm3.bias", p);
    b->ff1_w = sdc_wl_linear(l, -1, C, "%s.ff.net.0.proj.weight", p);
    b->ff1_b = sdc_wl_vec(l, b->ff1_w ? b->ff1_w->shape[0] : -1, "%s.ff.net.0.proj.bias", p);
    b->ff2_w = sdc_wl_linear(l, C, b->ff1_w ? b->ff1_w->shape[0] / 2 : -1, "%s.ff.net.2.weight", p);
    b->ff2_b = sdc_wl_vec(l, C, "%s.ff.net.2.bias", p);
}

static void load_transformer(sdc_wload *l, const char *p, const sdc_unet_config *cfg, sdc_transformer *t) {
    const sdc_weight_info *n = sdc_wl_info(l, "%s.norm.weight", p);
    if (!n) return;
    t->C = sdc_weight_numel(n);
    t->heads = cfg->num_heads > 0 ? cfg->num_heads : t->C / cfg->head_dim;
    /* test-size models narrower than one 64-wide head follow the SD 1.x
     * convention (8 heads) instead; real SD 2.x widths always fit */
    if (!cfg->num_heads && (t->C < cfg->head_dim || t->C % cfg->head_dim) && t->C % 8 == 0) t->heads = 8;
    if (t->heads < 1 || t->C % t->heads) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "transformer '%s%s': %lld channels cannot split into heads", l->prefix, p,
                      (long long)t->C);
        return;
    }
    while (sdc_wl_has(l, "%s.transformer_blocks.%d.norm1.weight", p, (int)t->depth)) t->depth++;
    t->blocks = calloc((size_t)SDC_MAX(t->depth, 1), sizeof *t->blocks);
    if (!t->blocks) {
        sdc_error_set(l->err, SDC_ERR_OOM, "out of memory");
        return;
    }
    t->norm_w = sdc_wl_vec(l, t->C, "%s.norm.weight", p);
    t->norm_b = sdc_wl_vec(l, t->C, "%s.norm.bias", p);
    t->proj_in_w = sdc_wl_linear(l, t->C, t->C, "%s.proj_in.weight", p);
    t->proj_in_b = sdc_wl_vec(l, t->C, "%s.proj_in.bias", p);
    t->proj_out_w = sdc_wl_linear(l, t->C, t->C, "%s.proj_out.weight", p);
    t->proj_out_b = sdc_wl_vec(l, t->C, "%s.proj_out.bias", p);
    char bp[256];
    for (int64_t i = 0; i < t->depth && sdc_wl_ok(l); i++) {
        snprintf(bp, sizeof bp, "%s.transformer_blocks.%d", p, (int)i);
        load_tblock(l, bp, t->C, cfg->context_dim, &t->blocks[i]);
    }
}

/* Fills block `b` named e.g. "input_blocks.4" from whatever its keys hold. */
static void load_block(sdc_wload *l, const char *name, const sdc_unet_config *cfg, sdc_unet_block *b) {
    char p[128];
    b->n = 0;
    for (int i = 0; i < 3 && sdc_wl_ok(l); i++) {
        snprintf(p, sizeof p, "%s.%d", name, i);
        sdc_unet_layer *L = &b->layer[b->n];
        if (sdc_wl_has(l, "%s.in_layers.0.weight", p)) {
            L->kind = SDC_UL_RES;
            load_res(l, p, &L->res);
        } else if (sdc_wl_has(l, "%s.norm.weight", p)) {
            L->kind = SDC_UL_ATTN;
            load_transformer(l, p, cfg, &L->attn);
        } else if (sdc_wl_has(l, "%s.op.weight", p)) {
            L->kind = SDC_UL_DOWN;
            L->conv_w = sdc_wl_conv(l, -1, -1, 3, 3, "%s.op.weight", p);
            L->conv_b = sdc_wl_vec(l, -1, "%s.op.bias", p);
        } else if (sdc_wl_has(l, "%s.conv.weight", p)) {
            L->kind = SDC_UL_UP;
            L->conv_w = sdc_wl_conv(l, -1, -1, 3, 3, "%s.conv.weight", p);
            L->conv_b = sdc_wl_vec(l, -1, "%s.conv.bias", p);
        } else if (sdc_wl_has(l, "%s.weight", p)) {
            L->kind = SDC_UL_CONV_IN;
            L->conv_w = sdc_wl_conv(l, -1, cfg->in_ch, 3, 3, "%s.weight", p);
            L->conv_b = sdc_wl_vec(l, -1, "%s.bias", p);
        } else {
            break;
        }
        b->n++;
    }
    if (b->n == 0 && sdc_wl_ok(l)) sdc_error_set(l->err, SDC_ERR_FORMAT, "U-Net block '%s%s' has no known layer", l->prefix, name);
}

static void read_config(sdc_wload *l, const sdc_unet_opts *opts, sdc_unet_config *cfg) {
    const sdc_weight_info *cin = sdc_wl_info(l, "input_blocks.0.0.weight");
    const sdc_weight_info *cout = sdc_wl_info(l, "out.2.weight"); /* absent in a ControlNet */
    const sdc_weight_info *t1 = sdc_wl_info(l, "time_embed.0.weight");
    if (!cin || !t1 || cin->ndim != 4 || (cout && cout->ndim != 4) || t1->ndim != 2) {
        sdc_error_set(l->err, SDC_ERR_FORMAT, "no U-Net found (missing %sinput_blocks.0.0 / time_embed)", l->prefix);
        return;
    }
    cfg->model_ch = cin->shape[0];
    cfg->in_ch = cin->shape[1];
    cfg->out_ch = cout ? cout->shape[0] : 0;
    cfg->emb_dim = t1->shape[0];
    while (sdc_wl_has(l, "input_blocks.%d.0.weight", cfg->n_input) || sdc_wl_has(l, "input_blocks.%d.0.in_layers.0.weight", cfg->n_input) ||
           sdc_wl_has(l, "input_blocks.%d.0.op.weight", cfg->n_input))
        cfg->n_input++;
    while (sdc_wl_has(l, "output_blocks.%d.0.in_layers.0.weight", cfg->n_output)) cfg->n_output++;
    if (cfg->n_input > SDC_UNET_MAX_BLOCKS || cfg->n_output > SDC_UNET_MAX_BLOCKS || cfg->n_input < 1) {
        sdc_error_set(l->err, SDC_ERR_UNSUPPORTED, "U-Net with %d input / %d output blocks", cfg->n_input, cfg->n_output);
        return;
    }
    const sdc_weight_info *k2 = NULL;
    for (int i = 0; i < cfg->n_input && !k2; i++) k2 = sdc_wl_info(l, "input_blocks.%d.1.transformer_blocks.0.attn2.to_k.weight", i);
    if (!k2) k2 = sdc_wl_info(l, "middle_block.1.transformer_blocks.0.attn2.to_k.weight");
    cfg->context_dim = k2 && k2->ndim == 2 ? k2->shape[1] : 0;
    cfg->num_heads = opts ? opts->num_heads : 0;
    cfg->head_dim = opts && !cfg->num_heads ? opts->head_dim : 0;
    if (!cfg->num_heads && !cfg->head_dim) {
        /* SD 1.x (CLIP-L context 768) uses 8 heads; SD 2.x and SDXL use 64-wide heads */
        if (cfg->context_dim == 1024 || cfg->context_dim == 2048) cfg->head_dim = 64;
        else cfg->num_heads = 8;
    }
}

sdc_status sdc_unet_load(const sdc_model_files *m, const char *prefix, const sdc_unet_opts *opts, sdc_unet **out,
                         sdc_error *err) {
    *out = NULL;
    sdc_unet *u = calloc(1, sizeof *u);
    if (!u) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    sdc_wload l = {.files = m, .store = &u->store, .mat_dtype = opts ? opts->mat_dtype : SDC_DTYPE_F32,
                   .err = err, .prefix = prefix ? prefix : SDC_UNET_PREFIX, .patch = opts ? opts->patch : NULL,
                   .release_source = 1, .pack = opts ? opts->pack : NULL};
    sdc_unet_config *cfg = &u->cfg;
    read_config(&l, opts, cfg);
    l.no_pack = 1; /* one row per image */
    u->time1_w = sdc_wl_linear(&l, cfg->emb_dim, cfg->model_ch, "time_embed.0.weight");
    u->time1_b = sdc_wl_vec(&l, cfg->emb_dim, "time_embed.0.bias");
    u->time2_w = sdc_wl_linear(&l, cfg->emb_dim, cfg->emb_dim, "time_embed.2.weight");
    u->time2_b = sdc_wl_vec(&l, cfg->emb_dim, "time_embed.2.bias");
    l.no_pack = 0;
    char name[64];
    for (int i = 0; i < cfg->n_input && sdc_wl_ok(&l); i++) {
        snprintf(name, sizeof name, "input_blocks.%d", i);
        load_block(&l, name, cfg, &u->input[i]);
    }
    load_block(&l, "middle_block", cfg, &u->middle);
    for (int i = 0; i < cfg->n_output && sdc_wl_ok(&l); i++) {
        snprintf(name, sizeof name, "output_blocks.%d", i);
        load_block(&l, name, cfg, &u->output[i]);
    }
    if (cfg->out_ch) { /* a full U-Net (a ControlNet stops after the middle block) */
        u->out_norm_w = sdc_wl_vec(&l, -1, "out.0.weight");
        u->out_norm_b = sdc_wl_vec(&l, -1, "out.0.bias");
        u->out_conv_w = sdc_wl_conv(&l, cfg->out_ch, -1, 3, 3, "out.2.weight");
        u->out_conv_b = sdc_wl_vec(&l, cfg->out_ch, "out.2.bias");
    }
    u->n_params = l.n_params;
    sdc_wl_free_temp(&l);
    if (!sdc_wl_ok(&l)) {
        sdc_unet_free(u);
        return err->status;
    }
    *out = u;
    return SDC_OK;
}

static void free_block(sdc_unet_block *b) {
    for (int i = 0; i < b->n; i++)
        if (b->layer[i].kind == SDC_UL_ATTN) free(b->layer[i].attn.blocks);
}

void sdc_unet_free(sdc_unet *u) {
    if (!u) return;
    for (int i = 0; i < SDC_UNET_MAX_BLOCKS; i++) {
        free_block(&u->input[i]);
        free_block(&u->output[i]);
    }
    free_block(&u->middle);
    sdc_wstore_free(&u->store);
    free(u);
}

/* ---- forward ---------------------------------------------------------------- */

/* x [B, H, W, C]; emb_silu [B, emb_dim] = silu(time embedding) */
static sdc_tensor *res_forward(sdc_ctx *c, const sdc_resblock *r, const sdc_tensor *x, const sdc_tensor *emb_silu) {
    sdc_tensor *h = sdc_op_group_norm(c, x, GN_GROUPS, r->norm1_w, r->norm1_b, RES_EPS, 1);
    h = sdc_op_conv2d(c, h, r->conv1_w, r->conv1_b, 1, 1);
    sdc_tensor *e = sdc_op_linear(c, emb_silu, r->emb_w, r->emb_b); /* [B, cout] */
    h = sdc_op_add_(c, h, e);
    h = sdc_op_group_norm_(c, h, GN_GROUPS, r->norm2_w, r->norm2_b, RES_EPS, 1);
    const sdc_tensor *skip = r->skip_w ? sdc_op_linear(c, x, r->skip_w, r->skip_b) : x;
    return sdc_op_conv2d_ex(c, h, r->conv2_w, r->conv2_b, 1, 1, 1, 1, 1, skip);
}

/* h [B, T, C] -> h + attn(norm(h)) etc., context [B, Tc, Cc] */
static sdc_tensor *tblock_forward(sdc_ctx *c, const sdc_tblock *b, int64_t heads, sdc_tensor *h, const sdc_tensor *ctx) {
    int64_t C = h->shape[2];
    sdc_tensor *n = sdc_op_layer_norm(c, h, b->norm1_w, b->norm1_b, LN_EPS);
    sdc_tensor *qkv = sdc_op_linear(c, n, b->qkv_w, NULL);
    if (!qkv) return NULL;
    sdc_tensor q = sdc_tensor_slice(qkv, 2, 0, C), k = sdc_tensor_slice(qkv, 2, C, C), v = sdc_tensor_slice(qkv, 2, 2 * C, C);
    sdc_tensor *a = sdc_op_attention(c, &q, &k, &v, (int)heads, 0);
    h = sdc_op_linear_res(c, a, b->o1_w, b->o1_b, h);
    n = sdc_op_layer_norm(c, h, b->norm2_w, b->norm2_b, LN_EPS);
    sdc_tensor *q2 = sdc_op_linear(c, n, b->q2_w, NULL);
    sdc_tensor *kv = sdc_op_linear(c, ctx, b->kv2_w, NULL);
    if (!kv) return NULL;
    sdc_tensor k2 = sdc_tensor_slice(kv, 2, 0, C), v2 = sdc_tensor_slice(kv, 2, C, C);
    a = sdc_op_attention(c, q2, &k2, &v2, (int)heads, 0);
    h = sdc_op_linear_res(c, a, b->o2_w, b->o2_b, h);
    n = sdc_op_layer_norm(c, h, b->norm3_w, b->norm3_b, LN_EPS);
    sdc_tensor *f = sdc_op_geglu(c, sdc_op_linear(c, n, b->ff1_w, b->ff1_b));
    return sdc_op_linear_res(c, f, b->ff2_w, b->ff2_b, h);
}

static sdc_tensor *transformer_forward(sdc_ctx *c, const sdc_transformer *t, const sdc_tensor *x, const sdc_tensor *ctx) {
    if (!x) return NULL;
    int64_t B = x->shape[0], H = x->shape[1], W = x->shape[2];
    sdc_tensor *h = sdc_op_group_norm(c, x, GN_GROUPS, t->norm_w, t->norm_b, ATTN_GN_EPS, 0);
    h = sdc_op_linear(c, h, t->proj_in_w, t->proj_in_b); /* [B, H, W, C]: 1x1 conv == linear in NHWC */
    if (!h) return NULL;
    sdc_tensor tok = sdc_tensor_reshape(h, 3, (int64_t[]){B, H * W, t->C});
    sdc_tensor *hs = &tok;
    for (int64_t i = 0; i < t->depth && hs; i++) hs = tblock_forward(c, &t->blocks[i], t->heads, hs, ctx);
    if (!hs) return NULL;
    sdc_tensor img = sdc_tensor_reshape(hs, 4, (int64_t[]){B, H, W, t->C});
    return sdc_op_linear_res(c, &img, t->proj_out_w, t->proj_out_b, x);
}

/* One layer. up_h / up_w: target size of an upsampler (the next skip). */
static sdc_tensor *layer_forward(sdc_ctx *c, const sdc_unet_layer *L, const sdc_tensor *h, const sdc_tensor *emb_silu,
                                 const sdc_tensor *ctx, int64_t up_h, int64_t up_w) {
    switch (L->kind) {
    case SDC_UL_RES: return res_forward(c, &L->res, h, emb_silu);
    case SDC_UL_ATTN: return transformer_forward(c, &L->attn, h, ctx);
    case SDC_UL_DOWN: return sdc_op_conv2d(c, h, L->conv_w, L->conv_b, 2, 1);
    case SDC_UL_CONV_IN: return sdc_op_conv2d(c, h, L->conv_w, L->conv_b, 1, 1);
    case SDC_UL_UP: return sdc_op_conv2d(c, sdc_op_upsample_nearest(c, h, up_h, up_w), L->conv_w, L->conv_b, 1, 1);
    }
    return NULL;
}

static sdc_tensor *block_forward(sdc_ctx *c, const sdc_unet_block *b, const sdc_tensor *h, const sdc_tensor *emb_silu,
                                 const sdc_tensor *ctx, int64_t up_h, int64_t up_w) {
    sdc_arena_mark mark = sdc_arena_get_mark(&c->arena);
    const sdc_tensor *y = h;
    for (int i = 0; i < b->n && y; i++) y = layer_forward(c, &b->layer[i], y, emb_silu, ctx, up_h, up_w);
    return sdc_keep(c, mark, y);
}

static sdc_tensor *time_embedding(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *t) {
    sdc_tensor *e = sdc_op_timestep_embedding(c, t, u->cfg.model_ch, 1, 0.0f);
    e = sdc_op_act_(c, SDC_ACT_SILU, sdc_op_linear(c, e, u->time1_w, u->time1_b));
    e = sdc_op_linear(c, e, u->time2_w, u->time2_b);
    return sdc_op_act_(c, SDC_ACT_SILU, e); /* every consumer applies SiLU first */
}

static bool check_inputs(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *x, const sdc_tensor *t,
                         const sdc_tensor *context) {
    const sdc_unet_config *cfg = &u->cfg;
    if (!x || !t || !context || !sdc_ctx_ok(c)) return false;
    if (x->ndim != 4 || x->shape[1] != cfg->in_ch || t->ndim != 1 || t->shape[0] != x->shape[0] || context->ndim != 3 ||
        context->shape[0] != x->shape[0] || context->shape[2] != cfg->context_dim) {
        sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "unet: inputs do not fit (latent channels %lld, context width %lld)",
                     (long long)cfg->in_ch, (long long)cfg->context_dim);
        return false;
    }
    return true;
}

/* Input blocks and middle block; skips[i] = output of input block i. */
static sdc_tensor *encoder_forward(sdc_ctx *c, const sdc_unet *u, sdc_tensor *h, const sdc_tensor *emb,
                                   const sdc_tensor *context, const sdc_tensor *hint_add, const sdc_unet_extra *extra,
                                   sdc_tensor **skips) {
    for (int i = 0; i < u->cfg.n_input; i++) {
        h = block_forward(c, &u->input[i], h, emb, context, 0, 0);
        if (i == 0 && hint_add) h = sdc_op_add_(c, h, hint_add);
        skips[i] = h;
        /* ControlNet residuals join the skip connections only; the encoder
         * path itself runs unchanged (ldm ControlledUnetModel, diffusers) */
        if (extra && i < extra->n_skip_add && extra->skip_add[i]) skips[i] = sdc_op_add(c, h, extra->skip_add[i]);
        sdc_ctx_dump(c, h, "unet.input_blocks.%d", i);
    }
    h = block_forward(c, &u->middle, h, emb, context, 0, 0);
    if (extra && extra->mid_add) h = sdc_op_add(c, h, extra->mid_add);
    sdc_ctx_dump(c, h, "unet.middle_block");
    return h;
}

sdc_tensor *sdc_unet_forward_encoder(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *x, const sdc_tensor *t,
                                     const sdc_tensor *context, const sdc_tensor *hint_add, sdc_tensor **skips) {
    if (!check_inputs(c, u, x, t, context)) return NULL;
    sdc_tensor *emb = time_embedding(c, u, t);
    return encoder_forward(c, u, sdc_op_nchw_to_nhwc(c, x), emb, context, hint_add, NULL, skips);
}

sdc_tensor *sdc_unet_time_embedding(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *t) { return time_embedding(c, u, t); }

sdc_tensor *sdc_unet_forward(sdc_ctx *c, const sdc_unet *u, const sdc_tensor *x, const sdc_tensor *t,
                             const sdc_tensor *context, const sdc_unet_extra *extra) {
    if (!check_inputs(c, u, x, t, context)) return NULL;
    const sdc_unet_config *cfg = &u->cfg;
    if (!cfg->out_ch) return sdc_ctx_fail(c, SDC_ERR_INVALID_ARG, "unet: this model has no output blocks (a ControlNet?)");
    sdc_tensor *emb = time_embedding(c, u, t);
    sdc_tensor *skips[SDC_UNET_MAX_BLOCKS];
    sdc_tensor *h = encoder_forward(c, u, sdc_op_nchw_to_nhwc(c, x), emb, context, NULL, extra, skips);
    int si = cfg->n_input;
    for (int i = 0; i < cfg->n_output && h; i++) {
        if (si <= 0) return sdc_ctx_fail(c, SDC_ERR_FORMAT, "unet: more output blocks than skip connections");
        h = sdc_op_concat_last(c, h, skips[--si]);
        const sdc_tensor *next = si > 0 ? skips[si - 1] : NULL;
        h = block_forward(c, &u->output[i], h, emb, context, next ? next->shape[1] : 0, next ? next->shape[2] : 0);
        sdc_ctx_dump(c, h, "unet.output_blocks.%d", i);
    }
    h = sdc_op_group_norm_(c, h, GN_GROUPS, u->out_norm_w, u->out_norm_b, RES_EPS, 1);
    h = sdc_op_conv2d(c, h, u->out_conv_w, u->out_conv_b, 1, 1);
    return sdc_op_nhwc_to_nchw(c, h);
}
