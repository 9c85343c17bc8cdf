/*
 * ODBC credential files (src/odbc/cred.h): round trips under a master key
 * and a passphrase with both algorithms; every single-byte change, every
 * truncation, a wrong key, an unknown key id and another version refused;
 * the metadata readable without a key; wiping; the byte layout of
 * docs/admin.md; the master keys of a data directory and their rotation.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cred.h"
#include "miscomm/error.h"

/* The cheapest Argon2id the format accepts: the tests open passphrase files hundreds of times. */
#define FAST_MEMORY CRED_KDF_MEMORY_MIN
#define FAST_PASSES CRED_KDF_PASSES_MIN

static const char passphrase[] = "a passphrase of some length";

static char dir[] = "/tmp/mc-cred-XXXXXX";

static void sample(struct cred *c)
{
    cred_wipe(c);
    strcpy(c->dsn, "PSD");
    strcpy(c->user, "MOBILESVC");
    strcpy(c->server, "db.example.com");
    c->port = 1433;
    strcpy(c->password, "s3cret; with spaces and {braces}");
    c->password_len = strlen(c->password);
}

static void random_key(struct cred_key *k)
{
    randombytes_buf(k->key, sizeof k->key);
    cred_key_id(k->key, k->id);
}

static size_t seal_with_key(const struct cred_key *k, int aead, uint8_t *out)
{
    struct cred c;
    struct cred_lock lock = {.aead = aead, .key = k};
    size_t len = 0;
    const char *why = NULL;
    sample(&c);
    CHECK_EQ_INT(cred_seal(&c, &lock, out, CRED_FILE_MAX, &len, &why), 0);
    cred_wipe(&c);
    return len;
}

static size_t seal_with_passphrase(int aead, uint8_t *out)
{
    struct cred c;
    struct cred_lock lock = {.aead = aead,
                             .passphrase = passphrase,
                             .passphrase_len = strlen(passphrase),
                             .kdf_memory_kib = FAST_MEMORY,
                             .kdf_passes = FAST_PASSES};
    size_t len = 0;
    const char *why = NULL;
    sample(&c);
    CHECK_EQ_INT(cred_seal(&c, &lock, out, CRED_FILE_MAX, &len, &why), 0);
    cred_wipe(&c);
    return len;
}

/* Parse and open with whichever of key or passphrase applies: 0 or the first error. */
static int try_open(const uint8_t *buf, size_t len, const struct cred_key *k, struct cred *out)
{
    struct cred_file f;
    const char *why = NULL;
    int rc = cred_parse(buf, len, &f, &why);
    if (rc < 0) {
        CHECK(why != NULL);
        return rc;
    }
    rc = cred_open(&f, k, passphrase, strlen(passphrase), out, &why);
    if (rc < 0)
        CHECK(why != NULL);
    return rc;
}

static void fix_checksum(uint8_t *buf, size_t len)
{
    crypto_generichash(buf + len - CRED_CHECKSUM_SIZE, CRED_CHECKSUM_SIZE, buf,
                       len - CRED_CHECKSUM_SIZE, NULL, 0);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check_sample(const struct cred *c)
{
    CHECK(strcmp(c->dsn, "PSD") == 0);
    CHECK(c->connection_string[0] == 0);
    CHECK(strcmp(c->user, "MOBILESVC") == 0);
    CHECK(strcmp(c->server, "db.example.com") == 0);
    CHECK_EQ_INT(c->port, 1433);
    CHECK_EQ_INT(c->password_len, strlen("s3cret; with spaces and {braces}"));
    CHECK(strcmp(c->password, "s3cret; with spaces and {braces}") == 0);
}

static void test_round_trips(void)
{
    uint8_t buf[CRED_FILE_MAX], again[CRED_FILE_MAX];
    struct cred_key k;
    struct cred c;
    random_key(&k);
    int aeads[] = {CRED_AEAD_AUTO, CRED_AEAD_AES256GCM, CRED_AEAD_XCHACHA20POLY1305};
    for (size_t i = 0; i < 3; i++) {
        if (aeads[i] == CRED_AEAD_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
            printf("test_cred: AES-256-GCM not available on this CPU, not tested\n");
            continue;
        }
        size_t len = seal_with_key(&k, aeads[i], buf);
        CHECK_EQ_INT(try_open(buf, len, &k, &c), 0);
        check_sample(&c);
        len = seal_with_passphrase(aeads[i], buf);
        CHECK_EQ_INT(try_open(buf, len, NULL, &c), 0);
        check_sample(&c);
        /* A fresh nonce and salt every time: the same credential never seals the same. */
        size_t len2 = seal_with_passphrase(aeads[i], again);
        CHECK_EQ_INT(len2, len);
        CHECK(memcmp(buf, again, len) != 0);
    }
    /* AUTO is AES-256-GCM exactly when libsodium can run it. */
    struct cred_file f;
    const char *why;
    size_t len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(f.aead, crypto_aead_aes256gcm_is_available() ? CRED_AEAD_AES256GCM
                                                              : CRED_AEAD_XCHACHA20POLY1305);
    /* A connection string instead of a DSN, a password of the longest length. */
    sample(&c);
    c.dsn[0] = 0;
    strcpy(c.connection_string, "Driver={SQLite3};Database=/srv/psd.db;Timeout=5000");
    memset(c.password, 'p', CRED_PASSWORD_MAX);
    c.password[CRED_PASSWORD_MAX] = 0;
    c.password_len = CRED_PASSWORD_MAX;
    struct cred_lock lock = {.key = &k};
    CHECK_EQ_INT(cred_seal(&c, &lock, buf, sizeof buf, &len, &why), 0);
    struct cred back;
    CHECK_EQ_INT(try_open(buf, len, &k, &back), 0);
    CHECK(strcmp(back.connection_string, c.connection_string) == 0);
    CHECK(back.dsn[0] == 0 && strcmp(back.server, "db.example.com") == 0);
    CHECK_EQ_INT(back.password_len, CRED_PASSWORD_MAX);
    CHECK(memcmp(back.password, c.password, CRED_PASSWORD_MAX + 1) == 0);
    CHECK(len <= CRED_FILE_MAX);
    /* The smallest output buffer that fits, and one byte less. */
    uint8_t *exact = malloc(len);
    CHECK_EQ_INT(cred_seal(&c, &lock, exact, len, &len, &why), 0);
    CHECK_EQ_INT(cred_seal(&c, &lock, exact, len - 1, &len, &why), MC_ERR_INVALID_ARG);
    free(exact);
    cred_wipe(&c);
    cred_wipe(&back);
    cred_key_wipe(&k);
}

/* The password's length shows only in blocks of 64 bytes. */
static void test_padding(void)
{
    struct cred_key k;
    struct cred c;
    struct cred_lock lock = {.key = &k};
    struct cred_file f;
    uint8_t buf[CRED_FILE_MAX];
    size_t len;
    const char *why;
    random_key(&k);
    size_t lens[] = {1, 63, 64, 200};
    size_t want[] = {64, 64, 128, 256};
    for (size_t i = 0; i < 4; i++) {
        sample(&c);
        memset(c.password, 'x', lens[i]);
        c.password[lens[i]] = 0;
        c.password_len = lens[i];
        CHECK_EQ_INT(cred_seal(&c, &lock, buf, sizeof buf, &len, &why), 0);
        CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
        CHECK_EQ_INT(f.sealed_len, want[i] + CRED_TAG_SIZE);
    }
    cred_wipe(&c);
}

/*
 * Every byte changed, three ways each: refused with one of the file's own
 * errors, and the output holds nothing. As damage (checksum left alone) it
 * is BAD_CREDENTIAL, or CREDENTIAL_VERSION for the version's bytes; as a
 * forgery (checksum recomputed), the AEAD, the key id or a field check
 * refuses it.
 */
static void flip_every_byte(const uint8_t *orig, size_t len, const struct cred_key *k,
                            const uint8_t *masks, size_t nmasks)
{
    uint8_t buf[CRED_FILE_MAX];
    struct cred out;
    struct cred_file orig_f;
    const char *orig_why;
    int damaged_bad = 0, forged_refused = 0, tries = 0, tag_refused = 0;
    CHECK_EQ_INT(cred_parse(orig, len, &orig_f, &orig_why), 0);
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < nmasks; m++) {
            memcpy(buf, orig, len);
            buf[i] ^= masks[m];
            memset(&out, 0xA5, sizeof out);
            int rc = try_open(buf, len, k, &out);
            int want = (i == 8 || i == 9) ? MC_ERR_CREDENTIAL_VERSION : MC_ERR_BAD_CREDENTIAL;
            damaged_bad += rc == want;
            if (rc != want)
                fprintf(stderr, "byte %zu ^ 0x%02x: %s\n", i, masks[m], mc_err_name(rc));
            if (i >= len - CRED_CHECKSUM_SIZE)
                continue; /* the checksum itself: nothing to forge */
            fix_checksum(buf, len);
            struct cred_file f;
            const char *why;
            tries++;
            rc = cred_parse(buf, len, &f, &why);
            if (rc == 0) {
                memset(&out, 0xA5, sizeof out);
                rc = cred_open(&f, k, passphrase, strlen(passphrase), &out, &why);
                /* Refused: nothing of the password, nor of what out held before. */
                CHECK(rc == 0 || all_zero(&out, sizeof out));
            }
            forged_refused += rc == MC_ERR_BAD_CREDENTIAL || rc == MC_ERR_WRONG_KEY ||
                              rc == MC_ERR_CREDENTIAL_VERSION;
            /* A changed ciphertext or tag parses, and the AEAD tag is what refuses it. */
            if (i >= orig_f.ad_len) {
                CHECK_EQ_INT(rc, MC_ERR_BAD_CREDENTIAL);
                tag_refused += rc == MC_ERR_BAD_CREDENTIAL && strstr(why, "authentication");
            }
            if (rc >= 0)
                fprintf(stderr, "forged byte %zu ^ 0x%02x was accepted\n", i, masks[m]);
        }
    }
    CHECK_EQ_INT(damaged_bad, (int)(len * nmasks));
    CHECK_EQ_INT(forged_refused, tries);
    CHECK_EQ_INT(tag_refused, (int)(orig_f.sealed_len * nmasks));
}

static void test_every_byte(void)
{
    uint8_t buf[CRED_FILE_MAX];
    struct cred_key k;
    random_key(&k);
    static const uint8_t three[] = {0x01, 0x80, 0xFF}, one[] = {0x01};
    size_t len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    flip_every_byte(buf, len, &k, three, sizeof three);
    len = seal_with_key(&k, CRED_AEAD_XCHACHA20POLY1305, buf);
    flip_every_byte(buf, len, &k, three, sizeof three);
    /* Argon2id runs for most forged bytes here: one mask is enough. */
    len = seal_with_passphrase(CRED_AEAD_AUTO, buf);
    flip_every_byte(buf, len, NULL, one, sizeof one);
    cred_key_wipe(&k);
}

/* Every prefix refused; and every prefix with a checksum made for it (a forged truncation). */
static void test_truncated(void)
{
    uint8_t buf[CRED_FILE_MAX], cut[CRED_FILE_MAX];
    struct cred_key k;
    struct cred out;
    random_key(&k);
    size_t len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    int refused = 0, forged = 0, tries = 0;
    for (size_t n = 0; n < len; n++) {
        refused += try_open(buf, n, &k, &out) == MC_ERR_BAD_CREDENTIAL;
        if (n <= CRED_CHECKSUM_SIZE + 10)
            continue;
        memcpy(cut, buf, n);
        fix_checksum(cut, n);
        tries++;
        forged += try_open(cut, n, &k, &out) == MC_ERR_BAD_CREDENTIAL;
    }
    CHECK_EQ_INT(refused, (int)len);
    CHECK_EQ_INT(forged, tries);
    /* A byte more, with or without its checksum. */
    buf[len] = 0;
    CHECK_EQ_INT(try_open(buf, len + 1, &k, &out), MC_ERR_BAD_CREDENTIAL);
    fix_checksum(buf, len + 1);
    CHECK_EQ_INT(try_open(buf, len + 1, &k, &out), MC_ERR_BAD_CREDENTIAL);
    cred_key_wipe(&k);
}

static void test_wrong_key_and_version(void)
{
    uint8_t buf[CRED_FILE_MAX];
    struct cred_key k, other;
    struct cred_file f;
    struct cred out;
    const char *why;
    random_key(&k);
    random_key(&other);
    size_t len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(cred_open(&f, &other, NULL, 0, &out, &why), MC_ERR_WRONG_KEY);
    CHECK_CONTAINS(why, "another master key");
    CHECK_EQ_INT(cred_open(&f, NULL, passphrase, strlen(passphrase), &out, &why),
                 MC_ERR_INVALID_ARG);
    /* A key that claims the right id but is not the key: the tag refuses it. */
    memcpy(other.id, k.id, sizeof k.id);
    CHECK_EQ_INT(cred_open(&f, &other, NULL, 0, &out, &why), MC_ERR_BAD_CREDENTIAL);
    CHECK_CONTAINS(why, "authentication failed");
    /* The metadata is authenticated: another user name, checksum and all, is refused. */
    uint8_t *user = memmem(buf, len, "MOBILESVC", 9);
    CHECK(user != NULL);
    if (user) {
        memcpy(user, "ATTACKER1", 9);
        fix_checksum(buf, len);
        CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
        CHECK(strcmp(f.meta.user, "ATTACKER1") == 0);
        CHECK_EQ_INT(cred_open(&f, &k, NULL, 0, &out, &why), MC_ERR_BAD_CREDENTIAL);
        CHECK_CONTAINS(why, "authentication failed");
    }

    len = seal_with_passphrase(CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(cred_open(&f, NULL, "not the passphrase", 18, &out, &why), MC_ERR_WRONG_KEY);
    CHECK_CONTAINS(why, "wrong passphrase");
    CHECK_EQ_INT(cred_open(&f, &k, NULL, 0, &out, &why), MC_ERR_INVALID_ARG);

    /* Versions 0, 2 and 256: refused as a version, checksum or not, before anything else. */
    len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    unsigned versions[] = {0, 2, 256};
    for (size_t i = 0; i < 3; i++) {
        buf[8] = (uint8_t)(versions[i] >> 8);
        buf[9] = (uint8_t)versions[i];
        CHECK_EQ_INT(cred_parse(buf, len, &f, &why), MC_ERR_CREDENTIAL_VERSION);
        CHECK_EQ_INT(f.version, versions[i]);
        fix_checksum(buf, len);
        CHECK_EQ_INT(cred_parse(buf, len, &f, &why), MC_ERR_CREDENTIAL_VERSION);
    }
    /* Not a credential file at all. */
    CHECK_EQ_INT(cred_parse((const uint8_t *)"[server]\ndata_dir = x\n", 22, &f, &why),
                 MC_ERR_BAD_CREDENTIAL);
    CHECK_CONTAINS(why, "not a miscomm credential file");
    cred_key_wipe(&k);
    cred_key_wipe(&other);
}

/* What anyone can read without a key, and the byte layout docs/admin.md gives. */
static void test_layout_and_metadata(void)
{
    uint8_t buf[CRED_FILE_MAX];
    struct cred_key k;
    struct cred_file f;
    const char *why;
    random_key(&k);
    struct cred c;
    sample(&c);
    struct cred_lock lock = {.aead = CRED_AEAD_XCHACHA20POLY1305, .key = &k, .created = 1700000000};
    size_t len;
    CHECK_EQ_INT(cred_seal(&c, &lock, buf, sizeof buf, &len, &why), 0);
    cred_wipe(&c);
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(f.version, 1);
    CHECK(strcmp(f.meta.dsn, "PSD") == 0);
    CHECK(strcmp(f.meta.user, "MOBILESVC") == 0);
    CHECK(strcmp(f.meta.server, "db.example.com") == 0);
    CHECK_EQ_INT(f.meta.port, 1433);
    CHECK_EQ_INT(f.meta.password_len, 0);
    CHECK(all_zero(f.meta.password, sizeof f.meta.password));
    CHECK_EQ_INT(f.created, 1700000000);
    CHECK(memcmp(f.key_id, k.id, CRED_KEY_ID_SIZE) == 0);
    CHECK_EQ_INT(f.kdf, CRED_KDF_MASTER);

    /* Offsets as documented. */
    CHECK(memcmp(buf, "MISCRED\0", 8) == 0);
    CHECK(buf[8] == 0 && buf[9] == 1);
    CHECK_EQ_INT(buf[10], 2); /* XChaCha20-Poly1305 */
    CHECK_EQ_INT(buf[11], 0); /* master key */
    CHECK(memcmp(buf + 12, k.id, 8) == 0);
    CHECK(memcmp(buf + 20, "\0\0\0\0\x65\x53\xf1\x00", 8) == 0); /* 1700000000 */
    CHECK(all_zero(buf + 28, 28));                               /* KDF parameters, salt */
    CHECK(buf[56] == 0x05 && buf[57] == 0x99);                   /* port 1433 */
    CHECK(memcmp(buf + 58,
                 "\0\3PSD\0\0\0\x09MOBILESVC\0\x0e"
                 "db.example.com",
                 34) == 0);
    size_t nonce_at = 58 + 34;
    CHECK(f.nonce == buf + nonce_at && f.nonce_len == 24);
    size_t sealed_len = (size_t)buf[nonce_at + 24] << 24 | (size_t)buf[nonce_at + 25] << 16 |
                        (size_t)buf[nonce_at + 26] << 8 | buf[nonce_at + 27];
    CHECK_EQ_INT(sealed_len, 64 + 16);
    CHECK_EQ_INT(f.ad_len, nonce_at + 28);
    CHECK(f.ad == buf);
    CHECK_EQ_INT(len, nonce_at + 28 + sealed_len + 16);
    uint8_t sum[16];
    crypto_generichash(sum, 16, buf, len - 16, NULL, 0);
    CHECK(memcmp(sum, buf + len - 16, 16) == 0);

    /* The key id: BLAKE2b-256 of the label and the key, first 8 bytes. */
    uint8_t in[22 + 32], h[32];
    memcpy(in, "miscomm cred key id v1", 22);
    memcpy(in + 22, k.key, 32);
    crypto_generichash(h, 32, in, sizeof in, NULL, 0);
    CHECK(memcmp(h, k.id, 8) == 0);

    /* A passphrase file: its KDF parameters and salt. */
    len = seal_with_passphrase(CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(f.kdf, CRED_KDF_ARGON2ID);
    CHECK_EQ_INT(buf[11], 1);
    CHECK_EQ_INT(f.kdf_memory_kib, FAST_MEMORY);
    CHECK_EQ_INT(f.kdf_passes, FAST_PASSES);
    CHECK_EQ_INT(f.kdf_lanes, 1);
    CHECK(!all_zero(f.salt, sizeof f.salt));
    CHECK(memcmp(buf + 40, f.salt, 16) == 0);
    cred_key_wipe(&k);
}

static void test_wipe(void)
{
    uint8_t buf[CRED_FILE_MAX];
    struct cred_key k;
    struct cred c;
    random_key(&k);
    size_t len = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(try_open(buf, len, &k, &c), 0);
    CHECK(c.password_len > 0 && !all_zero(c.password, sizeof c.password));
    cred_wipe(&c);
    CHECK(all_zero(c.password, sizeof c.password));
    CHECK(all_zero(&c, sizeof c));
    /* A failed open leaves nothing of an earlier success behind. */
    CHECK_EQ_INT(try_open(buf, len, &k, &c), 0);
    struct cred_key other;
    random_key(&other);
    struct cred_file f;
    const char *why;
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(cred_open(&f, &other, NULL, 0, &c, &why), MC_ERR_WRONG_KEY);
    CHECK(all_zero(&c, sizeof c));
    cred_key_wipe(&k);
    CHECK(all_zero(&k, sizeof k));
}

static void test_checks(void)
{
    struct cred c;
    const char *why;
    static const char *const with_password[] = {
        "Driver=x;PWD=secret",     "Driver=x; pwd = secret", "Password=secret;Driver=x",
        "Driver={a;b};PassWord=s", "UID=u;PWD={se;cr}}et}",  "PWD",
    };
    for (size_t i = 0; i < sizeof with_password / sizeof with_password[0]; i++) {
        CHECK(cred_connstr_has_password(with_password[i]));
        sample(&c);
        c.dsn[0] = 0;
        strcpy(c.connection_string, with_password[i]);
        CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
        CHECK_CONTAINS(why, "holds a password");
    }
    static const char *const without[] = {
        "Driver={SQLite3};Database=/srv/psd.db",
        "Driver={a;PWD=b}",        /* inside a braced value */
        "Driver=x;PWDX=1;XPWD=2",  /* other attributes */
        "Driver={x}}PWD=1};UID=u", /* "}}" is a brace inside the value */
        "",
    };
    for (size_t i = 0; i < sizeof without / sizeof without[0]; i++)
        CHECK(!cred_connstr_has_password(without[i]));

    sample(&c);
    CHECK_EQ_INT(cred_check(&c, &why), 0);
    strcpy(c.connection_string, "Driver=x");
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG); /* both */
    sample(&c);
    c.dsn[0] = 0;
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG); /* neither */
    sample(&c);
    c.user[0] = 0;
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
    sample(&c);
    strcpy(c.server, "db\x1b[2J");
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
    CHECK_CONTAINS(why, "control character");
    sample(&c);
    c.port = 65536;
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
    sample(&c);
    c.password_len = 0;
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
    sample(&c);
    c.password[2] = 0;
    CHECK_EQ_INT(cred_check(&c, &why), MC_ERR_INVALID_ARG);
    sample(&c);
    CHECK_EQ_INT(cred_check_meta(&c, &why), 0);

    /* Argon2id below the floor, or above the ceiling, is refused when sealing. */
    uint8_t buf[CRED_FILE_MAX];
    size_t len;
    struct cred_lock weak = {.passphrase = passphrase,
                             .passphrase_len = strlen(passphrase),
                             .kdf_memory_kib = CRED_KDF_MEMORY_MIN - 1};
    CHECK_EQ_INT(cred_seal(&c, &weak, buf, sizeof buf, &len, &why), MC_ERR_INVALID_ARG);
    weak.kdf_memory_kib = 0;
    weak.kdf_passes = 1;
    CHECK_EQ_INT(cred_seal(&c, &weak, buf, sizeof buf, &len, &why), MC_ERR_INVALID_ARG);
    weak.kdf_passes = CRED_KDF_PASSES_MAX + 1;
    CHECK_EQ_INT(cred_seal(&c, &weak, buf, sizeof buf, &len, &why), MC_ERR_INVALID_ARG);
    weak.kdf_passes = 0;
    weak.passphrase_len = 0;
    CHECK_EQ_INT(cred_seal(&c, &weak, buf, sizeof buf, &len, &why), MC_ERR_INVALID_ARG);
    cred_wipe(&c);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void test_master_keys(void)
{
    char data[512], path[1024], hex[CRED_KEY_ID_HEX];
    struct cred_master m, again;
    struct cred_key found;
    const char *why;
    path_in(data, sizeof data, "data");

    CHECK_EQ_INT(cred_master_key_load(data, 0, &m, &why), MC_ERR_NOT_FOUND);
    CHECK(access(data, F_OK) != 0);
    CHECK_EQ_INT(cred_master_key_load(data, 1, &m, &why), 0);
    CHECK(m.created);
    CHECK(m.warning == NULL);
    CHECK_EQ_INT(mode_of(data), 0750 & ~(mode_t)022);
    CHECK_EQ_INT(mode_of(m.dir), 0700);
    cred_key_id_hex(m.current.id, hex);
    snprintf(path, sizeof path, "%s/%s.key", m.dir, hex);
    CHECK_EQ_INT(mode_of(path), 0600);
    uint8_t id[CRED_KEY_ID_SIZE];
    cred_key_id(m.current.key, id);
    CHECK(memcmp(id, m.current.id, sizeof id) == 0);

    /* Loaded again: the same key, nothing made. */
    CHECK_EQ_INT(cred_master_key_load(data, 1, &again, &why), 0);
    CHECK(!again.created);
    CHECK(memcmp(&again.current, &m.current, sizeof m.current) == 0);

    /* A file sealed before a rotation still opens with the old key, found by its id. */
    uint8_t buf[CRED_FILE_MAX];
    size_t len = seal_with_key(&m.current, CRED_AEAD_AUTO, buf);
    struct cred_key old = m.current;
    CHECK_EQ_INT(cred_master_key_rotate(&m, &why), 0);
    CHECK(memcmp(old.id, m.current.id, sizeof old.id) != 0);
    CHECK_EQ_INT(cred_master_key_load(data, 0, &again, &why), 0);
    CHECK(memcmp(&again.current, &m.current, sizeof m.current) == 0);
    struct cred_file f;
    struct cred c;
    CHECK_EQ_INT(cred_parse(buf, len, &f, &why), 0);
    CHECK_EQ_INT(cred_master_key_find(&again, f.key_id, &found, &why), 0);
    CHECK(memcmp(&found, &old, sizeof old) == 0);
    CHECK_EQ_INT(cred_open(&f, &found, NULL, 0, &c, &why), 0);
    check_sample(&c);
    CHECK_EQ_INT(cred_open(&f, &again.current, NULL, 0, &c, &why), MC_ERR_WRONG_KEY);

    /* The old key removed by the administrator: its files name an unknown key. */
    cred_key_id_hex(old.id, hex);
    snprintf(path, sizeof path, "%s/%s.key", m.dir, hex);
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(cred_master_key_find(&again, f.key_id, &found, &why), MC_ERR_UNKNOWN_KEY);
    CHECK(all_zero(&found, sizeof found));

    /* A damaged key file is told apart from a missing one. */
    cred_key_id_hex(m.current.id, hex);
    snprintf(path, sizeof path, "%s/%s.key", m.dir, hex);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", fp);
        fclose(fp);
    }
    CHECK_EQ_INT(cred_master_key_load(data, 0, &again, &why), MC_ERR_CONFIG);
    CHECK_CONTAINS(why, "damaged");
    CHECK_EQ_INT(chmod(path, 0644), 0);
    fp = fopen(path, "w");
    if (fp) {
        fputs("not hex\n", fp);
        fclose(fp);
    }
    CHECK_EQ_INT(cred_master_key_load(data, 0, &again, &why), MC_ERR_CONFIG);
    /* "current" naming a key that is gone. */
    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(cred_master_key_load(data, 1, &again, &why), MC_ERR_UNKNOWN_KEY);

    cred_key_wipe(&old);
    cred_wipe(&c);
    cred_master_wipe(&m);
    cred_master_wipe(&again);
}

/* A readable key file loads, with a warning. */
static void test_master_key_warning(void)
{
    char data[512], path[1024], hex[CRED_KEY_ID_HEX];
    struct cred_master m;
    const char *why;
    path_in(data, sizeof data, "data2");
    CHECK_EQ_INT(cred_master_key_load(data, 1, &m, &why), 0);
    cred_key_id_hex(m.current.id, hex);
    snprintf(path, sizeof path, "%s/%s.key", m.dir, hex);
    CHECK_EQ_INT(chmod(path, 0644), 0);
    CHECK_EQ_INT(cred_master_key_load(data, 0, &m, &why), 0);
    CHECK(m.warning != NULL);
    CHECK_EQ_INT(chmod(path, 0600), 0);
    CHECK_EQ_INT(chmod(m.dir, 0755), 0);
    CHECK_EQ_INT(cred_master_key_load(data, 0, &m, &why), 0);
    CHECK(m.warning != NULL);
    cred_master_wipe(&m);
}

static void test_files(void)
{
    char path[512];
    uint8_t buf[CRED_FILE_MAX + 8];
    size_t len;
    const char *why;
    struct cred_key k;
    random_key(&k);
    path_in(path, sizeof path, "x.cred");
    size_t n = seal_with_key(&k, CRED_AEAD_AUTO, buf);
    CHECK_EQ_INT(cred_file_write(path, buf, n, 0), 0);
    CHECK_EQ_INT(mode_of(path), 0600);
    CHECK_EQ_INT(cred_file_write(path, buf, n, 0), MC_ERR_EXISTS);
    CHECK_EQ_INT(cred_file_write(path, buf, n, 1), 0);
    uint8_t back[CRED_FILE_MAX];
    CHECK_EQ_INT(cred_file_read(path, back, sizeof back, &len, &why), 0);
    CHECK_EQ_INT(len, n);
    CHECK(memcmp(back, buf, n) == 0);
    /* Exactly CRED_FILE_MAX bytes is read; one more is refused without being parsed. */
    memset(buf, 'A', sizeof buf);
    CHECK_EQ_INT(cred_file_write(path, buf, CRED_FILE_MAX, 1), 0);
    CHECK_EQ_INT(cred_file_read(path, back, sizeof back, &len, &why), 0);
    CHECK_EQ_INT(len, CRED_FILE_MAX);
    CHECK_EQ_INT(cred_file_write(path, buf, CRED_FILE_MAX + 1, 1), 0);
    CHECK_EQ_INT(cred_file_read(path, back, sizeof back, &len, &why), MC_ERR_BAD_CREDENTIAL);
    unlink(path);
    CHECK_EQ_INT(cred_file_read(path, back, sizeof back, &len, &why), MC_ERR_NOT_FOUND);
    cred_key_wipe(&k);
}

int main(void)
{
    umask(022);
    if (sodium_init() < 0 || !mkdtemp(dir)) {
        fprintf(stderr, "test_cred: cannot start: %s\n", strerror(errno));
        return 1;
    }
    test_round_trips();
    test_padding();
    test_every_byte();
    test_truncated();
    test_wrong_key_and_version();
    test_layout_and_metadata();
    test_wipe();
    test_checks();
    test_master_keys();
    test_master_key_warning();
    test_files();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_cred: could not remove %s\n", dir);
    return check_report("test_cred");
}
