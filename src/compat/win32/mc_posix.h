/*
 * Windows build only: force-included in every file (cmake/windows-deps.cmake,
 * -include), so that the sources' POSIX file calls mean on Windows what they
 * mean on Linux. What is only a spelling is a macro here; what needs a
 * Windows call is in src/common/platform_win.c.
 *
 * - O_CLOEXEC, which every open() in the sources passes, becomes "not
 *   inherited, binary": without _O_BINARY the C runtime would turn CR LF
 *   into LF in certificates, credential files and transferred files.
 * - rename() replaces atomically (MoveFileExW with MOVEFILE_REPLACE_EXISTING
 *   and MOVEFILE_WRITE_THROUGH); the C runtime's refuses an existing target.
 * - link() is CreateHardLinkW: like link(2) it fails with EEXIST instead of
 *   replacing, which is what safefile_write's "keep an existing file" needs.
 * - fsync() is _commit(); pread() reads at an offset without a shared
 *   file position (ReadFile with an OVERLAPPED offset).
 * - O_NOFOLLOW and O_DIRECTORY have no C-runtime meaning: an unprivileged
 *   Windows user cannot create symbolic links, and a directory cannot be
 *   opened with _open() at all (the attempt fails, as O_DIRECTORY would not).
 */
#ifndef MC_COMPAT_POSIX_H
#define MC_COMPAT_POSIX_H
#ifdef _WIN32

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#define O_CLOEXEC   (_O_NOINHERIT | _O_BINARY)
#define O_NOFOLLOW  0
#define O_DIRECTORY 0
#define O_NOCTTY    0
/* No symbolic links to tell apart (see above): lstat is stat. */
#define lstat stat
/* The C runtime's mkdir takes no mode: access comes from the folder's ACL. */
#define mkdir(p, m) _mkdir(p)

int mc_win_rename(const char *from, const char *to);
int mc_win_link(const char *from, const char *to);
int mc_win_fsync(int fd);
ssize_t mc_win_pread(int fd, void *buf, size_t len, off_t off);
#define rename(a, b)       mc_win_rename(a, b)
#define link(a, b)         mc_win_link(a, b)
#define fsync(fd)          mc_win_fsync(fd)
#define pread(fd, b, n, o) mc_win_pread(fd, b, n, o)

#endif
#endif
