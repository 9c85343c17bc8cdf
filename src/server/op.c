#include "op.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "miscomm/error.h"
#include "wire.h"
#include <zstd.h>

static void op_free(struct op *op)
{
    if (op->vt->release)
        op->vt->release(op);
    free(op);
}

static void op_jobs_idle(struct job_owner *owner)
{
    struct op *op = (struct op *)((char *)owner - offsetof(struct op, jobs));
    if (!op->finished)
        return;
    struct conn *c = op->c;
    op_free(op);
    /* The connection may have been waiting for this op to be freed. */
    if (--c->ops_ending == 0 && c->jobs.idle)
        c->jobs.idle(&c->jobs);
}

struct op *op_new(struct conn *c, uint32_t id, const char *name, uint32_t request_bytes,
                  const struct op_vtable *vt, size_t size)
{
    struct op *op = calloc(1, size);
    if (!op)
        return NULL;
    op->vt = vt;
    op->c = c;
    op->id = id;
    op->name = name;
    op->request_bytes = request_bytes;
    op->start_ns = uv_hrtime();
    op->send_credit = MC_STREAM_WINDOW;
    op->recv_credit = MC_STREAM_WINDOW;
    op->jobs.idle = op_jobs_idle;
    op->next = c->ops;
    c->ops = op;
    c->nops++;
    return op;
}

struct op *op_find(const struct conn *c, uint32_t id)
{
    for (struct op *op = c->ops; op; op = op->next)
        if (op->id == id)
            return op;
    return NULL;
}

static void op_unlink(struct op *op)
{
    struct conn *c = op->c;
    for (struct op **p = &c->ops; *p; p = &(*p)->next) {
        if (*p == op) {
            *p = op->next;
            c->nops--;
            break;
        }
    }
    op->next = NULL;
}

/* Unlink, log, and free now or once the op's jobs are done. */
static void op_end(struct op *op, int result)
{
    struct conn *c = op->c;
    op_unlink(op);
    op->finished = 1;
    op->jobs.closing = 1; /* a job still running gets MC_ERR_CLOSED */
    conn_log(result == 0 ? LOG_LVL_INFO : LOG_LVL_WARN, c,
             "event=request op=%s id=%u result=%s bytes=%u bytes_in=%llu bytes_out=%llu ms=%s",
             op->name, op->id, mc_err_name(result), op->request_bytes,
             (unsigned long long)op->bytes_in, (unsigned long long)op->bytes_out,
             conn_elapsed_ms(op->start_ns).text);
    if (op->jobs.pending == 0)
        op_free(op);
    else
        c->ops_ending++;
}

void op_finish(struct op *op)
{
    if (op->finished)
        return; /* answered already (a job's done() after a cancel) */
    struct conn *c = op->c;
    op_end(op, 0);
    conn_request_done(c);
}

void op_fail(struct op *op, int code, const char *fmt, ...)
{
    if (op->finished)
        return;
    char msg[MC_MAX_ERROR_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct conn *c = op->c;
    uint32_t id = op->id;
    if (op->vt->cancel)
        op->vt->cancel(op, code);
    /* Unlinked (and maybe freed) before sending: a send that fails closes
     * the connection, which must not find the op again. */
    op_end(op, code);
    (void)conn_send_error(c, id, code, "%s", msg);
    conn_request_done(c);
}

/* n DATA bytes (uncompressed) went out for op: rc of the send, accounted when 0. */
static int op_sent(struct op *op, int rc, size_t n, int end)
{
    if (rc < 0)
        return rc;
    op->send_credit -= n;
    op->bytes_out += n;
    if (end)
        op->out_ended = 1;
    return 0;
}

int op_send_data(struct op *op, const uint8_t *p, size_t n, int end)
{
    if (n > op->send_credit || n > MC_MAX_PAYLOAD)
        return MC_ERR_FLOW_CONTROL;
    return op_sent(op, conn_send_flags(op->c, MC_MSG_DATA, end ? MC_FLAG_END : 0, op->id, p, n), n,
                   end);
}

int op_send_prepared(struct op *op, uint8_t *frame, size_t n, int end)
{
    if (n > op->send_credit || n > MC_MAX_PAYLOAD)
        return MC_ERR_FLOW_CONTROL;
    return op_sent(op,
                   conn_send_prepared(op->c, MC_MSG_DATA, end ? MC_FLAG_END : 0, op->id, frame, n),
                   n, end);
}

int op_send_packed(struct op *op, uint8_t *frame, uint8_t *scratch, size_t n, int end)
{
    struct conn *c = op->c;
    static ZSTD_CCtx *cctx;
    if (n > op->send_credit || n > MC_MAX_PAYLOAD)
        return MC_ERR_FLOW_CONTROL;
    /* Worth it only when it shrinks (not for JPEG photos, already compressed). */
    if (c->compress && n >= 512 && (cctx || (cctx = ZSTD_createCCtx()))) {
        size_t z = ZSTD_compressCCtx(cctx, scratch + MC_FRAME_HEADER_SIZE, ZSTD_compressBound(n),
                                     frame + MC_FRAME_HEADER_SIZE, n, c->compress);
        if (!ZSTD_isError(z) && z + z / 16 < n) {
            return op_sent(op,
                           conn_send_prepared(c, MC_MSG_DATA,
                                              MC_FLAG_COMPRESSED | (end ? MC_FLAG_END : 0), op->id,
                                              scratch, z),
                           n, end);
        }
    }
    return op_send_prepared(op, frame, n, end);
}

int op_consumed(struct op *op, size_t n)
{
    op->ungranted += n;
    if (op->in_ended || op->ungranted < MC_STREAM_WINDOW / 4)
        return 0;
    uint32_t g = (uint32_t)op->ungranted;
    op->ungranted = 0;
    return op_grant(op, g);
}

int op_grant(struct op *op, uint32_t n)
{
    uint8_t payload[4];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u32(&w, n);
    int rc = conn_send(op->c, MC_MSG_CREDIT, op->id, payload, w.len);
    if (rc == 0)
        op->recv_credit += n;
    return rc;
}

/*
 * A compressed DATA frame, back to its bytes (loop thread; one frame is at
 * most 1 MiB uncompressed). NULL, or why it cannot be.
 */
static const char *op_inflate(const struct conn *c, const struct frame *f, struct frame *out)
{
    static uint8_t *plain;
    static ZSTD_DCtx *dctx;
    if (!c->compress)
        return "compression was not agreed at HELLO";
    unsigned long long n = ZSTD_getFrameContentSize(f->payload, f->length);
    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR || n > MC_MAX_PAYLOAD)
        return "not one zstd frame with its size, of at most 1 MiB";
    if (!plain && !(plain = malloc(MC_MAX_PAYLOAD)))
        return "out of memory";
    if (!dctx && !(dctx = ZSTD_createDCtx()))
        return "out of memory";
    size_t got = ZSTD_decompressDCtx(dctx, plain, MC_MAX_PAYLOAD, f->payload, f->length);
    if (ZSTD_isError(got) || got != n)
        return "it does not decompress";
    out->payload = plain;
    out->length = (uint32_t)got;
    return NULL;
}

void op_route_frame(struct conn *c, const struct frame *f)
{
    struct op *op = op_find(c, f->request_id);
    if (!op) {
        /* The op ended (its final answer may be crossing this frame on the
         * wire): stream frames for it are dropped without an answer. */
        conn_log(LOG_LVL_DEBUG, c, "event=stream_frame_dropped type=%s id=%u bytes=%u",
                 frame_type_name(f->type), f->request_id, f->length);
        return;
    }
    switch (f->type) {
    case MC_MSG_DATA: {
        int end = (f->flags & MC_FLAG_END) != 0;
        struct frame plain = *f;
        if (f->flags & MC_FLAG_COMPRESSED) {
            const char *why = op_inflate(c, f, &plain);
            if (why) {
                op_fail(op, MC_ERR_BAD_PAYLOAD, "request %u: compressed DATA refused: %s", op->id,
                        why);
                return;
            }
        }
        f = &plain; /* credit counts what the DATA stands for: its bytes uncompressed */
        if (f->length > op->recv_credit) {
            op_fail(op, MC_ERR_FLOW_CONTROL,
                    "DATA of %u bytes exceeds the %llu bytes of credit granted to request %u",
                    f->length, (unsigned long long)op->recv_credit, op->id);
            return;
        }
        if (op->in_ended) {
            op_fail(op, MC_ERR_FLOW_CONTROL, "DATA after the END of request %u's stream", op->id);
            return;
        }
        if (!op->vt->data) {
            op_fail(op, MC_ERR_UNEXPECTED, "request %u (%s) takes no DATA", op->id, op->name);
            return;
        }
        op->recv_credit -= f->length;
        op->bytes_in += f->length;
        op->in_ended = end;
        op->vt->data(op, f->payload, f->length, end);
        return;
    }
    case MC_MSG_CREDIT: {
        struct wire_reader r;
        wire_reader_init(&r, f->payload, f->length);
        uint32_t n = wire_get_u32(&r);
        if (wire_reader_done(&r) < 0 || n == 0) {
            op_fail(op, MC_ERR_BAD_PAYLOAD, "CREDIT carries one u32 greater than 0");
            return;
        }
        if (op->send_credit + n > MC_MAX_CREDIT) {
            op_fail(op, MC_ERR_FLOW_CONTROL, "credit for request %u would exceed %u bytes", op->id,
                    MC_MAX_CREDIT);
            return;
        }
        op->send_credit += n;
        if (op->vt->writable && !op->out_ended)
            op_want_write(op);
        return;
    }
    case MC_MSG_CANCEL:
        if (op->no_cancel) {
            conn_log(LOG_LVL_INFO, c,
                     "event=cancel op=%s id=%u by=client result=ignored reason=\"already "
                     "committing; its answer follows\"",
                     op->name, op->id);
            return;
        }
        conn_log(LOG_LVL_INFO, c, "event=cancel op=%s id=%u by=client", op->name, op->id);
        op_fail(op, MC_ERR_CANCELLED, "request %u cancelled by the client", op->id);
        return;
    default:
        return;
    }
}

void op_want_write(struct op *op)
{
    op->wants_write = 1;
    op_wake_writers(op->c);
}

/*
 * Round robin: each pass gives every waiting op one turn (one frame), and
 * the passes go on while the connection has room and someone could send.
 * A pass starts after the op served last, so no stream starves another
 * when the room runs out in the middle of a pass.
 */
void op_wake_writers(struct conn *c)
{
    if (c->waking)
        return; /* the loop on the stack sees the new request */
    c->waking = 1;
    for (int pass = 0; pass < 4096 && c->state == CONN_ST_READY; pass++) {
        uint32_t ids[MC_MAX_STREAMS];
        unsigned n = 0, start = 0;
        for (struct op *op = c->ops; op && n < MC_MAX_STREAMS; op = op->next) {
            if (!op->wants_write)
                continue;
            if (op->id == c->last_writer)
                start = n + 1;
            ids[n++] = op->id;
        }
        if (n == 0)
            break;
        /* Progress is the frames sent, not what the queue costs: a frame
         * that fits in the open batch leaves out_queued as it was. */
        uint64_t before = c->out_total;
        for (unsigned i = 0; i < n && c->state == CONN_ST_READY; i++) {
            if (conn_out_room(c) == 0)
                goto out; /* woken again below the low-water mark */
            struct op *op = op_find(c, ids[(start + i) % n]);
            if (!op || !op->wants_write)
                continue;
            op->wants_write = 0;
            c->last_writer = op->id;
            op->vt->writable(op); /* sends at most one frame; asks again if it has more */
        }
        if (c->out_total == before)
            break; /* everyone waits for credit */
    }
out:
    c->waking = 0;
}

void op_peer_closed(struct conn *c)
{
    struct op *op = c->ops;
    while (op) {
        struct op *next = op->next;
        if (!op->in_ended) {
            /* Its data would have to come from the client: it cannot finish. */
            if (op->vt->cancel)
                op->vt->cancel(op, MC_ERR_CLOSED);
            op_end(op, MC_ERR_CLOSED);
        }
        op = next;
    }
}

void op_close_all(struct conn *c)
{
    while (c->ops) {
        struct op *op = c->ops;
        if (op->vt->cancel)
            op->vt->cancel(op, MC_ERR_CLOSED);
        op_end(op, MC_ERR_CLOSED);
    }
}

const struct cfg_connection *op_conn_config(const struct conn *c)
{
    return c->lst->cfg;
}

const char *op_conn_device(const struct conn *c)
{
    return c->device_id;
}

uv_loop_t *op_conn_loop(const struct conn *c)
{
    return c->srv->loop;
}

int op_conn_send(struct conn *c, uint8_t type, uint32_t id, const void *payload, size_t len)
{
    return conn_send(c, type, id, payload, len);
}

void op_conn_cork(struct conn *c)
{
    conn_cork(c);
}

void op_conn_uncork(struct conn *c)
{
    conn_uncork(c);
}

void op_conn_log(const struct conn *c, int level, const char *fmt, ...)
{
    if (level > (int)log_level_get())
        return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_write((enum log_level)level, "conn=%llu peer=%s %s", (unsigned long long)c->id, c->peer,
              msg);
}

int op_submit(struct op *op, struct job_pool *pool, struct job *j)
{
    return job_submit(op->c->srv->loop, pool, j, &op->jobs);
}

int op_conn_send_error(struct conn *c, uint32_t id, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = conn_send_errorv(c, id, code, fmt, ap);
    va_end(ap);
    return rc;
}

void op_conn_request_done(struct conn *c)
{
    conn_request_done(c);
}

int op_conn_submit(struct conn *c, struct job *j)
{
    return job_submit(c->srv->loop, NULL, j, &c->jobs);
}

void op_conn_notice(struct conn *c, uint16_t kind, const char *text)
{
    conn_notice(c, kind, text, NULL, 0);
}

void op_conn_close(struct conn *c, int code, const char *msg)
{
    conn_fail(c, 0, code, msg);
}

int op_send_buffered(struct op *op, struct buf *out, size_t frame, int last,
                     uint64_t *stalled_since_ms)
{
    size_t left = buf_len(out);
    size_t n = left < frame ? left : frame;
    if (n > op->send_credit)
        n = (size_t)op->send_credit;
    if (n == 0) {
        if (!*stalled_since_ms)
            *stalled_since_ms = uv_hrtime() / 1000000u; /* CREDIT gives the next turn */
        return 0;
    }
    *stalled_since_ms = 0;
    int rc = op_send_data(op, buf_head(out), n, last && n == left);
    if (rc < 0)
        return rc;
    buf_consume(out, n);
    op_want_write(op);
    return 1;
}

size_t op_pack_bound(size_t n)
{
    return ZSTD_compressBound(n);
}
