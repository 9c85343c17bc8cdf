/*
 * SYNC_PULL (docs/protocol.md 5.16): one page of the changes feed, as a
 * stream. Loop thread, except the *_work functions (sync job pool).
 *
 * The cursor names a window [low, high) of the change log and the last
 * row sent from it (after). A pull with high 0 first reads the safe
 * horizon and takes the window [low, horizon). The page is the pull
 * statement's rows in that window, by sequence number: when it is full,
 * the next cursor goes on in the same window after its last row; when it
 * is not, the window is done and the next cursor starts the next one at
 * its high end. Rows are fetched and sent chunk by chunk under the
 * client's credit, as QUERY's are.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "log.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"
#include "sync.h"
#include "sync_db.h"
#include "sync_internal.h"
#include "wire.h"

#define PULL_CHUNK     (256u * 1024u)
#define PULL_FRAME     (64u * 1024u)
#define PULL_DEFAULT   1000u
#define PULL_MAX       10000u
#define CURSOR_VERSION 1u
#define CURSOR_SIZE    25u

struct cursor {
    int64_t low, high, after;
};

struct pull_req {
    struct op op;
    struct job job;
    struct pull_req *live_next, **live_pprev; /* the pulls in progress (the stall check) */
    uint64_t stalled_since_ms;                /* rows wait for the client's credit since (0: not) */
    unsigned stall_s;                         /* the mapping's stall_timeout */
    struct sync_binding binding;
    struct sync_mapping *mp;
    struct sync_def *def;
    char device[129];
    char connection[CFG_NAME_MAX];
    struct cursor cur, next;
    uint32_t limit;
    atomic_int stop;
    int busy;
    /* The jobs' while busy, the loop's between jobs. */
    struct odbc_link *link;
    const struct sync_map *map;
    struct odbc_stmt *stmt;
    int ncols;
    struct buf out;
    size_t columns_len;
    uint64_t rows;
    int64_t last_seq;
    int fetched_all, more, columns_sent;
    int rc;
    struct odbc_error err;
};

/* Pulls in progress: one that holds a database connection while its client reads nothing
 * is ended (sync_pull_check_stalls), so that stalled phones cannot take the whole pool. */
static struct pull_req *live;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static int cursor_decode(const uint8_t *p, size_t n, struct cursor *c)
{
    *c = (struct cursor){0};
    if (n == 0)
        return 0;
    if (n != CURSOR_SIZE || p[0] != CURSOR_VERSION)
        return MC_ERR_BAD_CURSOR;
    struct wire_reader rd;
    wire_reader_init(&rd, p + 1, n - 1);
    c->low = (int64_t)wire_get_u64(&rd);
    c->high = (int64_t)wire_get_u64(&rd);
    c->after = (int64_t)wire_get_u64(&rd);
    if (c->low < 0 || c->high < 0 || c->after < 0 || (c->high && c->high < c->low))
        return MC_ERR_BAD_CURSOR;
    return 0;
}

static size_t cursor_encode(const struct cursor *c, uint8_t *p)
{
    struct wire_writer w;
    wire_writer_init(&w, p, CURSOR_SIZE);
    wire_put_bytes(&w, (uint8_t[]){CURSOR_VERSION}, 1);
    wire_put_u64(&w, (uint64_t)c->low);
    wire_put_u64(&w, (uint64_t)c->high);
    wire_put_u64(&w, (uint64_t)c->after);
    return w.len;
}

/* -- jobs (sync pool) ------------------------------------------------------------------------- */

/* The sequence number of the last row in out from off on (rows are whole). */
static void track_last_seq(struct pull_req *r, size_t off)
{
    struct odbc_value v[64];
    struct odbc_value *vals = r->ncols <= 64 ? v : malloc((size_t)r->ncols * sizeof *vals);
    if (!vals)
        return;
    while (off < buf_len(&r->out) && sync_db_row(&r->out, &off, (unsigned)r->ncols, vals) == 0)
        if (vals[0].tag == MC_VALUE_INT)
            r->last_seq = vals[0].i;
    if (vals != v)
        free(vals);
}

static void fetch(struct pull_req *r)
{
    size_t before = buf_len(&r->out);
    int done = 0;
    r->out.limit = before + PULL_CHUNK * 4;
    int rc = odbc_stmt_fetch(r->stmt, &r->out, before + PULL_CHUNK, r->limit, &r->rows, &done,
                             &r->more, &r->err);
    if (rc < 0) {
        r->rc = rc;
        return;
    }
    track_last_seq(r, before);
    r->fetched_all = done;
}

static void start_work(struct pull_req *r)
{
    int64_t technician = r->binding.technician;
    int revoked = 0;
    int rc = sync_take(r->mp, r->def, &r->link, &r->map, &r->err);
    if (rc == 0 && !r->binding.known)
        rc = sync_db_device(r->link, r->map, r->device, r->connection, &technician, &revoked,
                            &r->err);
    if (rc == 0 && revoked) {
        rc = MC_ERR_REVOKED;
        snprintf(r->err.msg, sizeof r->err.msg, "this device was revoked by the administrator");
    }
    if (rc == 0 && r->cur.high == 0)
        rc = sync_db_scalar(r->link, r->map, "horizon", NULL, 0, &r->cur.high, &r->err);
    if (rc < 0) {
        r->rc = rc;
        return;
    }
    struct sync_bind b[] = {
        {"technician", sync_int(technician)},
        {"low", sync_int(r->cur.low)},
        {"high", sync_int(r->cur.high)},
        {"after", sync_int(r->cur.after)},
        {"limit", sync_int((int64_t)r->limit + 1)},
    };
    const struct sync_stmt *s = sync_map_find(r->map, "pull");
    struct odbc_value v[SYNC_PARAMS_MAX];
    int np = sync_db_bind(s, b, sizeof b / sizeof b[0], NULL, v, &r->err);
    if (np < 0 || (rc = odbc_stmt_open(r->link, s->sql, 1, &r->stmt, &r->err)) < 0 ||
        (rc = odbc_stmt_exec(r->stmt, s->sql, v, (size_t)np, 60, &r->err)) < 0 ||
        (rc = odbc_stmt_columns(r->stmt, &r->out, &r->err)) < 0) {
        r->rc = np < 0 ? np : rc;
        return;
    }
    r->columns_len = buf_len(&r->out);
    r->ncols = odbc_stmt_ncols(r->stmt);
    if (r->ncols < 3) {
        r->rc = MC_ERR_CONFIG;
        snprintf(r->err.msg, sizeof r->err.msg,
                 "the mapping's [pull] must return seq, id, version and the rest");
        return;
    }
    fetch(r);
}

/* Give the database connection back; on success note the device's pull. */
static void end_database(struct pull_req *r, int ok)
{
    if (r->stmt)
        odbc_stmt_close(r->stmt);
    r->stmt = NULL;
    if (r->link && ok && r->binding.note) {
        struct odbc_error e;
        struct sync_bind b[] = {{"device", sync_text(r->device, strlen(r->device))}};
        (void)sync_db_run(r->link, r->map, "device_seen", b, 1, NULL, NULL, NULL, NULL, &e);
    }
    if (r->link)
        odbc_link_give(r->link);
    r->link = NULL;
}

static void pull_work(struct job *j)
{
    struct pull_req *r = (struct pull_req *)((char *)j - offsetof(struct pull_req, job));
    r->rc = 0;
    if (atomic_load(&r->stop)) {
        r->rc = MC_ERR_CANCELLED;
        end_database(r, 0);
        return;
    }
    if (r->stmt)
        fetch(r);
    else
        start_work(r);
    if (r->rc < 0 || r->fetched_all)
        end_database(r, r->rc == 0);
}

/* -- the stream (loop thread) ------------------------------------------------------------------ */

static void fail(struct pull_req *r, int code, const char *msg)
{
    op_conn_log(r->op.c, code == MC_ERR_CANCELLED ? LOG_LVL_INFO : LOG_LVL_WARN,
                "event=sync_pull device=\"%s\" result=%s reason=\"%s\"", r->device,
                mc_err_name(code), msg);
    op_fail(&r->op, code, "sync_pull: %s", msg);
}

static void submit(struct pull_req *r)
{
    r->busy = 1;
    if (!sync_g.pool || op_submit(&r->op, sync_g.pool, &r->job) < 0) {
        r->busy = 0;
        fail(r, MC_ERR_BUSY, "the gateway's sync queue is full; try again");
    }
}

static void finish(struct pull_req *r)
{
    struct op *op = &r->op;
    r->next = r->more ? (struct cursor){r->cur.low, r->cur.high, r->last_seq}
                      : (struct cursor){r->cur.high, 0, 0};
    uint8_t p[2 + CURSOR_SIZE + 9];
    struct wire_writer w;
    wire_writer_init(&w, p, sizeof p);
    uint8_t cur[CURSOR_SIZE];
    size_t n = cursor_encode(&r->next, cur);
    wire_put_u16(&w, (uint16_t)n);
    wire_put_bytes(&w, cur, n);
    wire_put_u64(&w, r->rows);
    wire_put_bytes(&w, (uint8_t[]){r->more ? 1 : 0}, 1);
    op_conn_log(op->c, LOG_LVL_INFO,
                "event=sync_pull device=\"%s\" result=OK rows=%llu more=%d window=%lld-%lld",
                r->device, (unsigned long long)r->rows, r->more, (long long)r->cur.low,
                (long long)r->cur.high);
    if (op_conn_send(op->c, MC_MSG_SYNC_PULL_OK, op->id, p, w.len) == 0)
        op_finish(op);
}

static void pump(struct pull_req *r)
{
    struct op *op = &r->op;
    if (buf_len(&r->out) > 0) {
        (void)op_send_buffered(op, &r->out, PULL_FRAME, r->fetched_all, &r->stalled_since_ms);
        return;
    }
    if (!r->fetched_all) {
        if (!r->busy)
            submit(r);
        return;
    }
    if (!op->out_ended && op_send_data(op, NULL, 0, 1) < 0)
        return;
    finish(r);
}

static void pull_done(struct job *j, int status)
{
    struct pull_req *r = (struct pull_req *)((char *)j - offsetof(struct pull_req, job));
    r->busy = 0;
    if (status < 0)
        return; /* cancelled or closed: release gives the database back */
    if (r->rc < 0) {
        fail(r, r->rc == MC_ERR_CONFIG ? MC_ERR_INTERNAL : r->rc,
             r->err.msg[0] ? r->err.msg : mc_strerror(r->rc));
        return;
    }
    if (!r->columns_sent) {
        r->columns_sent = 1;
        if (op_conn_send(r->op.c, MC_MSG_SYNC_COLUMNS, r->op.id, buf_head(&r->out),
                         r->columns_len) < 0)
            return;
        buf_consume(&r->out, r->columns_len);
    }
    op_want_write(&r->op);
}

static void pull_writable(struct op *op)
{
    struct pull_req *r = (struct pull_req *)op;
    if (r->columns_sent && !r->busy)
        pump(r);
}

static void pull_cancel(struct op *op, int reason)
{
    (void)reason;
    atomic_store(&((struct pull_req *)op)->stop, 1);
}

/* A statement and connection left by a pull that ended mid-way, closed on the pool. */
struct end_job {
    struct job job;
    struct odbc_stmt *stmt;
    struct odbc_link *link;
};

static void end_work(struct job *j)
{
    struct end_job *e = (struct end_job *)j;
    if (e->stmt)
        odbc_stmt_close(e->stmt);
    if (e->link)
        odbc_link_give(e->link);
}

static void end_done(struct job *j, int status)
{
    (void)status;
    free(j);
}

static void pull_release(struct op *op)
{
    struct pull_req *r = (struct pull_req *)op;
    if (r->live_pprev) {
        *r->live_pprev = r->live_next;
        if (r->live_next)
            r->live_next->live_pprev = r->live_pprev;
    }
    if (r->stmt || r->link) {
        struct end_job *e = calloc(1, sizeof *e);
        if (e) {
            e->stmt = r->stmt;
            e->link = r->link;
            e->job.work = end_work;
            e->job.done = end_done;
            if (sync_g.pool && job_submit(sync_g.loop, sync_g.pool, &e->job, &sync_g.owner) == 0)
                r->stmt = NULL, r->link = NULL;
            else
                free(e);
        }
        end_database(r, 0); /* could not hand it over: close it here (the process is ending) */
    }
    sync_def_drop(r->def);
    r->def = NULL;
    buf_free(&r->out);
}

static const struct op_vtable pull_vt = {
    .writable = pull_writable, .cancel = pull_cancel, .release = pull_release};

int sync_pull(struct conn *c, const struct frame *f)
{
    const struct cfg_connection *cfg = op_conn_config(c);
    struct sync_mapping *mp = sync_mapping_of(cfg);
    if (!mp)
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "sync_pull: this connection has no sync mapping (sync_mapping)");
    struct wire_reader rd;
    wire_reader_init(&rd, f->payload, f->length);
    uint16_t n = wire_get_u16(&rd);
    const uint8_t *cur = wire_get_bytes(&rd, n);
    uint32_t limit = wire_get_u32(&rd);
    if (rd.err || wire_reader_done(&rd) != 0 || n > 64)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "sync_pull: expected u16 n, n cursor bytes (at most 64), u32 limit");
    struct cursor cc;
    if (cursor_decode(cur, n, &cc) < 0)
        return op_error(c, f, MC_ERR_BAD_CURSOR,
                        "sync_pull: this cursor was not made by the gateway; pull from the "
                        "beginning (an empty cursor)");
    if (limit == 0)
        limit = PULL_DEFAULT;
    if (limit > PULL_MAX)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "sync_pull: limit is at most %u rows", PULL_MAX);
    struct sync_binding binding;
    int bound = sync_binding_of(mp, op_conn_device(c), cfg->name, 0, &binding);
    if (bound < 0)
        return op_error(c, f, bound, "sync_pull: %s",
                        bound == MC_ERR_REVOKED
                            ? "this device was revoked by the administrator"
                            : "this device is not bound to a technician on this connection "
                              "(misctl device add)");
    struct pull_req *r =
        (struct pull_req *)op_new(c, f->request_id, "sync_pull", f->length, &pull_vt, sizeof *r);
    if (!r)
        return op_error(c, f, MC_ERR_NOMEM, "sync_pull: out of memory");
    r->op.in_ended = 1;
    r->mp = mp;
    r->def = mp->def;
    sync_def_hold(r->def);
    r->cur = cc;
    r->limit = limit;
    r->stall_s = r->def->cfg.stall_timeout;
    r->binding = binding;
    snprintf(r->device, sizeof r->device, "%s", op_conn_device(c));
    snprintf(r->connection, sizeof r->connection, "%s", cfg->name);
    buf_init(&r->out, PULL_CHUNK * 4);
    r->job.work = pull_work;
    r->job.done = pull_done;
    r->live_next = live;
    if (live)
        live->live_pprev = &r->live_next;
    live = r;
    r->live_pprev = &live;
    submit(r);
    return DISPATCH_ASYNC;
}

void sync_pull_check_stalls(void)
{
    uint64_t now = now_ms();
    struct pull_req *r = live;
    while (r) {
        struct pull_req *next = r->live_next;
        if (r->stalled_since_ms && now - r->stalled_since_ms >= (uint64_t)r->stall_s * 1000u) {
            char m[128];
            snprintf(m, sizeof m,
                     "the client read none of the pull for %u s; its database connection is "
                     "given back",
                     r->stall_s);
            fail(r, MC_ERR_TIMEOUT, m);
        }
        r = next;
    }
}
