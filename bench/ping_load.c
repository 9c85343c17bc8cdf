/*
 * ping_load: CONNS connections doing request round trips for SECONDS, for
 * bench/log_cost.sh.
 *
 *   ping_load PORT CERT PASSWORD_FILE CONNS SECONDS [ping|echo]
 *
 * ping (the default) sends PING, a keepalive-class request the server logs
 * at debug; echo sends ECHO mode SOURCE of 0 bytes (answered at once by
 * ECHO_OK), a request the server logs at info, one line each: the audit
 * trail's cost.
 *
 * Each connection has its own thread and libmiscomm client (certificate
 * pinned). All of them log in first (a BUSY answer to HELLO is retried after
 * a short pause); then the clock starts and every thread sends PINGs one
 * after the other until SECONDS have passed. Prints one line:
 *
 *   conns=N seconds=S pings=P pings_s=R [server_us=U]
 *
 * (pings: requests of either kind). With SERVER_PID in the environment,
 * server_us is that process's CPU time (user + system, all threads, from
 * /proc/PID/stat) per request over the same window, the logins left out:
 * on a shared machine a steadier figure than the rate.
 *
 * A bench helper built by the script, not part of the product.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "miscomm/client.h"

#define MAX_CONNS 1024

struct worker {
    pthread_t thread;
    mc_client *c;
    uint64_t pings;
    int failed;
};

static const char *arg_cert;
static char password[256];
static size_t password_len;
static unsigned port;
static double run_seconds;
static pthread_barrier_t start_line;
static atomic_int stop;
static int use_echo;

static int one_request(mc_client *c)
{
    if (!use_echo)
        return mc_ping(c, NULL, NULL);
    static const uint8_t echo_source_0[9] = {1}; /* mode 1 (SOURCE), count 0 */
    struct mc_reply r;
    return mc_call(c, MC_MSG_ECHO, echo_source_0, sizeof echo_source_0, &r);
}

/* CPU seconds (user + system) of process pid so far, or -1 (no /proc). */
static double process_cpu_s(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The fields after the command name, which is in parentheses: state is
     * field 3, utime and stime are fields 14 and 15. */
    const char *p = strrchr(line, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int login(struct worker *w, unsigned n)
{
    char fp[96], dev[32];
    if (mc_cert_file_fingerprint(arg_cert, fp) < 0)
        return -1;
    struct mc_client_options o = {.port = port, .fingerprint = fp, .timeout_ms = 60000};
    if (mc_client_new(&w->c, &o) < 0 || mc_connect(w->c) < 0)
        return -1;
    snprintf(dev, sizeof dev, "ping-%u", n);
    struct mc_hello_params hp = {.client_name = "ping_load",
                                 .client_version = "1",
                                 .device_id = dev,
                                 .password = password,
                                 .password_len = password_len};
    struct mc_session s;
    for (;;) {
        int rc = mc_hello(w->c, &hp, &s);
        if (rc != MC_ERR_BUSY)
            return rc;
        usleep(100 * 1000);
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    static atomic_uint next;
    unsigned n = atomic_fetch_add(&next, 1);
    if (login(w, n) < 0) {
        fprintf(stderr, "ping_load: login %u: %s\n", n, w->c ? mc_client_errmsg(w->c) : "?");
        w->failed = 1;
    }
    pthread_barrier_wait(&start_line);
    while (!w->failed && !atomic_load(&stop)) {
        if (one_request(w->c) < 0) {
            fprintf(stderr, "ping_load: request: %s\n", mc_client_errmsg(w->c));
            w->failed = 1;
            break;
        }
        w->pings++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: ping_load PORT CERT PASSWORD_FILE CONNS SECONDS [ping|echo]\n");
        return 2;
    }
    use_echo = argc == 7 && strcmp(argv[6], "echo") == 0;
    port = (unsigned)strtoul(argv[1], NULL, 10);
    arg_cert = argv[2];
    unsigned conns = (unsigned)strtoul(argv[4], NULL, 10);
    run_seconds = strtod(argv[5], NULL);
    FILE *f = fopen(argv[3], "r");
    if (!f || !fgets(password, sizeof password, f)) {
        fprintf(stderr, "ping_load: cannot read %s\n", argv[3]);
        return 2;
    }
    fclose(f);
    password_len = strcspn(password, "\r\n");
    if (conns == 0 || conns > MAX_CONNS)
        return 2;
    static struct worker w[MAX_CONNS];
    pthread_barrier_init(&start_line, NULL, conns + 1);
    for (unsigned i = 0; i < conns; i++)
        pthread_create(&w[i].thread, NULL, worker_run, &w[i]);
    const char *server_pid = getenv("SERVER_PID");
    long spid = server_pid ? strtol(server_pid, NULL, 10) : 0;
    pthread_barrier_wait(&start_line);
    double cpu0 = spid > 0 ? process_cpu_s(spid) : -1;
    double t0 = now_s();
    while (now_s() - t0 < run_seconds)
        usleep(10 * 1000);
    atomic_store(&stop, 1);
    double t1 = now_s();
    double cpu1 = spid > 0 ? process_cpu_s(spid) : -1;
    uint64_t total = 0;
    int failed = 0;
    for (unsigned i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].pings;
        failed |= w[i].failed;
        mc_close(w[i].c);
    }
    printf("conns=%u seconds=%.2f pings=%llu pings_s=%.0f", conns, t1 - t0,
           (unsigned long long)total, (double)total / (t1 - t0));
    if (cpu0 >= 0 && cpu1 >= 0 && total > 0)
        printf(" server_us=%.2f", (cpu1 - cpu0) * 1e6 / (double)total);
    printf("\n");
    return failed ? 1 : 0;
}
