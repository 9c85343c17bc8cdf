/*
 * A byte queue with a hard cap fixed at creation.
 *
 *   data                start            end         written       alloc
 *   |   consumed bytes   |  queued bytes   |  old bytes  | never used |
 *
 * buf_append() compacts or grows the allocation as needed but never lets
 * the queued bytes exceed ->limit; it returns MC_ERR_BUSY instead.
 * ->written marks how far the block was ever written since it was
 * allocated: freeing (or outgrowing) it wipes that much, not the whole
 * block, which a small request in a 64 KiB queue would otherwise pay for.
 */
#ifndef MC_BUF_H
#define MC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t start;
    size_t end;
    size_t alloc;
    size_t limit;
    size_t written; /* bytes of data[] ever written: what a wipe must cover */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
__attribute__((warn_unused_result)) int buf_append(struct buf *b, const void *p, size_t n);
/*
 * Writable space for up to want more bytes (less near the limit): fill it,
 * then buf_commit() what was written (never write past what is committed:
 * only committed bytes are wiped). NULL when the queue is full.
 */
uint8_t *buf_tail(struct buf *b, size_t want, size_t *avail);
void buf_commit(struct buf *b, size_t n);
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_len(const struct buf *b)
{
    return b->end - b->start;
}
static inline const uint8_t *buf_head(const struct buf *b)
{
    /* An empty, never-allocated queue has no data pointer to offset. */
    static const uint8_t empty[1];
    return b->data ? b->data + b->start : empty;
}

#endif
