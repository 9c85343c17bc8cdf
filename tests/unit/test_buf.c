/* The capped byte queue. */
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "miscomm/error.h"

int main(void)
{
    struct buf b;
    buf_init(&b, 10000);
    uint8_t chunk[3000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;
    CHECK_EQ_INT(buf_append(&b, chunk, sizeof chunk), 0);
    CHECK_EQ_INT(buf_append(&b, chunk, sizeof chunk), 0);
    CHECK_EQ_INT(buf_append(&b, chunk, sizeof chunk), 0);
    CHECK_EQ_INT(buf_len(&b), 9000);
    /* Past the cap: refused, nothing changes. */
    CHECK_EQ_INT(buf_append(&b, chunk, sizeof chunk), MC_ERR_BUSY);
    CHECK_EQ_INT(buf_len(&b), 9000);
    CHECK(b.alloc <= 10000);
    buf_consume(&b, 2999);
    CHECK_EQ_INT(buf_head(&b)[0], (uint8_t)2999);
    /* Room again after consuming; contents stay in order across the compaction. */
    CHECK_EQ_INT(buf_append(&b, chunk, sizeof chunk), 0);
    CHECK_EQ_INT(buf_len(&b), 9001);
    CHECK_EQ_INT(buf_head(&b)[1], 0);
    CHECK_EQ_INT(buf_head(&b)[9000], (uint8_t)2999);
    CHECK(b.alloc <= 10000);
    buf_consume(&b, buf_len(&b));
    CHECK_EQ_INT(buf_len(&b), 0);
    buf_free(&b);
    CHECK(b.data == NULL && b.limit == 10000);

    /* The wipe covers what was ever written, through growth, compaction and
     * buf_tail/buf_commit, and no more: a small request in a large block. */
    buf_init(&b, 1u << 20);
    CHECK_EQ_INT(buf_append(&b, chunk, 100), 0);
    CHECK_EQ_INT(b.written, 100);
    buf_consume(&b, 100);
    CHECK_EQ_INT(buf_append(&b, chunk, 40), 0); /* reuses the block from its start */
    CHECK_EQ_INT(b.written, 100);
    size_t avail = 0;
    uint8_t *t = buf_tail(&b, 65536, &avail);
    CHECK(t != NULL && avail >= 65536 && b.alloc >= 65536 + 40);
    CHECK_EQ_INT(b.written, 40); /* the new block holds the 40 queued bytes only */
    t[0] = 1;
    buf_commit(&b, 1);
    CHECK_EQ_INT(b.written, 41);
    buf_free(&b);
    CHECK(b.data == NULL && b.written == 0);
    return check_report("test_buf");
}
