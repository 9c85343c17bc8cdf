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
 * reason once. The connection is freed only when its libuv handles have
 * closed and no job still refers to it (c->jobs). Requests that last are
 * struct op objects (op.h) on c->ops; login-only state lives in c->login
 * (auth.c) and is freed at READY.
 */
#ifndef MC_CONN_H
#define MC_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "frame.h"
#include "job.h"
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
struct login;
struct op;

/*
 * Every idle connection carries one of these (docs/admin.md, "Memory per
 * connection"): the small fields are grouped so that the struct has no
 * padding holes, and the address strings are sized to their longest form.
 */
struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake, HELLO and idle timeouts; failed-login delay; close linger */
    struct server *srv;
    const struct listener *lst;
    struct conn *prev, *next;

    uint64_t id;
    /* "ip:port" or "[ip]:port": an address of at most 47 characters (peer_name). */
    char peer[56];
    /* What per-address limits count: the IPv4 address (at most 22 characters
     * as an IPv4-mapped IPv6 address) or the IPv6 /64 ("a:b:c:d::/64", at most 24). */
    char limit_key[32];
    enum conn_state state;
    int refuse_code;  /* nonzero: answer this error after the handshake, then close */
    uint16_t proto;   /* negotiated protocol version; 0 before HELLO_OK */
    uint8_t compress; /* zstd level for DATA (0: none), agreed at HELLO */
    bool counted;     /* counted in srv->nconns */
    int handles_open;
    uint64_t started_ms;
    uint64_t closing_since_ms;

    const struct transport_ops *transport;
    WOLFSSL *ssl;
    struct buf net_in;  /* ciphertext from the socket, not yet given to wolfSSL */
    struct buf in;      /* plaintext frames not yet parsed */
    size_t out_queued;  /* bytes handed to uv_write and not yet written */
    uint64_t out_total; /* frame bytes ever sent (held by a cork or not): writers' progress */
    bool reading;
    bool transport_up;        /* TLS handshake done (or plain connection accepted) */
    bool hello_checked;       /* tls.c looked at the ClientHello's groups (tlshello.h) */
    bool output_paused;       /* parsing paused: the client left too many answers unread */
    unsigned pauses;          /* pauses since the last output_paused line */
    uint64_t pause_logged_ms; /* when that line was written */

    struct job_owner jobs; /* jobs that still point here */
    struct login *login;   /* HELLO and AUTH only */
    struct op *ops;        /* requests in progress (protocol 2 streams) */
    unsigned nops;
    unsigned ops_ending;                  /* ops answered whose jobs still run */
    struct write_req *batch;              /* output not yet handed to the socket */
    struct conn *flush_prev, *flush_next; /* on srv->flush_list while batch is set */
    uint32_t last_writer;                 /* the op that sent last: round robin starts after it */
    uint32_t perms;
    bool flush_queued;
    bool processing;   /* conn_process() is on the stack */
    bool waking;       /* op_wake_writers() is on the stack */
    bool bye_answered; /* BYE was answered: close once it is consumed */
    bool peer_closed;  /* the peer sent FIN or close_notify: answer what arrived, then close */
    /* A handshake step runs on the handshake threads: no reading, and net_in
     * and ssl are the step's until it is done (tls.c). */
    bool transport_busy;
    /* During the handshake: the last step began with a ChangeCipherSpec
     * record and nothing after it, so the next record is behind one (tls.c). */
    bool hs_after_ccs;
    /* During the handshake: bytes of the record wolfSSL is reading that it
     * has not taken yet (tls.c hands it whole records only). */
    uint16_t hs_rec_left;
    /* From the HELLO, escaped for logs (log_escape): "" before it. Both
     * point into one allocation sized to them (conn_set_identity). */
    const char *device_id;
    const char *client; /* "name/version" */
    uint64_t requests;
    uint64_t keepalives; /* of them PING, INFO, NOOP answered: logged at debug only */
};

/* Logging with the connection's identity first. */
#define conn_log(lvl, c, fmt, ...)                                                                 \
    do {                                                                                           \
        if ((lvl) <= log_level_get())                                                              \
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
/*
 * Send a frame whose payload the caller already wrote at
 * frame + MC_FRAME_HEADER_SIZE (no copy of the payload is made here).
 */
__attribute__((warn_unused_result)) int conn_send_prepared(struct conn *c, uint8_t type,
                                                           uint16_t flags, uint32_t id,
                                                           uint8_t *frame, size_t len);
/* The same with header flags (MC_FLAG_END on DATA). */
__attribute__((warn_unused_result)) int conn_send_flags(struct conn *c, uint8_t type,
                                                        uint16_t flags, uint32_t id,
                                                        const void *payload, size_t len);
int conn_send_error(struct conn *c, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int conn_send_errorv(struct conn *c, uint32_t id, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* An unsolicited NOTICE (request id 0) to a protocol-2 session; ignored for older ones. */
void conn_notice(struct conn *c, uint16_t kind, const char *text, const void *data, size_t len);
/*
 * Coalescing: the frames sent on c between conn_cork() and conn_uncork(),
 * within one callback of the loop thread, go to the transport in one
 * write (one TLS record) when they fit in 16 KiB, instead of a record
 * each. A small answer of several frames (QUERY_COLUMNS, DATA, QUERY_OK)
 * then costs one encryption here and one decryption at the client. The
 * order of frames is kept; a close sends what was held first. One
 * connection at a time: a second conn_cork() is ignored until uncorked.
 */
void conn_cork(struct conn *c);
void conn_uncork(struct conn *c);
/* Hand the open output batch to the socket now (server_flush does it for every connection). */
__attribute__((warn_unused_result)) int conn_flush(struct conn *c);
/* Write bytes to the socket (used by transports). */
__attribute__((warn_unused_result)) int conn_write_raw(struct conn *c, const uint8_t *p, size_t n);
/*
 * Output a stream producer may queue now (0: wait for op_wake_writers).
 * Streams stop at a high-water mark far below the point where the server
 * stops reading, so small answers (PONG) always get through.
 */
size_t conn_out_room(const struct conn *c);

/*
 * Remember the device id and "name/version" the HELLO gave (already escaped
 * for logs). They stay for the connection's life, in an allocation sized to
 * them: an idle connection does not carry the room their longest escaped
 * forms would need (900 bytes). MC_ERR_NOMEM leaves both "".
 */
__attribute__((warn_unused_result)) int conn_set_identity(struct conn *c, const char *device_id,
                                                          const char *client);
/*
 * A transport's work that ran off the loop (tls.c's handshake step) is
 * done: rc is what feed() would have returned. Goes on as after a read.
 */
void conn_transport_resume(struct conn *c, int rc);
/* Called by transports when the TLS handshake (or plain accept) completes. */
void conn_transport_ready(struct conn *c);
/* A request in progress (login, an op) ended: go on parsing, or finish a drain or a close. */
void conn_request_done(struct conn *c);
/* Milliseconds since an arbitrary origin (the loop's clock). */
uint64_t conn_now_ms(const struct conn *c);
/*
 * Milliseconds elapsed since start_ns (a uv_hrtime() value), as text to the
 * microsecond ("0.012"), for the ms= field of log lines: log it with
 * "ms=%s", conn_elapsed_ms(start).text (the array lives until the end of
 * the call it is passed to). Made by hand: %.3f of a double cost a request
 * line a fifth of its formatting.
 */
struct conn_ms {
    char text[24];
};
struct conn_ms conn_elapsed_ms(uint64_t start_ns);
/* Start (ms > 0) or stop the connection's timer with the callback for its state. */
void conn_arm_timer(struct conn *c, uint64_t ms);
/* Push the running timer ms later, but not past latest (loop time, ms): time
 * the gateway itself took (a handshake step waiting for and running on a
 * handshake thread) is not the client's, up to a bound a client cannot
 * stretch by cutting its messages into many steps. */
void conn_timer_extend(struct conn *c, uint64_t ms, uint64_t latest);

#endif
