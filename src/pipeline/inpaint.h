/* Inpainting support, as A1111 does it:
 *  - the user mask (white = repaint) is blurred (mask_blur, cv2-exact) and
 *    reduced to latent size (bicubic + round): the sampler's x0 estimate is
 *    blended with the original latent in the kept region at every step, and
 *    once more after the last step;
 *  - 9-channel inpainting models also get [round(mask), VAE(image * (1 -
 *    round(mask)))] concatenated to their input (txt2img: mask 1, image 0);
 *  - after decoding, the original pixels are laid back over the kept
 *    region with the blurred mask doubled and clipped (A1111's overlay), so
 *    what the user did not mask stays exactly as it was. */
#ifndef SDC_PIPELINE_INPAINT_H
#define SDC_PIPELINE_INPAINT_H

#include "image/image.h"
#include "pipeline/sd_model.h"
#include "tensor/ops.h"

typedef struct sdc_inpaint {
    int64_t B, C, h, w, H, W;
    float *keep;        /* [h * w] 1 = keep the original latent; NULL: no mask */
    float *overlay;     /* [H * W] weight of the generated pixels in the overlay; NULL: none */
    float *concat;      /* [B, 5, h, w] extra input of 9-channel models; NULL: none */
} sdc_inpaint;

/* mask: gray or any image (white = repaint), may be NULL (no mask).
 * image: the original (for the overlay and 9-channel conditioning), may be
 * NULL in txt2img. The sampler blends with keep (ksample.h). */
sdc_status sdc_inpaint_prepare(sdc_inpaint *ip, sdc_ctx *c, const sdc_sd_model *m, const sdc_image *image,
                               const sdc_image *mask, int mask_blur, int64_t B, int64_t h, int64_t w, sdc_error *err);
void sdc_inpaint_free(sdc_inpaint *ip);

/* The user's mask (any image, white = repaint) as gray, blurred as A1111
 * blurs it (mask_blur pixels; 0: as is), into a new *out. */
sdc_status sdc_inpaint_blur_mask(const sdc_image *mask, int mask_blur, sdc_image *out, sdc_error *err);

/* Lays the original image back over image01 [B, 3, H, W] in [0, 1]. */
void sdc_inpaint_overlay(const sdc_inpaint *ip, const sdc_image *original, float *image01);

#endif
