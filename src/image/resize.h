/* Resizing: PIL-compatible resampling of 8-bit images, A1111's img2img
 * resize modes, and latent (float NCHW) interpolation as PyTorch does it.
 *
 * sdc_image_resize reproduces Pillow's Image.resize (9.x) bit for bit for
 * gray and RGB images: separable filters (bilinear support 1, bicubic
 * a = -0.5 support 2, Lanczos-3) widened by the scale when downsampling,
 * coefficients normalised in double then rounded to 22-bit fixed point,
 * horizontal pass first with 8-bit rounding between passes. NEAREST follows
 * Pillow's affine sampling. Images with alpha are resampled premultiplied
 * (as Pillow converts RGBA to RGBa first).
 *
 * Not here: model-based upscalers, OpenCV's INTER_AREA. */
#ifndef SDC_IMAGE_RESIZE_H
#define SDC_IMAGE_RESIZE_H

#include "image/image.h"
#include "tensor/tensor.h"

typedef enum sdc_resample {
    SDC_RESAMPLE_NEAREST = 0,
    SDC_RESAMPLE_BILINEAR,
    SDC_RESAMPLE_BICUBIC, /* PIL's default for resize() */
    SDC_RESAMPLE_LANCZOS  /* A1111's choice for img2img inputs */
} sdc_resample;

/* A1111 "Resize mode" for img2img / inpaint inputs (modules/images.py). */
typedef enum sdc_resize_mode {
    SDC_RESIZE_JUST = 0, /* stretch to w x h */
    SDC_RESIZE_CROP = 1, /* scale to cover, centre, crop the excess */
    SDC_RESIZE_FILL = 2  /* scale to fit, centre, fill the bands by stretching the edge rows/columns */
} sdc_resize_mode;

typedef enum sdc_latent_interp {
    SDC_LATENT_NEAREST = 0,   /* torch "nearest" (diffusers' inpaint mask downscale) */
    SDC_LATENT_NEAREST_EXACT, /* torch "nearest-exact" (ComfyUI LatentUpscale default) */
    SDC_LATENT_BILINEAR       /* torch "bilinear", align_corners=False, no antialias */
} sdc_latent_interp;

/* Name <-> enum ("nearest", "bilinear", "bicubic", "lanczos"); -1 if unknown. */
int sdc_resample_from_name(const char *name);

/* Resizes src to w x h into a new *dst (same channels). */
sdc_status sdc_image_resize(const sdc_image *src, int w, int h, sdc_resample filter, sdc_image *dst, sdc_error *err);

/* Resizes the region box = {x0, y0, x1, y1} (source pixel coordinates,
 * 0 <= x0 <= x1 <= width, likewise y; an empty span samples the edge as
 * Pillow does) to w x h, like Image.resize(size, box=...). */
sdc_status sdc_image_resize_box(const sdc_image *src, const double box[4], int w, int h, sdc_resample filter,
                                sdc_image *dst, sdc_error *err);

/* A1111's resize_image(mode, im, w, h) with no upscaler: Lanczos to the
 * target (or cover / fit size), pasted centred on black; FILL stretches the
 * first/last row (or column) into the empty bands with PIL's default
 * bicubic. src must be gray or RGB; dst has src's channels. */
sdc_status sdc_image_resize_mode(const sdc_image *src, int w, int h, sdc_resize_mode mode, sdc_image *dst,
                                 sdc_error *err);

/* Interpolates an f32 tensor src [B, C, H, W] into dst [B, C, H2, W2]
 * (both f32, same B and C, any strides) like torch.nn.functional.interpolate
 * with the given mode. */
sdc_status sdc_latent_resize(const sdc_tensor *src, sdc_tensor *dst, sdc_latent_interp mode, sdc_error *err);

#endif
