/* 8-bit images: allocation, channel conversion, alpha flattening and the
 * float tensor <-> u8 rules of diffusers / A1111. No file formats here. */
#include "image/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

sdc_status sdc_image_check_size(int width, int height, int channels, const char *what, sdc_error *err) {
    if (channels < 1 || channels > 4)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: %d channels (expected 1 to 4)", what, channels);
    if (width <= 0 || height <= 0)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: size %dx%d is empty", what, width, height);
    if (width > SDC_IMAGE_MAX_SIDE || height > SDC_IMAGE_MAX_SIDE ||
        (uint64_t)width * (uint64_t)height > SDC_IMAGE_MAX_PIXELS)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "%s: size %dx%d exceeds the limit (%d per side, %u pixels)",
                             what, width, height, SDC_IMAGE_MAX_SIDE, SDC_IMAGE_MAX_PIXELS);
    return SDC_OK;
}

size_t sdc_image_bytes(const sdc_image *img) {
    return (size_t)img->width * (size_t)img->height * (size_t)img->channels;
}

sdc_status sdc_image_alloc(sdc_image *img, int width, int height, int channels, sdc_error *err) {
    memset(img, 0, sizeof *img);
    sdc_status st = sdc_image_check_size(width, height, channels, "image", err);
    if (st != SDC_OK) return st;
    size_t n = (size_t)width * (size_t)height * (size_t)channels; /* bounded by the checks */
    img->data = calloc(n, 1);
    if (!img->data) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return SDC_OK;
}

void sdc_image_free(sdc_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

sdc_status sdc_image_clone(const sdc_image *src, sdc_image *dst, sdc_error *err) {
    sdc_status st = sdc_image_alloc(dst, src->width, src->height, src->channels, err);
    if (st != SDC_OK) return st;
    memcpy(dst->data, src->data, sdc_image_bytes(src));
    return SDC_OK;
}

sdc_status sdc_image_crop(const sdc_image *src, int x1, int y1, int x2, int y2, sdc_image *dst, sdc_error *err) {
    if (x1 < 0 || y1 < 0 || x2 > src->width || y2 > src->height || x2 <= x1 || y2 <= y1)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "crop %d,%d-%d,%d outside a %dx%d image", x1, y1, x2, y2, src->width,
                             src->height);
    sdc_status st = sdc_image_alloc(dst, x2 - x1, y2 - y1, src->channels, err);
    if (st) return st;
    size_t row = (size_t)dst->width * (size_t)src->channels;
    for (int y = 0; y < dst->height; y++)
        memcpy(dst->data + (size_t)y * row, src->data + ((size_t)(y1 + y) * (size_t)src->width + (size_t)x1) * src->channels,
               row);
    return SDC_OK;
}

static uint8_t luma(const uint8_t *p) {
    return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

/* Reads pixel p (cin channels) as RGBA. */
static void to_rgba(const uint8_t *p, int cin, uint8_t out[4]) {
    switch (cin) {
    case 1: out[0] = out[1] = out[2] = p[0]; out[3] = 255; break;
    case 2: out[0] = out[1] = out[2] = p[0]; out[3] = p[1]; break;
    case 3: out[0] = p[0]; out[1] = p[1]; out[2] = p[2]; out[3] = 255; break;
    default: memcpy(out, p, 4); break;
    }
}

sdc_status sdc_image_convert(const sdc_image *src, int channels, sdc_image *dst, sdc_error *err) {
    sdc_status st = sdc_image_alloc(dst, src->width, src->height, channels, err);
    if (st != SDC_OK) return st;
    size_t n = (size_t)src->width * (size_t)src->height;
    const int cin = src->channels;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src->data + i * (size_t)cin;
        uint8_t *q = dst->data + i * (size_t)channels;
        uint8_t rgba[4];
        to_rgba(p, cin, rgba);
        uint8_t gray = cin >= 3 ? luma(p) : p[0];
        switch (channels) {
        case 1: q[0] = gray; break;
        case 2: q[0] = gray; q[1] = rgba[3]; break;
        case 3: memcpy(q, rgba, 3); break;
        default: memcpy(q, rgba, 4); break;
        }
    }
    return SDC_OK;
}

sdc_status sdc_image_flatten(const sdc_image *src, const uint8_t bg[3], sdc_image *dst, sdc_error *err) {
    sdc_status st = sdc_image_alloc(dst, src->width, src->height, 3, err);
    if (st != SDC_OK) return st;
    size_t n = (size_t)src->width * (size_t)src->height;
    for (size_t i = 0; i < n; i++) {
        uint8_t rgba[4];
        to_rgba(src->data + i * (size_t)src->channels, src->channels, rgba);
        unsigned a = rgba[3];
        for (int c = 0; c < 3; c++) {
            unsigned v = rgba[c] * a + bg[c] * (255u - a);
            dst->data[i * 3 + (size_t)c] = (uint8_t)((v + 127u) / 255u);
        }
    }
    return SDC_OK;
}

uint8_t sdc_image_float_to_u8(float x, sdc_image_range range, sdc_u8_rounding rounding) {
    if (range == SDC_RANGE_PM1) x = x / 2.0f + 0.5f;
    if (!(x > 0.0f)) x = 0.0f; /* also NaN */
    if (x > 1.0f) x = 1.0f;
    float v = x * 255.0f;
    /* v is in [0, 255]; rintf rounds half to even in the default mode */
    return (uint8_t)(rounding == SDC_U8_TRUNCATE ? v : rintf(v));
}

/* Checks that t is f32 [B, C, H, W] with b in range; gives C, H and W. */
static sdc_status check_image_tensor(const sdc_tensor *t, int64_t b, const char *what, int64_t *c, int64_t *h,
                                     int64_t *w, sdc_error *err) {
    if (t->dtype != SDC_DTYPE_F32 || t->ndim != 4)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: expected an f32 tensor [B, C, H, W]", what);
    if (b < 0 || b >= t->shape[0])
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: batch index %lld out of range", what, (long long)b);
    *c = t->shape[1];
    *h = t->shape[2];
    *w = t->shape[3];
    if (*c != 1 && *c != 3) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: %lld channels (expected 1 or 3)", what, (long long)*c);
    if (*h > SDC_IMAGE_MAX_SIDE || *w > SDC_IMAGE_MAX_SIDE || *h <= 0 || *w <= 0)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s: size %lldx%lld out of range", what, (long long)*w,
                             (long long)*h);
    return SDC_OK;
}

sdc_status sdc_image_to_tensor(const sdc_image *img, sdc_image_range range, sdc_tensor *dst, int64_t b,
                               sdc_error *err) {
    int64_t c, h, w;
    sdc_status st = check_image_tensor(dst, b, "image to tensor", &c, &h, &w, err);
    if (st != SDC_OK) return st;
    if (h != img->height || w != img->width)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "image to tensor: image is %dx%d, tensor is %lldx%lld",
                             img->width, img->height, (long long)w, (long long)h);
    if (img->channels != 1 && img->channels != 3)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "image to tensor: %d channels (flatten alpha first)",
                             img->channels);
    if (img->channels == 3 && c == 1)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "image to tensor: RGB image into a 1-channel tensor");
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++) {
            float *row = sdc_tensor_ptr(dst, b, ch, y, 0);
            const uint8_t *p = img->data + ((size_t)y * (size_t)w) * (size_t)img->channels +
                               (img->channels == 3 ? (size_t)ch : 0);
            for (int64_t x = 0; x < w; x++) {
                float v = (float)p[(size_t)x * (size_t)img->channels] / 255.0f;
                if (range == SDC_RANGE_PM1) v = 2.0f * v - 1.0f;
                row[x * dst->stride[3]] = v;
            }
        }
    return SDC_OK;
}

sdc_status sdc_image_from_tensor(const sdc_tensor *src, int64_t b, sdc_image_range range, sdc_u8_rounding rounding,
                                 sdc_image *dst, sdc_error *err) {
    memset(dst, 0, sizeof *dst);
    int64_t c, h, w;
    sdc_status st = check_image_tensor(src, b, "tensor to image", &c, &h, &w, err);
    if (st == SDC_OK) st = sdc_image_alloc(dst, (int)w, (int)h, (int)c, err);
    if (st != SDC_OK) return st;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++) {
            const float *row = sdc_tensor_ptr(src, b, ch, y, 0);
            uint8_t *q = dst->data + (size_t)y * (size_t)w * (size_t)c + (size_t)ch;
            for (int64_t x = 0; x < w; x++)
                q[(size_t)x * (size_t)c] = sdc_image_float_to_u8(row[x * src->stride[3]], range, rounding);
        }
    return SDC_OK;
}

sdc_status sdc_image_meta_addn(sdc_image_meta *m, const char *key, const char *value, size_t len, sdc_error *err) {
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        sdc_image_text *items = realloc(m->items, cap * sizeof *items);
        if (!items) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for image metadata");
        m->items = items;
        m->cap = cap;
    }
    char *k = sdc_strdup(key);
    char *v = malloc(len + 1);
    if (!k || !v) {
        free(k);
        free(v);
        return sdc_error_set(err, SDC_ERR_OOM, "out of memory for image metadata");
    }
    memcpy(v, value, len);
    v[len] = '\0';
    m->items[m->count].key = k;
    m->items[m->count].value = v;
    m->count++;
    return SDC_OK;
}

sdc_status sdc_image_meta_add(sdc_image_meta *m, const char *key, const char *value, sdc_error *err) {
    return sdc_image_meta_addn(m, key, value, strlen(value), err);
}

const char *sdc_image_meta_get(const sdc_image_meta *m, const char *key) {
    for (size_t i = 0; m && i < m->count; i++)
        if (strcmp(m->items[i].key, key) == 0) return m->items[i].value;
    return NULL;
}

void sdc_image_meta_free(sdc_image_meta *m) {
    if (!m) return;
    for (size_t i = 0; i < m->count; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    free(m->items);
    memset(m, 0, sizeof *m);
}
