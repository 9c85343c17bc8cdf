/* misctl: the administrator's tool. Argument parsing and output only. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "miscomm/error.h"
#include "secret.h"

#define EXIT_FAIL   1
#define EXIT_USAGE  64
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
    fprintf(out, "Usage: misctl COMMAND [OPTIONS]\n"
                 "The miscomm administrator's tool.\n"
                 "\n"
                 "Commands:\n"
                 "  passwd [--password-file FILE]   read a connection password (terminal without\n"
                 "                                  echo, FILE, or standard input) and print its\n"
                 "                                  Argon2id hash for the ini's password key\n"
                 "  check-config FILE               validate a configuration file\n"
                 "  help                            print this help\n"
                 "\n"
                 "Exit status: 0 success; 1 failure; 64 usage error; 78 invalid configuration.\n");
}

static int cmd_passwd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"password-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        if (opt == 'f') {
            file = optarg;
        } else if (opt == 'h') {
            printf("Usage: misctl passwd [--password-file FILE]\n"
                   "Prints the Argon2id hash of a password for [connection NAME] password.\n"
                   "The password is read from FILE, else from the terminal without echo\n"
                   "(twice), else from the first line of standard input.\n");
            return 0;
        } else {
            return EXIT_USAGE;
        }
    }
    char pw[SECRET_MAX], again[SECRET_MAX];
    int rc = file ? secret_read_file(file, pw, sizeof pw)
                  : secret_read_prompt("New connection password: ", pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "misctl: passwd: cannot read the password: %s\n", mc_strerror(rc));
        return EXIT_FAIL;
    }
    if (!file && isatty(0)) {
        rc = secret_read_prompt("Again: ", again, sizeof again);
        int same = rc == 0 && strcmp(pw, again) == 0;
        secret_wipe(again, sizeof again);
        if (!same) {
            secret_wipe(pw, sizeof pw);
            fprintf(stderr, "misctl: passwd: the passwords differ\n");
            return EXIT_FAIL;
        }
    }
    if (strlen(pw) < 8) {
        secret_wipe(pw, sizeof pw);
        fprintf(stderr, "misctl: passwd: a password needs at least 8 characters\n");
        return EXIT_FAIL;
    }
    char hash[128];
    rc = secret_hash(pw, strlen(pw), hash);
    secret_wipe(pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "misctl: passwd: %s\n", mc_strerror(rc));
        return EXIT_FAIL;
    }
    printf("%s\n", hash);
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr, "Usage: misctl check-config FILE\n");
        return argc == 2 ? 0 : EXIT_USAGE;
    }
    struct mc_config cfg;
    if (config_load(argv[1], &cfg, config_print_error, argv[1]) < 0) {
        fprintf(stderr, "%s: configuration is invalid\n", argv[1]);
        return EXIT_CONFIG;
    }
    printf("%s: configuration is valid (%zu connection%s)\n", argv[1], cfg.nconns,
           cfg.nconns == 1 ? "" : "s");
    config_free(&cfg);
    return 0;
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
        return cmd_passwd(argc - 1, argv + 1);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    fprintf(stderr, "misctl: unknown command '%s' (try misctl help)\n", cmd);
    return EXIT_USAGE;
}
