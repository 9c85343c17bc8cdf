/*
 * One client connection: an explicit state machine driven only from the
 * loop thread.
 *
 *   HANDSHAKE --tls done--> HELLO --HELLO sent--> AUTH --ok--> READY
 *       |                    ^  |                  |            |
 *       |                    +--|----bad password--+            |
 *       +--------------------+--+-------------------------------+--> CLOSING
 *
 * Every teardown goes through conn_close(conn, reason), which logs the
 * reason once. The connection is freed only when its three libuv handles
 * have closed and no worker-pool request still refers to it.
 */
#ifndef MC_CONN_H
#define MC_CONN_H

#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "frame.h"
#include "log.h"
#include "miscomm/proto.h"
#include "server.h"

enum conn_state {
    CONN_ST_HANDSHAKE = 0,
    CONN_ST_HELLO,
    CONN_ST_AUTH,
    CONN_ST_READY,
    CONN_ST_CLOSING,
};

typedef struct WOLFSSL WOLFSSL;
struct transport_ops;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;       /* handshake, hello and idle timeouts */
    uv_timer_t delay_timer; /* the growing delay after a failed login */
    uv_shutdown_t shutdown_req;
    struct server *srv;
    const struct listener *lst;
    struct conn *prev, *next;

    uint64_t id;
    char peer[64];      /* "ip:port" or "[ip]:port" */
    char peer_ip[48];   /* address only */
    char limit_key[56]; /* what per-address limits count: the IPv4 address or the IPv6 /64 */
    enum conn_state state;
    int refuse_code; /* nonzero: answer this error after the handshake, then close */
    int counted;     /* counted in srv->nconns */
    uint64_t started_ms;
    uint64_t closing_since_ms;

    const struct transport_ops *ops;
    WOLFSSL *ssl;
    struct buf net_in; /* ciphertext from the socket, not yet given to wolfSSL */
    struct buf in;     /* plaintext frames not yet parsed */
    size_t out_queued; /* bytes handed to uv_write and not yet written */
    int reading;
    int transport_up;  /* TLS handshake done (or plain connection accepted) */
    int output_paused; /* parsing paused: the client left too many answers unread */

    int busy;         /* a request is being handled; parse nothing more */
    int pending_work; /* worker-pool requests that still point here */
    int handles_open;
    unsigned failures; /* failed logins */
    uint32_t perms;
    uint32_t pending_error_id;
    int pending_error_code;
    char device_id[MC_MAX_DEVICE_ID + 1];
    char client[MC_MAX_CLIENT_NAME + MC_MAX_CLIENT_VERSION + 2];
    uint64_t requests;
};

/* Logging with the connection's identity first. */
#define conn_log(lvl, c, fmt, ...)                                                                 \
    do {                                                                                           \
        if ((lvl) <= log_current_level)                                                            \
            log_write((lvl), "conn=%llu peer=%s " fmt, (unsigned long long)(c)->id, (c)->peer,     \
                      ##__VA_ARGS__);                                                              \
    } while (0)

/* Accept a pending connection on lst; refuse_code is 0 or an MC_ERR_* to answer. */
void conn_accept(struct listener *lst, int refuse_code);
void conn_close(struct conn *c, const char *reason);
void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);
/* Send the error, then close once it is written. */
void conn_fail(struct conn *c, uint32_t request_id, int code, const char *reason);
void conn_set_state(struct conn *c, enum conn_state st);

/* Frame output; these never block. They return 0 or a negative MC_ERR_*. */
__attribute__((warn_unused_result)) int conn_send(struct conn *c, uint8_t type, uint32_t id,
                                                  const void *payload, size_t len);
int conn_send_error(struct conn *c, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write bytes to the socket (used by transports). */
__attribute__((warn_unused_result)) int conn_write_raw(struct conn *c, const uint8_t *p, size_t n);

/* Called by transports when the TLS handshake (or plain accept) completes. */
void conn_transport_ready(struct conn *c);
/* Resume parsing frames after an asynchronous request finishes. */
void conn_request_done(struct conn *c);
/* Called when a worker request that held the connection returns. */
void conn_work_done(struct conn *c);
/* Milliseconds since an arbitrary origin (the loop's clock). */
uint64_t conn_now_ms(const struct conn *c);
/* Milliseconds since the connection was accepted, precise to the microsecond. */
double conn_elapsed_ms(uint64_t start_ns);

#endif
