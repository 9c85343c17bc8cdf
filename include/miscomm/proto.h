/*
 * miscomm wire protocol constants. docs/protocol.md is the contract; these
 * values are the ones it lists. Message types and permissions are each
 * defined once, by an X-macro, so that names, numbers, configuration keys
 * and log names can never drift apart.
 */
#ifndef MISCOMM_PROTO_H
#define MISCOMM_PROTO_H

#define MC_FRAME_VERSION     1u
#define MC_PROTO_MIN         1u /* oldest protocol version the server speaks */
#define MC_PROTO_VERSION     2u /* newest: version 2 adds streams and notices */
#define MC_PROTO_STREAMS     2u /* first version with streams */
#define MC_FRAME_HEADER_SIZE 12u
#define MC_MAX_PAYLOAD       (1024u * 1024u)
/* Before HELLO_OK a frame may carry only what the largest HELLO needs. */
#define MC_MAX_PRELOGIN_PAYLOAD 2048u
#define MC_DEFAULT_PORT         9000u

/* Frame flags (header bytes 2-3), only valid on DATA. */
#define MC_FLAG_END        0x0001u /* the sender's last DATA of the stream */
#define MC_FLAG_COMPRESSED 0x0002u /* the payload is one zstd frame (agreed at HELLO) */
#define MC_FLAGS_MASK      (MC_FLAG_END | MC_FLAG_COMPRESSED)

/* HELLO features (protocol 2, an optional u32 after the password). */
#define MC_FEATURE_ZSTD 0x00000001u /* the client can take and send compressed DATA */
/* The client takes login tickets: a login_ticket field (u16 length, bytes) follows features. */
#define MC_FEATURE_LOGIN_TICKET 0x00000002u

/*
 * Message types (header byte 1): X(NAME, value). Requests, their answers,
 * the stream frames (DATA, CREDIT, CANCEL) and server notices.
 */
#define MC_MSG_MAP(X)                                                                              \
    X(HELLO, 0x01)                                                                                 \
    X(HELLO_OK, 0x02)                                                                              \
    X(PING, 0x03)                                                                                  \
    X(PONG, 0x04)                                                                                  \
    X(NOOP, 0x05)                                                                                  \
    X(BYE, 0x06)                                                                                   \
    X(INFO, 0x07)                                                                                  \
    X(INFO_OK, 0x08)                                                                               \
    X(DATA, 0x10)                                                                                  \
    X(CREDIT, 0x11)                                                                                \
    X(CANCEL, 0x12)                                                                                \
    X(NOTICE, 0x13)                                                                                \
    X(ECHO, 0x20)                                                                                  \
    X(ECHO_OK, 0x21)                                                                               \
    X(LIST, 0x30)                                                                                  \
    X(LIST_OK, 0x31)                                                                               \
    X(GET, 0x32)                                                                                   \
    X(GET_OK, 0x33)                                                                                \
    X(ACK, 0x34)                                                                                   \
    X(ACK_OK, 0x35)                                                                                \
    X(PUT, 0x36)                                                                                   \
    X(PUT_OFFSET, 0x37)                                                                            \
    X(PUT_OK, 0x38)                                                                                \
    X(ODBC_OPEN, 0x40)                                                                             \
    X(ODBC_OPEN_OK, 0x41)                                                                          \
    X(QUERY, 0x42)                                                                                 \
    X(QUERY_COLUMNS, 0x43)                                                                         \
    X(QUERY_OK, 0x44)                                                                              \
    X(EXEC, 0x45)                                                                                  \
    X(EXEC_OK, 0x46)                                                                               \
    X(TX, 0x47)                                                                                    \
    X(TX_OK, 0x48)                                                                                 \
    X(ODBC_CLOSE, 0x49)                                                                            \
    X(ODBC_CLOSE_OK, 0x4A)                                                                         \
    X(SYNC_PULL, 0x50)                                                                             \
    X(SYNC_COLUMNS, 0x51)                                                                          \
    X(SYNC_PULL_OK, 0x52)                                                                          \
    X(SYNC_PUSH, 0x53)                                                                             \
    X(SYNC_PUSH_OK, 0x54)                                                                          \
    X(ERROR, 0x7F)

enum mc_msg_type {
#define MC_MSG_ENUM_(name, value) MC_MSG_##name = value,
    MC_MSG_MAP(MC_MSG_ENUM_)
#undef MC_MSG_ENUM_
};

/* Permissions: X(NAME, bit, configuration key), reported as bits in HELLO_OK. */
#define MC_PERM_MAP(X)                                                                             \
    X(PING, 0, "ping")                                                                             \
    X(SYNC, 1, "sync")                                                                             \
    X(SEND_FILES, 2, "send_files")                                                                 \
    X(RECEIVE_FILES, 3, "receive_files")                                                           \
    X(ODBC, 4, "odbc")

enum mc_perm {
#define MC_PERM_ENUM_(name, bit, key) MC_PERM_##name = 1u << (bit),
    MC_PERM_MAP(MC_PERM_ENUM_)
#undef MC_PERM_ENUM_
};

/* ECHO modes (the stream demonstration, docs/protocol.md 5.10). */
enum mc_echo_mode {
    MC_ECHO_ECHO = 0,   /* every DATA byte the client sends comes back */
    MC_ECHO_SOURCE = 1, /* the server sends `count` bytes of a fixed pattern */
    MC_ECHO_SINK = 2,   /* the client sends; the server counts and discards */
};

/* Notice kinds (NOTICE frames, request id 0). */
enum mc_notice_kind {
    MC_NOTICE_DRAINING = 1,          /* the server is shutting down; data: u32 grace seconds */
    MC_NOTICE_FILES_CHANGED = 2,     /* files appeared in the device's send folder; no data */
    MC_NOTICE_CHANGES_AVAILABLE = 3, /* interventions of the device's technician changed: pull */
};

/* Limits on HELLO strings, in bytes. */
#define MC_MAX_CLIENT_NAME    64u
#define MC_MAX_CLIENT_VERSION 32u
#define MC_MAX_DEVICE_ID      128u
#define MC_MAX_PASSWORD       1024u
#define MC_MAX_LOGIN_TICKET   128u /* a login ticket, HELLO and HELLO_OK (the server's are 61) */
#define MC_MAX_PING_DATA      256u
#define MC_MAX_ERROR_MESSAGE  1024u
#define MC_SESSION_ID_SIZE    16u
#define MC_SHA256_SIZE        32u
#define MC_UPLOAD_ID_SIZE     16u
#define MC_LIST_RECURSIVE     0x01u /* LIST flag */

/* Streams (protocol 2): what HELLO_OK announces. */
#define MC_STREAM_WINDOW (1024u * 1024u) /* initial credit per stream and direction */
#define MC_MAX_STREAMS   16u             /* streams open at once per connection */
#define MC_MAX_CREDIT    0x7FFFFFFFu     /* credit outstanding may never exceed this */

#endif
