#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "miscomm/error.h"

void buf_init(struct buf *b, size_t limit)
{
    *b = (struct buf){.limit = limit};
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b, b->limit);
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    size_t used = buf_len(b);
    if (n > b->limit - used)
        return MC_ERR_BUSY;
    if (b->alloc - b->end < n) {
        if (b->start > 0) {
            memmove(b->data, b->data + b->start, used);
            b->start = 0;
            b->end = used;
        }
        if (b->alloc - b->end < n) {
            size_t want = b->alloc ? b->alloc : 4096;
            while (want < used + n)
                want *= 2;
            if (want > b->limit)
                want = b->limit;
            uint8_t *d = realloc(b->data, want);
            if (!d)
                return MC_ERR_NOMEM;
            b->data = d;
            b->alloc = want;
        }
    }
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}
