/*
 * Frame codec: the 12-byte header of every protocol message.
 *
 *   0       1       2               4                               8
 *   +-------+-------+---------------+-------------------------------+
 *   |version| type  |     flags     |          request id           |
 *   +-------+-------+---------------+-------------------------------+
 *   |        payload length         |  payload ...
 *   +-------------------------------+
 *
 * All fields are big-endian. frame_parse() is a pure function: it looks at
 * (buf, len), allocates nothing, and checks the length against the maximum
 * before anyone allocates or waits for the payload.
 */
#ifndef MC_FRAME_H
#define MC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "miscomm/proto.h"

struct frame {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint32_t request_id;
    uint32_t length;
    const uint8_t *payload; /* points into the parsed buffer */
};

/*
 * Parse one frame from buf. Returns the number of bytes the whole frame
 * occupies (> 0) and fills *out; 0 if more bytes are needed; or a negative
 * MC_ERR_BAD_VERSION, MC_ERR_FRAME_TOO_LARGE or MC_ERR_BAD_FRAME. Header
 * errors are reported as soon as the 12 header bytes are present, before
 * any payload arrives.
 */
long frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload, struct frame *out);

/* Check the 12 header bytes alone; fills *out except ->payload. 0 or a negative MC_ERR_*. */
int frame_parse_header(const uint8_t buf[MC_FRAME_HEADER_SIZE], uint32_t max_payload,
                       struct frame *out);

/* Write a 12-byte header into out. */
void frame_put_header(uint8_t out[MC_FRAME_HEADER_SIZE], uint8_t type, uint16_t flags,
                      uint32_t request_id, uint32_t length);

/* Name of a message type for logs ("HELLO", ...), "UNKNOWN" otherwise. */
const char *frame_type_name(uint8_t type);
/* The configuration key of one MC_PERM_* bit ("ping", ...), "unknown" otherwise. */
const char *frame_perm_name(uint32_t perm);

#endif
