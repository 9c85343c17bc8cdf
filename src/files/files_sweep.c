/*
 * The sweep of abandoned uploads: partial files in the staging folders of
 * a connection's receive folders that nothing has written for
 * partial_expiry seconds are removed, each with a log line. It runs as a
 * job (at start, then every hour) over every device's folder: {device} in
 * the template stands for each folder found there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "log.h"
#include "miscomm/proto.h"

static unsigned sweep_folder(const struct cfg_connection *cfg, const char *folder, time_t now)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", folder, FILES_STAGING) >= sizeof path)
        return 0;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    unsigned removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".part") != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        double age = difftime(now, st.st_mtim.tv_sec);
        if (age < (double)cfg->partial_expiry)
            continue;
        /* An upload in progress holds a shared lock on its partial: skip it. */
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            close(fd);
            continue;
        }
        int gone = unlinkat(dirfd(d), de->d_name, 0);
        close(fd); /* the lock goes with it */
        if (gone == 0) {
            removed++;
            log_info("event=partial_expired connection=%s folder=%s file=%s bytes=%lld "
                     "age_s=%.0f partial_expiry_s=%u",
                     cfg->name, folder, de->d_name, (long long)st.st_size, age,
                     cfg->partial_expiry);
        } else {
            log_warn("event=partial_expired connection=%s file=%s/%s error=\"%s\"", cfg->name, path,
                     de->d_name, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

unsigned files_sweep(const struct cfg_connection *cfg)
{
    if (!(cfg->perms & MC_PERM_RECEIVE_FILES))
        return 0;
    /* {device} becomes a glob over the devices' folders. */
    char pattern[PATH_MAX * 2];
    size_t o = 0;
    for (const char *p = cfg->receive_files_dir; *p && o + 2 < sizeof pattern;) {
        if (strncmp(p, "{device}", 8) == 0) {
            pattern[o++] = '*';
            p += 8;
        } else {
            if (strchr("*?[\\", *p))
                pattern[o++] = '\\';
            pattern[o++] = *p++;
        }
    }
    pattern[o] = 0;
    glob_t g;
    if (glob(pattern, GLOB_NOSORT | GLOB_ONLYDIR, NULL, &g) != 0)
        return 0;
    time_t now = time(NULL);
    unsigned removed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++)
        removed += sweep_folder(cfg, g.gl_pathv[i], now);
    globfree(&g);
    return removed;
}
