#include "addrcount.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/error.h"

struct addr_entry {
    struct addr_entry *next;
    unsigned count[ADDR_KINDS];
    char key[]; /* the address or /64, as conn.c writes it */
};

#define ADDR_MIN_BUCKETS 64u

int addr_counts_init(struct addr_counts *t)
{
    memset(t, 0, sizeof *t);
    randombytes_buf(t->hash_key, sizeof t->hash_key);
    t->bucket = calloc(ADDR_MIN_BUCKETS, sizeof *t->bucket);
    if (!t->bucket)
        return MC_ERR_NOMEM;
    t->nbuckets = ADDR_MIN_BUCKETS;
    return 0;
}

void addr_counts_free(struct addr_counts *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct addr_entry *e = t->bucket[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->bucket);
    t->bucket = NULL;
    t->nbuckets = t->nentries = 0;
}

static uint64_t addr_hash(const struct addr_counts *t, const char *key)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), t->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

static struct addr_entry **addr_slot(const struct addr_counts *t, const char *key)
{
    struct addr_entry **p = &t->bucket[addr_hash(t, key) & (t->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

void addr_counts_get(const struct addr_counts *t, const char *key, unsigned out[ADDR_KINDS])
{
    const struct addr_entry *e = *addr_slot(t, key);
    for (int k = 0; k < ADDR_KINDS; k++)
        out[k] = e ? e->count[k] : 0;
}

/* Twice the buckets once there are more entries than buckets; no change when out of memory. */
static void addr_grow(struct addr_counts *t)
{
    size_t n = t->nbuckets * 2;
    struct addr_entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still exact */
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct addr_entry *e = t->bucket[i], *next;
        for (; e; e = next) {
            next = e->next;
            struct addr_entry **dst = &b[addr_hash(t, e->key) & (n - 1)];
            e->next = *dst;
            *dst = e;
        }
    }
    free(t->bucket);
    t->bucket = b;
    t->nbuckets = n;
}

int addr_counts_add(struct addr_counts *t, const char *key, enum addr_kind kind, int delta)
{
    struct addr_entry **p = addr_slot(t, key), *e = *p;
    if (!e) {
        if (delta < 0)
            return 0; /* nothing counted: nothing to take away */
        size_t len = strlen(key) + 1;
        e = calloc(1, sizeof *e + len);
        if (!e)
            return MC_ERR_NOMEM;
        memcpy(e->key, key, len);
        *p = e;
        t->nentries++;
    }
    unsigned *n = &e->count[kind];
    if (delta > 0)
        (*n)++;
    else if (*n > 0)
        (*n)--;
    static const unsigned none[ADDR_KINDS];
    if (memcmp(e->count, none, sizeof none) == 0) {
        *p = e->next;
        free(e);
        t->nentries--;
    } else if (t->nentries > t->nbuckets) {
        addr_grow(t);
    }
    return 0;
}
