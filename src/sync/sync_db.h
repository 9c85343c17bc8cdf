/*
 * Running a mapping's statements on a database connection (worker threads
 * only: everything here blocks). Parameters are bound by the names the
 * mapping gives them; rows come back encoded as typed values.
 */
#ifndef MC_SYNC_DB_H
#define MC_SYNC_DB_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "odbc_db.h"
#include "sync_map.h"

struct cred_master;

/* A named value for a statement's parameters. */
struct sync_bind {
    const char *name;
    struct odbc_value v;
};

static inline struct odbc_value sync_int(int64_t i)
{
    return (struct odbc_value){.tag = MC_VALUE_INT, .i = i};
}

static inline struct odbc_value sync_text(const char *s, size_t n)
{
    return (struct odbc_value){.tag = MC_VALUE_TEXT, .p = (const uint8_t *)s, .len = n};
}

/*
 * The pool for a credential file sealed with the gateway's master key
 * (read-write). 0, or MC_ERR_* with the reason in e.
 */
int sync_db_pool(const char *cred_path, const struct cred_master *master,
                 const struct odbc_limits *limits, struct odbc_pool **out, struct odbc_error *e);

/*
 * The values of statement s's parameters from b (and fields, for the
 * mapping's "fields"), in marker order, into v (SYNC_PARAMS_MAX). The
 * count, or MC_ERR_CONFIG (a name b does not have) with e set.
 */
int sync_db_bind(const struct sync_stmt *s, const struct sync_bind *b, size_t nb,
                 const struct odbc_value *fields, struct odbc_value *v, struct odbc_error *e);

/*
 * Run statement name with b: its rows (all of them, at most 16 MiB) go to
 * rows when not NULL, counted in *nrows; *affected gets the rows changed.
 * 0 or MC_ERR_* with e set.
 */
int sync_db_run(struct odbc_link *l, const struct sync_map *m, const char *name,
                const struct sync_bind *b, size_t nb, const struct odbc_value *fields,
                struct buf *rows, uint64_t *nrows, uint64_t *affected, struct odbc_error *e);

/* Decode the next row of ncols values from rows (consumed); 0, or MC_ERR_BAD_PAYLOAD at the end. */
int sync_db_row(struct buf *rows, size_t *off, unsigned ncols, struct odbc_value *v);

/* One INT (or NULL: *isnull) of the first row: e.g. the horizon, a count. 0, MC_ERR_NOT_FOUND (no
 * row). */
int sync_db_scalar(struct odbc_link *l, const struct sync_map *m, const char *name,
                   const struct sync_bind *b, size_t nb, int64_t *out, struct odbc_error *e);

/* The device's binding: technician, revoked; MC_ERR_NOT_BOUND when it has none on connection. */
int sync_db_device(struct odbc_link *l, const struct sync_map *m, const char *device,
                   const char *connection, int64_t *technician, int *revoked, struct odbc_error *e);

#endif
