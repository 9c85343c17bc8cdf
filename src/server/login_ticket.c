#include "login_ticket.h"

#include <sodium.h>
#include <string.h>

#include "log.h"
#include "miscomm/error.h"

#define LT_HEADER_SIZE 37u /* format, key id, expires, nonce */
#define LT_NONCE       13u /* offset of the nonce */
#define LT_SEALED_SIZE 8u  /* issued */
/* The additional data: header, two strings of at most 64 KiB... in practice
 * a connection name (< 64) and an escaped device id (<= 513), and the hash. */
#define LT_AD_MAX (LT_HEADER_SIZE + 2u + 64u + 2u + 1024u + LOGIN_TICKET_HASH_SIZE)

_Static_assert(LT_HEADER_SIZE + LT_SEALED_SIZE + crypto_aead_xchacha20poly1305_ietf_ABYTES ==
                   LOGIN_TICKET_SIZE,
               "ticket layout");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == LOGIN_TICKET_KEY_SIZE, "key size");

void login_keys_init(struct login_keys *k)
{
    memset(k, 0, sizeof *k);
    randombytes_buf(k->key[0], LOGIN_TICKET_KEY_SIZE);
    k->id[0] = randombytes_random(); /* a restart does not reuse the last run's ids */
    k->next_id = k->id[0] + 1u;
}

void login_keys_rotate(struct login_keys *k)
{
    int next = 1 - k->current;
    randombytes_buf(k->key[next], LOGIN_TICKET_KEY_SIZE);
    k->id[next] = k->next_id++;
    k->current = next;
    k->have_previous = 1;
    log_info("event=login_ticket_key_rotated key_id=%u", k->id[next]);
}

void login_keys_wipe(struct login_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* header || u16 n + connection || u16 n + device || BLAKE2b-256(password hash). */
static size_t login_ticket_ad(uint8_t ad[LT_AD_MAX], const uint8_t *header,
                              const struct login_ticket_binding *b)
{
    size_t o = 0;
    memcpy(ad, header, LT_HEADER_SIZE);
    o += LT_HEADER_SIZE;
    const char *s[2] = {b->connection, b->device};
    size_t cap[2] = {64u, 1024u};
    for (int i = 0; i < 2; i++) {
        size_t n = strnlen(s[i], cap[i]);
        ad[o++] = (uint8_t)(n >> 8);
        ad[o++] = (uint8_t)n;
        memcpy(ad + o, s[i], n);
        o += n;
    }
    crypto_generichash(ad + o, LOGIN_TICKET_HASH_SIZE, (const unsigned char *)b->password_hash,
                       strlen(b->password_hash), NULL, 0);
    return o + LOGIN_TICKET_HASH_SIZE;
}

int login_ticket_seal(const struct login_keys *k, const struct login_ticket_binding *b,
                      uint64_t now_s, uint64_t lifetime_s, uint8_t out[LOGIN_TICKET_SIZE])
{
    uint8_t ad[LT_AD_MAX], sealed[LT_SEALED_SIZE];
    out[0] = LOGIN_TICKET_FORMAT;
    put_be32(out + 1, k->id[k->current]);
    put_be64(out + 5, now_s + lifetime_s);
    randombytes_buf(out + LT_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    put_be64(sealed, now_s);
    size_t adlen = login_ticket_ad(ad, out, b);
    unsigned long long clen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_encrypt(out + LT_HEADER_SIZE, &clen, sealed,
                                                        sizeof sealed, ad, adlen, NULL,
                                                        out + LT_NONCE, k->key[k->current]);
    return rc == 0 && clen == LOGIN_TICKET_SIZE - LT_HEADER_SIZE ? 0 : MC_ERR_CRYPTO;
}

int login_ticket_open(const struct login_keys *k, const struct login_ticket_binding *b,
                      const uint8_t *ticket, size_t len, uint64_t now_s, const char **why)
{
    if (len != LOGIN_TICKET_SIZE || ticket[0] != LOGIN_TICKET_FORMAT) {
        *why = "malformed";
        return MC_ERR_TICKET;
    }
    uint32_t id = get_be32(ticket + 1);
    int which = -1;
    if (id == k->id[k->current])
        which = k->current;
    else if (k->have_previous && id == k->id[1 - k->current])
        which = 1 - k->current;
    uint64_t expires = get_be64(ticket + 5);
    if (which < 0) {
        /* Rotated out (or not ours): an old ticket is most likely just expired. */
        *why = now_s >= expires ? "expired" : "unknown_key";
        return MC_ERR_TICKET;
    }
    uint8_t ad[LT_AD_MAX], sealed[LT_SEALED_SIZE];
    size_t adlen = login_ticket_ad(ad, ticket, b);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, &mlen, NULL, ticket + LT_HEADER_SIZE,
                                                   LOGIN_TICKET_SIZE - LT_HEADER_SIZE, ad, adlen,
                                                   ticket + LT_NONCE, k->key[which]) != 0 ||
        mlen != sizeof sealed) {
        *why = "invalid";
        return MC_ERR_TICKET;
    }
    if (now_s >= expires) {
        *why = "expired";
        return MC_ERR_TICKET;
    }
    *why = "ok";
    return 0;
}
