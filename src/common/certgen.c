/*
 * Key and self-signed certificate generation, encrypted PEM keys and
 * PKCS#12 bundles (see certgen.h).
 */
#include "certgen.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "miscomm/error.h"
#include "safefile.h"

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
        /* UTCTime: two digits of year (RFC 5280 4.1.2.5.1), written by hand: gcc
         * rejects strftime's %y (-Wformat-y2k). */
        int m = snprintf(text, sizeof text, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        n = m > 0 && (size_t)m < sizeof text ? (size_t)m : 0;
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
    return safefile_write(path, data, strlen(data), mode, 1);
}
