/*
 * libmiscomm, database access through the gateway (protocol 2;
 * docs/protocol.md section 5.15): open a handle with a credential file,
 * run statements on it with typed parameters, read typed rows.
 *
 * The device never holds the database password: a handle is opened with a
 * credential file sealed by the gateway (or with none, to use the
 * connection's own), and the administrator decides what it may do.
 *
 * Each call waits for its answer within the client's timeout_ms, which
 * starts again whenever rows arrive. A statement the database takes longer
 * over than timeout_ms breaks the connection (as any timeout does): set
 * timeout_ms above the gateway's odbc_query_timeout.
 *
 * Errors are negative MC_ERR_* codes; mc_client_errmsg() then holds the
 * server's message. For MC_ERR_SQL it begins with "SQLSTATE XXXXX: "
 * followed by the driver's text.
 */
#ifndef MISCOMM_ODBC_H
#define MISCOMM_ODBC_H

#include "miscomm/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The tags of typed values on the wire. */
enum mc_value_type {
    MC_VALUE_NULL = 0,
    MC_VALUE_INT = 1,       /* i */
    MC_VALUE_DECIMAL = 2,   /* s: exact, plain notation ("-1234.50") */
    MC_VALUE_FLOAT = 3,     /* f */
    MC_VALUE_TEXT = 4,      /* s: UTF-8, may contain 0x00 */
    MC_VALUE_BINARY = 5,    /* s: raw bytes */
    MC_VALUE_DATE = 6,      /* date */
    MC_VALUE_TIME = 7,      /* time */
    MC_VALUE_TIMESTAMP = 8, /* ts: no time zone, as stored */
};

struct mc_date {
    uint16_t year;
    uint8_t month; /* 1-12 */
    uint8_t day;   /* 1-31 */
};

struct mc_time {
    uint8_t hour;        /* 0-23 */
    uint8_t minute;      /* 0-59 */
    uint8_t second;      /* 0-60 (a leap second) */
    uint32_t nanosecond; /* 0-999999999 */
};

struct mc_timestamp {
    struct mc_date date;
    struct mc_time time;
};

/* The bytes of a DECIMAL, TEXT or BINARY value: not NUL-terminated. */
struct mc_bytes {
    const char *ptr;
    size_t len;
};

/*
 * A typed value: a parameter (the caller owns what s points to) or a result
 * value (s points into the library's buffer, valid during the callback
 * that gets it). The types are declared outside the union so that C++
 * can include this header too.
 */
struct mc_value {
    enum mc_value_type type;
    union {
        int64_t i;
        double f;
        struct mc_bytes s;
        struct mc_date date;
        struct mc_time time;
        struct mc_timestamp ts;
    };
};

/* The longest DECIMAL (a str on the wire). */
#define MC_VALUE_MAX_DECIMAL 65535u
/* The largest row mc_query() and a row reader take by default (a row may span frames). */
#define MC_ODBC_MAX_ROW_BYTES (64u * 1024u * 1024u)

/*
 * The value codec, pure functions over caller buffers (no allocation, no
 * client), for tests and for applications that drive a QUERY stream
 * themselves.
 *
 * mc_value_encode writes the tag and value into out[0..cap) and returns
 * the bytes the encoding takes; when that is more than cap nothing is
 * written (ask the size with out NULL, cap 0). A value that cannot be
 * sent (an unknown type, a DECIMAL that is not plain notation or is
 * longer than MC_VALUE_MAX_DECIMAL, a TEXT or BINARY over 4 GiB, a date or
 * time out of range) gives MC_ERR_INVALID_ARG.
 *
 * mc_value_decode reads one value from p[0..len): the bytes used (> 0), 0
 * when p ends before the value does (more bytes are needed), or
 * MC_ERR_BAD_PAYLOAD (an unknown tag, a malformed DECIMAL, a date or time
 * out of range). String values point into p.
 */
MC_API long mc_value_encode(const struct mc_value *v, uint8_t *out, size_t cap);
MC_API long mc_value_decode(const uint8_t *p, size_t len, struct mc_value *v);
/* 1 if s[0..len) is a DECIMAL in plain notation: -?DIGITS[.DIGITS] (".5", "5." accepted). */
MC_API int mc_decimal_valid(const char *s, size_t len);

/*
 * A row reader: the rows of a QUERY from its DATA payloads, however the
 * frames cut them. A row that spans frames is kept (at most max_row_bytes)
 * until its last byte comes. types (may be NULL) are the columns' tags: a
 * value of another tag than its column's (NULL apart) is malformed.
 */
typedef struct mc_row_reader mc_row_reader;
/* A row of ncols values, valid during the call; return 0, or < 0 to stop. */
typedef int (*mc_row_fn)(void *ud, const struct mc_value *row, size_t ncols);

/* max_row_bytes 0: MC_ODBC_MAX_ROW_BYTES. types is copied. */
MC_API int mc_row_reader_new(mc_row_reader **out, size_t ncols, const enum mc_value_type *types,
                             size_t max_row_bytes);
/*
 * The next payload bytes: every row they complete goes to fn. 0, the
 * negative value fn returned, MC_ERR_BAD_PAYLOAD or MC_ERR_RESULT_LIMIT (a
 * row larger than max_row_bytes); after an error the reader takes nothing
 * more.
 */
MC_API int mc_row_reader_feed(mc_row_reader *r, const uint8_t *p, size_t len, mc_row_fn fn,
                              void *ud);
/* After the stream's last byte: 0, or MC_ERR_BAD_PAYLOAD if a row was cut short. */
MC_API int mc_row_reader_end(const mc_row_reader *r);
/* Rows given to fn so far. */
MC_API uint64_t mc_row_reader_rows(const mc_row_reader *r);
/* NULL is allowed. */
MC_API void mc_row_reader_free(mc_row_reader *r);

/* ODBC_OPEN_OK flags. */
#define MC_ODBC_READ_ONLY 0x01u /* odbc_mode = read_only: statements that write are refused */
#define MC_ODBC_RAW_SQL   0x02u /* raw SQL allowed; else only named statements */

/* At most this many handles are open at once on a connection. */
#define MC_ODBC_MAX_HANDLES 4u

/*
 * Open a handle. cred: the credential file's bytes exactly as received (at
 * most 65535), or NULL/0 for the connection's own credential. *flags (may
 * be NULL) gets MC_ODBC_* bits; dbms (may be NULL) the database's product
 * name, truncated to dbms_cap - 1 bytes.
 */
MC_API int mc_odbc_open(mc_client *c, const void *cred, size_t cred_len, uint32_t *handle,
                        unsigned *flags, char *dbms, size_t dbms_cap);

/* A result column, as QUERY_COLUMNS describes it. */
struct mc_column {
    const char *name;        /* NUL-terminated */
    enum mc_value_type type; /* the tag its values carry, NULL apart */
    int16_t sql_type;        /* the ODBC SQL type: 4 INTEGER, 12 VARCHAR, 93 TIMESTAMP... */
    uint32_t size;           /* the column's size as the driver says */
    uint8_t nullable;        /* 0 no, 1 yes, 2 unknown */
};

/* What mc_query() calls; either may be NULL. Return 0, or < 0 to stop (the query is cancelled). */
struct mc_query_callbacks {
    /* Once, before the first row. cols are valid until mc_query() returns. */
    int (*columns)(void *ud, const struct mc_column *cols, size_t ncols);
    /* Each row in order: ncols values, valid during the call. */
    int (*row)(void *ud, const struct mc_value *values, size_t ncols);
};

struct mc_query_result {
    uint64_t rows; /* rows received */
    int more;      /* the query had more rows than max_rows */
};

/*
 * QUERY: a statement that returns rows. named: text is the name of a
 * statement of the connection's [queries] section, not SQL. params are
 * bound to the statement's ? markers in order (nparams at most 65535).
 * max_rows 0: the connection's odbc_max_rows. out may be NULL.
 *
 * On MC_ERR_RESULT_LIMIT (more rows or bytes than the connection allows)
 * the rows already given to cb->row are not the whole result: discard
 * them. A stop from a callback cancels the query and returns its value.
 */
MC_API int mc_query(mc_client *c, uint32_t handle, int named, const char *text,
                    const struct mc_value *params, size_t nparams, uint32_t max_rows,
                    const struct mc_query_callbacks *cb, void *ud, struct mc_query_result *out);

/* EXEC: a statement without rows. *affected (may be NULL): rows changed, UINT64_MAX unknown. */
MC_API int mc_exec(mc_client *c, uint32_t handle, int named, const char *text,
                   const struct mc_value *params, size_t nparams, uint64_t *affected);

/* TX operations. */
enum mc_tx_op {
    MC_TX_BEGIN = 1,    /* pin one database connection to the handle */
    MC_TX_COMMIT = 2,   /* commit and release it */
    MC_TX_ROLLBACK = 3, /* roll back and release it */
};

/* Transaction control; BEGIN inside a transaction or COMMIT outside one: MC_ERR_UNEXPECTED. */
MC_API int mc_tx(mc_client *c, uint32_t handle, enum mc_tx_op op);
/* Close a handle (an open transaction is rolled back), once its earlier requests are answered. */
MC_API int mc_odbc_close(mc_client *c, uint32_t handle);

#ifdef __cplusplus
}
#endif
#endif
