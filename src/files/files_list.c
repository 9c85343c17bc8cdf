/*
 * LIST: the device's send folder (ToPDA), as the device sees it. A job
 * walks the folder beneath its fd (no symlink followed, the staging folder
 * and names a device could not ask for skipped) and encodes the entries;
 * the op then streams them as DATA frames under the client's credit, each
 * frame holding whole entries, and ends with LIST_OK (the count).
 *
 * Entry: str name (relative path), u64 size, u64 mtime (microseconds since
 * 1970), bytes[32] SHA-256 of the whole file.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "files.h"
#include "files_path.h"
#include "frame.h"
#include "log.h"
#include "miscomm/error.h"
#include "wire.h"

#define LIST_MAX_BYTES (16u * 1024u * 1024u) /* the encoded listing, at most */
#define LIST_ALL_BYTES (64u * 1024u * 1024u) /* all the listings being sent, server-wide */

/* Bytes held by listings (worker threads add, the loop thread gives back). */
static _Atomic size_t list_bytes;
#define LIST_MAX_DEPTH 32u
#define LIST_FRAME     (64u * 1024u)

struct list_op {
    struct op op;
    struct job job;
    char folder[PATH_MAX]; /* the device's send folder, fixed at the request (a reload may change
                              the configuration meanwhile) */
    int trusted;           /* of folder: from the configuration alone */
    char sub[FILES_NAME_MAX + 1]; /* the subfolder asked for, "" = the top */
    int recursive;
    /* Filled by the job. */
    int rc;
    const char *why;
    struct buf out; /* encoded entries */
    uint32_t count;
    /* Streaming, once the job is done (before, the job owns the fields above). */
    int ready;
    size_t sent;
};

static int list_put_entry(struct list_op *l, const char *name, const struct stat *st, int fd)
{
    uint8_t sha[32];
    int rc = files_hash_cached(fd, (uint64_t)st->st_size, sha);
    if (rc < 0)
        return rc;
    uint8_t rec[2 + FILES_NAME_MAX + 8 + 8 + 32];
    struct wire_writer w;
    wire_writer_init(&w, rec, sizeof rec);
    wire_put_cstr(&w, name);
    wire_put_u64(&w, (uint64_t)st->st_size);
    wire_put_u64(&w,
                 (uint64_t)st->st_mtim.tv_sec * 1000000u + (uint64_t)st->st_mtim.tv_nsec / 1000u);
    wire_put_bytes(&w, sha, sizeof sha);
    if (w.err)
        return MC_ERR_BAD_NAME;
    if (atomic_fetch_add(&list_bytes, w.len) + w.len > LIST_ALL_BYTES) {
        atomic_fetch_sub(&list_bytes, w.len);
        l->why = "the server holds too many listings being sent; try again in a moment";
        return MC_ERR_BUSY;
    }
    if (buf_append(&l->out, rec, w.len) < 0) {
        atomic_fetch_sub(&list_bytes, w.len);
        l->why = "the listing is larger than 16 MiB: list a subfolder";
        return MC_ERR_FILE_TOO_LARGE;
    }
    l->count++;
    return 0;
}

/* Walk dir (its path relative to the folder is prefix); takes ownership of dir. */
static int list_walk(struct list_op *l, int dir, const char *prefix, unsigned depth)
{
    DIR *d = fdopendir(dir);
    if (!d) {
        close(dir);
        return MC_ERR_IO;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char name[FILES_NAME_MAX + 2];
        /* Skip what a device could not ask for by name (and the staging folder). */
        if (files_child_name(prefix, de->d_name, name) < 0)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            continue; /* a symlink (ELOOP), vanished, unreadable: not listed */
        struct stat st;
        if (fstat(fd, &st) != 0) {
            close(fd);
            continue;
        }
        if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
            rc = list_put_entry(l, name, &st, fd);
            close(fd);
        } else if (S_ISDIR(st.st_mode) && l->recursive && depth < LIST_MAX_DEPTH) {
            rc = list_walk(l, fd, name, depth + 1);
        } else {
            close(fd);
        }
    }
    closedir(d);
    return rc;
}

static void list_work(struct job *j)
{
    struct list_op *l = (struct list_op *)((char *)j - offsetof(struct list_op, job));
    int dirfd = files_folder_dir_open(l->folder, (size_t)l->trusted, 0);
    if (dirfd == MC_ERR_NOT_FOUND) {
        l->rc = 0; /* nothing was ever sent to this device: an empty list */
        return;
    }
    if (dirfd < 0) {
        l->rc = dirfd;
        l->why = "cannot open the send folder";
        return;
    }
    if (l->sub[0]) {
        int fd = files_open_beneath(dirfd, l->sub, O_RDONLY | O_DIRECTORY, 0, 0);
        close(dirfd);
        if (fd < 0) {
            l->rc = fd;
            l->why = fd == MC_ERR_NOT_FOUND ? "no such folder" : "cannot open that folder";
            return;
        }
        dirfd = fd;
    }
    l->rc = list_walk(l, dirfd, l->sub, 0);
    if (l->rc < 0 && !l->why)
        l->why = "cannot read the send folder";
}

static void list_pump(struct list_op *l)
{
    struct op *op = &l->op;
    size_t left = buf_len(&l->out) - l->sent;
    if (left == 0 && !op->out_ended) {
        /* An empty listing: one empty DATA with END, as every stream ends. */
        if (op_send_data(op, NULL, 0, 1) < 0)
            return;
    }
    if (left == 0) {
        uint8_t p[4];
        struct wire_writer w;
        wire_writer_init(&w, p, sizeof p);
        wire_put_u32(&w, l->count);
        if (op_conn_send(l->op.c, MC_MSG_LIST_OK, op->id, p, w.len) == 0)
            op_finish(op);
        return;
    }
    /* Whole entries only: walk the records that fit in one frame and the credit. */
    const uint8_t *base = buf_head(&l->out) + l->sent;
    size_t room = LIST_FRAME < op->send_credit ? LIST_FRAME : (size_t)op->send_credit, n = 0;
    while (n < left) {
        size_t rec = 2u + ((size_t)base[n] << 8 | base[n + 1]) + 8 + 8 + 32;
        if (n + rec > room)
            break;
        n += rec;
    }
    if (n == 0)
        return; /* no credit for the next entry: CREDIT gives the next turn */
    int last = l->sent + n == buf_len(&l->out);
    if (op_send_data(op, base, n, last) < 0)
        return;
    l->sent += n;
    op_want_write(op);
}

static void list_done(struct job *j, int status)
{
    struct list_op *l = (struct list_op *)((char *)j - offsetof(struct list_op, job));
    if (status < 0)
        return; /* the op ended meanwhile */
    if (l->rc < 0) {
        op_fail(&l->op, l->rc, "list: %s", l->why ? l->why : mc_strerror(l->rc));
        return;
    }
    op_conn_log(l->op.c, LOG_LVL_DEBUG, "event=list entries=%u bytes=%zu", l->count,
                buf_len(&l->out));
    l->ready = 1;
    op_want_write(&l->op);
}

static void list_writable(struct op *op)
{
    struct list_op *l = (struct list_op *)op;
    if (l->ready)
        list_pump(l);
}

static void list_release(struct op *op)
{
    struct list_op *l = (struct list_op *)op;
    atomic_fetch_sub(&list_bytes, buf_len(&l->out));
    buf_free(&l->out);
}

static const struct op_vtable list_vt = {.writable = list_writable, .release = list_release};

int files_list(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    const uint8_t *flags = wire_get_bytes(&r, 1);
    struct wire_str sub = wire_get_str(&r, FILES_NAME_MAX);
    if (wire_reader_done(&r) < 0 || (flags[0] & ~MC_LIST_RECURSIVE))
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "LIST carries u8 flags (0 or 1: recursive) and a folder name (str, \"\" "
                        "for the top)");
    const char *why;
    if (sub.len && files_name_check(sub.ptr, sub.len, &why) < 0)
        return op_error(c, f, MC_ERR_BAD_NAME, "list: bad folder name: %s", why);
    struct list_op *l =
        (struct list_op *)op_new(c, f->request_id, "list", f->length, &list_vt, sizeof *l);
    if (!l)
        return op_error(c, f, MC_ERR_NOMEM, "list: out of memory");
    if ((l->trusted = files_folder_path(op_conn_config(c), op_conn_device(c), 0, l->folder,
                                        sizeof l->folder)) < 0) {
        op_fail(&l->op, MC_ERR_BAD_NAME, "list: the send folder's path is too long");
        return DISPATCH_ASYNC;
    }
    memcpy(l->sub, sub.ptr, sub.len);
    l->sub[sub.len] = 0;
    l->recursive = (flags[0] & MC_LIST_RECURSIVE) != 0;
    l->op.recv_credit = 0;
    l->op.in_ended = 1;
    buf_init(&l->out, LIST_MAX_BYTES);
    l->job.work = list_work;
    l->job.done = list_done;
    if (op_submit(&l->op, NULL, &l->job) < 0)
        op_fail(&l->op, MC_ERR_INTERNAL, "list: cannot queue the work");
    return DISPATCH_ASYNC;
}
