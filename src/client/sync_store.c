/*
 * libmiscomm, the offline store of intervention sync: one SQLite file with
 *
 *   columns        the replica's columns, as the last SYNC_COLUMNS gave them
 *   interventions  one row per intervention: id and version as SQLite
 *                  integers, and the server's values of every column as
 *                  one blob of wire-encoded typed values (section 5.15), so
 *                  that each value comes back with its exact type
 *   outbox         the operations made on the phone, in order, with
 *   outbox_fields  an UPDATE's fields: base and new value, wire-encoded
 *   conflicts      the CONFLICT results the server answered
 *   meta           the cursor, and the bookkeeping of a full pull
 *
 * The replica keeps the server's values; the phone's pending changes live
 * only in the outbox and are laid over them when the replica is read. So a
 * pulled row can never overwrite a pending edit, and the edit's base stays
 * what it was pulled as: the server merges or reports the conflict.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filehash.h"
#include "sync_internal.h"
#include "wire.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_MAX_NAME       0xFFFFu /* a field name: a str on the wire */

struct mc_sync_store {
    sqlite3 *db;
    char errmsg[MC_MAX_ERROR_MESSAGE + 256];
    /* The page being applied (between page_begin and page_commit). */
    int in_page;
    size_t page_ncols;
    int64_t page_gen;
    sqlite3_stmt *upsert, *del;
    struct mc_sync_report *report;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS columns(pos INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " type INTEGER NOT NULL, sql_type INTEGER NOT NULL, size INTEGER NOT NULL,"
    " nullable INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS interventions(id INTEGER PRIMARY KEY,"
    " version INTEGER NOT NULL, gen INTEGER NOT NULL, row BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " op_id BLOB NOT NULL UNIQUE, kind INTEGER NOT NULL, intervention INTEGER NOT NULL,"
    " base_version INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL DEFAULT 0,"
    " code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"
    " local_file TEXT, file TEXT, sha256 BLOB, content_type TEXT, caption TEXT,"
    " uploaded INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS outbox_by_intervention ON outbox(intervention, seq);"
    "CREATE TABLE IF NOT EXISTS outbox_fields(seq INTEGER NOT NULL"
    " REFERENCES outbox(seq) ON DELETE CASCADE, pos INTEGER NOT NULL, name TEXT NOT NULL,"
    " base BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY(seq, name));"
    "CREATE TABLE IF NOT EXISTS conflicts(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " op_id BLOB NOT NULL, intervention INTEGER NOT NULL, base_version INTEGER NOT NULL,"
    " version INTEGER NOT NULL, message TEXT NOT NULL, local BLOB NOT NULL,"
    " names BLOB NOT NULL, server BLOB NOT NULL, created_us INTEGER NOT NULL);";

/* -- errors and statements ------------------------------------------------------- */

int sync_store_fail(mc_sync_store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof st->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *mc_sync_store_errmsg(const mc_sync_store *st)
{
    return st ? st->errmsg : "no store";
}

/* SQLite's failure as ours, with its message kept for the caller. */
static int db_fail(mc_sync_store *st, const char *what)
{
    int e = sqlite3_errcode(st->db);
    int code = e == SQLITE_NOMEM                        ? MC_ERR_NOMEM
               : e == SQLITE_BUSY || e == SQLITE_LOCKED ? MC_ERR_BUSY
                                                        : MC_ERR_IO;
    return sync_store_fail(st, code, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int prep(mc_sync_store *st, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
        *out = NULL;
        return db_fail(st, "prepare");
    }
    return 0;
}

static int exec_sql(mc_sync_store *st, const char *sql)
{
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_fail(st, sql);
}

/* Run a statement that returns no row; it is reset for another use. */
static int step_done(mc_sync_store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(st, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* BEGIN IMMEDIATE: the store is written by one writer at a time; another waits (busy_timeout). */
static int tx_begin(mc_sync_store *st)
{
    return exec_sql(st, "BEGIN IMMEDIATE");
}

/* Commit when rc is 0, else roll back; rc, or the commit's failure. */
static int tx_end(mc_sync_store *st, int rc)
{
    if (rc == 0 && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(st, "commit");
    if (rc < 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Ids and versions are u64 on the wire, INTEGER (signed) in SQLite: the same 64 bits. */
static int64_t u2s(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

static uint64_t s2u(int64_t v)
{
    return v >= 0 ? (uint64_t)v : ~(uint64_t)(-(v + 1));
}

/* -- byte buffers and encoded values ------------------------------------------- */

/* A growing byte buffer; a failed allocation is remembered and reported once. */
struct bytes {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static uint8_t *bytes_room(struct bytes *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return NULL;
        }
        b->p = q;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void bytes_value(struct bytes *b, const struct mc_value *v)
{
    long n = mc_value_encode(v, NULL, 0);
    uint8_t *p = n > 0 ? bytes_room(b, (size_t)n) : NULL;
    if (n <= 0) {
        b->oom = 1; /* values were checked before they got here */
        return;
    }
    if (p && mc_value_encode(v, p, (size_t)n) == n)
        b->len += (size_t)n;
}

static void bytes_str(struct bytes *b, const char *s)
{
    size_t n = strlen(s);
    uint8_t *p = n <= STORE_MAX_NAME ? bytes_room(b, 2 + n) : NULL;
    if (!p) {
        b->oom = 1;
        return;
    }
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    b->len += 2 + n;
}

/* One value from the blob's bytes at *off; the value points into p. */
static int take_value(const uint8_t *p, size_t len, size_t *off, struct mc_value *v)
{
    long k = mc_value_decode(p + *off, len - *off, v);
    if (k <= 0)
        return MC_ERR_BAD_PAYLOAD;
    *off += (size_t)k;
    return 0;
}

/* One str from the blob at *off, copied with a NUL into out (at most STORE_MAX_NAME + 1). */
static int take_str(const uint8_t *p, size_t len, size_t *off, const char **s, size_t *n)
{
    if (len - *off < 2)
        return MC_ERR_BAD_PAYLOAD;
    size_t k = (size_t)p[*off] << 8 | p[*off + 1];
    if (len - *off - 2 < k)
        return MC_ERR_BAD_PAYLOAD;
    *s = (const char *)p + *off + 2;
    *n = k;
    *off += 2 + k;
    return 0;
}

/* A row blob: ncols values in order (a shorter blob leaves the rest NULL). */
static int row_decode(const uint8_t *p, size_t len, struct mc_value *vals, size_t ncols)
{
    size_t off = 0;
    for (size_t i = 0; i < ncols; i++) {
        vals[i] = (struct mc_value){.type = MC_VALUE_NULL};
        if (off < len && take_value(p, len, &off, &vals[i]) < 0)
            return MC_ERR_BAD_PAYLOAD;
    }
    return 0;
}

/* -- an arena: what a batch or a listing hands out ------------------------------------ */

struct sync_arena_block {
    struct sync_arena_block *next;
    max_align_t data[];
};

static void *arena_alloc(struct sync_arena_block **a, size_t n)
{
    struct sync_arena_block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (!b)
        return NULL;
    b->next = *a;
    *a = b;
    return b->data;
}

/* A copy of n bytes with a NUL after them. */
static void *arena_dup(struct sync_arena_block **a, const void *p, size_t n)
{
    char *q = arena_alloc(a, n + 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

static void arena_free(struct sync_arena_block **a)
{
    while (*a) {
        struct sync_arena_block *next = (*a)->next;
        free(*a);
        *a = next;
    }
}

/* A blob column as an arena copy; *len its size. */
static const uint8_t *col_blob(sqlite3_stmt *s, int i, struct sync_arena_block **a, size_t *len)
{
    *len = (size_t)sqlite3_column_bytes(s, i);
    const void *p = sqlite3_column_blob(s, i);
    return arena_dup(a, p ? p : "", *len);
}

static const char *col_text(sqlite3_stmt *s, int i, struct sync_arena_block **a)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? arena_dup(a, t, (size_t)sqlite3_column_bytes(s, i)) : NULL;
}

/* -- opening ------------------------------------------------------------------------ */

int mc_sync_store_open(mc_sync_store **out, const char *path)
{
    *out = NULL;
    mc_sync_store *st = calloc(1, sizeof *st);
    if (!st)
        return MC_ERR_NOMEM;
    *out = st;
    if (!path || !*path)
        return sync_store_fail(st, MC_ERR_INVALID_ARG, "store: no file given");
    if (sodium_init() < 0)
        return sync_store_fail(st, MC_ERR_INTERNAL, "store: libsodium cannot start");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        int rc = st->db ? db_fail(st, path) : sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
        return rc;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_stmt *s;
    int rc = prep(st, "PRAGMA user_version", &s);
    int version = 0;
    if (rc == 0 && sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (rc < 0) {
        return sync_store_fail(st, rc, "store: %s is not a sync store (%s)", path,
                               sqlite3_errmsg(st->db));
    }
    if (version > STORE_SCHEMA_VERSION)
        return sync_store_fail(st, MC_ERR_INVALID_ARG,
                               "store: %s was made by a newer libmiscomm (schema %d)", path,
                               version);
    /* WAL with FULL sync: a stored result or cursor survives a power cut. */
    if ((rc = exec_sql(st, "PRAGMA journal_mode=WAL")) < 0 ||
        (rc = exec_sql(st, "PRAGMA synchronous=FULL")) < 0 ||
        (rc = exec_sql(st, "PRAGMA foreign_keys=ON")) < 0)
        return rc;
    if ((rc = tx_begin(st)) < 0)
        return rc;
    rc = exec_sql(st, schema);
    if (rc == 0)
        rc = exec_sql(st, "PRAGMA user_version=1");
    return tx_end(st, rc);
}

static void page_statements_free(mc_sync_store *st)
{
    sqlite3_finalize(st->upsert);
    sqlite3_finalize(st->del);
    st->upsert = st->del = NULL;
}

void mc_sync_store_close(mc_sync_store *st)
{
    if (!st)
        return;
    sync_store_page_abort(st);
    sqlite3_close(st->db);
    free(st);
}

/* -- meta --------------------------------------------------------------------------- */

static int meta_int(mc_sync_store *st, const char *key, int64_t *v)
{
    sqlite3_stmt *s;
    int rc = prep(st, "SELECT value FROM meta WHERE key = ?", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    *v = 0;
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(s, 0);
    else if (r != SQLITE_DONE)
        rc = db_fail(st, "meta");
    sqlite3_finalize(s);
    return rc;
}

static int meta_set(mc_sync_store *st, const char *key, int64_t i, const void *blob, size_t len)
{
    sqlite3_stmt *s;
    int rc = prep(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (blob)
        sqlite3_bind_blob(s, 2, blob, (int)len, SQLITE_STATIC);
    else
        sqlite3_bind_int64(s, 2, i);
    rc = step_done(st, s, "meta");
    sqlite3_finalize(s);
    return rc;
}

int sync_store_cursor(mc_sync_store *st, uint8_t cursor[MC_SYNC_MAX_CURSOR], size_t *len)
{
    sqlite3_stmt *s;
    *len = 0;
    int rc = prep(st, "SELECT value FROM meta WHERE key = 'cursor'", &s);
    if (rc < 0)
        return rc;
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        const void *p = sqlite3_column_blob(s, 0);
        if (n > MC_SYNC_MAX_CURSOR)
            rc = sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: the stored cursor is damaged");
        else if (n)
            memcpy(cursor, p, n);
        *len = rc == 0 ? n : 0;
    } else if (r != SQLITE_DONE) {
        rc = db_fail(st, "cursor");
    }
    sqlite3_finalize(s);
    return rc;
}

int sync_store_cursor_reset(mc_sync_store *st)
{
    int64_t gen;
    int rc = tx_begin(st);
    if (rc == 0)
        rc = exec_sql(st, "DELETE FROM meta WHERE key = 'cursor'");
    if (rc == 0)
        rc = meta_int(st, "gen", &gen);
    /* Rows the full pull brings get the new generation; the others go when it ends. */
    if (rc == 0)
        rc = meta_set(st, "gen", gen + 1, NULL, 0);
    if (rc == 0)
        rc = meta_set(st, "sweep", 1, NULL, 0);
    return tx_end(st, rc);
}

/* -- columns ------------------------------------------------------------------------ */

struct store_cols {
    struct mc_column *cols;
    size_t n;
    struct sync_arena_block *mem;
};

static void cols_free(struct store_cols *c)
{
    free(c->cols);
    arena_free(&c->mem);
    *c = (struct store_cols){0};
}

static int cols_load(mc_sync_store *st, struct store_cols *c)
{
    *c = (struct store_cols){0};
    sqlite3_stmt *s;
    int rc = prep(st, "SELECT name, type, sql_type, size, nullable FROM columns ORDER BY pos", &s);
    size_t cap = 0;
    while (rc == 0) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_fail(st, "columns");
            break;
        }
        if (c->n == cap) {
            cap = cap ? cap * 2 : 32;
            struct mc_column *m = realloc(c->cols, cap * sizeof *m);
            if (!m) {
                rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
                break;
            }
            c->cols = m;
        }
        const char *name = col_text(s, 0, &c->mem);
        if (!name) {
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
            break;
        }
        c->cols[c->n++] = (struct mc_column){
            .name = name,
            .type = (enum mc_value_type)sqlite3_column_int(s, 1),
            .sql_type = (int16_t)sqlite3_column_int(s, 2),
            .size = (uint32_t)sqlite3_column_int64(s, 3),
            .nullable = (uint8_t)sqlite3_column_int(s, 4),
        };
    }
    sqlite3_finalize(s);
    if (rc < 0)
        cols_free(c);
    return rc;
}

static long col_index(const struct store_cols *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int cols_same(const struct store_cols *old, const struct mc_column *cols, size_t n)
{
    if (old->n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(old->cols[i].name, cols[i].name) != 0 || old->cols[i].type != cols[i].type)
            return 0;
    return 1;
}

/*
 * The administrator changed the mapping: store the new columns and carry
 * every row over by column name (a new column is NULL until the row comes
 * again; a column whose type changed too).
 */
static int cols_replace(mc_sync_store *st, const struct store_cols *old,
                        const struct mc_column *cols, size_t n)
{
    sqlite3_stmt *ins = NULL, *rows = NULL, *upd = NULL;
    struct mc_value *oldv = calloc(old->n ? old->n : 1, sizeof *oldv);
    struct mc_value *newv = calloc(n ? n : 1, sizeof *newv);
    struct bytes b = {0};
    int rc = oldv && newv ? 0 : sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = exec_sql(st, "DELETE FROM columns");
    if (rc == 0)
        rc = prep(st,
                  "INSERT INTO columns(pos, name, type, sql_type, size, nullable) "
                  "VALUES(?, ?, ?, ?, ?, ?)",
                  &ins);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(ins, 1, (int64_t)i);
        sqlite3_bind_text(ins, 2, cols[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 3, (int)cols[i].type);
        sqlite3_bind_int(ins, 4, cols[i].sql_type);
        sqlite3_bind_int64(ins, 5, cols[i].size);
        sqlite3_bind_int(ins, 6, cols[i].nullable);
        rc = step_done(st, ins, "columns");
    }
    if (rc == 0 && old->n > 0) {
        rc = prep(st, "SELECT id, row FROM interventions", &rows);
        if (rc == 0)
            rc = prep(st, "UPDATE interventions SET row = ? WHERE id = ?", &upd);
        while (rc == 0) {
            int r = sqlite3_step(rows);
            if (r == SQLITE_DONE)
                break;
            if (r != SQLITE_ROW) {
                rc = db_fail(st, "interventions");
                break;
            }
            const uint8_t *p = sqlite3_column_blob(rows, 1);
            if ((rc = row_decode(p, (size_t)sqlite3_column_bytes(rows, 1), oldv, old->n)) < 0) {
                rc = sync_store_fail(st, rc, "store: a stored row is damaged");
                break;
            }
            for (size_t i = 0; i < n; i++) {
                long k = col_index(old, cols[i].name);
                newv[i] = k >= 0 && (oldv[k].type == cols[i].type || oldv[k].type == MC_VALUE_NULL)
                              ? oldv[k]
                              : (struct mc_value){.type = MC_VALUE_NULL};
            }
            b.len = 0;
            for (size_t i = 0; i < n; i++)
                bytes_value(&b, &newv[i]);
            if (b.oom) {
                rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
                break;
            }
            sqlite3_bind_blob(upd, 1, b.p, (int)b.len, SQLITE_STATIC);
            sqlite3_bind_int64(upd, 2, sqlite3_column_int64(rows, 0));
            rc = step_done(st, upd, "interventions");
        }
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(rows);
    sqlite3_finalize(upd);
    free(oldv);
    free(newv);
    free(b.p);
    return rc;
}

/* -- pages -------------------------------------------------------------------------- */

int sync_store_page_begin(mc_sync_store *st, const struct mc_column *cols, size_t ncols,
                          struct mc_sync_report *report)
{
    static const char *const first[] = {"seq", "id", "version"};
    if (st->in_page)
        return sync_store_fail(st, MC_ERR_INTERNAL, "store: a page is already being applied");
    if (ncols < 3)
        return sync_store_fail(st, MC_ERR_BAD_PAYLOAD,
                               "SYNC_COLUMNS has %zu columns: seq, id and version at least", ncols);
    for (size_t i = 0; i < 3; i++)
        if (strcmp(cols[i].name, first[i]) != 0 || cols[i].type != MC_VALUE_INT)
            return sync_store_fail(st, MC_ERR_BAD_PAYLOAD,
                                   "SYNC_COLUMNS: column %zu is '%s', not the INT '%s'", i + 1,
                                   cols[i].name, first[i]);
    struct store_cols old;
    int rc = tx_begin(st);
    if (rc < 0)
        return rc;
    rc = cols_load(st, &old);
    if (rc == 0 && !cols_same(&old, cols, ncols))
        rc = cols_replace(st, &old, cols, ncols);
    cols_free(&old);
    if (rc == 0)
        rc = meta_int(st, "gen", &st->page_gen);
    if (rc == 0)
        rc = prep(st,
                  "INSERT INTO interventions(id, version, gen, row) VALUES(?, ?, ?, ?) "
                  "ON CONFLICT(id) DO UPDATE SET version = excluded.version, gen = excluded.gen, "
                  "row = excluded.row",
                  &st->upsert);
    if (rc == 0)
        rc = prep(st, "DELETE FROM interventions WHERE id = ?", &st->del);
    if (rc < 0) {
        page_statements_free(st);
        return tx_end(st, rc);
    }
    st->in_page = 1;
    st->page_ncols = ncols;
    st->report = report;
    return 0;
}

int sync_store_page_row(mc_sync_store *st, const struct mc_value *row, size_t ncols)
{
    if (!st->in_page || ncols != st->page_ncols)
        return sync_store_fail(st, MC_ERR_INTERNAL, "store: a row outside its page");
    if (row[1].type != MC_VALUE_INT)
        return sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "SYNC_PULL: a row without an id");
    if (st->report)
        st->report->rows++;
    if (row[2].type == MC_VALUE_NULL) {
        /* A tombstone: deleted, or no longer this technician's. */
        sqlite3_bind_int64(st->del, 1, row[1].i);
        int rc = step_done(st, st->del, "delete");
        if (rc == 0 && st->report && sqlite3_changes(st->db) > 0)
            st->report->deleted++;
        return rc;
    }
    struct bytes b = {0};
    for (size_t i = 0; i < ncols; i++)
        bytes_value(&b, &row[i]);
    if (b.oom) {
        free(b.p);
        return sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    }
    sqlite3_bind_int64(st->upsert, 1, row[1].i);
    sqlite3_bind_int64(st->upsert, 2, row[2].i);
    sqlite3_bind_int64(st->upsert, 3, st->page_gen);
    sqlite3_bind_blob(st->upsert, 4, b.p, (int)b.len, SQLITE_STATIC);
    int rc = step_done(st, st->upsert, "upsert");
    free(b.p);
    return rc;
}

int sync_store_page_commit(mc_sync_store *st, const struct mc_sync_page *page)
{
    if (!st->in_page)
        return sync_store_fail(st, MC_ERR_INTERNAL, "store: no page to commit");
    page_statements_free(st);
    st->in_page = 0;
    int64_t sweep = 0;
    int rc = meta_set(st, "cursor", 0, page->cursor_len ? page->cursor : (const uint8_t *)"",
                      page->cursor_len);
    if (rc == 0 && !page->more)
        rc = meta_int(st, "sweep", &sweep);
    /* The last page of a full pull: what it did not bring is no longer ours. */
    if (rc == 0 && sweep) {
        sqlite3_stmt *s;
        rc = prep(st, "DELETE FROM interventions WHERE gen < ?", &s);
        if (rc == 0) {
            sqlite3_bind_int64(s, 1, st->page_gen);
            rc = step_done(st, s, "sweep");
            if (rc == 0 && st->report)
                st->report->deleted += (uint64_t)sqlite3_changes(st->db);
            sqlite3_finalize(s);
        }
        if (rc == 0)
            rc = exec_sql(st, "DELETE FROM meta WHERE key = 'sweep'");
    }
    return tx_end(st, rc);
}

void sync_store_page_abort(mc_sync_store *st)
{
    if (!st->in_page)
        return;
    page_statements_free(st);
    st->in_page = 0;
    tx_end(st, MC_ERR_CANCELLED);
}

/* -- the replica ----------------------------------------------------------------------- */

/* An intervention's stored row: version and values (pointing into *mem). 0, 1 not found, or < 0. */
static int row_load(mc_sync_store *st, uint64_t id, size_t ncols, int64_t *version,
                    struct mc_value *vals, struct sync_arena_block **mem)
{
    sqlite3_stmt *s;
    int rc = prep(st, "SELECT version, row FROM interventions WHERE id = ?", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, u2s(id));
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        size_t len;
        const uint8_t *p = col_blob(s, 1, mem, &len);
        *version = sqlite3_column_int64(s, 0);
        if (!p)
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
        else if (row_decode(p, len, vals, ncols) < 0)
            rc = sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: the row of %llu is damaged",
                                 (unsigned long long)id);
    } else {
        rc = r == SQLITE_DONE ? 1 : db_fail(st, "interventions");
    }
    sqlite3_finalize(s);
    return rc;
}

/*
 * What the server said it now holds (an APPLIED change, or the current
 * values of a CONFLICT or RESOLVED): set those fields of the stored row and
 * its version, unless the row is already newer (a replay's stored answer,
 * or a pull since). A row the replica no longer has is left alone.
 */
static int row_set(mc_sync_store *st, uint64_t id, uint64_t version, const char *const *names,
                   const struct mc_value *vals, size_t n)
{
    struct store_cols c;
    struct sync_arena_block *mem = NULL;
    struct mc_value *row = NULL;
    struct bytes b = {0};
    int64_t have;
    int rc = cols_load(st, &c);
    if (rc == 0 && !(row = calloc(c.n ? c.n : 1, sizeof *row)))
        rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = row_load(st, id, c.n, &have, row, &mem);
    if (rc == 0 && s2u(have) > version)
        rc = 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        long k = col_index(&c, names[i]);
        if (k >= 3 && (vals[i].type == MC_VALUE_NULL || vals[i].type == c.cols[k].type))
            row[k] = vals[i];
    }
    if (rc == 0) {
        row[2] = (struct mc_value){.type = MC_VALUE_INT, .i = u2s(version)};
        for (size_t i = 0; i < c.n; i++)
            bytes_value(&b, &row[i]);
        if (b.oom)
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    }
    if (rc == 0) {
        sqlite3_stmt *s;
        rc = prep(st, "UPDATE interventions SET version = ?, row = ? WHERE id = ?", &s);
        if (rc == 0) {
            sqlite3_bind_int64(s, 1, u2s(version));
            sqlite3_bind_blob(s, 2, b.p, (int)b.len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, u2s(id));
            rc = step_done(st, s, "interventions");
            sqlite3_finalize(s);
        }
    }
    free(b.p);
    free(row);
    arena_free(&mem);
    cols_free(&c);
    return rc < 0 ? rc : 0;
}

int mc_sync_field_type(mc_sync_store *st, const char *field, enum mc_value_type *type)
{
    struct store_cols c;
    int rc = cols_load(st, &c);
    if (rc < 0)
        return rc;
    long k = field ? col_index(&c, field) : -1;
    if (k < 0)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND,
                             c.n ? "no column '%s' in the replica"
                                 : "no column '%s': the replica is empty (pull first)",
                             field ? field : "");
    else
        *type = c.cols[k].type;
    cols_free(&c);
    return rc;
}

/*
 * The items: the stored row with the values of the unfinished operations
 * (pending and sent, in order) laid over it.
 */
int mc_sync_items(mc_sync_store *st, uint64_t id, int (*fn)(void *ud, const struct mc_sync_item *),
                  void *ud)
{
    struct store_cols c;
    int rc = cols_load(st, &c);
    if (rc < 0)
        return rc;
    sqlite3_stmt *s = NULL, *f = NULL;
    struct mc_value *vals = calloc(c.n ? c.n : 1, sizeof *vals);
    uint8_t *edited = calloc(c.n ? c.n : 1, 1);
    if (!vals || !edited)
        rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = prep(st,
                  id ? "SELECT id, version, row FROM interventions WHERE id = ?"
                     : "SELECT id, version, row FROM interventions ORDER BY id",
                  &s);
    if (rc == 0)
        rc = prep(st,
                  "SELECT f.name, f.value FROM outbox o JOIN outbox_fields f ON f.seq = o.seq "
                  "WHERE o.intervention = ? AND o.kind = 1 AND o.state IN (0, 1) "
                  "ORDER BY o.seq, f.pos",
                  &f);
    if (rc == 0 && id)
        sqlite3_bind_int64(s, 1, u2s(id));
    while (rc == 0) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_fail(st, "interventions");
            break;
        }
        struct sync_arena_block *mem = NULL;
        size_t len;
        const uint8_t *p = col_blob(s, 2, &mem, &len);
        int64_t iid = sqlite3_column_int64(s, 0);
        if (!p || row_decode(p, len, vals, c.n) < 0)
            rc = p ? sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: the row of %lld is damaged",
                                     (long long)iid)
                   : sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
        memset(edited, 0, c.n ? c.n : 1);
        sqlite3_bind_int64(f, 1, iid);
        while (rc == 0 && (r = sqlite3_step(f)) == SQLITE_ROW) {
            long k = col_index(&c, (const char *)sqlite3_column_text(f, 0));
            const uint8_t *v = col_blob(f, 1, &mem, &len);
            size_t off = 0;
            if (k < 0)
                continue; /* the mapping lost the column since the edit */
            if (!v || take_value(v, len, &off, &vals[k]) < 0)
                rc = sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: an outbox value is damaged");
            edited[k] = 1;
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = db_fail(st, "outbox");
        sqlite3_reset(f);
        if (rc == 0) {
            struct mc_sync_item it = {
                .id = s2u(iid),
                .version = s2u(sqlite3_column_int64(s, 1)),
                .cols = c.cols,
                .values = vals,
                .edited = edited,
                .ncols = c.n,
            };
            rc = fn(ud, &it);
        }
        arena_free(&mem);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(f);
    free(vals);
    free(edited);
    cols_free(&c);
    return rc;
}

/* -- editing -------------------------------------------------------------------------- */

/* A one-row query with an int64 and a text parameter: its first column, as a blob or an integer. */
static int query_one(mc_sync_store *st, const char *sql, int64_t a, const char *b,
                     struct sync_arena_block **mem, const uint8_t **blob, size_t *len, int64_t *num)
{
    sqlite3_stmt *s;
    int rc = prep(st, sql, &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW && num) {
        *num = sqlite3_column_int64(s, 0);
    } else if (r == SQLITE_ROW) {
        *blob = col_blob(s, 0, mem, len);
        if (!*blob)
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    } else {
        rc = r == SQLITE_DONE ? 1 : db_fail(st, "outbox");
    }
    sqlite3_finalize(s);
    return rc;
}

static int op_insert(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE],
                     enum mc_sync_kind kind, uint64_t intervention, int64_t base_version,
                     int64_t *seq)
{
    sqlite3_stmt *s;
    int rc = prep(st,
                  "INSERT INTO outbox(op_id, kind, intervention, base_version, created_us) "
                  "VALUES(?, ?, ?, ?, ?)",
                  &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(s, 1, op_id, MC_SYNC_OP_ID_SIZE, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, (int)kind);
    sqlite3_bind_int64(s, 3, u2s(intervention));
    sqlite3_bind_int64(s, 4, base_version);
    sqlite3_bind_int64(s, 5, now_us());
    rc = step_done(st, s, "outbox");
    sqlite3_finalize(s);
    *seq = sqlite3_last_insert_rowid(st->db);
    return rc;
}

/* One field of an operation: its base and new value, encoded. */
static int field_write(mc_sync_store *st, const char *sql, int64_t seq, const char *field,
                       const uint8_t *base, size_t base_len, const uint8_t *nv, size_t nv_len)
{
    sqlite3_stmt *s;
    int rc = prep(st, sql, &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_text(s, 2, field, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, nv, (int)nv_len, SQLITE_STATIC);
    if (base)
        sqlite3_bind_blob(s, 4, base, (int)base_len, SQLITE_STATIC);
    rc = step_done(st, s, "outbox");
    sqlite3_finalize(s);
    return rc;
}

/*
 * The edit joins an operation not yet sent:
 * - the one that already holds the field: its new value changes, its base
 *   stays (the value the field had when it was first edited);
 * - else the latest one made on the replica's current version, while it
 *   has room; else a new operation on that version.
 * The base of a field not yet in the outbox is what the server holds: the
 * value of the last operation sent with it (no result yet), else the
 * replica's.
 */
static int edit_in_tx(mc_sync_store *st, uint64_t id, const char *field,
                      const struct mc_value *value, const uint8_t *nv, size_t nv_len)
{
    struct store_cols c;
    struct sync_arena_block *mem = NULL;
    struct mc_value *row = NULL;
    struct bytes base = {0};
    int64_t version, seq = 0;
    const uint8_t *blob = NULL;
    size_t blen = 0;
    int rc = cols_load(st, &c);
    if (rc < 0)
        return rc;
    long k = col_index(&c, field);
    if (k < 0)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND, "no column '%s' in the replica%s", field,
                             c.n ? "" : " (pull first)");
    else if (k < 3)
        rc = sync_store_fail(st, MC_ERR_INVALID_ARG,
                             "'%s' is the server's bookkeeping, not a field to edit", field);
    else if (value->type != MC_VALUE_NULL && value->type != c.cols[k].type)
        rc = sync_store_fail(st, MC_ERR_INVALID_ARG,
                             "'%s' takes values of type %d (or NULL), not of type %d", field,
                             (int)c.cols[k].type, (int)value->type);
    if (rc == 0 && !(row = calloc(c.n, sizeof *row)))
        rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    if (rc == 0 && (rc = row_load(st, id, c.n, &version, row, &mem)) == 1)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND, "no intervention %llu in the replica",
                             (unsigned long long)id);
    if (rc == 0)
        rc = query_one(st,
                       "SELECT o.seq FROM outbox o JOIN outbox_fields f ON f.seq = o.seq "
                       "WHERE o.intervention = ? AND o.kind = 1 AND o.state = 0 AND f.name = ?",
                       u2s(id), field, &mem, NULL, NULL, &seq);
    if (rc == 0) {
        /* The field is waiting already: only its new value changes. */
        rc = field_write(st, "UPDATE outbox_fields SET value = ?3 WHERE seq = ?1 AND name = ?2",
                         seq, field, NULL, 0, nv, nv_len);
        goto out;
    }
    if (rc < 0)
        goto out;

    /* The base: the last sent operation's value for the field, else the replica's. */
    rc = query_one(st,
                   "SELECT f.value FROM outbox o JOIN outbox_fields f ON f.seq = o.seq "
                   "WHERE o.intervention = ? AND o.kind = 1 AND o.state = 1 AND f.name = ? "
                   "ORDER BY o.seq DESC LIMIT 1",
                   u2s(id), field, &mem, &blob, &blen, NULL);
    if (rc == 1) {
        bytes_value(&base, &row[k]);
        rc = base.oom ? sync_store_fail(st, MC_ERR_NOMEM, "out of memory") : 0;
        blob = base.p;
        blen = base.len;
    }
    /* The operation it joins, or a new one. */
    seq = 0;
    sqlite3_stmt *s = NULL;
    if (rc == 0)
        rc = prep(st,
                  "SELECT seq FROM outbox o WHERE intervention = ? AND kind = 1 AND state = 0 "
                  "AND base_version = ? AND (SELECT count(*) FROM outbox_fields f "
                  "WHERE f.seq = o.seq) < ? ORDER BY seq DESC LIMIT 1",
                  &s);
    if (rc == 0) {
        sqlite3_bind_int64(s, 1, u2s(id));
        sqlite3_bind_int64(s, 2, version);
        sqlite3_bind_int(s, 3, (int)MC_SYNC_MAX_FIELDS);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            seq = sqlite3_column_int64(s, 0);
        else if (r != SQLITE_DONE)
            rc = db_fail(st, "outbox");
        sqlite3_finalize(s);
    }
    if (rc == 0 && seq == 0) {
        uint8_t op_id[MC_SYNC_OP_ID_SIZE];
        randombytes_buf(op_id, sizeof op_id);
        rc = op_insert(st, op_id, MC_SYNC_UPDATE, id, version, &seq);
    }
    if (rc == 0)
        rc = field_write(st,
                         "INSERT INTO outbox_fields(seq, pos, name, base, value) VALUES(?1, "
                         "(SELECT count(*) FROM outbox_fields WHERE seq = ?1), ?2, ?4, ?3)",
                         seq, field, blob, blen, nv, nv_len);
out:
    free(base.p);
    free(row);
    arena_free(&mem);
    cols_free(&c);
    return rc;
}

int mc_sync_edit(mc_sync_store *st, uint64_t intervention, const char *field,
                 const struct mc_value *value)
{
    if (!field || !value)
        return sync_store_fail(st, MC_ERR_INVALID_ARG, "edit: no field or no value given");
    struct bytes nv = {0};
    if (mc_value_encode(value, NULL, 0) < 0)
        return sync_store_fail(st, MC_ERR_INVALID_ARG,
                               "edit: the value cannot be sent (a bad type, a DECIMAL that is "
                               "not -DIGITS.DIGITS, a date or time out of range)");
    bytes_value(&nv, value);
    if (nv.oom) {
        free(nv.p);
        return sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    }
    int rc = tx_begin(st);
    if (rc == 0)
        rc = tx_end(st, edit_in_tx(st, intervention, field, value, nv.p, nv.len));
    free(nv.p);
    return rc;
}

/* -- photos ----------------------------------------------------------------------------- */

static const struct {
    const char *type, *ext, *ext2;
} photo_types[] = {
    {"image/jpeg", "jpg", "jpeg"},
    {"image/png", "png", NULL},
    {"image/heic", "heic", NULL},
    {"image/webp", "webp", NULL},
};

int mc_sync_attach_photo(mc_sync_store *st, uint64_t intervention, const char *local_file,
                         const char *content_type, const char *caption)
{
    const size_t ntypes = sizeof photo_types / sizeof photo_types[0];
    size_t t = ntypes;
    if (!local_file)
        return sync_store_fail(st, MC_ERR_INVALID_ARG, "photo: no file given");
    const char *dot = strrchr(local_file, '.');
    for (size_t i = 0; i < ntypes; i++) {
        int by_type = content_type && strcmp(content_type, photo_types[i].type) == 0;
        int by_ext = !content_type && dot &&
                     (strcasecmp(dot + 1, photo_types[i].ext) == 0 ||
                      (photo_types[i].ext2 && strcasecmp(dot + 1, photo_types[i].ext2) == 0));
        if (by_type || by_ext)
            t = i;
    }
    if (t == ntypes)
        return sync_store_fail(st, MC_ERR_INVALID_ARG,
                               content_type
                                   ? "photo: the type %s is not image/jpeg, image/png, "
                                     "image/heic or image/webp"
                                   : "photo: %s: give the type (its name does not end in .jpg, "
                                     ".jpeg, .png, .heic or .webp)",
                               content_type ? content_type : local_file);
    char path[PATH_MAX];
    if (!realpath(local_file, path))
        return sync_store_fail(st, errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO, "photo: %s: %s",
                               local_file, strerror(errno));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint8_t sha[32];
    if (fd < 0)
        return sync_store_fail(st, MC_ERR_IO, "photo: %s: %s", path, strerror(errno));
    int rc = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)
                 ? filehash_fd(fd, (uint64_t)sb.st_size, sha)
                 : sync_store_fail(st, MC_ERR_INVALID_ARG, "photo: %s: not a plain file", path);
    close(fd);
    if (rc < 0)
        return sync_store_fail(st, rc, "photo: %s: cannot be read", path);
    char name[128];
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sha[i]);
    snprintf(name, sizeof name, "photos/%s.%s", hex, photo_types[t].ext);

    int64_t version, seq;
    struct mc_value one;
    struct sync_arena_block *mem = NULL;
    if ((rc = tx_begin(st)) < 0)
        return rc;
    rc = row_load(st, intervention, 0, &version, &one, &mem);
    arena_free(&mem);
    if (rc == 1)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND, "no intervention %llu in the replica",
                             (unsigned long long)intervention);
    uint8_t op_id[MC_SYNC_OP_ID_SIZE];
    randombytes_buf(op_id, sizeof op_id);
    if (rc == 0)
        rc = op_insert(st, op_id, MC_SYNC_PHOTO, intervention, 0, &seq);
    sqlite3_stmt *s = NULL;
    if (rc == 0)
        rc = prep(st,
                  "UPDATE outbox SET local_file = ?, file = ?, sha256 = ?, content_type = ?, "
                  "caption = ? WHERE seq = ?",
                  &s);
    if (rc == 0) {
        sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, sha, 32, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, photo_types[t].type, -1, SQLITE_STATIC);
        if (caption)
            sqlite3_bind_text(s, 5, caption, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 6, seq);
        rc = step_done(st, s, "outbox");
        sqlite3_finalize(s);
    }
    return tx_end(st, rc);
}

int sync_store_next_photo(mc_sync_store *st, int64_t after_seq, int64_t *seq, struct sync_photo *p)
{
    sqlite3_stmt *s;
    int rc = prep(st,
                  "SELECT seq, op_id, local_file, file, sha256 FROM outbox WHERE kind = 2 AND "
                  "state IN (0, 1) AND uploaded = 0 AND seq > ? ORDER BY seq LIMIT 1",
                  &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, after_seq);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        const char *lf = (const char *)sqlite3_column_text(s, 2);
        const char *fn = (const char *)sqlite3_column_text(s, 3);
        *seq = sqlite3_column_int64(s, 0);
        if (sqlite3_column_bytes(s, 1) != MC_SYNC_OP_ID_SIZE || sqlite3_column_bytes(s, 4) != 32 ||
            !lf || !fn) {
            rc = sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: a photo operation is damaged");
        } else {
            memcpy(p->op_id, sqlite3_column_blob(s, 1), MC_SYNC_OP_ID_SIZE);
            memcpy(p->sha256, sqlite3_column_blob(s, 4), 32);
            snprintf(p->local_file, sizeof p->local_file, "%s", lf);
            snprintf(p->name, sizeof p->name, "%s", fn);
            rc = 1;
        }
    } else if (r != SQLITE_DONE) {
        rc = db_fail(st, "outbox");
    }
    sqlite3_finalize(s);
    return rc;
}

static int op_update(mc_sync_store *st, const char *sql, const uint8_t op_id[MC_SYNC_OP_ID_SIZE],
                     int code, const char *message)
{
    sqlite3_stmt *s;
    int rc = prep(st, sql, &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(s, 1, op_id, MC_SYNC_OP_ID_SIZE, SQLITE_STATIC);
    if (code) {
        sqlite3_bind_int(s, 2, code);
        sqlite3_bind_text(s, 3, message ? message : mc_strerror(code), -1, SQLITE_STATIC);
    }
    rc = step_done(st, s, "outbox");
    sqlite3_finalize(s);
    return rc;
}

int sync_store_photo_uploaded(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE])
{
    return op_update(st, "UPDATE outbox SET uploaded = 1 WHERE op_id = ?", op_id, 0, NULL);
}

int sync_store_op_fail(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE], int code,
                       const char *message)
{
    return op_update(st, "UPDATE outbox SET state = 2, code = ?2, message = ?3 WHERE op_id = ?1",
                     op_id, code ? code : MC_ERR_INTERNAL, message);
}

/* -- the outbox, as operations -------------------------------------------------------- */

#define OP_COLUMNS                                                                                 \
    "seq, op_id, kind, intervention, base_version, state, code, message, local_file, file, "       \
    "sha256, content_type, caption, uploaded"

/* An outbox row (OP_COLUMNS) as an operation, its fields read too; everything in *mem. */
static int op_read(mc_sync_store *st, sqlite3_stmt *s, sqlite3_stmt *fields, struct mc_sync_op *op,
                   struct sync_arena_block **mem)
{
    *op = (struct mc_sync_op){0};
    if (sqlite3_column_bytes(s, 1) != MC_SYNC_OP_ID_SIZE)
        return sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: an operation id is damaged");
    memcpy(op->op_id, sqlite3_column_blob(s, 1), MC_SYNC_OP_ID_SIZE);
    op->kind = (enum mc_sync_kind)sqlite3_column_int(s, 2);
    op->intervention = s2u(sqlite3_column_int64(s, 3));
    op->base_version = s2u(sqlite3_column_int64(s, 4));
    op->caption.type = MC_VALUE_NULL;
    op->taken_at.type = MC_VALUE_NULL;
    if (op->kind == MC_SYNC_PHOTO) {
        op->file = col_text(s, 9, mem);
        op->content_type = col_text(s, 11, mem);
        if (sqlite3_column_bytes(s, 10) == 32)
            memcpy(op->sha256, sqlite3_column_blob(s, 10), 32);
        if (sqlite3_column_type(s, 12) != SQLITE_NULL) {
            const char *cap = col_text(s, 12, mem);
            op->caption =
                (struct mc_value){.type = MC_VALUE_TEXT, .s = {cap, cap ? strlen(cap) : 0}};
        }
        if (!op->file || !op->content_type)
            return sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: a photo operation is damaged");
        return 0;
    }
    sqlite3_bind_int64(fields, 1, sqlite3_column_int64(s, 0));
    size_t n = 0, cap = 0;
    struct mc_sync_field *f = NULL;
    int rc = 0, r;
    while (rc == 0 && (r = sqlite3_step(fields)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct mc_sync_field *g = arena_alloc(mem, cap * sizeof *g);
            if (!g) {
                rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
                break;
            }
            if (n)
                memcpy(g, f, n * sizeof *g);
            f = g;
        }
        size_t bl, vl, off = 0, voff = 0;
        const char *name = col_text(fields, 0, mem);
        const uint8_t *b = col_blob(fields, 1, mem, &bl);
        const uint8_t *v = col_blob(fields, 2, mem, &vl);
        if (!name || !b || !v)
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
        else if (take_value(b, bl, &off, &f[n].base) < 0 ||
                 take_value(v, vl, &voff, &f[n].value) < 0)
            rc = sync_store_fail(st, MC_ERR_BAD_PAYLOAD, "store: an outbox value is damaged");
        else
            f[n++].name = name;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = db_fail(st, "outbox");
    sqlite3_reset(fields);
    op->fields = f;
    op->nfields = n;
    return rc;
}

static int outbox_statements(mc_sync_store *st, const char *where, sqlite3_stmt **s,
                             sqlite3_stmt **fields)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT " OP_COLUMNS " FROM outbox %s ORDER BY seq", where);
    int rc = prep(st, sql, s);
    if (rc == 0)
        rc = prep(st, "SELECT name, base, value FROM outbox_fields WHERE seq = ? ORDER BY pos",
                  fields);
    return rc;
}

int sync_store_batch_next(mc_sync_store *st, struct sync_batch *b, size_t max_ops, size_t max_bytes)
{
    *b = (struct sync_batch){0};
    sqlite3_stmt *s = NULL, *fields = NULL, *mark = NULL;
    size_t bytes = 2;
    int rc = tx_begin(st);
    if (rc < 0)
        return rc;
    rc = outbox_statements(st, "WHERE state IN (0, 1) AND (kind = 1 OR uploaded = 1)", &s, &fields);
    if (rc == 0 && !(b->ops = arena_alloc(&b->mem, max_ops * sizeof *b->ops)))
        rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = prep(st, "UPDATE outbox SET state = 1 WHERE op_id = ? AND state = 0", &mark);
    while (rc == 0 && b->n < max_ops) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_fail(st, "outbox");
            break;
        }
        struct mc_sync_op *op = &b->ops[b->n];
        if ((rc = op_read(st, s, fields, op, &b->mem)) < 0)
            break;
        long size = sync_op_size(op);
        if (size < 0 || (size_t)size + 2 > max_bytes) {
            /* It can never be sent: fail it alone rather than hold up the outbox. */
            rc = sync_store_op_fail(st, op->op_id, MC_ERR_INVALID_ARG,
                                    size < 0 ? "the operation cannot be encoded"
                                             : "the operation is larger than a request");
            continue;
        }
        if (bytes + (size_t)size > max_bytes)
            break;
        bytes += (size_t)size;
        sqlite3_bind_blob(mark, 1, op->op_id, MC_SYNC_OP_ID_SIZE, SQLITE_STATIC);
        rc = step_done(st, mark, "outbox");
        b->n++;
    }
    sqlite3_finalize(s);
    sqlite3_finalize(fields);
    sqlite3_finalize(mark);
    rc = tx_end(st, rc);
    if (rc < 0)
        sync_batch_free(b);
    return rc;
}

void sync_batch_free(struct sync_batch *b)
{
    arena_free(&b->mem);
    *b = (struct sync_batch){0};
}

int mc_sync_outbox(mc_sync_store *st, int (*fn)(void *ud, const struct mc_sync_outbox_entry *),
                   void *ud)
{
    sqlite3_stmt *s = NULL, *fields = NULL;
    int rc = outbox_statements(st, "", &s, &fields);
    while (rc == 0) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_fail(st, "outbox");
            break;
        }
        struct sync_arena_block *mem = NULL;
        struct mc_sync_op op;
        rc = op_read(st, s, fields, &op, &mem);
        if (rc == 0) {
            const char *msg = col_text(s, 7, &mem);
            const char *lf = col_text(s, 8, &mem);
            struct mc_sync_outbox_entry e = {
                .op = &op,
                .state = (enum mc_sync_op_state)sqlite3_column_int(s, 5),
                .local_file = lf,
                .uploaded = sqlite3_column_int(s, 13),
                .code = sqlite3_column_int(s, 6),
                .message = msg ? msg : "",
            };
            rc = fn(ud, &e);
        }
        arena_free(&mem);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(fields);
    return rc;
}

int mc_sync_discard(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE])
{
    sqlite3_stmt *s;
    int rc = prep(st, "DELETE FROM outbox WHERE op_id = ?", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_blob(s, 1, op_id, MC_SYNC_OP_ID_SIZE, SQLITE_STATIC);
    rc = step_done(st, s, "outbox");
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND, "no such operation in the outbox");
    return rc;
}

/* -- results ---------------------------------------------------------------------------- */

int sync_store_results_begin(mc_sync_store *st)
{
    return tx_begin(st);
}

int sync_store_results_end(mc_sync_store *st, int rc)
{
    return tx_end(st, rc);
}

static int op_delete(mc_sync_store *st, const uint8_t op_id[MC_SYNC_OP_ID_SIZE])
{
    int rc = mc_sync_discard(st, op_id);
    return rc == MC_ERR_NOT_FOUND ? 0 : rc; /* already gone: a result stored twice */
}

static int conflict_insert(mc_sync_store *st, const struct mc_sync_op *op,
                           const struct mc_sync_op_result *r)
{
    struct bytes local = {0}, names = {0}, server = {0};
    for (size_t i = 0; i < op->nfields; i++) {
        bytes_str(&local, op->fields[i].name);
        bytes_value(&local, &op->fields[i].base);
        bytes_value(&local, &op->fields[i].value);
    }
    for (size_t i = 0; i < r->nconflicts; i++)
        bytes_str(&names, r->conflicts[i]);
    for (size_t i = 0; i < r->ncurrent; i++) {
        bytes_str(&server, r->current[i].name);
        bytes_value(&server, &r->current[i].value);
    }
    sqlite3_stmt *s = NULL;
    int rc = local.oom || names.oom || server.oom
                 ? sync_store_fail(st, MC_ERR_NOMEM, "out of memory")
                 : prep(st,
                        "INSERT INTO conflicts(op_id, intervention, base_version, version, "
                        "message, local, names, server, created_us) "
                        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &s);
    if (rc == 0) {
        sqlite3_bind_blob(s, 1, op->op_id, MC_SYNC_OP_ID_SIZE, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, u2s(op->intervention));
        sqlite3_bind_int64(s, 3, u2s(op->base_version));
        sqlite3_bind_int64(s, 4, u2s(r->version));
        sqlite3_bind_text(s, 5, r->message ? r->message : "", -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 6, local.p ? (void *)local.p : "", (int)local.len, SQLITE_STATIC);
        sqlite3_bind_blob(s, 7, names.p ? (void *)names.p : "", (int)names.len, SQLITE_STATIC);
        sqlite3_bind_blob(s, 8, server.p ? (void *)server.p : "", (int)server.len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 9, now_us());
        rc = step_done(st, s, "conflicts");
        sqlite3_finalize(s);
    }
    free(local.p);
    free(names.p);
    free(server.p);
    return rc;
}

/* The server's current values (CONFLICT, RESOLVED) onto the stored row. */
static int row_set_current(mc_sync_store *st, uint64_t id, const struct mc_sync_op_result *r)
{
    const char **names = calloc(r->ncurrent ? r->ncurrent : 1, sizeof *names);
    struct mc_value *vals = calloc(r->ncurrent ? r->ncurrent : 1, sizeof *vals);
    int rc = names && vals ? 0 : sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < r->ncurrent; i++) {
        names[i] = r->current[i].name;
        vals[i] = r->current[i].value;
    }
    if (rc == 0 && r->version)
        rc = row_set(st, id, r->version, names, vals, r->ncurrent);
    free(names);
    free(vals);
    return rc;
}

/*
 * APPLIED: the operation is done; the replica takes its values and the
 * new version (and, when the policy settled a conflict, the server's
 * values). CONFLICT: kept in the conflicts list with the server's values,
 * which the replica takes; the operation is done. FAILED with
 * DB_UNAVAILABLE: nothing was applied, the operation stays to be sent
 * again. Other FAILED: the operation moves to the failed list.
 */
int sync_store_result(mc_sync_store *st, const struct mc_sync_op *op,
                      const struct mc_sync_op_result *r, struct mc_sync_report *report)
{
    struct mc_sync_report dummy;
    struct mc_sync_report *rep = report ? report : &dummy;
    int rc = 0;
    if (r->result == MC_SYNC_APPLIED) {
        rep->applied++;
        rep->merged += (r->flags & MC_SYNC_MERGED) != 0;
        rep->resolved += (r->flags & MC_SYNC_RESOLVED) != 0;
        rep->replayed += (r->flags & MC_SYNC_REPLAYED) != 0;
        if (op->kind == MC_SYNC_UPDATE && r->version) {
            const char **names = calloc(op->nfields ? op->nfields : 1, sizeof *names);
            struct mc_value *vals = calloc(op->nfields ? op->nfields : 1, sizeof *vals);
            rc = names && vals ? 0 : sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
            for (size_t i = 0; rc == 0 && i < op->nfields; i++) {
                names[i] = op->fields[i].name;
                vals[i] = op->fields[i].value;
            }
            if (rc == 0)
                rc = row_set(st, op->intervention, r->version, names, vals, op->nfields);
            free(names);
            free(vals);
        }
        if (rc == 0 && (r->flags & MC_SYNC_RESOLVED))
            rc = row_set_current(st, op->intervention, r);
        return rc < 0 ? rc : op_delete(st, op->op_id);
    }
    if (r->result == MC_SYNC_CONFLICT) {
        rep->conflicts++;
        rc = conflict_insert(st, op, r);
        if (rc == 0)
            rc = row_set_current(st, op->intervention, r);
        return rc < 0 ? rc : op_delete(st, op->op_id);
    }
    if (r->code == MC_ERR_DB_UNAVAILABLE) {
        rep->retry++;
        return 0;
    }
    rep->failed++;
    return sync_store_op_fail(st, op->op_id, r->code,
                              r->message && *r->message ? r->message : NULL);
}

/* -- conflicts -------------------------------------------------------------------------- */

int mc_sync_conflicts(mc_sync_store *st, int (*fn)(void *ud, const struct mc_sync_conflict *),
                      void *ud)
{
    sqlite3_stmt *s;
    int rc = prep(st,
                  "SELECT id, op_id, intervention, base_version, version, message, local, names, "
                  "server FROM conflicts ORDER BY id",
                  &s);
    while (rc == 0) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = db_fail(st, "conflicts");
            break;
        }
        struct sync_arena_block *mem = NULL;
        size_t ll, nl, sl;
        const uint8_t *lp = col_blob(s, 6, &mem, &ll);
        const uint8_t *np = col_blob(s, 7, &mem, &nl);
        const uint8_t *sp = col_blob(s, 8, &mem, &sl);
        const char *msg = col_text(s, 5, &mem);
        /* Each entry takes 2 bytes at least: the counts are bounded by the blobs. */
        struct mc_sync_field *local = arena_alloc(&mem, (ll / 2 + 1) * sizeof *local);
        const char **names = arena_alloc(&mem, (nl / 2 + 1) * sizeof *names);
        struct mc_sync_named_value *server = arena_alloc(&mem, (sl / 2 + 1) * sizeof *server);
        struct mc_sync_conflict k = {
            .id = sqlite3_column_int64(s, 0),
            .intervention = s2u(sqlite3_column_int64(s, 2)),
            .base_version = s2u(sqlite3_column_int64(s, 3)),
            .version = s2u(sqlite3_column_int64(s, 4)),
            .message = msg ? msg : "",
            .local = local,
            .names = names,
            .server = server,
        };
        if (!lp || !np || !sp || !local || !names || !server)
            rc = sync_store_fail(st, MC_ERR_NOMEM, "out of memory");
        if (rc == 0 && sqlite3_column_bytes(s, 1) == MC_SYNC_OP_ID_SIZE)
            memcpy(k.op_id, sqlite3_column_blob(s, 1), MC_SYNC_OP_ID_SIZE);
        const char *t;
        size_t tn, off = 0;
        while (rc == 0 && off < ll) {
            rc = take_str(lp, ll, &off, &t, &tn);
            if (rc == 0)
                rc = take_value(lp, ll, &off, &local[k.nlocal].base);
            if (rc == 0)
                rc = take_value(lp, ll, &off, &local[k.nlocal].value);
            if (rc == 0 && !(local[k.nlocal++].name = arena_dup(&mem, t, tn)))
                rc = MC_ERR_NOMEM;
        }
        for (off = 0; rc == 0 && off < nl;) {
            rc = take_str(np, nl, &off, &t, &tn);
            if (rc == 0 && !(names[k.nnames++] = arena_dup(&mem, t, tn)))
                rc = MC_ERR_NOMEM;
        }
        for (off = 0; rc == 0 && off < sl;) {
            rc = take_str(sp, sl, &off, &t, &tn);
            if (rc == 0)
                rc = take_value(sp, sl, &off, &server[k.nserver].value);
            if (rc == 0 && !(server[k.nserver++].name = arena_dup(&mem, t, tn)))
                rc = MC_ERR_NOMEM;
        }
        if (rc == MC_ERR_BAD_PAYLOAD || rc == MC_ERR_NOMEM)
            rc = sync_store_fail(st, rc, "store: conflict %lld cannot be read", (long long)k.id);
        if (rc == 0)
            rc = fn(ud, &k);
        arena_free(&mem);
    }
    sqlite3_finalize(s);
    return rc;
}

int mc_sync_conflict_dismiss(mc_sync_store *st, int64_t id)
{
    sqlite3_stmt *s;
    int rc = prep(st, "DELETE FROM conflicts WHERE id = ?", &s);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = step_done(st, s, "conflicts");
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = sync_store_fail(st, MC_ERR_NOT_FOUND, "no conflict %lld in the store", (long long)id);
    return rc;
}
