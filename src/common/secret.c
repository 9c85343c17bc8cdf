#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "miscomm/error.h"

void secret_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

/*
 * The first line of f without its CR/LF. MC_ERR_INVALID_ARG when there is no
 * line at all or it does not fit; *why (when not NULL) says which.
 */
static int read_line(FILE *f, char *buf, size_t cap, const char **why)
{
    const char *reason = NULL;
    int rc = 0;
    if (!fgets(buf, (int)cap, f)) {
        rc = ferror(f) ? MC_ERR_IO : MC_ERR_INVALID_ARG;
        reason = ferror(f) ? strerror(errno) : "empty input";
        secret_wipe(buf, cap);
    } else {
        size_t n = strcspn(buf, "\r\n");
        if (buf[n] == 0 && n == cap - 1) {
            secret_wipe(buf, cap);
            rc = MC_ERR_INVALID_ARG;
            reason = "the line is too long";
        } else {
            buf[n] = 0;
        }
    }
    if (why)
        *why = reason;
    return rc;
}

int secret_read_line(const char *path, char *buf, size_t cap, const char **why)
{
    if (!path)
        return read_line(stdin, buf, cap, why);
    FILE *f = fopen(path, "r");
    if (!f) {
        int err = errno;
        if (why)
            *why = err == ENOENT ? "not found" : strerror(err);
        return err == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    int rc = read_line(f, buf, cap, why);
    fclose(f);
    return rc;
}

int secret_read_file(const char *path, char *buf, size_t cap)
{
    return secret_read_line(path, buf, cap, NULL);
}

int secret_read_prompt(const char *prompt, char *buf, size_t cap)
{
    FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL;
    if (!tty)
        return read_line(stdin, buf, cap, NULL);
    struct termios old, quiet;
    int have_term = tcgetattr(fileno(tty), &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    int rc = read_line(tty, buf, cap, NULL);
    if (have_term)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    return rc;
}

int secret_hash(const char *pw, size_t len, char out[128])
{
    if (sodium_init() < 0)
        return MC_ERR_CRYPTO;
    if (crypto_pwhash_str_alg(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return MC_ERR_NOMEM;
    return 0;
}

int secret_verify(const char *hash, const char *pw, size_t len)
{
    if (strncmp(hash, "$argon2id$", 10) != 0)
        return MC_ERR_CRYPTO;
    return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : MC_ERR_AUTH;
}
