/*
 * The ODBC client's typed values and row reader (libmiscomm, odbc.c): exact
 * encodings, round trips of every tag, malformed input refused, and rows
 * that arrive cut into frames at every possible place.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "miscomm/odbc.h"

static struct mc_value v_int(int64_t i)
{
    return (struct mc_value){.type = MC_VALUE_INT, .i = i};
}

static struct mc_value v_float(double f)
{
    return (struct mc_value){.type = MC_VALUE_FLOAT, .f = f};
}

static struct mc_value v_str(enum mc_value_type t, const char *p, size_t n)
{
    return (struct mc_value){.type = t, .s = {p, n}};
}

static struct mc_value v_date(unsigned y, unsigned m, unsigned d)
{
    return (struct mc_value){.type = MC_VALUE_DATE, .date = {(uint16_t)y, (uint8_t)m, (uint8_t)d}};
}

static struct mc_value v_time(unsigned h, unsigned mi, unsigned s, uint32_t ns)
{
    return (struct mc_value){.type = MC_VALUE_TIME,
                             .time = {(uint8_t)h, (uint8_t)mi, (uint8_t)s, ns}};
}

static struct mc_value v_ts(unsigned y, unsigned m, unsigned d, unsigned h, unsigned mi, unsigned s,
                            uint32_t ns)
{
    struct mc_value v = {.type = MC_VALUE_TIMESTAMP};
    v.ts.date = v_date(y, m, d).date;
    v.ts.time = v_time(h, mi, s, ns).time;
    return v;
}

static int same_value(const struct mc_value *a, const struct mc_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case MC_VALUE_NULL:
        return 1;
    case MC_VALUE_INT:
        return a->i == b->i;
    case MC_VALUE_FLOAT:
        return memcmp(&a->f, &b->f, sizeof a->f) == 0; /* bit for bit: -0.0 too */
    case MC_VALUE_DECIMAL:
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        return a->s.len == b->s.len && (a->s.len == 0 || memcmp(a->s.ptr, b->s.ptr, a->s.len) == 0);
    case MC_VALUE_DATE:
        return memcmp(&a->date, &b->date, sizeof a->date) == 0;
    case MC_VALUE_TIME:
        return a->time.hour == b->time.hour && a->time.minute == b->time.minute &&
               a->time.second == b->time.second && a->time.nanosecond == b->time.nanosecond;
    case MC_VALUE_TIMESTAMP:
        return memcmp(&a->ts.date, &b->ts.date, sizeof a->ts.date) == 0 &&
               a->ts.time.hour == b->ts.time.hour && a->ts.time.minute == b->ts.time.minute &&
               a->ts.time.second == b->ts.time.second &&
               a->ts.time.nanosecond == b->ts.time.nanosecond;
    }
    return 0;
}

/* Encode, check the size query agrees, decode, compare; every cut is "need more". */
static void round_trip(const struct mc_value *v)
{
    long n = mc_value_encode(v, NULL, 0);
    CHECK(n > 0);
    if (n <= 0)
        return;
    uint8_t *buf = malloc((size_t)n);
    CHECK_EQ_INT(mc_value_encode(v, buf, (size_t)n), n);
    CHECK_EQ_INT(buf[0], v->type);
    struct mc_value d;
    CHECK_EQ_INT(mc_value_decode(buf, (size_t)n, &d), n);
    CHECK(same_value(v, &d));
    /* Truncated at every byte: never a value, never past the end. Big values
     * are cut only around their ends (the middle is all the same). */
    for (long cut = 0; cut < n; cut++) {
        if (n > 4096 && cut > 64 && cut < n - 64)
            cut = n - 64;
        CHECK_EQ_INT(mc_value_decode(buf, (size_t)cut, &d), 0);
    }
    free(buf);
}

static void test_exact_bytes(void)
{
    uint8_t b[16];
    struct mc_value v = v_int(-1);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 9);
    CHECK(b[0] == 1 && b[1] == 0xFF && b[8] == 0xFF);
    v = v_int(INT64_MIN);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 9);
    CHECK(b[1] == 0x80 && b[2] == 0 && b[8] == 0);
    v = v_int(258);
    mc_value_encode(&v, b, sizeof b);
    CHECK(b[7] == 1 && b[8] == 2);
    v = v_float(1.5); /* 0x3FF8000000000000 */
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 9);
    CHECK(b[0] == 3 && b[1] == 0x3F && b[2] == 0xF8 && b[3] == 0 && b[8] == 0);
    v = v_str(MC_VALUE_DECIMAL, "-1.5", 4);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 7);
    CHECK(b[0] == 2 && b[1] == 0 && b[2] == 4 && memcmp(b + 3, "-1.5", 4) == 0);
    v = v_str(MC_VALUE_TEXT, "hi", 2);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 7);
    CHECK(b[0] == 4 && b[1] == 0 && b[4] == 2 && b[5] == 'h' && b[6] == 'i');
    v = v_date(2026, 11, 30);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 5);
    CHECK(b[0] == 6 && b[1] == 0x07 && b[2] == 0xEA && b[3] == 11 && b[4] == 30);
    v = v_time(12, 30, 0, 1);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 8);
    CHECK(b[0] == 7 && b[1] == 12 && b[2] == 30 && b[3] == 0 && b[7] == 1);
    v = v_ts(2026, 11, 30, 12, 30, 59, 999999999u); /* 0x3B9AC9FF */
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 12);
    CHECK(b[0] == 8 && b[2] == 0xEA && b[5] == 12 && b[7] == 59 && b[8] == 0x3B && b[11] == 0xFF);
    v = (struct mc_value){.type = MC_VALUE_NULL};
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), 1);
    CHECK_EQ_INT(b[0], 0);
    /* Too small a buffer: the size, and nothing written. */
    memset(b, 0xAA, sizeof b);
    v = v_int(7);
    CHECK_EQ_INT(mc_value_encode(&v, b, 8), 9);
    CHECK(b[0] == 0xAA && b[7] == 0xAA);
}

static void test_round_trips(void)
{
    static const int64_t ints[] = {0,         1,
                                   -1,        42,
                                   -42,       255,
                                   -256,      INT32_MIN,
                                   INT32_MAX, (int64_t)INT32_MAX + 1,
                                   INT64_MIN, INT64_MIN + 1,
                                   INT64_MAX};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        struct mc_value v = v_int(ints[i]);
        round_trip(&v);
    }
    static const double floats[] = {0.0,      -0.0,     1.5,      -1.5,    0.1,
                                    1e308,    -1e-308,  DBL_MIN,  DBL_MAX, -DBL_MAX,
                                    4.9e-324, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        struct mc_value v = v_float(floats[i]);
        round_trip(&v);
    }
    static const char *const decimals[] = {"0",
                                           "-1234.50",
                                           "12.50",
                                           "-0.001",
                                           ".5",
                                           "5.",
                                           "99999999999999999999999999999999999999.99"};
    for (size_t i = 0; i < sizeof decimals / sizeof decimals[0]; i++) {
        struct mc_value v = v_str(MC_VALUE_DECIMAL, decimals[i], strlen(decimals[i]));
        round_trip(&v);
    }
    struct mc_value v = {.type = MC_VALUE_NULL};
    round_trip(&v);
    v = v_str(MC_VALUE_TEXT, NULL, 0);
    round_trip(&v);
    v = v_str(MC_VALUE_TEXT, "", 0);
    round_trip(&v);
    v = v_str(MC_VALUE_TEXT, "a\0b", 3);
    round_trip(&v);
    v = v_str(MC_VALUE_TEXT, "\xc3\xa9t\xc3\xa9", 6);
    round_trip(&v);
    v = v_str(MC_VALUE_BINARY, "", 0);
    round_trip(&v);
    v = v_str(MC_VALUE_BINARY, "\x00\xff\x00\x80", 4);
    round_trip(&v);
    /* 1 MiB of text with 0x00 all through it. */
    size_t big = 1024u * 1024u;
    char *text = malloc(big);
    for (size_t i = 0; i < big; i++)
        text[i] = (char)(i % 7 == 0 ? 0 : 'a' + (int)(i % 26));
    v = v_str(MC_VALUE_TEXT, text, big);
    round_trip(&v);
    v.type = MC_VALUE_BINARY;
    round_trip(&v);
    free(text);
    static const unsigned dates[][3] = {{2026, 11, 30}, {1, 1, 1}, {9999, 12, 31}, {65535, 2, 29}};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        v = v_date(dates[i][0], dates[i][1], dates[i][2]);
        round_trip(&v);
    }
    static const uint32_t nanos[] = {0, 1, 500000000u, 123456789u, 999999999u};
    for (size_t i = 0; i < sizeof nanos / sizeof nanos[0]; i++) {
        v = v_time(12, 30, 0, nanos[i]);
        round_trip(&v);
        v = v_time(23, 59, 60, nanos[i]);
        round_trip(&v);
        v = v_ts(2026, 11, 30, 0, 0, 0, nanos[i]);
        round_trip(&v);
        v = v_ts(1970, 1, 1, 23, 59, 59, nanos[i]);
        round_trip(&v);
    }
}

static void test_encode_refused(void)
{
    uint8_t b[64];
    static const char *const bad_decimals[] = {"",   "-",  ".",  "-.",   "1e5", "1.2.3", "--1",
                                               "+1", " 1", "1 ", "0x10", "1,5", "abc",   "NaN"};
    for (size_t i = 0; i < sizeof bad_decimals / sizeof bad_decimals[0]; i++) {
        struct mc_value v = v_str(MC_VALUE_DECIMAL, bad_decimals[i], strlen(bad_decimals[i]));
        CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
        CHECK(!mc_decimal_valid(bad_decimals[i], strlen(bad_decimals[i])));
    }
    struct mc_value v = v_str(MC_VALUE_DECIMAL, "1\0", 2);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    char *long_dec = malloc(70000);
    memset(long_dec, '9', 70000);
    v = v_str(MC_VALUE_DECIMAL, long_dec, 65535);
    CHECK_EQ_INT(mc_value_encode(&v, NULL, 0), 1 + 2 + 65535);
    v = v_str(MC_VALUE_DECIMAL, long_dec, 65536);
    CHECK_EQ_INT(mc_value_encode(&v, NULL, 0), MC_ERR_INVALID_ARG);
    free(long_dec);
    v = (struct mc_value){.type = (enum mc_value_type)9};
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_str(MC_VALUE_TEXT, NULL, 5);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_date(2026, 13, 1);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_date(2026, 0, 1);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_date(2026, 1, 32);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_date(2026, 1, 0);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_time(24, 0, 0, 0);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_time(0, 60, 0, 0);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_time(0, 0, 61, 0);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_time(0, 0, 0, 1000000000u);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_ts(2026, 2, 1, 0, 0, 0, 1000000000u);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
    v = v_ts(2026, 0, 1, 0, 0, 0, 0);
    CHECK_EQ_INT(mc_value_encode(&v, b, sizeof b), MC_ERR_INVALID_ARG);
}

static void test_decode_refused(void)
{
    struct mc_value v;
    /* Unknown tags, with enough bytes after them for any value. */
    uint8_t b[32] = {0};
    for (unsigned tag = 9; tag <= 255; tag++) {
        b[0] = (uint8_t)tag;
        CHECK_EQ_INT(mc_value_decode(b, sizeof b, &v), MC_ERR_BAD_PAYLOAD);
    }
    /* DECIMAL: empty, not plain notation, a 0x00 inside. */
    static const uint8_t dec_empty[] = {2, 0, 0};
    CHECK_EQ_INT(mc_value_decode(dec_empty, sizeof dec_empty, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t dec_exp[] = {2, 0, 3, '1', 'e', '5'};
    CHECK_EQ_INT(mc_value_decode(dec_exp, sizeof dec_exp, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t dec_nul[] = {2, 0, 3, '1', 0, '5'};
    CHECK_EQ_INT(mc_value_decode(dec_nul, sizeof dec_nul, &v), MC_ERR_BAD_PAYLOAD);
    /* Dates and times out of range. */
    static const uint8_t date_m0[] = {6, 0x07, 0xEA, 0, 1};
    CHECK_EQ_INT(mc_value_decode(date_m0, sizeof date_m0, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t date_m13[] = {6, 0x07, 0xEA, 13, 1};
    CHECK_EQ_INT(mc_value_decode(date_m13, sizeof date_m13, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t date_d32[] = {6, 0x07, 0xEA, 12, 32};
    CHECK_EQ_INT(mc_value_decode(date_d32, sizeof date_d32, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t time_h24[] = {7, 24, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(mc_value_decode(time_h24, sizeof time_h24, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t time_ns[] = {7, 1, 0, 0, 0x3B, 0x9A, 0xCA, 0x00};
    CHECK_EQ_INT(mc_value_decode(time_ns, sizeof time_ns, &v), MC_ERR_BAD_PAYLOAD);
    static const uint8_t ts_d0[] = {8, 0x07, 0xEA, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(mc_value_decode(ts_d0, sizeof ts_d0, &v), MC_ERR_BAD_PAYLOAD);
    /* A length past the end is never a value: more bytes are needed. */
    static const uint8_t text_past[] = {4, 0, 0, 0, 100, 'a', 'b'};
    CHECK_EQ_INT(mc_value_decode(text_past, sizeof text_past, &v), 0);
    static const uint8_t bin_huge[] = {5, 0xFF, 0xFF, 0xFF, 0xFF, 'a'};
    CHECK_EQ_INT(mc_value_decode(bin_huge, sizeof bin_huge, &v), 0);
    static const uint8_t dec_past[] = {2, 0, 9, '1'};
    CHECK_EQ_INT(mc_value_decode(dec_past, sizeof dec_past, &v), 0);
    /* Nothing at all. */
    CHECK_EQ_INT(mc_value_decode(b, 0, &v), 0);
    /* Trailing bytes are left for the next value. */
    static const uint8_t two[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
    CHECK_EQ_INT(mc_value_decode(two, sizeof two, &v), 1);
    CHECK_EQ_INT(v.type, MC_VALUE_NULL);
    CHECK_EQ_INT(mc_value_decode(two + 1, sizeof two - 1, &v), 9);
    CHECK(v.type == MC_VALUE_INT && v.i == 5);
}

/* -- rows ------------------------------------------------------------------------ */

/* What a row callback saw, re-encoded: equal to the stream when every row arrived whole. */
struct sink {
    uint8_t *p;
    size_t len, cap;
    uint64_t rows;
    long stop_at; /* stop (return -1000) at this row, 0: never */
};

static int sink_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct sink *k = ud;
    k->rows++;
    for (size_t i = 0; i < ncols; i++) {
        long n = mc_value_encode(&row[i], NULL, 0);
        if (n < 0)
            return MC_ERR_INTERNAL;
        if (k->len + (size_t)n > k->cap) {
            k->cap = (k->len + (size_t)n) * 2;
            k->p = realloc(k->p, k->cap);
        }
        k->len += (size_t)mc_value_encode(&row[i], k->p + k->len, k->cap - k->len);
    }
    return k->stop_at && (long)k->rows == k->stop_at ? -1000 : 0;
}

struct stream {
    uint8_t p[8192];
    size_t len;
    size_t row_end[16]; /* where each row ends */
    size_t nrows;
};

static void put(struct stream *s, struct mc_value v)
{
    long n = mc_value_encode(&v, s->p + s->len, sizeof s->p - s->len);
    CHECK(n > 0 && s->len + (size_t)n <= sizeof s->p);
    s->len += (size_t)n;
}

/* Five columns: INT, TEXT, DECIMAL, TIMESTAMP, BINARY; NULLs here and there. */
static const enum mc_value_type cols5[5] = {MC_VALUE_INT, MC_VALUE_TEXT, MC_VALUE_DECIMAL,
                                            MC_VALUE_TIMESTAMP, MC_VALUE_BINARY};

static void build_rows(struct stream *s)
{
    static char long_text[700];
    memset(long_text, 'x', sizeof long_text);
    long_text[350] = 0;
    memset(s, 0, sizeof *s);
    for (int r = 0; r < 7; r++) {
        put(s, r == 3 ? (struct mc_value){.type = MC_VALUE_NULL} : v_int(r == 5 ? INT64_MIN : r));
        put(s, r == 4   ? v_str(MC_VALUE_TEXT, long_text, sizeof long_text)
               : r == 2 ? (struct mc_value){.type = MC_VALUE_NULL}
                        : v_str(MC_VALUE_TEXT, "row\0x", (size_t)(r % 6)));
        put(s, r == 1 ? (struct mc_value){.type = MC_VALUE_NULL}
                      : v_str(MC_VALUE_DECIMAL, "-12.50", 6));
        put(s, v_ts(2026, 11, 30, 12, 30, (unsigned)r, 123456789u));
        put(s, v_str(MC_VALUE_BINARY, "\x00\x01\xff", (size_t)(r % 4)));
        s->row_end[s->nrows++] = s->len;
    }
}

static int is_row_end(const struct stream *s, size_t off)
{
    if (off == 0)
        return 1;
    for (size_t i = 0; i < s->nrows; i++)
        if (s->row_end[i] == off)
            return 1;
    return 0;
}

static uint64_t rows_before(const struct stream *s, size_t off)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nrows; i++)
        n += s->row_end[i] <= off;
    return n;
}

static void test_rows_split(void)
{
    struct stream s;
    build_rows(&s);
    /* Two frames, cut at every byte. */
    for (size_t cut = 0; cut <= s.len; cut++) {
        mc_row_reader *r;
        CHECK_EQ_INT(mc_row_reader_new(&r, 5, cols5, 0), 0);
        struct sink k = {0};
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p, cut, sink_row, &k), 0);
        CHECK_EQ_INT(k.rows, rows_before(&s, cut));
        CHECK_EQ_INT(mc_row_reader_end(r), is_row_end(&s, cut) ? 0 : MC_ERR_BAD_PAYLOAD);
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p + cut, s.len - cut, sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_end(r), 0);
        CHECK_EQ_INT(mc_row_reader_rows(r), s.nrows);
        CHECK_EQ_INT(k.rows, s.nrows);
        CHECK(k.len == s.len && memcmp(k.p, s.p, s.len) == 0);
        free(k.p);
        mc_row_reader_free(r);
    }
    /* One byte per frame, and a small row limit that every row fits. */
    mc_row_reader *r;
    CHECK_EQ_INT(mc_row_reader_new(&r, 5, cols5, 800), 0);
    struct sink k = {0};
    for (size_t i = 0; i < s.len; i++)
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p + i, 1, sink_row, &k), 0);
    CHECK_EQ_INT(mc_row_reader_end(r), 0);
    CHECK(k.rows == s.nrows && k.len == s.len && memcmp(k.p, s.p, s.len) == 0);
    free(k.p);
    mc_row_reader_free(r);
    /* Three frames: every pair of cuts 37 bytes apart. */
    for (size_t a = 0; a + 37 <= s.len; a++) {
        CHECK_EQ_INT(mc_row_reader_new(&r, 5, NULL, 0), 0);
        k = (struct sink){0};
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p, a, sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p + a, 37, sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p + a + 37, s.len - a - 37, sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_end(r), 0);
        CHECK(k.rows == s.nrows && k.len == s.len && memcmp(k.p, s.p, s.len) == 0);
        free(k.p);
        mc_row_reader_free(r);
    }
}

static void test_rows_big(void)
{
    /* A 1 MiB text row with 0x00 inside, behind a small row, cut near both ends and in the middle.
     */
    size_t big = 1024u * 1024u;
    char *text = malloc(big);
    for (size_t i = 0; i < big; i++)
        text[i] = (char)(i % 5 == 0 ? 0 : 'A' + (int)(i % 26));
    size_t cap = 64 + big;
    uint8_t *stream = malloc(cap);
    size_t len = 0;
    struct mc_value v[2] = {v_int(1), v_str(MC_VALUE_TEXT, "small", 5)};
    for (int i = 0; i < 2; i++)
        len += (size_t)mc_value_encode(&v[i], stream + len, cap - len);
    size_t first = len;
    v[0] = v_int(2);
    v[1] = v_str(MC_VALUE_TEXT, text, big);
    for (int i = 0; i < 2; i++)
        len += (size_t)mc_value_encode(&v[i], stream + len, cap - len);
    static const enum mc_value_type types[2] = {MC_VALUE_INT, MC_VALUE_TEXT};
    size_t cuts[] = {0,         1,          first - 1, first,   first + 1,
                     first + 9, first + 10, len / 2,   len - 1, len};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mc_row_reader *r;
        CHECK_EQ_INT(mc_row_reader_new(&r, 2, types, 0), 0);
        struct sink k = {0};
        CHECK_EQ_INT(mc_row_reader_feed(r, stream, cuts[i], sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_feed(r, stream + cuts[i], len - cuts[i], sink_row, &k), 0);
        CHECK_EQ_INT(mc_row_reader_end(r), 0);
        CHECK(k.rows == 2 && k.len == len && memcmp(k.p, stream, len) == 0);
        free(k.p);
        mc_row_reader_free(r);
    }
    /* The same row over a 64 KiB row limit: refused, whatever the cut. */
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mc_row_reader *r;
        CHECK_EQ_INT(mc_row_reader_new(&r, 2, types, 65536), 0);
        struct sink k = {0};
        int rc = mc_row_reader_feed(r, stream, cuts[i], sink_row, &k);
        if (rc == 0)
            rc = mc_row_reader_feed(r, stream + cuts[i], len - cuts[i], sink_row, &k);
        CHECK_EQ_INT(rc, MC_ERR_RESULT_LIMIT);
        CHECK_EQ_INT(k.rows, 1);
        /* A failed reader stays failed. */
        CHECK_EQ_INT(mc_row_reader_feed(r, stream, first, sink_row, &k), MC_ERR_RESULT_LIMIT);
        CHECK_EQ_INT(mc_row_reader_end(r), MC_ERR_RESULT_LIMIT);
        free(k.p);
        mc_row_reader_free(r);
    }
    free(stream);
    free(text);
}

static void test_rows_refused(void)
{
    struct stream s;
    build_rows(&s);
    /* Truncated at every byte: rows up to the cut, then a cut row at the end. */
    for (size_t cut = 0; cut < s.len; cut++) {
        mc_row_reader *r;
        CHECK_EQ_INT(mc_row_reader_new(&r, 5, cols5, 0), 0);
        CHECK_EQ_INT(mc_row_reader_feed(r, s.p, cut, NULL, NULL), 0);
        CHECK_EQ_INT(mc_row_reader_end(r), is_row_end(&s, cut) ? 0 : MC_ERR_BAD_PAYLOAD);
        mc_row_reader_free(r);
    }
    /* A value whose tag is not its column's (NULL apart). */
    static const enum mc_value_type wrong[5] = {MC_VALUE_INT, MC_VALUE_BINARY, MC_VALUE_DECIMAL,
                                                MC_VALUE_TIMESTAMP, MC_VALUE_BINARY};
    mc_row_reader *r;
    CHECK_EQ_INT(mc_row_reader_new(&r, 5, wrong, 0), 0);
    struct sink k = {0};
    CHECK_EQ_INT(mc_row_reader_feed(r, s.p, s.len, sink_row, &k), MC_ERR_BAD_PAYLOAD);
    CHECK_EQ_INT(k.rows, 0);
    mc_row_reader_free(r);
    /* An unknown tag in the middle of a row, split or not. */
    uint8_t bad[64];
    memcpy(bad, s.p, s.row_end[0]);
    bad[s.row_end[0]] = 9;
    for (size_t cut = 0; cut <= s.row_end[0] + 1; cut++) {
        CHECK_EQ_INT(mc_row_reader_new(&r, 5, NULL, 0), 0);
        k = (struct sink){0};
        int rc = mc_row_reader_feed(r, bad, cut, sink_row, &k);
        if (rc == 0)
            rc = mc_row_reader_feed(r, bad + cut, s.row_end[0] + 1 - cut, sink_row, &k);
        CHECK_EQ_INT(rc, MC_ERR_BAD_PAYLOAD);
        CHECK_EQ_INT(k.rows, 1);
        free(k.p);
        mc_row_reader_free(r);
    }
    /* No columns: no row can have bytes. */
    CHECK_EQ_INT(mc_row_reader_new(&r, 0, NULL, 0), 0);
    CHECK_EQ_INT(mc_row_reader_feed(r, NULL, 0, NULL, NULL), 0);
    CHECK_EQ_INT(mc_row_reader_feed(r, s.p, 1, NULL, NULL), MC_ERR_BAD_PAYLOAD);
    mc_row_reader_free(r);
    /* A callback's stop comes back, and the reader takes nothing more. */
    CHECK_EQ_INT(mc_row_reader_new(&r, 5, cols5, 0), 0);
    k = (struct sink){.stop_at = 2};
    CHECK_EQ_INT(mc_row_reader_feed(r, s.p, s.len, sink_row, &k), -1000);
    CHECK_EQ_INT(k.rows, 2);
    CHECK_EQ_INT(mc_row_reader_feed(r, s.p, s.len, sink_row, &k), -1000);
    CHECK_EQ_INT(k.rows, 2);
    free(k.p);
    mc_row_reader_free(r);
    mc_row_reader_free(NULL);
}

int main(void)
{
    test_exact_bytes();
    test_round_trips();
    test_encode_refused();
    test_decode_refused();
    test_rows_split();
    test_rows_big();
    test_rows_refused();
    return check_report("test_odbc_values");
}
