/* A1111's "Inpaint area: Only masked" (inpaint_full_res): the masked part
 * of a large picture is cut out with some padding, widened to the
 * processing size's aspect, resized to width x height, inpainted there
 * (so a small masked area gets the model's full resolution), and the
 * result is resized back and laid over the original with the blurred
 * mask. The rest of the picture is never touched.
 *
 * Follows modules/masking.py (get_crop_region, expand_crop_region) and
 * processing.py (crop, resize mode "fill" to the processing size; after
 * decoding, resize mode "crop" back, paste, overlay with the blurred mask
 * as is: only the whole-picture mode doubles it). */
#ifndef SDC_PIPELINE_INPAINT_AREA_H
#define SDC_PIPELINE_INPAINT_AREA_H

#include "pipeline/generate.h"

typedef struct sdc_crop_box {
    int x1, y1, x2, y2; /* [x1, x2) x [y1, y2) in image pixels */
} sdc_crop_box;

/* The bounding box of the mask's nonzero pixels grown by pad on each side
 * and clamped to the image; the whole image when the mask is empty. */
sdc_crop_box sdc_inpaint_crop_region(const sdc_image *mask, int pad);
/* Grows the shorter side of box so that it has the aspect pw : ph, centred,
 * shifted back inside the iw x ih image where it can be. */
sdc_crop_box sdc_inpaint_expand_crop(sdc_crop_box box, int pw, int ph, int iw, int ih);

/* Inpaints only the masked area: p->init_image and p->mask are the whole
 * picture (same size, any size), p->width x p->height the processing size,
 * p->mask_blur applied to the whole mask first. out gets whole pictures
 * (B x 3 x image height x image width); *box (may be NULL) the crop. */
sdc_status sdc_generate_only_masked(const sdc_sd_model *m, sdc_pool *pool, const sdc_gen_request *p, int padding,
                                    sdc_gen_result *out, sdc_crop_box *box, sdc_error *err);

#endif
