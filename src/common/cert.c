#include "cert.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "miscomm/error.h"

#define CERT_MAX_FILE (1024 * 1024)

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    char *buf = malloc(CERT_MAX_FILE + 1);
    if (!buf) {
        fclose(f);
        return MC_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, CERT_MAX_FILE, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        free(buf);
        return MC_ERR_IO;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int cert_load_pem_file(const char *path, uint8_t **der, size_t *len)
{
    char *pem;
    size_t pem_len;
    int rc = read_file(path, &pem, &pem_len);
    if (rc < 0)
        return rc;
    uint8_t *out = malloc(pem_len + 1);
    if (!out) {
        free(pem);
        return MC_ERR_NOMEM;
    }
    int n =
        wc_CertPemToDer((const unsigned char *)pem, (int)pem_len, out, (int)pem_len + 1, CERT_TYPE);
    free(pem);
    if (n <= 0) {
        free(out);
        return MC_ERR_CRYPTO;
    }
    *der = out;
    *len = (size_t)n;
    return 0;
}

int cert_is_pkcs12(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && (strcasecmp(path + n - 4, ".p12") == 0 || strcasecmp(path + n - 4, ".pfx") == 0))
        return 1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int c = fgetc(f);
    fclose(f);
    return c == 0x30; /* DER SEQUENCE: not PEM text */
}

void cert_free_key(uint8_t *key_der, size_t key_len)
{
    if (key_der) {
        sodium_memzero(key_der, key_len);
        XFREE(key_der, NULL, DYNAMIC_TYPE_PKCS);
    }
}

int cert_load_pkcs12(const char *path, const char *password, uint8_t **cert_der, size_t *cert_len,
                     uint8_t **key_der, size_t *key_len)
{
    char *data;
    size_t len;
    int rc = read_file(path, &data, &len);
    if (rc < 0)
        return rc;
    rc = MC_ERR_CRYPTO;
    WC_PKCS12 *p12 = wc_PKCS12_new();
    byte *key = NULL, *cert = NULL;
    word32 key_sz = 0, cert_sz = 0;
    WC_DerCertList *ca = NULL;
    if (!p12) {
        rc = MC_ERR_NOMEM;
        goto out;
    }
    if (wc_d2i_PKCS12((const byte *)data, (word32)len, p12) != 0)
        goto out;
    if (wc_PKCS12_parse(p12, password, &key, &key_sz, &cert, &cert_sz, &ca) != 0 || !key || !cert) {
        rc = MC_ERR_AUTH; /* wrong password or no key/certificate inside */
        goto out;
    }
    *cert_der = malloc(cert_sz);
    if (!*cert_der) {
        rc = MC_ERR_NOMEM;
        goto out;
    }
    memcpy(*cert_der, cert, cert_sz);
    *cert_len = cert_sz;
    *key_der = key;
    *key_len = key_sz;
    key = NULL;
    rc = 0;
out:
    while (ca) {
        WC_DerCertList *next = ca->next;
        XFREE(ca->buffer, NULL, DYNAMIC_TYPE_PKCS);
        XFREE(ca, NULL, DYNAMIC_TYPE_PKCS);
        ca = next;
    }
    if (key)
        cert_free_key(key, key_sz);
    XFREE(cert, NULL, DYNAMIC_TYPE_PKCS);
    if (p12)
        wc_PKCS12_free(p12);
    free(data);
    return rc;
}

int cert_inspect(const uint8_t *der, size_t len, struct cert_info *out)
{
    int rc = MC_ERR_CRYPTO;
    unsigned char *spki = NULL;
    WOLFSSL_EVP_PKEY *pkey = NULL;
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, (int)len);
    if (!x)
        goto out;
    if (wc_Sha256Hash(der, (word32)len, out->cert_sha256) != 0)
        goto out;
    pkey = wolfSSL_X509_get_pubkey(x);
    if (!pkey)
        goto out;
    int n = wolfSSL_i2d_PUBKEY(pkey, &spki);
    if (n <= 0 || wc_Sha256Hash(spki, (word32)n, out->spki_sha256) != 0)
        goto out;
    out->key_is_rsa = wolfSSL_EVP_PKEY_base_id(pkey) == EVP_PKEY_RSA;
    const WOLFSSL_ASN1_TIME *na = wolfSSL_X509_get_notAfter(x);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!na || wolfSSL_ASN1_TIME_to_tm(na, &tm) != WOLFSSL_SUCCESS)
        goto out;
    out->not_after = timegm(&tm);
    rc = 0;
out:
    if (spki)
        XFREE(spki, NULL, DYNAMIC_TYPE_OPENSSL);
    wolfSSL_EVP_PKEY_free(pkey);
    wolfSSL_X509_free(x);
    return rc;
}

void cert_hex_colon(const uint8_t sha[32], char out[96])
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 32; i++) {
        out[i * 3] = hex[sha[i] >> 4];
        out[i * 3 + 1] = hex[sha[i] & 15];
        out[i * 3 + 2] = i == 31 ? 0 : ':';
    }
}

void cert_base64(const uint8_t sha[32], char out[48])
{
    word32 n = 48;
    if (Base64_Encode_NoNl(sha, 32, (byte *)out, &n) != 0)
        n = 0;
    out[n < 48 ? n : 47] = 0;
}

int cert_parse_hex(const char *s, uint8_t out[32])
{
    int n = 0, half = -1;
    for (; *s; s++) {
        int v;
        if (*s == ':' || *s == ' ')
            continue;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')
            v = (*s | 0x20) - 'a' + 10;
        else
            return MC_ERR_INVALID_ARG;
        if (half < 0) {
            half = v;
        } else {
            if (n == 32)
                return MC_ERR_INVALID_ARG;
            out[n++] = (uint8_t)(half << 4 | v);
            half = -1;
        }
    }
    return n == 32 && half < 0 ? 0 : MC_ERR_INVALID_ARG;
}

/* GeneralNames for subjectAltName: [2] dNSName and [7] iPAddress entries. */
static int build_alt_names(const struct cert_request *req, uint8_t *out, size_t cap)
{
    uint8_t body[2048];
    size_t n = 0;
    for (const char *const *d = req->dns; d && *d; d++) {
        size_t l = strlen(*d);
        if (l > 127 || n + 2 + l > sizeof body)
            return MC_ERR_INVALID_ARG;
        body[n++] = 0x82;
        body[n++] = (uint8_t)l;
        memcpy(body + n, *d, l);
        n += l;
    }
    for (const char *const *ip = req->ips; ip && *ip; ip++) {
        uint8_t addr[16];
        size_t l;
        if (inet_pton(AF_INET, *ip, addr) == 1)
            l = 4;
        else if (inet_pton(AF_INET6, *ip, addr) == 1)
            l = 16;
        else
            return MC_ERR_INVALID_ARG;
        if (n + 2 + l > sizeof body)
            return MC_ERR_INVALID_ARG;
        body[n++] = 0x87;
        body[n++] = (uint8_t)l;
        memcpy(body + n, addr, l);
        n += l;
    }
    if (n == 0)
        return 0;
    size_t hdr = n < 128 ? 2 : n < 256 ? 3 : 4;
    if (hdr + n > cap)
        return MC_ERR_INVALID_ARG;
    out[0] = 0x30;
    if (n < 128) {
        out[1] = (uint8_t)n;
    } else if (n < 256) {
        out[1] = 0x81;
        out[2] = (uint8_t)n;
    } else {
        out[1] = 0x82;
        out[2] = (uint8_t)(n >> 8);
        out[3] = (uint8_t)n;
    }
    memcpy(out + hdr, body, n);
    return (int)(hdr + n);
}

static void copy_name(char *dst, const char *src)
{
    if (src)
        snprintf(dst, CTC_NAME_SIZE, "%s", src);
}

static char *der_to_pem(const uint8_t *der, int len, int type)
{
    int cap = len * 2 + 256;
    char *pem = malloc((size_t)cap);
    if (!pem)
        return NULL;
    int n = wc_DerToPem(der, (word32)len, (byte *)pem, (word32)cap - 1, type);
    if (n <= 0) {
        free(pem);
        return NULL;
    }
    pem[n] = 0;
    return pem;
}

int cert_generate(const struct cert_request *req, char **cert_pem, char **key_pem)
{
    int rc = MC_ERR_CRYPTO;
    WC_RNG rng;
    ecc_key ecc;
    RsaKey rsa;
    Cert *cert = NULL;
    uint8_t *der = NULL, *kder = NULL;
    int is_rsa = req->key_type != CERT_KEY_ECDSA_P256;
    int have_rng = 0, have_key = 0;
    const size_t der_cap = 16384;

    *cert_pem = *key_pem = NULL;
    if (!req->cn || !req->cn[0] || req->days <= 0)
        return MC_ERR_INVALID_ARG;
    cert = calloc(1, sizeof *cert);
    der = malloc(der_cap);
    kder = malloc(der_cap);
    if (!cert || !der || !kder) {
        rc = MC_ERR_NOMEM;
        goto out;
    }
    if (wc_InitRng(&rng) != 0)
        goto out;
    have_rng = 1;
    void *key;
    int key_type;
    if (is_rsa) {
        int bits = req->key_type == CERT_KEY_RSA_2048   ? 2048
                   : req->key_type == CERT_KEY_RSA_3072 ? 3072
                                                        : 4096;
        if (wc_InitRsaKey(&rsa, NULL) != 0)
            goto out;
        have_key = 1;
        if (wc_MakeRsaKey(&rsa, bits, WC_RSA_EXPONENT, &rng) != 0)
            goto out;
        wc_RsaSetRNG(&rsa, &rng);
        key = &rsa;
        key_type = RSA_TYPE;
    } else {
        if (wc_ecc_init(&ecc) != 0)
            goto out;
        have_key = 1;
        if (wc_ecc_make_key_ex(&rng, 32, &ecc, ECC_SECP256R1) != 0)
            goto out;
        key = &ecc;
        key_type = ECC_TYPE;
    }

    if (wc_InitCert(cert) != 0)
        goto out;
    copy_name(cert->subject.commonName, req->cn);
    copy_name(cert->subject.country, req->c);
    copy_name(cert->subject.locality, req->l);
    copy_name(cert->subject.state, req->st);
    copy_name(cert->subject.org, req->o);
    copy_name(cert->subject.unit, req->ou);
    cert->daysValid = req->days;
    cert->isCA = 0;
    cert->sigType = is_rsa ? CTC_SHA256wRSA : CTC_SHA256wECDSA;
    /* A random positive 16-byte serial number (RFC 5280 section 4.1.2.2). */
    randombytes_buf(cert->serial, 16);
    cert->serial[0] = (uint8_t)((cert->serial[0] & 0x7F) | 0x40);
    cert->serialSz = 16;
    int alt = build_alt_names(req, cert->altNames, sizeof cert->altNames);
    if (alt < 0) {
        rc = alt;
        goto out;
    }
    cert->altNamesSz = alt;
    if (wc_SetSubjectKeyIdFromPublicKey_ex(cert, key_type, key) != 0 ||
        wc_SetAuthKeyIdFromPublicKey_ex(cert, key_type, key) != 0 ||
        wc_SetKeyUsage(cert, is_rsa ? "digitalSignature,keyEncipherment" : "digitalSignature") !=
            0 ||
        wc_SetExtKeyUsage(cert, "serverAuth") != 0)
        goto out;
    if (wc_MakeCert_ex(cert, der, (word32)der_cap, key_type, key, &rng) < 0)
        goto out;
    int der_len =
        wc_SignCert_ex(cert->bodySz, cert->sigType, der, (word32)der_cap, key_type, key, &rng);
    if (der_len <= 0)
        goto out;
    int kder_len = is_rsa ? wc_RsaKeyToDer(&rsa, kder, (word32)der_cap)
                          : wc_EccKeyToDer(&ecc, kder, (word32)der_cap);
    if (kder_len <= 0)
        goto out;
    *cert_pem = der_to_pem(der, der_len, CERT_TYPE);
    *key_pem = der_to_pem(kder, kder_len, is_rsa ? PRIVATEKEY_TYPE : ECC_PRIVATEKEY_TYPE);
    sodium_memzero(kder, (size_t)kder_len);
    if (!*cert_pem || !*key_pem) {
        free(*cert_pem);
        if (*key_pem)
            sodium_memzero(*key_pem, strlen(*key_pem));
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        goto out;
    }
    rc = 0;
out:
    if (have_key) {
        if (is_rsa)
            wc_FreeRsaKey(&rsa);
        else
            wc_ecc_free(&ecc);
    }
    if (have_rng)
        wc_FreeRng(&rng);
    free(cert);
    free(der);
    if (kder)
        sodium_memzero(kder, der_cap);
    free(kder);
    return rc;
}

int cert_write_file(const char *path, const char *data, int mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return MC_ERR_INVALID_ARG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return MC_ERR_IO;
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return MC_ERR_IO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return MC_ERR_IO;
    }
    return 0;
}
