/*
 * libmiscomm, database access: ODBC_OPEN, QUERY, EXEC, TX and ODBC_CLOSE
 * (docs/protocol.md 5.15) on the public request and stream API
 * (client.h), with the typed value codec and the row reader they need.
 */
#include "miscomm/odbc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "secret.h"
#include "wire.h"

/* FLOAT travels as the 8 bytes of an IEEE 754 double. */
_Static_assert(sizeof(double) == sizeof(uint64_t), "double must be 64 bits");

#define ODBC_MAX_TEXT  0xFFFFu /* the SQL or the statement's name: a str */
#define ODBC_MAX_CRED  0xFFFFu /* ODBC_OPEN's u16 byte count */
#define ODBC_MAX_NAME  0xFFFFu /* a column name or the dbms: a str */
#define ODBC_KIND_SQL  0
#define ODBC_KIND_NAME 1

/* -- values -------------------------------------------------------------------- */

int mc_decimal_valid(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    int dot = 0;
    if (!s)
        return 0;
    if (i < len && s[i] == '-')
        i++;
    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && !dot)
            dot = 1;
        else
            return 0;
    }
    return digits > 0;
}

static int date_valid(const struct mc_date *d)
{
    return d->month >= 1 && d->month <= 12 && d->day >= 1 && d->day <= 31;
}

static int time_valid(const struct mc_time *t)
{
    return t->hour <= 23 && t->minute <= 59 && t->second <= 60 && t->nanosecond <= 999999999u;
}

static uint64_t be_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void be_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = n; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
}

/* Two's complement both ways, without relying on implementation-defined conversions. */
static uint64_t int_to_wire(int64_t v)
{
    return v >= 0 ? (uint64_t)v : ~(uint64_t)(-(v + 1));
}

static int64_t int_from_wire(uint64_t u)
{
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)~u - 1;
}

/* The bytes a value's encoding takes, or MC_ERR_INVALID_ARG. */
static long value_size(const struct mc_value *v)
{
    switch (v->type) {
    case MC_VALUE_NULL:
        return 1;
    case MC_VALUE_INT:
    case MC_VALUE_FLOAT:
        return 1 + 8;
    case MC_VALUE_DECIMAL:
        if (v->s.len > MC_VALUE_MAX_DECIMAL || !mc_decimal_valid(v->s.ptr, v->s.len))
            return MC_ERR_INVALID_ARG;
        return 1 + 2 + (long)v->s.len;
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        if ((!v->s.ptr && v->s.len) || v->s.len > UINT32_MAX || v->s.len > (size_t)LONG_MAX - 5)
            return MC_ERR_INVALID_ARG;
        return 1 + 4 + (long)v->s.len;
    case MC_VALUE_DATE:
        return date_valid(&v->date) ? 1 + 4 : MC_ERR_INVALID_ARG;
    case MC_VALUE_TIME:
        return time_valid(&v->time) ? 1 + 3 + 4 : MC_ERR_INVALID_ARG;
    case MC_VALUE_TIMESTAMP:
        return date_valid(&v->ts.date) && time_valid(&v->ts.time) ? 1 + 4 + 3 + 4
                                                                  : MC_ERR_INVALID_ARG;
    }
    return MC_ERR_INVALID_ARG;
}

static void date_put(uint8_t *p, const struct mc_date *d)
{
    be_put(p, d->year, 2);
    p[2] = d->month;
    p[3] = d->day;
}

static void time_put(uint8_t *p, const struct mc_time *t)
{
    p[0] = t->hour;
    p[1] = t->minute;
    p[2] = t->second;
    be_put(p + 3, t->nanosecond, 4);
}

long mc_value_encode(const struct mc_value *v, uint8_t *out, size_t cap)
{
    long need = value_size(v);
    if (need < 0 || (size_t)need > cap)
        return need;
    out[0] = (uint8_t)v->type;
    uint8_t *p = out + 1;
    switch (v->type) {
    case MC_VALUE_NULL:
        break;
    case MC_VALUE_INT:
        be_put(p, int_to_wire(v->i), 8);
        break;
    case MC_VALUE_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->f, sizeof bits);
        be_put(p, bits, 8);
        break;
    }
    case MC_VALUE_DECIMAL:
        be_put(p, v->s.len, 2);
        memcpy(p + 2, v->s.ptr, v->s.len);
        break;
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        be_put(p, v->s.len, 4);
        if (v->s.len)
            memcpy(p + 4, v->s.ptr, v->s.len);
        break;
    case MC_VALUE_DATE:
        date_put(p, &v->date);
        break;
    case MC_VALUE_TIME:
        time_put(p, &v->time);
        break;
    case MC_VALUE_TIMESTAMP:
        date_put(p, &v->ts.date);
        time_put(p + 4, &v->ts.time);
        break;
    }
    return need;
}

static void date_get(const uint8_t *p, struct mc_date *d)
{
    d->year = (uint16_t)be_get(p, 2);
    d->month = p[2];
    d->day = p[3];
}

static void time_get(const uint8_t *p, struct mc_time *t)
{
    t->hour = p[0];
    t->minute = p[1];
    t->second = p[2];
    t->nanosecond = (uint32_t)be_get(p + 3, 4);
}

long mc_value_decode(const uint8_t *p, size_t len, struct mc_value *v)
{
    if (len < 1)
        return 0;
    const uint8_t *b = p + 1;
    size_t have = len - 1, n;
    memset(v, 0, sizeof *v);
    switch (p[0]) {
    case MC_VALUE_NULL:
        v->type = MC_VALUE_NULL;
        return 1;
    case MC_VALUE_INT:
    case MC_VALUE_FLOAT:
        if (have < 8)
            return 0;
        v->type = (enum mc_value_type)p[0];
        if (v->type == MC_VALUE_INT) {
            v->i = int_from_wire(be_get(b, 8));
        } else {
            uint64_t bits = be_get(b, 8);
            memcpy(&v->f, &bits, sizeof v->f);
        }
        return 1 + 8;
    case MC_VALUE_DECIMAL:
        if (have < 2)
            return 0;
        n = (size_t)be_get(b, 2);
        if (have - 2 < n)
            return 0;
        if (!mc_decimal_valid((const char *)b + 2, n))
            return MC_ERR_BAD_PAYLOAD; /* also a str's 0x00 and the empty string */
        v->type = MC_VALUE_DECIMAL;
        v->s.ptr = (const char *)b + 2;
        v->s.len = n;
        return 1 + 2 + (long)n;
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        if (have < 4)
            return 0;
        n = (size_t)be_get(b, 4);
        if (n > (size_t)LONG_MAX - 5)
            return MC_ERR_BAD_PAYLOAD; /* cannot be held here anyway */
        if (have - 4 < n)
            return 0;
        v->type = (enum mc_value_type)p[0];
        v->s.ptr = (const char *)b + 4;
        v->s.len = n;
        return 1 + 4 + (long)n;
    case MC_VALUE_DATE:
        if (have < 4)
            return 0;
        v->type = MC_VALUE_DATE;
        date_get(b, &v->date);
        return date_valid(&v->date) ? 1 + 4 : MC_ERR_BAD_PAYLOAD;
    case MC_VALUE_TIME:
        if (have < 7)
            return 0;
        v->type = MC_VALUE_TIME;
        time_get(b, &v->time);
        return time_valid(&v->time) ? 1 + 7 : MC_ERR_BAD_PAYLOAD;
    case MC_VALUE_TIMESTAMP:
        if (have < 11)
            return 0;
        v->type = MC_VALUE_TIMESTAMP;
        date_get(b, &v->ts.date);
        time_get(b + 4, &v->ts.time);
        return date_valid(&v->ts.date) && time_valid(&v->ts.time) ? 1 + 11 : MC_ERR_BAD_PAYLOAD;
    default:
        return MC_ERR_BAD_PAYLOAD;
    }
}

/* -- the row reader --------------------------------------------------------------- */

/*
 * The rows of a result arrive as one byte stream cut into DATA frames
 * anywhere. Whole rows are decoded straight from the frame; only the
 * start of a row cut by the frame's end is kept, until the next frames
 * complete it:
 *
 *     buf                      len              cap (<= max)
 *     | the pending row's bytes |  free          |
 */
struct mc_row_reader {
    size_t ncols;
    enum mc_value_type *types; /* the columns' tags, or NULL: any */
    struct mc_value *vals;     /* the row being handed out */
    uint8_t *buf;
    size_t len, cap, max;
    uint64_t rows;
    int err; /* sticky: a reader that failed takes nothing more */
};

int mc_row_reader_new(mc_row_reader **out, size_t ncols, const enum mc_value_type *types,
                      size_t max_row_bytes)
{
    *out = NULL;
    mc_row_reader *r = calloc(1, sizeof *r);
    if (!r)
        return MC_ERR_NOMEM;
    r->ncols = ncols;
    r->max = max_row_bytes ? max_row_bytes : MC_ODBC_MAX_ROW_BYTES;
    r->vals = calloc(ncols ? ncols : 1, sizeof *r->vals);
    if (types && ncols && (r->types = malloc(ncols * sizeof *types)) != NULL)
        memcpy(r->types, types, ncols * sizeof *types);
    if (!r->vals || (types && ncols && !r->types)) {
        mc_row_reader_free(r);
        return MC_ERR_NOMEM;
    }
    *out = r;
    return 0;
}

void mc_row_reader_free(mc_row_reader *r)
{
    if (!r)
        return;
    free(r->types);
    free(r->vals);
    free(r->buf);
    free(r);
}

uint64_t mc_row_reader_rows(const mc_row_reader *r)
{
    return r->rows;
}

int mc_row_reader_end(const mc_row_reader *r)
{
    if (r->err)
        return r->err;
    return r->len ? MC_ERR_BAD_PAYLOAD : 0;
}

/* One row from p[0..n) into r->vals: 1 with *used set, 0 when p ends inside it, or an error. */
static int row_decode(mc_row_reader *r, const uint8_t *p, size_t n, size_t *used)
{
    size_t off = 0;
    for (size_t i = 0; i < r->ncols; i++) {
        long k = mc_value_decode(p + off, n - off, &r->vals[i]);
        if (k <= 0)
            return (int)k;
        if (r->types && r->vals[i].type != MC_VALUE_NULL && r->vals[i].type != r->types[i])
            return MC_ERR_BAD_PAYLOAD;
        off += (size_t)k;
    }
    *used = off;
    return 1;
}

/* Hand every whole row of p[0..n) to fn; *used: the bytes they took. */
static int rows_take(mc_row_reader *r, const uint8_t *p, size_t n, mc_row_fn fn, void *ud,
                     size_t *used)
{
    *used = 0;
    while (*used < n) {
        size_t k = 0;
        int rc = row_decode(r, p + *used, n - *used, &k);
        if (rc <= 0)
            return rc;
        /* The same limit whether the row came in one frame or in several. */
        if (k > r->max)
            return MC_ERR_RESULT_LIMIT;
        *used += k;
        r->rows++;
        if (fn && (rc = fn(ud, r->vals, r->ncols)) < 0)
            return rc;
    }
    return 0;
}

/* Make room for len + n bytes in the pending buffer (n is at most max - len). */
static int reader_reserve(mc_row_reader *r, size_t n)
{
    size_t need = r->len + n;
    if (need <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need)
        cap = cap > r->max / 2 ? r->max : cap * 2;
    uint8_t *b = realloc(r->buf, cap);
    if (!b)
        return MC_ERR_NOMEM;
    r->buf = b;
    r->cap = cap;
    return 0;
}

int mc_row_reader_feed(mc_row_reader *r, const uint8_t *p, size_t len, mc_row_fn fn, void *ud)
{
    if (r->err)
        return r->err;
    int rc = 0;
    /* Without columns a row takes no bytes: a result can have no row bytes at all. */
    if (r->ncols == 0 && len > 0)
        rc = MC_ERR_BAD_PAYLOAD;
    while (rc == 0 && len > 0) {
        size_t used;
        if (r->len == 0) {
            rc = rows_take(r, p, len, fn, ud, &used);
            p += used;
            len -= used;
            if (rc < 0 || len == 0)
                break;
            /* The start of a row the next frames complete. */
            if (len > r->max) {
                rc = MC_ERR_RESULT_LIMIT;
                break;
            }
            if ((rc = reader_reserve(r, len)) < 0)
                break;
            memcpy(r->buf, p, len);
            r->len = len;
            break;
        }
        /* Complete the pending row, a bounded piece at a time. */
        size_t k = r->max - r->len < len ? r->max - r->len : len;
        if (k == 0) {
            rc = MC_ERR_RESULT_LIMIT;
            break;
        }
        if ((rc = reader_reserve(r, k)) < 0)
            break;
        memcpy(r->buf + r->len, p, k);
        r->len += k;
        p += k;
        len -= k;
        rc = rows_take(r, r->buf, r->len, fn, ud, &used);
        memmove(r->buf, r->buf + used, r->len - used);
        r->len -= used;
    }
    if (rc < 0)
        r->err = rc;
    return rc;
}

/* -- requests ------------------------------------------------------------------ */

int client_expect(mc_client *c, const struct mc_reply *r, uint8_t type, size_t len,
                  const char *what)
{
    if (r->type != type)
        return client_fail(c, MC_ERR_BAD_TYPE, "unexpected answer type 0x%02x to %s", r->type,
                           what);
    if (len != SIZE_MAX && r->len != len)
        return client_fail(c, MC_ERR_BAD_PAYLOAD, "malformed answer to %s: %zu bytes, not %zu",
                           what, r->len, len);
    return 0;
}

int mc_odbc_open(mc_client *c, const void *cred, size_t cred_len, uint32_t *handle, unsigned *flags,
                 char *dbms, size_t dbms_cap)
{
    if (!handle || (!cred && cred_len))
        return client_fail(c, MC_ERR_INVALID_ARG, "ODBC_OPEN: no handle or no credential given");
    if (cred_len > ODBC_MAX_CRED)
        return client_fail(c, MC_ERR_INVALID_ARG,
                           "ODBC_OPEN: a credential file holds at most %u bytes (given: %zu)",
                           ODBC_MAX_CRED, cred_len);
    uint8_t *req = malloc(2 + cred_len);
    if (!req)
        return client_fail(c, MC_ERR_NOMEM, "out of memory");
    struct wire_writer w;
    wire_writer_init(&w, req, 2 + cred_len);
    wire_put_u16(&w, (uint16_t)cred_len);
    if (cred_len)
        wire_put_bytes(&w, cred, cred_len);
    struct mc_reply r;
    int rc = mc_call(c, MC_MSG_ODBC_OPEN, req, w.len, &r);
    /* Only the gateway can open the credential, but it stands for the database's password. */
    secret_wipe(req, 2 + cred_len);
    free(req);
    if (rc < 0)
        return rc;
    if ((rc = client_expect(c, &r, MC_MSG_ODBC_OPEN_OK, SIZE_MAX, "ODBC_OPEN")) < 0)
        return rc;
    struct wire_reader rd;
    wire_reader_init(&rd, r.payload, r.len);
    uint32_t h = wire_get_u32(&rd);
    const uint8_t *fl = wire_get_bytes(&rd, 1);
    struct wire_str name = wire_get_str(&rd, ODBC_MAX_NAME);
    if (wire_reader_done(&rd) < 0 || h == 0)
        return client_fail(c, MC_ERR_BAD_PAYLOAD, "malformed ODBC_OPEN_OK from the server");
    *handle = h;
    if (flags)
        *flags = *fl;
    if (dbms && dbms_cap)
        wire_str_copy(dbms, dbms_cap, name);
    return 0;
}

/*
 * QUERY and EXEC: u32 handle, u8 kind, str text, [u32 max_rows,] u16
 * count, values. *out is allocated (free it); the request fits a frame.
 */
static int statement_build(mc_client *c, const char *what, uint32_t handle, int named,
                           const char *text, const struct mc_value *params, size_t nparams,
                           int with_max_rows, uint32_t max_rows, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    if (!text)
        return client_fail(c, MC_ERR_INVALID_ARG, "%s: no statement given", what);
    size_t tlen = strlen(text);
    if (tlen > ODBC_MAX_TEXT)
        return client_fail(c, MC_ERR_INVALID_ARG,
                           "%s: the statement takes %zu bytes, at most %u are allowed", what, tlen,
                           ODBC_MAX_TEXT);
    if (nparams > 0xFFFFu || (nparams && !params))
        return client_fail(c, MC_ERR_INVALID_ARG, "%s: %zu parameters, at most 65535 are allowed",
                           what, nparams);
    size_t need = 4 + 1 + 2 + tlen + (with_max_rows ? 4 : 0) + 2;
    for (size_t i = 0; i < nparams; i++) {
        long k = mc_value_encode(&params[i], NULL, 0);
        if (k < 0)
            return client_fail(c, MC_ERR_INVALID_ARG, "%s: parameter %zu cannot be sent (%s)", what,
                               i + 1,
                               params[i].type == MC_VALUE_DECIMAL
                                   ? "a DECIMAL is -DIGITS.DIGITS, at most 65535 bytes"
                                   : "a bad type, a date or time out of range, or too long");
        need += (size_t)k;
        if (need > MC_MAX_PAYLOAD)
            break;
    }
    if (need > MC_MAX_PAYLOAD)
        return client_fail(c, MC_ERR_INVALID_ARG,
                           "%s: the statement and its parameters take more than the %u bytes a "
                           "request may hold",
                           what, MC_MAX_PAYLOAD);
    uint8_t *req = malloc(need);
    if (!req)
        return client_fail(c, MC_ERR_NOMEM, "out of memory");
    struct wire_writer w;
    wire_writer_init(&w, req, need);
    wire_put_u32(&w, handle);
    uint8_t kind = named ? ODBC_KIND_NAME : ODBC_KIND_SQL;
    wire_put_bytes(&w, &kind, 1);
    wire_put_str(&w, text, tlen);
    if (with_max_rows)
        wire_put_u32(&w, max_rows);
    wire_put_u16(&w, (uint16_t)nparams);
    for (size_t i = 0; i < nparams && !w.err; i++) {
        long k = mc_value_encode(&params[i], w.p + w.len, w.cap - w.len);
        w.len += (size_t)k;
    }
    if (w.err || w.len != need) {
        free(req);
        return client_fail(c, MC_ERR_INTERNAL, "%s: the request could not be encoded", what);
    }
    *out = req;
    *out_len = need;
    return 0;
}

/* QUERY_COLUMNS: u16 count, then per column str name, u8 tag, u16 sql_type, u32 size, u8 nullable.
 */
int client_columns_parse(const uint8_t *p, size_t len, struct client_columns *out)
{
    struct wire_reader r;
    wire_reader_init(&r, p, len);
    size_t n = wire_get_u16(&r);
    if (r.err)
        return MC_ERR_BAD_PAYLOAD;
    /* The names together are shorter than the payload, and each gets a NUL. */
    size_t fixed = n * (sizeof(struct mc_column) + sizeof(enum mc_value_type));
    out->mem = malloc(fixed + len + n + 1);
    if (!out->mem)
        return MC_ERR_NOMEM;
    out->cols = out->mem;
    out->types = (enum mc_value_type *)(out->cols + n);
    out->n = n;
    char *names = (char *)out->mem + fixed;
    for (size_t i = 0; i < n; i++) {
        struct wire_str name = wire_get_str(&r, ODBC_MAX_NAME);
        const uint8_t *tag = wire_get_bytes(&r, 1);
        uint16_t sql_type = wire_get_u16(&r);
        uint32_t size = wire_get_u32(&r);
        const uint8_t *nullable = wire_get_bytes(&r, 1);
        if (r.err || *tag > MC_VALUE_TIMESTAMP || *nullable > 2)
            return MC_ERR_BAD_PAYLOAD;
        memcpy(names, name.ptr, name.len);
        names[name.len] = 0;
        out->cols[i] = (struct mc_column){
            .name = names,
            .type = (enum mc_value_type) * tag,
            /* An ODBC SQL type is a signed SQLSMALLINT sent as its 16 bits (-5 BIGINT). */
            .sql_type = (int16_t)(sql_type <= INT16_MAX ? (int)sql_type : (int)sql_type - 65536),
            .size = size,
            .nullable = *nullable,
        };
        out->types[i] = out->cols[i].type;
        names += name.len + 1;
    }
    return wire_reader_done(&r) < 0 ? MC_ERR_BAD_PAYLOAD : 0;
}

struct query_ctx {
    mc_row_reader *rows;
    const struct mc_query_callbacks *cb;
    void *ud;
    int reader_rc; /* why the reader refused the rows (not a callback's stop) */
    int stopped;   /* a callback's stop */
};

static int query_on_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct query_ctx *q = ud;
    int rc = q->cb && q->cb->row ? q->cb->row(q->ud, row, ncols) : 0;
    if (rc < 0)
        q->stopped = rc;
    return rc;
}

static int query_on_data(void *ud, const uint8_t *p, size_t n, int end)
{
    struct query_ctx *q = ud;
    int rc = mc_row_reader_feed(q->rows, p, n, query_on_row, q);
    if (rc == 0 && end)
        rc = mc_row_reader_end(q->rows);
    if (rc < 0 && !q->stopped)
        q->reader_rc = rc;
    return rc;
}

int mc_query(mc_client *c, uint32_t handle, int named, const char *text,
             const struct mc_value *params, size_t nparams, uint32_t max_rows,
             const struct mc_query_callbacks *cb, void *ud, struct mc_query_result *out)
{
    if (out)
        *out = (struct mc_query_result){0};
    uint8_t *req;
    size_t len;
    int rc =
        statement_build(c, "QUERY", handle, named, text, params, nparams, 1, max_rows, &req, &len);
    if (rc < 0)
        return rc;
    mc_stream *s = NULL;
    struct client_columns cols = {0};
    struct query_ctx q = {.cb = cb, .ud = ud};
    struct mc_reply r;
    rc = mc_stream_open(c, MC_MSG_QUERY, req, len, &s);
    free(req);
    if (rc < 0)
        goto out;
    if ((rc = mc_stream_wait_frame(s, MC_MSG_QUERY_COLUMNS, &r)) < 0)
        goto out;
    if ((rc = client_columns_parse(r.payload, r.len, &cols)) < 0) {
        rc = client_fail(c, rc, "malformed QUERY_COLUMNS from the server");
        goto out;
    }
    if (cb && cb->columns && (rc = cb->columns(ud, cols.cols, cols.n)) < 0) {
        rc = client_fail(c, rc, "QUERY: stopped by the columns callback");
        goto out; /* the stream is cancelled as it is freed */
    }
    if ((rc = mc_row_reader_new(&q.rows, cols.n, cols.types, 0)) < 0) {
        rc = client_fail(c, rc, "out of memory");
        goto out;
    }
    rc = mc_stream_finish(s, query_on_data, &q, &r);
    if (rc < 0) {
        if (q.stopped)
            rc = client_fail(c, q.stopped, "QUERY: stopped by the row callback");
        else if (q.reader_rc == MC_ERR_RESULT_LIMIT)
            rc = client_fail(c, rc, "QUERY: row %llu is larger than the %u bytes allowed",
                             (unsigned long long)mc_row_reader_rows(q.rows) + 1,
                             MC_ODBC_MAX_ROW_BYTES);
        else if (q.reader_rc < 0)
            rc = client_fail(c, rc, "QUERY: malformed row %llu from the server",
                             (unsigned long long)mc_row_reader_rows(q.rows) + 1);
        goto out;
    }
    if ((rc = client_expect(c, &r, MC_MSG_QUERY_OK, 9, "QUERY")) < 0)
        goto out;
    if (mc_row_reader_end(q.rows) < 0) {
        rc = client_fail(c, MC_ERR_BAD_PAYLOAD, "QUERY: the last row was cut short");
        goto out;
    }
    uint64_t sent = be_get(r.payload, 8);
    uint64_t got = mc_row_reader_rows(q.rows);
    /* Rows without columns take no bytes: only the server's count says how many. */
    if (cols.n == 0)
        got = sent;
    if (sent != got) {
        rc = client_fail(c, MC_ERR_BAD_PAYLOAD, "QUERY: the server sent %llu rows, %llu arrived",
                         (unsigned long long)sent, (unsigned long long)got);
        goto out;
    }
    if (out)
        *out = (struct mc_query_result){.rows = got, .more = (r.payload[8] & 0x01) != 0};
out:
    mc_row_reader_free(q.rows);
    free(cols.mem);
    mc_stream_free(s);
    return rc;
}

int mc_exec(mc_client *c, uint32_t handle, int named, const char *text,
            const struct mc_value *params, size_t nparams, uint64_t *affected)
{
    uint8_t *req;
    size_t len;
    int rc = statement_build(c, "EXEC", handle, named, text, params, nparams, 0, 0, &req, &len);
    if (rc < 0)
        return rc;
    struct mc_reply r;
    rc = mc_call(c, MC_MSG_EXEC, req, len, &r);
    free(req);
    if (rc == 0)
        rc = client_expect(c, &r, MC_MSG_EXEC_OK, 8, "EXEC");
    if (rc == 0 && affected)
        *affected = be_get(r.payload, 8);
    return rc;
}

int mc_tx(mc_client *c, uint32_t handle, enum mc_tx_op op)
{
    if (op != MC_TX_BEGIN && op != MC_TX_COMMIT && op != MC_TX_ROLLBACK)
        return client_fail(c, MC_ERR_INVALID_ARG, "TX: unknown operation %d", (int)op);
    uint8_t req[5];
    be_put(req, handle, 4);
    req[4] = (uint8_t)op;
    struct mc_reply r;
    int rc = mc_call(c, MC_MSG_TX, req, sizeof req, &r);
    return rc < 0 ? rc : client_expect(c, &r, MC_MSG_TX_OK, 0, "TX");
}

int mc_odbc_close(mc_client *c, uint32_t handle)
{
    uint8_t req[4];
    be_put(req, handle, 4);
    struct mc_reply r;
    int rc = mc_call(c, MC_MSG_ODBC_CLOSE, req, sizeof req, &r);
    return rc < 0 ? rc : client_expect(c, &r, MC_MSG_ODBC_CLOSE_OK, 0, "ODBC_CLOSE");
}
