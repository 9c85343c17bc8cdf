/* miscli query, exec: argument parsing and output; the work is in libmiscomm. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscli.h"
#include "miscomm/odbc.h"

#define CRED_MAX 65535u /* ODBC_OPEN's u16 byte count */

/* The options QUERY and EXEC share. */
#define STATEMENT_OPTIONS_HELP                                                                     \
    "      --cred FILE      open the database with this credential file (from\n"                   \
    "                       'misctl cred create'); default: the connection's own\n"                \
    "      --named NAME     run the statement NAME of the connection's [queries]\n"                \
    "                       section instead of SQL\n"                                              \
    "      --param V        a parameter, typed by its prefix: int:42, dec:12.50,\n"                \
    "                       float:1.5, text:abc, null, date:2026-11-30,\n"                         \
    "                       time:12:30:00[.frac], ts:2026-11-30T12:30:00[.frac],\n"                \
    "                       hex:00ff (binary); without a known prefix, text\n"

static const char query_help[] =
    "Usage: miscli [OPTIONS] query [--cred FILE] [--param V ...] [--format F] \"SELECT ...\"\n"
    "       miscli [OPTIONS] query --named NAME [--param V ...] [--format F]\n"
    "Runs a statement that returns rows on the gateway's database (permission\n"
    "'odbc') and prints them. The SQL goes to the database as it is; parameters\n"
    "are bound to its ? markers in order, never pasted into it.\n" STATEMENT_OPTIONS_HELP
    "      --format F       table (default: aligned columns, NULL shown as NULL,\n"
    "                       control characters escaped), csv (RFC 4180, CRLF, NULL\n"
    "                       an empty field, \"\" an empty string) or json (an array\n"
    "                       of objects; INT and FLOAT as numbers, DECIMAL as a\n"
    "                       string to stay exact, NaN and infinities as strings)\n"
    "      --max-rows N     at most N rows (default: the connection's odbc_max_rows)\n"
    "  -h, --help           print this help\n"
    "Binary values print as hex, dates and times as 2026-11-30T12:30:00.5.\n"
    "The table format ends with \"N rows\" on standard error. Nothing is printed\n"
    "when the query fails; an SQL error prints the database's message (SQLSTATE\n"
    "XXXXX: ...) and exits with 1.\n";

static const char exec_help[] =
    "Usage: miscli [OPTIONS] exec [--cred FILE] [--param V ...] \"UPDATE ...\"\n"
    "       miscli [OPTIONS] exec --named NAME [--param V ...]\n"
    "Runs a statement without rows (INSERT, UPDATE, DELETE...) on the gateway's\n"
    "database (permission 'odbc'); it commits at once. Prints the number of rows\n"
    "it changed.\n" STATEMENT_OPTIONS_HELP "  -h, --help           print this help\n"
    "An SQL error prints the database's message (SQLSTATE XXXXX: ...) and exits\n"
    "with 1.\n";

enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON };

/*
 * The parsed command. It lives here rather than in struct cli: the
 * parameters are allocated, and a static pointer keeps them reachable
 * (LeakSanitizer) when main() returns a usage error before running.
 */
static struct {
    const char *cred;
    const char *named;
    const char *sql;
    struct mc_value *params;
    size_t nparams;
    enum out_format format;
    uint32_t max_rows;
} args;

int miscli_odbc_command(const char *cmd)
{
    return strcmp(cmd, "query") == 0 || strcmp(cmd, "exec") == 0;
}

/* -- parameters ---------------------------------------------------------------- */

/* An unsigned number of 1 to max_digits digits at *s, at most max; *s moves past it. */
static int take_num(const char **s, int max_digits, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    int n = 0;
    while (n < max_digits && (*s)[n] >= '0' && (*s)[n] <= '9')
        v = v * 10 + (unsigned long)((*s)[n++] - '0');
    if (n == 0 || v > max)
        return -1;
    *s += n;
    *out = v;
    return 0;
}

static int take_char(const char **s, char c)
{
    if (**s != c)
        return -1;
    (*s)++;
    return 0;
}

static int days_in_month(unsigned long y, unsigned long m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD, a real calendar day. */
static int parse_date(const char **s, struct mc_date *d)
{
    unsigned long y, m, dd;
    if (take_num(s, 5, 65535, &y) < 0 || take_char(s, '-') < 0 || take_num(s, 2, 12, &m) < 0 ||
        m == 0 || take_char(s, '-') < 0 || take_num(s, 2, 31, &dd) < 0 || dd == 0 ||
        (int)dd > days_in_month(y, m))
        return -1;
    *d = (struct mc_date){(uint16_t)y, (uint8_t)m, (uint8_t)dd};
    return 0;
}

/* HH:MM:SS[.fraction], the fraction up to nanoseconds. */
static int parse_time(const char **s, struct mc_time *t)
{
    unsigned long h, m, sec, ns = 0;
    if (take_num(s, 2, 23, &h) < 0 || take_char(s, ':') < 0 || take_num(s, 2, 59, &m) < 0 ||
        take_char(s, ':') < 0 || take_num(s, 2, 60, &sec) < 0)
        return -1;
    if (take_char(s, '.') == 0) {
        const char *f = *s;
        if (take_num(s, 9, 999999999, &ns) < 0 || (**s >= '0' && **s <= '9'))
            return -1;
        for (long digits = *s - f; digits < 9; digits++)
            ns *= 10;
    }
    *t = (struct mc_time){(uint8_t)h, (uint8_t)m, (uint8_t)sec, (uint32_t)ns};
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/*
 * One --param. Strings point into the argument itself (argv lives as long
 * as the program); hex is decoded in place, into the bytes it came from.
 */
int cli_parse_param(char *arg, struct mc_value *v, const char **why)
{
    char *end;
    const char *s;
    *why = NULL;
    if (strcmp(arg, "null") == 0) {
        *v = (struct mc_value){.type = MC_VALUE_NULL};
    } else if (strncmp(arg, "int:", 4) == 0) {
        errno = 0;
        long long i = strtoll(arg + 4, &end, 10);
        if (errno || end == arg + 4 || *end) {
            *why = "int: takes a whole number from -9223372036854775808 to 9223372036854775807";
            return -1;
        }
        *v = (struct mc_value){.type = MC_VALUE_INT, .i = i};
    } else if (strncmp(arg, "dec:", 4) == 0) {
        *v = (struct mc_value){.type = MC_VALUE_DECIMAL, .s = {arg + 4, strlen(arg + 4)}};
        if (!mc_decimal_valid(v->s.ptr, v->s.len) || v->s.len > MC_VALUE_MAX_DECIMAL) {
            *why = "dec: takes an exact decimal in plain notation, such as -1234.50";
            return -1;
        }
    } else if (strncmp(arg, "float:", 6) == 0) {
        errno = 0;
        double f = strtod(arg + 6, &end);
        if (errno == ERANGE ? fabs(f) > 1.0 : errno || end == arg + 6 || *end) {
            *why = "float: takes a number such as 1.5 or -2e10";
            return -1;
        }
        *v = (struct mc_value){.type = MC_VALUE_FLOAT, .f = f};
    } else if (strncmp(arg, "text:", 5) == 0) {
        *v = (struct mc_value){.type = MC_VALUE_TEXT, .s = {arg + 5, strlen(arg + 5)}};
    } else if (strncmp(arg, "date:", 5) == 0) {
        v->type = MC_VALUE_DATE;
        s = arg + 5;
        if (parse_date(&s, &v->date) < 0 || *s) {
            *why = "date: takes a day as YYYY-MM-DD, such as 2026-11-30";
            return -1;
        }
    } else if (strncmp(arg, "time:", 5) == 0) {
        v->type = MC_VALUE_TIME;
        s = arg + 5;
        if (parse_time(&s, &v->time) < 0 || *s) {
            *why = "time: takes HH:MM:SS with an optional fraction, such as 12:30:00.250";
            return -1;
        }
    } else if (strncmp(arg, "ts:", 3) == 0) {
        v->type = MC_VALUE_TIMESTAMP;
        s = arg + 3;
        if (parse_date(&s, &v->ts.date) < 0 || (*s != 'T' && *s != ' ') ||
            (s++, parse_time(&s, &v->ts.time) < 0) || *s) {
            *why = "ts: takes YYYY-MM-DDTHH:MM:SS with an optional fraction, such as "
                   "2026-11-30T12:30:00";
            return -1;
        }
    } else if (strncmp(arg, "hex:", 4) == 0) {
        char *h = arg + 4;
        size_t n = strlen(h);
        for (size_t i = 0; i < n; i++)
            if (hex_digit(h[i]) < 0)
                n = 1; /* odd: refused below */
        if (n % 2) {
            *why = "hex: takes an even number of hex digits, such as 00ff";
            return -1;
        }
        for (size_t i = 0; i < n / 2; i++)
            h[i] = (char)(hex_digit(h[2 * i]) << 4 | hex_digit(h[2 * i + 1]));
        *v = (struct mc_value){.type = MC_VALUE_BINARY, .s = {h, n / 2}};
    } else {
        *v = (struct mc_value){.type = MC_VALUE_TEXT, .s = {arg, strlen(arg)}};
    }
    return 0;
}

int miscli_odbc_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done)
{
    (void)cli;
    static const struct option opts[] = {
        {"cred", required_argument, NULL, 'c'},
        {"param", required_argument, NULL, 'P'},
        {"format", required_argument, NULL, 'f'},
        {"named", required_argument, NULL, 'n'},
        {"max-rows", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int query = strcmp(cmd, "query") == 0;
    *done = 0;
    free(args.params);
    memset(&args, 0, sizeof args);
    /* Every --param takes two arguments at least: argc bounds their count. */
    args.params = calloc((size_t)argc, sizeof *args.params);
    if (!args.params) {
        fprintf(stderr, "miscli: %s: out of memory\n", cmd);
        return EXIT_FAIL;
    }
    optind = 0; /* glibc: 0 starts over completely (argv is permuted below) */
    opterr = 0;
    int opt;
    char *end;
    /* No "+": options may follow the statement; "--" ends them (SQL starting with "-"). */
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *why;
        if (opt == 'h') {
            fputs(query ? query_help : exec_help, stdout);
            *done = 1;
            return 0;
        } else if (opt == 'c') {
            args.cred = optarg;
        } else if (opt == 'n') {
            args.named = optarg;
        } else if (opt == 'P') {
            if (cli_parse_param(optarg, &args.params[args.nparams], &why) < 0) {
                fprintf(stderr, "miscli: %s: --param '%s': %s\n", cmd, optarg, why);
                return EXIT_USAGE;
            }
            args.nparams++;
        } else if (opt == 'f' && query) {
            if (strcmp(optarg, "table") == 0)
                args.format = FMT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                args.format = FMT_CSV;
            else if (strcmp(optarg, "json") == 0)
                args.format = FMT_JSON;
            else {
                fprintf(stderr, "miscli: query: --format must be table, csv or json\n");
                return EXIT_USAGE;
            }
        } else if (opt == 'm' && query) {
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || n == 0 || n > UINT32_MAX) {
                fprintf(stderr, "miscli: query: --max-rows takes a number from 1 to %" PRIu32 "\n",
                        UINT32_MAX);
                return EXIT_USAGE;
            }
            args.max_rows = (uint32_t)n;
        } else if (opt == 'f' || opt == 'm') {
            fprintf(stderr, "miscli: exec: --%s is for query only (try miscli exec --help)\n",
                    opt == 'f' ? "format" : "max-rows");
            return EXIT_USAGE;
        } else {
            fprintf(stderr,
                    "miscli: %s: unknown option or missing value: '%s' (try miscli %s --help)\n",
                    cmd, argv[optind - 1], cmd);
            return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (args.named ? nargs != 0 : nargs != 1) {
        fprintf(stderr, "miscli: %s: %s (try miscli %s --help)\n", cmd,
                args.named   ? "--named NAME takes no SQL as well"
                : nargs == 0 ? "give the SQL statement, or --named NAME"
                             : "give the SQL as one argument (quote it)",
                cmd);
        return EXIT_USAGE;
    }
    args.sql = args.named ? args.named : argv[optind];
    return 0;
}

/* -- output -------------------------------------------------------------------- */

/* A growing string; a failed allocation is remembered and reported once. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/*
 * The length of the valid UTF-8 sequence at p (1 to 4), or 0 when p does
 * not start one (a stray continuation byte, an overlong form, a surrogate,
 * past U+10FFFF, cut short).
 */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || p[0] >= 0xF5 || p[0] == 0xC0 || p[0] == 0xC1 || n < len)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return len;
}

/*
 * Text for a terminal: control characters (C0, DEL, C1) and bytes that are
 * not UTF-8 are shown escaped, so that the database's data cannot move the
 * cursor or change the terminal.
 */
static void sb_display(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[8];
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 1 && p[i] >= 0x20 && p[i] != 0x7F) {
            sb_add(b, p + i, 1);
        } else if (k == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0) {
            snprintf(esc, sizeof esc, "\\u%04x", p[i + 1]); /* a C1 control */
            sb_str(b, esc);
        } else if (k > 1) {
            sb_add(b, p + i, k);
        } else {
            unsigned char c = p[i];
            snprintf(esc, sizeof esc, "\\x%02x", c);
            sb_str(b, c == '\n'   ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t"
                      : c == 0    ? "\\0"
                                  : esc);
            k = 1;
        }
        i += k;
    }
}

/* A JSON string: escapes as RFC 8259 wants; bytes that are not UTF-8 become U+FFFD. */
static void sb_json_str(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[8];
    sb_str(b, "\"");
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            sb_str(b, "\\ufffd");
            k = 1;
        } else if (k > 1) {
            sb_add(b, p + i, k);
        } else if (p[i] == '"' || p[i] == '\\') {
            sb_add(b, "\\", 1);
            sb_add(b, p + i, 1);
        } else if (p[i] < 0x20 || p[i] == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            sb_str(b, p[i] == '\n' ? "\\n" : p[i] == '\r' ? "\\r" : p[i] == '\t' ? "\\t" : esc);
        } else {
            sb_add(b, p + i, 1);
        }
        i += k;
    }
    sb_str(b, "\"");
}

/* An RFC 4180 field: quoted when it holds a comma, a quote or a line break. */
static void sb_csv_field(struct sbuf *b, const char *s, size_t n, int force_quotes)
{
    int quote = force_quotes;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        sb_add(b, s, n);
        return;
    }
    sb_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            sb_str(b, "\"");
        sb_add(b, s + i, 1);
    }
    sb_str(b, "\"");
}

/* The shortest text that reads back as the same double. */
static void fmt_double(char out[40], double d)
{
    if (isnan(d)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
}

static void fmt_fraction(char out[12], uint32_t ns)
{
    if (ns == 0)
        out[0] = 0;
    else if (ns % 1000000u == 0)
        snprintf(out, 12, ".%03u", (unsigned)(ns / 1000000u));
    else if (ns % 1000u == 0)
        snprintf(out, 12, ".%06u", (unsigned)(ns / 1000u));
    else
        snprintf(out, 12, ".%09u", (unsigned)ns);
}

/* A value as text, the same in every format (its quoting apart); not for NULL. */
static void sb_value(struct sbuf *b, const struct mc_value *v)
{
    char t[96], frac[12];
    switch (v->type) {
    case MC_VALUE_NULL:
        break;
    case MC_VALUE_INT:
        snprintf(t, sizeof t, "%" PRId64, v->i);
        sb_str(b, t);
        break;
    case MC_VALUE_FLOAT:
        fmt_double(t, v->f);
        sb_str(b, t);
        break;
    case MC_VALUE_DECIMAL:
    case MC_VALUE_TEXT:
        sb_add(b, v->s.ptr, v->s.len);
        break;
    case MC_VALUE_BINARY:
        for (size_t i = 0; i < v->s.len; i++) {
            snprintf(t, sizeof t, "%02x", (unsigned char)v->s.ptr[i]);
            sb_add(b, t, 2);
        }
        break;
    case MC_VALUE_DATE:
        snprintf(t, sizeof t, "%04u-%02u-%02u", v->date.year, v->date.month, v->date.day);
        sb_str(b, t);
        break;
    case MC_VALUE_TIME:
        fmt_fraction(frac, v->time.nanosecond);
        snprintf(t, sizeof t, "%02u:%02u:%02u%s", v->time.hour, v->time.minute, v->time.second,
                 frac);
        sb_str(b, t);
        break;
    case MC_VALUE_TIMESTAMP:
        fmt_fraction(frac, v->ts.time.nanosecond);
        snprintf(t, sizeof t, "%04u-%02u-%02uT%02u:%02u:%02u%s", v->ts.date.year, v->ts.date.month,
                 v->ts.date.day, v->ts.time.hour, v->ts.time.minute, v->ts.time.second, frac);
        sb_str(b, t);
        break;
    }
}

char *cli_value_display(const struct mc_value *v)
{
    struct sbuf cell = {0}, out = {0};
    sb_value(&cell, v);
    if (v->type == MC_VALUE_NULL)
        sb_str(&out, "NULL");
    else
        sb_display(&out, cell.p ? cell.p : "", cell.len);
    if (!out.p && !out.oom)
        sb_str(&out, "");
    free(cell.p);
    if (cell.oom || out.oom) {
        free(out.p);
        return NULL;
    }
    return out.p;
}

/*
 * The whole result is kept until the query has succeeded: a query that
 * fails half-way (RESULT_LIMIT, TIMEOUT) prints nothing, as its rows are
 * to be discarded. The table needs every row anyway to align its columns.
 */
struct out {
    enum out_format format;
    const struct mc_column *cols; /* valid while mc_query() runs */
    size_t ncols;
    struct sbuf text; /* csv and json: the output; table: the cells, each ending in NUL */
    size_t *cells;    /* table: each cell's offset in text, row after row */
    size_t ncells, cells_cap;
    size_t *width; /* table: each column's width in characters */
    int *right;    /* table: the column holds numbers (cols is gone when it is printed) */
    uint64_t rows;
};

/* Characters, not bytes: the cells are valid UTF-8 (sb_display made them so). */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int table_cell(struct out *o, size_t col, const char *s, size_t n, int is_null)
{
    if (o->ncells == o->cells_cap) {
        size_t cap = o->cells_cap ? o->cells_cap * 2 : 64;
        size_t *c = realloc(o->cells, cap * sizeof *c);
        if (!c)
            return MC_ERR_NOMEM;
        o->cells = c;
        o->cells_cap = cap;
    }
    size_t at = o->text.len;
    if (is_null)
        sb_str(&o->text, "NULL");
    else
        sb_display(&o->text, s, n);
    sb_add(&o->text, "", 1); /* the cell's NUL */
    if (o->text.oom)
        return MC_ERR_NOMEM;
    o->cells[o->ncells++] = at;
    size_t w = display_width(o->text.p + at);
    if (w > o->width[col])
        o->width[col] = w;
    return 0;
}

static int is_number(enum mc_value_type t)
{
    return t == MC_VALUE_INT || t == MC_VALUE_FLOAT || t == MC_VALUE_DECIMAL;
}

static int on_columns(void *ud, const struct mc_column *cols, size_t ncols)
{
    struct out *o = ud;
    o->cols = cols;
    o->ncols = ncols;
    if (o->format == FMT_TABLE) {
        o->width = calloc(ncols ? ncols : 1, sizeof *o->width);
        o->right = calloc(ncols ? ncols : 1, sizeof *o->right);
        if (!o->width || !o->right)
            return MC_ERR_NOMEM;
        for (size_t i = 0; i < ncols; i++) {
            o->right[i] = is_number(cols[i].type);
            if (table_cell(o, i, cols[i].name, strlen(cols[i].name), 0) < 0)
                return MC_ERR_NOMEM;
        }
    } else if (o->format == FMT_CSV) {
        for (size_t i = 0; i < ncols; i++) {
            if (i)
                sb_str(&o->text, ",");
            sb_csv_field(&o->text, cols[i].name, strlen(cols[i].name), 0);
        }
        sb_str(&o->text, "\r\n");
    } else {
        sb_str(&o->text, "[");
    }
    return o->text.oom ? MC_ERR_NOMEM : 0;
}

static int on_row(void *ud, const struct mc_value *row, size_t ncols)
{
    struct out *o = ud;
    struct sbuf cell = {0};
    int rc = 0;
    o->rows++;
    if (o->format == FMT_JSON)
        sb_str(&o->text, o->rows == 1 ? "\n  {" : ",\n  {");
    for (size_t i = 0; i < ncols && rc == 0; i++) {
        const struct mc_value *v = &row[i];
        cell.len = 0;
        sb_value(&cell, v);
        if (cell.oom) {
            rc = MC_ERR_NOMEM;
        } else if (o->format == FMT_TABLE) {
            rc = table_cell(o, i, cell.p ? cell.p : "", cell.len, v->type == MC_VALUE_NULL);
        } else if (o->format == FMT_CSV) {
            if (i)
                sb_str(&o->text, ",");
            /* NULL is an empty field, an empty string a quoted one. */
            if (v->type != MC_VALUE_NULL)
                sb_csv_field(&o->text, cell.p ? cell.p : "", cell.len, cell.len == 0);
        } else {
            if (i)
                sb_str(&o->text, ", ");
            sb_json_str(&o->text, o->cols[i].name, strlen(o->cols[i].name));
            sb_str(&o->text, ": ");
            int number = v->type == MC_VALUE_INT || (v->type == MC_VALUE_FLOAT && isfinite(v->f));
            if (v->type == MC_VALUE_NULL)
                sb_str(&o->text, "null");
            else if (number)
                sb_add(&o->text, cell.p, cell.len);
            else
                sb_json_str(&o->text, cell.p ? cell.p : "", cell.len);
        }
    }
    if (o->format == FMT_CSV)
        sb_str(&o->text, "\r\n");
    else if (o->format == FMT_JSON)
        sb_str(&o->text, "}");
    free(cell.p);
    return rc < 0 ? rc : o->text.oom ? MC_ERR_NOMEM : 0;
}

/* Aligned columns, numbers to the right: "id | name", "---+-----", "12 | Alice". */
static void table_print(const struct out *o)
{
    size_t ncols = o->ncols;
    if (ncols == 0)
        return;
    for (size_t r = 0; r * ncols < o->ncells; r++) {
        for (size_t i = 0; i < ncols; i++) {
            const char *s = o->text.p + o->cells[r * ncols + i];
            size_t pad = o->width[i] - display_width(s);
            int right = r > 0 && o->right[i];
            int last = i + 1 == ncols;
            printf("%s%*s%s%*s", i ? " | " : "", right ? (int)pad : 0, "", s,
                   right || last ? 0 : (int)pad, "");
        }
        printf("\n");
        if (r == 0) {
            for (size_t i = 0; i < ncols; i++) {
                printf("%s", i ? "-+-" : "");
                for (size_t k = 0; k < o->width[i]; k++)
                    putchar('-');
            }
            printf("\n");
        }
    }
}

/* -- running ------------------------------------------------------------------- */

/* The credential file's bytes: at most CRED_MAX. */
static int read_cred(const char *path, uint8_t *buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "miscli: --cred %s: %s\n", path, strerror(e));
        return e == ENOENT ? MC_ERR_NOT_FOUND : MC_ERR_IO;
    }
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, CRED_MAX + 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fprintf(stderr, "miscli: --cred %s: %s\n", path, strerror(errno));
            close(fd);
            return MC_ERR_IO;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > CRED_MAX) {
            fprintf(stderr,
                    "miscli: --cred %s: not a credential file (more than %u bytes); make one "
                    "with 'misctl cred create'\n",
                    path, CRED_MAX);
            close(fd);
            return MC_ERR_INVALID_ARG;
        }
    }
    close(fd);
    if (n == 0) {
        fprintf(stderr, "miscli: --cred %s: the file is empty\n", path);
        return MC_ERR_INVALID_ARG;
    }
    *len = n;
    return 0;
}

/* 0, a negative code for cli_error(), or EXIT_FAIL when the failure was reported here. */
static int run_query(mc_client *c, uint32_t handle)
{
    struct out o = {.format = args.format};
    struct mc_query_callbacks cb = {.columns = on_columns, .row = on_row};
    struct mc_query_result res;
    int rc = mc_query(c, handle, args.named != NULL, args.sql, args.params, args.nparams,
                      args.max_rows, &cb, &o, &res);
    if (rc == 0 && o.format == FMT_JSON)
        sb_str(&o.text, o.rows ? "\n]\n" : "]\n");
    if (rc == 0 && o.text.oom) {
        fprintf(stderr, "miscli: query: out of memory\n");
        rc = EXIT_FAIL; /* reported */
    }
    if (rc == 0) {
        if (o.format == FMT_TABLE)
            table_print(&o);
        else
            fwrite(o.text.p, 1, o.text.len, stdout);
        fflush(stdout);
        if (o.format == FMT_TABLE)
            fprintf(stderr, "%" PRIu64 " row%s\n", res.rows, res.rows == 1 ? "" : "s");
        if (res.more)
            fprintf(stderr,
                    "miscli: query: the query has more rows than the %" PRIu64
                    " shown (--max-rows, or the connection's odbc_max_rows)\n",
                    res.rows);
    }
    free(o.cells);
    free(o.width);
    free(o.right);
    free(o.text.p);
    return rc;
}

int miscli_odbc_run(struct cli *cli, const char *cmd)
{
    static uint8_t cred[CRED_MAX + 1];
    size_t cred_len = 0;
    int query = strcmp(cmd, "query") == 0;
    int code = EXIT_FAIL;
    if (args.cred && read_cred(args.cred, cred, &cred_len) < 0)
        goto out;
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        goto out;
    uint32_t handle;
    int rc = mc_odbc_open(c, args.cred ? cred : NULL, cred_len, &handle, NULL, NULL, 0);
    if (rc < 0) {
        cli_error(cmd, rc, c);
        mc_close(c);
        goto out;
    }
    if (query) {
        rc = run_query(c, handle);
    } else {
        uint64_t affected;
        rc = mc_exec(c, handle, args.named != NULL, args.sql, args.params, args.nparams, &affected);
        if (rc == 0 && affected == UINT64_MAX)
            printf("done; the database does not say how many rows changed\n");
        else if (rc == 0)
            printf("%" PRIu64 " row%s affected\n", affected, affected == 1 ? "" : "s");
    }
    if (rc < 0)
        cli_error(cmd, rc, c);
    else if (rc == 0)
        code = 0;
    /* Best effort: the server closes the handle with the connection anyway. */
    if (mc_client_connected(c))
        (void)mc_odbc_close(c, handle);
    mc_close(c);
out:
    secret_wipe(cred, sizeof cred);
    free(args.params);
    args.params = NULL;
    return code;
}
