/* Sync mappings: the statement files of a [sync] section (sync_map.h). */
#include "sync_map.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/error.h"

/* Statements the gateway needs; a mapping without one of them is refused. */
static const char *const required[] = {
    "horizon", "changed",         "pull",        "row",           "apply",
    "photo",   "photo_find",      "op_get",      "op_put",        "device",
    "devices", "devices_version", "device_seen", "device_pushed", NULL};

const char *sync_dialect(const char *dbms)
{
    if (strcmp(dbms, "SQLite") == 0)
        return "sqlite";
    if (strcmp(dbms, "PostgreSQL") == 0)
        return "postgresql";
    return NULL;
}

static int fail(char *why, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return code;
}

/* "-- [name] p1 p2": fill s; 0, or -1 when the header is malformed. */
static int parse_header(const char *line, struct sync_stmt *s, const struct sync_map *m)
{
    const char *p = line + 4; /* after "-- [" */
    const char *end = strchr(p, ']');
    if (!end || end == p || (size_t)(end - p) >= sizeof s->name)
        return -1;
    memcpy(s->name, p, (size_t)(end - p));
    s->name[end - p] = 0;
    if (strspn(s->name, "abcdefghijklmnopqrstuvwxyz_") != strlen(s->name))
        return -1;
    char rest[512];
    snprintf(rest, sizeof rest, "%s", end + 1);
    for (char *save = NULL, *t = strtok_r(rest, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (strcmp(t, "fields") == 0) {
            for (unsigned i = 0; i < m->nfields; i++) {
                if (s->nparams >= SYNC_PARAMS_MAX)
                    return -1;
                snprintf(s->params[s->nparams++], SYNC_NAME_MAX, "@%u", i);
            }
            continue;
        }
        if (s->nparams >= SYNC_PARAMS_MAX || strlen(t) >= SYNC_NAME_MAX)
            return -1;
        snprintf(s->params[s->nparams++], SYNC_NAME_MAX, "%s", t);
    }
    return 0;
}

static int add_stmt(struct sync_map *m, struct sync_stmt *s, char *sql, size_t len)
{
    while (len > 0 && (sql[len - 1] == '\n' || sql[len - 1] == ' ' || sql[len - 1] == '\r' ||
                       sql[len - 1] == '\t' || sql[len - 1] == ';'))
        len--;
    sql[len] = 0;
    if (len == 0)
        return -1;
    struct sync_stmt *grown = realloc(m->stmts, (m->n + 1) * sizeof *grown);
    if (!grown)
        return MC_ERR_NOMEM;
    m->stmts = grown;
    s->sql = strdup(sql);
    if (!s->sql)
        return MC_ERR_NOMEM;
    m->stmts[m->n++] = *s;
    return 0;
}

int sync_map_load(const char *prefix, const char *dialect, const char *fields, struct sync_map *m,
                  char *why, size_t cap)
{
    memset(m, 0, sizeof *m);
    snprintf(m->dialect, sizeof m->dialect, "%s", dialect);
    char list[1024];
    snprintf(list, sizeof list, "%s", fields);
    for (char *save = NULL, *f = strtok_r(list, ", \t", &save); f;
         f = strtok_r(NULL, ", \t", &save)) {
        if (m->nfields >= SYNC_FIELDS_MAX)
            return fail(why, cap, MC_ERR_CONFIG, "more than 32 fields");
        snprintf(m->fields[m->nfields++], sizeof m->fields[0], "%s", f);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.%s.sql", prefix, dialect);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return fail(why, cap, MC_ERR_IO, "cannot open the mapping %s: %s", path, strerror(errno));
    size_t cap_sql = 65536, len = 0;
    char *sql = malloc(cap_sql);
    char line[4096];
    struct sync_stmt cur = {0};
    int in_block = 0, rc = 0;
    unsigned lineno = 0;
    while (sql && rc == 0 && fgets(line, sizeof line, fp)) {
        lineno++;
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, "-- [", 4) == 0) {
            if (in_block && (rc = add_stmt(m, &cur, sql, len)) < 0)
                break;
            memset(&cur, 0, sizeof cur);
            len = 0;
            in_block = 1;
            if (parse_header(p, &cur, m) < 0) {
                rc = MC_ERR_CONFIG;
                snprintf(why, cap, "%s:%u: a block header is \"-- [name] param param...\"", path,
                         lineno);
            }
            continue;
        }
        if (strncmp(p, "--", 2) == 0 || !in_block)
            continue;
        size_t n = strlen(line);
        if (len + n + 1 > cap_sql) {
            rc = MC_ERR_CONFIG;
            snprintf(why, cap, "%s:%u: a statement longer than 64 KiB", path, lineno);
            break;
        }
        memcpy(sql + len, line, n);
        len += n;
    }
    if (!sql)
        rc = MC_ERR_NOMEM;
    else if (rc == 0 && in_block && (rc = add_stmt(m, &cur, sql, len)) < 0 && rc != MC_ERR_NOMEM) {
        rc = MC_ERR_CONFIG;
        snprintf(why, cap, "%s: the block [%s] is empty", path, cur.name);
    }
    if (rc == -1) {
        rc = MC_ERR_CONFIG;
        snprintf(why, cap, "%s: the block before line %u is empty", path, lineno);
    }
    free(sql);
    fclose(fp);
    for (int i = 0; rc == 0 && required[i]; i++)
        if (!sync_map_find(m, required[i])) {
            rc = MC_ERR_CONFIG;
            snprintf(why, cap, "%s: no [%s] statement", path, required[i]);
        }
    if (rc < 0)
        sync_map_free(m);
    return rc;
}

void sync_map_free(struct sync_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->stmts[i].sql);
    free(m->stmts);
    m->stmts = NULL;
    m->n = 0;
}

const struct sync_stmt *sync_map_find(const struct sync_map *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->stmts[i].name, name) == 0)
            return &m->stmts[i];
    return NULL;
}

int sync_map_field(const struct sync_map *m, const char *name)
{
    for (unsigned i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i], name) == 0)
            return (int)i;
    return -1;
}
