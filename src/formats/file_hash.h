/* SHA-256 of model files, as A1111 reports them ("Model hash" = the first
 * 10 hex digits), with a cache so a 2 GB checkpoint is hashed once:
 * $XDG_CACHE_HOME/sdc/hashes.tsv (default ~/.cache/sdc/), one line per file:
 * size, modification time (ns), hex digest, path. A changed size or time
 * means a new hash. The cache is best effort: when it cannot be read or
 * written the hash is simply computed. */
#ifndef SDC_FORMATS_FILE_HASH_H
#define SDC_FORMATS_FILE_HASH_H

#include "base/error.h"

/* hex: 64 digits + NUL. use_cache: consult and update the cache. */
sdc_status sdc_file_sha256(const char *path, int use_cache, char hex[65], sdc_error *err);
/* The cached digest only (never reads the file): 1 when the cache holds
 * one for the file as it is now (size and time unchanged), else 0. */
int sdc_file_sha256_cached(const char *path, char hex[65]);

#endif
