#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dispatch.h"
#include "files.h"
#include "odbc.h"
#include "sync.h"
#include "miscomm/error.h"
#include "op.h"
#include "transport.h"
#include "wire.h"

/*
 * Queue limits. Before HELLO_OK a connection may hold only a few KiB: one
 * TLS record of ciphertext, a HELLO-sized frame of plaintext, a few small
 * answers. After it, room for the largest frame and a burst of answers.
 */
#define CONN_NET_IN_LIMIT  (4u * SERVER_READ_SIZE)
#define CONN_PRE_NET_LIMIT (20u * 1024u) /* a 16 KiB TLS record and its overhead */
/* Room for one whole read after the largest unfinished frame: reading never stalls on it. */
#define CONN_IN_LIMIT        (MC_FRAME_HEADER_SIZE + MC_MAX_PAYLOAD + SERVER_READ_SIZE)
#define CONN_PRE_IN_LIMIT    (2u * (MC_FRAME_HEADER_SIZE + MC_MAX_PRELOGIN_PAYLOAD))
#define CONN_OUT_LIMIT       (4u * 1024u * 1024u) /* stop parsing while more is queued ... */
#define CONN_OUT_RESUME      (CONN_OUT_LIMIT / 2) /* ... and start again below this */
#define CONN_PRE_OUT_LIMIT   (8u * 1024u)         /* the same before login */
#define CONN_OUT_HIGH        (1024u * 1024u)      /* streams stop producing here ... */
#define CONN_OUT_LOW         (256u * 1024u)       /* ... and are woken below this */
#define CONN_CLOSE_LINGER_MS 2000u                /* without progress in writing our last bytes */
#define CONN_CLOSE_MAX_MS    10000u               /* in all, however slowly the peer reads */
#define CONN_PAUSE_LOG_MS    60000u               /* one output_paused line a minute at most */

/*
 * Output is batched: conn_write_raw() appends to the connection's open
 * batch, and the batch goes to the socket as one write when it is full or
 * when the loop is about to wait (server.c, on_flush_prepare), so a
 * stream's TLS records leave in a few large writes instead of one
 * system call each. (A uv_prepare handle, not uv_check: writes queued by a
 * timer must not wait for the next I/O event.)
 *
 *   data                  len             cap
 *   |  bytes to write      |  free space   |
 */
struct write_req {
    uv_write_t req;
    struct conn *c;
    size_t len;
    size_t cap;
    uint8_t data[];
};

#define CONN_BATCH_PRE   (2u * 1024u)   /* before login: the queue holds 8 KiB */
#define CONN_BATCH_SMALL (16u * 1024u)  /* answers */
#define CONN_BATCH_LARGE (256u * 1024u) /* while a stream keeps the queue busy */

/* Frames held by conn_cork(): at most one TLS record's plaintext, for one connection. */
static struct {
    struct conn *c;
    size_t len;
    uint8_t data[16384];
} cork;

static int cork_flush(void);

static const char *const state_names[] = {"handshake", "hello", "auth", "ready", "closing"};

static void conn_process(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_clear_identity(struct conn *c);

uint64_t conn_now_ms(const struct conn *c)
{
    return uv_now(c->srv->loop);
}

struct conn_ms conn_elapsed_ms(uint64_t start_ns)
{
    struct conn_ms t;
    uint64_t us = (uv_hrtime() - start_ns + 500) / 1000; /* rounded as %.3f of the ms would */
    char digits[20];
    int n = 0;
    for (uint64_t ms = us / 1000; n == 0 || ms > 0; ms /= 10)
        digits[n++] = (char)('0' + ms % 10);
    char *p = t.text;
    while (n > 0)
        *p++ = digits[--n];
    unsigned frac = (unsigned)(us % 1000);
    *p++ = '.';
    *p++ = (char)('0' + frac / 100);
    *p++ = (char)('0' + frac / 10 % 10);
    *p++ = (char)('0' + frac % 10);
    *p = '\0';
    return t;
}

static int conn_logged_in(const struct conn *c)
{
    return c->proto != 0;
}

static size_t conn_out_limit(const struct conn *c)
{
    return conn_logged_in(c) ? CONN_OUT_LIMIT : CONN_PRE_OUT_LIMIT;
}

static void conn_maybe_free(struct conn *c)
{
    if (c->handles_open || c->jobs.pending || c->ops || c->ops_ending)
        return;
    struct server *srv = c->srv;
    if (cork.c == c)
        cork.c = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->transport->release(c);
    auth_login_free(c);
    if (c->batch) {
        free(c->batch);
        c->batch = NULL;
    }
    server_flush_cancel(srv, c);
    buf_free(&c->net_in);
    buf_free(&c->in);
    conn_clear_identity(c);
    free(c);
    server_conn_gone(srv);
}

static void conn_jobs_idle(struct job_owner *owner)
{
    struct conn *c = (struct conn *)((char *)owner - offsetof(struct conn, jobs));
    conn_maybe_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

static void conn_close_handles(struct conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    struct conn *c = req->data;
    free(req);
    conn_close_handles(c);
}

static void on_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    char why[96];
    switch (c->state) {
    case CONN_ST_HANDSHAKE:
        snprintf(why, sizeof why, "handshake timeout (%u s)", c->srv->cfg.handshake_timeout);
        conn_close(c, why);
        break;
    case CONN_ST_HELLO:
        snprintf(why, sizeof why, "no HELLO within %u s", c->srv->cfg.handshake_timeout);
        conn_fail(c, 0, MC_ERR_TIMEOUT, why);
        break;
    case CONN_ST_AUTH:
        /* The HELLO timer is paused here: this is the failed-login delay. */
        auth_delay_over(c);
        break;
    case CONN_ST_READY:
        snprintf(why, sizeof why, "idle for %u s", c->lst->cfg->timeout);
        conn_fail(c, 0, MC_ERR_TIMEOUT, why);
        break;
    case CONN_ST_CLOSING:
        /* The peer did not take our last bytes in time. */
        conn_close_handles(c);
        break;
    }
}

void conn_arm_timer(struct conn *c, uint64_t ms)
{
    if (ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

void conn_timer_extend(struct conn *c, uint64_t ms, uint64_t latest)
{
    if (!uv_is_active((uv_handle_t *)&c->timer))
        return;
    uint64_t now = uv_now(c->srv->loop);
    uint64_t due = now + uv_timer_get_due_in(&c->timer) + ms;
    if (due > latest)
        due = latest > now ? latest : now;
    uv_timer_start(&c->timer, on_timer, due - now, 0);
}

void conn_set_state(struct conn *c, enum conn_state st)
{
    if (st != c->state)
        conn_log(LOG_LVL_DEBUG, c, "event=state from=%s to=%s", state_names[c->state],
                 state_names[st]);
    c->state = st;
    switch (st) {
    case CONN_ST_HANDSHAKE:
    case CONN_ST_HELLO:
        conn_arm_timer(c, (uint64_t)c->srv->cfg.handshake_timeout * 1000u);
        break;
    case CONN_ST_AUTH:
        /* Password checking and the failed-login delay are bounded by us, not
         * the client: the HELLO timer restarts when the answer is sent. */
        uv_timer_stop(&c->timer);
        break;
    case CONN_ST_READY:
        /* Logged in: the queues may now hold a whole frame and more answers. */
        c->in.limit = CONN_IN_LIMIT;
        c->net_in.limit = CONN_NET_IN_LIMIT;
        conn_arm_timer(c, (uint64_t)c->lst->cfg->timeout * 1000u);
        break;
    case CONN_ST_CLOSING:
        conn_arm_timer(c, CONN_CLOSE_LINGER_MS);
        break;
    }
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->state == CONN_ST_CLOSING)
        return;
    if (cork.c == c) { /* frames answered before the close still go, as without the cork */
        (void)cork_flush();
        cork.c = NULL;
        if (c->state == CONN_ST_CLOSING)
            return; /* the flush failed and closed it */
    }
    uint64_t dur = conn_now_ms(c) - c->started_ms;
    conn_log(LOG_LVL_INFO, c,
             "event=disconnect reason=\"%s\" state=%s duration_ms=%llu requests=%llu "
             "keepalives=%llu",
             reason, state_names[c->state], (unsigned long long)dur,
             (unsigned long long)c->requests, (unsigned long long)c->keepalives);
    if (buf_len(&c->in) && c->transport_up)
        conn_log(LOG_LVL_INFO, c, "event=input_dropped bytes=%zu reason=\"unanswered at close\"",
                 buf_len(&c->in));
    c->jobs.closing = 1;
    files_watch_detach(c);
    sync_conn_detach(c);
    odbc_conn_closed(c); /* before its ops end: none of them starts another */
    op_close_all(c);
    c->transport->shutdown(c);
    c->closing_since_ms = conn_now_ms(c);
    conn_set_state(c, CONN_ST_CLOSING);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    if (c->counted) {
        c->srv->nconns--;
        c->counted = 0;
        (void)addr_counts_add(&c->srv->per_addr, c->limit_key, ADDR_LIVE, -1); /* never fails */
    } else if (c->refuse_code) {
        c->srv->nrefused--;
        c->refuse_code = 0;
        (void)addr_counts_add(&c->srv->per_addr, c->limit_key, ADDR_REFUSED, -1);
    }
    /* Let queued bytes (a final error frame, close_notify) reach the peer first. */
    (void)conn_flush(c);
    /* Taken only now: a connection that lives for hours does not carry it.
     * libuv always calls on_shutdown (UV_ECANCELED if the handle closes
     * first), which frees it. */
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req)
        req->data = c;
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close_handles(c);
    }
}

/*
 * Stop parsing until the client has read half of the backlog. The kernel's
 * socket buffer may take our bytes while the client reads nothing, so the
 * pauses of one client can come in quick succession: one INFO line per
 * minute at most, saying how many pauses there were.
 */
static void conn_pause_output(struct conn *c)
{
    c->output_paused = 1;
    c->pauses++;
    uint64_t now = conn_now_ms(c);
    int first = c->pause_logged_ms == 0;
    if (first || now - c->pause_logged_ms >= CONN_PAUSE_LOG_MS) {
        conn_log(c->transport_up ? LOG_LVL_INFO : LOG_LVL_DEBUG, c,
                 "event=output_paused queued_bytes=%zu reason=\"client is not reading its "
                 "answers\" pauses=%u%s",
                 c->out_queued, c->pauses, first ? "" : " note=\"pauses since the last line\"");
        c->pause_logged_ms = now ? now : 1;
        c->pauses = 0;
    } else {
        conn_log(LOG_LVL_DEBUG, c, "event=output_repeat_pause queued_bytes=%zu pauses=%u",
                 c->out_queued, c->pauses);
    }
}

size_t conn_out_room(const struct conn *c)
{
    return c->out_queued < CONN_OUT_HIGH ? CONN_OUT_HIGH - c->out_queued : 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    c->out_queued -= sizeof *w + w->cap;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        conn_close(c, uv_strerror(status));
        return;
    }
    if (c->state == CONN_ST_CLOSING) {
        /* A slow reader still gets its final ERROR frame, within limits. */
        if (status == 0 && conn_now_ms(c) - c->closing_since_ms < CONN_CLOSE_MAX_MS &&
            !uv_is_closing((uv_handle_t *)&c->tcp))
            conn_arm_timer(c, CONN_CLOSE_LINGER_MS);
        return;
    }
    /* Streams refill once the socket took most of what they queued. (Not
     * only when this write crossed the mark: a flush that gave back unused
     * batch room may have crossed it without a write completing.) */
    if (c->out_queued < CONN_OUT_LOW && c->ops)
        op_wake_writers(c);
    if (c->state == CONN_ST_CLOSING)
        return;
    /* A client that stopped reading made us stop parsing; start again once
     * it has read half of the backlog (not at the first byte it reads). */
    size_t resume = conn_out_limit(c) / 2;
    if (c->output_paused && c->out_queued < resume) {
        conn_log(LOG_LVL_DEBUG, c, "event=output_resumed queued_bytes=%zu", c->out_queued);
        c->output_paused = 0;
        conn_process(c);
    } else {
        conn_update_reading(c);
    }
}

int conn_flush(struct conn *c)
{
    struct write_req *w = c->batch;
    if (!w)
        return 0;
    c->batch = NULL;
    server_flush_cancel(c->srv, c);
    if (uv_is_closing((uv_handle_t *)&c->tcp)) {
        c->out_queued -= sizeof *w + w->cap;
        free(w);
        return MC_ERR_CLOSED;
    }
    /* A batch that left mostly empty gives its unused room back: the queue
     * counts (and the limits hold) what is allocated, not what is used. */
    if (w->len < w->cap / 2) {
        struct write_req *small = realloc(w, sizeof *w + w->len);
        if (small) {
            c->out_queued -= small->cap - small->len;
            small->cap = small->len;
            w = small;
        }
    }
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        c->out_queued -= sizeof *w + w->cap;
        free(w);
        conn_close(c, "cannot write to the socket");
        return MC_ERR_IO;
    }
    return 0;
}

int conn_write_raw(struct conn *c, const uint8_t *p, size_t n)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return MC_ERR_CLOSED;
    struct write_req *w = c->batch;
    if (w && w->len + n > w->cap) {
        if (conn_flush(c) < 0)
            return MC_ERR_IO; /* the connection is closing: nothing more goes out */
        w = NULL;
    }
    if (!w) {
        size_t cap = !conn_logged_in(c)                  ? CONN_BATCH_PRE
                     : c->out_queued >= CONN_BATCH_LARGE ? CONN_BATCH_LARGE
                                                         : CONN_BATCH_SMALL;
        if (cap < n)
            cap = n;
        w = malloc(sizeof *w + cap);
        if (!w)
            return MC_ERR_NOMEM;
        w->c = c;
        w->len = 0;
        w->cap = cap;
        c->batch = w;
        /* Count what the queue really costs: the whole allocation. */
        c->out_queued += sizeof *w + cap;
        server_flush_later(c->srv, c);
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
    if (w->len == w->cap && conn_flush(c) < 0)
        return MC_ERR_IO;
    if (c->out_queued >= conn_out_limit(c) && !c->output_paused)
        conn_pause_output(c);
    conn_update_reading(c);
    return 0;
}

/* Send what the cork holds (0, or the transport's error after closing c). */
static int cork_flush(void)
{
    struct conn *c = cork.c;
    size_t n = cork.len;
    cork.len = 0;
    if (!c || n == 0)
        return 0;
    int rc = c->transport->send(c, cork.data, n);
    if (rc < 0) {
        cork.c = NULL; /* conn_close below must not send it again */
        conn_close(c, "cannot send");
    }
    return rc;
}

void conn_cork(struct conn *c)
{
    if (!cork.c && c->state != CONN_ST_CLOSING && c->transport_up)
        cork.c = c;
}

void conn_uncork(struct conn *c)
{
    if (cork.c != c)
        return;
    (void)cork_flush(); /* a failure closed c */
    cork.c = NULL;
}

int conn_send_prepared(struct conn *c, uint8_t type, uint16_t flags, uint32_t id, uint8_t *frame,
                       size_t len)
{
    if (len > MC_MAX_PAYLOAD)
        return MC_ERR_INTERNAL;
    if (c->state == CONN_ST_CLOSING || !c->transport_up)
        return MC_ERR_CLOSED;
    frame_put_header(frame, type, flags, id, (uint32_t)len);
    size_t n = len + MC_FRAME_HEADER_SIZE;
    c->out_total += n;
    if (cork.c == c) {
        if (cork.len + n > sizeof cork.data) {
            int rc = cork_flush(); /* what came first goes first */
            if (rc < 0)
                return rc;
        }
        if (n <= sizeof cork.data) {
            memcpy(cork.data + cork.len, frame, n);
            cork.len += n;
            return 0;
        }
    }
    int rc = c->transport->send(c, frame, n);
    /* The transport is broken (wolfSSL in a fatal state, socket gone): no
     * later answer could reach the client either. */
    if (rc < 0)
        conn_close(c, "cannot send");
    return rc;
}

int conn_send(struct conn *c, uint8_t type, uint32_t id, const void *payload, size_t len)
{
    return conn_send_flags(c, type, 0, id, payload, len);
}

int conn_send_flags(struct conn *c, uint8_t type, uint16_t flags, uint32_t id, const void *payload,
                    size_t len)
{
    if (len > MC_MAX_PAYLOAD)
        return MC_ERR_INTERNAL;
    uint8_t small[4096];
    uint8_t *frame =
        len + MC_FRAME_HEADER_SIZE <= sizeof small ? small : malloc(len + MC_FRAME_HEADER_SIZE);
    if (!frame)
        return MC_ERR_NOMEM;
    if (len)
        memcpy(frame + MC_FRAME_HEADER_SIZE, payload, len);
    int rc = conn_send_prepared(c, type, flags, id, frame, len);
    if (frame != small)
        free(frame);
    return rc;
}

int conn_send_error(struct conn *c, uint32_t id, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = conn_send_errorv(c, id, code, fmt, ap);
    va_end(ap);
    return rc;
}

int conn_send_errorv(struct conn *c, uint32_t id, int code, const char *fmt, va_list ap)
{
    char msg[MC_MAX_ERROR_MESSAGE];
    vsnprintf(msg, sizeof msg, fmt, ap);
    uint8_t payload[MC_MAX_ERROR_MESSAGE + 4];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u16(&w, (uint16_t)(code < 0 ? -code : code));
    wire_put_cstr(&w, msg);
    return conn_send(c, MC_MSG_ERROR, id, payload, w.len);
}

void conn_notice(struct conn *c, uint16_t kind, const char *text, const void *data, size_t len)
{
    if (c->state != CONN_ST_READY || c->proto < MC_PROTO_STREAMS)
        return;
    uint8_t payload[512];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u16(&w, kind);
    wire_put_cstr(&w, text);
    wire_put_bytes(&w, data, len);
    if (w.err || conn_send(c, MC_MSG_NOTICE, 0, payload, w.len) < 0)
        return;
    conn_log(LOG_LVL_DEBUG, c, "event=notice kind=%u text=\"%s\"", kind, text);
}

void conn_fail(struct conn *c, uint32_t request_id, int code, const char *reason)
{
    if (c->state == CONN_ST_CLOSING)
        return;
    if (c->transport_up && strcmp(reason, mc_strerror(code)) == 0)
        (void)conn_send_error(c, request_id, code, "%s", reason);
    else if (c->transport_up)
        (void)conn_send_error(c, request_id, code, "%s: %s", mc_strerror(code), reason);
    conn_close(c, reason);
}

/* What device_id and client read before a HELLO. */
static const char conn_no_identity[] = "";

static void conn_clear_identity(struct conn *c)
{
    if (c->device_id && c->device_id != conn_no_identity)
        free((char *)c->device_id); /* the block's start: client lives in it too */
    c->device_id = c->client = conn_no_identity;
}

int conn_set_identity(struct conn *c, const char *device_id, const char *client)
{
    conn_clear_identity(c);
    size_t nd = strlen(device_id) + 1, nc = strlen(client) + 1;
    char *block = malloc(nd + nc);
    if (!block)
        return MC_ERR_NOMEM;
    memcpy(block, device_id, nd);
    memcpy(block + nd, client, nc);
    c->device_id = block;
    c->client = block + nd;
    return 0;
}

void conn_transport_ready(struct conn *c)
{
    c->transport_up = 1;
    if (c->refuse_code) {
        char why[96];
        snprintf(why, sizeof why, "connection limit reached (max_connections=%u, per ip=%u)",
                 c->srv->cfg.max_connections, c->srv->cfg.max_connections_per_ip);
        conn_fail(c, 0, c->refuse_code, why);
        return;
    }
    if (c->srv->draining) {
        conn_fail(c, 0, MC_ERR_SHUTTING_DOWN, "server is shutting down");
        return;
    }
    conn_set_state(c, CONN_ST_HELLO);
}

static size_t conn_read_room(const struct conn *c)
{
    /* Where socket bytes go: ciphertext to net_in, or plaintext straight to in. */
    const struct buf *dst = c->ssl ? &c->net_in : &c->in;
    return dst->limit > buf_len(dst) ? dst->limit - buf_len(dst) : 0;
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    /* Never read more than the destination queue can take. */
    size_t room = conn_read_room(c);
    server_alloc_cb(h, room < SERVER_READ_SIZE ? room : SERVER_READ_SIZE, b);
}

static void conn_update_reading(struct conn *c)
{
    int want = c->state != CONN_ST_CLOSING && !c->peer_closed && !c->output_paused &&
               !c->transport_busy && conn_read_room(c) > 0;
    if (want == c->reading || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    int rc = want ? uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_on_read)
                  : uv_read_stop((uv_stream_t *)&c->tcp);
    if (rc != 0) {
        conn_close(c, uv_strerror(rc));
        return;
    }
    c->reading = want;
}

/* Parse no more while a login is checked or the client is not reading its answers. */
static int conn_can_parse(const struct conn *c)
{
    return !c->output_paused && (c->state == CONN_ST_HELLO || c->state == CONN_ST_READY);
}

/* After the peer's close: once nothing is left to answer, close our side too. */
static void conn_finish_peer_close(struct conn *c)
{
    if (!c->peer_closed || c->state == CONN_ST_CLOSING || c->state == CONN_ST_AUTH)
        return;
    /* Requests that arrived before the close are still answered: while the
     * client has not read enough of our answers, wait (its timers bound it). */
    if (c->output_paused &&
        (frame_parse(buf_head(&c->in), buf_len(&c->in), MC_MAX_PAYLOAD, &(struct frame){0}) != 0 ||
         c->transport->pending(c)))
        return;
    /* Streams that still wait for the client's data end now; the others
     * (a download) finish first. What is queued is written before our FIN. */
    op_peer_closed(c);
    if (!c->ops)
        conn_close(c, "peer closed the connection");
}

static void conn_process_frames(struct conn *c);

static void conn_process(struct conn *c)
{
    /* An op that answers from inside a frame's handler must not parse the
     * next frame under the handler's feet: the outer call goes on. */
    if (c->processing)
        return;
    c->processing = 1;
    conn_process_frames(c);
    c->processing = 0;
    if (c->state == CONN_ST_CLOSING)
        return;
    /* Empty queues go back to the allocator: most connections sit idle
     * between a few small requests, and 10,000 of them would otherwise
     * each keep a block they do not use. The next read takes one again. */
    if (buf_len(&c->in) == 0)
        buf_free(&c->in);
    if (!c->transport_busy && buf_len(&c->net_in) == 0)
        buf_free(&c->net_in);
    conn_finish_peer_close(c);
    if (c->state != CONN_ST_CLOSING)
        conn_update_reading(c);
}

static void conn_process_frames(struct conn *c)
{
    /*
     * Each turn parses the whole frames already in c->in, then asks the
     * transport for more plaintext: bytes still waiting in net_in, or
     * records wolfSSL decrypted but could not hand over while c->in was full.
     */
    for (int turns = 0; turns < 64; turns++) {
        while (conn_can_parse(c)) {
            struct frame f;
            uint32_t max = conn_logged_in(c) ? MC_MAX_PAYLOAD : MC_MAX_PRELOGIN_PAYLOAD;
            long n = frame_parse(buf_head(&c->in), buf_len(&c->in), max, &f);
            if (n == 0)
                break;
            if (n < 0) {
                conn_log(LOG_LVL_WARN, c, "event=bad_frame error=%s%s", mc_err_name((int)n),
                         n == MC_ERR_FRAME_TOO_LARGE && !conn_logged_in(c)
                             ? " reason=\"larger than a HELLO before login\""
                             : "");
                conn_fail(c, 0, (int)n,
                          n == MC_ERR_FRAME_TOO_LARGE && !conn_logged_in(c)
                              ? "frames before HELLO_OK carry at most 2048 bytes; closing"
                              : "bad frame header; closing");
                return;
            }
            if (f.request_id == 0) {
                conn_log(LOG_LVL_WARN, c,
                         "event=bad_frame error=BAD_FRAME type=%s "
                         "reason=\"request id 0 is reserved\"",
                         frame_type_name(f.type));
                conn_fail(c, 0, MC_ERR_BAD_FRAME,
                          "request id 0 is reserved for the server; "
                          "closing");
                return;
            }
            if (c->state == CONN_ST_READY)
                conn_arm_timer(c, (uint64_t)c->lst->cfg->timeout * 1000u);
            dispatch_frame(c, &f);
            buf_consume(&c->in, (size_t)n);
            if (c->bye_answered && c->state != CONN_ST_CLOSING) {
                /* BYE is the last request read: what follows it is dropped (logged). */
                conn_close(c, "client said BYE");
                return;
            }
        }
        if (!conn_can_parse(c) || !c->transport->pending(c))
            break;
        size_t before = buf_len(&c->in);
        int rc = c->transport->feed(c, NULL, 0);
        if (rc == MC_ERR_CLOSED) {
            c->peer_closed = 1;
            continue;
        }
        if (rc < 0) {
            conn_close(c, mc_strerror(rc));
            return;
        }
        if (buf_len(&c->in) == before)
            break;
    }
}

void conn_request_done(struct conn *c)
{
    if (c->state == CONN_ST_CLOSING)
        return;
    if (c->srv->draining && c->state != CONN_ST_AUTH && !c->ops) {
        conn_fail(c, 0, MC_ERR_SHUTTING_DOWN, "server is shutting down");
        return;
    }
    conn_process(c);
}

void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = stream->data;
    if (nread == 0 || c->state == CONN_ST_CLOSING)
        return;
    if (nread < 0 && nread != UV_EOF) {
        conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (nread == UV_EOF) {
        if (!c->transport_up) {
            conn_close(c, "peer closed the connection");
            return;
        }
        /* A half-close: what arrived before it is still answered. */
        c->peer_closed = 1;
        conn_log(LOG_LVL_DEBUG, c, "event=peer_closed how=fin pending_bytes=%zu", buf_len(&c->in));
        conn_process(c);
        return;
    }
    conn_transport_resume(c, c->transport->feed(c, (const uint8_t *)b->base, (size_t)nread));
}

void conn_transport_resume(struct conn *c, int rc)
{
    if (rc == MC_ERR_CLOSED && c->transport_up) {
        c->peer_closed = 1;
        conn_log(LOG_LVL_DEBUG, c, "event=peer_closed how=close_notify pending_bytes=%zu",
                 buf_len(&c->in));
    } else if (rc < 0) {
        const char *why = rc == MC_ERR_TLS
                              ? (c->transport_up ? "TLS error" : "TLS handshake failed")
                          : rc == MC_ERR_CLOSED ? "peer sent close_notify"
                          : rc == MC_ERR_BUSY   ? "input queue full"
                                                : mc_strerror(rc);
        conn_close(c, why);
        return;
    }
    conn_process(c);
}

static void peer_name(struct conn *c)
{
    char ip[48];
    _Static_assert(sizeof c->peer >= sizeof ip + sizeof "[]:65535" - 1, "room for [ip]:port");
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    int port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
        /* One IPv6 host usually owns a whole /64: limits count per /64,
         * except for IPv4-mapped addresses, which are one IPv4 host. */
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(a->sin6_addr.s6_addr, v4mapped, sizeof v4mapped) == 0) {
            uv_ip6_name(a, c->limit_key, sizeof c->limit_key); /* "::ffff:" and the IPv4 address */
        } else {
            /* The lower 64 bits zero: "a:b:c:d::" at the longest. */
            struct sockaddr_in6 net = *a;
            memset(net.sin6_addr.s6_addr + 8, 0, 8);
            uv_ip6_name(&net, c->limit_key, sizeof c->limit_key - 3);
            strcat(c->limit_key, "/64");
        }
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
        uv_ip4_name(a, c->limit_key, sizeof c->limit_key);
    }
}

void conn_accept(struct listener *lst, int refuse_code)
{
    struct server *srv = lst->srv;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("event=accept_failed error=\"out of memory\"");
        return;
    }
    c->srv = srv;
    c->lst = lst;
    /* Both tls and aes256 (TLS 1.3 with a PSK) run over the TLS transport. */
    c->transport = lst->cfg->encryption == CFG_ENC_NONE ? &transport_plain : &transport_tls;
    buf_init(&c->net_in, CONN_PRE_NET_LIMIT);
    buf_init(&c->in, CONN_PRE_IN_LIMIT);
    c->jobs.idle = conn_jobs_idle;
    conn_clear_identity(c);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->id = ++srv->next_conn_id;
    /* The loop's clock is read once per turn, and a turn that accepts
     * thousands (a reconnect storm) lasts seconds: read it again, or the
     * last accepted would lose those seconds from their handshake timer. */
    uv_update_time(srv->loop);
    c->started_ms = uv_now(srv->loop);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;

    if (uv_accept((uv_stream_t *)&lst->tcp, (uv_stream_t *)&c->tcp) != 0) {
        snprintf(c->peer, sizeof c->peer, "unknown");
        c->state = CONN_ST_CLOSING;
        conn_close_handles(c);
        return;
    }
    peer_name(c);
    unsigned here[ADDR_KINDS];
    addr_counts_get(&srv->per_addr, c->limit_key, here);
    unsigned from_here = here[ADDR_LIVE], refused_here = here[ADDR_REFUSED];
    if (!refuse_code && from_here >= srv->cfg.max_connections_per_ip)
        refuse_code = MC_ERR_CONN_LIMIT;
    /* A refusal costs a TLS handshake to deliver: only a few at a time,
     * and fewer still per address, or refusing becomes the attack. */
    if (refuse_code &&
        (srv->nrefused >= SERVER_REFUSE_SLOTS || refused_here >= SERVER_REFUSE_SLOTS_PER_IP)) {
        conn_log(LOG_LVL_WARN, c,
                 "event=connection_dropped connection=%s reason=\"connection limit; too many "
                 "refusals in progress\"",
                 lst->cfg->name);
        c->state = CONN_ST_CLOSING;
        conn_close_handles(c);
        return;
    }
    if (addr_counts_add(&srv->per_addr, c->limit_key, refuse_code ? ADDR_REFUSED : ADDR_LIVE, 1) <
        0) {
        conn_log(LOG_LVL_ERROR, c,
                 "event=connection_dropped connection=%s reason=\"out of memory\"", lst->cfg->name);
        c->state = CONN_ST_CLOSING;
        conn_close_handles(c);
        return;
    }
    if (refuse_code) {
        c->refuse_code = refuse_code;
        srv->nrefused++;
    } else {
        c->counted = 1;
        srv->nconns++;
    }
    if (lst->cfg->tcp_nodelay)
        uv_tcp_nodelay(&c->tcp, 1);
    conn_log(LOG_LVL_INFO, c, "event=connect connection=%s port=%u transport=%s%s", lst->cfg->name,
             lst->cfg->port, c->transport->name, refuse_code ? " refused=connection_limit" : "");
    conn_set_state(c, CONN_ST_HANDSHAKE);
    int rc = c->transport->start(c);
    if (rc < 0) {
        conn_close(c, "cannot set up the transport");
        return;
    }
    if (c->state != CONN_ST_CLOSING)
        conn_update_reading(c);
}
