/*
 * Intervention sync's pure parts: the field-level merge under each
 * conflict policy (src/sync/sync_merge.c) and the mapping files' reader
 * (src/sync/sync_map.c), including the shipped demo mappings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "miscomm/error.h"
#include "sync_map.h"
#include "sync_merge.h"

static struct odbc_value text(const char *s)
{
    return (struct odbc_value){.tag = MC_VALUE_TEXT, .p = (const uint8_t *)s, .len = strlen(s)};
}

static struct odbc_value integer(int64_t i)
{
    return (struct odbc_value){.tag = MC_VALUE_INT, .i = i};
}

static const struct odbc_value null_value = {.tag = MC_VALUE_NULL};

/* Fields: 0 status, 1 report, 2 minutes. */
static void test_merge(void)
{
    struct odbc_value cur[3] = {text("planned"), null_value, integer(10)};
    struct odbc_value out[3];
    struct sync_merge res;

    /* Unchanged on the server: applies, no flag. */
    struct sync_change a[] = {{0, text("planned"), text("done")}};
    sync_merge(cur, 3, a, 1, 0, CFG_CONFLICT_REJECT, out, &res);
    CHECK_EQ_INT(res.result, SYNC_APPLIED);
    CHECK_EQ_INT(res.flags, 0);
    CHECK_EQ_INT(res.write, 1);
    CHECK(odbc_value_equal(&out[0], &a[0].next));
    CHECK(odbc_value_equal(&out[2], &cur[2]));

    /* The server moved on in another field: merged. */
    sync_merge(cur, 3, a, 1, 1, CFG_CONFLICT_REJECT, out, &res);
    CHECK_EQ_INT(res.result, SYNC_APPLIED);
    CHECK_EQ_INT(res.flags, SYNC_F_MERGED);
    CHECK(res.conflicts == 0);

    /* Already the phone's value on the server: nothing to write, no conflict. */
    struct sync_change same[] = {{0, text("travelling"), text("planned")}};
    sync_merge(cur, 3, same, 1, 1, CFG_CONFLICT_REJECT, out, &res);
    CHECK_EQ_INT(res.result, SYNC_APPLIED);
    CHECK_EQ_INT(res.write, 0);
    CHECK(res.conflicts == 0);

    /* Changed on both sides: each policy. */
    struct sync_change both[] = {{1, text("old"), text("mine")}, {2, integer(10), integer(20)}};
    sync_merge(cur, 3, both, 2, 1, CFG_CONFLICT_REJECT, out, &res);
    CHECK_EQ_INT(res.result, SYNC_CONFLICT);
    CHECK_EQ_INT(res.write, 0);
    CHECK(res.conflicts == (1u << 1));
    CHECK(odbc_value_equal(&out[2], &cur[2])); /* nothing of a rejected change */

    sync_merge(cur, 3, both, 2, 1, CFG_CONFLICT_SERVER_WINS, out, &res);
    CHECK_EQ_INT(res.result, SYNC_APPLIED);
    CHECK_EQ_INT(res.flags, SYNC_F_MERGED | SYNC_F_RESOLVED);
    CHECK(odbc_value_equal(&out[1], &cur[1]));       /* the server's value stays */
    CHECK(odbc_value_equal(&out[2], &both[1].next)); /* the other field applies */
    CHECK_EQ_INT(res.write, 1);

    sync_merge(cur, 3, both, 2, 1, CFG_CONFLICT_CLIENT_WINS, out, &res);
    CHECK_EQ_INT(res.result, SYNC_APPLIED);
    CHECK(odbc_value_equal(&out[1], &both[0].next));
    CHECK(odbc_value_equal(&out[2], &both[1].next));

    /* A type differs: INT 10 is not TEXT "10" (a conflict, never a silent overwrite). */
    struct sync_change typed[] = {{2, text("10"), integer(30)}};
    sync_merge(cur, 3, typed, 1, 0, CFG_CONFLICT_REJECT, out, &res);
    CHECK_EQ_INT(res.result, SYNC_CONFLICT);
}

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

static const char *const minimal =
    "-- comment\n"
    "-- [horizon]\nSELECT 1\n"
    "-- [changed] low high\nSELECT 1 WHERE ? < ?\n"
    "-- [pull] technician low high after limit\nSELECT 1;\n\n"
    "-- [row] intervention\nSELECT 1\n"
    "-- [apply] fields intervention version\nUPDATE t SET a = ?, b = ? WHERE id = ? AND v = ?\n"
    "-- [photo] intervention\nINSERT 1\n"
    "-- [photo_find] file_name\nSELECT 1\n"
    "-- [op_get] op_id\nSELECT 1\n"
    "-- [op_put] op_id\nINSERT 1\n"
    "-- [device] device\nSELECT 1\n"
    "-- [devices]\nSELECT 1\n"
    "-- [devices_version]\nSELECT 1\n"
    "-- [device_seen] device\nUPDATE 1\n"
    "-- [device_pushed] device\nUPDATE 1\n"
    "-- [init]\nCREATE TABLE a (x INTEGER)\n"
    "-- [init]\n-- inside\nCREATE TABLE b (x INTEGER)\n";

static void test_map(void)
{
    char dir[] = "/tmp/test-sync-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char prefix[128], path[160], why[512];
    snprintf(prefix, sizeof prefix, "%s/m", dir);
    snprintf(path, sizeof path, "%s.sqlite.sql", prefix);
    write_file(path, minimal);
    struct sync_map m;
    CHECK_EQ_INT(sync_map_load(prefix, "sqlite", "a, b", &m, why, sizeof why), 0);
    const struct sync_stmt *s = sync_map_find(&m, "apply");
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT((int)s->nparams, 4); /* "fields" became the two fields */
        CHECK(strcmp(s->params[0], "@0") == 0 && strcmp(s->params[1], "@1") == 0);
        CHECK(strcmp(s->params[2], "intervention") == 0);
    }
    s = sync_map_find(&m, "pull");
    CHECK(s && strcmp(s->sql, "SELECT 1") == 0); /* the final ';' and blanks go */
    unsigned inits = 0;
    for (size_t i = 0; i < m.n; i++)
        inits += strcmp(m.stmts[i].name, "init") == 0;
    CHECK_EQ_INT((int)inits, 2);
    CHECK(strstr(m.stmts[m.n - 1].sql, "inside") == NULL); /* comments are not SQL */
    CHECK_EQ_INT(sync_map_field(&m, "b"), 1);
    CHECK_EQ_INT(sync_map_field(&m, "c"), -1);
    sync_map_free(&m);

    /* A statement the gateway needs is missing: refused, and said which. */
    char *cut = strdup(minimal);
    *strstr(cut, "-- [op_get]") = 0;
    write_file(path, cut);
    free(cut);
    CHECK_EQ_INT(sync_map_load(prefix, "sqlite", "a", &m, why, sizeof why), MC_ERR_CONFIG);
    CHECK(strstr(why, "[op_get]") != NULL);
    write_file(path, "-- [Bad Name]\nSELECT 1\n");
    CHECK_EQ_INT(sync_map_load(prefix, "sqlite", "a", &m, why, sizeof why), MC_ERR_CONFIG);
    CHECK(strstr(why, ":1:") != NULL);
    CHECK_EQ_INT(sync_map_load(prefix, "postgresql", "a", &m, why, sizeof why), MC_ERR_IO);
    unlink(path);
    rmdir(dir);

    /* The shipped mappings load, for both dialects, with the demo's fields. */
    static const char *const fields = "status, actual_start, actual_end, time_spent_minutes, "
                                      "report, signatory_name, signature_file, signed_at";
    const char *dialects[] = {"sqlite", "postgresql"};
    for (int i = 0; i < 2; i++) {
        int rc = sync_map_load(MC_SOURCE_DIR "/conf/sync/servicedesk", dialects[i], fields, &m, why,
                               sizeof why);
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", dialects[i], why);
        CHECK_EQ_INT(rc, 0);
        if (rc == 0) {
            s = sync_map_find(&m, "apply");
            CHECK(s && s->nparams == 10);
            sync_map_free(&m);
        }
    }
    CHECK(strcmp(sync_dialect("PostgreSQL"), "postgresql") == 0);
    CHECK(sync_dialect("Oracle") == NULL);
}

int main(void)
{
    test_merge();
    test_map();
    return check_report("test_sync");
}
