/*
 * Secrets: reading passwords without echo or argv, Argon2id hashing and
 * verification (libsodium), wiping. Nothing here logs a secret.
 */
#ifndef MC_SECRET_H
#define MC_SECRET_H

#include <stddef.h>

#define SECRET_MAX 1024

/*
 * Read a secret from the first line of a file: the bytes before the first LF
 * or CR (so LF, CRLF and CR endings are all removed), nothing else stripped;
 * an empty first line gives "". Read with read(2), never through stdio, and
 * wiped on failure. MC_ERR_NOT_FOUND or MC_ERR_IO when the file
 * cannot be opened or read, MC_ERR_INVALID_ARG when it is empty or the line
 * does not fit in cap bytes.
 */
__attribute__((warn_unused_result)) int secret_read_file(const char *path, char *buf, size_t cap);
/*
 * Like secret_read_file(), from standard input when path is NULL, and on
 * failure *why (when not NULL) is a reason for a message: "not found",
 * strerror()'s text, "empty input" or "the line is too long".
 */
__attribute__((warn_unused_result)) int secret_read_line(const char *path, char *buf, size_t cap,
                                                         const char **why);
/*
 * Read a secret from the terminal without echo (prompting on it), or from
 * standard input when it is not a terminal.
 */
__attribute__((warn_unused_result)) int secret_read_prompt(const char *prompt, char *buf,
                                                           size_t cap);
/* Argon2id hash in the "$argon2id$..." text form; out must hold 128 bytes. */
__attribute__((warn_unused_result)) int secret_hash(const char *pw, size_t len, char out[128]);
/* 0 when pw matches hash, MC_ERR_AUTH when it does not, MC_ERR_CRYPTO on a bad hash. */
__attribute__((warn_unused_result)) int secret_verify(const char *hash, const char *pw, size_t len);
void secret_wipe(void *p, size_t n);

#endif
