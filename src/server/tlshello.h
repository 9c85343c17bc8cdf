/*
 * A look at a client's first TLS record before wolfSSL reads it
 * (tlshello.c): which finite-field groups its ClientHello names, and
 * whether it is a TLS 1.2 resumption (cheap enough to run on the loop
 * thread, tls.c).
 *
 * RFC 7919 4: a server that sees any FFDHE group (codepoints 256 to 511,
 * known to it or not) in supported_groups must not choose a DHE suite
 * unless it can use one of those groups. wolfSSL 5.5.4 drops the groups it
 * does not know while parsing, so a client offering only ffdhe4096 looks to
 * it like one that offers none, and gets ffdhe2048. tls.c takes the DHE
 * suites away from such a connection before its handshake starts.
 *
 * A client whose supported_groups has none of the gateway's groups at all
 * would get P-256 anyway on TLS 1.2 (wolfSSL's fallback curve), or a
 * HelloRetryRequest for a group it never offered on TLS 1.3: tls.c refuses
 * it with handshake_failure instead (RFC 8446 4.1.1, RFC 8422 5.1).
 */
#ifndef MC_TLSHELLO_H
#define MC_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

struct tlshello {
    int groups;            /* the ClientHello has a supported_groups extension */
    int our_ec;            /* ... naming X25519, P-256 or P-384 */
    int ffdhe;             /* supported_groups names a group from 256 to 511 */
    int our_ffdhe;         /* ... and one of those the gateway offers: ffdhe2048 or ffdhe3072 */
    int dhe_suite;         /* cipher_suites has a finite-field DHE suite (TLS_DHE_RSA_*) */
    int resume12;          /* a TLS 1.2 session ticket, and no TLS 1.3 in supported_versions */
    const uint8_t *ticket; /* that ticket, in buf (NULL when none) */
    size_t ticket_len;
};

/*
 * Parse the first record at buf (len bytes). Returns 0 when more bytes are
 * needed, else the bytes looked at, with out filled in (zero for anything
 * that is not a well-formed ClientHello: wolfSSL answers that). Pure: no
 * allocation, no state.
 */
size_t tlshello_parse(const uint8_t *buf, size_t len, struct tlshello *out);

#endif
