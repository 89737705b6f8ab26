/* Checkpoint loading (see sd_model.h). */
#include "pipeline/sd_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static void base_name(const char *path, char *out, size_t size) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* a folder given with a trailing slash */
    const char *start = path;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/') start = path + i + 1;
    size_t len = (size_t)(path + n - start);
    const char *dot = memchr(start, '.', len);
    if (dot && dot != start) len = (size_t)(dot - start);
    snprintf(out, size, "%.*s", (int)len, start);
}

/* SD 2.x ships as v-prediction (768-v) and epsilon (512-base) with the same
 * shapes. Without a config, follow ComfyUI's observation: the v models'
 * last output transformer norm1 bias has a clearly larger spread. */
static int guess_sd2_v_prediction(const sdc_model_files *f) {
    const sdc_weight_info *w =
        sdc_model_files_find(f, "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias");
    if (!w || !sdc_dtype_is_float(w->dtype)) return 0;
    int64_t n = sdc_weight_numel(w);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return 0;
    sdc_convert_to_f32(w->dtype, w->data, x, (size_t)n);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    free(x);
    return n > 1 && sqrt(var / (double)(n - 1)) > 0.09;
}

static sdc_status load_text(sdc_sd_model *m, const sdc_sd_model_opts *o, sdc_error *err) {
    char vocab[4096];
    sdc_status st = sdc_clip_vocab_find(o->vocab_path, o->model_path, vocab, sizeof vocab, err);
    if (!st) st = sdc_clip_tokenizer_load(vocab, &m->tok, err);
    if (st) return st;
    sdc_clip_text_opts co = {.mat_dtype = o->mat_dtype, .heads = m->cfg.clip_heads, .act = m->cfg.clip_act,
                             .patch = o->loras ? sdc_lora_set_patch(o->loras) : NULL};
    return sdc_clip_text_load(m->files, &co, &m->clip, err);
}

static sdc_status load_vae(sdc_sd_model *m, const sdc_sd_model_opts *o, sdc_error *err) {
    const sdc_model_files *vf = m->files;
    const char *prefix = NULL;
    if (o->vae_path) {
        sdc_status st = sdc_model_files_open(o->vae_path, &m->vae_files, err);
        if (st) return st;
        vf = m->vae_files;
        /* a standalone VAE file uses bare names ("decoder.conv_in.weight") */
        if (!sdc_model_files_find(vf, SDC_VAE_PREFIX "decoder.conv_in.weight")) prefix = "";
    }
    return sdc_vae_load(vf, prefix, o->mat_dtype, m->scale_factor, &m->vae, err);
}

/* Family, prediction type and head layout, from formats/detect (weights,
 * configs beside the model, metadata and marker tensors); what detection
 * leaves open falls to the conventions here. */
static sdc_status decide_family(sdc_sd_model *m, const sdc_sd_model_opts *o, sdc_model_kind *k, sdc_error *err) {
    sdc_status st = sdc_detect(m->files, k, err);
    if (st) return st;
    if (k->type != SDC_MODEL_CHECKPOINT)
        return sdc_error_set(err, SDC_ERR_FORMAT, "'%s' is a %s, not a Stable Diffusion checkpoint", o->model_path,
                             sdc_detect_type_name(k->type));
    if (k->family == SDC_DETECT_SDXL || k->family == SDC_DETECT_SDXL_REFINER)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "'%s' is an %s checkpoint; sdc runs SD 1.x and 2.x so far",
                             o->model_path, sdc_detect_family_name(k->family));
    m->family = k->family;
    if (o->prediction >= 0) m->v_prediction = o->prediction;
    else if (k->prediction != SDC_DETECT_PRED_UNKNOWN) m->v_prediction = k->prediction == SDC_DETECT_PRED_V;
    else m->v_prediction = m->family == SDC_DETECT_SD2 ? guess_sd2_v_prediction(m->files) : 0;
    if (m->cfg.clip_penultimate >= 0) m->default_clip_skip = m->cfg.clip_penultimate ? 2 : 1;
    else m->default_clip_skip = m->family == SDC_DETECT_SD2 ? 2 : 1;
    return SDC_OK;
}

sdc_status sdc_sd_model_load(const sdc_sd_model_opts *o, sdc_sd_model **out, sdc_error *err) {
    *out = NULL;
    double t0 = sdc_time_now();
    sdc_sd_model *m = calloc(1, sizeof *m);
    if (!m) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    base_name(o->model_path, m->name, sizeof m->name);
    sdc_model_config_init(&m->cfg);
    sdc_status st = sdc_model_config_read(o->model_path, &m->cfg, err);
    if (!st) st = sdc_model_files_open(o->model_path, &m->files, err);
    sdc_model_kind kind;
    if (!st) st = decide_family(m, o, &kind, err);
    if (!st && o->loras) st = sdc_lora_set_bind(o->loras, m->files, o->log, err);
    if (!st && !o->text_only) {
        sdc_unet_opts uo = {.mat_dtype = o->mat_dtype, .num_heads = kind.unet.num_heads, .head_dim = kind.unet.head_dim,
                            .patch = o->loras ? sdc_lora_set_patch(o->loras) : NULL, .pack = o->pack};
        st = sdc_unet_load(m->files, NULL, &uo, &m->unet, err);
    }
    if (!st) {
        m->scale_factor = m->cfg.scale_factor > 0 ? m->cfg.scale_factor : 0.18215f;
        st = load_text(m, o, err);
        /* diffusers' SD 2.x text encoder is OpenCLIP-H with its last layer
         * removed (23 of 24): its last layer already is SD 2.x's penultimate */
        if (!st && m->cfg.clip_penultimate < 0 && m->clip->cfg.layout == SDC_CLIP_LAYOUT_OPENCLIP && m->clip->cfg.layers == 23)
            m->default_clip_skip = 1;
    }
    if (!st && !o->text_only) st = load_vae(m, o, err);
    if (!st && !o->text_only && o->taesd_path) {
        sdc_dtype td = o->mat_dtype == SDC_WLOAD_KEEP ? SDC_DTYPE_F32 : o->mat_dtype;
        st = sdc_taesd_open(&o->taesd_path, 1, td, &m->taesd, err);
    }
    if (st) {
        sdc_sd_model_free(m);
        return st;
    }
    m->load_seconds = sdc_time_now() - t0;
    sdc_logf(o->log, SDC_LOG_INFO, "loaded %s (%s, %s-prediction, U-Net %lld params, config: %s) in %.2f s", m->name,
             sdc_detect_family_name(m->family), m->v_prediction ? "v" : "epsilon", (long long)(m->unet ? m->unet->n_params : 0),
             m->cfg.source[0] ? m->cfg.source : "none", m->load_seconds);
    *out = m;
    return SDC_OK;
}

void sdc_sd_model_free(sdc_sd_model *m) {
    if (!m) return;
    sdc_clip_text_free(m->clip);
    sdc_unet_free(m->unet);
    sdc_vae_free(m->vae);
    sdc_taesd_free(m->taesd);
    sdc_clip_tokenizer_free(m->tok);
    sdc_model_files_close(m->files);
    sdc_model_files_close(m->vae_files);
    free(m);
}

void sdc_sd_model_release_text(const sdc_sd_model *m) {
    static const char prefix[] = "cond_stage_model.";
    for (size_t i = 0; i < sdc_model_files_count(m->files); i++) {
        const char *name;
        const sdc_weight_info *w = sdc_model_files_at(m->files, i, &name);
        if (strncmp(name, prefix, sizeof prefix - 1) == 0 && sdc_model_files_is_mapped(m->files, w->data, w->nbytes))
            sdc_mapfile_release(w->data, w->nbytes);
    }
}
