/* addr_counts: exact per-address counts of live connections, refusals and password checks. */
#include <sodium.h>
#include <stdio.h>

#include "addrcount.h"
#include "check.h"

static unsigned count_of(const struct addr_counts *t, const char *key, enum addr_kind kind)
{
    unsigned n[ADDR_KINDS];
    addr_counts_get(t, key, n);
    return n[kind];
}

static unsigned live_of(const struct addr_counts *t, const char *key)
{
    return count_of(t, key, ADDR_LIVE);
}

static unsigned refused_of(const struct addr_counts *t, const char *key)
{
    return count_of(t, key, ADDR_REFUSED);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct addr_counts t;
    CHECK_EQ_INT(addr_counts_init(&t), 0);

    /* Unknown: zero, and a removal of nothing changes nothing. */
    CHECK_EQ_INT(live_of(&t, "192.0.2.1"), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "192.0.2.1", 0, -1), 0);
    CHECK_EQ_INT(t.nentries, 0);

    /* Live and refused counted apart, per address. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(addr_counts_add(&t, "192.0.2.1", 0, 1), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "192.0.2.1", 1, 1), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "2001:db8:1:2::/64", 0, 1), 0);
    CHECK_EQ_INT(live_of(&t, "192.0.2.1"), 3);
    CHECK_EQ_INT(refused_of(&t, "192.0.2.1"), 1);
    CHECK_EQ_INT(live_of(&t, "2001:db8:1:2::/64"), 1);
    CHECK_EQ_INT(live_of(&t, "192.0.2.10"), 0); /* a prefix of another key is another key */
    CHECK_EQ_INT(t.nentries, 2);

    /* An address leaves when its last connection and refusal do. */
    CHECK_EQ_INT(addr_counts_add(&t, "192.0.2.1", 1, -1), 0);
    CHECK_EQ_INT(refused_of(&t, "192.0.2.1"), 0);
    CHECK_EQ_INT(t.nentries, 2);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(addr_counts_add(&t, "192.0.2.1", 0, -1), 0);
    CHECK_EQ_INT(live_of(&t, "192.0.2.1"), 0);
    CHECK_EQ_INT(t.nentries, 1);

    /* Password checks in flight: counted apart, and they keep the address
     * after its connection closed, until the last check ends. */
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_LIVE, 1), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_CHECKS, 1), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_CHECKS, 1), 0);
    CHECK_EQ_INT(count_of(&t, "198.51.100.7", ADDR_CHECKS), 2);
    CHECK_EQ_INT(live_of(&t, "198.51.100.7"), 1);
    CHECK_EQ_INT(count_of(&t, "198.51.100.8", ADDR_CHECKS), 0);
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_LIVE, -1), 0);
    CHECK_EQ_INT(t.nentries, 2);
    CHECK_EQ_INT(count_of(&t, "198.51.100.7", ADDR_CHECKS), 2);
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_CHECKS, -1), 0);
    CHECK_EQ_INT(t.nentries, 2);
    CHECK_EQ_INT(addr_counts_add(&t, "198.51.100.7", ADDR_CHECKS, -1), 0);
    CHECK_EQ_INT(count_of(&t, "198.51.100.7", ADDR_CHECKS), 0);
    CHECK_EQ_INT(t.nentries, 1);

    /* Many addresses: the table grows and every count stays exact. */
    char key[32];
    size_t first_buckets = t.nbuckets;
    for (unsigned i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        for (unsigned k = 0; k <= i % 3; k++)
            CHECK_EQ_INT(addr_counts_add(&t, key, 0, 1), 0);
    }
    CHECK(t.nbuckets > first_buckets);
    CHECK_EQ_INT(t.nentries, 20001);
    unsigned wrong = 0;
    for (unsigned i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        wrong += live_of(&t, key) != i % 3 + 1;
    }
    CHECK_EQ_INT(wrong, 0);
    for (unsigned i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        for (unsigned k = 0; k <= i % 3; k++)
            CHECK_EQ_INT(addr_counts_add(&t, key, 0, -1), 0);
    }
    CHECK_EQ_INT(t.nentries, 1);
    CHECK_EQ_INT(live_of(&t, "2001:db8:1:2::/64"), 1);
    addr_counts_free(&t);
    return check_report("test_addrcount");
}
