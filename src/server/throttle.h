/*
 * Failed-login throttling per address. A connection closes after `tries`
 * wrong passwords, but a guesser simply reconnects; this table remembers
 * failures per address (IPv4) or /64 (IPv6) for a window, and once an
 * address has failed THROTTLE_MAX_FAILURES times within it, its HELLOs are
 * refused without spending a password check on them.
 *
 * A fixed table of small buckets, indexed by a keyed hash (an attacker
 * cannot choose addresses that collide), in which an address that is
 * blocked or still inside its window is never evicted. A successful login
 * does not clear the count: one known password must not buy guesses at
 * another. Loop thread only.
 */
#ifndef MC_THROTTLE_H
#define MC_THROTTLE_H

#include <stdint.h>

#ifndef THROTTLE_BUCKETS /* a test builds a larger table */
#define THROTTLE_BUCKETS 256u
#endif
#define THROTTLE_WAYS         4u
#define THROTTLE_WINDOW_MS    60000u
#define THROTTLE_MAX_FAILURES 20u

struct throttle_entry {
    char key[56];
    unsigned failures;
    uint64_t window_start_ms;
};

struct throttle {
    uint8_t hash_key[16];
    struct throttle_entry slot[THROTTLE_BUCKETS][THROTTLE_WAYS];
};

void throttle_init(struct throttle *t);
/* Failures from key in the current window when it is blocked, else 0. */
unsigned throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms);
/* Failures from key in the current window (0 when none or the window is over). */
unsigned throttle_failures(const struct throttle *t, const char *key, uint64_t now_ms);
void throttle_failure(struct throttle *t, const char *key, uint64_t now_ms);

#endif
