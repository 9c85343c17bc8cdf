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

/* Addresses and names a generated certificate should carry by default. */
struct cert_names {
    size_t n_dns, n_ip;
    char dns[CERT_MAX_SAN][256];
    char ip[CERT_MAX_SAN][48];
};

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
/* Subject, issuer, serial, validity, key, SANs and fingerprints of a DER certificate. */
__attribute__((warn_unused_result)) int cert_describe(const uint8_t *der, size_t len,
                                                      struct cert_details *out);
/*
 * The names and addresses that reach this host, for the SANs of a generated
 * certificate: DNS names the host name (gethostname(), left out when it is
 * empty) and "localhost"; IP addresses 127.0.0.1, ::1 and then every address
 * of every interface (getifaddrs()) except the link-local ones (169.254.0.0/16
 * and fe80::/10), in textual form (inet_ntop). No duplicates (compared
 * without case), at most CERT_MAX_SAN of each; addresses beyond that are left
 * out. When the interfaces cannot be listed the result still holds the fixed
 * names and loopback addresses. Returns 0.
 */
__attribute__((warn_unused_result)) int cert_host_names(struct cert_names *out);

/*
 * The SAN lists cert_generate() should get when the user gave none, ready for
 * struct cert_request's dns and ips: the common name first (as a DNS name
 * when cert_is_host_name() accepts it, as an IP address when it is one, else
 * left out), then everything cert_host_names() lists. dns and ips are
 * NULL-terminated and point into names, so the structure must not be copied;
 * it is about 20 KB: allocate it rather than putting it on a thread's stack.
 * 0, or MC_ERR_NOMEM.
 *
 *     struct cert_sans *sans = malloc(sizeof *sans);
 *     if (!sans || cert_default_sans(req.cn, sans) < 0) ... ;
 *     req.dns = sans->dns;
 *     req.ips = sans->ips;
 *     rc = cert_generate(&req, &cert_pem, &key_pem);
 *     free(sans);
 */
struct cert_sans {
    struct cert_names names;
    const char *dns[CERT_MAX_SAN + 1];
    const char *ips[CERT_MAX_SAN + 1];
};
__attribute__((warn_unused_result)) int cert_default_sans(const char *cn, struct cert_sans *out);
/*
 * Write len bytes to path (temporary file, fsync, then rename, or link when
 * replace is 0 so that an existing file is never replaced: MC_ERR_EXISTS).
 */
__attribute__((warn_unused_result)) int cert_write_data(const char *path, const void *data,
                                                        size_t len, int mode, int replace);

#endif
