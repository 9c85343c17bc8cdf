/* miscli's shared pieces: the parsed command line and the login. */
#ifndef MC_MISCLI_H
#define MC_MISCLI_H

#include "miscomm/client.h"
#include "miscomm/odbc.h"
#include "secret.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 64

struct cli {
    struct mc_client_options opt;
    const char *password_file;
    const char *device;
    char fingerprint[96];
    long count;
    double interval;
    int reconnect;
    int echo_mode;             /* MC_ECHO_* */
    unsigned long long bytes;  /* echo: bytes to stream */
    const char *arg;           /* files: the NAME, FILE or FOLDER argument */
    const char *out;           /* get -o / put --as */
    int recursive;             /* ls -R */
    int ack;                   /* get --ack */
    char password[SECRET_MAX]; /* wiped before exit */
};

/* Print "miscli: WHAT: NAME (code): message" and return EXIT_FAIL. */
int cli_error(const char *what, int rc, mc_client *c);
/* Connect and log in; on failure print why and return NULL. */
mc_client *cli_login(struct cli *cli, struct mc_session *s);

/* The file commands (miscli_files.c): ls, get, put. */
int miscli_files_command(const char *cmd);
int miscli_files_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done);
int miscli_files_run(struct cli *cli, const char *cmd);

/* The database commands (miscli_odbc.c): query, exec. */
int miscli_odbc_command(const char *cmd);
int miscli_odbc_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done);
int miscli_odbc_run(struct cli *cli, const char *cmd);
/*
 * A typed value as --param takes it (int:42, ts:2026-11-30T12:30:00, null,
 * ...); strings point into arg, which hex: decodes in place. -1 and *why.
 */
int cli_parse_param(char *arg, struct mc_value *v, const char **why);
/* A value as query prints it, control characters escaped; NULL as "NULL". Free it; NULL: OOM. */
char *cli_value_display(const struct mc_value *v);

/* The sync commands (miscli_sync.c): sync --store FILE pull|push|run|edit|photo|show|... */
int miscli_sync_command(const char *cmd);
int miscli_sync_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done);
/* 1 when the parsed command works on the store alone (no connection, no trust options). */
int miscli_sync_offline(void);
int miscli_sync_run(struct cli *cli, const char *cmd);

#endif
