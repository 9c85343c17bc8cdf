/*
 * The dispatcher: the request table (optable.h) maps each request type to
 * its handler, the permission it needs, the states and protocol versions
 * it is allowed in. Every request gets exactly one final response, which
 * the handler (or the op it starts) sends; it returns
 *   0               it sent its response,
 *   DISPATCH_ASYNC  a job or an op (op.h) will answer and log later,
 *   < 0             the MC_ERR_* it answered with (op_error()), or a
 *                   transport failure after which nothing can be sent;
 * the dispatcher logs the result.
 */
#ifndef MC_DISPATCH_H
#define MC_DISPATCH_H

#include "auth.h"
#include "conn.h"
#include "frame.h"
#include "op.h"
#include "optable.h"

enum { OP_IN_HELLO = 1 << CONN_ST_HELLO, OP_IN_READY = 1 << CONN_ST_READY };
enum op_log { OP_LOG_INFO, OP_LOG_DEBUG, OP_LOG_NONE, OP_LOG_SELF };

void dispatch_frame(struct conn *c, const struct frame *f);
/* Log one finished request: op, id, result, bytes, time. */
void dispatch_log_request(struct conn *c, const char *op, uint32_t id, int result, size_t bytes,
                          uint64_t start_ns);

/* The handlers the table names (one file each, or dispatch.c for the trivial ones). */
#define DISPATCH_PROTO_(msg, name, perm, states, proto, log, handler)                              \
    int handler(struct conn *c, const struct frame *f);
OP_TABLE(DISPATCH_PROTO_)
#undef DISPATCH_PROTO_

#endif
