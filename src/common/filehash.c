#include "filehash.h"

#include <stdlib.h>
#include <unistd.h>

#include "miscomm/error.h"
#include "sha256.h"

#define FILEHASH_READ (256u * 1024u)

int filehash_update(struct mc_sha256 *sha, int fd, uint64_t len)
{
    uint8_t *buf = malloc(FILEHASH_READ);
    if (!buf)
        return MC_ERR_NOMEM;
    int rc = 0;
    for (uint64_t off = 0; off < len;) {
        size_t want = len - off < FILEHASH_READ ? (size_t)(len - off) : FILEHASH_READ;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            rc = MC_ERR_IO; /* shorter than it said: changed under us */
            break;
        }
        mc_sha256_update(sha, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

int filehash_fd(int fd, uint64_t len, uint8_t out[32])
{
    struct mc_sha256 sha;
    mc_sha256_init(&sha);
    int rc = filehash_update(&sha, fd, len);
    if (rc == 0)
        mc_sha256_final(&sha, out);
    return rc;
}
