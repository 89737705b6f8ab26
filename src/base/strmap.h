/* String -> index map (open addressing, FNV-1a). Keys are borrowed: the
 * caller keeps them alive as long as the map. Used for tensor-name lookup. */
#ifndef SDC_BASE_STRMAP_H
#define SDC_BASE_STRMAP_H

#include <stddef.h>

typedef struct sdc_strmap {
    const char **keys;
    size_t *values;
    size_t cap, count;
} sdc_strmap;

void sdc_strmap_init(sdc_strmap *m);
void sdc_strmap_free(sdc_strmap *m);
/* Inserts key -> value. Returns 1 when added, 0 when the key already
 * exists (value unchanged), -1 on out of memory. */
int sdc_strmap_put(sdc_strmap *m, const char *key, size_t value);
/* Looks up key; returns 1 and sets *value when found, else 0. */
int sdc_strmap_get(const sdc_strmap *m, const char *key, size_t *value);

#endif
