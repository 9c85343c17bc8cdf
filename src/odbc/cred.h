/*
 * ODBC credential files: the database password, sealed with an AEAD, and
 * the connection's metadata beside it in clear but authenticated.
 *
 * docs/admin.md ("ODBC credential files") is the contract for the byte
 * layout, the algorithms, the key ids and the rotation; this header is the
 * contract for the code:
 *
 *   - cred_parse() is a pure function over (buf, len): it checks the
 *     structure, the version and the checksum, and fills a cred_file with
 *     the metadata and pointers into buf. No key, no allocation, no system
 *     call; tests/fuzz/fuzz_cred.c fuzzes it. Anyone may read the metadata.
 *   - cred_seal() and cred_open() are the only functions that see a
 *     password; they wipe every buffer that held it or a key. The caller
 *     wipes the struct cred it got back with cred_wipe().
 *   - The master keys live in DATA_DIR/cred-keys/, one file per key named
 *     by its key id, and a file "current" naming the key new files are
 *     sealed with. Old keys stay until the administrator deletes them, so a
 *     file sealed before a rotation still opens.
 *
 * Every failure returns a negative MC_ERR_* and sets *why to a static
 * English phrase for the message; neither ever holds a secret.
 * MC_ERR_BAD_CREDENTIAL: not a credential file, truncated, damaged or
 * tampered with. MC_ERR_CREDENTIAL_VERSION: a format version this code does
 * not read. MC_ERR_WRONG_KEY: the key or passphrase given is not the one
 * the file was sealed with. MC_ERR_UNKNOWN_KEY: no master key with the
 * file's key id.
 */
#ifndef MC_CRED_H
#define MC_CRED_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CRED_VERSION       1u /* the only format version written and read */
#define CRED_KEY_SIZE      32u
#define CRED_KEY_ID_SIZE   8u
#define CRED_KEY_ID_HEX    (2u * CRED_KEY_ID_SIZE + 1u) /* with the NUL */
#define CRED_SALT_SIZE     16u
#define CRED_NONCE_MAX     24u
#define CRED_TAG_SIZE      16u
#define CRED_CHECKSUM_SIZE 16u
#define CRED_PAD_BLOCK     64u /* the password is padded to a multiple of this */

/* Metadata and password limits, in bytes (without the NUL). */
#define CRED_DSN_MAX      255u
#define CRED_CONNSTR_MAX  1024u
#define CRED_USER_MAX     255u
#define CRED_SERVER_MAX   255u
#define CRED_PASSWORD_MAX 1023u
/* No file within the limits above is longer. */
#define CRED_FILE_MAX 4096u

/* Argon2id (passphrase files): at or above OWASP's minimum, m=19 MiB, t=2, p=1. */
#define CRED_KDF_MEMORY_MIN     19456u   /* KiB */
#define CRED_KDF_MEMORY_DEFAULT 65536u   /* KiB: RFC 9106's second choice, 64 MiB */
#define CRED_KDF_MEMORY_MAX     1048576u /* KiB: 1 GiB, also the most a file may ask to open */
#define CRED_KDF_PASSES_MIN     2u
#define CRED_KDF_PASSES_DEFAULT 3u
#define CRED_KDF_PASSES_MAX     16u

#define CRED_KEYS_DIR "cred-keys" /* in the data directory */

enum cred_aead {
    CRED_AEAD_AUTO = 0,      /* sealing only: AES-256-GCM when the CPU can, else XChaCha20 */
    CRED_AEAD_AES256GCM = 1, /* libsodium, needs AES-NI and PCLMUL */
    CRED_AEAD_XCHACHA20POLY1305 = 2,
};

enum cred_kdf {
    CRED_KDF_MASTER = 0,   /* sealed with a master key from the data directory */
    CRED_KDF_ARGON2ID = 1, /* sealed with a key derived from a passphrase */
};

/* What the database connection needs. Wipe it with cred_wipe(). */
struct cred {
    char dsn[CRED_DSN_MAX + 1];                   /* either a DSN ... */
    char connection_string[CRED_CONNSTR_MAX + 1]; /* ... or a string without the password */
    char user[CRED_USER_MAX + 1];
    char server[CRED_SERVER_MAX + 1]; /* optional, "" when not given */
    unsigned port;                    /* optional, 0 when not given */
    char password[CRED_PASSWORD_MAX + 1];
    size_t password_len;
};

/* A parsed file: everything but the password, readable without a key. */
struct cred_file {
    unsigned version;
    int aead; /* enum cred_aead */
    int kdf;  /* enum cred_kdf */
    uint8_t key_id[CRED_KEY_ID_SIZE];
    uint64_t created; /* seconds since 1970-01-01T00:00:00Z */
    uint32_t kdf_memory_kib, kdf_passes, kdf_lanes;
    uint8_t salt[CRED_SALT_SIZE];
    struct cred meta;  /* password empty */
    const uint8_t *ad; /* the bytes authenticated as associated data, in buf */
    size_t ad_len;
    const uint8_t *nonce; /* in buf */
    size_t nonce_len;
    const uint8_t *sealed; /* the ciphertext and its tag, in buf */
    size_t sealed_len;
};

struct cred_key {
    uint8_t id[CRED_KEY_ID_SIZE];
    uint8_t key[CRED_KEY_SIZE];
};

/* How cred_seal() locks a new file: with a key, or with a passphrase. */
struct cred_lock {
    int aead;                   /* enum cred_aead; CRED_AEAD_AUTO normally */
    const struct cred_key *key; /* a master key, or NULL for a passphrase */
    const char *passphrase;
    size_t passphrase_len;
    uint32_t kdf_memory_kib; /* 0: CRED_KDF_MEMORY_DEFAULT */
    uint32_t kdf_passes;     /* 0: CRED_KDF_PASSES_DEFAULT */
    uint64_t created;        /* 0: now */
};

/* The master keys of a data directory: the current one, and where the others are. */
struct cred_master {
    char dir[PATH_MAX];      /* DATA_DIR/cred-keys */
    struct cred_key current; /* new files are sealed with it */
    int created;             /* cred_master_key_load() made it just now */
    const char *warning;     /* NULL, or why the key's file or folder is not private */
};

/*
 * Check a credential before sealing: cred_check_meta() the metadata (limits,
 * a DSN or a connection string, a user, no control character, no password
 * in the connection string, the port), cred_check() that and the password.
 * MC_ERR_INVALID_ARG with *why.
 */
__attribute__((warn_unused_result)) int cred_check_meta(const struct cred *c, const char **why);
__attribute__((warn_unused_result)) int cred_check(const struct cred *c, const char **why);
/* 1 when an ODBC connection string has a PWD or Password attribute. */
int cred_connstr_has_password(const char *s);

__attribute__((warn_unused_result)) int cred_parse(const uint8_t *buf, size_t len,
                                                   struct cred_file *f, const char **why);
/*
 * Seal c into out (cap bytes, CRED_FILE_MAX is always enough); *out_len is
 * the file's length. A fresh random nonce (and salt) every time.
 */
__attribute__((warn_unused_result)) int cred_seal(const struct cred *c,
                                                  const struct cred_lock *lock, uint8_t *out,
                                                  size_t cap, size_t *out_len, const char **why);
/*
 * Open a parsed file into out: with key for a master-key file, with the
 * passphrase for a passphrase file (the other is ignored and may be NULL).
 * out is wiped on failure.
 */
__attribute__((warn_unused_result)) int cred_open(const struct cred_file *f,
                                                  const struct cred_key *key,
                                                  const char *passphrase, size_t passphrase_len,
                                                  struct cred *out, const char **why);
void cred_wipe(struct cred *c);

/* The key id of a key: the first 8 bytes of BLAKE2b-256("miscomm cred key id v1" || key). */
void cred_key_id(const uint8_t key[CRED_KEY_SIZE], uint8_t id[CRED_KEY_ID_SIZE]);
void cred_key_id_hex(const uint8_t id[CRED_KEY_ID_SIZE], char out[CRED_KEY_ID_HEX]);
void cred_key_wipe(struct cred_key *k);
/* AES-256-GCM when crypto_aead_aes256gcm_is_available(), else XChaCha20-Poly1305. */
int cred_aead_default(void);
const char *cred_aead_name(int aead);

/*
 * Load the current master key of data_dir. When there is none yet and
 * create is set, make one (the data directory 0750 and cred-keys 0700 if
 * missing, the key file 0600, each written whole or not at all; two
 * processes doing it at once agree on one key) and set m->created.
 * MC_ERR_NOT_FOUND when there is none and create is not set.
 */
__attribute__((warn_unused_result)) int
cred_master_key_load(const char *data_dir, int create, struct cred_master *m, const char **why);
/* The master key with this id, from m->dir: MC_ERR_UNKNOWN_KEY when there is none. */
__attribute__((warn_unused_result)) int cred_master_key_find(const struct cred_master *m,
                                                             const uint8_t id[CRED_KEY_ID_SIZE],
                                                             struct cred_key *out,
                                                             const char **why);
/*
 * Rotation: a new random key file in m->dir, made current. The old key
 * files are left where they are.
 */
__attribute__((warn_unused_result)) int cred_master_key_rotate(struct cred_master *m,
                                                               const char **why);
void cred_master_wipe(struct cred_master *m);

/* Read a credential file whole: MC_ERR_NOT_FOUND, MC_ERR_IO, or MC_ERR_BAD_CREDENTIAL if too large.
 */
__attribute__((warn_unused_result)) int cred_file_read(const char *path, uint8_t *buf, size_t cap,
                                                       size_t *len, const char **why);
/* Write one with safefile_write(), mode 0600; MC_ERR_EXISTS unless replace. */
__attribute__((warn_unused_result)) int cred_file_write(const char *path, const uint8_t *buf,
                                                        size_t len, int replace);

#endif
