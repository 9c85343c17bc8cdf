/*
 * The master keys that seal credential files, and reading and writing the
 * files themselves.
 *
 *     DATA_DIR/cred-keys/             mode 0700
 *         current                     "0123456789abcdef\n": the key id new files get
 *         0123456789abcdef.key        64 hex digits and a newline, mode 0600
 *         fedcba9876543210.key        an older key, kept until the administrator removes it
 *
 * A key file is named by its key id, which is derived from the key, so a
 * file whose content does not match its name is detected as damaged. Keys
 * are looked up by id when a credential file is opened: nothing but the
 * current key is read ahead.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred.h"
#include "miscomm/error.h"
#include "safefile.h"

/* The key ids "current" may name: exactly 16 lowercase hex digits. */
static int parse_id(const char *hex, size_t n, uint8_t id[CRED_KEY_ID_SIZE])
{
    size_t got = 0;
    if (n != 2 * CRED_KEY_ID_SIZE || strspn(hex, "0123456789abcdef") < n)
        return -1;
    if (sodium_hex2bin(id, CRED_KEY_ID_SIZE, hex, n, NULL, &got, NULL) != 0 ||
        got != CRED_KEY_ID_SIZE)
        return -1;
    return 0;
}

/*
 * Read a small file (a key, "current") with read(2), so no stdio buffer
 * keeps a copy; trailing newlines and spaces removed.
 */
static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    size_t n = 0;
    int rc = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = MC_ERR_IO;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    *len = n;
    return rc;
}

static int key_path(const struct cred_master *m, const uint8_t id[CRED_KEY_ID_SIZE], char *out,
                    size_t cap)
{
    char hex[CRED_KEY_ID_HEX];
    cred_key_id_hex(id, hex);
    return snprintf(out, cap, "%s/%s.key", m->dir, hex) < (int)cap ? 0 : MC_ERR_INVALID_ARG;
}

int cred_master_key_find(const struct cred_master *m, const uint8_t id[CRED_KEY_ID_SIZE],
                         struct cred_key *out, const char **why)
{
    char path[PATH_MAX + 32], text[128];
    size_t n = 0, got = 0;
    memset(out, 0, sizeof *out);
    if (key_path(m, id, path, sizeof path) < 0) {
        *why = "the data directory's path is too long";
        return MC_ERR_INVALID_ARG;
    }
    int rc = read_small(path, text, sizeof text, &n);
    if (rc == MC_ERR_NOT_FOUND) {
        *why = "no master key with this id in the data directory (removed after a rotation, "
               "or the file comes from another gateway)";
        rc = MC_ERR_UNKNOWN_KEY;
    } else if (rc < 0) {
        *why = "the master key's file cannot be read";
    } else if (n != 2 * CRED_KEY_SIZE || strspn(text, "0123456789abcdefABCDEF") != n ||
               sodium_hex2bin(out->key, CRED_KEY_SIZE, text, n, NULL, &got, NULL) != 0 ||
               got != CRED_KEY_SIZE) {
        *why = "the master key's file does not hold 64 hex digits: it is damaged";
        rc = MC_ERR_CONFIG;
    } else {
        cred_key_id(out->key, out->id);
        if (sodium_memcmp(out->id, id, CRED_KEY_ID_SIZE) != 0) {
            *why = "the master key's file does not hold the key its name says: it is damaged";
            rc = MC_ERR_CONFIG;
        }
    }
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        cred_key_wipe(out);
    return rc;
}

/* Write a new random key file in m->dir (never over an existing one) into *k. */
static int key_create(const struct cred_master *m, struct cred_key *k, const char **why)
{
    char path[PATH_MAX + 32], hex[2 * CRED_KEY_SIZE + 2];
    randombytes_buf(k->key, sizeof k->key);
    cred_key_id(k->key, k->id);
    sodium_bin2hex(hex, sizeof hex - 1, k->key, sizeof k->key);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    int rc = key_path(m, k->id, path, sizeof path);
    if (rc == 0)
        rc = safefile_write(path, hex, len, 0600, 0);
    sodium_memzero(hex, sizeof hex);
    if (rc < 0) {
        *why = "cannot write a new master key file in the data directory";
        cred_key_wipe(k);
    }
    return rc;
}

/* Point "current" at id: replacing it, or only if there is none yet (MC_ERR_EXISTS). */
static int current_write(const struct cred_master *m, const uint8_t id[CRED_KEY_ID_SIZE],
                         int replace)
{
    char path[PATH_MAX + 16], text[CRED_KEY_ID_HEX + 1];
    snprintf(path, sizeof path, "%s/current", m->dir);
    cred_key_id_hex(id, text);
    size_t len = strlen(text);
    text[len++] = '\n';
    return safefile_write(path, text, len, 0600, replace);
}

/* The first key of a data directory. Another process making one at the same time wins or loses
 * whole. */
static int master_create(const char *data_dir, struct cred_master *m, const char **why)
{
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        *why = "cannot create the data directory";
        return MC_ERR_IO;
    }
    if (mkdir(m->dir, 0700) != 0 && errno != EEXIST) {
        *why = "cannot create the key folder in the data directory";
        return MC_ERR_IO;
    }
    struct cred_key k;
    int rc = key_create(m, &k, why);
    if (rc < 0)
        return rc;
    rc = current_write(m, k.id, 0);
    if (rc == MC_ERR_EXISTS) {
        /* Someone else made the first key meanwhile: theirs is the one. */
        char path[PATH_MAX + 32];
        if (key_path(m, k.id, path, sizeof path) == 0)
            unlink(path);
        cred_key_wipe(&k);
        return MC_ERR_EXISTS;
    }
    cred_key_wipe(&k);
    if (rc < 0) {
        *why = "cannot write the key folder's 'current' file";
        return rc;
    }
    m->created = 1;
    return 0;
}

int cred_master_key_load(const char *data_dir, int create, struct cred_master *m, const char **why)
{
    char path[PATH_MAX + 16], text[64];
    uint8_t id[CRED_KEY_ID_SIZE];
    size_t n = 0;
    int rc;

    memset(m, 0, sizeof *m);
    *why = NULL;
    if (sodium_init() < 0) {
        *why = "libsodium cannot start";
        return MC_ERR_CRYPTO;
    }
    if (snprintf(m->dir, sizeof m->dir, "%s/%s", data_dir, CRED_KEYS_DIR) >= (int)sizeof m->dir) {
        *why = "the data directory's path is too long";
        return MC_ERR_INVALID_ARG;
    }
    snprintf(path, sizeof path, "%s/current", m->dir);
    for (int attempt = 0;; attempt++) {
        rc = read_small(path, text, sizeof text, &n);
        if (rc != MC_ERR_NOT_FOUND || !create || attempt == 2)
            break;
        rc = master_create(data_dir, m, why);
        if (rc < 0 && rc != MC_ERR_EXISTS)
            return rc;
    }
    if (rc == MC_ERR_NOT_FOUND) {
        *why = "there is no master key in the data directory yet";
        return rc;
    }
    if (rc < 0) {
        *why = "cannot read the key folder's 'current' file";
        return rc;
    }
    if (parse_id(text, n, id) < 0) {
        *why = "the key folder's 'current' file does not hold a key id (16 hex digits)";
        return MC_ERR_CONFIG;
    }
    rc = cred_master_key_find(m, id, &m->current, why);
    if (rc == MC_ERR_UNKNOWN_KEY)
        *why = "the key folder's 'current' file names a key whose file is missing";
    if (rc < 0)
        return rc;
    struct stat st;
    char key_file[PATH_MAX + 32];
    if (key_path(m, id, key_file, sizeof key_file) == 0 && stat(key_file, &st) == 0)
        m->warning = safefile_mode_warning(st.st_mode);
#ifndef _WIN32 /* no group or other bits there: safefile_mode_warning says why */
    if (!m->warning && stat(m->dir, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
        m->warning = "group or others can open the key folder; make it mode 0700 (chmod 700)";
#endif
    return 0;
}

int cred_master_key_rotate(struct cred_master *m, const char **why)
{
    struct cred_key k;
    int rc = key_create(m, &k, why);
    if (rc < 0)
        return rc;
    rc = current_write(m, k.id, 1);
    if (rc < 0) {
        *why = "cannot write the key folder's 'current' file";
        cred_key_wipe(&k);
        return rc;
    }
    m->current = k;
    cred_key_wipe(&k);
    return 0;
}

void cred_master_wipe(struct cred_master *m)
{
    sodium_memzero(m, sizeof *m);
}

int cred_file_read(const char *path, uint8_t *buf, size_t cap, size_t *len, const char **why)
{
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "not found" : strerror(errno);
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        uint8_t extra;
        /* One byte past cap tells a file too large from one exactly cap bytes long. */
        ssize_t r = n < cap ? read(fd, buf + n, cap - n) : read(fd, &extra, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            rc = MC_ERR_IO;
            break;
        }
        if (r == 0)
            break;
        if (n == cap) {
            *why = "the file is larger than any credential file";
            rc = MC_ERR_BAD_CREDENTIAL;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return rc;
}

int cred_file_write(const char *path, const uint8_t *buf, size_t len, int replace)
{
    return safefile_write(path, buf, len, 0600, replace);
}
