/* Model-free ControlNet preprocessors: canny (OpenCV's algorithm, integer
 * exact), scribble threshold, scribble_xdog (float Gaussian blurs). Each
 * follows the reference arithmetic step by step so the maps agree pixel for
 * pixel; see preprocess.h for the rules and docs/IMAGES.md for the checks. */
#include "image/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

sdc_status sdc_image_to_rgb_white(const sdc_image *src, sdc_image *dst, sdc_error *err) {
    if (src->channels == 1 || src->channels == 3) return sdc_image_convert(src, 3, dst, err);
    sdc_status st = sdc_image_alloc(dst, src->width, src->height, 3, err);
    if (st != SDC_OK) return st;
    size_t n = (size_t)src->width * (size_t)src->height;
    int ch = src->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src->data + i * (size_t)ch;
        float a = (float)p[ch - 1] / 255.0f;
        for (int c = 0; c < 3; c++) {
            float v = (float)p[ch == 2 ? 0 : c] * a + 255.0f * (1.0f - a);
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            dst->data[i * 3 + (size_t)c] = (uint8_t)v;
        }
    }
    return SDC_OK;
}

/* Gray or RGB view of src: *tmp receives a converted copy when needed. */
static sdc_status as_gray_or_rgb(const sdc_image *src, sdc_image *tmp, const sdc_image **out, sdc_error *err) {
    memset(tmp, 0, sizeof *tmp);
    *out = src;
    if (src->channels == 1 || src->channels == 3) return SDC_OK;
    sdc_status st = sdc_image_to_rgb_white(src, tmp, err);
    *out = tmp;
    return st;
}

/* ---- canny ---- */

typedef struct canny_rows {
    int w, ch;
    int *mag[3];          /* rows y-1, y, y+1 with a zero column each side: [w + 2] */
    int16_t *dx[3], *dy[3]; /* gradient of the winning channel: [w] */
} canny_rows;

/* Sobel 3x3 (border replicate) for row y, best channel by |dx| + |dy|
 * (the first channel wins ties), into slot s. Rows outside the image
 * get zero magnitude. */
static void canny_row(const sdc_image *img, int y, canny_rows *r, int s) {
    int w = r->w, ch = r->ch, h = img->height;
    int *mag = r->mag[s];
    memset(mag, 0, (size_t)(w + 2) * sizeof *mag);
    if (y < 0 || y >= h) return;
    const uint8_t *rows[3];
    for (int k = 0; k < 3; k++) {
        int yy = SDC_MIN(SDC_MAX(y + k - 1, 0), h - 1);
        rows[k] = img->data + (size_t)yy * (size_t)w * (size_t)ch;
    }
    for (int x = 0; x < w; x++) {
        int xl = (x > 0 ? x - 1 : 0) * ch, xr = (x < w - 1 ? x + 1 : w - 1) * ch, xc = x * ch;
        int best = -1, bdx = 0, bdy = 0;
        for (int c = 0; c < ch; c++) {
            int gx = (rows[0][xr + c] - rows[0][xl + c]) + 2 * (rows[1][xr + c] - rows[1][xl + c]) +
                     (rows[2][xr + c] - rows[2][xl + c]);
            int gy = (rows[2][xl + c] - rows[0][xl + c]) + 2 * (rows[2][xc + c] - rows[0][xc + c]) +
                     (rows[2][xr + c] - rows[0][xr + c]);
            int m = abs(gx) + abs(gy);
            if (m > best) best = m, bdx = gx, bdy = gy;
        }
        mag[x + 1] = best;
        r->dx[s][x] = (int16_t)bdx;
        r->dy[s][x] = (int16_t)bdy;
    }
}

/* OpenCV's non-maximum suppression for pixel x of the centre row. */
static int canny_is_peak(const canny_rows *r, int p, int c, int n, int x, int low) {
    const int tg22 = (int)(0.4142135623730950488016887242097 * (1 << 15) + 0.5);
    const int *prev = r->mag[p] + 1, *cur = r->mag[c] + 1, *next = r->mag[n] + 1;
    int m = cur[x];
    if (m <= low) return 0;
    int xs = r->dx[c][x], ys = r->dy[c][x];
    int ax = abs(xs), ay = abs(ys) << 15;
    int tg22x = ax * tg22;
    if (ay < tg22x) return m > cur[x - 1] && m >= cur[x + 1];
    int tg67x = tg22x + (ax << 16);
    if (ay > tg67x) return m > prev[x] && m >= next[x];
    int s = (xs ^ ys) < 0 ? -1 : 1;
    return m > prev[x - s] && m > next[x + s];
}

typedef struct int_stack {
    size_t *v;
    size_t n, cap;
} int_stack;

static int stack_push(int_stack *s, size_t x) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        size_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

/* map (with a one-pixel border of 1s): 0 candidate, 1 not an edge, 2 edge.
 * Grows edges from the strong pixels through 8-connected candidates. */
static int canny_hysteresis(uint8_t *map, size_t stride, int_stack *st) {
    const ptrdiff_t off[8] = {-1, 1, -(ptrdiff_t)stride - 1, -(ptrdiff_t)stride, -(ptrdiff_t)stride + 1,
                              (ptrdiff_t)stride - 1, (ptrdiff_t)stride, (ptrdiff_t)stride + 1};
    while (st->n > 0) {
        size_t i = st->v[--st->n];
        for (int k = 0; k < 8; k++) {
            size_t j = (size_t)((ptrdiff_t)i + off[k]);
            if (map[j] == 0) {
                map[j] = 2;
                if (stack_push(st, j) != 0) return -1;
            }
        }
    }
    return 0;
}

static sdc_status canny_run(const sdc_image *img, int low, int high, sdc_image *dst, sdc_error *err) {
    int w = img->width, h = img->height;
    size_t stride = (size_t)w + 2;
    canny_rows r = {.w = w, .ch = img->channels};
    int_stack st = {0};
    uint8_t *map = malloc(stride * ((size_t)h + 2));
    int ok = map != NULL;
    for (int k = 0; k < 3 && ok; k++) {
        r.mag[k] = malloc(stride * sizeof(int));
        r.dx[k] = malloc((size_t)w * sizeof(int16_t));
        r.dy[k] = malloc((size_t)w * sizeof(int16_t));
        ok = r.mag[k] && r.dx[k] && r.dy[k];
    }
    if (ok) {
        memset(map, 1, stride * ((size_t)h + 2));
        canny_row(img, -1, &r, 0);
        canny_row(img, 0, &r, 1);
        for (int y = 0; y < h && ok; y++) {
            int p = y % 3, c = (y + 1) % 3, n = (y + 2) % 3; /* slots of rows y-1, y, y+1 */
            canny_row(img, y + 1, &r, n);
            uint8_t *mrow = map + (size_t)(y + 1) * stride + 1;
            for (int x = 0; x < w && ok; x++) {
                if (!canny_is_peak(&r, p, c, n, x, low)) continue;
                if (r.mag[c][x + 1] > high) {
                    mrow[x] = 2;
                    ok = stack_push(&st, (size_t)(mrow + x - map)) == 0;
                } else {
                    mrow[x] = 0;
                }
            }
        }
    }
    if (ok) ok = canny_hysteresis(map, stride, &st) == 0;
    sdc_status status = ok ? sdc_image_alloc(dst, w, h, 1, err) : sdc_error_set(err, SDC_ERR_OOM, "out of memory for canny");
    if (status == SDC_OK)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                dst->data[(size_t)y * (size_t)w + (size_t)x] = map[(size_t)(y + 1) * stride + (size_t)x + 1] == 2 ? 255 : 0;
    for (int k = 0; k < 3; k++) {
        free(r.mag[k]);
        free(r.dx[k]);
        free(r.dy[k]);
    }
    free(st.v);
    free(map);
    return status;
}

sdc_status sdc_canny(const sdc_image *src, double low, double high, sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (!isfinite(low) || !isfinite(high) || low < 0 || high < 0 || low > 1e6 || high > 1e6)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "canny: thresholds must be in [0, 1e6]");
    if (low > high) {
        double t = low;
        low = high;
        high = t;
    }
    sdc_image tmp;
    const sdc_image *img;
    sdc_status st = as_gray_or_rgb(src, &tmp, &img, err);
    if (st == SDC_OK) st = canny_run(img, (int)floor(low), (int)floor(high), dst, err);
    sdc_image_free(&tmp);
    return st;
}

/* ---- scribble ---- */

sdc_status sdc_scribble_threshold(const sdc_image *src, int threshold, sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (threshold < 0 || threshold > 256)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "scribble: threshold %d not in 0..256", threshold);
    sdc_image tmp;
    const sdc_image *img;
    sdc_status st = as_gray_or_rgb(src, &tmp, &img, err);
    if (st == SDC_OK) st = sdc_image_alloc(dst, src->width, src->height, 1, err);
    if (st == SDC_OK) {
        size_t n = (size_t)img->width * (size_t)img->height;
        int ch = img->channels;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = img->data + i * (size_t)ch;
            int m = p[0];
            for (int c = 1; c < ch; c++) m = SDC_MIN(m, p[c]);
            dst->data[i] = m < threshold ? 255 : 0;
        }
    }
    sdc_image_free(&tmp);
    return st;
}

/* OpenCV's borderInterpolate for BORDER_REFLECT_101 (folds repeatedly). */
static int reflect101(int p, int len) {
    if (len == 1) return 0;
    while (p < 0 || p >= len) p = p < 0 ? -p : 2 * (len - 1) - p;
    return p;
}

sdc_status sdc_gaussian_blur_f32(const float *src, float *dst, int w, int h, int ch, double sigma, int ksize,
                                 sdc_error *err) {
    if (!(sigma > 0) || !isfinite(sigma) || sigma > 1000)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "gaussian blur: sigma must be in (0, 1000]");
    if (ksize == 0) ksize = (int)lrint(sigma * 4 * 2 + 1) | 1;
    if (ksize < 1 || !(ksize & 1)) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "gaussian blur: bad kernel size");
    size_t row = (size_t)w * (size_t)ch, n = row * (size_t)h;
    float *k = malloc((size_t)ksize * sizeof *k), *tmp = malloc(n * sizeof *tmp);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for gaussian blur");
    }
    double sum = 0, scale = -0.5 / (sigma * sigma);
    int r = ksize / 2;
    for (int i = 0; i < ksize; i++) sum += exp(scale * (double)(i - r) * (i - r));
    for (int i = 0; i < ksize; i++) k[i] = (float)(exp(scale * (double)(i - r) * (i - r)) / sum);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) {
                float s = 0;
                for (int i = 0; i < ksize; i++) s += k[i] * src[(size_t)y * row + (size_t)reflect101(x + i - r, w) * (size_t)ch + (size_t)c];
                tmp[(size_t)y * row + (size_t)x * (size_t)ch + (size_t)c] = s;
            }
    for (int y = 0; y < h; y++)
        for (size_t x = 0; x < row; x++) {
            float s = 0;
            for (int i = 0; i < ksize; i++) s += k[i] * tmp[(size_t)reflect101(y + i - r, h) * row + x];
            dst[(size_t)y * row + x] = s;
        }
    free(k);
    free(tmp);
    return SDC_OK;
}

sdc_status sdc_scribble_xdog(const sdc_image *src, int threshold, sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    if (threshold < 0 || threshold > 255)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "scribble_xdog: threshold %d not in 0..255", threshold);
    sdc_image rgb;
    sdc_status st = sdc_image_to_rgb_white(src, &rgb, err);
    if (st != SDC_OK) return st;
    size_t n = sdc_image_bytes(&rgb), px = n / 3;
    float *f = malloc(n * sizeof *f), *g1 = malloc(n * sizeof *g1), *g2 = malloc(n * sizeof *g2);
    if (!f || !g1 || !g2) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory for scribble_xdog");
    for (size_t i = 0; st == SDC_OK && i < n; i++) f[i] = rgb.data[i];
    if (st == SDC_OK) st = sdc_gaussian_blur_f32(f, g1, rgb.width, rgb.height, 3, 0.5, 0, err);
    if (st == SDC_OK) st = sdc_gaussian_blur_f32(f, g2, rgb.width, rgb.height, 3, 5.0, 0, err);
    if (st == SDC_OK) st = sdc_image_alloc(dst, rgb.width, rgb.height, 1, err);
    for (size_t i = 0; st == SDC_OK && i < px; i++) {
        float m = g2[3 * i] - g1[3 * i];
        for (int c = 1; c < 3; c++) m = fminf(m, g2[3 * i + (size_t)c] - g1[3 * i + (size_t)c]);
        float d = 255.0f - m;
        uint8_t dog = (uint8_t)(d < 0 ? 0 : d > 255 ? 255 : d); /* clip, then astype(uint8) truncates */
        uint8_t v = (uint8_t)(2 * (uint8_t)(255 - dog));       /* numpy uint8 arithmetic wraps */
        dst->data[i] = v > threshold ? 255 : 0;
    }
    free(f);
    free(g1);
    free(g2);
    sdc_image_free(&rgb);
    return st;
}
