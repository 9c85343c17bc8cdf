/*
 * Path safety for the file-transfer capability. Every name a device sends
 * is hostile: it is checked as a whole (files_name_check, a pure function
 * with a fuzz target), and then opened beneath the folder's directory fd
 * so that resolution can never leave the folder, whatever symlinks or hard
 * links someone with a shell planted inside it.
 *
 * A name is a relative UTF-8 path of segments separated by '/':
 *   - 1 to FILES_NAME_MAX bytes in all, each segment 1 to FILES_SEGMENT_MAX;
 *   - valid UTF-8 only; no NUL, no control character (C0, DEL, C1);
 *   - no '\\', no ':' (drive letters, alternate streams), no leading '/',
 *     no empty segment ("a//b", trailing '/'), no "." or ".." segment;
 *   - no segment ending in '.' or ' ', none starting with ".miscomm" in
 *     any case (the server's own staging folder);
 *   - no Windows reserved device name as a segment, with or without an
 *     extension, in any case: CON PRN AUX NUL COM1-COM9 LPT1-LPT9
 *     (and COM0/LPT0, the superscript digits ¹²³ variants, CONIN$ and
 *     CONOUT$); "the name" is the part before the first '.' with trailing
 *     spaces removed, as Windows compares it ("con.txt", "nul .txt");
 *   - no character Windows forbids in names: < > " | ? *.
 */
#ifndef MC_FILES_PATH_H
#define MC_FILES_PATH_H

#include <stddef.h>
#include <sys/types.h>

#define FILES_NAME_MAX    1024u
#define FILES_SEGMENT_MAX 255u
#define FILES_STAGING     ".miscomm-partial" /* hidden staging folder inside each folder */

/*
 * 0 if name (len bytes, not NUL-terminated) is acceptable, else
 * MC_ERR_BAD_NAME with *why set to a static English phrase saying which
 * rule it broke (e.g. "a segment is '..'", "Windows reserved name 'COM1'");
 * *why is NULL on success, and why itself may be NULL. Pure: no
 * allocation, no system call; tests/fuzz/fuzz_files_name.c fuzzes it.
 */
int files_name_check(const char *name, size_t len, const char **why);
/*
 * The name a device would use for entry of the folder named prefix ("" for
 * the top): prefix/entry, written to out (FILES_NAME_MAX + 2 bytes). Its
 * length, or -1 when a device could not ask for it by that name (too long,
 * or refused by files_name_check: the staging folder, for one).
 */
int files_child_name(const char *prefix, const char *entry, char out[FILES_NAME_MAX + 2]);

/* The same rules for one segment (a device id that becomes a folder name). */
int files_segment_check(const char *seg, size_t len, const char **why);

/*
 * Open name (already checked) beneath the directory dirfd with open(2)
 * flags and mode, never following a symlink in any component and never
 * leaving dirfd: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the
 * kernel has it (found out at run time: ENOSYS, or EPERM from a seccomp
 * filter, falls back), else a walk of openat(O_NOFOLLOW | O_DIRECTORY) per
 * component. With mkdirs, missing parent folders are created (mode 0750,
 * less the umask) by that walk. O_CLOEXEC is always added.
 *
 * name is NUL-terminated. Only the structural rules are checked again here
 * (relative, no empty, "." or ".." segment, the length limits), so that
 * the server can open its own FILES_STAGING names; the other rules are
 * files_name_check's, on the device's name, before this call.
 *
 * Path resolution cannot see a hard link: opening an existing regular
 * file whose st_nlink > 1 is refused with MC_ERR_BAD_NAME (errno EMLINK),
 * for reading (it may be a planted link to a file outside the folder,
 * which would leak) and for writing alike (writing would change that
 * file); O_TRUNC is applied only after this check, so a refused file is
 * never truncated. Anything but a regular file or a folder (a planted
 * FIFO, socket or device) is refused the same way (errno ENXIO); the open
 * itself is non-blocking so a FIFO cannot hang it.
 *
 * Returns an fd, or a negative MC_ERR_* (MC_ERR_NOT_FOUND for ENOENT,
 * MC_ERR_EXISTS for EEXIST, MC_ERR_BAD_NAME for a symlink or a
 * non-directory on the way or a folder where a file was asked for (ELOOP,
 * ENOTDIR, EXDEV, EISDIR), MC_ERR_NO_SPACE (ENOSPC, EDQUOT), MC_ERR_IO for
 * the rest); errno is kept.
 */
int files_open_beneath(int dirfd, const char *name, int flags, mode_t mode, int mkdirs);

/*
 * Open the folder at path (absolute), creating it and its parents with
 * mode 0750 when create is set. Returns a directory fd (O_DIRECTORY |
 * O_CLOEXEC) or a negative MC_ERR_* (MC_ERR_INVALID_ARG for a relative or
 * over-long path). The path comes from the configuration and is trusted:
 * symlinks in it are followed. A part of it that a device or a local user
 * controls belongs in files_open_beneath instead.
 */
int files_dir_open(const char *path, int create);

/*
 * For tests only: when set, files_open_beneath never calls openat2 and
 * always walks, so that a test can run the fallback on a kernel that has
 * openat2. Set it before any other thread uses this module.
 */
extern int files_path_force_walk;

#endif
