/* tlshello_parse(): the groups a ClientHello names, and whether it is a TLS 1.2 resumption. */
#include <stdint.h>

#include "check.h"
#include "tlshello.h"

/* A ClientHello in one record, built from its extensions (type, body). */
struct hello {
    uint8_t b[1024];
    size_t len;
};

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void hello_build(struct hello *h, const uint8_t *ext, size_t ext_len)
{
    uint8_t *p = h->b;
    size_t body = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + ext_len; /* version..extensions */
    p[0] = 22;
    p[1] = 3;
    p[2] = 1;
    put16(p + 3, 4 + body);
    p[5] = 1; /* ClientHello */
    p[6] = 0;
    put16(p + 7, body);
    uint8_t *m = p + 9;
    m[0] = 3;
    m[1] = 3;
    memset(m + 2, 0x5a, 32); /* random */
    m[34] = 0;               /* session_id: empty */
    put16(m + 35, 2);        /* cipher_suites: TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 */
    m[37] = 0xC0;
    m[38] = 0x2C;
    m[39] = 1; /* compression: null */
    m[40] = 0;
    put16(m + 41, ext_len);
    memcpy(m + 43, ext, ext_len);
    h->len = 9 + body;
}

static size_t parse(const uint8_t *ext, size_t ext_len, struct tlshello *out)
{
    struct hello h;
    hello_build(&h, ext, ext_len);
    size_t n = tlshello_parse(h.b, h.len, out);
    CHECK_EQ_INT(n, h.len);
    /* One byte short: not all here yet. */
    struct tlshello partial;
    CHECK_EQ_INT(tlshello_parse(h.b, h.len - 1, &partial), 0);
    return n;
}

int main(void)
{
    struct tlshello t;
    /* supported_groups: P-256 only. No ticket. */
    static const uint8_t groups[] = {0, 10, 0, 4, 0, 2, 0, 23};
    parse(groups, sizeof groups, &t);
    CHECK(t.groups && t.our_ec && !t.ffdhe && !t.resume12);

    /* A TLS 1.2 ticket (four bytes of it), no supported_versions: a resumption. */
    static const uint8_t ticket12[] = {0, 10, 0, 4, 0, 2, 0, 23, 0, 35, 0, 4, 1, 2, 3, 4};
    parse(ticket12, sizeof ticket12, &t);
    CHECK(t.our_ec && t.resume12);
    CHECK_EQ_INT(t.ticket_len, 4);
    CHECK(t.ticket && t.ticket[0] == 1 && t.ticket[3] == 4);

    /* An empty session_ticket extension asks for a ticket: a full handshake. */
    static const uint8_t empty_ticket[] = {0, 35, 0, 0};
    parse(empty_ticket, sizeof empty_ticket, &t);
    CHECK(!t.resume12 && !t.groups && !t.ticket && t.ticket_len == 0);

    /* A ticket, but the client offers TLS 1.3: it may well do a 1.3 handshake (key exchange). */
    static const uint8_t ticket13[] = {0, 35, 0, 2, 9, 9, 0, 43, 0, 5, 4, 3, 4, 3, 3};
    parse(ticket13, sizeof ticket13, &t);
    CHECK(!t.resume12);

    /* supported_versions naming TLS 1.2 alone: still a 1.2 resumption. */
    static const uint8_t ticket_v12[] = {0, 43, 0, 3, 2, 3, 3, 0, 35, 0, 2, 9, 9};
    parse(ticket_v12, sizeof ticket_v12, &t);
    CHECK(t.resume12);

    /* A malformed supported_versions (its length byte wrong) counts as not naming 1.3. */
    static const uint8_t bad_versions[] = {0, 35, 0, 1, 7, 0, 43, 0, 3, 7, 3, 4};
    parse(bad_versions, sizeof bad_versions, &t);
    CHECK(t.resume12);

    /* FFDHE groups, one of ours. */
    static const uint8_t ffdhe[] = {0, 10, 0, 6, 0, 4, 1, 0, 1, 4};
    parse(ffdhe, sizeof ffdhe, &t);
    CHECK(t.groups && !t.our_ec && t.ffdhe && t.our_ffdhe);

    /* Not a handshake record: five bytes looked at, nothing set. */
    static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    CHECK_EQ_INT(tlshello_parse(alert, sizeof alert, &t), 5);
    CHECK(!t.groups && !t.resume12);
    return check_report("test_tlshello");
}
