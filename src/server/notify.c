#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "miscomm/error.h"

#ifdef MC_HAVE_SYSTEMD

#include <systemd/sd-daemon.h>

/* STATUS= is looked at once a second, and sent only when its text changed. */
#define NOTIFY_STATUS_MS  1000u
#define NOTIFY_STATUS_MAX 256

static struct {
    int on;               /* NOTIFY_SOCKET was set at notify_start() */
    int warned;           /* an unreachable socket is logged once, not every second */
    uint64_t watchdog_ms; /* WATCHDOG=1 every so often; 0: no watchdog */
    notify_status_fn *status;
    void *ud;
    uv_timer_t status_timer;
    uv_timer_t watchdog_timer;
    char sent[NOTIFY_STATUS_MAX]; /* the last STATUS= text sent */
    char reload_failure[128];     /* why the last reload was refused; "" after a good one */
} notify;

static void notify_send(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0 && !notify.warned) {
        notify.warned = 1;
        log_warn("event=sd_notify error=\"%s\" socket=%s", strerror(-rc), getenv("NOTIFY_SOCKET"));
    }
}

/* The server's status line, and a refused reload until the next one succeeds. */
static void notify_status_text(char *buf, size_t cap)
{
    buf[0] = '\0';
    if (notify.status)
        notify.status(notify.ud, buf, cap);
    if (notify.reload_failure[0]) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "; last reload refused: %s", notify.reload_failure);
    }
}

/* Send head (READY=1 ...) together with the current status, in one datagram. */
static void notify_with_status(const char *head)
{
    char text[NOTIFY_STATUS_MAX], msg[NOTIFY_STATUS_MAX + 64];
    notify_status_text(text, sizeof text);
    snprintf(msg, sizeof msg, "%s%sSTATUS=%s", head, head[0] ? "\n" : "", text);
    notify_send(msg);
    memcpy(notify.sent, text, sizeof text);
}

static void on_status_timer(uv_timer_t *t)
{
    (void)t;
    char text[NOTIFY_STATUS_MAX];
    notify_status_text(text, sizeof text);
    if (strcmp(text, notify.sent) != 0)
        notify_with_status("");
}

/* Runs only when the loop turns: a loop stuck in a callback misses it and
 * systemd restarts the service after WatchdogSec. */
static void on_watchdog_timer(uv_timer_t *t)
{
    (void)t;
    notify_send("WATCHDOG=1");
}

void notify_start(uv_loop_t *loop, notify_status_fn *status, void *ud)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || !sock[0])
        return;
    notify.on = 1;
    notify.status = status;
    notify.ud = ud;
    uv_timer_init(loop, &notify.status_timer);
    uv_timer_start(&notify.status_timer, on_status_timer, NOTIFY_STATUS_MS, NOTIFY_STATUS_MS);
    uv_unref((uv_handle_t *)&notify.status_timer);

    uint64_t usec = 0;
    int rc = sd_watchdog_enabled(0, &usec);
    if (rc < 0)
        log_warn("event=watchdog error=\"WATCHDOG_USEC or WATCHDOG_PID unreadable: %s\" "
                 "action=\"no watchdog pings\"",
                 strerror(-rc));
    if (rc > 0) {
        /* Half the period, as sd_watchdog_enabled(3) advises: one late
         * turn of the loop is not yet a restart. */
        notify.watchdog_ms = usec / 2000u ? usec / 2000u : 1u;
        uv_timer_init(loop, &notify.watchdog_timer);
        uv_timer_start(&notify.watchdog_timer, on_watchdog_timer, notify.watchdog_ms,
                       notify.watchdog_ms);
        uv_unref((uv_handle_t *)&notify.watchdog_timer);
    }
    log_info("event=sd_notify socket=%s watchdog_ms=%" PRIu64, sock, notify.watchdog_ms);
}

void notify_ready(void)
{
    if (!notify.on)
        return;
    notify_with_status(notify.watchdog_ms ? "READY=1\nWATCHDOG=1" : "READY=1");
}

void notify_reloading(void)
{
    if (!notify.on)
        return;
    /* MONOTONIC_USEC is what Type=notify-reload (systemd 253) expects with
     * RELOADING=1; older managers ignore it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char head[80];
    snprintf(head, sizeof head, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
             (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
    notify_with_status(head);
}

void notify_reloaded(const char *failure)
{
    if (!notify.on)
        return;
    snprintf(notify.reload_failure, sizeof notify.reload_failure, "%s", failure ? failure : "");
    notify_with_status("READY=1");
}

void notify_stopping(void)
{
    if (!notify.on)
        return;
    notify_with_status("STOPPING=1");
}

void notify_start_failed(int err, const char *why)
{
    /* Called before notify_start(): sd_notify() checks NOTIFY_SOCKET itself. */
    int e = err == MC_ERR_CONFIG ? EINVAL : err == MC_ERR_NOMEM ? ENOMEM : EIO;
    char msg[NOTIFY_STATUS_MAX];
    snprintf(msg, sizeof msg, "STATUS=start failed: %s\nERRNO=%d", why, e);
    notify_send(msg);
}

const char *notify_build(void)
{
    return "libsystemd " MC_SYSTEMD_VERSION " (Type=notify, status, watchdog)";
}

#else /* !MC_HAVE_SYSTEMD */

/* Built without libsystemd: the unit must use Type=simple (see docs/admin.md). */
void notify_start(uv_loop_t *loop, notify_status_fn *status, void *ud)
{
    (void)loop;
    (void)status;
    (void)ud;
}

void notify_ready(void)
{
}

void notify_reloading(void)
{
}

void notify_reloaded(const char *failure)
{
    (void)failure;
}

void notify_stopping(void)
{
}

void notify_start_failed(int err, const char *why)
{
    (void)err;
    (void)why;
}

const char *notify_build(void)
{
    return "none (built without libsystemd: no Type=notify, use Type=simple)";
}

#endif
