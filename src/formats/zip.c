/* ZIP reader (see zip.h). Record layouts follow PKWARE's APPNOTE.TXT. */
#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/util.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

typedef struct {
    uint64_t n_entries, cd_size, cd_offset;
} cd_info;

/* Finds the end-of-central-directory record (and its ZIP64 form). */
static sdc_status find_eocd(const unsigned char *d, size_t size, cd_info *ci, size_t *eocd_pos, sdc_error *err) {
    if (size < 22) return sdc_error_set(err, SDC_ERR_FORMAT, "not a zip archive (%zu bytes)", size);
    size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0;
    size_t pos = size - 22;
    for (;; pos--) {
        if (rd32(d + pos) == SIG_EOCD && pos + 22 + rd16(d + pos + 20) == size) break;
        if (pos == lo) return sdc_error_set(err, SDC_ERR_FORMAT, "not a zip archive (no end-of-central-directory record)");
    }
    if (rd16(d + pos + 4) != 0 || rd16(d + pos + 6) != 0)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
    ci->n_entries = rd16(d + pos + 10);
    ci->cd_size = rd32(d + pos + 12);
    ci->cd_offset = rd32(d + pos + 16);
    *eocd_pos = pos;
    if (pos >= 20 && rd32(d + pos - 20) == SIG_LOC64) {
        uint64_t off = rd64(d + pos - 20 + 8);
        if (off > pos - 20 || pos - 20 - off < 56 || rd32(d + off) != SIG_EOCD64)
            return sdc_error_set(err, SDC_ERR_FORMAT, "zip64 end-of-central-directory record missing or out of range");
        const unsigned char *e = d + off;
        if (rd32(e + 16) != 0 || rd32(e + 20) != 0)
            return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "multi-disk zip archives are not supported");
        ci->n_entries = rd64(e + 32);
        ci->cd_size = rd64(e + 40);
        ci->cd_offset = rd64(e + 48);
        *eocd_pos = (size_t)off;
    }
    if (ci->cd_offset > *eocd_pos || ci->cd_size > *eocd_pos - ci->cd_offset)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip central directory out of range");
    if (ci->n_entries > ci->cd_size / 46 || ci->n_entries > SDC_ZIP_MAX_ENTRIES)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip archive claims %llu entries in a %llu-byte directory",
                             (unsigned long long)ci->n_entries, (unsigned long long)ci->cd_size);
    return SDC_OK;
}

/* Applies the ZIP64 extra field (id 1) to the values stored as 0xffffffff. */
static sdc_status zip64_extra(const unsigned char *x, size_t xlen, uint64_t *size, uint64_t *comp, uint64_t *off,
                              sdc_error *err) {
    uint64_t *fields[3] = {size, comp, off};
    while (xlen >= 4) {
        uint16_t id = rd16(x), len = rd16(x + 2);
        if ((size_t)len + 4 > xlen) return sdc_error_set(err, SDC_ERR_FORMAT, "zip extra field overruns its record");
        if (id == 1) {
            size_t p = 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (p + 8 > (size_t)len + 4) return sdc_error_set(err, SDC_ERR_FORMAT, "zip64 extra field too short");
                *fields[i] = rd64(x + p);
                p += 8;
            }
            return SDC_OK;
        }
        x += 4 + len;
        xlen -= 4 + (size_t)len;
    }
    if (*size == 0xffffffffu || *comp == 0xffffffffu || *off == 0xffffffffu)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry needs a zip64 extra field but has none");
    return SDC_OK;
}

/* Checks an entry's local header and fixes its data offset. */
static sdc_status check_local(const sdc_zip *z, sdc_zip_entry *e, uint64_t cd_offset, sdc_error *err) {
    if (e->local_offset > cd_offset || cd_offset - e->local_offset < 30 || rd32(z->data + e->local_offset) != SIG_LOCAL)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s': local header missing", e->name);
    const unsigned char *l = z->data + e->local_offset;
    size_t nlen = rd16(l + 26), xlen = rd16(l + 28);
    if (nlen != strlen(e->name) || memcmp(l + 30, e->name, nlen) != 0)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s': local header names another file", e->name);
    e->data_offset = e->local_offset + 30 + nlen + xlen;
    if (e->data_offset > cd_offset || e->comp_size > cd_offset - e->data_offset)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s': data runs past the archive (truncated?)", e->name);
    return SDC_OK;
}

static sdc_status check_sizes(sdc_zip_entry *e, int flags, sdc_error *err) {
    if (flags & 1) return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "zip entry '%s' is encrypted", e->name);
    if (e->method == 0 && e->comp_size != e->size)
        return sdc_error_set(err, SDC_ERR_FORMAT, "stored zip entry '%s' has different sizes", e->name);
    if (e->method != 0 && e->method != 8)
        return sdc_error_set(err, SDC_ERR_UNSUPPORTED, "zip entry '%s' uses compression method %d", e->name, e->method);
    if (e->method == 8 && (e->size > SDC_ZIP_MAX_INFLATED || e->size > (e->comp_size + 64) * SDC_ZIP_MAX_RATIO))
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s' inflates %llu bytes to %llu (zip bomb?)", e->name,
                             (unsigned long long)e->comp_size, (unsigned long long)e->size);
    return SDC_OK;
}

/* Parses central directory record at *pos into e. */
static sdc_status parse_central(sdc_zip *z, size_t *pos, size_t end, uint64_t cd_offset, sdc_zip_entry *e,
                                sdc_error *err) {
    const unsigned char *c = z->data + *pos;
    if (end - *pos < 46 || rd32(c) != SIG_CENTRAL)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip central directory record %zu is damaged", (size_t)(e - z->entries));
    size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
    if (46 + nlen + xlen + clen > end - *pos)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip central directory record overruns the directory");
    if (nlen == 0 || memchr(c + 46, 0, nlen)) return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry with an invalid name");
    if (!(e->name = malloc(nlen + 1))) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    memcpy(e->name, c + 46, nlen);
    e->name[nlen] = '\0';
    e->method = rd16(c + 10);
    e->crc = rd32(c + 16);
    e->comp_size = rd32(c + 20);
    e->size = rd32(c + 24);
    e->local_offset = rd32(c + 42);
    sdc_status st = zip64_extra(c + 46 + nlen, xlen, &e->size, &e->comp_size, &e->local_offset, err);
    if (!st) st = check_local(z, e, cd_offset, err); /* bounds comp_size by the file size first */
    if (!st) st = check_sizes(e, rd16(c + 8), err);
    *pos += 46 + nlen + xlen + clen;
    return st;
}

static int cmp_local(const void *a, const void *b) {
    const sdc_zip_entry *const *x = a, *const *y = b;
    return ((*x)->local_offset > (*y)->local_offset) - ((*x)->local_offset < (*y)->local_offset);
}

/* No entry's header or data may share bytes with another's. */
static sdc_status check_overlap(sdc_zip *z, sdc_error *err) {
    if (z->n < 2) return SDC_OK;
    const sdc_zip_entry **order = malloc(z->n * sizeof *order);
    if (!order) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    for (size_t i = 0; i < z->n; i++) order[i] = &z->entries[i];
    qsort(order, z->n, sizeof *order, cmp_local);
    sdc_status st = SDC_OK;
    for (size_t i = 1; i < z->n && !st; i++)
        if (order[i]->local_offset < order[i - 1]->data_offset + order[i - 1]->comp_size)
            st = sdc_error_set(err, SDC_ERR_FORMAT, "zip entries '%s' and '%s' overlap", order[i - 1]->name, order[i]->name);
    free(order);
    return st;
}

sdc_status sdc_zip_open(sdc_zip *z, const unsigned char *data, size_t size, sdc_error *err) {
    memset(z, 0, sizeof *z);
    sdc_strmap_init(&z->index);
    z->data = data;
    z->size = size;
    cd_info ci = {0, 0, 0};
    size_t eocd = 0;
    sdc_status st = find_eocd(data, size, &ci, &eocd, err);
    if (st) return st;
    z->entries = calloc(ci.n_entries ? (size_t)ci.n_entries : 1, sizeof *z->entries);
    if (!z->entries) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    size_t pos = (size_t)ci.cd_offset, end = (size_t)(ci.cd_offset + ci.cd_size);
    for (uint64_t i = 0; i < ci.n_entries && !st; i++) {
        sdc_zip_entry *e = &z->entries[z->n];
        st = parse_central(z, &pos, end, ci.cd_offset, e, err);
        if (e->name) z->n++;
        if (st) break;
        int r = sdc_strmap_put(&z->index, e->name, z->n - 1);
        if (r <= 0)
            st = r < 0 ? sdc_error_set(err, SDC_ERR_OOM, "out of memory")
                       : sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s' appears twice", e->name);
    }
    if (!st) st = check_overlap(z, err);
    if (st) sdc_zip_close(z);
    return st;
}

void sdc_zip_close(sdc_zip *z) {
    for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    sdc_strmap_free(&z->index);
    memset(z, 0, sizeof *z);
}

const sdc_zip_entry *sdc_zip_find(const sdc_zip *z, const char *name) {
    size_t i;
    return sdc_strmap_get(&z->index, name, &i) ? &z->entries[i] : NULL;
}

static sdc_status inflate_entry(const sdc_zip *z, const sdc_zip_entry *e, unsigned char *out, sdc_error *err) {
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return sdc_error_set(err, SDC_ERR_OOM, "zlib: cannot start inflate");
    const unsigned char *in = z->data + e->data_offset;
    uint64_t in_left = e->comp_size, out_done = 0;
    int r = Z_OK;
    while (r == Z_OK) {
        uInt ci = (uInt)SDC_MIN(in_left, (uint64_t)1 << 30), co = (uInt)SDC_MIN(e->size - out_done, (uint64_t)1 << 30);
        s.next_in = (unsigned char *)in;
        s.avail_in = ci;
        s.next_out = out + out_done;
        s.avail_out = co;
        r = inflate(&s, Z_NO_FLUSH);
        in += ci - s.avail_in;
        in_left -= ci - s.avail_in;
        out_done += co - s.avail_out;
        if (r == Z_OK && s.avail_in == ci && s.avail_out == co) r = Z_BUF_ERROR; /* no progress */
    }
    inflateEnd(&s);
    if (r != Z_STREAM_END || out_done != e->size)
        return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s': deflate data is damaged or has the wrong size", e->name);
    uLong crc = crc32(0, Z_NULL, 0);
    for (uint64_t o = 0; o < e->size; o += 1u << 30)
        crc = crc32(crc, out + o, (uInt)SDC_MIN(e->size - o, (uint64_t)1 << 30));
    if ((uint32_t)crc != e->crc) return sdc_error_set(err, SDC_ERR_FORMAT, "zip entry '%s': CRC mismatch", e->name);
    return SDC_OK;
}

sdc_status sdc_zip_read(const sdc_zip *z, const sdc_zip_entry *e, const unsigned char **out, void **owned,
                        sdc_error *err) {
    *out = NULL;
    *owned = NULL;
    if (e->method == 0) {
        *out = z->data + e->data_offset;
        return SDC_OK;
    }
    unsigned char *buf = malloc(e->size ? (size_t)e->size : 1);
    if (!buf) return sdc_error_set(err, SDC_ERR_OOM, "out of memory inflating '%s' (%llu bytes)", e->name, (unsigned long long)e->size);
    sdc_status st = inflate_entry(z, e, buf, err);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *owned = buf;
    return SDC_OK;
}
