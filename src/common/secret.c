#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "miscomm/error.h"

void secret_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

/*
 * The first line of fd: the bytes before the first LF or CR, so that LF, CRLF
 * and CR line endings all end it; nothing else is removed (spaces and tabs
 * are part of a password, which the server compares byte for byte).
 * MC_ERR_INVALID_ARG when there is no line at all or it does not fit in
 * cap - 1 bytes; *why (when not NULL) says which.
 *
 * One byte per read(2): the secret never sits in a stdio buffer that would
 * be freed unwiped, and nothing after the line is consumed from a pipe.
 */
static int read_line(int fd, char *buf, size_t cap, const char **why)
{
    const char *reason = NULL;
    size_t n = 0;
    int rc = 0, got = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = MC_ERR_IO;
            reason = strerror(errno);
            break;
        }
        if (r == 0) {
            if (!got) {
                rc = MC_ERR_INVALID_ARG;
                reason = "empty input";
            }
            break;
        }
        got = 1;
        if (ch == '\n' || ch == '\r')
            break;
        if (n == cap - 1) {
            rc = MC_ERR_INVALID_ARG;
            reason = "the line is too long";
            break;
        }
        buf[n++] = ch;
    }
    if (rc < 0)
        secret_wipe(buf, cap);
    else
        buf[n] = 0;
    if (why)
        *why = reason;
    return rc;
}

int secret_read_line(const char *path, char *buf, size_t cap, const char **why)
{
    if (cap == 0)
        return MC_ERR_INVALID_ARG;
    if (!path)
        return read_line(STDIN_FILENO, buf, cap, why);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (why)
            *why = err == ENOENT ? "not found" : strerror(err);
        return err == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    int rc = read_line(fd, buf, cap, why);
    close(fd);
    return rc;
}

int secret_read_file(const char *path, char *buf, size_t cap)
{
    return secret_read_line(path, buf, cap, NULL);
}

static void put_text(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

int secret_read_prompt(const char *prompt, char *buf, size_t cap)
{
    if (cap == 0)
        return MC_ERR_INVALID_ARG;
    int tty = isatty(STDIN_FILENO) ? open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    if (tty < 0)
        return read_line(STDIN_FILENO, buf, cap, NULL);
    struct termios old, quiet;
    int have_term = tcgetattr(tty, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    put_text(tty, prompt);
    int rc = read_line(tty, buf, cap, NULL);
    if (have_term)
        tcsetattr(tty, TCSAFLUSH, &old);
    put_text(tty, "\n");
    close(tty);
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
