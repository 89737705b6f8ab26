/* safetensors: writer -> reader round trips, every kind of corrupt header
 * (clear error, never a crash), atomic writes, and sharded models
 * (*.safetensors.index.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mapfile.h"
#include "formats/model_files.h"
#include "formats/safetensors.h"
#include "harness.h"

static sdc_status parse_bytes(const unsigned char *d, size_t n, sdc_error *err, sdc_weight_file **out) {
    sdc_weight_file *f = sdc_weight_file_new("mem", err);
    sdc_status st = sdc_safetensors_parse(f, d, n, err);
    if (st || !out) sdc_weight_file_close(f);
    else *out = f;
    return st;
}

/* 8-byte length + header + data_len bytes of data. */
static unsigned char *make_file(const char *header, size_t data_len, size_t *n) {
    size_t h = strlen(header);
    *n = 8 + h + data_len;
    unsigned char *b = calloc(1, *n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    return b;
}

static void expect_bad(const char *header, size_t data_len, sdc_status want, const char *needle) {
    size_t n;
    unsigned char *b = make_file(header, data_len, &n);
    sdc_error err = {0};
    sdc_status st = parse_bytes(b, n, &err, NULL);
    CHECK_MSG(st == want, "header %s: status %s (%s)", header, sdc_status_name(st), sdc_error_msg(&err));
    CHECK_MSG(strstr(sdc_error_msg(&err), needle) != NULL, "header %s: '%s' lacks '%s'", header, sdc_error_msg(&err), needle);
    free(b);
}

TEST(formats_safetensors_corrupt_headers) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, SDC_ERR_FORMAT, "not valid JSON");
    expect_bad("[1, 2]", 0, SDC_ERR_FORMAT, "does not start with '{'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, SDC_ERR_FORMAT, "trailing");
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SDC_ERR_UNSUPPORTED, "dtype 'F33'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, SDC_ERR_FORMAT, "duplicate");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, SDC_ERR_FORMAT, "overlap");
    /* an empty tensor between them must not hide the overlap */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 16, SDC_ERR_FORMAT, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7, SDC_ERR_FORMAT, "outside");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, SDC_ERR_FORMAT, "outside");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, SDC_ERR_FORMAT, "need 12");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]}}", 8, SDC_ERR_FORMAT, "overflows");
    expect_bad("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8, SDC_ERR_FORMAT, "overflows");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, SDC_ERR_FORMAT, "invalid shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, SDC_ERR_FORMAT, "invalid shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 8, SDC_ERR_UNSUPPORTED, "dims");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, SDC_ERR_FORMAT, "lacks");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", 8, SDC_ERR_FORMAT, "invalid data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8, SDC_ERR_FORMAT, "JSON");
    expect_bad("{\"a\":3}", 0, SDC_ERR_FORMAT, "not an object");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, SDC_ERR_FORMAT, "not a string");
    expect_bad("{\"__metadata__\":[]}", 0, SDC_ERR_FORMAT, "__metadata__");
    /* header length past the end / absurdly large / file too short */
    unsigned char b[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    sdc_error err = {0};
    CHECK(parse_bytes(b, sizeof b, &err, NULL) == SDC_ERR_FORMAT && strstr(sdc_error_msg(&err), "past end"));
    sdc_error_clear(&err);
    CHECK(parse_bytes(b, 5, &err, NULL) == SDC_ERR_FORMAT && strstr(sdc_error_msg(&err), "only 5 bytes"));
}

TEST(formats_safetensors_roundtrip_all_dtypes) {
    static const sdc_dtype types[] = {SDC_DTYPE_F32, SDC_DTYPE_F16, SDC_DTYPE_BF16, SDC_DTYPE_F64, SDC_DTYPE_I64,
                                      SDC_DTYPE_I32, SDC_DTYPE_I16, SDC_DTYPE_I8, SDC_DTYPE_U8, SDC_DTYPE_BOOL};
    enum { NT = sizeof types / sizeof types[0] };
    sdc_weight_info t[NT + 2];
    unsigned char data[NT][48];
    char names[NT][16];
    for (int i = 0; i < NT; i++) {
        snprintf(names[i], sizeof names[i], "t.%s", sdc_dtype_name(types[i]));
        for (int j = 0; j < 48; j++) data[i][j] = (unsigned char)(i * 31 + j * 7);
        int es = sdc_dtype_block_bytes(types[i]);
        t[i] = (sdc_weight_info){names[i], types[i], 2, {2, 24 / es}, data[i], 48}; /* [2, 24 / es]: 48 bytes */
    }
    float scalar = 3.5f;
    t[NT] = (sdc_weight_info){"scalar", SDC_DTYPE_F32, 0, {0}, &scalar, 4};
    t[NT + 1] = (sdc_weight_info){"empty", SDC_DTYPE_F16, 2, {0, 5}, NULL, 0};
    const char *mk[] = {"format", "note"}, *mv[] = {"pt", "h\u00e9llo \"quoted\""};
    const char *path = sdc_test_tmp("rt.safetensors");
    sdc_error err = {0};
    REQUIRE_MSG(sdc_safetensors_write(path, t, NT + 2, mk, mv, 2, 0, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    sdc_weight_file *f = NULL;
    REQUIRE_MSG(sdc_weight_file_open(path, &f, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(f->count == NT + 2);
    for (int i = 0; i < NT + 2; i++) {
        const sdc_weight_info *w = sdc_weight_file_find(f, t[i].name);
        CHECK_MSG(w && w->dtype == t[i].dtype && w->ndim == t[i].ndim && w->nbytes == t[i].nbytes, "%s", t[i].name);
        if (w && w->nbytes) CHECK_MSG(memcmp(w->data, t[i].data, w->nbytes) == 0, "%s data", t[i].name);
        if (w) CHECK(strcmp(f->tensors[i].name, t[i].name) == 0); /* file order kept */
        for (int d = 0; w && d < w->ndim; d++) CHECK(w->shape[d] == t[i].shape[d]);
        if (w && w->nbytes) CHECK((uintptr_t)w->data % (uintptr_t)sdc_dtype_block_bytes(w->dtype) == 0);
    }
    CHECK(strcmp(sdc_weight_file_meta(f, "note"), mv[1]) == 0);
    sdc_weight_file_close(f);
    /* refuses to overwrite, accepts with overwrite */
    CHECK(sdc_safetensors_write(path, t, 1, NULL, NULL, 0, 0, &err) == SDC_ERR_IO && strstr(sdc_error_msg(&err), "exists"));
    sdc_error_clear(&err);
    CHECK(sdc_safetensors_write(path, t, 1, NULL, NULL, 0, 1, &err) == SDC_OK);
    /* invalid writer input: wrong byte count, duplicate names, quantized dtype */
    sdc_weight_info bad = t[0];
    bad.nbytes--;
    CHECK(sdc_safetensors_write(sdc_test_tmp("bad1.safetensors"), &bad, 1, NULL, NULL, 0, 0, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    sdc_weight_info dup[2] = {t[0], t[0]};
    CHECK(sdc_safetensors_write(sdc_test_tmp("bad2.safetensors"), dup, 2, NULL, NULL, 0, 0, &err) == SDC_ERR_INVALID_ARG &&
          strstr(sdc_error_msg(&err), "duplicate"));
    CHECK(access(sdc_test_tmp("bad1.safetensors"), F_OK) != 0 && access(sdc_test_tmp("bad2.safetensors"), F_OK) != 0);
}

static sdc_status failing_fill(void *user, size_t i, size_t offset, void *dst, size_t n, sdc_error *err) {
    (void)user, (void)offset;
    memset(dst, 0, n);
    return i == 1 ? sdc_error_set(err, SDC_ERR_CANCELLED, "stop") : SDC_OK;
}

TEST(formats_safetensors_atomic_on_failure) {
    float x[4] = {0};
    sdc_weight_info t[2] = {{"a", SDC_DTYPE_F32, 1, {4}, x, 16}, {"b", SDC_DTYPE_F32, 1, {4}, x, 16}};
    const char *path = sdc_test_tmp("atomic.safetensors");
    sdc_error err = {0};
    CHECK(sdc_safetensors_write_stream(path, t, 2, NULL, NULL, 0, 0, failing_fill, NULL, &err) == SDC_ERR_CANCELLED);
    CHECK(access(path, F_OK) != 0);
    /* no temporary left behind either */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    CHECK(access(tmp, F_OK) != 0);
}

/* Every truncation of a valid file fails cleanly. */
TEST(formats_safetensors_truncations) {
    float x[6] = {1, 2, 3, 4, 5, 6};
    sdc_weight_info t[2] = {{"a", SDC_DTYPE_F32, 1, {2}, x, 8}, {"b", SDC_DTYPE_F32, 2, {2, 2}, x + 2, 16}};
    const char *path = sdc_test_tmp("trunc.safetensors");
    sdc_error err = {0};
    REQUIRE(sdc_safetensors_write(path, t, 2, NULL, NULL, 0, 1, &err) == SDC_OK);
    sdc_mapfile mf;
    REQUIRE(sdc_mapfile_open(&mf, path, &err) == SDC_OK);
    for (size_t n = 0; n < mf.size; n++) {
        sdc_error_clear(&err);
        CHECK_MSG(parse_bytes(mf.data, n, &err, NULL) != SDC_OK, "accepted when truncated to %zu of %zu bytes", n, mf.size);
    }
    sdc_error_clear(&err);
    CHECK(parse_bytes(mf.data, mf.size, &err, NULL) == SDC_OK);
    sdc_mapfile_close(&mf);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(formats_safetensors_sharded_index) {
    float a[3] = {1, 2, 3}, b[2] = {4, 5};
    sdc_weight_info s1[2] = {{"x.a", SDC_DTYPE_F32, 1, {3}, a, 12}, {"x.b", SDC_DTYPE_F32, 1, {2}, b, 8}};
    sdc_weight_info s2[1] = {{"y.c", SDC_DTYPE_F32, 1, {2}, b, 8}};
    sdc_error err = {0};
    REQUIRE(sdc_safetensors_write(sdc_test_tmp("m-00001-of-00002.safetensors"), s1, 2, NULL, NULL, 0, 1, &err) == SDC_OK);
    REQUIRE(sdc_safetensors_write(sdc_test_tmp("m-00002-of-00002.safetensors"), s2, 1, NULL, NULL, 0, 1, &err) == SDC_OK);
    const char *index = sdc_test_tmp("m.safetensors.index.json");
    char ipath[1024];
    snprintf(ipath, sizeof ipath, "%s", index);
    write_text(ipath, "{\"metadata\": {\"total_size\": 28}, \"weight_map\": {\"x.a\": \"m-00001-of-00002.safetensors\","
                      " \"x.b\": \"m-00001-of-00002.safetensors\", \"y.c\": \"m-00002-of-00002.safetensors\"}}");
    sdc_model_files *m = NULL;
    REQUIRE_MSG(sdc_model_files_open(ipath, &m, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(strcmp(m->layout, "sharded") == 0 && m->n_files == 2 && sdc_model_files_count(m) == 3);
    const sdc_weight_info *w = sdc_model_files_find(m, "y.c");
    CHECK(w && w->nbytes == 8 && ((const float *)w->data)[1] == 5.0f);
    sdc_model_files_close(m);
    /* a tensor listed under the wrong shard, a shard outside the folder, a missing shard */
    const char *bad[] = {
        "{\"weight_map\": {\"y.c\": \"m-00001-of-00002.safetensors\"}}",
        "{\"weight_map\": {\"x.a\": \"../m-00001-of-00002.safetensors\"}}",
        "{\"weight_map\": {\"x.a\": \"nothere.safetensors\"}}",
        "{\"weight_map\": {}}",
        "{\"weight_map\": {\"x.a\": 3}}",
    };
    const char *want[] = {"not in its shard", "same folder", "nothere", "weight_map", "same folder"};
    for (int i = 0; i < 5; i++) {
        write_text(ipath, bad[i]);
        sdc_error_clear(&err);
        CHECK_MSG(sdc_model_files_open(ipath, &m, &err) != SDC_OK && m == NULL, "bad index %d accepted", i);
        CHECK_MSG(strstr(sdc_error_msg(&err), want[i]) != NULL, "index %d: '%s'", i, sdc_error_msg(&err));
    }
}
