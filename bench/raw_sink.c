/*
 * raw_sink: the plain TCP backend that HAProxy fronts in bench/streams.sh.
 * It plays the part miscommd's ECHO plays on the other side of the
 * benchmark, over the same bytes:
 *
 *   the client sends u8 mode and u64 count (big-endian), then
 *   mode 1 (source)  the server sends `count` bytes, byte k = k mod 251, and closes
 *   mode 2 (sink)    the server reads `count` bytes and answers u64 received
 *
 * One connection at a time, blocking I/O, 127.0.0.1 only. A bench helper
 * built by the script, not part of the product.
 *
 *   raw_sink PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK   (256u * 1024u)
#define PATTERN 251u

static int read_all(int fd, uint8_t *p, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t got = recv(fd, p + off, n - off, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        off += (size_t)got;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t put = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        off += (size_t)put;
    }
    return 0;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* One client: its request, then the bytes. Errors only end this client. */
static void serve(int fd, const uint8_t *pattern, uint8_t *buf)
{
    uint8_t hdr[9];
    if (read_all(fd, hdr, sizeof hdr) < 0)
        return;
    uint64_t count = get_u64(hdr + 1);
    if (hdr[0] == 1) {
        for (uint64_t sent = 0; sent < count;) {
            size_t n = count - sent < CHUNK ? (size_t)(count - sent) : CHUNK;
            if (write_all(fd, pattern + sent % PATTERN, n) < 0)
                return;
            sent += n;
        }
        shutdown(fd, SHUT_WR);
    } else if (hdr[0] == 2) {
        uint64_t got = 0;
        while (got < count) {
            size_t want = count - got < CHUNK ? (size_t)(count - got) : CHUNK;
            ssize_t n = recv(fd, buf, want, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return;
            got += (uint64_t)n;
        }
        uint8_t ack[8];
        put_u64(ack, got);
        (void)write_all(fd, ack, sizeof ack);
    } else {
        fprintf(stderr, "raw_sink: unknown mode %u\n", hdr[0]);
        return;
    }
    /* Wait for the client's close so that the last bytes are not reset away. */
    while (recv(fd, buf, CHUNK, 0) > 0) {
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: raw_sink PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static uint8_t pattern[CHUNK + PATTERN];
    static uint8_t buf[CHUNK];
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i % PATTERN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 16) < 0) {
        perror("raw_sink: listen");
        return 1;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("raw_sink: accept");
            return 1;
        }
        serve(fd, pattern, buf);
        close(fd);
    }
}
