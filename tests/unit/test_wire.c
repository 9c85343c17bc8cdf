/* Payload reader and writer: bounds, strings, NUL bytes, leftovers. */
#include "check.h"
#include "miscomm/error.h"
#include "wire.h"

int main(void)
{
    uint8_t buf[64];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_u16(&w, 0x0102);
    wire_put_u32(&w, 0x03040506);
    wire_put_u64(&w, 0x0708090A0B0C0D0Eull);
    wire_put_cstr(&w, "hey");
    CHECK_EQ_INT(w.err, 0);
    CHECK_EQ_INT(w.len, 2 + 4 + 8 + 2 + 3);
    CHECK(buf[0] == 1 && buf[1] == 2 && buf[2] == 3 && buf[13] == 0x0E);

    struct wire_reader r;
    wire_reader_init(&r, buf, w.len);
    CHECK_EQ_INT(wire_get_u16(&r), 0x0102);
    CHECK_EQ_INT(wire_get_u32(&r), 0x03040506);
    CHECK(wire_get_u64(&r) == 0x0708090A0B0C0D0Eull);
    struct wire_str s = wire_get_str(&r, 10);
    CHECK(s.len == 3 && memcmp(s.ptr, "hey", 3) == 0);
    CHECK_EQ_INT(wire_reader_done(&r), 0);

    /* A string longer than its maximum. */
    wire_reader_init(&r, buf + 14, 5);
    wire_get_str(&r, 2);
    CHECK_EQ_INT(wire_reader_done(&r), MC_ERR_BAD_PAYLOAD);
    /* A length pointing past the end. */
    static const uint8_t past[] = {0, 9, 'a', 'b'};
    wire_reader_init(&r, past, sizeof past);
    wire_get_str(&r, 100);
    CHECK_EQ_INT(r.err, MC_ERR_BAD_PAYLOAD);
    /* Once failed, later reads give zeros and the error stays. */
    CHECK_EQ_INT(wire_get_u32(&r), 0);
    CHECK_EQ_INT(wire_reader_done(&r), MC_ERR_BAD_PAYLOAD);
    /* Embedded NUL. */
    static const uint8_t nul[] = {0, 3, 'a', 0, 'b'};
    wire_reader_init(&r, nul, sizeof nul);
    wire_get_str(&r, 100);
    CHECK_EQ_INT(wire_reader_done(&r), MC_ERR_BAD_PAYLOAD);
    /* Leftover bytes are an error. */
    wire_reader_init(&r, buf, 3);
    wire_get_u16(&r);
    CHECK_EQ_INT(wire_reader_done(&r), MC_ERR_BAD_PAYLOAD);
    /* Truncated integer. */
    wire_reader_init(&r, buf, 3);
    wire_get_u32(&r);
    CHECK_EQ_INT(r.err, MC_ERR_BAD_PAYLOAD);

    /* The writer refuses to overflow. */
    uint8_t small[5];
    wire_writer_init(&w, small, sizeof small);
    wire_put_u32(&w, 1);
    CHECK_EQ_INT(w.err, 0);
    wire_put_u16(&w, 1);
    CHECK(w.err != 0);
    CHECK_EQ_INT(w.len, 4);

    char out[4];
    struct wire_str long_str = {"abcdef", 6};
    wire_str_copy(out, sizeof out, long_str);
    CHECK(strcmp(out, "abc") == 0);
    return check_report("test_wire");
}
