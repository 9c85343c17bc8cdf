/*
 * HELLO: protocol version negotiation and the connection password.
 *
 * Argon2id verification costs tens of milliseconds and 64 MiB, so it runs
 * as a job on the worker pool; the job sees only its own copy of the
 * password and the hash, never the connection. A failed login is answered
 * after a delay that doubles with each failure (plus the connection's
 * timewait), and the connection is closed after `tries` failures.
 *
 * Checks from one address (IPv4) or /64 (IPv6) are not limited as such: a
 * carrier NAT puts many devices behind one address, and their logins use
 * the whole pool. What is limited is guessing: a running check may fail,
 * so the checks in flight from an address and its failures in the
 * throttle window together stay below THROTTLE_MAX_FAILURES, and the
 * per-address guess limit holds exactly however many HELLOs arrive at once.
 * The pool's queue is bounded (AUTH_QUEUE_PER_THREAD per worker thread):
 * beyond it a check waits in the server's own queue, oldest first, one per
 * connection at most (so max_connections bounds it), with the HELLO timer
 * stopped: after a restart every device gets its turn, none is answered
 * BUSY or dropped for waiting on the gateway.
 *
 * A HELLO may present a login ticket (login_ticket.h) instead of the
 * password: a valid one logs in at once, on the loop thread, without a
 * check on the pool. A refused one falls back to the password of the same
 * HELLO, or, when the HELLO carries none, is answered ERROR TICKET so
 * that the client sends the password. Either way a revoked device is
 * refused, and a client that asked for one gets a new ticket in HELLO_OK.
 */
#include "auth.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addrcount.h"
#include "conn.h"
#include "dispatch.h"
#include "files.h"
#include "sync.h"
#include "files_path.h"
#include "job.h"
#include "login_ticket.h"
#include "miscomm/error.h"
#include "secret.h"
#include "wire.h"

#define AUTH_BASE_DELAY_MS 250u
#define AUTH_MAX_DELAY_MS  4000u
/* Password checks on the pool at once, per worker thread: beyond it they wait in ours. */
#define AUTH_QUEUE_PER_THREAD 8u
/* Waiting checks the pump looks at per turn (those of blocked addresses are skipped). */
#define AUTH_WAIT_SCAN 64u

struct auth_job;

struct login {
    unsigned failures;        /* failed logins on this connection */
    uint32_t pending_id;      /* the HELLO whose AUTH answer waits for the delay */
    int checking;             /* a password check is running, or waits for the pool */
    struct auth_job *waiting; /* its check, while it waits in the server's queue */
};

/* What HELLO_OK needs from its HELLO. */
struct hello_req {
    uint32_t request_id;
    uint16_t version;
    uint32_t features;
    uint64_t start_ns;
    const char *ticket_refused; /* why the presented ticket was refused (static), or NULL */
};

struct auth_job {
    struct job job;             /* first: the job helper hands it back */
    struct auth_job *wait_next; /* in the server's queue of checks waiting for the pool */
    struct conn *c;
    struct hello_req req;
    int result;
    uint64_t run_ns; /* how long the check took on its thread */
    size_t pw_len;
    char hash[CFG_HASH_MAX];
    char password[MC_MAX_PASSWORD + 1];
};

/* Whether c's check is in flight, kept with its address's count (the guess limit's). */
static void auth_set_checking(struct conn *c, struct login *l, int on)
{
    if (l->checking == on)
        return;
    l->checking = on;
    /* The connection is live, so its address has an entry: adding never
     * allocates, and cannot fail. */
    (void)addr_counts_add(&c->srv->per_addr, c->limit_key, ADDR_CHECKS, on ? 1 : -1);
}

/* A check's request, which holds the password: wiped, then freed. */
static void auth_job_free(struct auth_job *w)
{
    secret_wipe(w, sizeof *w);
    free(w);
}

/* Take w out of the server's queue (pp: the link that points at it). */
static void auth_wait_unlink(struct server *srv, struct auth_job **pp, struct auth_job *w)
{
    *pp = w->wait_next;
    if (srv->auth_wait_tail == w) /* the new tail holds the link that pointed at w */
        srv->auth_wait_tail =
            pp == &srv->auth_wait_head
                ? NULL
                : (struct auth_job *)((char *)pp - offsetof(struct auth_job, wait_next));
    srv->auth_waiting--;
    w->c->login->waiting = NULL;
}

void auth_login_free(struct conn *c)
{
    struct login *l = c->login;
    if (l)
        auth_set_checking(c, l, 0); /* closed during its check: no longer counted */
    if (l && l->waiting) {
        /* Closed while its check waited for the pool: it never runs. */
        struct auth_job *w = l->waiting, **pp = &c->srv->auth_wait_head;
        while (*pp && *pp != w)
            pp = &(*pp)->wait_next;
        if (*pp)
            auth_wait_unlink(c->srv, pp, w);
        auth_job_free(w);
    }
    free(l);
    c->login = NULL;
}

static struct login *auth_login(struct conn *c)
{
    if (!c->login)
        c->login = calloc(1, sizeof *c->login);
    return c->login;
}

static void auth_work(struct job *j)
{
    struct auth_job *w = (struct auth_job *)j;
    uint64_t t0 = uv_hrtime();
    w->result = secret_verify(w->hash, w->password, w->pw_len);
    secret_wipe(w->password, sizeof w->password);
    w->run_ns = uv_hrtime() - t0;
}

/* A new login ticket for this device, when the client asked and tickets are on; else 0 bytes. */
static size_t auth_issue_ticket(struct conn *c, uint8_t out[LOGIN_TICKET_SIZE])
{
    unsigned lifetime = c->srv->cfg.login_ticket_lifetime;
    const struct login_ticket_binding b = {c->lst->cfg->name, c->device_id,
                                           c->lst->cfg->password_hash};
    if (!lifetime ||
        login_ticket_seal(&c->srv->login_keys, &b, (uint64_t)time(NULL), lifetime, out) < 0)
        return 0;
    return LOGIN_TICKET_SIZE;
}

static void auth_send_ok(struct conn *c, const struct hello_req *q, int by_ticket)
{
    uint8_t session[MC_SESSION_ID_SIZE];
    randombytes_buf(session, sizeof session);
    uint8_t payload[512];
    struct wire_writer wr;
    wire_writer_init(&wr, payload, sizeof payload);
    wire_put_u16(&wr, q->version);
    wire_put_cstr(&wr, "miscommd");
    wire_put_cstr(&wr, MC_VERSION);
    wire_put_bytes(&wr, session, sizeof session);
    wire_put_u32(&wr, c->perms);
    wire_put_u32(&wr, MC_MAX_PAYLOAD);
    wire_put_u32(&wr, c->lst->cfg->timeout);
    wire_put_cstr(&wr, c->lst->cfg->name);
    size_t ticket_len = 0;
    if (q->version >= MC_PROTO_STREAMS) {
        /* Protocol 2: the stream parameters. */
        wire_put_u32(&wr, MC_STREAM_WINDOW);
        wire_put_u16(&wr, MC_MAX_STREAMS);
        /* The compression level of DATA both ways (0: none), when both can. */
        wire_put_bytes(&wr, &c->compress, 1);
        if (q->features & MC_FEATURE_LOGIN_TICKET) {
            /* How this login was checked, and the next login's ticket. */
            uint8_t ticket[LOGIN_TICKET_SIZE], how = by_ticket ? 1 : 0;
            ticket_len = auth_issue_ticket(c, ticket);
            wire_put_bytes(&wr, &how, 1);
            wire_put_u32(&wr, ticket_len ? c->srv->cfg.login_ticket_lifetime : 0);
            wire_put_u16(&wr, (uint16_t)ticket_len);
            wire_put_bytes(&wr, ticket, ticket_len);
            secret_wipe(ticket, sizeof ticket);
        }
    }
    char sid[2 * MC_SESSION_ID_SIZE + 1];
    sodium_bin2hex(sid, sizeof sid, session, sizeof session);
    int rc = wr.err ? wr.err : conn_send(c, MC_MSG_HELLO_OK, q->request_id, payload, wr.len);
    secret_wipe(payload, sizeof payload);
    conn_log(LOG_LVL_INFO, c,
             "event=hello result=OK connection=%s client=\"%s\" device=\"%s\" session=%s "
             "perms=0x%02x proto=%u login=%s%s%s ticket_issued=%s ms=%s",
             c->lst->cfg->name, c->client, c->device_id, sid, c->perms, q->version,
             by_ticket ? "ticket" : "password", q->ticket_refused ? " ticket_refused=" : "",
             q->ticket_refused ? q->ticket_refused : "", ticket_len ? "yes" : "no",
             conn_elapsed_ms(q->start_ns).text);
    if (rc < 0)
        conn_close(c, "cannot send HELLO_OK");
}

/*
 * The password or the ticket was right: refuse a revoked device, else log
 * in (READY, HELLO_OK). Returns 0, or MC_ERR_REVOKED (answered, closing).
 */
static int auth_accept(struct conn *c, const struct hello_req *q, int by_ticket)
{
    if ((c->lst->cfg->perms & MC_PERM_SYNC) &&
        sync_hello_check(c->lst->cfg, c->device_id) == MC_ERR_REVOKED) {
        conn_log(LOG_LVL_WARN, c,
                 "event=hello result=REVOKED connection=%s client=\"%s\" device=\"%s\" "
                 "login=%s reason=\"the device was revoked (misctl device revoke)\"",
                 c->lst->cfg->name, c->client, c->device_id, by_ticket ? "ticket" : "password");
        conn_fail(c, q->request_id, MC_ERR_REVOKED, "this device was revoked by the administrator");
        return MC_ERR_REVOKED;
    }
    c->perms = c->lst->cfg->perms;
    c->proto = q->version;
    if (q->version >= MC_PROTO_STREAMS && (q->features & MC_FEATURE_ZSTD))
        c->compress = (uint8_t)c->lst->cfg->compression;
    auth_login_free(c);
    conn_set_state(c, CONN_ST_READY);
    auth_send_ok(c, q, by_ticket);
    if (c->proto >= MC_PROTO_STREAMS && (c->perms & MC_PERM_SEND_FILES))
        files_watch_attach(c); /* FILES_CHANGED notices */
    if (c->proto >= MC_PROTO_STREAMS && (c->perms & MC_PERM_SYNC))
        sync_conn_attach(c); /* CHANGES_AVAILABLE notices, revocations */
    return 0;
}

void auth_delay_over(struct conn *c)
{
    struct login *l = c->login;
    (void)conn_send_error(c, l->pending_id, MC_ERR_AUTH, "wrong password (%u of %u tries)",
                          l->failures, c->lst->cfg->tries);
    conn_set_state(c, CONN_ST_HELLO);
    conn_request_done(c);
}

static void auth_done(struct job *j, int status);

/* Hand a prepared check to the worker pool: 0, or -1 (the HELLO is then answered INTERNAL). */
static int auth_submit(struct auth_job *w)
{
    struct conn *c = w->c;
    if (job_submit(c->srv->loop, NULL, &w->job, &c->jobs) != 0)
        return -1;
    c->srv->auth_pending++;
    conn_log(LOG_LVL_DEBUG, c, "event=password_check connection=%s queued=%u waiting=%u",
             c->lst->cfg->name, c->srv->auth_pending, c->srv->auth_waiting);
    return 0;
}

/*
 * Checks waiting for the pool go to it, oldest first, as it frees up. One
 * whose address has as many checks in flight as it may still fail (the
 * guess limit) waits for them and lets younger ones from other addresses
 * pass; one whose address reached the limit meanwhile is refused as a new
 * HELLO would be. Only the first AUTH_WAIT_SCAN are looked at per turn.
 */
static void auth_wait_pump(struct server *srv)
{
    unsigned cap = srv->cfg.worker_threads * AUTH_QUEUE_PER_THREAD;
    struct auth_job **pp = &srv->auth_wait_head;
    for (unsigned scanned = 0; *pp && srv->auth_pending < cap && scanned < AUTH_WAIT_SCAN;) {
        struct auth_job *w = *pp;
        struct conn *c = w->c;
        if (c->state == CONN_ST_CLOSING) { /* closed while waiting: no check to run */
            auth_wait_unlink(srv, pp, w);
            auth_job_free(w);
            continue;
        }
        uint64_t now = conn_now_ms(c);
        unsigned failed = throttle_failures(&srv->login_failures, c->limit_key, now);
        if (failed >= THROTTLE_MAX_FAILURES) {
            uint32_t id = w->req.request_id;
            auth_wait_unlink(srv, pp, w);
            auth_job_free(w);
            char why[128];
            snprintf(why, sizeof why, "%u failed logins from this address in the last %u s", failed,
                     THROTTLE_WINDOW_MS / 1000u);
            conn_log(LOG_LVL_WARN, c,
                     "event=hello result=TOO_MANY_TRIES connection=%s reason=\"%s\"",
                     c->lst->cfg->name, why);
            conn_fail(c, id, MC_ERR_TOO_MANY_TRIES, why);
            continue;
        }
        unsigned here[ADDR_KINDS];
        addr_counts_get(&srv->per_addr, c->limit_key, here);
        if (here[ADDR_CHECKS] + failed >= THROTTLE_MAX_FAILURES) {
            pp = &w->wait_next;
            scanned++;
            continue;
        }
        auth_wait_unlink(srv, pp, w);
        if (auth_submit(w) < 0) {
            uint32_t id = w->req.request_id;
            auth_job_free(w);
            conn_fail(c, id, MC_ERR_INTERNAL, "cannot queue the password check");
            continue;
        }
        auth_set_checking(c, c->login, 1);
    }
}

static void auth_done(struct job *j, int status)
{
    struct auth_job *w = (struct auth_job *)j;
    struct conn *c = w->c;
    int result = status == MC_ERR_CANCELLED ? MC_ERR_SHUTTING_DOWN : w->result;
    c->srv->auth_pending--;
    if (status == 0) /* the pace of checks, for INFO's hello_answer_ms (1/8 weight per check) */
        c->srv->auth_check_ms = c->srv->auth_check_ms
                                    ? (7 * c->srv->auth_check_ms + w->run_ns / 1000000u) / 8
                                    : w->run_ns / 1000000u;
    if (c->login)
        auth_set_checking(c, c->login, 0);
    if (result == MC_ERR_AUTH)
        throttle_failure(&c->srv->login_failures, c->limit_key, conn_now_ms(c));
    auth_wait_pump(c->srv);
    if (status == MC_ERR_CLOSED || c->state != CONN_ST_AUTH)
        goto out; /* closed while we were hashing */

    if (result == 0) {
        if (auth_accept(c, &w->req, 0) == 0)
            conn_request_done(c);
        goto out;
    }
    if (result != MC_ERR_AUTH) {
        conn_log(LOG_LVL_ERROR, c, "event=hello result=%s connection=%s reason=\"%s\"",
                 mc_err_name(result), c->lst->cfg->name,
                 result == MC_ERR_CRYPTO ? "the configured password hash is not usable"
                                         : mc_strerror(result));
        conn_fail(c, w->req.request_id, result == MC_ERR_SHUTTING_DOWN ? result : MC_ERR_INTERNAL,
                  "cannot verify the password");
        goto out;
    }
    struct login *l = c->login;
    l->failures++;
    unsigned tries = c->lst->cfg->tries;
    conn_log(LOG_LVL_WARN, c,
             "event=hello result=AUTH connection=%s client=\"%s\" device=\"%s\" "
             "reason=\"wrong password\" failures=%u tries=%u",
             c->lst->cfg->name, c->client, c->device_id, l->failures, tries);
    if (l->failures >= tries) {
        char why[64];
        snprintf(why, sizeof why, "%u wrong passwords (tries = %u)", l->failures, tries);
        conn_fail(c, w->req.request_id, MC_ERR_TOO_MANY_TRIES, why);
        goto out;
    }
    unsigned shift = l->failures - 1 < 5 ? l->failures - 1 : 5;
    uint64_t delay = (uint64_t)AUTH_BASE_DELAY_MS << shift;
    if (delay > AUTH_MAX_DELAY_MS)
        delay = AUTH_MAX_DELAY_MS;
    delay += (uint64_t)c->lst->cfg->timewait * 1000u;
    l->pending_id = w->req.request_id;
    /* State AUTH: the connection's timer now measures the delay (auth_delay_over). */
    conn_arm_timer(c, delay);
out:
    auth_job_free(w);
}

/* Log names: escaped, valid UTF-8 kept. */
static int auth_set_identity(struct conn *c, struct wire_str name, struct wire_str version,
                             struct wire_str device)
{
    char device_id[MC_MAX_DEVICE_ID * 4 + 1];
    char client[(MC_MAX_CLIENT_NAME + MC_MAX_CLIENT_VERSION) * 4 + 2];
    log_escape(device_id, sizeof device_id, device.ptr, device.len);
    size_t n = log_escape(client, sizeof client, name.ptr, name.len);
    if (n + 1 < sizeof client) {
        client[n] = '/';
        log_escape(client + n + 1, sizeof client - n - 1, version.ptr, version.len);
    }
    return conn_set_identity(c, device_id, client);
}

int auth_hello(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    uint16_t vmin = wire_get_u16(&r);
    uint16_t vmax = wire_get_u16(&r);
    struct wire_str name = wire_get_str(&r, MC_MAX_CLIENT_NAME);
    struct wire_str version = wire_get_str(&r, MC_MAX_CLIENT_VERSION);
    struct wire_str device = wire_get_str(&r, MC_MAX_DEVICE_ID);
    struct wire_str pw = wire_get_str(&r, MC_MAX_PASSWORD);
    /* Protocol 2 clients may add a u32 of features after the password,
     * and with MC_FEATURE_LOGIN_TICKET a login ticket (u16 length, bytes). */
    uint32_t features = 0;
    uint16_t ticket_len = 0;
    const uint8_t *ticket = NULL;
    if (!r.err && r.off < r.len && vmax >= MC_PROTO_STREAMS)
        features = wire_get_u32(&r);
    if (features & MC_FEATURE_LOGIN_TICKET) {
        ticket_len = wire_get_u16(&r);
        if (ticket_len > MC_MAX_LOGIN_TICKET)
            r.err = MC_ERR_BAD_PAYLOAD;
        ticket = wire_get_bytes(&r, ticket_len);
    }
    int rc = wire_reader_done(&r);
    /* Whatever happens next, the password (and a ticket, a credential too)
     * must not linger in the input queue. */
    uint8_t *pw_bytes = (uint8_t *)(uintptr_t)pw.ptr;
    uint8_t tk[MC_MAX_LOGIN_TICKET];
    if (rc == 0 && ticket) {
        memcpy(tk, ticket, ticket_len); /* <= MC_MAX_LOGIN_TICKET, checked above */
        secret_wipe((void *)(uintptr_t)ticket, ticket_len);
    }
    if (rc < 0) {
        /* The payload's layout is unknown: wipe all of it. */
        secret_wipe((void *)(uintptr_t)f->payload, f->length);
        conn_log(LOG_LVL_WARN, c, "event=hello result=BAD_PAYLOAD reason=\"malformed HELLO\"");
        return op_error(
            c, f, rc,
            "malformed HELLO: expected u16 min, u16 max, then client name (<= %u bytes), "
            "client version (<= %u), device id (<= %u) and password (<= %u) as "
            "length-prefixed strings, in version 2 optionally u32 features and, with "
            "features bit 1, a login ticket (u16 length <= %u, bytes), and nothing after",
            MC_MAX_CLIENT_NAME, MC_MAX_CLIENT_VERSION, MC_MAX_DEVICE_ID, MC_MAX_PASSWORD,
            MC_MAX_LOGIN_TICKET);
    }
    if (auth_set_identity(c, name, version, device) < 0) {
        secret_wipe(pw_bytes, pw.len);
        return op_error(c, f, MC_ERR_NOMEM, "hello: out of memory");
    }
    /* With a file permission the device id names the device's folders. */
    const struct cfg_connection *cc = c->lst->cfg;
    const char *bad;
    if ((cc->perms & (MC_PERM_SEND_FILES | MC_PERM_RECEIVE_FILES)) &&
        files_segment_check(device.ptr, device.len, &bad) < 0) {
        secret_wipe(pw_bytes, pw.len);
        secret_wipe(tk, sizeof tk);
        conn_log(LOG_LVL_WARN, c, "event=hello result=BAD_NAME device=\"%s\" reason=\"%s\"",
                 c->device_id, bad);
        return op_error(c, f, MC_ERR_BAD_NAME,
                        "the device id names this device's file folders and must be a plain "
                        "folder name: %s",
                        bad);
    }
    struct login *l = auth_login(c);
    if (!l) {
        secret_wipe(pw_bytes, pw.len);
        secret_wipe(tk, sizeof tk);
        return op_error(c, f, MC_ERR_NOMEM, "hello: out of memory");
    }

    if (vmin > vmax || vmin > MC_PROTO_VERSION || vmax < MC_PROTO_MIN) {
        secret_wipe(pw_bytes, pw.len);
        secret_wipe(tk, sizeof tk);
        char why[96];
        snprintf(why, sizeof why, "client speaks versions %u-%u, server speaks %u-%u", vmin, vmax,
                 MC_PROTO_MIN, MC_PROTO_VERSION);
        conn_log(LOG_LVL_WARN, c, "event=hello result=PROTO_VERSION reason=\"%s\"", why);
        conn_fail(c, f->request_id, MC_ERR_PROTO_VERSION, why);
        return MC_ERR_PROTO_VERSION; /* answered and closing: logged, not answered twice */
    }
    struct hello_req q = {.request_id = f->request_id,
                          .version = vmax < MC_PROTO_VERSION ? vmax : MC_PROTO_VERSION,
                          .features = features,
                          .start_ns = uv_hrtime()};
    /* A ticket first: it costs no password check, and a valid one is not a
     * guess, so it is taken even from an address the throttle blocks. */
    if (ticket_len) {
        const struct login_ticket_binding b = {cc->name, c->device_id, cc->password_hash};
        int trc = login_ticket_open(&c->srv->login_keys, &b, tk, ticket_len, (uint64_t)time(NULL),
                                    &q.ticket_refused);
        secret_wipe(tk, sizeof tk);
        if (trc == 0) {
            secret_wipe(pw_bytes, pw.len);
            secret_wipe(tk, sizeof tk);
            q.ticket_refused = NULL;
            return auth_accept(c, &q, 1);
        }
        conn_log(LOG_LVL_INFO, c,
                 "event=login_ticket result=refused connection=%s device=\"%s\" reason=%s "
                 "fallback=%s",
                 cc->name, c->device_id, q.ticket_refused, pw.len ? "password" : "none");
        if (pw.len == 0)
            return op_error(c, f, MC_ERR_TICKET,
                            "login ticket refused (%s): send HELLO with the password",
                            q.ticket_refused);
    }
    unsigned recent = throttle_blocked(&c->srv->login_failures, c->limit_key, conn_now_ms(c));
    if (recent) {
        secret_wipe(pw_bytes, pw.len);
        secret_wipe(tk, sizeof tk);
        char why[128];
        snprintf(why, sizeof why, "%u failed logins from this address in the last %u s", recent,
                 THROTTLE_WINDOW_MS / 1000u);
        conn_log(LOG_LVL_WARN, c, "event=hello result=TOO_MANY_TRIES connection=%s reason=\"%s\"",
                 c->lst->cfg->name, why);
        conn_fail(c, f->request_id, MC_ERR_TOO_MANY_TRIES, why);
        return MC_ERR_TOO_MANY_TRIES;
    }
    struct auth_job *w = calloc(1, sizeof *w);
    if (!w) {
        secret_wipe(pw_bytes, pw.len);
        secret_wipe(tk, sizeof tk);
        return op_error(c, f, MC_ERR_NOMEM, "hello: out of memory");
    }
    w->job.work = auth_work;
    w->job.done = auth_done;
    w->c = c;
    w->req = q;
    memcpy(w->hash, c->lst->cfg->password_hash, sizeof w->hash);
    memcpy(w->password, pw.ptr, pw.len);
    w->pw_len = pw.len;
    secret_wipe(pw_bytes, pw.len);
    secret_wipe(tk, sizeof tk);
    /* Every check goes through the server's queue, in order; the pump
     * sends it to the pool when the pool has room and its address is
     * within its guess limit (running checks may all fail: with the
     * failures already counted they stay below it). Waiting, the
     * connection is in AUTH: its HELLO timer is stopped, so a device is
     * never dropped for waiting on the gateway, and never told BUSY. The
     * queue holds at most one check per connection: max_connections
     * bounds it. */
    struct server *srv = c->srv;
    if (srv->auth_wait_tail)
        srv->auth_wait_tail->wait_next = w;
    else
        srv->auth_wait_head = w;
    srv->auth_wait_tail = w;
    srv->auth_waiting++;
    l->waiting = w;
    conn_set_state(c, CONN_ST_AUTH);
    auth_wait_pump(srv);
    if (l->waiting)
        conn_log(LOG_LVL_DEBUG, c, "event=password_check connection=%s waiting=%u", cc->name,
                 srv->auth_waiting);
    return DISPATCH_ASYNC;
}
