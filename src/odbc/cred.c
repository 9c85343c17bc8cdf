/*
 * ODBC credential files: the format (parse, seal, open). The master keys
 * that seal them are in cred_master.c. docs/admin.md draws the layout.
 */
#include "cred.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "miscomm/error.h"
#include "wire.h"

static const uint8_t cred_magic[8] = {'M', 'I', 'S', 'C', 'R', 'E', 'D', 0};

/* Bytes of the fixed part: magic to port, before the first string. */
#define CRED_FIXED_SIZE 58u
/* The padded password: CRED_PASSWORD_MAX bytes and at least one byte of padding. */
#define CRED_PADDED_MAX (CRED_PASSWORD_MAX + 1u)

int cred_aead_default(void)
{
    if (sodium_init() < 0)
        return CRED_AEAD_XCHACHA20POLY1305;
    return crypto_aead_aes256gcm_is_available() ? CRED_AEAD_AES256GCM : CRED_AEAD_XCHACHA20POLY1305;
}

const char *cred_aead_name(int aead)
{
    switch (aead) {
    case CRED_AEAD_AES256GCM:
        return "AES-256-GCM";
    case CRED_AEAD_XCHACHA20POLY1305:
        return "XChaCha20-Poly1305";
    default:
        return "unknown";
    }
}

static size_t nonce_size(int aead)
{
    return aead == CRED_AEAD_AES256GCM ? crypto_aead_aes256gcm_NPUBBYTES
                                       : crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
}

void cred_key_id(const uint8_t key[CRED_KEY_SIZE], uint8_t id[CRED_KEY_ID_SIZE])
{
    static const char label[] = "miscomm cred key id v1";
    uint8_t hash[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof hash);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, key, CRED_KEY_SIZE);
    crypto_generichash_final(&st, hash, sizeof hash);
    memcpy(id, hash, CRED_KEY_ID_SIZE);
    sodium_memzero(&st, sizeof st);
}

void cred_key_id_hex(const uint8_t id[CRED_KEY_ID_SIZE], char out[CRED_KEY_ID_HEX])
{
    sodium_bin2hex(out, CRED_KEY_ID_HEX, id, CRED_KEY_ID_SIZE);
}

void cred_key_wipe(struct cred_key *k)
{
    sodium_memzero(k, sizeof *k);
}

void cred_wipe(struct cred *c)
{
    sodium_memzero(c, sizeof *c);
}

/* The checksum: BLAKE2b-128 of every byte before it. It catches damage, not forgery. */
static void checksum(const uint8_t *p, size_t n, uint8_t out[CRED_CHECKSUM_SIZE])
{
    crypto_generichash(out, CRED_CHECKSUM_SIZE, p, n, NULL, 0);
}

/* --- what may be sealed --- */

static int attr_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

int cred_connstr_has_password(const char *s)
{
    /*
     * ODBC attributes are "KEY=VALUE" separated by ';'; a value in braces
     * may hold ';' and '=' ("}}" is a literal '}'). Keys are compared
     * without case and surrounding spaces, as driver managers do.
     */
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        const char *end = p;
        while (end > key && end[-1] == ' ')
            end--;
        size_t n = (size_t)(end - key);
        if (attr_is(key, n, "PWD") || attr_is(key, n, "PASSWORD"))
            return 1;
        if (*p != '=')
            continue;
        p++;
        while (*p == ' ')
            p++;
        if (*p == '{') {
            for (p++; *p; p++) {
                if (*p == '}' && p[1] == '}') {
                    p++;
                } else if (*p == '}') {
                    p++;
                    break;
                }
            }
        }
        while (*p && *p != ';')
            p++;
    }
    return 0;
}

/* 1 when s (n bytes) has a control character: shown by 'misctl cred show', so none. */
static int has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7F)
            return 1;
    }
    return 0;
}

/* The metadata rules, the same for sealing and for parsing. */
int cred_check_meta(const struct cred *c, const char **why)
{
    /* A field without its NUL measures its whole array: longer than allowed. */
    size_t dsn = strnlen(c->dsn, sizeof c->dsn);
    size_t cs = strnlen(c->connection_string, sizeof c->connection_string);
    size_t user = strnlen(c->user, sizeof c->user);
    size_t server = strnlen(c->server, sizeof c->server);
    if (dsn > CRED_DSN_MAX || cs > CRED_CONNSTR_MAX || user > CRED_USER_MAX ||
        server > CRED_SERVER_MAX) {
        *why = "a DSN, connection string, user or server name is too long";
        return MC_ERR_INVALID_ARG;
    }
    if ((dsn == 0) == (cs == 0)) {
        *why = dsn ? "give either a DSN or a connection string, not both"
                   : "a DSN or a connection string is needed";
        return MC_ERR_INVALID_ARG;
    }
    if (user == 0) {
        *why = "a user name is needed";
        return MC_ERR_INVALID_ARG;
    }
    if (has_control(c->dsn, dsn) || has_control(c->connection_string, cs) ||
        has_control(c->user, user) || has_control(c->server, server)) {
        *why = "a DSN, connection string, user or server name holds a control character";
        return MC_ERR_INVALID_ARG;
    }
    if (cs && cred_connstr_has_password(c->connection_string)) {
        *why = "the connection string holds a password (a PWD or Password attribute): the "
               "password belongs in the sealed part, never in the metadata";
        return MC_ERR_INVALID_ARG;
    }
    if (c->port > 65535) {
        *why = "the port must be from 1 to 65535";
        return MC_ERR_INVALID_ARG;
    }
    return 0;
}

int cred_check(const struct cred *c, const char **why)
{
    int rc = cred_check_meta(c, why);
    if (rc < 0)
        return rc;
    if (c->password_len == 0 || c->password_len > CRED_PASSWORD_MAX) {
        *why = c->password_len ? "the password is longer than 1023 bytes" : "the password is empty";
        return MC_ERR_INVALID_ARG;
    }
    if (memchr(c->password, 0, c->password_len)) {
        *why = "the password holds a NUL byte";
        return MC_ERR_INVALID_ARG;
    }
    return 0;
}

/* --- parsing --- */

/* The next string of the metadata into dst; its limit is the array's size less the NUL. */
static void get_string(struct wire_reader *r, char *dst, size_t cap)
{
    wire_str_copy(dst, cap, wire_get_str(r, cap - 1));
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int cred_parse(const uint8_t *buf, size_t len, struct cred_file *f, const char **why)
{
    memset(f, 0, sizeof *f);
    *why = NULL;
    if (len < 8 ? memcmp(buf, cred_magic, len) != 0 : memcmp(buf, cred_magic, 8) != 0) {
        *why = "not a miscomm credential file";
        return MC_ERR_BAD_CREDENTIAL;
    }
    if (len < 10) {
        *why = "the file is truncated";
        return MC_ERR_BAD_CREDENTIAL;
    }
    /* The version first: another version may lay out everything after it differently. */
    f->version = (unsigned)(buf[8] << 8 | buf[9]);
    if (f->version != CRED_VERSION) {
        *why = "this miscomm reads credential files of version 1 only";
        return MC_ERR_CREDENTIAL_VERSION;
    }
    if (len < CRED_FIXED_SIZE + CRED_CHECKSUM_SIZE) {
        *why = "the file is truncated";
        return MC_ERR_BAD_CREDENTIAL;
    }
    if (len > CRED_FILE_MAX) {
        *why = "the file is larger than any credential file";
        return MC_ERR_BAD_CREDENTIAL;
    }
    size_t body = len - CRED_CHECKSUM_SIZE;
    uint8_t sum[CRED_CHECKSUM_SIZE];
    checksum(buf, body, sum);
    if (sodium_memcmp(sum, buf + body, CRED_CHECKSUM_SIZE) != 0) {
        *why = "the checksum does not match: the file is damaged or truncated";
        return MC_ERR_BAD_CREDENTIAL;
    }

    /*
     * From here on the bytes are the ones written, or a forgery with a
     * recomputed checksum: every field is still checked, and the AEAD tag
     * in cred_open() is what refuses a forgery.
     */
    struct wire_reader r;
    wire_reader_init(&r, buf, body);
    (void)wire_get_bytes(&r, 10);
    const uint8_t *ids = wire_get_bytes(&r, 2);
    f->aead = ids[0];
    f->kdf = ids[1];
    memcpy(f->key_id, wire_get_bytes(&r, CRED_KEY_ID_SIZE), CRED_KEY_ID_SIZE);
    f->created = wire_get_u64(&r);
    f->kdf_memory_kib = wire_get_u32(&r);
    f->kdf_passes = wire_get_u32(&r);
    f->kdf_lanes = wire_get_u32(&r);
    memcpy(f->salt, wire_get_bytes(&r, CRED_SALT_SIZE), CRED_SALT_SIZE);
    f->meta.port = wire_get_u16(&r);
    get_string(&r, f->meta.dsn, sizeof f->meta.dsn);
    get_string(&r, f->meta.connection_string, sizeof f->meta.connection_string);
    get_string(&r, f->meta.user, sizeof f->meta.user);
    get_string(&r, f->meta.server, sizeof f->meta.server);
    if (r.err) {
        *why = "the metadata is malformed (a string too long, truncated or holding a NUL)";
        return MC_ERR_BAD_CREDENTIAL;
    }
    if (f->aead != CRED_AEAD_AES256GCM && f->aead != CRED_AEAD_XCHACHA20POLY1305) {
        *why = "unknown encryption algorithm";
        return MC_ERR_BAD_CREDENTIAL;
    }
    if (f->kdf == CRED_KDF_MASTER) {
        if (f->kdf_memory_kib || f->kdf_passes || f->kdf_lanes ||
            !all_zero(f->salt, sizeof f->salt)) {
            *why = "a master-key file with key derivation parameters";
            return MC_ERR_BAD_CREDENTIAL;
        }
    } else if (f->kdf == CRED_KDF_ARGON2ID) {
        if (f->kdf_memory_kib < CRED_KDF_MEMORY_MIN || f->kdf_memory_kib > CRED_KDF_MEMORY_MAX ||
            f->kdf_passes < CRED_KDF_PASSES_MIN || f->kdf_passes > CRED_KDF_PASSES_MAX ||
            f->kdf_lanes != 1) {
            *why = "Argon2id parameters out of range (memory 19 MiB to 1 GiB, 2 to 16 passes, "
                   "1 lane)";
            return MC_ERR_BAD_CREDENTIAL;
        }
    } else {
        *why = "unknown key derivation";
        return MC_ERR_BAD_CREDENTIAL;
    }
    const char *meta_why;
    if (cred_check_meta(&f->meta, &meta_why) < 0) {
        *why = meta_why;
        return MC_ERR_BAD_CREDENTIAL;
    }
    f->nonce_len = nonce_size(f->aead);
    f->nonce = wire_get_bytes(&r, f->nonce_len);
    f->sealed_len = wire_get_u32(&r);
    f->ad = buf;
    f->ad_len = r.off;
    f->sealed = wire_get_bytes(&r, f->sealed_len);
    if (wire_reader_done(&r) != 0) {
        *why = "the sealed password is truncated or followed by stray bytes";
        return MC_ERR_BAD_CREDENTIAL;
    }
    if (f->sealed_len < CRED_PAD_BLOCK + CRED_TAG_SIZE ||
        f->sealed_len > CRED_PADDED_MAX + CRED_TAG_SIZE ||
        (f->sealed_len - CRED_TAG_SIZE) % CRED_PAD_BLOCK != 0) {
        *why = "the sealed password has an impossible length";
        return MC_ERR_BAD_CREDENTIAL;
    }
    return 0;
}

/* --- sealing and opening --- */

/* Argon2id of the passphrase: the file's key. */
static int derive(const char *pass, size_t pass_len, const uint8_t salt[CRED_SALT_SIZE],
                  uint32_t memory_kib, uint32_t passes, struct cred_key *out)
{
    if (crypto_pwhash(out->key, sizeof out->key, pass, pass_len, salt, passes,
                      (size_t)memory_kib * 1024u, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return MC_ERR_NOMEM;
    cred_key_id(out->key, out->id);
    return 0;
}

static int aead_usable(int aead, const char **why)
{
    if (aead == CRED_AEAD_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
        *why = "this CPU lacks the AES-NI instructions libsodium's AES-256-GCM needs (a file "
               "sealed here would use XChaCha20-Poly1305)";
        return MC_ERR_CRYPTO;
    }
    return 0;
}

int cred_seal(const struct cred *c, const struct cred_lock *lock, uint8_t *out, size_t cap,
              size_t *out_len, const char **why)
{
    struct cred_key derived;
    const struct cred_key *key = lock->key;
    uint8_t salt[CRED_SALT_SIZE] = {0}, nonce[CRED_NONCE_MAX];
    uint8_t padded[CRED_PADDED_MAX];
    uint32_t memory = 0, passes = 0, lanes = 0;
    size_t padded_len = 0;
    int aead = lock->aead ? lock->aead : cred_aead_default();
    int kdf = key ? CRED_KDF_MASTER : CRED_KDF_ARGON2ID;
    int rc;

    *why = NULL;
    *out_len = 0;
    memset(&derived, 0, sizeof derived);
    if (sodium_init() < 0) {
        *why = "libsodium cannot start";
        return MC_ERR_CRYPTO;
    }
    rc = cred_check(c, why);
    if (rc < 0)
        return rc;
    if (aead != CRED_AEAD_AES256GCM && aead != CRED_AEAD_XCHACHA20POLY1305) {
        *why = "unknown encryption algorithm";
        return MC_ERR_INVALID_ARG;
    }
    rc = aead_usable(aead, why);
    if (rc < 0)
        return rc;
    if (kdf == CRED_KDF_ARGON2ID) {
        memory = lock->kdf_memory_kib ? lock->kdf_memory_kib : CRED_KDF_MEMORY_DEFAULT;
        passes = lock->kdf_passes ? lock->kdf_passes : CRED_KDF_PASSES_DEFAULT;
        lanes = 1;
        if (memory < CRED_KDF_MEMORY_MIN || memory > CRED_KDF_MEMORY_MAX ||
            passes < CRED_KDF_PASSES_MIN || passes > CRED_KDF_PASSES_MAX) {
            *why = "Argon2id needs 19 MiB to 1 GiB of memory and 2 to 16 passes";
            return MC_ERR_INVALID_ARG;
        }
        if (!lock->passphrase || lock->passphrase_len == 0) {
            *why = "the passphrase is empty";
            return MC_ERR_INVALID_ARG;
        }
        randombytes_buf(salt, sizeof salt);
        rc = derive(lock->passphrase, lock->passphrase_len, salt, memory, passes, &derived);
        if (rc < 0) {
            *why = "Argon2id could not get its memory";
            goto out;
        }
        key = &derived;
    }
    size_t nonce_len = nonce_size(aead);
    randombytes_buf(nonce, nonce_len);

    memcpy(padded, c->password, c->password_len);
    if (sodium_pad(&padded_len, padded, c->password_len, CRED_PAD_BLOCK, sizeof padded) != 0) {
        *why = "the password is longer than 1023 bytes";
        rc = MC_ERR_INVALID_ARG;
        goto out;
    }
    struct wire_writer w;
    wire_writer_init(&w, out, cap);
    wire_put_bytes(&w, cred_magic, sizeof cred_magic);
    wire_put_u16(&w, CRED_VERSION);
    const uint8_t ids[2] = {(uint8_t)aead, (uint8_t)kdf};
    wire_put_bytes(&w, ids, sizeof ids);
    wire_put_bytes(&w, key->id, sizeof key->id);
    wire_put_u64(&w, lock->created ? lock->created : (uint64_t)time(NULL));
    wire_put_u32(&w, memory);
    wire_put_u32(&w, passes);
    wire_put_u32(&w, lanes);
    wire_put_bytes(&w, salt, sizeof salt);
    wire_put_u16(&w, (uint16_t)c->port);
    wire_put_cstr(&w, c->dsn);
    wire_put_cstr(&w, c->connection_string);
    wire_put_cstr(&w, c->user);
    wire_put_cstr(&w, c->server);
    wire_put_bytes(&w, nonce, nonce_len);
    size_t sealed_len = padded_len + CRED_TAG_SIZE;
    wire_put_u32(&w, (uint32_t)sealed_len);
    size_t ad_len = w.len;
    if (w.err || cap - w.len < sealed_len + CRED_CHECKSUM_SIZE) {
        *why = "the output buffer is too small";
        rc = MC_ERR_INVALID_ARG;
        goto out;
    }
    unsigned long long got = 0;
    if (aead == CRED_AEAD_AES256GCM)
        rc = crypto_aead_aes256gcm_encrypt(out + ad_len, &got, padded, padded_len, out, ad_len,
                                           NULL, nonce, key->key);
    else
        rc = crypto_aead_xchacha20poly1305_ietf_encrypt(out + ad_len, &got, padded, padded_len, out,
                                                        ad_len, NULL, nonce, key->key);
    if (rc != 0 || got != sealed_len) {
        *why = "the encryption failed";
        rc = MC_ERR_CRYPTO;
        goto out;
    }
    checksum(out, ad_len + sealed_len, out + ad_len + sealed_len);
    *out_len = ad_len + sealed_len + CRED_CHECKSUM_SIZE;
    rc = 0;
out:
    sodium_memzero(padded, sizeof padded);
    cred_key_wipe(&derived);
    return rc;
}

int cred_open(const struct cred_file *f, const struct cred_key *key, const char *passphrase,
              size_t passphrase_len, struct cred *out, const char **why)
{
    struct cred_key derived;
    uint8_t padded[CRED_PADDED_MAX];
    unsigned long long padded_len = 0;
    size_t password_len = 0;
    int rc;

    *why = NULL;
    memset(&derived, 0, sizeof derived);
    cred_wipe(out);
    if (sodium_init() < 0) {
        *why = "libsodium cannot start";
        return MC_ERR_CRYPTO;
    }
    rc = aead_usable(f->aead, why);
    if (rc < 0)
        return rc;
    if (f->kdf == CRED_KDF_MASTER) {
        if (!key) {
            *why = "the file is sealed with a master key and none was given";
            return MC_ERR_INVALID_ARG;
        }
        if (sodium_memcmp(key->id, f->key_id, CRED_KEY_ID_SIZE) != 0) {
            *why = "the file is sealed with another master key (the key ids differ)";
            return MC_ERR_WRONG_KEY;
        }
    } else {
        if (!passphrase || passphrase_len == 0) {
            *why = "the file is sealed with a passphrase and none was given";
            return MC_ERR_INVALID_ARG;
        }
        rc =
            derive(passphrase, passphrase_len, f->salt, f->kdf_memory_kib, f->kdf_passes, &derived);
        if (rc < 0) {
            *why = "Argon2id could not get its memory";
            goto out;
        }
        /* The key id of the derived key tells a wrong passphrase from a forged file. */
        if (sodium_memcmp(derived.id, f->key_id, CRED_KEY_ID_SIZE) != 0) {
            *why = "wrong passphrase";
            rc = MC_ERR_WRONG_KEY;
            goto out;
        }
        key = &derived;
    }
    if (f->aead == CRED_AEAD_AES256GCM)
        rc = crypto_aead_aes256gcm_decrypt(padded, &padded_len, NULL, f->sealed, f->sealed_len,
                                           f->ad, f->ad_len, f->nonce, key->key);
    else
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, f->sealed,
                                                        f->sealed_len, f->ad, f->ad_len, f->nonce,
                                                        key->key);
    if (rc != 0) {
        *why = "authentication failed: the file was changed after it was sealed";
        rc = MC_ERR_BAD_CREDENTIAL;
        goto out;
    }
    if (sodium_unpad(&password_len, padded, (size_t)padded_len, CRED_PAD_BLOCK) != 0 ||
        password_len == 0 || password_len > CRED_PASSWORD_MAX) {
        *why = "the sealed password is malformed";
        rc = MC_ERR_BAD_CREDENTIAL;
        goto out;
    }
    out->port = f->meta.port;
    memcpy(out->dsn, f->meta.dsn, sizeof out->dsn);
    memcpy(out->connection_string, f->meta.connection_string, sizeof out->connection_string);
    memcpy(out->user, f->meta.user, sizeof out->user);
    memcpy(out->server, f->meta.server, sizeof out->server);
    memcpy(out->password, padded, password_len);
    out->password[password_len] = 0;
    out->password_len = password_len;
    rc = 0;
out:
    sodium_memzero(padded, sizeof padded);
    cred_key_wipe(&derived);
    if (rc < 0)
        cred_wipe(out);
    return rc;
}
