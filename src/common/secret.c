#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>
#endif
#include <unistd.h>

#include "miscomm/error.h"

void secret_no_dumps(void)
{
#ifdef _WIN32
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
#else
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0);
#endif
}

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

#ifdef _WIN32
/* Windows: the console's echo is a mode of the console input handle. */
int secret_read_prompt(const char *prompt, char *buf, size_t cap)
{
    if (cap == 0)
        return MC_ERR_INVALID_ARG;
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    DWORD old;
    if (!isatty(STDIN_FILENO) || !GetConsoleMode(in, &old))
        return read_line(STDIN_FILENO, buf, cap, NULL);
    SetConsoleMode(in, old & ~(DWORD)ENABLE_ECHO_INPUT);
    put_text(STDERR_FILENO, prompt);
    int rc = read_line(STDIN_FILENO, buf, cap, NULL);
    SetConsoleMode(in, old);
    put_text(STDERR_FILENO, "\n");
    return rc;
}
#else
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
#endif

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
    /* A hash libsodium cannot decode is not a wrong password. */
    if (strncmp(hash, "$argon2id$", 10) != 0 ||
        crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE) < 0)
        return MC_ERR_CRYPTO;
    return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : MC_ERR_AUTH;
}

/*
 * One decimal parameter "NAME=VALUE" of the hash, VALUE from min to max with
 * no sign, no leading zero and no overflow; *s moves past it.
 */
static int hash_param(const char **s, const char *name, unsigned long min, unsigned long max,
                      unsigned long *out)
{
    size_t n = strlen(name);
    const char *p = *s;
    if (strncmp(p, name, n) != 0 || p[n] != '=')
        return -1;
    p += n + 1;
    if (p[0] < '0' || p[0] > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    unsigned long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > max)
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    *s = p;
    return 0;
}

/* Base64 without padding (the PHC string alphabet), decoding to min..max bytes. */
static int hash_b64(const char *b64, size_t len, size_t min, size_t max)
{
    unsigned char bin[SECRET_HASH_PART_MAX];
    size_t bin_len;
    const char *end;
    if (len == 0 || max > sizeof bin)
        return -1;
    if (sodium_base642bin(bin, sizeof bin, b64, len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        end != b64 + len)
        return -1;
    return bin_len >= min && bin_len <= max ? 0 : -1;
}

int secret_hash_check(const char *hash, const char **why)
{
    const char *p = hash;
    unsigned long v, m, t, lanes;
    if (strncmp(p, "$argon2id$", 10) != 0) {
        *why = "it does not start with $argon2id$";
        return MC_ERR_INVALID_ARG;
    }
    p += 10;
    if (hash_param(&p, "v", 19, 19, &v) < 0 || *p++ != '$') {
        *why = "the version must be v=19";
        return MC_ERR_INVALID_ARG;
    }
    if (hash_param(&p, "m", SECRET_HASH_M_MIN, SECRET_HASH_M_MAX, &m) < 0 || *p++ != ',') {
        *why = "m= (memory in KiB) must be a number from 8 to 1048576";
        return MC_ERR_INVALID_ARG;
    }
    if (hash_param(&p, "t", SECRET_HASH_T_MIN, SECRET_HASH_T_MAX, &t) < 0 || *p++ != ',') {
        *why = "t= (passes) must be a number from 1 to 16";
        return MC_ERR_INVALID_ARG;
    }
    if (hash_param(&p, "p", SECRET_HASH_P_MIN, SECRET_HASH_P_MAX, &lanes) < 0 || *p++ != '$') {
        *why = "p= (lanes) must be a number from 1 to 16";
        return MC_ERR_INVALID_ARG;
    }
    if (m < 8 * lanes) {
        *why = "m= must be at least 8 KiB per lane (p=)";
        return MC_ERR_INVALID_ARG;
    }
    const char *salt = p, *dollar = strchr(salt, '$');
    if (!dollar) {
        *why = "the salt or the hash is missing";
        return MC_ERR_INVALID_ARG;
    }
    if (hash_b64(salt, (size_t)(dollar - salt), 8, 64) < 0) {
        *why = "the salt must be 8 to 64 bytes in base64 without padding";
        return MC_ERR_INVALID_ARG;
    }
    const char *out = dollar + 1;
    if (hash_b64(out, strlen(out), 16, 64) < 0) {
        *why = "the hash must be 16 to 64 bytes in base64 without padding";
        return MC_ERR_INVALID_ARG;
    }
    /* The same string must be one libsodium can verify against. */
    if (crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE) < 0) {
        *why = "libsodium cannot read it";
        return MC_ERR_INVALID_ARG;
    }
    return 0;
}
