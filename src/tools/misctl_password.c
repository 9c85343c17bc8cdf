/* misctl: where passwords come from (never argv), and option errors. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "misctl.h"
#include "miscomm/error.h"
#include "safefile.h"
#include "secret.h"

void misctl_option_error(const char *who, const struct toolopt_parser *p)
{
    fprintf(stderr, "misctl: %s: unknown option or missing value: %s (try --help)\n", who,
            p->bad ? p->bad : "?");
}

void misctl_password_option(struct misctl_pw_source *src, int id, const char *value)
{
    if (id == MISCTL_O_PWFILE)
        src->file = value;
    else if (id == MISCTL_O_PWSTDIN)
        src->from_stdin = 1;
    else
        src->prompt = 1;
}

int misctl_password_option_refused(const struct toolopt_parser *p)
{
    /*
     * Exact option names: a file name such as /srv/compass-office.key or a
     * value that happens to contain "pass" is never mistaken for one.
     */
    static const char *const names[] = {
        "pass",        "passwd",        "password",       "passphrase",      "pw",
        "pwd",         "key-password",  "from-password",  "from-passphrase", "derive",
        "derive-from", "password-file", "password-stdin", "password-prompt", "password-env",
        NULL,
    };
    if (!p->bad || strncmp(p->bad, "-", 1) != 0)
        return 0;
    /* An option the command takes failed for its value ("--password-file" without one). */
    for (const struct toolopt *o = p->opts; o->name; o++)
        if (strcmp(o->name, p->name) == 0)
            return 0;
    for (const char *const *n = names; *n; n++)
        if (strcmp(p->name, *n) == 0)
            return 1;
    return 0;
}

void misctl_password_refuse(const char *who)
{
    fprintf(stderr,
            "misctl: %s: passwords are never taken from the command line (other users "
            "can read it); use --password-file FILE, --password-stdin or "
            "--password-prompt\n",
            who);
}

int misctl_password_sources(const char *who, const struct misctl_pw_source *src)
{
    int n = (src->file != NULL) + src->from_stdin + src->prompt;
    if (n > 1)
        fprintf(stderr,
                "misctl: %s: give only one of --password-file, --password-stdin, "
                "--password-prompt\n",
                who);
    return n;
}

/* A password file other users can read is worth a warning, not a refusal. */
static void warn_file_mode(const char *who, const char *path)
{
    struct stat st;
    const char *why = stat(path, &st) == 0 ? safefile_mode_warning(st.st_mode) : NULL;
    if (why)
        fprintf(stderr, "misctl: %s: warning: password file %s: %s\n", who, path, why);
}

int misctl_password_read(const char *who, const struct misctl_pw_source *src, int twice,
                         const char *prompt, char *pw, size_t cap)
{
    int nsrc = misctl_password_sources(who, src);
    const char *why = NULL;
    int rc;
    if (nsrc == 0)
        return 1;
    if (nsrc > 1)
        return MC_ERR_INVALID_ARG;
    if (src->file || src->from_stdin) {
        rc = secret_read_line(src->file, pw, cap, &why);
        if (rc < 0)
            fprintf(stderr, "misctl: %s: cannot read the password from %s: %s\n", who,
                    src->file ? src->file : "standard input", why ? why : mc_strerror(rc));
        else if (src->file)
            warn_file_mode(who, src->file);
    } else {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "misctl: %s: --password-prompt needs a terminal; use --password-file or "
                    "--password-stdin\n",
                    who);
            return MC_ERR_INVALID_ARG;
        }
        rc = secret_read_prompt(prompt, pw, cap);
        if (rc < 0)
            fprintf(stderr, "misctl: %s: cannot read the password: %s\n", who, mc_strerror(rc));
        if (rc == 0 && twice) {
            char again[SECRET_MAX];
            rc = secret_read_prompt("Again: ", again, sizeof again);
            if (rc < 0)
                fprintf(stderr, "misctl: %s: cannot read the password: %s\n", who, mc_strerror(rc));
            else if (strcmp(pw, again) != 0) {
                fprintf(stderr, "misctl: %s: the passwords differ\n", who);
                rc = MC_ERR_INVALID_ARG;
            }
            secret_wipe(again, sizeof again);
        }
    }
    if (rc == 0 && pw[0] == 0) {
        fprintf(stderr, "misctl: %s: the password is empty\n", who);
        rc = MC_ERR_INVALID_ARG;
    }
    if (rc < 0)
        secret_wipe(pw, cap);
    return rc;
}
