/* The plain transport: bytes pass through unchanged (encryption = none). */
#include "transport.h"

#include "conn.h"
#include "miscomm/error.h"

static int plain_start(struct conn *c)
{
    conn_transport_ready(c);
    return 0;
}

static int plain_feed(struct conn *c, const uint8_t *data, size_t len)
{
    return len ? buf_append(&c->in, data, len) : 0;
}

static int plain_send(struct conn *c, const uint8_t *data, size_t len)
{
    return conn_write_raw(c, data, len);
}

static int plain_pending(const struct conn *c)
{
    (void)c;
    return 0;
}

static void plain_shutdown(struct conn *c)
{
    (void)c;
}

static void plain_release(struct conn *c)
{
    (void)c;
}

const struct transport_ops transport_plain = {
    .name = "plain",
    .start = plain_start,
    .feed = plain_feed,
    .send = plain_send,
    .pending = plain_pending,
    .shutdown = plain_shutdown,
    .release = plain_release,
};
