/*
 * misctl: the administrator's tool. Argument parsing and output only; each
 * command group is in its own misctl_*.c file, options go through toolopt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "misctl.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: misctl COMMAND [OPTIONS]\n"
                 "The miscomm administrator's tool.\n"
                 "\n"
                 "Commands:\n"
                 "  passwd [--password-file FILE | --password-stdin | --password-prompt]\n"
                 "                                  read a connection password (terminal without\n"
                 "                                  echo, FILE, or standard input) and print its\n"
                 "                                  Argon2id hash for the ini's password key\n"
                 "  check-config FILE               validate a configuration file\n"
                 "  cert create --cn NAME [...]     create a key and a self-signed certificate\n"
                 "  cert show FILE                  print what a certificate holds\n"
                 "  cert check FILE                 check the expiry date (monitoring plugin)\n"
                 "  psk create FILE                 create a random key for encryption = aes256\n"
                 "  cred create --dsn NAME --user U --out FILE [...]\n"
                 "                                  seal an ODBC credential file (the database\n"
                 "                                  password) with the master key or a passphrase\n"
                 "  cred show [--reveal] FILE       print what a credential file holds\n"
                 "  cred rotate-key [FILE...]       new master key; re-seal FILEs with it\n"
                 "  sync init --connection NAME     create the sync tables and triggers in the\n"
                 "                                  service-desk database\n"
                 "  device add|list|revoke          bind devices to technicians for sync\n"
                 "  reload [-c CONFIG]              tell the running miscommd to reload (SIGHUP)\n"
                 "  help                            print this help\n"
                 "\n"
                 "'misctl COMMAND --help' describes each command.\n"
                 "\n"
                 "Exit status: 0 success; 1 failure; 64 usage error; 65 credential file\n"
                 "refused; 78 invalid configuration ('cert check' exits 0 OK, 1 WARNING,\n"
                 "2 CRITICAL, 3 UNKNOWN).\n");
}

const char *misctl_default_config(void)
{
    if (access("conf/miscomm.ini", F_OK) == 0)
        return "conf/miscomm.ini";
#ifdef _WIN32
    static char path[1024];
    const char *pd = getenv("ProgramData");
    snprintf(path, sizeof path, "%s/miscomm/miscomm.ini", pd ? pd : "C:/ProgramData");
    return path;
#else
    return "/etc/miscomm/miscomm.ini";
#endif
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("misctl %s\n", MC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "passwd") == 0)
        return misctl_passwd(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return misctl_check_config(argc - 1, argv + 1);
    if (strcmp(cmd, "cert") == 0)
        return misctl_cert(argc - 1, argv + 1);
    if (strcmp(cmd, "psk") == 0)
        return misctl_psk(argc - 1, argv + 1);
    if (strcmp(cmd, "cred") == 0)
        return misctl_cred(argc - 1, argv + 1);
    if (strcmp(cmd, "sync") == 0)
        return misctl_sync(argc - 1, argv + 1);
    if (strcmp(cmd, "device") == 0)
        return misctl_device(argc - 1, argv + 1);
    if (strcmp(cmd, "reload") == 0)
        return misctl_reload(argc - 1, argv + 1);
    fprintf(stderr, "misctl: unknown command '%s' (try misctl help)\n", cmd);
    return EXIT_USAGE;
}
