/* Inpainting / outpainting masks: reading a mask from an image, A1111's
 * mask blur, reduction to latent size, and canvas extension for outpaint.
 *
 * A mask is a gray sdc_image, 255 = repaint, 0 = keep. Which pixels of a
 * mask file mean "repaint" depends on the tool that drew it, so the source
 * is explicit (sdc_mask_source); SDC_MASK_AUTO is A1111's rule.
 *
 * Not here: compositing the result back over the original (pipeline). */
#ifndef SDC_IMAGE_MASK_H
#define SDC_IMAGE_MASK_H

#include <stdint.h>

#include "image/image.h"

typedef enum sdc_mask_source {
    SDC_MASK_AUTO = 0,       /* A1111 create_binary_mask: RGBA whose alpha is not all 255 -> alpha > 128 ?
                                255 : 0; anything else -> luma (PIL convert("L")) */
    SDC_MASK_LUMA,           /* PIL convert("L") of the colour (white = repaint) */
    SDC_MASK_ALPHA,          /* alpha as is (opaque = repaint); 255 without alpha */
    SDC_MASK_ALPHA_INVERTED, /* ComfyUI LoadImage: transparent = repaint (255 - alpha) */
    SDC_MASK_RED,            /* one channel as is (ComfyUI LoadImageMask "red" ...) */
    SDC_MASK_GREEN,
    SDC_MASK_BLUE
} sdc_mask_source;

typedef enum sdc_mask_latent_mode {
    SDC_MASK_LATENT_A1111 = 0,  /* PIL bicubic resize to latent size, / 255, optional np.around */
    SDC_MASK_LATENT_DIFFUSERS   /* binarize at 0.5 (v >= 128), then torch "nearest" */
} sdc_mask_latent_mode;

typedef enum sdc_pad_fill {
    SDC_PAD_COLOR = 0, /* a constant colour */
    SDC_PAD_EDGE,      /* replicate the nearest edge pixel */
    SDC_PAD_NOISE      /* uniform random RGB from a seed (deterministic) */
} sdc_pad_fill;

/* Parses "auto", "luma", "alpha", "alpha-inverted", "red", "green", "blue"; -1 if unknown. */
int sdc_mask_source_from_name(const char *name);

/* Extracts a mask from any image into a new gray *mask. */
sdc_status sdc_mask_from_image(const sdc_image *img, sdc_mask_source source, sdc_image *mask, sdc_error *err);
/* Loads an image file and extracts its mask. */
sdc_status sdc_mask_load(const char *path, sdc_mask_source source, sdc_image *mask, sdc_error *err);

/* In place: 255 - v. */
void sdc_mask_invert(sdc_image *mask);

/* A1111's mask_blur: a horizontal Gaussian (kernel 2*int(2.5*bx+0.5)+1,
 * sigma bx) then a vertical one (by), each skipped when its sigma is 0,
 * border reflect-101, in OpenCV's 8-bit fixed point (kernel quantised to
 * 1/256 with error diffusion; (sum + 128) >> 8), so the result equals
 * cv2.GaussianBlur's. Gray masks only. */
sdc_status sdc_mask_blur(const sdc_image *mask, double blur_x, double blur_y, sdc_image *dst, sdc_error *err);

/* Reduces a gray mask to latent size into out[lh * lw] (row-major, 1 =
 * repaint). For A1111, round = np.around of the result (its mask_round
 * option, on by default). */
sdc_status sdc_mask_to_latent(const sdc_image *mask, int lw, int lh, sdc_mask_latent_mode mode, int round,
                              float *out, sdc_error *err);

typedef struct sdc_outpaint_spec {
    int left, top, right, bottom; /* pixels added on each side, >= 0 */
    sdc_pad_fill fill;
    uint8_t color[3];             /* SDC_PAD_COLOR */
    uint64_t seed;                /* SDC_PAD_NOISE */
    int feather;                  /* mask ramp width into the original, pixels (0 = hard edge) */
} sdc_outpaint_spec;

/* Extends a gray or RGB image by the spec into *dst, and makes the mask
 * *mask (gray, dst's size): 255 over the added area; inside the original,
 * 255 * ((f - d) / f)^2 rounded when the distance d to an extended side is
 * below f = feather (ComfyUI's ramp), else 0. */
sdc_status sdc_outpaint_extend(const sdc_image *src, const sdc_outpaint_spec *spec, sdc_image *dst, sdc_image *mask,
                               sdc_error *err);

/* ComfyUI ImagePadForOutpaint: the image on a canvas of value `fill`
 * (ComfyUI uses 0.5: 128 here), and the float mask [H2 * W2]
 * (malloc'd into *mask; caller frees): 1 outside the original; inside,
 * ((f - d) / f)^2 for d < f where d is the distance to the nearest padded
 * side (unpadded sides do not count), only when 2f is smaller than both
 * sides of the image; else 0. */
sdc_status sdc_outpaint_pad_comfy(const sdc_image *src, int left, int top, int right, int bottom, int feathering,
                                  uint8_t fill, sdc_image *dst, float **mask, sdc_error *err);

#endif
