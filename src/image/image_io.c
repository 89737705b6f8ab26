/* Image files: sniffing, JPEG (libjpeg-turbo) and WebP (libwebp) decoding,
 * dispatch to the PNG codec, file loading and atomic writes. Encoders other
 * than PNG are deliberately absent: sdc writes PNG only. */
#include "image/image_io.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <webp/decode.h>

#include "base/mapfile.h"
#include "base/util.h"
#include "image/png_io.h"

sdc_image_format sdc_image_sniff(const uint8_t *d, size_t n) {
    if (sdc_png_is_png(d, n)) return SDC_IMAGE_FORMAT_PNG;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return SDC_IMAGE_FORMAT_JPEG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return SDC_IMAGE_FORMAT_WEBP;
    return SDC_IMAGE_FORMAT_UNKNOWN;
}

const char *sdc_image_format_name(sdc_image_format f) {
    switch (f) {
    case SDC_IMAGE_FORMAT_PNG: return "png";
    case SDC_IMAGE_FORMAT_JPEG: return "jpeg";
    case SDC_IMAGE_FORMAT_WEBP: return "webp";
    default: return "unknown";
    }
}

/* ---- JPEG ---- */

#define JPEG_MAX_SCANS 1000 /* progressive files with more scans are hostile */

typedef struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    sdc_image img;
    uint8_t *row4; /* CMYK scanline */
    sdc_status status;
    char msg[SDC_ERRMSG_MAX];
} jpeg_state;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_state *s = (jpeg_state *)c->client_data;
    if (s->status == SDC_OK) {
        s->status = SDC_ERR_FORMAT;
        (*c->err->format_message)(c, s->msg);
    }
    longjmp(s->jmp, 1);
}

static void jpeg_on_message(j_common_ptr c, int level) {
    /* A truncated file is an error (PIL refuses it too); other warnings,
     * such as extraneous bytes before a marker, are common and harmless. */
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(c);
}

static void jpeg_on_progress(j_common_ptr c) {
    jpeg_state *s = (jpeg_state *)c->client_data;
    if (s->cinfo.input_scan_number > JPEG_MAX_SCANS) {
        s->status = SDC_ERR_FORMAT;
        snprintf(s->msg, sizeof s->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(s->jmp, 1);
    }
}

/* Adobe CMYK JPEGs store inverted values; this gives RGB as
 * (255 - c') * (255 - k') / 255 with c' = 255 - stored. */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int w, int inverted) {
    for (int x = 0; x < w; x++) {
        unsigned v[4];
        for (int c = 0; c < 4; c++) v[c] = inverted ? in[4 * x + c] : 255u - in[4 * x + c];
        for (int c = 0; c < 3; c++) out[3 * x + c] = (uint8_t)((v[c] * v[3] + 127u) / 255u);
    }
}

static int jpeg_body(jpeg_state *s, const uint8_t *data, size_t size) {
    if (setjmp(s->jmp)) return -1;
    jpeg_create_decompress(&s->cinfo);
    s->cinfo.progress = &s->progress;
    jpeg_mem_src(&s->cinfo, data, (unsigned long)size);
    jpeg_read_header(&s->cinfo, TRUE);
    sdc_error e;
    sdc_error_clear(&e);
    int cmyk = s->cinfo.jpeg_color_space == JCS_CMYK || s->cinfo.jpeg_color_space == JCS_YCCK;
    int ch = cmyk ? 3 : s->cinfo.num_components == 1 ? 1 : 3;
    if (sdc_image_check_size((int)SDC_MIN(s->cinfo.image_width, 1u << 30), (int)SDC_MIN(s->cinfo.image_height, 1u << 30),
                             ch, "JPEG", &e) != SDC_OK) {
        s->status = e.status;
        snprintf(s->msg, sizeof s->msg, "%s", e.msg);
        return -1;
    }
    s->cinfo.out_color_space = cmyk ? JCS_CMYK : ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&s->cinfo);
    int w = (int)s->cinfo.output_width, h = (int)s->cinfo.output_height;
    if (sdc_image_alloc(&s->img, w, h, ch, &e) != SDC_OK) {
        s->status = e.status;
        snprintf(s->msg, sizeof s->msg, "%s", e.msg);
        return -1;
    }
    if (cmyk && !(s->row4 = malloc((size_t)w * 4))) {
        s->status = SDC_ERR_OOM;
        snprintf(s->msg, sizeof s->msg, "out of memory");
        return -1;
    }
    while (s->cinfo.output_scanline < s->cinfo.output_height) {
        uint8_t *dst = s->img.data + (size_t)s->cinfo.output_scanline * (size_t)w * (size_t)ch;
        JSAMPROW row = cmyk ? s->row4 : dst;
        if (jpeg_read_scanlines(&s->cinfo, &row, 1) != 1) break;
        if (cmyk) cmyk_row_to_rgb(s->row4, dst, w, s->cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&s->cinfo);
    return 0;
}

sdc_status sdc_jpeg_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_error *err) {
    memset(img, 0, sizeof *img);
    if (size == 0 || size > SDC_IMAGE_MAX_FILE) return sdc_error_set(err, SDC_ERR_FORMAT, "JPEG: empty or too large");
    jpeg_state *s = calloc(1, sizeof *s);
    if (!s) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    s->cinfo.err = jpeg_std_error(&s->jerr);
    s->jerr.error_exit = jpeg_on_error;
    s->jerr.emit_message = jpeg_on_message;
    s->progress.progress_monitor = jpeg_on_progress;
    s->cinfo.client_data = s;
    sdc_status st = SDC_OK;
    if (jpeg_body(s, data, size) != 0)
        st = sdc_error_set(err, s->status == SDC_OK ? SDC_ERR_FORMAT : s->status, "JPEG: %s", s->msg);
    jpeg_destroy_decompress(&s->cinfo);
    free(s->row4);
    if (st == SDC_OK) *img = s->img;
    else sdc_image_free(&s->img);
    free(s);
    return st;
}

/* ---- WebP ---- */

sdc_status sdc_webp_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_error *err) {
    memset(img, 0, sizeof *img);
    WebPBitstreamFeatures f;
    if (size > SDC_IMAGE_MAX_FILE || WebPGetFeatures(data, size, &f) != VP8_STATUS_OK)
        return sdc_error_set(err, SDC_ERR_FORMAT, "WebP: not a valid WebP file");
    if (f.has_animation) return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "WebP: animated files are not supported");
    int ch = f.has_alpha ? 4 : 3;
    sdc_status st = sdc_image_check_size(f.width, f.height, ch, "WebP", err);
    if (st == SDC_OK) st = sdc_image_alloc(img, f.width, f.height, ch, err);
    if (st != SDC_OK) return st;
    size_t stride = (size_t)f.width * (size_t)ch, total = sdc_image_bytes(img);
    uint8_t *r = ch == 4 ? WebPDecodeRGBAInto(data, size, img->data, total, (int)stride)
                         : WebPDecodeRGBInto(data, size, img->data, total, (int)stride);
    if (!r) {
        sdc_image_free(img);
        return sdc_error_set(err, SDC_ERR_FORMAT, "WebP: corrupt or truncated image data");
    }
    return SDC_OK;
}

/* ---- dispatch and files ---- */

sdc_status sdc_image_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_image_meta *meta, sdc_error *err) {
    switch (sdc_image_sniff(data, size)) {
    case SDC_IMAGE_FORMAT_PNG:
        return sdc_png_decode(data, size, SDC_PNG_PIXELS | (meta ? SDC_PNG_TEXT : 0), img, meta, err);
    case SDC_IMAGE_FORMAT_JPEG: return sdc_jpeg_decode(data, size, img, err);
    case SDC_IMAGE_FORMAT_WEBP: return sdc_webp_decode(data, size, img, err);
    default:
        memset(img, 0, sizeof *img);
        return sdc_error_set(err, SDC_ERR_FORMAT, "unknown image format (expected PNG, JPEG or WebP)");
    }
}

sdc_status sdc_image_load(const char *path, sdc_image *img, sdc_image_meta *meta, sdc_error *err) {
    memset(img, 0, sizeof *img);
    char *buf = NULL;
    size_t n = 0;
    sdc_status st = sdc_read_file(path, SDC_IMAGE_MAX_FILE, &buf, &n, err);
    if (st != SDC_OK) return st;
    st = sdc_image_decode((const uint8_t *)buf, n, img, meta, err);
    if (st != SDC_OK) sdc_error_prefix(err, "'%s'", path);
    free(buf);
    return st;
}

sdc_status sdc_image_load_meta(const char *path, sdc_image_meta *meta, sdc_error *err) {
    char *buf = NULL;
    size_t n = 0;
    sdc_status st = sdc_read_file(path, SDC_IMAGE_MAX_FILE, &buf, &n, err);
    if (st != SDC_OK) return st;
    sdc_image_format f = sdc_image_sniff((const uint8_t *)buf, n);
    if (f == SDC_IMAGE_FORMAT_PNG) st = sdc_png_decode((const uint8_t *)buf, n, SDC_PNG_TEXT, NULL, meta, err);
    else if (f == SDC_IMAGE_FORMAT_UNKNOWN) st = sdc_error_set(err, SDC_ERR_FORMAT, "unknown image format");
    if (st != SDC_OK) sdc_error_prefix(err, "'%s'", path);
    free(buf);
    return st;
}

static sdc_status write_all(int fd, const uint8_t *p, size_t n, const char *tmp, sdc_error *err) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return SDC_OK;
}

/* Moves tmp to path; without overwrite the move fails if path exists. */
static int publish(const char *tmp, const char *path, int overwrite) {
    if (overwrite) return rename(tmp, path);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return -1;
    if (link(tmp, path) != 0) return -1; /* file systems without RENAME_NOREPLACE */
    unlink(tmp);
    return 0;
}

sdc_status sdc_file_write_atomic(const char *path, const void *data, size_t size, unsigned flags, sdc_error *err) {
    static atomic_uint counter;
    int overwrite = (flags & SDC_WRITE_OVERWRITE) != 0;
    struct stat sb;
    if (!overwrite && lstat(path, &sb) == 0)
        return sdc_error_set(err, SDC_ERR_IO, "'%s' exists (not overwriting)", path);
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, n, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    sdc_status st = SDC_OK;
    if (fd < 0) {
        st = sdc_error_set(err, SDC_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    st = write_all(fd, data, size, tmp, err);
    if (close(fd) != 0 && st == SDC_OK) st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (st == SDC_OK && publish(tmp, path, overwrite) != 0) {
        if (errno == EEXIST) st = sdc_error_set(err, SDC_ERR_IO, "'%s' exists (not overwriting)", path);
        else st = sdc_error_set(err, SDC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    if (st != SDC_OK) unlink(tmp);
    free(tmp);
    return st;
}

sdc_status sdc_image_save_png(const char *path, const sdc_image *img, const sdc_image_meta *meta, unsigned flags,
                              sdc_error *err) {
    uint8_t *buf = NULL;
    size_t n = 0;
    sdc_status st = sdc_png_encode(img, meta, &buf, &n, err);
    if (st == SDC_OK) st = sdc_file_write_atomic(path, buf, n, flags, err);
    free(buf);
    return st;
}
