#include "throttle.h"

#include <stdio.h>
#include <string.h>

static struct throttle_entry *throttle_slot(const struct throttle *t, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (struct throttle_entry *)&t->slot[h % THROTTLE_SLOTS];
}

unsigned throttle_blocked(const struct throttle *t, const char *key, uint64_t now_ms)
{
    const struct throttle_entry *e = throttle_slot(t, key);
    if (strcmp(e->key, key) != 0 || now_ms - e->window_start_ms >= THROTTLE_WINDOW_MS)
        return 0;
    return e->failures >= THROTTLE_MAX_FAILURES ? e->failures : 0;
}

void throttle_failure(struct throttle *t, const char *key, uint64_t now_ms)
{
    struct throttle_entry *e = throttle_slot(t, key);
    if (strcmp(e->key, key) != 0 || now_ms - e->window_start_ms >= THROTTLE_WINDOW_MS) {
        snprintf(e->key, sizeof e->key, "%s", key);
        e->failures = 0;
        e->window_start_ms = now_ms;
    }
    e->failures++;
}

void throttle_success(struct throttle *t, const char *key)
{
    struct throttle_entry *e = throttle_slot(t, key);
    if (strcmp(e->key, key) == 0)
        memset(e, 0, sizeof *e);
}
