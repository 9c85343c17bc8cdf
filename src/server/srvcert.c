/*
 * The gateway's own certificate files: reading them (PEM or PKCS#12, with
 * the password from [tls] password_file or password_env), logging their
 * fingerprints, warning before they expire, and generating a self-signed
 * one on first start. The TLS contexts built from them are in tls.c.
 */
#include "srvcert.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "certgen.h"
#include "hostnames.h"
#include "config.h"
#include "log.h"
#include "miscomm/error.h"
#include "secret.h"

/*
 * The password of an encrypted key or a PKCS#12 file, from [tls]
 * password_file or password_env; "" when neither is set.
 */
int srvcert_read_password(const struct mc_config *cfg, char *pw, size_t cap)
{
    pw[0] = 0;
    if (cfg->password_file[0]) {
        int rc = secret_read_file(cfg->password_file, pw, cap);
        if (rc < 0)
            log_error("event=tls_config error=\"cannot read password_file %s: %s\"",
                      cfg->password_file, mc_strerror(rc));
        return rc;
    }
    if (cfg->password_env[0]) {
        const char *v = getenv(cfg->password_env);
        if (!v) {
            log_error("event=tls_config error=\"environment variable %s is not set\"",
                      cfg->password_env);
            return MC_ERR_CONFIG;
        }
        if (strlen(v) >= cap)
            return MC_ERR_CONFIG;
        memcpy(pw, v, strlen(v) + 1);
    }
    return 0;
}

/* The server certificate's DER (PEM file or PKCS#12), for fingerprints and expiry. */
static int srvcert_load_der(const struct mc_config *cfg, uint8_t **der, size_t *len)
{
    if (!cert_is_pkcs12(cfg->certificate))
        return cert_load_pem_file(cfg->certificate, der, len);
    char pw[SECRET_MAX];
    uint8_t *key;
    size_t key_len;
    int rc = srvcert_read_password(cfg, pw, sizeof pw);
    if (rc == 0)
        rc = cert_load_pkcs12(cfg->certificate, pw, der, len, &key, &key_len);
    secret_wipe(pw, sizeof pw);
    if (rc == 0)
        cert_free_key(key, key_len);
    return rc;
}

/* Fingerprints and expiry of the server certificate; on failure *why says which step failed. */
static int srvcert_inspect(const struct mc_config *cfg, struct cert_info *info, const char **why)
{
    uint8_t *der;
    size_t len;
    int rc = srvcert_load_der(cfg, &der, &len);
    if (rc < 0) {
        *why = cert_is_pkcs12(cfg->certificate) ? cert_pkcs12_strerror(cfg->certificate, rc)
                                                : mc_strerror(rc);
        return rc;
    }
    rc = cert_inspect(der, len, info);
    free(der);
    if (rc < 0)
        *why = "cannot parse certificate";
    return rc;
}

/*
 * Warn when a file holding a secret (the key, a PKCS#12 bundle, the key's
 * password) can be read by other users. Read by the group is fine when it
 * is the daemon's own group (docs/admin.md: a key in /etc/miscomm readable
 * by the group miscomm), not when it is any other.
 */
static void srvcert_check_mode(const char *key, const char *path)
{
#ifdef _WIN32
    /* No group or other bits on Windows: the folder's ACL is what protects
     * the key (safefile_mode_warning says more). */
    (void)key;
    (void)path;
#else
    struct stat st;
    if (!path[0] || stat(path, &st) != 0)
        return;
    const char *who = (st.st_mode & S_IROTH)                             ? "others"
                      : (st.st_mode & S_IRGRP) && st.st_gid != getegid() ? "its group"
                                                                         : NULL;
    if (who)
        log_warn("event=key_file_mode section=tls key=%s file=%s mode=%04o warning=\"%s can "
                 "read it; make it mode 0600 (chmod 600), or 0640 with the group of the "
                 "service\"",
                 key, path, (unsigned)(st.st_mode & 07777), who);
#endif
}

int srvcert_log(const struct mc_config *cfg, struct cert_info *out)
{
    struct cert_info info;
    const char *path = cfg->certificate, *why;
    if (cert_is_pkcs12(path))
        srvcert_check_mode("certificate", path);
    else
        srvcert_check_mode("key", cfg->key);
    srvcert_check_mode("password_file", cfg->password_file);
    int rc = srvcert_inspect(cfg, &info, &why);
    if (rc < 0) {
        log_error("event=certificate file=%s error=\"%s\"", path, why);
        return rc;
    }
    char hex[96], spki_hex[96], pin[48], until[32];
    cert_hex_colon(info.cert_sha256, hex);
    cert_hex_colon(info.spki_sha256, spki_hex);
    cert_base64(info.spki_sha256, pin);
    struct tm tm;
    gmtime_r(&info.not_after, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    time_t now = time(NULL);
    long days = (long)((info.not_after - now) / 86400);
    log_info("event=certificate file=%s sha256=%s spki_sha256=%s spki_pin=sha256/%s "
             "not_after=%s days_left=%ld",
             path, hex, spki_hex, pin, until, days);
    if (info.not_before > now) {
        char from[32];
        gmtime_r(&info.not_before, &tm);
        strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
        log_warn("event=certificate_not_yet_valid file=%s not_before=%s "
                 "warning=\"clients refuse it until then; check this host's clock and the "
                 "certificate's dates\"",
                 path, from);
    }
    srvcert_check_expiry_at(path, info.not_after, cfg->cert_warn_days);
    *out = info;
    return 0;
}

void srvcert_check_expiry_at(const char *path, time_t not_after, unsigned warn_days)
{
    char until[32];
    struct tm tm;
    gmtime_r(&not_after, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    time_t now = time(NULL);
    if (not_after < now)
        log_error("event=certificate_expired file=%s not_after=%s days_ago=%ld "
                  "action=\"renew it: misctl cert create, then misctl reload\"",
                  path, until, (long)((now - not_after) / 86400));
    else if (not_after - now < (time_t)warn_days * 86400)
        log_warn("event=certificate_expiring file=%s not_after=%s days_left=%ld warn_days=%u "
                 "action=\"renew it: misctl cert create, then misctl reload\"",
                 path, until, (long)((not_after - now) / 86400), warn_days);
}

int srvcert_check_expiry(const struct mc_config *cfg)
{
    struct cert_info info;
    const char *why;
    int rc = srvcert_inspect(cfg, &info, &why);
    if (rc == 0)
        srvcert_check_expiry_at(cfg->certificate, info.not_after, cfg->cert_warn_days);
    return rc;
}

void srvcert_check_crl(const struct mc_config *cfg)
{
    if (!cfg->require_client_cert || !cfg->crl[0])
        return;
    time_t next;
    if (cert_crl_next_update(cfg->crl, &next) < 0)
        return; /* the TLS context reports a CRL it cannot load */
    char until[32];
    struct tm tm;
    gmtime_r(&next, &tm);
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    time_t now = time(NULL);
    if (next < now)
        log_error("event=crl_expired file=%s next_update=%s days_ago=%ld "
                  "action=\"every client certificate is refused until a new CRL is installed: "
                  "get one from the CA, then misctl reload\"",
                  cfg->crl, until, (long)((now - next) / 86400));
    else if (next - now < (time_t)cfg->cert_warn_days * 86400)
        log_warn("event=crl_expiring file=%s next_update=%s days_left=%ld warn_days=%u "
                 "action=\"install the CA's next CRL before then, then misctl reload\"",
                 cfg->crl, until, (long)((next - now) / 86400), cfg->cert_warn_days);
}

int srvcert_ensure(const struct mc_config *cfg)
{
    /* A PKCS#12 bundle carries its own key; there is nothing to generate. */
    if (cert_is_pkcs12(cfg->certificate))
        return 0;
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
    /* Phones often reach the gateway by IP: name every address of the host. */
    struct cert_sans *sans = malloc(sizeof *sans);
    if (!sans || cert_default_sans(host, sans) < 0) {
        free(sans);
        log_error("event=certificate error=\"cannot list the host's names and addresses\"");
        return MC_ERR_NOMEM;
    }
    struct cert_request req = {
        .cn = host,
        .o = "miscomm",
        .ou = "self-signed gateway certificate",
        .days = 825,
        /* The referential policy's suites all need an RSA certificate. */
        .key_type =
            cfg->cipher_policy == CFG_POLICY_REFERENTIAL ? CERT_KEY_RSA_3072 : CERT_KEY_ECDSA_P256,
        .dns = sans->dns,
        .ips = sans->ips,
    };
    char *cert_pem, *key_pem;
    int rc = cert_generate(&req, &cert_pem, &key_pem);
    free(sans);
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
