/*
 * The sweep of abandoned uploads: partial files in the staging folders of
 * a connection's receive folders that nothing has written for
 * partial_expiry seconds are removed, each with a log line. It runs as a
 * job (at start, then every hour) over every device's folder: {device} in
 * the template stands for each folder found there whose name is a valid
 * device id. Below the part of the template that precedes the device's
 * folder no symlink is followed (files_folder_dir_open), so a link planted
 * in place of a device's folder cannot make the sweep remove files
 * elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Sweep the staging folder of the receive folder at path (trusted: its configured part). */
static unsigned sweep_folder(const struct cfg_connection *cfg, const char *folder, int trusted,
                             time_t now)
{
    int ffd = files_folder_dir_open(folder, (size_t)trusted, 0);
    if (ffd < 0)
        return 0;
    int dfd = openat(ffd, FILES_STAGING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(ffd);
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
            log_warn("event=partial_expired connection=%s folder=%s file=%s error=\"%s\"",
                     cfg->name, folder, de->d_name, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

unsigned files_sweep(const struct cfg_connection *cfg)
{
    if (!(cfg->perms & MC_PERM_RECEIVE_FILES))
        return 0;
    time_t now = time(NULL);
    char path[PATH_MAX];
    const char *tpl = cfg->receive_files_dir;
    const char *dev = strstr(tpl, "{device}");
    if (!dev) {
        int trusted = files_folder_path(cfg, "", 1, path, sizeof path);
        return trusted < 0 ? 0 : sweep_folder(cfg, path, trusted, now);
    }
    /* The segment holding {device} (say "{device}" or "dev-{device}"): its
     * folder lists the devices' folders. */
    const char *seg = dev;
    while (seg > tpl && seg[-1] != '/')
        seg--;
    const char *post = dev + 8;
    size_t pre_len = (size_t)(dev - seg), post_len = strcspn(post, "/");
    char base[PATH_MAX];
    size_t base_len = seg > tpl ? (size_t)(seg - tpl - 1) : 0;
    if (base_len >= sizeof base)
        return 0;
    memcpy(base, tpl, base_len);
    base[base_len] = 0;
    int bfd = files_dir_open(base_len ? base : "/", 0);
    if (bfd < 0)
        return 0;
    DIR *d = fdopendir(bfd);
    if (!d) {
        close(bfd);
        return 0;
    }
    unsigned removed = 0, devices = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= pre_len + post_len || strncmp(de->d_name, seg, pre_len) != 0 ||
            strncmp(de->d_name + n - post_len, post, post_len) != 0)
            continue;
        char device[MC_MAX_DEVICE_ID * 4 + 1];
        size_t dn = n - pre_len - post_len;
        const char *why;
        if (dn >= sizeof device || files_segment_check(de->d_name + pre_len, dn, &why) < 0)
            continue;
        memcpy(device, de->d_name + pre_len, dn);
        device[dn] = 0;
        int trusted = files_folder_path(cfg, device, 1, path, sizeof path);
        if (trusted >= 0) {
            removed += sweep_folder(cfg, path, trusted, now);
            devices++;
        }
    }
    closedir(d);
    if (removed)
        log_info("event=partial_sweep connection=%s devices=%u removed=%u", cfg->name, devices,
                 removed);
    else
        log_debug("event=partial_sweep connection=%s devices=%u removed=0", cfg->name, devices);
    return removed;
}
