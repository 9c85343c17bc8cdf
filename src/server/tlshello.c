/*
 * The groups a ClientHello offers, read from its first record (tlshello.h).
 *
 *   record:  type(1)=22 version(2) length(2) | handshake fragment
 *   message: type(1)=1 length(3) | version(2) random(32) session_id<0..32>
 *            cipher_suites<2..2^16-2> compression_methods<1..2^8-1>
 *            extensions<0..2^16-1>
 *
 * Only what the first record holds is read: a ClientHello spread over
 * several records (larger than 16 KiB) is left to wolfSSL as it is.
 */
#include "tlshello.h"

#define REC_HANDSHAKE        22
#define HS_CLIENT_HELLO      1
#define EXT_SUPPORTED_GROUPS 10
#define EXT_SESSION_TICKET   35
#define EXT_SUPPORTED_VERS   43
#define TLS13_VERSION        0x0304
#define FFDHE2048            256
#define FFDHE3072            257
#define SECP256R1            23
#define SECP384R1            24
#define X25519               29

struct cursor {
    const uint8_t *p, *end;
};

static int take(struct cursor *c, size_t n, const uint8_t **at)
{
    if ((size_t)(c->end - c->p) < n)
        return -1;
    *at = c->p;
    c->p += n;
    return 0;
}

static int u8(struct cursor *c, size_t *v)
{
    const uint8_t *at;
    if (take(c, 1, &at) < 0)
        return -1;
    *v = at[0];
    return 0;
}

static int u16(struct cursor *c, size_t *v)
{
    const uint8_t *at;
    if (take(c, 2, &at) < 0)
        return -1;
    *v = (size_t)at[0] << 8 | at[1];
    return 0;
}

static void tlshello_groups(const uint8_t *p, size_t len, struct tlshello *out)
{
    struct cursor c = {p, p + len};
    size_t n, g;
    if (u16(&c, &n) < 0 || n != len - 2 || n % 2)
        return;
    out->groups = 1;
    while (u16(&c, &g) == 0) {
        out->our_ec |= g == X25519 || g == SECP256R1 || g == SECP384R1;
        if (g >= 256 && g <= 511) {
            out->ffdhe = 1;
            out->our_ffdhe |= g == FFDHE2048 || g == FFDHE3072;
        }
    }
}

/* supported_versions (a ClientHello's): whether it names TLS 1.3. */
static int tlshello_names_tls13(const uint8_t *p, size_t len)
{
    struct cursor c = {p, p + len};
    size_t n, v;
    if (u8(&c, &n) < 0 || n != len - 1)
        return 0;
    while (u16(&c, &v) == 0)
        if (v == TLS13_VERSION)
            return 1;
    return 0;
}

size_t tlshello_parse(const uint8_t *buf, size_t len, struct tlshello *out)
{
    out->groups = out->our_ec = out->ffdhe = out->our_ffdhe = out->dhe_suite = 0;
    out->resume12 = 0;
    out->ticket = NULL;
    out->ticket_len = 0;
    if (len < 5)
        return 0;
    size_t rec_len = (size_t)buf[3] << 8 | buf[4];
    /* Not a handshake record of a size TLS allows: wolfSSL refuses it at once. */
    if (buf[0] != REC_HANDSHAKE || rec_len > 16384)
        return 5;
    if (len < 5 + rec_len)
        return 0;
    struct cursor c = {buf + 5, buf + 5 + rec_len};
    const uint8_t *at;
    size_t type, n;
    if (u8(&c, &type) < 0 || type != HS_CLIENT_HELLO || take(&c, 3, &at) < 0 ||
        take(&c, 2 + 32, &at) < 0)
        return 5 + rec_len;
    /* A message longer than the record simply ends early here. */
    if (u8(&c, &n) < 0 || take(&c, n, &at) < 0 || u16(&c, &n) < 0 || take(&c, n, &at) < 0)
        return 5 + rec_len;
    /* Finite-field DHE suites: TLS_DHE_* (RSA, with AES-GCM, AES-CBC, ChaCha20). */
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned s = (unsigned)at[i] << 8 | at[i + 1];
        out->dhe_suite |= s == 0x009E || s == 0x009F || s == 0x0067 || s == 0x006B || s == 0x0033 ||
                          s == 0x0039 || s == 0xCCAA;
    }
    if (u8(&c, &n) < 0 || take(&c, n, &at) < 0 || u16(&c, &n) < 0)
        return 5 + rec_len;
    if ((size_t)(c.end - c.p) > n)
        c.end = c.p + n;
    size_t etype, elen;
    int ticket = 0, tls13 = 0;
    while (u16(&c, &etype) == 0 && u16(&c, &elen) == 0 && take(&c, elen, &at) == 0) {
        if (etype == EXT_SUPPORTED_GROUPS)
            tlshello_groups(at, elen, out);
        else if (etype == EXT_SESSION_TICKET && elen > 0) {
            ticket = 1;
            out->ticket = at;
            out->ticket_len = elen;
        } else if (etype == EXT_SUPPORTED_VERS)
            tls13 = tlshello_names_tls13(at, elen);
    }
    out->resume12 = ticket && !tls13;
    return 5 + rec_len;
}
