/* The server's input handling on its own: base64 (RFC 4648 vectors,
 * data: URLs, URL-safe alphabet, bad input), query strings, multipart
 * bodies, bounded JSON, and the confinement of client file names
 * (including symlinks that point out of the folder). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "server/http_util.h"
#include "workflow/files.h"

static int b64_dec_str(const char *in, char *out, size_t size) {
    uint8_t *d = NULL;
    size_t n = 0;
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_b64_decode(in, strlen(in), &d, &n, &err) != SDC_OK) return -1;
    int ok = n < size;
    if (ok) memcpy(out, d, n), out[n] = '\0';
    free(d);
    return ok ? (int)n : -1;
}

TEST(server_base64_vectors) {
    /* RFC 4648 section 10 */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = NULL, back[16];
        size_t n = 0;
        sdc_error err;
        sdc_error_clear(&err);
        REQUIRE(sdc_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), &e, &n, &err) == SDC_OK);
        CHECK_MSG(!strcmp(e, enc[i]) && n == strlen(enc[i]), "encode '%s' -> '%s'", plain[i], e);
        free(e);
        CHECK(b64_dec_str(enc[i], back, sizeof back) == (int)strlen(plain[i]) && !strcmp(back, plain[i]));
    }
    char out[64];
    CHECK(b64_dec_str("data:image/png;base64,Zm9vYmFy", out, sizeof out) == 6 && !strcmp(out, "foobar"));
    CHECK(b64_dec_str("Zm9v\nYmE", out, sizeof out) == 5 && !strcmp(out, "fooba")); /* no padding, a newline */
    CHECK(b64_dec_str("-_-_", out, sizeof out) == 3 && (uint8_t)out[0] == 0xfb && (uint8_t)out[1] == 0xff);
    CHECK(b64_dec_str("Zm9v!", out, sizeof out) < 0);
    CHECK(b64_dec_str("Z", out, sizeof out) < 0);     /* a lone symbol */
    CHECK(b64_dec_str("Zg==Zg", out, sizeof out) < 0); /* data after padding */
    /* random bytes round trip */
    uint8_t bytes[257];
    for (int i = 0; i < 257; i++) bytes[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len <= 257; len += 37) {
        char *e = NULL;
        uint8_t *d = NULL;
        size_t n = 0;
        sdc_error err;
        sdc_error_clear(&err);
        REQUIRE(sdc_b64_encode(bytes, len, &e, NULL, &err) == SDC_OK);
        REQUIRE(sdc_b64_decode(e, strlen(e), &d, &n, &err) == SDC_OK);
        CHECK(n == len && (len == 0 || !memcmp(d, bytes, len)));
        free(e), free(d);
    }
}

TEST(server_query_strings) {
    char v[32];
    CHECK(sdc_query_get("a=1&b=x%20y+z&c", "b", v, sizeof v) == 5 && !strcmp(v, "x y z"));
    CHECK(sdc_query_get("a=1&b=2", "a", v, sizeof v) == 1 && !strcmp(v, "1"));
    CHECK(sdc_query_get("a=1&b=2", "c", v, sizeof v) == -1);
    CHECK(sdc_query_get("a=1&c", "c", v, sizeof v) == 0 && v[0] == '\0');
    CHECK(sdc_query_get("file%6eame=x.png", "filename", v, sizeof v) == 5 && !strcmp(v, "x.png"));
    CHECK(sdc_query_get("f=%2e%2e%2fx", "f", v, sizeof v) == 4 && !strcmp(v, "../x"));
    CHECK(sdc_query_get("f=a%00b", "f", v, sizeof v) == -2); /* NUL inside */
    CHECK(sdc_query_get("f=0123456789012345678901234567890123456789", "f", v, sizeof v) == -2);
    CHECK(sdc_query_get("f=%zz", "f", v, sizeof v) == 3 && !strcmp(v, "%zz")); /* not an escape: kept */
    CHECK(sdc_query_get(NULL, "f", v, sizeof v) == -1);
}

TEST(server_multipart) {
    const char *ct = "multipart/form-data; boundary=----XyZ";
    const char body[] = "------XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a b.png\"\r\n"
                        "Content-Type: image/png\r\n\r\nPNG\r\n--DATA\r\n------XyZ\r\n"
                        "Content-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n------XyZ--\r\n";
    sdc_form f;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE_MSG(sdc_form_parse(ct, (const uint8_t *)body, sizeof body - 1, &f, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    CHECK(f.n == 2);
    const sdc_form_part *img = sdc_form_get(&f, "image"), *ow = sdc_form_get(&f, "overwrite");
    REQUIRE(img && ow);
    CHECK(!strcmp(img->filename, "a b.png") && !strcmp(img->content_type, "image/png"));
    CHECK(img->size == 11 && !memcmp(img->data, "PNG\r\n--DATA", 11)); /* a CRLF and dashes inside the data */
    CHECK(ow->size == 4 && !memcmp(ow->data, "true", 4) && ow->filename[0] == '\0');
    CHECK(sdc_form_get(&f, "missing") == NULL);
    const char *bad[] = {"------XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
                         "------XyZ\r\nno headers end",
                         "garbage without the boundary",
                         "------XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n------XyZ--"};
    for (int i = 0; i < 4; i++) {
        sdc_error_clear(&err);
        CHECK_MSG(sdc_form_parse(ct, (const uint8_t *)bad[i], strlen(bad[i]), &f, &err) == SDC_ERR_FORMAT, "bad body %d", i);
    }
    sdc_error_clear(&err);
    CHECK(sdc_form_parse("application/json", (const uint8_t *)body, sizeof body - 1, &f, &err) == SDC_ERR_FORMAT);
}

TEST(server_json_bounds) {
    json_t *v = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    const char *ok = "{\"a\": [1, {\"b\": 2}]}";
    CHECK(sdc_json_parse_bounded(ok, strlen(ok), 0, &v, &err) == SDC_OK && sdc_json_depth(v) == 3);
    json_decref(v);
    char deep[300];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    sdc_error_clear(&err);
    CHECK(sdc_json_parse_bounded(deep, 200, 1, &v, &err) == SDC_ERR_FORMAT && strstr(sdc_error_msg(&err), "deeper"));
    sdc_error_clear(&err);
    CHECK(sdc_json_parse_bounded("[\"[[[[\"]", 8, 1, &v, &err) == SDC_OK); /* brackets in strings do not count */
    json_decref(v);
    sdc_error_clear(&err);
    CHECK(sdc_json_parse_bounded("[1]", 3, 0, &v, &err) == SDC_ERR_FORMAT); /* an object is required */
    sdc_error_clear(&err);
    CHECK(sdc_json_parse_bounded("{\"a\": 1, \"a\": 2}", 16, 0, &v, &err) == SDC_ERR_FORMAT); /* duplicate keys */
    sdc_error_clear(&err);
    CHECK(sdc_json_parse_bounded("{\"a\": ", 6, 0, &v, &err) == SDC_ERR_FORMAT && strstr(sdc_error_msg(&err), "line"));
}

TEST(server_file_names_stay_inside) {
    const char *good[] = {"a.png", "sub/a.png", "a..b.png", ".hidden", "x y/z"};
    const char *bad[] = {"", "/etc/passwd", "../a", "a/../b", "a/./b", "a//b", "a/", "a\\b", "a\nb", "..", "."};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) CHECK_MSG(sdc_path_rel_ok(good[i], 1, 0) == 0, "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK_MSG(sdc_path_rel_ok(bad[i], 1, 0) != 0, "'%s' accepted", bad[i]);
    CHECK(sdc_path_rel_ok("sub/a.png", 0, 0) != 0); /* plain names only */
    CHECK(sdc_path_rel_ok("", 1, 1) == 0);

    char base[PATH_MAX], out[PATH_MAX * 2], p[PATH_MAX * 2];
    snprintf(base, sizeof base, "%s", sdc_test_tmp("confine"));
    mkdir(base, 0755);
    snprintf(p, sizeof p, "%s/in", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/in/out", base); /* a symlink from inside to outside */
    symlink("/tmp", p);
    snprintf(p, sizeof p, "%s/in/f.png", base);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/in", base);
    sdc_error err;
    sdc_error_clear(&err);
    CHECK(sdc_path_join_within(p, "f.png", out, sizeof out, &err) == SDC_OK);
    CHECK(sdc_path_join_within(p, "new/deeper/g.png", out, sizeof out, &err) == SDC_OK); /* to be created */
    sdc_error_clear(&err);
    CHECK(sdc_path_join_within(p, "out/x.png", out, sizeof out, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    CHECK(sdc_path_join_within(p, "out", out, sizeof out, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    CHECK(sdc_path_join_within(p, "../in/f.png", out, sizeof out, &err) == SDC_ERR_INVALID_ARG);
    sdc_error_clear(&err);
    CHECK(sdc_path_join_within("/no/such/folder", "a", out, sizeof out, &err) == SDC_ERR_IO);
}
