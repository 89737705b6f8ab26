/* Status codes shared by every layer.
 * Fallible functions return one of these and give results through out-params;
 * the human-readable message lives in the caller's sdc_error (see error.h). */
#ifndef SDC_BASE_STATUS_H
#define SDC_BASE_STATUS_H

typedef enum sdc_status {
    SDC_OK = 0,
    SDC_ERR_INVALID_ARG, /* the caller (or user) passed something unusable */
    SDC_ERR_IO,          /* open/read/write/mmap failed */
    SDC_ERR_FORMAT,      /* bytes from outside are malformed */
    SDC_ERR_OOM,         /* allocation failed or a size overflowed */
    SDC_ERR_UNSUPPORTED, /* valid input we cannot handle (yet) */
    SDC_ERR_CANCELLED,   /* the cancel callback asked us to stop */
    SDC_ERR_INTERNAL     /* a bug in sdc: an invariant did not hold */
} sdc_status;

/* Short stable name ("invalid argument", "format error", ...). Never NULL. */
const char *sdc_status_name(sdc_status s);

#endif
