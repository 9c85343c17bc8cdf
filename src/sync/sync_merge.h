/*
 * Field-level merge of a device's change with the server's row (pure).
 *
 * For each field the device changed: the server's value still equal to
 * the device's base takes the device's new value; already equal to the
 * new value needs nothing; anything else changed on both sides, a
 * conflict, settled by the policy (docs/protocol.md 5.16).
 */
#ifndef MC_SYNC_MERGE_H
#define MC_SYNC_MERGE_H

#include <stdint.h>

#include "odbc_db.h"

enum sync_result { SYNC_APPLIED = 0, SYNC_CONFLICT = 1, SYNC_FAILED = 2 };
enum sync_flag { SYNC_F_REPLAYED = 0x01, SYNC_F_MERGED = 0x02, SYNC_F_RESOLVED = 0x04 };

struct sync_change {
    unsigned field; /* index in the mapping's field list */
    struct odbc_value base, next;
};

struct sync_merge {
    int result;         /* enum sync_result: APPLIED or CONFLICT */
    int flags;          /* SYNC_F_MERGED, SYNC_F_RESOLVED */
    int write;          /* a value to write differs from the server's */
    uint64_t conflicts; /* bit i: field i changed on both sides */
};

/*
 * cur: the server's values of all nfields fields; out receives the values
 * to write (all nfields). version_moved: the server's version is not the
 * device's base version. policy: enum cfg_conflict_policy.
 */
void sync_merge(const struct odbc_value *cur, unsigned nfields, const struct sync_change *ch,
                unsigned n, int version_moved, int policy, struct odbc_value *out,
                struct sync_merge *res);

#endif
