/*
 * SYNC_PUSH (docs/protocol.md 5.16): a batch of a device's operations,
 * each applied in a database transaction of its own with its id recorded
 * in the same transaction, so that a replay changes nothing twice. Loop
 * thread, except push_work (sync job pool), which runs the whole batch on
 * one database connection and leaves one result per operation.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "miscomm/error.h"
#include "miscomm/proto.h"
#include "sync.h"
#include "sync_db.h"
#include "sync_internal.h"
#include "sync_merge.h"
#include "wire.h"

#define PUSH_MAX_OPS    100u
#define PUSH_MAX_FIELDS 32u
#define PUSH_TRIES      3 /* a version guard that lost a race: read and merge again */
#define PUSH_ANSWER_MAX (1000u * 1024u)

enum { KIND_UPDATE = 1, KIND_PHOTO = 2 };

struct push_field {
    struct wire_str name;
    struct odbc_value base, next;
};

struct push_op {
    uint8_t id[16];
    uint8_t kind;
    int64_t intervention;
    int64_t base_version;
    unsigned n;
    struct push_field f[PUSH_MAX_FIELDS];
    struct wire_str file, content_type;
    const uint8_t *sha256;
    struct odbc_value caption, taken_at;
    /* The result. */
    int result, flags, code;
    char msg[512];
    int64_t version;
    uint64_t conflicts;
    struct buf values; /* with CONFLICT and RESOLVED: (str name, value) per field */
    unsigned nvalues;
};

struct push_req {
    struct op op;
    struct job job;
    struct sync_mapping *mp;
    struct sync_def *def;
    struct cfg_connection conn; /* a copy: the receive folder for photos */
    struct sync_binding binding;
    char device[129];
    uint8_t *payload;
    struct push_op *ops;
    unsigned nops;
    int rc;
    struct odbc_error err;
};

/* -- decoding (loop thread) ------------------------------------------------------------------ */

static int decode(struct push_req *r, size_t len, const char **why)
{
    struct wire_reader rd;
    wire_reader_init(&rd, r->payload, len);
    r->nops = wire_get_u16(&rd);
    if (rd.err || r->nops == 0 || r->nops > PUSH_MAX_OPS) {
        *why = "count must be 1 to 100 operations";
        return MC_ERR_BAD_PAYLOAD;
    }
    r->ops = calloc(r->nops, sizeof *r->ops);
    if (!r->ops)
        return MC_ERR_NOMEM;
    for (unsigned i = 0; i < r->nops; i++) {
        struct push_op *o = &r->ops[i];
        const uint8_t *id = wire_get_bytes(&rd, 16);
        const uint8_t *kind = wire_get_bytes(&rd, 1);
        o->intervention = (int64_t)wire_get_u64(&rd);
        if (!id || !kind) {
            *why = "an operation is cut short";
            return MC_ERR_BAD_PAYLOAD;
        }
        memcpy(o->id, id, 16);
        o->kind = kind[0];
        if (o->kind == KIND_UPDATE) {
            o->base_version = (int64_t)wire_get_u64(&rd);
            o->n = wire_get_u16(&rd);
            if (rd.err || o->n == 0 || o->n > PUSH_MAX_FIELDS) {
                *why = "an UPDATE changes 1 to 32 fields";
                return MC_ERR_BAD_PAYLOAD;
            }
            for (unsigned k = 0; k < o->n; k++) {
                o->f[k].name = wire_get_str(&rd, 63);
                int rc = odbc_values_decode(&rd, 1, &o->f[k].base, why);
                if (rc == 0)
                    rc = odbc_values_decode(&rd, 1, &o->f[k].next, why);
                if (rc < 0 || rd.err) {
                    *why = rc < 0 ? *why : "a field is cut short";
                    return MC_ERR_BAD_PAYLOAD;
                }
            }
        } else if (o->kind == KIND_PHOTO) {
            o->file = wire_get_str(&rd, 1024);
            o->sha256 = wire_get_bytes(&rd, 32);
            o->content_type = wire_get_str(&rd, 64);
            if (rd.err || odbc_values_decode(&rd, 1, &o->caption, why) < 0 ||
                odbc_values_decode(&rd, 1, &o->taken_at, why) < 0) {
                *why = "a PHOTO operation is cut short";
                return MC_ERR_BAD_PAYLOAD;
            }
            if ((o->caption.tag != MC_VALUE_TEXT && o->caption.tag != MC_VALUE_NULL) ||
                (o->taken_at.tag != MC_VALUE_TIMESTAMP && o->taken_at.tag != MC_VALUE_NULL)) {
                *why = "a PHOTO's caption is TEXT or NULL, its taken_at TIMESTAMP or NULL";
                return MC_ERR_BAD_PAYLOAD;
            }
        } else {
            *why = "an operation's kind is 1 (UPDATE) or 2 (PHOTO)";
            return MC_ERR_BAD_PAYLOAD;
        }
        if (rd.err) {
            *why = "an operation is cut short";
            return MC_ERR_BAD_PAYLOAD;
        }
        buf_init(&o->values, 1u << 20);
    }
    if (wire_reader_done(&rd) != 0) {
        *why = "trailing bytes after the last operation";
        return MC_ERR_BAD_PAYLOAD;
    }
    return 0;
}

/* -- applying (sync pool) --------------------------------------------------------------------- */

static void set_result(struct push_op *o, int result, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_result(struct push_op *o, int result, int code, const char *fmt, ...)
{
    o->result = result;
    o->code = code < 0 ? -code : code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->msg, sizeof o->msg, fmt, ap);
    va_end(ap);
}

/* The server's values of every field, for the answer. */
static void keep_values(struct push_op *o, const struct sync_map *m, const struct odbc_value *cur)
{
    uint8_t tmp[4096];
    for (unsigned i = 0; i < m->nfields; i++) {
        size_t need = 2 + strlen(m->fields[i]) + 16 + (cur[i].len);
        uint8_t *p = need <= sizeof tmp ? tmp : malloc(need);
        if (!p)
            return;
        struct wire_writer w;
        wire_writer_init(&w, p, need);
        wire_put_cstr(&w, m->fields[i]);
        odbc_value_encode(&w, &cur[i]);
        size_t avail = 0;
        uint8_t *dst = buf_tail(&o->values, w.len, &avail);
        if (dst && avail >= w.len) {
            memcpy(dst, p, w.len);
            buf_commit(&o->values, w.len);
            o->nvalues++;
        }
        if (p != tmp)
            free(p);
    }
}

/*
 * Read the intervention's current row: its version, its technician and
 * the mapped fields (row.buf holds what cur points into). 0, or
 * MC_ERR_NOT_FOUND, or the database's error.
 */
static int read_row(struct odbc_link *l, const struct sync_map *m, int64_t id, struct buf *rows,
                    int64_t *version, int64_t *technician, struct odbc_value *cur,
                    struct odbc_error *e)
{
    struct sync_bind b[] = {{"intervention", sync_int(id)}};
    uint64_t n = 0;
    buf_consume(rows, buf_len(rows));
    int rc = sync_db_run(l, m, "row", b, 1, NULL, rows, &n, NULL, e);
    if (rc < 0)
        return rc;
    if (n == 0)
        return MC_ERR_NOT_FOUND;
    struct odbc_value v[3 + SYNC_FIELDS_MAX];
    size_t off = 0;
    if (sync_db_row(rows, &off, 3 + m->nfields, v) < 0 || v[1].tag != MC_VALUE_INT ||
        v[2].tag != MC_VALUE_INT) {
        e->code = MC_ERR_CONFIG;
        snprintf(e->msg, sizeof e->msg,
                 "the mapping's [row] must return id, version, technician_id and the %u fields",
                 m->nfields);
        return MC_ERR_CONFIG;
    }
    *version = v[1].i;
    *technician = v[2].i;
    memcpy(cur, v + 3, m->nfields * sizeof *cur);
    return 0;
}

/* The stored result of an operation applied before, if any: 1 found, 0 not, or an error. */
static int replayed(struct odbc_link *l, const struct sync_map *m, struct push_op *o,
                    const char *hex, struct odbc_error *e)
{
    struct sync_bind b[] = {{"op_id", sync_text(hex, 32)}};
    struct buf rows;
    buf_init(&rows, 1u << 16);
    uint64_t n = 0;
    int rc = sync_db_run(l, m, "op_get", b, 1, NULL, &rows, &n, NULL, e);
    struct odbc_value v[5];
    size_t off = 0;
    if (rc == 0 && n > 0 && sync_db_row(&rows, &off, 5, v) == 0 && v[0].tag == MC_VALUE_INT) {
        o->result = (int)v[0].i;
        o->flags = (int)(v[1].tag == MC_VALUE_INT ? v[1].i : 0) | SYNC_F_REPLAYED;
        o->code = (int)(v[2].tag == MC_VALUE_INT ? v[2].i : 0);
        snprintf(o->msg, sizeof o->msg, "%.*s", v[3].tag == MC_VALUE_TEXT ? (int)v[3].len : 0,
                 v[3].tag == MC_VALUE_TEXT ? (const char *)v[3].p : "");
        o->version = v[4].tag == MC_VALUE_INT ? v[4].i : 0;
        rc = 1;
    }
    buf_free(&rows);
    return rc;
}

static int record(struct odbc_link *l, const struct sync_map *m, const struct push_op *o,
                  const char *hex, const char *device, struct odbc_error *e)
{
    struct sync_bind b[] = {
        {"op_id", sync_text(hex, 32)},
        {"device", sync_text(device, strlen(device))},
        {"intervention", sync_int(o->intervention)},
        {"result", sync_int(o->result)},
        {"flags", sync_int(o->flags)},
        {"code", sync_int(o->code)},
        {"message", sync_text(o->msg, strlen(o->msg))},
        {"version", sync_int(o->version)},
    };
    return sync_db_run(l, m, "op_put", b, sizeof b / sizeof b[0], NULL, NULL, NULL, NULL, e);
}

/* An UPDATE inside its transaction: 0 (o's result set) or a database error to roll back. */
static int apply_update(struct push_req *r, struct odbc_link *l, const struct sync_map *m,
                        struct push_op *o, int64_t technician, struct odbc_error *e)
{
    struct sync_change ch[PUSH_MAX_FIELDS];
    for (unsigned k = 0; k < o->n; k++) {
        char name[64];
        wire_str_copy(name, sizeof name, o->f[k].name);
        int idx = sync_map_field(m, name);
        for (unsigned p = 0; idx >= 0 && p < k; p++)
            if (ch[p].field == (unsigned)idx)
                idx = -2;
        if (idx < 0) {
            set_result(o, SYNC_FAILED, MC_ERR_BAD_PAYLOAD,
                       idx == -1 ? "'%s' is not a field a device may change here"
                                 : "the field '%s' is named twice",
                       name);
            return 0;
        }
        ch[k] = (struct sync_change){(unsigned)idx, o->f[k].base, o->f[k].next};
    }
    struct buf rows;
    buf_init(&rows, 1u << 22);
    int rc = 0;
    for (int tries = 0; tries < PUSH_TRIES; tries++) {
        int64_t version, owner;
        struct odbc_value cur[SYNC_FIELDS_MAX], out[SYNC_FIELDS_MAX];
        rc = read_row(l, m, o->intervention, &rows, &version, &owner, cur, e);
        if (rc == MC_ERR_NOT_FOUND || (rc == 0 && owner != technician)) {
            set_result(o, SYNC_FAILED, MC_ERR_NOT_FOUND,
                       "the intervention does not exist or is not assigned to this device's "
                       "technician");
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
        struct sync_merge res;
        sync_merge(cur, m->nfields, ch, o->n, version != o->base_version,
                   r->def->cfg.conflict_policy, out, &res);
        o->flags = res.flags;
        o->conflicts = res.conflicts;
        o->version = version;
        if (res.result == SYNC_CONFLICT || (res.flags & SYNC_F_RESOLVED))
            keep_values(o, m, cur);
        if (res.result == SYNC_CONFLICT) {
            set_result(o, SYNC_CONFLICT, MC_ERR_CONFLICT,
                       "changed on the server too since your base version: see its values");
            break;
        }
        if (res.write) {
            struct sync_bind b[] = {{"intervention", sync_int(o->intervention)},
                                    {"version", sync_int(version)}};
            uint64_t affected = 0;
            rc = sync_db_run(l, m, "apply", b, 2, out, NULL, NULL, &affected, e);
            if (rc < 0)
                break;
            if (affected != 1) {
                rc = MC_ERR_CONFLICT; /* someone else wrote in between: read again */
                continue;
            }
            o->version = version + 1;
        }
        set_result(o, SYNC_APPLIED, 0, "%s",
                   (res.flags & SYNC_F_RESOLVED)
                       ? "fields changed on both sides were settled by the conflict policy"
                       : "");
        break;
    }
    if (rc == MC_ERR_CONFLICT) { /* lost the race every time */
        rc = 0;
        set_result(o, SYNC_FAILED, MC_ERR_BUSY,
                   "the intervention kept changing while this was applied; push again");
    }
    buf_free(&rows);
    return rc;
}

static int apply_photo(struct push_req *r, struct odbc_link *l, const struct sync_map *m,
                       struct push_op *o, int64_t technician, struct odbc_error *e)
{
    struct buf rows;
    buf_init(&rows, 1u << 22);
    int64_t version, owner;
    struct odbc_value cur[SYNC_FIELDS_MAX];
    int rc = read_row(l, m, o->intervention, &rows, &version, &owner, cur, e);
    buf_free(&rows);
    if (rc == MC_ERR_NOT_FOUND || (rc == 0 && owner != technician)) {
        set_result(o, SYNC_FAILED, MC_ERR_NOT_FOUND,
                   "the intervention does not exist or is not assigned to this device's "
                   "technician");
        return 0;
    }
    if (rc < 0)
        return rc;
    o->version = version;
    char file[1025], ctype[65], why[512];
    wire_str_copy(file, sizeof file, o->file);
    wire_str_copy(ctype, sizeof ctype, o->content_type);
    struct sync_photo p = {.file = file, .sha256 = o->sha256, .content_type = ctype};
    rc = sync_photo_store(&r->conn, r->device, r->def->cfg.photo_dir, &p, why, sizeof why);
    if (rc < 0) {
        set_result(o, SYNC_FAILED, rc, "%s", why);
        return 0;
    }
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, o->sha256, 32);
    struct sync_bind fb[] = {{"file_name", sync_text(p.stored, strlen(p.stored))}};
    uint64_t n = 0;
    buf_init(&rows, 1u << 16);
    rc = sync_db_run(l, m, "photo_find", fb, 1, NULL, &rows, &n, NULL, e);
    struct odbc_value v;
    size_t off = 0;
    int64_t attached_to = 0;
    if (rc == 0 && n > 0 && sync_db_row(&rows, &off, 1, &v) == 0 && v.tag == MC_VALUE_INT)
        attached_to = v.i;
    buf_free(&rows);
    if (rc < 0)
        return rc;
    if (attached_to == o->intervention) {
        set_result(o, SYNC_APPLIED, 0, "this photo was already attached");
        return 0;
    }
    if (attached_to != 0) {
        char m2[64];
        snprintf(m2, sizeof m2, "%lld", (long long)attached_to);
        set_result(o, SYNC_FAILED, MC_ERR_EXISTS, "this photo is attached to intervention %s", m2);
        return 0;
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    struct sync_bind b[] = {
        {"intervention", sync_int(o->intervention)},
        {"technician", sync_int(technician)},
        {"file_name", sync_text(p.stored, strlen(p.stored))},
        {"original_name", sync_text(base, strlen(base))},
        {"content_type", sync_text(ctype, strlen(ctype))},
        {"size", sync_int((int64_t)p.size)},
        {"sha256", sync_text(hex, 64)},
        {"caption", o->caption},
        {"taken_at", o->taken_at},
    };
    rc = sync_db_run(l, m, "photo", b, sizeof b / sizeof b[0], NULL, NULL, NULL, NULL, e);
    if (rc == 0)
        set_result(o, SYNC_APPLIED, 0, "%s", "");
    return rc;
}

/* One operation, in its own transaction. A negative return: the database went away. */
static int apply_one(struct push_req *r, struct odbc_link *l, const struct sync_map *m,
                     struct push_op *o, int64_t technician)
{
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, o->id, 16);
    struct odbc_error e = {0};
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = odbc_link_tx(l, 1, &e);
        if (rc == 0)
            rc = replayed(l, m, o, hex, &e);
        if (rc == 1) {
            (void)odbc_link_tx(l, 3, &e);
            if (o->result != SYNC_APPLIED || (o->flags & SYNC_F_RESOLVED)) {
                /* The current values, as a conflict's answer shows them. */
                struct buf rows;
                buf_init(&rows, 1u << 22);
                int64_t version, owner;
                struct odbc_value cur[SYNC_FIELDS_MAX];
                if (read_row(l, m, o->intervention, &rows, &version, &owner, cur, &e) == 0) {
                    keep_values(o, m, cur);
                    o->version = version;
                }
                buf_free(&rows);
            }
            return 0;
        }
        if (rc == 0)
            rc = o->kind == KIND_UPDATE ? apply_update(r, l, m, o, technician, &e)
                                        : apply_photo(r, l, m, o, technician, &e);
        if (rc == 0 && o->result != SYNC_FAILED)
            rc = record(l, m, o, hex, r->device, &e);
        if (rc == 0 && o->result == SYNC_FAILED) {
            (void)odbc_link_tx(l, 3, &e); /* nothing of a failed operation stays */
            return 0;
        }
        if (rc == 0 && (rc = odbc_link_tx(l, 2, &e)) == 0)
            return 0;
        (void)odbc_link_tx(l, 3, &e);
        o->nvalues = 0;
        buf_consume(&o->values, buf_len(&o->values));
        if (rc == MC_ERR_DB_UNAVAILABLE) {
            set_result(o, SYNC_FAILED, rc, "not applied: %s", e.msg);
            return rc;
        }
        /* A database refusal: the first time, perhaps another gateway
         * recorded the same operation meanwhile; look once more. */
        if (attempt == 0 && rc == MC_ERR_SQL)
            continue;
        set_result(o, SYNC_FAILED, rc == MC_ERR_CONFIG ? MC_ERR_INTERNAL : rc, "%s",
                   e.msg[0] ? e.msg : mc_strerror(rc));
        return 0;
    }
    return 0;
}

static void push_work(struct job *j)
{
    struct push_req *r = (struct push_req *)((char *)j - offsetof(struct push_req, job));
    struct odbc_link *l = NULL;
    const struct sync_map *m;
    int64_t technician = r->binding.technician;
    int revoked = 0;
    r->rc = sync_take(r->mp, r->def, &l, &m, &r->err);
    if (r->rc == 0 && !r->binding.known)
        r->rc = sync_db_device(l, m, r->device, r->conn.name, &technician, &revoked, &r->err);
    if (r->rc == 0 && revoked) {
        r->rc = MC_ERR_REVOKED;
        snprintf(r->err.msg, sizeof r->err.msg, "this device was revoked by the administrator");
    }
    unsigned i = 0;
    for (; r->rc == 0 && i < r->nops; i++)
        if (apply_one(r, l, m, &r->ops[i], technician) == MC_ERR_DB_UNAVAILABLE)
            break;
    for (i = i + 1; r->rc == 0 && i < r->nops; i++)
        set_result(&r->ops[i], SYNC_FAILED, MC_ERR_DB_UNAVAILABLE,
                   "not applied: the database went away during the batch; push again");
    if (r->rc == 0 && r->binding.note) {
        struct odbc_error e;
        struct sync_bind b[] = {{"device", sync_text(r->device, strlen(r->device))}};
        (void)sync_db_run(l, m, "device_pushed", b, 1, NULL, NULL, NULL, NULL, &e);
    }
    if (l)
        odbc_link_give(l);
}

/* -- the answer (loop thread) ------------------------------------------------------------------ */

static void push_done(struct job *j, int status)
{
    struct push_req *r = (struct push_req *)((char *)j - offsetof(struct push_req, job));
    struct op *op = &r->op;
    if (status < 0)
        return;
    if (r->rc < 0) {
        int code = r->rc == MC_ERR_CONFIG ? MC_ERR_INTERNAL : r->rc;
        op_conn_log(op->c, LOG_LVL_WARN, "event=sync_push device=\"%s\" result=%s reason=\"%s\"",
                    r->device, mc_err_name(code), r->err.msg);
        op_fail(op, code, "sync_push: %s", r->err.msg[0] ? r->err.msg : mc_strerror(code));
        return;
    }
    size_t cap = 2;
    for (unsigned i = 0; i < r->nops; i++)
        cap += 64 + strlen(r->ops[i].msg) + 66 * PUSH_MAX_FIELDS + buf_len(&r->ops[i].values);
    uint8_t *p = malloc(cap);
    if (!p) {
        op_fail(op, MC_ERR_NOMEM, "sync_push: out of memory");
        return;
    }
    struct wire_writer w;
    wire_writer_init(&w, p, cap);
    wire_put_u16(&w, (uint16_t)r->nops);
    unsigned applied = 0, conflicts = 0, failed = 0;
    for (unsigned i = 0; i < r->nops; i++) {
        struct push_op *o = &r->ops[i];
        char hex[33];
        sodium_bin2hex(hex, sizeof hex, o->id, 16);
        wire_put_bytes(&w, o->id, 16);
        wire_put_bytes(&w, (uint8_t[]){(uint8_t)o->result, (uint8_t)o->flags}, 2);
        wire_put_u16(&w, (uint16_t)o->code);
        wire_put_cstr(&w, o->msg);
        wire_put_u64(&w, (uint64_t)o->version);
        unsigned nc = 0;
        for (uint64_t c = o->conflicts; c; c &= c - 1)
            nc++;
        wire_put_u16(&w, (uint16_t)nc);
        const struct sync_map *m = NULL;
        for (int d = 0; d < SYNC_DIALECTS && !m; d++)
            if (r->def->maps[d].n)
                m = &r->def->maps[d];
        for (unsigned f = 0; f < SYNC_FIELDS_MAX; f++)
            if (o->conflicts & (1ull << f))
                wire_put_cstr(&w, m ? m->fields[f] : "");
        /* The values, unless the answer would pass a frame's size. */
        int fits = w.len + buf_len(&o->values) + 2 < PUSH_ANSWER_MAX;
        wire_put_u16(&w, (uint16_t)(fits ? o->nvalues : 0));
        if (fits)
            wire_put_bytes(&w, buf_head(&o->values), buf_len(&o->values));
        applied += o->result == SYNC_APPLIED;
        conflicts += o->result == SYNC_CONFLICT;
        failed += o->result == SYNC_FAILED;
        int level = o->result == SYNC_APPLIED && !(o->flags & SYNC_F_RESOLVED) ? LOG_LVL_DEBUG
                    : o->result == SYNC_FAILED && o->code == -MC_ERR_NOT_FOUND ? LOG_LVL_INFO
                                                                               : LOG_LVL_WARN;
        if (o->result == SYNC_CONFLICT || (o->flags & SYNC_F_RESOLVED))
            level = LOG_LVL_WARN;
        op_conn_log(
            op->c, level,
            "event=sync_op device=\"%s\" op=%s kind=%s intervention=%lld result=%s "
            "flags=0x%02x code=%s version=%lld conflicts=%u reason=\"%s\"",
            r->device, hex, o->kind == KIND_UPDATE ? "update" : "photo", (long long)o->intervention,
            o->result == SYNC_APPLIED    ? "applied"
            : o->result == SYNC_CONFLICT ? "conflict"
                                         : "failed",
            o->flags, o->code ? mc_err_name(-o->code) : "OK", (long long)o->version, nc, o->msg);
    }
    op_conn_log(op->c, LOG_LVL_INFO,
                "event=sync_push device=\"%s\" result=OK ops=%u applied=%u conflicts=%u failed=%u",
                r->device, r->nops, applied, conflicts, failed);
    int rc = w.err ? MC_ERR_INTERNAL : op_conn_send(op->c, MC_MSG_SYNC_PUSH_OK, op->id, p, w.len);
    free(p);
    if (rc == 0)
        op_finish(op);
    else if (w.err)
        op_fail(op, MC_ERR_INTERNAL, "sync_push: the answer does not fit in a frame");
}

static void push_release(struct op *op)
{
    struct push_req *r = (struct push_req *)op;
    for (unsigned i = 0; r->ops && i < r->nops; i++)
        buf_free(&r->ops[i].values);
    free(r->ops);
    free(r->payload);
    sync_def_drop(r->def);
}

static void push_cancel(struct op *op, int reason)
{
    (void)op;
    (void)reason; /* what was applied stays applied; the replay answers it */
}

static const struct op_vtable push_vt = {.cancel = push_cancel, .release = push_release};

int sync_push(struct conn *c, const struct frame *f)
{
    const struct cfg_connection *cfg = op_conn_config(c);
    struct sync_mapping *mp = sync_mapping_of(cfg);
    if (!mp)
        return op_error(c, f, MC_ERR_NOT_ALLOWED,
                        "sync_push: this connection has no sync mapping (sync_mapping)");
    struct sync_binding binding;
    int bound = sync_binding_of(mp, op_conn_device(c), cfg->name, 1, &binding);
    if (bound < 0)
        return op_error(c, f, bound, "sync_push: %s",
                        bound == MC_ERR_REVOKED
                            ? "this device was revoked by the administrator"
                            : "this device is not bound to a technician on this connection "
                              "(misctl device add)");
    struct push_req *r =
        (struct push_req *)op_new(c, f->request_id, "sync_push", f->length, &push_vt, sizeof *r);
    if (!r)
        return op_error(c, f, MC_ERR_NOMEM, "sync_push: out of memory");
    r->op.in_ended = 1;
    r->op.no_cancel = 1; /* operations apply or not on their own; the answer tells */
    r->mp = mp;
    r->def = mp->def;
    sync_def_hold(r->def);
    r->conn = *cfg;
    r->binding = binding;
    snprintf(r->device, sizeof r->device, "%s", op_conn_device(c));
    r->payload = malloc(f->length ? f->length : 1);
    const char *why = "out of memory";
    int rc = r->payload ? 0 : MC_ERR_NOMEM;
    if (rc == 0) {
        memcpy(r->payload, f->payload, f->length);
        rc = decode(r, f->length, &why);
    }
    if (rc < 0) {
        op_conn_log(c, LOG_LVL_WARN, "event=sync_push device=\"%s\" result=%s reason=\"%s\"",
                    r->device, mc_err_name(rc), why);
        op_fail(&r->op, rc, "sync_push: %s", why);
        return rc;
    }
    r->job.work = push_work;
    r->job.done = push_done;
    if (!sync_g.pool || op_submit(&r->op, sync_g.pool, &r->job) < 0) {
        op_fail(&r->op, MC_ERR_BUSY, "sync_push: the gateway's sync queue is full; try again");
        return MC_ERR_BUSY;
    }
    return DISPATCH_ASYNC;
}
