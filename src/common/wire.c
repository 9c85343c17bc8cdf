#include "wire.h"

#include <string.h>

#include "miscomm/error.h"

void wire_reader_init(struct wire_reader *r, const uint8_t *p, size_t len)
{
    *r = (struct wire_reader){.p = p, .len = len};
}

static const uint8_t *reader_take(struct wire_reader *r, size_t n)
{
    if (r->err || r->len - r->off < n) {
        r->err = MC_ERR_BAD_PAYLOAD;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint16_t wire_get_u16(struct wire_reader *r)
{
    const uint8_t *p = reader_take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t wire_get_u32(struct wire_reader *r)
{
    const uint8_t *p = reader_take(r, 4);
    if (!p)
        return 0;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t wire_get_u64(struct wire_reader *r)
{
    uint64_t hi = wire_get_u32(r);
    return (hi << 32) | wire_get_u32(r);
}

const uint8_t *wire_get_bytes(struct wire_reader *r, size_t n)
{
    return reader_take(r, n);
}

struct wire_str wire_get_str(struct wire_reader *r, size_t max)
{
    struct wire_str s = {"", 0};
    size_t n = wire_get_u16(r);
    if (r->err)
        return s;
    if (n > max) {
        r->err = MC_ERR_BAD_PAYLOAD;
        return s;
    }
    const uint8_t *p = reader_take(r, n);
    if (!p)
        return s;
    if (memchr(p, 0, n)) {
        r->err = MC_ERR_BAD_PAYLOAD;
        return s;
    }
    s.ptr = (const char *)p;
    s.len = n;
    return s;
}

int wire_reader_done(const struct wire_reader *r)
{
    if (r->err)
        return r->err;
    return r->off == r->len ? 0 : MC_ERR_BAD_PAYLOAD;
}

void wire_writer_init(struct wire_writer *w, uint8_t *p, size_t cap)
{
    *w = (struct wire_writer){.p = p, .cap = cap};
}

void wire_put_bytes(struct wire_writer *w, const void *p, size_t n)
{
    if (w->err || w->cap - w->len < n) {
        w->err = MC_ERR_INTERNAL;
        return;
    }
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
}

void wire_put_u16(struct wire_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    wire_put_bytes(w, b, sizeof b);
}

void wire_put_u32(struct wire_writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wire_put_bytes(w, b, sizeof b);
}

void wire_put_u64(struct wire_writer *w, uint64_t v)
{
    wire_put_u32(w, (uint32_t)(v >> 32));
    wire_put_u32(w, (uint32_t)v);
}

void wire_put_str(struct wire_writer *w, const char *s, size_t n)
{
    if (n > 0xFFFFu) {
        w->err = MC_ERR_INTERNAL;
        return;
    }
    wire_put_u16(w, (uint16_t)n);
    wire_put_bytes(w, s, n);
}

void wire_put_cstr(struct wire_writer *w, const char *s)
{
    wire_put_str(w, s, strlen(s));
}

void wire_str_copy(char *dst, size_t cap, struct wire_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = 0;
}
