/* Windows build only: helpers shared by src/common/platform_win*.c. */
#ifndef MC_PLATFORM_WIN_H
#define MC_PLATFORM_WIN_H
#ifdef _WIN32
#include <wchar.h>
#include <windows.h>

/* The errno a POSIX call would have set for this Win32 error. */
int mc_win_errno(DWORD e);
/* A UTF-8 path as UTF-16, malloc'd; NULL with errno set. */
wchar_t *mc_win_wide(const char *path);

#endif
#endif
