/* `sdc serve` in-process, for what the shell tests cannot set up: a
 * ControlNet for the tiny model (written here from its U-Net encoder and
 * the control tests' parts) driven through the A1111 API's
 * alwayson_scripts.controlnet units (preprocessors, names with a hash,
 * errors) and through /sdc/v1/doodle, which picks a "scribble" ControlNet
 * by itself. Requests go over a loopback socket with a tiny HTTP client. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "image/png_io.h"
#include "server/http_util.h"
#include "server/server.h"
#include "test_workflow_common.h"

/* POST path with body; returns the status, *out the body (malloc'd) */
static int http_post(int port, const char *path, const char *body, char **out) {
    *out = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      path, strlen(body));
    if (write(fd, head, (size_t)hn) != hn || write(fd, body, strlen(body)) != (ssize_t)strlen(body)) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb, cap *= 2;
        }
    }
    close(fd);
    if (!buf) return -1;
    buf[n] = '\0';
    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || !sep) {
        free(buf);
        return -1;
    }
    *out = strdup(sep + 4);
    free(buf);
    return status;
}

/* a 64x64 sketch: white paper, a dark square outline, as base64 PNG */
static char *sketch_b64(void) {
    sdc_image img = {0};
    sdc_error err;
    sdc_error_clear(&err);
    if (sdc_image_alloc(&img, 64, 64, 3, &err)) return NULL;
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) {
            int line = ((x == 16 || x == 47) && y >= 16 && y <= 47) || ((y == 16 || y == 47) && x >= 16 && x <= 47);
            memset(img.data + (y * 64 + x) * 3, line ? 20 : 255, 3);
        }
    uint8_t *png = NULL;
    size_t n = 0;
    char *b64 = NULL;
    if (sdc_png_encode(&img, NULL, &png, &n, &err) == SDC_OK) sdc_b64_encode(png, n, &b64, NULL, &err);
    free(png);
    sdc_image_free(&img);
    return b64;
}

static const char *first_image(json_t *j) { return json_string_value(json_array_get(json_object_get(j, "images"), 0)); }

/* txt2img with an optional ControlNet unit (JSON object text or NULL) and
 * extra fields (text after a comma, or ""); returns the status, *resp the body */
static int t2i_ex(int port, const char *sketch, const char *unit, const char *extra, json_t **resp) {
    char *body = malloc(strlen(sketch) + 1024 + strlen(extra)), *out = NULL;
    sprintf(body, "{\"prompt\": \"a box\", \"seed\": 5, \"steps\": 2, \"width\": 64, \"height\": 64%s%s%s%s%s}",
            unit ? ", \"alwayson_scripts\": {\"controlnet\": {\"args\": [" : "", unit ? unit : "", unit ? "]}}" : "",
            extra[0] ? ", " : "", extra);
    if (unit) { /* the unit text holds @IMG@ where the sketch goes */
        char *at = strstr(body, "@IMG@");
        if (at) {
            char *tail = strdup(at + 5);
            sprintf(at, "%s%s", sketch, tail);
            free(tail);
        }
    }
    int st = http_post(port, "/sdapi/v1/txt2img", body, &out);
    *resp = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    free(body);
    return st;
}

static int t2i(int port, const char *sketch, const char *unit, json_t **resp) { return t2i_ex(port, sketch, unit, "", resp); }

/* width x height of a response's first image, or -1 */
static int image_size(json_t *resp, int *h) {
    const char *b64 = first_image(resp);
    uint8_t *png = NULL;
    size_t n = 0;
    sdc_image img = {0};
    sdc_error err;
    sdc_error_clear(&err);
    int w = -1;
    if (b64 && sdc_b64_decode(b64, strlen(b64), &png, &n, &err) == SDC_OK && sdc_png_decode(png, n, SDC_PNG_PIXELS, &img, NULL, &err) == SDC_OK)
        w = img.width, *h = img.height;
    free(png);
    sdc_image_free(&img);
    return w;
}

TEST(server_controlnet_units_and_doodle) {
    wf_dirs d;
    if (wf_setup(&d)) SKIP("shared tiny model not available");
    char cn_dir[PATH_MAX + 16], cn_path[PATH_MAX * 2];
    snprintf(cn_dir, sizeof cn_dir, "%s/controlnet", d.models);
    mkdir(cn_dir, 0755);
    snprintf(cn_path, sizeof cn_path, "%s/control_scribble_tiny.safetensors", cn_dir);
    REQUIRE(sdc_test_write_controlnet(cn_path) == 0);
    sdc_server_opts o;
    sdc_server_opts_default(&o);
    o.port = 0, o.models_dir = d.models, o.output_dir = d.output, o.input_dir = d.input, o.temp_dir = d.temp;
    o.threads = 1, o.http_threads = 4, o.previews = 0;
    sdc_log quiet = {.level = SDC_LOG_NONE};
    o.log = &quiet;
    sdc_server *s = NULL;
    sdc_error err;
    sdc_error_clear(&err);
    REQUIRE_MSG(sdc_server_start(&o, &s, &err) == SDC_OK, "%s", sdc_error_msg(&err));
    int port = sdc_server_port(s);
    char *sketch = sketch_b64();
    REQUIRE(sketch);
    json_t *plain = NULL, *cn = NULL, *r = NULL;
    CHECK(t2i(port, sketch, NULL, &plain) == 200 && first_image(plain));
    const char *unit = "{\"model\": \"control_scribble_tiny [0123abcd]\", \"module\": \"scribble\", \"image\": \"@IMG@\", \"weight\": 1.0}";
    CHECK(t2i(port, sketch, unit, &cn) == 200 && first_image(cn));
    CHECK_MSG(first_image(plain) && first_image(cn) && strcmp(first_image(plain), first_image(cn)) != 0, "the ControlNet changed nothing");
    const char *modules[] = {"none", "canny", "invert", "scribble_xdog"};
    for (int i = 0; i < 4; i++) {
        char u[300];
        snprintf(u, sizeof u, "{\"model\": \"control_scribble_tiny\", \"module\": \"%s\", \"image\": \"@IMG@\", \"guidance_end\": 0.5}", modules[i]);
        CHECK_MSG(t2i(port, sketch, u, &r) == 200 && first_image(r), "module %s", modules[i]);
        json_decref(r);
    }
    CHECK(t2i(port, sketch, "{\"model\": \"control_scribble_tiny\", \"module\": \"openpose\", \"image\": \"@IMG@\"}", &r) == 422);
    json_decref(r);
    CHECK(t2i(port, sketch, "{\"model\": \"no_such_cn\", \"image\": \"@IMG@\"}", &r) == 404);
    json_decref(r);
    CHECK(t2i(port, sketch, "{\"model\": \"None\", \"image\": \"@IMG@\"}", &r) == 200); /* a disabled unit */
    CHECK(r && first_image(plain) && first_image(r) && !strcmp(first_image(r), first_image(plain)));
    json_decref(r);

    /* hires fix with a ControlNet: the unit drives both passes (its image at each size) */
    const char *hr = "\"enable_hr\": true, \"hr_scale\": 2, \"hr_second_pass_steps\": 2, \"denoising_strength\": 0.7";
    json_t *hr_plain = NULL, *hr_cn = NULL;
    CHECK(t2i_ex(port, sketch, NULL, hr, &hr_plain) == 200);
    CHECK(t2i_ex(port, sketch, unit, hr, &hr_cn) == 200);
    int h = 0, w = image_size(hr_cn, &h);
    CHECK_MSG(w == 128 && h == 128, "hires + ControlNet image %dx%d", w, h);
    CHECK_MSG(first_image(hr_plain) && first_image(hr_cn) && strcmp(first_image(hr_plain), first_image(hr_cn)) != 0,
              "the ControlNet changed nothing in the hires picture");
    json_decref(hr_plain), json_decref(hr_cn);

    /* doodle: the scribble ControlNet is found by name; "none" turns it off */
    char *body = malloc(strlen(sketch) + 256), *out = NULL, *out2 = NULL;
    sprintf(body, "{\"image\": \"%s\", \"prompt\": \"a box\", \"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 3}", sketch);
    CHECK(http_post(port, "/sdc/v1/doodle", body, &out) == 200);
    sprintf(body, "{\"image\": \"%s\", \"prompt\": \"a box\", \"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 3, \"controlnet\": \"none\"}", sketch);
    CHECK(http_post(port, "/sdc/v1/doodle", body, &out2) == 200);
    json_t *a = out ? json_loads(out, 0, NULL) : NULL, *b = out2 ? json_loads(out2, 0, NULL) : NULL;
    const char *ia = json_string_value(json_object_get(a, "image")), *ib = json_string_value(json_object_get(b, "image"));
    CHECK_MSG(ia && ib && strcmp(ia, ib) != 0, "the doodle ignored its ControlNet");
    json_decref(a), json_decref(b);
    free(out), free(out2), free(body), free(sketch);
    json_decref(plain), json_decref(cn);
    sdc_server_stop(s);
}
