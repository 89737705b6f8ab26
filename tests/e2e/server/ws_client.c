/* A minimal WebSocket client for the server's end-to-end tests (no
 * dependency beyond libc; compiled by the test script, not part of the
 * build).
 *
 *   ws_client PORT PATH [UNTIL [TIMEOUT_S]]
 *
 * Connects to 127.0.0.1:PORT, upgrades PATH (e.g. "/ws?clientId=abc"),
 * checks the handshake (status 101 and the RFC 6455 accept value), then
 * prints one line per message: text frames as they are, binary frames as
 * "BINARY len=N event=E format=F png=0|1". Exits 0 after printing a text
 * message containing UNTIL, 2 when the server closes first, 3 on timeout
 * (default 60 s), 1 on errors. Answers pings. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int handshake(int fd, const char *port, const char *path) {
    char req[2048], resp[4096];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path, port);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) return -1;
    size_t n = 0;
    while (n + 1 < sizeof resp) { /* byte by byte: frames may follow the headers */
        if (read(fd, resp + n, 1) != 1) return -1;
        n++;
        resp[n] = '\0';
        if (n >= 4 && !memcmp(resp + n - 4, "\r\n\r\n", 4)) break;
    }
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "ws_client: handshake refused: %.80s\n", resp);
        return -1;
    }
    if (!strstr(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) { /* the RFC's accept value for this key */
        fprintf(stderr, "ws_client: wrong Sec-WebSocket-Accept\n");
        return -1;
    }
    return 0;
}

static void send_frame(int fd, int opcode, const unsigned char *data, size_t n) {
    unsigned char head[8] = {(unsigned char)(0x80 | opcode), (unsigned char)(0x80 | n), 0, 0, 0, 0};
    if (n > 125) return;
    if (write(fd, head, 6) != 6) return; /* zero mask */
    if (n && write(fd, data, n) != (ssize_t)n) return;
}

static void on_alarm(int sig) {
    (void)sig;
    _exit(3);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: ws_client PORT PATH [UNTIL [TIMEOUT_S]]\n");
        return 1;
    }
    const char *until = argc > 3 ? argv[3] : NULL;
    alarm(argc > 4 ? (unsigned)atoi(argv[4]) : 60);
    signal(SIGALRM, on_alarm);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || handshake(fd, argv[1], argv[2])) return 1;
    for (;;) {
        unsigned char h[2], ext[8];
        if (read_full(fd, h, 2)) return 2;
        int opcode = h[0] & 0x0f;
        unsigned long long len = h[1] & 0x7f;
        if (len == 126) {
            if (read_full(fd, ext, 2)) return 2;
            len = ((unsigned long long)ext[0] << 8) | ext[1];
        } else if (len == 127) {
            if (read_full(fd, ext, 8)) return 2;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | ext[i];
        }
        if (h[1] & 0x80 || len > (64ull << 20)) return 1; /* servers never mask; bound the size */
        unsigned char *p = malloc(len + 1);
        if (!p || read_full(fd, p, len)) return 2;
        p[len] = '\0';
        if (opcode == 1) {
            printf("%s\n", (char *)p);
        } else if (opcode == 2) {
            unsigned ev = len >= 4 ? (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3] : 0;
            unsigned fmt = len >= 8 ? (unsigned)p[4] << 24 | (unsigned)p[5] << 16 | (unsigned)p[6] << 8 | p[7] : 0;
            int png = len >= 16 && !memcmp(p + 8, "\x89PNG\r\n\x1a\n", 8);
            printf("BINARY len=%llu event=%u format=%u png=%d\n", len, ev, fmt, png);
        } else if (opcode == 9) {
            send_frame(fd, 10, p, len);
        } else if (opcode == 8) {
            free(p);
            return 2;
        }
        fflush(stdout);
        int done = opcode == 1 && until && strstr((char *)p, until);
        free(p);
        if (done) {
            send_frame(fd, 8, NULL, 0);
            close(fd);
            return 0;
        }
    }
}
