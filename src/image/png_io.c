/* PNG decode / encode with libpng, from and to memory, plus tEXt / zTXt /
 * iTXt text chunks. libpng reports errors by longjmp: each setjmp lives in a
 * small function whose state is all in a struct reached through a pointer,
 * so nothing the error path needs can be clobbered. No file access here. */
#include "image/png_io.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct png_state {
    const uint8_t *data; /* decode input */
    size_t size, pos;
    uint8_t *out; /* encode output */
    size_t out_size, out_cap;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    uint8_t *scratch;
    sdc_image img;
    sdc_image_meta text;
    png_text *texts; /* encode */
    char **text_bufs;
    size_t n_texts;
    sdc_status status; /* set by our own checks inside the libpng calls */
    char msg[SDC_ERRMSG_MAX];
} png_state;

static void on_error(png_structp png, png_const_charp msg) {
    png_state *s = png_get_error_ptr(png);
    if (s->status == SDC_OK) {
        s->status = SDC_ERR_FORMAT;
        snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "libpng error");
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* ancillary-chunk problems: libpng already skips the chunk */
}

static void fail(png_state *s, sdc_status st, const char *msg) {
    s->status = st;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(s->png, 1);
}

static void on_read(png_structp png, png_bytep out, size_t n) {
    png_state *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) fail(s, SDC_ERR_FORMAT, "truncated PNG (unexpected end of data)");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

int sdc_png_is_png(const uint8_t *data, size_t size) {
    return size >= 8 && png_sig_cmp((png_const_bytep)data, 0, 8) == 0;
}

/* ---- text encodings ---- */

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0; *cp gets the
 * code point. Rejects overlongs, surrogates and values above U+10FFFF. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n || c > 0xF4) return 0;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Appends Latin-1 bytes as UTF-8 to meta. */
static sdc_status add_latin1(sdc_image_meta *m, const char *key, const char *text, sdc_error *err) {
    size_t n = strlen(text);
    char *buf = malloc(n * 2 + 1);
    if (!buf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for PNG text");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            buf[k++] = (char)c;
        } else {
            buf[k++] = (char)(0xC0 | (c >> 6));
            buf[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    char ukey[160];
    size_t kk = 0;
    for (size_t i = 0; key[i] && kk + 2 < sizeof ukey; i++) { /* keys are Latin-1 too */
        unsigned char c = (unsigned char)key[i];
        if (c < 0x80) ukey[kk++] = (char)c;
        else { ukey[kk++] = (char)(0xC0 | (c >> 6)); ukey[kk++] = (char)(0x80 | (c & 0x3F)); }
    }
    ukey[kk] = '\0';
    sdc_status st = sdc_image_meta_addn(m, ukey, buf, k, err);
    free(buf);
    return st;
}

/* Valid UTF-8 is kept; invalid bytes are read as Latin-1 (never fails on
 * content, only on memory). */
static sdc_status add_utf8(sdc_image_meta *m, const char *key, const char *text, sdc_error *err) {
    size_t n = strlen(text);
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_next((const unsigned char *)text + i, n - i, &cp);
        if (len == 0) return add_latin1(m, key, text, err);
        i += len;
    }
    return sdc_image_meta_addn(m, key, text, n, err);
}

static sdc_status collect_text(png_state *s, sdc_error *err) {
    png_textp t = NULL;
    int n = 0;
    png_get_text(s->png, s->info, &t, &n);
    for (int i = 0; i < n; i++) {
        const char *text = t[i].text ? t[i].text : "";
        sdc_status st = t[i].compression >= PNG_ITXT_COMPRESSION_NONE ? add_utf8(&s->text, t[i].key, text, err)
                                                                       : add_latin1(&s->text, t[i].key, text, err);
        if (st != SDC_OK) return st;
    }
    return SDC_OK;
}

/* ---- decode ---- */

/* Walks the chunk list up to IEND: every chunk must fit in the data. libpng
 * allocates a chunk's declared length before reading it, so a few bytes
 * claiming a 2 GB chunk would otherwise cost 2 GB. */
static int chunks_fit(const uint8_t *d, size_t n) {
    for (size_t pos = 8; pos + 12 <= n;) {
        size_t len = ((size_t)d[pos] << 24) | ((size_t)d[pos + 1] << 16) | ((size_t)d[pos + 2] << 8) | d[pos + 3];
        if (len > n - pos - 12) return 0;
        if (memcmp(d + pos + 4, "IEND", 4) == 0) return 1;
        pos += len + 12;
    }
    return 0;
}

/* Everything libpng may longjmp out of. Returns 0, or -1 after an error
 * (s->status / s->msg say which). */
static int decode_body(png_state *s, unsigned flags) {
    if (setjmp(png_jmpbuf(s->png))) return -1;
    png_set_read_fn(s->png, s, on_read);
    png_set_user_limits(s->png, SDC_IMAGE_MAX_SIDE, SDC_IMAGE_MAX_SIDE);
    png_set_chunk_malloc_max(s->png, SDC_PNG_MAX_TEXT);
    png_read_info(s->png, s->info);
    png_uint_32 w = png_get_image_width(s->png, s->info), h = png_get_image_height(s->png, s->info);
    if ((uint64_t)w * h > SDC_IMAGE_MAX_PIXELS) fail(s, SDC_ERR_UNSUPPORTED, "PNG larger than the pixel limit");
    if (!(flags & SDC_PNG_PIXELS)) return 0;
    png_set_expand(s->png); /* palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    int ch = png_get_channels(s->png, s->info);
    if (png_get_bit_depth(s->png, s->info) != 8 || ch < 1 || ch > 4)
        fail(s, SDC_ERR_UNSUPPORTED, "PNG pixel layout not supported after conversion");
    sdc_error e;
    sdc_error_clear(&e);
    if (sdc_image_alloc(&s->img, (int)w, (int)h, ch, &e) != SDC_OK) fail(s, e.status, e.msg);
    if (png_get_rowbytes(s->png, s->info) != (size_t)w * (size_t)ch)
        fail(s, SDC_ERR_INTERNAL, "PNG row size does not match the image");
    s->rows = malloc((size_t)h * sizeof *s->rows);
    if (!s->rows) fail(s, SDC_ERR_OOM, "out of memory for PNG rows");
    for (png_uint_32 y = 0; y < h; y++) s->rows[y] = s->img.data + (size_t)y * w * (size_t)ch;
    png_read_image(s->png, s->rows);
    png_read_end(s->png, s->info);
    return 0;
}

sdc_status sdc_png_decode(const uint8_t *data, size_t size, unsigned flags, sdc_image *img, sdc_image_meta *meta,
                          sdc_error *err) {
    if (img) memset(img, 0, sizeof *img);
    if (((flags & SDC_PNG_PIXELS) && !img) || ((flags & SDC_PNG_TEXT) && !meta) || !flags)
        return sdc_error_set(err, SDC_ERR_INVALID_ARG, "PNG decode: missing output");
    if (!sdc_png_is_png(data, size)) return sdc_error_set(err, SDC_ERR_FORMAT, "not a PNG file (bad signature)");
    if (!chunks_fit(data, size)) return sdc_error_set(err, SDC_ERR_FORMAT, "PNG: truncated or corrupt chunk list");
    png_state *s = calloc(1, sizeof *s);
    if (!s) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    s->data = data;
    s->size = size;
    s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
    if (s->png) s->info = png_create_info_struct(s->png);
    sdc_status st = SDC_OK;
    if (!s->png || !s->info) st = sdc_error_set(err, SDC_ERR_OOM, "cannot create libpng reader");
    else if (decode_body(s, flags) != 0)
        st = sdc_error_set(err, s->status == SDC_OK ? SDC_ERR_FORMAT : s->status, "PNG: %s", s->msg);
    if (st == SDC_OK && (flags & SDC_PNG_TEXT)) st = collect_text(s, err);
    if (st == SDC_OK && (flags & SDC_PNG_TEXT)) {
        for (size_t i = 0; i < s->text.count && st == SDC_OK; i++)
            st = sdc_image_meta_add(meta, s->text.items[i].key, s->text.items[i].value, err);
    }
    if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
    if (st == SDC_OK && (flags & SDC_PNG_PIXELS)) *img = s->img;
    else sdc_image_free(&s->img);
    sdc_image_meta_free(&s->text);
    free(s->rows);
    free(s);
    return st;
}

/* ---- encode ---- */

static void on_write(png_structp png, png_bytep data, size_t n) {
    png_state *s = png_get_io_ptr(png);
    if (n > s->out_cap - s->out_size) {
        size_t cap = s->out_cap ? s->out_cap : 65536;
        while (cap - s->out_size < n) {
            if (cap > SIZE_MAX / 2) fail(s, SDC_ERR_OOM, "PNG output too large");
            cap *= 2;
        }
        uint8_t *nb = realloc(s->out, cap);
        if (!nb) fail(s, SDC_ERR_OOM, "out of memory for PNG output");
        s->out = nb;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_size, data, n);
    s->out_size += n;
}

static void on_flush(png_structp png) { (void)png; }

static sdc_status check_key(const char *key, sdc_error *err) {
    size_t n = strlen(key);
    if (n < 1 || n > 79) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "PNG text key '%s' must be 1 to 79 characters", key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 32 || (unsigned char)key[i] > 126)
            return sdc_error_set(err, SDC_ERR_INVALID_ARG, "PNG text key '%s' must be printable ASCII", key);
    return SDC_OK;
}

/* Fills s->texts[i] for one item: tEXt with Latin-1 bytes when every code
 * point fits, else iTXt with the UTF-8 as given. */
static sdc_status prepare_text(png_state *s, size_t i, const sdc_image_text *t, sdc_error *err) {
    sdc_status st = check_key(t->key, err);
    if (st != SDC_OK) return st;
    const unsigned char *v = (const unsigned char *)t->value;
    size_t n = strlen(t->value), k = 0;
    char *lat = malloc(n + 1);
    if (!lat) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for PNG text");
    s->text_bufs[i] = lat;
    int latin1 = 1;
    for (size_t p = 0; p < n;) {
        uint32_t cp;
        size_t len = utf8_next(v + p, n - p, &cp);
        if (len == 0) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "PNG text '%s' is not valid UTF-8", t->key);
        if (cp > 0xFF) latin1 = 0;
        lat[k++] = (char)cp;
        p += len;
    }
    lat[k] = '\0';
    png_text *pt = &s->texts[i];
    pt->key = t->key;
    if (latin1) {
        pt->compression = PNG_TEXT_COMPRESSION_NONE;
        pt->text = lat;
        pt->text_length = k;
    } else {
        pt->compression = PNG_ITXT_COMPRESSION_NONE;
        pt->text = t->value;
        pt->itxt_length = n;
        pt->lang = NULL;
        pt->lang_key = NULL;
    }
    return SDC_OK;
}

static int encode_body(png_state *s, const sdc_image *img) {
    if (setjmp(png_jmpbuf(s->png))) return -1;
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(s->png, s, on_write, on_flush);
    png_set_IHDR(s->png, s->info, (png_uint_32)img->width, (png_uint_32)img->height, 8, color_types[img->channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->n_texts) png_set_text(s->png, s->info, s->texts, (int)s->n_texts);
    png_write_info(s->png, s->info);
    png_write_image(s->png, s->rows);
    png_write_end(s->png, s->info);
    return 0;
}

static sdc_status encode_prepare(png_state *s, const sdc_image *img, const sdc_image_meta *meta, sdc_error *err) {
    s->rows = malloc((size_t)img->height * sizeof *s->rows);
    if (!s->rows) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for PNG rows");
    for (int y = 0; y < img->height; y++)
        s->rows[y] = img->data + (size_t)y * (size_t)img->width * (size_t)img->channels;
    s->n_texts = meta ? meta->count : 0;
    if (s->n_texts == 0) return SDC_OK;
    s->texts = calloc(s->n_texts, sizeof *s->texts);
    s->text_bufs = calloc(s->n_texts, sizeof *s->text_bufs);
    if (!s->texts || !s->text_bufs) return sdc_error_set(err, SDC_ERR_OOM, "out of memory for PNG text");
    for (size_t i = 0; i < s->n_texts; i++) {
        sdc_status st = prepare_text(s, i, &meta->items[i], err);
        if (st != SDC_OK) return st;
    }
    return SDC_OK;
}

sdc_status sdc_png_encode(const sdc_image *img, const sdc_image_meta *meta, uint8_t **out, size_t *out_size,
                          sdc_error *err) {
    *out = NULL;
    *out_size = 0;
    sdc_status st = sdc_image_check_size(img->width, img->height, img->channels, "PNG encode", err);
    if (st != SDC_OK) return st;
    png_state *s = calloc(1, sizeof *s);
    if (!s) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    st = encode_prepare(s, img, meta, err);
    if (st == SDC_OK) {
        s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
        if (s->png) s->info = png_create_info_struct(s->png);
        if (!s->png || !s->info) st = sdc_error_set(err, SDC_ERR_OOM, "cannot create libpng writer");
        else if (encode_body(s, img) != 0)
            st = sdc_error_set(err, s->status == SDC_OK ? SDC_ERR_INTERNAL : s->status, "PNG encode: %s", s->msg);
    }
    if (s->png) png_destroy_write_struct(&s->png, s->info ? &s->info : NULL);
    if (st == SDC_OK) {
        *out = s->out;
        *out_size = s->out_size;
    } else {
        free(s->out);
    }
    for (size_t i = 0; s->text_bufs && i < s->n_texts; i++) free(s->text_bufs[i]);
    free(s->text_bufs);
    free(s->texts);
    free(s->rows);
    free(s);
    return st;
}
