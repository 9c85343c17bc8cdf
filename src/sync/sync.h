/*
 * The intervention sync capability (docs/protocol.md 5.16): SYNC_PULL,
 * SYNC_PUSH, CHANGES_AVAILABLE notices and device bindings, on the core's
 * op interface, the ODBC pool's header and the file staging area's.
 *
 *   sync_ops.c    mappings, the device cache, the change poller, notices
 *   sync_pull.c   SYNC_PULL: the changes feed, a stream
 *   sync_push.c   SYNC_PUSH: operations, each in its own transaction
 *   sync_photo.c  a staged photo into the photo store
 *   sync_merge.c  the field-level merge (pure)
 *   sync_db.c     a mapping's statements on a database connection
 *   sync_map.c    the mapping files
 */
#ifndef MC_SYNC_H
#define MC_SYNC_H

#include "config.h"
#include "op.h"

/* Start when a connection has the permission: mappings, the job pool, the poller. 0 or MC_ERR_*. */
int sync_start(uv_loop_t *loop, const struct mc_config *cfg);
/* After a reload: mappings read again (off the loop), new ones started. */
void sync_reconfigure(const struct mc_config *cfg);
/* Stop taking work (end of a drain). */
void sync_stop(void);
/* After the loop has ended. */
void sync_free(void);

/* At HELLO, the password checked: MC_ERR_REVOKED for a device revoked on this connection, else 0.
 */
int sync_hello_check(const struct cfg_connection *cfg, const char *device);
/* A logged-in connection with the permission gets notices; the closing one no more. */
void sync_conn_attach(struct conn *c);
void sync_conn_detach(struct conn *c);

int sync_pull(struct conn *c, const struct frame *f);
int sync_push(struct conn *c, const struct frame *f);

#endif
