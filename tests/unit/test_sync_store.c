/*
 * The offline store of intervention sync (libmiscomm, sync_store.c),
 * without a server: pages applied with their cursor in one transaction or
 * not at all, tombstones and full pulls, the outbox's base rules, a pending
 * edit kept over a pulled row, each kind of push result, conflicts,
 * photos, and what survives closing the store.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "miscomm/sync.h"
#include "sync_internal.h"

static char dir[] = "/tmp/mc-sync-store-XXXXXX";
static char path[256];

static struct mc_value v_int(int64_t i)
{
    return (struct mc_value){.type = MC_VALUE_INT, .i = i};
}

static struct mc_value v_text(const char *s)
{
    return (struct mc_value){.type = MC_VALUE_TEXT, .s = {s, strlen(s)}};
}

static struct mc_value v_null(void)
{
    return (struct mc_value){.type = MC_VALUE_NULL};
}

static int is_text(const struct mc_value *v, const char *s)
{
    return v->type == MC_VALUE_TEXT && v->s.len == strlen(s) && memcmp(v->s.ptr, s, v->s.len) == 0;
}

static int is_int(const struct mc_value *v, int64_t i)
{
    return v->type == MC_VALUE_INT && v->i == i;
}

/* The demo mapping, shortened: the three fixed columns, three fields, one context column. */
static const struct mc_column cols4[] = {
    {"seq", MC_VALUE_INT, -5, 19, 0},     {"id", MC_VALUE_INT, -5, 19, 0},
    {"version", MC_VALUE_INT, -5, 19, 1}, {"status", MC_VALUE_TEXT, 12, 32, 0},
    {"report", MC_VALUE_TEXT, -1, 0, 1},  {"time_spent_minutes", MC_VALUE_INT, 4, 10, 1},
    {"ticket", MC_VALUE_TEXT, 12, 32, 1},
};
#define NCOLS (sizeof cols4 / sizeof cols4[0])

/* A row of the mapping above; version < 0: a tombstone. */
struct row {
    int64_t id, version;
    const char *status, *report;
    int64_t minutes;
    const char *ticket;
};

static void row_values(const struct row *r, int64_t seq, struct mc_value *v)
{
    v[0] = v_int(seq);
    v[1] = v_int(r->id);
    if (r->version < 0) {
        for (size_t i = 2; i < NCOLS; i++)
            v[i] = v_null();
        return;
    }
    v[2] = v_int(r->version);
    v[3] = v_text(r->status);
    v[4] = r->report ? v_text(r->report) : v_null();
    v[5] = r->minutes >= 0 ? v_int(r->minutes) : v_null();
    v[6] = v_text(r->ticket);
}

/* A whole page, committed; returns the first failure. */
static int apply_page(mc_sync_store *st, const struct row *rows, size_t n, const char *cursor,
                      int more, struct mc_sync_report *rep)
{
    struct mc_value v[NCOLS];
    int rc = sync_store_page_begin(st, cols4, NCOLS, rep);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        row_values(&rows[i], (int64_t)(100 + i), v);
        rc = sync_store_page_row(st, v, NCOLS);
    }
    struct mc_sync_page page = {.cursor_len = strlen(cursor), .rows = n, .more = more};
    memcpy(page.cursor, cursor, page.cursor_len);
    if (rc == 0)
        return sync_store_page_commit(st, &page);
    sync_store_page_abort(st);
    return rc;
}

/* -- reading the store back ------------------------------------------------------------ */

struct item_copy {
    uint64_t id, version;
    char status[64], report[64], ticket[64];
    int64_t minutes;
    int status_edited, report_edited, minutes_edited;
    size_t ncols;
};

struct items {
    struct item_copy it[16];
    size_t n;
};

static void text_copy(char *out, size_t cap, const struct mc_value *v)
{
    if (v->type == MC_VALUE_NULL)
        snprintf(out, cap, "(null)");
    else
        snprintf(out, cap, "%.*s", (int)v->s.len, v->s.ptr);
}

static int on_item(void *ud, const struct mc_sync_item *it)
{
    struct items *x = ud;
    struct item_copy *c = &x->it[x->n++];
    memset(c, 0, sizeof *c);
    c->id = it->id;
    c->version = it->version;
    c->ncols = it->ncols;
    for (size_t i = 0; i < it->ncols; i++) {
        const char *name = it->cols[i].name;
        if (strcmp(name, "status") == 0) {
            text_copy(c->status, sizeof c->status, &it->values[i]);
            c->status_edited = it->edited[i];
        } else if (strcmp(name, "report") == 0) {
            text_copy(c->report, sizeof c->report, &it->values[i]);
            c->report_edited = it->edited[i];
        } else if (strcmp(name, "ticket") == 0) {
            text_copy(c->ticket, sizeof c->ticket, &it->values[i]);
        } else if (strcmp(name, "time_spent_minutes") == 0) {
            c->minutes = it->values[i].type == MC_VALUE_INT ? it->values[i].i : -1;
            c->minutes_edited = it->edited[i];
        }
    }
    return x->n == 16 ? -1 : 0;
}

/* Filled in place: the copies point into themselves, so they are never returned by value. */
static void items(mc_sync_store *st, uint64_t id, struct items *out)
{
    memset(out, 0, sizeof *out);
    CHECK_EQ_INT(mc_sync_items(st, id, on_item, out), 0);
}

struct field_copy {
    char name[64];
    struct mc_value base, value;
    char base_text[64], value_text[64];
};

struct op_copy {
    uint8_t op_id[16];
    enum mc_sync_kind kind;
    uint64_t intervention, base_version;
    enum mc_sync_op_state state;
    struct field_copy f[8];
    size_t nfields;
    char file[128], content_type[32], message[128], caption[64];
    int code, uploaded;
};

struct outbox {
    struct op_copy op[16];
    size_t n;
};

static void field_copy(struct field_copy *c, const struct mc_sync_field *f)
{
    snprintf(c->name, sizeof c->name, "%s", f->name);
    c->base = f->base;
    c->value = f->value;
    text_copy(c->base_text, sizeof c->base_text, &f->base);
    text_copy(c->value_text, sizeof c->value_text, &f->value);
    /* Text values point into the store's memory: keep the copies. */
    if (f->base.type == MC_VALUE_TEXT)
        c->base = v_text(c->base_text);
    if (f->value.type == MC_VALUE_TEXT)
        c->value = v_text(c->value_text);
}

static int on_op(void *ud, const struct mc_sync_outbox_entry *e)
{
    struct outbox *x = ud;
    struct op_copy *c = &x->op[x->n++];
    memset(c, 0, sizeof *c);
    memcpy(c->op_id, e->op->op_id, 16);
    c->kind = e->op->kind;
    c->intervention = e->op->intervention;
    c->base_version = e->op->base_version;
    c->state = e->state;
    c->code = e->code;
    c->uploaded = e->uploaded;
    snprintf(c->message, sizeof c->message, "%s", e->message);
    for (size_t i = 0; i < e->op->nfields && i < 8; i++)
        field_copy(&c->f[c->nfields++], &e->op->fields[i]);
    if (e->op->kind == MC_SYNC_PHOTO) {
        snprintf(c->file, sizeof c->file, "%s", e->op->file);
        snprintf(c->content_type, sizeof c->content_type, "%s", e->op->content_type);
        text_copy(c->caption, sizeof c->caption, &e->op->caption);
    }
    return x->n == 16 ? -1 : 0;
}

static void outbox(mc_sync_store *st, struct outbox *x)
{
    memset(x, 0, sizeof *x);
    CHECK_EQ_INT(mc_sync_outbox(st, on_op, x), 0);
}

static int outbox_count(mc_sync_store *st)
{
    static struct outbox x;
    outbox(st, &x);
    return (int)x.n;
}

static int items_count(mc_sync_store *st, uint64_t id)
{
    static struct items x;
    items(st, id, &x);
    return (int)x.n;
}

static int cursor_is(mc_sync_store *st, const char *want)
{
    uint8_t cur[MC_SYNC_MAX_CURSOR];
    size_t len;
    if (sync_store_cursor(st, cur, &len) < 0)
        return 0;
    return len == strlen(want) && memcmp(cur, want, len) == 0;
}

/* -- the tests -------------------------------------------------------------------------- */

static const struct row base_rows[] = {
    {1, 1, "open", NULL, -1, "T-1"},
    {2, 4, "planned", "r2", 30, "T-2"},
};

static mc_sync_store *open_store(void)
{
    mc_sync_store *st;
    int rc = mc_sync_store_open(&st, path);
    if (rc < 0) {
        fprintf(stderr, "open %s: %s\n", path, mc_sync_store_errmsg(st));
        mc_sync_store_close(st);
        exit(1);
    }
    return st;
}

static void test_pages(void)
{
    mc_sync_store *st = open_store();
    struct mc_sync_report rep = {0};
    CHECK(cursor_is(st, ""));
    CHECK_EQ_INT(apply_page(st, base_rows, 2, "c1", 0, &rep), 0);
    CHECK_EQ_INT(rep.rows, 2);
    CHECK(cursor_is(st, "c1"));
    struct items x;
    items(st, 0, &x);
    CHECK_EQ_INT(x.n, 2);
    CHECK_EQ_INT(x.it[0].id, 1);
    CHECK_EQ_INT(x.it[0].version, 1);
    CHECK(strcmp(x.it[0].status, "open") == 0);
    CHECK(strcmp(x.it[0].report, "(null)") == 0);
    CHECK_EQ_INT(x.it[1].minutes, 30);
    CHECK_EQ_INT(x.it[0].ncols, NCOLS);
    enum mc_value_type t;
    CHECK_EQ_INT(mc_sync_field_type(st, "time_spent_minutes", &t), 0);
    CHECK_EQ_INT(t, MC_VALUE_INT);
    CHECK_EQ_INT(mc_sync_field_type(st, "nope", &t), MC_ERR_NOT_FOUND);

    /* A page cut short: neither its rows nor its cursor stay. */
    struct mc_value v[NCOLS];
    const struct row newer = {1, 9, "done", "x", 5, "T-1"}, added = {3, 1, "open", NULL, -1, "T-3"};
    CHECK_EQ_INT(sync_store_page_begin(st, cols4, NCOLS, NULL), 0);
    row_values(&newer, 1, v);
    CHECK_EQ_INT(sync_store_page_row(st, v, NCOLS), 0);
    row_values(&added, 2, v);
    CHECK_EQ_INT(sync_store_page_row(st, v, NCOLS), 0);
    sync_store_page_abort(st);
    items(st, 0, &x);
    CHECK_EQ_INT(x.n, 2);
    CHECK_EQ_INT(x.it[0].version, 1);
    CHECK(strcmp(x.it[0].status, "open") == 0);
    CHECK(cursor_is(st, "c1"));

    /* The same after the process dies mid-page (the store closed without a commit). */
    CHECK_EQ_INT(sync_store_page_begin(st, cols4, NCOLS, NULL), 0);
    CHECK_EQ_INT(sync_store_page_row(st, v, NCOLS), 0);
    mc_sync_store_close(st);
    st = open_store();
    items(st, 0, &x);
    CHECK_EQ_INT(x.n, 2);
    CHECK(cursor_is(st, "c1"));

    /* A page whose first columns are not seq, id, version is refused. */
    struct mc_column bad[NCOLS];
    memcpy(bad, cols4, sizeof bad);
    bad[1].name = "ident";
    CHECK_EQ_INT(sync_store_page_begin(st, bad, NCOLS, NULL), MC_ERR_BAD_PAYLOAD);
    CHECK_CONTAINS(mc_sync_store_errmsg(st), "ident");
    /* And the store still takes a good page after it. */
    CHECK_EQ_INT(apply_page(st, base_rows, 2, "c2", 0, NULL), 0);
    CHECK(cursor_is(st, "c2"));
    mc_sync_store_close(st);
}

static void test_edits_and_pending_over_pull(void)
{
    mc_sync_store *st = open_store();
    struct mc_value done = v_text("done"), closed = v_text("closed"), note = v_text("note");
    struct mc_value ninety = v_int(90), wrong = v_int(3);

    CHECK_EQ_INT(mc_sync_edit(st, 1, "status", &done), 0);
    struct items x;
    items(st, 1, &x);
    CHECK_EQ_INT(x.n, 1);
    CHECK(strcmp(x.it[0].status, "done") == 0); /* applied to the replica at once */
    CHECK(x.it[0].status_edited);
    CHECK(!x.it[0].report_edited);

    /* The same field again before a push: one operation, the first base kept. */
    CHECK_EQ_INT(mc_sync_edit(st, 1, "status", &closed), 0);
    CHECK_EQ_INT(mc_sync_edit(st, 1, "report", &note), 0);
    struct outbox o;
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.op[0].kind, MC_SYNC_UPDATE);
    CHECK_EQ_INT(o.op[0].intervention, 1);
    CHECK_EQ_INT(o.op[0].base_version, 1);
    CHECK_EQ_INT(o.op[0].state, MC_SYNC_OP_PENDING);
    CHECK_EQ_INT(o.op[0].nfields, 2);
    CHECK(strcmp(o.op[0].f[0].name, "status") == 0);
    CHECK(is_text(&o.op[0].f[0].base, "open"));
    CHECK(is_text(&o.op[0].f[0].value, "closed"));
    CHECK(strcmp(o.op[0].f[1].name, "report") == 0);
    CHECK_EQ_INT(o.op[0].f[1].base.type, MC_VALUE_NULL);
    CHECK(is_text(&o.op[0].f[1].value, "note"));

    /* Refused edits change nothing. */
    CHECK_EQ_INT(mc_sync_edit(st, 1, "status", &wrong), MC_ERR_INVALID_ARG);
    CHECK_EQ_INT(mc_sync_edit(st, 1, "version", &wrong), MC_ERR_INVALID_ARG);
    CHECK_EQ_INT(mc_sync_edit(st, 1, "colour", &done), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(mc_sync_edit(st, 77, "status", &done), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(mc_sync_store_errmsg(st), "77");
    CHECK_EQ_INT(outbox_count(st), 1);

    /* The office changed the intervention meanwhile: the pull brings version 2. */
    const struct row office = {1, 2, "in_progress", "office report", 15, "T-1b"};
    CHECK_EQ_INT(apply_page(st, &office, 1, "c3", 0, NULL), 0);
    items(st, 1, &x);
    CHECK_EQ_INT(x.it[0].version, 2);
    CHECK(strcmp(x.it[0].status, "closed") == 0); /* the pending edit stays on top */
    CHECK(strcmp(x.it[0].report, "note") == 0);
    CHECK(strcmp(x.it[0].ticket, "T-1b") == 0); /* the rest is the server's */
    CHECK_EQ_INT(x.it[0].minutes, 15);
    CHECK(!x.it[0].minutes_edited);
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.op[0].base_version, 1); /* the server merges, or reports the conflict */
    CHECK(is_text(&o.op[0].f[0].base, "open"));

    /* A field edited on the new version goes into an operation of its own. */
    CHECK_EQ_INT(mc_sync_edit(st, 1, "time_spent_minutes", &ninety), 0);
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 2);
    CHECK_EQ_INT(o.op[1].base_version, 2);
    CHECK_EQ_INT(o.op[1].nfields, 1);
    CHECK(is_int(&o.op[1].f[0].base, 15));
    CHECK(is_int(&o.op[1].f[0].value, 90));
    CHECK(memcmp(o.op[0].op_id, o.op[1].op_id, 16) != 0);
    mc_sync_store_close(st);
}

/* A result for the tests: APPLIED, CONFLICT or FAILED. */
static struct mc_sync_op_result result(const struct mc_sync_op *op, enum mc_sync_result res,
                                       int code, uint64_t version)
{
    struct mc_sync_op_result r = {.result = res, .code = code, .version = version, .message = ""};
    memcpy(r.op_id, op->op_id, 16);
    return r;
}

static void test_push_results(void)
{
    mc_sync_store *st = open_store();
    struct sync_batch b;
    struct mc_sync_report rep = {0};
    CHECK_EQ_INT(sync_store_batch_next(st, &b, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(b.n, 2);
    CHECK_EQ_INT(b.ops[0].nfields, 2);
    CHECK_EQ_INT(b.ops[1].nfields, 1);
    CHECK(sync_op_size(&b.ops[0]) > 0);
    struct outbox o;
    outbox(st, &o);
    CHECK_EQ_INT(o.op[0].state, MC_SYNC_OP_SENT);
    CHECK_EQ_INT(o.op[1].state, MC_SYNC_OP_SENT);

    /* An edit while they are in flight: a new operation, its base the value sent. */
    struct mc_value final = v_text("final");
    CHECK_EQ_INT(mc_sync_edit(st, 1, "status", &final), 0);
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 3);
    CHECK_EQ_INT(o.op[2].state, MC_SYNC_OP_PENDING);
    CHECK(is_text(&o.op[2].f[0].base, "closed"));
    CHECK(is_text(&o.op[2].f[0].value, "final"));

    /* A batch limited to one operation takes the first only. */
    struct sync_batch one;
    CHECK_EQ_INT(sync_store_batch_next(st, &one, 1, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(one.n, 1);
    CHECK(memcmp(one.ops[0].op_id, b.ops[0].op_id, 16) == 0);
    sync_batch_free(&one);

    /* Results stored in a transaction that fails leave everything as it was. */
    struct mc_sync_op_result r = result(&b.ops[0], MC_SYNC_APPLIED, 0, 3);
    CHECK_EQ_INT(sync_store_results_begin(st), 0);
    CHECK_EQ_INT(sync_store_result(st, &b.ops[0], &r, &rep), 0);
    CHECK_EQ_INT(sync_store_results_end(st, MC_ERR_TIMEOUT), MC_ERR_TIMEOUT);
    CHECK_EQ_INT(outbox_count(st), 3);

    /* op 1 APPLIED at version 3; op 2 CONFLICT: the office set 45 minutes (version 4). */
    const char *names[] = {"time_spent_minutes"};
    struct mc_sync_named_value current[] = {
        {"status", v_text("closed")},
        {"time_spent_minutes", v_int(45)},
        {"report", v_text("note")},
    };
    struct mc_sync_op_result k = result(&b.ops[1], MC_SYNC_CONFLICT, MC_ERR_CONFLICT, 4);
    k.message = "time_spent_minutes changed on both sides";
    k.conflicts = names;
    k.nconflicts = 1;
    k.current = current;
    k.ncurrent = 3;
    rep = (struct mc_sync_report){0};
    CHECK_EQ_INT(sync_store_results_begin(st), 0);
    CHECK_EQ_INT(sync_store_result(st, &b.ops[0], &r, &rep), 0);
    CHECK_EQ_INT(sync_store_result(st, &b.ops[1], &k, &rep), 0);
    CHECK_EQ_INT(sync_store_results_end(st, 0), 0);
    CHECK_EQ_INT(rep.applied, 1);
    CHECK_EQ_INT(rep.conflicts, 1);
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 1); /* only the edit made meanwhile */
    struct items x;
    items(st, 1, &x);
    CHECK_EQ_INT(x.it[0].version, 4);
    CHECK_EQ_INT(x.it[0].minutes, 45); /* the server's value after the conflict */
    CHECK(!x.it[0].minutes_edited);
    CHECK(strcmp(x.it[0].report, "note") == 0);
    CHECK(!x.it[0].report_edited);               /* applied: the server's now */
    CHECK(strcmp(x.it[0].status, "final") == 0); /* the newer edit, still pending */
    CHECK(x.it[0].status_edited);
    sync_batch_free(&b);
    mc_sync_store_close(st);
}

struct conflict_copy {
    int64_t id;
    uint64_t intervention, base_version, version;
    char message[128], local_name[64], name[64], server_names[128];
    int64_t local_base, local_new, server_minutes;
    size_t nlocal, nnames, nserver;
    int n;
};

static int on_conflict(void *ud, const struct mc_sync_conflict *k)
{
    struct conflict_copy *c = ud;
    c->n++;
    c->id = k->id;
    c->intervention = k->intervention;
    c->base_version = k->base_version;
    c->version = k->version;
    c->nlocal = k->nlocal;
    c->nnames = k->nnames;
    c->nserver = k->nserver;
    snprintf(c->message, sizeof c->message, "%s", k->message);
    if (k->nlocal) {
        snprintf(c->local_name, sizeof c->local_name, "%s", k->local[0].name);
        c->local_base = k->local[0].base.i;
        c->local_new = k->local[0].value.i;
    }
    if (k->nnames)
        snprintf(c->name, sizeof c->name, "%s", k->names[0]);
    c->server_names[0] = 0;
    for (size_t i = 0; i < k->nserver; i++) {
        strncat(c->server_names, k->server[i].name,
                sizeof c->server_names - strlen(c->server_names) - 2);
        strcat(c->server_names, ",");
        if (strcmp(k->server[i].name, "time_spent_minutes") == 0)
            c->server_minutes = k->server[i].value.i;
    }
    return 0;
}

static void test_conflicts(void)
{
    mc_sync_store *st = open_store();
    struct conflict_copy c = {0};
    CHECK_EQ_INT(mc_sync_conflicts(st, on_conflict, &c), 0);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_INT(c.intervention, 1);
    CHECK_EQ_INT(c.base_version, 2);
    CHECK_EQ_INT(c.version, 4);
    CHECK(strcmp(c.message, "time_spent_minutes changed on both sides") == 0);
    CHECK_EQ_INT(c.nlocal, 1);
    CHECK(strcmp(c.local_name, "time_spent_minutes") == 0);
    CHECK_EQ_INT(c.local_base, 15);
    CHECK_EQ_INT(c.local_new, 90);
    CHECK_EQ_INT(c.nnames, 1);
    CHECK(strcmp(c.name, "time_spent_minutes") == 0);
    CHECK_EQ_INT(c.nserver, 3);
    CHECK(strcmp(c.server_names, "status,time_spent_minutes,report,") == 0);
    CHECK_EQ_INT(c.server_minutes, 45);
    CHECK_EQ_INT(mc_sync_conflict_dismiss(st, c.id), 0);
    CHECK_EQ_INT(mc_sync_conflict_dismiss(st, c.id), MC_ERR_NOT_FOUND);
    struct conflict_copy none = {0};
    CHECK_EQ_INT(mc_sync_conflicts(st, on_conflict, &none), 0);
    CHECK_EQ_INT(none.n, 0);
    mc_sync_store_close(st);
}

static void test_failures_and_replays(void)
{
    mc_sync_store *st = open_store();
    struct sync_batch b;
    struct mc_sync_report rep = {0};
    CHECK_EQ_INT(sync_store_batch_next(st, &b, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(b.n, 1);

    /* The database went away: the operation stays, to be sent again as it is. */
    struct mc_sync_op_result r = result(&b.ops[0], MC_SYNC_FAILED, MC_ERR_DB_UNAVAILABLE, 0);
    CHECK_EQ_INT(sync_store_results_begin(st), 0);
    CHECK_EQ_INT(sync_store_result(st, &b.ops[0], &r, &rep), 0);
    CHECK_EQ_INT(sync_store_results_end(st, 0), 0);
    CHECK_EQ_INT(rep.retry, 1);
    struct sync_batch again;
    CHECK_EQ_INT(sync_store_batch_next(st, &again, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(again.n, 1);
    CHECK(memcmp(again.ops[0].op_id, b.ops[0].op_id, 16) == 0);
    CHECK(is_text(&again.ops[0].fields[0].value, "final"));
    sync_batch_free(&again);

    /* Refused by the database: failed, with its reason, and no longer shown or sent. */
    r = result(&b.ops[0], MC_SYNC_FAILED, MC_ERR_SQL, 0);
    r.message = "SQLSTATE 23000: status 'final' is not known";
    CHECK_EQ_INT(sync_store_results_begin(st), 0);
    CHECK_EQ_INT(sync_store_result(st, &b.ops[0], &r, &rep), 0);
    CHECK_EQ_INT(sync_store_results_end(st, 0), 0);
    CHECK_EQ_INT(rep.failed, 1);
    struct outbox o;
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.op[0].state, MC_SYNC_OP_FAILED);
    CHECK_EQ_INT(o.op[0].code, MC_ERR_SQL);
    CHECK_CONTAINS(o.op[0].message, "not known");
    struct items x;
    items(st, 1, &x);
    CHECK(strcmp(x.it[0].status, "closed") == 0);
    CHECK(!x.it[0].status_edited);
    CHECK_EQ_INT(sync_store_batch_next(st, &again, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(again.n, 0);
    sync_batch_free(&again);

    /*
     * A replayed APPLIED whose stored version is older than the replica's
     * (a pull came in between) leaves the newer row alone.
     */
    struct mc_value late = v_text("late");
    CHECK_EQ_INT(mc_sync_edit(st, 2, "report", &late), 0);
    CHECK_EQ_INT(sync_store_batch_next(st, &again, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(again.n, 1);
    const struct row office = {2, 8, "planned", "office again", 30, "T-2"};
    CHECK_EQ_INT(apply_page(st, &office, 1, "c4", 0, NULL), 0);
    r = result(&again.ops[0], MC_SYNC_APPLIED, 0, 5);
    r.flags = MC_SYNC_REPLAYED;
    rep = (struct mc_sync_report){0};
    CHECK_EQ_INT(sync_store_results_begin(st), 0);
    CHECK_EQ_INT(sync_store_result(st, &again.ops[0], &r, &rep), 0);
    CHECK_EQ_INT(sync_store_results_end(st, 0), 0);
    CHECK_EQ_INT(rep.replayed, 1);
    items(st, 2, &x);
    CHECK_EQ_INT(x.it[0].version, 8);
    CHECK(strcmp(x.it[0].report, "office again") == 0);
    sync_batch_free(&again);

    /* The failed operation can be dropped; an unknown id cannot. */
    CHECK_EQ_INT(mc_sync_discard(st, o.op[0].op_id), 0);
    CHECK_EQ_INT(mc_sync_discard(st, o.op[0].op_id), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(outbox_count(st), 0);
    sync_batch_free(&b);
    mc_sync_store_close(st);
}

static void test_tombstones_and_full_pull(void)
{
    mc_sync_store *st = open_store();
    struct mc_sync_report rep = {0};
    const struct row more[] = {
        {5, 1, "open", NULL, -1, "T-5"},
        {6, 1, "open", NULL, -1, "T-6"},
    };
    CHECK_EQ_INT(apply_page(st, more, 2, "c5", 0, NULL), 0);
    CHECK_EQ_INT(items_count(st, 0), 4);

    /* A tombstone removes the intervention; one for an unknown id is harmless. */
    const struct row gone[] = {{2, -1, NULL, NULL, -1, NULL}, {99, -1, NULL, NULL, -1, NULL}};
    CHECK_EQ_INT(apply_page(st, gone, 2, "c6", 0, &rep), 0);
    CHECK_EQ_INT(rep.deleted, 1);
    CHECK_EQ_INT(rep.rows, 2);
    struct items x;
    items(st, 0, &x);
    CHECK_EQ_INT(x.n, 3);
    CHECK_EQ_INT(items_count(st, 2), 0);

    /*
     * A full pull (after BAD_CURSOR): what it does not bring back is
     * removed once its last page is in, not before.
     */
    CHECK_EQ_INT(sync_store_cursor_reset(st), 0);
    CHECK(cursor_is(st, ""));
    rep = (struct mc_sync_report){0};
    CHECK_EQ_INT(apply_page(st, &base_rows[0], 1, "f1", 1, &rep), 0);
    CHECK_EQ_INT(items_count(st, 0), 3);
    CHECK_EQ_INT(apply_page(st, &more[0], 1, "f2", 0, &rep), 0);
    items(st, 0, &x);
    CHECK_EQ_INT(x.n, 2);
    CHECK_EQ_INT(x.it[0].id, 1);
    CHECK_EQ_INT(x.it[1].id, 5);
    CHECK_EQ_INT(rep.deleted, 1);
    /* Later incremental pages do not sweep. */
    CHECK_EQ_INT(apply_page(st, &more[1], 1, "f3", 0, NULL), 0);
    CHECK_EQ_INT(items_count(st, 0), 3);
    mc_sync_store_close(st);
}

static void test_columns_change(void)
{
    mc_sync_store *st = open_store();
    /* The administrator added "room" and dropped "ticket": rows are carried over by name. */
    struct mc_column cols[NCOLS];
    memcpy(cols, cols4, sizeof cols);
    cols[6] = (struct mc_column){"room", MC_VALUE_TEXT, 12, 16, 1};
    CHECK_EQ_INT(sync_store_page_begin(st, cols, NCOLS, NULL), 0);
    struct mc_sync_page page = {.cursor_len = 2, .cursor = "g1"};
    CHECK_EQ_INT(sync_store_page_commit(st, &page), 0);
    struct items x;
    items(st, 1, &x);
    CHECK_EQ_INT(x.n, 1);
    CHECK(strcmp(x.it[0].status, "open") == 0); /* as the full pull brought it */
    CHECK(strcmp(x.it[0].ticket, "") == 0);     /* no such column any more */
    enum mc_value_type t;
    CHECK_EQ_INT(mc_sync_field_type(st, "room", &t), 0);
    CHECK_EQ_INT(mc_sync_field_type(st, "ticket", &t), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(apply_page(st, base_rows, 1, "g2", 0, NULL), 0); /* back to the first mapping */
    items(st, 1, &x);
    CHECK(strcmp(x.it[0].ticket, "T-1") == 0);
    mc_sync_store_close(st);
}

static void test_photos(void)
{
    mc_sync_store *st = open_store();
    char photo[300], gif[300];
    snprintf(photo, sizeof photo, "%s/site.JPG", dir);
    snprintf(gif, sizeof gif, "%s/site.gif", dir);
    FILE *f = fopen(photo, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("hello", f);
    fclose(f);
    f = fopen(gif, "w");
    if (f)
        fclose(f);
    CHECK_EQ_INT(mc_sync_attach_photo(st, 1, photo, NULL, "the boiler"), 0);
    CHECK_EQ_INT(mc_sync_attach_photo(st, 1, gif, NULL, NULL), MC_ERR_INVALID_ARG);
    CHECK_EQ_INT(mc_sync_attach_photo(st, 1, gif, "image/gif", NULL), MC_ERR_INVALID_ARG);
    CHECK_EQ_INT(mc_sync_attach_photo(st, 1, "/nonexistent/x.jpg", NULL, NULL), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(mc_sync_attach_photo(st, 404, photo, NULL, NULL), MC_ERR_NOT_FOUND);
    struct outbox o;
    outbox(st, &o);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.op[0].kind, MC_SYNC_PHOTO);
    CHECK(strcmp(o.op[0].file,
                 "photos/"
                 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.jpg") == 0);
    CHECK(strcmp(o.op[0].content_type, "image/jpeg") == 0);
    CHECK(strcmp(o.op[0].caption, "the boiler") == 0);
    CHECK(!o.op[0].uploaded);

    /* Not pushed before its upload, and an edit behind it is not held up. */
    struct mc_value urgent = v_text("urgent");
    CHECK_EQ_INT(mc_sync_edit(st, 5, "status", &urgent), 0);
    struct sync_batch b;
    CHECK_EQ_INT(sync_store_batch_next(st, &b, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(b.n, 1);
    CHECK_EQ_INT(b.ops[0].kind, MC_SYNC_UPDATE);
    sync_batch_free(&b);
    struct sync_photo p;
    int64_t seq;
    CHECK_EQ_INT(sync_store_next_photo(st, 0, &seq, &p), 1);
    CHECK(strcmp(p.name, o.op[0].file) == 0);
    CHECK_EQ_INT(sync_store_next_photo(st, seq, &seq, &p), 0);
    CHECK_EQ_INT(sync_store_photo_uploaded(st, p.op_id), 0);
    CHECK_EQ_INT(sync_store_next_photo(st, 0, &seq, &p), 0);
    CHECK_EQ_INT(sync_store_batch_next(st, &b, MC_SYNC_MAX_BATCH, MC_MAX_PAYLOAD), 0);
    CHECK_EQ_INT(b.n, 2); /* the photo, then the edit (sent, not answered yet) */
    CHECK_EQ_INT(b.ops[0].kind, MC_SYNC_PHOTO);
    CHECK(memcmp(b.ops[0].sha256,
                 "\x2c\xf2\x4d\xba\x5f\xb0\xa3\x0e\x26\xe8\x3b\x2a\xc5\xb9\xe2\x9e"
                 "\x1b\x16\x1e\x5c\x1f\xa7\x42\x5e\x73\x04\x33\x62\x93\x8b\x98\x24",
                 32) == 0);
    CHECK_EQ_INT(b.ops[0].caption.type, MC_VALUE_TEXT);
    CHECK(sync_op_size(&b.ops[0]) > 0);
    sync_batch_free(&b);
    mc_sync_store_close(st);
    unlink(photo);
    unlink(gif);
}

static void test_not_a_store(void)
{
    char junk[300];
    snprintf(junk, sizeof junk, "%s/junk", dir);
    FILE *f = fopen(junk, "w");
    if (f) {
        fputs("this is not a SQLite database, not even close to one........", f);
        fclose(f);
    }
    mc_sync_store *st;
    CHECK(mc_sync_store_open(&st, junk) < 0);
    CHECK(strlen(mc_sync_store_errmsg(st)) > 0);
    mc_sync_store_close(st);
    unlink(junk);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/store.db", dir);
    test_pages();
    test_edits_and_pending_over_pull();
    test_push_results();
    test_conflicts();
    test_failures_and_replays();
    test_tombstones_and_full_pull();
    test_columns_change();
    test_photos();
    test_not_a_store();
    char p[300];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return check_report("test_sync_store");
}
