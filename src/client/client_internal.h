/* What the capability files of libmiscomm (files.c, ...) share with client.c. */
#ifndef MC_CLIENT_INTERNAL_H
#define MC_CLIENT_INTERNAL_H

#include "miscomm/client.h"
#include "miscomm/odbc.h"

/* Set the message mc_client_errmsg() returns and return code. */
int client_fail(mc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Check an answer's type and, when len is not SIZE_MAX, its exact length (odbc.c). */
int client_expect(mc_client *c, const struct mc_reply *r, uint8_t type, size_t len,
                  const char *what);

/* A result's columns: QUERY_COLUMNS and SYNC_COLUMNS (odbc.c). */
struct client_columns {
    struct mc_column *cols;
    enum mc_value_type *types;
    size_t n;
    void *mem; /* one block: cols, types, then the names; free(mem) frees it all */
};

/* Parse a columns payload into out (free out->mem after, even on failure). */
int client_columns_parse(const uint8_t *p, size_t len, struct client_columns *out);

#endif
