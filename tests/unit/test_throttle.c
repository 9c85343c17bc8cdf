/*
 * The throttle table's bucket index uses enough of the keyed hash for any
 * table size. This file is built with THROTTLE_BUCKETS = 2^17: the index
 * used to be 16 bits of the hash (and only 8 counted with the 256 buckets
 * of the real table), so the upper half of this table was never used.
 */
#include <stdlib.h>

#include "check.h"
#include "throttle.h"

int main(void)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t)
        return 1;
    throttle_init(t);
    char key[32];
    for (unsigned i = 0; i < 4000; i++) {
        snprintf(key, sizeof key, "10.0.%u.%u", i / 250, i % 250);
        throttle_failure(t, key, 1000);
    }
    unsigned low = 0, high = 0;
    for (unsigned b = 0; b < THROTTLE_BUCKETS; b++)
        for (unsigned w = 0; w < THROTTLE_WAYS; w++)
            if (t->slot[b][w].key[0])
                *(b < THROTTLE_BUCKETS / 2 ? &low : &high) += 1;
    CHECK_EQ_INT(low + high, 4000);
    /* About half each; far from it only if the index ignores high bits. */
    CHECK(high > 1500 && low > 1500);
    /* The table still does its job. */
    for (unsigned i = 0; i < THROTTLE_MAX_FAILURES - 1; i++)
        throttle_failure(t, "192.0.2.1", 2000);
    CHECK_EQ_INT(throttle_blocked(t, "192.0.2.1", 2000), 0);
    throttle_failure(t, "192.0.2.1", 2000);
    CHECK_EQ_INT(throttle_blocked(t, "192.0.2.1", 2000), THROTTLE_MAX_FAILURES);
    free(t);
    return check_report("test_throttle");
}
