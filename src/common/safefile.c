#include "safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscomm/error.h"

/* Best effort: make the rename itself durable. Some file systems refuse fsync on a directory. */
static void sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >= (int)sizeof dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

/* Remove the temporary file without losing the errno that explains the failure. */
static int fail_unlink(const char *tmp, int rc)
{
    int err = errno;
    unlink(tmp);
    errno = err;
    return rc;
}

int safefile_write(const char *path, const void *data, size_t len, int mode, int replace)
{
    char tmp[4096];
    /* Unpredictable, so nobody can plant a file of that name ahead of us (O_EXCL would refuse). */
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%08x", path, (long)getpid(),
                 (unsigned)randombytes_random()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return MC_ERR_INVALID_ARG;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return MC_ERR_IO;
    const uint8_t *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            int err = errno;
            close(fd);
            errno = err;
            return fail_unlink(tmp, MC_ERR_IO);
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return fail_unlink(tmp, MC_ERR_IO);
    }
    if (close(fd) != 0)
        return fail_unlink(tmp, MC_ERR_IO);
    if (!replace) {
        /* link() fails with EEXIST instead of replacing: no window for a race. */
        if (link(tmp, path) != 0)
            return fail_unlink(tmp, errno == EEXIST ? MC_ERR_EXISTS : MC_ERR_IO);
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        return fail_unlink(tmp, MC_ERR_IO);
    }
    sync_parent(path);
    return 0;
}

const char *safefile_mode_warning(mode_t mode)
{
#ifdef _WIN32
    /* Windows reports no group or other bits (the C runtime copies the
     * owner's into them): access is the folder's ACL, which the installer
     * sets (docs/admin.md, "Installing on Windows"). */
    (void)mode;
    return NULL;
#endif
    if (mode & (S_IRGRP | S_IROTH))
        return "other users can read it (group or others have read permission); "
               "make it mode 0600 (chmod 600)";
    return NULL;
}
