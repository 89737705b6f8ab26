/* Read-only memory mapping of a whole file. */
#ifndef SDC_BASE_MAPFILE_H
#define SDC_BASE_MAPFILE_H

#include <stddef.h>

#include "base/error.h"

typedef struct sdc_mapfile {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} sdc_mapfile;

/* Maps `path` read-only. On failure returns an error (message names the
 * path) and leaves *m zeroed. Free with sdc_mapfile_close. */
sdc_status sdc_mapfile_open(sdc_mapfile *m, const char *path, sdc_error *err);
void sdc_mapfile_close(sdc_mapfile *m);

/* Tells the kernel that [p, p + n) of a read-only file mapping will not be
 * read again (a copy was made): the whole pages inside the range leave
 * resident memory. A later read would simply fault them back in from the
 * file, so this is never unsafe. */
void sdc_mapfile_release(const void *p, size_t n);

/* Reads a whole file into a malloc'd NUL-terminated buffer (size excludes
 * the NUL). Refuses files larger than max_size. Caller frees *out. */
sdc_status sdc_read_file(const char *path, size_t max_size, char **out, size_t *size, sdc_error *err);

#endif
