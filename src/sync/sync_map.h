/*
 * A sync mapping: the statements that read and write one service-desk
 * schema, per database dialect (conf/sync/NAME.DIALECT.sql).
 *
 * The file is a series of blocks, each opened by a line
 *
 *   -- [NAME] PARAM PARAM ...
 *
 * and holding one SQL statement with "?" markers; the PARAMs say, in
 * order, which value each marker gets (sync_db.c binds them by name;
 * "fields" stands for every field of the [sync] section's list, in order).
 * Other lines starting with "--" are comments. Blocks named "init" may
 * appear many times: misctl sync init runs them in order.
 */
#ifndef MC_SYNC_MAP_H
#define MC_SYNC_MAP_H

#include <stddef.h>

#define SYNC_NAME_MAX   32
#define SYNC_PARAMS_MAX 48
#define SYNC_FIELDS_MAX 32

struct sync_stmt {
    char name[SYNC_NAME_MAX];
    char *sql;
    char params[SYNC_PARAMS_MAX][SYNC_NAME_MAX];
    unsigned nparams;
};

struct sync_map {
    char dialect[16]; /* "sqlite", "postgresql" */
    struct sync_stmt *stmts;
    size_t n;
    char fields[SYNC_FIELDS_MAX][64]; /* the fields a device may change, in order */
    unsigned nfields;
};

/* The dialect of a database product name ("SQLite", "PostgreSQL"); NULL when unknown. */
const char *sync_dialect(const char *dbms);

/*
 * Load prefix.dialect.sql with the comma-separated field list. 0, or
 * MC_ERR_CONFIG / MC_ERR_IO / MC_ERR_NOMEM with the reason in why.
 */
int sync_map_load(const char *prefix, const char *dialect, const char *fields, struct sync_map *m,
                  char *why, size_t cap);
void sync_map_free(struct sync_map *m);

/* The statement called name (the first one for "init"), or NULL. */
const struct sync_stmt *sync_map_find(const struct sync_map *m, const char *name);

/* The index of field name in the mapping's list, or -1. */
int sync_map_field(const struct sync_map *m, const char *name);

#endif
