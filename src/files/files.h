/*
 * The file-transfer capability: a device's two folders (ToPC for uploads,
 * ToPDA for downloads, from the connection's configuration with {device}
 * replaced by the HELLO device id) and the requests on them, LIST, GET,
 * ACK and PUT (docs/protocol.md section 5.14). All disk work runs as jobs
 * off the loop thread; the loop only moves bytes between jobs and frames.
 */
#ifndef MC_FILES_H
#define MC_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

struct cfg_connection;
struct frame;

/* The request handlers named in the op table (optable.h). */
int files_list(struct conn *c, const struct frame *f);
int files_get(struct conn *c, const struct frame *f);
int files_ack(struct conn *c, const struct frame *f);
int files_put(struct conn *c, const struct frame *f);

/*
 * The device's folder, receive (ToPC) or send (ToPDA): the template with
 * {device} replaced, written to path. Returns the length of the part of
 * the path that comes from the configuration alone (up to the last '/'
 * before the first {device}; the whole path when there is none), which
 * files_folder_dir_open trusts, or MC_ERR_BAD_NAME (too long).
 */
int files_folder_path(const struct cfg_connection *cfg, const char *device, int receive, char *path,
                      size_t cap);

/*
 * Open the folder at path (from files_folder_path, trusted its length),
 * creating what is missing (mode 0750) when create is set. The trusted
 * part may hold the administrator's symlinks; below it (the device's
 * folder and what follows it in the template) no symlink is followed, so
 * a link planted in place of a device's folder cannot send the gateway
 * elsewhere. Runs on a worker thread. A directory fd or MC_ERR_*
 * (MC_ERR_NOT_FOUND when missing and not created, MC_ERR_BAD_NAME for a
 * link or a file on the way).
 */
int files_folder_dir_open(const char *path, size_t trusted, int create);

/* FILES_CHANGED notices (files_watch.c): after login, and at close. Loop thread. */
void files_watch_attach(struct conn *c);
void files_watch_detach(struct conn *c);

/* Remove the connection's abandoned partial uploads (worker thread); returns how many. */
unsigned files_sweep(const struct cfg_connection *cfg);

/* SHA-256 of a whole file, which must be size bytes long (else MC_ERR_IO: it changed),
 * remembered by (dev, inode, size, mtime); the hashing is filehash_fd (src/common). */
int files_hash_cached(int fd, uint64_t size, uint8_t out[32]);

#endif
