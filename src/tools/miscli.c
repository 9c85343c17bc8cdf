/* miscli: command-line client on libmiscomm. Argument parsing and output only. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "miscomm/client.h"
#include "secret.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 64

#define DEFAULT_CERT     "certs/miscomm.crt"
#define DEFAULT_PASSWORD "certs/psdmobile.password"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: miscli [OPTIONS] COMMAND [ARGS]\n"
        "A command-line client for the miscomm gateway.\n"
        "\n"
        "Commands:\n"
        "  ping [--count N] [--interval SEC] [--reconnect]\n"
        "                                      round trips, printed like ping(8);\n"
        "                                      --reconnect: a new connection (resuming\n"
        "                                      the TLS session) for every request\n"
        "  hello                               log in and print the session\n"
        "\n"
        "Options:\n"
        "  -H, --host HOST           server (default 127.0.0.1)\n"
        "  -p, --port PORT           port (default 9000)\n"
        "      --fingerprint HEX     trust the server whose certificate or public key\n"
        "                            (SPKI) has this SHA-256 fingerprint\n"
        "      --cafile FILE         trust certificates signed by these CAs (PEM)\n"
        "      --insecure            trust any certificate (prints a warning)\n"
        "      --plaintext           no TLS (for connections with encryption = none)\n"
        "      --psk-file FILE       encryption = aes256: TLS 1.3 with this 256-bit\n"
        "                            pre-shared key (from 'misctl psk create')\n"
        "      --cert FILE --key FILE  present this client certificate (PEM)\n"
        "      --tls VERSION         1.2 or 1.3 only (default: either)\n"
        "      --password-file FILE  the connection password, first line of FILE\n"
        "      --device ID           device id sent in HELLO (default: host name)\n"
        "      --timeout SEC         per-request timeout (default 10)\n"
        "  -h, --help                print this help\n"
        "\n"
        "Run from a checkout with no trust option, miscli pins the fingerprint of\n" DEFAULT_CERT
        " and reads the password from " DEFAULT_PASSWORD ",\n"
        "the files 'make run' creates. Without a password file it asks on the\n"
        "terminal, or reads standard input.\n"
        "\n"
        "Exit status: 0 success; 1 the server refused or could not be reached\n"
        "(the error code and message are printed); 64 usage error.\n");
}

struct cli {
    struct mc_client_options opt;
    const char *password_file;
    const char *device;
    char fingerprint[96];
    long count;
    double interval;
    int reconnect;
    char password[SECRET_MAX]; /* wiped before exit */
};

static int cli_error(const char *what, int rc, mc_client *c)
{
    fprintf(stderr, "miscli: %s: %s (%d): %s\n", what, mc_err_name(rc), -rc,
            c ? mc_client_errmsg(c) : mc_strerror(rc));
    return EXIT_FAIL;
}

static int cli_hello(struct cli *cli, mc_client *c, struct mc_session *s)
{
    char host[256] = "miscli";
    gethostname(host, sizeof host - 1);
    struct mc_hello_params hp = {
        .client_name = "miscli",
        .client_version = MC_VERSION,
        .device_id = cli->device ? cli->device : host,
        .password = cli->password,
        .password_len = strlen(cli->password),
    };
    return mc_hello(c, &hp, s);
}

/* Connect and log in; on failure print why and return NULL. */
static mc_client *cli_login(struct cli *cli, struct mc_session *s)
{
    mc_client *c;
    int rc = mc_client_new(&c, &cli->opt);
    if (rc < 0) {
        cli_error("options", rc, c);
        mc_close(c);
        return NULL;
    }
    char pw[SECRET_MAX];
    if (cli->password_file)
        rc = secret_read_file(cli->password_file, pw, sizeof pw);
    else
        rc = secret_read_prompt("Connection password: ", pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "miscli: cannot read the password%s%s: %s\n",
                cli->password_file ? " from " : "", cli->password_file ? cli->password_file : "",
                mc_strerror(rc));
        mc_close(c);
        return NULL;
    }
    memcpy(cli->password, pw, sizeof pw);
    secret_wipe(pw, sizeof pw);
    if ((rc = mc_connect(c)) < 0) {
        cli_error("connect", rc, c);
        mc_close(c);
        return NULL;
    }
    if ((rc = cli_hello(cli, c, s)) < 0) {
        cli_error("hello", rc, c);
        mc_close(c);
        return NULL;
    }
    return c;
}

static void sleep_interval(double sec)
{
    struct timespec ts = {.tv_sec = (time_t)sec,
                          .tv_nsec = (long)((sec - (double)(time_t)sec) * 1e9)};
    while (!interrupted && nanosleep(&ts, &ts) != 0)
        ;
}

static int cmd_ping(struct cli *cli)
{
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        return EXIT_FAIL;
    printf("PING %s:%u (%s %s) connection %s\n", cli->opt.host, cli->opt.port,
           mc_client_tls_version(c), mc_client_tls_cipher(c), s.connection);
    fflush(stdout);
    signal(SIGINT, on_sigint);
    long sent = 0, received = 0, full = 1, resumed = 0;
    double min = 0, max = 0, sum = 0, sum2 = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int last_rc = 0;
    for (long i = 1; !interrupted && (cli->count <= 0 || i <= cli->count); i++) {
        double rtt;
        sent++;
        int rc = 0;
        if (cli->reconnect && i > 1) {
            rc = mc_reconnect(c);
            if (rc == 0) {
                if (mc_client_resumed(c))
                    resumed++;
                else
                    full++;
                rc = cli_hello(cli, c, &s);
            }
            if (rc < 0) {
                last_rc = rc;
                fprintf(stderr, "miscli: reconnect seq=%ld: %s (%d): %s\n", i, mc_err_name(rc), -rc,
                        mc_client_errmsg(c));
                break;
            }
        }
        if (rc == 0)
            rc = mc_ping(c, NULL, &rtt);
        if (rc < 0) {
            last_rc = rc;
            fprintf(stderr, "miscli: ping seq=%ld: %s (%d): %s\n", i, mc_err_name(rc), -rc,
                    mc_client_errmsg(c));
            if (rc != MC_ERR_PERMISSION && rc != MC_ERR_TIMEOUT)
                break;
        } else {
            received++;
            if (cli->reconnect)
                printf("pong from %s:%u: seq=%ld time=%.3f ms handshake=%s\n", cli->opt.host,
                       cli->opt.port, i, rtt, i == 1 || !mc_client_resumed(c) ? "full" : "resumed");
            else
                printf("pong from %s:%u: seq=%ld time=%.3f ms\n", cli->opt.host, cli->opt.port, i,
                       rtt);
            fflush(stdout);
            min = received == 1 || rtt < min ? rtt : min;
            max = rtt > max ? rtt : max;
            sum += rtt;
            sum2 += rtt * rtt;
        }
        if (cli->count <= 0 || i < cli->count)
            sleep_interval(cli->interval);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    printf("\n--- %s:%u miscomm ping statistics ---\n", cli->opt.host, cli->opt.port);
    printf("%ld requests transmitted, %ld received, %.0f%% loss, time %ldms\n", sent, received,
           sent ? 100.0 * (double)(sent - received) / (double)sent : 0.0, ms);
    if (cli->reconnect)
        printf("handshakes: %ld full, %ld resumed\n", full, resumed);
    if (received) {
        double avg = sum / (double)received;
        double var = sum2 / (double)received - avg * avg;
        printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", min, avg, max,
               sqrt(var > 0 ? var : 0));
    }
    mc_close(c);
    return received == sent && last_rc == 0 ? 0 : EXIT_FAIL;
}

static int cmd_hello(struct cli *cli)
{
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        return EXIT_FAIL;
    char sid[2 * MC_SESSION_ID_SIZE + 1];
    for (unsigned i = 0; i < MC_SESSION_ID_SIZE; i++)
        snprintf(sid + 2 * i, 3, "%02x", s.session_id[i]);
    printf("server: %s %s (protocol %u)\n", s.server_name, s.server_version, s.version);
    printf("tls: %s %s\n", mc_client_tls_version(c), mc_client_tls_cipher(c));
    printf("connection: %s\nsession: %s\n", s.connection, sid);
    printf("permissions:%s%s%s%s%s\n", s.permissions & MC_PERM_PING ? " ping" : "",
           s.permissions & MC_PERM_SYNC ? " sync" : "",
           s.permissions & MC_PERM_SEND_FILES ? " send_files" : "",
           s.permissions & MC_PERM_RECEIVE_FILES ? " receive_files" : "",
           s.permissions & MC_PERM_ODBC ? " odbc" : "");
    printf("idle timeout: %u s\nmax payload: %u bytes\n", s.idle_timeout, s.max_payload);
    mc_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        O_FP = 256,
        O_CA,
        O_INSECURE,
        O_PLAIN,
        O_TLS,
        O_PWFILE,
        O_DEVICE,
        O_TIMEOUT,
        O_PSK,
        O_CERT,
        O_KEY
    };
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"fingerprint", required_argument, NULL, O_FP},
        {"cafile", required_argument, NULL, O_CA},
        {"insecure", no_argument, NULL, O_INSECURE},
        {"plaintext", no_argument, NULL, O_PLAIN},
        {"psk-file", required_argument, NULL, O_PSK},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"tls", required_argument, NULL, O_TLS},
        {"password-file", required_argument, NULL, O_PWFILE},
        {"device", required_argument, NULL, O_DEVICE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli = {.count = 4, .interval = 1.0};
    cli.opt.host = "127.0.0.1";
    cli.opt.port = 9000;
    int opt;
    char *end;
    /* '+': stop at the command, so its own options are parsed below. */
    while ((opt = getopt_long(argc, argv, "+H:p:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            cli.opt.host = optarg;
            break;
        case 'p': {
            long p = strtol(optarg, &end, 10);
            if (*end || p < 1 || p > 65535) {
                fprintf(stderr, "miscli: --port must be 1-65535\n");
                return EXIT_USAGE;
            }
            cli.opt.port = (unsigned)p;
            break;
        }
        case O_FP:
            cli.opt.fingerprint = optarg;
            break;
        case O_CA:
            cli.opt.cafile = optarg;
            break;
        case O_INSECURE:
            cli.opt.insecure = 1;
            break;
        case O_PLAIN:
            cli.opt.plaintext = 1;
            break;
        case O_PSK:
            cli.opt.psk_file = optarg;
            break;
        case O_CERT:
            cli.opt.client_cert = optarg;
            break;
        case O_KEY:
            cli.opt.client_key = optarg;
            break;
        case O_TLS:
            if (strcmp(optarg, "1.2") == 0)
                cli.opt.tls_version = 12;
            else if (strcmp(optarg, "1.3") == 0)
                cli.opt.tls_version = 13;
            else {
                fprintf(stderr, "miscli: --tls must be 1.2 or 1.3\n");
                return EXIT_USAGE;
            }
            break;
        case O_PWFILE:
            cli.password_file = optarg;
            break;
        case O_DEVICE:
            cli.device = optarg;
            break;
        case O_TIMEOUT: {
            double t = strtod(optarg, &end);
            if (*end || t <= 0 || t > 3600) {
                fprintf(stderr, "miscli: --timeout must be 0-3600 seconds\n");
                return EXIT_USAGE;
            }
            cli.opt.timeout_ms = (unsigned)(t * 1000);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    int modes = !!cli.opt.fingerprint + !!cli.opt.cafile + cli.opt.insecure + cli.opt.plaintext +
                !!cli.opt.psk_file;
    if (modes > 1) {
        fprintf(stderr, "miscli: give only one of --fingerprint, --cafile, --insecure, --psk-file, "
                        "--plaintext\n");
        return EXIT_USAGE;
    }
    if (modes == 0) {
        int rc = mc_cert_file_fingerprint(DEFAULT_CERT, cli.fingerprint);
        if (rc < 0) {
            fprintf(stderr,
                    "miscli: no way to trust the server: give --fingerprint, --cafile or "
                    "--insecure (%s: %s)\n",
                    DEFAULT_CERT, mc_strerror(rc));
            return EXIT_USAGE;
        }
        cli.opt.fingerprint = cli.fingerprint;
    }
    if (cli.opt.insecure)
        fprintf(stderr, "miscli: WARNING: --insecure: the server's identity is not checked\n");
    if (!cli.password_file && access(DEFAULT_PASSWORD, R_OK) == 0)
        cli.password_file = DEFAULT_PASSWORD;

    if (strcmp(cmd, "ping") == 0) {
        static const struct option popts[] = {
            {"count", required_argument, NULL, 'c'},
            {"interval", required_argument, NULL, 'i'},
            {"reconnect", no_argument, NULL, 'r'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        optind++;
        int sub_argc = argc - optind + 1;
        char **sub_argv = argv + optind - 1;
        optind = 1;
        while ((opt = getopt_long(sub_argc, sub_argv, "c:i:rh", popts, NULL)) != -1) {
            if (opt == 'c') {
                cli.count = strtol(optarg, &end, 10);
                if (*end || cli.count < 0) {
                    fprintf(stderr, "miscli: ping: --count must be 0 (forever) or more\n");
                    return EXIT_USAGE;
                }
            } else if (opt == 'i') {
                cli.interval = strtod(optarg, &end);
                if (*end || cli.interval < 0 || cli.interval > 3600) {
                    fprintf(stderr, "miscli: ping: --interval must be 0-3600 seconds\n");
                    return EXIT_USAGE;
                }
            } else if (opt == 'r') {
                cli.reconnect = 1;
            } else if (opt == 'h') {
                printf("Usage: miscli [OPTIONS] ping [--count N] [--interval SEC] [--reconnect]\n"
                       "  -r, --reconnect     reconnect (resuming the TLS session) before each\n"
                       "                      request after the first, and count resumptions\n"
                       "  -c, --count N       requests to send (default 4, 0 = until Ctrl-C)\n"
                       "  -i, --interval SEC  pause between requests (default 1)\n");
                return 0;
            } else {
                return EXIT_USAGE;
            }
        }
        int rc = cmd_ping(&cli);
        secret_wipe(cli.password, sizeof cli.password);
        return rc;
    }
    if (strcmp(cmd, "hello") == 0) {
        int rc = cmd_hello(&cli);
        secret_wipe(cli.password, sizeof cli.password);
        return rc;
    }
    fprintf(stderr, "miscli: unknown command '%s' (try --help)\n", cmd);
    return EXIT_USAGE;
}
