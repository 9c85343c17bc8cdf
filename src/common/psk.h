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
/* Create a new random key file (mode 0600); refuses to overwrite unless force. */
__attribute__((warn_unused_result)) int psk_create(const char *path, int force);

#endif
