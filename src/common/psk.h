/*
 * Pre-shared keys for the "aes256" encryption mode (TLS 1.3 with an external
 * PSK and TLS_AES_256_GCM_SHA384). A key file holds exactly 64 hex digits:
 * 256 random bits. Keys derived from passwords are refused: a TLS PSK
 * handshake lets an eavesdropper test guesses offline, so only full-entropy
 * keys are safe.
 */
#ifndef MC_PSK_H
#define MC_PSK_H

#include <stddef.h>
#include <stdint.h>

#define PSK_KEY_SIZE 32
#define PSK_IDENTITY "miscomm-psk-v1"

/* Load and check a key file; on error *why says what is wrong. */
__attribute__((warn_unused_result)) int psk_load(const char *path, uint8_t key[PSK_KEY_SIZE],
                                                 const char **why);
/*
 * Like psk_load(); and when warning is not NULL, *warning is NULL or, when
 * group or others can read the file, a sentence to show (or log) with its
 * name. The key is still loaded: the warning does not make it fail.
 */
__attribute__((warn_unused_result)) int psk_load_ex(const char *path, uint8_t key[PSK_KEY_SIZE],
                                                    const char **why, const char **warning);
/*
 * Create a new random key file (mode 0600) with safefile_write(): refuses to
 * overwrite unless force (MC_ERR_EXISTS), and with force replaces a symbolic
 * link at path instead of writing through it. On MC_ERR_IO errno says why.
 */
__attribute__((warn_unused_result)) int psk_create(const char *path, int force);

#endif
