/* Chooses the kernel table for this CPU (see kernels.h). Optimized tables
 * register here as they are added; anything a table leaves NULL falls back
 * to the reference. */
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "kernels/kernels.h"

const sdc_kernels *sdc_kernels_by_name(const char *name) {
    if (strcmp(name, "ref") == 0) return sdc_kernels_ref();
    return NULL;
}

const sdc_kernels *sdc_kernels_best(void) {
    const char *forced = getenv("SDC_KERNELS");
    if (forced) {
        const sdc_kernels *k = sdc_kernels_by_name(forced);
        if (k) return k;
    }
    return sdc_kernels_ref();
}
