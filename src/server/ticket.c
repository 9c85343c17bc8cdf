#include "ticket.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sodium.h>
#include <string.h>

#include "log.h"
#include "miscomm/error.h"

int ticket_keys_init(struct ticket_keys *k)
{
    memset(k, 0, sizeof *k);
    if (uv_mutex_init(&k->lock) != 0)
        return MC_ERR_INTERNAL;
    k->lock_ready = 1;
    ticket_keys_renew(k);
    return 0;
}

void ticket_keys_renew(struct ticket_keys *k)
{
    uv_mutex_lock(&k->lock);
    randombytes_buf(k->name[0], TICKET_NAME_SIZE);
    randombytes_buf(k->key[0], TICKET_KEY_SIZE);
    sodium_memzero(k->name[1], TICKET_NAME_SIZE);
    sodium_memzero(k->key[1], TICKET_KEY_SIZE);
    k->current = 0;
    k->have_previous = 0;
    uv_mutex_unlock(&k->lock);
}

void ticket_keys_rotate(struct ticket_keys *k)
{
    uv_mutex_lock(&k->lock);
    int next = 1 - k->current;
    randombytes_buf(k->name[next], TICKET_NAME_SIZE);
    randombytes_buf(k->key[next], TICKET_KEY_SIZE);
    k->current = next;
    k->have_previous = 1;
    uint64_t rotations = ++k->rotations;
    uv_mutex_unlock(&k->lock);
    log_info("event=ticket_key_rotated rotations=%llu", (unsigned long long)rotations);
}

void ticket_keys_wipe(struct ticket_keys *k)
{
    if (k->lock_ready)
        uv_mutex_destroy(&k->lock);
    sodium_memzero(k, sizeof *k);
}

/* The key named name, copied to key: 0 the current one, 1 the previous one, -1 none. */
static int ticket_key_named(struct ticket_keys *k, const uint8_t *name,
                            uint8_t key[TICKET_KEY_SIZE])
{
    int age = -1;
    uv_mutex_lock(&k->lock);
    if (memcmp(name, k->name[k->current], TICKET_NAME_SIZE) == 0)
        age = 0;
    else if (k->have_previous && memcmp(name, k->name[1 - k->current], TICKET_NAME_SIZE) == 0)
        age = 1;
    if (age >= 0)
        memcpy(key, k->key[age ? 1 - k->current : k->current], TICKET_KEY_SIZE);
    uv_mutex_unlock(&k->lock);
    return age;
}

#define TICKET_AAD_SIZE (WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ)

/* What a ticket's seal authenticates besides its contents: its key name and IV. */
static void ticket_aad(uint8_t aad[TICKET_AAD_SIZE], const uint8_t *name, const uint8_t *iv)
{
    memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
    memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
}

/*
 * Open len sealed bytes into out (which may be sealed itself): the age of
 * the key they opened under (0 current, 1 previous), or -1 when no key in
 * force has that name or the tag does not authenticate them.
 */
static int ticket_unseal(struct ticket_keys *k, const uint8_t *name, const uint8_t *iv,
                         uint8_t *out, const uint8_t *sealed, size_t len, const uint8_t *tag)
{
    uint8_t key[TICKET_KEY_SIZE];
    int age = ticket_key_named(k, name, key);
    if (age < 0)
        return -1; /* sealed under a key rotated out, or not ours */
    uint8_t aad[TICKET_AAD_SIZE];
    ticket_aad(aad, name, iv);
    int rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        out, NULL, sealed, (unsigned long long)len, tag, aad, sizeof aad, iv, key);
    sodium_memzero(key, sizeof key);
    return rc == 0 ? age : -1;
}

/*
 * wolfSSL's SessionTicketEncCb. The 16-byte IV field carries our 12-byte
 * nonce; the 32-byte MAC field carries the 16-byte Poly1305 tag (the rest is
 * zero). The key name and IV are authenticated as additional data.
 */
static int ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                     int in_len, int *out_len, void *ctx)
{
    (void)ssl;
    struct ticket_keys *k = ctx;
    if (in_len < 0)
        return WOLFSSL_TICKET_RET_FATAL;
    if (enc) {
        uint8_t key[TICKET_KEY_SIZE];
        uv_mutex_lock(&k->lock);
        memcpy(name, k->name[k->current], TICKET_NAME_SIZE);
        memcpy(key, k->key[k->current], TICKET_KEY_SIZE);
        uv_mutex_unlock(&k->lock);
        randombytes_buf(iv, WOLFSSL_TICKET_IV_SZ);
        uint8_t aad[TICKET_AAD_SIZE];
        ticket_aad(aad, name, iv);
        memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
        int rc = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            ticket, mac, NULL, ticket, (unsigned long long)in_len, aad, sizeof aad, NULL, iv, key);
        sodium_memzero(key, sizeof key);
        if (rc != 0)
            return WOLFSSL_TICKET_RET_FATAL;
        *out_len = in_len;
        return WOLFSSL_TICKET_RET_OK;
    }
    int age = ticket_unseal(k, name, iv, ticket, ticket, (size_t)in_len, mac);
    if (age < 0)
        return WOLFSSL_TICKET_RET_REJECT;
    *out_len = in_len;
    return age == 0 ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
}

/* wolfSSL's ticket on the wire (ExternalTicket): name, iv, a big-endian
 * length, that many sealed bytes, then the MAC field (ticket_cb's tag first). */
#define TICKET_SEALED_AT  (TICKET_AAD_SIZE + 2)
#define TICKET_SEALED_MAX 1024 /* wolfSSL's own are about 250 bytes */

int ticket_opens(struct ticket_keys *k, const uint8_t *ticket, size_t len)
{
    if (!ticket || len < TICKET_SEALED_AT)
        return 0;
    size_t sealed = (size_t)ticket[TICKET_SEALED_AT - 2] << 8 | ticket[TICKET_SEALED_AT - 1];
    if (sealed > TICKET_SEALED_MAX ||
        len < TICKET_SEALED_AT + sealed + crypto_aead_chacha20poly1305_ietf_ABYTES)
        return 0;
    uint8_t plain[TICKET_SEALED_MAX];
    int age = ticket_unseal(k, ticket, ticket + WOLFSSL_TICKET_NAME_SZ, plain,
                            ticket + TICKET_SEALED_AT, sealed, ticket + TICKET_SEALED_AT + sealed);
    sodium_memzero(plain, sealed);
    return age >= 0;
}

int ticket_attach(WOLFSSL_CTX *ctx, struct ticket_keys *k)
{
    if (wolfSSL_CTX_set_TicketEncCb(ctx, ticket_cb) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_TicketEncCtx(ctx, k) != WOLFSSL_SUCCESS)
        return MC_ERR_CRYPTO;
    return 0;
}
