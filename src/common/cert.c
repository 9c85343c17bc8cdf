#include "cert.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
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

/*
 * One DER element at p: its tag, and where its contents start and end.
 * Only definite lengths up to 4 bytes, as X.509 uses.
 */
static int der_element(const uint8_t *p, const uint8_t *end, uint8_t *tag, const uint8_t **body,
                       const uint8_t **next)
{
    if (end - p < 2)
        return MC_ERR_CRYPTO;
    *tag = p[0];
    size_t len = p[1];
    const uint8_t *q = p + 2;
    if (len & 0x80) {
        size_t n = len & 0x7F;
        if (n == 0 || n > 4 || (size_t)(end - q) < n)
            return MC_ERR_CRYPTO;
        len = 0;
        while (n--)
            len = (len << 8) | *q++;
    }
    if ((size_t)(end - q) < len)
        return MC_ERR_CRYPTO;
    *body = q;
    *next = q + len;
    return 0;
}

/*
 * The SubjectPublicKeyInfo element of a certificate, as it is encoded in
 * it: the bytes that standard SPKI pins (HPKP, curl --pinnedpubkey, Android
 * pin-sets) hash.
 */
static int cert_find_spki(const uint8_t *der, size_t len, const uint8_t **spki, size_t *spki_len)
{
    const uint8_t *end = der + len, *body, *next, *tbs_end;
    uint8_t tag;
    if (der_element(der, end, &tag, &body, &next) < 0 || tag != 0x30) /* Certificate */
        return MC_ERR_CRYPTO;
    if (der_element(body, next, &tag, &body, &tbs_end) < 0 || tag != 0x30) /* tbsCertificate */
        return MC_ERR_CRYPTO;
    const uint8_t *p = body;
    if (der_element(p, tbs_end, &tag, &body, &next) < 0)
        return MC_ERR_CRYPTO;
    if (tag == 0xA0) /* [0] version */
        p = next;
    /* serialNumber, signature, issuer, validity, subject */
    for (int i = 0; i < 5; i++) {
        if (der_element(p, tbs_end, &tag, &body, &next) < 0)
            return MC_ERR_CRYPTO;
        p = next;
    }
    if (der_element(p, tbs_end, &tag, &body, &next) < 0 || tag != 0x30)
        return MC_ERR_CRYPTO;
    *spki = p;
    *spki_len = (size_t)(next - p);
    return 0;
}

int cert_inspect(const uint8_t *der, size_t len, struct cert_info *out)
{
    int rc = MC_ERR_CRYPTO;
    const uint8_t *spki;
    size_t spki_len;
    WOLFSSL_EVP_PKEY *pkey = NULL;
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, (int)len);
    if (!x)
        goto out;
    if (wc_Sha256Hash(der, (word32)len, out->cert_sha256) != 0)
        goto out;
    if (cert_find_spki(der, len, &spki, &spki_len) < 0 ||
        wc_Sha256Hash(spki, (word32)spki_len, out->spki_sha256) != 0)
        goto out;
    pkey = wolfSSL_X509_get_pubkey(x);
    if (!pkey)
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

int cert_parse_pin(const char *s, uint8_t out[32])
{
    if (strncasecmp(s, "sha256/", 7) == 0) {
        s += 7;
    } else if (strlen(s) != 44) {
        return cert_parse_hex(s, out);
    }
    /* 32 bytes are 44 base64 characters, the last one '='. */
    uint8_t raw[33];
    word32 n = sizeof raw;
    if (strlen(s) != 44 || s[43] != '=' || Base64_Decode((const byte *)s, 44, raw, &n) != 0 ||
        n != 32)
        return MC_ERR_INVALID_ARG;
    memcpy(out, raw, 32);
    return 0;
}

int cert_is_host_name(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return 0;
    if (strncmp(s, "*.", 2) == 0 && s[2])
        s += 2; /* a wildcard only as the whole first label */
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || (*p == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[strlen(s) - 1] != '-';
}

/*
 * Validity as explicit dates rather than wolfSSL's daysValid, which counts
 * from now after backdating notBefore a day, so that the certificate spans
 * one more day than asked. notBefore keeps a day's margin for clients whose
 * clocks are behind (half the span for a one-day certificate, so that it is
 * valid at all); notAfter is exactly days later. UTCTime through 2049 and
 * GeneralizedTime from 2050 (RFC 5280 section 4.1.2.5).
 */
static int set_date(uint8_t *out, int *out_len, time_t t)
{
    struct tm tm;
    char text[20];
    if (!gmtime_r(&t, &tm))
        return MC_ERR_INVALID_ARG;
    int year = tm.tm_year + 1900;
    size_t n;
    if (year >= 1950 && year < 2050) {
        out[0] = ASN_UTC_TIME;
        n = strftime(text, sizeof text, "%y%m%d%H%M%SZ", &tm);
    } else {
        out[0] = ASN_GENERALIZED_TIME;
        n = strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &tm);
    }
    if (n != (out[0] == ASN_UTC_TIME ? 13u : 15u))
        return MC_ERR_INVALID_ARG;
    out[1] = (uint8_t)n;
    memcpy(out + 2, text, n);
    *out_len = (int)n + 2;
    return 0;
}

static int set_validity(Cert *cert, time_t now, int days)
{
    time_t span = (time_t)days * 86400;
    time_t margin = span >= 2 * 86400 ? 86400 : span / 2;
    time_t before = now - margin;
    int rc = set_date(cert->beforeDate, &cert->beforeDateSz, before);
    if (rc == 0)
        rc = set_date(cert->afterDate, &cert->afterDateSz, before + span);
    /* Also right should a wolfSSL build ignore the explicit dates. */
    cert->daysValid = days - (int)(margin / 86400);
    return rc;
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

/*
 * DER writer for the few fixed structures built here. Each piece is appended
 * to a bounded buffer; der_wrap() then turns the bytes from 'mark' to the end
 * into the body of one TLV by moving them right past the new header.
 */
struct der_buf {
    uint8_t *p;
    size_t len, cap;
    int err;
};

static void der_put(struct der_buf *b, const void *data, size_t n)
{
    if (b->err || n > b->cap - b->len) {
        b->err = 1;
        return;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void der_wrap(struct der_buf *b, size_t mark, uint8_t tag)
{
    if (b->err)
        return;
    size_t n = b->len - mark;
    uint8_t hdr[6];
    size_t h = 0;
    hdr[h++] = tag;
    if (n < 0x80) {
        hdr[h++] = (uint8_t)n;
    } else if (n < 0x100) {
        hdr[h++] = 0x81;
        hdr[h++] = (uint8_t)n;
    } else if (n < 0x10000) {
        hdr[h++] = 0x82;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else {
        b->err = 1;
        return;
    }
    if (h > b->cap - b->len) {
        b->err = 1;
        return;
    }
    memmove(b->p + mark + h, b->p + mark, n);
    memcpy(b->p + mark, hdr, h);
    b->len += h;
}

static void der_octets(struct der_buf *b, const uint8_t *data, size_t n)
{
    size_t mark = b->len;
    der_put(b, data, n);
    der_wrap(b, mark, 0x04);
}

static void der_uint(struct der_buf *b, uint32_t v)
{
    uint8_t tmp[5];
    size_t n = 0;
    int started = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        uint8_t byte = (uint8_t)(v >> shift);
        if (!started && byte == 0 && shift > 0)
            continue;
        if (!started && (byte & 0x80))
            tmp[n++] = 0; /* keep the INTEGER positive */
        started = 1;
        tmp[n++] = byte;
    }
    size_t mark = b->len;
    der_put(b, tmp, n);
    der_wrap(b, mark, 0x02);
}

/* PrivateKeyInfo (PKCS#8) from a PKCS#1, SEC1 or PKCS#8 DER key. */
static int key_to_pkcs8(const uint8_t *key, size_t key_len, uint8_t **out, word32 *out_len)
{
    int rc = MC_ERR_CRYPTO;
    uint8_t *trad = malloc(key_len);
    uint8_t *p8 = NULL;
    if (!trad)
        return MC_ERR_NOMEM;
    memcpy(trad, key, key_len);
    word32 idx = 0;
    int tlen = (int)key_len;
    /* Already PKCS#8: strip to the traditional key so its type can be found. */
    if (wc_GetPkcs8TraditionalOffset(trad, &idx, (word32)key_len) >= 0) {
        tlen = (int)(key_len - idx);
        memmove(trad, trad + idx, (size_t)tlen);
    }
    const uint8_t *curve = NULL;
    word32 curve_len = 0;
    int algo;
    word32 cap = 0;
    RsaKey rsa;
    ecc_key ecc;
    idx = 0;
    if (wc_InitRsaKey(&rsa, NULL) != 0)
        goto out;
    int is_rsa = wc_RsaPrivateKeyDecode(trad, &idx, &rsa, (word32)tlen) == 0;
    wc_FreeRsaKey(&rsa);
    if (is_rsa) {
        algo = RSAk;
    } else {
        idx = 0;
        if (wc_ecc_init(&ecc) != 0)
            goto out;
        int ok = wc_EccPrivateKeyDecode(trad, &idx, &ecc, (word32)tlen) == 0 &&
                 wc_ecc_get_oid(ecc.dp->oidSum, &curve, &curve_len) > 0;
        wc_ecc_free(&ecc);
        if (!ok)
            goto out;
        algo = ECDSAk;
    }
    if (wc_CreatePKCS8Key(NULL, &cap, trad, (word32)tlen, algo, curve, curve_len) != LENGTH_ONLY_E)
        goto out;
    p8 = malloc(cap);
    if (!p8) {
        rc = MC_ERR_NOMEM;
        goto out;
    }
    int n = wc_CreatePKCS8Key(p8, &cap, trad, (word32)tlen, algo, curve, curve_len);
    if (n <= 0)
        goto out;
    *out = p8;
    *out_len = (word32)n;
    p8 = NULL;
    rc = 0;
out:
    sodium_memzero(trad, key_len);
    free(trad);
    if (p8) {
        sodium_memzero(p8, cap);
        free(p8);
    }
    return rc;
}

/*
 * EncryptedPrivateKeyInfo (RFC 5958) with PBES2 (RFC 8018): PBKDF2 with
 * HMAC-SHA256 and a 16-byte salt, AES-256-CBC with PKCS#7 padding. Written
 * by hand because wc_CreateEncryptedPKCS8Key() in wolfSSL 5.5.4 can only use
 * HMAC-SHA1, an 8-byte salt and fewer than 32768 iterations; wolfSSL's PEM
 * loader and OpenSSL both read this form.
 */
int cert_encrypt_key(const uint8_t *key_der, size_t key_len, const char *password, char **pem)
{
    static const uint8_t oid_pbes2[] = {0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                        0xF7, 0x0D, 0x01, 0x05, 0x0D};
    static const uint8_t oid_pbkdf2[] = {0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                         0xF7, 0x0D, 0x01, 0x05, 0x0C};
    static const uint8_t alg_hmac_sha256[] = {0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86, 0x48,
                                              0x86, 0xF7, 0x0D, 0x02, 0x09, 0x05, 0x00};
    static const uint8_t oid_aes256_cbc[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                             0x65, 0x03, 0x04, 0x01, 0x2A};
    int rc = MC_ERR_CRYPTO;
    uint8_t *p8 = NULL, *der = NULL;
    word32 p8_len = 0;
    uint8_t salt[16], iv[16], kek[32];
    Aes aes;
    int have_aes = 0;
    size_t cap = 0;

    *pem = NULL;
    if (!password || !password[0])
        return MC_ERR_INVALID_ARG;
    rc = key_to_pkcs8(key_der, key_len, &p8, &p8_len);
    if (rc < 0)
        return rc;
    rc = MC_ERR_CRYPTO;
    size_t pad = 16 - p8_len % 16;
    size_t ct_len = p8_len + pad;
    cap = ct_len + 256;
    der = malloc(cap);
    uint8_t *ct = malloc(ct_len);
    if (!der || !ct) {
        free(ct);
        rc = MC_ERR_NOMEM;
        goto out;
    }
    memcpy(ct, p8, p8_len);
    memset(ct + p8_len, (int)pad, pad);
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(iv, sizeof iv);
    int ok = wc_PBKDF2(kek, (const byte *)password, (int)strlen(password), salt, sizeof salt,
                       CERT_KDF_ITERATIONS, sizeof kek, WC_SHA256) == 0 &&
             wc_AesInit(&aes, NULL, INVALID_DEVID) == 0;
    have_aes = ok;
    ok = ok && wc_AesSetKey(&aes, kek, sizeof kek, iv, AES_ENCRYPTION) == 0 &&
         wc_AesCbcEncrypt(&aes, ct, ct, (word32)ct_len) == 0;
    if (!ok) {
        sodium_memzero(ct, ct_len);
        free(ct);
        goto out;
    }
    struct der_buf b = {der, 0, cap, 0};
    size_t epki = b.len, alg, params, kdf, kdf_params, enc;
    alg = b.len;
    der_put(&b, oid_pbes2, sizeof oid_pbes2);
    params = b.len;
    kdf = b.len;
    der_put(&b, oid_pbkdf2, sizeof oid_pbkdf2);
    kdf_params = b.len;
    der_octets(&b, salt, sizeof salt);
    der_uint(&b, CERT_KDF_ITERATIONS);
    der_put(&b, alg_hmac_sha256, sizeof alg_hmac_sha256);
    der_wrap(&b, kdf_params, 0x30);
    der_wrap(&b, kdf, 0x30);
    enc = b.len;
    der_put(&b, oid_aes256_cbc, sizeof oid_aes256_cbc);
    der_octets(&b, iv, sizeof iv);
    der_wrap(&b, enc, 0x30);
    der_wrap(&b, params, 0x30);
    der_wrap(&b, alg, 0x30);
    der_octets(&b, ct, ct_len);
    der_wrap(&b, epki, 0x30);
    free(ct); /* ciphertext only */
    if (b.err)
        goto out;
    *pem = der_to_pem(der, (int)b.len, PKCS8_ENC_PRIVATEKEY_TYPE);
    rc = *pem ? 0 : MC_ERR_CRYPTO;
out:
    if (have_aes)
        wc_AesFree(&aes);
    sodium_memzero(kek, sizeof kek);
    if (p8) {
        sodium_memzero(p8, p8_len);
        free(p8);
    }
    free(der);
    return rc;
}

int cert_generate(const struct cert_request *req, char **cert_pem, char **key_pem)
{
    struct cert_output o;
    int rc = cert_generate_ex(req, NULL, 0, &o);
    *cert_pem = o.cert_pem;
    *key_pem = o.key_pem;
    return rc;
}

void cert_output_free(struct cert_output *out)
{
    free(out->cert_pem);
    if (out->key_pem)
        sodium_memzero(out->key_pem, strlen(out->key_pem));
    free(out->key_pem);
    free(out->p12);
    memset(out, 0, sizeof *out);
}

/* A PKCS#12 bundle of a certificate and its traditional DER key. */
static int make_pkcs12(const char *password, uint8_t *key, int key_len, uint8_t *cert, int cert_len,
                       struct cert_output *out)
{
    char name[] = "miscomm";
    /* wolfSSL 5.5.4's wc_PKCS12_create() takes a non-const password. */
    char *pw = strdup(password);
    if (!pw)
        return MC_ERR_NOMEM;
    WC_PKCS12 *p12 = wc_PKCS12_create(pw, (word32)strlen(pw), name, key, (word32)key_len, cert,
                                      (word32)cert_len, NULL, PBE_SHA1_DES3, PBE_SHA1_DES3,
                                      CERT_P12_ITERATIONS, CERT_P12_ITERATIONS, 0, NULL);
    sodium_memzero(pw, strlen(pw));
    free(pw);
    if (!p12)
        return MC_ERR_CRYPTO;
    byte *der = NULL;
    int der_len = 0;
    int rc = MC_ERR_CRYPTO;
    int n = wc_i2d_PKCS12(p12, &der, &der_len);
    if (n > 0 && der_len <= 0)
        der_len = n;
    if (n > 0 && der) {
        out->p12 = malloc((size_t)der_len);
        if (out->p12) {
            memcpy(out->p12, der, (size_t)der_len);
            out->p12_len = (size_t)der_len;
            rc = 0;
        } else {
            rc = MC_ERR_NOMEM;
        }
    }
    XFREE(der, NULL, DYNAMIC_TYPE_PKCS);
    wc_PKCS12_free(p12);
    return rc;
}

int cert_generate_ex(const struct cert_request *req, const char *password, int want_p12,
                     struct cert_output *out)
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

    memset(out, 0, sizeof *out);
    if (!req->cn || !req->cn[0] || req->days <= 0)
        return MC_ERR_INVALID_ARG;
    if (want_p12 && (!password || !password[0]))
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
    rc = set_validity(cert, time(NULL), req->days);
    if (rc < 0)
        goto out;
    rc = MC_ERR_CRYPTO;
    cert->isCA = 0;
    /* Write basicConstraints CA:FALSE explicitly rather than leaving it out. */
    cert->basicConstSet = 1;
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
    rc = MC_ERR_CRYPTO;
    out->cert_pem = der_to_pem(der, der_len, CERT_TYPE);
    if (!out->cert_pem)
        goto out;
    if (password) {
        rc = cert_encrypt_key(kder, (size_t)kder_len, password, &out->key_pem);
        if (rc < 0)
            goto out;
    } else {
        out->key_pem = der_to_pem(kder, kder_len, is_rsa ? PRIVATEKEY_TYPE : ECC_PRIVATEKEY_TYPE);
        if (!out->key_pem)
            goto out;
    }
    if (want_p12) {
        rc = make_pkcs12(password, kder, kder_len, der, der_len, out);
        if (rc < 0)
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
    if (rc < 0)
        cert_output_free(out);
    return rc;
}

int cert_write_file(const char *path, const char *data, int mode)
{
    return cert_write_data(path, data, strlen(data), mode, 1);
}

int cert_write_data(const char *path, const void *data, size_t len, int mode, int replace)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return MC_ERR_INVALID_ARG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return MC_ERR_IO;
    const uint8_t *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return MC_ERR_IO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return MC_ERR_IO;
    }
    /* link() fails with EEXIST instead of replacing: no window for a race. */
    if (!replace) {
        int rc = link(tmp, path) == 0 ? 0 : errno == EEXIST ? MC_ERR_EXISTS : MC_ERR_IO;
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return MC_ERR_IO;
    }
    return 0;
}

static void name_text(WOLFSSL_X509_NAME *name, char *out, size_t cap, char *cn, size_t cn_cap)
{
    size_t used = 0;
    out[0] = 0;
    int n = name ? wolfSSL_X509_NAME_entry_count(name) : 0;
    for (int i = 0; i < n; i++) {
        WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(name, i);
        WOLFSSL_ASN1_STRING *d = e ? wolfSSL_X509_NAME_ENTRY_get_data(e) : NULL;
        if (!d)
            continue;
        int nid = wolfSSL_OBJ_obj2nid(wolfSSL_X509_NAME_ENTRY_get_object(e));
        const char *sn = wolfSSL_OBJ_nid2sn(nid);
        const unsigned char *v = wolfSSL_ASN1_STRING_data(d);
        int vlen = wolfSSL_ASN1_STRING_length(d);
        if (!v || vlen < 0)
            continue;
        int w = snprintf(out + used, cap - used, "%s%s=%.*s", used ? ", " : "", sn ? sn : "?", vlen,
                         (const char *)v);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
        if (nid == NID_commonName && cn)
            snprintf(cn, cn_cap, "%.*s", vlen, (const char *)v);
    }
}

static int asn1_time(const WOLFSSL_ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS)
        return MC_ERR_CRYPTO;
    *out = timegm(&tm);
    return 0;
}

int cert_describe(const uint8_t *der, size_t len, struct cert_details *out)
{
    int rc;
    WOLFSSL_EVP_PKEY *pkey = NULL;
    WOLFSSL_STACK *alt = NULL;
    memset(out, 0, sizeof *out);
    rc = cert_inspect(der, len, &out->info);
    if (rc < 0)
        return rc;
    rc = MC_ERR_CRYPTO;
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, (int)len);
    if (!x)
        goto out;
    name_text(wolfSSL_X509_get_subject_name(x), out->subject, sizeof out->subject, out->cn,
              sizeof out->cn);
    name_text(wolfSSL_X509_get_issuer_name(x), out->issuer, sizeof out->issuer, NULL, 0);
    unsigned char serial[64];
    int serial_len = (int)sizeof serial;
    if (wolfSSL_X509_get_serial_number(x, serial, &serial_len) != WOLFSSL_SUCCESS)
        goto out;
    for (int i = 0; i < serial_len; i++)
        snprintf(out->serial + 2 * i, 3, "%02X", serial[i]);
    if (asn1_time(wolfSSL_X509_get_notBefore(x), &out->not_before) < 0 ||
        asn1_time(wolfSSL_X509_get_notAfter(x), &out->not_after) < 0)
        goto out;
    pkey = wolfSSL_X509_get_pubkey(x);
    if (!pkey)
        goto out;
    out->key_bits = wolfSSL_EVP_PKEY_bits(pkey);
    int id = wolfSSL_EVP_PKEY_base_id(pkey);
    if (id == EVP_PKEY_RSA)
        snprintf(out->key_type, sizeof out->key_type, "RSA");
    else if (id == EVP_PKEY_EC && (out->key_bits == 256 || out->key_bits == 384))
        snprintf(out->key_type, sizeof out->key_type, "ECDSA P-%d", out->key_bits);
    else if (id == EVP_PKEY_EC && out->key_bits == 521)
        snprintf(out->key_type, sizeof out->key_type, "ECDSA P-521");
    else if (id == EVP_PKEY_EC)
        snprintf(out->key_type, sizeof out->key_type, "ECDSA");
    else
        snprintf(out->key_type, sizeof out->key_type, "unknown");
    alt = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = alt ? wolfSSL_sk_GENERAL_NAME_num(alt) : 0;
    /* wolfSSL 5.5.4 pushes each name at the front: walk back for the certificate's order. */
    for (int i = n - 1; i >= 0; i--) {
        WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(alt, i);
        if (!g)
            continue;
        if (g->type == ASN_DNS_TYPE && g->d.dNSName && out->n_dns < CERT_MAX_SAN) {
            snprintf(out->dns[out->n_dns++], sizeof out->dns[0], "%.*s",
                     wolfSSL_ASN1_STRING_length(g->d.dNSName),
                     (const char *)wolfSSL_ASN1_STRING_data(g->d.dNSName));
        } else if (g->type == ASN_IP_TYPE && g->d.iPAddress && out->n_ip < CERT_MAX_SAN) {
            int l = wolfSSL_ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *a = wolfSSL_ASN1_STRING_data(g->d.iPAddress);
            if (a && (l == 4 || l == 16) &&
                inet_ntop(l == 4 ? AF_INET : AF_INET6, a, out->ip[out->n_ip], sizeof out->ip[0]))
                out->n_ip++;
        }
    }
    rc = 0;
out:
    if (alt)
        wolfSSL_GENERAL_NAMES_free(alt);
    wolfSSL_EVP_PKEY_free(pkey);
    wolfSSL_X509_free(x);
    return rc;
}

static int names_add(char (*list)[256], size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp(list[i], s) == 0)
            return 0;
    if (*n == CERT_MAX_SAN)
        return MC_ERR_INVALID_ARG;
    snprintf(list[(*n)++], 256, "%s", s);
    return 0;
}

int cert_host_names(struct cert_names *out)
{
    char host[256] = "";
    memset(out, 0, sizeof *out);
    if (gethostname(host, sizeof host - 1) == 0 && host[0])
        (void)names_add(out->dns, &out->n_dns, host);
    (void)names_add(out->dns, &out->n_dns, "localhost");
    char ips[CERT_MAX_SAN][256];
    size_t nips = 0;
    (void)names_add(ips, &nips, "127.0.0.1");
    (void)names_add(ips, &nips, "::1");
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
            char text[INET6_ADDRSTRLEN];
            if (!i->ifa_addr)
                continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                const struct in_addr *a =
                    &((const struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
                const uint8_t *b = (const uint8_t *)&a->s_addr;
                if (b[0] == 169 && b[1] == 254)
                    continue; /* link-local */
                inet_ntop(AF_INET, a, text, sizeof text);
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const struct in6_addr *a =
                    &((const struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
                if (IN6_IS_ADDR_LINKLOCAL(a))
                    continue;
                inet_ntop(AF_INET6, a, text, sizeof text);
            } else {
                continue;
            }
            (void)names_add(ips, &nips, text);
        }
        freeifaddrs(ifa);
    }
    for (size_t i = 0; i < nips; i++)
        snprintf(out->ip[out->n_ip++], sizeof out->ip[0], "%s", ips[i]);
    return 0;
}

int cert_default_sans(const char *cn, struct cert_sans *out)
{
    struct cert_names *host = malloc(sizeof *host);
    if (!host)
        return MC_ERR_NOMEM;
    memset(out, 0, sizeof *out);
    struct cert_names *names = &out->names;
    int rc = cert_host_names(host);
    if (rc < 0)
        goto out;
    /* The common name first: clients match names against the SANs only. */
    if (cn && cn[0]) {
        uint8_t addr[16];
        char text[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET, cn, addr) == 1)
            inet_ntop(AF_INET, addr, text, sizeof text);
        else if (inet_pton(AF_INET6, cn, addr) == 1)
            inet_ntop(AF_INET6, addr, text, sizeof text);
        else
            text[0] = 0;
        if (text[0])
            snprintf(names->ip[names->n_ip++], sizeof names->ip[0], "%s", text);
        else if (cert_is_host_name(cn))
            (void)names_add(names->dns, &names->n_dns, cn);
    }
    for (size_t i = 0; i < host->n_dns; i++)
        (void)names_add(names->dns, &names->n_dns, host->dns[i]);
    for (size_t i = 0; i < host->n_ip && names->n_ip < CERT_MAX_SAN; i++) {
        int seen = 0;
        for (size_t j = 0; j < names->n_ip; j++)
            seen |= strcasecmp(names->ip[j], host->ip[i]) == 0;
        if (!seen)
            snprintf(names->ip[names->n_ip++], sizeof names->ip[0], "%s", host->ip[i]);
    }
    for (size_t i = 0; i < names->n_dns; i++)
        out->dns[i] = names->dns[i];
    for (size_t i = 0; i < names->n_ip; i++)
        out->ips[i] = names->ip[i];
out:
    free(host);
    return rc;
}
