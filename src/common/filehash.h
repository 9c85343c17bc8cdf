/*
 * SHA-256 of a file's first bytes, read with pread (the file offset is left
 * alone), for both sides of a file transfer: the gateway (src/files) and
 * the client library (src/client/files.c).
 */
#ifndef MC_FILEHASH_H
#define MC_FILEHASH_H

#include <stdint.h>

struct mc_sha256;

/* Add the first len bytes of fd to sha. 0, MC_ERR_IO (the file is shorter) or MC_ERR_NOMEM. */
int filehash_update(struct mc_sha256 *sha, int fd, uint64_t len);
/* SHA-256 of the first len bytes of fd. 0 or a negative MC_ERR_*. */
int filehash_fd(int fd, uint64_t len, uint8_t out[32]);

#endif
