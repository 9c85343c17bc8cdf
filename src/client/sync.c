/*
 * libmiscomm, intervention sync on the wire: SYNC_PULL and SYNC_PUSH
 * (docs/protocol.md 5.16) on the public request and stream API
 * (client.h), the typed values and row reader of odbc.h; and the runs
 * that drive them against the offline store (sync_store.c).
 */
#include "miscomm/sync.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_internal.h"
#include "filehash.h"
#include "miscomm/files.h"
#include "sync_internal.h"
#include "wire.h"

#define SYNC_MAX_STR  0xFFFFu /* a str */
#define SYNC_MAX_FILE 1024u   /* a name in the receive folder (section 5.14) */

/* -- SYNC_PULL ----------------------------------------------------------------------- */

struct pull_ctx {
    mc_row_reader *rows;
    const struct mc_sync_pull_callbacks *cb;
    void *ud;
    int reader_rc; /* why the reader refused the rows (not a callback's stop) */
    int stopped;   /* a callback's stop */
};

static int pull_on_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct pull_ctx *q = ud;
    int rc = q->cb && q->cb->row ? q->cb->row(q->ud, row, ncols) : 0;
    if (rc < 0)
        q->stopped = rc;
    return rc;
}

static int pull_on_data(void *ud, const uint8_t *p, size_t n, int end)
{
    struct pull_ctx *q = ud;
    int rc = mc_row_reader_feed(q->rows, p, n, pull_on_row, q);
    if (rc == 0 && end)
        rc = mc_row_reader_end(q->rows);
    if (rc < 0 && !q->stopped)
        q->reader_rc = rc;
    return rc;
}

/* SYNC_PULL_OK: u16 n, cursor, u64 rows, u8 flags. */
static int pull_ok_parse(mc_client *c, const struct mc_reply *r, struct mc_sync_page *out)
{
    struct wire_reader rd;
    wire_reader_init(&rd, r->payload, r->len);
    uint16_t n = wire_get_u16(&rd);
    const uint8_t *cur = n <= MC_SYNC_MAX_CURSOR ? wire_get_bytes(&rd, n) : NULL;
    uint64_t rows = wire_get_u64(&rd);
    const uint8_t *flags = wire_get_bytes(&rd, 1);
    if (n > MC_SYNC_MAX_CURSOR || wire_reader_done(&rd) < 0)
        return client_fail(c, MC_ERR_BAD_PAYLOAD, "malformed SYNC_PULL_OK from the server");
    if (n)
        memcpy(out->cursor, cur, n);
    out->cursor_len = n;
    out->rows = rows;
    out->more = (*flags & 0x01) != 0;
    return 0;
}

int mc_sync_pull(mc_client *c, const uint8_t *cursor, size_t cursor_len, uint32_t limit,
                 const struct mc_sync_pull_callbacks *cb, void *ud, struct mc_sync_page *out)
{
    if (cursor_len > MC_SYNC_MAX_CURSOR || (cursor_len && !cursor) || !out)
        return client_fail(c, MC_ERR_INVALID_ARG, "SYNC_PULL: a cursor holds at most %u bytes",
                           MC_SYNC_MAX_CURSOR);
    if (limit > MC_SYNC_MAX_LIMIT)
        return client_fail(c, MC_ERR_INVALID_ARG, "SYNC_PULL: at most %u rows per page",
                           MC_SYNC_MAX_LIMIT);
    *out = (struct mc_sync_page){0};
    uint8_t req[2 + MC_SYNC_MAX_CURSOR + 4];
    struct wire_writer w;
    wire_writer_init(&w, req, sizeof req);
    wire_put_u16(&w, (uint16_t)cursor_len);
    if (cursor_len)
        wire_put_bytes(&w, cursor, cursor_len);
    wire_put_u32(&w, limit);

    mc_stream *s = NULL;
    struct client_columns cols = {0};
    struct pull_ctx q = {.cb = cb, .ud = ud};
    struct mc_reply r;
    int rc = mc_stream_open(c, MC_MSG_SYNC_PULL, req, w.len, &s);
    if (rc < 0)
        goto out;
    if ((rc = mc_stream_wait_frame(s, MC_MSG_SYNC_COLUMNS, &r)) < 0)
        goto out;
    if ((rc = client_columns_parse(r.payload, r.len, &cols)) < 0) {
        rc = client_fail(c, rc, "malformed SYNC_COLUMNS from the server");
        goto out;
    }
    if (cb && cb->columns && (rc = cb->columns(ud, cols.cols, cols.n)) < 0) {
        rc = client_fail(c, rc, "SYNC_PULL: stopped by the columns callback");
        goto out; /* the stream is cancelled as it is freed */
    }
    if ((rc = mc_row_reader_new(&q.rows, cols.n, cols.types, 0)) < 0) {
        rc = client_fail(c, rc, "out of memory");
        goto out;
    }
    rc = mc_stream_finish(s, pull_on_data, &q, &r);
    if (rc < 0) {
        if (q.stopped)
            rc = client_fail(c, q.stopped, "SYNC_PULL: stopped by the row callback");
        else if (q.reader_rc < 0)
            rc = client_fail(c, rc, "SYNC_PULL: malformed row %llu from the server",
                             (unsigned long long)mc_row_reader_rows(q.rows) + 1);
        goto out;
    }
    if ((rc = client_expect(c, &r, MC_MSG_SYNC_PULL_OK, SIZE_MAX, "SYNC_PULL")) < 0 ||
        (rc = pull_ok_parse(c, &r, out)) < 0)
        goto out;
    if (mc_row_reader_end(q.rows) < 0) {
        rc = client_fail(c, MC_ERR_BAD_PAYLOAD, "SYNC_PULL: the last row was cut short");
        goto out;
    }
    if (out->rows != mc_row_reader_rows(q.rows)) {
        rc = client_fail(
            c, MC_ERR_BAD_PAYLOAD, "SYNC_PULL: the server sent %llu rows, %llu arrived",
            (unsigned long long)out->rows, (unsigned long long)mc_row_reader_rows(q.rows));
        goto out;
    }
out:
    mc_row_reader_free(q.rows);
    free(cols.mem);
    mc_stream_free(s);
    return rc;
}

/* -- SYNC_PUSH ----------------------------------------------------------------------- */

static long value_size(const struct mc_value *v)
{
    return mc_value_encode(v, NULL, 0);
}

long sync_op_size(const struct mc_sync_op *op)
{
    long n = MC_SYNC_OP_ID_SIZE + 1 + 8, k;
    if (op->kind == MC_SYNC_UPDATE) {
        if (op->nfields < 1 || op->nfields > MC_SYNC_MAX_FIELDS || !op->fields)
            return MC_ERR_INVALID_ARG;
        n += 8 + 2;
        for (size_t i = 0; i < op->nfields; i++) {
            const struct mc_sync_field *f = &op->fields[i];
            size_t len = f->name ? strlen(f->name) : 0;
            if (len == 0 || len > SYNC_MAX_STR)
                return MC_ERR_INVALID_ARG;
            for (size_t j = 0; j < i; j++)
                if (strcmp(op->fields[j].name, f->name) == 0)
                    return MC_ERR_INVALID_ARG; /* each name once */
            n += 2 + (long)len;
            if ((k = value_size(&f->base)) < 0)
                return k;
            n += k;
            if ((k = value_size(&f->value)) < 0)
                return k;
            n += k;
            if (n > (long)MC_MAX_PAYLOAD)
                return n; /* too large anyway: no need to count further */
        }
        return n;
    }
    if (op->kind != MC_SYNC_PHOTO || !op->file || !op->content_type)
        return MC_ERR_INVALID_ARG;
    size_t fl = strlen(op->file), cl = strlen(op->content_type);
    if (fl == 0 || fl > SYNC_MAX_FILE || cl > SYNC_MAX_STR)
        return MC_ERR_INVALID_ARG;
    if ((op->caption.type != MC_VALUE_NULL && op->caption.type != MC_VALUE_TEXT) ||
        (op->taken_at.type != MC_VALUE_NULL && op->taken_at.type != MC_VALUE_TIMESTAMP))
        return MC_ERR_INVALID_ARG;
    n += 2 + (long)fl + 32 + 2 + (long)cl;
    if ((k = value_size(&op->caption)) < 0)
        return k;
    n += k;
    if ((k = value_size(&op->taken_at)) < 0)
        return k;
    return n + k;
}

static void put_value(struct wire_writer *w, const struct mc_value *v)
{
    long k = mc_value_encode(v, w->err ? NULL : w->p + w->len, w->err ? 0 : w->cap - w->len);
    if (k < 0 || w->err || (size_t)k > w->cap - w->len)
        w->err = 1;
    else
        w->len += (size_t)k;
}

static void op_encode(struct wire_writer *w, const struct mc_sync_op *op)
{
    uint8_t kind = (uint8_t)op->kind;
    wire_put_bytes(w, op->op_id, MC_SYNC_OP_ID_SIZE);
    wire_put_bytes(w, &kind, 1);
    wire_put_u64(w, op->intervention);
    if (op->kind == MC_SYNC_UPDATE) {
        wire_put_u64(w, op->base_version);
        wire_put_u16(w, (uint16_t)op->nfields);
        for (size_t i = 0; i < op->nfields; i++) {
            wire_put_cstr(w, op->fields[i].name);
            put_value(w, &op->fields[i].base);
            put_value(w, &op->fields[i].value);
        }
        return;
    }
    wire_put_cstr(w, op->file);
    wire_put_bytes(w, op->sha256, 32);
    wire_put_cstr(w, op->content_type);
    put_value(w, &op->caption);
    put_value(w, &op->taken_at);
}

/*
 * Room for one result's strings (NUL-terminated copies: the answer's are
 * not) and its arrays, grown as results need.
 */
struct push_scratch {
    char *strs;
    size_t strs_len, strs_cap;
    const char **names;
    size_t names_cap;
    struct mc_sync_named_value *current;
    size_t current_cap;
};

static const char *scratch_str(struct push_scratch *sc, struct wire_str s)
{
    if (sc->strs_len + s.len + 1 > sc->strs_cap)
        return NULL; /* sized for the whole answer: cannot happen */
    char *p = sc->strs + sc->strs_len;
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    sc->strs_len += s.len + 1;
    return p;
}

static int scratch_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 0;
    void *p = realloc(*arr, n * size);
    if (!p)
        return MC_ERR_NOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

/* One result from rd into *res (strings in sc); MC_ERR_BAD_PAYLOAD or MC_ERR_NOMEM. */
static int result_parse(struct wire_reader *rd, struct push_scratch *sc,
                        struct mc_sync_op_result *res)
{
    *res = (struct mc_sync_op_result){0};
    sc->strs_len = 0;
    const uint8_t *id = wire_get_bytes(rd, MC_SYNC_OP_ID_SIZE);
    const uint8_t *result = wire_get_bytes(rd, 1);
    const uint8_t *flags = wire_get_bytes(rd, 1);
    uint16_t code = wire_get_u16(rd);
    struct wire_str msg = wire_get_str(rd, SYNC_MAX_STR);
    res->version = wire_get_u64(rd);
    uint16_t nc = wire_get_u16(rd);
    if (rd->err || *result > MC_SYNC_FAILED)
        return MC_ERR_BAD_PAYLOAD;
    memcpy(res->op_id, id, MC_SYNC_OP_ID_SIZE);
    res->result = (enum mc_sync_result) * result;
    res->flags = *flags;
    res->code = code ? -(int)code : 0;
    res->message = scratch_str(sc, msg);
    if (scratch_grow((void **)&sc->names, &sc->names_cap, nc, sizeof *sc->names) < 0)
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < nc; i++) {
        struct wire_str name = wire_get_str(rd, SYNC_MAX_STR);
        if (rd->err)
            return MC_ERR_BAD_PAYLOAD;
        sc->names[i] = scratch_str(sc, name);
    }
    res->conflicts = sc->names;
    res->nconflicts = nc;
    uint16_t nv = wire_get_u16(rd);
    if (rd->err)
        return MC_ERR_BAD_PAYLOAD;
    if (scratch_grow((void **)&sc->current, &sc->current_cap, nv, sizeof *sc->current) < 0)
        return MC_ERR_NOMEM;
    for (size_t i = 0; i < nv; i++) {
        struct wire_str name = wire_get_str(rd, SYNC_MAX_STR);
        if (rd->err)
            return MC_ERR_BAD_PAYLOAD;
        sc->current[i].name = scratch_str(sc, name);
        long k = mc_value_decode(rd->p + rd->off, rd->len - rd->off, &sc->current[i].value);
        if (k <= 0)
            return MC_ERR_BAD_PAYLOAD;
        rd->off += (size_t)k;
    }
    res->current = sc->current;
    res->ncurrent = nv;
    return 0;
}

/* Read the answer: a check of the whole (fn NULL), then the delivery to fn. */
static int results_walk(mc_client *c, const struct mc_reply *r, const struct mc_sync_op *ops,
                        size_t nops, struct push_scratch *sc, mc_sync_result_fn fn, void *ud)
{
    struct wire_reader rd;
    wire_reader_init(&rd, r->payload, r->len);
    uint16_t count = wire_get_u16(&rd);
    if (rd.err || count != nops)
        return client_fail(c, MC_ERR_BAD_PAYLOAD, "SYNC_PUSH_OK has %u results for %zu operations",
                           count, nops);
    for (size_t i = 0; i < nops; i++) {
        struct mc_sync_op_result res;
        int rc = result_parse(&rd, sc, &res);
        if (rc == MC_ERR_NOMEM)
            return client_fail(c, rc, "out of memory");
        if (rc < 0)
            return client_fail(c, rc, "malformed result %zu in SYNC_PUSH_OK", i + 1);
        if (memcmp(res.op_id, ops[i].op_id, MC_SYNC_OP_ID_SIZE) != 0)
            return client_fail(c, MC_ERR_BAD_PAYLOAD,
                               "SYNC_PUSH_OK: result %zu is not for operation %zu", i + 1, i + 1);
        if (fn && (rc = fn(ud, i, &res)) < 0)
            return client_fail(c, rc, "SYNC_PUSH: stopped by the result callback");
    }
    if (wire_reader_done(&rd) < 0)
        return client_fail(c, MC_ERR_BAD_PAYLOAD, "SYNC_PUSH_OK: trailing bytes");
    return 0;
}

int mc_sync_push(mc_client *c, const struct mc_sync_op *ops, size_t nops, mc_sync_result_fn fn,
                 void *ud)
{
    if (nops < 1 || nops > MC_SYNC_MAX_BATCH || !ops)
        return client_fail(c, MC_ERR_INVALID_ARG, "SYNC_PUSH: 1 to %u operations (given: %zu)",
                           MC_SYNC_MAX_BATCH, nops);
    size_t need = 2;
    for (size_t i = 0; i < nops; i++) {
        long k = sync_op_size(&ops[i]);
        if (k < 0)
            return client_fail(c, MC_ERR_INVALID_ARG,
                               "SYNC_PUSH: operation %zu cannot be sent (fields: 1 to %u, each "
                               "name once; photo: a file name, a content type, a TEXT caption, "
                               "a TIMESTAMP taken_at; values as mc_value_encode() takes them)",
                               i + 1, MC_SYNC_MAX_FIELDS);
        need += (size_t)k;
        if (need > MC_MAX_PAYLOAD)
            return client_fail(c, MC_ERR_INVALID_ARG,
                               "SYNC_PUSH: the operations take more than the %u bytes a request "
                               "may hold: send fewer at a time",
                               MC_MAX_PAYLOAD);
    }
    uint8_t *req = malloc(need);
    if (!req)
        return client_fail(c, MC_ERR_NOMEM, "out of memory");
    struct wire_writer w;
    wire_writer_init(&w, req, need);
    wire_put_u16(&w, (uint16_t)nops);
    for (size_t i = 0; i < nops; i++)
        op_encode(&w, &ops[i]);
    if (w.err || w.len != need) {
        free(req);
        return client_fail(c, MC_ERR_INTERNAL, "SYNC_PUSH: the request could not be encoded");
    }
    struct mc_reply r;
    int rc = mc_call(c, MC_MSG_SYNC_PUSH, req, w.len, &r);
    free(req);
    if (rc == 0)
        rc = client_expect(c, &r, MC_MSG_SYNC_PUSH_OK, SIZE_MAX, "SYNC_PUSH");
    struct push_scratch sc = {0};
    if (rc == 0 && !(sc.strs = malloc(r.len + 1))) /* more than the strings and their NULs */
        rc = client_fail(c, MC_ERR_NOMEM, "out of memory");
    sc.strs_cap = r.len + 1;
    if (rc == 0)
        rc = results_walk(c, &r, ops, nops, &sc, NULL, NULL);
    if (rc == 0)
        rc = results_walk(c, &r, ops, nops, &sc, fn, ud);
    free(sc.strs);
    free(sc.names);
    free(sc.current);
    return rc;
}

/* -- runs against the store ----------------------------------------------------------- */

/* A failure of the client, with its message, as the store's. */
static int client_error(mc_sync_store *st, mc_client *c, int rc, const char *what)
{
    return sync_store_fail(st, rc, "%s: %s", what, mc_client_errmsg(c));
}

/* Upload failures that will not go away by trying again: the operation fails alone. */
static int upload_final(int rc)
{
    return rc == MC_ERR_NOT_FOUND || rc == MC_ERR_INVALID_ARG || rc == MC_ERR_FILE_TOO_LARGE ||
           rc == MC_ERR_EXISTS || rc == MC_ERR_BAD_NAME || rc == MC_ERR_PERMISSION ||
           rc == MC_ERR_HASH_MISMATCH;
}

/* The file still has the bytes it had when it was attached; else the operation fails. */
static int photo_check(mc_sync_store *st, const struct sync_photo *p)
{
    uint8_t sha[32];
    struct stat sb;
    int fd = open(p->local_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sync_store_op_fail(st, p->op_id, MC_ERR_NOT_FOUND,
                                  "the photo's file is gone from the phone");
    int rc = fstat(fd, &sb) == 0 ? filehash_fd(fd, (uint64_t)sb.st_size, sha) : MC_ERR_IO;
    close(fd);
    if (rc < 0)
        return sync_store_op_fail(st, p->op_id, MC_ERR_IO, "the photo's file cannot be read");
    if (memcmp(sha, p->sha256, 32) != 0)
        return sync_store_op_fail(st, p->op_id, MC_ERR_HASH_MISMATCH,
                                  "the photo's file changed since it was attached");
    return 1;
}

/*
 * Upload the photos of the outbox. One that cannot be uploaded for good
 * fails alone; one that can later (a quota, a full disk) waits for the
 * next run without holding up the rest. A dropped connection that
 * mc_put_file() could not get back stops the run.
 */
static int photos_upload(mc_client *c, mc_sync_store *st, struct mc_sync_report *rep)
{
    int64_t seq = 0;
    struct sync_photo *p = malloc(sizeof *p);
    if (!p)
        return sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    int rc;
    while ((rc = sync_store_next_photo(st, seq, &seq, p)) == 1) {
        if ((rc = photo_check(st, p)) < 0)
            break;
        if (rc == 0)
            continue; /* failed alone */
        rc = mc_put_file(c, p->local_file, p->name, NULL);
        if (rc == 0) {
            rep->photos++;
            rc = sync_store_photo_uploaded(st, p->op_id);
        } else if (!mc_client_connected(c)) {
            rc = client_error(st, c, rc, "photo upload");
            break;
        } else if (upload_final(rc)) {
            char msg[MC_MAX_ERROR_MESSAGE + 64];
            snprintf(msg, sizeof msg, "upload of %s: %s", p->name, mc_client_errmsg(c));
            rc = sync_store_op_fail(st, p->op_id, rc, msg);
        } else {
            rc = 0; /* the next run tries again */
        }
        if (rc < 0)
            break;
    }
    free(p);
    return rc < 0 ? rc : 0;
}

struct push_ctx {
    mc_sync_store *st;
    const struct sync_batch *b;
    struct mc_sync_report *rep;
    int store_rc; /* the store's failure, whose message is the store's */
    int unavailable;
};

static int push_on_result(void *ud, size_t i, const struct mc_sync_op_result *r)
{
    struct push_ctx *p = ud;
    if (r->result == MC_SYNC_FAILED && r->code == MC_ERR_DB_UNAVAILABLE)
        p->unavailable = 1;
    int rc = sync_store_result(p->st, &p->b->ops[i], r, p->rep);
    if (rc < 0)
        p->store_rc = rc;
    return rc;
}

int mc_sync_store_push(mc_client *c, mc_sync_store *st, struct mc_sync_report *report)
{
    struct mc_sync_report dummy = {0};
    struct mc_sync_report *rep = report ? report : &dummy;
    int rc = photos_upload(c, st, rep);
    while (rc == 0) {
        struct sync_batch b;
        if ((rc = sync_store_batch_next(st, &b, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD)) < 0)
            break;
        if (b.n == 0) {
            sync_batch_free(&b);
            break;
        }
        struct push_ctx p = {.st = st, .b = &b, .rep = rep};
        /* The results of a batch are stored together: all, or none (sent again next time). */
        if ((rc = sync_store_results_begin(st)) == 0) {
            rc = mc_sync_push(c, b.ops, b.n, push_on_result, &p);
            rep->pushed += b.n;
            if (rc < 0 && !p.store_rc)
                client_error(st, c, rc, "push");
            rc = sync_store_results_end(st, rc);
        }
        sync_batch_free(&b);
        /* The database went away: the rest waits for the next run. */
        if (p.unavailable)
            break;
    }
    return rc;
}

struct pull_store_ctx {
    mc_sync_store *st;
    struct mc_sync_report *rep;
    int began;
    int store_rc;
};

static int pull_store_columns(void *ud, const struct mc_column *cols, size_t ncols)
{
    struct pull_store_ctx *p = ud;
    int rc = sync_store_page_begin(p->st, cols, ncols, p->rep);
    p->began = rc == 0;
    if (rc < 0)
        p->store_rc = rc;
    return rc;
}

static int pull_store_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct pull_store_ctx *p = ud;
    int rc = sync_store_page_row(p->st, row, ncols);
    if (rc < 0)
        p->store_rc = rc;
    return rc;
}

int mc_sync_store_pull(mc_client *c, mc_sync_store *st, struct mc_sync_report *report)
{
    static const struct mc_sync_pull_callbacks cb = {pull_store_columns, pull_store_row};
    uint8_t cursor[MC_SYNC_MAX_CURSOR];
    size_t len;
    int restarted = 0;
    int rc = sync_store_cursor(st, cursor, &len);
    /* From the beginning: what the full pull does not bring back is gone. */
    if (rc == 0 && len == 0)
        rc = sync_store_cursor_reset(st);
    while (rc == 0) {
        struct pull_store_ctx p = {.st = st, .rep = report};
        struct mc_sync_page page;
        if ((rc = sync_store_cursor(st, cursor, &len)) < 0)
            break;
        rc = mc_sync_pull(c, cursor, len, 0, &cb, &p, &page);
        if (rc < 0) {
            sync_store_page_abort(st);
            if (rc == MC_ERR_BAD_CURSOR && len > 0 && !restarted) {
                /* The server does not know our cursor (a new gateway database): start over. */
                restarted = 1;
                rc = sync_store_cursor_reset(st);
                continue;
            }
            if (!p.store_rc)
                client_error(st, c, rc, "pull");
            break;
        }
        if (!p.began) {
            rc = sync_store_fail(st, MC_ERR_INTERNAL, "pull: the page had no columns");
            break;
        }
        if ((rc = sync_store_page_commit(st, &page)) < 0)
            break;
        if (report)
            report->pages++;
        if (!page.more)
            break;
    }
    return rc;
}

int mc_sync_run(mc_client *c, mc_sync_store *st, struct mc_sync_report *report)
{
    if (report)
        *report = (struct mc_sync_report){0};
    int rc = mc_sync_store_push(c, st, report);
    return rc < 0 ? rc : mc_sync_store_pull(c, st, report);
}
