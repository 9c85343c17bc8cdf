#include "cert.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
 * The PKCS#12 password-based encryptions with RC2 (RFC 7292 appendix C):
 * pbeWithSHAAnd128BitRC2-CBC and pbeWithSHAAnd40BitRC2-CBC, as DER OIDs.
 */
static const uint8_t pkcs12_rc2_oids[][12] = {
    {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x05},
    {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06},
};

const char *cert_pkcs12_strerror(const char *path, int rc)
{
    if (rc != MC_ERR_AUTH && rc != MC_ERR_CRYPTO)
        return mc_strerror(rc);
    char *data;
    size_t len;
    int rc2 = 0;
    if (read_file(path, &data, &len) == 0) {
        for (size_t k = 0; k < sizeof pkcs12_rc2_oids / sizeof pkcs12_rc2_oids[0]; k++)
            for (size_t i = 0; !rc2 && i + sizeof pkcs12_rc2_oids[k] <= len; i++)
                rc2 = memcmp(data + i, pkcs12_rc2_oids[k], sizeof pkcs12_rc2_oids[k]) == 0;
        free(data);
    }
    if (rc2)
        return "unsupported PKCS#12 encryption (RC2); re-export with AES or 3DES "
               "(openssl pkcs12 -export without -legacy)";
    return rc == MC_ERR_AUTH ? "wrong password, or not a PKCS#12 bundle with a key and certificate"
                             : "not a PKCS#12 bundle";
}

int cert_crl_next_update(const char *path, time_t *next_update)
{
    char *pem;
    size_t pem_len;
    int rc = read_file(path, &pem, &pem_len);
    if (rc < 0)
        return rc;
    rc = MC_ERR_CRYPTO;
    DerBuffer *der = NULL;
    WOLFSSL_X509_CRL *crl = NULL;
    /* PEM, or else DER as it is. */
    if (wc_PemToDer((const unsigned char *)pem, (long)pem_len, CRL_TYPE, &der, NULL, NULL, NULL) ==
        0)
        crl = wolfSSL_d2i_X509_CRL(NULL, der->buffer, (int)der->length);
    else
        crl = wolfSSL_d2i_X509_CRL(NULL, (const unsigned char *)pem, (int)pem_len);
    if (!crl)
        goto out;
    const WOLFSSL_ASN1_TIME *t = wolfSSL_X509_CRL_get_nextUpdate(crl);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS)
        goto out;
    *next_update = timegm(&tm);
    rc = 0;
out:
    wolfSSL_X509_CRL_free(crl);
    wc_FreeDer(&der);
    free(pem);
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
    const WOLFSSL_ASN1_TIME *nb = wolfSSL_X509_get_notBefore(x);
    memset(&tm, 0, sizeof tm);
    if (!nb || wolfSSL_ASN1_TIME_to_tm(nb, &tm) != WOLFSSL_SUCCESS)
        goto out;
    out->not_before = timegm(&tm);
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

void cert_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            *s = '?';
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
    /*
     * Names come from whoever made the certificate and go to terminals and
     * logs: no escape sequences, as the client library does with server text.
     */
    cert_printable(out->subject);
    cert_printable(out->issuer);
    cert_printable(out->cn);
    for (size_t i = 0; i < out->n_dns; i++)
        cert_printable(out->dns[i]);
    rc = 0;
out:
    if (alt)
        wolfSSL_GENERAL_NAMES_free(alt);
    wolfSSL_EVP_PKEY_free(pkey);
    wolfSSL_X509_free(x);
    return rc;
}
