/* miscli ls, get, put: argument parsing and output; the work is in libmiscomm. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "miscli.h"
#include "miscomm/files.h"

static const char ls_help[] =
    "Usage: miscli [OPTIONS] ls [FOLDER] [-R]\n"
    "Lists the files the server holds for this device (its send folder):\n"
    "size, modification time (UTC), SHA-256 and name.\n"
    "  -R, --recursive  include the files of subfolders\n"
    "  -h, --help       print this help\n";
static const char get_help[] =
    "Usage: miscli [OPTIONS] get NAME [-o FILE] [--ack]\n"
    "Downloads NAME from this device's send folder into FILE (default: the last\n"
    "part of NAME). Bytes go to FILE.part first; a broken transfer resumes from\n"
    "there (again, or by itself after a dropped connection), and FILE appears\n"
    "only once its SHA-256 matches the server's.\n"
    "  -o, --output FILE  where to write\n"
    "      --ack          confirm the download (the server may then remove it)\n"
    "  -h, --help         print this help\n";
static const char put_help[] =
    "Usage: miscli [OPTIONS] put FILE [--as NAME]\n"
    "Uploads FILE into this device's receive folder as NAME (default: FILE's\n"
    "last part). The server keeps what it received after a dropped connection,\n"
    "and the upload goes on from there; it answers only once the file, checked\n"
    "against its SHA-256, is on its disk.\n"
    "      --as NAME   the name on the server (may contain folders: a/b.jpg)\n"
    "  -h, --help      print this help\n";

static const char watch_help[] =
    "Usage: miscli [OPTIONS] watch [--count N]\n"
    "Stays logged in and prints a line each time the server says that files\n"
    "changed in this device's send folder (a FILES_CHANGED notice), until\n"
    "Ctrl-C, or after N notices.\n"
    "  -c, --count N   stop after N notices\n"
    "  -h, --help      print this help\n";

int miscli_files_command(const char *cmd)
{
    return strcmp(cmd, "ls") == 0 || strcmp(cmd, "get") == 0 || strcmp(cmd, "put") == 0 ||
           strcmp(cmd, "watch") == 0;
}

int miscli_files_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done)
{
    static const struct option opts[] = {
        {"recursive", no_argument, NULL, 'R'}, {"output", required_argument, NULL, 'o'},
        {"as", required_argument, NULL, 'a'},  {"ack", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    int ls = strcmp(cmd, "ls") == 0, get = strcmp(cmd, "get") == 0;
    if (strcmp(cmd, "watch") == 0) {
        static const struct option wopts[] = {
            {"count", required_argument, NULL, 'c'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        optind = 0;
        opterr = 0;
        *done = 0;
        cli->count = 0;
        int o;
        char *end;
        while ((o = getopt_long(argc, argv, "c:h", wopts, NULL)) != -1) {
            if (o == 'h') {
                fputs(watch_help, stdout);
                *done = 1;
                return 0;
            }
            if (o == 'c' && (cli->count = strtol(optarg, &end, 10)) > 0 && !*end)
                continue;
            fprintf(stderr, "miscli: watch: --count takes a number above 0; try miscli watch "
                            "--help\n");
            return EXIT_USAGE;
        }
        if (optind < argc) {
            fprintf(stderr, "miscli: watch: unexpected argument '%s'\n", argv[optind]);
            return EXIT_USAGE;
        }
        return 0;
    }
    const char *help = ls ? ls_help : get ? get_help : put_help;
    *done = 0;
    optind = 0; /* glibc: 0 starts over completely (argv is permuted below) */
    opterr = 0;
    int opt;
    /* No "+": options may follow the argument (get NAME -o FILE). */
    while ((opt = getopt_long(argc, argv, ls ? "Rh" : get ? "o:h" : "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(help, stdout);
            *done = 1;
            return 0;
        } else if (opt == 'R' && ls) {
            cli->recursive = 1;
        } else if (opt == 'o' && get) {
            cli->out = optarg;
        } else if (opt == 'k' && get) {
            cli->ack = 1;
        } else if (opt == 'a' && !ls && !get) {
            cli->out = optarg;
        } else {
            fprintf(stderr,
                    "miscli: %s: unknown option or missing value: '%s' (try miscli %s "
                    "--help)\n",
                    cmd, argv[optind - 1], cmd);
            return EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if ((ls && nargs > 1) || (!ls && nargs != 1)) {
        fprintf(stderr, "miscli: %s: %s (try miscli %s --help)\n", cmd,
                ls    ? "at most one folder"
                : get ? "give one NAME"
                      : "give one FILE",
                cmd);
        return EXIT_USAGE;
    }
    cli->arg = nargs ? argv[optind] : NULL;
    return 0;
}

/* -- progress ---------------------------------------------------------------- */
struct progress {
    const char *label;
    int tty;
    double t0, last;
    uint64_t start; /* bytes already there at the start (a resume) */
    int started;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    double t = now_s();
    if (!p->started) {
        p->started = 1;
        p->start = done;
        p->t0 = t;
    }
    int end = total && done == total;
    /* A terminal gets a line redrawn 10 times a second; a file, a line every 5 s. */
    if (!end && t - p->last < (p->tty ? 0.1 : 5.0))
        return;
    p->last = t;
    double rate = t > p->t0 ? (double)(done - p->start) / (t - p->t0) : 0;
    double left = rate > 0 ? (double)(total - done) / rate : 0;
    if (total == 0 && !end) /* a download's size comes with its end */
        fprintf(stderr, "%s%s %10.1f MiB %8.1f MiB/s%s", p->tty ? "\r" : "", p->label,
                (double)done / 1048576.0, rate / 1048576.0, p->tty ? "   " : "\n");
    else
        fprintf(stderr, "%s%s %5.1f%% %10.1f MiB of %.1f MiB %8.1f MiB/s  %s%.0f s%s",
                p->tty ? "\r" : "", p->label, total ? 100.0 * (double)done / (double)total : 100.0,
                (double)done / 1048576.0, (double)total / 1048576.0, rate / 1048576.0,
                end ? "took " : "left ", end ? t - p->t0 : left, p->tty && !end ? "   " : "\n");
}

static int list_print(void *ud, const struct mc_file_entry *e)
{
    (void)ud;
    time_t t = (time_t)(e->mtime_us / 1000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%12llu  %s  ", (unsigned long long)e->size, when);
    for (int i = 0; i < 32; i++)
        printf("%02x", e->sha256[i]);
    printf("  %s\n", e->name);
    return 0;
}

static const char *last_part(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

struct watch_ctx {
    long seen;
};

static void on_notice(void *ud, uint16_t kind, const char *text, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    struct watch_ctx *w = ud;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s %s: %s\n", when,
           kind == MC_NOTICE_FILES_CHANGED ? "files_changed"
           : kind == MC_NOTICE_DRAINING    ? "draining"
                                           : "notice",
           text);
    fflush(stdout);
    if (kind == MC_NOTICE_FILES_CHANGED)
        w->seen++;
}

static int watch_run(struct cli *cli, mc_client *c, const struct mc_session *s)
{
    struct watch_ctx w = {0};
    mc_set_notice_cb(c, on_notice, &w);
    if (s->version < 2) {
        fprintf(stderr, "miscli: watch: the server speaks protocol %u: no notices\n", s->version);
        return EXIT_FAIL;
    }
    fprintf(stderr, "watching the send folder (Ctrl-C to stop)\n");
    /* Keep the session alive: a NOOP at half the idle timeout. */
    unsigned keep = s->idle_timeout ? s->idle_timeout * 500u : 60000u;
    unsigned quiet = 0;
    while (cli->count == 0 || w.seen < cli->count) {
        int rc = mc_poll(c, 1000);
        if (rc < 0)
            return cli_error("watch", rc, c);
        quiet += 1000;
        if (quiet >= keep) {
            quiet = 0;
            if ((rc = mc_noop(c)) < 0)
                return cli_error("watch", rc, c);
        }
    }
    return 0;
}

int miscli_files_run(struct cli *cli, const char *cmd)
{
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        return EXIT_FAIL;
    if (strcmp(cmd, "watch") == 0) {
        int code = watch_run(cli, c, &s);
        mc_close(c);
        return code;
    }
    int rc;
    struct progress pg = {.tty = isatty(STDERR_FILENO)};
    struct mc_transfer_options o = {.progress = on_progress, .ud = &pg};
    if (strcmp(cmd, "ls") == 0) {
        uint32_t n = 0;
        rc = mc_list(c, cli->arg, cli->recursive, list_print, NULL, &n);
        if (rc == 0)
            fprintf(stderr, "%u file%s\n", n, n == 1 ? "" : "s");
    } else if (strcmp(cmd, "get") == 0) {
        const char *to = cli->out ? cli->out : last_part(cli->arg);
        uint8_t sha[32];
        pg.label = cli->arg;
        rc = mc_get_file(c, cli->arg, to, &o, sha);
        if (rc == 0) {
            printf("%s: ", to);
            for (int i = 0; i < 32; i++)
                printf("%02x", sha[i]);
            printf("\n");
        }
        int deleted = 0;
        if (rc == 0 && cli->ack && (rc = mc_ack(c, cli->arg, sha, &deleted)) == 0)
            printf("acknowledged%s\n", deleted ? "; the server removed its copy" : "");
    } else {
        const char *as = cli->out ? cli->out : last_part(cli->arg);
        pg.label = as;
        rc = mc_put_file(c, cli->arg, as, &o);
        if (rc == 0)
            printf("%s: stored on the server\n", as);
    }
    int code = rc < 0 ? cli_error(cmd, rc, c) : 0;
    mc_close(c);
    return code;
}
