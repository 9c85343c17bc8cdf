#include "throttle.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void throttle_init(struct throttle *t)
{
    memset(t, 0, sizeof *t);
    randombytes_buf(t->hash_key, sizeof t->hash_key);
}

static struct throttle_entry *throttle_bucket(const struct throttle *t, const char *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), t->hash_key);
    /* 32 bits of the keyed hash: enough for any table size. (The index was
     * h[0] | h[1] << 8 modulo 256, in which h[1] did nothing.) */
    uint32_t v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return (struct throttle_entry *)t->slot[v % THROTTLE_BUCKETS];
}

static int in_window(const struct throttle_entry *e, uint64_t now_ms)
{
    return e->key[0] && now_ms - e->window_start_ms < THROTTLE_WINDOW_MS;
}

unsigned throttle_failures(const struct throttle *t, const char *key, uint64_t now_ms)
{
    const struct throttle_entry *b = throttle_bucket(t, key);
    for (unsigned w = 0; w < THROTTLE_WAYS; w++)
        if (strcmp(b[w].key, key) == 0 && in_window(&b[w], now_ms))
            return b[w].failures;
    return 0;
}

unsigned throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms)
{
    unsigned n = throttle_failures(t, key, now_ms);
    return n >= THROTTLE_MAX_FAILURES ? n : 0;
}

void throttle_failure(struct throttle *t, const char *key, uint64_t now_ms)
{
    struct throttle_entry *b = throttle_bucket(t, key), *e = NULL;
    for (unsigned w = 0; w < THROTTLE_WAYS && !e; w++)
        if (strcmp(b[w].key, key) == 0)
            e = &b[w];
    if (e && !in_window(e, now_ms)) {
        e->failures = 0;
        e->window_start_ms = now_ms;
    }
    if (!e) {
        /* A free or expired way, else the way with the fewest failures;
         * an address that is blocked is never evicted. */
        for (unsigned w = 0; w < THROTTLE_WAYS; w++) {
            struct throttle_entry *x = &b[w];
            if (!in_window(x, now_ms)) {
                e = x;
                break;
            }
            if (x->failures < THROTTLE_MAX_FAILURES && (!e || x->failures < e->failures))
                e = x;
        }
        if (!e)
            return;
        snprintf(e->key, sizeof e->key, "%s", key);
        e->failures = 0;
        e->window_start_ms = now_ms;
    }
    e->failures++;
}
