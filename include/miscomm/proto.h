/*
 * miscomm wire protocol constants (protocol v1). docs/protocol.md is the
 * contract; these values are the ones it lists.
 */
#ifndef MISCOMM_PROTO_H
#define MISCOMM_PROTO_H

#define MC_FRAME_VERSION     1u
#define MC_PROTO_VERSION     1u
#define MC_FRAME_HEADER_SIZE 12u
#define MC_MAX_PAYLOAD       (1024u * 1024u)
#define MC_DEFAULT_PORT      9000u

/* Message types (header byte 1). */
enum mc_msg_type {
    MC_MSG_HELLO = 0x01,
    MC_MSG_HELLO_OK = 0x02,
    MC_MSG_PING = 0x03,
    MC_MSG_PONG = 0x04,
    MC_MSG_NOOP = 0x05,
    MC_MSG_BYE = 0x06,
    MC_MSG_ERROR = 0x7F,
};

/* Permission bits in HELLO_OK. */
enum mc_perm {
    MC_PERM_PING = 1u << 0,
    MC_PERM_SYNC = 1u << 1,
    MC_PERM_SEND_FILES = 1u << 2,
    MC_PERM_RECEIVE_FILES = 1u << 3,
    MC_PERM_ODBC = 1u << 4,
};

/* Limits on HELLO strings, in bytes. */
#define MC_MAX_CLIENT_NAME    64u
#define MC_MAX_CLIENT_VERSION 32u
#define MC_MAX_DEVICE_ID      128u
#define MC_MAX_PASSWORD       1024u
#define MC_MAX_PING_DATA      256u
#define MC_MAX_ERROR_MESSAGE  1024u
#define MC_SESSION_ID_SIZE    16u

#endif
