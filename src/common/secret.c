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

static int read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return ferror(f) ? MC_ERR_IO : MC_ERR_INVALID_ARG;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == 0 && n == cap - 1) {
        secret_wipe(buf, cap);
        return MC_ERR_INVALID_ARG; /* longer than the buffer */
    }
    buf[n] = 0;
    return 0;
}

int secret_read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    int rc = read_line(f, buf, cap);
    fclose(f);
    return rc;
}

int secret_read_prompt(const char *prompt, char *buf, size_t cap)
{
    FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL;
    if (!tty)
        return read_line(stdin, buf, cap);
    struct termios old, quiet;
    int have_term = tcgetattr(fileno(tty), &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    int rc = read_line(tty, buf, cap);
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
