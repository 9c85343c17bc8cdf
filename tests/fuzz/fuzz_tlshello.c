/*
 * libFuzzer target for the ClientHello look-ahead (src/server/tlshello.c):
 * whatever the bytes, it reads only inside them, answers "need more" only
 * for an incomplete first record, and never says a hello names one of our
 * FFDHE groups without naming an FFDHE group.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that ASan sees any read past the end. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct tlshello h;
    size_t n = tlshello_parse(buf, size, &h);
    CHECK(n <= size);
    if (n == 0)
        CHECK(size < 5 || (buf[0] == 22 && ((size_t)buf[3] << 8 | buf[4]) <= 16384 &&
                           size < 5 + ((size_t)buf[3] << 8 | buf[4])));
    CHECK(!h.our_ffdhe || h.ffdhe);
    free(buf);
    return 0;
}
