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
    return check_report("test_buf");
}
