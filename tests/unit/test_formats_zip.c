/* Crafted hostile inputs for the zip reader, the restricted unpickler and
 * the checkpoint loader: every one must fail with a clear message (or load
 * correctly), never crash. Archives are built here byte by byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/pickle.h"
#include "formats/torch_ckpt.h"
#include "formats/weight_file.h"
#include "formats/zip.h"
#include "harness.h"

/* ---- a tiny zip writer (stored entries, or raw bytes given as deflate) ---- */

typedef struct {
    const char *name;
    const void *data;
    size_t size;        /* bytes stored */
    int method;         /* 0 stored, 8 deflate */
    uint64_t claimed;   /* uncompressed size written in the headers (0: size) */
    uint32_t crc;       /* CRC-32 of the uncompressed bytes (0: computed from data) */
} zent;

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put16(buf *b, unsigned v) { unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)}; put(b, x, 2); }
static void put32(buf *b, uint32_t v) { for (int i = 0; i < 4; i++) { unsigned char c = (unsigned char)(v >> (8 * i)); put(b, &c, 1); } }
static void putstr(buf *b, const char *s) { put(b, s, strlen(s)); }

static buf make_zip(const zent *e, int n) {
    buf b = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint32_t off = (uint32_t)b.n, crc = e[i].crc ? e[i].crc : (uint32_t)crc32(0, e[i].data, (uInt)e[i].size);
        uint32_t usize = e[i].claimed ? (uint32_t)e[i].claimed : (uint32_t)e[i].size;
        put32(&b, 0x04034b50); put16(&b, 20); put16(&b, 0); put16(&b, (unsigned)e[i].method); put32(&b, 0);
        put32(&b, crc); put32(&b, (uint32_t)e[i].size); put32(&b, usize); put16(&b, (unsigned)strlen(e[i].name)); put16(&b, 0);
        putstr(&b, e[i].name);
        put(&b, e[i].data, e[i].size);
        put32(&cd, 0x02014b50); put16(&cd, 20); put16(&cd, 20); put16(&cd, 0); put16(&cd, (unsigned)e[i].method);
        put32(&cd, 0); put32(&cd, crc); put32(&cd, (uint32_t)e[i].size); put32(&cd, usize);
        put16(&cd, (unsigned)strlen(e[i].name)); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put16(&cd, 0); put32(&cd, 0);
        put32(&cd, off); putstr(&cd, e[i].name);
    }
    uint32_t cd_off = (uint32_t)b.n;
    put(&b, cd.p, cd.n);
    put32(&b, 0x06054b50); put16(&b, 0); put16(&b, 0); put16(&b, (unsigned)n); put16(&b, (unsigned)n);
    put32(&b, (uint32_t)cd.n); put32(&b, cd_off); put16(&b, 0);
    free(cd.p);
    return b;
}

static sdc_status parse_ckpt(const buf *b, sdc_error *err, sdc_weight_file **out) {
    sdc_weight_file *f = sdc_weight_file_new("test", err);
    sdc_status st = f ? sdc_torch_parse(f, b->p, b->n, err) : SDC_ERR_OOM;
    if (st || !out) sdc_weight_file_close(f);
    else *out = f;
    return st;
}

static void expect(sdc_status got, sdc_status want, const sdc_error *err, const char *needle, int line) {
    CHECK_MSG(got == want, "line %d: status %s, want %s (%s)", line, sdc_status_name(got), sdc_status_name(want), sdc_error_msg(err));
    CHECK_MSG(!needle || strstr(sdc_error_msg(err), needle), "line %d: message '%s' lacks '%s'", line, sdc_error_msg(err), needle);
}
#define EXPECT(got, want, err, needle) expect(got, want, err, needle, __LINE__)

/* ---- pickle builders ---- */

static void pk_str(buf *b, const char *s) {
    unsigned char op = 0x8c, n = (unsigned char)strlen(s);
    put(b, &op, 1); put(b, &n, 1); putstr(b, s);
}

/* {name: _rebuild_tensor_v2(storage(key, FloatStorage, numel), offset, (size,), (1,), False, OrderedDict())} */
static buf tensor_pickle(const char *name, const char *key, int numel, int offset, int size) {
    buf b = {0};
    put(&b, "\x80\x02}(", 4);
    pk_str(&b, name);
    putstr(&b, "ctorch._utils\n_rebuild_tensor_v2\n((");
    pk_str(&b, "storage");
    putstr(&b, "ctorch\nFloatStorage\n");
    pk_str(&b, key);
    pk_str(&b, "cpu");
    unsigned char k[] = {'K', (unsigned char)numel, 't', 'Q', 'K', (unsigned char)offset, 'K', (unsigned char)size, 0x85, 'K', 1, 0x85, 0x89};
    put(&b, k, sizeof k);
    putstr(&b, "ccollections\nOrderedDict\n)RtRu.");
    return b;
}

static const float k_vals[8] = {1, 2, 3, 4, 5, 6, 7, 8};

TEST(formats_ckpt_crafted_tensor_bounds) {
    sdc_error err = {0};
    /* a valid one first, so the failures below are due to the one change */
    buf pk = tensor_pickle("w", "0", 8, 2, 5);
    zent e[] = {{"arc/data.pkl", pk.p, pk.n, 0, 0, 0}, {"arc/data/0", k_vals, sizeof k_vals, 0, 0, 0}};
    buf z = make_zip(e, 2);
    sdc_weight_file *f = NULL;
    EXPECT(parse_ckpt(&z, &err, &f), SDC_OK, &err, NULL);
    if (f) {
        const sdc_weight_info *w = sdc_weight_file_find(f, "w");
        CHECK(w && w->ndim == 1 && w->shape[0] == 5 && ((const float *)w->data)[0] == 3.0f && ((const float *)w->data)[4] == 7.0f);
        sdc_weight_file_close(f);
    }
    free(z.p);
    free(pk.p);
    /* view past the storage end: offset 4 + 5 elements > 8 */
    sdc_error_clear(&err);
    pk = tensor_pickle("w", "0", 8, 4, 5);
    e[0].data = pk.p, e[0].size = pk.n;
    z = make_zip(e, 2);
    EXPECT(parse_ckpt(&z, &err, NULL), SDC_ERR_FORMAT, &err, "reaches element");
    free(z.p);
    free(pk.p);
    /* storage claims more elements than its entry holds */
    sdc_error_clear(&err);
    pk = tensor_pickle("w", "0", 9, 0, 5);
    e[0].data = pk.p, e[0].size = pk.n;
    z = make_zip(e, 2);
    EXPECT(parse_ckpt(&z, &err, NULL), SDC_ERR_FORMAT, &err, "storage '0'");
    free(z.p);
    free(pk.p);
    /* storage entry missing */
    sdc_error_clear(&err);
    pk = tensor_pickle("w", "7", 8, 0, 5);
    e[0].data = pk.p, e[0].size = pk.n;
    z = make_zip(e, 2);
    EXPECT(parse_ckpt(&z, &err, NULL), SDC_ERR_FORMAT, &err, "missing");
    free(z.p);
    /* big-endian archive */
    sdc_error_clear(&err);
    free(pk.p);
    pk = tensor_pickle("w", "0", 8, 0, 5);
    zent e3[] = {{"arc/data.pkl", pk.p, pk.n, 0, 0, 0}, {"arc/data/0", k_vals, sizeof k_vals, 0, 0, 0}, {"arc/byteorder", "big", 3, 0, 0, 0}};
    z = make_zip(e3, 3);
    EXPECT(parse_ckpt(&z, &err, NULL), SDC_ERR_UNSUPPORTED, &err, "big-endian");
    free(z.p);
    free(pk.p);
}

TEST(formats_zip_hostile_archives) {
    sdc_error err = {0};
    sdc_zip zip;
    /* a declared uncompressed size far beyond what the bytes can inflate to */
    unsigned char zeros[4096] = {0}, comp[256];
    z_stream s = {0};
    deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    s.next_in = zeros, s.avail_in = sizeof zeros, s.next_out = comp, s.avail_out = sizeof comp;
    REQUIRE(deflate(&s, Z_FINISH) == Z_STREAM_END);
    size_t clen = sizeof comp - s.avail_out;
    deflateEnd(&s);
    zent bomb[] = {{"a/data.pkl", comp, clen, 8, (uint64_t)3 << 30, 0}};
    buf z = make_zip(bomb, 1);
    EXPECT(sdc_zip_open(&zip, z.p, z.n, &err), SDC_ERR_FORMAT, &err, "zip bomb");
    free(z.p);
    /* honest sizes inflate and pass the CRC; a lie about the size is caught while inflating */
    sdc_error_clear(&err);
    uint32_t zcrc = (uint32_t)crc32(0, zeros, sizeof zeros);
    zent ok[] = {{"a/x", comp, clen, 8, sizeof zeros, zcrc}};
    z = make_zip(ok, 1);
    REQUIRE(sdc_zip_open(&zip, z.p, z.n, &err) == SDC_OK);
    const unsigned char *out;
    void *owned;
    CHECK(sdc_zip_read(&zip, sdc_zip_find(&zip, "a/x"), &out, &owned, &err) == SDC_OK);
    CHECK(owned && memcmp(out, zeros, sizeof zeros) == 0);
    free(owned);
    sdc_zip_close(&zip);
    free(z.p);
    zent lie[] = {{"a/x", comp, clen, 8, sizeof zeros - 1, zcrc}};
    z = make_zip(lie, 1);
    REQUIRE(sdc_zip_open(&zip, z.p, z.n, &err) == SDC_OK);
    EXPECT(sdc_zip_read(&zip, sdc_zip_find(&zip, "a/x"), &out, &owned, &err), SDC_ERR_FORMAT, &err, "wrong size");
    sdc_zip_close(&zip);
    free(z.p);
    /* right size, wrong CRC */
    sdc_error_clear(&err);
    zent badcrc[] = {{"a/x", comp, clen, 8, sizeof zeros, zcrc ^ 1}};
    z = make_zip(badcrc, 1);
    REQUIRE(sdc_zip_open(&zip, z.p, z.n, &err) == SDC_OK);
    EXPECT(sdc_zip_read(&zip, sdc_zip_find(&zip, "a/x"), &out, &owned, &err), SDC_ERR_FORMAT, &err, "CRC");
    sdc_zip_close(&zip);
    free(z.p);
    /* duplicate names */
    sdc_error_clear(&err);
    zent dup[] = {{"a/x", "1", 1, 0, 0, 0}, {"a/x", "2", 1, 0, 0, 0}};
    z = make_zip(dup, 2);
    EXPECT(sdc_zip_open(&zip, z.p, z.n, &err), SDC_ERR_FORMAT, &err, "twice");
    free(z.p);
    /* an entry whose data holds another entry's local header (overlapping entries) */
    sdc_error_clear(&err);
    zent outer[] = {{"a/big", "", 0, 0, 0, 0}};
    buf inner = make_zip((zent[]){{"a/in", "xy", 2, 0, 0, 0}}, 1);
    outer[0].data = inner.p;
    outer[0].size = inner.n;
    z = make_zip(outer, 1);
    /* add a second central record pointing into a/big's data: rebuild the directory by hand */
    buf z2 = {0};
    size_t eocd = z.n - 22, cd_off = z.p[eocd + 16] | (z.p[eocd + 17] << 8), cd_len = eocd - cd_off;
    put(&z2, z.p, eocd);
    buf rec = {0};
    put(&rec, z.p + cd_off, cd_len);                 /* copy a/big's record, then retarget it */
    memcpy(rec.p + 46, "a/in", 4);
    rec.p[28] = 4;                                   /* name length 4 */
    rec.p[20] = 2, rec.p[21] = rec.p[22] = rec.p[23] = 0;       /* comp size 2 */
    rec.p[24] = 2, rec.p[25] = rec.p[26] = rec.p[27] = 0;       /* size 2 */
    uint32_t crc = (uint32_t)crc32(0, (const unsigned char *)"xy", 2), loc = (uint32_t)(30 + strlen("a/big"));
    for (int i = 0; i < 4; i++) rec.p[16 + i] = (unsigned char)(crc >> (8 * i)), rec.p[42 + i] = (unsigned char)(loc >> (8 * i));
    put(&z2, rec.p, 46 + 4);
    put32(&z2, 0x06054b50); put16(&z2, 0); put16(&z2, 0); put16(&z2, 2); put16(&z2, 2);
    put32(&z2, (uint32_t)(cd_len + 50)); put32(&z2, (uint32_t)cd_off); put16(&z2, 0);
    EXPECT(sdc_zip_open(&zip, z2.p, z2.n, &err), SDC_ERR_FORMAT, &err, "overlap");
    free(z.p); free(z2.p); free(rec.p); free(inner.p);
    /* every truncation of a valid archive fails cleanly */
    zent two[] = {{"a/one", "hello", 5, 0, 0, 0}, {"a/two", "world!", 6, 0, 0, 0}};
    z = make_zip(two, 2);
    for (size_t n = 0; n < z.n; n++) {
        sdc_error_clear(&err);
        CHECK_MSG(sdc_zip_open(&zip, z.p, n, &err) != SDC_OK, "truncated to %zu bytes accepted", n);
    }
    free(z.p);
}

static sdc_status run_pickle(const char *bytes, size_t n, sdc_error *err) {
    sdc_error_clear(err);
    return sdc_torch_check_pickle((const unsigned char *)bytes, n, err);
}
#define PK(s) run_pickle(s, sizeof(s) - 1, &err)

TEST(formats_pickle_opcodes_and_refusals) {
    sdc_error err = {0};
    EXPECT(PK("\x80\x02}q\x00."), SDC_OK, &err, NULL);
    EXPECT(PK("\x80\x02]q\x00h\x00" "a."), SDC_OK, &err, NULL);                 /* a list holding itself */
    EXPECT(PK("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."), SDC_OK, &err, NULL); /* frame + memoize */
    EXPECT(PK("(I12\nF1.5\nL7L\nI01\nt."), SDC_OK, &err, NULL);              /* protocol-0 numbers */
    EXPECT(PK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), SDC_OK, &err, NULL); /* big int: opaque */
    EXPECT(PK("\x80\x02" "cos\nsystem\nq\x00."), SDC_ERR_UNSUPPORTED, &err, "'os.system'");
    EXPECT(PK("\x80\x04\x8c\x08" "builtins\x8c\x04" "exec\x93."), SDC_ERR_UNSUPPORTED, &err, "'builtins.exec'");
    EXPECT(PK("(i__builtin__\nobject\n."), SDC_ERR_UNSUPPORTED, &err, "INST");
    EXPECT(PK("\x80\x02\x82\x01."), SDC_ERR_UNSUPPORTED, &err, "EXT");
    EXPECT(PK("\x80\x02" "ccollections\nOrderedDict\n\x8c\x01x\x85R."), SDC_ERR_UNSUPPORTED, &err, "OrderedDict");
    EXPECT(PK("\x80\x02K\x01K\x02\x93."), SDC_ERR_FORMAT, &err, "STACK_GLOBAL");
    EXPECT(PK("\x80\x02h\x05."), SDC_ERR_FORMAT, &err, "memo");
    EXPECT(PK("\x80\x02r\xff\xff\xff\x7f."), SDC_ERR_FORMAT, &err, "memo");   /* store with empty stack */
    EXPECT(PK("\x80\x02K\x01r\xff\xff\xff\x7f."), SDC_ERR_FORMAT, &err, "memo index");
    EXPECT(PK("\x80\x02(K\x01K\x02\x86t."), SDC_OK, &err, NULL);
    EXPECT(PK("\x80\x02(."), SDC_ERR_FORMAT, &err, "empty stack");          /* the mark fences the stack */
    EXPECT(PK("\x80\x02}K\x01s."), SDC_ERR_FORMAT, &err, "SETITEM");
    EXPECT(PK("\x80\x02X\xff\xff\xff\x7f"), SDC_ERR_FORMAT, &err, "truncated");
    EXPECT(PK("\x80\x02}"), SDC_ERR_FORMAT, &err, "STOP");
    EXPECT(PK("\x80\x09."), SDC_ERR_UNSUPPORTED, &err, "protocol");
    EXPECT(PK("\x80\x02\xff."), SDC_ERR_UNSUPPORTED, &err, "opcode 0xff");
    /* a tensor whose persistent id is not a storage record */
    EXPECT(PK("\x80\x02K\x01Q."), SDC_ERR_UNSUPPORTED, &err, "persistent id");
    /* a dict containing itself twice: the loader's walk must terminate */
    const char self[] = "\x80\x02}q\x00(\x8c\x01" "ah\x00\x8c\x01" "bh\x00u.";
    zent e[] = {{"arc/data.pkl", self, sizeof self - 1, 0, 0, 0}};
    buf z = make_zip(e, 1);
    sdc_error_clear(&err);
    sdc_weight_file *f = NULL;
    EXPECT(parse_ckpt(&z, &err, &f), SDC_OK, &err, NULL);
    CHECK(f && f->count == 0);
    sdc_weight_file_close(f);
    free(z.p);
}

/* Every single-byte corruption of a real checkpoint: load or fail, never crash. */
TEST(formats_ckpt_byte_flips_never_crash) {
    char *data;
    size_t n;
    sdc_error err = {0};
    REQUIRE(sdc_read_file("tests/data/formats/plain.ckpt", 1 << 20, &data, &n, &err) == SDC_OK);
    int ok = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char saved = (unsigned char)data[i];
        data[i] = (char)(saved ^ 0x5a);
        buf b = {(unsigned char *)data, n, n};
        sdc_error_clear(&err);
        if (parse_ckpt(&b, &err, NULL) == SDC_OK) ok++;
        else {
            failed++;
            CHECK(sdc_error_msg(&err)[0] != '\0');
        }
        data[i] = (char)saved;
    }
    /* flips in tensor data still load; flips in headers and the pickle mostly fail */
    CHECK(ok > 0 && failed > 0);
    free(data);
}
