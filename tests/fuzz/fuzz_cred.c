/*
 * libFuzzer target for the credential file parser. The input's last 16
 * bytes are replaced by the right checksum before parsing, so the fuzzer
 * reaches the fields instead of stopping at the checksum, as a forger who
 * recomputes it would. Whatever the bytes, cred_parse() answers 0 or one of
 * its errors with a reason, and a file it accepts is checked here: strings
 * within their limits and terminated, the pieces adding up to the whole.
 * Master-key files are then opened with the key the seed corpus was sealed
 * with (tests/fuzz/corpus/cred): only an unchanged file may open.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "miscomm/error.h"

/* Not assert(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int terminated(const char *s, size_t cap, size_t max)
{
    size_t n = strnlen(s, cap);
    return n < cap && n <= max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[CRED_FILE_MAX + 64];
    struct cred_file f;
    const char *why = "unset";
    if (size > sizeof buf)
        return 0;
    memcpy(buf, data, size);
    if (size > CRED_CHECKSUM_SIZE)
        crypto_generichash(buf + size - CRED_CHECKSUM_SIZE, CRED_CHECKSUM_SIZE, buf,
                           size - CRED_CHECKSUM_SIZE, NULL, 0);
    int rc = cred_parse(buf, size, &f, &why);
    if (rc < 0) {
        CHECK(rc == MC_ERR_BAD_CREDENTIAL || rc == MC_ERR_CREDENTIAL_VERSION);
        CHECK(why != NULL && why[0] != 0);
        return 0;
    }
    CHECK(f.version == CRED_VERSION);
    CHECK(f.aead == CRED_AEAD_AES256GCM || f.aead == CRED_AEAD_XCHACHA20POLY1305);
    CHECK(f.kdf == CRED_KDF_MASTER || f.kdf == CRED_KDF_ARGON2ID);
    CHECK(terminated(f.meta.dsn, sizeof f.meta.dsn, CRED_DSN_MAX));
    CHECK(terminated(f.meta.connection_string, sizeof f.meta.connection_string, CRED_CONNSTR_MAX));
    CHECK(terminated(f.meta.user, sizeof f.meta.user, CRED_USER_MAX));
    CHECK(terminated(f.meta.server, sizeof f.meta.server, CRED_SERVER_MAX));
    CHECK((f.meta.dsn[0] != 0) != (f.meta.connection_string[0] != 0));
    CHECK(f.meta.user[0] != 0);
    CHECK(f.meta.password_len == 0);
    CHECK(f.ad == buf && f.nonce > buf && f.nonce + f.nonce_len == buf + f.ad_len - 4);
    CHECK(f.sealed == buf + f.ad_len);
    CHECK(f.ad_len + f.sealed_len + CRED_CHECKSUM_SIZE == size);
    CHECK(f.kdf != CRED_KDF_ARGON2ID ||
          (f.kdf_memory_kib >= CRED_KDF_MEMORY_MIN && f.kdf_passes >= CRED_KDF_PASSES_MIN));

    /* Argon2id would make each run slow: only master-key files are opened. */
    if (f.kdf == CRED_KDF_MASTER) {
        struct cred_key k;
        struct cred c;
        memset(k.key, 0x42, sizeof k.key);
        cred_key_id(k.key, k.id);
        rc = cred_open(&f, &k, NULL, 0, &c, &why);
        CHECK(rc == 0 || rc == MC_ERR_WRONG_KEY || rc == MC_ERR_BAD_CREDENTIAL ||
              rc == MC_ERR_CRYPTO);
        if (rc == 0)
            CHECK(c.password_len >= 1 && c.password_len <= CRED_PASSWORD_MAX &&
                  c.password[c.password_len] == 0);
        else
            CHECK(c.password_len == 0 && c.password[0] == 0);
        cred_wipe(&c);
    }
    return 0;
}
