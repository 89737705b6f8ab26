/* Image nodes: LoadImage, LoadImageMask, SaveImage, PreviewImage,
 * ImageScale, ImageScaleBy, ImageInvert, ImagePadForOutpaint, EmptyImage,
 * Canny.
 *
 * Follows ComfyUI: LoadImage drops alpha for the IMAGE (PIL
 * convert("RGB")) and gives MASK = 1 - alpha (64x64 zeros without alpha);
 * SaveImage writes OUTPUT/[sub/]PREFIX_NNNNN_.png with the next free
 * counter and PNG text chunks "prompt" (the API prompt) and one per
 * extra_pnginfo key ("workflow"), each as json.dumps would write it;
 * PreviewImage does the same in the temp folder. Differences: EXIF
 * orientation is not applied on load; Canny is OpenCV's algorithm on the
 * 8-bit image (thresholds x 255) rather than kornia's float one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "image/image_io.h"
#include "image/preprocess.h"
#include "workflow/files.h"
#include "workflow/nodes_common.h"

static sdc_status input_path(const sdc_wf_call *c, char *path, size_t size, sdc_error *err) {
    const char *name = sdc_wf_arg_str(c, "image");
    if (!c->env->input_dir) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no input folder");
    return sdc_path_join_within(c->env->input_dir, name, path, size, err);
}

static sdc_status load_image(sdc_wf_call *c, sdc_error *err) {
    char path[4096];
    sdc_image img = {0};
    sdc_status st = input_path(c, path, sizeof path, err);
    if (!st) st = sdc_image_load(path, &img, NULL, err);
    if (st) return st;
    sdc_wf_value *out = sdc_wf_image_new(1, img.height, img.width, err);
    int alpha = img.channels == 2 || img.channels == 4;
    sdc_wf_value *mask = out ? (alpha ? sdc_wf_mask_new(1, img.height, img.width, err) : sdc_wf_mask_new(1, 64, 64, err)) : NULL;
    if (mask) {
        sdc_wf_image_set_u8(out, 0, &img);
        for (int64_t i = 0; alpha && i < (int64_t)img.width * img.height; i++)
            mask->u.mask.data[i] = 1.0f - img.data[i * img.channels + img.channels - 1] / 255.0f;
    }
    sdc_image_free(&img);
    c->out[0] = out;
    c->out[1] = mask;
    return mask ? SDC_OK : err->status;
}

static sdc_status load_image_mask(sdc_wf_call *c, sdc_error *err) {
    char path[4096];
    sdc_image img = {0};
    sdc_status st = input_path(c, path, sizeof path, err);
    if (!st) st = sdc_image_load(path, &img, NULL, err);
    if (st) return st;
    const char *ch = sdc_wf_arg_str(c, "channel");
    int ci = !strcmp(ch, "red") ? 0 : !strcmp(ch, "green") ? 1 : !strcmp(ch, "blue") ? 2 : 3;
    sdc_wf_value *mask = sdc_wf_mask_new(1, img.height, img.width, err);
    for (int64_t i = 0; mask && i < (int64_t)img.width * img.height; i++) {
        const uint8_t *p = img.data + i * img.channels;
        int has_alpha = img.channels == 2 || img.channels == 4;
        float v;
        if (ci == 3) v = 1.0f - (has_alpha ? p[img.channels - 1] : 255) / 255.0f; /* RGBA convert: opaque -> 0 */
        else v = (img.channels >= 3 ? p[ci] : p[0]) / 255.0f;
        mask->u.mask.data[i] = v;
    }
    sdc_image_free(&img);
    c->out[0] = mask;
    return mask ? SDC_OK : err->status;
}

/* Python json.dumps(v): ", " / ": " separators, ASCII only */
static char *py_dumps(json_t *v) { return json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII); }

static sdc_status add_metadata(const sdc_wf_call *c, sdc_image_meta *meta, sdc_error *err) {
    sdc_status st = SDC_OK;
    if (c->prompt) {
        char *t = py_dumps(c->prompt);
        st = t ? sdc_image_meta_add(meta, "prompt", t, err) : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
        free(t);
    }
    const char *key;
    json_t *v;
    if (json_is_object(c->extra_pnginfo)) json_object_foreach(c->extra_pnginfo, key, v) {
            if (st || strlen(key) < 1 || strlen(key) > 79) continue;
            char *t = py_dumps(v);
            st = t ? sdc_image_meta_add(meta, key, t, err) : sdc_error_set(err, SDC_ERR_OOM, "out of memory");
            free(t);
        }
    return st;
}

static sdc_status save_images_to(sdc_wf_call *c, const char *dir, const char *prefix, const char *type, sdc_error *err) {
    const sdc_wf_value *images = sdc_wf_arg(c, "images");
    char folder[4096], stem[512], sub[1100];
    int counter;
    if (!dir) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "no %s folder", type);
    sdc_status st = sdc_wf_save_path(dir, prefix, folder, sizeof folder, stem, sizeof stem, sub, sizeof sub, &counter, err);
    sdc_image_meta meta = {0};
    if (!st) st = add_metadata(c, &meta, err);
    json_t *list = json_array();
    if (!list) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (int64_t b = 0; !st && b < images->u.image.B; b++, counter++) {
        char file[600], path[4800];
        snprintf(file, sizeof file, "%s_%05d_.png", stem, counter);
        snprintf(path, sizeof path, "%s/%s", folder, file);
        sdc_image img = {0};
        st = sdc_wf_image_to_u8(images, b, &img, err);
        if (!st) st = sdc_image_save_png(path, &img, &meta, SDC_WRITE_OVERWRITE, err);
        sdc_image_free(&img);
        if (!st) json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "filename", file, "subfolder", sub, "type", type));
    }
    sdc_image_meta_free(&meta);
    if (!st) c->ui = json_pack("{s:o}", "images", list);
    else json_decref(list);
    if (!st && !c->ui) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    return st;
}

static sdc_status save_image(sdc_wf_call *c, sdc_error *err) {
    return save_images_to(c, c->env->output_dir, sdc_wf_arg_str(c, "filename_prefix"), "output", err);
}

static sdc_status preview_image(sdc_wf_call *c, sdc_error *err) {
    static const char letters[] = "abcdefghijklmnopqrstupvxyz";
    char prefix[32];
    unsigned s = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
    snprintf(prefix, sizeof prefix, "ComfyUI_temp_");
    for (int i = 0; i < 5; i++) {
        s = s * 1103515245u + 12345u;
        prefix[13 + i] = letters[(s >> 16) % 26];
    }
    prefix[18] = '\0';
    return save_images_to(c, c->env->temp_dir, prefix, "temp", err);
}

static sdc_status image_scale(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "image");
    sdc_wf_interp m;
    if (sdc_wf_interp_from_name(sdc_wf_arg_str(c, "upscale_method"), &m)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown upscale_method");
    int64_t W = sdc_wf_arg_int(c, "width"), H = sdc_wf_arg_int(c, "height");
    if (W == 0 && H == 0) {
        c->out[0] = sdc_wf_value_ref((sdc_wf_value *)img);
        return SDC_OK;
    }
    if (W == 0) W = SDC_MAX(1, (int64_t)nearbyint((double)img->u.image.W * (double)H / (double)img->u.image.H));
    if (H == 0) H = SDC_MAX(1, (int64_t)nearbyint((double)img->u.image.H * (double)W / (double)img->u.image.W));
    c->out[0] = sdc_wf_image_resize(img, W, H, m, strcmp(sdc_wf_arg_str(c, "crop"), "center") == 0, err);
    return c->out[0] ? SDC_OK : err->status;
}

static sdc_status image_scale_by(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "image");
    sdc_wf_interp m;
    if (sdc_wf_interp_from_name(sdc_wf_arg_str(c, "upscale_method"), &m)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown upscale_method");
    double s = sdc_wf_arg_float(c, "scale_by");
    int64_t W = (int64_t)nearbyint((double)img->u.image.W * s), H = (int64_t)nearbyint((double)img->u.image.H * s);
    if (W < 1 || H < 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "the scaled image would be empty");
    c->out[0] = sdc_wf_image_resize(img, W, H, m, 0, err);
    return c->out[0] ? SDC_OK : err->status;
}

static sdc_status image_invert(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "image");
    sdc_wf_value *out = sdc_wf_image_new(img->u.image.B, img->u.image.H, img->u.image.W, err);
    if (!out) return err->status;
    for (int64_t i = 0; i < img->u.image.B * img->u.image.H * img->u.image.W * 3; i++) out->u.image.data[i] = 1.0f - img->u.image.data[i];
    c->out[0] = out;
    return SDC_OK;
}

/* ImagePadForOutpaint: canvas of 0.5, mask 1 outside, ((f - d) / f)^2 feather inside */
static sdc_status pad_for_outpaint(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "image");
    int64_t l = sdc_wf_arg_int(c, "left"), t = sdc_wf_arg_int(c, "top"), r = sdc_wf_arg_int(c, "right"),
            b = sdc_wf_arg_int(c, "bottom"), f = sdc_wf_arg_int(c, "feathering");
    int64_t B = img->u.image.B, H = img->u.image.H, W = img->u.image.W, H2 = H + t + b, W2 = W + l + r;
    sdc_wf_value *out = sdc_wf_image_new(B, H2, W2, err), *mask = out ? sdc_wf_mask_new(1, H2, W2, err) : NULL;
    if (!mask) {
        sdc_wf_value_unref(out);
        return err->status;
    }
    for (int64_t i = 0; i < B * H2 * W2 * 3; i++) out->u.image.data[i] = 0.5f;
    for (int64_t k = 0; k < B; k++)
        for (int64_t y = 0; y < H; y++)
            memcpy(out->u.image.data + ((k * H2 + y + t) * W2 + l) * 3, img->u.image.data + (k * H + y) * W * 3, (size_t)(W * 3) * sizeof(float));
    for (int64_t i = 0; i < H2 * W2; i++) mask->u.mask.data[i] = 1.0f;
    int feather = f > 0 && f * 2 < H && f * 2 < W;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            float v = 0.0f;
            if (feather) {
                int64_t dt = t ? y : H, db = b ? H - y : H, dl = l ? x : W, dr = r ? W - x : W;
                int64_t d = SDC_MIN(SDC_MIN(dt, db), SDC_MIN(dl, dr));
                if (d < f) {
                    float q = (float)(f - d) / (float)f;
                    v = q * q;
                }
            }
            mask->u.mask.data[(y + t) * W2 + x + l] = v;
        }
    c->out[0] = out;
    c->out[1] = mask;
    return SDC_OK;
}

static sdc_status empty_image(sdc_wf_call *c, sdc_error *err) {
    int64_t color = sdc_wf_arg_int(c, "color");
    sdc_wf_value *out = sdc_wf_image_new(sdc_wf_arg_int(c, "batch_size"), sdc_wf_arg_int(c, "height"), sdc_wf_arg_int(c, "width"), err);
    if (!out) return err->status;
    float rgb[3] = {(float)((color >> 16) & 0xff) / 255.0f, (float)((color >> 8) & 0xff) / 255.0f, (float)(color & 0xff) / 255.0f};
    for (int64_t i = 0; i < out->u.image.B * out->u.image.H * out->u.image.W; i++)
        for (int ch = 0; ch < 3; ch++) out->u.image.data[i * 3 + ch] = rgb[ch];
    c->out[0] = out;
    return SDC_OK;
}

static sdc_status canny(sdc_wf_call *c, sdc_error *err) {
    const sdc_wf_value *img = sdc_wf_arg(c, "image");
    double lo = sdc_wf_arg_float(c, "low_threshold") * 255.0, hi = sdc_wf_arg_float(c, "high_threshold") * 255.0;
    sdc_wf_value *out = sdc_wf_image_new(img->u.image.B, img->u.image.H, img->u.image.W, err);
    sdc_status st = out ? SDC_OK : err->status;
    for (int64_t b = 0; !st && b < img->u.image.B; b++) {
        sdc_image u8 = {0}, edges = {0};
        st = sdc_wf_image_to_u8(img, b, &u8, err);
        if (!st) st = sdc_canny(&u8, lo, hi, &edges, err);
        if (!st) sdc_wf_image_set_u8(out, b, &edges);
        sdc_image_free(&u8);
        sdc_image_free(&edges);
    }
    if (st) sdc_wf_value_unref(out);
    else c->out[0] = out;
    return st;
}

/* ---- definitions ------------------------------------------------------------------------ */

static const char *const k_channels[] = {"alpha", "red", "green", "blue", NULL};
static const char *const k_image_methods[] = {"nearest-exact", "bilinear", "area", "bicubic", "lanczos", NULL};
static const char *const k_crop[] = {"disabled", "center", NULL};

static const sdc_wf_input_def in_load[] = {
    {.name = "image", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_INPUT_IMAGES, .image_upload = 1}};
static const sdc_wf_input_def in_load_mask[] = {
    {.name = "image", .type = SDC_WF_COMBO, .list = SDC_WF_LIST_INPUT_IMAGES, .image_upload = 1},
    {.name = "channel", .type = SDC_WF_COMBO, .choices = k_channels},
};
static const sdc_wf_input_def in_save[] = {
    {.name = "images", .type = SDC_WF_IMAGE},
    {.name = "filename_prefix", .type = SDC_WF_STRING, .sdef = "ComfyUI"},
};
static const sdc_wf_input_def in_preview[] = {{.name = "images", .type = SDC_WF_IMAGE}};
static const sdc_wf_input_def in_scale[] = {
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "upscale_method", .type = SDC_WF_COMBO, .choices = k_image_methods},
    {.name = "width", .type = SDC_WF_INT, .def = 512, .min = 0, .max = 16384, .step = 1},
    {.name = "height", .type = SDC_WF_INT, .def = 512, .min = 0, .max = 16384, .step = 1},
    {.name = "crop", .type = SDC_WF_COMBO, .choices = k_crop},
};
static const sdc_wf_input_def in_scale_by[] = {
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "upscale_method", .type = SDC_WF_COMBO, .choices = k_image_methods},
    {.name = "scale_by", .type = SDC_WF_FLOAT, .def = 1.0, .min = 0.01, .max = 8.0, .step = 0.01},
};
static const sdc_wf_input_def in_invert[] = {{.name = "image", .type = SDC_WF_IMAGE}};
static const sdc_wf_input_def in_pad[] = {
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "left", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "top", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "right", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "bottom", .type = SDC_WF_INT, .def = 0, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 8},
    {.name = "feathering", .type = SDC_WF_INT, .def = 40, .min = 0, .max = SDC_WF_MAX_RESOLUTION, .step = 1},
};
static const sdc_wf_input_def in_empty_image[] = {
    {.name = "width", .type = SDC_WF_INT, .def = 512, .min = 1, .max = SDC_WF_MAX_RESOLUTION, .step = 1},
    {.name = "height", .type = SDC_WF_INT, .def = 512, .min = 1, .max = SDC_WF_MAX_RESOLUTION, .step = 1},
    {.name = "batch_size", .type = SDC_WF_INT, .def = 1, .min = 1, .max = 64, .step = 1},
    {.name = "color", .type = SDC_WF_INT, .def = 0, .min = 0, .max = 0xFFFFFF, .step = 1},
};
static const sdc_wf_input_def in_canny[] = {
    {.name = "image", .type = SDC_WF_IMAGE},
    {.name = "low_threshold", .type = SDC_WF_FLOAT, .def = 0.4, .min = 0.01, .max = 0.99, .step = 0.01},
    {.name = "high_threshold", .type = SDC_WF_FLOAT, .def = 0.8, .min = 0.01, .max = 0.99, .step = 0.01},
};

const sdc_wf_node_def sdc_wf_nodes_image[] = {
    {.name = "LoadImage", .display_name = "Load Image", .category = "image", .inputs = in_load, .n_inputs = 1,
     .outputs = {SDC_WF_IMAGE, SDC_WF_MASK}, .n_outputs = 2, .volatile_file = 1, .run = load_image},
    {.name = "LoadImageMask", .display_name = "Load Image (as Mask)", .category = "mask", .inputs = in_load_mask,
     .n_inputs = 2, .outputs = {SDC_WF_MASK}, .n_outputs = 1, .volatile_file = 1, .run = load_image_mask},
    {.name = "SaveImage", .display_name = "Save Image", .category = "image",
     .description = "Saves the input images to your output directory.", .inputs = in_save, .n_inputs = 2,
     .n_outputs = 0, .output_node = 1, .run = save_image},
    {.name = "PreviewImage", .display_name = "Preview Image", .category = "image", .inputs = in_preview, .n_inputs = 1,
     .n_outputs = 0, .output_node = 1, .run = preview_image},
    {.name = "ImageScale", .display_name = "Upscale Image", .category = "image/upscaling", .inputs = in_scale,
     .n_inputs = 5, .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = image_scale},
    {.name = "ImageScaleBy", .display_name = "Upscale Image By", .category = "image/upscaling", .inputs = in_scale_by,
     .n_inputs = 3, .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = image_scale_by},
    {.name = "ImageInvert", .display_name = "Invert Image", .category = "image", .inputs = in_invert, .n_inputs = 1,
     .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = image_invert},
    {.name = "ImagePadForOutpaint", .display_name = "Pad Image for Outpainting", .category = "image", .inputs = in_pad,
     .n_inputs = 6, .outputs = {SDC_WF_IMAGE, SDC_WF_MASK}, .n_outputs = 2, .run = pad_for_outpaint},
    {.name = "EmptyImage", .display_name = "EmptyImage", .category = "image", .inputs = in_empty_image, .n_inputs = 4,
     .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = empty_image},
    {.name = "Canny", .display_name = "Canny", .category = "image/preprocessors", .inputs = in_canny, .n_inputs = 3,
     .outputs = {SDC_WF_IMAGE}, .n_outputs = 1, .run = canny},
};
const int sdc_wf_nodes_image_n = (int)(sizeof sdc_wf_nodes_image / sizeof sdc_wf_nodes_image[0]);
