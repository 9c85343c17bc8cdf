/*
 * Certificates: load, fingerprint and generate X.509 certificates with
 * wolfSSL. Shared by miscommd (first-start certificate, fingerprints in the
 * log), misctl and the client library (pinning).
 */
#ifndef MC_CERT_H
#define MC_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum cert_key_type {
    CERT_KEY_ECDSA_P256 = 0,
    CERT_KEY_RSA_2048,
    CERT_KEY_RSA_3072,
    CERT_KEY_RSA_4096
};

struct cert_info {
    uint8_t cert_sha256[32]; /* SHA-256 of the certificate's DER */
    uint8_t spki_sha256[32]; /* SHA-256 of the SubjectPublicKeyInfo DER */
    time_t not_after;
    int key_is_rsa;
};

struct cert_request {
    const char *cn, *c, *l, *st, *o, *ou;
    int days;
    enum cert_key_type key_type;
    const char *const *dns; /* NULL-terminated, may be NULL */
    const char *const *ips; /* NULL-terminated textual IPv4/IPv6, may be NULL */
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
/* 1 if the file looks like PKCS#12 (by its .p12/.pfx name or DER content), else 0. */
int cert_is_pkcs12(const char *path);
/* Fingerprints and expiry of a DER certificate. */
__attribute__((warn_unused_result)) int cert_inspect(const uint8_t *der, size_t len,
                                                     struct cert_info *out);
/* Generate a key and a self-signed certificate; both PEM, malloc'd, NUL-terminated. */
__attribute__((warn_unused_result)) int cert_generate(const struct cert_request *req,
                                                      char **cert_pem, char **key_pem);
/* Write data to path atomically (temporary file, fsync, rename) with the given mode. */
__attribute__((warn_unused_result)) int cert_write_file(const char *path, const char *data,
                                                        int mode);

/* "AB:CD:..." (95 chars + NUL) and base64 (44 chars + NUL) of a SHA-256. */
void cert_hex_colon(const uint8_t sha[32], char out[96]);
void cert_base64(const uint8_t sha[32], char out[48]);
/* Parse 64 hex digits, with or without ':' separators. */
__attribute__((warn_unused_result)) int cert_parse_hex(const char *s, uint8_t out[32]);

#endif
