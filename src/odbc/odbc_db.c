/*
 * ODBC environment, pools and statements (see odbc_db.h). Worker threads.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sql.h>
#include <sqlext.h>

#include "cred.h"
#include "log.h"
#include "miscomm/error.h"
#include "odbc_db.h"

#define ODBC_CONNSTR_MAX    4096
#define ODBC_BACKOFF_MIN_MS 1000u
#define ODBC_BACKOFF_MAX_MS 30000u
#define ODBC_CHUNK          65536u /* SQLGetData piece for long values */
#define ODBC_CACHE          16u    /* prepared statements kept per connection */

struct odbc_link {
    SQLHDBC dbc;
    struct odbc_pool *pool;
    struct odbc_link *next;
    uint64_t idle_since_ms;
    int in_tx;       /* autocommit off */
    int broken;      /* the driver said the connection is dead */
    int dirty;       /* a device's raw SQL ran on it: reset before the next one */
    int cancel_safe; /* the driver's SQLCancel may come from another thread */
    char dbms[64];
    /* Named statements prepared on this connection, kept for the next time
     * (PostgreSQL then runs them in one round trip, without parsing). */
    struct odbc_cached {
        char *sql;
        SQLHSTMT h;
        uint64_t used;      /* for the eviction of the least recently used */
        SQLSMALLINT params; /* its parameter markers, counted once when prepared */
        unsigned timeout_s; /* SQL_ATTR_QUERY_TIMEOUT as last set on it */
    } cache[ODBC_CACHE];
    uint64_t uses;
    uint8_t *scratch; /* ODBC_CHUNK + 2 bytes for SQLGetData of long values, made on first use */
};

struct odbc_pool {
    struct odbc_pool *next;
    uint8_t key[32]; /* BLAKE2b of the connection string (password included) and mode */
    unsigned refs;   /* handles using it; under pools_lock */
    int read_only;
    struct odbc_limits limits;
    char *connstr;                 /* sodium_malloc'd: holds the password */
    char *password;                /* the same password, to keep it out of messages */
    char source[CRED_DSN_MAX + 1]; /* for logs */
    char user[CRED_USER_MAX + 1];
    /* Under lock: */
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct odbc_link *idle;
    unsigned open; /* connections open, idle or checked out, or being opened */
    uint64_t retry_at_ms;
    unsigned backoff_ms;
    struct odbc_error last;
};

struct odbc_col {
    uint8_t tag;
    SQLSMALLINT sql_type;
};

struct odbc_stmt {
    SQLHSTMT h;
    struct odbc_link *link;
    struct odbc_cached *cached; /* the cache entry it runs on, or NULL (executed directly) */
    int failed;                 /* a cached statement that failed is not kept */
    SQLSMALLINT ncols;
    struct odbc_col *cols;
    struct odbc_col cols_inline[8]; /* cols, for results this narrow */
    uint8_t *scratch;               /* the link's */
};

static SQLHENV env;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct odbc_pool *pools;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int odbc_db_init(const char *ini_dir)
{
    if (env != SQL_NULL_HANDLE)
        return 0; /* the ODBC and sync capabilities share one environment */
#ifdef _WIN32
    /* Windows' driver manager reads data sources from the registry (the ODBC
     * Data Source Administrator), not from odbc.ini files. */
    (void)ini_dir;
#else
    if (ini_dir && ini_dir[0]) {
        char ini[4200];
        snprintf(ini, sizeof ini, "%s/odbc.ini", ini_dir);
        setenv("ODBCSYSINI", ini_dir, 1);
        setenv("ODBCINI", ini, 1);
    }
#endif
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &env)))
        return MC_ERR_INTERNAL;
    if (!SQL_SUCCEEDED(
            SQLSetEnvAttr(env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)(intptr_t)SQL_OV_ODBC3, 0))) {
        SQLFreeHandle(SQL_HANDLE_ENV, env);
        env = SQL_NULL_HANDLE;
        return MC_ERR_INTERNAL;
    }
    return 0;
}

/* Forget the connection's prepared statements (before DISCARD ALL or a disconnect). */
static void cache_clear(struct odbc_link *l)
{
    for (unsigned i = 0; i < ODBC_CACHE; i++) {
        if (l->cache[i].sql) {
            SQLFreeHandle(SQL_HANDLE_STMT, l->cache[i].h);
            free(l->cache[i].sql);
            l->cache[i].sql = NULL;
        }
    }
}

static void link_close(struct odbc_link *l)
{
    cache_clear(l);
    free(l->scratch);
    SQLDisconnect(l->dbc);
    SQLFreeHandle(SQL_HANDLE_DBC, l->dbc);
    free(l);
}

static void pool_free(struct odbc_pool *p)
{
    while (p->idle) {
        struct odbc_link *l = p->idle;
        p->idle = l->next;
        link_close(l);
    }
    sodium_free(p->connstr);
    sodium_free(p->password);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

void odbc_db_shutdown(void)
{
    pthread_mutex_lock(&pools_lock);
    while (pools) {
        struct odbc_pool *p = pools;
        pools = p->next;
        pool_free(p);
    }
    pthread_mutex_unlock(&pools_lock);
    if (env != SQL_NULL_HANDLE)
        SQLFreeHandle(SQL_HANDLE_ENV, env);
    env = SQL_NULL_HANDLE;
}

/*
 * Append key=value; to s, or key={value}; with '}' doubled when the value
 * has a character the syntax needs (some drivers read DSN={x} as the name
 * "{x}", so braces only when needed). 0, or -1 when too long.
 */
static int connstr_add(char *s, size_t cap, const char *key, const char *value)
{
    size_t o = strlen(s);
    size_t vlen = strlen(value);
    if (strpbrk(value, ";{}=") == NULL && vlen && value[0] != ' ' && value[vlen - 1] != ' ') {
        int n = snprintf(s + o, cap - o, "%s=%s;", key, value);
        return n < 0 || (size_t)n >= cap - o ? -1 : 0;
    }
    int n = snprintf(s + o, cap - o, "%s={", key);
    if (n < 0 || (size_t)n >= cap - o)
        return -1;
    o += (size_t)n;
    for (const char *v = value; *v; v++) {
        if (o + 3 >= cap)
            return -1;
        s[o++] = *v;
        if (*v == '}')
            s[o++] = '}';
    }
    if (o + 3 >= cap)
        return -1;
    s[o++] = '}';
    s[o++] = ';';
    s[o] = 0;
    return 0;
}

struct odbc_pool *odbc_pool_get(const struct cred *c, int read_only, const struct odbc_limits *l)
{
    char *cs = sodium_malloc(ODBC_CONNSTR_MAX);
    char *pw = sodium_malloc(CRED_PASSWORD_MAX + 1);
    if (!cs || !pw) {
        sodium_free(cs);
        sodium_free(pw);
        return NULL;
    }
    cs[0] = 0;
    int bad = 0;
    if (c->dsn[0])
        bad |= connstr_add(cs, ODBC_CONNSTR_MAX, "DSN", c->dsn);
    else
        bad |= snprintf(cs, ODBC_CONNSTR_MAX, "%s%s", c->connection_string,
                        c->connection_string[0] &&
                                c->connection_string[strlen(c->connection_string) - 1] != ';'
                            ? ";"
                            : "") >= ODBC_CONNSTR_MAX;
    if (c->server[0])
        bad |= connstr_add(cs, ODBC_CONNSTR_MAX, "SERVER", c->server);
    if (c->port) {
        char port[16];
        snprintf(port, sizeof port, "%u", c->port);
        bad |= connstr_add(cs, ODBC_CONNSTR_MAX, "PORT", port);
    }
    bad |= connstr_add(cs, ODBC_CONNSTR_MAX, "UID", c->user);
    bad |= connstr_add(cs, ODBC_CONNSTR_MAX, "PWD", c->password);
    memcpy(pw, c->password, c->password_len);
    pw[c->password_len] = 0;
    uint8_t key[32];
    uint8_t mode = (uint8_t)(read_only != 0);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof key);
    crypto_generichash_update(&st, (const uint8_t *)cs, strlen(cs));
    crypto_generichash_update(&st, &mode, 1);
    crypto_generichash_final(&st, key, sizeof key);
    if (bad) {
        sodium_free(cs);
        sodium_free(pw);
        return NULL;
    }
    pthread_mutex_lock(&pools_lock);
    struct odbc_pool *p = pools;
    while (p && sodium_memcmp(p->key, key, sizeof key) != 0)
        p = p->next;
    if (p) {
        p->refs++;
        pthread_mutex_lock(&p->lock);
        p->limits = *l; /* a reload may have changed them */
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&pools_lock);
        sodium_free(cs);
        sodium_free(pw);
        return p;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&pools_lock);
        sodium_free(cs);
        sodium_free(pw);
        return NULL;
    }
    memcpy(p->key, key, sizeof key);
    p->refs = 1;
    p->read_only = read_only;
    p->limits = *l;
    p->connstr = cs;
    p->password = pw;
    snprintf(p->source, sizeof p->source, "%s", c->dsn[0] ? c->dsn : "(connection string)");
    snprintf(p->user, sizeof p->user, "%s", c->user);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->next = pools;
    pools = p;
    pthread_mutex_unlock(&pools_lock);
    return p;
}

void odbc_pool_put(struct odbc_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&pools_lock);
    /* Pools stay (with their idle connections) while the gateway runs:
     * the next handle with the same credential finds them warm. */
    if (p->refs > 0)
        p->refs--;
    pthread_mutex_unlock(&pools_lock);
}

/* 1 when text holds the password, as given or with its '}' doubled (a connection string's escape).
 */
static int holds_password(const char *text, const char *password)
{
    if (!password[0])
        return 0;
    if (strstr(text, password))
        return 1;
    char escaped[2 * CRED_PASSWORD_MAX + 1];
    size_t o = 0;
    for (const char *c = password; *c && o + 2 < sizeof escaped; c++) {
        escaped[o++] = *c;
        if (*c == '}')
            escaped[o++] = '}';
    }
    escaped[o] = 0;
    return strstr(text, escaped) != NULL;
}

/* The first diagnostic of a handle as "SQLSTATE XXXXX: text"; the password never appears. */
static int diag(SQLSMALLINT type, SQLHANDLE h, const struct odbc_pool *p, int fallback,
                const char *what, struct odbc_error *e)
{
    SQLCHAR state[6] = "HY000", text[4096];
    SQLINTEGER native = 0;
    SQLSMALLINT len = 0;
    if (!SQL_SUCCEEDED(
            SQLGetDiagRec(type, h, 1, state, &native, text, (SQLSMALLINT)sizeof text, &len)))
        snprintf((char *)text, sizeof text, "%s failed (no diagnostic from the driver)", what);
    /* Drivers end messages with newlines; the log wants one line. */
    for (char *t = (char *)text; *t; t++)
        if (*t == '\n' || *t == '\r' || *t == '\t')
            *t = ' ';
    /* Checked on the whole message, before it is cut to size. */
    if (p && holds_password((const char *)text, p->password))
        snprintf((char *)text, sizeof text,
                 "%s failed; the driver's message was withheld because it contained the password",
                 what);
    snprintf(e->msg, sizeof e->msg, "SQLSTATE %.5s: %.*s", (const char *)state,
             (int)(sizeof e->msg - 32), (const char *)text);
    if (strncmp((const char *)state, "08", 2) == 0)
        e->code = MC_ERR_DB_UNAVAILABLE;
    else if (strcmp((const char *)state, "HYT00") == 0 ||
             strcmp((const char *)state, "HYT01") == 0 ||
             strcmp((const char *)state, "57014") == 0) /* PostgreSQL: statement timeout */
        e->code = MC_ERR_TIMEOUT;
    else if (strcmp((const char *)state, "HY008") == 0)
        e->code = MC_ERR_CANCELLED;
    else
        e->code = fallback;
    return e->code;
}

static int exec_direct(SQLHDBC dbc, const char *sql)
{
    SQLHSTMT h;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, dbc, &h)))
        return -1;
    SQLRETURN rc = SQLExecDirect(h, (SQLCHAR *)sql, SQL_NTS);
    SQLFreeHandle(SQL_HANDLE_STMT, h);
    return SQL_SUCCEEDED(rc) || rc == SQL_NO_DATA ? 0 : -1;
}

/*
 * The session a pooled connection starts with: read-only on the
 * database's side too when the pool is (the attribute where the driver
 * honours it, and the database's own switch where we know it). After a
 * device's raw SQL ran on it (dirty), the session is reset first
 * (PostgreSQL: DISCARD ALL), so that nothing it changed reaches the next
 * request. 0 or -1.
 */
static int link_session(struct odbc_link *l)
{
    if (l->dirty && strstr(l->dbms, "PostgreSQL")) {
        cache_clear(l); /* DISCARD ALL deallocates them on the server */
        if (exec_direct(l->dbc, "DISCARD ALL") < 0)
            return -1;
    }
    l->dirty = 0;
    if (!l->pool->read_only)
        return 0;
    SQLSetConnectAttr(l->dbc, SQL_ATTR_ACCESS_MODE, (SQLPOINTER)SQL_MODE_READ_ONLY, 0);
    const char *sql = NULL;
    if (strstr(l->dbms, "SQLite"))
        sql = "PRAGMA query_only = 1";
    else if (strstr(l->dbms, "PostgreSQL"))
        sql = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY";
    else if (strstr(l->dbms, "MySQL") || strstr(l->dbms, "MariaDB"))
        sql = "SET SESSION TRANSACTION READ ONLY";
    return sql && exec_direct(l->dbc, sql) < 0 ? -1 : 0;
}

/* Open a new connection of p, read-only on the database's side too when asked. */
static int link_open(struct odbc_pool *p, unsigned login_s, struct odbc_link **out,
                     struct odbc_error *e)
{
    struct odbc_link *l = calloc(1, sizeof *l);
    if (!l) {
        e->code = MC_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return e->code;
    }
    l->pool = p;
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, env, &l->dbc))) {
        free(l);
        e->code = MC_ERR_INTERNAL;
        snprintf(e->msg, sizeof e->msg, "cannot allocate an ODBC connection handle");
        return e->code;
    }
    SQLSetConnectAttr(l->dbc, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)(uintptr_t)login_s, 0);
    SQLRETURN rc = SQLDriverConnect(l->dbc, NULL, (SQLCHAR *)p->connstr, SQL_NTS, NULL, 0, NULL,
                                    SQL_DRIVER_NOPROMPT);
    if (!SQL_SUCCEEDED(rc)) {
        diag(SQL_HANDLE_DBC, l->dbc, p, MC_ERR_DB_UNAVAILABLE, "connect", e);
        /* A refused login is the database's answer, not an outage. */
        if (strncmp(e->msg, "SQLSTATE 28", 11) == 0)
            e->code = MC_ERR_SQL;
        SQLFreeHandle(SQL_HANDLE_DBC, l->dbc);
        free(l);
        return e->code;
    }
    SQLSMALLINT n = 0;
    if (!SQL_SUCCEEDED(SQLGetInfo(l->dbc, SQL_DBMS_NAME, l->dbms, sizeof l->dbms, &n)))
        snprintf(l->dbms, sizeof l->dbms, "unknown");
    /* SQLCancel from another thread: psqlODBC sends PostgreSQL a cancel
     * request; the SQLite driver frees the statement's rows under the
     * thread that reads them, so it never gets one. */
    char driver[64] = "";
    if (SQL_SUCCEEDED(SQLGetInfo(l->dbc, SQL_DRIVER_NAME, driver, sizeof driver, &n)))
        l->cancel_safe = strstr(driver, "psqlodbc") != NULL;
    if (link_session(l) < 0) {
        e->code = MC_ERR_DB_UNAVAILABLE;
        snprintf(e->msg, sizeof e->msg, "cannot make the %s connection read-only", l->dbms);
        link_close(l);
        return e->code;
    }
    *out = l;
    return 0;
}

void odbc_pools_reap(void)
{
    struct odbc_link *old = NULL;
    pthread_mutex_lock(&pools_lock);
    for (struct odbc_pool *p = pools; p; p = p->next) {
        pthread_mutex_lock(&p->lock);
        for (struct odbc_link **l = &p->idle; *l;) {
            if (p->open > p->limits.pool_min &&
                now_ms() - (*l)->idle_since_ms > (uint64_t)p->limits.idle_timeout_s * 1000u) {
                struct odbc_link *gone = *l;
                *l = gone->next;
                gone->next = old;
                old = gone;
                p->open--;
            } else {
                l = &(*l)->next;
            }
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&pools_lock);
    /* Pools are never freed while the gateway runs: closing after the locks is safe. */
    while (old) {
        struct odbc_link *l = old;
        old = l->next;
        link_close(l);
    }
}

int odbc_link_take(struct odbc_pool *p, struct odbc_link **out, struct odbc_error *e)
{
    uint64_t deadline = now_ms() + p->limits.wait_ms;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* Idle connections: the newest first; too old ones are closed
         * (but pool_min of them stay open, warm for the next burst). */
        while (p->idle) {
            struct odbc_link *l = p->idle;
            p->idle = l->next;
            SQLUINTEGER dead = SQL_CD_FALSE;
            int old = p->open > p->limits.pool_min &&
                      now_ms() - l->idle_since_ms > (uint64_t)p->limits.idle_timeout_s * 1000u;
            if (!old &&
                SQL_SUCCEEDED(
                    SQLGetConnectAttr(l->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)) &&
                dead == SQL_CD_TRUE)
                old = 1;
            if (!old) {
                pthread_mutex_unlock(&p->lock);
                *out = l;
                return 0;
            }
            p->open--;
            link_close(l);
        }
        if (p->retry_at_ms && now_ms() < p->retry_at_ms) {
            *e = p->last;
            e->code = MC_ERR_DB_UNAVAILABLE;
            pthread_mutex_unlock(&p->lock);
            return e->code;
        }
        if (p->open < p->limits.pool_max)
            break;
        /* Every connection is busy: wait for one, not forever. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t left = deadline > now_ms() ? deadline - now_ms() : 0;
        if (left == 0) {
            pthread_mutex_unlock(&p->lock);
            e->code = MC_ERR_BUSY;
            snprintf(e->msg, sizeof e->msg,
                     "all %u database connections of this source are busy; try again",
                     p->limits.pool_max);
            return e->code;
        }
        ts.tv_sec += (time_t)(left / 1000u);
        ts.tv_nsec += (long)(left % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->freed, &p->lock, &ts);
    }
    p->open++;
    unsigned login_s = p->limits.wait_ms / 1000u + 1u;
    pthread_mutex_unlock(&p->lock);
    int rc = link_open(p, login_s, out, e);
    pthread_mutex_lock(&p->lock);
    if (rc < 0) {
        p->open--;
        if (e->code == MC_ERR_DB_UNAVAILABLE) {
            unsigned was = p->backoff_ms;
            p->backoff_ms = was ? (was * 2 > ODBC_BACKOFF_MAX_MS ? ODBC_BACKOFF_MAX_MS : was * 2)
                                : ODBC_BACKOFF_MIN_MS;
            p->retry_at_ms = now_ms() + p->backoff_ms;
            p->last = *e;
            if (!was)
                log_warn("event=db_unavailable source=%s user=%s retry_ms=%u reason=\"%s\"",
                         p->source, p->user, p->backoff_ms, e->msg);
        }
        pthread_cond_signal(&p->freed);
    } else if (p->backoff_ms) {
        log_info("event=db_available source=%s user=%s", p->source, p->user);
        p->backoff_ms = 0;
        p->retry_at_ms = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void odbc_link_give(struct odbc_link *l)
{
    struct odbc_pool *p = l->pool;
    if (l->in_tx && !l->broken) {
        if (!SQL_SUCCEEDED(SQLEndTran(SQL_HANDLE_DBC, l->dbc, SQL_ROLLBACK)))
            l->broken = 1;
        SQLSetConnectAttr(l->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
        l->in_tx = 0;
    }
    if (l->dirty && !l->broken && link_session(l) < 0)
        l->broken = 1; /* cannot be trusted with the next request */
    pthread_mutex_lock(&p->lock);
    if (l->broken) {
        p->open--;
        pthread_mutex_unlock(&p->lock);
        link_close(l);
        pthread_mutex_lock(&p->lock);
    } else {
        l->idle_since_ms = now_ms();
        l->next = p->idle;
        p->idle = l;
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

const char *odbc_link_dbms(const struct odbc_link *l)
{
    return l->dbms;
}

void odbc_link_dirty(struct odbc_link *l)
{
    l->dirty = 1;
}

int odbc_link_tx(struct odbc_link *l, int op, struct odbc_error *e)
{
    SQLRETURN rc;
    if (op == 1) {
        rc = SQLSetConnectAttr(l->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_OFF, 0);
        if (SQL_SUCCEEDED(rc))
            l->in_tx = 1;
    } else {
        rc = SQLEndTran(SQL_HANDLE_DBC, l->dbc, op == 2 ? SQL_COMMIT : SQL_ROLLBACK);
        if (SQL_SUCCEEDED(rc)) {
            SQLSetConnectAttr(l->dbc, SQL_ATTR_AUTOCOMMIT, (SQLPOINTER)SQL_AUTOCOMMIT_ON, 0);
            l->in_tx = 0;
        }
    }
    if (SQL_SUCCEEDED(rc))
        return 0;
    diag(SQL_HANDLE_DBC, l->dbc, l->pool, MC_ERR_SQL, "transaction", e);
    if (e->code == MC_ERR_DB_UNAVAILABLE)
        l->broken = 1;
    return e->code;
}

/* -- statements --------------------------------------------------------------- */

static int stmt_fail(struct odbc_stmt *s, const char *what, struct odbc_error *e)
{
    diag(SQL_HANDLE_STMT, s->h, s->link->pool, MC_ERR_SQL, what, e);
    /* Drivers do not always say 08xxx when the server went away (psqlODBC:
     * HY000 "server closed the connection unexpectedly", "The connection
     * has been lost"): ask the driver, and failing that the database, with
     * the cheapest statement there is (not inside a transaction, which
     * the error may have aborted). */
    SQLUINTEGER dead = SQL_CD_FALSE;
    if (e->code == MC_ERR_SQL && ((SQL_SUCCEEDED(SQLGetConnectAttr(
                                       s->link->dbc, SQL_ATTR_CONNECTION_DEAD, &dead, 0, NULL)) &&
                                   dead == SQL_CD_TRUE) ||
                                  (!s->link->in_tx && exec_direct(s->link->dbc, "SELECT 1") < 0)))
        e->code = MC_ERR_DB_UNAVAILABLE;
    if (e->code == MC_ERR_DB_UNAVAILABLE)
        s->link->broken = 1;
    s->failed = 1;
    return e->code;
}

/* Bind one parameter; its storage is the request's (alive until the statement runs). */
static SQLRETURN bind_param(SQLHSTMT h, SQLUSMALLINT i, const struct odbc_value *v, SQLLEN *ind,
                            void *tmp)
{
    switch (v->tag) {
    case MC_VALUE_INT:
        *ind = 0;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0,
                                (SQLPOINTER)&v->i, 0, ind);
    case MC_VALUE_FLOAT:
        *ind = 0;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 0, 0,
                                (SQLPOINTER)&v->f, 0, ind);
    case MC_VALUE_DECIMAL:
        *ind = (SQLLEN)v->len;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_DECIMAL, v->len ? v->len : 1,
                                0, (SQLPOINTER)v->p, (SQLLEN)v->len, ind);
    case MC_VALUE_TEXT:
        *ind = (SQLLEN)v->len;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_CHAR,
                                v->len > 4000 ? SQL_LONGVARCHAR : SQL_VARCHAR, v->len ? v->len : 1,
                                0, (SQLPOINTER)v->p, (SQLLEN)v->len, ind);
    case MC_VALUE_BINARY:
        *ind = (SQLLEN)v->len;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_BINARY,
                                v->len > 8000 ? SQL_LONGVARBINARY : SQL_VARBINARY,
                                v->len ? v->len : 1, 0, (SQLPOINTER)v->p, (SQLLEN)v->len, ind);
    case MC_VALUE_DATE: {
        SQL_DATE_STRUCT *d = tmp;
        *d = (SQL_DATE_STRUCT){.year = (SQLSMALLINT)v->year, .month = v->month, .day = v->day};
        *ind = 0;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_TYPE_DATE, SQL_TYPE_DATE, 10, 0, d, 0,
                                ind);
    }
    case MC_VALUE_TIME: {
        SQL_TIME_STRUCT *t = tmp;
        *t = (SQL_TIME_STRUCT){.hour = v->hour, .minute = v->minute, .second = v->second};
        *ind = 0;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_TYPE_TIME, SQL_TYPE_TIME, 8, 0, t, 0,
                                ind);
    }
    case MC_VALUE_TIMESTAMP: {
        SQL_TIMESTAMP_STRUCT *t = tmp;
        *t = (SQL_TIMESTAMP_STRUCT){.year = (SQLSMALLINT)v->year,
                                    .month = v->month,
                                    .day = v->day,
                                    .hour = v->hour,
                                    .minute = v->minute,
                                    .second = v->second,
                                    .fraction = v->nanos};
        *ind = 0;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_TYPE_TIMESTAMP, SQL_TYPE_TIMESTAMP, 29,
                                9, t, 0, ind);
    }
    default:
        *ind = SQL_NULL_DATA;
        return SQLBindParameter(h, i, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 1, 0, NULL, 0, ind);
    }
}

int odbc_stmt_open(struct odbc_link *l, const char *sql, int prepared, struct odbc_stmt **out,
                   struct odbc_error *e)
{
    struct odbc_stmt *s = calloc(1, sizeof *s);
    if (!s) {
        e->code = MC_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return e->code;
    }
    s->link = l;
    if (prepared) {
        /* Kept from an earlier request on this connection? */
        struct odbc_cached *c = NULL, *lru = &l->cache[0];
        for (unsigned i = 0; i < ODBC_CACHE && !c; i++) {
            if (l->cache[i].sql && strcmp(l->cache[i].sql, sql) == 0)
                c = &l->cache[i];
            else if (lru->sql && (!l->cache[i].sql || l->cache[i].used < lru->used))
                lru = &l->cache[i];
        }
        if (c) {
            c->used = ++l->uses;
            s->h = c->h;
            s->cached = c;
            *out = s;
            return 0;
        }
        if (lru->sql) { /* the least recently used one makes room */
            SQLFreeHandle(SQL_HANDLE_STMT, lru->h);
            free(lru->sql);
            lru->sql = NULL;
        }
        s->cached = lru;
    }
    if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_STMT, l->dbc, &s->h))) {
        diag(SQL_HANDLE_DBC, l->dbc, l->pool, MC_ERR_DB_UNAVAILABLE, "statement", e);
        if (e->code == MC_ERR_DB_UNAVAILABLE)
            l->broken = 1;
        free(s);
        return e->code;
    }
    if (prepared) {
        char *copy = strdup(sql);
        int rc = 0;
        if (!copy) {
            rc = e->code = MC_ERR_NOMEM;
            snprintf(e->msg, sizeof e->msg, "out of memory");
        } else if (!SQL_SUCCEEDED(SQLPrepare(s->h, (SQLCHAR *)sql, SQL_NTS))) {
            rc = stmt_fail(s, "prepare", e);
        } else if (!SQL_SUCCEEDED(SQLNumParams(s->h, &s->cached->params))) {
            s->cached->params = -1; /* the driver cannot say: execute tells */
        }
        if (rc < 0) {
            free(copy);
            SQLFreeHandle(SQL_HANDLE_STMT, s->h);
            free(s);
            return rc;
        }
        s->cached->sql = copy;
        s->cached->h = s->h;
        s->cached->used = ++l->uses;
        s->cached->timeout_s = UINT_MAX; /* not set yet: the first execute sets it */
    }
    *out = s;
    return 0;
}

int odbc_stmt_exec(struct odbc_stmt *s, const char *sql, const struct odbc_value *params,
                   size_t nparams, unsigned timeout_s, struct odbc_error *e)
{
    /* The bound values' indicators and converted dates live until the
     * statement ran: on the stack for the usual few parameters. */
    SQLLEN ind_few[8];
    SQL_TIMESTAMP_STRUCT tmp_few[8];
    int few = nparams <= 8;
    SQLLEN *ind = few ? ind_few : calloc(nparams, sizeof *ind);
    SQL_TIMESTAMP_STRUCT *tmp = few ? tmp_few : calloc(nparams, sizeof *tmp);
    int rc = 0;
    if (!ind || !tmp) {
        e->code = MC_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        rc = e->code;
        goto out;
    }
    /* A kept statement keeps its attributes: set again only when changed. */
    if (!s->cached || s->cached->timeout_s != timeout_s) {
        if (SQL_SUCCEEDED(SQLSetStmtAttr(s->h, SQL_ATTR_QUERY_TIMEOUT,
                                         (SQLPOINTER)(uintptr_t)timeout_s, 0)) &&
            s->cached)
            s->cached->timeout_s = timeout_s;
    }
    SQLSMALLINT want = s->cached ? s->cached->params : -1;
    if (want < 0 && s->cached && !SQL_SUCCEEDED(SQLNumParams(s->h, &want)))
        want = -1;
    if (want >= 0 && (size_t)want != nparams) {
        rc = e->code = MC_ERR_BAD_PAYLOAD;
        snprintf(e->msg, sizeof e->msg,
                 "the statement has %d parameter marker%s and %zu value%s came", want,
                 want == 1 ? "" : "s", nparams, nparams == 1 ? "" : "s");
        goto out;
    }
    for (size_t i = 0; i < nparams; i++) {
        if (!SQL_SUCCEEDED(bind_param(s->h, (SQLUSMALLINT)(i + 1), &params[i], &ind[i], &tmp[i]))) {
            rc = stmt_fail(s, "bind", e);
            goto out;
        }
    }
    /* A prepared statement runs again as it is; anything else is executed
     * directly, not prepared first: psqlODBC then sends one message to
     * PostgreSQL instead of four (parse, describe, execute, deallocate). */
    SQLRETURN r = s->cached ? SQLExecute(s->h) : SQLExecDirect(s->h, (SQLCHAR *)sql, SQL_NTS);
    if (!SQL_SUCCEEDED(r) && r != SQL_NO_DATA) {
        rc = stmt_fail(s, "execute", e);
        /* A parameter count that is not the statement's is the request's
         * fault: on this error path only, the statement is prepared to count. */
        if (rc == MC_ERR_SQL && !s->cached && SQL_SUCCEEDED(SQLFreeStmt(s->h, SQL_RESET_PARAMS)) &&
            SQL_SUCCEEDED(SQLPrepare(s->h, (SQLCHAR *)sql, SQL_NTS)) &&
            SQL_SUCCEEDED(SQLNumParams(s->h, &want)) && (size_t)want != nparams) {
            rc = e->code = MC_ERR_BAD_PAYLOAD;
            snprintf(e->msg, sizeof e->msg,
                     "the statement has %d parameter marker%s and %zu value%s came", want,
                     want == 1 ? "" : "s", nparams, nparams == 1 ? "" : "s");
        }
        goto out;
    }
    SQLNumResultCols(s->h, &s->ncols);
out:
    if (!few) {
        free(ind);
        free(tmp);
    }
    return rc;
}

static uint8_t tag_of(SQLSMALLINT t)
{
    switch (t) {
    case SQL_BIT:
    case SQL_TINYINT:
    case SQL_SMALLINT:
    case SQL_INTEGER:
    case SQL_BIGINT:
        return MC_VALUE_INT;
    case SQL_DECIMAL:
    case SQL_NUMERIC:
        return MC_VALUE_DECIMAL;
    case SQL_REAL:
    case SQL_FLOAT:
    case SQL_DOUBLE:
        return MC_VALUE_FLOAT;
    case SQL_BINARY:
    case SQL_VARBINARY:
    case SQL_LONGVARBINARY:
        return MC_VALUE_BINARY;
    case SQL_TYPE_DATE:
    case SQL_DATE:
        return MC_VALUE_DATE;
    case SQL_TYPE_TIME:
    case SQL_TIME:
        return MC_VALUE_TIME;
    case SQL_TYPE_TIMESTAMP:
    case SQL_TIMESTAMP:
        return MC_VALUE_TIMESTAMP;
    default:
        return MC_VALUE_TEXT;
    }
}

static int put(struct buf *b, const void *p, size_t n)
{
    return buf_append(b, p, n) < 0 ? MC_ERR_RESULT_LIMIT : 0;
}

static int put_be(struct buf *b, uint64_t v, unsigned bytes)
{
    uint8_t x[8];
    for (unsigned i = 0; i < bytes; i++)
        x[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return put(b, x, bytes);
}

int odbc_stmt_columns(struct odbc_stmt *s, struct buf *out, struct odbc_error *e)
{
    size_t ncols = s->ncols ? (size_t)s->ncols : 1;
    s->cols = ncols <= sizeof s->cols_inline / sizeof s->cols_inline[0]
                  ? s->cols_inline
                  : calloc(ncols, sizeof *s->cols);
    /* The link's: a long value is read in pieces through it (allocated
     * once per database connection, not per statement). */
    if (!s->link->scratch)
        s->link->scratch = malloc(ODBC_CHUNK + 2);
    s->scratch = s->link->scratch;
    if (!s->cols || !s->scratch) {
        e->code = MC_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return e->code;
    }
    int rc = put_be(out, (uint16_t)s->ncols, 2);
    for (SQLSMALLINT i = 1; rc == 0 && i <= s->ncols; i++) {
        SQLCHAR name[256];
        SQLSMALLINT nlen = 0, type = 0, digits = 0, nullable = SQL_NULLABLE_UNKNOWN;
        SQLULEN size = 0;
        if (!SQL_SUCCEEDED(SQLDescribeCol(s->h, (SQLUSMALLINT)i, name, sizeof name, &nlen, &type,
                                          &size, &digits, &nullable)))
            return stmt_fail(s, "describe", e);
        size_t n = strlen((const char *)name);
        s->cols[i - 1] = (struct odbc_col){.tag = tag_of(type), .sql_type = type};
        rc = put_be(out, n, 2);
        if (rc == 0)
            rc = put(out, name, n);
        if (rc == 0)
            rc = put_be(out, s->cols[i - 1].tag, 1);
        if (rc == 0)
            rc = put_be(out, (uint16_t)type, 2);
        if (rc == 0)
            rc = put_be(out, size > UINT32_MAX ? UINT32_MAX : (uint32_t)size, 4);
        if (rc == 0)
            rc = put_be(out, nullable == SQL_NO_NULLS ? 0 : nullable == SQL_NULLABLE ? 1 : 2, 1);
    }
    if (rc < 0) {
        e->code = rc;
        snprintf(e->msg, sizeof e->msg, "the column description is too large");
    }
    return rc;
}

/* A long value (text, decimal or binary) in pieces: tag, u32 length, bytes (u16 for DECIMAL). */
static int fetch_long(struct odbc_stmt *s, SQLUSMALLINT col, uint8_t tag, struct buf *out,
                      struct odbc_error *e)
{
    SQLSMALLINT ctype = tag == MC_VALUE_BINARY ? SQL_C_BINARY : SQL_C_CHAR;
    size_t lenbytes = tag == MC_VALUE_DECIMAL ? 2 : 4;
    size_t at = buf_len(out), total = 0;
    int first = 1;
    for (;;) {
        SQLLEN ind = 0;
        SQLRETURN r = SQLGetData(s->h, col, ctype, s->scratch, ODBC_CHUNK + 1, &ind);
        if (r == SQL_NO_DATA)
            break;
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (first && ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        if (first) {
            uint8_t head[5] = {tag, 0, 0, 0, 0};
            if (put(out, head, 1 + lenbytes) < 0)
                goto limit;
            first = 0;
        }
        /* What the buffer holds: all of it when the value goes on (character
         * data keeps a byte for its NUL), else what the driver says is left;
         * text may hold 0x00 bytes, so its length is never strlen's. */
        size_t piece;
        if (r == SQL_SUCCESS_WITH_INFO)
            piece = ctype == SQL_C_CHAR ? ODBC_CHUNK : ODBC_CHUNK + 1;
        else if (ind == SQL_NO_TOTAL)
            piece = ctype == SQL_C_CHAR ? strlen((const char *)s->scratch) : ODBC_CHUNK + 1;
        else
            piece = (size_t)ind;
        if (put(out, s->scratch, piece) < 0)
            goto limit;
        total += piece;
        if (r == SQL_SUCCESS)
            break;
    }
    if (tag == MC_VALUE_DECIMAL && total > 65535)
        goto limit;
    uint8_t *len = (uint8_t *)buf_head(out) + at + 1;
    for (size_t i = 0; i < lenbytes; i++)
        len[i] = (uint8_t)(total >> (8 * (lenbytes - 1 - i)));
    return 0;
limit:
    e->code = MC_ERR_RESULT_LIMIT;
    snprintf(e->msg, sizeof e->msg, "the result is larger than odbc_max_result_bytes");
    return e->code;
}

static int fetch_value(struct odbc_stmt *s, SQLUSMALLINT col, struct buf *out, struct odbc_error *e)
{
    uint8_t tag = s->cols[col - 1].tag;
    SQLLEN ind = 0;
    SQLRETURN r;
    int rc;
    switch (tag) {
    case MC_VALUE_INT: {
        SQLBIGINT v = 0;
        r = SQLGetData(s->h, col, SQL_C_SBIGINT, &v, 0, &ind);
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        rc = put_be(out, tag, 1);
        return rc ? rc : put_be(out, (uint64_t)v, 8);
    }
    case MC_VALUE_FLOAT: {
        double v = 0;
        r = SQLGetData(s->h, col, SQL_C_DOUBLE, &v, 0, &ind);
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        uint64_t bits;
        memcpy(&bits, &v, 8);
        rc = put_be(out, tag, 1);
        return rc ? rc : put_be(out, bits, 8);
    }
    case MC_VALUE_DATE: {
        SQL_DATE_STRUCT d;
        r = SQLGetData(s->h, col, SQL_C_TYPE_DATE, &d, sizeof d, &ind);
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        uint8_t v[5] = {tag, (uint8_t)((uint16_t)d.year >> 8), (uint8_t)d.year, (uint8_t)d.month,
                        (uint8_t)d.day};
        return put(out, v, sizeof v);
    }
    case MC_VALUE_TIME: {
        SQL_TIME_STRUCT t;
        r = SQLGetData(s->h, col, SQL_C_TYPE_TIME, &t, sizeof t, &ind);
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        uint8_t v[8] = {tag, (uint8_t)t.hour, (uint8_t)t.minute, (uint8_t)t.second, 0, 0, 0, 0};
        return put(out, v, sizeof v);
    }
    case MC_VALUE_TIMESTAMP: {
        SQL_TIMESTAMP_STRUCT t;
        r = SQLGetData(s->h, col, SQL_C_TYPE_TIMESTAMP, &t, sizeof t, &ind);
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (ind == SQL_NULL_DATA)
            return put_be(out, MC_VALUE_NULL, 1);
        uint8_t v[12] = {tag,
                         (uint8_t)((uint16_t)t.year >> 8),
                         (uint8_t)t.year,
                         (uint8_t)t.month,
                         (uint8_t)t.day,
                         (uint8_t)t.hour,
                         (uint8_t)t.minute,
                         (uint8_t)t.second,
                         (uint8_t)(t.fraction >> 24),
                         (uint8_t)(t.fraction >> 16),
                         (uint8_t)(t.fraction >> 8),
                         (uint8_t)t.fraction};
        return put(out, v, sizeof v);
    }
    default:
        return fetch_long(s, col, tag, out, e);
    }
}

int odbc_stmt_fetch(struct odbc_stmt *s, struct buf *out, size_t chunk, uint64_t max_rows,
                    uint64_t *rows, int *done, int *more, struct odbc_error *e)
{
    while (buf_len(out) < chunk) {
        SQLRETURN r = SQLFetch(s->h);
        if (r == SQL_NO_DATA) {
            *done = 1;
            return 0;
        }
        if (!SQL_SUCCEEDED(r))
            return stmt_fail(s, "fetch", e);
        if (*rows >= max_rows) {
            *more = 1;
            *done = 1;
            return 0;
        }
        for (SQLSMALLINT c = 1; c <= s->ncols; c++) {
            int rc = fetch_value(s, (SQLUSMALLINT)c, out, e);
            if (rc < 0) {
                if (rc == MC_ERR_RESULT_LIMIT) {
                    e->code = rc;
                    snprintf(e->msg, sizeof e->msg,
                             "the result is larger than odbc_max_result_bytes");
                }
                return rc;
            }
        }
        (*rows)++;
    }
    return 0;
}

int odbc_stmt_ncols(const struct odbc_stmt *s)
{
    return s->ncols;
}

uint64_t odbc_stmt_affected(struct odbc_stmt *s)
{
    SQLLEN n = -1;
    if (!SQL_SUCCEEDED(SQLRowCount(s->h, &n)) || n < 0)
        return UINT64_MAX;
    return (uint64_t)n;
}

int odbc_stmt_cancel(struct odbc_stmt *s)
{
    if (!s->link->cancel_safe)
        return 0;
    SQLCancel(s->h);
    return 1;
}

void odbc_stmt_close(struct odbc_stmt *s)
{
    if (!s)
        return;
    if (s->cached && !s->failed) {
        /* Kept for the next request: only its rows and parameters go. */
        SQLFreeStmt(s->h, SQL_CLOSE);
        SQLFreeStmt(s->h, SQL_RESET_PARAMS);
    } else {
        if (s->cached) { /* a failed one may be stale (the schema changed): prepared again */
            free(s->cached->sql);
            s->cached->sql = NULL;
        }
        SQLFreeHandle(SQL_HANDLE_STMT, s->h);
    }
    if (s->cols != s->cols_inline)
        free(s->cols);
    free(s);
}
