/*
 * The dispatcher: one table maps each request type to its handler, the
 * permission it needs and the states it is allowed in. Every request gets
 * exactly one final response, and the handler sends it; it returns
 *   0               it sent its response,
 *   DISPATCH_ASYNC  it went to the worker pool and will answer later
 *                   (it set c->busy and calls conn_request_done()),
 *   < 0             the MC_ERR_* it answered with (op_error()), or a
 *                   transport failure after which nothing can be sent;
 * the dispatcher logs the result.
 */
#ifndef MC_DISPATCH_H
#define MC_DISPATCH_H

#include "conn.h"
#include "frame.h"

#define DISPATCH_ASYNC 1

void dispatch_frame(struct conn *c, const struct frame *f);
/* Log one finished request: op, id, result, bytes, time. */
void dispatch_log_request(struct conn *c, const char *op, uint32_t id, int result, size_t bytes,
                          uint64_t start_ns);
/* The permission's ini key name for a MC_PERM_* bit. */
const char *dispatch_perm_name(uint32_t perm);

/* Answer request f with an ERROR frame; returns code, for the handler to return. */
int op_error(struct conn *c, const struct frame *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Operation handlers (one file each). */
int auth_hello(struct conn *c, const struct frame *f);
int op_ping(struct conn *c, const struct frame *f);

#endif
