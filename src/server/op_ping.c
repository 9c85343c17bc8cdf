/* PING: answer PONG with the server's time and the client's echo bytes. */
#include <sys/time.h>

#include "conn.h"
#include "dispatch.h"
#include "miscomm/error.h"
#include "wire.h"

int op_ping(struct conn *c, const struct frame *f)
{
    if (f->length > MC_MAX_PING_DATA) {
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "PING carries at most %u bytes of data (got %u)",
                        MC_MAX_PING_DATA, f->length);
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint8_t payload[8 + MC_MAX_PING_DATA];
    struct wire_writer w;
    wire_writer_init(&w, payload, sizeof payload);
    wire_put_u64(&w, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec);
    wire_put_bytes(&w, f->payload, f->length);
    return conn_send(c, MC_MSG_PONG, f->request_id, payload, w.len);
}
