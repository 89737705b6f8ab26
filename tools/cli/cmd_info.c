/* `sdc info FILE`: what a model file (or diffusers folder, or shard index)
 * is: format, kind, family, prediction type, components, dtypes, parameter
 * counts per component and the hyperparameters read from its shapes
 * (formats/detect.h). --tensors also lists every tensor. Images (PNG,
 * JPEG, WebP) get their format and text metadata (A1111 / ComfyUI
 * generation parameters) through src/image/. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "cli.h"
#include "formats/detect.h"
#include "formats/model_files.h"
#include "image/image.h"
#include "image/image_io.h"

static void print_list(const char *label, const int64_t *v, int n) {
    printf("%s[", label);
    for (int i = 0; i < n; i++) printf("%s%lld", i ? ", " : "", (long long)v[i]);
    printf("]");
}

static void print_unet(const sdc_unet_hparams *u) {
    int64_t depth[SDC_DETECT_MAX_LEVELS];
    for (int i = 0; i < u->n_levels; i++) depth[i] = u->transformer_depth[i];
    printf("unet:        in_channels %lld, out_channels %lld, model_channels %lld, ", (long long)u->in_channels,
           (long long)u->out_channels, (long long)u->model_channels);
    print_list("channel_mult ", u->channel_mult, u->n_levels);
    printf(", num_res_blocks %d, ", u->num_res_blocks);
    print_list("transformer_depth ", depth, u->n_levels);
    printf(", middle %d, context_dim %lld, proj_in %s", u->mid_transformer_depth, (long long)u->context_dim,
           u->linear_proj ? "linear" : "conv");
    if (u->adm_in_channels) printf(", adm_in_channels %lld", (long long)u->adm_in_channels);
    if (u->num_heads) printf(", heads %lld (%s)", (long long)u->num_heads, u->heads_source);
    else if (u->head_dim) printf(", head_dim %lld (%s)", (long long)u->head_dim, u->heads_source);
    else printf(", heads unknown");
    printf("\n");
}

static void print_text(int i, const sdc_text_hparams *t) {
    printf("text[%d]:     %s at %s: width %lld, layers %lld, mlp %lld, vocab %lld, positions %lld", i,
           t->openclip ? "OpenCLIP" : "CLIP (HF layout)", t->prefix[0] ? t->prefix : "(no prefix)", (long long)t->width,
           (long long)t->layers, (long long)t->mlp_width, (long long)t->vocab, (long long)t->positions);
    if (t->projection_dim) printf(", projection %lld", (long long)t->projection_dim);
    printf("\n");
}

static void print_vae(const sdc_vae_hparams *v) {
    printf("vae:         ch %lld, ", (long long)v->ch);
    print_list("ch_mult ", v->ch_mult, v->n_levels);
    printf(", num_res_blocks %d, z_channels %lld, embed_dim %lld\n", v->num_res_blocks, (long long)v->z_channels,
           (long long)v->embed_dim);
}

static const char *component_of(const char *name) {
    static const struct {
        const char *prefix, *comp;
    } k[] = {{"model.diffusion_model.", "unet"}, {"first_stage_model.", "vae"}, {"cond_stage_model.", "text"},
             {"conditioner.", "text"},          {"control_model.", "controlnet"}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strncmp(name, k[i].prefix, strlen(k[i].prefix)) == 0) return k[i].comp;
    return "other";
}

/* dtype counts and parameters per component */
static void print_counts(const sdc_model_files *m) {
    size_t by_type[SDC_DTYPE_COUNT] = {0};
    const char *comps[] = {"unet", "vae", "text", "controlnet", "other"};
    int64_t params[5] = {0}, total = 0;
    for (size_t i = 0; i < sdc_model_files_count(m); i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m, i, &name);
        if ((unsigned)w->dtype < SDC_DTYPE_COUNT) by_type[w->dtype]++;
        int64_t n = sdc_weight_numel(w);
        total += n;
        for (int c = 0; c < 5; c++)
            if (strcmp(component_of(name), comps[c]) == 0) params[c] += n;
    }
    printf("tensors:     %zu (", sdc_model_files_count(m));
    int first = 1;
    for (int t = 0; t < SDC_DTYPE_COUNT; t++) {
        if (!by_type[t]) continue;
        printf("%s%s %zu", first ? "" : ", ", sdc_dtype_name((sdc_dtype)t), by_type[t]);
        first = 0;
    }
    printf(")\nparameters:  %lld", (long long)total);
    for (int c = 0; c < 5; c++)
        if (params[c] && params[c] != total) printf(", %s %lld", comps[c], (long long)params[c]);
    printf("\n");
}

static void print_components(unsigned c) {
    printf("components: ");
    if (!c) printf(" none");
    if (c & SDC_COMP_UNET) printf(" unet");
    if (c & SDC_COMP_CONTROL) printf(" control");
    if (c & (SDC_COMP_VAE_ENCODER | SDC_COMP_VAE_DECODER))
        printf(" vae(%s%s%s)", c & SDC_COMP_VAE_ENCODER ? "encoder" : "", (c & SDC_COMP_VAE_ENCODER) && (c & SDC_COMP_VAE_DECODER) ? "+" : "",
               c & SDC_COMP_VAE_DECODER ? "decoder" : "");
    if (c & SDC_COMP_CLIP_L) printf(" clip");
    if (c & SDC_COMP_OPENCLIP) printf(" openclip");
    printf("\n");
}

static void print_kind(const sdc_model_kind *k) {
    printf("type:        %s", sdc_detect_type_name(k->type));
    if (k->subtype[0]) printf(" (%s)", k->subtype);
    if (k->inpaint) printf(", inpainting");
    printf("\nfamily:      %s\n", sdc_detect_family_name(k->family));
    if (k->type == SDC_MODEL_CHECKPOINT)
        printf("prediction:  %s%s%s%s\n", sdc_detect_pred_name(k->prediction), k->prediction_source ? " (" : "",
               k->prediction_source ? k->prediction_source : "", k->prediction_source ? ")" : "");
    print_components(k->components);
    if (k->unet.present) print_unet(&k->unet);
    for (int i = 0; i < 2; i++)
        if (k->text[i].present) print_text(i, &k->text[i]);
    if (k->vae.present) print_vae(&k->vae);
    if (k->type == SDC_MODEL_LORA) printf("lora:        %zu modules, rank %lld\n", k->lora_modules, (long long)k->lora_rank);
    if (k->type == SDC_MODEL_EMBEDDING)
        printf("embedding:   %lld vectors of %lld\n", (long long)k->embedding_vectors, (long long)k->embedding_dim);
    if (k->type == SDC_MODEL_TAESD) printf("taesd:       %lld latent channels\n", (long long)k->taesd_latent_channels);
}

/* Metadata strings, each distinct key = value once (diffusers components repeat them). */
static void print_meta(const sdc_model_files *m) {
    size_t shown = 0;
    for (size_t f = 0; f < m->n_files; f++) {
        for (size_t i = 0; i < m->files[f]->n_meta && shown < 20; i++) {
            const char *k = m->files[f]->meta_keys[i], *v = m->files[f]->meta_values[i];
            int seen = 0;
            for (size_t g = 0; g < f && !seen; g++) {
                const char *prev = sdc_weight_file_meta(m->files[g], k);
                seen = prev && strcmp(prev, v) == 0;
            }
            if (seen) continue;
            int len = (int)strlen(v);
            printf("meta:        %s = %.*s%s\n", k, len > 200 ? 200 : len, v, len > 200 ? "..." : "");
            shown++;
        }
    }
}

static void print_tensors(const sdc_model_files *m) {
    for (size_t i = 0; i < sdc_model_files_count(m); i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m, i, &name);
        printf("%s %s [", name, sdc_dtype_name(w->dtype));
        for (int d = 0; d < w->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)w->shape[d]);
        printf("]\n");
    }
}

/* Images: format and text chunks (generation parameters). */
static int image_info(const char *path, sdc_image_format fmt) {
    sdc_image_meta meta = {0};
    sdc_error err = {0};
    printf("file:        %s\nformat:      %s image\n", path, sdc_image_format_name(fmt));
    if (sdc_image_load_meta(path, &meta, &err) != SDC_OK) {
        fprintf(stderr, "sdc info: %s\n", sdc_error_msg(&err));
        return 1;
    }
    for (size_t i = 0; i < meta.count; i++) printf("%s:\n%s\n", meta.items[i].key, meta.items[i].value);
    sdc_image_meta_free(&meta);
    return 0;
}

static sdc_image_format sniff_image(const char *path) {
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    return sdc_image_sniff(head, n);
}

int sdc_cmd_info(int argc, char **argv) {
    bool tensors = false;
    const sdc_arg args[] = {{"--tensors", NULL, SDC_ARG_FLAG, &tensors, 0, 0, "also list every tensor (name, dtype, shape)", NULL}};
    const char *pos[1];
    int n_pos = 0;
    int rc = sdc_args_parse(argc, argv, args, 1, "usage: sdc info [--tensors] FILE|FOLDER",
                            "Describes a model: a .safetensors / .ckpt / .pt / .gguf file, a shard index\n"
                            "(*.safetensors.index.json) or a diffusers folder; or an image's metadata.\n",
                            pos, 1, &n_pos);
    if (rc) return rc == 1 ? 0 : 2;
    if (n_pos != 1) {
        fprintf(stderr, "sdc info: give one FILE or FOLDER (see sdc info --help)\n");
        return 2;
    }
    sdc_image_format fmt = sniff_image(pos[0]);
    if (fmt != SDC_IMAGE_FORMAT_UNKNOWN) return image_info(pos[0], fmt);
    sdc_error err = {0};
    sdc_model_files *m = NULL;
    sdc_model_kind k;
    if (sdc_model_files_open(pos[0], &m, &err) != SDC_OK || sdc_detect(m, &k, &err) != SDC_OK) {
        fprintf(stderr, "sdc info: %s\n", sdc_error_msg(&err));
        sdc_model_files_close(m);
        return 1;
    }
    printf("file:        %s\nformat:      %s", pos[0], m->n_files ? m->files[0]->format : "none");
    printf(" (%s%s", m->layout, m->n_files > 1 ? ", " : "");
    if (m->n_files > 1) printf("%zu files", m->n_files);
    printf(")\n");
    print_kind(&k);
    print_counts(m);
    print_meta(m);
    if (tensors) print_tensors(m);
    sdc_model_files_close(m);
    return 0;
}
