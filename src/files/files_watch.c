/*
 * FILES_CHANGED: a protocol-2 device with `send_files` that is logged in
 * gets a NOTICE (kind 2, request id 0) when something changes in its send
 * folder (the office side wrote or removed a file), so the app fetches at
 * once instead of polling. One inotify watch (uv_fs_event) per folder,
 * shared by every connection of that device; changes are gathered for
 * FILES_WATCH_DELAY_MS so that one file written in many steps gives one
 * notice. Subfolders are not watched (inotify is not recursive).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "files.h"
#include "files_path.h"
#include "log.h"
#include "miscomm/error.h"

#define FILES_WATCH_DELAY_MS 200u

struct watch_ref {
    struct watch_ref *next;
    struct conn *c;
};

struct watch {
    struct watch *next;
    uv_fs_event_t ev;
    uv_timer_t delay;
    int handles; /* open handles; freed at 0 */
    struct watch_ref *refs;
    char path[PATH_MAX];
};

static struct watch *watches; /* loop thread only */

struct attach_job {
    struct job job;
    struct conn *c;
    char path[PATH_MAX];
    int rc;
};

static void watch_closed(uv_handle_t *h)
{
    struct watch *w = h->data;
    if (--w->handles == 0)
        free(w);
}

static void watch_release(struct watch *w)
{
    for (struct watch **p = &watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&w->ev, watch_closed);
    uv_close((uv_handle_t *)&w->delay, watch_closed);
}

static void on_delay(uv_timer_t *t)
{
    struct watch *w = t->data;
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

static void on_change(uv_fs_event_t *h, const char *name, int events, int status)
{
    (void)events;
    struct watch *w = h->data;
    if (status < 0) {
        log_warn("event=files_watch folder=%s error=\"%s\"", w->path, uv_strerror(status));
        return;
    }
    (void)name;
    if (!uv_is_active((uv_handle_t *)&w->delay))
        uv_timer_start(&w->delay, on_delay, FILES_WATCH_DELAY_MS, 0);
}

static struct watch *watch_get(uv_loop_t *loop, const char *path)
{
    for (struct watch *w = watches; w; w = w->next)
        if (strcmp(w->path, path) == 0)
            return w;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->path, sizeof w->path, "%s", path);
    uv_fs_event_init(loop, &w->ev);
    uv_timer_init(loop, &w->delay);
    w->ev.data = w->delay.data = w;
    w->handles = 2;
    int rc = uv_fs_event_start(&w->ev, on_change, path, 0);
    w->next = watches;
    watches = w;
    if (rc != 0) {
        log_warn("event=files_watch folder=%s error=\"%s\" note=\"no FILES_CHANGED notices\"", path,
                 uv_strerror(rc));
        watch_release(w);
        return NULL;
    }
    return w;
}

static void attach_work(struct job *j)
{
    struct attach_job *a = (struct attach_job *)j;
    int fd = files_dir_open(a->path, 1); /* the send folder exists from the first login */
    a->rc = fd < 0 ? fd : 0;
    if (fd >= 0)
        close(fd);
}

static void attach_done(struct job *j, int status)
{
    struct attach_job *a = (struct attach_job *)j;
    if (status == 0 && a->rc == 0) {
        struct watch *w = watch_get(op_conn_loop(a->c), a->path);
        struct watch_ref *r = w ? calloc(1, sizeof *r) : NULL;
        if (r) {
            r->c = a->c;
            r->next = w->refs;
            w->refs = r;
            op_conn_log(a->c, LOG_LVL_DEBUG, "event=files_watch folder=%s", a->path);
        } else if (w && !w->refs) {
            watch_release(w);
        }
    } else if (status == 0) {
        op_conn_log(a->c, LOG_LVL_WARN, "event=files_watch folder=%s error=\"%s\"", a->path,
                    mc_strerror(a->rc));
    }
    free(a);
}

void files_watch_attach(struct conn *c)
{
    struct attach_job *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->c = c;
    if (files_folder_path(op_conn_config(c), op_conn_device(c), 0, a->path, sizeof a->path) < 0) {
        free(a);
        return;
    }
    a->job.work = attach_work;
    a->job.done = attach_done;
    if (op_conn_submit(c, &a->job) < 0)
        free(a);
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
