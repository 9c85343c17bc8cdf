#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>

#include "miscomm/error.h"
#include "op.h"

struct op_entry {
    uint8_t type;
    const char *name;
    uint32_t perm; /* 0: no permission needed */
    unsigned states;
    unsigned proto; /* first protocol version with this request */
    enum op_log log;
    int (*handler)(struct conn *c, const struct frame *f);
};

static const struct op_entry op_table[] = {
#define DISPATCH_ROW_(msg, name, perm, states, proto, log, handler)                                \
    {MC_MSG_##msg, name, perm, states, proto, log, handler},
    OP_TABLE(DISPATCH_ROW_)
#undef DISPATCH_ROW_
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

int op_noop(struct conn *c, const struct frame *f)
{
    return conn_send(c, MC_MSG_NOOP, f->request_id, NULL, 0);
}

int op_bye(struct conn *c, const struct frame *f)
{
    /* conn_process() closes the connection once the request is logged. */
    int rc = conn_send(c, MC_MSG_BYE, f->request_id, NULL, 0);
    if (rc == 0)
        c->bye_answered = 1;
    return rc;
}

int op_stream_frame(struct conn *c, const struct frame *f)
{
    op_route_frame(c, f);
    return 0;
}

void dispatch_log_request(struct conn *c, const char *op, uint32_t id, int result, size_t bytes,
                          uint64_t start_ns)
{
    conn_log(result == 0 ? LOG_LVL_INFO : LOG_LVL_WARN, c,
             "event=request op=%s id=%u result=%s bytes=%zu ms=%s", op, id, mc_err_name(result),
             bytes, conn_elapsed_ms(start_ns).text);
}

static const struct op_entry *dispatch_find(uint8_t type)
{
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (op_table[i].type == type)
            return &op_table[i];
    return NULL;
}

void dispatch_frame(struct conn *c, const struct frame *f)
{
    uint64_t start = uv_hrtime();
    const struct op_entry *op = dispatch_find(f->type);
    int rc;
    if (!op) {
        rc = MC_ERR_BAD_TYPE;
        (void)conn_send_error(c, f->request_id, rc, "unknown message type 0x%02x", f->type);
        dispatch_log_request(c, frame_type_name(f->type), f->request_id, rc, f->length, start);
        return;
    }
    int control = op->handler == op_stream_frame;
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
    if (c->state == CONN_ST_READY && c->proto < op->proto) {
        rc = MC_ERR_UNEXPECTED;
        (void)conn_send_error(c, f->request_id, rc,
                              "%s needs protocol version %u; this session speaks version %u",
                              frame_type_name(f->type), op->proto, c->proto);
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
        return;
    }
    if (control) {
        /* Stream frames belong to a request already counted and logged. */
        op->handler(c, f);
        return;
    }
    c->requests++;
    if (op->perm && !(c->perms & op->perm)) {
        const char *perm = frame_perm_name(op->perm);
        conn_log(LOG_LVL_WARN, c, "event=denied op=%s id=%u permission=%s connection=%s", op->name,
                 f->request_id, perm, c->lst->cfg->name);
        (void)conn_send_error(c, f->request_id, MC_ERR_PERMISSION,
                              "permission '%s' is not granted on connection '%s'", perm,
                              c->lst->cfg->name);
        return;
    }
    if (c->srv->draining && f->type != MC_MSG_BYE && f->type != MC_MSG_NOOP) {
        /* Only a connection finishing its streams still reads during a drain. */
        rc = op_error(c, f, MC_ERR_SHUTTING_DOWN,
                      "server is shutting down: no new requests; streams in progress finish");
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
        return;
    }
    if (op_find(c, f->request_id)) {
        rc = op_error(c, f, MC_ERR_ID_IN_USE,
                      "request id %u belongs to a stream in progress; use a new id", f->request_id);
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
        return;
    }
    if (op->proto >= 2 && c->nops >= MC_MAX_STREAMS) {
        /* Every version-2 request may become a stream (an op): at most 16. */
        rc = op_error(c, f, MC_ERR_BUSY, "%u streams are already open on this connection",
                      MC_MAX_STREAMS);
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
        return;
    }
    rc = op->handler(c, f);
    if (rc == DISPATCH_ASYNC)
        return; /* the op or job logs its request when it answers */
    if (rc < 0 || op->log == OP_LOG_INFO)
        dispatch_log_request(c, op->name, f->request_id, rc, f->length, start);
    else if (op->log == OP_LOG_DEBUG)
        conn_log(LOG_LVL_DEBUG, c, "event=request op=%s id=%u result=OK bytes=%u ms=%s", op->name,
                 f->request_id, f->length, conn_elapsed_ms(start).text);
    /* Keepalive-class requests (PING, INFO, NOOP) get no line each at info:
     * their count is in the connection's disconnect line. */
    if (rc == 0 && (op->log == OP_LOG_DEBUG || op->log == OP_LOG_NONE))
        c->keepalives++;
}
