/* miscli sync: argument parsing and output; the work is in libmiscomm (miscomm/sync.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "miscli.h"
#include "miscomm/sync.h"

static const char sync_help[] =
    "Usage: miscli [OPTIONS] sync --store FILE COMMAND [ARGS]\n"
    "Keeps this device's interventions in FILE, a local SQLite store, as the\n"
    "field app does (permission 'sync'): a replica pulled from the gateway,\n"
    "changes made offline queued in an outbox and pushed later.\n"
    "\n"
    "Commands that talk to the server (global options before 'sync'):\n"
    "  pull                 fetch what changed since the last pull\n"
    "  push                 send the outbox; photos are uploaded first\n"
    "  run [--watch [--count N]]\n"
    "                       push, then pull; --watch: stay connected and run\n"
    "                       again each time the server says interventions\n"
    "                       changed (CHANGES_AVAILABLE), until Ctrl-C or N runs\n"
    "Commands on the store alone (no connection):\n"
    "  edit ID FIELD VALUE  change a field of intervention ID; shown at once,\n"
    "  edit ID FIELD --null pushed by the next push or run\n"
    "  photo ID FILE [--caption TEXT] [--type MIME]\n"
    "                       attach a photo (JPEG, PNG, HEIC or WebP); the next\n"
    "                       push uploads it, then attaches it\n"
    "  show [ID]            the replica: every field, a local change not yet\n"
    "                       pushed marked with '*'\n"
    "  outbox [--discard OPID]\n"
    "                       the operations waiting, and those that failed (with\n"
    "                       why); --discard drops one\n"
    "  conflicts [--dismiss N]\n"
    "                       the changes the server refused because the field\n"
    "                       had changed there too: yours and the server's values\n"
    "\n"
    "  --store FILE         the store (created when missing); required\n"
    "  -h, --help           print this help\n"
    "\n"
    "VALUE is read by the field's type in the replica (pull first): a whole\n"
    "number for INT fields, 'YYYY-MM-DD HH:MM:SS' for TIMESTAMP, YYYY-MM-DD for\n"
    "DATE, HH:MM:SS for TIME, -1234.50 for DECIMAL, hex digits for BINARY, text\n"
    "otherwise. A VALUE starting with '-' goes after '--'.\n"
    "push and run print one line each, key=value: 'push: pushed= applied=\n"
    "merged= resolved= replayed= conflicts= failed= retry= photos=' and 'pull:\n"
    "pages= rows= deleted='. Exit status: 0 done (conflicts and failed\n"
    "operations are results: see conflicts, outbox); 1 the server or the store\n"
    "refused, or the server could not be reached; 64 usage error.\n";

enum sync_cmd {
    SYNC_PULL,
    SYNC_PUSH,
    SYNC_RUN,
    SYNC_EDIT,
    SYNC_PHOTO,
    SYNC_SHOW,
    SYNC_OUTBOX,
    SYNC_CONFLICTS
};

static const char *const sync_cmds[] = {"pull",  "push", "run",    "edit",
                                        "photo", "show", "outbox", "conflicts"};

/* The parsed command (argv lives as long as the program). */
static struct {
    const char *store;
    enum sync_cmd cmd;
    uint64_t id;
    int have_id;
    const char *field;
    char *value;
    int null;
    const char *file;
    const char *caption;
    const char *type;
    int watch;
    long count;
    const char *discard;
    long long dismiss;
} args;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

int miscli_sync_command(const char *cmd)
{
    return strcmp(cmd, "sync") == 0;
}

int miscli_sync_offline(void)
{
    return args.cmd != SYNC_PULL && args.cmd != SYNC_PUSH && args.cmd != SYNC_RUN;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "miscli: sync: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try miscli sync --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

static int parse_id(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0)
        return -1;
    *out = v;
    return 0;
}

/* An option that belongs to another command. */
static int misplaced(const char *opt, const char *cmd)
{
    fprintf(stderr, "miscli: sync: %s is for '%s' only (try miscli sync --help)\n", opt, cmd);
    return EXIT_USAGE;
}

int miscli_sync_parse(struct cli *cli, const char *cmd, int argc, char **argv, int *done)
{
    (void)cli;
    (void)cmd;
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},   {"null", no_argument, NULL, 'n'},
        {"caption", required_argument, NULL, 'c'}, {"type", required_argument, NULL, 't'},
        {"watch", no_argument, NULL, 'w'},         {"count", required_argument, NULL, 'C'},
        {"discard", required_argument, NULL, 'D'}, {"dismiss", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    memset(&args, 0, sizeof args);
    args.dismiss = -1;
    *done = 0;
    optind = 0; /* glibc: 0 starts over completely (argv is permuted below) */
    opterr = 0;
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(sync_help, stdout);
            *done = 1;
            return 0;
        case 's':
            args.store = optarg;
            break;
        case 'n':
            args.null = 1;
            break;
        case 'c':
            args.caption = optarg;
            break;
        case 't':
            args.type = optarg;
            break;
        case 'w':
            args.watch = 1;
            break;
        case 'C':
            errno = 0;
            args.count = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || args.count < 1)
                return usage_error("--count takes a number of runs, 1 or more");
            break;
        case 'D':
            args.discard = optarg;
            break;
        case 'M':
            errno = 0;
            args.dismiss = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || args.dismiss < 1)
                return usage_error("--dismiss takes a conflict's number, as 'conflicts' shows");
            break;
        default:
            return usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (!args.store)
        return usage_error("give the store: --store FILE");
    if (optind >= argc)
        return usage_error("give a command: pull, push, run, edit, photo, show, outbox or "
                           "conflicts");
    const char *sub = argv[optind++];
    size_t i;
    for (i = 0; i < sizeof sync_cmds / sizeof sync_cmds[0]; i++)
        if (strcmp(sub, sync_cmds[i]) == 0)
            break;
    if (i == sizeof sync_cmds / sizeof sync_cmds[0])
        return usage_error("unknown command '%s'", sub);
    args.cmd = (enum sync_cmd)i;
    char **rest = argv + optind;
    int nrest = argc - optind;

    if ((args.watch || args.count) && args.cmd != SYNC_RUN)
        return misplaced(args.watch ? "--watch" : "--count", "run");
    if (args.count && !args.watch)
        return usage_error("--count goes with --watch");
    if (args.null && args.cmd != SYNC_EDIT)
        return misplaced("--null", "edit");
    if ((args.caption || args.type) && args.cmd != SYNC_PHOTO)
        return misplaced(args.caption ? "--caption" : "--type", "photo");
    if (args.discard && args.cmd != SYNC_OUTBOX)
        return misplaced("--discard", "outbox");
    if (args.dismiss > 0 && args.cmd != SYNC_CONFLICTS)
        return misplaced("--dismiss", "conflicts");

    int want = args.cmd == SYNC_EDIT ? (args.null ? 2 : 3) : args.cmd == SYNC_PHOTO ? 2 : 0;
    int optional_id = args.cmd == SYNC_SHOW;
    if (optional_id ? nrest > 1 : nrest != want) {
        static const char *const shapes[] = {
            "pull takes no argument",   "push takes no argument",
            "run takes no argument",    "edit takes ID FIELD VALUE, or ID FIELD --null",
            "photo takes ID FILE",      "show takes at most an ID",
            "outbox takes no argument", "conflicts takes no argument",
        };
        return usage_error("%s", shapes[args.cmd]);
    }
    if (nrest > 0) {
        if (parse_id(rest[0], &args.id) < 0)
            return usage_error("'%s' is not an intervention id (a number above 0)", rest[0]);
        args.have_id = 1;
    }
    if (args.cmd == SYNC_EDIT) {
        args.field = rest[1];
        args.value = args.null ? NULL : rest[2];
    } else if (args.cmd == SYNC_PHOTO) {
        args.file = rest[1];
    }
    return 0;
}

/* -- output ------------------------------------------------------------------------ */

static int store_error(const char *what, int rc, mc_sync_store *st)
{
    fprintf(stderr, "miscli: sync %s: %s (%d): %s\n", what, mc_err_name(rc), -rc,
            mc_sync_store_errmsg(st));
    return EXIT_FAIL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* A value on stdout, as query shows it. */
static int print_value(const struct mc_value *v)
{
    char *t = cli_value_display(v);
    if (!t)
        return MC_ERR_NOMEM;
    fputs(t, stdout);
    free(t);
    return 0;
}

static int on_item(void *ud, const struct mc_sync_item *it)
{
    int *n = ud;
    size_t width = 0;
    int edited = 0;
    for (size_t i = 3; i < it->ncols; i++) {
        size_t w = strlen(it->cols[i].name);
        width = w > width ? w : width;
        edited |= it->edited[i];
    }
    printf("%sintervention %" PRIu64 " (version %" PRIu64 "%s)\n", (*n)++ ? "\n" : "", it->id,
           it->version, edited ? "; * a local change not yet pushed" : "");
    /* seq, id and version are the server's bookkeeping: the header says what matters. */
    for (size_t i = 3; i < it->ncols; i++) {
        printf("  %-*s %s", (int)width, it->cols[i].name, it->edited[i] ? "* " : "  ");
        if (print_value(&it->values[i]) < 0)
            return MC_ERR_NOMEM;
        putchar('\n');
    }
    return 0;
}

static int on_outbox(void *ud, const struct mc_sync_outbox_entry *e)
{
    int *n = ud;
    const struct mc_sync_op *op = e->op;
    char id[2 * MC_SYNC_OP_ID_SIZE + 1];
    hex(op->op_id, MC_SYNC_OP_ID_SIZE, id);
    static const char *const states[] = {"pending", "sent, no answer yet", "FAILED"};
    const char *state = e->state <= MC_SYNC_OP_FAILED ? states[e->state] : "?";
    (*n)++;
    if (op->kind == MC_SYNC_UPDATE) {
        printf("%s update intervention %" PRIu64 " (base version %" PRIu64 "): %s\n", id,
               op->intervention, op->base_version, state);
        for (size_t i = 0; i < op->nfields; i++) {
            printf("    %s: ", op->fields[i].name);
            if (print_value(&op->fields[i].base) < 0)
                return MC_ERR_NOMEM;
            printf(" -> ");
            if (print_value(&op->fields[i].value) < 0)
                return MC_ERR_NOMEM;
            putchar('\n');
        }
    } else {
        printf("%s photo for intervention %" PRIu64 ": %s%s\n", id, op->intervention, state,
               e->state == MC_SYNC_OP_FAILED ? ""
               : e->uploaded                 ? " (uploaded)"
                                             : " (to upload)");
        printf("    %s (%s) as %s\n", e->local_file ? e->local_file : "?", op->content_type,
               op->file);
        if (op->caption.type != MC_VALUE_NULL) {
            printf("    caption: ");
            if (print_value(&op->caption) < 0)
                return MC_ERR_NOMEM;
            putchar('\n');
        }
    }
    if (e->state == MC_SYNC_OP_FAILED)
        printf("    why: %s (%d): %s\n", mc_err_name(e->code), -e->code, e->message);
    return 0;
}

/* The server's value of a field among a conflict's values, or NULL. */
static const struct mc_value *server_value(const struct mc_sync_conflict *k, const char *name)
{
    for (size_t i = 0; i < k->nserver; i++)
        if (strcmp(k->server[i].name, name) == 0)
            return &k->server[i].value;
    return NULL;
}

static int on_conflict(void *ud, const struct mc_sync_conflict *k)
{
    int *n = ud;
    char id[2 * MC_SYNC_OP_ID_SIZE + 1];
    hex(k->op_id, MC_SYNC_OP_ID_SIZE, id);
    printf("%sconflict %" PRId64 ": intervention %" PRIu64 ", your change on version %" PRIu64
           ", the server's version %" PRIu64 " (operation %s)\n",
           (*n)++ ? "\n" : "", k->id, k->intervention, k->base_version, k->version, id);
    if (k->message[0])
        printf("  %s\n", k->message);
    for (size_t i = 0; i < k->nlocal; i++) {
        const struct mc_sync_field *f = &k->local[i];
        int both = 0;
        for (size_t j = 0; j < k->nnames; j++)
            both |= strcmp(k->names[j], f->name) == 0;
        printf("  %s%s: was ", both ? "* " : "  ", f->name);
        const struct mc_value *sv = server_value(k, f->name);
        if (print_value(&f->base) < 0)
            return MC_ERR_NOMEM;
        printf(", yours ");
        if (print_value(&f->value) < 0)
            return MC_ERR_NOMEM;
        if (sv) {
            printf(", server's ");
            if (print_value(sv) < 0)
                return MC_ERR_NOMEM;
        }
        putchar('\n');
    }
    return 0;
}

static void print_push(const struct mc_sync_report *r)
{
    printf("push: pushed=%" PRIu64 " applied=%" PRIu64 " merged=%" PRIu64 " resolved=%" PRIu64
           " replayed=%" PRIu64 " conflicts=%" PRIu64 " failed=%" PRIu64 " retry=%" PRIu64
           " photos=%" PRIu64 "\n",
           r->pushed, r->applied, r->merged, r->resolved, r->replayed, r->conflicts, r->failed,
           r->retry, r->photos);
}

static void print_pull(const struct mc_sync_report *r)
{
    printf("pull: pages=%" PRIu64 " rows=%" PRIu64 " deleted=%" PRIu64 "\n", r->pages, r->rows,
           r->deleted);
}

static void hint(const struct mc_sync_report *r)
{
    if (r->conflicts)
        fprintf(stderr,
                "miscli: sync: %" PRIu64 " conflict%s: see miscli sync --store %s conflicts\n",
                r->conflicts, r->conflicts == 1 ? "" : "s", args.store);
    if (r->failed)
        fprintf(stderr,
                "miscli: sync: %" PRIu64 " operation%s failed: see miscli sync --store %s outbox\n",
                r->failed, r->failed == 1 ? "" : "s", args.store);
    if (r->retry)
        fprintf(stderr,
                "miscli: sync: the database was unavailable: %" PRIu64
                " operation%s kept for the next push\n",
                r->retry, r->retry == 1 ? "" : "s");
}

/* -- running ------------------------------------------------------------------------- */

static int run_edit(mc_sync_store *st)
{
    struct mc_value v = {.type = MC_VALUE_NULL};
    enum mc_value_type type;
    int rc = mc_sync_field_type(st, args.field, &type);
    if (rc < 0)
        return store_error("edit", rc, st);
    char *typed = NULL;
    if (!args.null) {
        static const char *const prefix[] = {
            [MC_VALUE_INT] = "int:",   [MC_VALUE_DECIMAL] = "dec:",  [MC_VALUE_FLOAT] = "float:",
            [MC_VALUE_TEXT] = "text:", [MC_VALUE_BINARY] = "hex:",   [MC_VALUE_DATE] = "date:",
            [MC_VALUE_TIME] = "time:", [MC_VALUE_TIMESTAMP] = "ts:",
        };
        const char *p = type >= MC_VALUE_INT && type <= MC_VALUE_TIMESTAMP ? prefix[type] : "text:";
        size_t n = strlen(p) + strlen(args.value) + 1;
        const char *why;
        if (!(typed = malloc(n))) {
            fprintf(stderr, "miscli: sync edit: out of memory\n");
            return EXIT_FAIL;
        }
        snprintf(typed, n, "%s%s", p, args.value);
        if (cli_parse_param(typed, &v, &why) < 0) {
            fprintf(stderr, "miscli: sync edit: %s '%s': %s (or --null)\n", args.field, args.value,
                    why + strcspn(why, " ") + 1);
            free(typed);
            return EXIT_USAGE;
        }
    }
    rc = mc_sync_edit(st, args.id, args.field, &v);
    free(typed);
    if (rc < 0)
        return store_error("edit", rc, st);
    return 0;
}

static int run_local(mc_sync_store *st)
{
    int rc = 0, n = 0;
    switch (args.cmd) {
    case SYNC_EDIT:
        return run_edit(st);
    case SYNC_PHOTO:
        rc = mc_sync_attach_photo(st, args.id, args.file, args.type, args.caption);
        return rc < 0 ? store_error("photo", rc, st) : 0;
    case SYNC_SHOW:
        rc = mc_sync_items(st, args.have_id ? args.id : 0, on_item, &n);
        if (rc < 0)
            return store_error("show", rc, st);
        if (n == 0 && args.have_id) {
            fprintf(stderr, "miscli: sync show: no intervention %" PRIu64 " in the replica\n",
                    args.id);
            return EXIT_FAIL;
        }
        if (n == 0)
            fprintf(stderr,
                    "miscli: sync show: the replica is empty (miscli sync --store %s "
                    "pull)\n",
                    args.store);
        return 0;
    case SYNC_OUTBOX:
        if (args.discard) {
            uint8_t id[MC_SYNC_OP_ID_SIZE];
            char check[2 * MC_SYNC_OP_ID_SIZE + 1];
            unsigned b;
            int ok = strlen(args.discard) == 2 * MC_SYNC_OP_ID_SIZE;
            for (size_t i = 0; ok && i < MC_SYNC_OP_ID_SIZE; i++) {
                ok = sscanf(args.discard + 2 * i, "%2x", &b) == 1;
                id[i] = (uint8_t)b;
            }
            if (ok) {
                hex(id, sizeof id, check);
                ok = strcasecmp(check, args.discard) == 0;
            }
            if (!ok) {
                fprintf(stderr, "miscli: sync outbox: --discard takes an operation id as "
                                "'outbox' shows it (32 hex digits)\n");
                return EXIT_USAGE;
            }
            rc = mc_sync_discard(st, id);
            return rc < 0 ? store_error("outbox", rc, st) : 0;
        }
        rc = mc_sync_outbox(st, on_outbox, &n);
        if (rc < 0)
            return store_error("outbox", rc, st);
        fprintf(stderr, "%d operation%s\n", n, n == 1 ? "" : "s");
        return 0;
    case SYNC_CONFLICTS:
        if (args.dismiss > 0) {
            rc = mc_sync_conflict_dismiss(st, args.dismiss);
            return rc < 0 ? store_error("conflicts", rc, st) : 0;
        }
        rc = mc_sync_conflicts(st, on_conflict, &n);
        if (rc < 0)
            return store_error("conflicts", rc, st);
        fprintf(stderr, "%d conflict%s\n", n, n == 1 ? "" : "s");
        return 0;
    default:
        return EXIT_FAIL;
    }
}

static void on_notice(void *ud, uint16_t kind, const char *text, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    int *changed = ud;
    if (kind == MC_NOTICE_CHANGES_AVAILABLE) {
        *changed = 1;
        printf("notice: changes_available text=\"%s\"\n", text);
        fflush(stdout);
    }
}

/* One push, pull or run, its report printed. */
static int run_once(mc_client *c, mc_sync_store *st)
{
    struct mc_sync_report r = {0};
    int rc = args.cmd == SYNC_PULL   ? mc_sync_store_pull(c, st, &r)
             : args.cmd == SYNC_PUSH ? mc_sync_store_push(c, st, &r)
                                     : mc_sync_run(c, st, &r);
    if (args.cmd != SYNC_PULL)
        print_push(&r);
    if (args.cmd != SYNC_PUSH && (rc == 0 || r.pages))
        print_pull(&r);
    fflush(stdout);
    hint(&r);
    return rc < 0 ? store_error(sync_cmds[args.cmd], rc, st) : 0;
}

static int run_online(struct cli *cli, mc_sync_store *st)
{
    struct mc_session s;
    mc_client *c = cli_login(cli, &s);
    if (!c)
        return EXIT_FAIL;
    int changed = 0;
    if (args.watch) {
        mc_set_notice_cb(c, on_notice, &changed);
        signal(SIGINT, on_sigint);
        signal(SIGTERM, on_sigint);
    }
    int code = run_once(c, st);
    for (long runs = 1; args.watch && !interrupted && (!args.count || runs < args.count);) {
        int rc = mc_poll(c, 500);
        if (rc < 0 && !mc_client_connected(c)) {
            /* The connection dropped: back, then run again (a notice may have been lost). */
            if (mc_relogin(c, NULL) < 0) {
                code = cli_error("sync run", rc, c);
                break;
            }
            changed = 1;
        }
        if (!changed)
            continue;
        changed = 0;
        code = run_once(c, st);
        runs++;
    }
    mc_close(c);
    return code;
}

int miscli_sync_run(struct cli *cli, const char *cmd)
{
    (void)cmd;
    mc_sync_store *st;
    int rc = mc_sync_store_open(&st, args.store);
    if (rc < 0) {
        int code = store_error("store", rc, st);
        mc_sync_store_close(st);
        return code;
    }
    int code = miscli_sync_offline() ? run_local(st) : run_online(cli, st);
    mc_sync_store_close(st);
    return code;
}
