/*
 * The sync capability's shared state (loop thread): one struct
 * sync_mapping per [sync NAME] section in use, each with its statements,
 * its database pool, a cache of device bindings and a poller.
 *
 * The poller reads the change log every poll_interval seconds, one job on
 * the sync pool: the safe horizon, then the technicians whose interventions
 * changed in the window since the last look (CHANGES_AVAILABLE to their
 * devices), and the device bindings when their version moved (a revoked
 * device's live connections are closed). The cache serves HELLO, which
 * must not wait for the database; every SYNC_PULL and SYNC_PUSH reads the
 * binding from the database again.
 */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"
#include "sync.h"
#include "sync_db.h"
#include "sync_internal.h"

#define SYNC_QUEUE_MAX 1024u

static const char *const dialects[SYNC_DIALECTS] = {"sqlite", "postgresql"};

struct sync_globals sync_g;

/* Logged-in connections with the permission (for notices and revocations). */
struct sync_conn {
    struct sync_conn *next, *prev;
    struct conn *c;
    char mapping[CFG_NAME_MAX];
    char connection[CFG_NAME_MAX];
    char device[129];
};

static struct sync_conn *conns;

/* -- mappings and their statements ---------------------------------------------------------- */

void sync_def_hold(struct sync_def *d)
{
    d->refs++;
}

void sync_def_drop(struct sync_def *d)
{
    if (!d || --d->refs > 0)
        return;
    for (int i = 0; i < SYNC_DIALECTS; i++)
        sync_map_free(&d->maps[i]);
    free(d);
}

/* Read the mapping's files (at start, or on a worker after a reload). NULL with why. */
static struct sync_def *def_load(const struct cfg_sync *cfg, char *why, size_t cap)
{
    struct sync_def *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    int found = 0;
    for (int i = 0; i < SYNC_DIALECTS; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s.%s.sql", cfg->mapping, dialects[i]);
        if (access(path, F_OK) != 0)
            continue;
        if (sync_map_load(cfg->mapping, dialects[i], cfg->fields, &d->maps[i], why, cap) < 0) {
            d->refs = 1;
            sync_def_drop(d);
            return NULL;
        }
        found = 1;
    }
    if (!found) {
        snprintf(why, cap, "no %s.sqlite.sql or %s.postgresql.sql", cfg->mapping, cfg->mapping);
        free(d);
        return NULL;
    }
    d->refs = 1;
    return d;
}

struct sync_mapping *sync_mapping_of(const struct cfg_connection *cfg)
{
    if (!cfg->sync_mapping[0])
        return NULL;
    for (struct sync_mapping *mp = sync_g.mappings; mp; mp = mp->next)
        if (strcmp(mp->name, cfg->sync_mapping) == 0 && mp->def)
            return mp;
    return NULL;
}

int sync_take(struct sync_mapping *mp, const struct sync_def *def, struct odbc_link **l,
              const struct sync_map **m, struct odbc_error *e)
{
    pthread_mutex_lock(&mp->pool_lock);
    int rc = 0;
    if (!mp->pool) {
        rc = sync_db_pool(def->cfg.credential, sync_g.have_master ? &sync_g.master : NULL,
                          &sync_g.limits, &mp->pool, e);
    }
    struct odbc_pool *pool = mp->pool;
    pthread_mutex_unlock(&mp->pool_lock);
    if (rc < 0)
        return rc;
    if ((rc = odbc_link_take(pool, l, e)) < 0)
        return rc;
    const char *d = sync_dialect(odbc_link_dbms(*l));
    for (int i = 0; d && i < SYNC_DIALECTS; i++)
        if (strcmp(d, dialects[i]) == 0 && def->maps[i].n > 0) {
            *m = &def->maps[i];
            return 0;
        }
    e->code = MC_ERR_CONFIG;
    snprintf(e->msg, sizeof e->msg, "the mapping %s has no statements for this database (%s)",
             def->cfg.mapping, odbc_link_dbms(*l));
    odbc_link_give(*l);
    *l = NULL;
    return MC_ERR_CONFIG;
}

/* -- device cache and notices ----------------------------------------------------------------- */

const struct sync_device *sync_device_find(const struct sync_mapping *mp, const char *id)
{
    for (size_t i = 0; i < mp->ndevices; i++)
        if (strcmp(mp->devices[i].id, id) == 0)
            return &mp->devices[i];
    return NULL;
}

int sync_binding_of(struct sync_mapping *mp, const char *device, const char *connection, int push,
                    struct sync_binding *b)
{
    *b = (struct sync_binding){.note = 1};
    struct sync_device *d = (struct sync_device *)sync_device_find(mp, device);
    if (!d)
        return 0; /* not in the copy (yet): the job asks the database */
    if (strcmp(d->connection, connection) != 0)
        return MC_ERR_NOT_BOUND;
    if (d->revoked)
        return MC_ERR_REVOKED;
    b->known = 1;
    b->technician = d->technician;
    uint64_t now = uv_now(sync_g.loop);
    uint64_t *noted = push ? &d->push_noted_ms : &d->pull_noted_ms;
    b->note = *noted == 0 || now - *noted >= 60000u;
    if (b->note)
        *noted = now;
    return 0;
}

int sync_hello_check(const struct cfg_connection *cfg, const char *device)
{
    struct sync_mapping *mp = sync_mapping_of(cfg);
    if (!mp)
        return 0;
    const struct sync_device *d = sync_device_find(mp, device);
    if (d && d->revoked && strcmp(d->connection, cfg->name) == 0)
        return MC_ERR_REVOKED;
    return 0;
}

void sync_conn_attach(struct conn *c)
{
    const struct cfg_connection *cfg = op_conn_config(c);
    if (!cfg->sync_mapping[0])
        return;
    struct sync_conn *sc = calloc(1, sizeof *sc);
    if (!sc)
        return; /* no notices for it: it still pulls when it wants */
    sc->c = c;
    snprintf(sc->mapping, sizeof sc->mapping, "%s", cfg->sync_mapping);
    snprintf(sc->connection, sizeof sc->connection, "%s", cfg->name);
    snprintf(sc->device, sizeof sc->device, "%s", op_conn_device(c));
    sc->next = conns;
    if (conns)
        conns->prev = sc;
    conns = sc;
}

void sync_conn_detach(struct conn *c)
{
    for (struct sync_conn *sc = conns; sc; sc = sc->next) {
        if (sc->c != c)
            continue;
        if (sc->prev)
            sc->prev->next = sc->next;
        else
            conns = sc->next;
        if (sc->next)
            sc->next->prev = sc->prev;
        free(sc);
        return;
    }
}

void sync_notify_technician(struct sync_mapping *mp, int64_t technician)
{
    for (struct sync_conn *sc = conns; sc; sc = sc->next) {
        if (strcmp(sc->mapping, mp->name) != 0)
            continue;
        const struct sync_device *d = sync_device_find(mp, sc->device);
        if (d && !d->revoked && d->technician == technician &&
            strcmp(d->connection, sc->connection) == 0)
            op_conn_notice(sc->c, MC_NOTICE_CHANGES_AVAILABLE,
                           "interventions changed: pull (SYNC_PULL)");
    }
}

/* Close the live connections of devices now revoked. */
static void close_revoked(struct sync_mapping *mp)
{
    struct sync_conn *sc = conns;
    while (sc) {
        struct sync_conn *next = sc->next;
        const struct sync_device *d =
            strcmp(sc->mapping, mp->name) == 0 ? sync_device_find(mp, sc->device) : NULL;
        if (d && d->revoked && strcmp(d->connection, sc->connection) == 0) {
            op_conn_log(sc->c, LOG_LVL_WARN, "event=sync_revoked device=\"%s\" action=closed",
                        sc->device);
            op_conn_close(sc->c, MC_ERR_REVOKED, "this device was revoked by the administrator");
        }
        sc = next;
    }
}

/* -- the poller ---------------------------------------------------------------------------------
 */

struct poll_job {
    struct job job;
    struct sync_mapping *mp;
    struct sync_def *def;
    int64_t low, high, devices_version;
    int64_t known_version;
    int devices_known;
    int64_t *technicians;
    size_t ntechnicians;
    struct sync_device *devices;
    size_t ndevices;
    int devices_read;
    int rc;
    struct odbc_error err;
};

static void poll_work(struct job *j)
{
    struct poll_job *p = (struct poll_job *)j;
    struct odbc_link *l;
    const struct sync_map *m;
    if ((p->rc = sync_take(p->mp, p->def, &l, &m, &p->err)) < 0)
        return;
    struct buf rows;
    buf_init(&rows, 1u << 20);
    uint64_t n = 0;
    if ((p->rc = sync_db_scalar(l, m, "horizon", NULL, 0, &p->high, &p->err)) < 0)
        goto out;
    if (p->low > 0 && p->high > p->low) {
        struct sync_bind b[] = {{"low", sync_int(p->low)}, {"high", sync_int(p->high)}};
        if ((p->rc = sync_db_run(l, m, "changed", b, 2, NULL, &rows, &n, NULL, &p->err)) < 0)
            goto out;
        p->technicians = calloc(n ? n : 1, sizeof *p->technicians);
        size_t off = 0;
        struct odbc_value v;
        while (p->technicians && p->ntechnicians < n && sync_db_row(&rows, &off, 1, &v) == 0)
            if (v.tag == MC_VALUE_INT)
                p->technicians[p->ntechnicians++] = v.i;
    }
    if ((p->rc = sync_db_scalar(l, m, "devices_version", NULL, 0, &p->devices_version, &p->err)) <
        0)
        goto out;
    if (!p->devices_known || p->devices_version != p->known_version) {
        buf_consume(&rows, buf_len(&rows));
        if ((p->rc = sync_db_run(l, m, "devices", NULL, 0, NULL, &rows, &n, NULL, &p->err)) < 0)
            goto out;
        p->devices = calloc(n ? n : 1, sizeof *p->devices);
        size_t off = 0;
        struct odbc_value v[4];
        while (p->devices && p->ndevices < n && sync_db_row(&rows, &off, 4, v) == 0) {
            struct sync_device *d = &p->devices[p->ndevices];
            if (v[0].tag != MC_VALUE_TEXT || v[1].tag != MC_VALUE_TEXT || v[2].tag != MC_VALUE_INT)
                continue;
            snprintf(d->id, sizeof d->id, "%.*s", (int)v[0].len, (const char *)v[0].p);
            snprintf(d->connection, sizeof d->connection, "%.*s", (int)v[1].len,
                     (const char *)v[1].p);
            d->technician = v[2].i;
            d->revoked = v[3].tag == MC_VALUE_INT && v[3].i != 0;
            p->ndevices++;
        }
        p->devices_read = p->devices != NULL;
    }
out:
    buf_free(&rows);
    odbc_link_give(l);
}

static void poll_done(struct job *j, int status)
{
    struct poll_job *p = (struct poll_job *)j;
    struct sync_mapping *mp = p->mp;
    mp->polling = 0;
    if (status == 0 && p->rc == 0) {
        if (mp->last_failed)
            log_info("event=sync_poll mapping=%s result=ok note=\"the database is back\"",
                     mp->name);
        mp->last_failed = 0;
        if (p->devices_read) {
            free(mp->devices);
            mp->devices = p->devices;
            mp->ndevices = p->ndevices;
            p->devices = NULL;
            mp->devices_known = 1;
            mp->devices_version = p->devices_version;
            close_revoked(mp);
        }
        for (size_t i = 0; i < p->ntechnicians; i++)
            sync_notify_technician(mp, p->technicians[i]);
        if (p->high > mp->low)
            mp->low = p->high;
    } else if (status == 0 && !mp->last_failed) {
        mp->last_failed = 1;
        log_warn("event=sync_poll mapping=%s result=%s reason=\"%s\"", mp->name, mc_err_name(p->rc),
                 p->err.msg);
    }
    free(p->technicians);
    free(p->devices);
    sync_def_drop(p->def);
    free(p);
}

static void on_poll(uv_timer_t *t)
{
    struct sync_mapping *mp = t->data;
    sync_pull_check_stalls();
    if (mp->polling || !sync_g.pool)
        return;
    struct poll_job *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->job.work = poll_work;
    p->job.done = poll_done;
    p->mp = mp;
    p->def = mp->def;
    sync_def_hold(p->def);
    p->low = mp->low;
    p->known_version = mp->devices_version;
    p->devices_known = mp->devices_known;
    mp->polling = 1;
    if (job_submit(sync_g.loop, sync_g.pool, &p->job, &sync_g.owner) < 0) {
        mp->polling = 0;
        sync_def_drop(p->def);
        free(p);
    }
}

/* -- start, reload, stop ------------------------------------------------------------------------
 */

static struct sync_mapping *mapping_find(const char *name)
{
    for (struct sync_mapping *mp = sync_g.mappings; mp; mp = mp->next)
        if (strcmp(mp->name, name) == 0)
            return mp;
    return NULL;
}

static void mapping_start(const struct cfg_sync *cfg, struct sync_def *def)
{
    struct sync_mapping *mp = mapping_find(cfg->name);
    if (mp) {
        sync_def_drop(mp->def);
        mp->def = def;
        uv_timer_set_repeat(&mp->timer, (uint64_t)cfg->poll_interval * 1000u);
        return;
    }
    mp = calloc(1, sizeof *mp);
    if (!mp) {
        sync_def_drop(def);
        return;
    }
    snprintf(mp->name, sizeof mp->name, "%s", cfg->name);
    mp->def = def;
    pthread_mutex_init(&mp->pool_lock, NULL);
    uv_timer_init(sync_g.loop, &mp->timer);
    mp->timer.data = mp;
    /* At once: HELLO needs the device cache, and the change log's horizon. */
    uv_timer_start(&mp->timer, on_poll, 0, (uint64_t)cfg->poll_interval * 1000u);
    uv_unref((uv_handle_t *)&mp->timer);
    mp->next = sync_g.mappings;
    sync_g.mappings = mp;
}

/* The sections active connections use. */
static int in_use(const struct mc_config *cfg, const struct cfg_sync *s)
{
    for (size_t i = 0; i < cfg->nconns; i++)
        if (cfg->conns[i].active && (cfg->conns[i].perms & MC_PERM_SYNC) &&
            strcmp(cfg->conns[i].sync_mapping, s->name) == 0)
            return 1;
    return 0;
}

static int ensure_started(const struct mc_config *cfg)
{
    if (sync_g.started)
        return 0;
    int needed = 0;
    for (size_t i = 0; i < cfg->nsyncs; i++)
        needed |= in_use(cfg, &cfg->syncs[i]);
    if (!needed)
        return 0;
    if (odbc_db_init(cfg->odbc_ini_dir) < 0) {
        log_error("event=sync_start error=\"cannot set up the ODBC environment (unixODBC)\"");
        return MC_ERR_INTERNAL;
    }
    const char *why = NULL;
    if (cred_master_key_load(cfg->data_dir, 1, &sync_g.master, &why) < 0)
        log_warn("event=sync_start warning=\"no master key for credential files: %s\"",
                 why ? why : "unknown");
    else
        sync_g.have_master = 1;
    /* As many threads and database connections as the ODBC side: [odbc] threads, pool_*. */
    sync_g.limits = (struct odbc_limits){.pool_min = cfg->odbc_pool_min,
                                         .pool_max = cfg->odbc_pool_max,
                                         .idle_timeout_s = cfg->odbc_idle_timeout,
                                         .wait_ms = 10000};
    int rc = job_pool_start(sync_g.loop, "sync", cfg->odbc_threads, SYNC_QUEUE_MAX, &sync_g.pool);
    if (rc < 0) {
        log_error("event=sync_start error=\"cannot start the sync threads\"");
        return rc;
    }
    sync_g.started = 1;
    return 0;
}

int sync_start(uv_loop_t *loop, const struct mc_config *cfg)
{
    sync_g.loop = loop;
    for (size_t i = 0; i < cfg->nconns; i++)
        if (cfg->conns[i].active && (cfg->conns[i].perms & MC_PERM_SYNC) &&
            !cfg->conns[i].sync_mapping[0])
            log_warn("event=sync_start connection=%s warning=\"sync = on without sync_mapping: "
                     "SYNC_PULL and SYNC_PUSH are refused (NOT_ALLOWED)\"",
                     cfg->conns[i].name);
    int rc = ensure_started(cfg);
    if (rc < 0 || !sync_g.started)
        return rc;
    for (size_t i = 0; i < cfg->nsyncs; i++) {
        if (!in_use(cfg, &cfg->syncs[i]))
            continue;
        char why[512];
        struct sync_def *def = def_load(&cfg->syncs[i], why, sizeof why);
        if (!def) {
            log_error("event=sync_start mapping=%s error=\"%s\"", cfg->syncs[i].name, why);
            return MC_ERR_CONFIG;
        }
        mapping_start(&cfg->syncs[i], def);
        log_info("event=sync_start mapping=%s statements=%s fields=\"%s\" conflict_policy=%s "
                 "poll_interval=%u",
                 cfg->syncs[i].name, cfg->syncs[i].mapping, cfg->syncs[i].fields,
                 cfg->syncs[i].conflict_policy == CFG_CONFLICT_REJECT        ? "reject"
                 : cfg->syncs[i].conflict_policy == CFG_CONFLICT_SERVER_WINS ? "server_wins"
                                                                             : "client_wins",
                 cfg->syncs[i].poll_interval);
    }
    return 0;
}

/* A reload reads the mapping files on a worker; the loop swaps them in. */
struct reload_job {
    struct job job;
    struct cfg_sync *cfgs;
    size_t n;
    struct sync_def **defs;
    char why[512];
    int failed;
};

static void reload_work(struct job *j)
{
    struct reload_job *r = (struct reload_job *)j;
    for (size_t i = 0; i < r->n && !r->failed; i++)
        if (!(r->defs[i] = def_load(&r->cfgs[i], r->why, sizeof r->why)))
            r->failed = 1;
}

static void reload_done(struct job *j, int status)
{
    struct reload_job *r = (struct reload_job *)j;
    for (size_t i = 0; i < r->n; i++) {
        if (status == 0 && !r->failed)
            mapping_start(&r->cfgs[i], r->defs[i]);
        else
            sync_def_drop(r->defs[i]);
    }
    if (status == 0 && r->failed)
        log_error("event=sync_reload result=failed reason=\"%s\" action=\"kept the running "
                  "statements\"",
                  r->why);
    free(r->cfgs);
    free(r->defs);
    free(r);
}

void sync_reconfigure(const struct mc_config *cfg)
{
    if (ensure_started(cfg) < 0 || !sync_g.started)
        return;
    struct reload_job *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->cfgs = calloc(cfg->nsyncs ? cfg->nsyncs : 1, sizeof *r->cfgs);
    r->defs = calloc(cfg->nsyncs ? cfg->nsyncs : 1, sizeof *r->defs);
    for (size_t i = 0; r->cfgs && r->defs && i < cfg->nsyncs; i++)
        if (in_use(cfg, &cfg->syncs[i]))
            r->cfgs[r->n++] = cfg->syncs[i];
    r->job.work = reload_work;
    r->job.done = reload_done;
    if (!r->cfgs || !r->defs || job_submit(sync_g.loop, NULL, &r->job, &sync_g.owner) < 0) {
        free(r->cfgs);
        free(r->defs);
        free(r);
    }
}

void sync_stop(void)
{
    if (!sync_g.started)
        return;
    for (struct sync_mapping *mp = sync_g.mappings; mp; mp = mp->next) {
        uv_timer_stop(&mp->timer);
        uv_close((uv_handle_t *)&mp->timer, NULL);
    }
    job_pool_stop(sync_g.pool);
    sync_g.pool = NULL;
    sync_g.started = 0;
}

void sync_free(void)
{
    while (sync_g.mappings) {
        struct sync_mapping *mp = sync_g.mappings;
        sync_g.mappings = mp->next;
        if (mp->pool)
            odbc_pool_put(mp->pool);
        pthread_mutex_destroy(&mp->pool_lock);
        sync_def_drop(mp->def);
        free(mp->devices);
        free(mp);
    }
    while (conns) {
        struct sync_conn *sc = conns;
        conns = sc->next;
        free(sc);
    }
    if (sync_g.have_master)
        cred_master_wipe(&sync_g.master);
    sync_g.have_master = 0;
}
