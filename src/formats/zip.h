/* Read-only ZIP archive reader over bytes in memory (an mmap), for PyTorch
 * checkpoints (.ckpt/.pt/.pth are zip archives since torch 1.6).
 *
 * Supports stored and deflate entries (zlib), ZIP64 sizes and offsets.
 * Validates the whole central directory on open: every record inside the
 * file, local headers present and consistent, entry data inside the file
 * and before the central directory, no two entries sharing bytes (the
 * overlapping-entry zip bomb), no duplicate names, no encryption, bounded
 * sizes and compression ratios (classic zip bombs). Inflated entries are
 * checked against their size and CRC-32. Does not do: writing, multi-disk
 * archives, other compression methods, CRC checks of stored entries (they
 * are used in place, untouched). */
#ifndef SDC_FORMATS_ZIP_H
#define SDC_FORMATS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/strmap.h"

/* Limits: entries per archive, bytes one inflated entry may have, and the
 * largest compression ratio accepted (deflate cannot exceed ~1032:1). */
#define SDC_ZIP_MAX_ENTRIES (1u << 20)
#define SDC_ZIP_MAX_INFLATED ((uint64_t)4 << 30)
#define SDC_ZIP_MAX_RATIO 1100u

typedef struct sdc_zip_entry {
    char *name;
    int method;              /* 0 stored, 8 deflate */
    uint32_t crc;
    uint64_t local_offset;   /* local header */
    uint64_t data_offset;    /* first byte of the (compressed) data */
    uint64_t comp_size, size;
} sdc_zip_entry;

typedef struct sdc_zip {
    const unsigned char *data;
    size_t size;
    sdc_zip_entry *entries;
    size_t n;
    sdc_strmap index; /* name -> entry */
} sdc_zip;

/* Parses and validates the archive in [data, data + size) (bytes must
 * outlive z). On failure z is left empty (safe to close). */
sdc_status sdc_zip_open(sdc_zip *z, const unsigned char *data, size_t size, sdc_error *err);
void sdc_zip_close(sdc_zip *z);

const sdc_zip_entry *sdc_zip_find(const sdc_zip *z, const char *name);

/* The entry's bytes: stored entries point into the archive (*owned NULL);
 * deflated ones are inflated into a malloc'd buffer given in *owned (and
 * *out), which the caller frees. */
sdc_status sdc_zip_read(const sdc_zip *z, const sdc_zip_entry *e, const unsigned char **out, void **owned,
                        sdc_error *err);

#endif
