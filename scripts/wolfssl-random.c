/*
 * wolfSSL's random source in this project's build: the kernel's CSPRNG,
 * through getrandom(2). scripts/build-wolfssl.sh builds wolfSSL with
 * CUSTOM_RAND_GENERATE_BLOCK naming this function and adds it to the
 * library, so every program linking it (miscommd, misctl, miscli,
 * libmiscomm, the tests) draws its TLS randoms here.
 *
 * Why: wolfSSL's own generator is a SHA-256 Hash-DRBG seeded per WOLFSSL
 * object, and every seeding first runs two known-answer self-tests: 13.7
 * microseconds of SHA-256 per connection (about 6% of a full handshake's
 * server CPU), plus opening, reading and closing /dev/urandom. The kernel's
 * generator costs 0.4 microseconds a call, needs no state of ours, is safe
 * across fork() and threads, and is what wolfSSL seeded from anyway.
 *
 * getrandom() blocks only until the kernel's pool is first initialised at
 * boot, and returns requests of up to 256 bytes whole; larger ones are
 * looped over, as is a signal's interruption. Any other failure fails the
 * TLS operation that asked (wolfSSL returns an error; nothing is made up).
 *
 * wc_GenerateSeed() is wolfSSL's seed source, which it leaves undefined
 * when CUSTOM_RAND_GENERATE_BLOCK is set although its OpenSSL-compatible
 * RAND_poll() still calls it: defined here on the same source.
 */
#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

#include "wolfssl-random.h"

int miscomm_tls_random(unsigned char *out, unsigned int size)
{
    while (size > 0) {
        ssize_t n = getrandom(out, size, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        out += n;
        size -= (unsigned int)n;
    }
    return 0;
}

/* wolfSSL's declaration takes an OS_Seed *, which is not looked at. */
int wc_GenerateSeed(void *os, unsigned char *seed, unsigned int size);

int wc_GenerateSeed(void *os, unsigned char *seed, unsigned int size)
{
    (void)os;
    return miscomm_tls_random(seed, size);
}
