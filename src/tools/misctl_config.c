/* misctl check-config and reload: the configuration file and the running daemon. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "misctl.h"
#include "tlsctx.h"

#ifdef _WIN32
#include <windows.h>

static int misctl_service_reload(void)
{
    SC_HANDLE scm = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE svc = scm ? OpenServiceA(scm, "miscomm", SERVICE_PAUSE_CONTINUE) : NULL;
    SERVICE_STATUS st;
    int ok = svc && ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st);
    DWORD err = GetLastError();
    if (svc)
        CloseServiceHandle(svc);
    if (scm)
        CloseServiceHandle(scm);
    if (!ok) {
        fprintf(stderr,
                "misctl: reload: cannot send the reload control to the service 'miscomm' "
                "(Windows error %lu; is it installed and running, and is this an "
                "administrator's prompt?)\n",
                (unsigned long)err);
        return 1;
    }
    printf("sent the reload control to the service 'miscomm'; the result is in its log "
           "(event=reload ...)\n");
    return 0;
}
#endif

int misctl_check_config(int argc, char **argv)
{
    enum { O_HELP = 1 };
    static const struct toolopt opts[] = {
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    static const char usage[] =
        "Usage: misctl check-config FILE\n"
        "Validates FILE and loads the TLS files it names (certificate, key, password,\n"
        "client_ca, crl) as miscommd would, printing every problem.\n"
        "\n"
        "Exit status: 0 valid; 64 usage error; 78 invalid configuration.\n";
    struct toolopt_parser p;
    int id;
    toolopt_init(&p, argc, argv, opts, 0);
    while ((id = toolopt_next(&p)) != TOOLOPT_END) {
        if (id == O_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        misctl_option_error("check-config", &p);
        return EXIT_USAGE;
    }
    if (p.nargs != 1) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    /* The TLS files too, loaded as miscommd loads them (tlsctx.c). */
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fprintf(stderr, "misctl: check-config: cannot initialise wolfSSL\n");
        return EXIT_FAIL;
    }
    int rc = tlsctx_check_file(p.args[0]);
    wolfSSL_Cleanup();
    return rc < 0 ? EXIT_CONFIG : 0;
}

int misctl_reload(int argc, char **argv)
{
    enum { O_CONFIG = 1, O_HELP };
    static const struct toolopt opts[] = {
        {"config", 'c', TOOLOPT_VALUE, O_CONFIG},
        {"help", 'h', TOOLOPT_NO_VALUE, O_HELP},
        {NULL, 0, 0, 0},
    };
    const char *path = NULL;
    struct toolopt_parser p;
    int id;
    toolopt_init(&p, argc, argv, opts, 0);
    while ((id = toolopt_next(&p)) != TOOLOPT_END) {
        if (id == O_CONFIG) {
            path = p.value;
        } else if (id == O_HELP) {
            printf("Usage: misctl reload [-c CONFIG]\n"
                   "Asks the running miscommd to reload its configuration and certificate\n"
#ifdef _WIN32
                   "(the reload control to the Windows service 'miscomm'). The daemon keeps\n"
                   "its current\n"
#else
                   "(SIGHUP to the pid in [server] pid_file). The daemon keeps its current\n"
#endif
                   "settings if the new ones are invalid; the result is in its log\n"
                   "(event=reload ...).\n"
                   "  -c, --config FILE   default conf/miscomm.ini if it exists, else\n"
                   "                      /etc/miscomm/miscomm.ini\n"
                   "\n"
                   "Exit status: 0 signal sent; 1 failure (no pid file, miscommd not running);\n"
                   "64 usage error; 78 invalid configuration.\n");
            return 0;
        } else {
            misctl_option_error("reload", &p);
            return EXIT_USAGE;
        }
    }
    if (p.nargs != 0) {
        fprintf(stderr, "misctl: reload: unexpected argument '%s' (try --help)\n", p.args[0]);
        return EXIT_USAGE;
    }
    if (!path)
        path = misctl_default_config();
    struct mc_config cfg;
    if (config_load(path, &cfg, config_print_error, (void *)path) < 0) {
        fprintf(stderr,
                "misctl: reload: %s: configuration is invalid; not signalling miscommd "
                "(it would refuse it too)\n",
                path);
        return EXIT_CONFIG;
    }
    int ret = EXIT_FAIL;
#ifdef _WIN32
    /* Windows: the service's parameters-changed control, which miscommd
     * maps onto the same reload as SIGHUP (src/server/service_win.c). */
    ret = misctl_service_reload();
    goto out;
#else
    char text[64] = "";
    FILE *f = fopen(cfg.pid_file, "r");
    if (!f) {
        fprintf(stderr,
                "misctl: reload: cannot read the pid file %s: %s (is miscommd running with %s?)\n",
                cfg.pid_file, strerror(errno), path);
        goto out;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *end;
    errno = 0;
    long pid = strtol(text, &end, 10);
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    if (errno || end == text || *end || pid <= 1 || pid > 0x3FFFFFFF) {
        fprintf(stderr, "misctl: reload: the pid file %s does not hold a process id\n",
                cfg.pid_file);
        goto out;
    }
    if (kill((pid_t)pid, 0) != 0) {
        if (errno == ESRCH)
            fprintf(stderr,
                    "misctl: reload: stale pid file %s: no process %ld (miscommd is not "
                    "running)\n",
                    cfg.pid_file, pid);
        else
            fprintf(stderr,
                    "misctl: reload: cannot signal process %ld: %s (run as the service's user "
                    "or root)\n",
                    pid, strerror(errno));
        goto out;
    }
    /* A pid file left by a crash may name an unrelated process by now. */
    char proc[64], comm[64] = "";
    snprintf(proc, sizeof proc, "/proc/%ld/comm", pid);
    f = fopen(proc, "r");
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (comm[0] && strcmp(comm, "miscommd") != 0) {
            fprintf(stderr,
                    "misctl: reload: stale pid file %s: process %ld is '%s', not miscommd\n",
                    cfg.pid_file, pid, comm);
            goto out;
        }
    }
    if (kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "misctl: reload: cannot signal process %ld: %s\n", pid, strerror(errno));
        goto out;
    }
    printf("sent SIGHUP to miscommd (pid %ld); the result is in its log (event=reload ...)\n", pid);
    ret = 0;
#endif
out:
    config_free(&cfg);
    return ret;
}
