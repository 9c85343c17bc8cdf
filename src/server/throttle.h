/*
 * Failed-login throttling per address. A connection closes after `tries`
 * wrong passwords, but a guesser simply reconnects; this table remembers
 * failures per address (IPv4) or /64 (IPv6) for a window, and once an
 * address has failed THROTTLE_MAX_FAILURES times within it, its HELLOs are
 * refused without spending a password check on them. A fixed table: an
 * attacker with many addresses evicts entries rather than growing memory.
 * Loop thread only.
 */
#ifndef MC_THROTTLE_H
#define MC_THROTTLE_H

#include <stdint.h>

#define THROTTLE_SLOTS        1024u
#define THROTTLE_WINDOW_MS    60000u
#define THROTTLE_MAX_FAILURES 20u

struct throttle_entry {
    char key[56];
    unsigned failures;
    uint64_t window_start_ms;
};

struct throttle {
    struct throttle_entry slot[THROTTLE_SLOTS];
};

/* Failures from key in the current window when it is blocked, else 0. */
unsigned throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms);
void throttle_failure(struct throttle *t, const char *key, uint64_t now_ms);
void throttle_success(struct throttle *t, const char *key);

#endif
