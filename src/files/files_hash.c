/*
 * Whole-file SHA-256, remembered by (device, inode, size, mtime) so that a
 * LIST does not read every file again. The cache is shared by the worker
 * threads (a mutex) and bounded: direct-mapped, a file that lands on a taken
 * slot replaces what was there. A file rewritten within the same mtime tick
 * and size would be missed; the hash in GET_OK is then the cached one.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "filehash.h"
#include "files.h"
#include "miscomm/error.h"

#define HASH_CACHE_SIZE 4096u

struct hash_entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int used;
    uint8_t sha[32];
};

static struct hash_entry cache[HASH_CACHE_SIZE];
static uv_mutex_t cache_lock;
static uv_once_t cache_once = UV_ONCE_INIT;

static void cache_init(void)
{
    (void)uv_mutex_init(&cache_lock);
}

static size_t cache_slot(const struct stat *st)
{
    uint64_t h = (uint64_t)st->st_ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)st->st_dev;
    return (size_t)(h % HASH_CACHE_SIZE);
}

int files_hash_cached(int fd, uint64_t size, uint8_t out[32])
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != size)
        return MC_ERR_IO; /* it changed since its size was taken */
    uv_once(&cache_once, cache_init);
    size_t slot = cache_slot(&st);
    uv_mutex_lock(&cache_lock);
    struct hash_entry *e = &cache[slot];
    int hit = e->used && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
              e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec;
    if (hit)
        memcpy(out, e->sha, 32);
    uv_mutex_unlock(&cache_lock);
    if (hit)
        return 0;
    int rc = filehash_fd(fd, (uint64_t)st.st_size, out);
    if (rc < 0)
        return rc;
    uv_mutex_lock(&cache_lock);
    *e = (struct hash_entry){
        .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim, .used = 1};
    memcpy(e->sha, out, 32);
    uv_mutex_unlock(&cache_lock);
    return 0;
}
