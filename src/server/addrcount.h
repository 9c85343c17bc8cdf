/*
 * Connections per address, for max_connections_per_ip: how many live
 * connections and how many refusals in progress each address (IPv4) or
 * /64 (IPv6) has, found in constant time at every accept instead of by a
 * walk over every connection; and, for the login guess limit, how many
 * password checks it has in flight.
 *
 * A chained hash table under a keyed hash (SipHash: a client cannot pick
 * addresses that collide), grown as addresses come; an address leaves
 * when its last connection closes and its last check ends, so the table
 * never holds more entries than there are connections and checks. Exact:
 * nothing is ever evicted. Loop thread only.
 */
#ifndef MC_ADDRCOUNT_H
#define MC_ADDRCOUNT_H

#include <stddef.h>
#include <stdint.h>

struct addr_entry;

struct addr_counts {
    uint8_t hash_key[16];
    struct addr_entry **bucket;
    size_t nbuckets; /* a power of two */
    size_t nentries;
};

/* What is counted per address. */
enum addr_kind {
    ADDR_LIVE = 0,    /* live connections */
    ADDR_REFUSED = 1, /* refusals in progress */
    ADDR_CHECKS = 2,  /* password checks in flight (auth.c): the guess limit's count */
    ADDR_KINDS
};

/* An empty table; MC_ERR_NOMEM. */
__attribute__((warn_unused_result)) int addr_counts_init(struct addr_counts *t);
void addr_counts_free(struct addr_counts *t);
/* key's counts, by enum addr_kind (all 0 when unknown). */
void addr_counts_get(const struct addr_counts *t, const char *key, unsigned out[ADDR_KINDS]);
/*
 * One more (delta 1) or one fewer (delta -1) of kind from key. Adding can
 * fail with MC_ERR_NOMEM only when key has no entry yet (the count is then
 * unchanged); removing never fails. An address leaves the table when all
 * its counts are 0.
 */
__attribute__((warn_unused_result)) int addr_counts_add(struct addr_counts *t, const char *key,
                                                        enum addr_kind kind, int delta);

#endif
