/*
 * INFO: what a client may learn before it logs in (and after): the
 * protocol versions, how long it has to send HELLO, and how long to wait
 * for HELLO's answer. A client asks before it prompts a person for the
 * password, so it knows whether to reconnect first.
 */
#include <uv.h>

#include "conn.h"
#include "dispatch.h"
#include "miscomm/error.h"
#include "wire.h"

/*
 * How long a client should wait for the answer to HELLO: the slowest
 * password check measured on a loaded 2-core machine (a queue of 8 checks
 * per worker thread at about 0.6 s each), the longest failed-login delay
 * (4 s) and the connection's timewait.
 */
#define INFO_HELLO_ANSWER_MS 30000u

int op_info(struct conn *c, const struct frame *f)
{
    if (f->length != 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "INFO carries no payload (got %u bytes)",
                        f->length);
    uint32_t left_ms = 0;
    if (c->state == CONN_ST_HELLO)
        left_ms = (uint32_t)uv_timer_get_due_in(&c->timer);
    uint8_t payload[128];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u16(&w, MC_PROTO_MIN);
    wire_put_u16(&w, MC_PROTO_VERSION);
    wire_put_cstr(&w, "miscommd");
    wire_put_cstr(&w, MC_VERSION);
    wire_put_u32(&w, c->srv->cfg.handshake_timeout);
    wire_put_u32(&w, left_ms);
    /* In a login storm the checks queued ahead add their time, at the pool's pace. */
    uint64_t queued = c->srv->auth_pending + c->srv->auth_waiting;
    uint64_t ahead_ms = queued * c->srv->auth_check_ms / c->srv->cfg.worker_threads;
    uint64_t answer_ms = INFO_HELLO_ANSWER_MS + c->lst->cfg->timewait * 1000u + ahead_ms;
    wire_put_u32(&w, answer_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)answer_ms);
    wire_put_u32(&w, MC_MAX_PRELOGIN_PAYLOAD);
    if (w.err)
        return op_error(c, f, MC_ERR_INTERNAL, "info: cannot encode the answer");
    return conn_send(c, MC_MSG_INFO_OK, f->request_id, payload, w.len);
}
