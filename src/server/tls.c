/*
 * The TLS transport. wolfSSL never sees the socket: its I/O callbacks read
 * ciphertext from c->net_in (filled by the libuv read callback) and write
 * ciphertext through conn_write_raw(). The handshake is therefore
 * non-blocking: wolfSSL_accept() returns WANT_READ until more bytes arrive.
 */
#include "transport.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/dh.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "secret.h"
#include "miscomm/error.h"

#define TLS13_SUITES                                                                               \
    "TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256"

const char *tls_policy_ciphers(int policy)
{
    if (policy == CFG_POLICY_REFERENTIAL)
        return TLS13_SUITES ":ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
                            ":ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"
                            ":DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256";
    return TLS13_SUITES ":ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
                        ":ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384"
                        ":ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305";
}

static int tls_io_recv(WOLFSSL *ssl, char *out, int sz, void *ctx)
{
    (void)ssl;
    struct conn *c = ctx;
    size_t avail = buf_len(&c->net_in);
    if (avail == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(out, buf_head(&c->net_in), n);
    buf_consume(&c->net_in, n);
    return (int)n;
}

static int tls_io_send(WOLFSSL *ssl, char *data, int sz, void *ctx)
{
    (void)ssl;
    struct conn *c = ctx;
    if (conn_write_raw(c, (const uint8_t *)data, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    return sz;
}

int tls_ctx_create(const struct mc_config *cfg, WOLFSSL_CTX **out)
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
                           : tls_policy_ciphers(cfg->cipher_policy);
    if (wolfSSL_CTX_set_cipher_list(ctx, list) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cipher list not accepted\" ciphers=%s", list);
        goto out;
    }
    if (wolfSSL_CTX_use_certificate_chain_file(ctx, cfg->certificate) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot load certificate\" file=%s", cfg->certificate);
        goto out;
    }
    if (wolfSSL_CTX_use_PrivateKey_file(ctx, cfg->key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot load private key\" file=%s", cfg->key);
        goto out;
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"private key does not match the certificate\" "
                  "certificate=%s key=%s",
                  cfg->certificate, cfg->key);
        goto out;
    }
    /* DHE suites (referential policy) need group parameters: RFC 7919 ffdhe2048. */
    const DhParams *dh = wc_Dh_ffdhe2048_Get();
    if (dh && wolfSSL_CTX_SetTmpDH(ctx, dh->p, (int)dh->p_len, dh->g, (int)dh->g_len) !=
                  WOLFSSL_SUCCESS) {
        log_error("event=tls_config error=\"cannot set DH parameters\"");
        goto out;
    }
    wolfSSL_CTX_SetIORecv(ctx, tls_io_recv);
    wolfSSL_CTX_SetIOSend(ctx, tls_io_send);
    *out = ctx;
    return 0;
out:
    wolfSSL_CTX_free(ctx);
    return rc;
}

void tls_ctx_free(WOLFSSL_CTX *ctx)
{
    wolfSSL_CTX_free(ctx);
}

int tls_log_certificate(const char *path)
{
    uint8_t *der;
    size_t len;
    struct cert_info info;
    int rc = cert_load_pem_file(path, &der, &len);
    if (rc < 0) {
        log_error("event=certificate file=%s error=\"%s\"", path, mc_strerror(rc));
        return rc;
    }
    rc = cert_inspect(der, len, &info);
    free(der);
    if (rc < 0) {
        log_error("event=certificate file=%s error=\"cannot parse certificate\"", path);
        return rc;
    }
    char hex[96], spki_hex[96], pin[48], until[32];
    cert_hex_colon(info.cert_sha256, hex);
    cert_hex_colon(info.spki_sha256, spki_hex);
    cert_base64(info.spki_sha256, pin);
    struct tm tm;
    gmtime_r(&info.not_after, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    long days = (long)((info.not_after - time(NULL)) / 86400);
    log_info("event=certificate file=%s sha256=%s spki_sha256=%s spki_pin=sha256/%s "
             "not_after=%s days_left=%ld",
             path, hex, spki_hex, pin, until, days);
    if (info.not_after < time(NULL))
        log_error("event=certificate_expired file=%s not_after=%s", path, until);
    return 0;
}

int tls_ensure_certificate(const struct mc_config *cfg)
{
    int have_cert = access(cfg->certificate, F_OK) == 0;
    int have_key = access(cfg->key, F_OK) == 0;
    if (have_cert && have_key)
        return 0;
    if (have_cert != have_key) {
        log_error("event=certificate error=\"%s exists but %s does not; refusing to overwrite\"",
                  have_cert ? cfg->certificate : cfg->key, have_cert ? cfg->key : cfg->certificate);
        return MC_ERR_CONFIG;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const char *dns[] = {host, "localhost", NULL};
    if (strcmp(host, "localhost") == 0)
        dns[1] = NULL;
    const char *ips[] = {"127.0.0.1", "::1", NULL};
    struct cert_request req = {
        .cn = host,
        .o = "miscomm",
        .ou = "self-signed gateway certificate",
        .days = 825,
        /* The referential policy's suites all need an RSA certificate. */
        .key_type =
            cfg->cipher_policy == CFG_POLICY_REFERENTIAL ? CERT_KEY_RSA_3072 : CERT_KEY_ECDSA_P256,
        .dns = dns,
        .ips = ips,
    };
    char *cert_pem, *key_pem;
    int rc = cert_generate(&req, &cert_pem, &key_pem);
    if (rc < 0) {
        log_error("event=certificate error=\"cannot generate a certificate: %s\"", mc_strerror(rc));
        return rc;
    }
    rc = cert_write_file(cfg->key, key_pem, 0600);
    if (rc == 0)
        rc = cert_write_file(cfg->certificate, cert_pem, 0644);
    secret_wipe(key_pem, strlen(key_pem));
    free(key_pem);
    free(cert_pem);
    if (rc < 0) {
        log_error("event=certificate error=\"cannot write %s or %s\"", cfg->certificate, cfg->key);
        return rc;
    }
    log_info("event=certificate_generated file=%s key=%s type=%s cn=%s days=%d", cfg->certificate,
             cfg->key, req.key_type == CERT_KEY_ECDSA_P256 ? "ecdsa-p256" : "rsa-3072", host,
             req.days);
    return 0;
}

/* --- the per-connection transport --- */

static void tls_log_error(struct conn *c, int err)
{
    char msg[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)err, msg, sizeof msg);
    conn_log(LOG_LVL_INFO, c, "event=tls_error code=%d error=\"%s\"", err, msg);
}

static int tls_start(struct conn *c)
{
    c->ssl = wolfSSL_new(c->srv->tls_ctx);
    if (!c->ssl)
        return MC_ERR_NOMEM;
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    return 0;
}

static int tls_feed(struct conn *c, const uint8_t *data, size_t len)
{
    if (len && buf_append(&c->net_in, data, len) < 0)
        return MC_ERR_BUSY;
    if (c->state == CONN_ST_HANDSHAKE) {
        int ret = wolfSSL_accept(c->ssl);
        if (ret != WOLFSSL_SUCCESS) {
            int err = wolfSSL_get_error(c->ssl, ret);
            if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
                return 0;
            tls_log_error(c, err);
            return MC_ERR_TLS;
        }
        conn_log(LOG_LVL_INFO, c, "event=tls version=%s cipher=%s", wolfSSL_get_version(c->ssl),
                 wolfSSL_get_cipher_name(c->ssl));
        conn_transport_ready(c);
    }
    /* Decrypt as much as fits in the plaintext queue. */
    uint8_t tmp[16384];
    while (c->state != CONN_ST_CLOSING) {
        size_t room = c->in.limit - buf_len(&c->in);
        if (room == 0)
            break;
        int n = wolfSSL_read(c->ssl, tmp, (int)(room < sizeof tmp ? room : sizeof tmp));
        if (n > 0) {
            if (buf_append(&c->in, tmp, (size_t)n) < 0)
                return MC_ERR_BUSY;
            continue;
        }
        int err = wolfSSL_get_error(c->ssl, n);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
            break;
        if (err == WOLFSSL_ERROR_ZERO_RETURN)
            return MC_ERR_CLOSED;
        tls_log_error(c, err);
        return MC_ERR_TLS;
    }
    return 0;
}

static int tls_send(struct conn *c, const uint8_t *data, size_t len)
{
    int n = wolfSSL_write(c->ssl, data, (int)len);
    if (n != (int)len) {
        tls_log_error(c, wolfSSL_get_error(c->ssl, n));
        return MC_ERR_TLS;
    }
    return 0;
}

static void tls_shutdown(struct conn *c)
{
    if (c->ssl && c->transport_up)
        wolfSSL_shutdown(c->ssl);
}

static void tls_release(struct conn *c)
{
    if (c->ssl)
        wolfSSL_free(c->ssl);
    c->ssl = NULL;
}

const struct transport_ops transport_tls = {
    .name = "tls",
    .start = tls_start,
    .feed = tls_feed,
    .send = tls_send,
    .shutdown = tls_shutdown,
    .release = tls_release,
};
