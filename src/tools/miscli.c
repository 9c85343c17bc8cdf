/* miscli: command-line client on libmiscomm. Argument parsing and output only. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "miscomm/client.h"
#include "miscli.h"
#include "secret.h"
#include "sock.h"

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
        "  info                                what the server says before login\n"
        "  ls [FOLDER] [-R]                    the files waiting for this device\n"
        "  get NAME [-o FILE] [--ack]          download (resumes, checks SHA-256)\n"
        "  put FILE [--as NAME]                upload (resumes, checked on the server)\n"
        "  watch [--count N]                   print FILES_CHANGED notices as they come\n"
        "  query [--cred FILE] [--param V ...] [--format table|csv|json] SQL\n"
        "  query --named NAME [--param V ...]  run a statement that returns rows on the\n"
        "                                      gateway's database and print them\n"
        "  exec [--cred FILE] [--param V ...] SQL | --named NAME\n"
        "                                      run INSERT, UPDATE, DELETE...; print the\n"
        "                                      rows changed\n"
        "  sync --store FILE pull|push|run|edit|photo|show|outbox|conflicts\n"
        "                                      this device's interventions offline: a\n"
        "                                      local replica, edits queued and pushed\n"
        "                                      (miscli sync --help)\n"
        "  echo [--source N | --sink N | --echo N]\n"
        "                                      stream N bytes through the ECHO\n"
        "                                      demonstration (protocol 2), verify\n"
        "                                      them and print the rate\n"
        "'miscli COMMAND --help' describes each command.\n"
        "\n"
        "Options (before the command):\n"
        "  -H, --host HOST           server (default 127.0.0.1)\n"
        "  -p, --port PORT           port (default 9000)\n"
        "      --fingerprint FP      trust the server whose certificate or public key\n"
        "                            (SPKI) has this SHA-256 fingerprint: 64 hex digits\n"
        "                            (colons allowed) or the pin sha256/BASE64= that\n"
        "                            miscommd logs as spki_pin=\n"
        "      --cafile FILE         trust certificates signed by these CAs (PEM)\n"
        "      --insecure            trust any certificate (prints a warning)\n"
        "      --plaintext           no TLS (for connections with encryption = none)\n"
        "      --psk-file FILE       encryption = aes256: TLS 1.3 with this 256-bit\n"
        "                            pre-shared key (from 'misctl psk create')\n"
        "      --cert FILE --key FILE  present this client certificate (PEM)\n"
        "      --tls VERSION         1.2 or 1.3 only (default: either)\n"
        "      --password-file FILE  the connection password, first line of FILE\n"
        "      --device ID           device id sent in HELLO (default: host name)\n"
        "      --timeout SEC         per-request timeout (default 10; the login waits\n"
        "                            30 s unless --timeout is given)\n"
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

int cli_error(const char *what, int rc, mc_client *c)
{
    fprintf(stderr, "miscli: %s: %s (%d): %s\n", what, mc_err_name(rc), -rc,
            c ? mc_client_errmsg(c) : mc_strerror(rc));
    return EXIT_FAIL;
}

static int cli_hello(struct cli *cli, mc_client *c, struct mc_session *s)
{
    char host[256] = "miscli";
    (void)sock_startup(); /* Windows: gethostname is a Winsock call */
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
mc_client *cli_login(struct cli *cli, struct mc_session *s)
{
    mc_client *c;
    int rc = mc_client_new(&c, &cli->opt);
    if (rc < 0) {
        cli_error("options", rc, c);
        mc_close(c);
        return NULL;
    }
    char pw[SECRET_MAX];
    const char *why = NULL;
    const char *from = cli->password_file;
    if (from || !isatty(STDIN_FILENO))
        rc = secret_read_line(from, pw, sizeof pw, &why);
    else
        rc = secret_read_prompt("Connection password: ", pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "miscli: cannot read the password%s%s: %s\n", from || why ? " from " : "",
                from  ? from
                : why ? "standard input"
                      : "",
                why ? why : mc_strerror(rc));
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
    if (s.version >= 2)
        printf("streams: %u at once, window %u bytes\n", s.max_streams, s.stream_window);
    mc_close(c);
    return 0;
}

static int cmd_info(struct cli *cli)
{
    mc_client *c;
    int rc = mc_client_new(&c, &cli->opt);
    if (rc == 0)
        rc = mc_connect(c);
    struct mc_server_info i;
    if (rc == 0)
        rc = mc_info(c, &i);
    if (rc < 0) {
        int code = cli_error("info", rc, c);
        mc_close(c);
        return code;
    }
    printf("server: %s %s (protocol %u-%u)\n", i.server_name, i.server_version, i.min_version,
           i.max_version);
    printf("tls: %s %s\n", mc_client_tls_version(c), mc_client_tls_cipher(c));
    printf("hello timeout: %u s (%u ms left)\nwait for hello answer: %u ms\n",
           i.handshake_timeout_s, i.hello_left_ms, i.hello_answer_ms);
    mc_close(c);
    return 0;
}

struct echo_check {
    unsigned long long offset;
    const uint8_t *expect; /* echo mode: what we sent; NULL for the source pattern */
    int bad;
};

static int echo_on_data(void *ud, const uint8_t *data, size_t len, int end)
{
    (void)end;
    struct echo_check *k = ud;
    for (size_t i = 0; i < len && !k->bad; i++) {
        uint8_t want =
            k->expect ? k->expect[(k->offset + i) % 65536u] : (uint8_t)((k->offset + i) % 251u);
        if (data[i] != want)
            k->bad = 1;
    }
    k->offset += len;
    return k->bad ? MC_ERR_BAD_PAYLOAD : 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_echo(struct cli *cli)
{
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        return EXIT_FAIL;
    uint8_t req[9];
    unsigned long long count = cli->echo_mode == MC_ECHO_ECHO ? 0 : cli->bytes;
    req[0] = (uint8_t)cli->echo_mode;
    for (int i = 0; i < 8; i++)
        req[1 + i] = (uint8_t)(count >> (56 - 8 * i));
    static uint8_t block[65536];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (uint8_t)(i * 7 + 3);
    struct echo_check k = {.expect = cli->echo_mode == MC_ECHO_ECHO ? block : NULL};
    double t0 = mono_s();
    mc_stream *st;
    int rc = mc_stream_open(c, MC_MSG_ECHO, req, sizeof req, &st);
    /* Upload (echo, sink): write everything, then read what comes back. The
     * echo mode's return data waits in the stream's queue meanwhile, at most
     * the credit the client granted. */
    for (unsigned long long sent = 0;
         rc == 0 && cli->echo_mode != MC_ECHO_SOURCE && (sent < cli->bytes || sent == 0);) {
        size_t n = cli->bytes - sent < sizeof block ? (size_t)(cli->bytes - sent) : sizeof block;
        rc = mc_stream_write(st, block, n, sent + n == cli->bytes);
        sent += n;
        if (n == 0)
            break;
        if (cli->echo_mode == MC_ECHO_ECHO && rc == 0) {
            /* Take in the echoed bytes as they come, giving credit back. */
            rc = mc_poll(c, 0);
            long t = rc == 0 ? mc_stream_take(st, echo_on_data, &k) : 0;
            if (t < 0)
                rc = (int)t;
        }
    }
    struct mc_reply r;
    if (rc == 0)
        rc = mc_stream_finish(st, echo_on_data, &k, &r);
    if (rc < 0 && k.bad)
        rc = MC_ERR_BAD_PAYLOAD;
    double dt = mono_s() - t0;
    if (rc < 0 || k.bad) {
        int code = cli_error("echo", rc < 0 ? rc : MC_ERR_BAD_PAYLOAD, c);
        mc_stream_free(st);
        mc_close(c);
        return code;
    }
    unsigned long long got = 0, sent_srv = 0;
    for (int i = 0; i < 8 && r.len == 16; i++) {
        got = got << 8 | r.payload[i];
        sent_srv = sent_srv << 8 | r.payload[8 + i];
    }
    static const char *const modes[] = {"echo", "source", "sink"};
    printf("echo %s: %llu bytes to the server, %llu back, %.3f s, %.1f MiB/s\n",
           modes[cli->echo_mode], got, sent_srv, dt,
           (double)(got > sent_srv ? got : sent_srv) / (1024.0 * 1024.0) / (dt > 0 ? dt : 1e-9));
    int ok = k.offset == sent_srv &&
             (cli->echo_mode == MC_ECHO_SOURCE ? sent_srv == cli->bytes : got == cli->bytes);
    mc_stream_free(st);
    mc_close(c);
    if (!ok) {
        fprintf(stderr, "miscli: echo: byte counts do not match\n");
        return EXIT_FAIL;
    }
    return 0;
}

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

static const struct option global_opts[] = {
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

/* The global option arg names ("--tls", "--tls=1.3", "-H", "-Hhost"), or NULL. */
static const struct option *global_option(const char *arg)
{
    if (arg[0] == '-' && arg[1] && arg[1] != '-') {
        for (const struct option *o = global_opts; o->name; o++)
            if (o->val == arg[1] && o->val != 'h')
                return o;
        return NULL;
    }
    if (strncmp(arg, "--", 2) != 0 || !arg[2])
        return NULL;
    size_t n = strcspn(arg + 2, "=");
    for (const struct option *o = global_opts; o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, arg + 2, n) == 0 && o->val != 'h')
            return o;
    return NULL;
}

/*
 * Report the argument a command's getopt_long() refused (opterr = 0): a
 * global option given after the command gets the right order spelled out.
 */
static void sub_option_error(const char *cmd, int argc, char **argv)
{
    const char *arg = optind - 1 < argc && optind > 1 ? argv[optind - 1] : "?";
    const struct option *g = global_option(arg);
    if (!g) {
        if (optopt && strncmp(arg, "--", 2) != 0)
            fprintf(stderr,
                    "miscli: %s: unknown option or missing value: -%c (try miscli %s --help)\n",
                    cmd, optopt, cmd);
        else
            fprintf(stderr,
                    "miscli: %s: unknown option or missing value: '%s' (try miscli %s --help)\n",
                    cmd, arg, cmd);
        return;
    }
    /* Spell the option as given, with its value when it takes one. */
    char spelled[512];
    const char *value = "";
    int inline_value = strchr(arg, '=') != NULL || (arg[1] != '-' && arg[2]);
    if (g->has_arg == required_argument && !inline_value && optind < argc)
        value = argv[optind];
    snprintf(spelled, sizeof spelled, "%s%s%s", arg, value[0] ? " " : "", value);
    char name[64];
    if (arg[1] == '-')
        snprintf(name, sizeof name, "--%s", g->name);
    else
        snprintf(name, sizeof name, "-%c", g->val);
    fprintf(stderr,
            "miscli: %s: unknown option '%s' (global options go before the command: miscli %s "
            "%s)\n",
            cmd, name, spelled, cmd);
}

/* --fingerprint: 64 hex digits (colons allowed) or sha256/BASE64, as hex for the library. */
static int parse_fingerprint(const char *s, char out[96])
{
    uint8_t sha[32];
    if (cert_parse_pin(s, sha) < 0) {
        fprintf(stderr,
                "miscli: --fingerprint '%s': give the SHA-256 as 64 hex digits (colons "
                "allowed: AB:CD:...) or as the base64 pin sha256/BASE64= that miscommd logs "
                "(spki_pin=)\n",
                s);
        return MC_ERR_INVALID_ARG;
    }
    cert_hex_colon(sha, out);
    return 0;
}

static const char ping_help[] =
    "Usage: miscli [OPTIONS] ping [--count N] [--interval SEC] [--reconnect]\n"
    "Logs in, then sends PING requests and prints the round trips like ping(8).\n"
    "  -r, --reconnect     reconnect (resuming the TLS session) before each\n"
    "                      request after the first, and count resumptions\n"
    "  -c, --count N       requests to send (default 4, 0 = until Ctrl-C)\n"
    "  -i, --interval SEC  pause between requests (default 1)\n"
    "  -h, --help          print this help\n"
    "Global options (miscli --help) go before 'ping'.\n";

static const char info_help[] =
    "Usage: miscli [OPTIONS] info\n"
    "Connects and asks INFO without logging in: the protocol versions the server\n"
    "speaks, the HELLO timer and how long to wait for HELLO's answer.\n"
    "  -h, --help   print this help\n"
    "Global options (miscli --help) go before 'info'.\n";

static const char echo_help[] =
    "Usage: miscli [OPTIONS] echo [--source N | --sink N | --echo N]\n"
    "Streams N bytes (suffixes K, M, G) through the server's ECHO demonstration\n"
    "(protocol 2, permission 'ping'), checks every byte and prints the rate.\n"
    "  --source N   the server sends N bytes (default: --source 1M)\n"
    "  --sink N     the client sends N bytes, the server counts them\n"
    "  --echo N     the client sends N bytes and gets them back\n"
    "  -h, --help   print this help\n"
    "Global options (miscli --help) go before 'echo'.\n";

static const char hello_help[] =
    "Usage: miscli [OPTIONS] hello\n"
    "Logs in and prints the session: server, TLS version and suite, connection,\n"
    "session id, permissions, idle timeout and maximum payload.\n"
    "  -h, --help   print this help\n"
    "Global options (miscli --help) go before 'hello'.\n";

/*
 * The command's own options, from argv[0] (the command). 0 to go on, or an
 * exit status: 0 after --help is stored in *done.
 */
static int parse_command(struct cli *cli, const char *cmd, int argc, char **argv, int *done)
{
    static const struct option popts[] = {
        {"count", required_argument, NULL, 'c'},
        {"interval", required_argument, NULL, 'i'},
        {"reconnect", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct option hopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct option eopts[] = {
        {"source", required_argument, NULL, 'S'},
        {"sink", required_argument, NULL, 'K'},
        {"echo", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int is_ping = strcmp(cmd, "ping") == 0;
    int is_echo = strcmp(cmd, "echo") == 0;
    const char *help = is_ping                    ? ping_help
                       : is_echo                  ? echo_help
                       : strcmp(cmd, "info") == 0 ? info_help
                                                  : hello_help;
    if (is_echo) {
        cli->echo_mode = MC_ECHO_SOURCE;
        cli->bytes = 1024u * 1024u;
    }
    char *end;
    int opt;
    *done = 0;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, is_ping ? "+c:i:rh" : "+h",
                              is_ping   ? popts
                              : is_echo ? eopts
                                        : hopts,
                              NULL)) != -1) {
        if (opt == 'S' || opt == 'K' || opt == 'E') {
            errno = 0;
            double v = strtod(optarg, &end);
            double mult = *end == 'K' || *end == 'k'   ? 1024.0
                          : *end == 'M' || *end == 'm' ? 1024.0 * 1024.0
                          : *end == 'G' || *end == 'g' ? 1024.0 * 1024.0 * 1024.0
                                                       : 1.0;
            if (mult > 1.0)
                end++;
            if (errno || end == optarg || *end || v < 0 || v * mult > 1e15) {
                fprintf(stderr, "miscli: echo: --%s takes a byte count such as 1000, 64K, 1G\n",
                        opt == 'S'   ? "source"
                        : opt == 'K' ? "sink"
                                     : "echo");
                return EXIT_USAGE;
            }
            cli->bytes = (unsigned long long)(v * mult);
            cli->echo_mode = opt == 'S' ? MC_ECHO_SOURCE : opt == 'K' ? MC_ECHO_SINK : MC_ECHO_ECHO;
        } else if (opt == 'c') {
            errno = 0;
            cli->count = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || cli->count < 0) {
                fprintf(stderr, "miscli: ping: --count must be 0 (forever) or more\n");
                return EXIT_USAGE;
            }
        } else if (opt == 'i') {
            cli->interval = strtod(optarg, &end);
            if (end == optarg || *end || cli->interval < 0 || cli->interval > 3600) {
                fprintf(stderr, "miscli: ping: --interval must be 0-3600 seconds\n");
                return EXIT_USAGE;
            }
        } else if (opt == 'r') {
            cli->reconnect = 1;
        } else if (opt == 'h') {
            fputs(help, stdout);
            *done = 1;
            return 0;
        } else {
            sub_option_error(cmd, argc, argv);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "miscli: %s: unexpected argument '%s' (try miscli %s --help)\n", cmd,
                argv[optind], cmd);
        return EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {.count = 4, .interval = 1.0};
    cli.opt.host = "127.0.0.1";
    cli.opt.port = 9000;
    int opt;
    char *end;
    /* '+': stop at the command, so its own options are parsed below. */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+H:p:h", global_opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            cli.opt.host = optarg;
            break;
        case 'p': {
            errno = 0;
            long p = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || p < 1 || p > 65535) {
                fprintf(stderr, "miscli: --port must be 1-65535\n");
                return EXIT_USAGE;
            }
            cli.opt.port = (unsigned)p;
            break;
        }
        case O_FP:
            if (parse_fingerprint(optarg, cli.fingerprint) < 0)
                return EXIT_USAGE;
            cli.opt.fingerprint = cli.fingerprint;
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
            if (end == optarg || *end || t <= 0 || t > 3600) {
                fprintf(stderr, "miscli: --timeout must be 0-3600 seconds\n");
                return EXIT_USAGE;
            }
            /* Given by hand, it bounds the login too (default: 30 s for HELLO). */
            cli.opt.timeout_ms = cli.opt.hello_timeout_ms = (unsigned)(t * 1000);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default: {
            const char *arg = optind > 1 && optind - 1 < argc ? argv[optind - 1] : "?";
            if (optopt && strncmp(arg, "--", 2) != 0)
                fprintf(stderr, "miscli: unknown option or missing value: -%c (try --help)\n",
                        optopt);
            else
                fprintf(stderr, "miscli: unknown option or missing value: '%s' (try --help)\n",
                        arg);
            return EXIT_USAGE;
        }
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
    int files = miscli_files_command(cmd);
    int odbc = miscli_odbc_command(cmd);
    int sync = miscli_sync_command(cmd);
    if (!files && !odbc && !sync && strcmp(cmd, "ping") != 0 && strcmp(cmd, "hello") != 0 &&
        strcmp(cmd, "info") != 0 && strcmp(cmd, "echo") != 0) {
        fprintf(stderr, "miscli: unknown command '%s' (try --help)\n", cmd);
        return EXIT_USAGE;
    }
    int done, rc = files  ? miscli_files_parse(&cli, cmd, argc - optind, argv + optind, &done)
                   : odbc ? miscli_odbc_parse(&cli, cmd, argc - optind, argv + optind, &done)
                   : sync ? miscli_sync_parse(&cli, cmd, argc - optind, argv + optind, &done)
                          : parse_command(&cli, cmd, argc - optind, argv + optind, &done);
    if (rc != 0 || done)
        return rc;
    /* The offline store's own commands need no server, hence no way to trust one. */
    if (sync && miscli_sync_offline())
        return miscli_sync_run(&cli, cmd);

    int modes = !!cli.opt.fingerprint + !!cli.opt.cafile + cli.opt.insecure + cli.opt.plaintext +
                !!cli.opt.psk_file;
    if (modes > 1) {
        fprintf(stderr, "miscli: give only one of --fingerprint, --cafile, --insecure, --psk-file, "
                        "--plaintext\n");
        return EXIT_USAGE;
    }
    if (modes == 0) {
        rc = mc_cert_file_fingerprint(DEFAULT_CERT, cli.fingerprint);
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

    rc = files                      ? miscli_files_run(&cli, cmd)
         : odbc                     ? miscli_odbc_run(&cli, cmd)
         : sync                     ? miscli_sync_run(&cli, cmd)
         : strcmp(cmd, "ping") == 0 ? cmd_ping(&cli)
         : strcmp(cmd, "info") == 0 ? cmd_info(&cli)
         : strcmp(cmd, "echo") == 0 ? cmd_echo(&cli)
                                    : cmd_hello(&cli);
    secret_wipe(cli.password, sizeof cli.password);
    return rc;
}
