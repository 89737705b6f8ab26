/* PNG decode / encode (libpng) with text chunks.
 *
 * Decoding gives 8-bit gray, gray+alpha, RGB or RGBA: palettes and low bit
 * depths are expanded, tRNS becomes alpha, 16-bit samples keep their high
 * byte (as PIL does for RGB), interlaced files are de-interlaced. Images over
 * SDC_IMAGE_MAX_SIDE per side or SDC_IMAGE_MAX_PIXELS are refused before any
 * pixel memory is allocated; truncated or corrupt data returns
 * SDC_ERR_FORMAT with libpng's message; nothing is printed.
 *
 * Text chunks: tEXt and zTXt (Latin-1, converted to UTF-8) and iTXt (UTF-8,
 * compressed or not) are returned as sdc_image_meta items. Writing follows
 * PIL's PngInfo.add_text, which A1111 uses: a value whose characters all fit
 * Latin-1 goes in a tEXt chunk (Latin-1 bytes), any other value in an
 * uncompressed iTXt chunk (UTF-8). All text is written before the image
 * data. Keys are 1-79 printable ASCII characters.
 *
 * Not here: files and atomic writes (image_io.h), other formats. */
#ifndef SDC_IMAGE_PNG_IO_H
#define SDC_IMAGE_PNG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

/* Largest single text value accepted when reading (decompressed). */
#define SDC_PNG_MAX_TEXT (32u * 1024u * 1024u)

enum {
    SDC_PNG_PIXELS = 1, /* decode the image */
    SDC_PNG_TEXT = 2    /* collect text chunks (without PIXELS: only those before the image data) */
};

/* Decodes a PNG held in memory. flags: SDC_PNG_PIXELS and/or SDC_PNG_TEXT.
 * img (needed with PIXELS) receives a new image; meta (needed with TEXT)
 * receives appended items. On failure nothing is left allocated in img and
 * meta is as on entry. */
sdc_status sdc_png_decode(const uint8_t *data, size_t size, unsigned flags, sdc_image *img, sdc_image_meta *meta,
                          sdc_error *err);

/* Encodes img (1-4 channels) with the text items of meta (may be NULL) into
 * a malloc'd buffer *out of *out_size bytes (caller frees). */
sdc_status sdc_png_encode(const sdc_image *img, const sdc_image_meta *meta, uint8_t **out, size_t *out_size,
                          sdc_error *err);

/* Nonzero when data starts with the PNG signature. */
int sdc_png_is_png(const uint8_t *data, size_t size);

#endif
