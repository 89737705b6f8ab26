/* PIL-compatible 8-bit resampling, A1111 resize modes and PyTorch-style
 * latent interpolation. Arithmetic mirrors the originals on purpose (double
 * coefficients, 22-bit fixed point, accumulated nearest coordinates), so
 * results match bit for bit rather than "close enough". */
#include "image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define PRECISION_BITS (32 - 8 - 2)

int sdc_resample_from_name(const char *name) {
    static const char *names[] = {"nearest", "bilinear", "bicubic", "lanczos"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

/* ---- filters (Pillow's Resample.c definitions) ---- */

static double filter_bilinear(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double filter_bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double filter_lanczos(double x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
}

typedef struct filter_def {
    double (*fn)(double);
    double support;
} filter_def;

/* Per-output-pixel source ranges and fixed-point weights along one axis. */
typedef struct axis_coeffs {
    int ksize;
    int *xmin, *xlen; /* [out] */
    int32_t *k;       /* [out, ksize] */
} axis_coeffs;

static void axis_free(axis_coeffs *a) {
    free(a->xmin);
    free(a->xlen);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static sdc_status axis_init(axis_coeffs *a, int in_size, double in0, double in1, int out_size, const filter_def *f,
                            sdc_error *err) {
    memset(a, 0, sizeof *a);
    double scale = (in1 - in0) / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    double *pre = malloc((size_t)a->ksize * sizeof *pre);
    a->xmin = malloc((size_t)out_size * sizeof *a->xmin);
    a->xlen = malloc((size_t)out_size * sizeof *a->xlen);
    a->k = calloc((size_t)out_size * (size_t)a->ksize, sizeof *a->k);
    if (!pre || !a->xmin || !a->xlen || !a->k) {
        free(pre);
        axis_free(a);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for resize coefficients");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            pre[x] = f->fn((x + xmin - center + 0.5) * ss);
            ww += pre[x];
        }
        int32_t *k = a->k + (size_t)xx * (size_t)a->ksize;
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? pre[x] / ww : pre[x];
            k[x] = (int32_t)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
        }
        a->xmin[xx] = xmin;
        a->xlen[xx] = xmax < 0 ? 0 : xmax;
    }
    free(pre);
    return SDC_OK;
}

static uint8_t clip8(int64_t v) {
    v >>= PRECISION_BITS; /* arithmetic shift: floor */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* out[y][x] for rows [y0, y0 + rows) of src, resampled horizontally. */
static void pass_horizontal(const uint8_t *src, int src_w, int ch, int y0, int rows, const axis_coeffs *a, int out_w,
                            uint8_t *out) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y0 + y) * (size_t)src_w * (size_t)ch;
        uint8_t *o = out + (size_t)y * (size_t)out_w * (size_t)ch;
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = a->k + (size_t)x * (size_t)a->ksize;
            const uint8_t *p = in + (size_t)a->xmin[x] * (size_t)ch;
            for (int c = 0; c < ch; c++) {
                int64_t ss = 1 << (PRECISION_BITS - 1);
                for (int i = 0; i < a->xlen[x]; i++) ss += (int64_t)p[(size_t)i * (size_t)ch + (size_t)c] * k[i];
                o[(size_t)x * (size_t)ch + (size_t)c] = clip8(ss);
            }
        }
    }
}

/* Vertical pass; src rows are offset by y0 (the first row kept by the
 * horizontal pass). */
static void pass_vertical(const uint8_t *src, int w, int ch, int y0, const axis_coeffs *a, int out_h, uint8_t *out) {
    size_t row = (size_t)w * (size_t)ch;
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = a->k + (size_t)y * (size_t)a->ksize;
        const uint8_t *base = src + (size_t)(a->xmin[y] - y0) * row;
        uint8_t *o = out + (size_t)y * row;
        for (size_t x = 0; x < row; x++) {
            int64_t ss = 1 << (PRECISION_BITS - 1);
            for (int i = 0; i < a->xlen[y]; i++) ss += (int64_t)base[(size_t)i * row + x] * k[i];
            o[x] = clip8(ss);
        }
    }
}

/* Pillow's ImagingScaleAffine for NEAREST: coordinates accumulate by
 * repeated addition, truncated toward zero. */
static int resize_nearest(const sdc_image *src, const double box[4], sdc_image *dst) {
    int w = dst->width, h = dst->height, ch = src->channels;
    double ax = (box[2] - box[0]) / w, ay = (box[3] - box[1]) / h;
    double xo = box[0] + ax * 0.5, yo = box[1] + ay * 0.5;
    int *xin = malloc((size_t)w * sizeof *xin);
    if (!xin) return -1;
    for (int x = 0; x < w; x++, xo += ax) {
        int v = xo < 0.0 ? -1 : (int)xo;
        xin[x] = v >= src->width ? -1 : v;
    }
    for (int y = 0; y < h; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi < 0 || yi >= src->height) continue;
        const uint8_t *in = src->data + (size_t)yi * (size_t)src->width * (size_t)ch;
        uint8_t *o = dst->data + (size_t)y * (size_t)w * (size_t)ch;
        for (int x = 0; x < w; x++)
            if (xin[x] >= 0) memcpy(o + (size_t)x * (size_t)ch, in + (size_t)xin[x] * (size_t)ch, (size_t)ch);
    }
    free(xin);
    return 0;
}

/* PIL premultiplies alpha before resampling (RGBA -> RGBa) and divides
 * after; MULDIV255 is its rounding product a * b / 255. */
static uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void premultiply(sdc_image *img, int undo) {
    size_t n = (size_t)img->width * (size_t)img->height;
    int ch = img->channels;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->data + i * (size_t)ch;
        unsigned a = p[ch - 1];
        for (int c = 0; c < ch - 1; c++) {
            if (!undo) p[c] = muldiv255(p[c], a);
            else if (a != 0 && a != 255) {
                unsigned v = 255u * p[c] / a;
                p[c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
}

static const filter_def *filter_for(sdc_resample f) {
    static const filter_def defs[] = {{NULL, 0}, {filter_bilinear, 1.0}, {filter_bicubic, 2.0}, {filter_lanczos, 3.0}};
    return (int)f >= 1 && (int)f <= 3 ? &defs[f] : NULL;
}

static sdc_status resample_separable(const sdc_image *src, const double box[4], const filter_def *f, sdc_image *dst,
                                     sdc_error *err) {
    int w = dst->width, h = dst->height, ch = src->channels;
    int need_h = w != src->width || box[0] != 0.0 || box[2] != w;
    int need_v = h != src->height || box[1] != 0.0 || box[3] != h;
    axis_coeffs ax = {0}, ay = {0};
    uint8_t *tmp = NULL;
    sdc_status st = axis_init(&ax, src->width, box[0], box[2], w, f, err);
    if (st == SDC_OK) st = axis_init(&ay, src->height, box[1], box[3], h, f, err);
    if (st != SDC_OK) goto done;
    /* rows the vertical pass reads */
    int y0 = ay.xmin[0], y1 = ay.xmin[h - 1] + ay.xlen[h - 1];
    if (!need_v) y0 = 0, y1 = src->height;
    if (y1 < y0) y1 = y0;
    const uint8_t *mid = src->data;
    int mid_y0 = 0;
    if (need_h) {
        size_t rows = (size_t)(y1 - y0) > 0 ? (size_t)(y1 - y0) : 1;
        tmp = malloc(rows * (size_t)w * (size_t)ch);
        if (!tmp) {
            st = sdc_error_set(err, SDC_ERR_OOM, "out of memory for resize");
            goto done;
        }
        pass_horizontal(src->data, src->width, ch, y0, y1 - y0, &ax, w, tmp);
        mid = tmp;
        mid_y0 = y0;
    }
    if (need_v) pass_vertical(mid, w, ch, mid_y0, &ay, h, dst->data);
    else memcpy(dst->data, mid, sdc_image_bytes(dst));
done:
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return st;
}

sdc_status sdc_image_resize_box(const sdc_image *src, const double box[4], int w, int h, sdc_resample filter,
                                sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (!(box[0] >= 0 && box[1] >= 0 && box[2] <= src->width && box[3] <= src->height && box[2] >= box[0] &&
          box[3] >= box[1]))
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "resize: box outside the %dx%d source", src->width,
                             src->height);
    if ((int)filter < 0 || (int)filter > 3) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "resize: unknown filter");
    sdc_status st = sdc_image_alloc(dst, w, h, src->channels, err);
    if (st != SDC_OK) return st;
    if (filter == SDC_RESAMPLE_NEAREST) {
        if (resize_nearest(src, box, dst) == 0) return SDC_OK;
        st = sdc_error_set(err, SDC_ERR_OOM, "out of memory for resize");
        goto fail;
    }
    int alpha = src->channels == 2 || src->channels == 4;
    sdc_image pre = {0};
    const sdc_image *in = src;
    if (alpha) {
        if ((st = sdc_image_clone(src, &pre, err)) != SDC_OK) goto fail;
        premultiply(&pre, 0);
        in = &pre;
    }
    st = resample_separable(in, box, filter_for(filter), dst, err);
    sdc_image_free(&pre);
    if (st != SDC_OK) goto fail;
    if (alpha) premultiply(dst, 1);
    return SDC_OK;
fail:
    sdc_image_free(dst);
    return st;
}

sdc_status sdc_image_resize(const sdc_image *src, int w, int h, sdc_resample filter, sdc_image *dst, sdc_error *err) {
    double box[4] = {0, 0, src->width, src->height};
    if (w == src->width && h == src->height) return sdc_image_clone(src, dst, err); /* PIL copies */
    return sdc_image_resize_box(src, box, w, h, filter, dst, err);
}

/* Copies src onto dst with its top-left corner at (ox, oy), clipped. */
static void paste(sdc_image *dst, const sdc_image *src, int ox, int oy) {
    int ch = dst->channels;
    for (int y = 0; y < src->height; y++) {
        int dy = oy + y;
        if (dy < 0 || dy >= dst->height) continue;
        int x0 = ox < 0 ? -ox : 0, x1 = SDC_MIN(src->width, dst->width - ox);
        if (x1 <= x0) continue;
        memcpy(dst->data + ((size_t)dy * (size_t)dst->width + (size_t)(ox + x0)) * (size_t)ch,
               src->data + ((size_t)y * (size_t)src->width + (size_t)x0) * (size_t)ch, (size_t)(x1 - x0) * (size_t)ch);
    }
}

/* Stretches the source span box (zero height or width: one edge) to
 * w x h with PIL's default bicubic and pastes it at (ox, oy). */
static sdc_status fill_band(sdc_image *res, const sdc_image *resized, const double box[4], int w, int h, int ox, int oy,
                            sdc_error *err) {
    if (w <= 0 || h <= 0) return SDC_OK;
    sdc_image band;
    sdc_status st = sdc_image_resize_box(resized, box, w, h, SDC_RESAMPLE_BICUBIC, &band, err);
    if (st != SDC_OK) return st;
    paste(res, &band, ox, oy);
    sdc_image_free(&band);
    return SDC_OK;
}

sdc_status sdc_image_resize_mode(const sdc_image *src, int width, int height, sdc_resize_mode mode, sdc_image *dst,
                                 sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (src->channels != 1 && src->channels != 3)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "resize mode: expected a gray or RGB image");
    if (mode == SDC_RESIZE_JUST) return sdc_image_resize(src, width, height, SDC_RESAMPLE_LANCZOS, dst, err);
    if (mode != SDC_RESIZE_CROP && mode != SDC_RESIZE_FILL)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "resize mode %d unknown", (int)mode);
    double ratio = (double)width / height, src_ratio = (double)src->width / src->height;
    int cover = mode == SDC_RESIZE_CROP;
    int wide = cover ? ratio > src_ratio : ratio < src_ratio;
    int taller = cover ? ratio <= src_ratio : ratio >= src_ratio;
    int64_t sw = wide ? width : (int64_t)src->width * height / src->height;
    int64_t sh = taller ? height : (int64_t)src->height * width / src->width;
    if (sw < 1) sw = 1;
    if (sh < 1) sh = 1;
    sdc_image resized = {0};
    sdc_status st = sdc_image_alloc(dst, width, height, src->channels, err);
    if (st == SDC_OK) st = sdc_image_resize(src, (int)SDC_MIN(sw, SDC_IMAGE_MAX_SIDE), (int)SDC_MIN(sh, SDC_IMAGE_MAX_SIDE),
                                            SDC_RESAMPLE_LANCZOS, &resized, err);
    if (st != SDC_OK) goto fail;
    sw = resized.width;
    sh = resized.height;
    paste(dst, &resized, width / 2 - (int)sw / 2, height / 2 - (int)sh / 2);
    if (mode == SDC_RESIZE_FILL && ratio < src_ratio) {
        int fh = height / 2 - (int)sh / 2;
        double top[4] = {0, 0, width, 0}, bottom[4] = {0, (double)sh, width, (double)sh};
        st = fill_band(dst, &resized, top, width, fh, 0, 0, err);
        if (st == SDC_OK) st = fill_band(dst, &resized, bottom, width, fh, 0, fh + (int)sh, err);
    } else if (mode == SDC_RESIZE_FILL && ratio > src_ratio) {
        int fw = width / 2 - (int)sw / 2;
        double left[4] = {0, 0, 0, height}, right[4] = {(double)sw, 0, (double)sw, height};
        st = fill_band(dst, &resized, left, fw, height, 0, 0, err);
        if (st == SDC_OK) st = fill_band(dst, &resized, right, fw, height, fw + (int)sw, 0, err);
    }
    sdc_image_free(&resized);
    if (st == SDC_OK) return SDC_OK;
fail:
    sdc_image_free(&resized);
    sdc_image_free(dst);
    return st;
}

/* ---- latent interpolation (PyTorch CPU semantics, float arithmetic) ---- */

static int64_t nearest_index(int64_t o, int64_t in, int64_t out, int exact) {
    if (in == out) return o;
    if (!exact && out == 2 * in) return o >> 1;
    float scale = (float)in / (float)out;
    int64_t i = (int64_t)floorf(exact ? ((float)o + 0.5f) * scale : (float)o * scale);
    return i < in - 1 ? i : in - 1;
}

/* Source index pair and weights for bilinear, align_corners=False. */
static void linear_index(int64_t o, int64_t in, int64_t out, int64_t *i0, int64_t *i1, float *l0, float *l1) {
    if (in == out) {
        *i0 = *i1 = o;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    float scale = (float)in / (float)out;
    float real = scale * ((float)o + 0.5f) - 0.5f;
    if (real < 0) real = 0;
    *i0 = (int64_t)real;
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    float l = real - (float)*i0;
    *l1 = l < 0 ? 0 : l > 1 ? 1 : l;
    *l0 = 1.0f - *l1;
}

static float at(const sdc_tensor *t, int64_t b, int64_t c, int64_t y, int64_t x) {
    return *(const float *)sdc_tensor_ptr(t, b, c, y, x);
}

sdc_status sdc_latent_resize(const sdc_tensor *src, sdc_tensor *dst, sdc_latent_interp mode, sdc_error *err) {
    if (src->dtype != SDC_DTYPE_F32 || dst->dtype != SDC_DTYPE_F32 || src->ndim != 4 || dst->ndim != 4 ||
        src->shape[0] != dst->shape[0] || src->shape[1] != dst->shape[1])
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "latent resize: expected f32 [B, C, H, W] tensors with equal B, C");
    int64_t ih = src->shape[2], iw = src->shape[3], oh = dst->shape[2], ow = dst->shape[3];
    if (ih <= 0 || iw <= 0 || oh <= 0 || ow <= 0) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "latent resize: empty");
    for (int64_t b = 0; b < src->shape[0]; b++)
        for (int64_t c = 0; c < src->shape[1]; c++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    float *o = sdc_tensor_ptr(dst, b, c, y, x);
                    if (mode != SDC_LATENT_BILINEAR) {
                        int exact = mode == SDC_LATENT_NEAREST_EXACT;
                        *o = at(src, b, c, nearest_index(y, ih, oh, exact), nearest_index(x, iw, ow, exact));
                        continue;
                    }
                    int64_t y0, y1, x0, x1;
                    float h0, h1, w0, w1;
                    linear_index(y, ih, oh, &y0, &y1, &h0, &h1);
                    linear_index(x, iw, ow, &x0, &x1, &w0, &w1);
                    float top = at(src, b, c, y0, x0) * w0 + at(src, b, c, y0, x1) * w1;
                    float bot = at(src, b, c, y1, x0) * w0 + at(src, b, c, y1, x1) * w1;
                    *o = top * h0 + bot * h1;
                }
    return SDC_OK;
}
