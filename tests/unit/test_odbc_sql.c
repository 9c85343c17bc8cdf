/*
 * The check of raw SQL from a device (src/odbc/odbc_sql.c): one statement,
 * no session change, read-only handles only read; and the constructions
 * databases read differently, which could hide a second statement from the
 * scan (PostgreSQL's E'' strings and dollar quoting, MySQL's backslash
 * escapes, '#' and executable comments, '--' without a blank), refused.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "miscomm/error.h"
#include "odbc_sql.h"

static int check_sql(const char *sql, int read_only, char *out)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", sql);
    const char *why = NULL;
    int rc = odbc_sql_check(buf, read_only, &why);
    if (out)
        strcpy(out, buf);
    if (rc < 0)
        CHECK(why != NULL && why[0] != 0);
    return rc;
}

static void test_accepted(void)
{
    static const char *const ok[] = {
        "SELECT 1",
        "select id from interventions where status = 'done'",
        "SELECT ';' AS semi",
        "SELECT 'it''s; fine'",
        "SELECT \"odd;name\" FROM t",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "VALUES (1), (2)",
        "  -- a comment\n  SELECT 1",
        "/* lead */ SELECT 1",
        "SELECT 1 -- trailing; comment",
        "SELECT 1 /* a ; inside */",
        "SELECT 1;",
        "SELECT 1 ;  \n\t",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = check_sql(ok[i], 1, NULL);
        if (rc != 0)
            fprintf(stderr, "refused: %s\n", ok[i]);
        CHECK_EQ_INT(rc, 0);
    }
    char out[512];
    CHECK_EQ_INT(check_sql("SELECT 1 ;  \n", 1, out), 0);
    CHECK(strcmp(out, "SELECT 1") == 0);
    /* Writes on a read-write handle. */
    CHECK_EQ_INT(check_sql("UPDATE interventions SET status = 'done' WHERE id = ?", 0, NULL), 0);
    CHECK_EQ_INT(check_sql("INSERT INTO t VALUES (1)", 0, NULL), 0);
    CHECK_EQ_INT(check_sql("DELETE FROM t WHERE id = 1;", 0, NULL), 0);
}

static void test_refused(void)
{
    static const struct {
        const char *sql;
        int read_only;
    } bad[] = {
        {"SELECT 1; SELECT 2", 0},
        {"SELECT 1;; ", 0},
        {";", 0},
        {"   ", 0},
        {"", 0},
        {"SELECT 1 --x; DELETE FROM t", 0},          /* MySQL: 1 - -x, then DELETE */
        {"SELECT 1 /* /* */ ; DELETE FROM t */", 0}, /* PostgreSQL nests: refused anyway */
        {"SELECT 1 /*! ; DELETE FROM t */", 0},      /* MySQL runs it */
        {"SELECT E'\\'' AS a; UPDATE t SET x = 1; --'", 0},
        {"SELECT 'a\\'; DELETE FROM t; --'", 0},
        {"SELECT $$'$$ AS a; UPDATE t SET x = 1; --'", 0},
        {"SELECT $q$ ; $q$", 0},
        {"SELECT 1 # comment ; DELETE FROM t", 0},
        {"SELECT `a;b` FROM t", 0},
        {"SELECT 'price in $'", 0},
        {"SET search_path = evil", 0},
        {"set session characteristics as transaction read write", 0},
        {"PRAGMA query_only = 0", 0},
        {"  /* x */ pragma foreign_keys = off", 0},
        {"BEGIN", 0},
        {"COMMIT", 0},
        {"ROLLBACK", 0},
        {"RESET ALL", 0},
        {"DISCARD ALL", 0},
        {"ATTACH DATABASE '/etc/x' AS x", 0},
        {"COPY t TO '/tmp/x'", 0},
        {"DO 'BEGIN END'", 0},
        {"LISTEN x", 0},
        {"VACUUM", 0},
        /* Read-only handles read only. */
        {"UPDATE t SET x = 1", 1},
        {"DELETE FROM t", 1},
        {"INSERT INTO t VALUES (1)", 1},
        {"CREATE TABLE x (a int)", 1},
        {"DROP TABLE t", 1},
        {"EXPLAIN ANALYZE UPDATE t SET x = 1", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = check_sql(bad[i].sql, bad[i].read_only, NULL);
        if (rc != MC_ERR_NOT_ALLOWED)
            fprintf(stderr, "accepted: %s\n", bad[i].sql);
        CHECK_EQ_INT(rc, MC_ERR_NOT_ALLOWED);
    }
}

/* Random text: the check never reads out of bounds and never passes a second ';'-statement. */
static void test_random(void)
{
    static const char alphabet[] = "SELECT;'\"-/*! \n\tabc1$#\\`E";
    srand(7);
    for (int n = 0; n < 200000; n++) {
        char buf[64];
        size_t len = (size_t)(rand() % 40);
        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[rand() % (int)(sizeof alphabet - 1)];
        buf[len] = 0;
        char copy[64];
        memcpy(copy, buf, len + 1);
        const char *why;
        if (odbc_sql_check(copy, 0, &why) == 0) {
            /* What passed has no character that databases read differently. */
            CHECK(strpbrk(copy, "\\$#`") == NULL);
            CHECK(strlen(copy) > 0);
        }
    }
}

int main(void)
{
    test_accepted();
    test_refused();
    test_random();
    return check_report("test_odbc_sql");
}
