/* Configuration loading: defaults, values, and every error message. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"

static char dir[] = "/tmp/mc-test-config-XXXXXX";
static char errors[8192];
static int nerrors;

/* A valid Argon2id hash (of "correct horse"); its value is never verified here. */
#define HASH                                                                                       \
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$w2zFL1NN2cZq4f2gH3j8xM1TJRy5cEhUQw/"    \
    "tgS7+0bM"

static void on_error(void *ud, const char *section, const char *key, const char *reason)
{
    (void)ud;
    nerrors++;
    size_t n = strlen(errors);
    snprintf(errors + n, sizeof errors - n, "[%s] %s: %s\n", section, key, reason);
}

static int load(const char *text, struct mc_config *cfg)
{
    char path[256];
    snprintf(path, sizeof path, "%s/miscomm.ini", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    errors[0] = 0;
    nerrors = 0;
    return config_load(path, cfg, on_error, NULL);
}

/* Expect exactly one error containing needle. */
static void expect_error(const char *text, const char *needle, int line)
{
    struct mc_config cfg;
    int rc = load(text, &cfg);
    check_count++;
    if (rc != MC_ERR_CONFIG || nerrors != 1 || !strstr(errors, needle)) {
        check_failures++;
        fprintf(stderr, "line %d: rc=%d nerrors=%d, expected one error with \"%s\", got:\n%s\n",
                line, rc, nerrors, needle, errors);
    }
    if (rc == 0)
        config_free(&cfg);
}
#define EXPECT_ERROR(text, needle) expect_error(text, needle, __LINE__)

#define CONN "[connection psdmobile]\npassword = " HASH "\n"

static void test_defaults(void)
{
    struct mc_config cfg;
    CHECK_EQ_INT(load(CONN, &cfg), 0);
    CHECK_EQ_INT(nerrors, 0);
    CHECK_EQ_INT(cfg.nconns, 1);
    CHECK_EQ_INT(cfg.max_connections, 1024);
    CHECK_EQ_INT(cfg.max_connections_per_ip, 64);
    CHECK_EQ_INT(cfg.handshake_timeout, 10);
    CHECK_EQ_INT(cfg.worker_threads, 4);
    CHECK_EQ_INT(cfg.log_level, LOG_LVL_INFO);
    CHECK_EQ_INT(cfg.log_target, LOG_TO_STDERR);
    CHECK_EQ_INT(cfg.min_version, CFG_TLS_12);
    CHECK_EQ_INT(cfg.cipher_policy, CFG_POLICY_MODERN);
    char expect[512];
    /* Paths are tidied: "DIR/../certs" reads as the parent's certs. */
    snprintf(expect, sizeof expect, "%.*s/certs/miscomm.crt", (int)(strrchr(dir, '/') - dir), dir);
    CHECK(strcmp(cfg.certificate, expect) == 0);
    const struct cfg_connection *c = &cfg.conns[0];
    CHECK(strcmp(c->name, "psdmobile") == 0);
    CHECK_EQ_INT(c->port, 9000);
    CHECK_EQ_INT(c->active, 1);
    CHECK_EQ_INT(c->encryption, CFG_ENC_TLS);
    CHECK_EQ_INT(c->tries, 3);
    CHECK_EQ_INT(c->timeout, 300);
    CHECK_EQ_INT(c->perms, MC_PERM_PING);
    CHECK(strcmp(c->password_hash, HASH) == 0);
    config_free(&cfg);

    /* A symlinked directory is not folded: the kernel would follow the link first. */
    char link[600], real[600], ini[700];
    snprintf(real, sizeof real, "%s/real/etc", dir);
    snprintf(link, sizeof link, "%s/etc", dir);
    snprintf(ini, sizeof ini, "mkdir -p '%s' && ln -sfn '%s' '%s'", real, real, link);
    CHECK(system(ini) == 0);
    snprintf(ini, sizeof ini, "%s/miscomm.ini", link);
    FILE *f = fopen(ini, "w");
    fputs(CONN, f);
    fclose(f);
    CHECK_EQ_INT(config_load(ini, &cfg, on_error, NULL), 0);
    snprintf(expect, sizeof expect, "%s/../certs/miscomm.crt", link);
    CHECK(strcmp(cfg.certificate, expect) == 0);
    config_free(&cfg);
}

static void test_values(void)
{
    struct mc_config cfg;
    CHECK_EQ_INT(load("[server]\nmax_connections = 5\nlog_level = DEBUG\n"
                      "[tls]\nmin_version = 1.3\ncipher_policy = referential\nkey = /etc/k.pem\n"
                      "[connection a]\npassword = " HASH "\nport = 9100\nping = off\nodbc = yes\n"
                      "sync = true\ntimeout = 0\ntries = 1\n"
                      "[connection b]\npassword = " HASH "\nport = 9101\nactive = no\n"
                      "encryption = none\nbind = 127.0.0.1\n",
                      &cfg),
                 0);
    CHECK_EQ_INT(nerrors, 0);
    CHECK_EQ_INT(cfg.max_connections, 5);
    CHECK_EQ_INT(cfg.log_level, LOG_LVL_DEBUG);
    CHECK_EQ_INT(cfg.min_version, CFG_TLS_13);
    CHECK_EQ_INT(cfg.cipher_policy, CFG_POLICY_REFERENTIAL);
    CHECK(strcmp(cfg.key, "/etc/k.pem") == 0);
    CHECK_EQ_INT(cfg.nconns, 2);
    CHECK_EQ_INT(cfg.conns[0].perms, MC_PERM_ODBC | MC_PERM_SYNC);
    CHECK_EQ_INT(cfg.conns[0].timeout, 0);
    CHECK_EQ_INT(cfg.conns[1].active, 0);
    CHECK_EQ_INT(cfg.conns[1].encryption, CFG_ENC_NONE);
    config_free(&cfg);

    /* An explicit cipher list overrides the policy. */
    CHECK_EQ_INT(load("[tls]\nciphers = TLS13-AES128-GCM-SHA256\n" CONN, &cfg), 0);
    CHECK_EQ_INT(cfg.cipher_policy, CFG_POLICY_EXPLICIT);
    config_free(&cfg);
    /* Every suite on the allowlist, by wolfSSL name and by IANA name. */
    CHECK_EQ_INT(load("[tls]\nciphers = TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
                      "TLS13-CHACHA20-POLY1305-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:"
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
                      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
                      "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA256:"
                      "ECDHE-RSA-AES256-SHA384:DHE-RSA-AES128-GCM-SHA256:"
                      "DHE-RSA-AES256-GCM-SHA384\n" CONN,
                      &cfg),
                 0);
    CHECK_EQ_INT(nerrors, 0);
    config_free(&cfg);
    CHECK_EQ_INT(
        load("[tls]\nciphers = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
             "TLS_CHACHA20_POLY1305_SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:"
             "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:"
             "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:"
             "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:"
             "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:"
             "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:"
             "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:"
             "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384:"
             "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256:TLS_DHE_RSA_WITH_AES_256_GCM_SHA384\n" CONN,
             &cfg),
        0);
    CHECK_EQ_INT(nerrors, 0);
    config_free(&cfg);

    /* password_file holds the hash. */
    char path[512];
    snprintf(path, sizeof path, "%s/pw.hash", dir);
    FILE *f = fopen(path, "w");
    fputs(HASH "\n", f);
    fclose(f);
    CHECK_EQ_INT(load("[connection a]\npassword_file = pw.hash\n", &cfg), 0);
    CHECK(strcmp(cfg.conns[0].password_hash, HASH) == 0);
    config_free(&cfg);
}

#define HASH_HEAD "$argon2id$v=19$m=65536,t=2,p=1$"
#define SALT      "c29tZXNhbHRzb21lc2FsdA"
#define OUT       "w2zFL1NN2cZq4f2gH3j8xM1TJRy5cEhUQw/tgS7+0bM"
#define BAD_HASH(hash, why)                                                                        \
    EXPECT_ERROR("[connection psdmobile]\npassword = " hash "\n",                                  \
                 "[connection psdmobile] password: not a valid Argon2id hash: " why)

/*
 * Hashes that start like Argon2id but that libsodium cannot use: they used
 * to load, and every login then failed as a wrong password.
 */
static void test_damaged_hashes(void)
{
    BAD_HASH("$argon2id$", "the version must be v=19");
    BAD_HASH("$argon2id$v=16$m=65536,t=2,p=1$" SALT "$" OUT, "the version must be v=19");
    BAD_HASH("$argon2id$m=65536,t=2,p=1$" SALT "$" OUT, "the version must be v=19");
    BAD_HASH("$argon2id$v=19$m=0,t=2,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=4194304,t=2,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=99999999999999999999999,t=2,p=1$" SALT "$" OUT,
             "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=065536,t=2,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=-1,t=2,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=65536;t=2,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$t=2,m=65536,p=1$" SALT "$" OUT, "m= (memory in KiB)");
    BAD_HASH("$argon2id$v=19$m=65536,t=0,p=1$" SALT "$" OUT, "t= (passes)");
    BAD_HASH("$argon2id$v=19$m=65536,t=100,p=1$" SALT "$" OUT, "t= (passes)");
    BAD_HASH("$argon2id$v=19$m=65536,t=2,p=0$" SALT "$" OUT, "p= (lanes)");
    BAD_HASH("$argon2id$v=19$m=65536,t=2,p=17$" SALT "$" OUT, "p= (lanes)");
    BAD_HASH("$argon2id$v=19$m=65536,t=2$" SALT "$" OUT, "t= (passes)");
    BAD_HASH("$argon2id$v=19$m=8,t=2,p=2$" SALT "$" OUT, "m= must be at least 8 KiB per lane");
    BAD_HASH(HASH_HEAD SALT, "the salt or the hash is missing");
    BAD_HASH(HASH_HEAD "$" OUT, "the salt must be 8 to 64 bytes");
    BAD_HASH(HASH_HEAD "c29tZQ$" OUT, "the salt must be 8 to 64 bytes");
    BAD_HASH(HASH_HEAD "c29tZXNh*HRzb21lc2FsdA$" OUT, "the salt must be 8 to 64 bytes");
    BAD_HASH(HASH_HEAD "c29tZXNhbHRzb21lc2FsdA==$" OUT, "the salt must be 8 to 64 bytes");
    BAD_HASH(HASH_HEAD SALT "$", "the hash must be 16 to 64 bytes");
    BAD_HASH(HASH_HEAD SALT "$w2zFL1NN2cZq4f2gH3j8xM1TJRy5cEhUQw/tgS7+0b",
             "the hash must be 16 to 64 bytes");
    BAD_HASH(HASH_HEAD SALT "$w2zFL1NN2cZq4f2gH3j8xM1TJRy5cEhUQw/tgS7+0bN",
             "the hash must be 16 to 64 bytes"); /* non-zero padding bits */
    BAD_HASH(HASH_HEAD SALT "$w2zFL1NN2cZq4f2g", "the hash must be 16 to 64 bytes");
    BAD_HASH(HASH_HEAD SALT "$" OUT "$", "the hash must be 16 to 64 bytes");
    BAD_HASH(HASH_HEAD SALT "$" OUT " x", "the hash must be 16 to 64 bytes");

    /* Legal variations load. */
    struct mc_config cfg;
    CHECK_EQ_INT(
        load("[connection a]\npassword = $argon2id$v=19$m=16,t=1,p=2$" SALT "$" OUT "\n", &cfg), 0);
    config_free(&cfg);

    /* The same check applies to password_file, naming the file. */
    char path[512];
    snprintf(path, sizeof path, "%s/damaged.hash", dir);
    FILE *f = fopen(path, "w");
    fputs(HASH_HEAD SALT "$w2zFL1NN2c\n", f);
    fclose(f);
    EXPECT_ERROR("[connection a]\npassword_file = damaged.hash\n",
                 "damaged.hash' does not hold a valid Argon2id hash: the hash must be");
}

static void test_errors(void)
{
    struct mc_config cfg;
    errors[0] = 0;
    CHECK_EQ_INT(config_load("/nonexistent/miscomm.ini", &cfg, on_error, NULL), MC_ERR_CONFIG);
    CHECK_CONTAINS(errors, "cannot open '/nonexistent/miscomm.ini'");

    EXPECT_ERROR("[server]\nthis line is not ini\n" CONN, "cannot parse");
    EXPECT_ERROR("[oops]\n" CONN, "[oops] : unknown section");
    EXPECT_ERROR("[server]\ncolour = blue\n" CONN, "[server] colour: unknown key");
    EXPECT_ERROR("[tls]\nkey_file = x\n" CONN, "[tls] key_file: unknown key");
    EXPECT_ERROR(CONN "passwd = x\n", "[connection psdmobile] passwd: unknown key");
    EXPECT_ERROR("[server]\nmax_connections = 0\n" CONN,
                 "[server] max_connections: must be a whole number from 1 to 100000 (got '0')");
    EXPECT_ERROR("[server]\nhandshake_timeout = ten\n" CONN,
                 "handshake_timeout: must be a whole number from 1 to 300 (got 'ten')");
    EXPECT_ERROR("[server]\nworker_threads = -1\n" CONN, "worker_threads: must be a whole number");
    EXPECT_ERROR("[server]\nlog_level = loud\n" CONN,
                 "log_level: must be one of error, warn, info, debug (got 'loud')");
    EXPECT_ERROR("[server]\nlog_target = file\n" CONN,
                 "[server] log_file: required when log_target = file");
    EXPECT_ERROR("[tls]\nmin_version = 1.1\n" CONN,
                 "min_version: must be one of 1.2, 1.3 (got '1.1')");
    EXPECT_ERROR("[tls]\ncipher_policy = fast\n" CONN,
                 "cipher_policy: must be one of modern, referential");
    EXPECT_ERROR(CONN "port = 70000\n",
                 "port: must be a whole number from 1 to 65535 (got '70000')");
    EXPECT_ERROR(CONN "tries = 0\n", "tries: must be a whole number from 1 to 100");
    EXPECT_ERROR(CONN "active = maybe\n",
                 "active: must be yes/no, on/off, true/false or 1/0 (got 'maybe')");
    EXPECT_ERROR(CONN "ping = sometimes\n", "ping: must be on or off (got 'sometimes')");
    EXPECT_ERROR(CONN "encryption = aes\n",
                 "encryption: must be one of tls, none, aes256 (got 'aes')");
    EXPECT_ERROR(
        "[connection psdmobile]\npassword = hunter2\n",
        "password: must be an Argon2id hash made by 'misctl passwd', never a plaintext password");
    EXPECT_ERROR("[connection psdmobile]\nport = 9000\n", "password: missing");
    test_damaged_hashes();
    EXPECT_ERROR(CONN "encryption = aes256\n", "psk_file: required when encryption = aes256");
    EXPECT_ERROR(CONN "psk_file = k.psk\n", "psk_file: only used with encryption = aes256");
    EXPECT_ERROR("[tls]\nrequire_client_cert = yes\n" CONN,
                 "client_ca: required when require_client_cert = yes");
    EXPECT_ERROR("[tls]\ncrl = x.crl\n" CONN, "crl: only used with require_client_cert = yes");
    EXPECT_ERROR("[tls]\npassword_file = a\npassword_env = B\n" CONN,
                 "set either password_file or password_env");
    EXPECT_ERROR("[tls]\nticket_rotation = 5\n" CONN,
                 "ticket_rotation: must be a whole number from 60 to 604800");
    EXPECT_ERROR("[connection psdmobile]\npassword_file = nothere.hash\n",
                 "password_file: cannot read");
    EXPECT_ERROR(
        CONN "encryption = none\n",
        "encryption: 'none' is refused unless bind is a loopback address or allow_plaintext = yes");
    EXPECT_ERROR("[connection a]\npassword = " HASH "\n[connection b]\npassword = " HASH "\n",
                 "[connection b] port: port 9000 is already used by connection 'a'");
    EXPECT_ERROR("[server]\nmax_connections = 5\n", "no active [connection NAME] section");
    EXPECT_ERROR(CONN "active = no\n", "no active [connection NAME] section");
    EXPECT_ERROR("[connection bad/name]\npassword = " HASH "\n" CONN,
                 "connection names are 1 to 63");
    EXPECT_ERROR(CONN "password_file = pw.hash\n",
                 "set either password or password_file, not both");
    EXPECT_ERROR(CONN
                 "description = "
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxx\n",
                 "description: value longer than 255 bytes");

    EXPECT_ERROR(CONN "bind = 256.0.0.1\n", "bind: must be an IPv4 or IPv6 address");
    EXPECT_ERROR(CONN "bind = gateway.example.com\n", "bind: must be an IPv4 or IPv6 address");
    EXPECT_ERROR(CONN "[connection PSDMOBILE]\nport = 9001\n",
                 "[connection psdmobile] : section appears twice (names are not case-sensitive)");
    EXPECT_ERROR(CONN "ping = on\nping = off\n", "[connection psdmobile] ping: key appears twice");
    EXPECT_ERROR("[server]\nmax_conections = 5\n" CONN,
                 "max_conections: unknown key (did you mean 'max_connections'?)");
    EXPECT_ERROR("[tls]\nciphers = TLS13-AES128-GCM-SHA256:AES128-GCM-SHA256\n" CONN,
                 "ciphers: 'AES128-GCM-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = ECDHE-RSA-AES128-SHA\n" CONN,
                 "ciphers: 'ECDHE-RSA-AES128-SHA' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n" CONN,
                 "ciphers: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS_RSA_WITH_AES_128_GCM_SHA256\n" CONN,
                 "ciphers: 'TLS_RSA_WITH_AES_128_GCM_SHA256' is refused");
    /* Integrity-only suites: they look like TLS 1.3 or ECDHE + SHA-2 suites. */
    EXPECT_ERROR("[tls]\nciphers = TLS13-SHA256-SHA256\n" CONN,
                 "ciphers: 'TLS13-SHA256-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS13-AES128-GCM-SHA256:TLS13-SHA384-SHA384\n" CONN,
                 "ciphers: 'TLS13-SHA384-SHA384' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS_SHA256_SHA256\n" CONN,
                 "ciphers: 'TLS_SHA256_SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = ECDHE-PSK-NULL-SHA256\n" CONN,
                 "ciphers: 'ECDHE-PSK-NULL-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS_ECDHE_PSK_WITH_NULL_SHA256\n" CONN,
                 "ciphers: 'TLS_ECDHE_PSK_WITH_NULL_SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = ECDHE-ECDSA-NULL-SHA\n" CONN,
                 "ciphers: 'ECDHE-ECDSA-NULL-SHA' is refused");
    /* PSK key exchange without a certificate, and suites we do not offer. */
    EXPECT_ERROR("[tls]\nciphers = ECDHE-PSK-AES128-CBC-SHA256\n" CONN,
                 "ciphers: 'ECDHE-PSK-AES128-CBC-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = DHE-PSK-AES128-GCM-SHA256\n" CONN,
                 "ciphers: 'DHE-PSK-AES128-GCM-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = ECDHE-ECDSA-AES128-SHA256\n" CONN,
                 "ciphers: 'ECDHE-ECDSA-AES128-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS13-AES128-CCM-SHA256\n" CONN,
                 "ciphers: 'TLS13-AES128-CCM-SHA256' is refused");
    EXPECT_ERROR("[tls]\nciphers = ECDHE-RSA-AES128-GCM-SHA256-X\n" CONN,
                 "ciphers: 'ECDHE-RSA-AES128-GCM-SHA256-X' is refused");
    /* Names only: no OpenSSL-style keywords or case folding. */
    EXPECT_ERROR("[tls]\nciphers = HIGH\n" CONN, "ciphers: 'HIGH' is refused");
    EXPECT_ERROR("[tls]\nciphers = ALL\n" CONN, "ciphers: 'ALL' is refused");
    EXPECT_ERROR("[tls]\nciphers = tls13-aes128-gcm-sha256\n" CONN,
                 "ciphers: 'tls13-aes128-gcm-sha256' is refused");
    EXPECT_ERROR("[tls]\nciphers = TLS13-AES128-GCM-SHA256::TLS13-AES256-GCM-SHA384\n" CONN,
                 "ciphers: empty suite name");
    EXPECT_ERROR("[tls]\nciphers = TLS13-AES128-GCM-SHA256:\n" CONN, "ciphers: empty suite name");
    EXPECT_ERROR("[ tls ]\nmin_version = 1.2\n[tls]\nmin_version = 1.3\n" CONN,
                 "[tls] : section appears twice");

    /* Several problems are all reported, not just the first. */
    CHECK_EQ_INT(
        load("[server]\nmax_connections = 0\nbogus = 1\n[tls]\nmin_version = 2\n" CONN, &cfg),
        MC_ERR_CONFIG);
    CHECK_EQ_INT(nerrors, 3);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_values();
    test_errors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_report("test_config");
}
