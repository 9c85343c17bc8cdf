#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>

#include "miscomm/error.h"

enum { IN_HELLO = 1 << CONN_ST_HELLO, IN_READY = 1 << CONN_ST_READY };

struct op_entry {
    uint8_t type;
    const char *name;
    uint32_t perm; /* 0: no permission needed */
    unsigned states;
    int (*handler)(struct conn *c, const struct frame *f);
};

int op_error(struct conn *c, const struct frame *f, int code, const char *fmt, ...)
{
    char msg[MC_MAX_ERROR_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)conn_send_error(c, f->request_id, code, "%s", msg);
    return code;
}

static int op_noop(struct conn *c, const struct frame *f)
{
    return conn_send(c, MC_MSG_NOOP, f->request_id, NULL, 0);
}

static int op_bye(struct conn *c, const struct frame *f)
{
    /* dispatch_frame() closes the connection once the request is logged. */
    return conn_send(c, MC_MSG_BYE, f->request_id, NULL, 0);
}

static const struct op_entry op_table[] = {
    {MC_MSG_HELLO, "hello", 0, IN_HELLO, auth_hello},
    {MC_MSG_PING, "ping", MC_PERM_PING, IN_READY, op_ping},
    {MC_MSG_NOOP, "noop", 0, IN_HELLO | IN_READY, op_noop},
    {MC_MSG_BYE, "bye", 0, IN_HELLO | IN_READY, op_bye},
};

const char *dispatch_perm_name(uint32_t perm)
{
    switch (perm) {
    case MC_PERM_PING:
        return "ping";
    case MC_PERM_SYNC:
        return "sync";
    case MC_PERM_SEND_FILES:
        return "send_files";
    case MC_PERM_RECEIVE_FILES:
        return "receive_files";
    case MC_PERM_ODBC:
        return "odbc";
    default:
        return "unknown";
    }
}

void dispatch_log_request(struct conn *c, const char *op, uint32_t id, int result, size_t bytes,
                          uint64_t start_ns)
{
    conn_log(result == 0 ? LOG_LVL_INFO : LOG_LVL_WARN, c,
             "event=request op=%s id=%u result=%s bytes=%zu ms=%.3f", op, id, mc_err_name(result),
             bytes, conn_elapsed_ms(start_ns));
}

void dispatch_frame(struct conn *c, const struct frame *f)
{
    uint64_t start = uv_hrtime();
    const struct op_entry *op = NULL;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (op_table[i].type == f->type)
            op = &op_table[i];

    int rc;
    if (!op) {
        rc = MC_ERR_BAD_TYPE;
        (void)conn_send_error(c, f->request_id, rc, "unknown message type 0x%02x", f->type);
        dispatch_log_request(c, frame_type_name(f->type), f->request_id, rc, f->length, start);
        return;
    }
    if (!(op->states & (1u << c->state))) {
        rc = MC_ERR_UNEXPECTED;
        if (c->state == CONN_ST_HELLO)
            (void)conn_send_error(c, f->request_id, rc, "%s is not allowed before HELLO",
                                  frame_type_name(f->type));
        else
            (void)conn_send_error(c, f->request_id, rc, "%s is not allowed: already logged in",
                                  frame_type_name(f->type));
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
        return;
    }
    if (op->perm && !(c->perms & op->perm)) {
        const char *perm = dispatch_perm_name(op->perm);
        conn_log(LOG_LVL_WARN, c, "event=denied op=%s id=%u permission=%s connection=%s", op->name,
                 f->request_id, perm, c->lst->cfg->name);
        (void)conn_send_error(c, f->request_id, MC_ERR_PERMISSION,
                              "permission '%s' is not granted on connection '%s'", perm,
                              c->lst->cfg->name);
        c->requests++;
        return;
    }
    rc = op->handler(c, f);
    if (rc == DISPATCH_ASYNC)
        return;
    c->requests++;

    if (f->type != MC_MSG_NOOP || rc < 0)
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
    if (f->type == MC_MSG_BYE)
        conn_close(c, "client said BYE");
}
