/*
 * sync_load: intervention sync load for bench/sync.sh, through miscommd
 * (libmiscomm, docs/protocol.md 5.16) or straight to the database over
 * unixODBC (the floor: the same SQL the gateway's mapping runs,
 * conf/sync/servicedesk.postgresql.sql). Arguments are KEY=VALUE:
 *
 *   sync_load pull miscomm port= cert= pw= device= dsn= user= dbpw= tech= [full= incr=
 *                          changes= page= rows=]
 *   sync_load pull odbc    dsn= user= dbpw= tech= [full= incr= changes= page= rows=]
 *       One untimed full pull (warm-up), then `full` timed full pulls
 *       (default 5), each from the beginning until the last page, then
 *       `incr` timed incremental pulls (default 10): before each, untimed,
 *       the office changes `changes` (default 100) random interventions of
 *       technician `tech` (report, version + 1, updated_at, one UPDATE on
 *       a connection of its own, as mobilesvc, autocommit), then the pull
 *       runs from where the last one ended and must return exactly those.
 *       miscomm: mc_sync_pull() with limit `page` (0, the default: the
 *       server's 1000, as mc_sync_store_pull() asks) and the cursor each
 *       page returns, as device `device` (bound to `tech`).
 *       odbc: the mapping's [horizon] SELECT, then its [pull] SELECT for
 *       the window [low, horizon), page by page with LIMIT page + 1 and
 *       the last seq as `after`, every column fetched with SQLGetData in
 *       the C type the gateway uses (BIGINT, TIMESTAMP, text); a full pull
 *       has low 0, an incremental one the horizon of the previous pull.
 *       `rows`: the rows a full pull must return (checked when given).
 *   sync_load push miscomm port= cert= pw= device= clients= seconds=
 *   sync_load push odbc    dsn= user= dbpw= tech= clients= seconds=
 *       `clients` threads (each its own connection) push single-field
 *       operations for `seconds`: time_spent_minutes + 1 on the next of
 *       the client's interventions in turn, from the value and version
 *       last seen. miscomm: client i logs in as device DEVICE-%02d (i + 1)
 *       and pulls its interventions first (untimed), then one mc_sync_push()
 *       of one UPDATE per push, checked APPLIED with version + 1.
 *       odbc: client i works on technician tech + i's interventions, on a
 *       connection in manual-commit mode, per push: the mapping's [row]
 *       SELECT ... FOR UPDATE, its [apply] UPDATE (all eight mapped fields
 *       bound, as the gateway binds them, with the version guard; one row
 *       affected is checked), its [op_put] INSERT of the operation's
 *       record, SQLEndTran(COMMIT).
 *
 * Prints one line of KEY=VALUE. pull: full_p50_ms, full_min_ms,
 * full_max_ms, rows, pages, incr_p50_ms, incr_min_ms, incr_max_ms,
 * incr_rows, and per pull the CPU time in ms of this process
 * (full_cpu_client_ms, incr_cpu_client_ms) and of each watched process
 * (full_cpu_NAME_ms...), counted over the timed spans only. push: clients,
 * pushes, seconds, pps, p50_ms, p99_ms, mean_ms, max_ms, client_cpu_s and
 * cpu_NAME (seconds, over the run), as odbc_load prints them.
 *
 * What the database wrote, exactly: around the timed spans a connection of
 * its own (dsn=, user=, dbpw=; for push miscomm only when given) reads the
 * next transaction id and the WAL position (read-only: it takes no id
 * itself). xids: transaction ids assigned meanwhile, that is transactions
 * that wrote (and subtransactions: psqlODBC runs each statement of an
 * explicit transaction under a savepoint); wal: WAL bytes. pull: full_xids,
 * full_wal_bytes, incr_xids, incr_wal_bytes per pull; push: xids and
 * wal_bytes over the run, and wal_start and wal_end, the WAL positions
 * (bytes) around it, for pg_waldump. Anything else writing meanwhile
 * (autovacuum's analyze) counts too.
 *
 * SYNC_LOAD_WATCH="NAME=PID NAME=PID+ ..." names the processes whose CPU
 * time to count, '+' with their children (PostgreSQL's postmaster and its
 * backends), as ODBC_LOAD_WATCH does for odbc_load.
 *
 * A bench helper built by the script, not part of the product.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sql.h>
#include <sqlext.h>

#include "miscomm/client.h"
#include "miscomm/sync.h"

/* The mapping's statements (conf/sync/servicedesk.postgresql.sql), word for word. */
static const char *const SQL_HORIZON =
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";
static const char *const SQL_PULL =
    "SELECT c.seq, c.intervention_id AS id, i.version, i.ticket_id, i.status,\n"
    "       i.planned_start, i.planned_end, i.actual_start, i.actual_end,\n"
    "       i.time_spent_minutes, i.travel_minutes, i.report, i.signatory_name,\n"
    "       i.signature_file, i.signed_at, i.updated_at,\n"
    "       t.number AS ticket_number, t.kind AS ticket_kind, t.title AS ticket_title,\n"
    "       t.description AS ticket_description, t.priority AS ticket_priority,\n"
    "       s.name AS site_name, s.address AS site_address, s.city AS site_city,\n"
    "       r.code AS room_code, r.name AS room_name,\n"
    "       a.asset_tag, a.kind AS asset_kind, a.model AS asset_model, a.serial_number AS "
    "asset_serial\n"
    "FROM (SELECT intervention_id, MAX(seq) AS seq FROM miscomm_sync_changes\n"
    "      WHERE technician_id = ? AND txid >= ? AND txid < ? GROUP BY intervention_id) c\n"
    "LEFT JOIN interventions i ON i.id = c.intervention_id AND i.technician_id = ?\n"
    "LEFT JOIN tickets t ON t.id = i.ticket_id\n"
    "LEFT JOIN sites s ON s.id = t.site_id\n"
    "LEFT JOIN rooms r ON r.id = t.room_id\n"
    "LEFT JOIN assets a ON a.id = t.asset_id\n"
    "WHERE c.seq > ? AND (i.id IS NOT NULL OR ? > 0)\n"
    "ORDER BY c.seq\n"
    "LIMIT ?";
static const char *const SQL_ROW =
    "SELECT id, version, technician_id, status, actual_start, actual_end, time_spent_minutes,\n"
    "       report, signatory_name, signature_file, signed_at\n"
    "FROM interventions WHERE id = ? FOR UPDATE";
static const char *const SQL_APPLY =
    "UPDATE interventions\n"
    "SET status = ?, actual_start = ?, actual_end = ?, time_spent_minutes = ?, report = ?,\n"
    "    signatory_name = ?, signature_file = ?, signed_at = ?,\n"
    "    version = version + 1, updated_at = (now() AT TIME ZONE 'UTC')::timestamp(0)\n"
    "WHERE id = ? AND version = ?";
static const char *const SQL_OP_PUT =
    "INSERT INTO miscomm_sync_ops (op_id, device_id, intervention_id, result, flags, code, "
    "message, version)\n"
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
/* The office: not the gateway's, what a service-desk user's edit does. */
static const char *const SQL_OFFICE =
    "UPDATE interventions SET report = ?, version = version + 1,"
    " updated_at = (now() AT TIME ZONE 'UTC')::timestamp(0)"
    " WHERE id IN (SELECT id FROM interventions WHERE technician_id = ?"
    " ORDER BY random() LIMIT ?)";
static const char *const SQL_PROBE = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
                                     " (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";
static const char *const SQL_MINE =
    "SELECT id FROM interventions WHERE technician_id = ? ORDER BY id";

#define WARMUP_PUSHES 10
#define TEXT_CHUNK    65536

enum side { SIDE_MISCOMM, SIDE_ODBC };

static struct {
    enum side side;
    unsigned port;
    char fp[96];
    const char *device, *dsn, *user;
    char pw[256], dbpw[256];
    int64_t tech;
    unsigned full, incr, changes, page, clients;
    uint64_t rows;
    double seconds;
    SQLHENV env;
    /* The start line of the push threads. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned ready;
    int go, abort;
    double t0;
} g = {.full = 5,
       .incr = 10,
       .changes = 100,
       .clients = 1,
       .seconds = 10,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .cond = PTHREAD_COND_INITIALIZER};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* -- the servers' CPU time (as odbc_load.c) ------------------------------------------------ */

#define WATCH_MAX 8

static struct watch {
    char name[32];
    long pid;
    int children;
    double start, cpu;
} watch[WATCH_MAX];
static size_t nwatch;

/* utime + stime of a process (all its threads), plus cutime + cstime with kids, in seconds. */
static double proc_cpu(long pid, int kids)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return 0;
    /* After ") ": field 3 (state) onwards; utime is field 14. */
    unsigned long long v[4] = {0};
    int field = 2;
    char *save = NULL;
    for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        field++;
        if (field >= 14 && field <= 17)
            v[field - 14] = strtoull(t, NULL, 10);
        if (field == 17)
            break;
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    double cpu = (double)(v[0] + v[1]) / hz;
    if (!kids)
        return cpu;
    cpu += (double)(v[2] + v[3]) / hz;
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
    if ((f = fopen(path, "r")) != NULL) {
        long child;
        while (fscanf(f, "%ld", &child) == 1)
            cpu += proc_cpu(child, 0);
        fclose(f);
    }
    return cpu;
}

static void watch_parse(const char *spec)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec ? spec : "");
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t && nwatch < WATCH_MAX;
         t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        if (!eq)
            continue;
        struct watch *x = &watch[nwatch++];
        snprintf(x->name, sizeof x->name, "%.*s", (int)(eq - t), t);
        char *end = NULL;
        x->pid = strtol(eq + 1, &end, 10);
        x->children = end && *end == '+';
    }
}

static void watch_start(void)
{
    for (size_t i = 0; i < nwatch; i++)
        watch[i].start = proc_cpu(watch[i].pid, watch[i].children);
}

/* Adds what each watched process spent since watch_start() to acc[i]. */
static void watch_add(double *acc)
{
    for (size_t i = 0; i < nwatch; i++)
        acc[i] += proc_cpu(watch[i].pid, watch[i].children) - watch[i].start;
}

/* -- ODBC ------------------------------------------------------------------------------------ */

static char errbuf[1024];

static void odbc_err(char *out, size_t cap, const char *what, SQLSMALLINT type, SQLHANDLE hd)
{
    SQLCHAR state[6] = "?????", text[600] = "";
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    if (hd)
        SQLGetDiagRec(type, hd, 1, state, &native, text, (SQLSMALLINT)sizeof text, &len);
    snprintf(out, cap, "%s: SQLSTATE %s: %s", what, (const char *)state, (const char *)text);
}

#define ODBC_TRY(call, what, type, h, out, cap)                                                    \
    do {                                                                                           \
        if (!SQL_SUCCEEDED(call)) {                                                                \
            odbc_err(out, cap, what, type, h);                                                     \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static int odbc_connect(SQLHDBC *dbc, int autocommit, char *err, size_t cap)
{
    char cs[1024];
    snprintf(cs, sizeof cs, "DSN=%s;UID=%s;PWD={%s};", g.dsn, g.user, g.dbpw);
    ODBC_TRY(SQLAllocHandle(SQL_HANDLE_DBC, g.env, dbc), "SQLAllocHandle(DBC)", SQL_HANDLE_ENV,
             g.env, err, cap);
    ODBC_TRY(
        SQLDriverConnect(*dbc, NULL, (SQLCHAR *)cs, SQL_NTS, NULL, 0, NULL, SQL_DRIVER_NOPROMPT),
        "SQLDriverConnect", SQL_HANDLE_DBC, *dbc, err, cap);
    if (!autocommit)
        ODBC_TRY(SQLSetConnectAttr(*dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0),
                 "autocommit off", SQL_HANDLE_DBC, *dbc, err, cap);
    return 0;
}

static void odbc_disconnect(SQLHDBC dbc)
{
    if (!dbc)
        return;
    SQLDisconnect(dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, dbc);
}

static int odbc_prepare(SQLHDBC dbc, SQLHSTMT *st, const char *sql, char *err, size_t cap)
{
    ODBC_TRY(SQLAllocHandle(SQL_HANDLE_STMT, dbc, st), "SQLAllocHandle(STMT)", SQL_HANDLE_DBC, dbc,
             err, cap);
    ODBC_TRY(SQLPrepare(*st, (SQLCHAR *)sql, SQL_NTS), "SQLPrepare", SQL_HANDLE_STMT, *st, err,
             cap);
    return 0;
}

static int bind_int(SQLHSTMT st, SQLUSMALLINT n, SQLBIGINT *v, SQLLEN *ind, char *err, size_t cap)
{
    ODBC_TRY(SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0, v, 0, ind),
             "SQLBindParameter", SQL_HANDLE_STMT, st, err, cap);
    return 0;
}

/* The office's edit: `changes` interventions of the technician, one statement, autocommit. */
struct office {
    SQLHDBC dbc;
    SQLHSTMT st;
    char report[64];
    SQLLEN report_ind, ind2, ind3;
    SQLBIGINT tech, limit;
    unsigned n;
};

static int office_open(struct office *o)
{
    if (odbc_connect(&o->dbc, 1, errbuf, sizeof errbuf) < 0 ||
        odbc_prepare(o->dbc, &o->st, SQL_OFFICE, errbuf, sizeof errbuf) < 0)
        return -1;
    o->tech = g.tech;
    o->limit = g.changes;
    ODBC_TRY(SQLBindParameter(o->st, 1, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, sizeof o->report,
                              0, o->report, sizeof o->report, &o->report_ind),
             "SQLBindParameter", SQL_HANDLE_STMT, o->st, errbuf, sizeof errbuf);
    if (bind_int(o->st, 2, &o->tech, &o->ind2, errbuf, sizeof errbuf) < 0 ||
        bind_int(o->st, 3, &o->limit, &o->ind3, errbuf, sizeof errbuf) < 0)
        return -1;
    return 0;
}

static int office_edit(struct office *o)
{
    snprintf(o->report, sizeof o->report, "office edit %u (pid %ld)", ++o->n, (long)getpid());
    o->report_ind = (SQLLEN)strlen(o->report);
    ODBC_TRY(SQLExecute(o->st), "office UPDATE", SQL_HANDLE_STMT, o->st, errbuf, sizeof errbuf);
    SQLLEN n = 0;
    SQLRowCount(o->st, &n);
    SQLFreeStmt(o->st, SQL_CLOSE);
    if (n != (SQLLEN)g.changes) {
        snprintf(errbuf, sizeof errbuf, "the office UPDATE changed %ld rows, not %u", (long)n,
                 g.changes);
        return -1;
    }
    return 0;
}

static void office_close(struct office *o)
{
    if (o->st)
        SQLFreeHandle(SQL_HANDLE_STMT, o->st);
    odbc_disconnect(o->dbc);
}

/* The next transaction id and the WAL position, on a connection of its own. */
struct probe {
    SQLHDBC dbc;
    SQLHSTMT st;
    SQLBIGINT xid, wal;
    SQLLEN i1, i2;
};

static int probe_open(struct probe *p)
{
    if (odbc_connect(&p->dbc, 1, errbuf, sizeof errbuf) < 0 ||
        odbc_prepare(p->dbc, &p->st, SQL_PROBE, errbuf, sizeof errbuf) < 0)
        return -1;
    ODBC_TRY(SQLBindCol(p->st, 1, SQL_C_SBIGINT, &p->xid, 0, &p->i1), "SQLBindCol", SQL_HANDLE_STMT,
             p->st, errbuf, sizeof errbuf);
    ODBC_TRY(SQLBindCol(p->st, 2, SQL_C_SBIGINT, &p->wal, 0, &p->i2), "SQLBindCol", SQL_HANDLE_STMT,
             p->st, errbuf, sizeof errbuf);
    return 0;
}

static int probe_read(struct probe *p, int64_t *xid, int64_t *wal)
{
    ODBC_TRY(SQLExecute(p->st), "probe", SQL_HANDLE_STMT, p->st, errbuf, sizeof errbuf);
    ODBC_TRY(SQLFetch(p->st), "probe fetch", SQL_HANDLE_STMT, p->st, errbuf, sizeof errbuf);
    SQLFreeStmt(p->st, SQL_CLOSE);
    *xid = p->xid;
    *wal = p->wal;
    return 0;
}

static void probe_close(struct probe *p)
{
    if (p->st)
        SQLFreeHandle(SQL_HANDLE_STMT, p->st);
    odbc_disconnect(p->dbc);
}

/* -- statistics ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median (the lower middle value for an even count) of n values, sorted in place. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n ? v[(n - 1) / 2] : 0;
}

/* -- pull -------------------------------------------------------------------------------------- */

struct pull_stats {
    uint64_t rows, pages;
};

/* One pull on either side, from the side's position to the last page. */
struct puller {
    /* miscomm */
    mc_client *c;
    uint8_t cursor[MC_SYNC_MAX_CURSOR];
    size_t cursor_len;
    /* odbc */
    SQLHDBC dbc;
    SQLHSTMT hz, pull;
    SQLBIGINT p[7];
    SQLLEN ind[7];
    SQLBIGINT high;
    SQLLEN high_ind;
    int64_t low; /* the next window starts here (the last pull's horizon) */
    char *text;
};

struct pull_count {
    uint64_t rows;
    int bad;
};

static int on_pull_row(void *ud, const struct mc_value *v, size_t ncols)
{
    struct pull_count *k = ud;
    k->rows++;
    if (ncols < 4 || v[1].type != MC_VALUE_INT || v[2].type != MC_VALUE_INT)
        k->bad = 1; /* no tombstones in this benchmark */
    return 0;
}

static int gw_login(mc_client **out, const char *device)
{
    struct mc_client_options opt = {
        .host = "127.0.0.1", .port = g.port, .fingerprint = g.fp, .timeout_ms = 120000};
    struct mc_hello_params hp = {.client_name = "bench-sync",
                                 .client_version = "1",
                                 .device_id = device,
                                 .password = g.pw,
                                 .password_len = strlen(g.pw)};
    struct mc_session sess;
    int rc = mc_client_new(out, &opt);
    if (rc == 0)
        rc = mc_connect(*out);
    for (int tries = 0; rc == 0; tries++) {
        rc = mc_hello(*out, &hp, &sess);
        if (rc != MC_ERR_BUSY || tries == 50)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 200000000L}, NULL);
        rc = 0;
    }
    return rc;
}

static int gw_pull(struct puller *pl, struct pull_stats *st)
{
    static const struct mc_sync_pull_callbacks cb = {.row = on_pull_row};
    for (;;) {
        struct pull_count k = {0};
        struct mc_sync_page page;
        int rc = mc_sync_pull(pl->c, pl->cursor, pl->cursor_len, g.page, &cb, &k, &page);
        if (rc < 0) {
            snprintf(errbuf, sizeof errbuf, "mc_sync_pull: %s", mc_client_errmsg(pl->c));
            return -1;
        }
        if (k.bad || k.rows != page.rows) {
            snprintf(errbuf, sizeof errbuf, "mc_sync_pull: a tombstone or a malformed row");
            return -1;
        }
        memcpy(pl->cursor, page.cursor, page.cursor_len);
        pl->cursor_len = page.cursor_len;
        st->rows += page.rows;
        st->pages++;
        if (!page.more)
            return 0;
    }
}

static int d_pull_open(struct puller *pl)
{
    if (odbc_connect(&pl->dbc, 1, errbuf, sizeof errbuf) < 0 ||
        odbc_prepare(pl->dbc, &pl->hz, SQL_HORIZON, errbuf, sizeof errbuf) < 0 ||
        odbc_prepare(pl->dbc, &pl->pull, SQL_PULL, errbuf, sizeof errbuf) < 0)
        return -1;
    ODBC_TRY(SQLBindCol(pl->hz, 1, SQL_C_SBIGINT, &pl->high, 0, &pl->high_ind), "SQLBindCol",
             SQL_HANDLE_STMT, pl->hz, errbuf, sizeof errbuf);
    for (SQLUSMALLINT i = 0; i < 7; i++)
        if (bind_int(pl->pull, (SQLUSMALLINT)(i + 1), &pl->p[i], &pl->ind[i], errbuf,
                     sizeof errbuf) < 0)
            return -1;
    pl->text = malloc(TEXT_CHUNK + 1);
    return pl->text ? 0 : -1;
}

/* A column's value as the gateway fetches it (odbc_db.c fetch_value). */
static int d_get(struct puller *pl, SQLUSMALLINT col, SQLSMALLINT type, int64_t *seq)
{
    SQLLEN ind = 0;
    SQLRETURN r;
    switch (type) {
    case SQL_INTEGER:
    case SQL_BIGINT:
    case SQL_SMALLINT:
    case SQL_TINYINT: {
        SQLBIGINT v = 0;
        r = SQLGetData(pl->pull, col, SQL_C_SBIGINT, &v, 0, &ind);
        if (col == 1)
            *seq = v;
        break;
    }
    case SQL_TYPE_TIMESTAMP: {
        SQL_TIMESTAMP_STRUCT t;
        r = SQLGetData(pl->pull, col, SQL_C_TYPE_TIMESTAMP, &t, sizeof t, &ind);
        break;
    }
    default:
        do
            r = SQLGetData(pl->pull, col, SQL_C_CHAR, pl->text, TEXT_CHUNK + 1, &ind);
        while (r == SQL_SUCCESS_WITH_INFO);
        if (r == SQL_NO_DATA)
            r = SQL_SUCCESS;
    }
    ODBC_TRY(r, "SQLGetData", SQL_HANDLE_STMT, pl->pull, errbuf, sizeof errbuf);
    return 0;
}

/* The horizon, then the window [low, horizon) page by page, as SYNC_PULL's pages do. */
static int d_pull(struct puller *pl, struct pull_stats *st)
{
    ODBC_TRY(SQLExecute(pl->hz), "horizon", SQL_HANDLE_STMT, pl->hz, errbuf, sizeof errbuf);
    ODBC_TRY(SQLFetch(pl->hz), "horizon fetch", SQL_HANDLE_STMT, pl->hz, errbuf, sizeof errbuf);
    SQLFreeStmt(pl->hz, SQL_CLOSE);
    int64_t low = pl->low, high = pl->high, after = 0;
    uint64_t limit = g.page ? g.page : 1000;
    for (;;) {
        int64_t p[7] = {g.tech, low, high, g.tech, after, low, (int64_t)limit + 1};
        for (int i = 0; i < 7; i++)
            pl->p[i] = p[i];
        ODBC_TRY(SQLExecute(pl->pull), "pull", SQL_HANDLE_STMT, pl->pull, errbuf, sizeof errbuf);
        SQLSMALLINT ncols = 0;
        SQLSMALLINT types[64];
        SQLNumResultCols(pl->pull, &ncols);
        if (ncols < 3 || ncols > 64) {
            snprintf(errbuf, sizeof errbuf, "pull: %d columns", ncols);
            return -1;
        }
        for (SQLUSMALLINT c = 1; c <= (SQLUSMALLINT)ncols; c++) {
            SQLCHAR name[128];
            SQLSMALLINT nlen, dec, nullable;
            SQLULEN size;
            ODBC_TRY(SQLDescribeCol(pl->pull, c, name, sizeof name, &nlen, &types[c - 1], &size,
                                    &dec, &nullable),
                     "SQLDescribeCol", SQL_HANDLE_STMT, pl->pull, errbuf, sizeof errbuf);
        }
        uint64_t n = 0;
        int more = 0;
        SQLRETURN r;
        while ((r = SQLFetch(pl->pull)) != SQL_NO_DATA) {
            ODBC_TRY(r, "SQLFetch", SQL_HANDLE_STMT, pl->pull, errbuf, sizeof errbuf);
            if (n == limit) {
                more = 1;
                break;
            }
            for (SQLUSMALLINT c = 1; c <= (SQLUSMALLINT)ncols; c++)
                if (d_get(pl, c, types[c - 1], &after) < 0)
                    return -1;
            n++;
        }
        SQLFreeStmt(pl->pull, SQL_CLOSE);
        st->rows += n;
        st->pages++;
        if (!more)
            break;
    }
    pl->low = high;
    return 0;
}

static int run_pull(void)
{
    struct puller pl = {0};
    struct office office = {0};
    int rc = -1;
    double *full = calloc(g.full + 1, sizeof *full), *incr = calloc(g.incr + 1, sizeof *incr);
    double full_srv[WATCH_MAX] = {0}, incr_srv[WATCH_MAX] = {0}, full_cli = 0, incr_cli = 0;
    struct pull_stats fs = {0}, is = {0};
    struct probe probe = {0};
    int64_t x0, x1, w0, w1, full_x = 0, full_w = 0, incr_x = 0, incr_w = 0;
    if (!full || !incr)
        goto out;
    if (office_open(&office) < 0 || probe_open(&probe) < 0)
        goto out;
    if (g.side == SIDE_MISCOMM) {
        if (gw_login(&pl.c, g.device) < 0) {
            snprintf(errbuf, sizeof errbuf, "connect/login: %s",
                     pl.c ? mc_client_errmsg(pl.c) : "no client");
            goto out;
        }
    } else if (d_pull_open(&pl) < 0) {
        goto out;
    }
    /* The warm-up pull, then the timed ones; each from the beginning. */
    for (unsigned i = 0; i <= g.full; i++) {
        struct pull_stats st = {0};
        pl.cursor_len = 0;
        pl.low = 0;
        if (probe_read(&probe, &x0, &w0) < 0)
            goto out;
        watch_start();
        double c0 = cpu_s(), t0 = now_s();
        int r = g.side == SIDE_MISCOMM ? gw_pull(&pl, &st) : d_pull(&pl, &st);
        double t1 = now_s(), c1 = cpu_s();
        if (r < 0 || probe_read(&probe, &x1, &w1) < 0)
            goto out;
        if (g.rows && st.rows != g.rows) {
            snprintf(errbuf, sizeof errbuf, "a full pull gave %llu rows, not %llu",
                     (unsigned long long)st.rows, (unsigned long long)g.rows);
            goto out;
        }
        if (i == 0)
            continue;
        watch_add(full_srv);
        full_x += x1 - x0;
        full_w += w1 - w0;
        full_cli += c1 - c0;
        full[i - 1] = (t1 - t0) * 1e3;
        fs = st;
    }
    /* Incremental: the office changes some, then the pull from where the last one ended. */
    for (unsigned i = 0; i < g.incr; i++) {
        struct pull_stats st = {0};
        if (office_edit(&office) < 0 || probe_read(&probe, &x0, &w0) < 0)
            goto out;
        watch_start();
        double c0 = cpu_s(), t0 = now_s();
        int r = g.side == SIDE_MISCOMM ? gw_pull(&pl, &st) : d_pull(&pl, &st);
        double t1 = now_s(), c1 = cpu_s();
        if (r < 0 || probe_read(&probe, &x1, &w1) < 0)
            goto out;
        if (st.rows != g.changes) {
            snprintf(errbuf, sizeof errbuf, "an incremental pull gave %llu rows, not %u",
                     (unsigned long long)st.rows, g.changes);
            goto out;
        }
        watch_add(incr_srv);
        incr_x += x1 - x0;
        incr_w += w1 - w0;
        incr_cli += c1 - c0;
        incr[i] = (t1 - t0) * 1e3;
        is = st;
    }
    double fmin = full[0], fmax = full[0], imin = incr[0], imax = incr[0];
    for (unsigned i = 0; i < g.full; i++) {
        fmin = full[i] < fmin ? full[i] : fmin;
        fmax = full[i] > fmax ? full[i] : fmax;
    }
    for (unsigned i = 0; i < g.incr; i++) {
        imin = incr[i] < imin ? incr[i] : imin;
        imax = incr[i] > imax ? incr[i] : imax;
    }
    printf("full_reps=%u rows=%llu pages=%llu full_p50_ms=%.3f full_min_ms=%.3f full_max_ms=%.3f "
           "full_cpu_client_ms=%.2f",
           g.full, (unsigned long long)fs.rows, (unsigned long long)fs.pages, median(full, g.full),
           fmin, fmax, g.full ? full_cli * 1e3 / g.full : 0);
    for (size_t k = 0; k < nwatch; k++)
        printf(" full_cpu_%s_ms=%.2f", watch[k].name, g.full ? full_srv[k] * 1e3 / g.full : 0);
    printf(" full_xids=%.2f full_wal_bytes=%.0f", (double)full_x / g.full, (double)full_w / g.full);
    printf(" incr_reps=%u incr_rows=%llu incr_pages=%llu incr_p50_ms=%.3f incr_min_ms=%.3f "
           "incr_max_ms=%.3f incr_cpu_client_ms=%.2f",
           g.incr, (unsigned long long)is.rows, (unsigned long long)is.pages, median(incr, g.incr),
           imin, imax, g.incr ? incr_cli * 1e3 / g.incr : 0);
    for (size_t k = 0; k < nwatch; k++)
        printf(" incr_cpu_%s_ms=%.2f", watch[k].name, g.incr ? incr_srv[k] * 1e3 / g.incr : 0);
    printf(" incr_xids=%.2f incr_wal_bytes=%.0f", (double)incr_x / g.incr, (double)incr_w / g.incr);
    printf("\n");
    rc = 0;
out:
    if (pl.c)
        mc_close(pl.c);
    if (pl.hz)
        SQLFreeHandle(SQL_HANDLE_STMT, pl.hz);
    if (pl.pull)
        SQLFreeHandle(SQL_HANDLE_STMT, pl.pull);
    odbc_disconnect(pl.dbc);
    office_close(&office);
    probe_close(&probe);
    free(pl.text);
    free(full);
    free(incr);
    return rc;
}

/* -- push -------------------------------------------------------------------------------------- */

struct item {
    int64_t id, version, spent;
    int spent_null;
};

struct worker {
    pthread_t thread;
    unsigned index;
    struct item *items;
    size_t nitems, next;
    uint64_t *lat_ns;
    size_t n, cap;
    double t_last;
    int failed;
    char err[1024];
};

static int record(struct worker *w, uint64_t ns)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 65536;
        uint64_t *p = realloc(w->lat_ns, cap * sizeof *p);
        if (!p) {
            snprintf(w->err, sizeof w->err, "out of memory");
            return -1;
        }
        w->lat_ns = p;
        w->cap = cap;
    }
    w->lat_ns[w->n++] = ns;
    return 0;
}

static int start_line(void)
{
    pthread_mutex_lock(&g.lock);
    g.ready++;
    pthread_cond_broadcast(&g.cond);
    while (!g.go && !g.abort)
        pthread_cond_wait(&g.cond, &g.lock);
    int rc = g.abort ? -1 : 0;
    pthread_mutex_unlock(&g.lock);
    return rc;
}

static void give_up(void)
{
    pthread_mutex_lock(&g.lock);
    g.abort = 1;
    g.ready++;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

static void random_bytes(uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            abort();
        p += k;
        n -= (size_t)k;
    }
}

static int item_add(struct worker *w, struct item it)
{
    if ((w->nitems & (w->nitems - 1)) == 0) {
        struct item *p = realloc(w->items, (w->nitems ? w->nitems * 2 : 1) * sizeof *p);
        if (!p)
            return -1;
        w->items = p;
    }
    w->items[w->nitems++] = it;
    return 0;
}

/* The device's replica, as far as the pushes need it: id, version, time_spent_minutes. */
struct replica {
    struct worker *w;
    size_t spent_col;
    int bad;
};

static int on_push_columns(void *ud, const struct mc_column *cols, size_t ncols)
{
    struct replica *rp = ud;
    for (size_t i = 0; i < ncols; i++)
        if (strcmp(cols[i].name, "time_spent_minutes") == 0)
            rp->spent_col = i;
    return 0;
}

static int on_push_row(void *ud, const struct mc_value *v, size_t ncols)
{
    struct replica *rp = ud;
    if (rp->spent_col == 0 || rp->spent_col >= ncols || v[1].type != MC_VALUE_INT ||
        v[2].type != MC_VALUE_INT) {
        rp->bad = 1;
        return -1;
    }
    const struct mc_value *s = &v[rp->spent_col];
    struct item it = {.id = v[1].i,
                      .version = v[2].i,
                      .spent = s->type == MC_VALUE_INT ? s->i : 0,
                      .spent_null = s->type != MC_VALUE_INT};
    return item_add(rp->w, it);
}

struct push_result {
    int got;
    struct mc_sync_op_result r;
    char msg[256];
};

static int on_result(void *ud, size_t index, const struct mc_sync_op_result *r)
{
    struct push_result *pr = ud;
    (void)index;
    pr->got = 1;
    pr->r = *r;
    snprintf(pr->msg, sizeof pr->msg, "%s", r->message ? r->message : "");
    return 0;
}

static int gw_push_one(mc_client *c, struct worker *w)
{
    struct item *it = &w->items[w->next++ % w->nitems];
    struct mc_sync_field f = {.name = "time_spent_minutes"};
    f.base = it->spent_null ? (struct mc_value){.type = MC_VALUE_NULL}
                            : (struct mc_value){.type = MC_VALUE_INT, .i = it->spent};
    f.value = (struct mc_value){.type = MC_VALUE_INT, .i = it->spent + 1};
    struct mc_sync_op op = {.kind = MC_SYNC_UPDATE,
                            .intervention = (uint64_t)it->id,
                            .base_version = (uint64_t)it->version,
                            .fields = &f,
                            .nfields = 1};
    random_bytes(op.op_id, sizeof op.op_id);
    struct push_result pr = {0};
    if (mc_sync_push(c, &op, 1, on_result, &pr) < 0) {
        snprintf(w->err, sizeof w->err, "mc_sync_push: %s", mc_client_errmsg(c));
        return -1;
    }
    if (!pr.got || pr.r.result != MC_SYNC_APPLIED || pr.r.flags != 0 ||
        pr.r.version != (uint64_t)it->version + 1) {
        snprintf(w->err, sizeof w->err,
                 "intervention %lld: result %d flags 0x%x version %llu (expected %lld): %s",
                 (long long)it->id, (int)pr.r.result, pr.r.flags, (unsigned long long)pr.r.version,
                 (long long)it->version + 1, pr.msg);
        return -1;
    }
    it->version++;
    it->spent++;
    it->spent_null = 0;
    return 0;
}

static sem_t logins;

static void *gw_push_thread(void *arg)
{
    struct worker *w = arg;
    char device[160];
    snprintf(device, sizeof device, "%s-%02u", g.device, w->index + 1);
    mc_client *c = NULL;
    while (sem_wait(&logins) < 0 && errno == EINTR)
        ;
    int rc = gw_login(&c, device);
    sem_post(&logins);
    if (rc < 0) {
        snprintf(w->err, sizeof w->err, "connect/login as %s: %s", device,
                 c ? mc_client_errmsg(c) : "no client");
        goto fail;
    }
    /* The replica: every intervention of the device's technician, as they are now. */
    struct replica rp = {.w = w};
    const struct mc_sync_pull_callbacks cb = {.columns = on_push_columns, .row = on_push_row};
    uint8_t cur[MC_SYNC_MAX_CURSOR];
    size_t cur_len = 0;
    for (;;) {
        struct mc_sync_page page;
        if (mc_sync_pull(c, cur, cur_len, 0, &cb, &rp, &page) < 0 || rp.bad) {
            snprintf(w->err, sizeof w->err, "mc_sync_pull as %s: %s", device,
                     rp.bad ? "a row without id, version or time_spent_minutes"
                            : mc_client_errmsg(c));
            goto fail;
        }
        memcpy(cur, page.cursor, page.cursor_len);
        cur_len = page.cursor_len;
        if (!page.more)
            break;
    }
    if (w->nitems == 0) {
        snprintf(w->err, sizeof w->err, "device %s has no interventions", device);
        goto fail;
    }
    for (int i = 0; i < WARMUP_PUSHES; i++)
        if (gw_push_one(c, w) < 0)
            goto fail;
    if (start_line() < 0)
        goto out;
    double end = g.t0 + g.seconds;
    while (now_s() < end) {
        uint64_t t = now_ns();
        if (gw_push_one(c, w) < 0 || record(w, now_ns() - t) < 0) {
            w->failed = 1;
            break;
        }
    }
    w->t_last = now_s();
out:
    mc_close(c);
    return NULL;
fail:
    w->failed = 1;
    give_up();
    mc_close(c);
    return NULL;
}

/* The direct client's statements and the buffers of one row, bound both ways. */
struct direct {
    SQLHDBC dbc;
    SQLHSTMT row, apply, put;
    SQLBIGINT id, version, tech, spent;
    char status[64], report[8192], signatory[512], sigfile[1024];
    SQL_TIMESTAMP_STRUCT astart, aend, signed_at;
    SQLLEN i_id, i_version, i_tech, i_status, i_astart, i_aend, i_spent, i_report, i_signatory,
        i_sigfile, i_signed;
    /* [apply]'s guard and [op_put]'s own values */
    SQLBIGINT key, guard, zero, new_version;
    SQLLEN i_key, i_guard, i_zero, i_new_version, i_opid, i_device, i_msg;
    char opid[33], device[64], msg[1];
};

static int bind_text(SQLHSTMT st, SQLUSMALLINT n, char *buf, SQLLEN cap, SQLLEN *ind, char *err,
                     size_t errcap)
{
    ODBC_TRY(SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, (SQLULEN)cap, 0, buf,
                              cap, ind),
             "SQLBindParameter", SQL_HANDLE_STMT, st, err, errcap);
    return 0;
}

static int bind_ts(SQLHSTMT st, SQLUSMALLINT n, SQL_TIMESTAMP_STRUCT *ts, SQLLEN *ind, char *err,
                   size_t errcap)
{
    ODBC_TRY(SQLBindParameter(st, n, SQL_PARAM_INPUT, SQL_C_TYPE_TIMESTAMP, SQL_TYPE_TIMESTAMP, 19,
                              0, ts, sizeof *ts, ind),
             "SQLBindParameter", SQL_HANDLE_STMT, st, err, errcap);
    return 0;
}

static int direct_open(struct direct *d, struct worker *w)
{
    char *e = w->err;
    size_t ec = sizeof w->err;
    if (odbc_connect(&d->dbc, 0, e, ec) < 0)
        return -1;
    /* The technician's interventions. */
    SQLHSTMT st = NULL;
    SQLBIGINT tech = g.tech + (SQLBIGINT)w->index, id = 0;
    SQLLEN ind = 0, ind2 = 0;
    if (odbc_prepare(d->dbc, &st, SQL_MINE, e, ec) < 0 || bind_int(st, 1, &tech, &ind, e, ec) < 0)
        return -1;
    ODBC_TRY(SQLExecute(st), "SELECT ids", SQL_HANDLE_STMT, st, e, ec);
    ODBC_TRY(SQLBindCol(st, 1, SQL_C_SBIGINT, &id, 0, &ind2), "SQLBindCol", SQL_HANDLE_STMT, st, e,
             ec);
    while (SQL_SUCCEEDED(SQLFetch(st)))
        if (item_add(w, (struct item){.id = id}) < 0)
            return -1;
    SQLFreeHandle(SQL_HANDLE_STMT, st);
    SQLEndTran(SQL_HANDLE_DBC, d->dbc, SQL_COMMIT);
    if (w->nitems == 0) {
        snprintf(e, ec, "technician %lld has no interventions", (long long)tech);
        return -1;
    }
    if (odbc_prepare(d->dbc, &d->row, SQL_ROW, e, ec) < 0 ||
        odbc_prepare(d->dbc, &d->apply, SQL_APPLY, e, ec) < 0 ||
        odbc_prepare(d->dbc, &d->put, SQL_OP_PUT, e, ec) < 0)
        return -1;
    /* [row]: the key in, the row out. */
    SQLHSTMT r = d->row;
    if (bind_int(r, 1, &d->key, &d->i_key, e, ec) < 0)
        return -1;
    ODBC_TRY(SQLBindCol(r, 1, SQL_C_SBIGINT, &d->id, 0, &d->i_id), "SQLBindCol", SQL_HANDLE_STMT, r,
             e, ec);
    ODBC_TRY(SQLBindCol(r, 2, SQL_C_SBIGINT, &d->version, 0, &d->i_version), "SQLBindCol",
             SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 3, SQL_C_SBIGINT, &d->tech, 0, &d->i_tech), "SQLBindCol",
             SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 4, SQL_C_CHAR, d->status, sizeof d->status, &d->i_status), "SQLBindCol",
             SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 5, SQL_C_TYPE_TIMESTAMP, &d->astart, sizeof d->astart, &d->i_astart),
             "SQLBindCol", SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 6, SQL_C_TYPE_TIMESTAMP, &d->aend, sizeof d->aend, &d->i_aend),
             "SQLBindCol", SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 7, SQL_C_SBIGINT, &d->spent, 0, &d->i_spent), "SQLBindCol",
             SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 8, SQL_C_CHAR, d->report, sizeof d->report, &d->i_report), "SQLBindCol",
             SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 9, SQL_C_CHAR, d->signatory, sizeof d->signatory, &d->i_signatory),
             "SQLBindCol", SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(SQLBindCol(r, 10, SQL_C_CHAR, d->sigfile, sizeof d->sigfile, &d->i_sigfile),
             "SQLBindCol", SQL_HANDLE_STMT, r, e, ec);
    ODBC_TRY(
        SQLBindCol(r, 11, SQL_C_TYPE_TIMESTAMP, &d->signed_at, sizeof d->signed_at, &d->i_signed),
        "SQLBindCol", SQL_HANDLE_STMT, r, e, ec);
    /* [apply]: the eight fields as read (time_spent_minutes changed), the key, the guard. */
    SQLHSTMT a = d->apply;
    if (bind_text(a, 1, d->status, sizeof d->status, &d->i_status, e, ec) < 0 ||
        bind_ts(a, 2, &d->astart, &d->i_astart, e, ec) < 0 ||
        bind_ts(a, 3, &d->aend, &d->i_aend, e, ec) < 0 ||
        bind_int(a, 4, &d->spent, &d->i_spent, e, ec) < 0 ||
        bind_text(a, 5, d->report, sizeof d->report, &d->i_report, e, ec) < 0 ||
        bind_text(a, 6, d->signatory, sizeof d->signatory, &d->i_signatory, e, ec) < 0 ||
        bind_text(a, 7, d->sigfile, sizeof d->sigfile, &d->i_sigfile, e, ec) < 0 ||
        bind_ts(a, 8, &d->signed_at, &d->i_signed, e, ec) < 0 ||
        bind_int(a, 9, &d->key, &d->i_key, e, ec) < 0 ||
        bind_int(a, 10, &d->guard, &d->i_guard, e, ec) < 0)
        return -1;
    /* [op_put]: op_id device intervention result flags code message version. */
    SQLHSTMT p = d->put;
    snprintf(d->device, sizeof d->device, "bench-direct-%02u", w->index + 1);
    d->i_device = (SQLLEN)strlen(d->device);
    d->i_opid = 32;
    d->i_msg = 0;
    if (bind_text(p, 1, d->opid, 32, &d->i_opid, e, ec) < 0 ||
        bind_text(p, 2, d->device, sizeof d->device, &d->i_device, e, ec) < 0 ||
        bind_int(p, 3, &d->key, &d->i_key, e, ec) < 0 ||
        bind_int(p, 4, &d->zero, &d->i_zero, e, ec) < 0 ||
        bind_int(p, 5, &d->zero, &d->i_zero, e, ec) < 0 ||
        bind_int(p, 6, &d->zero, &d->i_zero, e, ec) < 0 ||
        bind_text(p, 7, d->msg, 1, &d->i_msg, e, ec) < 0 ||
        bind_int(p, 8, &d->new_version, &d->i_new_version, e, ec) < 0)
        return -1;
    return 0;
}

static void direct_close(struct direct *d)
{
    SQLHSTMT s[] = {d->row, d->apply, d->put};
    for (size_t i = 0; i < 3; i++)
        if (s[i])
            SQLFreeHandle(SQL_HANDLE_STMT, s[i]);
    if (d->dbc)
        SQLEndTran(SQL_HANDLE_DBC, d->dbc, SQL_ROLLBACK);
    odbc_disconnect(d->dbc);
}

/* One transaction: lock and read the row, write it under the version guard, record the op. */
static int direct_push_one(struct direct *d, struct worker *w)
{
    char *e = w->err;
    size_t ec = sizeof w->err;
    struct item *it = &w->items[w->next++ % w->nitems];
    d->key = it->id;
    ODBC_TRY(SQLExecute(d->row), "[row]", SQL_HANDLE_STMT, d->row, e, ec);
    SQLRETURN r = SQLFetch(d->row);
    ODBC_TRY(r, "[row] fetch", SQL_HANDLE_STMT, d->row, e, ec);
    SQLFreeStmt(d->row, SQL_CLOSE);
    if (d->i_report >= (SQLLEN)sizeof d->report) {
        snprintf(e, ec, "intervention %lld: report longer than the buffer", (long long)it->id);
        return -1;
    }
    d->spent = d->i_spent == SQL_NULL_DATA ? 1 : d->spent + 1;
    d->i_spent = 0;
    d->guard = d->version;
    d->i_guard = 0;
    ODBC_TRY(SQLExecute(d->apply), "[apply]", SQL_HANDLE_STMT, d->apply, e, ec);
    SQLLEN n = 0;
    SQLRowCount(d->apply, &n);
    SQLFreeStmt(d->apply, SQL_CLOSE);
    if (n != 1) {
        snprintf(e, ec, "intervention %lld: [apply] changed %ld rows", (long long)it->id, (long)n);
        return -1;
    }
    uint8_t raw[16];
    random_bytes(raw, sizeof raw);
    for (size_t i = 0; i < 16; i++)
        snprintf(d->opid + 2 * i, 3, "%02x", raw[i]);
    d->new_version = d->version + 1;
    d->i_new_version = 0;
    d->zero = 0;
    d->i_zero = 0;
    ODBC_TRY(SQLExecute(d->put), "[op_put]", SQL_HANDLE_STMT, d->put, e, ec);
    SQLFreeStmt(d->put, SQL_CLOSE);
    ODBC_TRY(SQLEndTran(SQL_HANDLE_DBC, d->dbc, SQL_COMMIT), "COMMIT", SQL_HANDLE_DBC, d->dbc, e,
             ec);
    return 0;
}

static void *direct_push_thread(void *arg)
{
    struct worker *w = arg;
    struct direct d = {0};
    if (direct_open(&d, w) < 0)
        goto fail;
    for (int i = 0; i < WARMUP_PUSHES; i++)
        if (direct_push_one(&d, w) < 0)
            goto fail;
    if (start_line() < 0)
        goto out;
    double end = g.t0 + g.seconds;
    while (now_s() < end) {
        uint64_t t = now_ns();
        if (direct_push_one(&d, w) < 0 || record(w, now_ns() - t) < 0) {
            w->failed = 1;
            break;
        }
    }
    w->t_last = now_s();
    goto out;
fail:
    w->failed = 1;
    give_up();
out:
    direct_close(&d);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of them at or below it. */
static double pct_ms(const uint64_t *v, size_t n, double p)
{
    size_t k = (size_t)((double)n * p + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1e6;
}

static int run_push(void)
{
    sem_init(&logins, 0, 2);
    struct probe probe = {0};
    int64_t x0 = 0, x1 = 0, w0 = 0, w1 = 0;
    int probing = g.dsn != NULL;
    if (probing && probe_open(&probe) < 0) {
        fprintf(stderr, "sync_load: %s\n", errbuf);
        return -1;
    }
    struct worker *w = calloc(g.clients, sizeof *w);
    if (!w)
        return -1;
    for (unsigned i = 0; i < g.clients; i++) {
        w[i].index = i;
        if (pthread_create(&w[i].thread, NULL,
                           g.side == SIDE_MISCOMM ? gw_push_thread : direct_push_thread,
                           &w[i]) != 0) {
            fprintf(stderr, "sync_load: cannot start thread %u\n", i);
            return -1;
        }
    }
    pthread_mutex_lock(&g.lock);
    while (g.ready < g.clients)
        pthread_cond_wait(&g.cond, &g.lock);
    if (probing && !g.abort && probe_read(&probe, &x0, &w0) < 0) {
        fprintf(stderr, "sync_load: %s\n", errbuf);
        g.abort = 1;
    }
    watch_start();
    double cpu0 = cpu_s();
    g.t0 = now_s();
    g.go = 1;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    for (unsigned i = 0; i < g.clients; i++)
        pthread_join(w[i].thread, NULL);
    double cpu = cpu_s() - cpu0;
    double srv[WATCH_MAX] = {0};
    watch_add(srv);
    if (probing && probe_read(&probe, &x1, &w1) < 0) {
        fprintf(stderr, "sync_load: %s\n", errbuf);
        return -1;
    }
    probe_close(&probe);

    size_t total = 0;
    double t_last = g.t0;
    int failed = 0;
    for (unsigned i = 0; i < g.clients; i++) {
        total += w[i].n;
        if (w[i].t_last > t_last)
            t_last = w[i].t_last;
        if (w[i].failed) {
            fprintf(stderr, "sync_load: client %u: %s\n", i, w[i].err);
            failed = 1;
        }
    }
    if (failed || total == 0)
        return -1;
    uint64_t *all = malloc(total * sizeof *all);
    if (!all)
        return -1;
    size_t k = 0;
    double sum = 0;
    for (unsigned i = 0; i < g.clients; i++) {
        memcpy(all + k, w[i].lat_ns, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ns);
        free(w[i].items);
    }
    qsort(all, total, sizeof *all, cmp_u64);
    for (size_t i = 0; i < total; i++)
        sum += (double)all[i];
    double secs = t_last - g.t0;
    printf("clients=%u pushes=%zu seconds=%.3f pps=%.1f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
           "max_ms=%.3f client_cpu_s=%.2f",
           g.clients, total, secs, (double)total / secs, pct_ms(all, total, 0.50),
           pct_ms(all, total, 0.99), sum / (double)total / 1e6, (double)all[total - 1] / 1e6, cpu);
    for (size_t i = 0; i < nwatch; i++)
        printf(" cpu_%s=%.2f", watch[i].name, srv[i]);
    if (probing)
        printf(" xids=%lld wal_bytes=%lld wal_start=%lld wal_end=%lld", (long long)(x1 - x0),
               (long long)(w1 - w0), (long long)w0, (long long)w1);
    printf("\n");
    free(all);
    free(w);
    return 0;
}

/* -- main ---------------------------------------------------------------------------------------
 */

static int read_password(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)cap, f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: sync_load pull|push miscomm|odbc KEY=VALUE...\n"
            "  keys: port cert pw device (miscomm), dsn user dbpw tech (odbc, and the office\n"
            "        edits of pull), full incr changes page rows (pull), clients seconds (push)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    int push = strcmp(argv[1], "push") == 0;
    if (!push && strcmp(argv[1], "pull") != 0)
        return usage();
    if (strcmp(argv[2], "miscomm") == 0)
        g.side = SIDE_MISCOMM;
    else if (strcmp(argv[2], "odbc") == 0)
        g.side = SIDE_ODBC;
    else
        return usage();
    const char *cert = NULL, *pwfile = NULL, *dbpwfile = NULL;
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            return usage();
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        unsigned long u = strtoul(v, NULL, 10);
        if (strcmp(k, "port") == 0)
            g.port = (unsigned)u;
        else if (strcmp(k, "cert") == 0)
            cert = v;
        else if (strcmp(k, "pw") == 0)
            pwfile = v;
        else if (strcmp(k, "device") == 0)
            g.device = v;
        else if (strcmp(k, "dsn") == 0)
            g.dsn = v;
        else if (strcmp(k, "user") == 0)
            g.user = v;
        else if (strcmp(k, "dbpw") == 0)
            dbpwfile = v;
        else if (strcmp(k, "tech") == 0)
            g.tech = (int64_t)u;
        else if (strcmp(k, "full") == 0)
            g.full = (unsigned)u;
        else if (strcmp(k, "incr") == 0)
            g.incr = (unsigned)u;
        else if (strcmp(k, "changes") == 0)
            g.changes = (unsigned)u;
        else if (strcmp(k, "page") == 0)
            g.page = (unsigned)u;
        else if (strcmp(k, "rows") == 0)
            g.rows = u;
        else if (strcmp(k, "clients") == 0)
            g.clients = (unsigned)u;
        else if (strcmp(k, "seconds") == 0)
            g.seconds = strtod(v, NULL);
        else
            return usage();
    }
    int need_gw = g.side == SIDE_MISCOMM, need_db = g.side == SIDE_ODBC || !push;
    if ((need_gw && (!g.port || !cert || !pwfile || !g.device)) ||
        (need_db && (!g.dsn || !g.user || !dbpwfile || g.tech < 1)) || g.clients < 1 ||
        g.clients > 256 || g.seconds <= 0 || g.page > MC_SYNC_MAX_LIMIT || g.full < 1 ||
        g.incr < 1 || g.changes < 1)
        return usage();
    if (need_gw && mc_cert_file_fingerprint(cert, g.fp) < 0) {
        fprintf(stderr, "sync_load: cannot read the certificate %s\n", cert);
        return 1;
    }
    if ((pwfile && read_password(pwfile, g.pw, sizeof g.pw) < 0) ||
        (dbpwfile && read_password(dbpwfile, g.dbpw, sizeof g.dbpw) < 0)) {
        fprintf(stderr, "sync_load: cannot read a password file: %s\n", strerror(errno));
        return 1;
    }
    if ((need_db || g.dsn) &&
        (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &g.env)) ||
         !SQL_SUCCEEDED(
             SQLSetEnvAttr(g.env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)(intptr_t)SQL_OV_ODBC3, 0)))) {
        fprintf(stderr, "sync_load: cannot set up unixODBC\n");
        return 1;
    }
    watch_parse(getenv("SYNC_LOAD_WATCH"));
    int rc = push ? run_push() : run_pull();
    if (rc < 0 && !push)
        fprintf(stderr, "sync_load: %s\n", errbuf);
    if (g.env)
        SQLFreeHandle(SQL_HANDLE_ENV, g.env);
    return rc < 0 ? 1 : 0;
}
