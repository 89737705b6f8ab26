/* ComfyUI's WebSocket (/ws?clientId=...): clients, their message queues,
 * and one sender thread per client.
 *
 * Producers (the worker, request threads) only append to a client's
 * queue and never touch the socket: a slow or vanished client can delay
 * nothing but its own sender thread. Queues are bounded (messages and
 * bytes); when full, new messages for that client are dropped. A failed
 * write marks the client dead and later messages are discarded. The close
 * handler unlinks the client and joins its sender before civetweb frees
 * the connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_util.h"
#include "server/srv_internal.h"

#define MAX_QUEUED 1024
#define MAX_QUEUED_BYTES (64u << 20)

typedef struct ws_msg {
    struct ws_msg *next;
    int opcode;
    size_t len;
    char data[];
} ws_msg;

struct srv_ws_client {
    struct mg_connection *conn;
    sdc_server *srv;
    char sid[128];
    pthread_t thread;
    pthread_mutex_t m;
    pthread_cond_t cv;
    ws_msg *head, *tail;
    size_t bytes;
    int count, closing, dead;
    srv_ws_client *next;
};

static void *sender_main(void *arg) {
    srv_ws_client *c = arg;
    pthread_mutex_lock(&c->m);
    for (;;) {
        while (!c->head && !c->closing) pthread_cond_wait(&c->cv, &c->m);
        if (c->closing) break;
        ws_msg *msg = c->head;
        c->head = msg->next;
        if (!c->head) c->tail = NULL;
        c->count--;
        c->bytes -= msg->len;
        int dead = c->dead;
        pthread_mutex_unlock(&c->m);
        if (!dead && mg_websocket_write(c->conn, msg->opcode, msg->data, msg->len) <= 0) dead = 1;
        free(msg);
        pthread_mutex_lock(&c->m);
        if (dead) c->dead = 1;
    }
    pthread_mutex_unlock(&c->m);
    return NULL;
}

/* appends a copy of data to one client's queue (drops it when the queue is full) */
static void enqueue(srv_ws_client *c, int opcode, const void *a, size_t alen, const void *b, size_t blen) {
    pthread_mutex_lock(&c->m);
    if (!c->dead && !c->closing && c->count < MAX_QUEUED && c->bytes + alen + blen <= MAX_QUEUED_BYTES) {
        ws_msg *msg = malloc(sizeof *msg + alen + blen);
        if (msg) {
            msg->next = NULL;
            msg->opcode = opcode;
            msg->len = alen + blen;
            memcpy(msg->data, a, alen);
            if (blen) memcpy(msg->data + alen, b, blen);
            if (c->tail) c->tail->next = msg;
            else c->head = msg;
            c->tail = msg;
            c->count++;
            c->bytes += msg->len;
            pthread_cond_signal(&c->cv);
        }
    }
    pthread_mutex_unlock(&c->m);
}

static void broadcast(sdc_server *s, const char *client_id, int opcode, const void *a, size_t alen, const void *b,
                      size_t blen) {
    pthread_mutex_lock(&s->ws_lock);
    for (srv_ws_client *c = s->ws_clients; c; c = c->next)
        if (!client_id || !strcmp(c->sid, client_id)) enqueue(c, opcode, a, alen, b, blen);
    pthread_mutex_unlock(&s->ws_lock);
}

void srv_ws_send(sdc_server *s, const char *client_id, const char *type, json_t *data) {
    json_t *msg = json_pack("{s:s, s:O}", "type", type, "data", data ? data : json_null());
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (text) broadcast(s, client_id, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text), NULL, 0);
    free(text);
    json_decref(msg);
}

void srv_ws_send_binary(sdc_server *s, const char *client_id, uint32_t event, const void *data, size_t len) {
    uint8_t head[4] = {(uint8_t)(event >> 24), (uint8_t)(event >> 16), (uint8_t)(event >> 8), (uint8_t)event};
    broadcast(s, client_id, MG_WEBSOCKET_OPCODE_BINARY, head, 4, data, len);
}

static int queue_remaining(sdc_server *s) {
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (srv_job *j = s->head; j; j = j->next) n += j->kind == SRV_JOB_COMFY;
    n += s->running && s->running->kind == SRV_JOB_COMFY;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void srv_ws_status(sdc_server *s) {
    json_t *d = json_pack("{s:{s:{s:i}}}", "status", "exec_info", "queue_remaining", queue_remaining(s));
    srv_ws_send(s, NULL, "status", d);
    json_decref(d);
}

/* ---- civetweb handlers ----------------------------------------------------------------------- */

static int sid_ok(const char *sid) {
    if (!sid[0] || strlen(sid) > 100) return 0;
    for (const char *p = sid; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) return 0;
    return 1;
}

static int ws_connect(const struct mg_connection *conn, void *cbdata) {
    sdc_server *s = cbdata;
    if (!s->api_key[0]) return 0;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char tok[256];
    const char *h = mg_get_header(conn, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, s->api_key)) return 0;
    h = mg_get_header(conn, "X-API-Key");
    if (h && !strcmp(h, s->api_key)) return 0;
    if (sdc_query_get(ri->query_string, "token", tok, sizeof tok) >= 0 && !strcmp(tok, s->api_key)) return 0;
    return 1; /* refused */
}

static void ws_ready(struct mg_connection *conn, void *cbdata) {
    sdc_server *s = cbdata;
    srv_ws_client *c = calloc(1, sizeof *c);
    if (!c) return;
    c->conn = conn;
    c->srv = s;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (sdc_query_get(ri->query_string, "clientId", c->sid, sizeof c->sid) < 0 || !sid_ok(c->sid)) {
        char id[37];
        srv_uuid(id);
        size_t k = 0; /* ComfyUI's uuid4().hex: no dashes */
        for (const char *p = id; *p; p++)
            if (*p != '-') c->sid[k++] = *p;
        c->sid[k] = '\0';
    }
    pthread_mutex_init(&c->m, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, sender_main, c) != 0) {
        pthread_mutex_destroy(&c->m);
        pthread_cond_destroy(&c->cv);
        free(c);
        return;
    }
    mg_set_user_connection_data(conn, c);
    pthread_mutex_lock(&s->ws_lock);
    c->next = s->ws_clients;
    s->ws_clients = c;
    pthread_mutex_unlock(&s->ws_lock);
    json_t *d = json_pack("{s:{s:{s:i}}, s:s}", "status", "exec_info", "queue_remaining", queue_remaining(s), "sid", c->sid);
    json_t *msg = json_pack("{s:s, s:o}", "type", "status", "data", d);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (text) enqueue(c, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text), NULL, 0);
    free(text);
    json_decref(msg);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata) {
    (void)conn, (void)data, (void)len, (void)cbdata;
    return (bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE; /* client messages are ignored, as ComfyUI does */
}

static void free_client(srv_ws_client *c) {
    pthread_mutex_lock(&c->m);
    c->closing = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->m);
    pthread_join(c->thread, NULL);
    while (c->head) {
        ws_msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    pthread_mutex_destroy(&c->m);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void ws_close(const struct mg_connection *conn, void *cbdata) {
    sdc_server *s = cbdata;
    srv_ws_client *c = mg_get_user_connection_data(conn);
    if (!c) return;
    pthread_mutex_lock(&s->ws_lock);
    for (srv_ws_client **pp = &s->ws_clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&s->ws_lock);
    free_client(c);
}

void srv_ws_setup(sdc_server *s) {
    mg_set_websocket_handler(s->mg, "/ws", ws_connect, ws_ready, ws_data, ws_close, s);
    mg_set_websocket_handler(s->mg, "/api/ws", ws_connect, ws_ready, ws_data, ws_close, s);
}

void srv_ws_shutdown(sdc_server *s) {
    pthread_mutex_lock(&s->ws_lock);
    srv_ws_client *c = s->ws_clients;
    s->ws_clients = NULL;
    pthread_mutex_unlock(&s->ws_lock);
    while (c) { /* only when civetweb did not call the close handlers */
        srv_ws_client *next = c->next;
        free_client(c);
        c = next;
    }
}
