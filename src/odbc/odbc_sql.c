/*
 * Raw SQL from a device, checked before it goes to the database: one
 * statement, and no statement that changes the database session.
 *
 * The scan must never think a ';' is inside a string or a comment where a
 * database would see the end of a statement. Databases disagree (backslash
 * escapes in MySQL strings and PostgreSQL E'' strings, dollar quoting,
 * '#' comments and executable comments in MySQL, '--' without a blank
 * after it being two minus signs in MySQL), so the text may not contain
 * what makes them disagree: a backslash, '$', '#' or '`', nor '/ *!'
 * (written here with a blank). What is left reads the same everywhere:
 * '...' strings and "..." identifiers (a doubled quote stays inside),
 * '-- ' comments to the end of the line, and non-nested block comments.
 * A statement the scan refuses can be sent with parameters (text in a ?
 * value is never SQL) or as a named statement.
 *
 * Statements that change the session (SET, PRAGMA, BEGIN...) are refused:
 * database connections are pooled and shared, and transactions go through
 * TX. On a read-only handle only SELECT, WITH, VALUES and TABLE may run
 * (the database connection is read-only as well).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "miscomm/error.h"
#include "odbc_sql.h"

static int refuse(const char **why, const char *reason)
{
    *why = reason;
    return MC_ERR_NOT_ALLOWED;
}

/* The first word of the statement, after blanks and comments, in upper case. */
static void first_word(const char *sql, char *word, size_t cap)
{
    const char *p = sql;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p = strchr(p, '\n') ? strchr(p, '\n') : p + strlen(p);
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    size_t n = 0;
    while (n + 1 < cap && isalpha((unsigned char)p[n])) {
        word[n] = (char)toupper((unsigned char)p[n]);
        n++;
    }
    word[n] = 0;
}

static int word_in(const char *word, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(word, *list) == 0)
            return 1;
    return 0;
}

int odbc_sql_check(char *sql, int read_only, const char **why)
{
    if (strpbrk(sql, "\\$#`"))
        return refuse(why, "raw SQL may not contain a backslash, '$', '#' or '`' (databases read "
                           "them differently): send such text as a ? parameter, or use a named "
                           "statement");
    size_t n = strlen(sql), end = n;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char c = sql[i];
        if (quote) {
            if (c == quote) {
                if (i + 1 < n && sql[i + 1] == quote)
                    i++; /* '' or "" inside */
                else
                    quote = 0;
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-' &&
                   (i + 2 == n || strchr(" \t\r\n", sql[i + 2]))) {
            while (i < n && sql[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            if (i + 2 < n && sql[i + 2] == '!')
                return refuse(why, "raw SQL may not contain '/*!' (an executable comment)");
            const char *close = strstr(sql + i + 2, "*/");
            i = close ? (size_t)(close - sql) + 1 : n;
        } else if (c == ';') {
            /* Only blanks may follow the one ';' that ends the statement. */
            size_t k = i + 1;
            while (k < n && strchr(" \t\r\n", sql[k]))
                k++;
            if (k < n)
                return refuse(why, "one statement per request: ';' may only end the statement");
            end = i;
            break;
        }
    }
    while (end > 0 && strchr(" \t\r\n", sql[end - 1]))
        end--;
    sql[end] = 0;
    if (end == 0)
        return refuse(why, "the statement is empty");

    static const char *const session[] = {
        "SET",     "RESET",    "PRAGMA",     "DISCARD",   "BEGIN",   "START",      "COMMIT",
        "END",     "ROLLBACK", "ABORT",      "SAVEPOINT", "RELEASE", "LISTEN",     "UNLISTEN",
        "NOTIFY",  "USE",      "ATTACH",     "DETACH",    "LOAD",    "COPY",       "DO",
        "PREPARE", "EXECUTE",  "DEALLOCATE", "LOCK",      "VACUUM",  "CHECKPOINT", NULL};
    static const char *const reading[] = {"SELECT", "WITH", "VALUES", "TABLE", NULL};
    char word[16];
    first_word(sql, word, sizeof word);
    if (word_in(word, session))
        return refuse(why, "statements that change the database session (SET, PRAGMA, BEGIN, "
                           "COMMIT...) are not allowed: connections are shared; use TX for "
                           "transactions");
    if (read_only && !word_in(word, reading))
        return refuse(why, "this connection is read-only (odbc_mode = read_only): only SELECT, "
                           "WITH, VALUES and TABLE statements");
    return 0;
}
