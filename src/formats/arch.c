/* Table-driven checkpoint layouts (see arch.h). */
#include "formats/arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* symbolic dims, resolved per module from an env */
enum { D_CIN, D_COUT, D_C, D_TEMB, D_CTX, D_FF2, D_FF, D_MLP, D_W3, D_ONE, D_THREE, D_NINE, D_N };

enum { ALWAYS, IF_SKIP, IF_CONV_PROJ, IF_LINEAR_PROJ };

typedef struct {
    const char *suffix;
    sdc_arch_init init;
    int ndim;
    signed char dims[4];
    signed char fan[2];  /* fan-in = product of these dims (-1: unused) */
    int cond;
} tmpl;

#define W(s, nd, a, b, c, d, f0, f1) {s, SDC_ARCH_INIT_WEIGHT, nd, {a, b, c, d}, {f0, f1}, ALWAYS}
#define B(s, a, f0, f1) {s, SDC_ARCH_INIT_BIAS, 1, {a, 0, 0, 0}, {f0, f1}, ALWAYS}
#define NW(s, a) {s, SDC_ARCH_INIT_NORM_W, 1, {a, 0, 0, 0}, {-1, -1}, ALWAYS}
#define NB(s, a) {s, SDC_ARCH_INIT_NORM_B, 1, {a, 0, 0, 0}, {-1, -1}, ALWAYS}

/* ldm ResBlock: CIN -> COUT, time embedding TEMB; fan-in of a 3x3 conv is C * 9 (D_NINE) */
static const tmpl k_unet_res[] = {
    NW("in_layers.0.weight", D_CIN), NB("in_layers.0.bias", D_CIN),
    W("in_layers.2.weight", 4, D_COUT, D_CIN, D_THREE, D_THREE, D_CIN, D_NINE), B("in_layers.2.bias", D_COUT, D_CIN, D_NINE),
    W("emb_layers.1.weight", 2, D_COUT, D_TEMB, 0, 0, D_TEMB, -1), B("emb_layers.1.bias", D_COUT, D_TEMB, -1),
    NW("out_layers.0.weight", D_COUT), NB("out_layers.0.bias", D_COUT),
    W("out_layers.3.weight", 4, D_COUT, D_COUT, D_THREE, D_THREE, D_COUT, D_NINE), B("out_layers.3.bias", D_COUT, D_COUT, D_NINE),
    {"skip_connection.weight", SDC_ARCH_INIT_WEIGHT, 4, {D_COUT, D_CIN, D_ONE, D_ONE}, {D_CIN, -1}, IF_SKIP},
    {"skip_connection.bias", SDC_ARCH_INIT_BIAS, 1, {D_COUT}, {D_CIN, -1}, IF_SKIP},
};

/* SpatialTransformer around its blocks: C channels (inner dim = C) */
static const tmpl k_st_outer[] = {
    NW("norm.weight", D_C), NB("norm.bias", D_C),
    {"proj_in.weight", SDC_ARCH_INIT_WEIGHT, 4, {D_C, D_C, D_ONE, D_ONE}, {D_C, -1}, IF_CONV_PROJ},
    {"proj_in.weight", SDC_ARCH_INIT_WEIGHT, 2, {D_C, D_C}, {D_C, -1}, IF_LINEAR_PROJ},
    B("proj_in.bias", D_C, D_C, -1),
    {"proj_out.weight", SDC_ARCH_INIT_WEIGHT, 4, {D_C, D_C, D_ONE, D_ONE}, {D_C, -1}, IF_CONV_PROJ},
    {"proj_out.weight", SDC_ARCH_INIT_WEIGHT, 2, {D_C, D_C}, {D_C, -1}, IF_LINEAR_PROJ},
    B("proj_out.bias", D_C, D_C, -1),
};

/* BasicTransformerBlock: self-attention, cross-attention (context CTX), GEGLU feed-forward (FF = 4C, FF2 = 8C) */
static const tmpl k_st_block[] = {
    W("attn1.to_q.weight", 2, D_C, D_C, 0, 0, D_C, -1), W("attn1.to_k.weight", 2, D_C, D_C, 0, 0, D_C, -1),
    W("attn1.to_v.weight", 2, D_C, D_C, 0, 0, D_C, -1), W("attn1.to_out.0.weight", 2, D_C, D_C, 0, 0, D_C, -1),
    B("attn1.to_out.0.bias", D_C, D_C, -1),
    W("ff.net.0.proj.weight", 2, D_FF2, D_C, 0, 0, D_C, -1), B("ff.net.0.proj.bias", D_FF2, D_C, -1),
    W("ff.net.2.weight", 2, D_C, D_FF, 0, 0, D_FF, -1), B("ff.net.2.bias", D_C, D_FF, -1),
    W("attn2.to_q.weight", 2, D_C, D_C, 0, 0, D_C, -1), W("attn2.to_k.weight", 2, D_C, D_CTX, 0, 0, D_CTX, -1),
    W("attn2.to_v.weight", 2, D_C, D_CTX, 0, 0, D_CTX, -1), W("attn2.to_out.0.weight", 2, D_C, D_C, 0, 0, D_C, -1),
    B("attn2.to_out.0.bias", D_C, D_C, -1),
    NW("norm1.weight", D_C), NB("norm1.bias", D_C), NW("norm2.weight", D_C), NB("norm2.bias", D_C),
    NW("norm3.weight", D_C), NB("norm3.bias", D_C),
};

/* VAE ResnetBlock CIN -> COUT and AttnBlock (1x1 convs) on C */
static const tmpl k_vae_res[] = {
    NW("norm1.weight", D_CIN), NB("norm1.bias", D_CIN),
    W("conv1.weight", 4, D_COUT, D_CIN, D_THREE, D_THREE, D_CIN, D_NINE), B("conv1.bias", D_COUT, D_CIN, D_NINE),
    NW("norm2.weight", D_COUT), NB("norm2.bias", D_COUT),
    W("conv2.weight", 4, D_COUT, D_COUT, D_THREE, D_THREE, D_COUT, D_NINE), B("conv2.bias", D_COUT, D_COUT, D_NINE),
    {"nin_shortcut.weight", SDC_ARCH_INIT_WEIGHT, 4, {D_COUT, D_CIN, D_ONE, D_ONE}, {D_CIN, -1}, IF_SKIP},
    {"nin_shortcut.bias", SDC_ARCH_INIT_BIAS, 1, {D_COUT}, {D_CIN, -1}, IF_SKIP},
};
static const tmpl k_vae_attn[] = {
    NW("norm.weight", D_C), NB("norm.bias", D_C),
    W("q.weight", 4, D_C, D_C, D_ONE, D_ONE, D_C, -1), B("q.bias", D_C, D_C, -1),
    W("k.weight", 4, D_C, D_C, D_ONE, D_ONE, D_C, -1), B("k.bias", D_C, D_C, -1),
    W("v.weight", 4, D_C, D_C, D_ONE, D_ONE, D_C, -1), B("v.bias", D_C, D_C, -1),
    W("proj_out.weight", 4, D_C, D_C, D_ONE, D_ONE, D_C, -1), B("proj_out.bias", D_C, D_C, -1),
};

/* text encoder layers: width C, MLP width MLP, OpenCLIP's packed q/k/v W3 = 3C */
static const tmpl k_clip_layer[] = {
    NW("layer_norm1.weight", D_C), NB("layer_norm1.bias", D_C),
    W("self_attn.q_proj.weight", 2, D_C, D_C, 0, 0, D_C, -1), B("self_attn.q_proj.bias", D_C, D_C, -1),
    W("self_attn.k_proj.weight", 2, D_C, D_C, 0, 0, D_C, -1), B("self_attn.k_proj.bias", D_C, D_C, -1),
    W("self_attn.v_proj.weight", 2, D_C, D_C, 0, 0, D_C, -1), B("self_attn.v_proj.bias", D_C, D_C, -1),
    W("self_attn.out_proj.weight", 2, D_C, D_C, 0, 0, D_C, -1), B("self_attn.out_proj.bias", D_C, D_C, -1),
    NW("layer_norm2.weight", D_C), NB("layer_norm2.bias", D_C),
    W("mlp.fc1.weight", 2, D_MLP, D_C, 0, 0, D_C, -1), B("mlp.fc1.bias", D_MLP, D_C, -1),
    W("mlp.fc2.weight", 2, D_C, D_MLP, 0, 0, D_MLP, -1), B("mlp.fc2.bias", D_C, D_MLP, -1),
};
static const tmpl k_openclip_layer[] = {
    NW("ln_1.weight", D_C), NB("ln_1.bias", D_C),
    W("attn.in_proj_weight", 2, D_W3, D_C, 0, 0, D_C, -1), B("attn.in_proj_bias", D_W3, D_C, -1),
    W("attn.out_proj.weight", 2, D_C, D_C, 0, 0, D_C, -1), B("attn.out_proj.bias", D_C, D_C, -1),
    NW("ln_2.weight", D_C), NB("ln_2.bias", D_C),
    W("mlp.c_fc.weight", 2, D_MLP, D_C, 0, 0, D_C, -1), B("mlp.c_fc.bias", D_MLP, D_C, -1),
    W("mlp.c_proj.weight", 2, D_C, D_MLP, 0, 0, D_MLP, -1), B("mlp.c_proj.bias", D_C, D_MLP, -1),
};

/* ---- emitting ---- */

typedef struct {
    sdc_arch_tensor *t;
    size_t n, cap;
    sdc_status st;
    sdc_error *err;
    int linear_proj;
} list;

static void push(list *L, const char *name, sdc_arch_init init, int ndim, const int64_t *shape, int64_t fan_in) {
    if (L->st) return;
    if (L->n == L->cap) {
        size_t ncap = L->cap ? 2 * L->cap : 512;
        sdc_arch_tensor *nt = realloc(L->t, ncap * sizeof *nt);
        if (!nt) {
            L->st = sdc_error_set(L->err, SDC_ERR_OOM, "out of memory");
            return;
        }
        L->t = nt;
        L->cap = ncap;
    }
    sdc_arch_tensor *t = &L->t[L->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = sdc_strdup(name))) {
        L->st = sdc_error_set(L->err, SDC_ERR_OOM, "out of memory");
        return;
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->init = init;
    t->fan_in = fan_in;
    L->n++;
}

static void emit(list *L, const char *prefix, const tmpl *T, size_t nt, const int64_t *env) {
    char name[512];
    for (size_t i = 0; i < nt; i++) {
        const tmpl *e = &T[i];
        if ((e->cond == IF_SKIP && env[D_CIN] == env[D_COUT]) || (e->cond == IF_CONV_PROJ && L->linear_proj) ||
            (e->cond == IF_LINEAR_PROJ && !L->linear_proj))
            continue;
        int64_t shape[4], fan = 1;
        for (int d = 0; d < e->ndim; d++) shape[d] = env[(int)e->dims[d]];
        for (int f = 0; f < 2; f++)
            if (e->fan[f] >= 0) fan *= env[(int)e->fan[f]];
        snprintf(name, sizeof name, "%s%s", prefix, e->suffix);
        push(L, name, e->init, e->ndim, shape, fan);
    }
}

/* One-off tensors: conv / linear weight + bias pairs and norms. */
static void conv(list *L, const char *name, int64_t out, int64_t in, int64_t k) {
    char n[512];
    int64_t s[4] = {out, in, k, k};
    snprintf(n, sizeof n, "%s.weight", name);
    push(L, n, SDC_ARCH_INIT_WEIGHT, k ? 4 : 2, s, in * (k ? k * k : 1));
    snprintf(n, sizeof n, "%s.bias", name);
    push(L, n, SDC_ARCH_INIT_BIAS, 1, s, in * (k ? k * k : 1));
}

static void norm(list *L, const char *name, int64_t c) {
    char n[512];
    snprintf(n, sizeof n, "%s.weight", name);
    push(L, n, SDC_ARCH_INIT_NORM_W, 1, &c, 1);
    snprintf(n, sizeof n, "%s.bias", name);
    push(L, n, SDC_ARCH_INIT_NORM_B, 1, &c, 1);
}

/* ---- walks ---- */

static void env_init(int64_t *env) {
    memset(env, 0, D_N * sizeof *env);
    env[D_ONE] = 1;
    env[D_THREE] = 3;
    env[D_NINE] = 9;
}

static void unet_res(list *L, const char *prefix, int64_t cin, int64_t cout, int64_t temb) {
    int64_t env[D_N];
    env_init(env);
    env[D_CIN] = cin, env[D_COUT] = cout, env[D_TEMB] = temb;
    emit(L, prefix, k_unet_res, SDC_ARRAY_LEN(k_unet_res), env);
}

static void unet_attn(list *L, const char *prefix, int64_t c, int64_t ctx, int depth) {
    int64_t env[D_N];
    env_init(env);
    env[D_C] = c, env[D_CTX] = ctx, env[D_FF] = 4 * c, env[D_FF2] = 8 * c;
    emit(L, prefix, k_st_outer, SDC_ARRAY_LEN(k_st_outer), env);
    char p[256];
    for (int k = 0; k < depth; k++) {
        snprintf(p, sizeof p, "%stransformer_blocks.%d.", prefix, k);
        emit(L, p, k_st_block, SDC_ARRAY_LEN(k_st_block), env);
    }
}

#define UP "model.diffusion_model."

static void unet_output_blocks(list *L, const sdc_arch_unet *u, int64_t ch, int64_t *chans, int nchans, int64_t temb) {
    char p[256];
    int b = 0;
    for (int level = u->n_levels - 1; level >= 0; level--) {
        for (int r = 0; r <= u->num_res_blocks; r++, b++) {
            int64_t cout = u->model_channels * u->channel_mult[level], skip = nchans > 0 ? chans[--nchans] : 0;
            snprintf(p, sizeof p, UP "output_blocks.%d.0.", b);
            unet_res(L, p, ch + skip, cout, temb);
            ch = cout;
            int k = 1;
            if (u->depth[level]) {
                snprintf(p, sizeof p, UP "output_blocks.%d.1.", b);
                unet_attn(L, p, ch, u->context_dim, u->depth[level]);
                k = 2;
            }
            if (level > 0 && r == u->num_res_blocks) {
                snprintf(p, sizeof p, UP "output_blocks.%d.%d.conv", b, k);
                conv(L, p, ch, ch, 3);
            }
        }
    }
    norm(L, UP "out.0", ch);
    conv(L, UP "out.2", u->out_channels, ch, 3);
}

static void unet(list *L, const sdc_arch_unet *u) {
    int64_t mc = u->model_channels, temb = 4 * mc, chans[128], ch = mc;
    int nchans = 0, b = 1;
    char p[256];
    L->linear_proj = u->linear_proj;
    conv(L, UP "time_embed.0", temb, mc, 0);
    conv(L, UP "time_embed.2", temb, temb, 0);
    if (u->adm_in_channels) {
        conv(L, UP "label_emb.0.0", temb, u->adm_in_channels, 0);
        conv(L, UP "label_emb.0.2", temb, temb, 0);
    }
    conv(L, UP "input_blocks.0.0", mc, u->in_channels, 3);
    chans[nchans++] = mc;
    for (int level = 0; level < u->n_levels; level++) {
        for (int r = 0; r < u->num_res_blocks; r++, b++) {
            snprintf(p, sizeof p, UP "input_blocks.%d.0.", b);
            unet_res(L, p, ch, mc * u->channel_mult[level], temb);
            ch = mc * u->channel_mult[level];
            if (u->depth[level]) {
                snprintf(p, sizeof p, UP "input_blocks.%d.1.", b);
                unet_attn(L, p, ch, u->context_dim, u->depth[level]);
            }
            if (nchans < 128) chans[nchans++] = ch;
        }
        if (level != u->n_levels - 1) {
            snprintf(p, sizeof p, UP "input_blocks.%d.0.op", b++);
            conv(L, p, ch, ch, 3);
            if (nchans < 128) chans[nchans++] = ch;
        }
    }
    unet_res(L, UP "middle_block.0.", ch, ch, temb);
    if (u->mid_depth) unet_attn(L, UP "middle_block.1.", ch, u->context_dim, u->mid_depth);
    unet_res(L, u->mid_depth ? UP "middle_block.2." : UP "middle_block.1.", ch, ch, temb);
    unet_output_blocks(L, u, ch, chans, nchans, temb);
}

#define VP "first_stage_model."

static void vae_res(list *L, const char *prefix, int64_t cin, int64_t cout) {
    int64_t env[D_N];
    env_init(env);
    env[D_CIN] = cin, env[D_COUT] = cout;
    emit(L, prefix, k_vae_res, SDC_ARRAY_LEN(k_vae_res), env);
}

static void vae_mid(list *L, const char *part, int64_t c) {
    char p[256];
    int64_t env[D_N];
    env_init(env);
    env[D_C] = c;
    snprintf(p, sizeof p, VP "%s.mid.block_1.", part);
    vae_res(L, p, c, c);
    snprintf(p, sizeof p, VP "%s.mid.attn_1.", part);
    emit(L, p, k_vae_attn, SDC_ARRAY_LEN(k_vae_attn), env);
    snprintf(p, sizeof p, VP "%s.mid.block_2.", part);
    vae_res(L, p, c, c);
}

static void vae(list *L, const sdc_arch_vae *v) {
    char p[256];
    int64_t cin = v->ch;
    conv(L, VP "encoder.conv_in", v->ch, v->in_channels, 3);
    for (int i = 0; i < v->n_levels; i++) {
        int64_t cout = v->ch * v->ch_mult[i];
        for (int j = 0; j < v->num_res_blocks; j++) {
            snprintf(p, sizeof p, VP "encoder.down.%d.block.%d.", i, j);
            vae_res(L, p, cin, cout);
            cin = cout;
        }
        if (i != v->n_levels - 1) {
            snprintf(p, sizeof p, VP "encoder.down.%d.downsample.conv", i);
            conv(L, p, cin, cin, 3);
        }
    }
    vae_mid(L, "encoder", cin);
    norm(L, VP "encoder.norm_out", cin);
    conv(L, VP "encoder.conv_out", 2 * v->z_channels, cin, 3);
    conv(L, VP "quant_conv", 2 * v->embed_dim, 2 * v->z_channels, 1);
    conv(L, VP "post_quant_conv", v->z_channels, v->embed_dim, 1);
    cin = v->ch * v->ch_mult[v->n_levels - 1];
    conv(L, VP "decoder.conv_in", cin, v->z_channels, 3);
    vae_mid(L, "decoder", cin);
    for (int i = v->n_levels - 1; i >= 0; i--) {
        int64_t cout = v->ch * v->ch_mult[i];
        for (int j = 0; j <= v->num_res_blocks; j++) {
            snprintf(p, sizeof p, VP "decoder.up.%d.block.%d.", i, j);
            vae_res(L, p, cin, cout);
            cin = cout;
        }
        if (i != 0) {
            snprintf(p, sizeof p, VP "decoder.up.%d.upsample.conv", i);
            conv(L, p, cin, cin, 3);
        }
    }
    norm(L, VP "decoder.norm_out", cin);
    conv(L, VP "decoder.conv_out", v->in_channels, cin, 3);
}

static void text(list *L, const sdc_arch_text *t) {
    char p[512];
    int64_t env[D_N];
    env_init(env);
    env[D_C] = t->width, env[D_MLP] = t->mlp_width, env[D_W3] = 3 * t->width;
    int64_t tok[2] = {t->vocab, t->width}, pos[2] = {t->positions, t->width};
    const char *tp = t->openclip ? "" : "text_model.";
    snprintf(p, sizeof p, "%s%s%s", t->prefix, tp, t->openclip ? "token_embedding.weight" : "embeddings.token_embedding.weight");
    push(L, p, SDC_ARCH_INIT_EMBED, 2, tok, 1);
    snprintf(p, sizeof p, "%s%s%s", t->prefix, tp, t->openclip ? "positional_embedding" : "embeddings.position_embedding.weight");
    push(L, p, SDC_ARCH_INIT_EMBED, 2, pos, 1);
    for (int l = 0; l < t->layers; l++) {
        if (t->openclip) snprintf(p, sizeof p, "%stransformer.resblocks.%d.", t->prefix, l);
        else snprintf(p, sizeof p, "%stext_model.encoder.layers.%d.", t->prefix, l);
        if (t->openclip) emit(L, p, k_openclip_layer, SDC_ARRAY_LEN(k_openclip_layer), env);
        else emit(L, p, k_clip_layer, SDC_ARRAY_LEN(k_clip_layer), env);
    }
    snprintf(p, sizeof p, "%s%s", t->prefix, t->openclip ? "ln_final" : "text_model.final_layer_norm");
    norm(L, p, t->width);
    if (t->openclip && t->projection_dim) {
        int64_t proj[2] = {t->width, t->projection_dim};
        snprintf(p, sizeof p, "%stext_projection", t->prefix);
        push(L, p, SDC_ARCH_INIT_WEIGHT, 2, proj, t->width);
        snprintf(p, sizeof p, "%slogit_scale", t->prefix);
        push(L, p, SDC_ARCH_INIT_LOGIT, 0, proj, 1);
    }
}

/* TAESD's nn.Sequential indices: Block = conv.0 / conv.2 / conv.4 (3x3 with
 * bias) and no skip weights when channels agree; the up- and downsampling
 * convs carry no bias. */
static void taesd_block(list *L, const char *part, int idx, int64_t c) {
    char n[96];
    for (int k = 0; k <= 4; k += 2) {
        snprintf(n, sizeof n, "%s.%d.conv.%d", part, idx, k);
        conv(L, n, c, c, 3);
    }
}

static void taesd_plain_conv(list *L, const char *part, int idx, int64_t out, int64_t in) {
    char n[96];
    int64_t s[4] = {out, in, 3, 3};
    snprintf(n, sizeof n, "%s.%d.weight", part, idx);
    push(L, n, SDC_ARCH_INIT_WEIGHT, 4, s, in * 9);
}

static void taesd(list *L, const sdc_arch_taesd *t) {
    const char *dec = "taesd_decoder", *enc = "taesd_encoder";
    char n[96];
    int64_t c = t->ch;
    /* decoder: Clamp, conv(latent, c), ReLU, 3 x [3 Blocks, Upsample, conv], Block, conv(c, 3) */
    snprintf(n, sizeof n, "%s.1", dec);
    conv(L, n, c, t->latent, 3);
    int idx = 3;
    for (int stage = 0; stage < 3; stage++) {
        for (int b = 0; b < 3; b++) taesd_block(L, dec, idx++, c);
        idx++; /* Upsample */
        taesd_plain_conv(L, dec, idx++, c, c);
    }
    taesd_block(L, dec, idx++, c);
    snprintf(n, sizeof n, "%s.%d", dec, idx);
    conv(L, n, 3, c, 3);
    /* encoder: conv(3, c), Block, 3 x [stride-2 conv, 3 Blocks], conv(c, latent) */
    snprintf(n, sizeof n, "%s.0", enc);
    conv(L, n, c, 3, 3);
    taesd_block(L, enc, 1, c);
    idx = 2;
    for (int stage = 0; stage < 3; stage++) {
        taesd_plain_conv(L, enc, idx++, c, c);
        for (int b = 0; b < 3; b++) taesd_block(L, enc, idx++, c);
    }
    snprintf(n, sizeof n, "%s.%d", enc, idx);
    conv(L, n, t->latent, c, 3);
}

sdc_status sdc_arch_tensors(const sdc_arch *a, sdc_arch_tensor **out, size_t *n, sdc_error *err) {
    list L = {NULL, 0, 0, SDC_OK, err, 0};
    if (a->taesd.ch) taesd(&L, &a->taesd);
    if (a->unet.model_channels) unet(&L, &a->unet);
    if (a->vae.ch) vae(&L, &a->vae);
    for (int i = 0; i < a->n_text && i < 2; i++) text(&L, &a->text[i]);
    if (L.st) {
        sdc_arch_tensors_free(L.t, L.n);
        return L.st;
    }
    *out = L.t;
    *n = L.n;
    return SDC_OK;
}

void sdc_arch_tensors_free(sdc_arch_tensor *t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i].name);
    free(t);
}

/* ---- presets ---- */

static void set_unet(sdc_arch_unet *u, int64_t mc, int n, const int64_t *mult, const int *depth, int mid, int64_t ctx,
                     int linear, int64_t adm) {
    u->in_channels = u->out_channels = 4;
    u->model_channels = mc;
    u->n_levels = n;
    u->num_res_blocks = 2;
    for (int i = 0; i < n; i++) u->channel_mult[i] = mult[i], u->depth[i] = depth[i];
    u->mid_depth = mid;
    u->context_dim = ctx;
    u->linear_proj = linear;
    u->adm_in_channels = adm;
}

static void set_vae(sdc_arch_vae *v, int64_t ch, const int64_t *mult) {
    v->ch = ch;
    v->in_channels = 3;
    v->z_channels = v->embed_dim = 4;
    v->n_levels = 4;
    v->num_res_blocks = 2;
    for (int i = 0; i < 4; i++) v->ch_mult[i] = mult[i];
}

static sdc_arch_text clip_hf(const char *prefix, int64_t w, int64_t layers) {
    return (sdc_arch_text){prefix, 0, w, layers, 49408, 77, 4 * w, 0};
}
static sdc_arch_text clip_open(const char *prefix, int64_t w, int64_t layers) {
    return (sdc_arch_text){prefix, 1, w, layers, 49408, 77, 4 * w, w};
}

sdc_status sdc_arch_preset(const char *family, const char *size, sdc_arch *a, sdc_error *err) {
    memset(a, 0, sizeof *a);
    int full = strcmp(size, "full") == 0;
    if (!full && strcmp(size, "tiny") != 0)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown size '%s' (full or tiny)", size);
    if (strcmp(family, "taesd") == 0) { /* the published TAESD has 64 channels */
        a->taesd.ch = full ? 64 : 8;
        a->taesd.latent = 4;
        return SDC_OK;
    }
    static const int64_t m1244[] = {1, 2, 4, 4}, m124[] = {1, 2, 4}, m122[] = {1, 2, 2}, m1222[] = {1, 2, 2, 2};
    static const int d1110[] = {1, 1, 1, 0}, d110[] = {1, 1, 0}, d0210[] = {0, 2, 10}, d012[] = {0, 1, 2};
    set_vae(&a->vae, full ? 128 : 32, full ? m1244 : m1222);
    if (strcmp(family, "sd15") == 0) {
        if (full) set_unet(&a->unet, 320, 4, m1244, d1110, 1, 768, 0, 0);
        else set_unet(&a->unet, 32, 3, m122, d110, 1, 32, 0, 0);
        a->text[0] = clip_hf("cond_stage_model.transformer.", full ? 768 : 32, full ? 12 : 5);
        a->n_text = 1;
    } else if (strcmp(family, "sd2") == 0) {
        if (full) set_unet(&a->unet, 320, 4, m1244, d1110, 1, 1024, 1, 0);
        else set_unet(&a->unet, 32, 3, m122, d110, 1, 64, 1, 0);
        a->text[0] = clip_open("cond_stage_model.model.", full ? 1024 : 64, full ? 24 : 2);
        a->n_text = 1;
    } else if (strcmp(family, "sdxl") == 0) {
        if (full) set_unet(&a->unet, 320, 3, m124, d0210, 10, 2048, 1, 2816);
        else set_unet(&a->unet, 32, 3, m122, d012, 2, 96, 1, 256);
        a->text[0] = clip_hf("conditioner.embedders.0.transformer.", full ? 768 : 32, full ? 12 : 2);
        a->text[1] = clip_open("conditioner.embedders.1.model.", full ? 1280 : 64, full ? 32 : 2);
        a->n_text = 2;
    } else {
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown family '%s' (sd15, sd2, sdxl or taesd)", family);
    }
    return SDC_OK;
}
