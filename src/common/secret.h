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

/* The parameter ranges secret_hash_check() accepts: sane, not merely legal. */
#define SECRET_HASH_M_MIN    8ul       /* KiB: Argon2's minimum, 8 per lane */
#define SECRET_HASH_M_MAX    1048576ul /* 1 GiB per login (libsodium's "sensitive") */
#define SECRET_HASH_T_MIN    1ul
#define SECRET_HASH_T_MAX    16ul
#define SECRET_HASH_P_MIN    1ul
#define SECRET_HASH_P_MAX    16ul
#define SECRET_HASH_PART_MAX 64 /* bytes of salt or of hash, decoded */
/*
 * Check the shape of an Argon2id hash string without verifying anything:
 * "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", numbers in range, salt and hash in
 * unpadded base64. 0, or MC_ERR_INVALID_ARG with *why saying what is wrong.
 */
__attribute__((warn_unused_result)) int secret_hash_check(const char *hash, const char **why);
/*
 * Keep this process's memory (keys, passwords) out of crash dumps: no core
 * file and not dumpable (Linux); no crash dialog or error reporting dump
 * offered to the user (Windows, where dumps are otherwise made only when an
 * administrator configured them).
 */
void secret_no_dumps(void);
void secret_wipe(void *p, size_t n);

#endif
