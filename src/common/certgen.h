/*
 * Certificate generation: a new key (ECDSA P-256 or RSA) and a self-signed
 * TLS server certificate, the key as PEM (encrypted with PBES2 when a
 * password is given) and, on request, a PKCS#12 bundle. Used by misctl cert
 * create and by miscommd for its first-start certificate; the client library
 * does not link it.
 *
 * The functions keep the cert_ prefix they had before this file was split
 * out of cert.c, because miscommd calls them by these names.
 */
#ifndef MC_CERTGEN_H
#define MC_CERTGEN_H

#include <stddef.h>
#include <stdint.h>

enum cert_key_type {
    CERT_KEY_ECDSA_P256 = 0,
    CERT_KEY_RSA_2048,
    CERT_KEY_RSA_3072,
    CERT_KEY_RSA_4096
};

struct cert_request {
    const char *cn, *c, *l, *st, *o, *ou;
    /*
     * notAfter - notBefore, in days: notBefore is a day before now (for
     * clients whose clocks are behind), so the certificate is valid for
     * days - 1 days from now (half a day for days = 1).
     */
    int days;
    enum cert_key_type key_type;
    const char *const *dns; /* NULL-terminated, may be NULL */
    const char *const *ips; /* NULL-terminated textual IPv4/IPv6, may be NULL */
};

/* Generate a key and a self-signed certificate; both PEM, malloc'd, NUL-terminated. */
__attribute__((warn_unused_result)) int cert_generate(const struct cert_request *req,
                                                      char **cert_pem, char **key_pem);

/* What cert_generate_ex() produces; release with cert_output_free(). */
struct cert_output {
    char *cert_pem;
    char *key_pem; /* "ENCRYPTED PRIVATE KEY" when a password was given */
    uint8_t *p12;  /* PKCS#12 bundle, DER, when asked for */
    size_t p12_len;
};

/* PBKDF2-HMAC-SHA256 iterations for encrypted PEM keys. */
#define CERT_KDF_ITERATIONS 200000
/*
 * PKCS#12 KDF iterations: wolfSSL 5.5.4 miscounts the length of an iteration
 * count above 32767 when it writes the bundle, so stay below.
 */
#define CERT_P12_ITERATIONS 30000

/*
 * Like cert_generate(), and with a password: the key PEM is PKCS#8 v2
 * (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC) and, when want_p12 is set, a
 * PKCS#12 bundle of the certificate and key is made as well (wolfSSL 5.5.4
 * can only write PKCS#12 with pbeWithSHAAnd3-KeyTripleDES-CBC, which OpenSSL 3
 * still reads without -legacy; the MAC is HMAC-SHA256). want_p12 needs a
 * password.
 */
__attribute__((warn_unused_result)) int cert_generate_ex(const struct cert_request *req,
                                                         const char *password, int want_p12,
                                                         struct cert_output *out);
void cert_output_free(struct cert_output *out);
/* Encrypt a DER private key (PKCS#1, SEC1 or PKCS#8) into "ENCRYPTED PRIVATE KEY" PEM. */
__attribute__((warn_unused_result)) int cert_encrypt_key(const uint8_t *key_der, size_t key_len,
                                                         const char *password, char **pem);
/*
 * Write a NUL-terminated text to path atomically, replacing an existing file
 * (safefile_write() with replace set); kept for miscommd's first-start
 * certificate.
 */
__attribute__((warn_unused_result)) int cert_write_file(const char *path, const char *data,
                                                        int mode);

#endif
