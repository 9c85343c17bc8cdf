#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "miscomm/error.h"
#include "transport.h"
#include "wire.h"

#define CONN_NET_IN_LIMIT (4u * SERVER_READ_SIZE)
/* Room for one whole read after the largest unfinished frame: reading never stalls on it. */
#define CONN_IN_LIMIT        (MC_FRAME_HEADER_SIZE + MC_MAX_PAYLOAD + SERVER_READ_SIZE)
#define CONN_OUT_LIMIT       (4u * 1024u * 1024u) /* stop reading while more is queued */
#define CONN_CLOSE_LINGER_MS 2000u                /* without progress in writing our last bytes */
#define CONN_CLOSE_MAX_MS    10000u               /* in all, however slowly the peer reads */

struct write_req {
    uv_write_t req;
    struct conn *c;
    size_t len;
    uint8_t data[];
};

static const char *const state_names[] = {"handshake", "hello", "auth", "ready", "closing"};

static void conn_process(struct conn *c);
static void conn_update_reading(struct conn *c);

uint64_t conn_now_ms(const struct conn *c)
{
    return uv_now(c->srv->loop);
}

double conn_elapsed_ms(uint64_t start_ns)
{
    return (double)(uv_hrtime() - start_ns) / 1e6;
}

static void conn_maybe_free(struct conn *c)
{
    if (c->handles_open || c->pending_work)
        return;
    struct server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->ops->release(c);
    buf_free(&c->net_in);
    buf_free(&c->in);
    free(c);
    server_conn_gone(srv);
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
    uv_close((uv_handle_t *)&c->delay_timer, on_handle_closed);
}

void conn_work_done(struct conn *c)
{
    c->pending_work--;
    conn_maybe_free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close_handles(req->data);
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
    case CONN_ST_AUTH:
        snprintf(why, sizeof why, "no HELLO within %u s", c->srv->cfg.handshake_timeout);
        conn_fail(c, 0, MC_ERR_TIMEOUT, why);
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

static void arm_timer(struct conn *c, uint64_t ms)
{
    if (ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&c->timer);
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
        arm_timer(c, (uint64_t)c->srv->cfg.handshake_timeout * 1000u);
        break;
    case CONN_ST_AUTH:
        /* Password checking and the failed-login delay are bounded by us, not
         * the client: the HELLO timer restarts when the answer is sent. */
        uv_timer_stop(&c->timer);
        break;
    case CONN_ST_READY:
        arm_timer(c, (uint64_t)c->lst->cfg->timeout * 1000u);
        break;
    case CONN_ST_CLOSING:
        arm_timer(c, CONN_CLOSE_LINGER_MS);
        break;
    }
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->state == CONN_ST_CLOSING)
        return;
    uint64_t dur = conn_now_ms(c) - c->started_ms;
    conn_log(LOG_LVL_INFO, c,
             "event=disconnect reason=\"%s\" state=%s duration_ms=%llu requests=%llu", reason,
             state_names[c->state], (unsigned long long)dur, (unsigned long long)c->requests);
    c->ops->shutdown(c);
    c->closing_since_ms = conn_now_ms(c);
    conn_set_state(c, CONN_ST_CLOSING);
    uv_timer_stop(&c->delay_timer);
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->counted) {
        c->srv->nconns--;
        c->counted = 0;
    } else if (c->refuse_code) {
        c->srv->nrefused--;
        c->refuse_code = 0;
    }
    /* Let queued bytes (a final error frame, close_notify) reach the peer first. */
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close_handles(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    int was_full = c->out_queued >= CONN_OUT_LIMIT;
    c->out_queued -= sizeof *w + w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        conn_close(c, uv_strerror(status));
        return;
    }
    /* A slow reader still gets its final ERROR frame, within limits. */
    if (c->state == CONN_ST_CLOSING && status == 0 &&
        conn_now_ms(c) - c->closing_since_ms < CONN_CLOSE_MAX_MS &&
        !uv_is_closing((uv_handle_t *)&c->tcp))
        arm_timer(c, CONN_CLOSE_LINGER_MS);
    /* A client that stopped reading made us stop parsing; it reads again. */
    if (was_full && c->out_queued < CONN_OUT_LIMIT && c->state != CONN_ST_CLOSING) {
        if (c->output_paused)
            conn_log(LOG_LVL_DEBUG, c, "event=output_resumed queued_bytes=%zu", c->out_queued);
        c->output_paused = 0;
        conn_process(c);
    } else {
        conn_update_reading(c);
    }
}

int conn_write_raw(struct conn *c, const uint8_t *p, size_t n)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return MC_ERR_CLOSED;
    struct write_req *w = malloc(sizeof *w + n);
    if (!w)
        return MC_ERR_NOMEM;
    w->c = c;
    w->len = n;
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w);
        return MC_ERR_IO;
    }
    /* Count what the queue really costs, not only the payload. */
    c->out_queued += sizeof *w + n;
    conn_update_reading(c);
    return 0;
}

int conn_send(struct conn *c, uint8_t type, uint32_t id, const void *payload, size_t len)
{
    if (len > MC_MAX_PAYLOAD)
        return MC_ERR_INTERNAL;
    if (c->state == CONN_ST_CLOSING || !c->transport_up)
        return MC_ERR_CLOSED;
    uint8_t small[4096];
    uint8_t *frame =
        len + MC_FRAME_HEADER_SIZE <= sizeof small ? small : malloc(len + MC_FRAME_HEADER_SIZE);
    if (!frame)
        return MC_ERR_NOMEM;
    frame_put_header(frame, type, 0, id, (uint32_t)len);
    if (len)
        memcpy(frame + MC_FRAME_HEADER_SIZE, payload, len);
    int rc = c->ops->send(c, frame, len + MC_FRAME_HEADER_SIZE);
    if (frame != small)
        free(frame);
    /* The transport is broken (wolfSSL in a fatal state, socket gone): no
     * later answer could reach the client either. */
    if (rc < 0)
        conn_close(c, "cannot send");
    return rc;
}

int conn_send_error(struct conn *c, uint32_t id, int code, const char *fmt, ...)
{
    char msg[MC_MAX_ERROR_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint8_t payload[MC_MAX_ERROR_MESSAGE + 4];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u16(&w, (uint16_t)(code < 0 ? -code : code));
    wire_put_cstr(&w, msg);
    return conn_send(c, MC_MSG_ERROR, id, payload, w.len);
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

static void conn_update_reading(struct conn *c)
{
    /* Read only when a whole read (SERVER_READ_SIZE) fits where it goes. */
    int want = c->state != CONN_ST_CLOSING && c->out_queued < CONN_OUT_LIMIT &&
               buf_len(&c->net_in) + SERVER_READ_SIZE <= c->net_in.limit &&
               buf_len(&c->in) + SERVER_READ_SIZE <= c->in.limit;
    if (want == c->reading || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->reading = want;
    if (want)
        uv_read_start((uv_stream_t *)&c->tcp, server_alloc_cb, conn_on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

/* Parse no more while a request is in progress or the client is not reading its answers. */
static int conn_can_parse(const struct conn *c)
{
    return !c->busy && c->out_queued < CONN_OUT_LIMIT &&
           (c->state == CONN_ST_HELLO || c->state == CONN_ST_READY);
}

static void conn_process(struct conn *c)
{
    /*
     * Each turn parses the whole frames already in c->in, then asks the
     * transport for more plaintext: bytes still waiting in net_in, or
     * records wolfSSL decrypted but could not hand over while c->in was full.
     */
    for (int turns = 0; turns < 64; turns++) {
        while (conn_can_parse(c)) {
            struct frame f;
            long n = frame_parse(buf_head(&c->in), buf_len(&c->in), MC_MAX_PAYLOAD, &f);
            if (n == 0)
                break;
            if (n < 0) {
                conn_log(LOG_LVL_WARN, c, "event=bad_frame error=%s", mc_err_name((int)n));
                conn_fail(c, 0, (int)n, "bad frame header; closing");
                return;
            }
            if (c->state == CONN_ST_READY)
                arm_timer(c, (uint64_t)c->lst->cfg->timeout * 1000u);
            dispatch_frame(c, &f);
            buf_consume(&c->in, (size_t)n);
        }
        if (!conn_can_parse(c) || !c->ops->pending(c))
            break;
        size_t before = buf_len(&c->in);
        int rc = c->ops->feed(c, NULL, 0);
        if (rc < 0) {
            conn_close(c, mc_strerror(rc));
            return;
        }
        if (buf_len(&c->in) == before)
            break;
    }
    /* Give back large queues a burst left behind; small ones are reused. */
    if (buf_len(&c->in) == 0 && c->in.alloc > SERVER_READ_SIZE)
        buf_free(&c->in);
    if (buf_len(&c->net_in) == 0 && c->net_in.alloc > SERVER_READ_SIZE)
        buf_free(&c->net_in);
    if (c->out_queued >= CONN_OUT_LIMIT && !c->output_paused) {
        c->output_paused = 1;
        conn_log(LOG_LVL_INFO, c,
                 "event=output_paused queued_bytes=%zu reason=\"client is not reading its "
                 "answers\"",
                 c->out_queued);
    }
    conn_update_reading(c);
}

void conn_request_done(struct conn *c)
{
    c->busy = 0;
    if (c->state == CONN_ST_CLOSING)
        return;
    if (c->srv->draining) {
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
    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "peer closed the connection" : uv_strerror((int)nread));
        return;
    }
    int rc = c->ops->feed(c, (const uint8_t *)b->base, (size_t)nread);
    if (rc < 0) {
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
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    int port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, c->peer_ip, sizeof c->peer_ip);
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", c->peer_ip, port);
        /* One IPv6 host usually owns a whole /64: limits count per /64,
         * except for IPv4-mapped addresses, which are one IPv4 host. */
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(a->sin6_addr.s6_addr, v4mapped, sizeof v4mapped) == 0) {
            snprintf(c->limit_key, sizeof c->limit_key, "%s", c->peer_ip);
        } else {
            struct sockaddr_in6 net = *a;
            memset(net.sin6_addr.s6_addr + 8, 0, 8);
            char prefix[48];
            uv_ip6_name(&net, prefix, sizeof prefix);
            snprintf(c->limit_key, sizeof c->limit_key, "%s/64", prefix);
        }
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, c->peer_ip, sizeof c->peer_ip);
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof c->peer, "%s:%d", c->peer_ip, port);
        snprintf(c->limit_key, sizeof c->limit_key, "%s", c->peer_ip);
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
    c->ops = lst->cfg->encryption == CFG_ENC_NONE ? &transport_plain : &transport_tls;
    buf_init(&c->net_in, CONN_NET_IN_LIMIT);
    buf_init(&c->in, CONN_IN_LIMIT);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    uv_timer_init(srv->loop, &c->delay_timer);
    c->tcp.data = c->timer.data = c->delay_timer.data = c;
    c->handles_open = 3;
    c->id = ++srv->next_conn_id;
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
    unsigned refused_here = 0;
    unsigned from_here = server_count_ip(srv, c->limit_key, &refused_here);
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
             lst->cfg->port, c->ops->name, refuse_code ? " refused=connection_limit" : "");
    conn_set_state(c, CONN_ST_HANDSHAKE);
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, server_alloc_cb, conn_on_read);
    int rc = c->ops->start(c);
    if (rc < 0)
        conn_close(c, "cannot set up the transport");
}
