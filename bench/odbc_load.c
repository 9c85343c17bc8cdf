/*
 * odbc_load: N clients running a primary-key SELECT in a loop, for
 * bench/odbc.sh. Both modes share the loop, the clock and the statistics:
 *
 *   odbc_load miscomm PORT CERT PASSWORD_FILE ID_MAX CLIENTS SECONDS
 *       through miscommd: each client thread has its own connection
 *       (libmiscomm, certificate pinned, HELLO with the password of
 *       PASSWORD_FILE) and one ODBC handle opened without a credential
 *       file (the connection's odbc_credential); each query is mc_query()
 *       of the named statement "by_id" with one INT parameter. With
 *       ODBC_LOAD_NOOP=1 in the environment, mc_noop() instead: the
 *       round trip through TLS and the gateway's loop, no database.
 *   odbc_load odbc DSN USER PASSWORD_FILE ID_MAX CLIENTS SECONDS
 *       straight to the database with unixODBC (ODBCSYSINI and ODBCINI
 *       from the environment): each thread has its own connection
 *       (SQLDriverConnect DSN=..;UID=..;PWD=..) and one statement,
 *       prepared once; each query is SQLExecute, SQLFetch and SQLGetData
 *       of the three columns, SQLFreeStmt(SQL_CLOSE).
 *
 * The statement is SELECT id, status, planned_start FROM interventions
 * WHERE id = ? with a random id in 1..ID_MAX per query, bound as a BIGINT
 * (as the gateway binds an INT). Every answer is checked: one row whose id
 * is the one asked.
 *
 * The threads connect and run 20 queries each (warm-up: the gateway's pool
 * opens its database connections, the driver prepares), then wait for
 * each other; the clock starts for all at once and each thread starts
 * queries until SECONDS have passed. Each query's latency is the time
 * around the call(s), CLOCK_MONOTONIC. Prints one line:
 *
 *   clients=N queries=Q seconds=S qps=R p50_ms=A p99_ms=B mean_ms=M max_ms=X client_cpu_s=C
 *
 * percentiles by nearest rank over every query of every thread; qps is
 * the queries over the time from the common start to the last answer;
 * client_cpu_s the CPU time this process (all threads) spent meanwhile.
 *
 * ODBC_LOAD_WATCH="NAME=PID NAME=PID+ ..." in the environment adds
 * cpu_NAME=S for each: the CPU time (utime + stime, all threads) process
 * PID spent while the clock ran; with '+', also its children's (the live
 * ones', and those it reaped meanwhile: cutime + cstime), for PostgreSQL's
 * postmaster and its backends. On a small machine the load generator
 * shares the cores with the servers, so CPU per query says more about
 * each server than queries/s alone.
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sql.h>
#include <sqlext.h>

#include "miscomm/client.h"
#include "miscomm/odbc.h"

#define WARMUP 20

static const char *const SQL_TEXT =
    "SELECT id, status, planned_start FROM interventions WHERE id = ?";

enum mode { MODE_MISCOMM, MODE_ODBC };

static struct {
    enum mode mode;
    unsigned port;
    char fp[96];
    const char *dsn, *user;
    char pw[256];
    int64_t id_max;
    double seconds;
    unsigned clients;
    /* The start line: every thread ready, then the clock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned ready;
    int go, abort;
    double t0;
    SQLHENV env;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t rng;
    uint64_t *lat_ns; /* one per query */
    size_t n, cap;
    double t_last; /* when the last answer came */
    int failed;
    char err[512];
};

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

/* xorshift64*: a random id in 1..id_max. */
static int64_t next_id(struct worker *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (int64_t)((w->rng * 2685821657736338717ull) % (uint64_t)g.id_max) + 1;
}

/* -- the servers' CPU time ------------------------------------------------------------- */

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

/* Ready: wait for the others and the start. 0 to go, -1 when another thread failed. */
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

/* -- through miscommd ------------------------------------------------------------------- */

struct answer {
    int64_t want;
    uint64_t rows;
    int bad;
};

static int on_row(void *ud, const struct mc_value *v, size_t ncols)
{
    struct answer *a = ud;
    a->rows++;
    if (ncols != 3 || v[0].type != MC_VALUE_INT || v[0].i != a->want)
        a->bad = 1;
    return 0;
}

static int noop_only;

static int mc_one(mc_client *c, uint32_t h, int64_t id, struct worker *w)
{
    if (noop_only) {
        if (mc_noop(c) < 0) {
            snprintf(w->err, sizeof w->err, "mc_noop: %s", mc_client_errmsg(c));
            return -1;
        }
        return 0;
    }
    static const struct mc_query_callbacks cb = {.row = on_row};
    struct mc_value p = {.type = MC_VALUE_INT, .i = id};
    struct answer a = {.want = id};
    struct mc_query_result res;
    int rc = mc_query(c, h, 1, "by_id", &p, 1, 0, &cb, &a, &res);
    if (rc < 0) {
        snprintf(w->err, sizeof w->err, "mc_query: %s", mc_client_errmsg(c));
        return -1;
    }
    if (a.rows != 1 || a.bad) {
        snprintf(w->err, sizeof w->err, "id %lld: %llu rows, or not that id", (long long)id,
                 (unsigned long long)a.rows);
        return -1;
    }
    return 0;
}

/*
 * HELLO, two threads at a time: the server checks at most two passwords
 * from one address at once and answers BUSY beyond (docs/protocol.md
 * section 8); a BUSY all the same is retried after a pause.
 */
static sem_t logins;

static int login(mc_client *c, const struct mc_hello_params *hp, struct mc_session *sess)
{
    int rc;
    for (int tries = 0;; tries++) {
        while (sem_wait(&logins) < 0 && errno == EINTR)
            ;
        rc = mc_hello(c, hp, sess);
        sem_post(&logins);
        if (rc != MC_ERR_BUSY || tries == 50)
            return rc;
        nanosleep(&(struct timespec){.tv_nsec = 200000000L}, NULL);
    }
}

static void *run_miscomm(void *arg)
{
    struct worker *w = arg;
    struct mc_client_options opt = {
        .host = "127.0.0.1", .port = g.port, .fingerprint = g.fp, .timeout_ms = 60000};
    struct mc_hello_params hp = {.client_name = "bench-odbc",
                                 .client_version = "1",
                                 .device_id = "bench",
                                 .password = g.pw,
                                 .password_len = strlen(g.pw)};
    struct mc_session sess;
    mc_client *c = NULL;
    uint32_t h = 0;
    unsigned flags = 0;
    char dbms[64];
    int rc = mc_client_new(&c, &opt);
    if (rc == 0)
        rc = mc_connect(c);
    if (rc == 0)
        rc = login(c, &hp, &sess);
    if (rc == 0)
        rc = mc_odbc_open(c, NULL, 0, &h, &flags, dbms, sizeof dbms);
    if (rc < 0) {
        snprintf(w->err, sizeof w->err, "connect/login/odbc_open: %s",
                 c ? mc_client_errmsg(c) : "no client");
        goto fail;
    }
    for (int i = 0; i < WARMUP; i++)
        if (mc_one(c, h, next_id(w), w) < 0)
            goto fail;
    if (w->index == 0)
        fprintf(stderr, "odbc_load: miscomm %s, %s, dbms %s, handle flags 0x%x\n",
                mc_client_tls_version(c), mc_client_tls_cipher(c), dbms, flags);
    if (start_line() < 0)
        goto out;
    double end = g.t0 + g.seconds;
    while (now_s() < end) {
        int64_t id = next_id(w);
        uint64_t t = now_ns();
        if (mc_one(c, h, id, w) < 0) {
            w->failed = 1;
            break;
        }
        if (record(w, now_ns() - t) < 0) {
            w->failed = 1;
            break;
        }
    }
    w->t_last = now_s();
    mc_odbc_close(c, h);
out:
    mc_close(c);
    return NULL;
fail:
    w->failed = 1;
    give_up();
    mc_close(c);
    return NULL;
}

/* -- straight to the database ----------------------------------------------------------- */

static void odbc_err(struct worker *w, const char *what, SQLSMALLINT type, SQLHANDLE hd)
{
    SQLCHAR state[6] = "?????", text[400] = "";
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    if (hd)
        SQLGetDiagRec(type, hd, 1, state, &native, text, (SQLSMALLINT)sizeof text, &len);
    snprintf(w->err, sizeof w->err, "%s: SQLSTATE %s: %s", what, (const char *)state,
             (const char *)text);
}

struct direct {
    SQLHDBC dbc;
    SQLHSTMT st;
    SQLBIGINT param;
    SQLLEN param_ind;
};

static int odbc_one(struct direct *d, int64_t id, struct worker *w)
{
    d->param = id;
    SQLRETURN r = SQLExecute(d->st);
    if (!SQL_SUCCEEDED(r)) {
        odbc_err(w, "SQLExecute", SQL_HANDLE_STMT, d->st);
        return -1;
    }
    uint64_t rows = 0;
    int bad = 0;
    while ((r = SQLFetch(d->st)) != SQL_NO_DATA) {
        if (!SQL_SUCCEEDED(r)) {
            odbc_err(w, "SQLFetch", SQL_HANDLE_STMT, d->st);
            return -1;
        }
        SQLBIGINT got = 0;
        char status[64];
        SQL_TIMESTAMP_STRUCT ts;
        SQLLEN i1 = 0, i2 = 0, i3 = 0;
        if (!SQL_SUCCEEDED(SQLGetData(d->st, 1, SQL_C_SBIGINT, &got, 0, &i1)) ||
            !SQL_SUCCEEDED(SQLGetData(d->st, 2, SQL_C_CHAR, status, sizeof status, &i2)) ||
            !SQL_SUCCEEDED(SQLGetData(d->st, 3, SQL_C_TYPE_TIMESTAMP, &ts, sizeof ts, &i3))) {
            odbc_err(w, "SQLGetData", SQL_HANDLE_STMT, d->st);
            return -1;
        }
        rows++;
        bad |= got != id;
    }
    SQLFreeStmt(d->st, SQL_CLOSE);
    if (rows != 1 || bad) {
        snprintf(w->err, sizeof w->err, "id %lld: %llu rows, or not that id", (long long)id,
                 (unsigned long long)rows);
        return -1;
    }
    return 0;
}

static void *run_odbc(void *arg)
{
    struct worker *w = arg;
    struct direct d = {0};
    char cs[1024];
    snprintf(cs, sizeof cs, "DSN=%s;UID=%s;PWD={%s};", g.dsn, g.user, g.pw);
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, g.env, &d.dbc))) {
        odbc_err(w, "SQLAllocHandle(DBC)", SQL_HANDLE_ENV, g.env);
        goto fail;
    }
    if (!SQL_SUCCEEDED(SQLDriverConnect(d.dbc, NULL, (SQLCHAR *)cs, SQL_NTS, NULL, 0, NULL,
                                        SQL_DRIVER_NOPROMPT))) {
        odbc_err(w, "SQLDriverConnect", SQL_HANDLE_DBC, d.dbc);
        goto fail;
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, d.dbc, &d.st))) {
        odbc_err(w, "SQLAllocHandle(STMT)", SQL_HANDLE_DBC, d.dbc);
        goto fail;
    }
    if (!SQL_SUCCEEDED(SQLPrepare(d.st, (SQLCHAR *)SQL_TEXT, SQL_NTS))) {
        odbc_err(w, "SQLPrepare", SQL_HANDLE_STMT, d.st);
        goto fail;
    }
    d.param_ind = 0;
    if (!SQL_SUCCEEDED(SQLBindParameter(d.st, 1, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0,
                                        &d.param, 0, &d.param_ind))) {
        odbc_err(w, "SQLBindParameter", SQL_HANDLE_STMT, d.st);
        goto fail;
    }
    for (int i = 0; i < WARMUP; i++)
        if (odbc_one(&d, next_id(w), w) < 0)
            goto fail;
    if (w->index == 0) {
        char dbms[64] = "", drv[64] = "";
        SQLSMALLINT n = 0;
        SQLGetInfo(d.dbc, SQL_DBMS_NAME, dbms, sizeof dbms, &n);
        SQLGetInfo(d.dbc, SQL_DRIVER_VER, drv, sizeof drv, &n);
        fprintf(stderr, "odbc_load: direct ODBC, dbms %s, driver %s\n", dbms, drv);
    }
    if (start_line() < 0)
        goto out;
    double end = g.t0 + g.seconds;
    while (now_s() < end) {
        int64_t id = next_id(w);
        uint64_t t = now_ns();
        if (odbc_one(&d, id, w) < 0) {
            w->failed = 1;
            break;
        }
        if (record(w, now_ns() - t) < 0) {
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
    if (d.st)
        SQLFreeHandle(SQL_HANDLE_STMT, d.st);
    if (d.dbc) {
        SQLDisconnect(d.dbc);
        SQLFreeHandle(SQL_HANDLE_DBC, d.dbc);
    }
    return NULL;
}

/* -- main --------------------------------------------------------------------------------- */

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
    fprintf(stderr, "usage: odbc_load miscomm PORT CERT PASSWORD_FILE ID_MAX CLIENTS SECONDS\n"
                    "       odbc_load odbc DSN USER PASSWORD_FILE ID_MAX CLIENTS SECONDS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 8)
        return usage();
    if (strcmp(argv[1], "miscomm") == 0) {
        g.mode = MODE_MISCOMM;
        g.port = (unsigned)strtoul(argv[2], NULL, 10);
        if (mc_cert_file_fingerprint(argv[3], g.fp) < 0) {
            fprintf(stderr, "odbc_load: cannot read the certificate %s\n", argv[3]);
            return 1;
        }
    } else if (strcmp(argv[1], "odbc") == 0) {
        g.mode = MODE_ODBC;
        g.dsn = argv[2];
        g.user = argv[3];
    } else {
        return usage();
    }
    if (read_password(argv[4], g.pw, sizeof g.pw) < 0) {
        fprintf(stderr, "odbc_load: cannot read %s: %s\n", argv[4], strerror(errno));
        return 1;
    }
    watch_parse(getenv("ODBC_LOAD_WATCH"));
    noop_only = getenv("ODBC_LOAD_NOOP") && strcmp(getenv("ODBC_LOAD_NOOP"), "1") == 0;
    g.id_max = strtoll(argv[5], NULL, 10);
    g.clients = (unsigned)strtoul(argv[6], NULL, 10);
    g.seconds = strtod(argv[7], NULL);
    if (g.id_max < 1 || g.clients < 1 || g.clients > 1024 || g.seconds <= 0)
        return usage();

    if (g.mode == MODE_ODBC &&
        (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &g.env)) ||
         !SQL_SUCCEEDED(
             SQLSetEnvAttr(g.env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)(intptr_t)SQL_OV_ODBC3, 0)))) {
        fprintf(stderr, "odbc_load: cannot set up unixODBC\n");
        return 1;
    }
    sem_init(&logins, 0, 2);
    struct worker *w = calloc(g.clients, sizeof *w);
    if (!w)
        return 1;
    uint64_t seed = now_ns();
    for (unsigned i = 0; i < g.clients; i++) {
        w[i].index = i;
        w[i].rng = (seed ^ (0x9e3779b97f4a7c15ull * (i + 1))) | 1u;
        if (pthread_create(&w[i].thread, NULL, g.mode == MODE_MISCOMM ? run_miscomm : run_odbc,
                           &w[i]) != 0) {
            fprintf(stderr, "odbc_load: cannot start thread %u\n", i);
            return 1;
        }
    }
    pthread_mutex_lock(&g.lock);
    while (g.ready < g.clients)
        pthread_cond_wait(&g.cond, &g.lock);
    for (size_t i = 0; i < nwatch; i++)
        watch[i].start = proc_cpu(watch[i].pid, watch[i].children);
    double cpu0 = cpu_s();
    g.t0 = now_s();
    g.go = 1;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    for (unsigned i = 0; i < g.clients; i++)
        pthread_join(w[i].thread, NULL);
    double cpu = cpu_s() - cpu0;
    for (size_t i = 0; i < nwatch; i++)
        watch[i].cpu = proc_cpu(watch[i].pid, watch[i].children) - watch[i].start;

    size_t total = 0;
    double t_last = g.t0;
    int failed = 0;
    for (unsigned i = 0; i < g.clients; i++) {
        total += w[i].n;
        if (w[i].t_last > t_last)
            t_last = w[i].t_last;
        if (w[i].failed) {
            fprintf(stderr, "odbc_load: client %u: %s\n", i, w[i].err);
            failed = 1;
        }
    }
    if (failed || total == 0)
        return 1;
    uint64_t *all = malloc(total * sizeof *all);
    if (!all)
        return 1;
    size_t k = 0;
    double sum = 0;
    for (unsigned i = 0; i < g.clients; i++) {
        memcpy(all + k, w[i].lat_ns, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ns);
    }
    qsort(all, total, sizeof *all, cmp_u64);
    for (size_t i = 0; i < total; i++)
        sum += (double)all[i];
    double secs = t_last - g.t0;
    printf("clients=%u queries=%zu seconds=%.3f qps=%.1f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
           "max_ms=%.3f client_cpu_s=%.2f",
           g.clients, total, secs, (double)total / secs, pct_ms(all, total, 0.50),
           pct_ms(all, total, 0.99), sum / (double)total / 1e6, (double)all[total - 1] / 1e6, cpu);
    for (size_t i = 0; i < nwatch; i++)
        printf(" cpu_%s=%.2f", watch[i].name, watch[i].cpu);
    printf("\n");
    free(all);
    free(w);
    if (g.env)
        SQLFreeHandle(SQL_HANDLE_ENV, g.env);
    return 0;
}
