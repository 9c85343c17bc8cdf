/*
 * TLS session tickets: the keys that seal them, and their rotation.
 *
 * Tickets let a phone that lost the network resume its session without a
 * full handshake. They are sealed with ChaCha20-Poly1305 under a key that
 * rotates every [tls] ticket_rotation seconds; the previous key still opens
 * tickets (which are then re-issued under the current key), so a rotation
 * never forces a full handshake on a phone that reconnects soon after it.
 * The keys live outside any WOLFSSL_CTX, so a configuration reload keeps
 * every ticket valid. They are never written anywhere and are wiped on exit.
 */
#ifndef MC_TICKET_H
#define MC_TICKET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct WOLFSSL_CTX WOLFSSL_CTX;

#define TICKET_NAME_SIZE 16
#define TICKET_KEY_SIZE  32

/*
 * The keys are read by handshakes on the handshake threads (tls.c) and
 * changed on the loop thread (rotation, a reload): lock guards both.
 */
struct ticket_keys {
    uv_mutex_t lock;
    uint8_t name[2][TICKET_NAME_SIZE];
    uint8_t key[2][TICKET_KEY_SIZE];
    int current; /* index of the key that seals new tickets */
    int have_previous;
    uint64_t rotations;
    int lock_ready; /* ticket_keys_init() made the lock */
};

/* Fresh keys and the lock; MC_ERR_INTERNAL when the lock cannot be made. */
__attribute__((warn_unused_result)) int ticket_keys_init(struct ticket_keys *k);
/* Fresh keys: every ticket issued so far stops working (a reload of client-certificate settings).
 */
void ticket_keys_renew(struct ticket_keys *k);
void ticket_keys_rotate(struct ticket_keys *k);
/* Wipe the keys and destroy the lock. */
void ticket_keys_wipe(struct ticket_keys *k);
/*
 * Whether a ticket (as a ClientHello carries it) opens under one of the
 * keys in force: named by it and authenticated, as ticket_cb would find
 * it. A few microseconds; nothing of it is kept.
 */
int ticket_opens(struct ticket_keys *k, const uint8_t *ticket, size_t len);
/* Make ctx seal and open tickets with these keys. */
__attribute__((warn_unused_result)) int ticket_attach(WOLFSSL_CTX *ctx, struct ticket_keys *k);

#endif
