/*
 * GET: a file of the device's send folder (ToPDA), from an offset. A job
 * opens the file beneath the folder and gets its SHA-256 (cached); read
 * jobs fill a buffer and the op sends it as DATA frames under the client's
 * credit, the last one with END; GET_OK (size, mtime, SHA-256 of the whole
 * file) is the final answer. At most one read job runs at a time and the
 * buffer is bounded, whatever the file's size.
 *
 * ACK: the device confirms a verified download (name and SHA-256); with
 * delete_after_send the file is removed, if it is still the same file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "frame.h"
#include "log.h"
#include "miscomm/error.h"
#include "wire.h"
#include <sodium.h>

#define GET_READ  (512u * 1024u)                       /* one read job */
#define GET_FRAME (4u * 16384u - MC_FRAME_HEADER_SIZE) /* four full TLS records */

struct get_op {
    struct op op;
    struct job job;
    char folder[PATH_MAX]; /* fixed at the request: a reload may change the configuration */
    int trusted;           /* of folder: from the configuration alone */
    char name[FILES_NAME_MAX + 1];
    int fd;
    uint64_t offset; /* asked for */
    uint64_t size, mtime_us;
    uint8_t sha[32];
    uint64_t pos; /* next byte to read */
    int opened;   /* the open job ran */
    int reading;  /* a read job runs */
    int rc;       /* of the last job */
    const char *why;
    uint8_t *buf; /* read, not yet sent: [start, len); loop thread only */
    size_t start, len;
    size_t got;      /* what the last read job read (set by the job) */
    uint8_t *frame;  /* MC_FRAME_HEADER_SIZE + GET_FRAME */
    uint8_t *packed; /* the frame compressed (connections with compression) */
};

static void get_open_work(struct get_op *g)
{
    int dirfd = files_folder_dir_open(g->folder, (size_t)g->trusted, 0);
    if (dirfd < 0) {
        g->rc = dirfd == MC_ERR_NOT_FOUND ? MC_ERR_NOT_FOUND : dirfd;
        g->why = dirfd == MC_ERR_NOT_FOUND ? "no such file" : "cannot open the send folder";
        return;
    }
    g->fd = files_open_beneath(dirfd, g->name, O_RDONLY, 0, 0);
    close(dirfd);
    if (g->fd < 0) {
        g->rc = g->fd;
        g->why = g->fd == MC_ERR_NOT_FOUND  ? "no such file"
                 : g->fd == MC_ERR_BAD_NAME ? "not a plain file of the folder (a link, or a folder)"
                                            : "cannot open the file";
        return;
    }
    struct stat st;
    if (fstat(g->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g->rc = MC_ERR_BAD_NAME;
        g->why = "not a plain file";
        return;
    }
    g->size = (uint64_t)st.st_size;
    g->mtime_us = (uint64_t)st.st_mtim.tv_sec * 1000000u + (uint64_t)st.st_mtim.tv_nsec / 1000u;
    if (g->offset > g->size) {
        g->rc = MC_ERR_BAD_PAYLOAD;
        g->why = "the offset is past the end of the file";
        return;
    }
    g->rc = files_hash_cached(g->fd, g->size, g->sha);
    if (g->rc < 0)
        g->why = "cannot read the file";
    g->pos = g->offset;
}

static void get_read_work(struct get_op *g)
{
    size_t want = g->size - g->pos < GET_READ ? (size_t)(g->size - g->pos) : GET_READ;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(g->fd, g->buf + got, want - got, (off_t)(g->pos + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g->rc = MC_ERR_IO;
            g->why = n == 0 ? "the file shrank while being sent" : "cannot read the file";
            return;
        }
        got += (size_t)n;
    }
    /* start and len belong to the loop thread: get_done takes this over. */
    g->got = got;
}

static void get_work(struct job *j)
{
    struct get_op *g = (struct get_op *)((char *)j - offsetof(struct get_op, job));
    g->rc = 0;
    if (!g->opened)
        get_open_work(g);
    else
        get_read_work(g);
}

static void get_read_next(struct get_op *g)
{
    g->reading = 1;
    if (op_submit(&g->op, NULL, &g->job) < 0) {
        g->reading = 0;
        op_fail(&g->op, MC_ERR_INTERNAL, "get: cannot queue the read");
    }
}

static void get_answer(struct get_op *g)
{
    uint8_t p[8 + 8 + 32];
    struct wire_writer w;
    wire_writer_init(&w, p, sizeof p);
    wire_put_u64(&w, g->size);
    wire_put_u64(&w, g->mtime_us);
    wire_put_bytes(&w, g->sha, sizeof g->sha);
    if (op_conn_send(g->op.c, MC_MSG_GET_OK, g->op.id, p, w.len) < 0)
        return;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", g->sha[i]);
    double ms = (double)(uv_hrtime() - g->op.start_ns) / 1e6;
    op_conn_log(g->op.c, LOG_LVL_INFO,
                "event=transfer direction=download name=\"%s\" offset=%llu bytes=%llu ms=%.1f "
                "mib_s=%.1f result=OK sha256=%s",
                g->name, (unsigned long long)g->offset, (unsigned long long)g->op.bytes_out, ms,
                ms > 0 ? (double)g->op.bytes_out / 1048576.0 / (ms / 1000.0) : 0.0, hex);
    op_finish(&g->op);
}

/* One turn: one frame of what is read; the next read when the buffer is empty. */
static void get_writable(struct op *op)
{
    struct get_op *g = (struct get_op *)op;
    if (g->reading)
        return; /* its done() gives the next turn */
    if (g->len > g->start) {
        size_t n = g->len - g->start;
        if (n > GET_FRAME)
            n = GET_FRAME;
        if (n > op->send_credit)
            n = (size_t)op->send_credit;
        if (n == 0)
            return; /* the client's CREDIT gives the next turn */
        int last = g->pos + g->len == g->size && g->start + n == g->len;
        memcpy(g->frame + MC_FRAME_HEADER_SIZE, g->buf + g->start, n);
        if (op_send_packed(op, g->frame, g->packed, n, last) < 0)
            return;
        g->start += n;
        if (last) {
            get_answer(g);
            return;
        }
        if (g->start == g->len) {
            g->pos += g->len;
            g->start = g->len = 0;
            get_read_next(g);
        } else {
            op_want_write(op);
        }
        return;
    }
    if (g->pos == g->size && !op->out_ended) {
        /* Nothing (more) to send: an empty last frame, then the answer. */
        if (op_send_prepared(op, g->frame, 0, 1) == 0)
            get_answer(g);
    }
}

static void get_done(struct job *j, int status)
{
    struct get_op *g = (struct get_op *)((char *)j - offsetof(struct get_op, job));
    g->reading = 0;
    if (status < 0)
        return; /* the op ended meanwhile; it is freed after this */
    if (g->rc < 0) {
        op_conn_log(g->op.c, LOG_LVL_WARN,
                    "event=transfer direction=download name=\"%s\" bytes=%llu result=%s "
                    "reason=\"%s\"",
                    g->name, (unsigned long long)g->op.bytes_out, mc_err_name(g->rc), g->why);
        op_fail(&g->op, g->rc, "get '%s': %s", g->name, g->why ? g->why : mc_strerror(g->rc));
        return;
    }
    if (!g->opened) {
        g->opened = 1;
        if (g->pos < g->size) {
            get_read_next(g);
            return;
        }
    } else {
        g->start = 0;
        g->len = g->got;
    }
    op_want_write(&g->op);
}

static void get_release(struct op *op)
{
    struct get_op *g = (struct get_op *)op;
    if (g->fd >= 0)
        close(g->fd);
    free(g->buf);
    free(g->frame);
    free(g->packed);
}

static const struct op_vtable get_vt = {.writable = get_writable, .release = get_release};

int files_get(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    struct wire_str name = wire_get_str(&r, FILES_NAME_MAX);
    uint64_t offset = wire_get_u64(&r);
    if (wire_reader_done(&r) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD, "GET carries a name (str) and a u64 offset");
    const char *why;
    if (files_name_check(name.ptr, name.len, &why) < 0)
        return op_error(c, f, MC_ERR_BAD_NAME, "get: %s", why);
    struct get_op *g =
        (struct get_op *)op_new(c, f->request_id, "get", f->length, &get_vt, sizeof *g);
    if (!g)
        return op_error(c, f, MC_ERR_NOMEM, "get: out of memory");
    g->fd = -1;
    if ((g->trusted = files_folder_path(op_conn_config(c), op_conn_device(c), 0, g->folder,
                                        sizeof g->folder)) < 0) {
        op_fail(&g->op, MC_ERR_BAD_NAME, "get: the send folder's path is too long");
        return DISPATCH_ASYNC;
    }
    memcpy(g->name, name.ptr, name.len);
    g->offset = offset;
    g->op.recv_credit = 0;
    g->op.in_ended = 1; /* nothing more comes from the client */
    g->buf = malloc(GET_READ);
    g->frame = malloc(MC_FRAME_HEADER_SIZE + GET_FRAME);
    g->packed = malloc(MC_FRAME_HEADER_SIZE + op_pack_bound(GET_FRAME));
    g->job.work = get_work;
    g->job.done = get_done;
    if (!g->buf || !g->frame || !g->packed) {
        op_fail(&g->op, MC_ERR_NOMEM, "get: out of memory");
        return DISPATCH_ASYNC;
    }
    /* Until its done() the job owns the op's fields: writable() waits. */
    g->reading = 1;
    if (op_submit(&g->op, NULL, &g->job) < 0) {
        g->reading = 0;
        op_fail(&g->op, MC_ERR_INTERNAL, "get: cannot queue the work");
    }
    return DISPATCH_ASYNC;
}

/* -- ACK ------------------------------------------------------------------- */
struct ack_job {
    struct job job;
    struct conn *c;
    uint32_t id;
    char folder[PATH_MAX]; /* fixed at the request */
    int trusted;           /* of folder: from the configuration alone */
    int delete_after_send;
    char name[FILES_NAME_MAX + 1];
    uint8_t sha[32];
    int rc;
    int deleted;
    const char *why;
};

/*
 * Remove base (in parent) only if it is still the file that was hashed
 * (st): moved aside first, atomically, then compared. A newer file the
 * office side put in its place meanwhile is moved back, not deleted.
 */
static int ack_remove(struct ack_job *a, int dirfd, int parent, const char *base,
                      const struct stat *st)
{
    if (mkdirat(dirfd, FILES_STAGING, 0750) != 0 && errno != EEXIST) {
        a->why = "cannot create the staging folder";
        return MC_ERR_IO;
    }
    int stage = openat(dirfd, FILES_STAGING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (stage < 0) {
        a->why = "cannot open the staging folder";
        return MC_ERR_IO;
    }
    char tmp[64];
    uint8_t r[8];
    randombytes_buf(r, sizeof r);
    snprintf(tmp, sizeof tmp, "ack-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5], r[6], r[7]);
    int rc = 0;
    if (renameat2(parent, base, stage, tmp, RENAME_NOREPLACE) != 0) {
        a->why = errno == ENOENT ? "the file is gone already" : "cannot remove the file";
        rc = errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    } else {
        struct stat now;
        if (fstatat(stage, tmp, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st->st_dev &&
            now.st_ino == st->st_ino) {
            (void)unlinkat(stage, tmp, 0);
            a->deleted = 1;
        } else if (renameat2(stage, tmp, parent, base, RENAME_NOREPLACE) == 0) {
            rc = MC_ERR_HASH_MISMATCH;
            a->why = "the file was replaced since it was downloaded: kept";
        } else {
            rc = MC_ERR_IO;
            a->why = "the file was replaced and could not be put back";
            log_warn("event=ack_conflict folder=%s name=\"%s\" kept_as=%s/%s", a->folder, a->name,
                     FILES_STAGING, tmp);
        }
    }
    close(stage);
    return rc;
}

static void ack_work(struct job *j)
{
    struct ack_job *a = (struct ack_job *)j;
    int dirfd = files_folder_dir_open(a->folder, (size_t)a->trusted, 0);
    if (dirfd < 0) {
        a->rc = dirfd;
        a->why = "no such file";
        return;
    }
    int fd = files_open_beneath(dirfd, a->name, O_RDONLY, 0, 0);
    if (fd < 0) {
        close(dirfd);
        a->rc = fd;
        a->why = fd == MC_ERR_NOT_FOUND ? "no such file" : "cannot open the file";
        return;
    }
    uint8_t sha[32];
    struct stat ast;
    a->rc = fstat(fd, &ast) == 0 ? files_hash_cached(fd, (uint64_t)ast.st_size, sha) : MC_ERR_IO;
    close(fd);
    if (a->rc == 0 && memcmp(sha, a->sha, 32) != 0) {
        a->rc = MC_ERR_HASH_MISMATCH;
        a->why = "the file is not the one downloaded (it changed since): kept";
    } else if (a->rc == 0 && a->delete_after_send) {
        /* The name was checked and opened beneath the folder: its last
         * component is a plain file there; remove it through its parent. */
        const char *slash = strrchr(a->name, '/');
        int parent = dirfd;
        if (slash) {
            char dir[FILES_NAME_MAX + 1];
            memcpy(dir, a->name, (size_t)(slash - a->name));
            dir[slash - a->name] = 0;
            parent = files_open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY, 0, 0);
        }
        a->rc = parent < 0 ? MC_ERR_IO
                           : ack_remove(a, dirfd, parent, slash ? slash + 1 : a->name, &ast);
        if (parent >= 0 && parent != dirfd)
            close(parent);
    }
    close(dirfd);
}

static void ack_done(struct job *j, int status)
{
    struct ack_job *a = (struct ack_job *)j;
    if (status == 0) {
        if (a->rc < 0) {
            (void)op_conn_send_error(a->c, a->id, a->rc, "ack '%s': %s", a->name,
                                     a->why ? a->why : mc_strerror(a->rc));
        } else {
            uint8_t p = (uint8_t)a->deleted;
            (void)op_conn_send(a->c, MC_MSG_ACK_OK, a->id, &p, 1);
        }
        op_conn_log(a->c, a->rc < 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
                    "event=request op=ack id=%u name=\"%s\" result=%s deleted=%s", a->id, a->name,
                    mc_err_name(a->rc), a->deleted ? "yes" : "no");
        op_conn_request_done(a->c);
    }
    free(a);
}

int files_ack(struct conn *c, const struct frame *f)
{
    struct wire_reader r;
    wire_reader_init(&r, f->payload, f->length);
    struct wire_str name = wire_get_str(&r, FILES_NAME_MAX);
    const uint8_t *sha = wire_get_bytes(&r, 32);
    if (wire_reader_done(&r) < 0)
        return op_error(c, f, MC_ERR_BAD_PAYLOAD,
                        "ACK carries a name (str) and 32 bytes of SHA-256");
    const char *why;
    if (files_name_check(name.ptr, name.len, &why) < 0)
        return op_error(c, f, MC_ERR_BAD_NAME, "ack: %s", why);
    struct ack_job *a = calloc(1, sizeof *a);
    if (!a)
        return op_error(c, f, MC_ERR_NOMEM, "ack: out of memory");
    a->job.work = ack_work;
    a->job.done = ack_done;
    a->c = c;
    a->id = f->request_id;
    a->delete_after_send = op_conn_config(c)->delete_after_send;
    if ((a->trusted = files_folder_path(op_conn_config(c), op_conn_device(c), 0, a->folder,
                                        sizeof a->folder)) < 0) {
        free(a);
        return op_error(c, f, MC_ERR_BAD_NAME, "ack: the send folder's path is too long");
    }
    memcpy(a->name, name.ptr, name.len);
    memcpy(a->sha, sha, 32);
    if (op_conn_submit(c, &a->job) < 0) {
        free(a);
        return op_error(c, f, MC_ERR_INTERNAL, "ack: cannot queue the work");
    }
    return DISPATCH_ASYNC;
}
