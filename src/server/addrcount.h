/*
 * Connections per address, for max_connections_per_ip: how many live
 * connections and how many refusals in progress each address (IPv4) or
 * /64 (IPv6) has, found in constant time at every accept instead of by a
 * walk over every connection.
 *
 * A chained hash table under a keyed hash (SipHash: a client cannot pick
 * addresses that collide), grown as addresses come; an address leaves
 * when its last connection closes, so the table never holds more entries
 * than there are connections. Exact: nothing is ever evicted. Loop thread
 * only.
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

/* An empty table; MC_ERR_NOMEM. */
__attribute__((warn_unused_result)) int addr_counts_init(struct addr_counts *t);
void addr_counts_free(struct addr_counts *t);
/* Live connections and refusals in progress from key (both 0 when unknown). */
void addr_counts_get(const struct addr_counts *t, const char *key, unsigned *live,
                     unsigned *refused);
/*
 * One more (delta 1) or one fewer (delta -1) live connection, or refusal
 * when refusal is set, from key. Adding can fail with MC_ERR_NOMEM (the
 * count is then unchanged); removing never fails.
 */
__attribute__((warn_unused_result)) int addr_counts_add(struct addr_counts *t, const char *key,
                                                        int refusal, int delta);

#endif
