/* Image files: format sniffing, decoding PNG / JPEG / WebP, loading from a
 * path, and atomic PNG writing.
 *
 * Decoders are bounded: files over SDC_IMAGE_MAX_FILE bytes and images over
 * SDC_IMAGE_MAX_SIDE / SDC_IMAGE_MAX_PIXELS are refused; truncated or
 * corrupt data gives SDC_ERR_FORMAT with a message naming the problem.
 * JPEG: libjpeg-turbo with its defaults (islow DCT, fancy upsampling) as
 * PIL uses it, so pixels equal PIL's; gray stays 1 channel, CMYK (Adobe
 * inverted) is converted to RGB; EXIF orientation is not applied (PIL's
 * Image.open does not either). WebP: still images only (RGB, or RGBA when
 * the file has alpha); animations are refused.
 *
 * Writes go to a temporary file beside the target, then rename: a reader
 * never sees a partial file, and a failed write leaves nothing behind. An
 * existing target is kept (SDC_ERR_IO, "exists") unless SDC_WRITE_OVERWRITE.
 *
 * Not here: the PNG codec details (png_io.h), JPEG / WebP writing. */
#ifndef SDC_IMAGE_IMAGE_IO_H
#define SDC_IMAGE_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

#define SDC_IMAGE_MAX_FILE (512u * 1024u * 1024u)

typedef enum sdc_image_format {
    SDC_IMAGE_FORMAT_UNKNOWN = 0,
    SDC_IMAGE_FORMAT_PNG,
    SDC_IMAGE_FORMAT_JPEG,
    SDC_IMAGE_FORMAT_WEBP
} sdc_image_format;

enum { SDC_WRITE_OVERWRITE = 1 };

/* Format from the first bytes (signature), or UNKNOWN. */
sdc_image_format sdc_image_sniff(const uint8_t *data, size_t size);
/* "png", "jpeg", "webp", "unknown". */
const char *sdc_image_format_name(sdc_image_format f);

/* Decodes any supported format held in memory into a new *img. meta (may be
 * NULL) receives the PNG text chunks (other formats add none). */
sdc_status sdc_image_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_image_meta *meta, sdc_error *err);
sdc_status sdc_jpeg_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_error *err);
sdc_status sdc_webp_decode(const uint8_t *data, size_t size, sdc_image *img, sdc_error *err);

/* Reads and decodes a file (messages name the path). meta may be NULL. */
sdc_status sdc_image_load(const char *path, sdc_image *img, sdc_image_meta *meta, sdc_error *err);
/* Only the text metadata of a file (PNG: chunks before the image data, as
 * PIL's Image.open().info gives; other formats: none). */
sdc_status sdc_image_load_meta(const char *path, sdc_image_meta *meta, sdc_error *err);

/* Encodes img as PNG with meta's text chunks (may be NULL) and writes it
 * atomically to path. flags: SDC_WRITE_OVERWRITE. */
sdc_status sdc_image_save_png(const char *path, const sdc_image *img, const sdc_image_meta *meta, unsigned flags,
                              sdc_error *err);

/* Writes size bytes atomically to path (temporary file + rename). */
sdc_status sdc_file_write_atomic(const char *path, const void *data, size_t size, unsigned flags, sdc_error *err);

#endif
