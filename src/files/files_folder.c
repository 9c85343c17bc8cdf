/* A device's folders, from the connection's configuration. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"

int files_folder_path(const struct cfg_connection *cfg, const char *device, int receive, char *path,
                      size_t cap)
{
    const char *tpl = receive ? cfg->receive_files_dir : cfg->send_files_dir;
    const char *first = strstr(tpl, "{device}");
    size_t trusted = strlen(tpl);
    if (first) {
        trusted = 0;
        for (const char *p = tpl; p < first; p++)
            if (*p == '/')
                trusted = (size_t)(p - tpl);
    }
    size_t o = 0;
    for (const char *p = tpl; *p;) {
        const char *piece = p;
        size_t n;
        if (strncmp(p, "{device}", 8) == 0) {
            piece = device;
            n = strlen(device);
            p += 8;
        } else {
            n = 1;
            p++;
        }
        if (o + n >= cap)
            return MC_ERR_BAD_NAME;
        memcpy(path + o, piece, n);
        o += n;
    }
    path[o] = 0;
    return (int)trusted;
}

/* Create the last folder of rel beneath base (its parents exist). */
static int folder_make_last(int base, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    int parent = base;
    if (slash) {
        char up[PATH_MAX];
        if ((size_t)(slash - rel) >= sizeof up)
            return MC_ERR_BAD_NAME;
        memcpy(up, rel, (size_t)(slash - rel));
        up[slash - rel] = 0;
        parent = files_open_beneath(base, up, O_RDONLY | O_DIRECTORY, 0, 1);
        if (parent < 0)
            return parent;
    }
    int rc = mkdirat(parent, slash ? slash + 1 : rel, 0750) == 0 || errno == EEXIST ? 0 : -1;
    int e = errno;
    if (parent != base)
        close(parent);
    if (rc == 0)
        return 0;
    return e == ENOSPC || e == EDQUOT ? MC_ERR_NO_SPACE : MC_ERR_IO;
}

int files_folder_dir_open(const char *path, size_t trusted, int create)
{
    size_t len = strlen(path);
    if (trusted >= len)
        return files_dir_open(path, create);
    char base[PATH_MAX];
    if (path[trusted] != '/' || trusted >= sizeof base)
        return MC_ERR_INVALID_ARG;
    memcpy(base, path, trusted);
    base[trusted] = 0;
    int bfd = files_dir_open(trusted ? base : "/", create);
    if (bfd < 0)
        return bfd;
    const char *rel = path + trusted + 1;
    int fd = files_open_beneath(bfd, rel, O_RDONLY | O_DIRECTORY, 0, create);
    if (fd == MC_ERR_NOT_FOUND && create) {
        /* The walk made the parents; the folder itself is made here. */
        int rc = folder_make_last(bfd, rel);
        fd = rc < 0 ? rc : files_open_beneath(bfd, rel, O_RDONLY | O_DIRECTORY, 0, 0);
    }
    close(bfd);
    return fd;
}
