/* What the sync files share (loop thread unless said otherwise). */
#ifndef MC_SYNC_INTERNAL_H
#define MC_SYNC_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "cred.h"
#include "job.h"
#include "odbc_db.h"
#include "sync_map.h"

#define SYNC_DIALECTS 2 /* sqlite, postgresql */

/* A mapping's statements, as loaded; shared by the jobs that started with it. */
struct sync_def {
    unsigned refs; /* loop thread */
    struct cfg_sync cfg;
    struct sync_map maps[SYNC_DIALECTS]; /* .n == 0: no file for that dialect */
};

struct sync_mapping;

struct sync_device {
    char id[129];
    char connection[CFG_NAME_MAX];
    int64_t technician;
    int revoked;
    uint64_t pull_noted_ms, push_noted_ms; /* last_pull_at, last_push_at last written */
};

/*
 * What a request knows of its device before its job runs (loop thread):
 * from the gateway's copy of the bindings when it has the device, else
 * the job reads the database (a device added since the last poll).
 */
struct sync_binding {
    int known;          /* technician is the copy's; the job skips the [device] lookup */
    int64_t technician; /* when known */
    int note;           /* write last_pull_at / last_push_at (at most once a minute) */
};

/* MC_ERR_REVOKED or MC_ERR_NOT_BOUND when the copy says so, else 0 with b filled. */
int sync_binding_of(struct sync_mapping *mp, const char *device, const char *connection, int push,
                    struct sync_binding *b);

/* One [sync NAME] section in use. */
struct sync_mapping {
    struct sync_mapping *next;
    char name[CFG_NAME_MAX];
    struct sync_def *def; /* current */
    pthread_mutex_t pool_lock;
    struct odbc_pool *pool; /* made by the first job; then fixed */
    /* The poller (loop thread, but for the job's own fields). */
    uv_timer_t timer;
    int polling;
    int64_t low; /* the next window of the change log starts here (0: not read yet) */
    int64_t devices_version;
    struct sync_device *devices;
    size_t ndevices;
    int devices_known;
    int last_failed; /* the last poll failed (logged once) */
};

struct sync_globals {
    uv_loop_t *loop;
    struct job_pool *pool;
    struct job_owner owner;
    struct cred_master master;
    int have_master;
    int started;
    struct odbc_limits limits; /* of the mappings' pools: [odbc] pool_min, pool_max, idle_timeout */
    struct sync_mapping *mappings;
};

extern struct sync_globals sync_g;

/* The mapping a connection names, or NULL. */
struct sync_mapping *sync_mapping_of(const struct cfg_connection *cfg);
void sync_def_hold(struct sync_def *d);
void sync_def_drop(struct sync_def *d);

/*
 * Worker thread: a database connection of the mapping's pool (made on
 * first use) and the statements for its dialect. 0 or MC_ERR_* in e.
 */
int sync_take(struct sync_mapping *mp, const struct sync_def *def, struct odbc_link **l,
              const struct sync_map **m, struct odbc_error *e);

/* A device's cached binding, or NULL. */
const struct sync_device *sync_device_find(const struct sync_mapping *mp, const char *id);
/* Tell the mapping's logged-in devices of technician that changes wait (loop thread). */
void sync_notify_technician(struct sync_mapping *mp, int64_t technician);

/* End the pulls whose client granted no credit for their stall_timeout (loop thread). */
void sync_pull_check_stalls(void);

/* The photo store (sync_photo.c, worker thread): see there. */
struct sync_photo {
    const char *file;      /* relative to the device's receive folder */
    const uint8_t *sha256; /* 32 bytes */
    const char *content_type;
    char stored[96]; /* out: the name in the store (hex.ext) */
    uint64_t size;   /* out */
};
int sync_photo_store(const struct cfg_connection *cfg, const char *device, const char *store_dir,
                     struct sync_photo *p, char *why, size_t cap);

#endif
