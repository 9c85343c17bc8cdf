/*
 * ODBC requests (docs/protocol.md 5.15): handles, their queue, and the
 * QUERY stream. Loop thread, except the *_work functions (ODBC job pool).
 *
 * A handle belongs to one connection and runs its requests one after the
 * other, in the order they came (an OPEN first):
 *
 *   request ──> handle queue ──(head)──> job on the ODBC pool ──> answer
 *                                         take a pooled connection (or the
 *                                         transaction's), run, give back
 *
 * QUERY is a stream: its first job runs the statement and fetches the
 * first rows; then DATA frames go out under the client's credit, and each
 * time the encoded rows are sent a job fetches the next ones, so memory
 * stays at about one chunk per query whatever the result's size.
 *
 * Time: SQL_ATTR_QUERY_TIMEOUT asks the driver; a watchdog (every 200 ms:
 * the answer comes at most that late, where a tick of a second let a 1 s
 * timeout pass unanswered for up to 2 s) also answers TIMEOUT, and cancels
 * from another thread a statement still running two seconds after its
 * timeout, because not every driver honours the attribute.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <sodium.h>

#include "buf.h"
#include "cred.h"
#include "log.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"
#include "odbc.h"
#include "odbc_db.h"
#include "odbc_sql.h"
#include "wire.h"

#define ODBC_MAX_HANDLES 4u             /* per connection */
#define ODBC_CHUNK       (256u * 1024u) /* rows fetched per job, about */
#define ODBC_FRAME       (64u * 1024u)  /* DATA payload */
#define ODBC_QUEUE_MAX   1024u          /* jobs queued on the ODBC pool */
#define ODBC_BUCKETS     4096u          /* of the handles-by-connection table */
#define ODBC_GRACE_MS    2000u          /* after the timeout, before the watchdog cancels */
#define ODBC_WATCHDOG_MS 200u           /* the watchdog's tick */
#define ODBC_REAP_TICKS  150u           /* idle connections looked at every 30 s */

enum req_kind { REQ_OPEN, REQ_QUERY, REQ_EXEC, REQ_TX, REQ_CLOSE };
enum tx_op { TX_BEGIN = 1, TX_COMMIT = 2, TX_ROLLBACK = 3 };

struct odbc_req;

struct odbc_handle {
    struct odbc_handle *next, **pprev;           /* all handles (the watchdog's list) */
    struct odbc_handle *conn_next, **conn_pprev; /* the chain of its connection's bucket */
    struct conn *c;
    uint32_t id;
    struct odbc_pool *pool;   /* set by a successful OPEN */
    struct odbc_link *pinned; /* a transaction's connection; jobs of the handle use it */
    int read_only;
    int raw_sql;
    int closed;       /* ODBC_CLOSE answered, or the OPEN failed: queued requests get BAD_HANDLE */
    int conn_closing; /* its connection is closing: nothing more starts */
    int cleaning;     /* a cancelled request's statement is being closed: the next one waits */
    unsigned refs;    /* requests queued on it; freed at 0 once closed */
    int kick;         /* on od.kicks: its next request starts on the next loop turn */
    struct odbc_handle *kick_next;
    struct odbc_req *head, *tail;
};

/* What only an OPEN needs: apart, so that every QUERY does not clear 9 KiB. */
struct open_args {
    uint8_t *cred;
    size_t cred_len;
    char cred_path[PATH_MAX];
    char sources[512];
    char dbms[64];
    char detail[PATH_MAX + 200]; /* for the log only, never for the device */
};

struct odbc_req {
    struct op op;
    struct job job;
    struct job cancel_job;
    enum req_kind kind;
    struct odbc_handle *h;
    struct odbc_req *qnext;
    int started;
    int busy; /* a job runs */
    /* The request. */
    uint8_t *payload; /* a copy: the parameters point into it */
    char *sql;
    struct odbc_value *params;
    size_t nparams;
    int tx;
    uint64_t max_rows;  /* what this query may return (the client's or the connection's) */
    int client_limit;   /* max_rows is the client's: more rows set a flag, not an error */
    uint64_t max_bytes; /* encoded rows, at most */
    unsigned timeout_s;
    struct odbc_limits limits; /* the pool's, copied at the request (a reload may change them) */
    _Atomic uint64_t running_since_ms; /* the statement runs on the database since (0: not) */
    uint64_t stalled_since_ms;         /* rows wait for the client's credit since (0: not) */
    int timed_out;
    int raw;                /* raw SQL from the device (not a named statement) */
    struct open_args *open; /* OPEN only */
    struct odbc_pool *new_pool;
    /* Running: link and stmt are the jobs' while busy, the loop's between jobs. */
    pthread_mutex_t live_lock; /* live against its close, while a cancel job runs */
    struct odbc_stmt *live;    /* what the watchdog or a CANCEL may cancel */
    atomic_int stop;           /* cancelled: a job that has not started does nothing */
    int cancelling;            /* a cancel job runs */
    struct odbc_link *link;    /* checked out for this request (not a pinned one) */
    struct odbc_stmt *stmt;
    struct odbc_error err;
    int rc;
    struct buf out; /* encoded: QUERY_COLUMNS payload first, then rows */
    size_t columns_len;
    uint64_t rows, encoded, affected;
    int fetched_all, more, columns_sent;
};

/* A statement or connection to give back after its request ended. */
struct cleanup_job {
    struct job job;
    struct odbc_stmt *stmt;
    struct odbc_link *link;
    struct odbc_handle *h; /* waits for it (its pinned link is the statement's), or NULL */
};

static struct {
    uv_loop_t *loop;
    struct job_pool *pool;
    struct job_owner owner; /* cleanup jobs */
    uv_timer_t watchdog;
    int started;
    struct cred_master master;
    int have_master;
    char master_why[160];
    struct odbc_limits limits;
    struct odbc_handle *handles;
    struct odbc_handle *by_conn[ODBC_BUCKETS]; /* handles chained by their connection */
    uint32_t next_id;
    unsigned ticks;   /* of the watchdog */
    uv_idle_t kicker; /* starts the next requests of od.kicks */
    struct odbc_handle *kicks;
} od;

/* Milliseconds of a monotonic clock, the same on every thread. */
static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* -- cleanup off the loop -------------------------------------------------------------------- */

static void cleanup_work(struct job *j)
{
    struct cleanup_job *c = (struct cleanup_job *)j;
    odbc_stmt_close(c->stmt);
    if (c->link)
        odbc_link_give(c->link);
}

static void handle_release(struct odbc_handle *h);
static void on_kick(uv_idle_t *idle);

static void cleanup_done(struct job *j, int status)
{
    struct cleanup_job *c = (struct cleanup_job *)j;
    if (status == MC_ERR_CANCELLED)
        cleanup_work(j); /* the pool stopped: at shutdown, blocking is fine */
    if (c->h) {
        c->h->cleaning--;
        handle_release(c->h);
    }
    free(j);
}

/*
 * Close stmt and give link back on the ODBC pool (either may be NULL).
 * With h, the handle's next request waits until it is done: the statement
 * may be on the handle's transaction connection.
 */
static void cleanup(struct odbc_stmt *stmt, struct odbc_link *link, struct odbc_handle *h)
{
    if (!stmt && !link)
        return;
    struct cleanup_job *c = calloc(1, sizeof *c);
    if (c) {
        c->stmt = stmt;
        c->link = link;
        c->job.work = cleanup_work;
        c->job.done = cleanup_done;
        if (h) {
            c->h = h;
            h->cleaning++;
            h->refs++;
        }
        /* libuv's pool: its queue is never full, so the loop never does this itself. */
        if (od.started && job_submit(od.loop, NULL, &c->job, &od.owner) == 0)
            return;
        if (h) {
            h->cleaning--;
            h->refs--;
        }
        free(c);
    }
    /* Stopped (at shutdown) or no memory: do it here, once. */
    odbc_stmt_close(stmt);
    if (link)
        odbc_link_give(link);
}

/* -- handles --------------------------------------------------------------------------------- */

/* The bucket of c's handles: a request looks only at its connection's. */
static struct odbc_handle **conn_bucket(const struct conn *c)
{
    uintptr_t x = (uintptr_t)c;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return &od.by_conn[(x >> 32) % ODBC_BUCKETS];
}

static void handle_link(struct odbc_handle *h)
{
    h->next = od.handles;
    if (h->next)
        h->next->pprev = &h->next;
    h->pprev = &od.handles;
    od.handles = h;
    struct odbc_handle **b = conn_bucket(h->c);
    h->conn_next = *b;
    if (h->conn_next)
        h->conn_next->conn_pprev = &h->conn_next;
    h->conn_pprev = b;
    *b = h;
}

static void handle_unlink(struct odbc_handle *h)
{
    *h->pprev = h->next;
    if (h->next)
        h->next->pprev = h->pprev;
    *h->conn_pprev = h->conn_next;
    if (h->conn_next)
        h->conn_next->conn_pprev = h->conn_pprev;
}

static struct odbc_handle *handle_find(const struct conn *c, uint32_t id)
{
    for (struct odbc_handle *h = *conn_bucket(c); h; h = h->conn_next)
        if (h->c == c && h->id == id && !h->closed)
            return h;
    return NULL;
}

static void handle_free_if_done(struct odbc_handle *h)
{
    if (!h->closed || h->refs > 0)
        return;
    handle_unlink(h);
    cleanup(NULL, h->pinned, NULL); /* an open transaction is rolled back */
    odbc_pool_put(h->pool);
    free(h);
}

static void req_start(struct odbc_req *r);

/*
 * A reference to h went: its next request starts on the next loop turn
 * (never from inside the end of another: the answers keep their order and
 * no caller finds the handle freed under it), or it is freed.
 */
static void handle_release(struct odbc_handle *h)
{
    if (h->head && !h->head->started && !h->conn_closing && !h->cleaning && !h->kick) {
        h->kick = 1;
        h->kick_next = od.kicks;
        od.kicks = h;
        uv_idle_start(&od.kicker, on_kick);
        return; /* the reference goes with the kick */
    }
    h->refs--;
    handle_free_if_done(h);
}

static void on_kick(uv_idle_t *idle)
{
    uv_idle_stop(idle);
    struct odbc_handle *list = od.kicks;
    od.kicks = NULL;
    while (list) {
        struct odbc_handle *h = list;
        list = h->kick_next;
        h->kick = 0;
        if (h->head && !h->head->started && !h->conn_closing && !h->cleaning)
            req_start(h->head);
        h->refs--;
        handle_free_if_done(h);
    }
}

/* The request ended: the next one of its handle goes. */
static void req_dequeue(struct odbc_req *r)
{
    struct odbc_handle *h = r->h;
    if (!h)
        return;
    for (struct odbc_req **p = &h->head; *p; p = &(*p)->qnext) {
        if (*p == r) {
            *p = r->qnext;
            if (h->tail == r) {
                h->tail = NULL;
                for (struct odbc_req *t = h->head; t; t = t->qnext)
                    h->tail = t;
            }
            break;
        }
    }
    r->h = NULL;
    handle_release(h);
}

static void req_enqueue(struct odbc_req *r, struct odbc_handle *h)
{
    r->h = h;
    h->refs++;
    if (h->tail)
        h->tail->qnext = r;
    else
        h->head = r;
    h->tail = r;
    if (h->head == r && !h->cleaning)
        req_start(r);
}

/* -- the requests' work (ODBC pool threads) -------------------------------------------------- */

static void fail(struct odbc_req *r, int code, const char *msg)
{
    r->err.code = code;
    snprintf(r->err.msg, sizeof r->err.msg, "%s", msg);
    r->rc = code;
}

/* The link this request runs on: the transaction's, or one from the pool. */
static int take_link(struct odbc_req *r, struct odbc_link **out)
{
    if (r->h->pinned) {
        *out = r->h->pinned;
        return 0;
    }
    int rc = odbc_link_take(r->h->pool, &r->link, &r->err);
    *out = r->link;
    return rc;
}

static void give_link(struct odbc_req *r)
{
    if (r->link) {
        odbc_link_give(r->link);
        r->link = NULL;
    }
}

/* The statement goes (not while a cancel job may be cancelling it). */
static void stmt_done(struct odbc_req *r)
{
    pthread_mutex_lock(&r->live_lock);
    r->live = NULL;
    pthread_mutex_unlock(&r->live_lock);
    odbc_stmt_close(r->stmt);
    r->stmt = NULL;
}

/* The request's work is over (answer or error): statement closed, connection given back. */
static void req_work_over(struct odbc_req *r)
{
    stmt_done(r);
    give_link(r);
}

static void open_work(struct odbc_req *r)
{
    struct open_args *o = r->open;
    uint8_t file[CRED_FILE_MAX];
    const uint8_t *bytes = o->cred;
    size_t len = o->cred_len;
    const char *why = NULL;
    int rc;
    if (!bytes) {
        if ((rc = cred_file_read(o->cred_path, file, sizeof file, &len, &why)) < 0) {
            snprintf(o->detail, sizeof o->detail, "cannot read odbc_credential %s: %s",
                     o->cred_path, why ? why : mc_strerror(rc));
            fail(r, MC_ERR_INTERNAL,
                 "the connection's credential file cannot be read (the gateway's log says why)");
            return;
        }
        bytes = file;
    }
    struct cred_file f;
    struct cred cred;
    struct cred_key key;
    if ((rc = cred_parse(bytes, len, &f, &why)) < 0) {
        fail(r, rc, why);
        return;
    }
    if (f.kdf != CRED_KDF_MASTER) {
        fail(r, MC_ERR_WRONG_KEY,
             "the credential file is sealed with a passphrase; the gateway opens only files "
             "sealed with its own key (misctl cred create without --passphrase-file)");
        return;
    }
    if (!od.have_master) {
        snprintf(o->detail, sizeof o->detail, "%s", od.master_why);
        fail(r, MC_ERR_UNKNOWN_KEY, "the gateway has no master key for credential files");
        return;
    }
    if ((rc = cred_master_key_find(&od.master, f.key_id, &key, &why)) < 0) {
        fail(r, rc, why);
        return;
    }
    rc = cred_open(&f, &key, NULL, 0, &cred, &why);
    cred_key_wipe(&key);
    if (rc < 0) {
        fail(r, rc, why);
        return;
    }
    /* The allow-list: data source names, or * for any (connection strings need *). */
    int allowed = 0;
    char list[sizeof o->sources];
    snprintf(list, sizeof list, "%s", o->sources);
    for (char *save = NULL, *t = strtok_r(list, ", \t", &save); t && !allowed;
         t = strtok_r(NULL, ", \t", &save))
        allowed = strcmp(t, "*") == 0 || (cred.dsn[0] && strcmp(t, cred.dsn) == 0);
    if (!allowed) {
        char m[CRED_DSN_MAX + 120];
        snprintf(m, sizeof m, "the data source '%s' is not in this connection's odbc_sources",
                 cred.dsn[0] ? cred.dsn : "(connection string)");
        cred_wipe(&cred);
        fail(r, MC_ERR_NOT_ALLOWED, m);
        return;
    }
    r->new_pool = odbc_pool_get(&cred, r->h->read_only, &r->limits);
    cred_wipe(&cred);
    if (!r->new_pool) {
        fail(r, MC_ERR_NOMEM, "cannot make the connection pool");
        return;
    }
    /* A connection now: a wrong password or a dead database is known at once. */
    if ((rc = odbc_link_take(r->new_pool, &r->link, &r->err)) < 0) {
        r->rc = rc;
        return;
    }
    snprintf(o->dbms, sizeof o->dbms, "%s", odbc_link_dbms(r->link));
    give_link(r);
}

static void query_fetch(struct odbc_req *r)
{
    /* The buffer may grow to what the byte limit still allows. */
    uint64_t allowance = r->max_bytes > r->encoded ? r->max_bytes - r->encoded : 0;
    size_t before = buf_len(&r->out);
    r->out.limit = before + (allowance > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)allowance);
    int done = 0;
    int rc = odbc_stmt_fetch(r->stmt, &r->out, before + ODBC_CHUNK, r->max_rows, &r->rows, &done,
                             &r->more, &r->err);
    r->encoded += buf_len(&r->out) - before;
    if (rc < 0) {
        r->rc = rc;
        if (rc == MC_ERR_RESULT_LIMIT)
            snprintf(r->err.msg, sizeof r->err.msg,
                     "the result is larger than this connection's odbc_max_result_bytes (%llu "
                     "bytes)",
                     (unsigned long long)r->max_bytes);
        return;
    }
    r->fetched_all = done;
}

static void run_work(struct odbc_req *r)
{
    struct odbc_link *l;
    int rc;
    if (atomic_load(&r->stop)) {
        fail(r, MC_ERR_CANCELLED, "cancelled");
        return;
    }
    if ((rc = take_link(r, &l)) < 0) {
        r->rc = rc;
        return;
    }
    struct odbc_stmt *s;
    if ((rc = odbc_stmt_open(l, r->sql, !r->raw, &s, &r->err)) < 0) {
        r->rc = rc;
        return;
    }
    r->stmt = s;
    pthread_mutex_lock(&r->live_lock);
    r->live = s;
    pthread_mutex_unlock(&r->live_lock);
    if (atomic_load(&r->stop)) { /* cancelled while it was being set up */
        fail(r, MC_ERR_CANCELLED, "cancelled");
        return;
    }
    if (r->raw)
        odbc_link_dirty(l); /* whatever it changed goes before the link serves another */
    rc = odbc_stmt_exec(s, r->sql, r->params, r->nparams, r->timeout_s, &r->err);
    if (rc < 0) {
        r->rc = rc;
        return;
    }
    if (r->kind == REQ_EXEC) {
        r->affected = odbc_stmt_affected(s);
        return;
    }
    if ((rc = odbc_stmt_columns(s, &r->out, &r->err)) < 0) {
        r->rc = rc;
        return;
    }
    r->columns_len = buf_len(&r->out);
    r->encoded = 0;
    if (odbc_stmt_ncols(s) == 0)
        r->fetched_all = 1; /* no result set: no rows */
    else
        query_fetch(r);
}

static void tx_work(struct odbc_req *r)
{
    struct odbc_handle *h = r->h;
    int rc;
    if (r->tx == TX_BEGIN) {
        struct odbc_link *l;
        if ((rc = take_link(r, &l)) < 0 || (rc = odbc_link_tx(l, TX_BEGIN, &r->err)) < 0) {
            r->rc = rc;
            return;
        }
        /* The loop pins it (done) once this job is over. */
        return;
    }
    rc = odbc_link_tx(h->pinned, r->tx, &r->err);
    if (rc < 0)
        r->rc = rc;
}

static void req_work(struct job *j)
{
    struct odbc_req *r = (struct odbc_req *)((char *)j - offsetof(struct odbc_req, job));
    r->rc = 0;
    switch (r->kind) {
    case REQ_OPEN:
        open_work(r);
        break;
    case REQ_QUERY:
    case REQ_EXEC:
        /* The watchdog's clock runs while the database works, not while waiting. */
        atomic_store(&r->running_since_ms, now_ms());
        if (atomic_load(&r->stop))
            fail(r, MC_ERR_CANCELLED, "cancelled");
        else if (r->stmt)
            query_fetch(r);
        else
            run_work(r);
        atomic_store(&r->running_since_ms, 0);
        /* Done with the database (rows may still wait to be sent). */
        if (r->rc < 0 || r->kind == REQ_EXEC || r->fetched_all)
            req_work_over(r);
        break;
    case REQ_TX:
        tx_work(r);
        break;
    case REQ_CLOSE:
        break;
    }
}

/* -- answers (loop thread) ------------------------------------------------------------------- */

static void req_fail(struct odbc_req *r, int code, const char *msg)
{
    const char *detail = r->open ? r->open->detail : "";
    op_conn_log(r->op.c, LOG_LVL_WARN, "event=odbc op=%s handle=%u result=%s reason=\"%s\"%s%s%s",
                r->op.name, r->h ? r->h->id : 0, mc_err_name(code), msg,
                detail[0] ? " detail=\"" : "", detail, detail[0] ? "\"" : "");
    op_fail(&r->op, code, "%s: %s", r->op.name, msg);
}

static void query_pump(struct odbc_req *r);

/* BEGIN pins its connection to the handle; COMMIT and ROLLBACK give it back. */
static void tx_apply(struct odbc_req *r)
{
    struct odbc_handle *h = r->h;
    if (r->tx == TX_BEGIN) {
        h->pinned = r->link; /* the handle's until COMMIT or ROLLBACK */
        r->link = NULL;
    } else {
        cleanup(NULL, h->pinned, NULL);
        h->pinned = NULL;
    }
}

/* Run the request's next job; the watchdog's clock starts again. */
static void req_submit(struct odbc_req *r)
{
    r->stalled_since_ms = 0;
    r->busy = 1;
    if (!od.pool) {
        r->busy = 0;
        req_fail(r, MC_ERR_INTERNAL,
                 "the gateway's database side is not running (its log says why)");
    } else if (op_submit(&r->op, od.pool, &r->job) < 0) {
        r->busy = 0;
        req_fail(r, MC_ERR_BUSY, "the database queue is full; try again");
    }
}

static void query_pump(struct odbc_req *r)
{
    struct op *op = &r->op;
    if (buf_len(&r->out) > 0) {
        (void)op_send_buffered(op, &r->out, ODBC_FRAME, r->fetched_all, &r->stalled_since_ms);
        return;
    }
    if (!r->fetched_all) {
        if (!r->busy)
            req_submit(r);
        return;
    }
    if (!op->out_ended && op_send_data(op, NULL, 0, 1) < 0)
        return;
    if (r->more && !r->client_limit) {
        char m[160];
        snprintf(m, sizeof m, "the result has more than this connection's odbc_max_rows (%llu)",
                 (unsigned long long)r->max_rows);
        req_fail(r, MC_ERR_RESULT_LIMIT, m);
        return;
    }
    uint8_t p[9];
    struct wire_writer w;
    wire_writer_init(&w, p, sizeof p);
    wire_put_u64(&w, r->rows);
    wire_put_bytes(&w, (uint8_t[]){r->more ? 1 : 0}, 1);
    op_conn_log(op->c, LOG_LVL_DEBUG, "event=odbc op=query handle=%u rows=%llu bytes=%llu",
                r->h->id, (unsigned long long)r->rows, (unsigned long long)r->encoded);
    if (op_conn_send(op->c, MC_MSG_QUERY_OK, op->id, p, w.len) == 0)
        op_finish(op);
}

static void req_done(struct job *j, int status)
{
    struct odbc_req *r = (struct odbc_req *)((char *)j - offsetof(struct odbc_req, job));
    r->busy = 0;
    struct odbc_handle *h = r->h;
    /* What a transaction request did on the database stands, answered or not. */
    if (r->kind == REQ_TX && r->rc == 0)
        tx_apply(r);
    if (status < 0)
        return; /* the op ended (cancelled, connection gone): release cleans up */
    if (r->rc < 0) {
        if (r->kind == REQ_OPEN)
            h->closed = 1;
        if (r->rc == MC_ERR_TIMEOUT) { /* the driver's own timeout */
            char m[ODBC_MESSAGE_MAX + 120];
            snprintf(m, sizeof m,
                     "the statement ran longer than this connection's odbc_query_timeout (%u s) "
                     "and was cancelled (%s)",
                     r->timeout_s, r->err.msg);
            req_fail(r, r->rc, m);
        } else {
            req_fail(r, r->rc, r->err.msg[0] ? r->err.msg : mc_strerror(r->rc));
        }
        return;
    }
    struct op *op = &r->op;
    switch (r->kind) {
    case REQ_OPEN: {
        h->pool = r->new_pool;
        r->new_pool = NULL;
        uint8_t p[4 + 1 + 2 + sizeof r->open->dbms];
        struct wire_writer w;
        wire_writer_init(&w, p, sizeof p);
        wire_put_u32(&w, h->id);
        wire_put_bytes(&w, (uint8_t[]){(uint8_t)((h->read_only ? 1 : 0) | (h->raw_sql ? 2 : 0))},
                       1);
        wire_put_cstr(&w, r->open->dbms);
        op_conn_log(op->c, LOG_LVL_INFO, "event=odbc_open handle=%u dbms=\"%s\" read_only=%d",
                    h->id, r->open->dbms, h->read_only);
        if (op_conn_send(op->c, MC_MSG_ODBC_OPEN_OK, op->id, p, w.len) == 0)
            op_finish(op);
        break;
    }
    case REQ_EXEC: {
        uint8_t p[8];
        struct wire_writer w;
        wire_writer_init(&w, p, sizeof p);
        wire_put_u64(&w, r->affected);
        if (op_conn_send(op->c, MC_MSG_EXEC_OK, op->id, p, w.len) == 0)
            op_finish(op);
        break;
    }
    case REQ_TX:
        if (op_conn_send(op->c, MC_MSG_TX_OK, op->id, NULL, 0) == 0)
            op_finish(op);
        break;
    case REQ_CLOSE:
        break;
    case REQ_QUERY: {
        /* The columns, the first rows and (when they were all) QUERY_OK go
         * in one TLS record when they fit: one encryption and one
         * decryption instead of three for a small result. */
        struct conn *c = op->c; /* op may be freed once answered */
        op_conn_cork(c);
        if (!r->columns_sent) {
            r->columns_sent = 1;
            if (op_conn_send(c, MC_MSG_QUERY_COLUMNS, op->id, buf_head(&r->out), r->columns_len) <
                0) {
                op_conn_uncork(c);
                return;
            }
            buf_consume(&r->out, r->columns_len);
        }
        op_want_write(op);
        op_conn_uncork(c);
        break;
    }
    }
}

static void cancel_work(struct job *j)
{
    struct odbc_req *r = (struct odbc_req *)((char *)j - offsetof(struct odbc_req, cancel_job));
    pthread_mutex_lock(&r->live_lock);
    if (r->live)
        odbc_stmt_cancel(r->live);
    pthread_mutex_unlock(&r->live_lock);
}

static void cancel_done(struct job *j, int status)
{
    (void)status;
    ((struct odbc_req *)((char *)j - offsetof(struct odbc_req, cancel_job)))->cancelling = 0;
}

/*
 * Stop the request's work: a job not started yet does nothing, a running
 * statement is cancelled from another thread (libuv's pool: the ODBC pool
 * may be full). The watchdog tries again if a statement keeps running.
 */
static void req_cancel_running(struct odbc_req *r)
{
    atomic_store(&r->stop, 1);
    if (!r->busy || r->cancelling)
        return;
    r->cancel_job.work = cancel_work;
    r->cancel_job.done = cancel_done;
    r->cancelling = 1;
    if (op_submit(&r->op, NULL, &r->cancel_job) < 0)
        r->cancelling = 0;
}

static void req_writable(struct op *op)
{
    struct odbc_req *r = (struct odbc_req *)op;
    if (r->kind == REQ_QUERY && r->columns_sent && !r->busy)
        query_pump(r);
}

static void req_cancel(struct op *op, int reason)
{
    (void)reason;
    req_cancel_running((struct odbc_req *)op);
}

static void req_release(struct op *op)
{
    struct odbc_req *r = (struct odbc_req *)op;
    /* Left only by a request that ended mid-way (cancelled, connection gone). */
    cleanup(r->stmt, r->link, r->h && r->stmt ? r->h : NULL);
    r->stmt = NULL;
    r->link = NULL;
    pthread_mutex_destroy(&r->live_lock);
    if (r->new_pool)
        odbc_pool_put(r->new_pool);
    if (r->kind == REQ_OPEN && r->h && !r->h->pool)
        r->h->closed = 1; /* failed, cancelled or refused: the handle never opened */
    req_dequeue(r);
    if (r->open) {
        if (r->open->cred) {
            sodium_memzero(r->open->cred, r->open->cred_len);
            free(r->open->cred);
        }
        free(r->open);
    }
    free(r->payload);
    free(r->sql);
    free(r->params);
    buf_free(&r->out);
}

static const struct op_vtable req_vt = {
    .writable = req_writable, .cancel = req_cancel, .release = req_release};

static void req_start(struct odbc_req *r)
{
    struct odbc_handle *h = r->h;
    r->started = 1;
    if (h->closed) {
        req_fail(r, MC_ERR_BAD_HANDLE, "the handle was closed, or its ODBC_OPEN failed");
        return;
    }
    if (r->kind == REQ_CLOSE) {
        op_conn_log(r->op.c, LOG_LVL_INFO, "event=odbc_close handle=%u%s", h->id,
                    h->pinned ? " note=\"open transaction rolled back\"" : "");
        h->closed = 1;
        if (op_conn_send(r->op.c, MC_MSG_ODBC_CLOSE_OK, r->op.id, NULL, 0) == 0)
            op_finish(&r->op);
        return;
    }
    if (r->kind == REQ_TX && r->tx != TX_BEGIN && !h->pinned) {
        req_fail(r, MC_ERR_UNEXPECTED, "no transaction is open on this handle (TX BEGIN first)");
        return;
    }
    if (r->kind == REQ_TX && r->tx == TX_BEGIN && h->pinned) {
        req_fail(r, MC_ERR_UNEXPECTED, "a transaction is already open on this handle");
        return;
    }
    req_submit(r);
}

static void reap_work(struct job *j)
{
    (void)j;
    odbc_pools_reap();
}

static void reap_done(struct job *j, int status)
{
    (void)status;
    free(j);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ms();
    /* Every 30 s: idle database connections past idle_timeout are closed. */
    if (++od.ticks % ODBC_REAP_TICKS == 0) {
        struct job *j = calloc(1, sizeof *j);
        if (j) {
            j->work = reap_work;
            j->done = reap_done;
            if (job_submit(od.loop, od.pool, j, &od.owner) < 0)
                free(j);
        }
    }
    struct odbc_handle *next;
    for (struct odbc_handle *h = od.handles; h; h = next) {
        next = h->next; /* an answer below may free h */
        struct odbc_req *r = h->head;
        if (!r || r->kind == REQ_OPEN)
            continue;
        uint64_t limit = (uint64_t)r->timeout_s * 1000u;
        uint64_t since = atomic_load(&r->running_since_ms);
        if (r->busy && since && now - since > limit) {
            /* Answered at once; the statement is cancelled where the driver
             * allows it (again every ODBC_GRACE_MS), else it runs to its end
             * while the handle's next requests wait. */
            if (!r->timed_out) {
                r->timed_out = 1;
                op_conn_log(r->op.c, LOG_LVL_WARN,
                            "event=odbc_timeout handle=%u timeout_s=%u action=\"answered TIMEOUT; "
                            "cancelling the statement\"",
                            h->id, r->timeout_s);
                char m[160];
                snprintf(m, sizeof m,
                         "the statement ran longer than this connection's odbc_query_timeout "
                         "(%u s) and was cancelled",
                         r->timeout_s);
                req_fail(r, MC_ERR_TIMEOUT, m);
            } else if (now - since > limit + ODBC_GRACE_MS) {
                req_cancel_running(r);
            }
        } else if (!r->busy && r->kind == REQ_QUERY && r->stalled_since_ms &&
                   now - r->stalled_since_ms > limit && !r->op.finished) {
            /* A client that stops reading must not hold a database connection. */
            char m[200];
            snprintf(m, sizeof m,
                     "the client read none of the result for odbc_query_timeout (%u s); the "
                     "query was stopped",
                     r->timeout_s);
            req_fail(r, MC_ERR_TIMEOUT, m);
        }
    }
}

/* -- requests -------------------------------------------------------------------------------- */

static struct odbc_req *req_new(struct conn *c, const struct frame *f, const char *name,
                                enum req_kind kind)
{
    struct odbc_req *r =
        (struct odbc_req *)op_new(c, f->request_id, name, f->length, &req_vt, sizeof *r);
    if (!r)
        return NULL;
    r->kind = kind;
    pthread_mutex_init(&r->live_lock, NULL);
    r->job.work = req_work;
    r->job.done = req_done;
    const struct cfg_connection *cfg = op_conn_config(c);
    r->timeout_s = cfg->odbc_query_timeout;
    r->limits = od.limits;
    r->op.in_ended = 1; /* no DATA from the client: a half-close does not end it */
    buf_init(&r->out, ODBC_CHUNK * 4);
    return r;
}

int odbc_open(struct conn *c, const struct frame *f)
{
    struct wire_reader rd;
    wire_reader_init(&rd, f->payload, f->length);
    uint16_t n = wire_get_u16(&rd);
    const uint8_t *bytes = wire_get_bytes(&rd, n);
    if (wire_reader_done(&rd) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "ODBC_OPEN carries a u16 byte count and the credential file's bytes");
    const struct cfg_connection *cfg = op_conn_config(c);
    if (n == 0 && !cfg->odbc_credential[0])
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "odbc_open: no credential file given and this connection has no "
                        "odbc_credential");
    if (n > CRED_FILE_MAX)
        return op_error(c, f, MC_ERR_BAD_CREDENTIAL,
                        "odbc_open: %u bytes is larger than any credential file", n);
    unsigned open = 0;
    for (struct odbc_handle *h = *conn_bucket(c); h; h = h->conn_next)
        open += h->c == c && !h->closed;
    if (open >= ODBC_MAX_HANDLES)
        return op_error(c, f, MC_ERR_BUSY,
                        "odbc_open: %u handles are open on this connection (ODBC_CLOSE one)",
                        ODBC_MAX_HANDLES);
    struct odbc_handle *h = calloc(1, sizeof *h);
    struct odbc_req *r = h ? req_new(c, f, "odbc_open", REQ_OPEN) : NULL;
    if (!r) {
        free(h);
        return op_error(c, f, MC_ERR_NOMEM, "odbc_open: out of memory");
    }
    h->refs = 1; /* until the OPEN is queued on it */
    h->c = c;
    if (++od.next_id == 0)
        ++od.next_id;
    h->id = od.next_id;
    h->read_only = cfg->odbc_mode == CFG_ODBC_READ_ONLY;
    h->raw_sql = cfg->odbc_raw_sql;
    handle_link(h);
    struct open_args *o = r->open = calloc(1, sizeof *r->open);
    if (o && n && (o->cred = malloc(n)) != NULL) {
        memcpy(o->cred, bytes, n);
        o->cred_len = n;
    }
    if (!o || (n && !o->cred)) {
        h->closed = 1;
        h->refs = 0;
        op_fail(&r->op, MC_ERR_NOMEM, "odbc_open: out of memory");
        handle_free_if_done(h);
        return DISPATCH_ASYNC;
    }
    snprintf(o->sources, sizeof o->sources, "%s", cfg->odbc_sources);
    if (!n)
        snprintf(o->cred_path, sizeof o->cred_path, "%s", cfg->odbc_credential);
    h->refs = 0;
    req_enqueue(r, h);
    return DISPATCH_ASYNC;
}

/* QUERY and EXEC: u32 handle, u8 kind, str text, [u32 max_rows], u16 count, values. */
static int statement(struct conn *c, const struct frame *f, enum req_kind kind)
{
    const char *name = kind == REQ_QUERY ? "query" : "exec";
    struct wire_reader rd;
    wire_reader_init(&rd, f->payload, f->length);
    uint32_t hid = wire_get_u32(&rd);
    const uint8_t *named = wire_get_bytes(&rd, 1);
    struct wire_str text = wire_get_str(&rd, 65535);
    uint32_t max_rows = kind == REQ_QUERY ? wire_get_u32(&rd) : 0;
    uint16_t count = wire_get_u16(&rd);
    if (rd.err || named[0] > 1)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "%s carries u32 handle, u8 kind (0 SQL, 1 named), str text, %su16 "
                        "count and the values",
                        name, kind == REQ_QUERY ? "u32 max_rows, " : "");
    struct odbc_handle *h = handle_find(c, hid);
    if (!h)
        return op_error(c, f, MC_ERR_BAD_HANDLE, "%s: no handle %u on this connection", name, hid);
    if (kind == REQ_EXEC && h->read_only)
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "exec: this connection is read-only (odbc_mode = read_only)");
    const struct cfg_connection *cfg = op_conn_config(c);
    char key[CFG_NAME_MAX];
    const char *sql = NULL;
    if (named[0]) {
        wire_str_copy(key, sizeof key, text);
        sql = text.len < sizeof key ? config_query(cfg->queries, key) : NULL;
        if (!sql)
            return op_error(c, f, MC_ERR_NOT_ALLOWED,
                            "%s: no statement '%.*s' in this connection's [queries] section", name,
                            (int)(text.len > 64 ? 64 : text.len), text.ptr);
    } else if (!cfg->odbc_raw_sql) {
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "%s: raw SQL is off on this connection (odbc_raw_sql = no): use a named "
                        "statement",
                        name);
    }
    struct odbc_req *r = req_new(c, f, name, kind);
    if (!r)
        return op_error(c, f, MC_ERR_NOMEM, "%s: out of memory", name);
    r->sql = named[0] ? strdup(sql) : strndup(text.ptr, text.len);
    r->payload = malloc(f->length ? f->length : 1);
    r->params = calloc(count ? count : 1, sizeof *r->params);
    if (!r->sql || !r->payload || !r->params) {
        op_fail(&r->op, MC_ERR_NOMEM, "%s: out of memory", name);
        return DISPATCH_ASYNC;
    }
    const char *why;
    r->raw = !named[0];
    if (r->raw && odbc_sql_check(r->sql, h->read_only, &why) < 0) {
        op_fail(&r->op, MC_ERR_NOT_ALLOWED, "%s: %s", name, why);
        return DISPATCH_ASYNC;
    }
    /* The values go on from where the reader stopped, in a copy of the
     * payload that lives as long as the request (they point into it). */
    memcpy(r->payload, f->payload, f->length);
    rd.p = r->payload;
    int rc = odbc_values_decode(&rd, count, r->params, &why);
    if (rc == 0 && wire_reader_done(&rd) < 0) {
        rc = MC_ERR_BAD_PAYLOAD;
        why = "bytes after the last parameter";
    }
    if (rc < 0) {
        op_fail(&r->op, rc, "%s: %s", name, why);
        return DISPATCH_ASYNC;
    }
    r->nparams = count;
    r->max_rows = cfg->odbc_max_rows;
    if (max_rows && max_rows <= cfg->odbc_max_rows) {
        r->max_rows = max_rows;
        r->client_limit = 1;
    }
    r->max_bytes = cfg->odbc_max_result_bytes ? cfg->odbc_max_result_bytes : UINT64_MAX;
    req_enqueue(r, h);
    return DISPATCH_ASYNC;
}

int odbc_query(struct conn *c, const struct frame *f)
{
    return statement(c, f, REQ_QUERY);
}

int odbc_exec(struct conn *c, const struct frame *f)
{
    return statement(c, f, REQ_EXEC);
}

int odbc_tx(struct conn *c, const struct frame *f)
{
    struct wire_reader rd;
    wire_reader_init(&rd, f->payload, f->length);
    uint32_t hid = wire_get_u32(&rd);
    const uint8_t *op = wire_get_bytes(&rd, 1);
    if (wire_reader_done(&rd) < 0 || op[0] < TX_BEGIN || op[0] > TX_ROLLBACK)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "TX carries u32 handle and u8 op (1 BEGIN, 2 COMMIT, 3 ROLLBACK)");
    struct odbc_handle *h = handle_find(c, hid);
    if (!h)
        return op_error(c, f, MC_ERR_BAD_HANDLE, "tx: no handle %u on this connection", hid);
    if (op[0] == TX_BEGIN && h->read_only)
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "tx: this connection is read-only (odbc_mode = read_only)");
    struct odbc_req *r = req_new(c, f, "tx", REQ_TX);
    if (!r)
        return op_error(c, f, MC_ERR_NOMEM, "tx: out of memory");
    r->tx = op[0];
    if (r->tx != TX_BEGIN)
        r->op.no_cancel = 1; /* the answer says what happened to the transaction */
    req_enqueue(r, h);
    return DISPATCH_ASYNC;
}

int odbc_close(struct conn *c, const struct frame *f)
{
    struct wire_reader rd;
    wire_reader_init(&rd, f->payload, f->length);
    uint32_t hid = wire_get_u32(&rd);
    if (wire_reader_done(&rd) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "ODBC_CLOSE carries a u32 handle");
    struct odbc_handle *h = handle_find(c, hid);
    if (!h)
        return op_error(c, f, MC_ERR_BAD_HANDLE, "odbc_close: no handle %u on this connection",
                        hid);
    struct odbc_req *r = req_new(c, f, "odbc_close", REQ_CLOSE);
    if (!r)
        return op_error(c, f, MC_ERR_NOMEM, "odbc_close: out of memory");
    req_enqueue(r, h);
    return DISPATCH_ASYNC;
}

void odbc_conn_closed(struct conn *c)
{
    struct odbc_handle *next;
    for (struct odbc_handle *h = *conn_bucket(c); h; h = next) {
        next = h->conn_next;
        if (h->c == c) {
            h->conn_closing = 1;
            h->closed = 1;
            handle_free_if_done(h);
        }
    }
}

/* -- life cycle ------------------------------------------------------------------------------ */

static void limits_from(const struct mc_config *cfg)
{
    od.limits.pool_min = cfg->odbc_pool_min;
    od.limits.pool_max = cfg->odbc_pool_max;
    od.limits.idle_timeout_s = cfg->odbc_idle_timeout;
    od.limits.wait_ms = 10000;
}

/* Start the database side if a connection has the permission and it is not running yet. */
static int odbc_ensure(const struct mc_config *cfg)
{
    int needed = 0;
    for (size_t i = 0; i < cfg->nconns; i++) {
        const struct cfg_connection *c = &cfg->conns[i];
        if (!c->active || !(c->perms & MC_PERM_ODBC))
            continue;
        needed = 1;
        if (c->odbc_credential[0] && access(c->odbc_credential, R_OK) != 0)
            log_warn("event=odbc_start connection=%s odbc_credential=%s error=\"%s\" "
                     "note=\"ODBC_OPEN without a credential file fails until it is there (misctl "
                     "cred create)\"",
                     c->name, c->odbc_credential, strerror(errno));
    }
    if (!needed || od.started)
        return 0; /* no threads, no environment, no key for gateways without the permission */
    if (odbc_db_init(cfg->odbc_ini_dir) < 0) {
        log_error("event=odbc_start error=\"cannot set up the ODBC environment (unixODBC)\"");
        return MC_ERR_INTERNAL;
    }
    const char *why = NULL;
    int rc = cred_master_key_load(cfg->data_dir, 1, &od.master, &why);
    if (rc < 0) {
        snprintf(od.master_why, sizeof od.master_why,
                 "the gateway has no master key for credential files: %s",
                 why ? why : mc_strerror(rc));
        log_warn("event=odbc_start warning=\"%s\"", od.master_why);
    } else {
        od.have_master = 1;
        char id[CRED_KEY_ID_HEX];
        cred_key_id_hex(od.master.current.id, id);
        log_info("event=odbc_start threads=%u pool_max=%u ini_dir=%s master_key=%s%s%s%s",
                 cfg->odbc_threads, cfg->odbc_pool_max, cfg->odbc_ini_dir, id,
                 od.master.created ? " note=\"new master key\"" : "",
                 od.master.warning ? " warning=" : "", od.master.warning ? od.master.warning : "");
    }
    if ((rc = job_pool_start(od.loop, "odbc", cfg->odbc_threads, ODBC_QUEUE_MAX, &od.pool)) < 0) {
        log_error("event=odbc_start error=\"cannot start the ODBC threads\"");
        return rc;
    }
    uv_idle_init(od.loop, &od.kicker);
    uv_timer_init(od.loop, &od.watchdog);
    uv_timer_start(&od.watchdog, on_watchdog, ODBC_WATCHDOG_MS, ODBC_WATCHDOG_MS);
    uv_unref((uv_handle_t *)&od.watchdog);
    od.started = 1;
    return 0;
}

int odbc_start(uv_loop_t *loop, const struct mc_config *cfg)
{
    od.loop = loop;
    limits_from(cfg);
    return odbc_ensure(cfg);
}

void odbc_reconfigure(const struct mc_config *cfg)
{
    limits_from(cfg);
    (void)odbc_ensure(
        cfg); /* a reload may grant the permission (the pool's threads stay as started) */
}

void odbc_stop(void)
{
    if (!od.started)
        return;
    uv_timer_stop(&od.watchdog);
    uv_close((uv_handle_t *)&od.watchdog, NULL);
    uv_idle_stop(&od.kicker);
    uv_close((uv_handle_t *)&od.kicker, NULL);
    job_pool_stop(od.pool);
    od.pool = NULL;
    od.started = 0;
}

void odbc_free(void)
{
    odbc_db_shutdown();
    if (od.have_master)
        cred_master_wipe(&od.master);
    od.have_master = 0;
}
