/*
 * misctl's commands, one file per group (misctl_cert.c, misctl_psk.c,
 * misctl_passwd.c, misctl_config.c, misctl_cred.c), and what they share: exit codes,
 * option errors and the password sources (misctl_password.c).
 */
#ifndef MC_MISCTL_H
#define MC_MISCTL_H

#include <stddef.h>

#include "toolopt.h"

#define EXIT_FAIL    1
#define EXIT_USAGE   64
#define EXIT_REFUSED 65 /* a credential file refused: damaged, wrong key, ... (EX_DATAERR) */
#define EXIT_CONFIG  78

/* Each takes argv[0] as its own name ("passwd", "cert", ...) and returns the exit status. */
int misctl_passwd(int argc, char **argv);
int misctl_check_config(int argc, char **argv);
int misctl_reload(int argc, char **argv);
int misctl_cert(int argc, char **argv);
int misctl_psk(int argc, char **argv);
int misctl_cred(int argc, char **argv);
int misctl_sync(int argc, char **argv);
int misctl_device(int argc, char **argv);

/* "misctl: WHO: unknown option or missing value: ARG (try --help)" for a TOOLOPT_ERROR. */
void misctl_option_error(const char *who, const struct toolopt_parser *p);

/*
 * Passwords for keys and bundles are never taken from argv: each command
 * that needs one lists MISCTL_PASSWORD_OPTIONS in its option table and
 * records them with misctl_password_option().
 */
enum { MISCTL_O_PWFILE = 0x1000, MISCTL_O_PWSTDIN, MISCTL_O_PWPROMPT };
#define MISCTL_PASSWORD_OPTIONS                                                                    \
    {"password-file", 0, TOOLOPT_VALUE, MISCTL_O_PWFILE},                                          \
        {"password-stdin", 0, TOOLOPT_NO_VALUE, MISCTL_O_PWSTDIN},                                 \
    {                                                                                              \
        "password-prompt", 0, TOOLOPT_NO_VALUE, MISCTL_O_PWPROMPT                                  \
    }

struct misctl_pw_source {
    const char *file;
    int from_stdin;
    int prompt;
};

/* Record one of --password-file/--password-stdin/--password-prompt (id, value). */
void misctl_password_option(struct misctl_pw_source *src, int id, const char *value);
/*
 * 1 when the option of a TOOLOPT_ERROR is one that would put a password or a
 * passphrase on the command line ("--password", "--passphrase=X", ...):
 * matched by exact option name, never by looking inside other arguments.
 */
int misctl_password_option_refused(const struct toolopt_parser *p);
/* Report an option misctl_password_option_refused() matched. */
void misctl_password_refuse(const char *who);
/* How many password sources were given; more than one is reported. */
int misctl_password_sources(const char *who, const struct misctl_pw_source *src);
/*
 * Read the password from the one source given, asking with prompt on the
 * terminal (and "Again: " when twice is set). Returns 1 when no source was
 * given, 0 with the password in pw, or a negative MC_ERR_* (already
 * reported). Warns when the password file can be read by other users.
 */
int misctl_password_read(const char *who, const struct misctl_pw_source *src, int twice,
                         const char *prompt, char *pw, size_t cap);

/*
 * The configuration a command uses without -c: conf/miscomm.ini when run
 * from a checkout, else the installed one (/etc/miscomm/miscomm.ini, or on
 * Windows %ProgramData%\miscomm\miscomm.ini, where the installer puts it).
 */
const char *misctl_default_config(void);

#endif
