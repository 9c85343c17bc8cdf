/*
 * Windows build only: the POSIX file-system calls of the sources, on Win32
 * (src/compat/win32/mc_posix.h lists them and says why).
 *
 * Directory fds. Windows has no fd for a folder: a directory fd here is a
 * slot number (DIRFD_BASE + index) holding the folder's UTF-8 path and a
 * handle opened on it without FILE_SHARE_DELETE, so that the folder cannot
 * be renamed or removed while it is held, which is what lets a path joined
 * beneath it stand in for openat(2). Names joined beneath it are the
 * callers' checked, relative names ('/'-separated, no "." or "..", no ':'
 * or '\\': src/files/files_path.c); each component a walk opens with
 * O_NOFOLLOW is refused with ELOOP when it is a reparse point (a symbolic
 * link or a junction), as Linux refuses a symbolic link.
 */
#ifdef _WIN32

#include <errno.h>
#include <io.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "platform_win.h"

#define DIRFD_BASE 0x40000000
#define DIRFD_MAX  4096

struct dirslot {
    char *path;
    HANDLE h;
};

static struct dirslot dirslots[DIRFD_MAX];
static SRWLOCK dirslots_lock = SRWLOCK_INIT;

static int is_dirfd(int fd)
{
    return fd >= DIRFD_BASE && fd < DIRFD_BASE + DIRFD_MAX;
}

/* A copy of the path of directory fd (malloc'd), or NULL with errno EBADF. */
static char *dirfd_path(int fd)
{
    char *p = NULL;
    AcquireSRWLockShared(&dirslots_lock);
    if (is_dirfd(fd) && dirslots[fd - DIRFD_BASE].path)
        p = strdup(dirslots[fd - DIRFD_BASE].path);
    ReleaseSRWLockShared(&dirslots_lock);
    if (!p)
        errno = EBADF;
    return p;
}

/* dir/name, or name alone for AT_FDCWD; malloc'd, NULL with errno. */
static char *join(int dirfd, const char *name)
{
    if (dirfd == AT_FDCWD)
        return strdup(name);
    char *dir = dirfd_path(dirfd);
    if (!dir)
        return NULL;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    else
        errno = ENOMEM;
    free(dir);
    return p;
}

static int fail_win(void)
{
    errno = mc_win_errno(GetLastError());
    return -1;
}

/* A new directory fd for path, which must be a folder. */
static int dirfd_open(const char *path)
{
    wchar_t *w = mc_win_wide(path);
    if (!w)
        return -1;
    HANDLE h = CreateFileW(w, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return fail_win();
    char *copy = strdup(path);
    if (!copy) {
        CloseHandle(h);
        errno = ENOMEM;
        return -1;
    }
    int fd = -1;
    AcquireSRWLockExclusive(&dirslots_lock);
    for (int i = 0; i < DIRFD_MAX; i++) {
        if (!dirslots[i].path) {
            dirslots[i].path = copy;
            dirslots[i].h = h;
            fd = DIRFD_BASE + i;
            break;
        }
    }
    ReleaseSRWLockExclusive(&dirslots_lock);
    if (fd < 0) {
        CloseHandle(h);
        free(copy);
        errno = EMFILE;
    }
    return fd;
}

static void timespec_from_filetime(FILETIME ft, struct timespec *ts)
{
    /* 100 ns units since 1601-01-01. */
    unsigned long long t = ((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    t -= 116444736000000000ull;
    ts->tv_sec = (time_t)(t / 10000000ull);
    ts->tv_nsec = (long)(t % 10000000ull) * 100;
}

static void stat_from_info(const BY_HANDLE_FILE_INFORMATION *fi, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = fi->dwVolumeSerialNumber;
    st->st_ino = ((unsigned long long)fi->nFileIndexHigh << 32) | fi->nFileIndexLow;
    st->st_nlink = fi->nNumberOfLinks;
    st->st_size = (long long)(((unsigned long long)fi->nFileSizeHigh << 32) | fi->nFileSizeLow);
    if (fi->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)
        st->st_mode = _S_IFDIR | 0700;
    else
        st->st_mode = _S_IFREG | ((fi->dwFileAttributes & FILE_ATTRIBUTE_READONLY) ? 0400 : 0600);
    timespec_from_filetime(fi->ftLastAccessTime, &st->st_atim);
    timespec_from_filetime(fi->ftLastWriteTime, &st->st_mtim);
    timespec_from_filetime(fi->ftCreationTime, &st->st_ctim);
}

static int stat_handle(HANDLE h, struct stat *st)
{
    BY_HANDLE_FILE_INFORMATION fi;
    if (!GetFileInformationByHandle(h, &fi))
        return fail_win();
    stat_from_info(&fi, st);
    return 0;
}

/* stat of a path; with nofollow, a reparse point is described, not followed. */
static int stat_path(const char *path, struct stat *st, int nofollow)
{
    wchar_t *w = mc_win_wide(path);
    if (!w)
        return -1;
    DWORD flags = FILE_FLAG_BACKUP_SEMANTICS | (nofollow ? FILE_FLAG_OPEN_REPARSE_POINT : 0);
    HANDLE h =
        CreateFileW(w, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, flags, NULL);
    DWORD attrs = nofollow ? GetFileAttributesW(w) : 0;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return fail_win();
    int rc = stat_handle(h, st);
    CloseHandle(h);
    if (rc == 0 && attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT))
        st->st_mode = (st->st_mode & ~(unsigned)_S_IFMT) | 0120000; /* S_IFLNK */
    return rc;
}

int mc_win_stat(const char *path, struct stat *st)
{
    return stat_path(path, st, 0);
}

int mc_win_fstat(int fd, struct stat *st)
{
    if (is_dirfd(fd)) {
        HANDLE h = INVALID_HANDLE_VALUE;
        AcquireSRWLockShared(&dirslots_lock);
        if (dirslots[fd - DIRFD_BASE].path)
            h = dirslots[fd - DIRFD_BASE].h;
        int rc = h == INVALID_HANDLE_VALUE ? (errno = EBADF, -1) : stat_handle(h, st);
        ReleaseSRWLockShared(&dirslots_lock);
        return rc;
    }
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    return stat_handle(h, st);
}

int mc_win_fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
    char *p = join(dirfd, name);
    if (!p)
        return -1;
    int rc = stat_path(p, st, (flags & AT_SYMLINK_NOFOLLOW) != 0);
    free(p);
    return rc;
}

static int open_path(const char *path, int flags, int mode)
{
    wchar_t *w = mc_win_wide(path);
    if (!w)
        return -1;
    DWORD attrs = GetFileAttributesW(w);
    if (attrs != INVALID_FILE_ATTRIBUTES) {
        if ((flags & O_NOFOLLOW) && (attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
            free(w);
            errno = ELOOP;
            return -1;
        }
        if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
            free(w);
            errno = EEXIST;
            return -1;
        }
        if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
            free(w);
            if ((flags & O_ACCMODE) != O_RDONLY) {
                errno = EISDIR;
                return -1;
            }
            return dirfd_open(path);
        }
        if (flags & O_DIRECTORY) {
            free(w);
            errno = ENOTDIR;
            return -1;
        }
    } else if (flags & (O_DIRECTORY | O_PATH)) {
        int rc = fail_win();
        free(w);
        return rc;
    }
    /*
     * CreateFileW rather than _wopen, to share for delete as well: as on
     * POSIX, a file may be renamed or removed while open (a staged upload
     * is renamed into place while its fd is still open, a file being read
     * may be replaced).
     */
    int acc = flags & O_ACCMODE;
    DWORD access = acc == O_RDONLY   ? GENERIC_READ
                   : acc == O_WRONLY ? GENERIC_WRITE
                                     : GENERIC_READ | GENERIC_WRITE;
    DWORD disp = (flags & O_CREAT) && (flags & O_EXCL)    ? CREATE_NEW
                 : (flags & O_CREAT) && (flags & O_TRUNC) ? CREATE_ALWAYS
                 : (flags & O_CREAT)                      ? OPEN_ALWAYS
                 : (flags & O_TRUNC)                      ? TRUNCATE_EXISTING
                                                          : OPEN_EXISTING;
    DWORD attrs_new =
        (flags & O_CREAT) && !(mode & 0200) ? FILE_ATTRIBUTE_READONLY : FILE_ATTRIBUTE_NORMAL;
    HANDLE h = CreateFileW(w, access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           disp, attrs_new, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return fail_win();
    int fd = _open_osfhandle((intptr_t)h, (flags & (O_ACCMODE | O_APPEND)) | _O_BINARY);
    if (fd < 0) {
        CloseHandle(h);
        errno = EMFILE;
    }
    return fd;
}

int mc_win_open(const char *path, int flags, ...)
{
    int mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return open_path(path, flags, mode);
}

int mc_win_openat(int dirfd, const char *name, int flags, ...)
{
    int mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    char *p = join(dirfd, name);
    if (!p)
        return -1;
    int fd = open_path(p, flags, mode);
    int err = errno;
    free(p);
    errno = err;
    return fd;
}

int mc_win_close(int fd)
{
    if (!is_dirfd(fd))
        return _close(fd);
    int rc = 0;
    AcquireSRWLockExclusive(&dirslots_lock);
    struct dirslot *s = &dirslots[fd - DIRFD_BASE];
    if (s->path) {
        CloseHandle(s->h);
        free(s->path);
        s->path = NULL;
    } else {
        errno = EBADF;
        rc = -1;
    }
    ReleaseSRWLockExclusive(&dirslots_lock);
    return rc;
}

/*
 * A folder has nothing to flush on Windows: the renames into it were made
 * with MOVEFILE_WRITE_THROUGH, which returns once they are on disk.
 */
int mc_win_fsync(int fd)
{
    if (is_dirfd(fd))
        return 0;
    return _commit(fd);
}

int mc_win_dup(int fd)
{
    if (!is_dirfd(fd))
        return _dup(fd);
    char *p = dirfd_path(fd);
    if (!p)
        return -1;
    int nfd = dirfd_open(p);
    free(p);
    return nfd;
}

int mc_win_mkdirat(int dirfd, const char *name, int mode)
{
    (void)mode; /* access comes from the parent folder's ACL */
    char *p = join(dirfd, name);
    if (!p)
        return -1;
    wchar_t *w = mc_win_wide(p);
    free(p);
    if (!w)
        return -1;
    int rc = CreateDirectoryW(w, NULL) ? 0 : fail_win();
    free(w);
    return rc;
}

int mc_win_unlinkat(int dirfd, const char *name, int flags)
{
    char *p = join(dirfd, name);
    if (!p)
        return -1;
    wchar_t *w = mc_win_wide(p);
    free(p);
    if (!w)
        return -1;
    int rc = ((flags & AT_REMOVEDIR) ? RemoveDirectoryW(w) : DeleteFileW(w)) ? 0 : fail_win();
    free(w);
    return rc;
}

int mc_win_renameat2(int olddir, const char *oldname, int newdir, const char *newname,
                     unsigned flags)
{
    char *from = join(olddir, oldname), *to = from ? join(newdir, newname) : NULL;
    wchar_t *wf = to ? mc_win_wide(from) : NULL, *wt = wf ? mc_win_wide(to) : NULL;
    int rc = -1;
    if (wt) {
        DWORD mf = MOVEFILE_WRITE_THROUGH;
        if (!(flags & RENAME_NOREPLACE))
            mf |= MOVEFILE_REPLACE_EXISTING;
        rc = MoveFileExW(wf, wt, mf) ? 0 : fail_win();
    }
    free(from);
    free(to);
    free(wf);
    free(wt);
    return rc;
}

int mc_win_flock(int fd, int op)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov = {0};
    if (op & LOCK_UN)
        return UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov) ? 0 : fail_win();
    DWORD lf = ((op & LOCK_EX) ? LOCKFILE_EXCLUSIVE_LOCK : 0) |
               ((op & LOCK_NB) ? LOCKFILE_FAIL_IMMEDIATELY : 0);
    if (LockFileEx(h, lf, 0, MAXDWORD, MAXDWORD, &ov))
        return 0;
    DWORD e = GetLastError();
    errno = e == ERROR_LOCK_VIOLATION || e == ERROR_IO_PENDING ? EWOULDBLOCK : mc_win_errno(e);
    return -1;
}

ssize_t mc_win_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov = {0};
    ov.Offset = (DWORD)((unsigned long long)off & 0xffffffffu);
    ov.OffsetHigh = (DWORD)((unsigned long long)off >> 32);
    DWORD put = 0;
    if (len > 0x7fffffffu)
        len = 0x7fffffffu;
    if (!WriteFile(h, buf, (DWORD)len, &put, &ov))
        return fail_win();
    return (ssize_t)put;
}

int mc_win_futimens(int fd, const struct timespec times[2])
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    FILETIME now;
    GetSystemTimeAsFileTime(&now);
    if (times) {
        errno = ENOTSUP; /* only "now", which is all the sources ask for */
        return -1;
    }
    return SetFileTime(h, NULL, &now, &now) ? 0 : fail_win();
}

int mc_win_fcntl(int fd, int cmd, ...)
{
    /* F_GETFL/F_SETFL for O_NONBLOCK: files and folders never block here. */
    (void)fd;
    return cmd == F_GETFL || cmd == F_SETFL ? 0 : (errno = EINVAL, -1);
}

/* ---- Directory streams ------------------------------------------------ */

struct mc_win_dir {
    int fd; /* the directory fd it owns */
    HANDLE find;
    WIN32_FIND_DATAW data;
    int have; /* data holds an entry not yet returned */
    struct mc_win_dirent ent;
};

MC_WIN_DIR *mc_win_fdopendir(int fd)
{
    char *dir = dirfd_path(fd);
    if (!dir)
        return NULL;
    size_t n = strlen(dir) + 3;
    char *pattern = malloc(n);
    MC_WIN_DIR *d = calloc(1, sizeof *d);
    wchar_t *w = NULL;
    if (pattern && d) {
        snprintf(pattern, n, "%s/*", dir);
        w = mc_win_wide(pattern);
    }
    free(dir);
    free(pattern);
    if (!w) {
        free(d);
        errno = ENOMEM;
        return NULL;
    }
    d->fd = fd;
    d->find = FindFirstFileW(w, &d->data);
    free(w);
    if (d->find == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        if (e != ERROR_FILE_NOT_FOUND) {
            free(d);
            errno = mc_win_errno(e);
            return NULL;
        }
    } else {
        d->have = 1;
    }
    return d;
}

MC_WIN_DIR *mc_win_opendir(const char *path)
{
    int fd = dirfd_open(path);
    if (fd < 0)
        return NULL;
    MC_WIN_DIR *d = mc_win_fdopendir(fd);
    if (!d)
        mc_win_close(fd);
    return d;
}

struct mc_win_dirent *mc_win_readdir(MC_WIN_DIR *d)
{
    for (;;) {
        if (!d->have) {
            if (d->find == INVALID_HANDLE_VALUE || !FindNextFileW(d->find, &d->data))
                return NULL;
        }
        d->have = 0;
        int n = WideCharToMultiByte(CP_UTF8, 0, d->data.cFileName, -1, d->ent.d_name,
                                    (int)sizeof d->ent.d_name, NULL, NULL);
        if (n <= 0)
            continue; /* cannot be named in UTF-8: not a name a device could ask for */
        DWORD a = d->data.dwFileAttributes;
        d->ent.d_type = (a & FILE_ATTRIBUTE_REPARSE_POINT) ? DT_UNKNOWN
                        : (a & FILE_ATTRIBUTE_DIRECTORY)   ? DT_DIR
                                                           : DT_REG;
        return &d->ent;
    }
}

int mc_win_closedir(MC_WIN_DIR *d)
{
    if (d->find != INVALID_HANDLE_VALUE)
        FindClose(d->find);
    int rc = mc_win_close(d->fd);
    free(d);
    return rc;
}

int mc_win_dirfd(MC_WIN_DIR *d)
{
    return d->fd;
}

#endif
