/*
 * ECHO: the stream demonstration behind the `ping` permission (protocol 2).
 *
 *   mode ECHO    every DATA byte the client sends comes back as DATA
 *   mode SOURCE  the server sends `count` bytes: byte k is k mod 251
 *   mode SINK    the client sends; the server counts and discards, and
 *                stops the stream (ERROR CANCELLED) past `count` bytes
 *                when count > 0
 *
 * The final answer is ECHO_OK (u64 bytes received, u64 bytes sent). The
 * server holds at most its window of the client's bytes: credit is given
 * back only as bytes leave (ECHO) or are counted (SINK), and output is
 * paced by the client's credit and by the socket (conn_out_room).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "miscomm/error.h"
#include "op.h"
#include "wire.h"

/* DATA payload per frame: with its header, exactly four full TLS records. */
#define ECHO_CHUNK   (4u * 16384u - MC_FRAME_HEADER_SIZE)
#define ECHO_PATTERN 251u

struct echo_op {
    struct op op;
    uint8_t mode;
    uint64_t count;     /* SOURCE: bytes to send; SINK: most bytes accepted (0 = any) */
    struct buf pending; /* ECHO: received, not yet sent back */
    uint8_t *frame;     /* MC_FRAME_HEADER_SIZE + ECHO_CHUNK: the frame being built */
};

static const uint8_t *echo_pattern(void)
{
    /* ECHO_PATTERN + ECHO_CHUNK bytes, so any offset has a whole chunk after it. */
    static uint8_t pattern[ECHO_PATTERN + ECHO_CHUNK];
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < sizeof pattern; i++)
            pattern[i] = (uint8_t)(i % ECHO_PATTERN);
        ready = 1;
    }
    return pattern;
}

static void echo_answer(struct echo_op *e)
{
    uint8_t payload[16];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u64(&w, e->op.bytes_in);
    wire_put_u64(&w, e->op.bytes_out);
    if (conn_send(e->op.c, MC_MSG_ECHO_OK, e->op.id, payload, w.len) < 0)
        return; /* the connection is closing and cancels the op */
    op_finish(&e->op);
}

/* Bytes still to send, and whether they are the last. */
static size_t echo_left(const struct echo_op *e, int *last)
{
    const struct op *op = &e->op;
    size_t left = 0;
    *last = 0;
    if (e->mode == MC_ECHO_SOURCE) {
        uint64_t rest = e->count - op->bytes_out;
        left = rest < ECHO_CHUNK ? (size_t)rest : ECHO_CHUNK;
        *last = rest <= ECHO_CHUNK;
    } else if (e->mode == MC_ECHO_ECHO) {
        left = buf_len(&e->pending) < ECHO_CHUNK ? buf_len(&e->pending) : ECHO_CHUNK;
        *last = op->in_ended && left == buf_len(&e->pending);
    }
    return left;
}

/*
 * One turn: send at most one frame (the connection's streams take turns,
 * op_want_write), ask for another turn if more is ready, and answer once
 * everything is sent.
 */
static void echo_pump(struct echo_op *e)
{
    struct op *op = &e->op;
    struct conn *c = op->c;
    int last;
    size_t left = echo_left(e, &last);
    if (!op->out_ended && (left > 0 || last)) {
        size_t n = left < op->send_credit ? left : (size_t)op->send_credit;
        if (n == 0 && left > 0)
            return; /* no credit: the client's CREDIT gives the next turn */
        if (conn_out_room(c) == 0) {
            op->wants_write = 1; /* woken below the low-water mark */
            return;
        }
        if (n < left)
            last = 0;
        const uint8_t *src = e->mode == MC_ECHO_SOURCE
                                 ? echo_pattern() + op->bytes_out % ECHO_PATTERN
                                 : buf_head(&e->pending);
        memcpy(e->frame + MC_FRAME_HEADER_SIZE, src, n);
        int rc = conn_send_prepared(c, MC_MSG_DATA, last ? MC_FLAG_END : 0, op->id, e->frame, n);
        if (rc < 0)
            return; /* closing: the op is cancelled */
        op->send_credit -= n;
        op->bytes_out += n;
        if (last)
            op->out_ended = 1;
        if (e->mode == MC_ECHO_ECHO) {
            buf_consume(&e->pending, n);
            if (op_consumed(&e->op, n) < 0)
                return;
        }
        if (!op->out_ended) {
            if (echo_left(e, &last) > 0 || last)
                op_want_write(op);
            return;
        }
    }
    int done = e->mode == MC_ECHO_SINK ? op->in_ended : op->out_ended;
    if (done)
        echo_answer(e);
}

static void echo_data(struct op *op, const uint8_t *p, size_t n, int end)
{
    struct echo_op *e = (struct echo_op *)op;
    if (e->mode == MC_ECHO_SINK) {
        if (e->count && op->bytes_in > e->count) {
            conn_log(LOG_LVL_INFO, op->c, "event=cancel op=echo id=%u by=server limit=%llu", op->id,
                     (unsigned long long)e->count);
            op_fail(op, MC_ERR_CANCELLED,
                    "cancelled by the server: the sink takes at most %llu bytes",
                    (unsigned long long)e->count);
            return;
        }
        if (end)
            echo_answer(e);
        else
            (void)op_consumed(&e->op, n); /* a failure closes the connection */
        return;
    }
    /* ECHO: within the credit we granted, the bytes always fit. */
    if (buf_append(&e->pending, p, n) < 0) {
        op_fail(op, MC_ERR_INTERNAL, "echo: buffer full within the credit");
        return;
    }
    op_want_write(op);
}

static void echo_writable(struct op *op)
{
    echo_pump((struct echo_op *)op);
}

static void echo_release(struct op *op)
{
    struct echo_op *e = (struct echo_op *)op;
    buf_free(&e->pending);
    free(e->frame);
}

static const struct op_vtable echo_vt = {
    .data = echo_data,
    .writable = echo_writable,
    .cancel = NULL,
    .release = echo_release,
};

int op_echo(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    uint8_t mode = (uint8_t)(f->length ? f->payload[0] : 0);
    (void)wire_get_bytes(&r, 1);
    uint64_t count = wire_get_u64(&r);
    if (wire_reader_done(&r) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "ECHO carries u8 mode and u64 count (9 bytes)");
    if (mode > MC_ECHO_SINK)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "ECHO mode %u is unknown (0 echo, 1 source, 2 sink)", mode);
    if (mode == MC_ECHO_ECHO && count != 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "ECHO mode 0 (echo) takes count 0");
    struct echo_op *e =
        (struct echo_op *)op_new(c, f->request_id, "echo", f->length, &echo_vt, sizeof *e);
    if (!e)
        return op_error(c, f, MC_ERR_NOMEM, "echo: out of memory");
    e->mode = mode;
    e->count = count;
    buf_init(&e->pending, MC_STREAM_WINDOW);
    if (mode == MC_ECHO_SOURCE) {
        e->op.recv_credit = 0; /* the client sends nothing ... */
        e->op.in_ended = 1;    /* ... so its side is over: a half-close does not end this */
    }
    if (mode != MC_ECHO_SINK) {
        e->frame = malloc(MC_FRAME_HEADER_SIZE + ECHO_CHUNK);
        if (!e->frame) {
            op_fail(&e->op, MC_ERR_NOMEM, "echo: out of memory");
            return DISPATCH_ASYNC;
        }
    }
    conn_log(LOG_LVL_DEBUG, c, "event=stream_open op=echo id=%u mode=%u count=%llu", f->request_id,
             mode, (unsigned long long)count);
    if (mode == MC_ECHO_SOURCE)
        op_want_write(&e->op);
    return DISPATCH_ASYNC;
}
