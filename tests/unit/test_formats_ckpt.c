/* PyTorch checkpoints: the zip reader, the restricted unpickler, tensor
 * rebuilding (dtypes, offsets, strides, shared storages), and refusal of
 * code-running pickles. Inputs: the .ckpt files in tests/data/formats, written by
 * make_ckpts.py with torch.save; expected values are recomputed here from
 * the same formula the script used (value()), not read from a copy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "formats/torch_ckpt.h"
#include "formats/weight_file.h"
#include "formats/zip.h"
#include "harness.h"

#define DATA "tests/data/formats/"

/* make_ckpts.py's value(name, i) */
static double value(const char *name, long i) {
    long h = 0;
    for (const char *c = name; *c; c++) h += (unsigned char)*c;
    h %= 7;
    return (double)(((i * 5 + h) % 11) - 5) * 0.5;
}

static double elem(const sdc_weight_info *w, size_t i) {
    const unsigned char *p = w->data;
    switch (w->dtype) {
    case SDC_DTYPE_F32: return ((const float *)p)[i];
    case SDC_DTYPE_F16: return sdc_f16_to_f32(((const uint16_t *)p)[i]);
    case SDC_DTYPE_BF16: return sdc_bf16_to_f32(((const uint16_t *)p)[i]);
    case SDC_DTYPE_F64: return ((const double *)p)[i];
    case SDC_DTYPE_I64: return (double)((const int64_t *)p)[i];
    case SDC_DTYPE_I32: return ((const int32_t *)p)[i];
    case SDC_DTYPE_I16: return ((const int16_t *)p)[i];
    case SDC_DTYPE_I8: return ((const int8_t *)p)[i];
    case SDC_DTYPE_U8: case SDC_DTYPE_BOOL: return p[i];
    default: return NAN;
    }
}

/* Checks tensor `name`: dtype, shape, and values gen(i) in row-major order. */
static void check_tensor(const sdc_weight_file *f, const char *name, sdc_dtype dt, int nd, const int64_t *shape,
                         double (*gen)(const char *, long, const sdc_weight_info *)) {
    const sdc_weight_info *w = sdc_weight_file_find(f, name);
    CHECK_MSG(w != NULL, "tensor '%s' missing", name);
    if (!w) return;
    CHECK_MSG(w->dtype == dt, "'%s' dtype %s", name, sdc_dtype_name(w->dtype));
    CHECK_MSG(w->ndim == nd, "'%s' ndim %d", name, w->ndim);
    for (int d = 0; d < nd && d < w->ndim; d++) CHECK_MSG(w->shape[d] == shape[d], "'%s' dim %d", name, d);
    size_t n = (size_t)sdc_weight_numel(w);
    CHECK(w->nbytes == n * (size_t)sdc_dtype_block_bytes(dt));
    for (size_t i = 0; i < n; i++) {
        double want = gen(name, (long)i, w);
        CHECK_MSG(elem(w, i) == want, "'%s'[%zu] = %g, want %g", name, i, elem(w, i), want);
    }
}

static double gen_float(const char *name, long i, const sdc_weight_info *w) { (void)w; return value(name, i); }
static double gen_int(const char *name, long i, const sdc_weight_info *w) { (void)w; return (double)(long)(value(name, i) * 2); }
static double gen_bool(const char *name, long i, const sdc_weight_info *w) { (void)w; return value(name, i) > 0; }
/* view.transposed = make([3,4]).t(): element (r, c) of the [4, 3] view is base[c*4 + r] */
static double gen_transposed(const char *name, long i, const sdc_weight_info *w) { (void)w; return value(name, (i % 3) * 4 + i / 3); }
static double gen_slice_a(const char *name, long i, const sdc_weight_info *w) { (void)name; (void)w; return value("shared.base", i + 2); }
static double gen_slice_b(const char *name, long i, const sdc_weight_info *w) { (void)name; (void)w; return value("shared.base", i + 8); }

static void check_plain(const sdc_weight_file *f, const char *prefix_unused) {
    (void)prefix_unused;
    check_tensor(f, "a.f32", SDC_DTYPE_F32, 2, (int64_t[]){2, 3}, gen_float);
    check_tensor(f, "a.f16", SDC_DTYPE_F16, 1, (int64_t[]){4}, gen_float);
    check_tensor(f, "a.bf16", SDC_DTYPE_BF16, 2, (int64_t[]){3, 2}, gen_float);
    check_tensor(f, "a.f64", SDC_DTYPE_F64, 1, (int64_t[]){2}, gen_float);
    check_tensor(f, "a.i64", SDC_DTYPE_I64, 1, (int64_t[]){5}, gen_int);
    check_tensor(f, "a.i32", SDC_DTYPE_I32, 1, (int64_t[]){3}, gen_int);
    check_tensor(f, "a.i16", SDC_DTYPE_I16, 1, (int64_t[]){2}, gen_int);
    check_tensor(f, "a.i8", SDC_DTYPE_I8, 1, (int64_t[]){2}, gen_int);
    check_tensor(f, "a.bool", SDC_DTYPE_BOOL, 1, (int64_t[]){4}, gen_bool);
    check_tensor(f, "a.scalar", SDC_DTYPE_F32, 0, NULL, gen_float);
    check_tensor(f, "a.empty", SDC_DTYPE_F32, 2, (int64_t[]){0, 3}, gen_float);
    check_tensor(f, "conv.weight", SDC_DTYPE_F16, 4, (int64_t[]){4, 3, 3, 3}, gen_float);
    check_tensor(f, "view.transposed", SDC_DTYPE_F32, 2, (int64_t[]){4, 3}, gen_transposed);
    check_tensor(f, "view.slice_a", SDC_DTYPE_F32, 1, (int64_t[]){6}, gen_slice_a);
    check_tensor(f, "view.slice_b", SDC_DTYPE_F32, 2, (int64_t[]){3, 4}, gen_slice_b);
    check_tensor(f, "param", SDC_DTYPE_F32, 2, (int64_t[]){2, 2}, gen_float);
    const sdc_weight_info *u8 = sdc_weight_file_find(f, "a.u8");
    /* uint8 of negative ints wraps like torch does: value*2 mod 256 */
    REQUIRE(u8 && u8->dtype == SDC_DTYPE_U8 && u8->nbytes == 3);
    for (int i = 0; i < 3; i++) CHECK(((const uint8_t *)u8->data)[i] == (uint8_t)(int)(value("a.u8", i) * 2));
    CHECK(f->count == 17);
}

static sdc_weight_file *open_ok(const char *path) {
    sdc_error err = {0};
    sdc_weight_file *f = NULL;
    sdc_status st = sdc_weight_file_open(path, &f, &err);
    CHECK_MSG(st == SDC_OK, "%s: %s", path, sdc_error_msg(&err));
    return f;
}

TEST(formats_ckpt_plain_tensors) {
    sdc_weight_file *f = open_ok(DATA "plain.ckpt");
    REQUIRE(f);
    CHECK(strcmp(f->format, "pytorch") == 0);
    check_plain(f, "");
    /* contiguous tensors in stored entries are zero-copy: inside the mapping */
    const sdc_weight_info *w = sdc_weight_file_find(f, "conv.weight");
    const unsigned char *lo = f->map.data, *hi = lo + f->map.size;
    CHECK((const unsigned char *)w->data >= lo && (const unsigned char *)w->data < hi);
    /* the transposed view had to be copied out */
    w = sdc_weight_file_find(f, "view.transposed");
    CHECK(!((const unsigned char *)w->data >= lo && (const unsigned char *)w->data < hi));
    /* the two slices share one storage: 6 elements apart */
    const sdc_weight_info *a = sdc_weight_file_find(f, "view.slice_a"), *b = sdc_weight_file_find(f, "view.slice_b");
    CHECK((const float *)b->data - (const float *)a->data == 6);
    sdc_weight_file_close(f);
}

TEST(formats_ckpt_deflate_zip64_lightning) {
    const char *files[] = {DATA "deflate.ckpt", DATA "zip64.ckpt", DATA "lightning.ckpt"};
    for (int i = 0; i < 3; i++) {
        sdc_weight_file *f = open_ok(files[i]);
        if (!f) continue;
        check_plain(f, "");
        sdc_weight_file_close(f);
    }
}

TEST(formats_ckpt_textual_inversion_nested) {
    sdc_weight_file *f = open_ok(DATA "embedding.pt");
    REQUIRE(f);
    check_tensor(f, "string_to_param.*", SDC_DTYPE_F32, 2, (int64_t[]){2, 32}, gen_float);
    const sdc_weight_info *tok = sdc_weight_file_find(f, "string_to_token.*");
    REQUIRE(tok && tok->dtype == SDC_DTYPE_I64 && tok->ndim == 0);
    CHECK(*(const int64_t *)tok->data == 265);
    CHECK(f->count == 2);
    sdc_weight_file_close(f);
}

static void expect_fail(const char *path, sdc_status want, const char *needle) {
    sdc_error err = {0};
    sdc_weight_file *f = NULL;
    sdc_status st = sdc_weight_file_open(path, &f, &err);
    CHECK_MSG(st == want, "%s: status %s (%s)", path, sdc_status_name(st), sdc_error_msg(&err));
    CHECK_MSG(f == NULL, "%s: file returned on failure", path);
    CHECK_MSG(strstr(sdc_error_msg(&err), needle) != NULL, "%s: message '%s' lacks '%s'", path, sdc_error_msg(&err), needle);
}

TEST(formats_ckpt_refuses_code) {
    expect_fail(DATA "evil.ckpt", SDC_ERR_UNSUPPORTED, "'posix.system'");
    expect_fail(DATA "evil_global.ckpt", SDC_ERR_UNSUPPORTED, "'builtins.eval'");
}
