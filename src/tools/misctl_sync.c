/*
 * misctl sync init, misctl device add/list/revoke: the intervention sync's
 * tables in the service-desk database and the devices bound to
 * technicians. The statements are the mapping's (conf/sync/NAME.DIALECT.sql),
 * run with the [sync] section's credential (or --credential for init,
 * which needs an account that may create tables and triggers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "cred.h"
#include "misctl.h"
#include "miscomm/error.h"
#include "odbc_db.h"
#include "sync_db.h"
#include "sync_map.h"

static const char sync_help[] =
    "Usage: misctl sync init --connection NAME [-c CONFIG] [--credential FILE]\n"
    "Creates the gateway's sync tables (devices, applied operations, the change log)\n"
    "and the change-log triggers in the service-desk database, with the statements of\n"
    "the connection's [sync] mapping for the database's dialect. Safe to run again.\n"
    "  --connection NAME   the [connection NAME] whose sync_mapping to use (required)\n"
    "  -c, --config FILE   default conf/miscomm.ini if it exists, else\n"
    "                      /etc/miscomm/miscomm.ini\n"
    "  --credential FILE   a credential file of an account that may create tables and\n"
    "                      triggers (default: the [sync] section's credential)\n"
    "\n"
    "Exit status: 0 success; 1 failure (the database refused, cannot connect);\n"
    "64 usage error; 65 the credential file was refused; 78 invalid configuration.\n";

static const char device_help[] =
    "Usage: misctl device add DEVICE_ID --technician ID --connection NAME [-c CONFIG]\n"
    "       misctl device list --connection NAME [-c CONFIG]\n"
    "       misctl device revoke DEVICE_ID --connection NAME [-c CONFIG]\n"
    "Binds a device (the HELLO device id) to a technician for intervention sync, lists\n"
    "the bindings, or revokes one: a revoked device is refused at HELLO on that\n"
    "connection and its live connections are closed within the mapping's\n"
    "poll_interval. Adding a revoked device again binds it anew. The bindings live in\n"
    "the service-desk database (misctl sync init), so every gateway on it sees them.\n"
    "  --technician ID     the technician's id (technicians.id in the demo schema)\n"
    "  --connection NAME   the [connection NAME] (with sync = on and sync_mapping)\n"
    "  -c, --config FILE   default conf/miscomm.ini if it exists, else\n"
    "                      /etc/miscomm/miscomm.ini\n"
    "\n"
    "Exit status: 0 success; 1 failure (already bound, unknown device or technician,\n"
    "the database refused); 64 usage error; 65 the credential file was refused;\n"
    "78 invalid configuration.\n";

enum { O_CONFIG = 1, O_CONNECTION, O_CREDENTIAL, O_TECHNICIAN, O_HELP };

static const struct toolopt opts[] = {
    {"config", 'c', TOOLOPT_VALUE, O_CONFIG},       {"connection", 0, TOOLOPT_VALUE, O_CONNECTION},
    {"credential", 0, TOOLOPT_VALUE, O_CREDENTIAL}, {"technician", 0, TOOLOPT_VALUE, O_TECHNICIAN},
    {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},        {NULL, 0, 0, 0},
};

/* An open database session on the connection's mapping. */
struct session {
    const char *who;
    struct mc_config cfg;
    const struct cfg_connection *conn;
    struct cred_master master;
    struct odbc_pool *pool;
    struct odbc_link *link;
    struct sync_map map;
};

static int db_error(struct session *s, const struct odbc_error *e, int rc)
{
    fprintf(stderr, "misctl: %s: %s (%s): %s\n", s->who, mc_strerror(rc), mc_err_name(rc), e->msg);
    if (rc == MC_ERR_BAD_CREDENTIAL || rc == MC_ERR_WRONG_KEY || rc == MC_ERR_UNKNOWN_KEY ||
        rc == MC_ERR_CREDENTIAL_VERSION)
        return EXIT_REFUSED;
    return rc == MC_ERR_CONFIG ? EXIT_CONFIG : EXIT_FAIL;
}

static int session_open(struct session *s, const char *config, const char *connection,
                        const char *credential)
{
    if (config_load(config, &s->cfg, config_print_error, (void *)config) < 0) {
        fprintf(stderr, "misctl: %s: %s: configuration is invalid\n", s->who, config);
        return EXIT_CONFIG;
    }
    for (size_t i = 0; i < s->cfg.nconns && !s->conn; i++)
        if (strcasecmp(s->cfg.conns[i].name, connection) == 0)
            s->conn = &s->cfg.conns[i];
    if (!s->conn || !s->conn->sync) {
        fprintf(stderr, "misctl: %s: %s: %s\n", s->who, config,
                s->conn ? "this connection has no sync_mapping"
                        : "no such [connection NAME] section");
        return EXIT_CONFIG;
    }
    const char *why = NULL;
    if (cred_master_key_load(s->cfg.data_dir, 0, &s->master, &why) < 0) {
        fprintf(stderr, "misctl: %s: no master key in %s: %s\n", s->who, s->cfg.data_dir,
                why ? why : "unreadable");
        return EXIT_FAIL;
    }
    if (odbc_db_init(s->cfg.odbc_ini_dir) < 0) {
        fprintf(stderr, "misctl: %s: cannot set up the ODBC environment\n", s->who);
        return EXIT_FAIL;
    }
    struct odbc_limits lim = {.pool_min = 0, .pool_max = 1, .idle_timeout_s = 60, .wait_ms = 10000};
    struct odbc_error e = {0};
    int rc = sync_db_pool(credential ? credential : s->conn->sync->credential, &s->master, &lim,
                          &s->pool, &e);
    if (rc == 0)
        rc = odbc_link_take(s->pool, &s->link, &e);
    if (rc < 0)
        return db_error(s, &e, rc);
    const char *dialect = sync_dialect(odbc_link_dbms(s->link));
    char msg[512];
    if (!dialect) {
        fprintf(stderr, "misctl: %s: no sync mapping dialect for the database %s\n", s->who,
                odbc_link_dbms(s->link));
        return EXIT_CONFIG;
    }
    if (sync_map_load(s->conn->sync->mapping, dialect, s->conn->sync->fields, &s->map, msg,
                      sizeof msg) < 0) {
        fprintf(stderr, "misctl: %s: %s\n", s->who, msg);
        return EXIT_CONFIG;
    }
    return 0;
}

static void session_close(struct session *s)
{
    if (s->link)
        odbc_link_give(s->link);
    if (s->pool)
        odbc_pool_put(s->pool);
    sync_map_free(&s->map);
    if (s->conn || s->cfg.conns)
        config_free(&s->cfg);
    cred_master_wipe(&s->master);
    odbc_db_shutdown();
}

static int run(struct session *s, const char *name, const struct sync_bind *b, size_t nb,
               struct buf *rows, uint64_t *n, uint64_t *affected)
{
    struct odbc_error e = {0};
    int rc = sync_db_run(s->link, &s->map, name, b, nb, NULL, rows, n, affected, &e);
    return rc < 0 ? db_error(s, &e, rc) : 0;
}

static int sync_init(struct session *s)
{
    unsigned done = 0;
    for (size_t i = 0; i < s->map.n; i++) {
        if (strcmp(s->map.stmts[i].name, "init") != 0)
            continue;
        struct odbc_stmt *st;
        struct odbc_error e = {0};
        int rc = odbc_stmt_open(s->link, s->map.stmts[i].sql, 0, &st, &e);
        if (rc == 0) {
            rc = odbc_stmt_exec(st, s->map.stmts[i].sql, NULL, 0, 300, &e);
            odbc_stmt_close(st);
        }
        if (rc < 0) {
            fprintf(stderr, "misctl: %s: init statement %u of %s.%s.sql failed:\n", s->who,
                    done + 1, s->conn->sync->mapping, s->map.dialect);
            return db_error(s, &e, rc);
        }
        done++;
    }
    printf("sync tables ready: %u init statements of %s.%s.sql ran on %s\n", done,
           s->conn->sync->mapping, s->map.dialect, odbc_link_dbms(s->link));
    return 0;
}

static void print_value(const struct odbc_value *v)
{
    if (v->tag == MC_VALUE_INT)
        printf("%lld", (long long)v->i);
    else if (v->tag == MC_VALUE_TEXT)
        printf("%.*s", (int)v->len, (const char *)v->p);
    else if (v->tag == MC_VALUE_TIMESTAMP)
        printf("%04u-%02u-%02u %02u:%02u:%02u", v->year, v->month, v->day, v->hour, v->minute,
               v->second);
    else
        printf("-");
}

static int device_list(struct session *s)
{
    struct buf rows;
    buf_init(&rows, 16u << 20);
    uint64_t n = 0;
    int ret = run(s, "device_list", NULL, 0, &rows, &n, NULL);
    if (ret == 0) {
        printf("%-24s %-14s %-10s %-14s %-8s %-19s %-19s %-19s\n", "DEVICE", "CONNECTION",
               "TECHNICIAN", "LOGIN", "STATE", "ADDED", "LAST PULL", "LAST PUSH");
        size_t off = 0;
        struct odbc_value v[9];
        for (uint64_t i = 0; i < n && sync_db_row(&rows, &off, 9, v) == 0; i++) {
            int widths[] = {-24, -14, -10, -14};
            for (int k = 0; k < 4; k++) {
                char cell[256];
                if (v[k].tag == MC_VALUE_INT)
                    snprintf(cell, sizeof cell, "%lld", (long long)v[k].i);
                else if (v[k].tag == MC_VALUE_TEXT)
                    snprintf(cell, sizeof cell, "%.*s", (int)v[k].len, (const char *)v[k].p);
                else
                    snprintf(cell, sizeof cell, "-");
                printf("%*s ", widths[k], cell);
            }
            printf("%-8s ", v[4].tag == MC_VALUE_INT && v[4].i ? "revoked" : "active");
            for (int k = 5; k < 9; k++) {
                if (k == 6)
                    continue;
                print_value(&v[k]);
                printf(k == 8 ? "\n" : "  ");
            }
        }
    }
    buf_free(&rows);
    return ret;
}

static int device_change(struct session *s, int add, const char *device, const char *tech)
{
    char *end;
    long long t = add ? strtoll(tech, &end, 10) : 0;
    if (add && (*tech == 0 || *end || t <= 0)) {
        fprintf(stderr, "misctl: %s: --technician must be a positive number\n", s->who);
        return EXIT_USAGE;
    }
    size_t dlen = strlen(device);
    if (dlen == 0 || dlen > 128) {
        fprintf(stderr, "misctl: %s: a device id is 1 to 128 bytes\n", s->who);
        return EXIT_USAGE;
    }
    struct odbc_error e = {0};
    int rc = odbc_link_tx(s->link, 1, &e);
    if (rc < 0)
        return db_error(s, &e, rc);
    struct sync_bind b[] = {{"device", sync_text(device, dlen)},
                            {"connection", sync_text(s->conn->name, strlen(s->conn->name))},
                            {"technician", sync_int(t)}};
    int64_t bound_to = 0;
    int revoked = 0;
    rc = sync_db_device(s->link, &s->map, device, s->conn->name, &bound_to, &revoked, &e);
    int exists = rc == 0;
    if (rc == MC_ERR_NOT_BOUND) {
        /* Bound on another connection, or not at all: the row tells. */
        struct buf rows;
        buf_init(&rows, 4096);
        uint64_t n = 0;
        exists = run(s, "device", b, 1, &rows, &n, NULL) == 0 && n > 0;
        buf_free(&rows);
        rc = 0;
    }
    int ret = rc < 0 ? db_error(s, &e, rc) : 0;
    uint64_t n = 0, affected = 0;
    if (ret == 0 && add) {
        struct buf rows;
        buf_init(&rows, 4096);
        ret = run(s, "technician", b + 2, 1, &rows, &n, NULL);
        buf_free(&rows);
        if (ret == 0 && n == 0) {
            fprintf(stderr, "misctl: %s: no technician with id %lld\n", s->who, t);
            ret = EXIT_FAIL;
        } else if (ret == 0 && exists && !revoked && bound_to) {
            fprintf(stderr,
                    "misctl: %s: %s is already bound (to technician %lld); revoke it first\n",
                    s->who, device, (long long)bound_to);
            ret = EXIT_FAIL;
        } else if (ret == 0) {
            struct sync_bind rb[] = {b[1], b[2], b[0]};
            ret = exists ? run(s, "device_rebind", rb, 3, NULL, NULL, NULL)
                         : run(s, "device_add", b, 3, NULL, NULL, NULL);
        }
    } else if (ret == 0) {
        ret = run(s, "device_revoke", b, 1, NULL, NULL, &affected);
        if (ret == 0 && affected == 0) {
            fprintf(stderr, "misctl: %s: %s is not bound on connection %s, or already revoked\n",
                    s->who, device, s->conn->name);
            ret = EXIT_FAIL;
        }
    }
    if (ret == 0)
        ret = run(s, "devices_bump", NULL, 0, NULL, NULL, NULL);
    if (ret == 0 && (rc = odbc_link_tx(s->link, 2, &e)) < 0)
        ret = db_error(s, &e, rc);
    if (ret != 0) {
        (void)odbc_link_tx(s->link, 3, &e);
        return ret;
    }
    if (add)
        printf("%s bound to technician %lld on connection %s\n", device, t, s->conn->name);
    else
        printf("%s revoked on connection %s: refused at HELLO; live connections closed within "
               "%u s\n",
               device, s->conn->name, s->conn->sync->poll_interval);
    return 0;
}

static int command(int argc, char **argv, int is_device)
{
    const char *help = is_device ? device_help : sync_help;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *sub = argv[1];
    struct toolopt_parser p;
    toolopt_init(&p, argc - 1, argv + 1, opts, 0);
    const char *config = misctl_default_config();
    const char *connection = NULL, *credential = NULL, *tech = NULL;
    char who[32];
    snprintf(who, sizeof who, "%s %s", is_device ? "device" : "sync", sub);
    int id;
    while ((id = toolopt_next(&p)) != TOOLOPT_END) {
        switch (id) {
        case O_CONFIG:
            config = p.value;
            break;
        case O_CONNECTION:
            connection = p.value;
            break;
        case O_CREDENTIAL:
            credential = p.value;
            break;
        case O_TECHNICIAN:
            tech = p.value;
            break;
        case O_HELP:
            fputs(help, stdout);
            return 0;
        default:
            misctl_option_error(who, &p);
            return EXIT_USAGE;
        }
    }
    int want_device = is_device && strcmp(sub, "list") != 0;
    int known = is_device ? strcmp(sub, "add") == 0 || strcmp(sub, "list") == 0 ||
                                strcmp(sub, "revoke") == 0
                          : strcmp(sub, "init") == 0;
    if (!known) {
        fprintf(stderr, "misctl: %s: unknown subcommand (try --help)\n", who);
        return EXIT_USAGE;
    }
    if (!connection || p.nargs != (want_device ? 1 : 0) ||
        (strcmp(sub, "add") == 0) != (tech != NULL) || (credential && is_device)) {
        fprintf(stderr, "misctl: %s: %s (try --help)\n", who,
                !connection                        ? "--connection NAME is required"
                : tech && strcmp(sub, "add") != 0  ? "--technician is only for add"
                : strcmp(sub, "add") == 0 && !tech ? "--technician ID is required"
                : credential && is_device          ? "--credential is only for sync init"
                : want_device                      ? "give one DEVICE_ID"
                                                   : "unexpected argument");
        return EXIT_USAGE;
    }
    struct session s = {.who = who};
    int ret = session_open(&s, config, connection, credential);
    if (ret == 0) {
        if (!is_device)
            ret = sync_init(&s);
        else if (strcmp(sub, "list") == 0)
            ret = device_list(&s);
        else
            ret = device_change(&s, strcmp(sub, "add") == 0, p.args[0], tech);
    }
    session_close(&s);
    return ret;
}

int misctl_sync(int argc, char **argv)
{
    return command(argc, argv, 0);
}

int misctl_device(int argc, char **argv)
{
    return command(argc, argv, 1);
}
