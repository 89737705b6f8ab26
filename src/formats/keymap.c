/* diffusers -> canonical name table (see keymap.h). The block numbering
 * follows the original ldm U-Net: input_blocks.0 is conv_in, then each
 * down level has (resnets + 1) input blocks (resnet [+ attention], and a
 * downsampler block except after the last level); output blocks mirror
 * them with one more resnet per level; the middle block is resnet,
 * attention, resnet. With L resnets per down level: input block of
 * down_blocks.i.resnets.j = (L + 1) i + j + 1, its downsampler (L + 1)(i + 1);
 * output block of up_blocks.i.resnets.j = (L + 1) i + j (up levels have
 * L + 1 resnets) and the upsampler sits in the level's last output block,
 * as module 2 after an attention or 1 without. The VAE decoder counts its
 * up levels backwards (decoder.up.(n - 1 - i)). */
#include "formats/keymap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    const char *from, *to;
} pair;

/* leaf module renames */
static const pair k_unet_resnet[] = {
    {"norm1", "in_layers.0"},   {"conv1", "in_layers.2"},   {"time_emb_proj", "emb_layers.1"},
    {"norm2", "out_layers.0"},  {"conv2", "out_layers.3"},  {"conv_shortcut", "skip_connection"},
};
static const pair k_vae_resnet[] = {{"conv_shortcut", "nin_shortcut"}};
static const pair k_vae_attn[] = {
    {"group_norm", "norm"}, {"to_q", "q"}, {"query", "q"}, {"to_k", "k"}, {"key", "k"},
    {"to_v", "v"}, {"value", "v"}, {"to_out.0", "proj_out"}, {"proj_attn", "proj_out"},
};

/* how block numbers are computed from the captured ones (i, j) */
typedef enum {
    N_NONE,     /* no numbers */
    N_SAME,     /* i [, j] */
    N_PLUS1,    /* i + 1 */
    N_TWICE,    /* 2 i */
    N_IN,       /* (L + 1) i + j + 1 */
    N_IN_DOWN,  /* (L + 1)(i + 1) */
    N_OUT,      /* (L + 1) i + j (up levels have L + 1 resnets) */
    N_OUT_UP,   /* (L + 1) i + L, then 2 if the level has attention else 1 */
    N_VAE_UP    /* n_up - 1 - i [, j] */
} numbering;

typedef struct {
    sdc_keymap_comp comp;
    const char *from, *to; /* '#' captures a number; '$' prints a computed one */
    numbering num;
    const pair *leaf;
    size_t n_leaf;
    sdc_keymap_op op;
    int part;
} rule;

#define LEAF(t) t, SDC_ARRAY_LEN(t)
#define NOLEAF NULL, 0

static const rule k_rules[] = {
    /* U-Net */
    {SDC_KEYMAP_UNET, "time_embedding.linear_1.", "time_embed.0.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "time_embedding.linear_2.", "time_embed.2.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "add_embedding.linear_1.", "label_emb.0.0.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "add_embedding.linear_2.", "label_emb.0.2.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "conv_in.", "input_blocks.0.0.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "conv_norm_out.", "out.0.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "conv_out.", "out.2.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "down_blocks.#.resnets.#.", "input_blocks.$.0.", N_IN, LEAF(k_unet_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "down_blocks.#.attentions.#.", "input_blocks.$.1.", N_IN, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "down_blocks.#.downsamplers.0.conv.", "input_blocks.$.0.op.", N_IN_DOWN, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "mid_block.resnets.#.", "middle_block.$.", N_TWICE, LEAF(k_unet_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "mid_block.attentions.0.", "middle_block.1.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "up_blocks.#.resnets.#.", "output_blocks.$.0.", N_OUT, LEAF(k_unet_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "up_blocks.#.attentions.#.", "output_blocks.$.1.", N_OUT, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_UNET, "up_blocks.#.upsamplers.0.conv.", "output_blocks.$.$.conv.", N_OUT_UP, NOLEAF, SDC_KEYMAP_SAME, 0},
    /* VAE */
    {SDC_KEYMAP_VAE, "encoder.conv_in.", "encoder.conv_in.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.conv_out.", "encoder.conv_out.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.conv_norm_out.", "encoder.norm_out.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.conv_in.", "decoder.conv_in.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.conv_out.", "decoder.conv_out.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.conv_norm_out.", "decoder.norm_out.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.down_blocks.#.resnets.#.", "encoder.down.$.block.$.", N_SAME, LEAF(k_vae_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.down_blocks.#.downsamplers.0.conv.", "encoder.down.$.downsample.conv.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.up_blocks.#.resnets.#.", "decoder.up.$.block.$.", N_VAE_UP, LEAF(k_vae_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.up_blocks.#.upsamplers.0.conv.", "decoder.up.$.upsample.conv.", N_VAE_UP, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.mid_block.resnets.#.", "encoder.mid.block_$.", N_PLUS1, LEAF(k_vae_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "decoder.mid_block.resnets.#.", "decoder.mid.block_$.", N_PLUS1, LEAF(k_vae_resnet), SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "encoder.mid_block.attentions.0.", "encoder.mid.attn_1.", N_NONE, LEAF(k_vae_attn), SDC_KEYMAP_CONV1X1, 0},
    {SDC_KEYMAP_VAE, "decoder.mid_block.attentions.0.", "decoder.mid.attn_1.", N_NONE, LEAF(k_vae_attn), SDC_KEYMAP_CONV1X1, 0},
    {SDC_KEYMAP_VAE, "quant_conv.", "quant_conv.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_VAE, "post_quant_conv.", "post_quant_conv.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    /* CLIP text encoder kept in HF layout (SD 1.x: cond_stage_model.transformer.text_model.*) */
    {SDC_KEYMAP_CLIP_HF, "text_model.embeddings.position_ids", "", N_NONE, NOLEAF, SDC_KEYMAP_SAME, -1},
    {SDC_KEYMAP_CLIP_HF, "text_model.", "text_model.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    /* HF CLIP -> OpenCLIP (SD 2.x cond_stage_model.model.*, SDXL conditioner.embedders.1.model.*) */
    {SDC_KEYMAP_OPENCLIP, "text_model.embeddings.token_embedding.", "token_embedding.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.embeddings.position_embedding.weight", "positional_embedding", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.final_layer_norm.", "ln_final.", N_NONE, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.self_attn.q_proj.", "transformer.resblocks.$.attn.in_proj_", N_SAME, NOLEAF, SDC_KEYMAP_QKV, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.self_attn.k_proj.", "transformer.resblocks.$.attn.in_proj_", N_SAME, NOLEAF, SDC_KEYMAP_QKV, 1},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.self_attn.v_proj.", "transformer.resblocks.$.attn.in_proj_", N_SAME, NOLEAF, SDC_KEYMAP_QKV, 2},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.self_attn.out_proj.", "transformer.resblocks.$.attn.out_proj.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.layer_norm1.", "transformer.resblocks.$.ln_1.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.layer_norm2.", "transformer.resblocks.$.ln_2.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.mlp.fc1.", "transformer.resblocks.$.mlp.c_fc.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_model.encoder.layers.#.mlp.fc2.", "transformer.resblocks.$.mlp.c_proj.", N_SAME, NOLEAF, SDC_KEYMAP_SAME, 0},
    {SDC_KEYMAP_OPENCLIP, "text_projection.weight", "text_projection", N_NONE, NOLEAF, SDC_KEYMAP_TRANSPOSE, 0},
};

/* Matches pattern (with '#' = decimal number) against the start of s.
 * Returns the length matched (0: no match) and the captured numbers. */
static size_t match(const char *pat, const char *s, long *cap, int *ncap) {
    const char *p = pat, *q = s;
    *ncap = 0;
    while (*p) {
        if (*p == '#') {
            if (*q < '0' || *q > '9' || *ncap == 2) return 0;
            char *end;
            long v = strtol(q, &end, 10);
            if (end - q > 4) return 0;
            cap[(*ncap)++] = v;
            q = end;
            p++;
        } else if (*p++ != *q++) {
            return 0;
        }
    }
    return (size_t)(q - s);
}

static void numbers(const rule *r, const sdc_keymap_layout *lay, const long *c, int nc, long *out, int *nout) {
    long L = lay->unet_resnets_per_down, i = nc > 0 ? c[0] : 0, j = nc > 1 ? c[1] : 0;
    *nout = 1;
    switch (r->num) {
    case N_NONE: *nout = 0; break;
    case N_SAME: out[0] = i, out[1] = j, *nout = nc; break;
    case N_PLUS1: out[0] = i + 1; break;
    case N_TWICE: out[0] = 2 * i; break;
    case N_IN: out[0] = (L + 1) * i + j + 1; break;
    case N_IN_DOWN: out[0] = (L + 1) * (i + 1); break;
    case N_OUT: out[0] = (L + 1) * i + j; break;
    case N_OUT_UP:
        out[0] = (L + 1) * i + L;
        out[1] = i < SDC_KEYMAP_MAX_BLOCKS && lay->unet_up_has_attn[i] ? 2 : 1;
        *nout = 2;
        break;
    case N_VAE_UP: out[0] = lay->vae_up_blocks - 1 - i, out[1] = j, *nout = nc; break;
    }
}

void sdc_keymap_layout_add(sdc_keymap_layout *lay, sdc_keymap_comp comp, const char *name) {
    long c[2];
    int nc;
    if (comp == SDC_KEYMAP_UNET) {
        if (match("down_blocks.0.resnets.#.", name, c, &nc) && c[0] + 1 > lay->unet_resnets_per_down)
            lay->unet_resnets_per_down = (int)(c[0] + 1);
        if (match("up_blocks.#.attentions.", name, c, &nc) && c[0] < SDC_KEYMAP_MAX_BLOCKS) lay->unet_up_has_attn[c[0]] = 1;
    } else if (comp == SDC_KEYMAP_VAE) {
        if (match("decoder.up_blocks.#.", name, c, &nc) && c[0] + 1 > lay->vae_up_blocks && c[0] < 64)
            lay->vae_up_blocks = (int)(c[0] + 1);
    }
}

/* Writes the ldm form: r->to with '$' replaced by the computed numbers,
 * then the remainder with its leading leaf module renamed. */
static int build(const rule *r, const long *num, int nnum, const char *rest, char *out, size_t cap) {
    size_t n = 0;
    int k = 0;
    for (const char *t = r->to; *t; t++) {
        if (*t == '$') {
            if (k >= nnum || num[k] < 0) return 0;
            int w = snprintf(out + n, cap - n, "%ld", num[k++]);
            if (w < 0 || (size_t)w >= cap - n) return 0;
            n += (size_t)w;
        } else {
            if (n + 1 >= cap) return 0;
            out[n++] = *t;
        }
    }
    for (size_t i = 0; i < r->n_leaf; i++) {
        size_t fl = strlen(r->leaf[i].from);
        if (strncmp(rest, r->leaf[i].from, fl) == 0 && rest[fl] == '.') {
            int w = snprintf(out + n, cap - n, "%s%s", r->leaf[i].to, rest + fl);
            return w >= 0 && (size_t)w < cap - n;
        }
    }
    int w = snprintf(out + n, cap - n, "%s", rest);
    return w >= 0 && (size_t)w < cap - n;
}

int sdc_keymap_from_diffusers(sdc_keymap_comp comp, const sdc_keymap_layout *lay, const char *name, char *out,
                              size_t cap, sdc_keymap_op *op, int *part) {
    for (size_t i = 0; i < SDC_ARRAY_LEN(k_rules); i++) {
        const rule *r = &k_rules[i];
        long c[2], num[2];
        int nc, nnum;
        size_t len;
        if (r->comp != comp || !(len = match(r->from, name, c, &nc))) continue;
        if (r->part < 0) return 0; /* known and deliberately dropped */
        numbers(r, lay, c, nc, num, &nnum);
        if (!build(r, num, nnum, name + len, out, cap)) return 0;
        *op = r->op;
        *part = r->part;
        return 1;
    }
    return 0;
}
