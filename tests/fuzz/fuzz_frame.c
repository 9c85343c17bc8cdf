/*
 * libFuzzer target for the frame decoder and the payload reader: whatever
 * the bytes, frame_parse() must return need-more, an error, or a length
 * within the buffer, and the HELLO/ERROR payload readers must stay inside it.
 */
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "miscomm/proto.h"
#include "wire.h"

/* Not CHECK(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct frame f;
        long n = frame_parse(data + off, size - off, MC_MAX_PAYLOAD, &f);
        if (n <= 0)
            break;
        CHECK((size_t)n <= size - off);
        CHECK(f.length + MC_FRAME_HEADER_SIZE == (size_t)n);
        struct wire_reader r;
        wire_reader_init(&r, f.payload, f.length);
        (void)wire_get_u16(&r);
        (void)wire_get_u16(&r);
        for (int i = 0; i < 4; i++) {
            struct wire_str s = wire_get_str(&r, MC_MAX_PASSWORD);
            CHECK(s.len <= MC_MAX_PASSWORD);
            CHECK(r.err || (const uint8_t *)s.ptr + s.len <= f.payload + f.length);
        }
        (void)wire_reader_done(&r);
        off += (size_t)n;
    }
    return 0;
}
