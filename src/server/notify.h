/*
 * Service manager notification: systemd's Type=notify protocol, through
 * libsystemd's sd_notify() (sd_notify(3)).
 *
 *   start          READY=1 + STATUS=       once the listeners are up
 *   every second   STATUS=                 when the text changed
 *   WATCHDOG_USEC/2  WATCHDOG=1            from a loop timer: a stuck loop misses it
 *   SIGHUP         RELOADING=1 ... READY=1 around the reload job
 *   SIGTERM        STOPPING=1              when the drain starts
 *   start failure  STATUS= + ERRNO=        before exiting
 *
 * Nothing here runs unless NOTIFY_SOCKET is set (systemd started the
 * daemon, or a test listens as it would): every function returns at once,
 * and no timer is started. Built without libsystemd (no MC_HAVE_SYSTEMD)
 * every function does nothing; notify_build() says so.
 *
 * The service manager talks to the process, not to one server, so the
 * state is the module's own (one per process). Loop thread only.
 */
#ifndef MC_NOTIFY_H
#define MC_NOTIFY_H

#include <stddef.h>
#include <uv.h>

/* Writes the one-line status (connections, listeners) into buf. */
typedef void notify_status_fn(void *ud, char *buf, size_t cap);

/*
 * Read NOTIFY_SOCKET and the watchdog settings (WATCHDOG_USEC, and
 * WATCHDOG_PID when set); when notifying, start the status timer and, when
 * the watchdog is on, the watchdog timer on loop. Both timers are unref'd:
 * they never keep the loop alive.
 */
void notify_start(uv_loop_t *loop, notify_status_fn *status, void *ud);
/* READY=1 with the current status (and a first WATCHDOG=1). */
void notify_ready(void);
/* RELOADING=1: a reload job has been queued. */
void notify_reloading(void);
/* READY=1 after a reload; failure is NULL, or why it was refused (kept in the status). */
void notify_reloaded(const char *failure);
/* STOPPING=1: the drain has started. */
void notify_stopping(void);
/* The daemon cannot start: STATUS= with why, ERRNO= for mc_err err. */
void notify_start_failed(int err, const char *why);
/* How notification was built, for miscommd --version. */
const char *notify_build(void);

#endif
