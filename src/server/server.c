/* The HTTP server (see server.h): civetweb set-up, request dispatch,
 * authentication, bounded bodies, responses, static files, start / stop.
 * The APIs live in api_a1111.c, api_comfy.c and api_sdc.c; the job queue
 * in jobs.c; WebSockets in ws.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <webp/decode.h>

#include "base/util.h"
#include "image/image_io.h"
#include "image/png_io.h"
#include "server/http_util.h"
#include "server/srv_internal.h"
#include "workflow/files.h"

void sdc_server_opts_default(sdc_server_opts *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 7860;
    o->mat_dtype = SDC_DTYPE_COUNT; /* SDC_WLOAD_KEEP */
    o->previews = 1;
}

/* ---- small helpers ------------------------------------------------------------------- */

long long srv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void srv_uuid(char out[37]) {
    uint8_t b[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) { /* fall back on the clock: ids stay unique enough */
        long long t = srv_now_ms() ^ (long long)(uintptr_t)out;
        for (int i = 0; i < 16; i++) b[i] = (uint8_t)(t >> (i % 8 * 8)) ^ (uint8_t)(i * 37);
    }
    if (fd >= 0) close(fd);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
             b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- responses ------------------------------------------------------------------------ */

static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

void srv_bytes(srv_req *r, int status, const char *ctype, const void *data, size_t len, const char *extra_headers) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-cache\r\n"
                     "X-Content-Type-Options: nosniff\r\n%s\r\n",
                     status, status_text(status), ctype, len, extra_headers ? extra_headers : "");
    if (n < 0 || n >= (int)sizeof head) n = 0;
    if (strcmp(r->method, "HEAD") == 0) len = 0;
    /* one write for small answers: headers and body in separate segments cost a delayed-ACK round trip */
    char *one = len <= 65536 ? malloc((size_t)n + len) : NULL;
    if (one) {
        memcpy(one, head, (size_t)n);
        if (len) memcpy(one + n, data, len);
        mg_write(r->conn, one, (size_t)n + len);
        free(one);
        return;
    }
    mg_write(r->conn, head, (size_t)n);
    if (len) mg_write(r->conn, data, len);
}

void srv_json(srv_req *r, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *t = text ? text : "null";
    srv_bytes(r, status, "application/json", t, strlen(t), NULL);
    free(text);
    json_decref(body);
}

static void vjson_msg(srv_req *r, int status, const char *key, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    srv_json(r, status, json_pack("{s:s}", key, msg));
}

void srv_error(srv_req *r, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vjson_msg(r, status, "error", fmt, ap);
    va_end(ap);
}

void srv_detail(srv_req *r, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vjson_msg(r, status, "detail", fmt, ap);
    va_end(ap);
}

json_t *srv_body_json(srv_req *r, int a1111) {
    sdc_error err;
    sdc_error_clear(&err);
    json_t *v = NULL;
    if (!r->body || sdc_json_parse_bounded(r->body, r->body_len, 0, &v, &err) != SDC_OK) {
        const char *msg = r->body ? sdc_error_msg(&err) : "a JSON body is required";
        if (a1111)
            srv_json(r, 422, json_pack("{s:[{s:[s], s:s, s:s}]}", "detail", "loc", "body", "msg", msg, "type", "value_error.jsondecode"));
        else
            srv_error(r, 400, "%s", msg);
        return NULL;
    }
    return v;
}

int srv_query(const srv_req *r, const char *name, char *out, size_t size) { return sdc_query_get(r->query, name, out, size); }

static const char *mime_of(const char *path) {
    static const char *const t[][2] = {{".html", "text/html; charset=utf-8"}, {".js", "application/javascript; charset=utf-8"},
                                       {".mjs", "application/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
                                       {".json", "application/json"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
                                       {".jpeg", "image/jpeg"}, {".webp", "image/webp"}, {".svg", "image/svg+xml"},
                                       {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"}, {".wasm", "application/wasm"},
                                       {".woff2", "font/woff2"}, {".map", "application/json"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < SDC_ARRAY_LEN(t); i++)
        if (strcasecmp(dot, t[i][0]) == 0) return t[i][1];
    return "application/octet-stream";
}

void srv_file(srv_req *r, const char *path, const char *download_name) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f) fclose(f);
        srv_error(r, 404, "not found");
        return;
    }
    char headers[600] = "";
    if (download_name) snprintf(headers, sizeof headers, "Content-Disposition: filename=\"%.400s\"\r\n", download_name);
    mg_printf(r->conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\nCache-Control: no-cache\r\n%s\r\n",
              mime_of(path), (long long)st.st_size, headers);
    char buf[8192]; /* civetweb threads have small stacks (64 KiB here overflowed under ASan) */
    size_t n;
    while (strcmp(r->method, "HEAD") != 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (mg_write(r->conn, buf, n) <= 0) break;
    fclose(f);
}

/* ---- images ------------------------------------------------------------------------------ */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* width x height from the file header (PNG IHDR, JPEG SOFn, WebP), so a
 * small file that would decode to gigabytes is refused before decoding;
 * 0 when not found (the decoder then decides) */
static long header_pixels(const uint8_t *b, size_t n) {
    if (n >= 24 && sdc_png_is_png(b, n)) return (long)be32(b + 16) * (long)be32(b + 20);
    int w = 0, h = 0;
    if (sdc_image_sniff(b, n) == SDC_IMAGE_FORMAT_WEBP) return WebPGetInfo(b, n, &w, &h) ? (long)w * h : 0;
    for (size_t i = 2; n > 9 && i + 9 < n;) { /* JPEG segments */
        if (b[i] != 0xff) return 0;
        int m = b[i + 1];
        size_t len = (size_t)b[i + 2] << 8 | b[i + 3];
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc)
            return (long)(b[i + 5] << 8 | b[i + 6]) * (long)(b[i + 7] << 8 | b[i + 8]);
        i += 2 + len;
    }
    return 0;
}

sdc_status srv_decode_image(sdc_server *s, const char *b64, int flatten, sdc_image *out, sdc_error *err) {
    memset(out, 0, sizeof *out);
    uint8_t *bytes = NULL;
    size_t n = 0;
    sdc_image raw = {0};
    sdc_status st = sdc_b64_decode(b64, strlen(b64), &bytes, &n, err);
    long limit = s->o.max_pixels * 4;
    if (!st && header_pixels(bytes, n) > limit) st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "image larger than the server allows (%ld pixels)", limit);
    if (!st) st = sdc_image_decode(bytes, n, &raw, NULL, err);
    free(bytes);
    if (!st && (long)raw.width * raw.height > limit)
        st = sdc_error_set(err, SDC_ERR_INVALID_ARG, "image of %dx%d is larger than the server allows", raw.width, raw.height);
    if (!st && flatten) {
        static const uint8_t white[3] = {255, 255, 255};
        st = sdc_image_flatten(&raw, white, out, err);
        sdc_image_free(&raw);
    } else if (!st) {
        *out = raw;
    } else {
        sdc_image_free(&raw);
    }
    return st;
}

char *srv_png_base64(const sdc_image *img, const char *key, const char *value) {
    sdc_image_meta meta = {0};
    sdc_error err;
    sdc_error_clear(&err);
    uint8_t *png = NULL;
    size_t n = 0;
    char *b64 = NULL;
    if ((!key || sdc_image_meta_add(&meta, key, value, &err) == SDC_OK) && sdc_png_encode(img, &meta, &png, &n, &err) == SDC_OK)
        sdc_b64_encode(png, n, &b64, NULL, &err);
    free(png);
    sdc_image_meta_free(&meta);
    return b64;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

/* constant-time comparison of the key a client sent */
static int key_ok(const char *want, const char *got) {
    if (!got) return 0;
    size_t a = strlen(want), b = strlen(got);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a; i++) diff |= (unsigned)(want[i] ^ got[i % (b ? b : 1)]);
    return diff == 0;
}

static int authorized(srv_req *r) {
    sdc_server *s = r->srv;
    if (!s->api_key[0]) return 1;
    const char *h = mg_get_header(r->conn, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && key_ok(s->api_key, h + 7)) return 1;
    if (key_ok(s->api_key, mg_get_header(r->conn, "X-API-Key"))) return 1;
    char q[256];
    return srv_query(r, "token", q, sizeof q) >= 0 && key_ok(s->api_key, q); /* <img src>, WebSocket */
}

static int is_api_path(const char *p) {
    static const char *const api[] = {"/sdapi/", "/sdc/", "/api/", "/prompt", "/history", "/view", "/upload/", "/object_info",
                                      "/queue", "/interrupt", "/system_stats", "/embeddings", "/extensions", "/free",
                                      "/models", "/controlnet/", "/internal/"};
    for (size_t i = 0; i < SDC_ARRAY_LEN(api); i++)
        if (strncmp(p, api[i], strlen(api[i])) == 0) return 1;
    return 0;
}

/* reads the body (bounded); 0 ok, else the status already answered */
static int read_body(srv_req *r) {
    const struct mg_request_info *ri = mg_get_request_info(r->conn);
    size_t max = r->srv->o.max_body;
    if (ri->content_length > (long long)max) {
        srv_error(r, 413, "request body larger than %zu bytes", max);
        return 413;
    }
    size_t cap = ri->content_length >= 0 ? (size_t)ri->content_length : 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            srv_error(r, 500, "out of memory");
            return 500;
        }
        if (len == cap) {
            if (cap >= max + 1 || ri->content_length >= 0) break;
            size_t ncap = SDC_MIN(cap * 2, max + 1);
            char *nb = realloc(buf, ncap + 1);
            if (!nb) free(buf);
            buf = nb, cap = ncap;
            continue;
        }
        int n = mg_read(r->conn, buf + len, cap - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        srv_error(r, 413, "request body larger than %zu bytes", max);
        return 413;
    }
    buf[len] = '\0';
    r->body = buf;
    r->body_len = len;
    return 0;
}

static int serve_static(srv_req *r) {
    sdc_server *s = r->srv;
    if (!s->web_dir[0] || (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))) return 0;
    const char *rel = r->path + 1;
    char path[4096], probe[4200];
    sdc_error err;
    sdc_error_clear(&err);
    if (!rel[0]) rel = "index.html";
    if (sdc_path_join_within(s->web_dir, rel, path, sizeof path, &err) != SDC_OK) {
        srv_error(r, 404, "not found");
        return 1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(probe, sizeof probe, "%s/index.html", path);
        srv_file(r, probe, NULL);
    } else {
        srv_file(r, path, NULL);
    }
    return 1;
}

static int handle(struct mg_connection *conn, void *cbdata) {
    sdc_server *s = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    srv_req r = {.conn = conn, .srv = s, .method = ri->request_method, .path = ri->local_uri ? ri->local_uri : "/",
                 .query = ri->query_string ? ri->query_string : "", .content_type = mg_get_header(conn, "Content-Type")};
    if (strcmp(r.method, "OPTIONS") == 0) {
        srv_bytes(&r, 204, "text/plain", "", 0, "Allow: GET, POST, HEAD, OPTIONS\r\n");
        return 204;
    }
    int api = is_api_path(r.path);
    if (api && !authorized(&r)) {
        srv_bytes(&r, 401, "application/json", "{\"detail\":\"Not authenticated\"}", 30, "WWW-Authenticate: Bearer\r\n");
        return 401;
    }
    if ((!strcmp(r.method, "POST") || !strcmp(r.method, "PUT")) && read_body(&r)) return 413;
    int done = srv_a1111_route(&r) || srv_comfy_route(&r) || srv_sdc_route(&r) || (!api && serve_static(&r));
    if (!done) srv_error(&r, 404, "not found: %s %.200s", r.method, r.path);
    free(r.body);
    return 200;
}

static int log_message(const struct mg_connection *conn, const char *msg) {
    const struct mg_context *ctx = mg_get_context(conn);
    sdc_server *s = ctx ? mg_get_user_data(ctx) : NULL;
    if (s) sdc_logf(s->o.log, SDC_LOG_DEBUG, "http: %s", msg);
    return 1; /* civetweb must not print */
}

/* ---- start / stop ------------------------------------------------------------------------- */

static sdc_status copy_str(char *dst, size_t size, const char *src, const char *what, sdc_error *err) {
    if (snprintf(dst, size, "%s", src ? src : "") >= (int)size) return sdc_error_set(err, SDC_ERR_INVALID_ARG, "%s is too long", what);
    return SDC_OK;
}

static sdc_status make_dirs(sdc_server *s, sdc_error *err) {
    sdc_status st = sdc_mkdirs(s->output_dir, err);
    if (!st) st = sdc_mkdirs(s->input_dir, err);
    if (!st) st = sdc_mkdirs(s->temp_dir, err);
    return st;
}

static sdc_status setup(sdc_server *s, const sdc_server_opts *o, sdc_error *err) {
    s->o = *o;
    if (!s->o.max_body) s->o.max_body = 64u << 20;
    if (!s->o.max_pixels) s->o.max_pixels = 4l << 20;
    if (!s->o.http_threads) s->o.http_threads = 64;
    sdc_status st = copy_str(s->host, sizeof s->host, o->host ? o->host : "127.0.0.1", "host", err);
    if (!st) st = copy_str(s->models_dir, sizeof s->models_dir, o->models_dir, "models folder", err);
    if (!st) st = copy_str(s->output_dir, sizeof s->output_dir, o->output_dir ? o->output_dir : "output", "output folder", err);
    if (!st) st = copy_str(s->input_dir, sizeof s->input_dir, o->input_dir ? o->input_dir : "input", "input folder", err);
    if (!st) st = copy_str(s->temp_dir, sizeof s->temp_dir, o->temp_dir ? o->temp_dir : "temp", "temp folder", err);
    if (!st) st = copy_str(s->web_dir, sizeof s->web_dir, o->web_dir, "web folder", err);
    if (!st) st = copy_str(s->api_key, sizeof s->api_key, o->api_key, "API key", err);
    if (!st) st = copy_str(s->vocab, sizeof s->vocab, o->vocab, "vocabulary path", err);
    if (!st) st = sdc_catalog_init(&s->cat, s->models_dir, o->lora_dir, err);
    if (!st) st = make_dirs(s, err);
    if (!st && s->web_dir[0] && access(s->web_dir, R_OK) != 0) st = sdc_error_set(err, SDC_ERR_IO, "web folder '%s' not found", s->web_dir);
    if (st) return st;
    s->pool = sdc_pool_create(o->threads);
    if (!s->pool) return sdc_error_set(err, SDC_ERR_OOM, "cannot start compute threads");
    snprintf(s->root_vocab, sizeof s->root_vocab, "%.1000s/bpe_simple_vocab_16e6.txt.gz", s->models_dir);
    sdc_model_cache_opts mo = {.max_checkpoints = o->max_models > 0 ? o->max_models : 1, .mat_dtype = o->mat_dtype,
                               .vocab = s->vocab[0] ? s->vocab : NULL,
                               .fallback_vocab = access(s->root_vocab, R_OK) == 0 ? s->root_vocab : NULL,
                               .log = o->log, .pool = s->pool, .pack = o->compute};
    st = sdc_model_cache_new(&mo, &s->cache, err);
    s->history = json_object();
    s->options = json_object();
    if (!st && (!s->history || !s->options)) st = sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    s->clip_skip = 1;
    return st;
}

static sdc_status start_http(sdc_server *s, sdc_error *err) {
    char ports[300], threads[16];
    snprintf(ports, sizeof ports, "%s:%d", s->host, s->o.port);
    snprintf(threads, sizeof threads, "%d", s->o.http_threads);
    const char *options[] = {"listening_ports", ports, "num_threads", threads, "request_timeout_ms", "30000",
                             "websocket_timeout_ms", "3600000", "enable_keep_alive", "yes", "keep_alive_timeout_ms", "5000",
                             "enable_directory_listing", "no", "tcp_nodelay", "1", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = log_message;
    struct mg_init_data init = {.callbacks = &cb, .user_data = s, .configuration_options = options};
    struct mg_error_data ed;
    char ebuf[256] = "";
    memset(&ed, 0, sizeof ed);
    ed.text = ebuf;
    ed.text_buffer_size = sizeof ebuf;
    s->mg = mg_start2(&init, &ed);
    if (!s->mg) return sdc_error_set(err, SDC_ERR_IO, "cannot listen on %s: %s", ports, ebuf[0] ? ebuf : "civetweb failed to start");
    srv_ws_setup(s);
    mg_set_request_handler(s->mg, "/", handle, s);
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(s->mg, 4, sp);
    s->port = n > 0 ? sp[0].port : s->o.port;
    return SDC_OK;
}

sdc_status sdc_server_start(const sdc_server_opts *o, sdc_server **out, sdc_error *err) {
    *out = NULL;
    sdc_server *s = calloc(1, sizeof *s);
    if (!s) return sdc_error_set(err, SDC_ERR_OOM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->ws_lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    mg_init_library(MG_FEATURES_WEBSOCKET);
    sdc_status st = setup(s, o, err);
    if (!st) {
        s->env = (sdc_wf_env){.cat = &s->cat, .cache = s->cache, .pool = s->pool, .compute = o->compute,
                              .input_dir = s->input_dir, .output_dir = s->output_dir, .temp_dir = s->temp_dir,
                              .log = o->log, .previews = o->previews};
        st = sdc_wf_exec_new(&s->env, &s->exec, err);
    }
    if (!st) st = srv_jobs_start(s, err);
    if (!st) st = start_http(s, err);
    if (st) {
        sdc_server_stop(s);
        return st;
    }
    *out = s;
    return SDC_OK;
}

int sdc_server_port(const sdc_server *s) { return s->port; }

void sdc_server_stop(sdc_server *s) {
    if (!s) return;
    srv_jobs_shutdown(s);      /* waiting requests get their answer */
    if (s->mg) mg_stop(s->mg); /* no more requests; WebSocket clients closed */
    srv_jobs_stop(s);
    srv_ws_shutdown(s);
    sdc_wf_exec_free(s->exec);
    srv_cond_memo_clear(&s->doodle_memo);
    sdc_model_cache_free(s->cache);
    sdc_pool_destroy(s->pool);
    json_decref(s->history);
    json_decref(s->options);
    free(s->prog.preview_png);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->ws_lock);
    pthread_cond_destroy(&s->wake);
    mg_exit_library();
    free(s);
}
