/* Frame codec: round trip, need-more, and every malformed header. */
#include "check.h"
#include "frame.h"
#include "miscomm/error.h"

static void test_round_trip(void)
{
    uint8_t buf[MC_FRAME_HEADER_SIZE + 3];
    frame_put_header(buf, MC_MSG_PING, 0, 0xA1B2C3D4u, 3);
    memcpy(buf + MC_FRAME_HEADER_SIZE, "abc", 3);
    static const uint8_t expect[12] = {1, 3, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4, 0, 0, 0, 3};
    CHECK(memcmp(buf, expect, 12) == 0);
    struct frame f;
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), 15);
    CHECK_EQ_INT(f.version, 1);
    CHECK_EQ_INT(f.type, MC_MSG_PING);
    CHECK_EQ_INT(f.flags, 0);
    CHECK_EQ_INT(f.request_id, 0xA1B2C3D4u);
    CHECK_EQ_INT(f.length, 3);
    CHECK(f.payload == buf + 12 && memcmp(f.payload, "abc", 3) == 0);
}

static void test_need_more(void)
{
    uint8_t buf[MC_FRAME_HEADER_SIZE + 5];
    frame_put_header(buf, MC_MSG_HELLO, 0, 1, 5);
    memset(buf + 12, 'x', 5);
    struct frame f;
    /* Every truncation, header or payload, asks for more. */
    for (size_t len = 0; len < sizeof buf; len++)
        CHECK_EQ_INT(frame_parse(buf, len, MC_MAX_PAYLOAD, &f), 0);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), 17);
    /* Extra bytes after a frame are left for the next call. */
    uint8_t two[34];
    frame_put_header(two, MC_MSG_NOOP, 0, 7, 0);
    frame_put_header(two + 12, MC_MSG_PING, 0, 8, 10);
    CHECK_EQ_INT(frame_parse(two, sizeof two - 12, MC_MAX_PAYLOAD, &f), 12);
    CHECK_EQ_INT(f.request_id, 7);
}

static void test_malformed(void)
{
    uint8_t buf[MC_FRAME_HEADER_SIZE];
    struct frame f;
    /* Bad version: 0, 2 and 255. */
    static const uint8_t versions[] = {0, 2, 255};
    for (size_t i = 0; i < sizeof versions; i++) {
        frame_put_header(buf, MC_MSG_PING, 0, 1, 0);
        buf[0] = versions[i];
        CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_BAD_VERSION);
    }
    /* Oversize length: reported from the header alone, before any payload. */
    frame_put_header(buf, MC_MSG_PING, 0, 1, MC_MAX_PAYLOAD + 1);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_FRAME_TOO_LARGE);
    frame_put_header(buf, MC_MSG_PING, 0, 1, 0xFFFFFFFFu);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_FRAME_TOO_LARGE);
    /* Exactly the maximum is fine (needs more bytes). */
    frame_put_header(buf, MC_MSG_PING, 0, 1, MC_MAX_PAYLOAD);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), 0);
    /* A smaller cap applies. */
    frame_put_header(buf, MC_MSG_PING, 0, 1, 100);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, 99, &f), MC_ERR_FRAME_TOO_LARGE);
    /* Flags are reserved in version 1. */
    frame_put_header(buf, MC_MSG_PING, 0x0001, 1, 0);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_BAD_FRAME);
    frame_put_header(buf, MC_MSG_PING, 0x8000, 1, 0);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_BAD_FRAME);
    /* Version is checked before the length. */
    frame_put_header(buf, MC_MSG_PING, 0, 1, 0xFFFFFFFFu);
    buf[0] = 9;
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), MC_ERR_BAD_VERSION);
    /* Unknown types are the dispatcher's business, not the codec's. */
    frame_put_header(buf, 0x6E, 0, 1, 0);
    CHECK_EQ_INT(frame_parse(buf, sizeof buf, MC_MAX_PAYLOAD, &f), 12);
    CHECK(strcmp(frame_type_name(0x6E), "UNKNOWN") == 0);
    CHECK(strcmp(frame_type_name(MC_MSG_HELLO_OK), "HELLO_OK") == 0);
}

int main(void)
{
    test_round_trip();
    test_need_more();
    test_malformed();
    return check_report("test_frame");
}
