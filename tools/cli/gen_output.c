/* Output files of `sdc generate` (see gen_output.h). */
#include "gen_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli.h"
#include "formats/safetensors.h"
#include "formats/weight_file.h"
#include "image/image_io.h"
#include "image/infotext.h"

void sdc_out_name(const char *output, int index, int total, char *buf, size_t size) {
    if (total <= 1) {
        snprintf(buf, size, "%s", output);
        return;
    }
    const char *dot = strrchr(output, '.'), *slash = strrchr(output, '/');
    if (!dot || (slash && dot < slash)) dot = output + strlen(output);
    snprintf(buf, size, "%.*s-%04d%s", (int)(dot - output), output, index + 1, dot);
}

/* A1111's display names, for the infotext other tools read back */
const char *sdc_out_sampler_label(sdc_sampler_kind k) {
    static const struct {
        sdc_sampler_kind k;
        const char *label;
    } t[] = {{SDC_SAMPLER_EULER, "Euler"}, {SDC_SAMPLER_EULER_ANCESTRAL, "Euler a"}, {SDC_SAMPLER_HEUN, "Heun"},
             {SDC_SAMPLER_DPM_2, "DPM2"}, {SDC_SAMPLER_DPM_2_ANCESTRAL, "DPM2 a"}, {SDC_SAMPLER_LMS, "LMS"},
             {SDC_SAMPLER_DPMPP_2S_ANCESTRAL, "DPM++ 2S a"}, {SDC_SAMPLER_DPMPP_SDE, "DPM++ SDE"},
             {SDC_SAMPLER_DPMPP_2M, "DPM++ 2M"}, {SDC_SAMPLER_DPMPP_2M_SDE, "DPM++ 2M SDE"},
             {SDC_SAMPLER_DPMPP_2M_SDE_HEUN, "DPM++ 2M SDE Heun"}, {SDC_SAMPLER_DPMPP_3M_SDE, "DPM++ 3M SDE"},
             {SDC_SAMPLER_DDPM, "DDPM"}, {SDC_SAMPLER_DDIM, "DDIM"}, {SDC_SAMPLER_LCM, "LCM"}};
    for (size_t i = 0; i < SDC_ARRAY_LEN(t); i++)
        if (t[i].k == k) return t[i].label;
    return sdc_sampler_name(k);
}

const char *sdc_out_scheduler_label(sdc_scheduler k) {
    switch (k) {
    case SDC_SCHED_KARRAS: return "Karras";
    case SDC_SCHED_EXPONENTIAL: return "Exponential";
    case SDC_SCHED_SGM_UNIFORM: return "SGM Uniform";
    case SDC_SCHED_SIMPLE: return "Simple";
    case SDC_SCHED_DDIM_UNIFORM: return "DDIM";
    case SDC_SCHED_BETA: return "Beta";
    case SDC_SCHED_KL_OPTIMAL: return "KL Optimal";
    case SDC_SCHED_NORMAL_COMFY: return "Normal";
    default: return sdc_scheduler_name(k);
    }
}

char *sdc_out_infotext(const sdc_gen_request *p, const char *sampler_label, const char *sched_label,
                       const char *model_name, const char *model_hash, uint64_t seed, bool img2img, int clip_skip,
                       int masked_padding) {
    sdc_gen_params ip;
    sdc_error err;
    sdc_error_clear(&err);
    char *text = NULL;
    if (sdc_gen_params_init(&ip, &err) != SDC_OK) return NULL;
    sdc_gen_params_set_str(&ip.prompt, p->prompt, &err);
    sdc_gen_params_set_str(&ip.negative_prompt, p->negative_prompt, &err);
    ip.steps = p->steps;
    sdc_gen_params_set_str(&ip.sampler, sampler_label, &err);
    sdc_gen_params_set_str(&ip.scheduler, sched_label, &err);
    ip.cfg_scale = p->cfg_scale;
    ip.seed = (int64_t)seed;
    ip.width = p->width;
    ip.height = p->height;
    if (model_name) sdc_gen_params_set_str(&ip.model_name, model_name, &err);
    if (model_hash) sdc_gen_params_set_str(&ip.model_hash, model_hash, &err);
    if (img2img) ip.denoising_strength = sdc_infotext_float(p->strength);
    sdc_gen_add_inpaint_params(p, masked_padding, &ip, &err);
    if (p->hr_width > 0) {
        ip.denoising_strength = sdc_infotext_float(p->hr_denoise);
        sdc_gen_add_hires_params(p, p->hr_sampler >= 0 ? sdc_out_sampler_label((sdc_sampler_kind)p->hr_sampler) : NULL,
                                 p->hr_scheduler >= 0 ? sdc_out_scheduler_label((sdc_scheduler)p->hr_scheduler) : NULL, &ip,
                                 &err);
    }
    ip.clip_skip = clip_skip;
    sdc_gen_params_set_str(&ip.version, "sdc " SDC_VERSION, &err);
    if (err.status == SDC_OK) sdc_infotext_format(&ip, &text, &err);
    sdc_gen_params_free(&ip);
    return text;
}

sdc_status sdc_out_save_png(const char *path, const sdc_gen_result *r, int64_t b, const char *infotext, bool overwrite,
                            sdc_u8_rounding rounding, sdc_error *err) {
    sdc_tensor t = sdc_tensor_4d(SDC_DTYPE_F32, r->image01, r->B, 3, r->H, r->W);
    sdc_image img = {0};
    sdc_image_meta meta = {0};
    sdc_status st = sdc_image_from_tensor(&t, b, SDC_RANGE_01, rounding, &img, err);
    if (!st && infotext) st = sdc_image_meta_add(&meta, "parameters", infotext, err);
    if (!st) st = sdc_image_save_png(path, &img, &meta, overwrite ? SDC_WRITE_OVERWRITE : 0, err);
    sdc_image_free(&img);
    sdc_image_meta_free(&meta);
    return st;
}

sdc_status sdc_out_read_tensor(const char *path, const char *name, int ndim, const int64_t *shape, float **out,
                               sdc_error *err) {
    *out = NULL;
    sdc_weight_file *f;
    sdc_status st = sdc_weight_file_open(path, &f, err);
    if (st) return st;
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    bool ok = w && w->ndim == ndim && sdc_dtype_is_float(w->dtype);
    for (int i = 0; ok && i < ndim; i++) ok = w->shape[i] == shape[i];
    if (!ok) {
        char want[128] = "";
        int n = 0;
        for (int i = 0; i < ndim; i++) n += snprintf(want + n, sizeof want - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
        st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: needs a float tensor '%s' of shape [%s]%s", path, name, want,
                           w ? " (its shape or dtype differs)" : " (not found)");
    } else {
        *out = malloc((size_t)sdc_weight_numel(w) * sizeof(float));
        if (!*out) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        else sdc_convert_to_f32(w->dtype, w->data, *out, (size_t)sdc_weight_numel(w));
    }
    sdc_weight_file_close(f);
    return st;
}

sdc_status sdc_out_write_tensor(const char *path, const float *images, int64_t n, int64_t H, int64_t W, bool overwrite,
                                sdc_error *err) {
    sdc_weight_info w = {.name = "image", .dtype = SDC_DTYPE_F32, .ndim = 4, .shape = {n, 3, H, W},
                         .data = images, .nbytes = (size_t)(n * 3 * H * W) * sizeof(float)};
    return sdc_safetensors_write(path, &w, 1, NULL, NULL, 0, overwrite, err);
}
