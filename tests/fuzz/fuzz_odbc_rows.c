/*
 * libFuzzer target for the ODBC client's row reader and value decoder
 * (src/client/odbc.c): whatever the bytes and however the DATA frames cut
 * them, the reader stays inside its input and frees what it takes, every
 * row it gives re-encodes (mc_value_encode) to exactly the bytes it came
 * from, and it stops where a reference reader written here, one row at a
 * time over the whole stream, says it must: malformed, over the limit, or
 * cut short. The input:
 *
 *   byte 0           columns = byte & 15; bit 0x10: no column types (any tag)
 *   next columns     the columns' tags, 1 + byte % 8
 *   next byte        max_row_bytes: 0 the default, else byte * 4
 *   next byte        the callback stops the reader at that row (0: never)
 *   next byte        cuts = byte % 16, then cuts bytes: the first frames' sizes
 *   the rest         the DATA payloads: those frames, then one with the rest
 *
 * Each frame is fed from a heap copy of its own exact size, so that a read
 * past it is caught by AddressSanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "miscomm/error.h"
#include "miscomm/odbc.h"

/* Not assert(): it must hold in release builds too. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

#define MAX_COLS 15u
#define MAX_CUTS 16u
/* What the callback returns to stop the reader: negative, and none of the MC_ERR_ codes. */
#define STOP (-100000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_rows {
    const uint8_t *stream; /* all the payload bytes, uncut */
    size_t len;
    size_t cursor; /* the bytes of the rows given so far */
    size_t ncols;
    const enum mc_value_type *types; /* or NULL */
    size_t max;                      /* max_row_bytes as the reader applies it */
    uint64_t rows;
    uint64_t stop_at;
    uint8_t *enc; /* len bytes, for re-encoding */
};

/*
 * The reference: the row at p[0..n) decoded in one piece. Its size (> 0),
 * 0 when p ends inside it, or MC_ERR_BAD_PAYLOAD (a malformed value, or a
 * tag other than its column's).
 */
static long ref_row(const struct fuzz_rows *f, const uint8_t *p, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < f->ncols; i++) {
        struct mc_value v;
        long k = mc_value_decode(p + off, n - off, &v);
        CHECK(k == 0 || k == MC_ERR_BAD_PAYLOAD || (k > 0 && (size_t)k <= n - off));
        if (k <= 0)
            return k;
        if (f->types && v.type != MC_VALUE_NULL && v.type != f->types[i])
            return MC_ERR_BAD_PAYLOAD;
        off += (size_t)k;
    }
    return (long)off;
}

static int on_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct fuzz_rows *f = ud;
    CHECK(ncols == f->ncols && ncols > 0);
    size_t rest = f->len - f->cursor, off = 0;
    for (size_t i = 0; i < ncols; i++) {
        const struct mc_value *v = &row[i];
        CHECK(!f->types || v->type == MC_VALUE_NULL || v->type == f->types[i]);
        long need = mc_value_encode(v, NULL, 0);
        CHECK(need > 0 && (size_t)need <= rest - off);
        CHECK(mc_value_encode(v, f->enc + off, (size_t)need) == need);
        off += (size_t)need;
    }
    CHECK(memcmp(f->enc, f->stream + f->cursor, off) == 0);
    CHECK(off <= f->max);
    /* The row the reference finds at the same place, and no other. */
    CHECK(ref_row(f, f->stream + f->cursor, rest) == (long)off);
    f->cursor += off;
    f->rows++;
    return f->stop_at && f->rows == f->stop_at ? STOP : 0;
}

/* Each value from the start of p[0..n): re-encoded, and refused whole when a byte is missing. */
static void walk_values(const uint8_t *p, size_t n, uint8_t *enc)
{
    size_t off = 0;
    while (off < n) {
        struct mc_value v;
        long k = mc_value_decode(p + off, n - off, &v);
        if (k <= 0) {
            CHECK(k == 0 || k == MC_ERR_BAD_PAYLOAD);
            return;
        }
        CHECK((size_t)k <= n - off);
        CHECK(mc_value_encode(&v, enc, (size_t)k) == k);
        CHECK(memcmp(enc, p + off, (size_t)k) == 0);
        CHECK(mc_value_decode(p + off, (size_t)k, &v) == k);
        CHECK(mc_value_decode(p + off, (size_t)k - 1, &v) == 0);
        off += (size_t)k;
    }
}

/* Feed p[0..n) from a heap copy of exactly n bytes (NULL when empty). */
static int feed_exact(mc_row_reader *r, const uint8_t *p, size_t n, struct fuzz_rows *f)
{
    uint8_t *copy = NULL;
    if (n) {
        copy = malloc(n);
        CHECK(copy != NULL);
        memcpy(copy, p, n);
    }
    int rc = mc_row_reader_feed(r, copy, n, on_row, f);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fuzz_rows f = {.ncols = data[0] & 15u};
    int any_tag = (data[0] & 0x10) != 0;
    size_t at = 1;
    enum mc_value_type types[MAX_COLS];
    if (size - at < f.ncols + 3)
        return 0;
    for (size_t i = 0; i < f.ncols; i++)
        types[i] = (enum mc_value_type)(1 + data[at++] % 8);
    size_t max_row_bytes = (size_t)data[at++] * 4;
    f.max = max_row_bytes ? max_row_bytes : MC_ODBC_MAX_ROW_BYTES;
    f.stop_at = data[at++];
    size_t cuts = data[at++] % MAX_CUTS;
    if (size - at < cuts)
        return 0;
    size_t frame[MAX_CUTS + 1];
    for (size_t i = 0; i < cuts; i++)
        frame[i] = data[at++];
    f.stream = data + at;
    f.len = size - at;
    f.types = any_tag ? NULL : types;
    f.enc = malloc(f.len ? f.len : 1);
    CHECK(f.enc != NULL);

    walk_values(f.stream, f.len, f.enc);

    mc_row_reader *r;
    CHECK(mc_row_reader_new(&r, f.ncols, any_tag ? NULL : types, max_row_bytes) == 0);
    int rc = 0;
    size_t fed = 0;
    int fed_nonempty = 0;
    for (size_t i = 0; i <= cuts && rc == 0; i++) {
        size_t n = i < cuts && frame[i] < f.len - fed ? frame[i] : f.len - fed;
        rc = feed_exact(r, f.stream + fed, n, &f);
        fed += n;
        fed_nonempty |= n > 0;
    }
    CHECK(mc_row_reader_rows(r) == f.rows);
    CHECK(f.cursor <= fed);
    int end = mc_row_reader_end(r);
    size_t rest = f.len - f.cursor;
    long ref = f.ncols && rest ? ref_row(&f, f.stream + f.cursor, rest) : 0;

    if (f.ncols == 0) {
        /* A row without columns takes no bytes: any byte is malformed. */
        CHECK(f.rows == 0);
        CHECK(rc == (fed_nonempty ? MC_ERR_BAD_PAYLOAD : 0));
        CHECK(rc != 0 || end == 0);
    } else if (rc == 0) {
        /* Everything fed: what is left can only be the start of a row. */
        CHECK(fed == f.len);
        if (rest == 0)
            CHECK(end == 0);
        else
            CHECK(end == MC_ERR_BAD_PAYLOAD && ref == 0 && rest <= f.max);
    } else if (rc == STOP) {
        CHECK(f.stop_at && f.rows == f.stop_at);
    } else if (rc == MC_ERR_BAD_PAYLOAD) {
        CHECK(ref == MC_ERR_BAD_PAYLOAD);
    } else {
        /* Over the limit: the next row is no whole row within it, and more bytes came. */
        CHECK(rc == MC_ERR_RESULT_LIMIT);
        CHECK(rest > f.max && !(ref > 0 && (size_t)ref <= f.max));
    }
    if (rc != 0) {
        /* After an error the reader takes nothing more, and says so again. */
        CHECK(end == rc);
        uint64_t rows = f.rows;
        CHECK(feed_exact(r, f.stream, f.len < 8 ? f.len : 8, &f) == rc);
        CHECK(f.rows == rows && mc_row_reader_rows(r) == rows);
    }
    mc_row_reader_free(r);
    free(f.enc);
    return 0;
}
