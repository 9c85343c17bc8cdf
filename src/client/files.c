/*
 * libmiscomm, file transfer: LIST, GET, ACK, PUT on the public stream API
 * (client.h), with SHA-256 checks and resume after a dropped connection.
 */
#include "miscomm/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "filehash.h"
#include "sha256.h"
#include "wire.h"

#define FILES_CHUNK (256u * 1024u)

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Retry op after a dropped connection: relogin with backoff. */
static int with_retries(mc_client *c, const struct mc_transfer_options *o,
                        int (*op)(mc_client *c, void *arg), void *arg)
{
    unsigned tries = o && o->retries ? o->retries : 5;
    unsigned pause = o && o->backoff_ms ? o->backoff_ms : 500;
    int rc = op(c, arg);
    /* A dropped connection, or the server still holding the upload of the
     * connection that dropped (BUSY until it notices): wait and go on. */
    for (unsigned i = 0; rc < 0 && (!mc_client_connected(c) || rc == MC_ERR_BUSY) && i < tries;
         i++) {
        sleep_ms(pause);
        pause = pause < 16000 ? pause * 2 : 32000;
        if (!mc_client_connected(c) && mc_relogin(c, NULL) < 0)
            continue;
        rc = op(c, arg);
    }
    return rc;
}

/* -- LIST -------------------------------------------------------------------- */
struct list_ctx {
    mc_list_fn fn;
    void *ud;
    int bad;
};

static int list_on_data(void *ud, const uint8_t *p, size_t n, int end)
{
    (void)end;
    struct list_ctx *l = ud;
    struct wire_reader r;
    wire_reader_init(&r, p, n);
    while (r.off < n && !r.err) {
        struct wire_str name = wire_get_str(&r, 1024);
        struct mc_file_entry e;
        char buf[1025];
        e.size = wire_get_u64(&r);
        e.mtime_us = wire_get_u64(&r);
        const uint8_t *sha = wire_get_bytes(&r, 32);
        if (r.err || !sha)
            break;
        wire_str_copy(buf, sizeof buf, name);
        e.name = buf;
        memcpy(e.sha256, sha, 32);
        if (l->fn && l->fn(l->ud, &e) < 0)
            return MC_ERR_CANCELLED;
    }
    if (r.err) {
        l->bad = 1;
        return MC_ERR_BAD_PAYLOAD;
    }
    return 0;
}

int mc_list(mc_client *c, const char *folder, int recursive, mc_list_fn fn, void *ud,
            uint32_t *count)
{
    uint8_t req[3 + 1024];
    struct wire_writer w;
    wire_writer_init(&w, req, sizeof req);
    uint8_t flags = recursive ? MC_LIST_RECURSIVE : 0;
    wire_put_bytes(&w, &flags, 1);
    wire_put_cstr(&w, folder ? folder : "");
    if (w.err)
        return MC_ERR_INVALID_ARG;
    mc_stream *s;
    int rc = mc_stream_open(c, MC_MSG_LIST, req, w.len, &s);
    if (rc < 0)
        return rc;
    struct list_ctx l = {.fn = fn, .ud = ud};
    struct mc_reply r;
    rc = mc_stream_finish(s, list_on_data, &l, &r);
    if (rc == 0 && (r.type != MC_MSG_LIST_OK || r.len != 4))
        rc = MC_ERR_BAD_PAYLOAD;
    if (rc == 0 && count)
        *count = (uint32_t)r.payload[0] << 24 | (uint32_t)r.payload[1] << 16 |
                 (uint32_t)r.payload[2] << 8 | r.payload[3];
    mc_stream_free(s);
    return rc;
}

/* -- GET --------------------------------------------------------------------- */
struct get_ctx {
    const char *name;
    char part[4096];
    const char *path;
    const struct mc_transfer_options *o;
    int fd;
    uint64_t have; /* bytes in the partial file */
    uint64_t total;
    uint8_t sha[32];
    int io_error;
    struct mc_sha256 running; /* the partial file's bytes, hashed as they come */
    int running_ok;
};

static int get_on_data(void *ud, const uint8_t *p, size_t n, int end)
{
    (void)end;
    struct get_ctx *g = ud;
    for (size_t off = 0; off < n;) {
        ssize_t k = write(g->fd, p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            g->io_error = errno;
            return MC_ERR_IO;
        }
        off += (size_t)k;
    }
    if (g->running_ok)
        mc_sha256_update(&g->running, p, n);
    g->have += n;
    if (g->o && g->o->progress)
        g->o->progress(g->o->ud, g->have, g->total);
    return 0;
}

static int get_once(mc_client *c, void *arg)
{
    struct get_ctx *g = arg;
    struct stat st;
    g->have = fstat(g->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    /* The hash goes along with the download: start it over the bytes a
     * partial copy already holds (nothing for a new download). */
    mc_sha256_init(&g->running);
    g->running_ok = !g->have || filehash_update(&g->running, g->fd, g->have) == 0;
    uint8_t req[2 + 1024 + 8];
    struct wire_writer w;
    wire_writer_init(&w, req, sizeof req);
    wire_put_cstr(&w, g->name);
    wire_put_u64(&w, g->have);
    if (w.err)
        return MC_ERR_INVALID_ARG;
    mc_stream *s;
    int rc = mc_stream_open(c, MC_MSG_GET, req, w.len, &s);
    if (rc < 0)
        return rc;
    struct mc_reply r;
    rc = mc_stream_finish(s, get_on_data, g, &r);
    if (rc == 0 && (r.type != MC_MSG_GET_OK || r.len != 48))
        rc = MC_ERR_BAD_PAYLOAD;
    if (rc == 0) {
        struct wire_reader rd;
        wire_reader_init(&rd, r.payload, r.len);
        g->total = wire_get_u64(&rd);
        (void)wire_get_u64(&rd);
        memcpy(g->sha, wire_get_bytes(&rd, 32), 32);
    }
    mc_stream_free(s);
    return rc;
}

int mc_get_file(mc_client *c, const char *name, const char *path,
                const struct mc_transfer_options *o, uint8_t sha256[32])
{
    struct get_ctx g = {.name = name, .path = path, .o = o};
    if ((size_t)snprintf(g.part, sizeof g.part, "%s.part", path) >= sizeof g.part)
        return MC_ERR_INVALID_ARG;
    g.fd = open(g.part, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (g.fd < 0)
        return client_fail(c, MC_ERR_IO, "%s: %s", g.part, strerror(errno));
    int rc = with_retries(c, o, get_once, &g);
    if (rc == MC_ERR_BAD_PAYLOAD && g.have > 0) {
        /* The partial copy is longer than the server's file (it changed on the
         * server): start again from 0. */
        rc = ftruncate(g.fd, 0) == 0 ? with_retries(c, o, get_once, &g) : MC_ERR_IO;
    }
    uint8_t got[32];
    if (rc == 0) {
        if (g.running_ok)
            mc_sha256_final(&g.running, got);
        else
            rc = filehash_fd(g.fd, g.have, got); /* the running hash failed: read it all again */
    }
    if (rc == 0 && memcmp(got, g.sha, 32) != 0) {
        /* Not the server's file: a stale partial, or corruption. Start over next time. */
        rc = ftruncate(g.fd, 0) == 0 ? 0 : MC_ERR_IO;
        rc = client_fail(c, MC_ERR_HASH_MISMATCH,
                         "%s: the downloaded bytes do not have the server's SHA-256; the "
                         "partial copy was emptied%s",
                         name, rc < 0 ? " (could not empty it)" : "");
    }
    if (rc == 0 && fsync(g.fd) != 0)
        rc = client_fail(c, MC_ERR_IO, "%s: %s", g.part, strerror(errno));
    close(g.fd);
    if (rc == 0 && rename(g.part, path) != 0)
        rc = client_fail(c, MC_ERR_IO, "%s: %s", path, strerror(errno));
    if (rc == 0 && sha256)
        memcpy(sha256, g.sha, 32);
    if (rc == 0 && o && o->progress)
        o->progress(o->ud, g.have, g.total); /* the size is known now */
    return rc;
}

int mc_ack(mc_client *c, const char *name, const uint8_t sha256[32], int *deleted)
{
    uint8_t req[2 + 1024 + 32];
    struct wire_writer w;
    wire_writer_init(&w, req, sizeof req);
    wire_put_cstr(&w, name);
    wire_put_bytes(&w, sha256, 32);
    if (w.err)
        return MC_ERR_INVALID_ARG;
    struct mc_reply r;
    int rc = mc_call(c, MC_MSG_ACK, req, w.len, &r);
    if (rc == 0 && (r.type != MC_MSG_ACK_OK || r.len != 1))
        rc = MC_ERR_BAD_PAYLOAD;
    if (rc == 0 && deleted)
        *deleted = r.payload[0];
    return rc;
}

/* -- PUT --------------------------------------------------------------------- */
struct put_ctx {
    const char *name;
    int fd;
    uint64_t size;
    uint8_t sha[32];
    const struct mc_transfer_options *o;
    uint8_t *buf;
};

static int put_once(mc_client *c, void *arg)
{
    struct put_ctx *p = arg;
    uint8_t req[2 + 1024 + 8 + 32];
    struct wire_writer w;
    wire_writer_init(&w, req, sizeof req);
    wire_put_cstr(&w, p->name);
    wire_put_u64(&w, p->size);
    wire_put_bytes(&w, p->sha, 32);
    if (w.err)
        return MC_ERR_INVALID_ARG;
    mc_stream *s;
    int rc = mc_stream_open(c, MC_MSG_PUT, req, w.len, &s);
    if (rc < 0)
        return rc;
    struct mc_reply r;
    rc = mc_stream_wait_frame(s, MC_MSG_PUT_OFFSET, &r);
    uint64_t off = 0;
    if (rc == 0 && r.len != MC_UPLOAD_ID_SIZE + 8)
        rc = MC_ERR_BAD_PAYLOAD;
    for (size_t i = 0; rc == 0 && i < 8; i++)
        off = off << 8 | r.payload[MC_UPLOAD_ID_SIZE + i];
    if (rc == 0 && off > p->size)
        rc = MC_ERR_BAD_PAYLOAD;
    /* From where the server stands to the end; the last write carries END. */
    while (rc == 0) {
        size_t n = p->size - off < FILES_CHUNK ? (size_t)(p->size - off) : FILES_CHUNK;
        if (n) {
            ssize_t k = pread(p->fd, p->buf, n, (off_t)off);
            if (k != (ssize_t)n) {
                rc = client_fail(c, MC_ERR_IO, "%s: the local file changed while being sent",
                                 p->name);
                break;
            }
        }
        int last = off + n == p->size;
        rc = mc_stream_write(s, p->buf, n, last);
        if (rc < 0)
            break;
        off += n;
        if (p->o && p->o->progress)
            p->o->progress(p->o->ud, off, p->size);
        if (last)
            break;
        /* Take in the server's CREDIT (and an early error) between writes. */
        rc = mc_poll(c, 0);
    }
    if (rc == 0)
        rc = mc_stream_finish(s, NULL, NULL, &r);
    if (rc == 0 && r.type != MC_MSG_PUT_OK)
        rc = MC_ERR_BAD_PAYLOAD;
    mc_stream_free(s);
    return rc;
}

int mc_put_file(mc_client *c, const char *path, const char *name,
                const struct mc_transfer_options *o)
{
    struct put_ctx p = {.name = name, .o = o};
    p.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p.fd < 0)
        return client_fail(c, errno == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO, "%s: %s", path,
                           strerror(errno));
    struct stat st;
    int rc = fstat(p.fd, &st) == 0 && S_ISREG(st.st_mode)
                 ? 0
                 : client_fail(c, MC_ERR_INVALID_ARG, "%s: not a plain file", path);
    p.size = (uint64_t)st.st_size;
    p.buf = malloc(FILES_CHUNK);
    if (rc == 0 && !p.buf)
        rc = MC_ERR_NOMEM;
    if (rc == 0)
        rc = filehash_fd(p.fd, p.size, p.sha);
    if (rc == 0)
        rc = with_retries(c, o, put_once, &p);
    free(p.buf);
    close(p.fd);
    return rc;
}
