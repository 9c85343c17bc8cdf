/* misctl passwd: the Argon2id hash of a connection password. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "misctl.h"
#include "miscomm/error.h"
#include "secret.h"

static const char passwd_help[] =
    "Usage: misctl passwd [--password-file FILE | --password-stdin |\n"
    "                      --password-prompt]\n"
    "Prints the Argon2id hash of a connection password, for the password key of\n"
    "a [connection NAME] section (or the file its password_file names).\n"
    "  --password-file FILE  the first line of FILE\n"
    "  --password-stdin      the first line of standard input\n"
    "  --password-prompt     ask twice on the terminal, without echo\n"
    "  -h, --help            print this help\n"
    "Without one of them: the terminal (twice) when standard input is one, else\n"
    "the first line of standard input. A password has at least 8 characters.\n"
    "The line ends at the first LF or CR (so a Windows CRLF ending is not part of\n"
    "the password); spaces and tabs are kept: they are part of the password.\n"
    "\n"
    "Exit status: 0 success; 1 failure (unreadable, too short, the two\n"
    "entries differ); 64 usage error.\n";

int misctl_passwd(int argc, char **argv)
{
    enum { O_HELP = 1 };
    static const struct toolopt opts[] = {
        MISCTL_PASSWORD_OPTIONS,
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "passwd";
    struct misctl_pw_source pws = {0};
    struct toolopt_parser p;
    int id;
    toolopt_init(&p, argc, argv, opts, 0);
    while ((id = toolopt_next(&p)) != TOOLOPT_END) {
        if (id == O_HELP) {
            fputs(passwd_help, stdout);
            return 0;
        }
        if (id == TOOLOPT_ERROR) {
            if (misctl_password_option_refused(&p))
                misctl_password_refuse(who);
            else
                misctl_option_error(who, &p);
            return EXIT_USAGE;
        }
        misctl_password_option(&pws, id, p.value);
    }
    if (p.nargs > 0) {
        fprintf(stderr,
                "misctl: %s: unexpected argument '%s': the password is never taken from the "
                "command line (try --help)\n",
                who, p.args[0]);
        return EXIT_USAGE;
    }
    int nsrc = misctl_password_sources(who, &pws);
    if (nsrc > 1)
        return EXIT_USAGE;
    if (nsrc == 0) {
        if (isatty(STDIN_FILENO))
            pws.prompt = 1;
        else
            pws.from_stdin = 1;
    }
    char pw[SECRET_MAX];
    int rc = misctl_password_read(who, &pws, 1, "New connection password: ", pw, sizeof pw);
    if (rc < 0)
        return EXIT_FAIL;
    if (strlen(pw) < 8) {
        secret_wipe(pw, sizeof pw);
        fprintf(stderr, "misctl: %s: a password needs at least 8 characters\n", who);
        return EXIT_FAIL;
    }
    char hash[128];
    rc = secret_hash(pw, strlen(pw), hash);
    secret_wipe(pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: %s\n", who, mc_strerror(rc));
        return EXIT_FAIL;
    }
    printf("%s\n", hash);
    return 0;
}
