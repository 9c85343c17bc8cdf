/*
 * SHA-256 (FIPS 180-4) for file hashing, the hot path of file transfers.
 *
 * Two implementations sit behind these functions: our own compress function
 * on the Intel SHA extensions (sha256rnds2/sha256msg1/sha256msg2), built
 * only on x86-64 with GCC or Clang and used only when the CPU has them
 * (SHA, SSSE3, SSE4.1), and wolfSSL's wc_Sha256 everywhere else (its AVX2
 * or AVX assembly in the wolfSSL we build, which is twice as fast as plain
 * C; plain C in a wolfSSL built without --enable-intelasm). The choice is
 * made once per process, on first use; MC_SHA256_NO_SHANI=1 in the
 * environment (read at that moment) forces wolfSSL, so that tests can cover
 * both.
 *
 * The mc_ prefix here is internal all the same: the library is built with
 * -fvisibility=hidden and nothing of this file is declared in
 * include/miscomm/, so libmiscomm.so does not export it.
 *
 * A context is plain data: it needs no freeing, may be copied to fork a
 * hash, and may move between threads (one thread at a time). That holds
 * for wc_Sha256 only in wolfSSL configurations where it owns no memory;
 * sha256.c refuses to build against the others.
 */
#ifndef MC_SHA256_H
#define MC_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* The SHA extensions path: x86-64 with GCC or Clang (MinGW included). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MC_SHA256_SHANI 1
#else
#define MC_SHA256_SHANI 0
#endif

struct mc_sha256 {
    /* Which member is live follows the process's choice (mc_sha256_impl()). */
    union {
#if MC_SHA256_SHANI
        struct {
            uint32_t state[8];
            uint64_t total;    /* bytes hashed so far, block included */
            uint8_t block[64]; /* a partial block waiting for more bytes */
            size_t fill;       /* bytes in block, always < 64 */
        } ni;
#endif
        wc_Sha256 wc;
    };
};

void mc_sha256_init(struct mc_sha256 *ctx);
void mc_sha256_update(struct mc_sha256 *ctx, const void *data, size_t len);
/* Write the digest to out. The context must be initialised again before reuse. */
void mc_sha256_final(struct mc_sha256 *ctx, uint8_t out[32]);
/* The digest of data in one call. */
void mc_sha256(const void *data, size_t len, uint8_t out[32]);

/* Which implementation this process uses: "sha-ni" or "wolfssl" (for tests and logs). */
const char *mc_sha256_impl(void);

#endif
