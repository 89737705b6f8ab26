/* U-Net / text encoder module names across layouts (see lora_names.h). */
#include "models/lora_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ResBlock parts: ldm name <-> diffusers name */
static const char *const k_res[][2] = {
    {"in_layers.0", "norm1"},       {"in_layers.2", "conv1"}, {"emb_layers.1", "time_emb_proj"},
    {"out_layers.0", "norm2"},      {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
};

/* Top-level modules outside the blocks. */
static const char *const k_top[][2] = {
    {"time_embed.0", "time_embedding.linear_1"}, {"time_embed.2", "time_embedding.linear_2"},
    {"out.0", "conv_norm_out"},                  {"out.2", "conv_out"},
    {"input_blocks.0.0", "conv_in"},             {"label_emb.0.0", "add_embedding.linear_1"},
    {"label_emb.0.2", "add_embedding.linear_2"},
};

static bool fits(int n, size_t size) { return n >= 0 && (size_t)n < size; }

/* "in_layers.2..." -> "conv1..." (dir 0: ldm -> diffusers) */
static bool res_part(const char *in, int dir, char *out, size_t size) {
    for (size_t i = 0; i < sizeof k_res / sizeof *k_res; i++) {
        size_t n = strlen(k_res[i][dir]);
        if (strncmp(in, k_res[i][dir], n) == 0 && (in[n] == 0 || in[n] == '.')) {
            return fits(snprintf(out, size, "%s%s", k_res[i][1 - dir], in + n), size);
        }
    }
    return false;
}

static bool top_level(const char *in, int dir, char *out, size_t size) {
    for (size_t i = 0; i < sizeof k_top / sizeof *k_top; i++) {
        size_t n = strlen(k_top[i][dir]);
        if (strncmp(in, k_top[i][dir], n) == 0 && (in[n] == 0 || in[n] == '.')) {
            return fits(snprintf(out, size, "%s%s", k_top[i][1 - dir], in + n), size);
        }
    }
    return false;
}

/* Parses "<a>.<n>.<l>" at the start of s; rest points after it ("" or ".x"). */
static bool parse2(const char *s, int *n, int *l, const char **rest) {
    char *e;
    long a = strtol(s, &e, 10);
    if (e == s || *e != '.' || a < 0 || a > 1000) return false;
    const char *s2 = e + 1;
    long b = strtol(s2, &e, 10);
    if (e == s2 || (*e != 0 && *e != '.') || b < 0 || b > 1000) return false;
    *n = (int)a;
    *l = (int)b;
    *rest = e;
    return true;
}

bool sdc_unet_module_to_diffusers(const char *ldm, int nres, char *out, size_t size) {
    if (nres < 1) return false;
    if (top_level(ldm, 0, out, size)) return true;
    int n, l;
    const char *rest;
    char tmp[256];
    if (strncmp(ldm, "input_blocks.", 13) == 0 && parse2(ldm + 13, &n, &l, &rest) && n > 0) {
        int lvl = (n - 1) / (nres + 1), j = (n - 1) % (nres + 1);
        if (j == nres && l == 0 && strncmp(rest, ".op", 3) == 0)
            return fits(snprintf(out, size, "down_blocks.%d.downsamplers.0.conv%s", lvl, rest + 3), size);
        if (l == 0 && rest[0] == '.' && res_part(rest + 1, 0, tmp, sizeof tmp))
            return fits(snprintf(out, size, "down_blocks.%d.resnets.%d.%s", lvl, j, tmp), size);
        if (l == 1) return fits(snprintf(out, size, "down_blocks.%d.attentions.%d%s", lvl, j, rest), size);
        return false;
    }
    if (strncmp(ldm, "middle_block.", 13) == 0) {
        char *e;
        long b = strtol(ldm + 13, &e, 10);
        if (e == ldm + 13 || (*e != 0 && *e != '.')) return false;
        if (b == 1) return fits(snprintf(out, size, "mid_block.attentions.%d%s", 0, e), size);
        if ((b == 0 || b == 2) && e[0] == '.' && res_part(e + 1, 0, tmp, sizeof tmp))
            return fits(snprintf(out, size, "mid_block.resnets.%d.%s", b == 0 ? 0 : 1, tmp), size);
        return false;
    }
    if (strncmp(ldm, "output_blocks.", 14) == 0 && parse2(ldm + 14, &n, &l, &rest)) {
        int lvl = n / (nres + 1), j = n % (nres + 1);
        if (l > 0 && strncmp(rest, ".conv", 5) == 0 && (rest[5] == 0 || rest[5] == '.'))
            return fits(snprintf(out, size, "up_blocks.%d.upsamplers.0.conv%s", lvl, rest + 5), size);
        if (l == 0 && rest[0] == '.' && res_part(rest + 1, 0, tmp, sizeof tmp))
            return fits(snprintf(out, size, "up_blocks.%d.resnets.%d.%s", lvl, j, tmp), size);
        if (l == 1) return fits(snprintf(out, size, "up_blocks.%d.attentions.%d%s", lvl, j, rest), size);
    }
    return false;
}

int sdc_unet_nres(const sdc_model_files *m, const char *prefix) {
    char name[256];
    int n_input = 0;
    for (;; n_input++) {
        snprintf(name, sizeof name, "%sinput_blocks.%d.0.op.weight", prefix, n_input);
        if (n_input > 0 && sdc_model_files_find(m, name)) return n_input - 1;
        snprintf(name, sizeof name, "%sinput_blocks.%d.0.in_layers.0.weight", prefix, n_input);
        bool res = sdc_model_files_find(m, name) != NULL;
        snprintf(name, sizeof name, "%sinput_blocks.%d.0.weight", prefix, n_input);
        if (!res && !sdc_model_files_find(m, name)) break;
        if (n_input > 1000) break;
    }
    return n_input > 1 ? n_input - 1 : 0;
}

static const sdc_te_names k_te[] = {
    {"cond_stage_model.transformer.", 0, "lora_te_", "text_encoder."},
    {"cond_stage_model.model.", 1, "lora_te_", "text_encoder."},
    {"conditioner.embedders.0.transformer.", 0, "lora_te1_", "text_encoder."},
    {"conditioner.embedders.1.model.", 1, "lora_te2_", "text_encoder_2."},
};

const sdc_te_names *sdc_te_names_table(size_t *n) {
    *n = sizeof k_te / sizeof *k_te;
    return k_te;
}

void sdc_openclip_to_hf(const char *name, char out[3][160], int *n) {
    *n = 0;
    const char *p = "transformer.resblocks.";
    if (strncmp(name, p, strlen(p)) != 0) return;
    char *e;
    long layer = strtol(name + strlen(p), &e, 10);
    if (e == name + strlen(p) || *e != '.' || layer < 0 || layer > 1000) return;
    static const char *const k_parts[][2] = {{".attn.out_proj.weight", "self_attn.out_proj"},
                                             {".mlp.c_fc.weight", "mlp.fc1"},
                                             {".mlp.c_proj.weight", "mlp.fc2"}};
    if (strcmp(e, ".attn.in_proj_weight") == 0) {
        static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
        for (int i = 0; i < 3; i++)
            snprintf(out[i], 160, "text_model.encoder.layers.%ld.self_attn.%s", layer, qkv[i]);
        *n = 3;
        return;
    }
    for (size_t i = 0; i < sizeof k_parts / sizeof *k_parts; i++)
        if (strcmp(e, k_parts[i][0]) == 0) {
            snprintf(out[0], 160, "text_model.encoder.layers.%ld.%s", layer, k_parts[i][1]);
            *n = 1;
            return;
        }
}
