/*
 * FILES_CHANGED: a protocol-2 device with `send_files` that is logged in
 * gets a NOTICE (kind 2, request id 0) when something changes in its send
 * folder or its subfolders (the office side wrote or removed a file), so
 * the app fetches at once instead of polling.
 *
 * One watch per send folder, shared by every connection of that device.
 * inotify is not recursive, so the watch holds one uv_fs_event per folder
 * of the tree (at most WATCH_MAX_DIRS, WATCH_MAX_DEPTH deep, links never
 * followed), found by a scan that runs off the loop thread:
 *
 *   attach ──scan job──> watch every folder found
 *   change ──200 ms──> NOTICE to every connection; if folders may have
 *                      appeared, gone or been replaced: scan again and
 *                      watch the difference
 *   folder gone ──> look again every WATCH_RETRY_MS; when it is back (a
 *                   new folder, maybe with files in it): NOTICE, watch it
 *
 * Changes within FILES_WATCH_DELAY_MS give one notice.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "log.h"
#include "miscomm/error.h"

#define FILES_WATCH_DELAY_MS 200u
#define WATCH_RETRY_MS       5000u
#define WATCH_MAX_DIRS       256u
#define WATCH_MAX_DEPTH      8u

struct watch;

struct watch_ref {
    struct watch_ref *next;
    struct conn *c;
};

/* One watched folder of the tree. */
struct watch_dir {
    uv_fs_event_t ev;
    struct watch *w;
    dev_t dev;
    ino_t ino;
    int seen;   /* found by the last scan */
    char rel[]; /* its path in the send folder; "" for the folder itself */
};

struct watch {
    struct watch *next;
    uv_loop_t *loop;
    uv_timer_t timer; /* gathers changes; looks again for a missing folder */
    struct watch_dir **dirs;
    size_t ndirs;
    unsigned handles;      /* open uv handles: the timer and one per folder */
    struct job_owner jobs; /* the scan */
    int notice;            /* a change waits for its NOTICE */
    int rescan;            /* folders may have appeared, gone or been replaced */
    int scanned;           /* a scan has completed: a new root is news */
    int released;          /* no connection left: freed once handles and jobs are done */
    struct watch_ref *refs;
    size_t trusted; /* of path: from the configuration alone */
    char path[PATH_MAX];
};

/* A folder the scan found (its path follows the struct). */
struct scan_dir {
    dev_t dev;
    ino_t ino;
    char *rel;
};

struct scan_job {
    struct job job;
    struct watch *w;
    int create; /* the first scan creates the send folder */
    int rc;     /* 0, MC_ERR_NOT_FOUND (no folder) or another error */
    struct scan_dir *found;
    size_t nfound, cap;
};

static struct watch *watches; /* loop thread only */

static void watch_free_if_done(struct watch *w)
{
    if (!w->released || w->handles > 0 || w->jobs.pending > 0)
        return;
    free(w->dirs);
    free(w);
}

static void handle_closed(uv_handle_t *h)
{
    struct watch *w;
    if (h->type == UV_FS_EVENT) {
        struct watch_dir *d = h->data;
        w = d->w;
        free(d);
    } else {
        w = h->data;
    }
    w->handles--;
    watch_free_if_done(w);
}

static void jobs_idle(struct job_owner *o)
{
    watch_free_if_done((struct watch *)((char *)o - offsetof(struct watch, jobs)));
}

static void dir_drop(struct watch *w, size_t i)
{
    uv_close((uv_handle_t *)&w->dirs[i]->ev, handle_closed);
    w->dirs[i] = w->dirs[--w->ndirs];
}

static void watch_release(struct watch *w)
{
    for (struct watch **p = &watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->released = 1;
    while (w->ndirs > 0)
        dir_drop(w, w->ndirs - 1);
    uv_close((uv_handle_t *)&w->timer, handle_closed);
}

static void notify(struct watch *w)
{
    /* A notice that fails closes its connection, which detaches it (freeing
     * its ref, maybe releasing the watch): notify from a snapshot. The
     * connections themselves are freed only later, from their close callbacks. */
    size_t n = 0;
    for (struct watch_ref *r = w->refs; r; r = r->next)
        n++;
    struct conn **cs = n ? calloc(n, sizeof *cs) : NULL;
    if (!cs)
        return;
    n = 0;
    for (struct watch_ref *r = w->refs; r; r = r->next)
        cs[n++] = r->c;
    for (size_t i = 0; i < n; i++)
        op_conn_notice(cs[i], MC_NOTICE_FILES_CHANGED, "files changed in the send folder");
    free(cs);
}

/* -- the scan (pool thread: reads only the job and w->path, fixed at creation) -- */

static int scan_add(struct scan_job *s, const char *rel, const struct stat *st)
{
    if (s->nfound == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct scan_dir *f = realloc(s->found, cap * sizeof *f);
        if (!f)
            return MC_ERR_NOMEM;
        s->found = f;
        s->cap = cap;
    }
    char *copy = strdup(rel);
    if (!copy)
        return MC_ERR_NOMEM;
    s->found[s->nfound++] = (struct scan_dir){.dev = st->st_dev, .ino = st->st_ino, .rel = copy};
    return 0;
}

/* Add dir (path rel in the folder) and its subfolders; takes ownership of dir. */
static void scan_walk(struct scan_job *s, int dir, const char *rel, unsigned depth)
{
    struct stat st;
    if (fstat(dir, &st) != 0 || s->nfound >= WATCH_MAX_DIRS || scan_add(s, rel, &st) < 0) {
        close(dir);
        return;
    }
    DIR *d = depth < WATCH_MAX_DEPTH ? fdopendir(dir) : NULL;
    if (!d) {
        close(dir);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && s->nfound < WATCH_MAX_DIRS) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        char sub[FILES_NAME_MAX + 2];
        /* Only folders a device could name (the staging folder is not one). */
        if (files_child_name(rel, de->d_name, sub) < 0)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            scan_walk(s, fd, sub, depth + 1);
    }
    closedir(d);
}

static void scan_work(struct job *j)
{
    struct scan_job *s = (struct scan_job *)j;
    int fd = files_folder_dir_open(s->w->path, s->w->trusted, s->create);
    s->rc = fd < 0 ? fd : 0;
    if (fd >= 0)
        scan_walk(s, fd, "", 0);
}

static void scan_free(struct scan_job *s)
{
    for (size_t i = 0; i < s->nfound; i++)
        free(s->found[i].rel);
    free(s->found);
    free(s);
}

static void on_change(uv_fs_event_t *h, const char *name, int events, int status);

/* Watch the folder the scan found at f. */
static void dir_add(struct watch *w, const struct scan_dir *f)
{
    size_t len = strlen(f->rel);
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s%s%s", w->path, len ? "/" : "", f->rel) >=
        sizeof path)
        return;
    struct watch_dir **dirs = realloc(w->dirs, (w->ndirs + 1) * sizeof *dirs);
    if (!dirs)
        return;
    w->dirs = dirs;
    struct watch_dir *d = calloc(1, sizeof *d + len + 1);
    if (!d)
        return;
    d->w = w;
    d->dev = f->dev;
    d->ino = f->ino;
    d->seen = 1;
    memcpy(d->rel, f->rel, len + 1);
    uv_fs_event_init(w->loop, &d->ev);
    d->ev.data = d;
    w->handles++;
    w->dirs[w->ndirs++] = d;
    int rc = uv_fs_event_start(&d->ev, on_change, path, 0);
    if (rc != 0) {
        log_warn("event=files_watch folder=%s error=\"%s\" note=\"no FILES_CHANGED notices for "
                 "changes in it\"",
                 path, uv_strerror(rc));
        dir_drop(w, w->ndirs - 1);
    }
}

static void on_timer(uv_timer_t *t);

static void scan_done(struct job *j, int status)
{
    struct scan_job *s = (struct scan_job *)j;
    struct watch *w = s->w;
    if (status < 0 || w->released) {
        scan_free(s);
        return; /* jobs_idle frees the watch once released */
    }
    if (s->rc < 0) {
        /* No folder (removed by the office side): nothing to watch; look again later. */
        if (s->rc != MC_ERR_NOT_FOUND)
            log_warn("event=files_watch folder=%s error=\"%s\"", w->path, mc_strerror(s->rc));
        while (w->ndirs > 0)
            dir_drop(w, w->ndirs - 1);
        w->scanned = 1;
        w->rescan = 1;
        if (!uv_is_active((uv_handle_t *)&w->timer))
            uv_timer_start(&w->timer, on_timer, WATCH_RETRY_MS, 0);
        scan_free(s);
        return;
    }
    /* A folder found again under another identity was replaced: its watch
     * (on the old inode) goes, and a new one comes. */
    int root_new = 1;
    for (size_t i = 0; i < w->ndirs; i++)
        w->dirs[i]->seen = 0;
    for (size_t k = 0; k < s->nfound; k++) {
        const struct scan_dir *f = &s->found[k];
        size_t i = 0;
        while (i < w->ndirs && strcmp(w->dirs[i]->rel, f->rel) != 0)
            i++;
        if (i < w->ndirs && w->dirs[i]->dev == f->dev && w->dirs[i]->ino == f->ino) {
            w->dirs[i]->seen = 1;
            if (!f->rel[0])
                root_new = 0;
            continue;
        }
        if (i < w->ndirs)
            dir_drop(w, i);
        dir_add(w, f);
    }
    for (size_t i = w->ndirs; i-- > 0;)
        if (!w->dirs[i]->seen)
            dir_drop(w, i);
    if (root_new && w->scanned)
        w->notice = 1; /* the folder came back, maybe with files: tell the devices */
    w->scanned = 1;
    log_debug("event=files_watch folder=%s folders=%zu", w->path, w->ndirs);
    scan_free(s);
    /* A notice to send, or changes during the scan that need another one. */
    if ((w->notice || w->rescan) && !uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, on_timer, w->notice ? 0 : FILES_WATCH_DELAY_MS, 0);
}

static void scan_start(struct watch *w, int create)
{
    struct scan_job *s = calloc(1, sizeof *s);
    if (s) {
        s->w = w;
        s->create = create;
        s->job.work = scan_work;
        s->job.done = scan_done;
        if (job_submit(w->loop, NULL, &s->job, &w->jobs) == 0)
            return;
        free(s);
    }
    /* Try again later. */
    w->rescan = 1;
    if (!uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, on_timer, WATCH_RETRY_MS, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct watch *w = t->data;
    if (w->notice) {
        w->notice = 0;
        notify(w); /* may release w: nothing after this but the rescan check */
    }
    if (!w->released && w->rescan && w->jobs.pending == 0) {
        w->rescan = 0;
        scan_start(w, 0);
    }
}

static void on_change(uv_fs_event_t *h, const char *name, int events, int status)
{
    (void)name;
    struct watch_dir *d = h->data;
    struct watch *w = d->w;
    if (status < 0) {
        log_warn("event=files_watch folder=%s/%s error=\"%s\"", w->path, d->rel,
                 uv_strerror(status));
        return;
    }
    w->notice = 1;
    /* A name created, removed or moved (maybe a folder, maybe this one). */
    if (events & UV_RENAME)
        w->rescan = 1;
    if (!uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, on_timer, FILES_WATCH_DELAY_MS, 0);
}

static struct watch *watch_get(uv_loop_t *loop, const char *path, size_t trusted)
{
    for (struct watch *w = watches; w; w = w->next)
        if (strcmp(w->path, path) == 0)
            return w;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->path, sizeof w->path, "%s", path);
    w->trusted = trusted;
    w->loop = loop;
    w->jobs.idle = jobs_idle;
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->handles = 1;
    w->next = watches;
    watches = w;
    scan_start(w, 1); /* the send folder exists from the first login */
    return w;
}

void files_watch_attach(struct conn *c)
{
    char path[PATH_MAX];
    int trusted = files_folder_path(op_conn_config(c), op_conn_device(c), 0, path, sizeof path);
    if (trusted < 0)
        return;
    struct watch *w = watch_get(op_conn_loop(c), path, (size_t)trusted);
    struct watch_ref *r = w ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        if (w && !w->refs)
            watch_release(w);
        op_conn_log(c, LOG_LVL_WARN, "event=files_watch folder=%s error=\"out of memory\"", path);
        return;
    }
    r->c = c;
    r->next = w->refs;
    w->refs = r;
}

void files_watch_detach(struct conn *c)
{
    struct watch *next;
    for (struct watch *w = watches; w; w = next) {
        next = w->next;
        for (struct watch_ref **p = &w->refs; *p; p = &(*p)->next) {
            if ((*p)->c == c) {
                struct watch_ref *r = *p;
                *p = r->next;
                free(r);
                break;
            }
        }
        if (!w->refs)
            watch_release(w);
    }
}
