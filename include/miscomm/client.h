/*
 * libmiscomm: the client library a mobile app links (Android NDK, iOS) and
 * miscli is built on. Blocking calls with a timeout; one mc_client per
 * connection, not shared between threads.
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
    unsigned timeout_ms;     /* per operation; default 10000 */
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
};

MC_API int mc_client_new(mc_client **out, const struct mc_client_options *opt);
/* TCP connect, TLS handshake and server verification. */
MC_API int mc_connect(mc_client *c);
MC_API int mc_hello(mc_client *c, const struct mc_hello_params *p, struct mc_session *out);
/* Round trip; server_time_us (may be NULL) is the server's clock, microseconds since 1970. */
MC_API int mc_ping(mc_client *c, uint64_t *server_time_us, double *rtt_ms);
/* Keepalive: NOOP, answered by NOOP; needs no permission. */
MC_API int mc_noop(mc_client *c);
/*
 * Close the connection (BYE, best effort) and connect again, resuming the
 * TLS session with the ticket the server gave when it can. Log in again
 * with mc_hello() afterwards.
 */
MC_API int mc_reconnect(mc_client *c);
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
