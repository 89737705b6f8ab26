/* `sdc generate`: txt2img, img2img, inpaint and outpaint from the command
 * line, with the verification options of DESIGN.md §2. Everything the
 * user gives is checked before the model loads; bad input exits 2 with a
 * message and leaves no output file. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "base/cpu.h"
#include "base/util.h"
#include "cli.h"
#include "gen_output.h"
#include "formats/file_hash.h"
#include "image/image_io.h"
#include "image/mask.h"
#include "image/resize.h"
#include "image/preprocess.h"
#include "models/lora.h"
#include "models/lora_tags.h"
#include "pipeline/control.h"
#include "pipeline/dump.h"
#include "pipeline/generate.h"
#include "pipeline/inpaint_area.h"

typedef struct gen_opts {
    const char *model, *vocab, *vae, *taesd, *prompt, *negative, *sampler, *scheduler, *rng, *precision, *prediction;
    const char *init_noise, *rounding, *hr_upscaler, *inpaint_fill, *inpaint_area, *strength_rule;
    const char *hr_prompt, *hr_negative, *hr_sampler, *hr_scheduler;
    int inpaint_padding;
    float hr_scale, hr_denoise;
    int hr_width, hr_height, hr_steps;
    const char *init_image, *mask, *outpaint, *noise, *init_latent, *output, *output_tensor, *dump_dir;
    int width, height, steps, clip_skip, batch_size, batch_count, mask_blur, threads;
    long long seed;
    float cfg, strength, eta;
    bool overwrite, verbose, quiet;
    const char *lora_dir;
    sdc_arg_list loras, cn_paths, cn_images, cn_strengths, cn_starts, cn_ends, cn_pre;
} gen_opts;

/* everything resolved from the options, before any heavy work */
typedef struct gen_plan {
    sdc_gen_request req;
    bool only_masked;          /* --inpaint-area masked */
    sdc_u8_rounding rounding;  /* --rounding */
    sdc_sampler_kind sampler;
    sdc_scheduler scheduler;
    sdc_dtype mat_dtype;
    int prediction;
    sdc_image init, mask;
    float *noise, *init_latent;
    int n_images;
    char **names;
    sdc_lora_set *loras;
    char *clean_prompt; /* the prompt without <lora:...> tags */
    int n_controls;
    sdc_image control_img[SDC_MAX_CONTROLS];
    sdc_control_spec control[SDC_MAX_CONTROLS];
    sdc_controlnet *cn[SDC_MAX_CONTROLS];
} gen_plan;

static const char *k_extra_help =
    "Samplers (ComfyUI names; A1111 names such as \"Euler a\" or \"DPM++ 2M Karras\" also work):\n  %s\n"
    "Schedulers:\n  %s\n\n"
    "Defaults: 512x512, 20 steps, CFG 7, sampler dpmpp_2m with the karras scheduler, random seed,\n"
    "--rng cpu (ComfyUI's torch CPU noise; philox = A1111's GPU noise), precision f32 (exact;\n"
    "bf16 is about twice as fast on CPUs with AVX512_BF16). Without --output, images go to\n"
    "outputs/NNNNN-SEED.png and are never overwritten.\n";

static void set_defaults(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->prompt = "";
    o->negative = "";
    o->width = o->height = -1;
    o->steps = 20;
    o->cfg = 7.0f;
    o->seed = -1;
    o->rng = "cpu";
    o->init_noise = "auto";
    o->rounding = "even";
    o->hr_upscaler = "Latent";
    o->inpaint_fill = "original";
    o->strength_rule = "diffusers";
    o->inpaint_area = "whole";
    o->inpaint_padding = 32;
    o->hr_denoise = 0.7f;
    o->precision = "f32";
    o->batch_size = o->batch_count = 1;
    o->strength = -1.0f;
    o->eta = -1.0f;
    o->mask_blur = 4;
}

/* The option table; returns its length. a must hold SDC_GEN_MAX_ARGS. */
#define SDC_GEN_MAX_ARGS 64
static int make_args(gen_opts *o, sdc_arg *a) {
    const sdc_arg t[] = {
        {"--model", "-m", SDC_ARG_STRING, &o->model, 0, 0, "checkpoint: .safetensors / .ckpt / .gguf file or diffusers folder (required)", "PATH"},
        {"--prompt", "-p", SDC_ARG_STRING, &o->prompt, 0, 0, "prompt, A1111 syntax: (word:1.2) [word] BREAK \\( \\)", "TEXT"},
        {"--negative-prompt", "-n", SDC_ARG_STRING, &o->negative, 0, 0, "negative prompt", "TEXT"},
        {"--width", "-W", SDC_ARG_INT, &o->width, -1000000, 1000000, "image width, a multiple of 8 (512; img2img: the init image's)", "PX"},
        {"--height", "-H", SDC_ARG_INT, &o->height, -1000000, 1000000, "image height, a multiple of 8", "PX"},
        {"--steps", "-s", SDC_ARG_INT, &o->steps, -1000000, 1000000, "sampling steps (20)", "N"},
        {"--cfg-scale", "-c", SDC_ARG_FLOAT, &o->cfg, 0, 100, "classifier-free guidance scale (7; 1 skips the negative pass)", "S"},
        {"--sampler", NULL, SDC_ARG_STRING, &o->sampler, 0, 0, "sampler name (dpmpp_2m)", "NAME"},
        {"--scheduler", NULL, SDC_ARG_STRING, &o->scheduler, 0, 0, "sigma schedule (the sampler's default: karras for dpmpp_2m)", "NAME"},
        {"--seed", NULL, SDC_ARG_INT64, &o->seed, -1, 9.2e18, "seed (-1: random)", "N"},
        {"--rng", NULL, SDC_ARG_STRING, &o->rng, 0, 0, "noise: cpu (ComfyUI, torch CPU) or philox (A1111 GPU)", "KIND"},
        {"--init-noise", NULL, SDC_ARG_STRING, &o->init_noise, 0, 0,
         "txt2img start: auto (the scheduler's rule, as ComfyUI), sigma (noise x sigma_max, as A1111), vp", "RULE"},
        {"--strength-rule", NULL, SDC_ARG_STRING, &o->strength_rule, 0, 0,
         "steps img2img runs for a strength: diffusers (int(steps x s)), a1111 (int(min(s, 0.999) x steps) + 1), "
         "comfy (int(steps / s) built, the last steps run)", "RULE"},
        {"--inpaint-fill", NULL, SDC_ARG_STRING, &o->inpaint_fill, 0, 0,
         "masked area starts from: original, latent-noise, latent-nothing (A1111's inpainting_fill)", "FILL"},
        {"--inpaint-area", NULL, SDC_ARG_STRING, &o->inpaint_area, 0, 0,
         "whole (the picture at --width x --height) or masked (A1111 \"only masked\": the masked part, padded, "
         "inpainted at --width x --height (512) and pasted back into the picture at its own size)", "AREA"},
        {"--inpaint-padding", NULL, SDC_ARG_INT, &o->inpaint_padding, 0, 4096, "only masked: pixels around the mask (32)", "PX"},
        {"--hires-scale", NULL, SDC_ARG_FLOAT, &o->hr_scale, 0, 16, "hires fix: upscale by this factor and sample again (off)", "F"},
        {"--hires-width", NULL, SDC_ARG_INT, &o->hr_width, 0, 8192, "hires fix target width (instead of a scale)", "PX"},
        {"--hires-height", NULL, SDC_ARG_INT, &o->hr_height, 0, 8192, "hires fix target height", "PX"},
        {"--hires-steps", NULL, SDC_ARG_INT, &o->hr_steps, 0, 10000, "hires pass steps (0: --steps)", "N"},
        {"--hires-denoise", NULL, SDC_ARG_FLOAT, &o->hr_denoise, 0, 1, "hires pass denoising strength (0.7)", "S"},
        {"--hires-prompt", NULL, SDC_ARG_STRING, &o->hr_prompt, 0, 0, "hires pass prompt (the prompt)", "TEXT"},
        {"--hires-negative-prompt", NULL, SDC_ARG_STRING, &o->hr_negative, 0, 0, "hires pass negative prompt", "TEXT"},
        {"--hires-sampler", NULL, SDC_ARG_STRING, &o->hr_sampler, 0, 0, "hires pass sampler (the sampler)", "NAME"},
        {"--hires-scheduler", NULL, SDC_ARG_STRING, &o->hr_scheduler, 0, 0, "hires pass scheduler", "NAME"},
        {"--hires-upscaler", NULL, SDC_ARG_STRING, &o->hr_upscaler, 0, 0,
         "Latent, \"Latent (nearest)\", \"Latent (nearest-exact)\", Lanczos, Nearest (Latent)", "NAME"},
        {"--rounding", NULL, SDC_ARG_STRING, &o->rounding, 0, 0,
         "PNG 8-bit values: even ((x*255).round(), diffusers) or truncate (A1111's astype(uint8))", "MODE"},
        {"--eta", NULL, SDC_ARG_FLOAT, &o->eta, 0, 100, "noise amount of ancestral / SDE samplers and ddim (sampler default)", "E"},
        {"--clip-skip", NULL, SDC_ARG_INT, &o->clip_skip, 1, 24, "1 = last CLIP layer, 2 = penultimate (model default)", "N"},
        {"--batch-size", "-b", SDC_ARG_INT, &o->batch_size, 1, 64, "images sampled together (1)", "N"},
        {"--batch-count", NULL, SDC_ARG_INT, &o->batch_count, 1, 10000, "batches, each with the next seeds (1)", "N"},
        {"--init-image", "-i", SDC_ARG_STRING, &o->init_image, 0, 0, "img2img / inpaint source image (PNG, JPEG, WebP)", "FILE"},
        {"--strength", NULL, SDC_ARG_FLOAT, &o->strength, -1e9, 1e9, "img2img denoising strength in [0, 1] (0.75; outpaint 1)", "S"},
        {"--mask", NULL, SDC_ARG_STRING, &o->mask, 0, 0, "inpaint mask, white = repaint (same size as the image)", "FILE"},
        {"--mask-blur", NULL, SDC_ARG_INT, &o->mask_blur, 0, 64, "mask blur in pixels (4)", "PX"},
        {"--outpaint", NULL, SDC_ARG_STRING, &o->outpaint, 0, 0, "extend the init image by L,T,R,B pixels and fill them", "L,T,R,B"},
        {"--output", "-o", SDC_ARG_STRING, &o->output, 0, 0, "output PNG (batches: NAME-0001.png, ...)", "FILE"},
        {"--overwrite", NULL, SDC_ARG_FLAG, &o->overwrite, 0, 0, "replace existing output files", NULL},
        {"--vocab", NULL, SDC_ARG_STRING, &o->vocab, 0, 0, "CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz or a tokenizer folder)", "PATH"},
        {"--vae", NULL, SDC_ARG_STRING, &o->vae, 0, 0, "use this VAE instead of the checkpoint's", "FILE"},
        {"--taesd", NULL, SDC_ARG_STRING, &o->taesd, 0, 0, "decode with this TAESD (taesd_decoder.pth/.safetensors): fast, approximate", "FILE"},
        {"--precision", NULL, SDC_ARG_STRING, &o->precision, 0, 0, "f32 (exact, default), bf16 (fast), f16 (f16 weights, f32 math)", "P"},
        {"--prediction", NULL, SDC_ARG_STRING, &o->prediction, 0, 0, "eps or v (default: from the model's config or weights)", "TYPE"},
        {"--threads", "-t", SDC_ARG_INT, &o->threads, 0, 1024, "threads (0: all cores)", "N"},
        {"--noise", NULL, SDC_ARG_STRING, &o->noise, 0, 0, "verification: tensor 'noise' [B,4,H/8,W/8] replaces the first noise draw", "FILE"},
        {"--init-latent", NULL, SDC_ARG_STRING, &o->init_latent, 0, 0, "verification: tensor 'latent' (scaled) replaces encoding the init image", "FILE"},
        {"--output-tensor", NULL, SDC_ARG_STRING, &o->output_tensor, 0, 0, "also write the images as float32 tensor 'image' [B,3,H,W]", "FILE"},
        {"--dump-dir", NULL, SDC_ARG_STRING, &o->dump_dir, 0, 0, "write every stage's output as safetensors (docs/DEBUGGING.md)", "DIR"},
        {"--lora", NULL, SDC_ARG_LIST, &o->loras, 0, 0, "apply a LoRA / LCM-LoRA (repeatable; TE strength defaults to UNET)", "FILE[:UNET[:TE]]"},
        {"--lora-dir", NULL, SDC_ARG_STRING, &o->lora_dir, 0, 0, "folder for <lora:name:weight> prompt tags", "DIR"},
        {"--control-net", NULL, SDC_ARG_LIST, &o->cn_paths, 0, 0, "ControlNet model (repeatable; one group per --control-net)", "FILE"},
        {"--control-image", NULL, SDC_ARG_LIST, &o->cn_images, 0, 0, "its control image (resized to the output)", "FILE"},
        {"--control-strength", NULL, SDC_ARG_LIST, &o->cn_strengths, 0, 0, "its strength (1)", "S"},
        {"--control-start", NULL, SDC_ARG_LIST, &o->cn_starts, 0, 0, "fraction of the steps where it starts (0)", "F"},
        {"--control-end", NULL, SDC_ARG_LIST, &o->cn_ends, 0, 0, "fraction of the steps where it ends (1)", "F"},
        {"--control-preprocess", NULL, SDC_ARG_LIST, &o->cn_pre, 0, 0, "none, canny, scribble or scribble_xdog (none)", "NAME"},
        {"--verbose", "-v", SDC_ARG_FLAG, &o->verbose, 0, 0, "report CPU features, kernels, model details", NULL},
        {"--quiet", "-q", SDC_ARG_FLAG, &o->quiet, 0, 0, "no progress bar or summary", NULL},
    };
    int n = (int)SDC_ARRAY_LEN(t);
    memcpy(a, t, sizeof t);
    return n;
}

static int usage_error(const char *msg) {
    fprintf(stderr, "sdc generate: %s\n", msg);
    return 2;
}

static bool file_readable(const char *path) { return access(path, R_OK) == 0; }

/* *out = the index of value among the n names of option opt; else exit 2
 * with a message listing them */
static int choose(const char *opt, const char *value, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) return *out = i, 0;
    char msg[256];
    int len = snprintf(msg, sizeof msg, "%s must be one of:", opt);
    for (int i = 0; i < n && len > 0 && (size_t)len < sizeof msg; i++)
        len += snprintf(msg + len, sizeof msg - (size_t)len, " %s", names[i]);
    return usage_error(msg);
}

/* sampler, scheduler, rng, precision, prediction */
static int resolve_names(const gen_opts *o, gen_plan *g) {
    sdc_error err;
    sdc_error_clear(&err);
    int implied = 0;
    g->sampler = SDC_SAMPLER_DPMPP_2M;
    g->scheduler = SDC_SCHED_KARRAS;
    if (o->sampler) {
        if (sdc_sampler_from_name(o->sampler, &g->sampler, &g->scheduler, &implied, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        if (!implied) g->scheduler = sdc_sampler_default_scheduler(g->sampler);
    }
    if (o->scheduler && sdc_scheduler_from_name(o->scheduler, &g->scheduler, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
    sdc_rng_kind rk;
    if (sdc_rng_kind_from_name(o->rng, &rk) != 0) return usage_error("--rng must be cpu or philox");
    g->req.rng = rk;
    /* in the enums' order */
    static const char *const init_noises[] = {"auto", "sigma", "vp"}, *const roundings[] = {"even", "truncate"};
    int v;
    if (choose("--init-noise", o->init_noise, init_noises, 3, &v)) return 2;
    g->req.init_noise = (sdc_init_noise)v;
    if (choose("--rounding", o->rounding, roundings, 2, &v)) return 2;
    g->rounding = v ? SDC_U8_TRUNCATE : SDC_U8_ROUND_EVEN;
    if (strcmp(o->precision, "f32") == 0) {
        g->mat_dtype = SDC_WLOAD_KEEP;
        g->req.compute = SDC_COMPUTE_F32;
    } else if (strcmp(o->precision, "bf16") == 0) {
        /* weights stay as stored (f16 files load without a copy); the
         * kernels round them to bf16 as they pack them */
        g->mat_dtype = SDC_WLOAD_KEEP;
        g->req.compute = SDC_COMPUTE_BF16;
    } else if (strcmp(o->precision, "f16") == 0) {
        g->mat_dtype = SDC_DTYPE_F16;
        g->req.compute = SDC_COMPUTE_F32;
    } else {
        return usage_error("--precision must be f32, bf16 or f16");
    }
    g->prediction = -1;
    if (o->prediction) {
        if (!strcmp(o->prediction, "eps") || !strcmp(o->prediction, "epsilon")) g->prediction = 0;
        else if (!strcmp(o->prediction, "v") || !strcmp(o->prediction, "v_prediction")) g->prediction = 1;
        else return usage_error("--prediction must be eps or v");
    }
    return 0;
}

/* parses "L,T,R,B" */
static int parse_outpaint(const char *s, sdc_outpaint_spec *sp) {
    memset(sp, 0, sizeof *sp);
    char tail;
    if (sscanf(s, "%d,%d,%d,%d%c", &sp->left, &sp->top, &sp->right, &sp->bottom, &tail) != 4 || sp->left < 0 ||
        sp->top < 0 || sp->right < 0 || sp->bottom < 0 || sp->left > 4096 || sp->top > 4096 || sp->right > 4096 || sp->bottom > 4096)
        return usage_error("--outpaint expects four non-negative pixel counts L,T,R,B (each at most 4096)");
    sp->fill = SDC_PAD_EDGE;
    sp->feather = 32;
    return 0;
}

/* init image (resized to the target size), outpaint canvas, mask */
static int load_images(const gen_opts *o, gen_plan *g) {
    sdc_error err;
    sdc_error_clear(&err);
    if (!o->init_image) {
        if (o->mask || o->outpaint) return usage_error("--mask and --outpaint need --init-image");
        return 0;
    }
    sdc_image raw = {0}, rgb = {0};
    static const uint8_t white[3] = {255, 255, 255};
    if (sdc_image_load(o->init_image, &raw, NULL, &err) != SDC_OK || sdc_image_flatten(&raw, white, &rgb, &err) != SDC_OK) {
        sdc_image_free(&raw);
        return usage_error(sdc_error_msg(&err));
    }
    sdc_image_free(&raw);
    if (o->outpaint) {
        sdc_outpaint_spec sp;
        if (parse_outpaint(o->outpaint, &sp)) return 2;
        sdc_image ext = {0};
        if (sdc_outpaint_extend(&rgb, &sp, &ext, &g->mask, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        sdc_image_free(&rgb);
        rgb = ext;
    }
    if (strcmp(o->inpaint_area, "masked") == 0) { /* the picture keeps its size; W x H is the processing size */
        g->req.width = o->width > 0 ? o->width : 512;
        g->req.height = o->height > 0 ? o->height : 512;
        g->init = rgb;
        if (!o->mask) return usage_error("--inpaint-area masked needs --mask");
        if (sdc_image_load(o->mask, &g->mask, NULL, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        if (g->mask.width != rgb.width || g->mask.height != rgb.height) {
            char msg[160];
            snprintf(msg, sizeof msg, "the mask is %dx%d but the image is %dx%d", g->mask.width, g->mask.height, rgb.width,
                     rgb.height);
            return usage_error(msg);
        }
        return 0;
    }
    int W = o->width > 0 ? o->width : rgb.width, H = o->height > 0 ? o->height : rgb.height;
    g->req.width = W;
    g->req.height = H;
    if (W % 8 || H % 8) {
        char msg[160];
        snprintf(msg, sizeof msg, "the image is %dx%d: width and height must be multiples of 8 (give --width / --height to resize)", W, H);
        sdc_image_free(&rgb);
        return usage_error(msg);
    }
    if (W != rgb.width || H != rgb.height) { /* A1111 "just resize" (Lanczos) */
        if (sdc_image_resize_mode(&rgb, W, H, SDC_RESIZE_JUST, &g->init, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        sdc_image_free(&rgb);
    } else {
        g->init = rgb;
    }
    if (o->mask) {
        if (g->mask.data) return usage_error("--mask and --outpaint cannot be combined");
        if (sdc_image_load(o->mask, &g->mask, NULL, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        if (g->mask.width != W || g->mask.height != H) {
            char msg[160];
            snprintf(msg, sizeof msg, "the mask is %dx%d but the image is %dx%d", g->mask.width, g->mask.height, W, H);
            return usage_error(msg);
        }
    } else if (g->mask.data && (g->mask.width != W || g->mask.height != H)) {
        sdc_image m2 = {0};
        if (sdc_image_resize(&g->mask, W, H, SDC_RESAMPLE_BILINEAR, &m2, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        sdc_image_free(&g->mask);
        g->mask = m2;
    }
    return 0;
}

static int load_tensors(const gen_opts *o, gen_plan *g) {
    sdc_error err;
    sdc_error_clear(&err);
    int64_t shape[4] = {o->batch_size, 4, g->req.height / 8, g->req.width / 8};
    if (o->noise && sdc_out_read_tensor(o->noise, "noise", 4, shape, &g->noise, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
    if (o->init_latent && sdc_out_read_tensor(o->init_latent, "latent", 4, shape, &g->init_latent, &err) != SDC_OK)
        return usage_error(sdc_error_msg(&err));
    g->req.noise = g->noise;
    g->req.init_latent = g->init_latent;
    return 0;
}

/* next free outputs/NNNNN-SEED.png */
static void auto_name(uint64_t seed, int i, char *buf, size_t size) {
    static int next = -1;
    if (next < 0) {
        mkdir("outputs", 0777);
        next = 0;
    }
    for (;; next++) {
        snprintf(buf, size, "outputs/%05d-%llu.png", next, (unsigned long long)(seed + (uint64_t)i));
        if (access(buf, F_OK) != 0) break;
    }
    next++;
}

/* hires fix: a scale (A1111's int(width x scale), rounded down to a
 * multiple of 8) or an explicit size (the other side keeps the aspect) */
static int plan_hires(const gen_opts *o, gen_plan *g, bool img2img) {
    bool on = o->hr_scale > 0 || o->hr_width > 0 || o->hr_height > 0;
    if (!on && (o->hr_prompt || o->hr_negative || o->hr_sampler || o->hr_scheduler))
        return usage_error("--hires-prompt / -negative-prompt / -sampler / -scheduler need --hires-scale or --hires-width / -height");
    if (!on) return 0;
    if (img2img) return usage_error("--hires-* is for txt2img (no --init-image / --init-latent)");
    if (o->hr_scale > 0 && (o->hr_width > 0 || o->hr_height > 0))
        return usage_error("give --hires-scale or --hires-width / --hires-height, not both");
    int w = g->req.width, h = g->req.height;
    if (o->hr_scale > 0) w = (int)(g->req.width * o->hr_scale), h = (int)(g->req.height * o->hr_scale);
    else if (o->hr_width > 0 && o->hr_height > 0) w = o->hr_width, h = o->hr_height;
    else if (o->hr_width > 0) w = o->hr_width, h = (int)((int64_t)o->hr_width * g->req.height / g->req.width);
    else h = o->hr_height, w = (int)((int64_t)o->hr_height * g->req.width / g->req.height);
    w = w / 8 * 8, h = h / 8 * 8;
    if (w < 8 || h < 8 || w > 8192 || h > 8192) return usage_error("the hires size must be between 8 and 8192 pixels");
    int u = sdc_hr_upscaler_from_name(o->hr_upscaler);
    if (u < 0)
        return usage_error("--hires-upscaler must be Latent, \"Latent (nearest)\", \"Latent (nearest-exact)\", Lanczos or Nearest");
    if (!(o->hr_denoise > 0 && o->hr_denoise <= 1)) return usage_error("--hires-denoise must be in (0, 1]");
    g->req.hr_width = w, g->req.hr_height = h;
    g->req.hr_steps = o->hr_steps;
    g->req.hr_denoise = o->hr_denoise;
    g->req.hr_upscaler = (sdc_hr_upscaler)u;
    g->req.hr_prompt = o->hr_prompt;
    g->req.hr_negative_prompt = o->hr_negative;
    sdc_error err;
    sdc_error_clear(&err);
    if (o->hr_sampler) {
        sdc_sampler_kind k;
        sdc_scheduler sch = g->scheduler;
        int implied = 0;
        if (sdc_sampler_from_name(o->hr_sampler, &k, &sch, &implied, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        g->req.hr_sampler = (int)k;
        if (implied) g->req.hr_scheduler = (int)sch;
    }
    if (o->hr_scheduler) {
        sdc_scheduler sch;
        if (sdc_scheduler_from_name(o->hr_scheduler, &sch, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
        g->req.hr_scheduler = (int)sch;
    }
    return 0;
}

static int plan_outputs(const gen_opts *o, gen_plan *g) {
    g->n_images = o->batch_size * o->batch_count;
    g->names = calloc((size_t)g->n_images, sizeof *g->names);
    if (!g->names) return usage_error("out of memory");
    for (int i = 0; i < g->n_images; i++) {
        char buf[4096];
        if (o->output) sdc_out_name(o->output, i, g->n_images, buf, sizeof buf);
        else auto_name(g->req.seed, i, buf, sizeof buf);
        if (!o->overwrite && access(buf, F_OK) == 0) {
            char msg[4200];
            snprintf(msg, sizeof msg, "'%s' exists (use --overwrite to replace it)", buf);
            return usage_error(msg);
        }
        g->names[i] = strdup(buf);
    }
    if (o->output_tensor && !o->overwrite && access(o->output_tensor, F_OK) == 0)
        return usage_error("the --output-tensor file exists (use --overwrite to replace it)");
    return 0;
}

static uint64_t random_seed(void) {
    uint32_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s) s = 0;
        close(fd);
    }
    if (!s) s = (uint32_t)(sdc_time_now() * 1e6);
    return s;
}

/* --lora arguments and <lora:name:w> prompt tags -> a LoRA set */
static int plan_loras(const gen_opts *o, gen_plan *g) {
    sdc_error err;
    sdc_error_clear(&err);
    sdc_lora_tag *tags = NULL;
    size_t n_tags = 0;
    if (sdc_lora_tags_extract(o->prompt, &g->clean_prompt, &tags, &n_tags, &err) != SDC_OK) return usage_error(sdc_error_msg(&err));
    g->req.prompt = g->clean_prompt;
    if (o->loras.n == 0 && n_tags == 0) {
        free(tags);
        return 0;
    }
    if (n_tags && !o->lora_dir) {
        free(tags);
        return usage_error("the prompt has <lora:...> tags: give --lora-dir DIR (the folder holding NAME.safetensors)");
    }
    int rc = 0;
    if (sdc_lora_set_new(&g->loras, &err) != SDC_OK) rc = usage_error(sdc_error_msg(&err));
    for (int i = 0; !rc && i < o->loras.n; i++) {
        char path[4096];
        float u = 1, t = 1;
        if (sdc_lora_spec_parse(o->loras.items[i], path, sizeof path, &u, &t, &err) != SDC_OK ||
            sdc_lora_set_add(g->loras, path, u, t, &err) != SDC_OK)
            rc = usage_error(sdc_error_msg(&err));
    }
    for (size_t i = 0; !rc && i < n_tags; i++) {
        char path[4096];
        if (sdc_lora_find(o->lora_dir, tags[i].name, path, sizeof path, &err) != SDC_OK ||
            sdc_lora_set_add(g->loras, path, tags[i].unet, tags[i].te, &err) != SDC_OK)
            rc = usage_error(sdc_error_msg(&err));
    }
    free(tags);
    return rc;
}

static int parse_float_item(const sdc_arg_list *l, int i, float def, float lo, float hi, const char *what, float *out) {
    *out = def;
    if (i >= l->n) return 0;
    char *end;
    double v = strtod(l->items[i], &end);
    if (*end || end == l->items[i] || v < lo || v > hi) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s '%s' must be a number in [%g, %g]", what, l->items[i], lo, hi);
        return usage_error(msg);
    }
    *out = (float)v;
    return 0;
}

/* control images (loaded and preprocessed now, so bad files fail early) */
static int plan_controls(const gen_opts *o, gen_plan *g) {
    if (o->cn_paths.n == 0) {
        if (o->cn_images.n || o->cn_strengths.n || o->cn_pre.n) return usage_error("--control-* options need --control-net");
        return 0;
    }
    if (o->cn_paths.n > SDC_MAX_CONTROLS) return usage_error("too many --control-net");
    if (o->cn_images.n != o->cn_paths.n) return usage_error("give one --control-image per --control-net");
    sdc_error err;
    sdc_error_clear(&err);
    static const uint8_t white[3] = {255, 255, 255};
    for (int i = 0; i < o->cn_paths.n; i++) {
        sdc_control_spec *sp = &g->control[i];
        if (!file_readable(o->cn_paths.items[i])) return usage_error("cannot read a --control-net file");
        if (parse_float_item(&o->cn_strengths, i, 1, 0, 10, "--control-strength", &sp->strength) ||
            parse_float_item(&o->cn_starts, i, 0, 0, 1, "--control-start", &sp->start) ||
            parse_float_item(&o->cn_ends, i, 1, 0, 1, "--control-end", &sp->end))
            return 2;
        sdc_image raw = {0}, rgb = {0};
        if (sdc_image_load(o->cn_images.items[i], &raw, NULL, &err) != SDC_OK ||
            sdc_image_flatten(&raw, white, &rgb, &err) != SDC_OK) {
            sdc_image_free(&raw);
            return usage_error(sdc_error_msg(&err));
        }
        sdc_image_free(&raw);
        const char *pre = i < o->cn_pre.n ? o->cn_pre.items[i] : "none";
        sdc_status st = SDC_OK;
        sdc_image done = {0};
        if (!strcmp(pre, "canny")) st = sdc_canny(&rgb, 100, 200, &done, &err);
        else if (!strcmp(pre, "scribble")) st = sdc_scribble_threshold(&rgb, 128, &done, &err);
        else if (!strcmp(pre, "scribble_xdog")) st = sdc_scribble_xdog(&rgb, 32, &done, &err);
        else if (strcmp(pre, "none")) st = sdc_error_set(&err, SDC_ERR_INVALID_ARG, "unknown --control-preprocess '%s' (none, canny, scribble, scribble_xdog)", pre);
        if (!st && done.data) { /* preprocessors give gray maps: ControlNets take RGB */
            sdc_image_free(&rgb);
            st = sdc_image_convert(&done, 3, &rgb, &err);
        }
        sdc_image_free(&done);
        if (st) {
            sdc_image_free(&rgb);
            return usage_error(sdc_error_msg(&err));
        }
        g->control_img[i] = rgb;
        sp->image = &g->control_img[i];
        g->n_controls++;
    }
    return 0;
}

/* checks and loads everything the user gave; returns an exit code */
static int make_plan(const gen_opts *o, gen_plan *g) {
    sdc_gen_request_default(&g->req);
    if (!o->model) return usage_error("--model is required (see --help)");
    if (o->taesd && !file_readable(o->taesd)) return usage_error("cannot read the --taesd file");
    if (!file_readable(o->model)) {
        char msg[4200];
        snprintf(msg, sizeof msg, "cannot read model '%s': %s", o->model, strerror(errno));
        return usage_error(msg);
    }
    if (o->steps < 1 || o->steps > 10000) return usage_error("--steps must be between 1 and 10000");
    int rc = resolve_names(o, g);
    if (rc) return rc;
    g->req.prompt = o->prompt;
    g->req.negative_prompt = o->negative;
    g->req.steps = o->steps;
    g->req.cfg_scale = o->cfg;
    g->req.sampler = g->sampler;
    g->req.scheduler = g->scheduler;
    g->req.eta = o->eta;
    g->req.clip_skip = o->clip_skip;
    g->req.batch_size = o->batch_size;
    g->req.mask_blur = o->mask_blur;
    g->req.seed = o->seed >= 0 ? (uint64_t)o->seed : random_seed();
    g->req.width = o->width > 0 ? o->width : 512;
    g->req.height = o->height > 0 ? o->height : 512;
    if (o->width == 0 || o->height == 0 || o->width < -1 || o->height < -1) return usage_error("--width and --height must be positive");
    if ((rc = load_images(o, g))) return rc;
    bool img2img = o->init_image || o->init_latent;
    float strength = o->strength >= -0.5f ? o->strength : (o->outpaint ? 1.0f : 0.75f);
    if (o->strength != -1.0f && !(o->strength >= 0 && o->strength <= 1)) return usage_error("--strength must be between 0 and 1");
    if (o->strength != -1.0f && !img2img) return usage_error("--strength needs --init-image or --init-latent");
    g->req.strength = strength;
    if (g->req.width % 8 || g->req.height % 8) return usage_error("--width and --height must be multiples of 8");
    if ((rc = plan_hires(o, g, img2img))) return rc;
    /* in the enums' order */
    static const char *const areas[] = {"whole", "masked"}, *const rules[] = {"diffusers", "a1111", "comfy"},
                             *const fills[] = {"original", "latent-noise", "latent-nothing"};
    int v;
    if (choose("--inpaint-area", o->inpaint_area, areas, 2, &v)) return 2;
    g->only_masked = v == 1;
    if (choose("--strength-rule", o->strength_rule, rules, 3, &v)) return 2;
    g->req.img2img_rule = (sdc_img2img_rule)v;
    if (g->only_masked && (o->outpaint || o->init_latent || g->req.hr_width > 0))
        return usage_error("--inpaint-area masked takes --init-image and --mask (no --outpaint, --init-latent or --hires-*)");
    if (choose("--inpaint-fill", o->inpaint_fill, fills, 3, &v)) return 2;
    g->req.inpaint_fill = (sdc_latent_fill)v;
    if (g->req.inpaint_fill != SDC_FILL_ORIGINAL && !o->mask && !o->outpaint)
        return usage_error("--inpaint-fill needs --mask or --outpaint");
    if ((rc = load_tensors(o, g))) return rc;
    if (o->init_latent && !o->init_image && (o->mask || o->outpaint)) return usage_error("inpainting needs --init-image");
    if ((rc = plan_loras(o, g)) || (rc = plan_controls(o, g))) return rc;
    g->req.init_image = g->init.data ? &g->init : NULL;
    g->req.mask = g->mask.data ? &g->mask : NULL;
    return plan_outputs(o, g);
}

static void plan_free(gen_plan *g) {
    sdc_image_free(&g->init);
    sdc_image_free(&g->mask);
    free(g->noise);
    free(g->init_latent);
    for (int i = 0; g->names && i < g->n_images; i++) free(g->names[i]);
    free(g->names);
    sdc_lora_set_free(g->loras);
    free(g->clean_prompt);
    for (int i = 0; i < g->n_controls; i++) {
        sdc_image_free(&g->control_img[i]);
        sdc_controlnet_free(g->cn[i]);
    }
}

/* opens the ControlNets (after the model: same precision and head layout)
 * and encodes their hints */
static sdc_status load_controls(gen_plan *g, const gen_opts *o, const sdc_sd_model *m, sdc_pool *pool,
                                sdc_control_set *set, sdc_control_set *hr_set, sdc_error *err) {
    sdc_controlnet_opts co = {.mat_dtype = g->mat_dtype, .num_heads = m->cfg.unet_num_heads, .head_dim = m->cfg.unet_head_dim};
    for (int i = 0; i < g->n_controls; i++) {
        sdc_status st = sdc_controlnet_open(o->cn_paths.items[i], &co, &g->cn[i], err);
        if (st) return st;
        g->control[i].cn = g->cn[i];
    }
    sdc_status st = sdc_control_set_prepare(set, g->control, g->n_controls, g->req.width, g->req.height, pool,
                                            g->req.compute, err);
    if (!st && g->n_controls) {
        g->req.extra_fn = sdc_control_extra_fn;
        g->req.extra_user = set;
    }
    /* the hires pass: the same control images at the hires size (as A1111's ControlNet does) */
    if (!st && g->n_controls && g->req.hr_width > 0) {
        st = sdc_control_set_prepare(hr_set, g->control, g->n_controls, g->req.hr_width, g->req.hr_height, pool,
                                     g->req.compute, err);
        if (!st) g->req.hr_extra_fn = sdc_control_extra_fn, g->req.hr_extra_user = hr_set;
    }
    return st;
}

/* ---- running --------------------------------------------------------------------- */


typedef struct progress_state {
    bool tty, quiet;
    int batch, batches;
} progress_state;

static int on_progress(void *user, const sdc_progress *p) {
    progress_state *ps = user;
    if (ps->quiet) return 0;
    double per = p->elapsed / p->step, eta = per * (p->steps - p->step);
    int width = 30, fill = (int)((double)width * p->step / p->steps);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    if (ps->tty || p->step == p->steps)
        fprintf(stderr, "%s  batch %d/%d  step %3d/%d |%s| %6.2f s/it  ETA %5.1f s%s", ps->tty ? "\r" : "", ps->batch,
                ps->batches, p->step, p->steps, bar, per, eta, p->step == p->steps ? "\n" : "");
    return 0;
}

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static int exit_code(sdc_status st) {
    return st == SDC_ERR_INVALID_ARG || st == SDC_ERR_IO || st == SDC_ERR_FORMAT || st == SDC_ERR_UNSUPPORTED ? 2 : 1;
}

static void log_to_stderr(void *user, sdc_log_level level, const char *msg) {
    (void)user;
    fprintf(stderr, "%s%s\n", level >= SDC_LOG_WARN ? "warning: " : "", msg);
}

static void report_cpu(const sdc_log *log) {
    char feat[256];
    const sdc_cpu_features *f = sdc_cpu_get();
    sdc_cpu_describe(f, feat, sizeof feat);
    sdc_logf(log, SDC_LOG_INFO, "cpu: %s; features: %s; kernels: %s", f->brand, feat, sdc_kernels_best()->name);
}

/* all batches; writes images as they come, the tensor at the end */
static int run_batches(const gen_opts *o, gen_plan *g, sdc_sd_model *m, sdc_pool *pool, const sdc_log *log) {
    sdc_error err;
    sdc_error_clear(&err);
    progress_state ps = {.tty = isatty(2), .quiet = o->quiet, .batches = o->batch_count};
    g->req.on_progress = on_progress;
    g->req.release_text = o->batch_count == 1; /* one encoding: its weights need not stay resident */
    g->req.user = &ps;
    g->req.log = log;
    float *all = NULL;
    size_t per_batch = 0;
    uint64_t seed0 = g->req.seed;
    sdc_gen_timing total = {0};
    int clip_skip = o->clip_skip ? o->clip_skip : m->default_clip_skip;
    /* A1111's "Model hash": the first 10 hex digits of the file's SHA-256
     * (cached in ~/.cache/sdc, so a checkpoint is hashed once) */
    char sha[65] = "", *short_hash = NULL;
    struct stat mst;
    if (stat(o->model, &mst) == 0 && S_ISREG(mst.st_mode) && sdc_file_sha256(o->model, 1, sha, &err) == SDC_OK) {
        sha[10] = '\0';
        short_hash = sha;
    }
    sdc_error_clear(&err);
    for (int b = 0; b < o->batch_count; b++) {
        ps.batch = b + 1;
        g->req.seed = seed0 + (uint64_t)b * (uint64_t)o->batch_size;
        sdc_gen_result r;
        sdc_status st = g->only_masked ? sdc_generate_only_masked(m, pool, &g->req, o->inpaint_padding, &r, NULL, &err)
                                       : sdc_generate(m, pool, &g->req, &r, &err);
        if (st) {
            fprintf(stderr, "sdc generate: %s\n", sdc_error_msg(&err));
            free(all);
            return exit_code(st);
        }
        for (int64_t i = 0; i < r.B; i++) {
            const char *name = g->names[b * o->batch_size + (int)i];
            char *info = sdc_out_infotext(&g->req, sdc_out_sampler_label(g->sampler), sdc_out_scheduler_label(g->scheduler), m->name,
                                          short_hash, r.seeds[i], g->req.init_image || g->req.init_latent, clip_skip,
                                          g->only_masked ? o->inpaint_padding : -1);
            st = sdc_out_save_png(name, &r, i, info, o->overwrite, g->rounding, &err);
            free(info);
            if (st) break;
            if (!o->quiet) printf("%s\n", name);
        }
        if (!st && o->output_tensor) {
            per_batch = (size_t)(r.B * 3 * r.H * r.W);
            float *na = realloc(all, per_batch * (size_t)(b + 1) * sizeof(float));
            if (!na) st = sdc_error_set(&err, SDC_ERR_OOM, "out of memory");
            else memcpy((all = na) + per_batch * (size_t)b, r.image01, per_batch * sizeof(float));
        }
        total.text += r.timing.text, total.sampling += r.timing.sampling, total.decode += r.timing.decode;
        total.total += r.timing.total, total.steps_run += r.timing.steps_run, total.model_evals += r.timing.model_evals;
        sdc_gen_result_free(&r);
        if (st) {
            fprintf(stderr, "sdc generate: %s\n", sdc_error_msg(&err));
            free(all);
            return exit_code(st);
        }
    }
    if (o->output_tensor &&
        sdc_out_write_tensor(o->output_tensor, all, (int64_t)o->batch_count * o->batch_size,
                             g->only_masked ? g->init.height : g->req.hr_width > 0 ? g->req.hr_height : g->req.height,
                             g->only_masked ? g->init.width : g->req.hr_width > 0 ? g->req.hr_width : g->req.width,
                             o->overwrite, &err) != SDC_OK) {
        fprintf(stderr, "sdc generate: %s\n", sdc_error_msg(&err));
        free(all);
        return 1;
    }
    free(all);
    if (!o->quiet)
        fprintf(stderr,
                "seed %llu | load %.2f s | text %.2f s | sampling %.2f s (%d steps, %.3f s/step, %d U-Net calls) | "
                "decode %.2f s | total %.2f s | peak memory %ld MB\n",
                (unsigned long long)seed0, m->load_seconds, total.text, total.sampling, total.steps_run,
                total.steps_run ? total.sampling / total.steps_run : 0.0, total.model_evals, total.decode,
                m->load_seconds + total.total, peak_rss_mb());
    return 0;
}

int sdc_cmd_generate(int argc, char **argv) {
    gen_opts o;
    set_defaults(&o);
    sdc_arg args[SDC_GEN_MAX_ARGS];
    int n_args = make_args(&o, args);
    char extra[4096];
    snprintf(extra, sizeof extra, k_extra_help, sdc_sampler_names(), sdc_scheduler_names());
    int rc = sdc_args_parse(argc, argv, args, n_args, "sdc generate --model PATH --prompt TEXT [options]", extra, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : 2;
    gen_plan g;
    memset(&g, 0, sizeof g);
    rc = make_plan(&o, &g);
    if (rc) {
        plan_free(&g);
        return rc;
    }
    sdc_log log = {.fn = log_to_stderr, .level = o.verbose ? SDC_LOG_INFO : SDC_LOG_WARN};
    if (o.verbose) report_cpu(&log);
    sdc_dumper dumper;
    bool dumping = false;
    if (o.dump_dir) {
        sdc_error derr;
        sdc_error_clear(&derr);
        if (sdc_dumper_init(&dumper, o.dump_dir, &derr) != SDC_OK) {
            plan_free(&g);
            return usage_error(sdc_error_msg(&derr));
        }
        g.req.dump = sdc_dumper_hook;
        g.req.dump_user = &dumper;
        dumping = true;
    }
    sdc_pool *pool = sdc_pool_create(o.threads);
    if (g.loras && pool) sdc_lora_set_pool(g.loras, pool); /* merging runs on all cores */
    sdc_sd_model *m = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    g.req.use_taesd = o.taesd != NULL;
    /* bf16: the U-Net's weights packed once at load for the kernels (faster steps) */
    sdc_wpack pack = {.k = sdc_kernels_best(), .compute = g.req.compute, .pool = pool};
    sdc_sd_model_opts mo = {.model_path = o.model, .vocab_path = o.vocab, .vae_path = o.vae, .taesd_path = o.taesd,
                            .loras = g.loras, .mat_dtype = g.mat_dtype,
                            .prediction = g.prediction, .log = &log,
                            .pack = g.req.compute == SDC_COMPUTE_BF16 ? &pack : NULL};
    sdc_status st = pool ? sdc_sd_model_load(&mo, &m, &err) : sdc_error_set(&err, SDC_ERR_OOM, "cannot start threads");
    if (st) {
        fprintf(stderr, "sdc generate: %s\n", sdc_error_msg(&err));
        rc = exit_code(st);
    } else {
        sdc_control_set controls, hr_controls;
        memset(&controls, 0, sizeof controls);
        memset(&hr_controls, 0, sizeof hr_controls);
        st = load_controls(&g, &o, m, pool, &controls, &hr_controls, &err);
        if (st) {
            fprintf(stderr, "sdc generate: %s\n", sdc_error_msg(&err));
            rc = exit_code(st);
        } else {
            rc = run_batches(&o, &g, m, pool, &log);
        }
        sdc_control_set_free(&controls);
        sdc_control_set_free(&hr_controls);
    }
    sdc_sd_model_free(m);
    sdc_pool_destroy(pool);
    plan_free(&g);
    if (dumping) {
        if (dumper.err.status != SDC_OK) fprintf(stderr, "sdc generate: dump: %s\n", sdc_error_msg(&dumper.err));
        else if (!o.quiet) fprintf(stderr, "wrote %d stage dumps to %s\n", dumper.n_written, o.dump_dir);
        sdc_dumper_free(&dumper);
    }
    return rc;
}
