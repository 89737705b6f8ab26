/* ControlNet preprocessors that need no model: canny edges, scribble from a
 * drawing (threshold + invert) and scribble_xdog from a photo.
 *
 * Inputs are gray or RGB; images with alpha are first composited on white
 * exactly as ControlNet's HWC3 does (float, truncated to u8). Outputs are
 * single-channel 0/255 maps (ControlNet uses them replicated to RGB).
 *
 * - canny: OpenCV's cv2.Canny(img, low, high) with aperture 3 and L1
 *   gradient, as the ControlNet annotator calls it on the RGB image: 3x3
 *   Sobel per channel (border replicate), the channel with the largest
 *   |dx|+|dy| per pixel, non-maximum suppression with OpenCV's integer
 *   tangent tests, hysteresis over 8-connected neighbours; thresholds are
 *   floored, swapped if low > high, and compared with strict '>'.
 * - scribble: 255 where min(R, G, B) < threshold (ControlNet scribble_thr,
 *   threshold 127): dark strokes on light paper become white on black.
 * - scribble_xdog: sd-webui-controlnet's annotator: Gaussian blurs (sigma
 *   0.5 and 5.0, OpenCV's float GaussianBlur: kernel 2*round(4 sigma)+1,
 *   border reflect-101) of the float image, dog = u8(clip(255 - min_c(g5 -
 *   g0.5))), edge where 2 * (255 - dog) > threshold in u8 arithmetic (it
 *   wraps modulo 256, as numpy's uint8 does in the original).
 *
 * Not here: resizing to a detect resolution (the annotators' resize to 512
 * with OpenCV INTER_CUBIC / INTER_AREA is left to the caller), model-based
 * preprocessors (HED, depth, pose). */
#ifndef SDC_IMAGE_PREPROCESS_H
#define SDC_IMAGE_PREPROCESS_H

#include "image/image.h"

#define SDC_CANNY_LOW_DEFAULT 100
#define SDC_CANNY_HIGH_DEFAULT 200
#define SDC_SCRIBBLE_THRESHOLD_DEFAULT 127
#define SDC_XDOG_THRESHOLD_DEFAULT 32

/* ControlNet's HWC3: gray -> RGB, RGB as is, alpha composited on white as
 * u8(c * a / 255 + 255 * (1 - a / 255)) in float32 (truncated). */
sdc_status sdc_image_to_rgb_white(const sdc_image *src, sdc_image *dst, sdc_error *err);

/* Canny edge map of src (any channel count, see above) into a new gray
 * image *dst. Thresholds must be finite and >= 0. */
sdc_status sdc_canny(const sdc_image *src, double low, double high, sdc_image *dst, sdc_error *err);

/* Scribble from a drawing: 255 where min over RGB < threshold (0..256). */
sdc_status sdc_scribble_threshold(const sdc_image *src, int threshold, sdc_image *dst, sdc_error *err);

/* Scribble from a photo (xdog); threshold 0..255. */
sdc_status sdc_scribble_xdog(const sdc_image *src, int threshold, sdc_image *dst, sdc_error *err);

/* OpenCV-style float Gaussian blur of an interleaved [H, W, C] float image:
 * separable, rows then columns, border reflect-101, kernel size ksize (odd;
 * 0 = OpenCV's automatic size for float images, 2*round(4 sigma)+1). */
sdc_status sdc_gaussian_blur_f32(const float *src, float *dst, int w, int h, int ch, double sigma, int ksize,
                                 sdc_error *err);

#endif
