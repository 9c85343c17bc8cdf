/*
 * The ODBC capability: database handles, queries and statements for the
 * devices (docs/protocol.md 5.15), on the core's op interface.
 *
 *   odbc_ops.c   the requests, handles and their order (loop thread)
 *   odbc_db.c    the ODBC environment, pools, statements (ODBC job pool)
 *   odbc_sql.c   the one-statement check (pure)
 *   cred*.c      credential files
 *
 * The blocking work runs on a job pool of its own ([odbc] threads), never
 * on libuv's, so slow queries cannot delay file transfers or logins.
 */
#ifndef MC_ODBC_H
#define MC_ODBC_H

#include "config.h"
#include "op.h"

/*
 * Start, when a connection has the permission: the ODBC environment, the
 * master key of data_dir (made if missing), the job pool. 0 or MC_ERR_*.
 */
int odbc_start(uv_loop_t *loop, const struct mc_config *cfg);
/* After a reload: the pool limits; the start, if a connection got the permission. */
void odbc_reconfigure(const struct mc_config *cfg);
/* Stop taking work (loop thread, at the end of a drain): queued statements are cancelled. */
void odbc_stop(void);
/* After the loop has ended: close every database connection. */
void odbc_free(void);
/* The connection is closing: its handles go, open transactions are rolled back. */
void odbc_conn_closed(struct conn *c);

int odbc_open(struct conn *c, const struct frame *f);
int odbc_query(struct conn *c, const struct frame *f);
int odbc_exec(struct conn *c, const struct frame *f);
int odbc_tx(struct conn *c, const struct frame *f);
int odbc_close(struct conn *c, const struct frame *f);

#endif
