#include "filehash.h"

#include <stdlib.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "miscomm/error.h"

#define FILEHASH_READ (256u * 1024u)

int filehash_update(struct wc_Sha256 *sha, int fd, uint64_t len)
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
        wc_Sha256Update(sha, buf, (word32)n);
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

int filehash_fd(int fd, uint64_t len, uint8_t out[32])
{
    wc_Sha256 sha;
    if (wc_InitSha256(&sha) != 0)
        return MC_ERR_CRYPTO;
    int rc = filehash_update(&sha, fd, len);
    if (rc == 0)
        wc_Sha256Final(&sha, out);
    wc_Sha256Free(&sha);
    return rc;
}
