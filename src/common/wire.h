/*
 * Payload encoding helpers: big-endian integers and strings prefixed by a
 * 16-bit length. A reader never reads past its end: the first short read
 * sets ->err and every later call returns zeros, so a handler checks once
 * at the end. A writer works over a caller-owned array and sets ->err
 * instead of overflowing it.
 */
#ifndef MC_WIRE_H
#define MC_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wire_reader {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err;
};

struct wire_str {
    const char *ptr; /* not NUL-terminated */
    size_t len;
};

struct wire_writer {
    uint8_t *p;
    size_t cap;
    size_t len;
    int err;
};

void wire_reader_init(struct wire_reader *r, const uint8_t *p, size_t len);
uint16_t wire_get_u16(struct wire_reader *r);
uint32_t wire_get_u32(struct wire_reader *r);
uint64_t wire_get_u64(struct wire_reader *r);
/* A string of at most max bytes; longer ones or embedded NULs set ->err. */
struct wire_str wire_get_str(struct wire_reader *r, size_t max);
const uint8_t *wire_get_bytes(struct wire_reader *r, size_t n);
/* 0 if everything was read without error and nothing is left over. */
int wire_reader_done(const struct wire_reader *r);

void wire_writer_init(struct wire_writer *w, uint8_t *p, size_t cap);
void wire_put_u16(struct wire_writer *w, uint16_t v);
void wire_put_u32(struct wire_writer *w, uint32_t v);
void wire_put_u64(struct wire_writer *w, uint64_t v);
void wire_put_bytes(struct wire_writer *w, const void *p, size_t n);
/* Strings longer than 65535 bytes set ->err. */
void wire_put_str(struct wire_writer *w, const char *s, size_t n);
void wire_put_cstr(struct wire_writer *w, const char *s);

/* Copy a wire string into a NUL-terminated buffer of size cap (truncating). */
void wire_str_copy(char *dst, size_t cap, struct wire_str s);

#endif
