#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "cert.h"
#include "conn.h"
#include "secret.h"
#include "log.h"
#include "miscomm/error.h"
#include "notify.h"
#include "srvcert.h"
#include "tlsctx.h"
#include "files.h"
#include "odbc.h"
#include "sync.h"
#include "transport.h"

static char read_buf[SERVER_READ_SIZE];

void server_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    *b = uv_buf_init(read_buf,
                     (unsigned)(suggested < sizeof read_buf ? suggested : sizeof read_buf));
}

void server_flush_later(struct server *srv, struct conn *c)
{
    if (c->flush_queued)
        return;
    c->flush_queued = 1;
    c->flush_prev = NULL;
    c->flush_next = srv->flush_list;
    if (srv->flush_list)
        srv->flush_list->flush_prev = c;
    srv->flush_list = c;
}

void server_flush_cancel(struct server *srv, struct conn *c)
{
    if (!c->flush_queued)
        return;
    c->flush_queued = 0;
    if (c->flush_prev)
        c->flush_prev->flush_next = c->flush_next;
    else
        srv->flush_list = c->flush_next;
    if (c->flush_next)
        c->flush_next->flush_prev = c->flush_prev;
    c->flush_prev = c->flush_next = NULL;
}

/* Runs right before the loop waits for I/O: every batch queued by any
 * callback in this turn (reads, writes, timers, jobs) leaves now. */
static void on_flush_prepare(uv_prepare_t *h)
{
    struct server *srv = h->data;
    while (srv->flush_list)
        (void)conn_flush(srv->flush_list); /* removes it from the list; a failure closes */
    /* This turn's log lines, in one write, before the loop waits. */
    log_flush();
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

static void on_walk_unref(uv_handle_t *h, void *arg)
{
    (void)arg;
    uv_unref(h);
}

static void server_finish(struct server *srv)
{
    log_info("event=stopped exit_code=%d", srv->exit_code);
    /* Let the loop end, but keep the signal watchers installed until exit:
     * a second SIGTERM during the last steps must not kill the process. */
    uv_timer_stop(&srv->grace_timer);
    uv_timer_stop(&srv->ticket_timer);
    uv_timer_stop(&srv->login_key_timer);
    uv_timer_stop(&srv->expiry_timer);
    uv_timer_stop(&srv->sweep_timer);
    odbc_stop();
    sync_stop();
    job_pool_stop(srv->hs_pool); /* no connection is left, so no step either */
    srv->hs_pool = NULL;
    uv_walk(srv->loop, on_walk_unref, NULL);
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
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        /* Streams still open end with the connection (logged result=CLOSED). */
        if (c->state == CONN_ST_HANDSHAKE)
            conn_close(c, "shutdown grace period over");
        else
            conn_fail(c, 0, MC_ERR_SHUTTING_DOWN, "shutdown grace period over");
    }
}

static void server_drain(struct server *srv, const char *signame)
{
    if (srv->draining) {
        log_info("event=signal signal=%s action=ignored (already draining)", signame);
        return;
    }
    srv->draining = 1;
    notify_stopping();
    unsigned busy = 0;
    for (struct conn *c = srv->conns; c; c = c->next)
        busy += c->state == CONN_ST_AUTH || c->ops != NULL;
    log_info("event=draining signal=%s connections=%u busy=%u grace_s=%u", signame, srv->nconns,
             busy, srv->cfg.shutdown_grace);
    for (size_t i = 0; i < srv->nlisteners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i].tcp, on_listener_closed);
    struct conn *next;
    for (struct conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->state == CONN_ST_AUTH || c->ops) {
            /* conn_request_done() closes it when its requests are answered;
             * a protocol-2 client is told now, so it can finish its streams. */
            uint8_t grace[4] = {
                (uint8_t)(srv->cfg.shutdown_grace >> 24), (uint8_t)(srv->cfg.shutdown_grace >> 16),
                (uint8_t)(srv->cfg.shutdown_grace >> 8), (uint8_t)srv->cfg.shutdown_grace};
            conn_notice(c, MC_NOTICE_DRAINING,
                        "server is shutting down: streams in progress may finish, no new requests",
                        grace, sizeof grace);
            continue;
        }
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
    if (signum == SIGHUP) {
        (void)server_reload(s->data);
        return;
    }
    server_drain(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

void server_stop(struct server *srv, const char *why)
{
    server_drain(srv, why);
}

/* The hourly sweep of abandoned uploads, on the worker pool. */
struct sweep_job {
    struct job job; /* first: the job helper hands it back */
    size_t n;
    struct cfg_connection conns[]; /* copies: a reload may replace them meanwhile */
};

static void sweep_work(struct job *j)
{
    struct sweep_job *s = (struct sweep_job *)j;
    for (size_t i = 0; i < s->n; i++)
        (void)files_sweep(&s->conns[i]);
}

static void sweep_done(struct job *j, int status)
{
    (void)status;
    free(j);
}

static void on_sweep_timer(uv_timer_t *t)
{
    struct server *srv = t->data;
    struct sweep_job *s = calloc(1, sizeof *s + srv->nlisteners * sizeof s->conns[0]);
    if (!s)
        return;
    s->job.work = sweep_work;
    s->job.done = sweep_done;
    for (size_t i = 0; i < srv->nlisteners; i++)
        s->conns[s->n++] = srv->listeners[i].conf;
    if (job_submit(srv->loop, NULL, &s->job, &srv->jobs) != 0)
        free(s);
}

static void on_ticket_timer(uv_timer_t *t)
{
    ticket_keys_rotate(&((struct server *)t->data)->tickets);
}

static void on_login_key_timer(uv_timer_t *t)
{
    login_keys_rotate(&((struct server *)t->data)->login_keys);
}

/* The login-ticket key rotates every login_ticket_lifetime (none when 0). */
static void server_login_key_schedule(struct server *srv)
{
    uint64_t ms = (uint64_t)srv->cfg.login_ticket_lifetime * 1000u;
    if (ms)
        uv_timer_start(&srv->login_key_timer, on_login_key_timer, ms, ms);
    else
        uv_timer_stop(&srv->login_key_timer);
}

/* The daily expiry check reads (and may decrypt) the certificate: worker pool. */
struct expiry_job {
    struct job job;       /* first: the job helper hands it back */
    struct mc_config cfg; /* a copy: a reload may replace srv->cfg meanwhile */
};

static void expiry_work(struct job *j)
{
    struct expiry_job *job = (struct expiry_job *)j;
    (void)srvcert_check_expiry(&job->cfg);
    srvcert_check_crl(&job->cfg);
}

static void expiry_done(struct job *j, int status)
{
    (void)status;
    secret_wipe(j, sizeof(struct expiry_job));
    free(j);
}

static void on_expiry_timer(uv_timer_t *t)
{
    struct server *srv = t->data;
    if (!srv->tls_ctx)
        return;
    struct expiry_job *job = calloc(1, sizeof *job);
    if (!job)
        return;
    job->job.work = expiry_work;
    job->job.done = expiry_done;
    job->cfg = srv->cfg;
    job->cfg.conns = NULL; /* not needed, not owned */
    job->cfg.nconns = 0;
    if (job_submit(srv->loop, NULL, &job->job, &srv->jobs) != 0)
        free(job);
}

/* Load the TLS contexts a configuration needs; nothing is changed on failure. */
static int server_tls_load(struct server *srv, const struct mc_config *cfg, WOLFSSL_CTX **tls,
                           WOLFSSL_CTX **psk)
{
    int need_tls = 0, need_psk = 0, rc;
    *tls = *psk = NULL;
    for (size_t i = 0; i < cfg->nconns; i++) {
        if (!cfg->conns[i].active)
            continue;
        need_tls |= cfg->conns[i].encryption == CFG_ENC_TLS;
        need_psk |= cfg->conns[i].encryption == CFG_ENC_AES256;
    }
    /* Running listeners keep their encryption until a restart, whatever
     * the reloaded file says: they need their context too. */
    for (size_t i = 0; i < srv->nlisteners; i++) {
        need_tls |= srv->listeners[i].conf.encryption == CFG_ENC_TLS;
        need_psk |= srv->listeners[i].conf.encryption == CFG_ENC_AES256;
    }
    if (need_tls) {
        struct cert_info info;
        if ((rc = srvcert_log(cfg, &info)) < 0)
            return rc;
        if ((rc = tlsctx_check_identity(cfg, &info)) < 0 ||
            (rc = tls_ctx_create(cfg, &srv->tickets, tls)) < 0)
            return rc;
        srvcert_check_crl(cfg);
    }
    if (need_psk && (rc = tls_psk_ctx_create(psk)) < 0) {
        tls_ctx_free(*tls);
        *tls = NULL;
        return rc;
    }
    return 0;
}

/* Read a connection's PSK file (encryption = aes256) into out. */
static int listener_load_psk(uint8_t out[PSK_KEY_SIZE], const struct cfg_connection *cc)
{
    if (cc->encryption != CFG_ENC_AES256)
        return 0;
    const char *why, *warning = NULL;
    uint8_t key[PSK_KEY_SIZE];
    int rc = psk_load_ex(cc->psk_file, key, &why, &warning);
    if (warning)
        log_warn("event=key_file_mode section=\"connection %s\" file=%s warning=\"%s\"", cc->name,
                 cc->psk_file, warning);
    if (rc < 0) {
        log_error("event=config_error section=\"connection %s\" key=psk_file reason=\"%s: %s\"",
                  cc->name, cc->psk_file, why);
        return MC_ERR_CONFIG;
    }
    memcpy(out, key, sizeof key);
    secret_wipe(key, sizeof key);
    return 0;
}

static void write_pid_file(struct server *srv)
{
    /* The data directory holds the pid file (and later the file drop folders). */
    if (mkdir(srv->cfg.data_dir, 0750) != 0 && errno != EEXIST)
        log_warn("event=data_dir dir=%s error=\"%s\"", srv->cfg.data_dir, strerror(errno));
    FILE *f = fopen(srv->cfg.pid_file, "w");
    if (!f) {
        log_warn("event=pid_file file=%s error=\"%s\" note=\"misctl reload needs it\"",
                 srv->cfg.pid_file, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    srv->pid_written = 1;
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
    conn_accept(lst, srv->nconns >= srv->cfg.max_connections ? MC_ERR_CONN_LIMIT : 0);
}

/*
 * Connections the kernel may hold for accept(): after a restart every
 * phone reconnects at once, and beyond this queue the kernel drops their
 * handshakes, which then wait out TCP's retries (1, 3, 7, 15 s...). As
 * many as max_connections, at least 511; Linux caps it at
 * net.core.somaxconn (docs/admin.md, "Using every core").
 */
static int server_backlog(const struct mc_config *cfg)
{
    unsigned n = cfg->max_connections < 511u ? 511u : cfg->max_connections;
    return n > 65535u ? 65535 : (int)n;
}

static int server_listen(struct server *srv, struct listener *lst)
{
    const struct cfg_connection *cc = lst->cfg;
    int rc = listener_load_psk(lst->psk, cc);
    if (rc < 0)
        return rc;
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
    rc = uv_tcp_bind(&lst->tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&lst->tcp, server_backlog(&srv->cfg), on_connection);
    if (rc != 0) {
        log_error("event=listen_failed connection=%s bind=%s port=%u error=\"%s\"", cc->name,
                  cc->bind, cc->port, uv_strerror(rc));
        return MC_ERR_IO;
    }
    log_info(
        "event=listening connection=%s bind=%s port=%u encryption=%s perms=0x%02x timeout_s=%u "
        "tries=%u",
        cc->name, cc->bind, cc->port,
        cc->encryption == CFG_ENC_TLS      ? "tls"
        : cc->encryption == CFG_ENC_AES256 ? "aes256"
                                           : "none",
        cc->perms, cc->timeout, cc->tries);
    return 0;
}

/*
 * The threads that run TLS handshake steps (tls.c): the key exchange and
 * signatures of a full handshake are most of what a connection costs, and
 * with them off the loop thread every core takes handshakes. Each step
 * holds one connection, so the queue never needs to be longer than the
 * connections allowed (a step that finds it full runs on the loop thread).
 */
static int server_handshake_pool(struct server *srv)
{
    unsigned threads = srv->cfg.handshake_threads;
    if (threads == 0) {
        threads = uv_available_parallelism();
        if (threads < 2) {
            /* One core: a trip to another thread would only add to the work. */
            log_info("event=handshake_threads threads=0 note=\"one core: handshakes run on the "
                     "loop thread\"");
            return 0;
        }
    }
    unsigned max_queued = srv->cfg.max_connections + SERVER_REFUSE_SLOTS;
    int rc = job_pool_start_nice(srv->loop, "handshake", threads, max_queued, 0, &srv->hs_pool);
    if (rc < 0) {
        log_error("event=start_failed error=\"cannot start %u handshake threads\"", threads);
        return rc;
    }
    log_info("event=handshake_threads threads=%u", threads);
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
    snprintf(srv->config_path, sizeof srv->config_path, "%s", config_path);
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
    log_info("event=starting version=%s config=%s wolfssl=\"%s %s\" libuv=%s pid=%ld", MC_VERSION,
             config_path, wolfSSL_lib_version(), MC_WOLFSSL_BUILD, uv_version_string(),
             (long)getpid());

    if ((rc = ticket_keys_init(&srv->tickets)) < 0)
        return rc;
    login_keys_init(&srv->login_keys);
    throttle_init(&srv->login_failures);
    if ((rc = addr_counts_init(&srv->per_addr)) < 0)
        return rc;
    int need_tls = 0;
    for (size_t i = 0; i < srv->cfg.nconns; i++)
        need_tls |= srv->cfg.conns[i].active && srv->cfg.conns[i].encryption == CFG_ENC_TLS;
    if (need_tls && (rc = srvcert_ensure(&srv->cfg)) < 0)
        return rc;
    if ((rc = server_tls_load(srv, &srv->cfg, &srv->tls_ctx, &srv->psk_ctx)) < 0)
        return rc;

    srv->loop = uv_default_loop();
    srv->listeners = calloc(srv->cfg.nconns, sizeof *srv->listeners);
    if (!srv->listeners)
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < srv->cfg.nconns; i++) {
        if (!srv->cfg.conns[i].active)
            continue;
        struct listener *lst = &srv->listeners[srv->nlisteners++];
        lst->conf = srv->cfg.conns[i];
        lst->cfg = &lst->conf;
        if ((rc = server_listen(srv, lst)) < 0)
            return rc;
    }
    if ((rc = server_handshake_pool(srv)) < 0)
        return rc;
    if ((rc = odbc_start(srv->loop, &srv->cfg)) < 0)
        return rc;
    if ((rc = sync_start(srv->loop, &srv->cfg)) < 0)
        return rc;
    uv_signal_init(srv->loop, &srv->sig_int);
    uv_signal_init(srv->loop, &srv->sig_term);
    uv_signal_init(srv->loop, &srv->sig_hup);
    srv->sig_int.data = srv->sig_term.data = srv->sig_hup.data = srv;
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
#ifndef _WIN32 /* Windows: SIGHUP is the console closing; reload is a service control */
    uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
#endif
    uv_prepare_init(srv->loop, &srv->flush_prepare);
    srv->flush_prepare.data = srv;
    uv_prepare_start(&srv->flush_prepare, on_flush_prepare);
    uv_unref((uv_handle_t *)&srv->flush_prepare);
    uv_timer_init(srv->loop, &srv->sweep_timer);
    srv->sweep_timer.data = srv;
    uv_timer_start(&srv->sweep_timer, on_sweep_timer, 1000, SERVER_SWEEP_MS);
    uv_timer_init(srv->loop, &srv->grace_timer);
    uv_timer_init(srv->loop, &srv->ticket_timer);
    uv_timer_init(srv->loop, &srv->expiry_timer);
    srv->grace_timer.data = srv->ticket_timer.data = srv->expiry_timer.data = srv;
    uint64_t rotate_ms = (uint64_t)srv->cfg.ticket_rotation * 1000u;
    uv_timer_start(&srv->ticket_timer, on_ticket_timer, rotate_ms, rotate_ms);
    uv_timer_init(srv->loop, &srv->login_key_timer);
    srv->login_key_timer.data = srv;
    server_login_key_schedule(srv);
    uv_timer_start(&srv->expiry_timer, on_expiry_timer, 86400000u, 86400000u);
#ifdef SIGPIPE /* Windows has none: a write to a closed socket is an error, not a signal */
    signal(SIGPIPE, SIG_IGN);
#endif
    write_pid_file(srv);
    return 0;
}

/*
 * Apply a reloaded [connection NAME] section to a running listener. Its
 * address, port and encryption cannot change without a restart; everything
 * else (password, permissions, timeouts) applies to new logins at once.
 */
static void reload_listener(struct listener *lst, const struct mc_config *cfg,
                            const uint8_t new_psk[PSK_KEY_SIZE])
{
    const struct cfg_connection *nc = NULL;
    for (size_t i = 0; i < cfg->nconns; i++)
        if (strcmp(cfg->conns[i].name, lst->conf.name) == 0)
            nc = &cfg->conns[i];
    if (!nc || !nc->active) {
        log_warn("event=reload connection=%s note=\"removed or deactivated: takes effect at the "
                 "next restart; still listening\"",
                 lst->conf.name);
        return;
    }
    if (strcmp(nc->bind, lst->conf.bind) != 0 || nc->port != lst->conf.port ||
        nc->encryption != lst->conf.encryption)
        log_warn("event=reload connection=%s note=\"bind, port and encryption change at the next "
                 "restart; other settings applied\"",
                 lst->conf.name);
    struct cfg_connection keep = lst->conf;
    lst->conf = *nc;
    memcpy(lst->conf.bind, keep.bind, sizeof keep.bind);
    lst->conf.port = keep.port;
    lst->conf.encryption = keep.encryption;
    if (keep.encryption == CFG_ENC_AES256 && nc->encryption == CFG_ENC_AES256)
        tls_psk_store(lst->psk, new_psk); /* a handshake thread may be reading it */
    else
        memcpy(lst->conf.psk_file, keep.psk_file, sizeof keep.psk_file);
}

/*
 * A reload reads files and builds TLS contexts (key parsing, perhaps
 * PKCS#12 decryption): that runs on the worker pool, and only the swap
 * happens on the loop thread. Listeners are never added or removed after
 * start, so the worker may read their names and encryption modes.
 */
struct reload_job {
    struct job job; /* first: the job helper hands it back */
    struct server *srv;
    struct mc_config cfg;
    WOLFSSL_CTX *tls, *psk;
    uint8_t (*psks)[PSK_KEY_SIZE];
    int rc;
    const char *why;
};

static void reload_work(struct job *work)
{
    struct reload_job *job = (struct reload_job *)work;
    struct server *srv = job->srv;
    job->rc = config_load(srv->config_path, &job->cfg, log_config_error, NULL);
    if (job->rc < 0) {
        job->why = "invalid configuration";
        return;
    }
    job->why = "certificate, key, PSK file or TLS settings refused";
    /* Key files of aes256 connections are read again: a reload is how a
     * leaked key is replaced. */
    job->psks = calloc(srv->nlisteners ? srv->nlisteners : 1, PSK_KEY_SIZE);
    if (!job->psks) {
        job->rc = MC_ERR_NOMEM;
        return;
    }
    for (size_t i = 0; i < srv->nlisteners && job->rc == 0; i++)
        for (size_t j = 0; j < job->cfg.nconns; j++)
            if (strcmp(job->cfg.conns[j].name, srv->listeners[i].conf.name) == 0 &&
                srv->listeners[i].conf.encryption == CFG_ENC_AES256)
                job->rc = listener_load_psk(job->psks[i], &job->cfg.conns[j]);
    if (job->rc == 0)
        job->rc = server_tls_load(srv, &job->cfg, &job->tls, &job->psk);
}

static void reload_job_free(struct reload_job *job, size_t nlisteners)
{
    if (job->psks) {
        secret_wipe(job->psks, (nlisteners ? nlisteners : 1) * PSK_KEY_SIZE);
        free(job->psks);
    }
    config_free(&job->cfg);
    free(job);
}

static void reload_apply(struct server *srv, struct reload_job *job)
{
    struct mc_config *cfg = &job->cfg;
    /* Live connections keep their WOLFSSL objects, which hold a reference
     * to the context they started with. */
    tls_ctx_free(srv->tls_ctx);
    tls_ctx_free(srv->psk_ctx);
    srv->tls_ctx = job->tls;
    srv->psk_ctx = job->psk;
    /* A resumed session skips the client certificate check. When client
     * certificates are (or were) required, the new CA or CRL must apply to
     * every device, so tickets sealed before the reload stop working. */
    if (cfg->require_client_cert || srv->cfg.require_client_cert) {
        ticket_keys_renew(&srv->tickets);
        log_info("event=ticket_keys_renewed reason=\"client certificate settings reloaded\"");
    }
    for (size_t i = 0; i < srv->nlisteners; i++)
        reload_listener(&srv->listeners[i], cfg, job->psks[i]);
    for (size_t i = 0; i < cfg->nconns; i++) {
        int known = 0;
        for (size_t j = 0; j < srv->nlisteners; j++)
            known |= strcmp(srv->listeners[j].conf.name, cfg->conns[i].name) == 0;
        if (!known && cfg->conns[i].active)
            log_warn("event=reload connection=%s note=\"new connection: starts listening at the "
                     "next restart\"",
                     cfg->conns[i].name);
    }
    /* The log target, pid file and worker pool stay as started. */
    log_set_level((enum log_level)cfg->log_level);
    memcpy(cfg->pid_file, srv->cfg.pid_file, sizeof cfg->pid_file);
    memcpy(cfg->log_file, srv->cfg.log_file, sizeof cfg->log_file);
    cfg->log_target = srv->cfg.log_target;
    cfg->worker_threads = srv->cfg.worker_threads;
    cfg->handshake_threads = srv->cfg.handshake_threads;
    int new_lifetime = cfg->login_ticket_lifetime != srv->cfg.login_ticket_lifetime;
    struct mc_config old = srv->cfg;
    srv->cfg = *cfg;
    *cfg = old; /* freed with the job */
    /* Tickets already issued keep their expiry; the key's schedule follows. */
    if (new_lifetime)
        server_login_key_schedule(srv);
    /* Named statements point into the configuration they came with: the
     * listeners point into the new one (a listener whose section went keeps
     * its old settings, and finds its statements by name). */
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct cfg_connection *lc = &srv->listeners[i].conf;
        lc->queries = NULL;
        for (size_t k = 0; k < srv->cfg.nquery_sets && lc->odbc_queries[0]; k++)
            if (strcmp(srv->cfg.query_sets[k].name, lc->odbc_queries) == 0)
                lc->queries = &srv->cfg.query_sets[k];
        lc->sync = NULL;
        for (size_t k = 0; k < srv->cfg.nsyncs && lc->sync_mapping[0]; k++)
            if (strcmp(srv->cfg.syncs[k].name, lc->sync_mapping) == 0)
                lc->sync = &srv->cfg.syncs[k];
    }
    log_info("event=reload result=ok connections=%u certificate=%s", srv->nconns,
             srv->cfg.certificate);
}

static void reload_done(struct job *j, int status)
{
    struct reload_job *job = (struct reload_job *)j;
    struct server *srv = job->srv;
    srv->reloading = 0;
    const char *failure = NULL;
    if (status == 0 && job->rc == 0 && !srv->draining) {
        reload_apply(srv, job);
        odbc_reconfigure(&srv->cfg);
        sync_reconfigure(&srv->cfg);
        on_sweep_timer(&srv->sweep_timer); /* partial_expiry may have changed */
    } else {
        tls_ctx_free(job->tls);
        tls_ctx_free(job->psk);
        failure = status == 0 ? job->why : "cancelled";
        if (!srv->draining)
            log_error("event=reload result=failed reason=\"%s\" "
                      "action=\"kept the running configuration and certificate\"",
                      failure);
    }
    /* Once draining, systemd has been told STOPPING=1: not ready again. */
    if (!srv->draining)
        notify_reloaded(failure);
    reload_job_free(job, srv->nlisteners);
    if (srv->reload_again && !srv->draining) {
        srv->reload_again = 0;
        (void)server_reload(srv);
    }
}

int server_reload(struct server *srv)
{
    if (srv->reloading) {
        /* Files may have changed after the running reload read them. */
        srv->reload_again = 1;
        log_info("event=reload_requested config=%s note=\"queued behind the running reload\"",
                 srv->config_path);
        return 0;
    }
    log_info("event=reload_requested config=%s", srv->config_path);
    struct reload_job *job = calloc(1, sizeof *job);
    if (!job)
        return MC_ERR_NOMEM;
    job->job.work = reload_work;
    job->job.done = reload_done;
    job->srv = srv;
    if (job_submit(srv->loop, NULL, &job->job, &srv->jobs) != 0) {
        free(job);
        log_error("event=reload result=failed reason=\"cannot queue the reload\"");
        return MC_ERR_INTERNAL;
    }
    srv->reloading = 1;
    if (!srv->draining) /* systemd was told STOPPING=1 */
        notify_reloading();
    return 0;
}

/* The one line `systemctl status` shows (notify.h): connections and listeners. */
static void server_status(void *ud, char *buf, size_t cap)
{
    const struct server *srv = ud;
    const char *plural = srv->nconns == 1 ? "" : "s";
    if (srv->draining) {
        snprintf(buf, cap, "draining: %u connection%s left", srv->nconns, plural);
        return;
    }
    int n = snprintf(buf, cap, "%u connection%s; listening on port%s", srv->nconns, plural,
                     srv->nlisteners == 1 ? "" : "s");
    for (size_t i = 0; i < srv->nlisteners && n > 0 && (size_t)n < cap; i++) {
        unsigned port = srv->listeners[i].conf.port;
        n += snprintf(buf + n, cap - (size_t)n, "%s%u", i ? ", " : " ", port);
    }
    if (srv->reloading && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, "; reloading");
}

int server_run(struct server *srv)
{
    log_info("event=ready listeners=%zu max_connections=%u", srv->nlisteners,
             srv->cfg.max_connections);
    /* Certificate, listeners and the ODBC pools are up: systemd may start
     * what comes after us. */
    notify_start(srv->loop, server_status, srv);
    notify_ready();
    /* The log is buffered from here on, flushed each loop turn (log.h). */
    log_buffer_start();
    uv_run(srv->loop, UV_RUN_DEFAULT);
    return srv->exit_code;
}

void server_free(struct server *srv)
{
    /* No signal may interrupt the teardown once the watchers are gone. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (srv->loop) {
        job_pool_stop(srv->hs_pool); /* when the start failed half-way */
        srv->hs_pool = NULL;
        uv_walk(srv->loop, on_walk_close, NULL);
        uv_run(srv->loop, UV_RUN_DEFAULT);
        uv_loop_close(srv->loop);
        /* Closing the last signal watcher gave SIGTERM its default action
         * back (libuv does): ignore it again for the rest of the teardown,
         * which takes a while under the leak checker. */
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
    }
    if (srv->pid_written)
        unlink(srv->cfg.pid_file);
    tls_ctx_free(srv->tls_ctx);
    tls_ctx_free(srv->psk_ctx);
    for (size_t i = 0; i < srv->nlisteners; i++)
        secret_wipe(srv->listeners[i].psk, sizeof srv->listeners[i].psk);
    ticket_keys_wipe(&srv->tickets);
    addr_counts_free(&srv->per_addr);
    login_keys_wipe(&srv->login_keys);
    sync_free(); /* gives its pools back before they are all closed */
    odbc_free();
    free(srv->listeners);
    config_free(&srv->cfg);
    log_close();
}
