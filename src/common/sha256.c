/*
 * SHA-256 (FIPS 180-4): our compress function on the Intel SHA extensions
 * behind a buffering and padding layer, or wolfSSL's wc_Sha256 (see
 * sha256.h).
 *
 * The SHA extensions compress function takes whole 64-byte blocks straight
 * from the caller's buffer; only the bytes of a block that is not complete
 * yet go through ctx->ni.block:
 *
 *   update(data) ── fill ctx->ni.block up to 64 ──> compress 1 block
 *               ├─ the whole blocks of the rest ──> compress n blocks, in place
 *               └─ the tail (< 64 bytes) ─────────> ctx->ni.block, ctx->ni.fill
 *
 * wc_Sha256 does its own buffering; it is only given at most
 * SHA256_WC_MAX_UPDATE bytes at a time, its lengths being 32 bits.
 */
#include "sha256.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * "Plain data" (sha256.h) needs a wc_Sha256 that owns nothing: in these
 * configurations it holds a heap buffer, a message copy or a device handle
 * that only wc_Sha256Free releases, and that a copied context would share.
 */
#if defined(WOLFSSL_SMALL_STACK_CACHE) || defined(WOLFSSL_HASH_KEEP) ||                            \
    defined(WOLFSSL_ASYNC_CRYPT) || defined(WOLFSSL_DEVCRYPTO_HASH) ||                             \
    defined(WOLFSSL_KCAPI_HASH) || defined(WOLFSSL_HAVE_PSA)
#error "this wolfSSL's wc_Sha256 owns memory or a device: struct mc_sha256 would leak it"
#endif

#define SHA256_BLOCK 64u
/* The most given to one wc_Sha256Update (its length is a word32). */
#define SHA256_WC_MAX_UPDATE (1u << 30)

#if MC_SHA256_SHANI
#include <cpuid.h>
#include <immintrin.h>

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t sha256_h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * The compress function on the SHA extensions. sha256rnds2 runs two rounds
 * on the state held as two registers, ABEF and CDGH (A in the top 32 bits),
 * taking the two round inputs W[t] + K[t] from the low 64 bits of its third
 * operand; it returns the new ABEF, and the new CDGH is the old ABEF.
 * sha256msg1 and sha256msg2 extend the message schedule four words at a
 * time: with M[i] = W[4i..4i+3],
 *
 *   M[i] = msg2(msg1(M[i-4], M[i-3]) + W[4i-7..4i-4], M[i-1])
 *
 * where W[4i-7..4i-4] straddles M[i-2] and M[i-1] (alignr by one word).
 * Only the last four M are live: m[i & 3].
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
sha256_blocks_shani(uint32_t state[8], const uint8_t *p, size_t blocks)
{
    /* Message words are big-endian: reverse the bytes of each 32-bit lane. */
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    /* Lanes are listed from the lowest: state[0..3] = a b c d, state[4..7] = e f g h. */
    __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0x1B);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);
    __m128i abef = _mm_unpackhi_epi64(hgfe, dcba); /* f e b a */
    __m128i cdgh = _mm_unpacklo_epi64(hgfe, dcba); /* h g d c */

    for (; blocks; blocks--, p += SHA256_BLOCK) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i m[4];
        for (int i = 0; i < 4; i++) {
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
        }
        /* Sixteen groups of four rounds; unrolled so that m[] stays in registers. */
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i >= 4) {
                __m128i s = _mm_sha256msg1_epu32(m[i & 3], m[(i + 1) & 3]);
                s = _mm_add_epi32(s, _mm_alignr_epi8(m[(i + 3) & 3], m[(i + 2) & 3], 4));
                m[i & 3] = _mm_sha256msg2_epu32(s, m[(i + 3) & 3]);
            }
            __m128i wk =
                _mm_add_epi32(m[i & 3], _mm_loadu_si128((const __m128i *)&sha256_k[4 * i]));
            __m128i next = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            cdgh = abef;
            abef = next;
            wk = _mm_shuffle_epi32(wk, 0x0E); /* the upper two round inputs */
            next = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            cdgh = abef;
            abef = next;
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }

    dcba = _mm_unpackhi_epi64(cdgh, abef);
    hgfe = _mm_unpacklo_epi64(cdgh, abef);
    _mm_storeu_si128((__m128i *)&state[0], _mm_shuffle_epi32(dcba, 0x1B));
    _mm_storeu_si128((__m128i *)&state[4], _mm_shuffle_epi32(hgfe, 0x1B));
}

/* CPUID leaf 1 ECX: SSSE3 (bit 9), SSE4.1 (bit 19); leaf 7 sub-leaf 0 EBX: SHA (bit 29). */
static int sha256_cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid(1, a, b, c, d);
    if (!(c & 1u << 9) || !(c & 1u << 19))
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & 1u << 29) != 0;
}
#endif

enum sha256_impl { SHA256_UNCHOSEN, SHA256_WOLFSSL, SHA256_SHANI };

/* Chosen on first use. Threads that race there compute the same answer, so relaxed is enough. */
static atomic_int sha256_chosen;

static enum sha256_impl sha256_choose(void)
{
    int impl = atomic_load_explicit(&sha256_chosen, memory_order_relaxed);
    if (impl != SHA256_UNCHOSEN)
        return (enum sha256_impl)impl;
    impl = SHA256_WOLFSSL;
#if MC_SHA256_SHANI
    /* MC_SHA256_NO_SHANI=1 (any value but empty or "0") forces wolfSSL. */
    const char *off = getenv("MC_SHA256_NO_SHANI");
    if (!(off && *off && strcmp(off, "0") != 0) && sha256_cpu_has_shani())
        impl = SHA256_SHANI;
#endif
    atomic_store_explicit(&sha256_chosen, impl, memory_order_relaxed);
    return (enum sha256_impl)impl;
}

static int sha256_use_shani(void)
{
    return sha256_choose() == SHA256_SHANI;
}

/*
 * In the configurations allowed above, wc_Sha256 fails only on a NULL or
 * corrupted context, which would be a bug here; these functions have no
 * error to return, and a digest that was not computed must not pass for one.
 */
static void sha256_wc_check(int rc)
{
    if (rc != 0)
        abort();
}

const char *mc_sha256_impl(void)
{
    return sha256_use_shani() ? "sha-ni" : "wolfssl";
}

void mc_sha256_init(struct mc_sha256 *ctx)
{
#if MC_SHA256_SHANI
    if (sha256_use_shani()) {
        memcpy(ctx->ni.state, sha256_h0, sizeof ctx->ni.state);
        ctx->ni.total = 0;
        ctx->ni.fill = 0;
        return;
    }
#endif
    sha256_wc_check(wc_InitSha256(&ctx->wc));
}

#if MC_SHA256_SHANI
static void sha256_update_shani(struct mc_sha256 *ctx, const uint8_t *p, size_t len)
{
    ctx->ni.total += len;
    if (ctx->ni.fill) {
        size_t take = SHA256_BLOCK - ctx->ni.fill;
        if (take > len)
            take = len;
        memcpy(ctx->ni.block + ctx->ni.fill, p, take);
        ctx->ni.fill += take;
        p += take;
        len -= take;
        if (ctx->ni.fill < SHA256_BLOCK)
            return;
        sha256_blocks_shani(ctx->ni.state, ctx->ni.block, 1);
        ctx->ni.fill = 0;
    }
    size_t blocks = len / SHA256_BLOCK;
    if (blocks) {
        sha256_blocks_shani(ctx->ni.state, p, blocks);
        p += blocks * SHA256_BLOCK;
        len -= blocks * SHA256_BLOCK;
    }
    if (len) {
        memcpy(ctx->ni.block, p, len);
        ctx->ni.fill = len;
    }
}

static void sha256_final_shani(struct mc_sha256 *ctx, uint8_t out[32])
{
    /* 0x80, zeros up to 56 mod 64, then the length in bits as 64 bits big-endian. */
    uint8_t pad[2 * SHA256_BLOCK] = {0x80};
    uint64_t bits = ctx->ni.total * 8;
    size_t n =
        (ctx->ni.fill < SHA256_BLOCK - 8 ? SHA256_BLOCK : 2 * SHA256_BLOCK) - 8 - ctx->ni.fill;
    store_be32(pad + n, (uint32_t)(bits >> 32));
    store_be32(pad + n + 4, (uint32_t)bits);
    sha256_update_shani(ctx, pad, n + 8);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->ni.state[i]);
}
#endif

void mc_sha256_update(struct mc_sha256 *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return; /* data may be NULL */
#if MC_SHA256_SHANI
    if (sha256_use_shani()) {
        sha256_update_shani(ctx, p, len);
        return;
    }
#endif
    while (len) {
        size_t take = len < SHA256_WC_MAX_UPDATE ? len : SHA256_WC_MAX_UPDATE;
        sha256_wc_check(wc_Sha256Update(&ctx->wc, p, (word32)take));
        p += take;
        len -= take;
    }
}

void mc_sha256_final(struct mc_sha256 *ctx, uint8_t out[32])
{
#if MC_SHA256_SHANI
    if (sha256_use_shani()) {
        sha256_final_shani(ctx, out);
        return;
    }
#endif
    sha256_wc_check(wc_Sha256Final(&ctx->wc, out));
    /* Releases nothing in the configurations allowed above; called for the others' sake. */
    wc_Sha256Free(&ctx->wc);
}

void mc_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct mc_sha256 ctx;
    mc_sha256_init(&ctx);
    mc_sha256_update(&ctx, data, len);
    mc_sha256_final(&ctx, out);
}
