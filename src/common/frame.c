#include "frame.h"

#include "miscomm/error.h"

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int frame_parse_header(const uint8_t buf[MC_FRAME_HEADER_SIZE], uint32_t max_payload,
                       struct frame *out)
{
    struct frame f = {
        .version = buf[0],
        .type = buf[1],
        .flags = get_u16(buf + 2),
        .request_id = get_u32(buf + 4),
        .length = get_u32(buf + 8),
    };
    if (f.version != MC_FRAME_VERSION)
        return MC_ERR_BAD_VERSION;
    if (f.length > max_payload)
        return MC_ERR_FRAME_TOO_LARGE;
    /* END is the only flag, and only DATA carries it. */
    if ((f.flags & ~MC_FLAGS_MASK) != 0 || (f.flags && f.type != MC_MSG_DATA))
        return MC_ERR_BAD_FRAME;
    *out = f;
    return 0;
}

long frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload, struct frame *out)
{
    if (len < MC_FRAME_HEADER_SIZE)
        return 0;
    struct frame f;
    int rc = frame_parse_header(buf, max_payload, &f);
    if (rc < 0)
        return rc;
    if (len - MC_FRAME_HEADER_SIZE < f.length)
        return 0;
    f.payload = buf + MC_FRAME_HEADER_SIZE;
    *out = f;
    return (long)(MC_FRAME_HEADER_SIZE + f.length);
}

void frame_put_header(uint8_t out[MC_FRAME_HEADER_SIZE], uint8_t type, uint16_t flags,
                      uint32_t request_id, uint32_t length)
{
    out[0] = MC_FRAME_VERSION;
    out[1] = type;
    out[2] = (uint8_t)(flags >> 8);
    out[3] = (uint8_t)flags;
    for (int i = 0; i < 4; i++) {
        out[4 + i] = (uint8_t)(request_id >> (24 - 8 * i));
        out[8 + i] = (uint8_t)(length >> (24 - 8 * i));
    }
}

const char *frame_type_name(uint8_t type)
{
    switch (type) {
#define FRAME_TYPE_CASE_(name, value)                                                              \
    case value:                                                                                    \
        return #name;
        MC_MSG_MAP(FRAME_TYPE_CASE_)
#undef FRAME_TYPE_CASE_
    default:
        return "UNKNOWN";
    }
}

const char *frame_perm_name(uint32_t perm)
{
#define FRAME_PERM_NAME_(name, bit, key)                                                           \
    if (perm == MC_PERM_##name)                                                                    \
        return key;
    MC_PERM_MAP(FRAME_PERM_NAME_)
#undef FRAME_PERM_NAME_
    return "unknown";
}
