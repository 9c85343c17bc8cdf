/* misctl cert create, show and check: certificates and keys for miscommd. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include "cert.h"
#include "certgen.h"
#include "hostnames.h"
#include "misctl.h"
#include "miscomm/error.h"
#include "safefile.h"
#include "secret.h"

static void iso_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Whole days left, rounded down (negative once expired), as miscommd logs
 * days_left: 23 hours left is 0 days.
 */
static long days_left(time_t not_after, time_t now)
{
    long s = (long)(not_after - now);
    return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

/* "ECDSA P-256" or "RSA 3072". */
static void key_desc(const struct cert_details *d, char *out, size_t cap)
{
    if (strcmp(d->key_type, "RSA") == 0)
        snprintf(out, cap, "RSA %d", d->key_bits);
    else
        snprintf(out, cap, "%s", d->key_type);
}

/* --- cert create --- */

#define SAN_MAX CERT_MAX_SAN

struct san_list {
    char *dns[SAN_MAX + 1];
    char *ips[SAN_MAX + 1];
    size_t n_dns, n_ip;
};

/* One --san value: names and addresses, comma-separated, "DNS:" and "IP:" optional. */
static int san_add(struct san_list *l, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return MC_ERR_NOMEM;
    int rc = 0, n_items = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t n = strlen(item);
        while (n && item[n - 1] == ' ')
            item[--n] = 0;
        if (n == 0)
            continue;
        n_items++;
        int force_ip = strncasecmp(item, "IP:", 3) == 0;
        int force_dns = strncasecmp(item, "DNS:", 4) == 0;
        if (force_ip)
            item += 3;
        if (force_dns)
            item += 4;
        unsigned char addr[16];
        int is_ip = !force_dns &&
                    (inet_pton(AF_INET, item, addr) == 1 || inet_pton(AF_INET6, item, addr) == 1);
        /* Digits and dots only is meant as an IPv4 address, never as a host name. */
        if (!is_ip && item[strspn(item, "0123456789.")] == 0) {
            fprintf(stderr, "misctl: cert create: --san: '%s' is not a valid IPv4 address\n", item);
            rc = MC_ERR_INVALID_ARG;
            break;
        }
        if (force_ip && !is_ip) {
            fprintf(stderr, "misctl: cert create: --san: '%s' is not an IP address\n", item);
            rc = MC_ERR_INVALID_ARG;
            break;
        }
        if (!is_ip && !cert_is_host_name(item)) {
            fprintf(stderr,
                    "misctl: cert create: --san: '%s' is neither a DNS name nor an IP "
                    "address\n",
                    item);
            rc = MC_ERR_INVALID_ARG;
            break;
        }
        char **list = is_ip ? l->ips : l->dns;
        size_t *count = is_ip ? &l->n_ip : &l->n_dns;
        if (*count == SAN_MAX) {
            fprintf(stderr, "misctl: cert create: --san: at most %d names and %d addresses\n",
                    SAN_MAX, SAN_MAX);
            rc = MC_ERR_INVALID_ARG;
            break;
        }
        list[*count] = strdup(item);
        if (!list[*count]) {
            rc = MC_ERR_NOMEM;
            break;
        }
        (*count)++;
    }
    free(copy);
    if (rc == 0 && n_items == 0) {
        fprintf(stderr, "misctl: cert create: --san: empty list (leave --san out for the "
                        "default names)\n");
        rc = MC_ERR_INVALID_ARG;
    }
    return rc;
}

static void san_free(struct san_list *l)
{
    for (size_t i = 0; i < l->n_dns; i++)
        free(l->dns[i]);
    for (size_t i = 0; i < l->n_ip; i++)
        free(l->ips[i]);
    memset(l, 0, sizeof *l);
}

static void cert_create_usage(FILE *out)
{
    fprintf(out,
            "Usage: misctl cert create --cn NAME [OPTIONS]\n"
            "Creates a private key and a self-signed TLS server certificate for miscommd.\n"
            "\n"
            "Subject:\n"
            "  --cn NAME           common name (required), e.g. the server's host name\n"
            "  --c CC --st STATE --l CITY --o ORGANIZATION --ou UNIT\n"
            "                      the other subject fields (optional)\n"
            "  --san LIST          DNS names and IP addresses the devices use to reach the\n"
            "                      gateway; repeatable or comma-separated (\"DNS:\" and \"IP:\"\n"
            "                      prefixes allowed). Default: the CN (when it is a host\n"
            "                      name or an IP address), this host's name, localhost,\n"
            "                      127.0.0.1, ::1 and every non-link-local address it has\n"
            "Certificate:\n"
            "  --days N            validity in days (default 825): notAfter is N days after\n"
            "                      notBefore, which is a day in the past for clients whose\n"
            "                      clock is behind\n"
            "  --key TYPE          ecdsa-p256 (default), rsa-2048, rsa-3072 or rsa-4096\n"
            "                      (cipher_policy = referential needs an RSA key)\n"
            "Output:\n"
            "  --out FILE          certificate, PEM (default certs/miscomm.crt)\n"
            "  --key-out FILE      private key, PEM, mode 0600 (default certs/miscomm.key)\n"
            "  --p12 FILE          also a PKCS#12 bundle of both, mode 0600 (needs a password;\n"
            "                      encrypted with 3DES/SHA-1, the only PKCS#12 encryption\n"
            "                      wolfSSL 5.5.4 writes: prefer the encrypted PEM key)\n"
            "  --force             replace existing files (otherwise refused)\n"
            "Password (encrypts the key as PKCS#8 v2: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC;\n"
            "never taken from the command line):\n"
            "  --password-file F   first line of F\n"
            "  --password-stdin    first line of standard input\n"
            "  --password-prompt   ask twice on the terminal, without echo\n"
            "Without a password the key is written unencrypted (protected by its mode only).\n"
            "Give miscommd the same password with [tls] password_file or password_env.\n"
            "\n"
            "Exit status: 0 success; 1 failure (e.g. a file exists); 64 usage error.\n");
}

static int parse_key_type(const char *s, enum cert_key_type *out)
{
    static const struct {
        const char *name;
        enum cert_key_type type;
    } types[] = {{"ecdsa-p256", CERT_KEY_ECDSA_P256},
                 {"rsa-2048", CERT_KEY_RSA_2048},
                 {"rsa-3072", CERT_KEY_RSA_3072},
                 {"rsa-4096", CERT_KEY_RSA_4096}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcasecmp(s, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    }
    return MC_ERR_INVALID_ARG;
}

/* Create the directory that will hold path when it is missing (one level only). */
/*
 * A subject field: valid UTF-8 without control characters, and short enough
 * for X.509 (64 characters, ub-common-name and friends) and for wolfSSL,
 * which keeps each field in 63 bytes. NULL when fine, else why not.
 */
static const char *name_problem(const char *s)
{
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (n == 0 || (n == 2 && *p < 0xC2) || (n == 4 && *p > 0xF4))
            return "is not valid UTF-8";
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return "is not valid UTF-8";
        if (*p < 0x20 || *p == 0x7F || (n == 2 && p[0] == 0xC2 && p[1] < 0xA0))
            return "holds a control character";
        p += n;
        chars++;
    }
    if (chars > 64)
        return "is longer than the 64 characters X.509 allows";
    if (strlen(s) > CTC_NAME_SIZE - 1)
        return "is longer than 63 bytes (the most a subject field can hold here; a "
               "non-ASCII character takes 2 to 4 bytes)";
    return NULL;
}

/* ISO 3166-1 alpha-2: two upper-case letters. */
static int is_country_code(const char *s)
{
    return strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

static void ensure_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = 0;
    if (access(dir, F_OK) != 0)
        (void)mkdir(dir, 0755);
}

static int write_output(const char *path, const void *data, size_t len, int mode, int force)
{
    ensure_parent(path);
    int rc = safefile_write(path, data, len, mode, force);
    if (rc == MC_ERR_EXISTS)
        fprintf(stderr, "misctl: cert create: %s already exists; use --force to replace it\n",
                path);
    else if (rc < 0)
        fprintf(stderr, "misctl: cert create: cannot write %s: %s\n", path, strerror(errno));
    return rc;
}

/* The folder a file goes in: "." for a bare name. */
static void parent_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
}

/*
 * Whether path can be written: its folder is writable, or is missing in a
 * writable folder (ensure_parent() makes that one level).
 */
static int dir_writable(const char *who, const char *path)
{
    char dir[4096], up[4096];
    parent_of(path, dir, sizeof dir);
    if (access(dir, W_OK) == 0)
        return 1;
    int err = errno;
    parent_of(dir, up, sizeof up);
    if (err == ENOENT && strcmp(up, dir) != 0 && access(up, W_OK) == 0)
        return 1;
    fprintf(stderr, "misctl: %s: cannot write %s: folder %s: %s; nothing was written\n", who, path,
            dir, strerror(err));
    return 0;
}

/* Remove the first n files (key, certificate) that did not exist before this run. */
static void remove_created(const char *const files[3], const int existed[3], size_t n)
{
    const size_t order[2] = {1, 0}; /* written key first, then the certificate */
    for (size_t i = 0; i < n; i++) {
        size_t k = order[i];
        if (files[k] && !existed[k])
            (void)unlink(files[k]);
    }
}

/* Parse the new certificate back; its CN must be exactly the one asked for. */
static int check_generated(const char *who, const char *pem, const char *cn)
{
    size_t len = strlen(pem);
    uint8_t *der = malloc(len + 1);
    struct cert_details *d = malloc(sizeof *d);
    int rc = MC_ERR_CRYPTO;
    if (der && d) {
        int n = wc_CertPemToDer((const unsigned char *)pem, (int)len, der, (int)len + 1, CERT_TYPE);
        if (n > 0 && cert_describe(der, (size_t)n, d) == 0 && strcmp(d->cn, cn) == 0)
            rc = 0;
    }
    if (rc < 0)
        fprintf(stderr,
                "misctl: %s: the certificate made does not read back with the requested "
                "subject; nothing was written\n",
                who);
    free(der);
    free(d);
    return rc;
}

static int cmd_cert_create(int argc, char **argv)
{
    enum {
        O_CN = 256,
        O_C,
        O_L,
        O_ST,
        O_O,
        O_OU,
        O_SAN,
        O_DAYS,
        O_KEY,
        O_OUT,
        O_KEYOUT,
        O_P12,
        O_FORCE,
        O_HELP
    };
    static const struct toolopt opts[] = {
        {"cn", 0, TOOLOPT_VALUE, O_CN},
        {"c", 0, TOOLOPT_VALUE, O_C},
        {"l", 0, TOOLOPT_VALUE, O_L},
        {"st", 0, TOOLOPT_VALUE, O_ST},
        {"o", 0, TOOLOPT_VALUE, O_O},
        {"ou", 0, TOOLOPT_VALUE, O_OU},
        {"san", 0, TOOLOPT_VALUE, O_SAN},
        {"days", 0, TOOLOPT_VALUE, O_DAYS},
        {"key", 0, TOOLOPT_VALUE, O_KEY},
        {"out", 0, TOOLOPT_VALUE, O_OUT},
        {"key-out", 0, TOOLOPT_VALUE, O_KEYOUT},
        {"p12", 0, TOOLOPT_VALUE, O_P12},
        MISCTL_PASSWORD_OPTIONS,
        {"force", 0, TOOLOPT_NO_VALUE, O_FORCE},
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "cert create";
    struct cert_request req = {.days = 825, .key_type = CERT_KEY_ECDSA_P256};
    const char *out = "certs/miscomm.crt", *key_out = "certs/miscomm.key", *p12 = NULL;
    struct misctl_pw_source pws = {0};
    struct toolopt_parser p;
    struct san_list sans;
    struct cert_sans *host = NULL;
    struct cert_output made = {0};
    char pw[SECRET_MAX];
    int have_pw = 0, force = 0, opt, ret = EXIT_USAGE;
    memset(&sans, 0, sizeof sans);

    /* "-cn NAME" as well as "--cn NAME", as openssl's subject options read. */
    toolopt_init(&p, argc, argv, opts, TOOLOPT_LONG_ONLY);
    while ((opt = toolopt_next(&p)) != TOOLOPT_END) {
        const char *val = p.value;
        switch (opt) {
        case O_CN:
            req.cn = val;
            break;
        case O_C:
            req.c = val;
            break;
        case O_L:
            req.l = val;
            break;
        case O_ST:
            req.st = val;
            break;
        case O_O:
            req.o = val;
            break;
        case O_OU:
            req.ou = val;
            break;
        case O_SAN:
            if (san_add(&sans, val) < 0)
                goto out;
            break;
        case O_DAYS: {
            char *end;
            errno = 0;
            long d = strtol(val, &end, 10);
            if (errno || *end || d < 1 || d > 36500) {
                fprintf(stderr, "misctl: %s: --days needs a number of days from 1 to 36500\n", who);
                goto out;
            }
            req.days = (int)d;
            break;
        }
        case O_KEY:
            if (parse_key_type(val, &req.key_type) < 0) {
                fprintf(stderr,
                        "misctl: %s: --key must be ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096\n",
                        who);
                goto out;
            }
            break;
        case O_OUT:
            out = val;
            break;
        case O_KEYOUT:
            key_out = val;
            break;
        case O_P12:
            p12 = val;
            break;
        case MISCTL_O_PWFILE:
        case MISCTL_O_PWSTDIN:
        case MISCTL_O_PWPROMPT:
            misctl_password_option(&pws, opt, val);
            break;
        case O_FORCE:
            force = 1;
            break;
        case O_HELP:
            cert_create_usage(stdout);
            ret = 0;
            goto out;
        default:
            if (misctl_password_option_refused(&p))
                misctl_password_refuse(who);
            else
                misctl_option_error(who, &p);
            goto out;
        }
    }
    if (p.nargs > 0) {
        fprintf(stderr, "misctl: %s: unexpected argument '%s' (try --help)\n", who, p.args[0]);
        goto out;
    }
    if (!req.cn || !req.cn[0]) {
        fprintf(stderr, "misctl: %s: --cn NAME is required (try --help)\n", who);
        goto out;
    }
    if (req.c && !is_country_code(req.c)) {
        fprintf(stderr,
                "misctl: %s: --c '%s': a country code is two upper-case letters (ISO 3166), "
                "e.g. FR\n",
                who, req.c);
        goto out;
    }
    const struct {
        const char *opt, *value;
    } fields[] = {
        {"--cn", req.cn}, {"--st", req.st}, {"--l", req.l}, {"--o", req.o}, {"--ou", req.ou}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *why = fields[i].value ? name_problem(fields[i].value) : NULL;
        if (why) {
            fprintf(stderr, "misctl: %s: %s %s; nothing was written\n", who, fields[i].opt, why);
            goto out;
        }
    }
    if (strcmp(out, key_out) == 0 ||
        (p12 && (strcmp(p12, out) == 0 || strcmp(p12, key_out) == 0))) {
        fprintf(stderr, "misctl: %s: --out, --key-out and --p12 must be different files\n", who);
        goto out;
    }
    if (misctl_password_sources(who, &pws) > 1)
        goto out;
    ret = EXIT_FAIL;
    /* Refuse before the slow part: nothing is written unless every file can be. */
    const char *files[] = {out, key_out, p12};
    for (size_t i = 0; i < 3 && !force; i++) {
        if (files[i] && access(files[i], F_OK) == 0) {
            fprintf(stderr, "misctl: %s: %s already exists; use --force to replace it\n", who,
                    files[i]);
            goto out;
        }
    }
    for (size_t i = 0; i < 3; i++) {
        if (files[i] && !dir_writable(who, files[i]))
            goto out;
    }
    int rc = misctl_password_read(who, &pws, 1, "Key password: ", pw, sizeof pw);
    if (rc < 0) {
        goto out;
    }
    have_pw = rc == 0;
    if (p12 && !have_pw) {
        fprintf(stderr,
                "misctl: %s: --p12 needs a password (--password-file, --password-stdin or "
                "--password-prompt)\n",
                who);
        ret = EXIT_USAGE;
        goto out;
    }
    if (have_pw && strlen(pw) < 8) {
        fprintf(stderr, "misctl: %s: a key password needs at least 8 characters\n", who);
        goto out;
    }
    if (sans.n_dns == 0 && sans.n_ip == 0) {
        /* The CN, then this host's names and addresses. */
        host = malloc(sizeof *host);
        if (!host || cert_default_sans(req.cn, host) < 0) {
            fprintf(stderr, "misctl: %s: cannot list this host's names and addresses\n", who);
            goto out;
        }
        req.dns = host->dns;
        req.ips = host->ips;
    } else {
        req.dns = (const char *const *)sans.dns;
        req.ips = (const char *const *)sans.ips;
    }
    rc = cert_generate_ex(&req, have_pw ? pw : NULL, p12 != NULL, &made);
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: cannot create the certificate: %s\n", who, mc_strerror(rc));
        goto out;
    }
    /* What wolfSSL wrote must read back as what was asked for. */
    if (check_generated(who, made.cert_pem, req.cn) < 0)
        goto out;
    /* All or nothing: a file this run created goes again when a later one fails. */
    int existed[3];
    for (size_t i = 0; i < 3; i++)
        existed[i] = files[i] && access(files[i], F_OK) == 0;
    if (write_output(key_out, made.key_pem, strlen(made.key_pem), 0600, force) < 0)
        goto out;
    if (write_output(out, made.cert_pem, strlen(made.cert_pem), 0644, force) < 0) {
        remove_created(files, existed, 1);
        goto out;
    }
    if (p12 && write_output(p12, made.p12, made.p12_len, 0600, force) < 0) {
        remove_created(files, existed, 2);
        goto out;
    }

    uint8_t *der = NULL;
    size_t der_len = 0;
    struct cert_details *d = malloc(sizeof *d);
    if (d && cert_load_pem_file(out, &der, &der_len) == 0 && cert_describe(der, der_len, d) == 0) {
        char since[32], until[32], hex[96], pin[48], kd[48];
        iso_time(d->not_before, since);
        iso_time(d->not_after, until);
        cert_hex_colon(d->info.cert_sha256, hex);
        cert_base64(d->info.spki_sha256, pin);
        key_desc(d, kd, sizeof kd);
        printf("created %s: %s, subject %s, valid from %s until %s (%d day%s)\n", out, kd,
               d->subject, since, until, req.days, req.days == 1 ? "" : "s");
        printf("  names: ");
        for (size_t i = 0; i < d->n_dns; i++)
            printf("%sDNS:%s", i ? ", " : "", d->dns[i]);
        for (size_t i = 0; i < d->n_ip; i++)
            printf("%sIP:%s", i || d->n_dns ? ", " : "", d->ip[i]);
        printf("\n  sha256 %s\n  spki pin sha256/%s\n", hex, pin);
    }
    free(der);
    free(d);
    printf("created %s: private key, mode 0600, %s\n", key_out,
           have_pw ? "encrypted (PKCS#8, PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256)"
                   : "NOT encrypted (give a password to encrypt it)");
    if (p12)
        printf("created %s: PKCS#12 bundle of the certificate and key, mode 0600, "
               "password-protected\n",
               p12);
    if (p12)
        fprintf(stderr,
                "misctl: %s: warning: %s is encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC "
                "(3DES, SHA-1 key derivation), the only PKCS#12 encryption wolfSSL 5.5.4 can "
                "write; it is weaker than the encrypted PEM key %s (PBES2: AES-256-CBC, "
                "PBKDF2-HMAC-SHA256), which is recommended: use the .p12 only where a single "
                "bundle is required, and keep it mode 0600\n",
                who, p12, key_out);
    ret = 0;
out:
    if (have_pw)
        secret_wipe(pw, sizeof pw);
    cert_output_free(&made);
    san_free(&sans);
    free(host);
    return ret;
}

/* --- cert show and cert check --- */

/*
 * Load the certificate of a PEM or PKCS#12 file and describe it. Errors are
 * printed with the given prefix ("misctl: cert show: " or "UNKNOWN: ").
 */
static int load_details(const char *prefix, const char *path, const struct misctl_pw_source *pws,
                        struct cert_details *d)
{
    uint8_t *der = NULL, *key = NULL;
    size_t der_len = 0, key_len = 0;
    int rc;
    if (access(path, R_OK) != 0) {
        printf("%s%s: %s\n", prefix, path, strerror(errno));
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        printf("%s%s is a directory, not a certificate file\n", prefix, path);
        return MC_ERR_INVALID_ARG;
    }
    if (cert_is_pkcs12(path)) {
        char pw[SECRET_MAX];
        struct misctl_pw_source src = *pws;
        if (!src.file && !src.from_stdin && !src.prompt && isatty(STDIN_FILENO))
            src.prompt = 1;
        rc = misctl_password_read("cert", &src, 0, "Password: ", pw, sizeof pw);
        if (rc == 1) {
            printf("%s%s is a PKCS#12 file: give its password with --password-file, "
                   "--password-stdin or --password-prompt\n",
                   prefix, path);
            return MC_ERR_INVALID_ARG;
        }
        if (rc < 0)
            return rc;
        rc = cert_load_pkcs12(path, pw, &der, &der_len, &key, &key_len);
        secret_wipe(pw, sizeof pw);
        cert_free_key(key, key_len);
        if (rc == MC_ERR_AUTH || rc == MC_ERR_CRYPTO) {
            printf("%s%s: %s\n", prefix, path, cert_pkcs12_strerror(path, rc));
            return rc;
        }
        if (rc < 0) {
            printf("%s%s: cannot read the PKCS#12 bundle: %s\n", prefix, path, mc_strerror(rc));
            return rc;
        }
    } else {
        rc = cert_load_pem_file(path, &der, &der_len);
        if (rc < 0) {
            printf("%s%s: %s\n", prefix, path,
                   rc == MC_ERR_CRYPTO ? "no PEM certificate in this file" : mc_strerror(rc));
            return rc;
        }
    }
    rc = cert_describe(der, der_len, d);
    free(der);
    if (rc < 0)
        printf("%s%s: cannot parse the certificate\n", prefix, path);
    return rc;
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* A JSON array of n strings stored stride bytes apart (a char[n][stride] array). */
static void json_list(const char *items, size_t stride, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            printf(", ");
        json_string(items + i * stride);
    }
    putchar(']');
}

static void show_details(const char *path, const struct cert_details *d, int json)
{
    char before[32], after[32], hex[96], spki_hex[96], b64[48], spki_b64[48], kd[48];
    iso_time(d->not_before, before);
    iso_time(d->not_after, after);
    cert_hex_colon(d->info.cert_sha256, hex);
    cert_hex_colon(d->info.spki_sha256, spki_hex);
    cert_base64(d->info.cert_sha256, b64);
    cert_base64(d->info.spki_sha256, spki_b64);
    key_desc(d, kd, sizeof kd);
    long days = days_left(d->not_after, time(NULL));
    if (json) {
        printf("{\"file\": ");
        json_string(path);
        printf(", \"subject\": ");
        json_string(d->subject);
        printf(", \"issuer\": ");
        json_string(d->issuer);
        printf(", \"cn\": ");
        json_string(d->cn);
        printf(", \"serial\": \"%s\", \"not_before\": \"%s\", \"not_after\": \"%s\", "
               "\"days_left\": %ld, \"key_type\": ",
               d->serial, before, after, days);
        json_string(d->key_type);
        printf(", \"key_bits\": %d, \"san_dns\": ", d->key_bits);
        json_list(d->dns[0], sizeof d->dns[0], d->n_dns);
        printf(", \"san_ip\": ");
        json_list(d->ip[0], sizeof d->ip[0], d->n_ip);
        printf(", \"sha256\": \"%s\", \"spki_sha256\": \"%s\", \"sha256_b64\": \"%s\", "
               "\"spki_sha256_b64\": \"%s\", \"spki_pin\": \"sha256/%s\"}\n",
               hex, spki_hex, b64, spki_b64, spki_b64);
        return;
    }
    printf("file:          %s\n", path);
    printf("subject:       %s\n", d->subject);
    printf("issuer:        %s%s\n", d->issuer,
           strcmp(d->subject, d->issuer) == 0 ? " (self-signed)" : "");
    printf("serial:        %s\n", d->serial);
    printf("not before:    %s\n", before);
    printf("not after:     %s\n", after);
    if (days >= 0)
        printf("days left:     %ld\n", days);
    else
        printf("days left:     %ld (EXPIRED)\n", days);
    printf("key:           %s\n", kd);
    printf("DNS names:    ");
    for (size_t i = 0; i < d->n_dns; i++)
        printf(" %s", d->dns[i]);
    printf("%s\nIP addresses: ", d->n_dns ? "" : " (none)");
    for (size_t i = 0; i < d->n_ip; i++)
        printf(" %s", d->ip[i]);
    printf("%s\n", d->n_ip ? "" : " (none)");
    printf("sha256:        %s\n", hex);
    printf("sha256 pin:    sha256/%s\n", b64);
    printf("spki sha256:   %s\n", spki_hex);
    printf("spki pin:      sha256/%s\n", spki_b64);
}

static const char cert_check_help[] =
    "Usage: misctl cert check [--warn-days N] [--crit-days N] FILE\n"
    "Checks when the certificate in FILE (PEM, or PKCS#12 with\n"
    "--password-file F, --password-stdin or --password-prompt) expires and\n"
    "prints one line, for cron or a monitoring system (Nagios plugin\n"
    "convention):\n"
    "  OK: CN=host expires 2029-02-26T10:17:17Z (825 days left)\n"
    "  --warn-days N   WARNING when N or fewer days are left (default 30)\n"
    "  --crit-days N   CRITICAL when N or fewer days are left, or expired, or\n"
    "                  not yet valid (default 7); N <= --warn-days\n"
    "Days left are whole days, rounded down (23 hours left is 0 days), as\n"
    "miscommd logs days_left.\n"
    "FILE may also be a CRL ([tls] crl, PEM or DER): the same levels apply to\n"
    "its nextUpdate, after which miscommd refuses every client certificate:\n"
    "  OK: CRL clients.crl next update 2026-12-30T10:00:00Z (29 days left)\n"
    "\n"
    "Exit status: 0 OK; 1 WARNING; 2 CRITICAL; 3 UNKNOWN (unreadable file,\n"
    "wrong password, usage error); 64 --warn-days smaller than --crit-days.\n";

static const char cert_show_help[] =
    "Usage: misctl cert show [--json] FILE\n"
    "Prints the subject, issuer, serial, validity, key, names (SANs) and\n"
    "SHA-256 fingerprints (certificate and public key, hex and base64 pins)\n"
    "of the certificate in FILE: PEM, or PKCS#12 (.p12/.pfx) with its\n"
    "password from --password-file F, --password-stdin or --password-prompt.\n"
    "Control characters in names are shown as '?'.\n"
    "  --json   one JSON object, for scripts\n"
    "\n"
    "Exit status: 0 success; 1 failure; 64 usage error.\n";

static int cmd_cert_show_check(int argc, char **argv, int check)
{
    enum { O_JSON = 1, O_WARN, O_CRIT, O_HELP };
    static const struct toolopt show_opts[] = {
        {"json", 0, TOOLOPT_NO_VALUE, O_JSON},
        MISCTL_PASSWORD_OPTIONS,
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    static const struct toolopt check_opts[] = {
        {"warn-days", 0, TOOLOPT_VALUE, O_WARN},
        {"crit-days", 0, TOOLOPT_VALUE, O_CRIT},
        MISCTL_PASSWORD_OPTIONS,
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = check ? "cert check" : "cert show";
    /* check follows the monitoring-plugin convention: usage errors are UNKNOWN (3). */
    int usage_exit = check ? 3 : EXIT_USAGE;
    struct misctl_pw_source pws = {0};
    struct toolopt_parser p;
    long warn = 30, crit = 7;
    int json = 0, opt;
    toolopt_init(&p, argc, argv, check ? check_opts : show_opts, 0);
    while ((opt = toolopt_next(&p)) != TOOLOPT_END) {
        switch (opt) {
        case O_JSON:
            json = 1;
            break;
        case O_WARN:
        case O_CRIT: {
            char *end;
            errno = 0;
            long v = strtol(p.value, &end, 10);
            if (errno || *end || v < 0 || v > 36500) {
                fprintf(stderr,
                        "misctl: %s: --warn-days and --crit-days take a number of "
                        "days\n",
                        who);
                return usage_exit;
            }
            *(opt == O_WARN ? &warn : &crit) = v;
            break;
        }
        case MISCTL_O_PWFILE:
        case MISCTL_O_PWSTDIN:
        case MISCTL_O_PWPROMPT:
            misctl_password_option(&pws, opt, p.value);
            break;
        case O_HELP:
            fputs(check ? cert_check_help : cert_show_help, stdout);
            return 0;
        default:
            if (misctl_password_option_refused(&p))
                misctl_password_refuse(who);
            else
                misctl_option_error(who, &p);
            return usage_exit;
        }
    }
    if (p.nargs != 1) {
        fprintf(stderr, "Usage: misctl %s [OPTIONS] FILE (try --help)\n", who);
        return usage_exit;
    }
    if (warn < crit) {
        fprintf(stderr,
                "misctl: %s: --warn-days (%ld) must not be smaller than --crit-days (%ld)\n", who,
                warn, crit);
        return EXIT_USAGE;
    }
    const char *path = p.args[0];
    struct cert_details *d = malloc(sizeof *d);
    if (!d) {
        printf("%s%s\n", check ? "UNKNOWN: " : "misctl: cert show: ", mc_strerror(MC_ERR_NOMEM));
        return check ? 3 : EXIT_FAIL;
    }
    int ret;
    if (!check) {
        /* Errors go to stderr for show; load_details prints on stdout for check's sake. */
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        int rc = load_details("misctl: cert show: ", path, &pws, d);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        if (rc < 0) {
            free(d);
            return EXIT_FAIL;
        }
        show_details(path, d, json);
        free(d);
        return 0;
    }
    time_t now = time(NULL);
    time_t next_update;
    if (cert_crl_next_update(path, &next_update) == 0) {
        /* A CRL: when its nextUpdate passes, miscommd refuses every client certificate. */
        free(d);
        char when[32];
        iso_time(next_update, when);
        if (next_update <= now) {
            long ago = (long)((now - next_update) / 86400);
            printf("CRITICAL: CRL %s is out of date since %s (%ld day%s ago): every client "
                   "certificate is refused until a new one is loaded\n",
                   path, when, ago, ago == 1 ? "" : "s");
            return 2;
        }
        long days = days_left(next_update, now);
        ret = days <= crit ? 2 : days <= warn ? 1 : 0;
        printf("%s: CRL %s next update %s (%ld day%s left)\n",
               ret == 2   ? "CRITICAL"
               : ret == 1 ? "WARNING"
                          : "OK",
               path, when, days, days == 1 ? "" : "s");
        return ret;
    }
    if (load_details("UNKNOWN: ", path, &pws, d) < 0) {
        free(d);
        return 3;
    }
    long days = days_left(d->not_after, now);
    char after[32], before[32];
    iso_time(d->not_after, after);
    iso_time(d->not_before, before);
    const char *name = d->cn[0] ? "CN=" : "";
    const char *cn = d->cn[0] ? d->cn : d->subject;
    if (d->not_after <= now) {
        /* Whole days since, rounded down, as miscommd logs days_ago. */
        long ago = (long)((now - d->not_after) / 86400);
        printf("CRITICAL: %s%s expired %s (%ld day%s ago)\n", name, cn, after, ago,
               ago == 1 ? "" : "s");
        ret = 2;
    } else if (d->not_before > now) {
        printf("CRITICAL: %s%s is not valid before %s\n", name, cn, before);
        ret = 2;
    } else {
        ret = days <= crit ? 2 : days <= warn ? 1 : 0;
        printf("%s: %s%s expires %s (%ld day%s left)\n",
               ret == 2   ? "CRITICAL"
               : ret == 1 ? "WARNING"
                          : "OK",
               name, cn, after, days, days == 1 ? "" : "s");
    }
    free(d);
    return ret;
}

int misctl_cert(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "Usage: misctl cert create --cn NAME [OPTIONS]   new key and certificate\n"
                "       misctl cert show [--json] FILE           what a certificate holds\n"
                "       misctl cert check [--warn-days N] [--crit-days N] FILE\n"
                "                                                expiry check for monitoring\n"
                "'misctl cert SUBCOMMAND --help' gives the details.\n"
                "\n"
                "Exit status: 0 success; 1 failure; 64 usage error ('cert check': 0 OK,\n"
                "1 WARNING, 2 CRITICAL, 3 UNKNOWN).\n");
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "create") == 0)
        return cmd_cert_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return cmd_cert_show_check(argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "check") == 0)
        return cmd_cert_show_check(argc - 1, argv + 1, 1);
    fprintf(stderr, "misctl: cert: unknown subcommand '%s' (try misctl cert --help)\n", argv[1]);
    return EXIT_USAGE;
}
