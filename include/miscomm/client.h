/*
 * libmiscomm: the client library a mobile app links (Android NDK, iOS) and
 * miscli is built on. Blocking calls, each with one deadline: a call
 * returns MC_ERR_TIMEOUT when timeout_ms have passed since it began,
 * whatever the server sends meanwhile (frames for other requests do not
 * extend it). One mc_client per connection, not shared between threads.
 *
 * Protocol 2 (negotiated by mc_hello) adds streams: several requests in
 * flight on one connection, each with DATA frames paced by credit, and
 * server notices. Frames that arrive for a stream while the caller waits
 * for something else are kept for that stream (at most the credit the
 * client granted it); notices go to the notice callback from within
 * whichever call reads them.
 *
 * Every function that can fail returns 0 or a negative MC_ERR_* code (see
 * miscomm/error.h); mc_client_errmsg() then says what happened, including
 * the message of an ERROR frame sent by the server.
 */
#ifndef MISCOMM_CLIENT_H
#define MISCOMM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "miscomm/error.h"
#include "miscomm/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_client mc_client;

struct mc_client_options {
    const char *host; /* default "127.0.0.1" */
    unsigned port;    /* default 9000 */
    /* How to trust the server: exactly one of these. */
    const char *cafile;      /* PEM file of trusted certificates; checks the host name too */
    const char *fingerprint; /* SHA-256 of the certificate or of its public key (SPKI), hex */
    int insecure;            /* accept any certificate (the caller should warn) */
    int plaintext;           /* no TLS at all (connections with encryption = none) */
    const char *psk_file;    /* encryption = aes256: the connection's 256-bit key file; the key
                                authenticates both sides, no certificate is involved */
    /* A client certificate, for servers with require_client_cert = yes. */
    const char *client_cert; /* PEM */
    const char *client_key;  /* PEM, unencrypted */
    int tls_version;         /* 0 = 1.2 or 1.3, 12 = TLS 1.2 only, 13 = TLS 1.3 only */
    unsigned timeout_ms;     /* per call; default 10000 */
    /* How long mc_hello() waits for its answer: default (0) the larger of
     * timeout_ms and 30000, as docs/protocol.md section 8 advises (a busy
     * server queues password checks; a failed one is answered after a delay). */
    unsigned hello_timeout_ms;
    int no_compression; /* do not offer compressed DATA (zstd) in HELLO */
};

struct mc_hello_params {
    const char *client_name;    /* e.g. "field-app" */
    const char *client_version; /* e.g. "2.1.0" */
    const char *device_id;
    const char *password;
    size_t password_len;
};

struct mc_session {
    uint16_t version;
    char server_name[65];
    char server_version[33];
    uint8_t session_id[MC_SESSION_ID_SIZE];
    uint32_t permissions; /* MC_PERM_* bits */
    uint32_t max_payload;
    uint32_t idle_timeout; /* seconds, 0 = none */
    char connection[65];
    /* Protocol 2 and later (0 before). */
    uint32_t stream_window; /* initial credit per stream and direction, bytes */
    uint16_t max_streams;   /* streams open at once */
    uint8_t compression;    /* zstd level of DATA both ways, 0 = none (the server's choice) */
};

/* What the server says before login (INFO, docs/protocol.md 5.8). */
struct mc_server_info {
    uint16_t min_version, max_version;
    char server_name[65];
    char server_version[33];
    uint32_t handshake_timeout_s; /* the server's HELLO timer */
    uint32_t hello_left_ms;       /* left on this connection's HELLO timer when asked */
    uint32_t hello_answer_ms;     /* how long to wait for HELLO's answer */
    uint32_t max_prelogin_payload;
};

/* A frame from the server; payload stays valid until the next call on the client. */
struct mc_reply {
    uint8_t type;
    uint32_t id;
    const uint8_t *payload;
    size_t len;
};

typedef struct mc_stream mc_stream;
/* A chunk of a stream's DATA, in order; end is set on the last. Return 0, or < 0 to stop. */
typedef int (*mc_data_fn)(void *ud, const uint8_t *data, size_t len, int end);
/* An unsolicited server notice (request id 0). */
typedef void (*mc_notice_fn)(void *ud, uint16_t kind, const char *text, const uint8_t *data,
                             size_t len);

/*
 * Make a client (no connection yet). On failure *out may still hold a
 * client, so that mc_client_errmsg() can say why: free it with mc_close().
 */
MC_API int mc_client_new(mc_client **out, const struct mc_client_options *opt);
/* TCP connect, TLS handshake and server verification. */
MC_API int mc_connect(mc_client *c);
MC_API int mc_hello(mc_client *c, const struct mc_hello_params *p, struct mc_session *out);
/* Round trip; server_time_us (may be NULL) is the server's clock, microseconds since 1970. */
MC_API int mc_ping(mc_client *c, uint64_t *server_time_us, double *rtt_ms);
/* Keepalive: NOOP, answered by NOOP; needs no permission. */
MC_API int mc_noop(mc_client *c);
/* INFO: allowed before HELLO (ask before prompting for a password). */
MC_API int mc_info(mc_client *c, struct mc_server_info *out);

/*
 * Any request: send type with a payload of up to max_payload bytes and wait
 * for its final answer. 0 with the answer in *out, or the negative code of
 * an ERROR answer (mc_client_errmsg() has the server's message).
 */
MC_API int mc_call(mc_client *c, uint8_t type, const void *payload, size_t len,
                   struct mc_reply *out);

/* Streams (protocol 2). */
MC_API int mc_stream_open(mc_client *c, uint8_t type, const void *payload, size_t len,
                          mc_stream **out);
MC_API uint32_t mc_stream_id(const mc_stream *s);
/* Send DATA within the server's credit, waiting for more credit as needed; end: the last. */
MC_API int mc_stream_write(mc_stream *s, const void *data, size_t len, int end);
/* Let the server send n bytes beyond what the client already granted. */
MC_API int mc_stream_grant(mc_stream *s, uint32_t n);
/*
 * Deliver the stream's DATA to fn (credit is given back as fn returns)
 * until the final answer, returned as by mc_call. The deadline restarts
 * whenever DATA for this stream arrives.
 */
MC_API int mc_stream_finish(mc_stream *s, mc_data_fn fn, void *ud, struct mc_reply *out);
/*
 * Deliver the DATA already received for the stream to fn, giving credit
 * back, without waiting. Returns the bytes delivered, or an error. A client
 * that sends and receives on one stream calls it between writes, so that
 * the server's credit keeps flowing both ways.
 */
MC_API long mc_stream_take(mc_stream *s, mc_data_fn fn, void *ud);
/*
 * Wait for a frame of the stream that is neither DATA nor its final answer
 * (PUT_OFFSET, docs/protocol.md 5.14; QUERY_COLUMNS, 5.15; SYNC_COLUMNS, 5.16). An ERROR answer
 * instead returns its code.
 */
MC_API int mc_stream_wait_frame(mc_stream *s, uint8_t type, struct mc_reply *out);
/* Ask the server to stop (CANCEL) and wait for the final answer; MC_ERR_CANCELLED usually. */
MC_API int mc_stream_cancel(mc_stream *s);
/*
 * Forget the stream: one still open is cancelled (CANCEL, without waiting
 * for the answer); frames that still arrive for it are dropped. NULL is
 * allowed. mc_close() does not free streams: free them before or after it.
 */
MC_API void mc_stream_free(mc_stream *s);

MC_API void mc_set_notice_cb(mc_client *c, mc_notice_fn fn, void *ud);
/* Read what the server sends for up to timeout_ms (notices, stream frames). 0 or an error. */
MC_API int mc_poll(mc_client *c, unsigned timeout_ms);
/*
 * Close the connection (BYE, best effort) and connect again, resuming the
 * TLS session with the ticket the server gave when it can. Log in again
 * with mc_hello() afterwards.
 */
MC_API int mc_reconnect(mc_client *c);
/*
 * After a dropped connection: reconnect (resuming the TLS session) and log
 * in again with the parameters of the last successful mc_hello(), which
 * the client keeps (the password wiped at mc_close()), and its login ticket.
 */
MC_API int mc_relogin(mc_client *c, struct mc_session *out);
/*
 * Login tickets (docs/protocol.md 8). After each successful mc_hello() the
 * client keeps the server's login ticket, and the next mc_hello() (or
 * mc_relogin()) presents it with the password: the server then skips its
 * password check (Argon2id, tens of milliseconds and 64 MiB); a refused
 * ticket falls back to the password of the same HELLO. A ticket is a
 * credential for this device on this connection: to keep it across process
 * restarts, get it after a login and store it as safely as the password,
 * then set it on the new client before mc_hello(). With a ticket set and
 * no password (password_len 0), a refused ticket makes mc_hello() return
 * MC_ERR_TICKET (and forget the ticket): ask for the password then.
 *
 * mc_login_ticket_get copies the ticket (at most MC_MAX_LOGIN_TICKET bytes)
 * into buf and its length into *len (0: none); mc_login_ticket_set
 * replaces it (len 0 forgets it). mc_client_login_by_ticket is 1 when the
 * last mc_hello() logged in with the ticket.
 */
MC_API int mc_login_ticket_get(const mc_client *c, uint8_t *buf, size_t cap, size_t *len);
MC_API int mc_login_ticket_set(mc_client *c, const uint8_t *ticket, size_t len);
MC_API int mc_client_login_by_ticket(const mc_client *c);
/* 1 while the connection is usable; 0 after a transport failure (mc_relogin() then). */
MC_API int mc_client_connected(const mc_client *c);
/* 1 if the current connection's TLS handshake resumed an earlier session. */
MC_API int mc_client_resumed(const mc_client *c);
/* Say BYE (best effort), close and free. NULL is allowed. */
MC_API void mc_close(mc_client *c);

MC_API const char *mc_client_errmsg(const mc_client *c);
MC_API const char *mc_client_tls_version(const mc_client *c);
MC_API const char *mc_client_tls_cipher(const mc_client *c);

/* SHA-256 fingerprint (colon hex) of the first certificate in a PEM file. */
MC_API int mc_cert_file_fingerprint(const char *path, char out[96]);

#ifdef __cplusplus
}
#endif
#endif
