/*
 * SHA-256 (src/common/sha256.c): the FIPS 180-4 vectors, every length from
 * 0 to 1100 bytes of random data split into random updates against
 * wolfSSL's wc_Sha256 in one call, a context copied halfway, and more than
 * 4 GiB in one update.
 *
 *   test_sha256 sha-ni    the SHA extensions path; exit 77 (not run) when
 *                         the CPU lacks them
 *   test_sha256 wolfssl   the wc_Sha256 wrapper (run with MC_SHA256_NO_SHANI=1):
 *                         compared with wolfSSL itself, this checks what the
 *                         wrapper adds (empty and split updates, updates over
 *                         wc_Sha256Update's 32-bit length, copies), and the
 *                         vectors check wolfSSL
 *
 * The path is chosen once per process, so each path is its own run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

#include "check.h"
#include "sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#define MAX_LEN 1100

/* Asked of the CPU here too, so that a dispatch that never picks SHA-NI fails instead of skipping.
 */
static int cpu_has_shani(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid(1, a, b, c, d);
    int ssse3_sse41 = (c & 1u << 9) && (c & 1u << 19);
    __cpuid_count(7, 0, a, b, c, d);
    return ssse3_sse41 && (b & 1u << 29);
#else
    return 0;
#endif
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64: reproducible, so a failure can be replayed. */
static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void hex(const uint8_t *d, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int check_digest(const char *what, size_t len, const uint8_t got[32], const char *want)
{
    char h[65];
    hex(got, h);
    check_count++;
    if (strcmp(h, want) == 0)
        return 0;
    check_failures++;
    if (check_failures <= 10)
        fprintf(stderr, "%s, %zu bytes: got %s, expected %s\n", what, len, h, want);
    return -1;
}

static void test_vectors(void)
{
    static const struct {
        const char *msg;
        const char *want;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    uint8_t out[32];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        mc_sha256(v[i].msg, strlen(v[i].msg), out);
        check_digest("vector, one call", strlen(v[i].msg), out, v[i].want);
        /* Byte by byte: every fill level of the partial block. */
        struct mc_sha256 ctx;
        mc_sha256_init(&ctx);
        for (const char *p = v[i].msg; *p; p++)
            mc_sha256_update(&ctx, p, 1);
        mc_sha256_final(&ctx, out);
        check_digest("vector, byte by byte", strlen(v[i].msg), out, v[i].want);
    }
    mc_sha256(NULL, 0, out);
    check_digest("NULL, 0", 0, out, v[0].want);

    /* One million 'a': in one call, and in updates of 1000 and of 997 bytes. */
    static const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    char *a = malloc(n);
    CHECK(a != NULL);
    if (!a)
        return;
    memset(a, 'a', n);
    mc_sha256(a, n, out);
    check_digest("a million 'a', one call", n, out, million);
    for (size_t step = 1000; step >= 997; step -= 3) {
        struct mc_sha256 ctx;
        mc_sha256_init(&ctx);
        for (size_t off = 0; off < n; off += step)
            mc_sha256_update(&ctx, a + off, n - off < step ? n - off : step);
        mc_sha256_final(&ctx, out);
        check_digest("a million 'a', in updates", n, out, million);
    }
    free(a);
}

static void test_against_wolfssl(void)
{
    static uint8_t data[MAX_LEN];
    int mismatches = 0;
    for (size_t len = 0; len <= MAX_LEN; len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)rng();
        uint8_t want[32], got[32];
        char want_hex[65];
        wc_Sha256 ref;
        CHECK_EQ_INT(wc_InitSha256(&ref), 0);
        CHECK_EQ_INT(wc_Sha256Update(&ref, data, (word32)len), 0);
        CHECK_EQ_INT(wc_Sha256Final(&ref, want), 0);
        wc_Sha256Free(&ref);
        hex(want, want_hex);

        mc_sha256(data, len, got);
        mismatches += check_digest("random, one call", len, got, want_hex) < 0;

        /* Random splits, empty updates included, several times over. */
        for (int round = 0; round < 4; round++) {
            struct mc_sha256 ctx;
            mc_sha256_init(&ctx);
            for (size_t off = 0; off < len;) {
                size_t piece = (size_t)(rng() % (round < 2 ? 70 : 300));
                if (piece > len - off)
                    piece = len - off;
                mc_sha256_update(&ctx, data + off, piece);
                off += piece;
            }
            mc_sha256_final(&ctx, got);
            mismatches += check_digest("random, split updates", len, got, want_hex) < 0;
        }
    }
    printf("against wc_Sha256: lengths 0..%d, one call and 4 random splits each: %d mismatches\n",
           MAX_LEN, mismatches);
}

/* A context copied halfway (sha256.h: "may be copied to fork a hash") finishes like the original.
 */
static void test_copy(void)
{
    static const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char *want = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    static const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    uint8_t out[32];
    struct mc_sha256 a, b, c;
    mc_sha256_init(&a);
    mc_sha256_update(&a, msg, 3);
    c = a; /* "abc" so far */
    mc_sha256_update(&a, msg + 3, 20);
    b = a;
    mc_sha256_update(&a, msg + 23, strlen(msg) - 23);
    mc_sha256_final(&a, out);
    check_digest("copy: the original", strlen(msg), out, want);
    mc_sha256_update(&b, msg + 23, strlen(msg) - 23);
    mc_sha256_final(&b, out);
    check_digest("copy: the copy", strlen(msg), out, want);
    mc_sha256_final(&c, out);
    check_digest("copy: an earlier copy", 3, out, abc);
}

/*
 * 2^32 + 100 zero bytes, read from untouched anonymous pages (the zero
 * page: no memory is used), in an update of 1 byte and one of the rest:
 * more than wc_Sha256Update takes at once (a word32), starting off a block
 * boundary, and a bit count over 32 bits. About 8 s on wolfSSL's assembly;
 * our SHA-NI code takes a minute unoptimised (with the sanitizers), so it
 * is only run in optimised builds.
 */
static void test_over_4gib(const char *impl)
{
    static const char *want = "577d1bdcfb357ff6b5cfa8d863aba0847fea65faa1ff00f6daf1caedb30a7b3f";
#ifdef __OPTIMIZE__
    const int optimised = 1;
#else
    const int optimised = 0;
#endif
    if (!optimised && strcmp(impl, "sha-ni") == 0) {
        printf("over 4 GiB in one update: NOT RUN on the SHA-NI path in an unoptimised build\n");
        return;
    }
#if (defined(__unix__) || defined(__APPLE__)) && SIZE_MAX > UINT32_MAX
    size_t n = ((size_t)1 << 32) + 100;
    void *zeros = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (zeros == MAP_FAILED) {
        printf("over 4 GiB in one update: NOT RUN (cannot map %zu bytes)\n", n);
        return;
    }
    uint8_t out[32];
    struct mc_sha256 ctx;
    mc_sha256_init(&ctx);
    mc_sha256_update(&ctx, zeros, 1);
    mc_sha256_update(&ctx, (const uint8_t *)zeros + 1, n - 1);
    mc_sha256_final(&ctx, out);
    check_digest("zeros, over 4 GiB in one update", n, out, want);
    munmap(zeros, n);
    printf("over 4 GiB in one update: checked\n");
#else
    (void)want;
    printf("over 4 GiB in one update: NOT RUN (no mmap or 32-bit size_t)\n");
#endif
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "sha-ni") != 0 && strcmp(argv[1], "wolfssl") != 0)) {
        fprintf(stderr, "usage: test_sha256 sha-ni|wolfssl\n");
        return 2;
    }
    const char *want = argv[1];
    const char *impl = mc_sha256_impl();
    const char *forced = getenv("MC_SHA256_NO_SHANI");
    printf("sha256: path under test %s, path chosen %s (MC_SHA256_NO_SHANI=%s, CPU SHA-NI %s)\n",
           want, impl, forced ? forced : "unset", cpu_has_shani() ? "yes" : "no");
    if (strcmp(want, impl) != 0) {
        if (strcmp(want, "sha-ni") == 0 && !cpu_has_shani() && !forced) {
            printf("sha256: SHA-NI path NOT RUN: this CPU (or build) lacks the SHA extensions\n");
            return 77;
        }
        fprintf(stderr, "sha256: expected the %s path, the dispatch chose %s\n", want, impl);
        return 1;
    }
    test_vectors();
    test_against_wolfssl();
    test_copy();
    test_over_4gib(impl);
    printf("sha256: the %s path ran\n", impl);
    return check_report("test_sha256");
}
