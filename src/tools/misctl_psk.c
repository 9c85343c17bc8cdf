/* misctl psk create: a random pre-shared key file for encryption = aes256. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "misctl.h"
#include "miscomm/error.h"
#include "psk.h"

static const char psk_help[] =
    "Usage: misctl psk create FILE [--force]\n"
    "Writes a new random 256-bit pre-shared key (64 hex digits, mode 0600) for a\n"
    "[connection] with encryption = aes256 (set psk_file = FILE there). Copy the file\n"
    "to the devices over a secure channel. Keys derived from passwords are refused:\n"
    "a PSK handshake lets an eavesdropper test password guesses offline.\n"
    "  --force   replace an existing key file (every device then needs the new key);\n"
    "            a symbolic link at FILE is replaced by the new file, not followed\n"
    "\n"
    "Exit status: 0 success; 1 failure (e.g. the file exists); 64 usage error.\n";

static int psk_create_cmd(int argc, char **argv)
{
    enum { O_FORCE = 1, O_HELP };
    static const struct toolopt opts[] = {
        {"force", 0, TOOLOPT_NO_VALUE, O_FORCE},
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *who = "psk create";
    struct toolopt_parser p;
    int force = 0, id;
    toolopt_init(&p, argc, argv, opts, 0);
    while ((id = toolopt_next(&p)) != TOOLOPT_END) {
        if (id == O_FORCE) {
            force = 1;
        } else if (id == O_HELP) {
            fputs(psk_help, stdout);
            return 0;
        } else if (misctl_password_option_refused(&p)) {
            fprintf(stderr,
                    "misctl: %s: keys derived from passwords are refused: a TLS PSK "
                    "handshake lets an eavesdropper test password guesses offline, so only a "
                    "random 256-bit key is safe; 'misctl psk create FILE' makes one\n",
                    who);
            return EXIT_USAGE;
        } else {
            fprintf(stderr, "misctl: %s: unknown option '%s' (try --help)\n", who, p.bad);
            return EXIT_USAGE;
        }
    }
    if (p.nargs == 0) {
        fputs(psk_help, stderr);
        return EXIT_USAGE;
    }
    if (p.nargs > 1) {
        fprintf(stderr, "misctl: %s: only one FILE (try --help)\n", who);
        return EXIT_USAGE;
    }
    const char *path = p.args[0];
    int rc = psk_create(path, force);
    if (rc == MC_ERR_EXISTS) {
        fprintf(stderr,
                "misctl: %s: %s already exists; use --force to replace it (every "
                "device then needs the new key)\n",
                who, path);
        return EXIT_FAIL;
    }
    if (rc < 0) {
        fprintf(stderr, "misctl: %s: cannot write %s: %s\n", who, path, strerror(errno));
        return EXIT_FAIL;
    }
    printf("%s %s: a random 256-bit key (64 hex digits), mode 0600\n"
           "Set psk_file = %s in a [connection] with encryption = aes256 and copy the file\n"
           "to the devices over a secure channel.\n",
           force ? "wrote" : "created", path, path);
    return 0;
}

int misctl_psk(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "help") != 0)) {
        if (argc >= 2)
            fprintf(stderr, "misctl: psk: unknown subcommand '%s'\n", argv[1]);
        fputs(psk_help, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "create") != 0) {
        fputs(psk_help, stdout);
        return 0;
    }
    return psk_create_cmd(argc - 1, argv + 1);
}
