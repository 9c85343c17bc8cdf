/*
 * A connection's transport: plain TCP or TLS behind one small ops table.
 * feed() takes bytes from the socket and appends plaintext to c->in,
 * driving the handshake first; send() takes plaintext and writes what must
 * go on the wire through conn_write_raw().
 */
#ifndef MC_TRANSPORT_H
#define MC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conn;
struct mc_config;

struct transport_ops {
    const char *name;
    int (*start)(struct conn *c);
    int (*feed)(struct conn *c, const uint8_t *data, size_t len);
    int (*send)(struct conn *c, const uint8_t *data, size_t len);
    /* 1 if feed(c, NULL, 0) may produce more plaintext without new socket bytes. */
    int (*pending)(const struct conn *c);
    void (*shutdown)(struct conn *c);
    void (*release)(struct conn *c);
};

extern const struct transport_ops transport_plain;
extern const struct transport_ops transport_tls;

/* The TLS contexts (tls.c). */
typedef struct WOLFSSL_CTX WOLFSSL_CTX;
struct ticket_keys;
/* The certificate context: policy, identity (PEM or PKCS#12), client certificates, tickets. */
__attribute__((warn_unused_result)) int
tls_ctx_create(const struct mc_config *cfg, struct ticket_keys *tickets, WOLFSSL_CTX **out);
/* The context of encryption = aes256 connections: TLS 1.3 with an external PSK. */
__attribute__((warn_unused_result)) int tls_psk_ctx_create(WOLFSSL_CTX **out);
void tls_ctx_free(WOLFSSL_CTX *ctx);
/*
 * Copy a listener's pre-shared key, to or from it, under the lock that a
 * reload (writing it) and the handshake threads (reading it) share.
 */
void tls_psk_store(uint8_t dst[32], const uint8_t src[32]);
/* Cipher list that a policy stands for. */

#endif
