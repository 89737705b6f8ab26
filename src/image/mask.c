/* Masks for inpainting / outpainting: extraction from images (A1111,
 * ComfyUI and channel rules), A1111's Gaussian mask blur, latent-size
 * reduction (A1111 and diffusers), and canvas extension with feathered
 * masks. Pure pixel work; no model or pipeline logic. */
#include "image/mask.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "image/image_io.h"
#include "image/resize.h"

int sdc_mask_source_from_name(const char *name) {
    static const char *names[] = {"auto", "luma", "alpha", "alpha-inverted", "red", "green", "blue"};
    for (int i = 0; i < (int)SDC_ARRAY_LEN(names); i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

static int has_alpha(const sdc_image *img) { return img->channels == 2 || img->channels == 4; }

/* A1111 takes the alpha path only when some pixel is not fully opaque. */
static int alpha_not_opaque(const sdc_image *img) {
    if (img->channels != 4) return 0; /* A1111 checks mode RGBA only */
    size_t n = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < n; i++)
        if (img->data[i * 4 + 3] != 255) return 1;
    return 0;
}

sdc_status sdc_mask_from_image(const sdc_image *img, sdc_mask_source source, sdc_image *mask, sdc_error *err) {
    memset(mask, 0, sizeof *mask);
    if ((int)source < 0 || source > SDC_MASK_BLUE) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "unknown mask source");
    int auto_alpha = source == SDC_MASK_AUTO && alpha_not_opaque(img);
    if (source == SDC_MASK_AUTO && !auto_alpha) source = SDC_MASK_LUMA;
    if (source == SDC_MASK_LUMA) return sdc_image_convert(img, 1, mask, err);
    sdc_status st = sdc_image_alloc(mask, img->width, img->height, 1, err);
    if (st != SDC_OK) return st;
    size_t n = (size_t)img->width * (size_t)img->height;
    int ch = img->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->data + i * (size_t)ch;
        uint8_t a = has_alpha(img) ? p[ch - 1] : 255, v;
        if (auto_alpha) v = a > 128 ? 255 : 0;
        else if (source == SDC_MASK_ALPHA) v = a;
        else if (source == SDC_MASK_ALPHA_INVERTED) v = (uint8_t)(255 - a);
        else v = ch >= 3 ? p[source - SDC_MASK_RED] : p[0]; /* gray: every channel is the gray */
        mask->data[i] = v;
    }
    return SDC_OK;
}

sdc_status sdc_mask_load(const char *path, sdc_mask_source source, sdc_image *mask, sdc_error *err) {
    sdc_image img;
    memset(mask, 0, sizeof *mask);
    sdc_status st = sdc_image_load(path, &img, NULL, err);
    if (st != SDC_OK) return st;
    st = sdc_mask_from_image(&img, source, mask, err);
    sdc_image_free(&img);
    return st;
}

void sdc_mask_invert(sdc_image *mask) {
    size_t n = sdc_image_bytes(mask);
    for (size_t i = 0; i < n; i++) mask->data[i] = (uint8_t)(255 - mask->data[i]);
}

static int reflect101(int p, int len) {
    if (len == 1) return 0;
    while (p < 0 || p >= len) p = p < 0 ? -p : 2 * (len - 1) - p;
    return p;
}

/* OpenCV's 8-bit Gaussian kernel: double weights (centre 1, normalised),
 * quantised to 8 fractional bits with error diffusion from the outside in,
 * the centre taking whatever makes the sum exactly 256. */
static void kernel_u8(int n, double sigma, double *v, int32_t *k) {
    int half = (n - 1) / 2;
    double sum = 0, scale = -0.125 / (sigma * sigma);
    for (int i = 0, x = 1 - n; i < half; i++, x += 2) {
        v[i] = exp((double)(x * x) * scale);
        sum += v[i];
    }
    sum = sum * 2 + 1;
    double mul = 1 / sum, err = 0;
    int32_t total = 0;
    for (int i = 0; i < half; i++) {
        double adj = v[i] * mul * 256 + err;
        int32_t q = (int32_t)lrint(adj);
        err = adj - q;
        k[i] = k[n - 1 - i] = q;
        total += q;
    }
    k[half] = 256 - 2 * total;
}

/* One Gaussian pass along x (vertical = 0) or y (vertical = 1), in place,
 * in OpenCV's fixed point: (sum of k_i * x_i + 128) >> 8. */
static sdc_status blur_pass(sdc_image *m, double sigma, int vertical, sdc_error *err) {
    int ksize = 2 * (int)(2.5 * sigma + 0.5) + 1, r = ksize / 2;
    int w = m->width, h = m->height, len = vertical ? h : w;
    if (len == 1) return SDC_OK; /* OpenCV drops the kernel along a 1-pixel side */
    int32_t *k = malloc((size_t)ksize * sizeof *k);
    double *v = malloc((size_t)ksize * sizeof *v);
    uint8_t *line = malloc((size_t)len);
    if (!k || !v || !line) {
        free(k);
        free(v);
        free(line);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for mask blur");
    }
    kernel_u8(ksize, sigma, v, k);
    free(v);
    int lines = vertical ? w : h;
    size_t step = vertical ? (size_t)w : 1;
    for (int l = 0; l < lines; l++) {
        uint8_t *base = m->data + (vertical ? (size_t)l : (size_t)l * (size_t)w);
        for (int i = 0; i < len; i++) line[i] = base[(size_t)i * step];
        for (int i = 0; i < len; i++) {
            int32_t s = 128;
            for (int j = 0; j < ksize; j++) s += k[j] * line[reflect101(i + j - r, len)];
            s >>= 8;
            base[(size_t)i * step] = (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
        }
    }
    free(k);
    free(line);
    return SDC_OK;
}

sdc_status sdc_mask_blur(const sdc_image *mask, double blur_x, double blur_y, sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (mask->channels != 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "mask blur: expected a gray mask");
    if (!(blur_x >= 0 && blur_x <= 1000 && blur_y >= 0 && blur_y <= 1000))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "mask blur: sigma must be in [0, 1000]");
    sdc_status st = sdc_image_clone(mask, dst, err);
    if (st == SDC_OK && blur_x > 0) st = blur_pass(dst, blur_x, 0, err);
    if (st == SDC_OK && blur_y > 0) st = blur_pass(dst, blur_y, 1, err);
    if (st != SDC_OK) sdc_image_free(dst);
    return st;
}

sdc_status sdc_mask_to_latent(const sdc_image *mask, int lw, int lh, sdc_mask_latent_mode mode, int round,
                              float *out, sdc_error *err) {
    if (mask->channels != 1) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "mask to latent: expected a gray mask");
    if (mode == SDC_MASK_LATENT_DIFFUSERS) {
        float *full = malloc(sdc_image_bytes(mask) * sizeof *full);
        if (!full) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for latent mask");
        for (size_t i = 0; i < sdc_image_bytes(mask); i++) full[i] = mask->data[i] >= 128 ? 1.0f : 0.0f;
        sdc_tensor src = sdc_tensor_4d(SDC_DTYPE_F32, full, 1, 1, mask->height, mask->width);
        sdc_tensor dst = sdc_tensor_4d(SDC_DTYPE_F32, out, 1, 1, lh, lw);
        sdc_status st = sdc_latent_resize(&src, &dst, SDC_LATENT_NEAREST, err);
        free(full);
        return st;
    }
    sdc_image small;
    sdc_status st = sdc_image_resize(mask, lw, lh, SDC_RESAMPLE_BICUBIC, &small, err);
    if (st != SDC_OK) return st;
    for (size_t i = 0; i < (size_t)lw * (size_t)lh; i++) {
        float v = (float)small.data[i] / 255.0f;
        out[i] = round ? rintf(v) : v;
    }
    sdc_image_free(&small);
    return SDC_OK;
}

/* ComfyUI's feather value inside the original (w x h) at (x, y). */
static float feather_at(int x, int y, int w, int h, const int pad[4], int f) {
    int dt = pad[1] ? y : h, db = pad[3] ? h - y : h, dl = pad[0] ? x : w, dr = pad[2] ? w - x : w;
    int d = SDC_MIN(SDC_MIN(dt, db), SDC_MIN(dl, dr));
    if (d >= f) return 0.0f;
    double v = (double)(f - d) / f;
    return (float)(v * v);
}

static sdc_status check_pad(const sdc_image *src, const int pad[4], sdc_error *err) {
    for (int i = 0; i < 4; i++)
        if (pad[i] < 0 || pad[i] > SDC_IMAGE_MAX_SIDE)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "outpaint: padding %d out of range", pad[i]);
    if (src->channels != 1 && src->channels != 3)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "outpaint: expected a gray or RGB image");
    return SDC_OK;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills the added area of dst (original at pad[0], pad[1]) per the spec. */
static void fill_canvas(sdc_image *dst, const sdc_image *src, const sdc_outpaint_spec *sp) {
    int ch = dst->channels;
    uint64_t rng = sp->seed;
    for (int y = 0; y < dst->height; y++)
        for (int x = 0; x < dst->width; x++) {
            uint8_t *q = dst->data + ((size_t)y * (size_t)dst->width + (size_t)x) * (size_t)ch;
            int sx = x - sp->left, sy = y - sp->top;
            int inside = sx >= 0 && sy >= 0 && sx < src->width && sy < src->height;
            if (!inside && sp->fill == SDC_PAD_EDGE) {
                sx = SDC_MIN(SDC_MAX(sx, 0), src->width - 1);
                sy = SDC_MIN(SDC_MAX(sy, 0), src->height - 1);
                inside = 1;
            }
            if (inside) {
                memcpy(q, src->data + ((size_t)sy * (size_t)src->width + (size_t)sx) * (size_t)ch, (size_t)ch);
            } else if (sp->fill == SDC_PAD_NOISE) {
                uint64_t r = splitmix64(&rng);
                for (int c = 0; c < ch; c++) q[c] = (uint8_t)(r >> (8 * c));
            } else {
                for (int c = 0; c < ch; c++) q[c] = ch == 1 ? sp->color[0] : sp->color[c];
            }
        }
}

sdc_status sdc_outpaint_extend(const sdc_image *src, const sdc_outpaint_spec *sp, sdc_image *dst, sdc_image *mask,
                               sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    memset(mask, 0, sizeof *mask);
    int pad[4] = {sp->left, sp->top, sp->right, sp->bottom};
    sdc_status st = check_pad(src, pad, err);
    if (st != SDC_OK) return st;
    if (sp->feather < 0 || sp->feather > SDC_IMAGE_MAX_SIDE)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "outpaint: feather %d out of range", sp->feather);
    int w = src->width + sp->left + sp->right, h = src->height + sp->top + sp->bottom;
    st = sdc_image_alloc(dst, w, h, src->channels, err);
    if (st == SDC_OK) st = sdc_image_alloc(mask, w, h, 1, err);
    if (st != SDC_OK) {
        sdc_image_free(dst);
        return st;
    }
    fill_canvas(dst, src, sp);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = x - sp->left, sy = y - sp->top;
            float v = 1.0f;
            if (sx >= 0 && sy >= 0 && sx < src->width && sy < src->height)
                v = sp->feather > 0 ? feather_at(sx, sy, src->width, src->height, pad, sp->feather) : 0.0f;
            mask->data[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)lrintf(v * 255.0f);
        }
    return SDC_OK;
}

sdc_status sdc_outpaint_pad_comfy(const sdc_image *src, int left, int top, int right, int bottom, int feathering,
                                  uint8_t fill, sdc_image *dst, float **mask, sdc_error *err) {
    *mask = NULL;
    sdc_outpaint_spec sp = {left, top, right, bottom, SDC_PAD_COLOR, {fill, fill, fill}, 0, 0};
    sdc_image hard;
    sdc_status st = sdc_outpaint_extend(src, &sp, dst, &hard, err);
    if (st != SDC_OK) return st;
    sdc_image_free(&hard);
    int w = dst->width, h = dst->height, pad[4] = {left, top, right, bottom};
    float *m = malloc((size_t)w * (size_t)h * sizeof *m);
    if (!m) {
        sdc_image_free(dst);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for outpaint mask");
    }
    int use_f = feathering > 0 && feathering * 2 < src->height && feathering * 2 < src->width;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = x - left, sy = y - top;
            int inside = sx >= 0 && sy >= 0 && sx < src->width && sy < src->height;
            m[(size_t)y * (size_t)w + (size_t)x] =
                !inside ? 1.0f : use_f ? feather_at(sx, sy, src->width, src->height, pad, feathering) : 0.0f;
        }
    *mask = m;
    return SDC_OK;
}
