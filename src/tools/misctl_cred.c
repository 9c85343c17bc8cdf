/*
 * misctl cred create, show and rotate-key: ODBC credential files. The
 * format, the sealing and the master keys are in src/odbc/cred.h; this file
 * parses options, finds the keys and prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cred.h"
#include "misctl.h"
#include "miscomm/error.h"
#include "secret.h"

#define PASSPHRASE_MIN 12 /* characters: a passphrase file may be copied where guesses are free */

static const char cred_help[] =
    "Usage: misctl cred create (--dsn NAME | --connection-string STR) --user U --out FILE\n"
    "                          [OPTIONS]      seal the database password in a new file\n"
    "       misctl cred show [--reveal] FILE  print what a credential file holds\n"
    "       misctl cred rotate-key [FILE...]  new master key; re-seal FILEs with it\n"
    "'misctl cred SUBCOMMAND --help' gives the details; docs/admin.md describes the\n"
    "file format.\n"
    "\n"
    "Exit status: 0 success; 1 failure; 64 usage error; 65 a credential file was\n"
    "refused (damaged or tampered with, wrong key or passphrase, unknown key id,\n"
    "unsupported version); 78 invalid configuration.\n";

static const char create_help[] =
    "Usage: misctl cred create (--dsn NAME | --connection-string STR) --user U\n"
    "                          --out FILE [OPTIONS]\n"
    "Seals the password of the database account the gateway uses in FILE (mode 0600):\n"
    "the password encrypted (AES-256-GCM, or XChaCha20-Poly1305 on a CPU without\n"
    "AES-NI), the DSN or connection string, user, server and port beside it in clear\n"
    "but authenticated.\n"
    "  --dsn NAME                 the ODBC data source name, or\n"
    "  --connection-string STR    a connection string without the password (one with\n"
    "                             PWD= or Password= is refused)\n"
    "  --user U                   the database account (required)\n"
    "  --server HOST --port P     where the database is (optional, shown by 'show')\n"
    "  --out FILE                 the credential file to write (required)\n"
    "  --force                    replace FILE if it exists\n"
    "The database password (never taken from the command line):\n"
    "  --password-file F          first line of F\n"
    "  --password-stdin           first line of standard input\n"
    "  --password-prompt          ask twice on the terminal, without echo\n"
    "The key: by default the gateway's master key, DATA_DIR/cred-keys (made on first\n"
    "use; DATA_DIR is [server] data_dir of the configuration):\n"
    "  -c, --config FILE          default conf/miscomm.ini if it exists, else\n"
    "                             /etc/miscomm/miscomm.ini\n"
    "or a passphrase, through Argon2id (at least 12 characters):\n"
    "  --passphrase-file F        first line of F\n"
    "  --passphrase-prompt        ask twice on the terminal, without echo\n"
    "  --kdf-memory MIB           Argon2id memory, 19 to 1024 MiB (default 64)\n"
    "  --kdf-passes N             Argon2id passes, 2 to 16 (default 3)\n"
    "Run it as the service's user, so that the gateway can read FILE and the keys.\n"
    "\n"
    "Exit status: 0 success; 1 failure (e.g. FILE exists); 64 usage error;\n"
    "78 invalid configuration.\n";

static const char show_help[] =
    "Usage: misctl cred show [-c CONFIG] [--passphrase-file F | --passphrase-prompt]\n"
    "                        [--reveal] FILE\n"
    "Prints what the credential file FILE holds: the DSN or connection string, user,\n"
    "server, port, when it was made, the algorithm and the key, and whether it was\n"
    "verified. The password is printed only with --reveal.\n"
    "A file sealed with the master key is verified with the key of the configuration's\n"
    "data directory when there is one (-c CONFIG, default conf/miscomm.ini if it\n"
    "exists, else /etc/miscomm/miscomm.ini); a passphrase file when the passphrase is\n"
    "given. Without its key the file's metadata is printed, marked as not verified.\n"
    "  --passphrase-file F   the passphrase of a passphrase file: first line of F\n"
    "  --passphrase-prompt   ask for it on the terminal, without echo\n"
    "  --reveal              print the password too (needs the key or passphrase)\n"
    "\n"
    "Exit status: 0 success; 1 failure (unreadable file, no key for --reveal);\n"
    "64 usage error; 65 the file was refused (damaged or tampered with, wrong key or\n"
    "passphrase, unknown key id, unsupported version); 78 invalid configuration.\n";

static const char rotate_help[] =
    "Usage: misctl cred rotate-key [-c CONFIG] [FILE...]\n"
    "Makes a new random master key in DATA_DIR/cred-keys and makes it the one new\n"
    "credential files are sealed with, then seals each FILE again with it (a fresh\n"
    "nonce, the same metadata). Every FILE is opened first: if one is refused,\n"
    "nothing is changed. The old key stays in DATA_DIR/cred-keys/ID.key, so files\n"
    "not given here still open; delete it once no file uses it ('misctl cred show'\n"
    "names a file's key).\n"
    "  -c, --config FILE   default conf/miscomm.ini if it exists, else\n"
    "                      /etc/miscomm/miscomm.ini\n"
    "\n"
    "Exit status: 0 success; 1 failure; 64 usage error; 65 a FILE was refused;\n"
    "78 invalid configuration.\n";

/* Options several subcommands share. */
enum {
    O_CONFIG = 1,
    O_DSN,
    O_CONNSTR,
    O_USER,
    O_SERVER,
    O_PORT,
    O_OUT,
    O_FORCE,
    O_PPFILE,
    O_PPPROMPT,
    O_KDF_MEMORY,
    O_KDF_PASSES,
    O_REVEAL,
    O_HELP
};

struct passphrase_source {
    const char *file;
    int prompt;
};

static void iso_time(uint64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%llu", (unsigned long long)t);
}

static const char *default_config(void)
{
    return misctl_default_config();
}

/* The data directory of the configuration at path: 0, or an exit status (reported). */
static int data_dir_of(const char *who, const char *path, char *out, size_t cap)
{
    struct mc_config cfg;
    if (config_load(path, &cfg, config_print_error, (void *)path) < 0) {
        fprintf(stderr, "misctl: %s: %s: configuration is invalid\n", who, path);
        return EXIT_CONFIG;
    }
    int too_long = snprintf(out, cap, "%s", cfg.data_dir) >= (int)cap;
    config_free(&cfg);
    if (too_long) {
        fprintf(stderr, "misctl: %s: the data directory's path is too long\n", who);
        return EXIT_FAIL;
    }
    return 0;
}

/*
 * The master keys of the configuration's data directory: 0, 1 when there
 * are none yet (and create is not set), or an exit status (reported).
 */
static int master_open(const char *who, const char *config, int create, struct cred_master *m)
{
    char data_dir[PATH_MAX];
    const char *why = NULL;
    int ret = data_dir_of(who, config, data_dir, sizeof data_dir);
    if (ret)
        return ret;
    int rc = cred_master_key_load(data_dir, create, m, &why);
    int err = errno;
    if (rc == MC_ERR_NOT_FOUND && !create)
        return 1;
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: master key in %s/%s: %s%s%s\n", who, data_dir, CRED_KEYS_DIR,
                why ? why : mc_strerror(rc), rc == MC_ERR_IO ? ": " : "",
                rc == MC_ERR_IO ? strerror(err) : "");
        return EXIT_FAIL;
    }
    if (m->warning)
        fprintf(stderr, "misctl: %s: warning: master key in %s: %s\n", who, m->dir, m->warning);
    return 0;
}

/* A refused credential file: the code's name and message, and why. Returns the exit status. */
static int refused(const char *who, const char *path, int rc, const char *why)
{
    fprintf(stderr, "misctl: %s: %s: %s (%s)%s%s\n", who, path, mc_strerror(rc), mc_err_name(rc),
            why ? ": " : "", why ? why : "");
    if (rc == MC_ERR_BAD_CREDENTIAL || rc == MC_ERR_WRONG_KEY || rc == MC_ERR_UNKNOWN_KEY ||
        rc == MC_ERR_CREDENTIAL_VERSION)
        return EXIT_REFUSED;
    return EXIT_FAIL;
}

/* Read and parse path into buf and f: 0, or an exit status (reported). */
static int load_file(const char *who, const char *path, uint8_t *buf, size_t cap,
                     struct cred_file *f)
{
    size_t len = 0;
    const char *why = NULL;
    int rc = cred_file_read(path, buf, cap, &len, &why);
    if (rc == 0)
        rc = cred_parse(buf, len, f, &why);
    if (rc == MC_ERR_CREDENTIAL_VERSION) {
        fprintf(stderr, "misctl: %s: %s: %s (%s): the file is of version %u; %s\n", who, path,
                mc_strerror(rc), mc_err_name(rc), f->version, why);
        return EXIT_REFUSED;
    }
    return rc < 0 ? refused(who, path, rc, why) : 0;
}

/* The passphrase from its one source: 0, 1 when none was given, or an exit status (reported). */
static int passphrase_read(const char *who, const struct passphrase_source *src, int twice,
                           char *buf, size_t cap)
{
    const char *why = NULL;
    int rc;
    if (src->file && src->prompt) {
        fprintf(stderr, "misctl: %s: give only one of --passphrase-file, --passphrase-prompt\n",
                who);
        return EXIT_USAGE;
    }
    if (!src->file && !src->prompt)
        return 1;
    if (src->file) {
        rc = secret_read_line(src->file, buf, cap, &why);
        if (rc < 0) {
            fprintf(stderr, "misctl: %s: cannot read the passphrase from %s: %s\n", who, src->file,
                    why ? why : mc_strerror(rc));
            return EXIT_FAIL;
        }
    } else {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "misctl: %s: --passphrase-prompt needs a terminal; use --passphrase-file\n",
                    who);
            return EXIT_USAGE;
        }
        rc = secret_read_prompt("Passphrase: ", buf, cap);
        if (rc == 0 && twice) {
            char again[SECRET_MAX];
            rc = secret_read_prompt("Again: ", again, sizeof again);
            if (rc == 0 && strcmp(buf, again) != 0) {
                fprintf(stderr, "misctl: %s: the passphrases differ\n", who);
                secret_wipe(again, sizeof again);
                secret_wipe(buf, cap);
                return EXIT_FAIL;
            }
            secret_wipe(again, sizeof again);
        }
        if (rc < 0) {
            fprintf(stderr, "misctl: %s: cannot read the passphrase: %s\n", who, mc_strerror(rc));
            secret_wipe(buf, cap);
            return EXIT_FAIL;
        }
    }
    if (buf[0] == 0) {
        fprintf(stderr, "misctl: %s: the passphrase is empty\n", who);
        secret_wipe(buf, cap);
        return EXIT_FAIL;
    }
    return 0;
}

/* An option the subcommand does not take; a password or passphrase on argv is refused. */
static int bad_option(const char *who, const struct toolopt_parser *p)
{
    if (strcmp(p->name, "passphrase") == 0)
        fprintf(stderr,
                "misctl: %s: a passphrase is never taken from the command line (other users "
                "can read it); use --passphrase-file FILE or --passphrase-prompt\n",
                who);
    else if (misctl_password_option_refused(p))
        misctl_password_refuse(who);
    else
        misctl_option_error(who, p);
    return EXIT_USAGE;
}

/* A bounded number option: 0, or EXIT_USAGE (reported). */
static int number_option(const char *who, const char *name, const char *value, long min, long max,
                         long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) {
        fprintf(stderr, "misctl: %s: %s takes a number from %ld to %ld\n", who, name, min, max);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* Copy an option's value into a metadata field: 0, or EXIT_USAGE when it is too long. */
static int copy_field(const char *who, const char *name, const char *value, char *dst, size_t cap)
{
    if (strlen(value) >= cap) {
        fprintf(stderr, "misctl: %s: %s is longer than %zu bytes\n", who, name, cap - 1);
        return EXIT_USAGE;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

/* --- cred create --- */

static int cmd_create(int argc, char **argv)
{
    static const struct toolopt opts[] = {
        {"config", 'c', TOOLOPT_VALUE, O_CONFIG},
        {"dsn", 0, TOOLOPT_VALUE, O_DSN},
        {"connection-string", 0, TOOLOPT_VALUE, O_CONNSTR},
        {"user", 0, TOOLOPT_VALUE, O_USER},
        {"server", 0, TOOLOPT_VALUE, O_SERVER},
        {"port", 0, TOOLOPT_VALUE, O_PORT},
        {"out", 0, TOOLOPT_VALUE, O_OUT},
        {"force", 0, TOOLOPT_NO_VALUE, O_FORCE},
        {"passphrase-file", 0, TOOLOPT_VALUE, O_PPFILE},
        {"passphrase-prompt", 0, TOOLOPT_NO_VALUE, O_PPPROMPT},
        {"kdf-memory", 0, TOOLOPT_VALUE, O_KDF_MEMORY},
        {"kdf-passes", 0, TOOLOPT_VALUE, O_KDF_PASSES},
        MISCTL_PASSWORD_OPTIONS,
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "cred create";
    const char *config = NULL, *out = NULL, *why = NULL;
    struct misctl_pw_source pws = {0};
    struct passphrase_source pps = {0};
    struct cred_master m;
    struct cred_lock lock = {0};
    struct toolopt_parser p;
    char pw[SECRET_MAX], pass[SECRET_MAX];
    struct cred c;
    uint8_t file[CRED_FILE_MAX];
    size_t file_len = 0;
    long port = 0, memory = 0, passes = 0;
    int force = 0, have_pass = 0, opt, ret = EXIT_USAGE, rc;

    memset(&m, 0, sizeof m);
    cred_wipe(&c);
    toolopt_init(&p, argc, argv, opts, 0);
    while ((opt = toolopt_next(&p)) != TOOLOPT_END) {
        const char *val = p.value;
        switch (opt) {
        case O_CONFIG:
            config = val;
            break;
        case O_DSN:
            if (copy_field(who, "--dsn", val, c.dsn, sizeof c.dsn))
                goto out;
            break;
        case O_CONNSTR:
            if (copy_field(who, "--connection-string", val, c.connection_string,
                           sizeof c.connection_string))
                goto out;
            break;
        case O_USER:
            if (copy_field(who, "--user", val, c.user, sizeof c.user))
                goto out;
            break;
        case O_SERVER:
            if (copy_field(who, "--server", val, c.server, sizeof c.server))
                goto out;
            break;
        case O_PORT:
            if (number_option(who, "--port", val, 1, 65535, &port))
                goto out;
            c.port = (unsigned)port;
            break;
        case O_OUT:
            out = val;
            break;
        case O_FORCE:
            force = 1;
            break;
        case O_PPFILE:
            pps.file = val;
            break;
        case O_PPPROMPT:
            pps.prompt = 1;
            break;
        case O_KDF_MEMORY:
            if (number_option(who, "--kdf-memory", val, CRED_KDF_MEMORY_MIN / 1024,
                              CRED_KDF_MEMORY_MAX / 1024, &memory))
                goto out;
            break;
        case O_KDF_PASSES:
            if (number_option(who, "--kdf-passes", val, CRED_KDF_PASSES_MIN, CRED_KDF_PASSES_MAX,
                              &passes))
                goto out;
            break;
        case MISCTL_O_PWFILE:
        case MISCTL_O_PWSTDIN:
        case MISCTL_O_PWPROMPT:
            misctl_password_option(&pws, opt, val);
            break;
        case O_HELP:
            fputs(create_help, stdout);
            ret = 0;
            goto out;
        default:
            ret = bad_option(who, &p);
            goto out;
        }
    }
    if (p.nargs > 0) {
        fprintf(stderr, "misctl: %s: unexpected argument '%s' (try --help)\n", who, p.args[0]);
        goto out;
    }
    if ((c.dsn[0] != 0) == (c.connection_string[0] != 0)) {
        fprintf(stderr, "misctl: %s: give --dsn NAME or --connection-string STR (one of them)\n",
                who);
        goto out;
    }
    if (!c.user[0] || !out) {
        fprintf(stderr, "misctl: %s: --user and --out are required (try --help)\n", who);
        goto out;
    }
    if ((memory || passes) && !pps.file && !pps.prompt) {
        fprintf(stderr, "misctl: %s: --kdf-memory and --kdf-passes go with a passphrase\n", who);
        goto out;
    }
    if ((pps.file || pps.prompt) && config) {
        fprintf(stderr,
                "misctl: %s: a passphrase file does not use the master key: -c is not "
                "needed\n",
                who);
        goto out;
    }
    int nsrc = misctl_password_sources(who, &pws);
    if (nsrc == 0)
        fprintf(stderr,
                "misctl: %s: the database password is needed: --password-file F, "
                "--password-stdin or --password-prompt\n",
                who);
    if (nsrc != 1)
        goto out;
    if (cred_check_meta(&c, &why) < 0) {
        fprintf(stderr, "misctl: %s: %s\n", who, why);
        goto out;
    }
    ret = EXIT_FAIL;
    if (!force && access(out, F_OK) == 0) {
        fprintf(stderr, "misctl: %s: %s already exists; use --force to replace it\n", who, out);
        goto out;
    }

    /* The key first: a missing master key or a bad passphrase costs no password typing. */
    rc = passphrase_read(who, &pps, 1, pass, sizeof pass);
    if (rc > 1) {
        ret = rc;
        goto out;
    }
    have_pass = rc == 0;
    if (have_pass) {
        if (strlen(pass) < PASSPHRASE_MIN) {
            fprintf(stderr, "misctl: %s: a passphrase needs at least %d characters\n", who,
                    PASSPHRASE_MIN);
            goto out;
        }
        lock.passphrase = pass;
        lock.passphrase_len = strlen(pass);
        lock.kdf_memory_kib = (uint32_t)memory * 1024u;
        lock.kdf_passes = (uint32_t)passes;
    } else {
        rc = master_open(who, config ? config : default_config(), 1, &m);
        if (rc) {
            ret = rc;
            goto out;
        }
        lock.key = &m.current;
    }

    rc = misctl_password_read(who, &pws, 1, "Database password: ", pw, sizeof pw);
    if (rc < 0)
        goto out;
    c.password_len = strlen(pw);
    memcpy(c.password, pw, c.password_len + 1);
    secret_wipe(pw, sizeof pw);

    rc = cred_seal(&c, &lock, file, sizeof file, &file_len, &why);
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: cannot seal the credential: %s\n", who,
                why ? why : mc_strerror(rc));
        goto out;
    }
    rc = cred_file_write(out, file, file_len, force);
    if (rc == MC_ERR_EXISTS) {
        fprintf(stderr, "misctl: %s: %s already exists; use --force to replace it\n", who, out);
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: cannot write %s: %s\n", who, out, strerror(errno));
        goto out;
    }

    /* What was written, as anyone reading the file sees it. */
    struct cred_file f;
    char id[CRED_KEY_ID_HEX];
    if (cred_parse(file, file_len, &f, &why) < 0) {
        fprintf(stderr, "misctl: %s: %s does not read back: %s\n", who, out, why);
        goto out;
    }
    cred_key_id_hex(f.key_id, id);
    if (m.created)
        printf("created the master key %s/%s.key (mode 0600): back it up with the data "
               "directory; without it no file sealed with it can be opened\n",
               m.dir, id);
    printf("created %s: %s '%s', user '%s', mode 0600\n", out, c.dsn[0] ? "DSN" : "connection",
           c.dsn[0] ? c.dsn : c.connection_string, c.user);
    if (have_pass)
        printf("  sealed with %s under a passphrase (Argon2id, %u MiB, %u passes)\n",
               cred_aead_name(f.aead), f.kdf_memory_kib / 1024u, f.kdf_passes);
    else
        printf("  sealed with %s under the master key %s (%s/%s.key)\n", cred_aead_name(f.aead), id,
               m.dir, id);
    ret = 0;
out:
    secret_wipe(pw, sizeof pw);
    secret_wipe(pass, sizeof pass);
    secret_wipe(file, sizeof file);
    cred_wipe(&c);
    cred_master_wipe(&m);
    return ret;
}

/* --- cred show --- */

static void print_metadata(const char *path, const struct cred_file *f)
{
    char created[32], id[CRED_KEY_ID_HEX];
    iso_time(f->created, created);
    cred_key_id_hex(f->key_id, id);
    printf("file:        %s\n", path);
    printf("format:      miscomm credential file, version %u\n", f->version);
    printf("encryption:  %s\n", cred_aead_name(f->aead));
    if (f->kdf == CRED_KDF_MASTER)
        printf("key:         master key %s\n", id);
    else if (f->kdf_memory_kib % 1024 == 0)
        printf("key:         passphrase (Argon2id, %u MiB, %u passes, %u lane)\n",
               f->kdf_memory_kib / 1024, f->kdf_passes, f->kdf_lanes);
    else
        printf("key:         passphrase (Argon2id, %u KiB, %u passes, %u lane)\n",
               f->kdf_memory_kib, f->kdf_passes, f->kdf_lanes);
    printf("created:     %s\n", created);
    if (f->meta.dsn[0])
        printf("dsn:         %s\n", f->meta.dsn);
    else
        printf("connection:  %s\n", f->meta.connection_string);
    printf("user:        %s\n", f->meta.user);
    printf("server:      %s\n", f->meta.server[0] ? f->meta.server : "(not given)");
    if (f->meta.port)
        printf("port:        %u\n", f->meta.port);
    else
        printf("port:        (not given)\n");
}

/* The password, straight to the descriptor: no stdio buffer keeps a copy. */
static void print_password(const struct cred *c)
{
    static const char label[] = "password:    ";
    fflush(stdout);
    const char *parts[3] = {label, c->password, "\n"};
    size_t lens[3] = {sizeof label - 1, c->password_len, 1};
    for (int i = 0; i < 3; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = write(STDOUT_FILENO, parts[i] + off, lens[i] - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return;
            off += (size_t)w;
        }
    }
}

static int cmd_show(int argc, char **argv)
{
    static const struct toolopt opts[] = {
        {"config", 'c', TOOLOPT_VALUE, O_CONFIG},
        {"passphrase-file", 0, TOOLOPT_VALUE, O_PPFILE},
        {"passphrase-prompt", 0, TOOLOPT_NO_VALUE, O_PPPROMPT},
        {"reveal", 0, TOOLOPT_NO_VALUE, O_REVEAL},
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "cred show";
    const char *config = NULL, *why = NULL, *unverified = NULL;
    struct passphrase_source pps = {0};
    struct cred_master m;
    struct cred_key key;
    struct cred_file f;
    struct toolopt_parser p;
    struct cred c;
    char pass[SECRET_MAX];
    uint8_t file[CRED_FILE_MAX];
    int reveal = 0, opt, ret = EXIT_USAGE, rc;

    memset(&m, 0, sizeof m);
    memset(&key, 0, sizeof key);
    cred_wipe(&c);
    toolopt_init(&p, argc, argv, opts, 0);
    while ((opt = toolopt_next(&p)) != TOOLOPT_END) {
        if (opt == O_CONFIG) {
            config = p.value;
        } else if (opt == O_PPFILE) {
            pps.file = p.value;
        } else if (opt == O_PPPROMPT) {
            pps.prompt = 1;
        } else if (opt == O_REVEAL) {
            reveal = 1;
        } else if (opt == O_HELP) {
            fputs(show_help, stdout);
            return 0;
        } else {
            return bad_option(who, &p);
        }
    }
    if (p.nargs != 1) {
        fprintf(stderr, "Usage: misctl %s [OPTIONS] FILE (try --help)\n", who);
        return EXIT_USAGE;
    }
    const char *path = p.args[0];
    rc = load_file(who, path, file, sizeof file, &f);
    if (rc)
        return rc;

    if (f.kdf == CRED_KDF_MASTER) {
        if (pps.file || pps.prompt) {
            fprintf(stderr,
                    "misctl: %s: %s is sealed with a master key, not a passphrase: give -c "
                    "CONFIG (or nothing) instead\n",
                    who, path);
            goto out;
        }
        const char *ini = config ? config : default_config();
        if (!config && access(ini, F_OK) != 0) {
            unverified = "no configuration to find the master key (give -c CONFIG)";
        } else {
            rc = master_open(who, ini, 0, &m);
            if (rc == 1) {
                unverified = "there is no master key in this configuration's data directory";
            } else if (rc) {
                ret = rc;
                goto out;
            } else {
                rc = cred_master_key_find(&m, f.key_id, &key, &why);
                if (rc == 0)
                    rc = cred_open(&f, &key, NULL, 0, &c, &why);
                if (rc < 0) {
                    ret = refused(who, path, rc, why);
                    goto out;
                }
            }
        }
    } else {
        rc = passphrase_read(who, &pps, 0, pass, sizeof pass);
        if (rc > 1) {
            ret = rc;
            goto out;
        }
        if (rc == 1) {
            unverified = "sealed with a passphrase (give --passphrase-file or --passphrase-prompt)";
        } else {
            rc = cred_open(&f, NULL, pass, strlen(pass), &c, &why);
            if (rc < 0) {
                ret = refused(who, path, rc, why);
                goto out;
            }
        }
    }
    if (reveal && unverified) {
        fprintf(stderr, "misctl: %s: --reveal needs the key: %s\n", who, unverified);
        ret = EXIT_FAIL;
        goto out;
    }

    print_metadata(path, &f);
    if (reveal)
        print_password(&c);
    else
        printf("password:    (sealed; --reveal prints it)\n");
    if (unverified) {
        printf("verified:    no: %s\n", unverified);
    } else {
        char id[CRED_KEY_ID_HEX];
        cred_key_id_hex(f.key_id, id);
        if (f.kdf == CRED_KDF_MASTER)
            printf("verified:    yes, opened with the master key %s\n", id);
        else
            printf("verified:    yes, opened with the passphrase\n");
    }
    ret = 0;
out:
    secret_wipe(pass, sizeof pass);
    cred_wipe(&c);
    cred_key_wipe(&key);
    cred_master_wipe(&m);
    return ret;
}

/* --- cred rotate-key --- */

static int cmd_rotate(int argc, char **argv)
{
    static const struct toolopt opts[] = {
        {"config", 'c', TOOLOPT_VALUE, O_CONFIG},
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "cred rotate-key";
    const char *config = NULL, *why = NULL;
    struct cred_master m;
    struct cred_key key;
    struct toolopt_parser p;
    struct cred *creds = NULL;
    uint64_t *created = NULL;
    uint8_t(*old_ids)[CRED_KEY_ID_SIZE] = NULL;
    uint8_t file[CRED_FILE_MAX];
    int opt, ret = EXIT_USAGE, rc, n = 0;

    memset(&m, 0, sizeof m);
    memset(&key, 0, sizeof key);
    toolopt_init(&p, argc, argv, opts, 0);
    while ((opt = toolopt_next(&p)) != TOOLOPT_END) {
        if (opt == O_CONFIG) {
            config = p.value;
        } else if (opt == O_HELP) {
            fputs(rotate_help, stdout);
            return 0;
        } else {
            return bad_option(who, &p);
        }
    }
    n = p.nargs;
    rc = master_open(who, config ? config : default_config(), 0, &m);
    if (rc == 1) {
        fprintf(stderr,
                "misctl: %s: there is no master key yet, nothing to rotate ('misctl cred create' "
                "makes one when it first needs it)\n",
                who);
        ret = EXIT_FAIL;
        goto out;
    }
    if (rc) {
        ret = rc;
        goto out;
    }
    ret = EXIT_FAIL;
    creds = calloc((size_t)n + 1, sizeof *creds);
    created = calloc((size_t)n + 1, sizeof *created);
    old_ids = calloc((size_t)n + 1, sizeof *old_ids);
    if (!creds || !created || !old_ids) {
        fprintf(stderr, "misctl: %s: %s\n", who, mc_strerror(MC_ERR_NOMEM));
        goto out;
    }
    /* Every file opens, or nothing changes. */
    for (int i = 0; i < n; i++) {
        struct cred_file f;
        rc = load_file(who, p.args[i], file, sizeof file, &f);
        if (rc) {
            ret = rc;
            goto out;
        }
        if (f.kdf != CRED_KDF_MASTER) {
            fprintf(stderr,
                    "misctl: %s: %s is sealed with a passphrase, not the master key: nothing "
                    "to rotate (make it again with 'misctl cred create' to change the "
                    "passphrase)\n",
                    who, p.args[i]);
            goto out;
        }
        rc = cred_master_key_find(&m, f.key_id, &key, &why);
        if (rc == 0)
            rc = cred_open(&f, &key, NULL, 0, &creds[i], &why);
        cred_key_wipe(&key);
        if (rc < 0) {
            ret = refused(who, p.args[i], rc, why);
            goto out;
        }
        created[i] = f.created;
        memcpy(old_ids[i], f.key_id, CRED_KEY_ID_SIZE);
    }

    char old_id[CRED_KEY_ID_HEX], new_id[CRED_KEY_ID_HEX];
    cred_key_id_hex(m.current.id, old_id);
    rc = cred_master_key_rotate(&m, &why);
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: %s: %s\n", who, why, strerror(errno));
        goto out;
    }
    cred_key_id_hex(m.current.id, new_id);
    printf("new master key %s (%s/%s.key, mode 0600) seals new credential files from now on: "
           "back it up with the data directory\n",
           new_id, m.dir, new_id);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        struct cred_lock lock = {.key = &m.current, .created = created[i]};
        size_t len = 0;
        char was[CRED_KEY_ID_HEX];
        cred_key_id_hex(old_ids[i], was);
        rc = cred_seal(&creds[i], &lock, file, sizeof file, &len, &why);
        if (rc < 0) {
            fprintf(stderr, "misctl: %s: %s: cannot seal it again: %s\n", who, p.args[i], why);
            failed = 1;
            continue;
        }
        rc = cred_file_write(p.args[i], file, len, 1);
        if (rc < 0) {
            fprintf(stderr, "misctl: %s: cannot write %s: %s (it is still sealed with %s)\n", who,
                    p.args[i], strerror(errno), was);
            failed = 1;
            continue;
        }
        printf("re-sealed %s with the master key %s (was %s)\n", p.args[i], new_id, was);
    }
    printf("kept the old master key %s (%s/%s.key): files still sealed with it open as before; "
           "delete it once none is left ('misctl cred show FILE' names a file's key)\n",
           old_id, m.dir, old_id);
    ret = failed ? EXIT_FAIL : 0;
out:
    for (int i = 0; creds && i < n; i++)
        cred_wipe(&creds[i]);
    free(creds);
    free(created);
    free(old_ids);
    secret_wipe(file, sizeof file);
    cred_key_wipe(&key);
    cred_master_wipe(&m);
    return ret;
}

int misctl_cred(int argc, char **argv)
{
    /* Keys and passwords pass through this process: never into a core dump. */
    secret_no_dumps();

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(cred_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(argc - 1, argv + 1);
    if (strcmp(argv[1], "rotate-key") == 0)
        return cmd_rotate(argc - 1, argv + 1);
    fprintf(stderr, "misctl: cred: unknown subcommand '%s' (try misctl cred --help)\n", argv[1]);
    return EXIT_USAGE;
}
