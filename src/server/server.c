#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "conn.h"
#include "log.h"
#include "miscomm/error.h"
#include "transport.h"

/* Connections beyond the limit still get an error frame, up to this many at once. */
#define SERVER_REFUSE_SLOTS 64u

static char read_buf[65536];

void server_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    *b = uv_buf_init(read_buf, sizeof read_buf);
}

unsigned server_count_ip(const struct server *srv, const char *ip)
{
    unsigned n = 0;
    for (const struct conn *c = srv->conns; c; c = c->next)
        n += c->counted && strcmp(c->peer_ip, ip) == 0;
    return n;
}

static void on_listener_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void server_finish(struct server *srv)
{
    log_info("event=stopped exit_code=%d", srv->exit_code);
    uv_timer_stop(&srv->grace_timer);
    uv_walk(srv->loop, on_walk_close, NULL);
}

void server_conn_gone(struct server *srv)
{
    if (srv->draining && srv->conns == NULL)
        server_finish(srv);
}

static void on_grace_timeout(uv_timer_t *t)
{
    struct server *srv = t->data;
    log_warn("event=drain_timeout grace_s=%u", srv->cfg.shutdown_grace);
    for (struct conn *c = srv->conns; c; c = c->next)
        conn_close(c, "shutdown grace period over");
}

static void server_drain(struct server *srv, const char *signame)
{
    if (srv->draining) {
        log_info("event=signal signal=%s action=ignored (already draining)", signame);
        return;
    }
    srv->draining = 1;
    unsigned busy = 0;
    for (struct conn *c = srv->conns; c; c = c->next)
        busy += c->busy;
    log_info("event=draining signal=%s connections=%u busy=%u grace_s=%u", signame, srv->nconns,
             busy, srv->cfg.shutdown_grace);
    for (size_t i = 0; i < srv->nlisteners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i].tcp, on_listener_closed);
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->busy)
            continue; /* conn_request_done() closes it when its request is answered */
        if (c->state == CONN_ST_HANDSHAKE)
            conn_close(c, "server shutting down");
        else
            conn_fail(c, 0, MC_ERR_SHUTTING_DOWN, "server is shutting down");
    }
    if (srv->conns == NULL)
        server_finish(srv);
    else
        uv_timer_start(&srv->grace_timer, on_grace_timeout,
                       (uint64_t)srv->cfg.shutdown_grace * 1000u, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    server_drain(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_connection(uv_stream_t *stream, int status)
{
    struct listener *lst = stream->data;
    struct server *srv = lst->srv;
    if (status < 0) {
        log_warn("event=accept_failed connection=%s error=\"%s\"", lst->cfg->name,
                 uv_strerror(status));
        return;
    }
    int refuse = 0;
    if (srv->nconns >= srv->cfg.max_connections) {
        if (srv->nrefused >= SERVER_REFUSE_SLOTS) {
            /* Too many even to refuse politely: drop at once. */
            uv_tcp_t *t = malloc(sizeof *t);
            if (t && uv_tcp_init(srv->loop, t) == 0 && uv_accept(stream, (uv_stream_t *)t) == 0)
                log_warn("event=connection_dropped connection=%s reason=\"connection limit\"",
                         lst->cfg->name);
            if (t)
                uv_close((uv_handle_t *)t, (uv_close_cb)free);
            return;
        }
        refuse = MC_ERR_CONN_LIMIT;
    }
    conn_accept(lst, refuse);
}

static int server_listen(struct server *srv, struct listener *lst)
{
    const struct cfg_connection *cc = lst->cfg;
    struct sockaddr_storage addr;
    if (uv_ip4_addr(cc->bind, (int)cc->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(cc->bind, (int)cc->port, (struct sockaddr_in6 *)&addr) != 0) {
        log_error("event=listen_failed connection=%s bind=%s error=\"not an IPv4 or IPv6 address\"",
                  cc->name, cc->bind);
        return MC_ERR_CONFIG;
    }
    uv_tcp_init(srv->loop, &lst->tcp);
    lst->tcp.data = lst;
    lst->srv = srv;
    int rc = uv_tcp_bind(&lst->tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&lst->tcp, 511, on_connection);
    if (rc != 0) {
        log_error("event=listen_failed connection=%s bind=%s port=%u error=\"%s\"", cc->name,
                  cc->bind, cc->port, uv_strerror(rc));
        return MC_ERR_IO;
    }
    log_info(
        "event=listening connection=%s bind=%s port=%u encryption=%s perms=0x%02x timeout_s=%u "
        "tries=%u",
        cc->name, cc->bind, cc->port, cc->encryption == CFG_ENC_TLS ? "tls" : "none", cc->perms,
        cc->timeout, cc->tries);
    return 0;
}

static void log_config_error(void *ud, const char *section, const char *key, const char *reason)
{
    (void)ud;
    log_error("event=config_error section=\"%s\" key=\"%s\" reason=\"%s\"", section, key, reason);
}

int server_init(struct server *srv, const char *config_path)
{
    memset(srv, 0, sizeof *srv);
    int rc = config_load(config_path, &srv->cfg, log_config_error, NULL);
    if (rc < 0)
        return rc;
    if (log_open(srv->cfg.log_target, srv->cfg.log_file, srv->cfg.log_level) < 0) {
        log_error("event=config_error section=server key=log_file reason=\"cannot open %s\"",
                  srv->cfg.log_file);
        return MC_ERR_CONFIG;
    }
    char threads[16];
    snprintf(threads, sizeof threads, "%u", srv->cfg.worker_threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1);
    log_info("event=starting version=%s config=%s wolfssl=\"%s %s\" libuv=%s", MC_VERSION,
             config_path, wolfSSL_lib_version(), MC_WOLFSSL_BUILD, uv_version_string());

    int need_tls = 0;
    for (size_t i = 0; i < srv->cfg.nconns; i++)
        need_tls |= srv->cfg.conns[i].active && srv->cfg.conns[i].encryption == CFG_ENC_TLS;
    if (need_tls) {
        if ((rc = tls_ensure_certificate(&srv->cfg)) < 0)
            return rc;
        if ((rc = tls_log_certificate(srv->cfg.certificate)) < 0)
            return rc;
        if ((rc = tls_ctx_create(&srv->cfg, &srv->tls_ctx)) < 0)
            return rc;
    }

    srv->loop = uv_default_loop();
    srv->listeners = calloc(srv->cfg.nconns, sizeof *srv->listeners);
    if (!srv->listeners)
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < srv->cfg.nconns; i++) {
        if (!srv->cfg.conns[i].active)
            continue;
        struct listener *lst = &srv->listeners[srv->nlisteners++];
        lst->cfg = &srv->cfg.conns[i];
        if ((rc = server_listen(srv, lst)) < 0)
            return rc;
    }
    uv_signal_init(srv->loop, &srv->sig_int);
    uv_signal_init(srv->loop, &srv->sig_term);
    srv->sig_int.data = srv->sig_term.data = srv;
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_timer_init(srv->loop, &srv->grace_timer);
    srv->grace_timer.data = srv;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int server_run(struct server *srv)
{
    log_info("event=ready listeners=%zu max_connections=%u", srv->nlisteners,
             srv->cfg.max_connections);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    return srv->exit_code;
}

void server_free(struct server *srv)
{
    if (srv->loop) {
        uv_walk(srv->loop, on_walk_close, NULL);
        uv_run(srv->loop, UV_RUN_DEFAULT);
        uv_loop_close(srv->loop);
    }
    tls_ctx_free(srv->tls_ctx);
    free(srv->listeners);
    config_free(&srv->cfg);
    log_close();
}
