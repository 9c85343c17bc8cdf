/*
 * The Windows side of the POSIX file calls the sources make
 * (src/compat/win32/mc_posix.h says which and why). Paths are UTF-8 in the
 * sources and UTF-16 for Windows; Win32 errors come back as errno values.
 */
#ifdef _WIN32

#include <errno.h>
#include <stdlib.h>
#include <winsock2.h>
#include <windows.h>

#include "sock.h"

static INIT_ONCE wsa_once = INIT_ONCE_STATIC_INIT;
static int wsa_rc;

static BOOL CALLBACK wsa_start(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    WSADATA data;
    wsa_rc = WSAStartup(MAKEWORD(2, 2), &data) == 0 ? 0 : -1;
    return TRUE;
}

/* Once per process; Winsock stays up until the process ends. */
int sock_startup(void)
{
    InitOnceExecuteOnce(&wsa_once, wsa_start, NULL, NULL);
    return wsa_rc;
}

/* The errno a POSIX call would have set for this Win32 error. */
static int errno_from_win32(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
        return ENOENT;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
        return EEXIST;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
        return EINVAL;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NOT_SAME_DEVICE:
        return EXDEV;
    default:
        return EIO;
    }
}

/* path as UTF-16 in a buffer the caller frees; NULL with errno set. */
static wchar_t *wide(const char *path)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
    if (n <= 0) {
        errno = EINVAL;
        return NULL;
    }
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
    return w;
}

int mc_win_rename(const char *from, const char *to)
{
    wchar_t *wf = wide(from), *wt = wf ? wide(to) : NULL;
    int rc = -1;
    if (wf && wt) {
        if (MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
            rc = 0;
        else
            errno = errno_from_win32(GetLastError());
    }
    free(wf);
    free(wt);
    return rc;
}

int mc_win_link(const char *from, const char *to)
{
    wchar_t *wf = wide(from), *wt = wf ? wide(to) : NULL;
    int rc = -1;
    if (wf && wt) {
        if (CreateHardLinkW(wt, wf, NULL))
            rc = 0;
        else
            errno = errno_from_win32(GetLastError());
    }
    free(wf);
    free(wt);
    return rc;
}

int mc_win_fsync(int fd)
{
    return _commit(fd);
}

ssize_t mc_win_pread(int fd, void *buf, size_t len, off_t off)
{
    HANDLE h = (HANDLE)_get_osfhandle(fd);
    if (h == INVALID_HANDLE_VALUE) {
        errno = EBADF;
        return -1;
    }
    OVERLAPPED ov = {0};
    ov.Offset = (DWORD)((unsigned long long)off & 0xffffffffu);
    ov.OffsetHigh = (DWORD)((unsigned long long)off >> 32);
    DWORD got = 0;
    if (len > 0x7fffffffu)
        len = 0x7fffffffu;
    if (!ReadFile(h, buf, (DWORD)len, &got, &ov)) {
        DWORD e = GetLastError();
        if (e == ERROR_HANDLE_EOF)
            return 0;
        errno = errno_from_win32(e);
        return -1;
    }
    return (ssize_t)got;
}

#endif
