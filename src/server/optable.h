/*
 * The request table: adding an operation is one row here plus its file.
 *
 * X(MSG, name, permission, states, first protocol, success log, handler)
 *   MSG         the request's message type, MC_MSG_MSG (miscomm/proto.h)
 *   name        its name in logs (op=name)
 *   permission  an MC_PERM_* bit, or 0; its name and configuration key
 *               come from MC_PERM_MAP
 *   states      OP_IN_HELLO and/or OP_IN_READY
 *   first       the first protocol version that has it (1 or 2)
 *   success     how a success is logged: OP_LOG_INFO, OP_LOG_DEBUG (keepalive
 *               class: a ping flood must not flood the log), OP_LOG_NONE
 *               (stream frames and NOOP), OP_LOG_SELF (the handler logs)
 *   handler     int handler(struct conn *, const struct frame *): 0 answered,
 *               DISPATCH_ASYNC (an op or a job answers later), or the
 *               negative MC_ERR_* it answered with
 */
#ifndef MC_OPTABLE_H
#define MC_OPTABLE_H

#define OP_TABLE(X)                                                                                \
    X(HELLO, "hello", 0, OP_IN_HELLO, 1, OP_LOG_SELF, auth_hello)                                  \
    X(INFO, "info", 0, OP_IN_HELLO | OP_IN_READY, 1, OP_LOG_DEBUG, op_info)                        \
    X(PING, "ping", MC_PERM_PING, OP_IN_READY, 1, OP_LOG_DEBUG, op_ping)                           \
    X(NOOP, "noop", 0, OP_IN_HELLO | OP_IN_READY, 1, OP_LOG_NONE, op_noop)                         \
    X(BYE, "bye", 0, OP_IN_HELLO | OP_IN_READY, 1, OP_LOG_INFO, op_bye)                            \
    X(DATA, "data", 0, OP_IN_READY, 2, OP_LOG_NONE, op_stream_frame)                               \
    X(CREDIT, "credit", 0, OP_IN_READY, 2, OP_LOG_NONE, op_stream_frame)                           \
    X(CANCEL, "cancel", 0, OP_IN_READY, 2, OP_LOG_NONE, op_stream_frame)                           \
    X(ECHO, "echo", MC_PERM_PING, OP_IN_READY, 2, OP_LOG_SELF, op_echo)                            \
    X(LIST, "list", MC_PERM_SEND_FILES, OP_IN_READY, 2, OP_LOG_SELF, files_list)                   \
    X(GET, "get", MC_PERM_SEND_FILES, OP_IN_READY, 2, OP_LOG_SELF, files_get)                      \
    X(ACK, "ack", MC_PERM_SEND_FILES, OP_IN_READY, 2, OP_LOG_SELF, files_ack)                      \
    X(PUT, "put", MC_PERM_RECEIVE_FILES, OP_IN_READY, 2, OP_LOG_SELF, files_put)                   \
    X(ODBC_OPEN, "odbc_open", MC_PERM_ODBC, OP_IN_READY, 2, OP_LOG_SELF, odbc_open)                \
    X(QUERY, "query", MC_PERM_ODBC, OP_IN_READY, 2, OP_LOG_SELF, odbc_query)                       \
    X(EXEC, "exec", MC_PERM_ODBC, OP_IN_READY, 2, OP_LOG_SELF, odbc_exec)                          \
    X(TX, "tx", MC_PERM_ODBC, OP_IN_READY, 2, OP_LOG_SELF, odbc_tx)                                \
    X(ODBC_CLOSE, "odbc_close", MC_PERM_ODBC, OP_IN_READY, 2, OP_LOG_SELF, odbc_close)             \
    X(SYNC_PULL, "sync_pull", MC_PERM_SYNC, OP_IN_READY, 2, OP_LOG_SELF, sync_pull)                \
    X(SYNC_PUSH, "sync_push", MC_PERM_SYNC, OP_IN_READY, 2, OP_LOG_SELF, sync_push)

#endif
