/*
 * Operations: one object per request in progress on a connection.
 *
 * A request that is answered at once (PING, NOOP) never becomes an object.
 * A request that lasts (a stream, or work on a pool) gets a struct op with
 * its own state and callbacks; struct conn keeps only connection state and
 * a list of its ops. Frames for an op are routed by request id:
 *
 *   DATA   -> vt->data() after the credit check (more than the credit the
 *             server granted fails the op with FLOW_CONTROL)
 *   CREDIT -> more send credit, then vt->writable()
 *   CANCEL -> vt->cancel(op, MC_ERR_CANCELLED), ERROR CANCELLED, op freed
 *
 * and the connection calls vt->writable() again when its queued output
 * falls below the low-water mark (conn_out_room() says how much a
 * producer may queue now). Every op ends through exactly one
 * op_finish()/op_fail(), which sends nothing more itself but logs the
 * request; a connection that closes cancels its ops with MC_ERR_CLOSED.
 *
 * Credit counts DATA payload bytes, per op and per direction: send_credit
 * is what the client still lets us send, recv_credit what we still let it
 * send. Both start at MC_STREAM_WINDOW.
 */
#ifndef MC_OP_H
#define MC_OP_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "job.h"

struct buf;
struct conn;
struct op;
struct cfg_connection;
typedef struct uv_loop_s uv_loop_t;

struct op_vtable {
    /* n DATA bytes arrived (end: the client's last); the op fails itself (op_fail) if need be. */
    void (*data)(struct op *op, const uint8_t *p, size_t n, int end);
    /* Its turn to send (op_want_write): at most one frame, then ask again. */
    void (*writable)(struct op *op);
    /* The op ends without its own answer: MC_ERR_CANCELLED (client) or MC_ERR_CLOSED. */
    void (*cancel)(struct op *op, int reason);
    /* Free what the op holds (the op itself is freed by op.c). May be NULL. */
    void (*release)(struct op *op);
};

struct op {
    const struct op_vtable *vt;
    struct conn *c;
    struct op *next;
    const char *name; /* for logs: the op table's name */
    uint32_t id;
    uint32_t request_bytes;
    uint64_t start_ns;
    uint64_t bytes_in, bytes_out; /* DATA payload bytes received and sent */
    uint64_t send_credit;
    uint64_t recv_credit;
    uint64_t ungranted;    /* bytes the op consumed and has not given back as credit */
    int in_ended;          /* the client sent END */
    int out_ended;         /* we sent END */
    int wants_write;       /* waiting for credit or output room */
    int finished;          /* answered: waiting only for its jobs */
    int no_cancel;         /* past the point of no return: CANCEL is ignored */
    struct job_owner jobs; /* the op is freed once its jobs are done */
};

/*
 * A new op of `size` bytes (a struct that starts with struct op) for
 * request f on c, zeroed, linked to c. NULL when out of memory.
 */
struct op *op_new(struct conn *c, uint32_t id, const char *name, uint32_t request_bytes,
                  const struct op_vtable *vt, size_t size);
struct op *op_find(const struct conn *c, uint32_t id);

/* Queue a DATA frame within the send credit (0, or MC_ERR_FLOW_CONTROL / transport errors). */
__attribute__((warn_unused_result)) int op_send_data(struct op *op, const uint8_t *p, size_t n,
                                                     int end);
/* The same for a frame the op built: its payload at frame + MC_FRAME_HEADER_SIZE (no copy). */
__attribute__((warn_unused_result)) int op_send_prepared(struct op *op, uint8_t *frame, size_t n,
                                                         int end);
/*
 * The same, compressed (zstd, the connection's level) when compression was
 * agreed and it shrinks the bytes. scratch holds MC_FRAME_HEADER_SIZE +
 * op_pack_bound(n) bytes. Credit counts the n uncompressed bytes.
 */
__attribute__((warn_unused_result)) int op_send_packed(struct op *op, uint8_t *frame,
                                                       uint8_t *scratch, size_t n, int end);
size_t op_pack_bound(size_t n);
/*
 * The op consumed n of the client's bytes: give the credit back in batches
 * (one CREDIT per quarter window), none once the client sent its END.
 * 0, or the send's error (the connection is then closing).
 */
__attribute__((warn_unused_result)) int op_consumed(struct op *op, size_t n);
/*
 * Send the head of out as one DATA frame of at most frame bytes within the
 * send credit (END when it empties out and last is set), consume it and ask
 * for the next turn. With no credit nothing is sent and *stalled_since_ms
 * (uv_hrtime in ms) records since when rows wait for the client; it is 0
 * again once a frame goes. 1 sent, 0 waiting for credit, or the send's error.
 */
int op_send_buffered(struct op *op, struct buf *out, size_t frame, int last,
                     uint64_t *stalled_since_ms);
/* Let the client send n more bytes (a CREDIT frame). */
__attribute__((warn_unused_result)) int op_grant(struct op *op, uint32_t n);

/* The op sent its final answer: log the request and free the op (now or after its jobs). */
void op_finish(struct op *op);
/* The op failed: send ERROR code with the message, log, free. */
void op_fail(struct op *op, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Route a DATA, CREDIT or CANCEL frame (a v2 session in READY). */
void op_route_frame(struct conn *c, const struct frame *f);
/*
 * The op has something to send: it gets vt->writable() in its turn. Each
 * call of writable() sends at most one frame and calls op_want_write()
 * again if it has more, so the streams of a connection share its output.
 */
void op_want_write(struct op *op);
/* Offer output room to the ops waiting for it (round robin). */
void op_wake_writers(struct conn *c);
/* The client half-closed: end the ops that still wait for its DATA (logged result=CLOSED). */
void op_peer_closed(struct conn *c);
/* The connection is closing: cancel every op (they are freed when their jobs end). */
void op_close_all(struct conn *c);

/* A handler's result: a job or an op answers (and logs) later. */
#define DISPATCH_ASYNC 1

/* Answer request f with an ERROR frame; returns code, for the handler to return. */
int op_error(struct conn *c, const struct frame *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * What a capability (src/files, src/odbc, src/sync) may know of the
 * connection a request came on. Capabilities treat struct conn as opaque
 * and use only these, op_*() above and the job helper.
 */
const struct cfg_connection *op_conn_config(const struct conn *c);
/* The HELLO device id; for connections with file permissions a checked path segment. */
const char *op_conn_device(const struct conn *c);
uv_loop_t *op_conn_loop(const struct conn *c);
/* Send a frame for request id on c (an answer, or a frame of the op's stream). */
__attribute__((warn_unused_result)) int op_conn_send(struct conn *c, uint8_t type, uint32_t id,
                                                     const void *payload, size_t len);
/* Hold the frames sent on c until op_conn_uncork, to send them as one (conn_cork, conn.h). */
void op_conn_cork(struct conn *c);
void op_conn_uncork(struct conn *c);
/* Log a line with the connection's identity (conn=, peer=) at level (enum log_level). */
void op_conn_log(const struct conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
__attribute__((warn_unused_result)) int op_conn_send_error(struct conn *c, uint32_t id, int code,
                                                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A request answered from a job's done(): go on reading (or finish a drain). */
void op_conn_request_done(struct conn *c);
/* Run j on libuv's pool for a request that is not an op (its done() gets MC_ERR_CLOSED after
 * a close; the connection is not freed before done() has run). */
__attribute__((warn_unused_result)) int op_conn_submit(struct conn *c, struct job *j);
/* Send ERROR code (request id 0) with msg and close c. */
void op_conn_close(struct conn *c, int code, const char *msg);
/* An unsolicited NOTICE to c (protocol-2 sessions in READY only). */
void op_conn_notice(struct conn *c, uint16_t kind, const char *text);
/* Run j on pool (NULL: libuv's) for op: the op is not freed before done() has run. */
__attribute__((warn_unused_result)) int op_submit(struct op *op, struct job_pool *pool,
                                                  struct job *j);

#endif
