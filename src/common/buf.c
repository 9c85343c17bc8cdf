#include "buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/error.h"

void buf_init(struct buf *b, size_t limit)
{
    *b = (struct buf){.limit = limit};
}

void buf_free(struct buf *b)
{
    /* Queues carry passwords and query text: leave nothing behind in freed
     * memory (what was ever written; the rest of the block never held ours). */
    if (b->data)
        sodium_memzero(b->data, b->written);
    free(b->data);
    buf_init(b, b->limit);
}

/*
 * Make room for n more bytes after ->end: compact first, then grow (the old
 * block is wiped, not left to realloc). Never beyond ->limit.
 */
static int buf_make_room(struct buf *b, size_t n)
{
    size_t used = buf_len(b);
    if (n > b->limit - used)
        return MC_ERR_BUSY;
    if (b->alloc - b->end >= n)
        return 0;
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
        if (b->alloc - b->end >= n)
            return 0;
    }
    size_t want = b->alloc ? b->alloc : 4096;
    while (want < used + n)
        want *= 2;
    if (want > b->limit)
        want = b->limit;
    uint8_t *d = malloc(want);
    if (!d)
        return MC_ERR_NOMEM;
    if (used)
        memcpy(d, b->data, used);
    if (b->data)
        sodium_memzero(b->data, b->written);
    free(b->data);
    b->data = d;
    b->alloc = want;
    b->written = used;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_make_room(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->end, p, n);
    b->end += n;
    if (b->end > b->written)
        b->written = b->end;
    return 0;
}

uint8_t *buf_tail(struct buf *b, size_t want, size_t *avail)
{
    size_t room = b->limit - buf_len(b);
    if (want > room)
        want = room;
    *avail = 0;
    if (want == 0 || buf_make_room(b, want) < 0)
        return NULL;
    *avail = b->alloc - b->end;
    return b->data + b->end;
}

void buf_commit(struct buf *b, size_t n)
{
    b->end += n;
    if (b->end > b->written)
        b->written = b->end;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}
