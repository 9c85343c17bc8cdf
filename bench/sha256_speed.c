/*
 * sha256_speed: SHA-256 of 1 GiB in 256 KiB updates (the size filehash reads
 * a file in), wolfSSL's wc_Sha256 against ours (src/common/sha256.c), best
 * of ROUNDS (default 3). MB/s is 10^6 bytes per second. Ours runs on the
 * path the process picks (SHA-NI when the CPU has it); MC_SHA256_NO_SHANI=1
 * measures the fallback instead, our wrapper over wc_Sha256, which should
 * come out level with wolfSSL. Built by hand, from the top of the tree,
 * against the wolfSSL the project links:
 *
 *   clang -O2 -std=c11 -D_GNU_SOURCE -Isrc/common -Ibuild/deps/wolfssl/include \
 *       bench/sha256_speed.c src/common/sha256.c build/deps/wolfssl/lib/libwolfssl.a \
 *       -lm -lpthread -o /tmp/sha256_speed
 *   /tmp/sha256_speed [ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "sha256.h"

#define TOTAL  (1024u * 1024u * 1024u)
#define UPDATE (256u * 1024u)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_wolfssl(const uint8_t *buf, uint8_t out[32])
{
    wc_Sha256 sha;
    double t0 = now();
    if (wc_InitSha256(&sha) != 0) {
        fprintf(stderr, "wc_InitSha256 failed\n");
        exit(1);
    }
    for (unsigned done = 0; done < TOTAL; done += UPDATE)
        wc_Sha256Update(&sha, buf, UPDATE);
    wc_Sha256Final(&sha, out);
    wc_Sha256Free(&sha);
    return now() - t0;
}

static double run_ours(const uint8_t *buf, uint8_t out[32])
{
    struct mc_sha256 sha;
    double t0 = now();
    mc_sha256_init(&sha);
    for (unsigned done = 0; done < TOTAL; done += UPDATE)
        mc_sha256_update(&sha, buf, UPDATE);
    mc_sha256_final(&sha, out);
    return now() - t0;
}

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    if (rounds < 1)
        rounds = 1;
    uint8_t *buf = malloc(UPDATE);
    if (!buf)
        return 1;
    uint32_t x = 2463534242u; /* xorshift32: data that is not all one byte */
    for (unsigned i = 0; i < UPDATE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    double best_wolf = 1e9, best_ours = 1e9;
    uint8_t d_wolf[32], d_ours[32];
    for (int r = 0; r < rounds; r++) {
        double t = run_wolfssl(buf, d_wolf);
        best_wolf = t < best_wolf ? t : best_wolf;
        t = run_ours(buf, d_ours);
        best_ours = t < best_ours ? t : best_ours;
    }
    char h_wolf[65], h_ours[65];
    hex(d_wolf, h_wolf);
    hex(d_ours, h_ours);
    printf("wolfssl          %8.1f MB/s  %s\n", TOTAL / best_wolf / 1e6, h_wolf);
    printf("ours (%-8s)  %8.1f MB/s  %s\n", mc_sha256_impl(), TOTAL / best_ours / 1e6, h_ours);
    printf("ratio ours/wolfssl %.2f\n", best_wolf / best_ours);
    free(buf);
    if (strcmp(h_wolf, h_ours) != 0) {
        fprintf(stderr, "the digests differ\n");
        return 1;
    }
    return 0;
}
