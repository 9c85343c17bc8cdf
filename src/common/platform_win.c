/*
 * The Windows side of the POSIX file calls the sources make
 * (src/compat/win32/mc_posix.h says which and why). Paths are UTF-8 in the
 * sources and UTF-16 for Windows; Win32 errors come back as errno values.
 */
#ifdef _WIN32

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <winsock2.h>
#include <windows.h>

#include "platform_win.h"
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
int mc_win_errno(DWORD e)
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
wchar_t *mc_win_wide(const char *path)
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

int mc_win_link(const char *from, const char *to)
{
    wchar_t *wf = mc_win_wide(from), *wt = wf ? mc_win_wide(to) : NULL;
    int rc = -1;
    if (wf && wt) {
        if (CreateHardLinkW(wt, wf, NULL))
            rc = 0;
        else
            errno = mc_win_errno(GetLastError());
    }
    free(wf);
    free(wt);
    return rc;
}

char *mc_win_realpath(const char *path, char *out)
{
    if (_access(path, 0) != 0)
        return NULL; /* errno is ENOENT, as realpath(3) would set */
    if (!_fullpath(out, path, PATH_MAX)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return out;
}

ssize_t mc_win_getline(char **line, size_t *cap, FILE *f)
{
    size_t n = 0;
    int ch;
    if (!*line || *cap == 0) {
        *cap = 128;
        if (!(*line = malloc(*cap))) {
            errno = ENOMEM;
            return -1;
        }
    }
    while ((ch = fgetc(f)) != EOF) {
        if (n + 2 > *cap) {
            size_t ncap = *cap * 2;
            char *p = realloc(*line, ncap);
            if (!p) {
                errno = ENOMEM;
                return -1;
            }
            *line = p;
            *cap = ncap;
        }
        (*line)[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (n == 0)
        return -1;
    (*line)[n] = 0;
    return (ssize_t)n;
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
        errno = mc_win_errno(e);
        return -1;
    }
    return (ssize_t)got;
}

#endif
