#include "psk.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscomm/error.h"

int psk_load(const char *path, uint8_t key[PSK_KEY_SIZE], const char **why)
{
    char text[256];
    *why = "";
    FILE *f = fopen(path, "r");
    if (!f) {
        *why = errno == ENOENT ? "file not found" : "cannot read the file";
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
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
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0600);
    if (fd < 0)
        return errno == EEXIST ? MC_ERR_EXISTS : MC_ERR_IO;
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    int rc = write(fd, hex, len) == (ssize_t)len && fchmod(fd, 0600) == 0 && fsync(fd) == 0
                 ? 0
                 : MC_ERR_IO;
    if (close(fd) != 0)
        rc = MC_ERR_IO;
    sodium_memzero(key, sizeof key);
    sodium_memzero(hex, sizeof hex);
    return rc;
}
