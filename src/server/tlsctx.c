/*
 * The server's TLS policy as a wolfSSL context, and the checks that load
 * the TLS files the way the daemon does (tlsctx.h). What each setting is
 * for, and what wolfSSL 5.5.4 cannot be made to do, is in docs/admin.md,
 * "TLS conformance".
 */
#include "tlsctx.h"

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/dh.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "config.h"
#include "log.h"
#include "miscomm/error.h"
#include "secret.h"
#include "srvcert.h"

#define TLS13_SUITES                                                                               \
    "TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256"
#define REFERENTIAL_TLS12                                                                          \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384"              \
    ":ECDHE-RSA-AES128-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
#define MODERN_TLS12                                                                               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"    \
    ":ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"

/*
 * Signature algorithms, for the CertificateRequest and for what a client may
 * sign its CertificateVerify with: SHA-2 only (RFC 9155 deprecates SHA-1;
 * SHA-224 is below the 128-bit level the referentials ask for).
 */
#define SIGALGS                                                                                    \
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512"          \
    ":RSA+SHA256:RSA+SHA384:RSA+SHA512:ED25519"

/* Minimum sizes of every key in a handshake, ours and the client's, in bits. */
#define MIN_RSA_BITS 2048
#define MIN_ECC_BITS 256
#define MIN_DH_BITS  2048

/* Where the verify callback leaves its reason for the connection's log line. */
#define TLSCTX_EX_REFUSAL 0

const char *tlsctx_policy_ciphers(int policy, int max_version)
{
    if (policy == CFG_POLICY_REFERENTIAL)
        return max_version == CFG_TLS_12 ? REFERENTIAL_TLS12 : TLS13_SUITES ":" REFERENTIAL_TLS12;
    return max_version == CFG_TLS_12 ? MODERN_TLS12 : TLS13_SUITES ":" MODERN_TLS12;
}

int tlsctx_drop_dhe(WOLFSSL *ssl, const struct mc_config *cfg)
{
    const char *list = cfg->cipher_policy == CFG_POLICY_EXPLICIT
                           ? cfg->ciphers
                           : tlsctx_policy_ciphers(cfg->cipher_policy, cfg->max_version);
    /*
     * TLS 1.2 suites only: wolfSSL 5.5.4 classifies a list by its first
     * suite, and given TLS 1.2 suites alone it keeps the context's TLS 1.3
     * ones (given a TLS 1.3 suite first, it would keep the context's TLS 1.2
     * ones, DHE included).
     */
    char out[sizeof cfg->ciphers];
    size_t len = 0;
    out[0] = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ":");
        int skip = strncmp(p, "DHE-", 4) == 0 || strncmp(p, "TLS_DHE_", 8) == 0 ||
                   strncmp(p, "TLS13-", 6) == 0 || strncmp(p, "TLS_AES_", 8) == 0 ||
                   strncmp(p, "TLS_CHACHA20_", 13) == 0;
        if (n && !skip && len + n + 2 <= sizeof out) {
            if (len)
                out[len++] = ':';
            memcpy(out + len, p, n);
            len += n;
            out[len] = 0;
        }
        p += n + (p[n] == ':');
    }
    if (!out[0])
        return MC_ERR_TLS;
    /* A new suite list resets the signature algorithms: set them again. */
    if (wolfSSL_set_cipher_list(ssl, out) != WOLFSSL_SUCCESS ||
        wolfSSL_set1_sigalgs_list(ssl, SIGALGS) != WOLFSSL_SUCCESS)
        return MC_ERR_TLS;
    return 0;
}

/* Whether a cipher list holds a finite-field DHE suite (not ECDHE). */
static int tlsctx_has_dhe(const char *list)
{
    for (const char *p = list; *p; p++)
        if ((p == list || p[-1] == ':') &&
            (strncmp(p, "DHE-", 4) == 0 || strncmp(p, "TLS_DHE_", 8) == 0))
            return 1;
    return 0;
}

static int tlsctx_passwd_cb(char *buf, int size, int rw, void *ud)
{
    (void)rw;
    const char *pw = ud;
    int n = (int)strlen(pw);
    if (n >= size)
        return -1;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static int tlsctx_load_identity(WOLFSSL_CTX *ctx, const struct mc_config *cfg)
{
    char pw[SECRET_MAX];
    int rc = srvcert_read_password(cfg, pw, sizeof pw);
    if (rc < 0)
        return MC_ERR_CONFIG;
    if (cert_is_pkcs12(cfg->certificate)) {
        uint8_t *cert, *key;
        size_t cert_len, key_len;
        rc = cert_load_pkcs12(cfg->certificate, pw, &cert, &cert_len, &key, &key_len);
        secret_wipe(pw, sizeof pw);
        if (rc < 0) {
            log_error("event=tls_config error=\"cannot read PKCS#12 %s: %s\"", cfg->certificate,
                      cert_pkcs12_strerror(cfg->certificate, rc));
            return MC_ERR_CONFIG;
        }
        int ok = wolfSSL_CTX_use_certificate_buffer(ctx, cert, (long)cert_len,
                                                    WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS &&
                 wolfSSL_CTX_use_PrivateKey_buffer(ctx, key, (long)key_len,
                                                   WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
        free(cert);
        cert_free_key(key, key_len);
        if (!ok) {
            log_error("event=tls_config error=\"PKCS#12 %s holds an unusable key or certificate "
                      "(RSA keys need %d bits, ECDSA keys %d)\"",
                      cfg->certificate, MIN_RSA_BITS, MIN_ECC_BITS);
            return MC_ERR_CONFIG;
        }
    } else {
        rc = 0;
        if (wolfSSL_CTX_use_certificate_chain_file(ctx, cfg->certificate) != WOLFSSL_SUCCESS) {
            log_error("event=tls_config error=\"cannot load certificate\" file=%s",
                      cfg->certificate);
            rc = MC_ERR_CONFIG;
        } else {
            wolfSSL_CTX_set_default_passwd_cb(ctx, tlsctx_passwd_cb);
            wolfSSL_CTX_set_default_passwd_cb_userdata(ctx, pw);
            if (wolfSSL_CTX_use_PrivateKey_file(ctx, cfg->key, WOLFSSL_FILETYPE_PEM) !=
                WOLFSSL_SUCCESS) {
                log_error("event=tls_config error=\"cannot load private key (missing, damaged, "
                          "encrypted with another password, or an RSA key under %d bits)\" "
                          "file=%s",
                          MIN_RSA_BITS, cfg->key);
                rc = MC_ERR_CONFIG;
            }
            wolfSSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
        }
        secret_wipe(pw, sizeof pw);
        if (rc < 0)
            return rc;
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"private key does not match the certificate\" "
                  "certificate=%s key=%s",
                  cfg->certificate, cfg->key);
        return MC_ERR_CONFIG;
    }
    return 0;
}

/*
 * Checks of each client certificate that wolfSSL does not make: the
 * signature of a certificate the client sent must not use SHA-1 or SHA-224
 * (RFC 9155), whatever signed it. wolfSSL calls this for every certificate
 * of the chain (WOLFSSL_ALWAYS_VERIFY_CB, WOLFSSL_VERIFY_CB_ALL_CERTS), its
 * own verdict in preverify. The reason is kept on the connection's WOLFSSL
 * for its log line (tls.c).
 */
static int tlsctx_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    if (!preverify)
        return 0;
    WOLFSSL_X509 *x = wolfSSL_X509_STORE_CTX_get_current_cert(store);
    if (!x)
        return preverify;
    int sig = wolfSSL_X509_get_signature_type(x);
    const char *why = NULL;
    if (sig == CTC_SHAwRSA || sig == CTC_SHAwECDSA || sig == CTC_SHAwDSA || sig == CTC_MD5wRSA ||
        sig == CTC_MD2wRSA)
        why = "client certificate signed with SHA-1 or older (RFC 9155: SHA-256 or better)";
    else if (sig == CTC_SHA224wRSA || sig == CTC_SHA224wECDSA)
        why = "client certificate signed with SHA-224 (SHA-256 or better required)";
    if (!why)
        return preverify;
    WOLFSSL *ssl =
        wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl)
        wolfSSL_set_ex_data(ssl, TLSCTX_EX_REFUSAL, (void *)why);
    wolfSSL_X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
}

const char *tlsctx_refusal(WOLFSSL *ssl)
{
    return wolfSSL_get_ex_data(ssl, TLSCTX_EX_REFUSAL);
}

static int tlsctx_client_auth(WOLFSSL_CTX *ctx, const struct mc_config *cfg)
{
    if (!cfg->require_client_cert)
        return 0;
    if (wolfSSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot load client_ca\" file=%s", cfg->client_ca);
        return MC_ERR_CONFIG;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           tlsctx_verify_cb);
    /* Resumption would skip the certificate check: sessions are only
     * resumed from tickets, whose keys a reload renews (server.c). */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    if (cfg->crl[0]) {
        if (access(cfg->crl, R_OK) != 0) {
            log_error("event=tls_config error=\"cannot read crl: %s\" file=%s", strerror(errno),
                      cfg->crl);
            return MC_ERR_CONFIG;
        }
        if (wolfSSL_CTX_EnableCRL(ctx, WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS)
            return MC_ERR_CONFIG;
        int ret = wolfSSL_CTX_LoadCRLFile(ctx, cfg->crl, WOLFSSL_FILETYPE_PEM);
        if (ret != WOLFSSL_SUCCESS) {
            const char *why = ret == ASN_CRL_NO_SIGNER_E ? "not signed by client_ca"
                              : ret == ASN_AFTER_DATE_E  ? "expired (past its nextUpdate)"
                                                         : "damaged or not a PEM CRL";
            log_error("event=tls_config error=\"cannot load crl: %s\" file=%s code=%d", why,
                      cfg->crl, ret);
            return MC_ERR_CONFIG;
        }
    }
    return 0;
}

/* Key exchange: X25519, P-256, P-384, and ffdhe2048/3072 when DHE suites are on. */
static int tlsctx_groups(WOLFSSL_CTX *ctx, int dhe)
{
    /* set1_curves_list turns every other curve off for TLS 1.2 ECDHE too
     * (wolfSSL's disabledCurves); set_groups then adds the FFDHE groups to
     * the list TLS 1.3 key shares and TLS 1.2 DHE parameters come from. */
    if (wolfSSL_CTX_set1_curves_list(ctx, "X25519:P-256:P-384") != WOLFSSL_SUCCESS)
        return MC_ERR_CONFIG;
    int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1,
                    WOLFSSL_FFDHE_2048, WOLFSSL_FFDHE_3072};
    int n = dhe ? 5 : 3;
    if (wolfSSL_CTX_set_groups(ctx, groups, n) != WOLFSSL_SUCCESS)
        return MC_ERR_CONFIG;
    return 0;
}

static int tlsctx_build(const struct mc_config *cfg, int identity, WOLFSSL_CTX **out)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!ctx)
        return MC_ERR_NOMEM;
    int rc = MC_ERR_CONFIG;
    int minv = cfg->min_version == CFG_TLS_13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
    if (wolfSSL_CTX_SetMinVersion(ctx, minv) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set the minimum TLS version\"");
        goto out;
    }
    const char *list = cfg->cipher_policy == CFG_POLICY_EXPLICIT
                           ? cfg->ciphers
                           : tlsctx_policy_ciphers(cfg->cipher_policy, cfg->max_version);
    if (wolfSSL_CTX_set_cipher_list(ctx, list) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cipher list not accepted\" ciphers=%s", list);
        goto out;
    }
    /* Before the version cap: wolfSSL sets groups on TLS 1.3 contexts only. */
    if (tlsctx_groups(ctx, tlsctx_has_dhe(list)) < 0) {
        log_error("event=tls_config error=\"cannot limit key exchange to X25519, P-256, P-384 "
                  "and ffdhe2048/3072\"");
        goto out;
    }
    if (cfg->max_version == CFG_TLS_12 &&
        wolfSSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set the maximum TLS version\"");
        goto out;
    }
    if (wolfSSL_CTX_SetMinRsaKey_Sz(ctx, MIN_RSA_BITS) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_SetMinEccKey_Sz(ctx, MIN_ECC_BITS) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_SetMinDhKey_Sz(ctx, MIN_DH_BITS) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set minimum key sizes\"");
        goto out;
    }
    if (identity && (rc = tlsctx_load_identity(ctx, cfg)) < 0)
        goto out;
    if ((rc = tlsctx_client_auth(ctx, cfg)) < 0)
        goto out;
    rc = MC_ERR_CONFIG;
    /* Loading a key resets the signature algorithms: set them last. */
    if (wolfSSL_CTX_set1_sigalgs_list(ctx, SIGALGS) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set the signature algorithms\"");
        goto out;
    }
    /* DHE for clients that name no FFDHE group: RFC 7919 ffdhe2048. A client
     * that names some gets one of ours or no DHE suite (RFC 7919 4). */
    const DhParams *dh = wc_Dh_ffdhe2048_Get();
    if (dh && wolfSSL_CTX_SetTmpDH(ctx, dh->p, (int)dh->p_len, dh->g, (int)dh->g_len) !=
                  WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set DH parameters\"");
        goto out;
    }
    *out = ctx;
    return 0;
out:
    wolfSSL_CTX_free(ctx);
    return rc;
}

int tlsctx_create(const struct mc_config *cfg, WOLFSSL_CTX **out)
{
    return tlsctx_build(cfg, 1, out);
}

int tlsctx_check_identity(const struct mc_config *cfg, const struct cert_info *info)
{
    if (cfg->cipher_policy == CFG_POLICY_REFERENTIAL && !info->key_is_rsa) {
        log_error("event=config_error section=tls key=cipher_policy reason=\"referential "
                  "allows only RSA suites for TLS 1.2 but %s holds another key type; make an RSA "
                  "certificate (misctl cert create --key rsa-3072) or use cipher_policy = "
                  "modern\"",
                  cfg->certificate);
        return MC_ERR_CONFIG;
    }
    return 0;
}

int tlsctx_check(const struct mc_config *cfg)
{
    int need_tls = 0;
    for (size_t i = 0; i < cfg->nconns; i++)
        need_tls |= cfg->conns[i].active && cfg->conns[i].encryption == CFG_ENC_TLS;
    if (!need_tls)
        return 0;
    /* Both files missing: the daemon makes them at its first start. */
    int generated = !cert_is_pkcs12(cfg->certificate) && access(cfg->certificate, F_OK) != 0 &&
                    access(cfg->key, F_OK) != 0;
    int rc;
    if (generated) {
        log_info("event=certificate file=%s note=\"missing: miscommd makes it and its key at "
                 "its first start\"",
                 cfg->certificate);
    } else {
        struct cert_info info;
        if ((rc = srvcert_log(cfg, &info)) < 0 || (rc = tlsctx_check_identity(cfg, &info)) < 0)
            return MC_ERR_CONFIG;
    }
    WOLFSSL_CTX *ctx;
    if ((rc = tlsctx_build(cfg, !generated, &ctx)) < 0)
        return MC_ERR_CONFIG;
    wolfSSL_CTX_free(ctx);
    srvcert_check_crl(cfg);
    return 0;
}

int tlsctx_check_file(const char *path)
{
    struct mc_config cfg;
    if (config_load(path, &cfg, config_print_error, (void *)path) < 0) {
        fprintf(stderr, "%s: configuration is invalid\n", path);
        return MC_ERR_CONFIG;
    }
    int rc = tlsctx_check(&cfg);
    if (rc < 0)
        fprintf(stderr, "%s: configuration is invalid (its TLS files are refused; see above)\n",
                path);
    else
        printf("%s: configuration is valid (%zu connection%s)\n", path, cfg.nconns,
               cfg.nconns == 1 ? "" : "s");
    config_free(&cfg);
    return rc;
}

int tlsctx_offers_dhe(const struct mc_config *cfg)
{
    return tlsctx_has_dhe(cfg->cipher_policy == CFG_POLICY_EXPLICIT
                              ? cfg->ciphers
                              : tlsctx_policy_ciphers(cfg->cipher_policy, cfg->max_version));
}
