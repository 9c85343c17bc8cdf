/*
 * Certificates: load, inspect and fingerprint X.509 certificates with
 * wolfSSL, and parse the pins users give. Shared by miscommd (fingerprints in
 * the log), misctl and the client library (pinning). Generation is in
 * certgen.h, this host's names for default SANs in hostnames.h.
 */
#ifndef MC_CERT_H
#define MC_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cert_info {
    uint8_t cert_sha256[32]; /* SHA-256 of the certificate's DER */
    uint8_t spki_sha256[32]; /* SHA-256 of the SubjectPublicKeyInfo DER */
    time_t not_before;
    time_t not_after;
    int key_is_rsa;
};

/* Read the first certificate of a PEM file into newly allocated DER. */
__attribute__((warn_unused_result)) int cert_load_pem_file(const char *path, uint8_t **der,
                                                           size_t *len);
/*
 * Read a PKCS#12 file protected by password: the certificate and the private
 * key as newly allocated DER (the key buffer is wiped by cert_free_key()).
 */
__attribute__((warn_unused_result)) int cert_load_pkcs12(const char *path, const char *password,
                                                         uint8_t **cert_der, size_t *cert_len,
                                                         uint8_t **key_der, size_t *key_len);
void cert_free_key(uint8_t *key_der, size_t key_len);
/*
 * What a cert_load_pkcs12() failure means, for a message about path: a
 * bundle encrypted with RC2 (OpenSSL's -legacy), which wolfSSL cannot open,
 * is told apart from a wrong password.
 */
const char *cert_pkcs12_strerror(const char *path, int rc);
/* 1 if the file looks like PKCS#12 (by its .p12/.pfx name or DER content), else 0. */
int cert_is_pkcs12(const char *path);
/* Fingerprints and expiry of a DER certificate. */
__attribute__((warn_unused_result)) int cert_inspect(const uint8_t *der, size_t len,
                                                     struct cert_info *out);

/*
 * The nextUpdate of the first CRL of a PEM (or DER) file. MC_ERR_CRYPTO when
 * the file holds no CRL or one without nextUpdate.
 */
__attribute__((warn_unused_result)) int cert_crl_next_update(const char *path, time_t *next_update);

/* "AB:CD:..." (95 chars + NUL) and base64 (44 chars + NUL) of a SHA-256. */
void cert_hex_colon(const uint8_t sha[32], char out[96]);
void cert_base64(const uint8_t sha[32], char out[48]);
/* Parse 64 hex digits, with or without ':' separators. */
__attribute__((warn_unused_result)) int cert_parse_hex(const char *s, uint8_t out[32]);
/*
 * Parse a SHA-256 fingerprint in any form miscomm prints: 64 hex digits with
 * or without ':' separators, or the base64 pin "sha256/BASE64=" (the
 * "sha256/" may be left out) that miscommd logs as spki_pin=.
 */
__attribute__((warn_unused_result)) int cert_parse_pin(const char *s, uint8_t out[32]);
/*
 * 1 when s can be a dNSName: labels of 1 to 63 letters, digits and inner
 * hyphens, 253 characters at most, "*." allowed as the first label.
 */
int cert_is_host_name(const char *s);

/*
 * Everything misctl shows about a certificate. Names are in the
 * certificate's order as "C=FR, O=Example, CN=host"; the serial is upper-case
 * hex without separators, as openssl x509 -serial prints it.
 */
#define CERT_MAX_SAN 64
struct cert_details {
    char subject[1024];
    char issuer[1024];
    char cn[256];
    char serial[132];
    time_t not_before, not_after;
    char key_type[32]; /* "ECDSA P-256", "RSA", ... */
    int key_bits;
    size_t n_dns, n_ip;
    char dns[CERT_MAX_SAN][256];
    char ip[CERT_MAX_SAN][48];
    struct cert_info info;
};

/*
 * Replace the control characters of s (C0: bytes below 0x20, and DEL) with
 * '?', in place, so that a name can be printed to a terminal or a log.
 */
void cert_printable(char *s);
/*
 * Subject, issuer, serial, validity, key, SANs and fingerprints of a DER
 * certificate. The names (subject, issuer, cn, dns) went through
 * cert_printable(): a control character in the certificate reads '?'.
 */
__attribute__((warn_unused_result)) int cert_describe(const uint8_t *der, size_t len,
                                                      struct cert_details *out);

#endif
