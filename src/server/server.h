/*
 * The daemon as a whole: configuration, listeners (one per active
 * [connection NAME] section), the TLS context, the list of live
 * connections, signals and the shutdown drain. Only the loop thread touches
 * any of it.
 */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "addrcount.h"
#include "config.h"
#include "job.h"
#include "login_ticket.h"
#include "psk.h"
#include "throttle.h"
#include "ticket.h"

struct conn;
typedef struct WOLFSSL_CTX WOLFSSL_CTX;

struct listener {
    uv_tcp_t tcp;
    struct server *srv;
    /* The listener's own copy of its [connection NAME] section, so that a
     * reload can swap the server's configuration under live connections. */
    struct cfg_connection conf;
    const struct cfg_connection *cfg; /* == &conf */
    uint8_t psk[PSK_KEY_SIZE];        /* encryption = aes256 */
};

struct auth_job;

struct server {
    uv_loop_t *loop;
    struct mc_config cfg;
    WOLFSSL_CTX *tls_ctx; /* certificate connections; swapped by a reload */
    WOLFSSL_CTX *psk_ctx; /* encryption = aes256 connections */
    struct ticket_keys tickets;
    struct login_keys login_keys;    /* login tickets (login_ticket.h) */
    struct throttle login_failures;  /* per address, across connections */
    struct addr_counts per_addr;     /* live connections and refusals per address (conn.c) */
    unsigned auth_pending;           /* password checks queued or running */
    struct auth_job *auth_wait_head; /* checks waiting for room in the pool (auth.c) */
    struct auth_job *auth_wait_tail;
    unsigned auth_waiting;
    uint64_t auth_check_ms;   /* a password check's run time, averaged (0: none yet) */
    struct job_owner jobs;    /* server-wide jobs: reload, expiry check */
    struct job_pool *hs_pool; /* TLS handshake steps (tls.c), one thread per core by default */
    char config_path[PATH_MAX];
    int pid_written;
    struct listener *listeners;
    size_t nlisteners;
    struct conn *conns; /* doubly linked list of live connections */
    unsigned nconns;    /* connections counted against the limits */
    unsigned nrefused;  /* connections being refused (limit error pending) */
    uint64_t next_conn_id;
    int draining;
    int reloading;    /* a reload is running on the worker pool */
    int reload_again; /* SIGHUP arrived during it: reload once more after */
    uv_signal_t sig_int, sig_term, sig_hup;
    uv_prepare_t flush_prepare; /* writes the output batches before the loop waits */
    struct conn *flush_list;    /* connections with an output batch */
    uv_timer_t grace_timer;
    uv_timer_t ticket_timer;    /* ticket-key rotation */
    uv_timer_t login_key_timer; /* login-ticket key rotation, every login_ticket_lifetime */
    uv_timer_t expiry_timer;    /* daily certificate expiry check */
    uv_timer_t sweep_timer;     /* hourly removal of abandoned partial uploads */
    int exit_code;
};

__attribute__((warn_unused_result)) int server_init(struct server *srv, const char *config_path);
/*
 * Reload certificate, key and configuration (on the worker pool); on any
 * error keep the running ones. The result is logged as event=reload.
 */
int server_reload(struct server *srv);
/*
 * Begin the same drain as SIGTERM (why names the cause in the log: a
 * signal, or the Windows service manager's stop). Loop thread only.
 */
void server_stop(struct server *srv, const char *why);
/* Run the loop until the drain after SIGINT/SIGTERM finishes; returns the exit code. */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* How often abandoned uploads are looked for (and once a second after start). */
#define SERVER_SWEEP_MS (3600u * 1000u)

/* The size of one socket read. */
#define SERVER_READ_SIZE 65536u

/* The read buffer for every connection (the loop thread consumes it at once). */
void server_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
/* A connection has an output batch to write before the loop waits (or no longer has one). */
void server_flush_later(struct server *srv, struct conn *c);
void server_flush_cancel(struct server *srv, struct conn *c);
/* Called by conn.c when a connection has been freed. */
void server_conn_gone(struct server *srv);
/* Connections beyond a limit still get an error frame, up to this many at once. */
#define SERVER_REFUSE_SLOTS        64u
#define SERVER_REFUSE_SLOTS_PER_IP 4u

#endif
