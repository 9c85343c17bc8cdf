/*
 * Login tickets: a HELLO that presents one skips the Argon2id check.
 *
 * After a successful HELLO a client that asked for it (HELLO features bit
 * 1) gets a ticket in HELLO_OK; its next HELLO may present it instead of the
 * password (docs/protocol.md 5.1, 5.2, 8). A ticket is sealed with
 * XChaCha20-Poly1305 under a server key and bound, as additional data, to
 * the connection's name, the device id and a BLAKE2b fingerprint of the
 * connection's password hash, so that another connection, another device
 * or a new password (a reload with another hash) makes it fail. Its expiry
 * is in the clear (authenticated), so that a client can read it and the
 * server can say "expired" even for a ticket whose key is gone.
 *
 *   offset  size  field
 *   0       1     format (1)
 *   1       4     key id: which server key sealed it (u32, big-endian)
 *   5       8     expires (u64 Unix seconds, big-endian)
 *   13      24    nonce (random)
 *   37      8     sealed: issued (u64 Unix seconds)
 *   45      16    Poly1305 tag over the sealed part and the additional data
 *
 * additional data: bytes 0-36 of the ticket, then u16 length + connection
 * name, u16 length + device id (as logged: log_escape of the HELLO bytes,
 * which is one-to-one), 32 bytes of BLAKE2b-256(password hash text).
 *
 * Keys: kept in memory only (a restart renews them, and every ticket falls
 * back to the password once). The key rotates every [server]
 * login_ticket_lifetime seconds and the previous key still opens tickets
 * until the next rotation, so a ticket lives its whole lifetime and a
 * ticket sealed under a key two rotations old is refused. Loop thread only.
 */
#ifndef MC_LOGIN_TICKET_H
#define MC_LOGIN_TICKET_H

#include <stddef.h>
#include <stdint.h>

#define LOGIN_TICKET_SIZE      61u
#define LOGIN_TICKET_FORMAT    1u
#define LOGIN_TICKET_KEY_SIZE  32u
#define LOGIN_TICKET_HASH_SIZE 32u

struct login_keys {
    uint8_t key[2][LOGIN_TICKET_KEY_SIZE];
    uint32_t id[2];
    int current; /* index of the key that seals new tickets */
    int have_previous;
    uint32_t next_id;
};

/* What a ticket is bound to. */
struct login_ticket_binding {
    const char *connection;    /* the [connection NAME] */
    const char *device;        /* the HELLO device id, escaped as logged */
    const char *password_hash; /* the connection's password hash in force */
};

void login_keys_init(struct login_keys *k);
/* A new current key; the old current one becomes the previous, the older one is dropped. */
void login_keys_rotate(struct login_keys *k);
void login_keys_wipe(struct login_keys *k);

/* Seal a ticket valid until now_s + lifetime_s into out. 0 or MC_ERR_CRYPTO. */
__attribute__((warn_unused_result)) int login_ticket_seal(const struct login_keys *k,
                                                          const struct login_ticket_binding *b,
                                                          uint64_t now_s, uint64_t lifetime_s,
                                                          uint8_t out[LOGIN_TICKET_SIZE]);
/*
 * Open a ticket presented at now_s: 0 when it is valid for b, else
 * MC_ERR_TICKET with *why ("malformed", "unknown_key" (rotated out or not
 * ours), "invalid" (altered, or bound to another connection, device or
 * password), "expired").
 */
__attribute__((warn_unused_result)) int login_ticket_open(const struct login_keys *k,
                                                          const struct login_ticket_binding *b,
                                                          const uint8_t *ticket, size_t len,
                                                          uint64_t now_s, const char **why);

#endif
