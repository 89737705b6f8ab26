/* 8-bit images in memory and their conversion to/from float tensors.
 *
 * An sdc_image is interleaved HWC bytes: gray (1 channel), gray+alpha (2),
 * RGB (3) or RGBA (4), rows packed (stride = width * channels). It owns its
 * pixels (malloc'd); free with sdc_image_free. Sizes are bounded by
 * SDC_IMAGE_MAX_SIDE / SDC_IMAGE_MAX_PIXELS so every size product fits.
 *
 * Tensor conversion follows the pipelines sdc mirrors (docs/IMAGES.md):
 * u8 -> float is v / 255 (then 2v - 1 for [-1, 1]) in float32, as diffusers
 * and A1111 compute it; float -> u8 is clamp to [0, 1], multiply by 255 in
 * float32, then either round half to even (diffusers' numpy .round()) or
 * truncate (A1111's astype(uint8)).
 *
 * Not here: file formats (image_io.h, png_io.h), resizing (resize.h). */
#ifndef SDC_IMAGE_IMAGE_H
#define SDC_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tensor/tensor.h"

#define SDC_IMAGE_MAX_SIDE 16384
#define SDC_IMAGE_MAX_PIXELS (256u * 1024u * 1024u) /* 256 MP */

typedef struct sdc_image {
    int width, height, channels; /* channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
    uint8_t *data;               /* [H, W, C], owned */
} sdc_image;

/* How float -> u8 rounds after clamping to [0, 1] and scaling by 255. */
typedef enum sdc_u8_rounding {
    SDC_U8_ROUND_EVEN = 0, /* diffusers: (x * 255).round() (numpy, half to even) */
    SDC_U8_TRUNCATE        /* A1111: (255. * x).astype(np.uint8) */
} sdc_u8_rounding;

/* Value range of a float image tensor. */
typedef enum sdc_image_range {
    SDC_RANGE_01 = 0,   /* [0, 1] */
    SDC_RANGE_PM1       /* [-1, 1] (VAE input / output) */
} sdc_image_range;

/* Checks width/height/channels against the limits; message names `what`. */
sdc_status sdc_image_check_size(int width, int height, int channels, const char *what, sdc_error *err);

/* Allocates a zeroed image. On failure *img is zeroed. */
sdc_status sdc_image_alloc(sdc_image *img, int width, int height, int channels, sdc_error *err);
/* Frees the pixels and zeroes *img. NULL-safe. */
void sdc_image_free(sdc_image *img);
/* Bytes of pixel data (width * height * channels). */
size_t sdc_image_bytes(const sdc_image *img);
/* Deep copy into *dst (freshly allocated). */
sdc_status sdc_image_clone(const sdc_image *src, sdc_image *dst, sdc_error *err);
/* The region [x1, x2) x [y1, y2) of src (inside it, not empty) into a new *dst, as PIL's crop(). */
sdc_status sdc_image_crop(const sdc_image *src, int x1, int y1, int x2, int y2, sdc_image *dst, sdc_error *err);

/* Converts between channel layouts into a new image *dst, as PIL's
 * convert() does: gray -> RGB replicates; RGB -> gray is ITU-R 601 luma in
 * PIL's fixed point ((19595 R + 38470 G + 7471 B + 32768) >> 16); adding
 * alpha gives 255; dropping alpha just drops it (use sdc_image_flatten to
 * composite instead). */
sdc_status sdc_image_convert(const sdc_image *src, int channels, sdc_image *dst, sdc_error *err);

/* Composites an image with alpha (2 or 4 channels) over an opaque
 * background colour bg[3] into a new RGB image: out = round((c * a +
 * bg * (255 - a)) / 255), which equals PIL's alpha_composite onto an
 * opaque canvas (A1111's images.flatten). Images without alpha are
 * converted to RGB. */
sdc_status sdc_image_flatten(const sdc_image *src, const uint8_t bg[3], sdc_image *dst, sdc_error *err);

/* Writes an RGB or gray image into a float tensor of shape [B, 3, H, W] or
 * [B, 1, H, W] (f32, any strides) at batch index b: channel count must
 * match after gray -> RGB replication (a gray image fills 3 channels when
 * the tensor has 3). Images with alpha are refused (flatten first). */
sdc_status sdc_image_to_tensor(const sdc_image *img, sdc_image_range range, sdc_tensor *dst, int64_t b,
                               sdc_error *err);

/* Reads batch item b of a float tensor [B, C, H, W] (f32, any strides;
 * C = 1 or 3) into a new image *dst with C channels. NaN becomes 0. */
sdc_status sdc_image_from_tensor(const sdc_tensor *src, int64_t b, sdc_image_range range, sdc_u8_rounding rounding,
                                 sdc_image *dst, sdc_error *err);

/* One float in `range` to u8 with the given rounding (the per-pixel rule of
 * sdc_image_from_tensor). */
uint8_t sdc_image_float_to_u8(float x, sdc_image_range range, sdc_u8_rounding rounding);

/* Text metadata of an image file (PNG tEXt / zTXt / iTXt chunks), as UTF-8
 * key/value pairs in file order. Keys may repeat; lookups take the first. */
typedef struct sdc_image_text {
    char *key, *value; /* owned, NUL-terminated UTF-8 */
} sdc_image_text;

typedef struct sdc_image_meta {
    sdc_image_text *items; /* owned */
    size_t count, cap;
} sdc_image_meta;

/* Appends a copy of (key, value). */
sdc_status sdc_image_meta_add(sdc_image_meta *m, const char *key, const char *value, sdc_error *err);
/* Same with a value of len bytes (need not be NUL-terminated). */
sdc_status sdc_image_meta_addn(sdc_image_meta *m, const char *key, const char *value, size_t len, sdc_error *err);
/* Value of the first item named key, or NULL. */
const char *sdc_image_meta_get(const sdc_image_meta *m, const char *key);
/* Frees every item and zeroes *m. NULL-safe. */
void sdc_image_meta_free(sdc_image_meta *m);

#endif
