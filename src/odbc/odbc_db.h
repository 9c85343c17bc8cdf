/*
 * The database side of the ODBC capability: the ODBC environment, one pool
 * of database connections per (data source, user, password, mode), and
 * statements with typed parameters and typed, encoded results.
 *
 * Everything here blocks (the driver talks to the database) and runs on
 * the ODBC job pool's threads only, except odbc_pool_get/odbc_pool_put and
 * odbc_db_init/odbc_db_shutdown. A pool is shared by every handle opened
 * with the same credential; its connections are checked out for one
 * statement (or pinned for a transaction) and given back.
 *
 * Outages: a failed connect puts the pool in a backoff (1 s doubling up to
 * 30 s) during which checkouts fail at once with MC_ERR_DB_UNAVAILABLE and
 * the last error, so requests never pile up behind a dead database; the
 * next checkout after the backoff tries again. A connection the driver
 * reports dead (SQL_ATTR_CONNECTION_DEAD, or SQLSTATE 08xxx on a
 * statement) is dropped, never given back.
 */
#ifndef MC_ODBC_DB_H
#define MC_ODBC_DB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct cred;
struct odbc_pool;
struct odbc_link;
struct odbc_stmt;

#define ODBC_MESSAGE_MAX 768

/* A failure: an MC_ERR_* code and a message without secrets ("SQLSTATE 42S02: ..."). */
struct odbc_error {
    int code;
    char msg[ODBC_MESSAGE_MAX];
};

struct odbc_limits {
    unsigned pool_min;       /* idle connections kept open past idle_timeout */
    unsigned pool_max;       /* connections per pool */
    unsigned idle_timeout_s; /* an idle connection older than this is closed */
    unsigned wait_ms;        /* how long a checkout waits for a busy pool */
};

/* A value of docs/protocol.md 5.15, decoded from a request (parameters). */
struct odbc_value {
    uint8_t tag;      /* MC_VALUE_* */
    int64_t i;        /* INT */
    double f;         /* FLOAT */
    const uint8_t *p; /* DECIMAL, TEXT, BINARY: in the request's payload */
    size_t len;
    uint16_t year;
    uint8_t month, day, hour, minute, second;
    uint32_t nanos;
};

enum odbc_tag {
    MC_VALUE_NULL = 0,
    MC_VALUE_INT = 1,
    MC_VALUE_DECIMAL = 2,
    MC_VALUE_FLOAT = 3,
    MC_VALUE_TEXT = 4,
    MC_VALUE_BINARY = 5,
    MC_VALUE_DATE = 6,
    MC_VALUE_TIME = 7,
    MC_VALUE_TIMESTAMP = 8,
};

struct wire_reader;
struct wire_writer;

/*
 * Decode count typed values from rd (a request's parameters, or a row
 * fetched into a buffer: the same encoding); pointers into rd's bytes.
 * 0, or MC_ERR_BAD_PAYLOAD with the reason in *why.
 */
int odbc_values_decode(struct wire_reader *rd, size_t count, struct odbc_value *v,
                       const char **why);
/* Append v, encoded, to w. */
void odbc_value_encode(struct wire_writer *w, const struct odbc_value *v);
/* Same tag and same value (TEXT and BINARY byte for byte). */
int odbc_value_equal(const struct odbc_value *a, const struct odbc_value *b);

/*
 * The environment, once at start: ini_dir (may be "") becomes ODBCSYSINI
 * and ini_dir/odbc.ini ODBCINI, so the gateway reads its own data sources,
 * never the system's. 0 or MC_ERR_INTERNAL.
 */
int odbc_db_init(const char *ini_dir);
void odbc_db_shutdown(void);

/*
 * The pool for this credential and mode (made on first use). Any thread;
 * the pool is counted and freed by the last odbc_pool_put.
 */
struct odbc_pool *odbc_pool_get(const struct cred *c, int read_only, const struct odbc_limits *l);
void odbc_pool_put(struct odbc_pool *p);

/* Close idle connections past their idle timeout, in every pool, keeping pool_min (worker thread).
 */
void odbc_pools_reap(void);

/* Check out a connection (worker thread): 0, or the error in e. */
int odbc_link_take(struct odbc_pool *p, struct odbc_link **out, struct odbc_error *e);
/* Give it back (worker thread): an open transaction is rolled back; a broken link is closed. */
void odbc_link_give(struct odbc_link *l);
/* The database product's name ("SQLite", "PostgreSQL"). */
const char *odbc_link_dbms(const struct odbc_link *l);
/* A device's raw SQL ran on the link: its session is reset when it is given back. */
void odbc_link_dirty(struct odbc_link *l);
/* Transactions on a checked-out link: MC_TX_BEGIN/COMMIT/ROLLBACK (1-3). */
int odbc_link_tx(struct odbc_link *l, int op, struct odbc_error *e);

/*
 * A statement on a checked-out link: odbc_stmt_open makes it (so that
 * another thread may cancel it from then on), odbc_stmt_exec runs sql with
 * params (bound, never spliced) and a timeout in seconds; rows may follow.
 * With prepared (named statements, a finite set), the statement is prepared
 * once per database connection and kept for the next request (up to 16 per
 * connection, the least recently used replaced); otherwise it is executed
 * directly. The statement is closed with odbc_stmt_close before the link
 * is given back.
 */
int odbc_stmt_open(struct odbc_link *l, const char *sql, int prepared, struct odbc_stmt **out,
                   struct odbc_error *e);
int odbc_stmt_exec(struct odbc_stmt *s, const char *sql, const struct odbc_value *params,
                   size_t nparams, unsigned timeout_s, struct odbc_error *e);
/* The QUERY_COLUMNS payload for the result (appended to out). */
int odbc_stmt_columns(struct odbc_stmt *s, struct buf *out, struct odbc_error *e);
/*
 * Fetch rows and append them encoded to out until it holds at least chunk
 * bytes, max_rows rows were fetched in all, or the rows end (*done set).
 * *more is set when rows remain after max_rows.
 */
int odbc_stmt_fetch(struct odbc_stmt *s, struct buf *out, size_t chunk, uint64_t max_rows,
                    uint64_t *rows, int *done, int *more, struct odbc_error *e);
/* Columns of the result (0: the statement returns no rows). */
int odbc_stmt_ncols(const struct odbc_stmt *s);
/* Rows changed by an EXEC (UINT64_MAX when the driver cannot say). */
uint64_t odbc_stmt_affected(struct odbc_stmt *s);
/*
 * Ask a running statement to stop, from another thread: 1 when asked, 0
 * when the driver cannot take that (the SQLite driver): the statement
 * then runs to its end.
 */
int odbc_stmt_cancel(struct odbc_stmt *s);
void odbc_stmt_close(struct odbc_stmt *s);

#endif
