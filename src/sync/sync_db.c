/* A mapping's statements on a database connection (sync_db.h). Worker threads. */
#include "sync_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "miscomm/error.h"
#include "wire.h"

#define SYNC_ROWS_MAX (16u * 1024u * 1024u)

int sync_db_pool(const char *cred_path, const struct cred_master *master,
                 const struct odbc_limits *limits, struct odbc_pool **out, struct odbc_error *e)
{
    uint8_t file[CRED_FILE_MAX];
    size_t len = 0;
    const char *why = NULL;
    struct cred_file f;
    struct cred cred;
    struct cred_key key;
    int rc = cred_file_read(cred_path, file, sizeof file, &len, &why);
    if (rc == 0)
        rc = cred_parse(file, len, &f, &why);
    if (rc == 0 && f.kdf != CRED_KDF_MASTER) {
        rc = MC_ERR_WRONG_KEY;
        why = "sealed with a passphrase; the gateway opens only files sealed with its own key";
    }
    if (rc == 0 && !master) {
        rc = MC_ERR_UNKNOWN_KEY;
        why = "the gateway has no master key for credential files";
    }
    if (rc == 0 && (rc = cred_master_key_find(master, f.key_id, &key, &why)) == 0) {
        rc = cred_open(&f, &key, NULL, 0, &cred, &why);
        cred_key_wipe(&key);
    }
    if (rc < 0) {
        e->code = rc;
        snprintf(e->msg, sizeof e->msg, "credential %s: %s", cred_path,
                 why ? why : mc_strerror(rc));
        return rc;
    }
    *out = odbc_pool_get(&cred, 0, limits);
    cred_wipe(&cred);
    if (!*out) {
        e->code = MC_ERR_NOMEM;
        snprintf(e->msg, sizeof e->msg, "cannot make the connection pool");
        return MC_ERR_NOMEM;
    }
    return 0;
}

int sync_db_bind(const struct sync_stmt *s, const struct sync_bind *b, size_t nb,
                 const struct odbc_value *fields, struct odbc_value *v, struct odbc_error *e)
{
    for (unsigned i = 0; i < s->nparams; i++) {
        const char *name = s->params[i];
        if (name[0] == '@' && fields) {
            v[i] = fields[strtoul(name + 1, NULL, 10)];
            continue;
        }
        size_t k = 0;
        while (k < nb && strcmp(b[k].name, name) != 0)
            k++;
        if (k == nb) {
            e->code = MC_ERR_CONFIG;
            snprintf(e->msg, sizeof e->msg,
                     "the mapping's [%s] names a parameter '%s' the gateway does not have", s->name,
                     name);
            return MC_ERR_CONFIG;
        }
        v[i] = b[k].v;
    }
    return (int)s->nparams;
}

int sync_db_run(struct odbc_link *l, const struct sync_map *m, const char *name,
                const struct sync_bind *b, size_t nb, const struct odbc_value *fields,
                struct buf *rows, uint64_t *nrows, uint64_t *affected, struct odbc_error *e)
{
    const struct sync_stmt *s = sync_map_find(m, name);
    if (!s) {
        e->code = MC_ERR_CONFIG;
        snprintf(e->msg, sizeof e->msg, "the mapping has no [%s] statement", name);
        return MC_ERR_CONFIG;
    }
    struct odbc_value v[SYNC_PARAMS_MAX];
    int np = sync_db_bind(s, b, nb, fields, v, e);
    if (np < 0)
        return np;
    struct odbc_stmt *st;
    int rc = odbc_stmt_open(l, s->sql, 1, &st, e);
    if (rc < 0)
        return rc;
    rc = odbc_stmt_exec(st, s->sql, v, (size_t)np, 30, e);
    if (rc == 0 && affected)
        *affected = odbc_stmt_affected(st);
    if (rc == 0 && rows && odbc_stmt_ncols(st) > 0) {
        /* The columns' description sets up the fetch; the caller knows the columns. */
        struct buf cols;
        buf_init(&cols, 1u << 20);
        rc = odbc_stmt_columns(st, &cols, e);
        buf_free(&cols);
    }
    if (rc == 0 && rows && odbc_stmt_ncols(st) > 0) {
        uint64_t n = 0;
        int done = 0, more = 0;
        rows->limit = SYNC_ROWS_MAX;
        while (rc == 0 && !done)
            rc = odbc_stmt_fetch(st, rows, SYNC_ROWS_MAX, UINT64_MAX, &n, &done, &more, e);
        if (nrows)
            *nrows = n;
    }
    odbc_stmt_close(st);
    if (rc < 0 && e->msg[0] == 0)
        snprintf(e->msg, sizeof e->msg, "%s", mc_strerror(rc));
    return rc;
}

int sync_db_row(struct buf *rows, size_t *off, unsigned ncols, struct odbc_value *v)
{
    size_t len = buf_len(rows);
    if (*off >= len)
        return MC_ERR_BAD_PAYLOAD;
    struct wire_reader rd;
    wire_reader_init(&rd, buf_head(rows) + *off, len - *off);
    const char *why;
    int rc = odbc_values_decode(&rd, ncols, v, &why);
    if (rc < 0)
        return rc;
    *off += rd.off;
    return 0;
}

int sync_db_scalar(struct odbc_link *l, const struct sync_map *m, const char *name,
                   const struct sync_bind *b, size_t nb, int64_t *out, struct odbc_error *e)
{
    struct buf rows;
    buf_init(&rows, 256);
    uint64_t n = 0;
    int rc = sync_db_run(l, m, name, b, nb, NULL, &rows, &n, NULL, e);
    struct odbc_value v;
    size_t off = 0;
    if (rc == 0 && (n == 0 || sync_db_row(&rows, &off, 1, &v) < 0))
        rc = MC_ERR_NOT_FOUND;
    if (rc == 0) {
        if (v.tag == MC_VALUE_INT)
            *out = v.i;
        else if (v.tag == MC_VALUE_NULL)
            *out = 0;
        else {
            rc = MC_ERR_CONFIG;
            e->code = rc;
            snprintf(e->msg, sizeof e->msg, "the mapping's [%s] must return an integer", name);
        }
    }
    buf_free(&rows);
    return rc;
}

int sync_db_device(struct odbc_link *l, const struct sync_map *m, const char *device,
                   const char *connection, int64_t *technician, int *revoked, struct odbc_error *e)
{
    struct sync_bind b[] = {{"device", sync_text(device, strlen(device))}};
    struct buf rows;
    buf_init(&rows, 256);
    uint64_t n = 0;
    int rc = sync_db_run(l, m, "device", b, 1, NULL, &rows, &n, NULL, e);
    struct odbc_value v[3];
    size_t off = 0;
    if (rc == 0 && n == 0)
        rc = MC_ERR_NOT_BOUND;
    if (rc == 0 && sync_db_row(&rows, &off, 3, v) == 0 && v[0].tag == MC_VALUE_INT) {
        *technician = v[0].i;
        *revoked = v[1].tag == MC_VALUE_INT && v[1].i != 0;
        /* Bound on another connection: not this connection's device. */
        if (v[2].tag != MC_VALUE_TEXT || v[2].len != strlen(connection) ||
            memcmp(v[2].p, connection, v[2].len) != 0)
            rc = MC_ERR_NOT_BOUND;
    } else if (rc == 0) {
        rc = MC_ERR_CONFIG;
        snprintf(e->msg, sizeof e->msg,
                 "the mapping's [device] must return technician_id, revoked, connection");
    }
    if (rc == MC_ERR_NOT_BOUND)
        snprintf(e->msg, sizeof e->msg,
                 "this device is not bound to a technician on this connection (misctl device "
                 "add)");
    e->code = rc;
    buf_free(&rows);
    return rc;
}
