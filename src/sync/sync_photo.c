/*
 * Photos (worker thread): a file the device uploaded (PUT, resumable) into
 * its receive folder moves into the photo store under its SHA-256, once
 * its bytes are checked. The store is content-addressed, so a retry after
 * the move (the transaction failed, the answer was lost) finds the photo
 * there, and the same photo attached twice is stored once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "files.h"
#include "files_path.h"
#include "miscomm/error.h"
#include "sync_internal.h"

static const char *extension(const char *content_type)
{
    static const char *const types[][2] = {{"image/jpeg", "jpg"},
                                           {"image/png", "png"},
                                           {"image/heic", "heic"},
                                           {"image/webp", "webp"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(content_type, types[i][0]) == 0)
            return types[i][1];
    return NULL;
}

/* Copy fd's size bytes to a new file name in dirfd (through a temporary name), synced. */
static int copy_into(int fd, uint64_t size, int dirfd, const char *name)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, ".%s.tmp", name);
    int out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (out < 0)
        return errno == ENOSPC ? MC_ERR_NO_SPACE : MC_ERR_IO;
    char b[65536];
    uint64_t done = 0;
    int rc = 0;
    while (rc == 0 && done < size) {
        ssize_t n = pread(fd, b, sizeof b, (off_t)done);
        if (n <= 0) {
            rc = MC_ERR_IO;
            break;
        }
        for (ssize_t w = 0; rc == 0 && w < n;) {
            ssize_t k = write(out, b + w, (size_t)(n - w));
            if (k < 0)
                rc = errno == ENOSPC || errno == EDQUOT ? MC_ERR_NO_SPACE : MC_ERR_IO;
            else
                w += k;
        }
        done += (uint64_t)n;
    }
    if (rc == 0 && fsync(out) < 0)
        rc = MC_ERR_IO;
    close(out);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        rc = MC_ERR_IO;
    if (rc < 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

int sync_photo_store(const struct cfg_connection *cfg, const char *device, const char *store_dir,
                     struct sync_photo *p, char *why, size_t cap)
{
    const char *ext = extension(p->content_type);
    if (!ext) {
        snprintf(why, cap, "content_type must be image/jpeg, image/png, image/heic or image/webp");
        return MC_ERR_BAD_PAYLOAD;
    }
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, p->sha256, 32);
    snprintf(p->stored, sizeof p->stored, "%s.%s", hex, ext);
    int store = files_dir_open(store_dir, 1);
    if (store < 0) {
        snprintf(why, cap, "the photo store cannot be opened (the gateway's log says why)");
        return MC_ERR_IO;
    }
    struct stat st;
    /* Moved in by an earlier try: content-addressed, so it is this photo. */
    if (fstatat(store, p->stored, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        p->size = (uint64_t)st.st_size;
        close(store);
        return 0;
    }
    const char *bad = NULL;
    if (files_name_check(p->file, strlen(p->file), &bad) < 0) {
        close(store);
        snprintf(why, cap, "bad file name: %s", bad ? bad : "refused");
        return MC_ERR_BAD_NAME;
    }
    char path[PATH_MAX];
    int trusted = files_folder_path(cfg, device, 1, path, sizeof path);
    int dir = trusted < 0 ? trusted : files_folder_dir_open(path, (size_t)trusted, 0);
    if (dir < 0) {
        close(store);
        snprintf(why, cap, "the photo '%s' is not in the receive folder: upload it first (PUT)",
                 p->file);
        return MC_ERR_NOT_FOUND;
    }
    /* The file's own folder, opened beneath the receive folder: the rename
     * below then names nothing a link could redirect. */
    char parent[FILES_NAME_MAX + 1];
    snprintf(parent, sizeof parent, "%s", p->file);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : p->file;
    int pdir = dir;
    if (slash) {
        *slash = 0;
        pdir = files_open_beneath(dir, parent, O_RDONLY | O_DIRECTORY, 0, 0);
    }
    int fd = pdir < 0 ? pdir : files_open_beneath(pdir, base, O_RDONLY, 0, 0);
    int rc = 0;
    uint8_t sum[32];
    if (fd < 0) {
        rc = fd;
        snprintf(why, cap, "the photo '%s' is not in the receive folder: upload it first (PUT)",
                 p->file);
        if (rc != MC_ERR_BAD_NAME)
            rc = MC_ERR_NOT_FOUND;
    } else if (fstat(fd, &st) < 0 || files_hash_cached(fd, (uint64_t)st.st_size, sum) < 0) {
        rc = MC_ERR_IO;
        snprintf(why, cap, "the photo '%s' cannot be read", p->file);
    } else if (sodium_memcmp(sum, p->sha256, 32) != 0) {
        rc = MC_ERR_HASH_MISMATCH;
        snprintf(why, cap, "the photo '%s' does not have the SHA-256 given (upload it again)",
                 p->file);
    } else {
        p->size = (uint64_t)st.st_size;
        if (renameat(pdir, base, store, p->stored) < 0) {
            rc = errno == EXDEV ? copy_into(fd, p->size, store, p->stored) : MC_ERR_IO;
            if (rc == 0)
                unlinkat(pdir, base, 0);
        }
        if (rc < 0)
            snprintf(why, cap, "the photo cannot be moved into the photo store (%s)",
                     rc == MC_ERR_NO_SPACE ? "the disk is full" : "input/output error");
        else
            fsync(store);
    }
    if (fd >= 0)
        close(fd);
    if (pdir >= 0 && pdir != dir)
        close(pdir);
    close(dir);
    close(store);
    return rc;
}
