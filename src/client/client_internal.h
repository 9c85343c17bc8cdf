/* What the capability files of libmiscomm (files.c, ...) share with client.c. */
#ifndef MC_CLIENT_INTERNAL_H
#define MC_CLIENT_INTERNAL_H

#include "miscomm/client.h"

/* Set the message mc_client_errmsg() returns and return code. */
int client_fail(mc_client *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
