/* miscommd: argument parsing, then the server. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "config.h"
#include "miscomm/error.h"
#include "log.h"
#include "notify.h"
#include "secret.h"
#include "server.h"
#include "service_win.h"
#include "tlsctx.h"

#define EXIT_USAGE      64 /* sysexits.h EX_USAGE */
#define EXIT_CONFIG     78 /* sysexits.h EX_CONFIG */
#define MAX_PATH_CONFIG 1024

static void usage(FILE *out)
{
    fprintf(out, "Usage: miscommd [OPTIONS]\n"
                 "The miscomm gateway: TLS on TCP port 9000 between field devices and the\n"
                 "service-desk database and file folders.\n"
                 "\n"
                 "Options:\n"
                 "  -c, --config FILE        configuration file (default: conf/miscomm.ini if it\n"
                 "                           exists, else /etc/miscomm/miscomm.ini)\n"
                 "      --check-config FILE  validate FILE, print every error, and exit\n"
#ifdef _WIN32
                 "      --install-service    register the Windows service 'miscomm' (automatic\n"
                 "                           start, restart on failure) to run with -c FILE\n"
                 "      --uninstall-service  stop and remove the service\n"
                 "      --start-service, --stop-service, --service-status\n"
                 "                           through the Service Control Manager\n"
                 "      --service            what the service runs (not for a console)\n"
#endif
                 "  -V, --version            print version and library builds, and exit\n"
                 "  -h, --help               print this help, and exit\n"
                 "\n"
                 "Signals: SIGINT/SIGTERM stop accepting, let requests in flight finish\n"
                 "within [server] shutdown_grace seconds, then exit 0.\n"
                 "\n"
                 "Exit status: 0 clean shutdown or valid configuration; 1 start-up failure\n"
                 "(listening socket); 64 usage error; 78 invalid configuration (a certificate,\n"
                 "key, client_ca or crl that cannot be loaded included).\n");
}

static void print_version(void)
{
    printf("miscommd %s\n", MC_VERSION);
    printf("wolfSSL %s: %s\n", wolfSSL_lib_version(), MC_WOLFSSL_BUILD);
    printf("libuv %s\n", uv_version_string());
    printf("libsodium %s\n", sodium_version_string());
    printf("systemd notification: %s\n", notify_build());
}

/* The file, and the TLS files it names loaded as a start would load them. */
static int check_config(const char *path)
{
    if (sodium_init() < 0 || wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fprintf(stderr, "miscommd: cannot initialise the crypto libraries\n");
        return 1;
    }
    int rc = tlsctx_check_file(path);
    wolfSSL_Cleanup();
    return rc < 0 ? EXIT_CONFIG : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
#ifdef _WIN32
        {"service", no_argument, NULL, 'S'},
        {"install-service", no_argument, NULL, 'I'},
        {"uninstall-service", no_argument, NULL, 'U'},
        {"start-service", no_argument, NULL, 'B'},
        {"stop-service", no_argument, NULL, 'E'},
        {"service-status", no_argument, NULL, 'Q'},
#endif
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int opt, service_action = 0;
    while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            return check_config(optarg);
        case 'V':
            print_version();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'S':
        case 'I':
        case 'U':
        case 'B':
        case 'E':
        case 'Q':
            service_action = opt;
            break;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "miscommd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
#ifdef _WIN32
    /* %ProgramData%\miscomm\miscomm.ini, where the installer puts it. */
    char default_config[MAX_PATH_CONFIG];
    const char *pd = getenv("ProgramData");
    snprintf(default_config, sizeof default_config, "%s/miscomm/miscomm.ini",
             pd ? pd : "C:/ProgramData");
#else
    const char *default_config = "/etc/miscomm/miscomm.ini";
#endif
    if (!config)
        config =
            access("conf/miscomm.ini", R_OK) == 0 && service_action != 'S' && service_action != 'I'
                ? "conf/miscomm.ini"
                : default_config;
#ifdef _WIN32
    switch (service_action) {
    case 'I':
        return service_install(config);
    case 'U':
        return service_uninstall();
    case 'B':
        return service_start();
    case 'E':
        return service_stop();
    case 'Q':
        return service_status();
    default:
        break;
    }
#endif
    /* Keys and passwords live in this process: never in a core dump. */
    secret_no_dumps();
    if (sodium_init() < 0 || wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fprintf(stderr, "miscommd: cannot initialise the crypto libraries\n");
        return 1;
    }

#ifdef _WIN32
    if (service_action == 'S')
        return service_run(config);
#endif
    struct server srv;
    int rc = server_init(&srv, config);
    if (rc < 0) {
        const char *why = rc == MC_ERR_CONFIG ? "invalid configuration" : mc_strerror(rc);
        log_error("event=start_failed config=%s error=\"%s\"", config, why);
        notify_start_failed(rc, why);
        server_free(&srv);
        wolfSSL_Cleanup();
        return rc == MC_ERR_CONFIG ? EXIT_CONFIG : 1;
    }
    /* server_run() tells systemd READY=1 once listening, STOPPING=1 at the drain. */
    int code = server_run(&srv);
    server_free(&srv);
    wolfSSL_Cleanup();
    return code;
}
