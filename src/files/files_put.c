/*
 * PUT: an upload into the device's receive folder (ToPC), resumable and
 * verified. The partial lives in the folder's hidden staging folder
 * (FILES_STAGING, same file system) under the upload id, the first 16
 * bytes of SHA-256(device, name, size, declared hash): the same upload
 * after a dropped connection finds its partial again.
 *
 *   PUT ──prepare job──> PUT_OFFSET (id, offset held) ──> DATA ... END
 *        open folders, partial; hash         write jobs: pwrite + hash,
 *        what it holds; quota                credit given back as written
 *   END ──finish job──> fsync, compare the hash, rename into place
 *        (RENAME_NOREPLACE unless overwrite), fsync the folders ──> PUT_OK
 *
 * Bytes received while a write job runs go to a second buffer (the job
 * owns the other one), so the op holds at most two windows of data.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "buf.h"
#include "config.h"
#include "filehash.h"
#include "files.h"
#include "files_path.h"
#include "log.h"
#include "miscomm/error.h"
#include "sha256.h"
#include "wire.h"

enum put_phase { PUT_PREPARE, PUT_WRITE, PUT_FINISH };

struct put_op {
    struct op op;
    struct job job;
    struct job hash_job;   /* hashes a batch while job writes it */
    int jobs_left;         /* of the batch being written: write and hash */
    char folder[PATH_MAX]; /* the receive folder, fixed at the request */
    int trusted;           /* of folder: from the configuration alone */
    char device[MC_MAX_DEVICE_ID * 4 + 1];
    int overwrite;
    uint64_t quota;
    uint64_t reserved; /* bytes other uploads into the same folder may still write */
    char name[FILES_NAME_MAX + 1];
    char key[PATH_MAX + 40]; /* folder path and upload id: one upload at a time */
    uint64_t size;
    uint8_t want[32];
    uint8_t upload_id[MC_UPLOAD_ID_SIZE];
    char part[2 * MC_UPLOAD_ID_SIZE + 6]; /* HEX.part */
    int dirfd, stagefd, fd;
    struct mc_sha256 sha;
    uint64_t held;    /* bytes in the partial (written and hashed); loop thread only */
    uint64_t wrote;   /* what the last write job wrote (set by the job) */
    uint64_t resumed; /* what the partial held at the start */
    enum put_phase phase;
    int busy;    /* a job runs */
    int already; /* the same bytes were there already: nothing is written */
    int registered;
    int rc;
    const char *why;
    struct buf in; /* received, waiting for a write job */
    struct buf wr; /* owned by the running write job */
};

/* Uploads in progress in this process (loop thread only). */
struct put_active {
    struct put_active *next;
    struct put_op *holder; /* registered until its release */
    char key[PATH_MAX + 40];
    size_t folder_len; /* key starts with the folder's path */
    uint64_t size;     /* reserved against the folder's quota */
};
static struct put_active *active;

static struct put_op *put_holder(const char *key)
{
    for (struct put_active *a = active; a; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a->holder;
    return NULL;
}

/*
 * Register p's upload; p->reserved gets what the other uploads into the
 * same folder reserved. MC_ERR_BUSY when the same upload is registered.
 */
static int put_register(struct put_op *p)
{
    size_t folder_len = strlen(p->folder);
    p->reserved = 0;
    for (struct put_active *a = active; a; a = a->next) {
        if (strcmp(a->key, p->key) == 0)
            return MC_ERR_BUSY;
        if (a->folder_len == folder_len && strncmp(a->key, p->key, folder_len) == 0)
            p->reserved += a->size;
    }
    struct put_active *a = calloc(1, sizeof *a);
    if (!a)
        return MC_ERR_NOMEM;
    a->holder = p;
    snprintf(a->key, sizeof a->key, "%s", p->key);
    a->folder_len = folder_len;
    a->size = p->size;
    a->next = active;
    active = a;
    return 0;
}

static void put_unregister(const char *key)
{
    for (struct put_active **p = &active; *p; p = &(*p)->next) {
        if (strcmp((*p)->key, key) == 0) {
            struct put_active *a = *p;
            *p = a->next;
            free(a);
            return;
        }
    }
}

static int put_errno(int e)
{
    return e == ENOSPC || e == EDQUOT ? MC_ERR_NO_SPACE : MC_ERR_IO;
}

/* Bytes the regular files of a folder tree hold (for the quota), staging included. */
static uint64_t put_usage(int dir, unsigned depth)
{
    int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_size;
        } else if (S_ISDIR(st.st_mode) && depth < 32) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                total += put_usage(sub, depth + 1);
                close(sub);
            }
        }
    }
    closedir(d);
    return total;
}

static void put_prepare_work(struct put_op *p)
{
    p->dirfd = files_folder_dir_open(p->folder, (size_t)p->trusted, 1);
    if (p->dirfd < 0) {
        p->rc = p->dirfd;
        p->why = "cannot open or create the receive folder";
        return;
    }
    /* Say what would fail before the bytes travel (the rename checks again,
     * atomically, at the end). */
    int there = files_open_beneath(p->dirfd, p->name, O_RDONLY, 0, 0);
    if (there >= 0) {
        /* The same bytes already there (the PUT_OK of an earlier try was
         * lost): nothing to send, and the answer is PUT_OK again. */
        struct stat ts;
        uint8_t sha[32];
        if (fstat(there, &ts) == 0 && (uint64_t)ts.st_size == p->size &&
            files_hash_cached(there, p->size, sha) == 0 && memcmp(sha, p->want, 32) == 0) {
            close(there);
            p->already = 1;
            p->resumed = p->size;
            return;
        }
        close(there);
    }
    if (there >= 0 && !p->overwrite) {
        p->rc = MC_ERR_EXISTS;
        p->why = "a file of that name is already there (overwrite = no)";
        return;
    }
    if (there == MC_ERR_BAD_NAME) {
        p->rc = MC_ERR_BAD_NAME;
        p->why = "a link, a folder or a special file stands at that name or on its way";
        return;
    }
    if (mkdirat(p->dirfd, FILES_STAGING, 0750) != 0 && errno != EEXIST) {
        p->rc = put_errno(errno);
        p->why = "cannot create the staging folder";
        return;
    }
    p->stagefd = openat(p->dirfd, FILES_STAGING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->stagefd < 0) {
        p->rc = MC_ERR_IO;
        p->why = "cannot open the staging folder";
        return;
    }
    p->fd =
        openat(p->stagefd, p->part, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
    if (p->fd < 0) {
        p->rc = put_errno(errno);
        p->why = "cannot create the partial file";
        return;
    }
    /* Held while the upload lives: the sweep of abandoned partials skips it. */
    if (flock(p->fd, LOCK_SH | LOCK_NB) != 0) {
        p->rc = MC_ERR_BUSY;
        p->why = "the partial file is being removed as abandoned; try again";
        return;
    }
    (void)futimens(p->fd, NULL); /* in use again: not abandoned */
    struct stat st;
    if (fstat(p->fd, &st) == 0 && st.st_nlink == 0) {
        p->rc = MC_ERR_BUSY; /* the sweep removed it between our open and our lock */
        p->why = "the partial file was just removed as abandoned; try again";
        return;
    }
    if (fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        p->rc = MC_ERR_BAD_NAME;
        p->why = "the partial file is not a plain file of the staging folder";
        return;
    }
    uint64_t have = (uint64_t)st.st_size;
    if (have > p->size) {
        /* Not ours after all (cannot happen with the same id): start over. */
        if (ftruncate(p->fd, 0) != 0) {
            p->rc = MC_ERR_IO;
            p->why = "cannot reset the partial file";
            return;
        }
        have = 0;
    }
    if (p->quota) {
        /* What is on disk (partials included) plus what the other uploads
         * into this folder may still write (reserved when they started). */
        uint64_t used = put_usage(p->dirfd, 0);
        if (used + p->reserved + (p->size - have) > p->quota) {
            p->rc = MC_ERR_QUOTA;
            p->why = "the device's folder would exceed its quota";
            return;
        }
    }
    /* The hash goes on from what the partial holds: read it again from disk. */
    mc_sha256_init(&p->sha);
    if ((p->rc = filehash_update(&p->sha, p->fd, have)) < 0) {
        p->why = "cannot read the partial file";
        return;
    }
    p->resumed = have; /* held is the loop's: put_done copies it */
}

static void put_write_work(struct put_op *p)
{
    const uint8_t *src = buf_head(&p->wr);
    size_t len = buf_len(&p->wr), done = 0;
    /* held is the loop's; the job reports what it wrote in wrote. */
    while (done < len) {
        ssize_t n = pwrite(p->fd, src + done, len - done, (off_t)(p->held + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            p->rc = put_errno(errno);
            p->why = p->rc == MC_ERR_NO_SPACE ? "the server's disk is full; the bytes received "
                                                "so far are kept for a resume"
                                              : "cannot write the partial file";
            break;
        }
        done += (size_t)n;
    }
    /* The hash of the same bytes runs beside this, in its own job (after a
     * write error the upload fails, and a resume hashes the partial again). */
    p->wrote = done;
}

static void put_hash_work(struct job *j)
{
    struct put_op *p = (struct put_op *)((char *)j - offsetof(struct put_op, hash_job));
    mc_sha256_update(&p->sha, buf_head(&p->wr), buf_len(&p->wr));
}

/* Create the folders of name's parent beneath dirfd, without following links. */
static int put_parent(int dirfd, const char *name, const char **base)
{
    int fd = dup(dirfd);
    const char *seg = name;
    for (const char *slash; fd >= 0 && (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
        char part[FILES_SEGMENT_MAX + 1];
        memcpy(part, seg, (size_t)(slash - seg));
        part[slash - seg] = 0;
        if (mkdirat(fd, part, 0750) != 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return put_errno(e);
        }
        int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (next < 0)
            return MC_ERR_BAD_NAME; /* a link or a file where a folder should be */
        fd = next;
    }
    *base = seg;
    return fd < 0 ? MC_ERR_IO : fd;
}

static void put_finish_work(struct put_op *p)
{
    uint8_t got[32];
    if (p->already)
        return; /* the same file was there already */
    if (fsync(p->fd) != 0) {
        p->rc = put_errno(errno);
        p->why = "cannot flush the file to disk (fsync)";
        return;
    }
    mc_sha256_final(&p->sha, got);
    if (memcmp(got, p->want, sizeof got) != 0) {
        (void)unlinkat(p->stagefd, p->part, 0);
        p->rc = MC_ERR_HASH_MISMATCH;
        p->why = "the received bytes do not have the declared SHA-256: the partial was removed; "
                 "send the file again";
        return;
    }
    const char *base;
    int parent = put_parent(p->dirfd, p->name, &base);
    if (parent < 0) {
        p->rc = parent;
        if (parent == MC_ERR_BAD_NAME) {
            /* A link or a file stands where a folder of the name should be: a
             * resume would meet it again, so the partial goes. */
            (void)unlinkat(p->stagefd, p->part, 0);
            p->why = "a link or a file stands where a folder of the name should be; the "
                     "upload was dropped";
        } else {
            p->why = "cannot create the file's folder";
        }
        return;
    }
    int rc = renameat2(p->stagefd, p->part, parent, base, p->overwrite ? 0 : RENAME_NOREPLACE);
    if (rc != 0 && errno == EEXIST) {
        (void)unlinkat(p->stagefd, p->part, 0);
        p->rc = MC_ERR_EXISTS;
        p->why = "a file of that name is already there (overwrite = no); this upload was dropped";
    } else if (rc != 0) {
        p->rc = put_errno(errno);
        p->why = "cannot move the file into place";
    } else if (fsync(parent) != 0 || fsync(p->stagefd) != 0) {
        p->rc = put_errno(errno);
        p->why = "cannot flush the folder to disk (fsync)";
    }
    close(parent);
}

static void put_work(struct job *j)
{
    struct put_op *p = (struct put_op *)((char *)j - offsetof(struct put_op, job));
    p->rc = 0;
    p->why = NULL;
    switch (p->phase) {
    case PUT_PREPARE:
        put_prepare_work(p);
        break;
    case PUT_WRITE:
        put_write_work(p);
        break;
    case PUT_FINISH:
        put_finish_work(p);
        break;
    }
}

static void put_log(struct put_op *p, int rc, const char *why)
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", p->want[i]);
    double ms = (double)(uv_hrtime() - p->op.start_ns) / 1e6;
    uint64_t moved = p->op.bytes_in;
    op_conn_log(p->op.c, rc < 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
                "event=transfer direction=upload name=\"%s\" size=%llu resumed_at=%llu bytes=%llu "
                "ms=%.1f mib_s=%.1f result=%s sha256=%s%s%s%s",
                p->name, (unsigned long long)p->size, (unsigned long long)p->resumed,
                (unsigned long long)moved, ms,
                ms > 0 ? (double)moved / 1048576.0 / (ms / 1000.0) : 0.0, mc_err_name(rc), hex,
                why ? " reason=\"" : "", why ? why : "", why ? "\"" : "");
}

static void put_start(struct put_op *p, enum put_phase phase)
{
    p->phase = phase;
    if (phase == PUT_FINISH)
        p->op.no_cancel = 1; /* the file is being committed: its answer is the final one */
    p->busy = 1;
    p->jobs_left = 1;
    if (op_submit(&p->op, NULL, &p->job) < 0) {
        p->busy = 0;
        op_fail(&p->op, MC_ERR_INTERNAL, "put: cannot queue the work");
        return;
    }
    /* A batch is written and hashed at the same time, on two threads. */
    if (phase == PUT_WRITE && op_submit(&p->op, NULL, &p->hash_job) == 0)
        p->jobs_left = 2;
    else if (phase == PUT_WRITE)
        mc_sha256_update(&p->sha, buf_head(&p->wr), buf_len(&p->wr)); /* cannot queue */
}

/* Write what came, or finish once everything is written. */
static void put_next(struct put_op *p)
{
    if (p->busy)
        return;
    if (buf_len(&p->in) > 0) {
        struct buf t = p->wr;
        p->wr = p->in;
        p->in = t;
        buf_consume(&p->in, buf_len(&p->in));
        put_start(p, PUT_WRITE);
    } else if (p->op.in_ended) {
        put_start(p, PUT_FINISH);
    }
}

static void put_done(struct job *j, int status)
{
    struct put_op *p = j->work == put_hash_work
                           ? (struct put_op *)((char *)j - offsetof(struct put_op, hash_job))
                           : (struct put_op *)((char *)j - offsetof(struct put_op, job));
    if (--p->jobs_left > 0)
        return; /* the other half of the batch (write or hash) is still running */
    p->busy = 0;
    if (status < 0)
        return; /* the op ended (connection gone): the partial stays for a resume */
    if (p->phase == PUT_WRITE)
        p->held += p->wrote;
    if (p->rc < 0) {
        put_log(p, p->rc, p->why);
        op_fail(&p->op, p->rc, "put '%s': %s", p->name, p->why ? p->why : mc_strerror(p->rc));
        return;
    }
    switch (p->phase) {
    case PUT_PREPARE: {
        p->held = p->resumed;
        uint8_t pl[MC_UPLOAD_ID_SIZE + 8];
        struct wire_writer w;
        wire_writer_init(&w, pl, sizeof pl);
        wire_put_bytes(&w, p->upload_id, sizeof p->upload_id);
        wire_put_u64(&w, p->held);
        if (op_conn_send(p->op.c, MC_MSG_PUT_OFFSET, p->op.id, pl, w.len) < 0)
            return;
        /* The client's credit starts now that it knows where to start. */
        p->op.recv_credit = MC_STREAM_WINDOW;
        if (p->resumed)
            op_conn_log(p->op.c, LOG_LVL_INFO, "event=upload_resumed name=\"%s\" offset=%llu",
                        p->name, (unsigned long long)p->resumed);
        put_next(p);
        break;
    }
    case PUT_WRITE: {
        size_t n = buf_len(&p->wr);
        buf_consume(&p->wr, n);
        if (op_consumed(&p->op, n) < 0)
            return;
        put_next(p);
        break;
    }
    case PUT_FINISH: {
        put_log(p, 0, NULL);
        uint8_t pl[8 + 32];
        struct wire_writer w;
        wire_writer_init(&w, pl, sizeof pl);
        wire_put_u64(&w, p->size);
        wire_put_bytes(&w, p->want, 32);
        if (op_conn_send(p->op.c, MC_MSG_PUT_OK, p->op.id, pl, w.len) == 0)
            op_finish(&p->op);
        break;
    }
    }
}

static void put_data(struct op *op, const uint8_t *d, size_t n, int end)
{
    struct put_op *p = (struct put_op *)op;
    uint64_t total = p->held + buf_len(&p->wr) + buf_len(&p->in) + n;
    if (total > p->size) {
        op_fail(op, MC_ERR_BAD_PAYLOAD,
                "put '%s': more bytes than the %llu declared (the upload started at %llu)", p->name,
                (unsigned long long)p->size, (unsigned long long)p->resumed);
        return;
    }
    if (end && total != p->size) {
        op_fail(op, MC_ERR_BAD_PAYLOAD, "put '%s': END after %llu of %llu bytes", p->name,
                (unsigned long long)total, (unsigned long long)p->size);
        return;
    }
    if (end)
        op->no_cancel = 1; /* everything came: the answer is the commit's */
    if (n && buf_append(&p->in, d, n) < 0) {
        op_fail(op, MC_ERR_INTERNAL, "put: buffer full within the credit");
        return;
    }
    put_next(p);
}

static void put_release(struct op *op)
{
    struct put_op *p = (struct put_op *)op;
    if (p->registered)
        put_unregister(p->key);
    if (p->fd >= 0)
        close(p->fd);
    if (p->stagefd >= 0)
        close(p->stagefd);
    if (p->dirfd >= 0)
        close(p->dirfd);
    buf_free(&p->in);
    buf_free(&p->wr);
}

/*
 * The same upload (same device, name, size and hash) is held by another
 * request: most often the device's earlier connection, dropped without a
 * word, which the server would only notice at its idle timeout. The newer
 * request takes it over: the older one ends with CANCELLED. Returns 1 when
 * the older one was ended (it may still be releasing if a job runs: the
 * caller then answers BUSY and the client's retry gets it), 0 when it is
 * committing its file and must be left alone.
 */
static int put_takeover(struct put_op *p)
{
    struct put_op *old = put_holder(p->key);
    if (!old || old->op.finished || old->op.no_cancel)
        return 0;
    op_conn_log(old->op.c, LOG_LVL_WARN,
                "event=upload_taken_over name=\"%s\" held=%llu reason=\"the same upload was "
                "started again by device '%s' on another connection\"",
                old->name, (unsigned long long)old->held, p->device);
    put_log(old, MC_ERR_CANCELLED, "taken over by a newer request of the same device");
    op_fail(&old->op, MC_ERR_CANCELLED,
            "put '%s': the same upload was started again on another connection of this device",
            old->name);
    return 1;
}

static const struct op_vtable put_vt = {.data = put_data, .release = put_release};

int files_put(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    struct wire_str name = wire_get_str(&r, FILES_NAME_MAX);
    uint64_t size = wire_get_u64(&r);
    const uint8_t *want = wire_get_bytes(&r, 32);
    if (wire_reader_done(&r) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "PUT carries a name (str), a u64 size and 32 bytes of SHA-256");
    const char *why;
    if (files_name_check(name.ptr, name.len, &why) < 0)
        return op_error(c, f, MC_ERR_BAD_NAME, "put: %s", why);
    const struct cfg_connection *cfg = op_conn_config(c);
    if (cfg->max_file_size && size > cfg->max_file_size)
        return op_error(c, f, MC_ERR_FILE_TOO_LARGE,
                        "put: %llu bytes is more than max_file_size (%llu bytes)",
                        (unsigned long long)size, (unsigned long long)cfg->max_file_size);
    struct put_op *p =
        (struct put_op *)op_new(c, f->request_id, "put", f->length, &put_vt, sizeof *p);
    if (!p)
        return op_error(c, f, MC_ERR_NOMEM, "put: out of memory");
    p->dirfd = p->stagefd = p->fd = -1;
    p->overwrite = cfg->overwrite;
    p->quota = cfg->quota;
    snprintf(p->device, sizeof p->device, "%s", op_conn_device(c));
    if ((p->trusted = files_folder_path(cfg, p->device, 1, p->folder, sizeof p->folder)) < 0) {
        op_fail(&p->op, MC_ERR_BAD_NAME, "put: the receive folder's path is too long");
        return DISPATCH_ASYNC;
    }
    memcpy(p->name, name.ptr, name.len);
    p->size = size;
    memcpy(p->want, want, 32);
    p->op.recv_credit = 0; /* until PUT_OFFSET */
    buf_init(&p->in, MC_STREAM_WINDOW);
    buf_init(&p->wr, MC_STREAM_WINDOW);
    /* The upload id: the same device, name, size and hash find the same partial. */
    struct mc_sha256 h;
    uint8_t id[32], sz[8];
    for (int i = 0; i < 8; i++)
        sz[i] = (uint8_t)(size >> (56 - 8 * i));
    mc_sha256_init(&h);
    mc_sha256_update(&h, p->device, strlen(p->device) + 1);
    mc_sha256_update(&h, p->name, strlen(p->name) + 1);
    mc_sha256_update(&h, sz, sizeof sz);
    mc_sha256_update(&h, want, 32);
    mc_sha256_final(&h, id);
    memcpy(p->upload_id, id, sizeof p->upload_id);
    for (unsigned i = 0; i < MC_UPLOAD_ID_SIZE; i++)
        snprintf(p->part + 2 * i, 3, "%02x", id[i]);
    strcat(p->part, ".part");
    snprintf(p->key, sizeof p->key, "%s/%s", p->folder, p->part);
    int rc = put_register(p);
    if (rc == MC_ERR_BUSY && put_takeover(p))
        rc = put_register(p);
    if (rc < 0) {
        op_fail(&p->op, rc,
                rc == MC_ERR_BUSY ? "put '%s': the same upload is running on another connection; "
                                    "try again in a moment"
                                  : "put '%s': out of memory",
                p->name);
        return DISPATCH_ASYNC;
    }
    p->registered = 1;
    p->job.work = put_work;
    p->job.done = put_done;
    p->hash_job.work = put_hash_work;
    p->hash_job.done = put_done;
    put_start(p, PUT_PREPARE);
    return DISPATCH_ASYNC;
}
