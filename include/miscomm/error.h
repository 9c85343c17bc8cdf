/*
 * miscomm error codes.
 *
 * One table for the whole project: the daemon, the client library, the tools
 * and the wire protocol all use these codes. A function that can fail returns
 * 0 or a negative MC_ERR_* value; on the wire the same code travels as a
 * positive 16-bit number in an ERROR frame (see docs/protocol.md).
 *
 * Codes are stable: never renumber one, only append.
 */
#ifndef MISCOMM_ERROR_H
#define MISCOMM_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MC_API __declspec(dllexport)
#else
#define MC_API __attribute__((visibility("default")))
#endif

/* X(NAME, wire code, message) */
#define MC_ERRNO_MAP(X)                                                                            \
    X(OK, 0, "success")                                                                            \
    X(INTERNAL, 1, "internal error")                                                               \
    X(NOMEM, 2, "out of memory")                                                                   \
    X(INVALID_ARG, 3, "invalid argument")                                                          \
    X(IO, 4, "input/output error")                                                                 \
    X(BAD_FRAME, 10, "malformed frame")                                                            \
    X(BAD_VERSION, 11, "unsupported frame version")                                                \
    X(FRAME_TOO_LARGE, 12, "frame larger than the maximum payload size")                           \
    X(BAD_TYPE, 13, "unknown message type")                                                        \
    X(UNEXPECTED, 14, "message not allowed in this state")                                         \
    X(PROTO_VERSION, 15, "no common protocol version")                                             \
    X(BAD_PAYLOAD, 16, "malformed payload")                                                        \
    X(AUTH, 20, "authentication failed")                                                           \
    X(TOO_MANY_TRIES, 21, "too many failed logins")                                                \
    X(PERMISSION, 22, "permission denied")                                                         \
    X(CONN_LIMIT, 23, "too many connections")                                                      \
    X(TIMEOUT, 24, "timed out")                                                                    \
    X(SHUTTING_DOWN, 25, "server is shutting down")                                                \
    X(BUSY, 26, "server busy, try again later")                                                    \
    X(CANCELLED, 27, "cancelled")                                                                  \
    X(FLOW_CONTROL, 28, "flow control violated")                                                   \
    X(ID_IN_USE, 29, "request id already in use")                                                  \
    X(TLS, 30, "TLS failure")                                                                      \
    X(CERT_VERIFY, 31, "server certificate verification failed")                                   \
    X(CONNECT, 32, "could not connect")                                                            \
    X(CLOSED, 33, "connection closed by peer")                                                     \
    X(RESOLVE, 34, "could not resolve host name")                                                  \
    X(CONFIG, 40, "invalid configuration")                                                         \
    X(CRYPTO, 41, "cryptographic operation failed")                                                \
    X(NOT_FOUND, 42, "not found")                                                                  \
    X(EXISTS, 43, "already exists")                                                                \
    X(BAD_NAME, 50, "invalid file name")                                                           \
    X(NO_SPACE, 51, "no space left on the server")                                                 \
    X(QUOTA, 52, "quota exceeded")                                                                 \
    X(HASH_MISMATCH, 53, "hash mismatch")                                                          \
    X(FILE_TOO_LARGE, 54, "file too large")                                                        \
    X(BAD_CREDENTIAL, 60, "credential file damaged or tampered with")                              \
    X(WRONG_KEY, 61, "wrong key or passphrase for the credential file")                            \
    X(UNKNOWN_KEY, 62, "credential file sealed with an unknown key")                               \
    X(CREDENTIAL_VERSION, 63, "unsupported credential file version")                               \
    X(SQL, 70, "the database refused the statement")                                               \
    X(RESULT_LIMIT, 71, "result larger than the connection allows")                                \
    X(DB_UNAVAILABLE, 72, "database unavailable")                                                  \
    X(NOT_ALLOWED, 73, "not allowed on this connection")                                           \
    X(BAD_HANDLE, 74, "no such database handle")                                                   \
    X(CONFLICT, 80, "the change conflicts with the server's")                                      \
    X(NOT_BOUND, 81, "device not bound to a technician")                                           \
    X(REVOKED, 82, "device revoked")                                                               \
    X(BAD_CURSOR, 83, "malformed sync cursor")                                                     \
    X(TICKET, 84, "login ticket refused")

typedef enum mc_err {
#define MC_ERR_ENUM_(name, code, msg) MC_ERR_##name = -(code),
    MC_ERRNO_MAP(MC_ERR_ENUM_)
#undef MC_ERR_ENUM_
} mc_err;

/* Message for a code, positive (wire) or negative (API); never NULL. */
MC_API const char *mc_strerror(int code);
/* Symbolic name for a code, e.g. "PERMISSION"; "UNKNOWN" if not in the table. */
MC_API const char *mc_err_name(int code);
/* 1 if the code (either sign) is in the table. */
MC_API int mc_err_known(int code);

#ifdef __cplusplus
}
#endif
#endif
