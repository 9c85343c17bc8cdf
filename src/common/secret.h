/*
 * Secrets: reading passwords without echo or argv, Argon2id hashing and
 * verification (libsodium), wiping. Nothing here logs a secret.
 */
#ifndef MC_SECRET_H
#define MC_SECRET_H

#include <stddef.h>

#define SECRET_MAX 1024

/* Read a secret from the first line of a file (trailing CR/LF removed). */
__attribute__((warn_unused_result)) int secret_read_file(const char *path, char *buf, size_t cap);
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
