/*
 * Typed values (docs/protocol.md 5.15) on the wire: decoding a request's
 * parameters (or a fetched row: the same encoding), encoding one value,
 * comparing two. Pure functions, any thread.
 */
#include <string.h>

#include "miscomm/error.h"
#include "odbc_db.h"
#include "wire.h"

/* An optional '-', digits, optionally '.' and digits; at least one digit. */
static int decimal_valid(const char *p, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && p[i] == '-')
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        digits++;
    if (i < n && p[i] == '.')
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    return i == n && digits > 0;
}

/* Decode count typed values (docs/protocol.md 5.15) from r; pointers into the payload. */
int odbc_values_decode(struct wire_reader *rd, size_t count, struct odbc_value *v, const char **why)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *tag = wire_get_bytes(rd, 1);
        if (!tag) {
            *why = "a parameter is cut short";
            return MC_ERR_BAD_PAYLOAD;
        }
        v[i] = (struct odbc_value){.tag = tag[0]};
        switch (tag[0]) {
        case MC_VALUE_NULL:
            break;
        case MC_VALUE_INT:
            v[i].i = (int64_t)wire_get_u64(rd);
            break;
        case MC_VALUE_FLOAT: {
            uint64_t bits = wire_get_u64(rd);
            memcpy(&v[i].f, &bits, sizeof bits);
            break;
        }
        case MC_VALUE_DECIMAL: {
            struct wire_str s = wire_get_str(rd, 65535);
            v[i].p = (const uint8_t *)s.ptr;
            v[i].len = s.len;
            if (s.ptr && !decimal_valid(s.ptr, s.len)) {
                *why = "a DECIMAL parameter is not a plain decimal number";
                return MC_ERR_BAD_PAYLOAD;
            }
            break;
        }
        case MC_VALUE_TEXT:
        case MC_VALUE_BINARY: {
            uint32_t n = wire_get_u32(rd);
            v[i].p = wire_get_bytes(rd, n);
            v[i].len = n;
            break;
        }
        case MC_VALUE_DATE:
        case MC_VALUE_TIMESTAMP: {
            v[i].year = wire_get_u16(rd);
            const uint8_t *md = wire_get_bytes(rd, 2);
            if (md) {
                v[i].month = md[0];
                v[i].day = md[1];
            }
            if (tag[0] == MC_VALUE_DATE)
                break;
        }
            __attribute__((fallthrough)); /* a timestamp's time follows */
        case MC_VALUE_TIME: {
            const uint8_t *hms = wire_get_bytes(rd, 3);
            if (hms) {
                v[i].hour = hms[0];
                v[i].minute = hms[1];
                v[i].second = hms[2];
            }
            v[i].nanos = wire_get_u32(rd);
            break;
        }
        default:
            *why = "a parameter has an unknown type tag";
            return MC_ERR_BAD_PAYLOAD;
        }
        if (rd->err) {
            *why = "a parameter is cut short";
            return MC_ERR_BAD_PAYLOAD;
        }
        int dated = v[i].tag == MC_VALUE_DATE || v[i].tag == MC_VALUE_TIMESTAMP;
        int timed = v[i].tag == MC_VALUE_TIME || v[i].tag == MC_VALUE_TIMESTAMP;
        if ((dated && (v[i].month < 1 || v[i].month > 12 || v[i].day < 1 || v[i].day > 31)) ||
            (timed &&
             (v[i].hour > 23 || v[i].minute > 59 || v[i].second > 60 || v[i].nanos > 999999999u))) {
            *why = "a date or time parameter is out of range";
            return MC_ERR_BAD_PAYLOAD;
        }
    }
    return 0;
}

void odbc_value_encode(struct wire_writer *w, const struct odbc_value *v)
{
    wire_put_bytes(w, &v->tag, 1);
    switch (v->tag) {
    case MC_VALUE_INT:
        wire_put_u64(w, (uint64_t)v->i);
        break;
    case MC_VALUE_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &v->f, sizeof bits);
        wire_put_u64(w, bits);
        break;
    }
    case MC_VALUE_DECIMAL:
        wire_put_str(w, (const char *)v->p, v->len);
        break;
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        wire_put_u32(w, (uint32_t)v->len);
        wire_put_bytes(w, v->p, v->len);
        break;
    case MC_VALUE_DATE:
    case MC_VALUE_TIMESTAMP:
        wire_put_u16(w, v->year);
        wire_put_bytes(w, (uint8_t[]){v->month, v->day}, 2);
        if (v->tag == MC_VALUE_DATE)
            break;
        __attribute__((fallthrough)); /* a timestamp's time follows */
    case MC_VALUE_TIME:
        wire_put_bytes(w, (uint8_t[]){v->hour, v->minute, v->second}, 3);
        wire_put_u32(w, v->nanos);
        break;
    default:
        break;
    }
}

int odbc_value_equal(const struct odbc_value *a, const struct odbc_value *b)
{
    if (a->tag != b->tag)
        return 0;
    switch (a->tag) {
    case MC_VALUE_NULL:
        return 1;
    case MC_VALUE_INT:
        return a->i == b->i;
    case MC_VALUE_FLOAT:
        return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case MC_VALUE_DECIMAL:
    case MC_VALUE_TEXT:
    case MC_VALUE_BINARY:
        return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
    case MC_VALUE_DATE:
        return a->year == b->year && a->month == b->month && a->day == b->day;
    case MC_VALUE_TIME:
        return a->hour == b->hour && a->minute == b->minute && a->second == b->second &&
               a->nanos == b->nanos;
    case MC_VALUE_TIMESTAMP:
        return a->year == b->year && a->month == b->month && a->day == b->day &&
               a->hour == b->hour && a->minute == b->minute && a->second == b->second &&
               a->nanos == b->nanos;
    default:
        return 0;
    }
}
