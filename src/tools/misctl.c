/* misctl: the administrator's tool. Argument parsing and output only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "config.h"
#include "miscomm/error.h"
#include "psk.h"
#include "safefile.h"
#include "secret.h"

#define EXIT_FAIL   1
#define EXIT_USAGE  64
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
    fprintf(out, "Usage: misctl COMMAND [OPTIONS]\n"
                 "The miscomm administrator's tool.\n"
                 "\n"
                 "Commands:\n"
                 "  passwd [--password-file FILE | --password-stdin | --password-prompt]\n"
                 "                                  read a connection password (terminal without\n"
                 "                                  echo, FILE, or standard input) and print its\n"
                 "                                  Argon2id hash for the ini's password key\n"
                 "  check-config FILE               validate a configuration file\n"
                 "  cert create --cn NAME [...]     create a key and a self-signed certificate\n"
                 "  cert show FILE                  print what a certificate holds\n"
                 "  cert check FILE                 check the expiry date (monitoring plugin)\n"
                 "  psk create FILE                 create a random key for encryption = aes256\n"
                 "  reload [-c CONFIG]              tell the running miscommd to reload (SIGHUP)\n"
                 "  help                            print this help\n"
                 "\n"
                 "'misctl COMMAND --help' describes each command.\n"
                 "\n"
                 "Exit status: 0 success; 1 failure; 64 usage error; 78 invalid configuration\n"
                 "('cert check' exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).\n");
}

static int cmd_check_config(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr, "Usage: misctl check-config FILE\n");
        return argc == 2 ? 0 : EXIT_USAGE;
    }
    struct mc_config cfg;
    if (config_load(argv[1], &cfg, config_print_error, argv[1]) < 0) {
        fprintf(stderr, "%s: configuration is invalid\n", argv[1]);
        return EXIT_CONFIG;
    }
    printf("%s: configuration is valid (%zu connection%s)\n", argv[1], cfg.nconns,
           cfg.nconns == 1 ? "" : "s");
    config_free(&cfg);
    return 0;
}

/* --- passwords for keys and PKCS#12 bundles: never from argv --- */

/* The password options every command that needs a password takes (getopt codes). */
enum { O_PWFILE = 0x1000, O_PWSTDIN, O_PWPROMPT };

struct pw_source {
    const char *file;
    int from_stdin;
    int prompt;
};

/* Record one of --password-file/--password-stdin/--password-prompt. */
static void pw_source_option(struct pw_source *pws, int opt)
{
    if (opt == O_PWFILE)
        pws->file = optarg;
    else if (opt == O_PWSTDIN)
        pws->from_stdin = 1;
    else
        pws->prompt = 1;
}

/* An argument that tries to put a password or passphrase on the command line. */
static int is_argv_password(const char *arg)
{
    if (strncmp(arg, "--pass", 6) != 0)
        return 0;
    return strcmp(arg, "--password-file") != 0 && strncmp(arg, "--password-file=", 16) != 0 &&
           strcmp(arg, "--password-stdin") != 0 && strcmp(arg, "--password-prompt") != 0;
}

static int refuse_argv_password(const char *who, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (is_argv_password(argv[i])) {
            fprintf(stderr,
                    "misctl: %s: passwords are never taken from the command line (other users "
                    "can read it); use --password-file FILE, --password-stdin or "
                    "--password-prompt\n",
                    who);
            return 1;
        }
    }
    return 0;
}

/* How many password sources were given; more than one is reported. */
static int password_sources(const char *who, const struct pw_source *src)
{
    int n = (src->file != NULL) + src->from_stdin + src->prompt;
    if (n > 1)
        fprintf(stderr,
                "misctl: %s: give only one of --password-file, --password-stdin, "
                "--password-prompt\n",
                who);
    return n;
}

/*
 * Read the password from the one source given, asking with prompt on the
 * terminal (and "Again: " when twice is set). Returns 1 when no source was
 * given, 0 with the password in pw, or a negative MC_ERR_* (already reported).
 */
static int password_read(const char *who, const struct pw_source *src, int twice,
                         const char *prompt, char *pw, size_t cap)
{
    int nsrc = password_sources(who, src);
    const char *why = NULL;
    int rc;
    if (nsrc == 0)
        return 1;
    if (nsrc > 1)
        return MC_ERR_INVALID_ARG;
    if (src->file || src->from_stdin) {
        rc = secret_read_line(src->file, pw, cap, &why);
        if (rc < 0)
            fprintf(stderr, "misctl: %s: cannot read the password from %s: %s\n", who,
                    src->file ? src->file : "standard input", why ? why : mc_strerror(rc));
    } else {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "misctl: %s: --password-prompt needs a terminal; use --password-file or "
                    "--password-stdin\n",
                    who);
            return MC_ERR_INVALID_ARG;
        }
        rc = secret_read_prompt(prompt, pw, cap);
        if (rc < 0)
            fprintf(stderr, "misctl: %s: cannot read the password: %s\n", who, mc_strerror(rc));
        if (rc == 0 && twice) {
            char again[SECRET_MAX];
            rc = secret_read_prompt("Again: ", again, sizeof again);
            if (rc < 0)
                fprintf(stderr, "misctl: %s: cannot read the password: %s\n", who, mc_strerror(rc));
            else if (strcmp(pw, again) != 0) {
                fprintf(stderr, "misctl: %s: the passwords differ\n", who);
                rc = MC_ERR_INVALID_ARG;
            }
            secret_wipe(again, sizeof again);
        }
    }
    if (rc == 0 && pw[0] == 0) {
        fprintf(stderr, "misctl: %s: the password is empty\n", who);
        rc = MC_ERR_INVALID_ARG;
    }
    if (rc < 0)
        secret_wipe(pw, cap);
    return rc;
}

static void unknown_option(const char *who, int argc, char **argv)
{
    const char *arg = optind - 1 < argc ? argv[optind - 1] : "?";
    if (optopt && strncmp(arg, "--", 2) != 0)
        fprintf(stderr, "misctl: %s: unknown option or missing value: -%c (try --help)\n", who,
                optopt);
    else
        fprintf(stderr, "misctl: %s: unknown option or missing value: %s (try --help)\n", who, arg);
}

/* --- passwd --- */

static int cmd_passwd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"password-file", required_argument, NULL, O_PWFILE},
        {"password-stdin", no_argument, NULL, O_PWSTDIN},
        {"password-prompt", no_argument, NULL, O_PWPROMPT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *who = "passwd";
    struct pw_source pws = {0};
    int opt;
    if (refuse_argv_password(who, argc, argv))
        return EXIT_USAGE;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case O_PWFILE:
        case O_PWSTDIN:
        case O_PWPROMPT:
            pw_source_option(&pws, opt);
            break;
        case 'h':
            printf("Usage: misctl passwd [--password-file FILE | --password-stdin |\n"
                   "                      --password-prompt]\n"
                   "Prints the Argon2id hash of a connection password, for the password key of\n"
                   "a [connection NAME] section (or the file its password_file names).\n"
                   "  --password-file FILE  the first line of FILE\n"
                   "  --password-stdin      the first line of standard input\n"
                   "  --password-prompt     ask twice on the terminal, without echo\n"
                   "  -h, --help            print this help\n"
                   "Without one of them: the terminal (twice) when standard input is one, else\n"
                   "the first line of standard input. A password has at least 8 characters.\n"
                   "\n"
                   "Exit status: 0 success; 1 failure (unreadable, too short, the two\n"
                   "entries differ); 64 usage error.\n");
            return 0;
        default:
            unknown_option(who, argc, argv);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "misctl: %s: unexpected argument '%s': the password is never taken from the "
                "command line (try --help)\n",
                who, argv[optind]);
        return EXIT_USAGE;
    }
    int nsrc = password_sources(who, &pws);
    if (nsrc > 1)
        return EXIT_USAGE;
    if (nsrc == 0) {
        if (isatty(STDIN_FILENO))
            pws.prompt = 1;
        else
            pws.from_stdin = 1;
    }
    char pw[SECRET_MAX];
    int rc = password_read(who, &pws, 1, "New connection password: ", pw, sizeof pw);
    if (rc < 0)
        return EXIT_FAIL;
    if (strlen(pw) < 8) {
        secret_wipe(pw, sizeof pw);
        fprintf(stderr, "misctl: %s: a password needs at least 8 characters\n", who);
        return EXIT_FAIL;
    }
    char hash[128];
    rc = secret_hash(pw, strlen(pw), hash);
    secret_wipe(pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: %s\n", who, mc_strerror(rc));
        return EXIT_FAIL;
    }
    printf("%s\n", hash);
    return 0;
}

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
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t n = strlen(item);
        while (n && item[n - 1] == ' ')
            item[--n] = 0;
        if (n == 0)
            continue;
        int force_ip = strncasecmp(item, "IP:", 3) == 0;
        int force_dns = strncasecmp(item, "DNS:", 4) == 0;
        if (force_ip)
            item += 3;
        if (force_dns)
            item += 4;
        unsigned char addr[16];
        int is_ip = !force_dns &&
                    (inet_pton(AF_INET, item, addr) == 1 || inet_pton(AF_INET6, item, addr) == 1);
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
            "  --p12 FILE          also a PKCS#12 bundle of both, mode 0600 (needs a password)\n"
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
    static const struct option opts[] = {
        {"cn", required_argument, NULL, O_CN},
        {"c", required_argument, NULL, O_C},
        {"l", required_argument, NULL, O_L},
        {"st", required_argument, NULL, O_ST},
        {"o", required_argument, NULL, O_O},
        {"ou", required_argument, NULL, O_OU},
        {"san", required_argument, NULL, O_SAN},
        {"days", required_argument, NULL, O_DAYS},
        {"key", required_argument, NULL, O_KEY},
        {"out", required_argument, NULL, O_OUT},
        {"key-out", required_argument, NULL, O_KEYOUT},
        {"p12", required_argument, NULL, O_P12},
        {"password-file", required_argument, NULL, O_PWFILE},
        {"password-stdin", no_argument, NULL, O_PWSTDIN},
        {"password-prompt", no_argument, NULL, O_PWPROMPT},
        {"force", no_argument, NULL, O_FORCE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *who = "cert create";
    struct cert_request req = {.days = 825, .key_type = CERT_KEY_ECDSA_P256};
    const char *out = "certs/miscomm.crt", *key_out = "certs/miscomm.key", *p12 = NULL;
    struct pw_source pws = {0};
    struct san_list sans;
    struct cert_sans *host = NULL;
    struct cert_output made = {0};
    char pw[SECRET_MAX];
    int have_pw = 0, force = 0, opt, ret = EXIT_USAGE;
    memset(&sans, 0, sizeof sans);

    if (refuse_argv_password(who, argc, argv))
        return EXIT_USAGE;
    opterr = 0;
    while ((opt = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_CN:
            req.cn = optarg;
            break;
        case O_C:
            req.c = optarg;
            break;
        case O_L:
            req.l = optarg;
            break;
        case O_ST:
            req.st = optarg;
            break;
        case O_O:
            req.o = optarg;
            break;
        case O_OU:
            req.ou = optarg;
            break;
        case O_SAN:
            if (san_add(&sans, optarg) < 0)
                goto out;
            break;
        case O_DAYS: {
            char *end;
            errno = 0;
            long d = strtol(optarg, &end, 10);
            if (errno || *end || d < 1 || d > 36500) {
                fprintf(stderr, "misctl: %s: --days needs a number of days from 1 to 36500\n", who);
                goto out;
            }
            req.days = (int)d;
            break;
        }
        case O_KEY:
            if (parse_key_type(optarg, &req.key_type) < 0) {
                fprintf(stderr,
                        "misctl: %s: --key must be ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096\n",
                        who);
                goto out;
            }
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_KEYOUT:
            key_out = optarg;
            break;
        case O_P12:
            p12 = optarg;
            break;
        case O_PWFILE:
        case O_PWSTDIN:
        case O_PWPROMPT:
            pw_source_option(&pws, opt);
            break;
        case O_FORCE:
            force = 1;
            break;
        case O_HELP:
            cert_create_usage(stdout);
            ret = 0;
            goto out;
        default:
            unknown_option(who, argc, argv);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "misctl: %s: unexpected argument '%s' (try --help)\n", who, argv[optind]);
        goto out;
    }
    if (!req.cn || !req.cn[0]) {
        fprintf(stderr, "misctl: %s: --cn NAME is required (try --help)\n", who);
        goto out;
    }
    if (req.c && strlen(req.c) != 2) {
        fprintf(stderr, "misctl: %s: --c takes a two-letter country code, e.g. FR\n", who);
        goto out;
    }
    if (strcmp(out, key_out) == 0 ||
        (p12 && (strcmp(p12, out) == 0 || strcmp(p12, key_out) == 0))) {
        fprintf(stderr, "misctl: %s: --out, --key-out and --p12 must be different files\n", who);
        goto out;
    }
    if (password_sources(who, &pws) > 1)
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
    int rc = password_read(who, &pws, 1, "Key password: ", pw, sizeof pw);
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
    if (write_output(key_out, made.key_pem, strlen(made.key_pem), 0600, force) < 0)
        goto out;
    if (write_output(out, made.cert_pem, strlen(made.cert_pem), 0644, force) < 0)
        goto out;
    if (p12 && write_output(p12, made.p12, made.p12_len, 0600, force) < 0)
        goto out;

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
static int load_details(const char *prefix, const char *path, const struct pw_source *pws,
                        struct cert_details *d)
{
    uint8_t *der = NULL, *key = NULL;
    size_t der_len = 0, key_len = 0;
    int rc;
    if (access(path, R_OK) != 0) {
        printf("%s%s: %s\n", prefix, path, strerror(errno));
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    if (cert_is_pkcs12(path)) {
        char pw[SECRET_MAX];
        struct pw_source src = *pws;
        if (!src.file && !src.from_stdin && !src.prompt && isatty(STDIN_FILENO))
            src.prompt = 1;
        rc = password_read("cert", &src, 0, "Password: ", pw, sizeof pw);
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
        if (rc == MC_ERR_AUTH) {
            printf("%s%s: wrong password, or not a PKCS#12 bundle with a key and certificate\n",
                   prefix, path);
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

static int cmd_cert_show_check(int argc, char **argv, int check)
{
    enum { O_JSON = 256, O_WARN, O_CRIT, O_HELP };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"warn-days", required_argument, NULL, O_WARN},
        {"crit-days", required_argument, NULL, O_CRIT},
        {"password-file", required_argument, NULL, O_PWFILE},
        {"password-stdin", no_argument, NULL, O_PWSTDIN},
        {"password-prompt", no_argument, NULL, O_PWPROMPT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *who = check ? "cert check" : "cert show";
    /* check follows the monitoring-plugin convention: usage errors are UNKNOWN (3). */
    int usage_exit = check ? 3 : EXIT_USAGE;
    struct pw_source pws = {0};
    long warn = 30, crit = 7;
    int json = 0, opt;
    if (refuse_argv_password(who, argc, argv))
        return usage_exit;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case O_JSON:
            if (check) {
                unknown_option(who, argc, argv);
                return usage_exit;
            }
            json = 1;
            break;
        case O_WARN:
        case O_CRIT: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (!check || errno || *end || v < 0 || v > 36500) {
                if (check)
                    fprintf(stderr,
                            "misctl: %s: --warn-days and --crit-days take a number of "
                            "days\n",
                            who);
                else
                    unknown_option(who, argc, argv);
                return usage_exit;
            }
            *(opt == O_WARN ? &warn : &crit) = v;
            break;
        }
        case O_PWFILE:
        case O_PWSTDIN:
        case O_PWPROMPT:
            pw_source_option(&pws, opt);
            break;
        case 'h':
        case O_HELP:
            if (check)
                printf("Usage: misctl cert check [--warn-days N] [--crit-days N] FILE\n"
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
                       "\n"
                       "Exit status: 0 OK; 1 WARNING; 2 CRITICAL; 3 UNKNOWN (unreadable file,\n"
                       "wrong password, usage error); 64 --warn-days smaller than --crit-days.\n");
            else
                printf("Usage: misctl cert show [--json] FILE\n"
                       "Prints the subject, issuer, serial, validity, key, names (SANs) and\n"
                       "SHA-256 fingerprints (certificate and public key, hex and base64 pins)\n"
                       "of the certificate in FILE: PEM, or PKCS#12 (.p12/.pfx) with its\n"
                       "password from --password-file F, --password-stdin or --password-prompt.\n"
                       "  --json   one JSON object, for scripts\n"
                       "\n"
                       "Exit status: 0 success; 1 failure; 64 usage error.\n");
            return 0;
        default:
            unknown_option(who, argc, argv);
            return usage_exit;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "Usage: misctl %s [OPTIONS] FILE (try --help)\n", who);
        return usage_exit;
    }
    if (warn < crit) {
        fprintf(stderr,
                "misctl: %s: --warn-days (%ld) must not be smaller than --crit-days (%ld)\n", who,
                warn, crit);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
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
    if (load_details("UNKNOWN: ", path, &pws, d) < 0) {
        free(d);
        return 3;
    }
    time_t now = time(NULL);
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

static int cmd_cert(int argc, char **argv)
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

/* --- psk --- */

static int cmd_psk(int argc, char **argv)
{
    static const char help[] =
        "Usage: misctl psk create FILE [--force]\n"
        "Writes a new random 256-bit pre-shared key (64 hex digits, mode 0600) for a\n"
        "[connection] with encryption = aes256 (set psk_file = FILE there). Copy the file\n"
        "to the devices over a secure channel. Keys derived from passwords are refused:\n"
        "a PSK handshake lets an eavesdropper test password guesses offline.\n"
        "  --force   replace an existing key file (every device then needs the new key)\n"
        "\n"
        "Exit status: 0 success; 1 failure (e.g. the file exists); 64 usage error.\n";
    const char *path = NULL;
    int force = 0;
    if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "help") != 0)) {
        if (argc >= 2)
            fprintf(stderr, "misctl: psk: unknown subcommand '%s'\n", argv[1]);
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "create") != 0) {
        fputs(help, stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(help, stdout);
            return 0;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strstr(a, "pass") || strstr(a, "phrase") || strstr(a, "derive") ||
                   strstr(a, "from")) {
            fprintf(stderr,
                    "misctl: psk create: keys derived from passwords are refused: a TLS PSK "
                    "handshake lets an eavesdropper test password guesses offline, so only a "
                    "random 256-bit key is safe; 'misctl psk create FILE' makes one\n");
            return EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "misctl: psk create: unknown option '%s' (try --help)\n", a);
            return EXIT_USAGE;
        } else if (path) {
            fprintf(stderr, "misctl: psk create: only one FILE (try --help)\n");
            return EXIT_USAGE;
        } else {
            path = a;
        }
    }
    if (!path) {
        fputs(help, stderr);
        return EXIT_USAGE;
    }
    int rc = psk_create(path, force);
    if (rc == MC_ERR_EXISTS) {
        fprintf(stderr,
                "misctl: psk create: %s already exists; use --force to replace it (every "
                "device then needs the new key)\n",
                path);
        return EXIT_FAIL;
    }
    if (rc < 0) {
        fprintf(stderr, "misctl: psk create: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    printf("%s %s: a random 256-bit key (64 hex digits), mode 0600\n"
           "Set psk_file = %s in a [connection] with encryption = aes256 and copy the file\n"
           "to the devices over a secure channel.\n",
           force ? "wrote" : "created", path, path);
    return 0;
}

/* --- reload --- */

static int cmd_reload(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (opt == 'c') {
            path = optarg;
        } else if (opt == 'h') {
            printf("Usage: misctl reload [-c CONFIG]\n"
                   "Asks the running miscommd to reload its configuration and certificate\n"
                   "(SIGHUP to the pid in [server] pid_file). The daemon keeps its current\n"
                   "settings if the new ones are invalid; the result is in its log\n"
                   "(event=reload ...).\n"
                   "  -c, --config FILE   default conf/miscomm.ini if it exists, else\n"
                   "                      /etc/miscomm/miscomm.ini\n"
                   "\n"
                   "Exit status: 0 signal sent; 1 failure (no pid file, miscommd not running);\n"
                   "64 usage error; 78 invalid configuration.\n");
            return 0;
        } else {
            unknown_option("reload", argc, argv);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "misctl: reload: unexpected argument '%s' (try --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (!path)
        path =
            access("conf/miscomm.ini", F_OK) == 0 ? "conf/miscomm.ini" : "/etc/miscomm/miscomm.ini";
    struct mc_config cfg;
    if (config_load(path, &cfg, config_print_error, (void *)path) < 0) {
        fprintf(stderr,
                "misctl: reload: %s: configuration is invalid; not signalling miscommd "
                "(it would refuse it too)\n",
                path);
        return EXIT_CONFIG;
    }
    int ret = EXIT_FAIL;
    char text[64] = "";
    FILE *f = fopen(cfg.pid_file, "r");
    if (!f) {
        fprintf(stderr,
                "misctl: reload: cannot read the pid file %s: %s (is miscommd running with %s?)\n",
                cfg.pid_file, strerror(errno), path);
        goto out;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *end;
    errno = 0;
    long pid = strtol(text, &end, 10);
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    if (errno || end == text || *end || pid <= 1 || pid > 0x3FFFFFFF) {
        fprintf(stderr, "misctl: reload: the pid file %s does not hold a process id\n",
                cfg.pid_file);
        goto out;
    }
    if (kill((pid_t)pid, 0) != 0) {
        if (errno == ESRCH)
            fprintf(stderr,
                    "misctl: reload: stale pid file %s: no process %ld (miscommd is not "
                    "running)\n",
                    cfg.pid_file, pid);
        else
            fprintf(stderr,
                    "misctl: reload: cannot signal process %ld: %s (run as the service's user "
                    "or root)\n",
                    pid, strerror(errno));
        goto out;
    }
    /* A pid file left by a crash may name an unrelated process by now. */
    char proc[64], comm[64] = "";
    snprintf(proc, sizeof proc, "/proc/%ld/comm", pid);
    f = fopen(proc, "r");
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (comm[0] && strcmp(comm, "miscommd") != 0) {
            fprintf(stderr,
                    "misctl: reload: stale pid file %s: process %ld is '%s', not miscommd\n",
                    cfg.pid_file, pid, comm);
            goto out;
        }
    }
    if (kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "misctl: reload: cannot signal process %ld: %s\n", pid, strerror(errno));
        goto out;
    }
    printf("sent SIGHUP to miscommd (pid %ld); the result is in its log (event=reload ...)\n", pid);
    ret = 0;
out:
    config_free(&cfg);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("misctl %s\n", MC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "passwd") == 0)
        return cmd_passwd(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "cert") == 0)
        return cmd_cert(argc - 1, argv + 1);
    if (strcmp(cmd, "psk") == 0)
        return cmd_psk(argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0)
        return cmd_reload(argc - 1, argv + 1);
    fprintf(stderr, "misctl: unknown command '%s' (try misctl help)\n", cmd);
    return EXIT_USAGE;
}
