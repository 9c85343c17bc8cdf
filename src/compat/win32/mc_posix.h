/*
 * Windows build only: force-included in every file (cmake/windows-deps.cmake,
 * -include), so that the sources' POSIX file calls mean on Windows what they
 * mean on Linux. What is only a spelling is a macro here; what needs a
 * Windows call is in src/common/platform_win.c.
 *
 * - O_CLOEXEC, which every open() in the sources passes, becomes "not
 *   inherited, binary": without _O_BINARY the C runtime would turn CR LF
 *   into LF in certificates, credential files and transferred files.
 * - rename() and renameat() replace atomically (MoveFileExW with
 *   MOVEFILE_REPLACE_EXISTING and MOVEFILE_WRITE_THROUGH; without
 *   REPLACE_EXISTING for RENAME_NOREPLACE); the C runtime's rename refuses
 *   an existing target.
 * - link() is CreateHardLinkW: like link(2) it fails with EEXIST instead of
 *   replacing, which is what safefile_write's "keep an existing file" needs.
 * - realpath() is _fullpath() of a path that exists (ENOENT otherwise).
 * - getline() is written out (the C runtime has none).
 * - gmtime_r() and timegm() are gmtime_s() and _mkgmtime().
 * - fsync() is _commit(); pread() reads at an offset without a shared
 *   file position (ReadFile with an OVERLAPPED offset).
 * - open(), stat() and the *at() calls, directory streams, flock(),
 *   pwrite() and futimens() are src/common/platform_win_fs.c's (below).
 */
#ifndef MC_COMPAT_POSIX_H
#define MC_COMPAT_POSIX_H
#ifdef _WIN32

#include <direct.h>
#include <dirent.h>
#include <fcntl.h>
#include <io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#define O_NOCTTY  0
#ifndef O_ACCMODE
#define O_ACCMODE _O_ACCMODE
#endif
/* Flags the C runtime lacks, in bits it does not use; mc_win_open strips them. */
#define O_DIRECTORY 0x01000000
#define O_NOFOLLOW  0x02000000
#define O_PATH      0x04000000
#define O_NONBLOCK  0x08000000

/*
 * Directory file descriptors and the *at() calls (src/common/platform_win_fs.c):
 * a directory fd is a slot holding the folder's path and an open handle
 * to it (so it cannot be renamed or removed while held), numbered above
 * any C-runtime fd. Names are joined beneath it; with O_NOFOLLOW a reparse
 * point (symbolic link, junction) is refused with ELOOP, as Linux refuses a
 * symbolic link. Paths are UTF-8 and go to Windows as UTF-16.
 */
#define AT_FDCWD            (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR        0x200
#define RENAME_NOREPLACE    1
#define LOCK_SH             1
#define LOCK_EX             2
#define LOCK_NB             4
#define LOCK_UN             8
#define F_GETFL             3
#define F_SETFL             4
#define DT_UNKNOWN          0
#define DT_DIR              4
#define DT_REG              8

/* stat with what the sources use: the file id as st_ino, the volume serial
 * as st_dev, nanosecond times, the real link count. */
struct mc_win_stat {
    unsigned long long st_dev, st_ino;
    unsigned st_mode, st_nlink;
    long long st_size;
    struct timespec st_atim, st_mtim, st_ctim;
    int st_uid, st_gid;
};
#undef stat /* _FILE_OFFSET_BITS=64 made them _stat64 and friends */
#undef fstat
#define stat mc_win_stat /* the struct and the function, as in POSIX */
int mc_win_stat(const char *path, struct stat *st);
int mc_win_fstat(int fd, struct stat *st);
int mc_win_fstatat(int dirfd, const char *name, struct stat *st, int flags);
#define fstat(fd, st)        mc_win_fstat(fd, st)
#define lstat(p, st)         mc_win_fstatat(AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW)
#define fstatat(d, n, st, f) mc_win_fstatat(d, n, st, f)

int mc_win_open(const char *path, int flags, ...);
int mc_win_openat(int dirfd, const char *name, int flags, ...);
int mc_win_close(int fd);
int mc_win_dup(int fd);
int mc_win_mkdirat(int dirfd, const char *name, int mode);
int mc_win_unlinkat(int dirfd, const char *name, int flags);
int mc_win_renameat2(int olddir, const char *oldname, int newdir, const char *newname,
                     unsigned flags);
int mc_win_flock(int fd, int op);
ssize_t mc_win_pwrite(int fd, const void *buf, size_t len, off_t off);
int mc_win_futimens(int fd, const struct timespec times[2]);
int mc_win_fcntl(int fd, int cmd, ...);
#define open(...)                mc_win_open(__VA_ARGS__)
#define openat(...)              mc_win_openat(__VA_ARGS__)
#define close(fd)                mc_win_close(fd)
#define dup(fd)                  mc_win_dup(fd)
#define mkdir(p, m)              mc_win_mkdirat(AT_FDCWD, p, m)
#define mkdirat(d, n, m)         mc_win_mkdirat(d, n, m)
#define unlink(p)                mc_win_unlinkat(AT_FDCWD, p, 0)
#define rmdir(p)                 mc_win_unlinkat(AT_FDCWD, p, AT_REMOVEDIR)
#define unlinkat(d, n, f)        mc_win_unlinkat(d, n, f)
#define renameat(a, b, c, d)     mc_win_renameat2(a, b, c, d, 0)
#define renameat2(a, b, c, d, f) mc_win_renameat2(a, b, c, d, f)
#define rename(a, b)             mc_win_renameat2(AT_FDCWD, a, AT_FDCWD, b, 0)
#define flock(fd, op)            mc_win_flock(fd, op)
#define pwrite(fd, b, n, o)      mc_win_pwrite(fd, b, n, o)
#define futimens(fd, t)          mc_win_futimens(fd, t)
#define fcntl(...)               mc_win_fcntl(__VA_ARGS__)

/* Directory streams with UTF-8 names (the C runtime's are in the ANSI code page). */
struct mc_win_dirent {
    unsigned char d_type;
    char d_name[1024];
};
typedef struct mc_win_dir MC_WIN_DIR;
#define dirent mc_win_dirent
#define DIR    MC_WIN_DIR
MC_WIN_DIR *mc_win_fdopendir(int fd);
MC_WIN_DIR *mc_win_opendir(const char *path);
struct mc_win_dirent *mc_win_readdir(MC_WIN_DIR *d);
int mc_win_closedir(MC_WIN_DIR *d);
int mc_win_dirfd(MC_WIN_DIR *d);
#define fdopendir(fd) mc_win_fdopendir(fd)
#define opendir(p)    mc_win_opendir(p)
#define readdir(d)    mc_win_readdir(d)
#define closedir(d)   mc_win_closedir(d)
#define dirfd(d)      mc_win_dirfd(d)

/* Disk quota exceeded: Windows reports a full disk instead; a value of its own
 * (unused by the C runtime) so that switch statements may name both. */
#define EDQUOT 141

/* strndup and setenv, which the C runtime lacks. */
static inline char *mc_win_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}
#define strndup(s, n) mc_win_strndup(s, n)

static inline int mc_win_setenv(const char *name, const char *value, int overwrite)
{
    if (!overwrite && getenv(name))
        return 0;
    return _putenv_s(name, value) == 0 ? 0 : -1;
}
#define setenv(n, v, o) mc_win_setenv(n, v, o)

/* UTC broken-down time: the C runtime's spellings (arguments swapped). */
static inline struct tm *mc_win_gmtime_r(const time_t *t, struct tm *out)
{
    return gmtime_s(out, t) == 0 ? out : NULL;
}
#define gmtime_r(t, out) mc_win_gmtime_r(t, out)
#define timegm(tm)       _mkgmtime(tm)

char *mc_win_realpath(const char *path, char *out);
#define realpath(p, out) mc_win_realpath(p, out)
ssize_t mc_win_getline(char **line, size_t *cap, FILE *f);
#define getline(l, c, f) mc_win_getline(l, c, f)
int mc_win_link(const char *from, const char *to);
int mc_win_fsync(int fd);
ssize_t mc_win_pread(int fd, void *buf, size_t len, off_t off);
#define link(a, b)         mc_win_link(a, b)
#define fsync(fd)          mc_win_fsync(fd)
#define pread(fd, b, n, o) mc_win_pread(fd, b, n, o)

#endif
#endif
