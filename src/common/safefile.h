/*
 * Files that must never be seen half-written or written through a link:
 * certificates, private keys, PKCS#12 bundles and pre-shared keys.
 *
 * safefile_write() creates a new file next to the target (O_CREAT|O_EXCL,
 * so an existing file or symbolic link of that name is never opened), writes
 * and fsyncs it, then renames it over the target (or links it, when an
 * existing target must be kept) and fsyncs the directory. A symbolic link at
 * the target is replaced, never followed. Readers see the old file or the
 * new one, never a mix.
 */
#ifndef MC_SAFEFILE_H
#define MC_SAFEFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write len bytes to path with the given mode (less the umask). When replace
 * is 0 an existing path (file, directory or link, even a dangling one) is
 * left alone and MC_ERR_EXISTS returned. MC_ERR_IO with errno set on other
 * failures; the temporary file is removed.
 */
__attribute__((warn_unused_result)) int safefile_write(const char *path, const void *data,
                                                       size_t len, int mode, int replace);
/*
 * NULL when a file holding a secret has a safe mode, else why not, as a
 * sentence to show with the file's name: group or others can read it.
 */
const char *safefile_mode_warning(mode_t mode);

#endif
