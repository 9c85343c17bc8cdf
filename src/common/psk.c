#include "psk.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscomm/error.h"
#include "safefile.h"

int psk_load(const char *path, uint8_t key[PSK_KEY_SIZE], const char **why)
{
    return psk_load_ex(path, key, why, NULL);
}

int psk_load_ex(const char *path, uint8_t key[PSK_KEY_SIZE], const char **why, const char **warning)
{
    /* read(2) into a buffer wiped below: no stdio buffer keeps a copy of the key. */
    char text[256];
    struct stat st;
    *why = "";
    if (warning)
        *warning = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "file not found" : "cannot read the file";
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    if (warning && fstat(fd, &st) == 0)
        *warning = safefile_mode_warning(st.st_mode);
    size_t n = 0;
    while (n < sizeof text - 1) {
        ssize_t r = read(fd, text + n, sizeof text - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    text[n] = 0;
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = 0;
    size_t bin_len = 0;
    int rc = 0;
    if (n != 2 * PSK_KEY_SIZE || strspn(text, "0123456789abcdefABCDEF") != n ||
        sodium_hex2bin(key, PSK_KEY_SIZE, text, n, NULL, &bin_len, NULL) != 0 ||
        bin_len != PSK_KEY_SIZE) {
        *why =
            "a key file holds exactly 64 hex digits (256 random bits, from 'misctl psk create'); "
            "keys derived from passwords are refused";
        rc = MC_ERR_CONFIG;
    } else {
        /* Printable text or a repeated pattern is a password in disguise, not a random key. */
        int printable = 1, distinct = 0;
        uint8_t seen[256] = {0};
        for (size_t i = 0; i < PSK_KEY_SIZE; i++) {
            printable &= key[i] >= 0x20 && key[i] < 0x7F;
            distinct += !seen[key[i]];
            seen[key[i]] = 1;
        }
        if (printable || distinct < 16) {
            *why = "the key does not look random (text or repeated bytes): keys derived from "
                   "passwords are refused; make one with 'misctl psk create'";
            rc = MC_ERR_CONFIG;
        }
    }
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        sodium_memzero(key, PSK_KEY_SIZE);
    return rc;
}

int psk_create(const char *path, int force)
{
    uint8_t key[PSK_KEY_SIZE];
    char hex[2 * PSK_KEY_SIZE + 2];
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    /* A new file renamed into place: a link at path is replaced, never written through. */
    int rc = safefile_write(path, hex, len, 0600, force);
    int err = errno;
    sodium_memzero(key, sizeof key);
    sodium_memzero(hex, sizeof hex);
    errno = err;
    return rc;
}
