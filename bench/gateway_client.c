/*
 * gateway_client: the load generator of bench/gateway.sh, one program for
 * miscommd, HAProxy and stunnel so that every side meets the same client.
 * Wall-clock rates, measured here (not `openssl s_time`, which reports
 * connections per second of its own CPU time and scans /etc/ssl/certs on
 * every handshake unless told not to).
 *
 *   gateway_client hash PASSWORD_FILE
 *       an Argon2id hash with libsodium's smallest parameters (8 KiB, one
 *       pass), for the runs where the login is not what is measured.
 *   gateway_client hs PORT 12|13 full|resume THREADS SECONDS
 *       TLS handshakes against any TLS server (plain wolfSSL, no
 *       certificate check, P-256 key share, session tickets offered),
 *       THREADS at once, each connecting, handshaking, sending close_notify
 *       and closing, for SECONDS. resume: each thread first makes one full
 *       handshake and keeps its session (in TLS 1.3, the NewSessionTicket
 *       read after the handshake), then offers it on every connection.
 *         handshakes=N seconds=S rate=R resumed=K failed=F client_cpu=C
 *         version=V cipher=X
 *   gateway_client hold PORT 12|13 COUNT SETTLE_S ECHO PID [PID...]
 *       open COUNT TLS connections one after another and hold them idle;
 *       after SETTLE_S seconds read VmRSS of each PID (read once before the
 *       first connection too); then, with ECHO 1, send 4 bytes on every
 *       connection and wait for them back (an echo backend behind a proxy).
 *         held=N seconds=S pid=P base_kib=B held_kib=H [pid=...] answered=M
 *   gateway_client echo PORT CONNS SECONDS SIZE
 *       CONNS TLS 1.3 connections (one thread each) doing SIZE-byte echo
 *       round trips through a proxy to an echo backend, for SECONDS.
 *         conns=N seconds=S ops=K rate=R p50_ms=A p99_ms=B client_cpu=C
 *   gateway_client ping PORT CERT PASSWORD_FILE CONNS SECONDS
 *       the same against miscommd with libmiscomm: log in (certificate
 *       pinned, TLS 1.3), then PING round trips; same output.
 *   gateway_client storm PORT CERT PASSWORD_FILE COUNT PID
 *       a login storm of COUNT devices (one thread each) against miscommd
 *       (PID, whose CPU time and peak memory are read around each phase),
 *       all starting together, in four phases:
 *         cold     connect (full TLS handshake) and HELLO with the password
 *         resume   reconnect (TLS resumption) and one INFO round trip, no
 *                  login: what the TLS resumptions alone take
 *         tickets  reconnect (TLS resumption) and HELLO with the login
 *                  ticket (and the password, in case it is refused)
 *         password reconnect (TLS resumption), ticket forgotten, HELLO with
 *                  the password: a storm without login tickets
 *       A HELLO answered BUSY is sent again after 1.0-1.5 s on the same
 *       connection (docs/protocol.md 8: "a second or so"); a connection lost
 *       meanwhile (say, to the HELLO timer) is counted as dropped and
 *       reconnected after the same pause; a device gives up after 10
 *       minutes. One line per phase:
 *         phase=P n=N ok=K seconds=S p50_ms=A p99_ms=B busy=X busy_max=Y
 *         dropped=D resumed=R by_ticket=T server_cpu=C server_peak_kib=M
 *
 * p50 and p99 are by nearest rank over every operation. A bench helper
 * built by the script, not part of the product.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sodium.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "miscomm/client.h"

#define MAX_CONNS 20000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double self_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* A "Name:  N kB" field of /proc/PID/status, in KiB; -1 when unreadable. */
static long status_kib(long pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long v = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* utime + stime of all the process's threads (/proc/PID/stat fields 14, 15), seconds. */
static double proc_cpu(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the command name may hold blanks */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int read_password(const char *path, char *out, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(out, (int)cap, f);
    fclose(f);
    if (!ok)
        return -1;
    *len = strcspn(out, "\r\n");
    out[*len] = '\0';
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least q of the samples at or below it. */
static double rank(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)((double)n * q + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

/* -- samples, one growing array per thread --------------------------------------- */

struct samples {
    double *v;
    size_t n, cap;
};

static void samples_add(struct samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

/* -- plain TLS (wolfSSL) ----------------------------------------------------------- */

static int tcp_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    /* A server at its connection limit leaves us in its backlog: give up after 10 s. */
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static WOLFSSL_CTX *tls_ctx(int version)
{
    WOLFSSL_CTX *ctx =
        wolfSSL_CTX_new(version == 12 ? wolfTLSv1_2_client_method() : wolfTLSv1_3_client_method());
    if (!ctx)
        return NULL;
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    /* One suite for every server (stunnel would pick AES-128 in TLS 1.3). */
    if (wolfSSL_CTX_set_cipher_list(ctx, version == 12
                                             ? "ECDHE-ECDSA-AES256-GCM-SHA384"
                                             : "TLS13-AES256-GCM-SHA384") != WOLFSSL_SUCCESS) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    /* One group for every server: P-256, the certificate's curve. */
    if (wolfSSL_CTX_UseSupportedCurve(ctx, WOLFSSL_ECC_SECP256R1) != WOLFSSL_SUCCESS) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Connect and handshake; returns the session or NULL (fd closed). */
static WOLFSSL *tls_open(WOLFSSL_CTX *ctx, int version, unsigned port, WOLFSSL_SESSION *resume,
                         int *fd_out)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return NULL;
    WOLFSSL *ssl = wolfSSL_new(ctx);
    if (!ssl) {
        close(fd);
        return NULL;
    }
    wolfSSL_set_fd(ssl, fd); /* a client: the server's rule of custom I/O does not apply */
    if (version == 13)
        wolfSSL_UseKeyShare(ssl, WOLFSSL_ECC_SECP256R1);
    else
        wolfSSL_UseSessionTicket(ssl);
    if (resume)
        wolfSSL_set_session(ssl, resume);
    if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
        wolfSSL_free(ssl);
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return ssl;
}

static void tls_close(WOLFSSL *ssl, int fd)
{
    wolfSSL_shutdown(ssl); /* close_notify, without waiting for the server's */
    wolfSSL_free(ssl);
    close(fd);
}

/* TLS 1.3 tickets come after the handshake: read for a moment to take them in. */
static void take_tickets(WOLFSSL *ssl, int fd)
{
    struct timeval tv = {0, 300 * 1000};
    char b;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)wolfSSL_peek(ssl, &b, 1);
}

/* -- hs ------------------------------------------------------------------------- */

struct hs_worker {
    pthread_t thread;
    uint64_t done, resumed, failed;
};

static unsigned g_port;
static int g_version, g_resume;
static atomic_int g_stop;
static pthread_barrier_t g_start;
static WOLFSSL_CTX *g_ctx;
static char g_cipher[64], g_tls_version[16];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void *hs_run(void *arg)
{
    struct hs_worker *w = arg;
    WOLFSSL_SESSION *sess = NULL;
    int fd;
    if (g_resume) {
        WOLFSSL *ssl = tls_open(g_ctx, g_version, g_port, NULL, &fd);
        if (ssl) {
            if (g_version == 13)
                take_tickets(ssl, fd);
            sess = wolfSSL_get1_session(ssl);
            tls_close(ssl, fd);
        }
        if (!sess)
            fprintf(stderr, "gateway_client: no session to resume\n");
    }
    pthread_barrier_wait(&g_start);
    while (!atomic_load(&g_stop)) {
        WOLFSSL *ssl = tls_open(g_ctx, g_version, g_port, sess, &fd);
        if (!ssl) {
            w->failed++;
            continue;
        }
        w->done++;
        w->resumed += wolfSSL_session_reused(ssl) == 1;
        if (!g_cipher[0]) {
            pthread_mutex_lock(&g_lock);
            snprintf(g_cipher, sizeof g_cipher, "%s", wolfSSL_get_cipher_name(ssl));
            snprintf(g_tls_version, sizeof g_tls_version, "%s", wolfSSL_get_version(ssl));
            pthread_mutex_unlock(&g_lock);
        }
        tls_close(ssl, fd);
    }
    if (sess)
        wolfSSL_SESSION_free(sess);
    return NULL;
}

static int cmd_hs(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    g_port = (unsigned)strtoul(argv[2], NULL, 10);
    g_version = atoi(argv[3]);
    g_resume = strcmp(argv[4], "resume") == 0;
    unsigned threads = (unsigned)strtoul(argv[5], NULL, 10);
    double secs = strtod(argv[6], NULL);
    if (threads == 0 || threads > 256 || (g_version != 12 && g_version != 13))
        return 2;
    g_ctx = tls_ctx(g_version);
    if (!g_ctx)
        return 1;
    struct hs_worker *w = calloc(threads, sizeof *w);
    pthread_barrier_init(&g_start, NULL, threads + 1);
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&w[i].thread, NULL, hs_run, &w[i]);
    pthread_barrier_wait(&g_start);
    double c0 = self_cpu(), t0 = now_s();
    while (now_s() - t0 < secs)
        usleep(10 * 1000);
    atomic_store(&g_stop, 1);
    double t1 = now_s();
    uint64_t done = 0, resumed = 0, failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done;
        resumed += w[i].resumed;
        failed += w[i].failed;
    }
    double c1 = self_cpu();
    printf("handshakes=%llu seconds=%.2f rate=%.1f resumed=%llu failed=%llu client_cpu=%.2f "
           "version=%s cipher=%s\n",
           (unsigned long long)done, t1 - t0, (double)done / (t1 - t0), (unsigned long long)resumed,
           (unsigned long long)failed, c1 - c0, g_tls_version[0] ? g_tls_version : "?",
           g_cipher[0] ? g_cipher : "?");
    free(w);
    wolfSSL_CTX_free(g_ctx);
    return done ? 0 : 1;
}

/* -- hold ------------------------------------------------------------------------ */

static int cmd_hold(int argc, char **argv)
{
    if (argc < 8)
        return 2;
    unsigned port = (unsigned)strtoul(argv[2], NULL, 10);
    int version = atoi(argv[3]);
    size_t count = strtoul(argv[4], NULL, 10);
    unsigned settle = (unsigned)strtoul(argv[5], NULL, 10);
    int echo = atoi(argv[6]);
    int npids = argc - 7;
    long pids[8], base[8];
    if (count == 0 || count > MAX_CONNS || npids > 8 || (version != 12 && version != 13))
        return 2;
    for (int i = 0; i < npids; i++) {
        pids[i] = strtol(argv[7 + i], NULL, 10);
        base[i] = status_kib(pids[i], "VmRSS");
    }
    WOLFSSL_CTX *ctx = tls_ctx(version);
    WOLFSSL **ssl = calloc(count, sizeof *ssl);
    int *fd = calloc(count, sizeof *fd);
    if (!ctx || !ssl || !fd)
        return 1;
    double t0 = now_s();
    size_t held = 0;
    for (; held < count; held++) {
        ssl[held] = tls_open(ctx, version, port, NULL, &fd[held]);
        if (!ssl[held]) {
            fprintf(stderr, "gateway_client: connection %zu failed\n", held);
            break;
        }
    }
    double t1 = now_s();
    sleep(settle);
    printf("held=%zu seconds=%.1f", held, t1 - t0);
    for (int i = 0; i < npids; i++)
        printf(" pid=%ld base_kib=%ld held_kib=%ld", pids[i], base[i],
               status_kib(pids[i], "VmRSS"));
    size_t answered = 0;
    if (echo) {
        for (size_t i = 0; i < held; i++) {
            char b[4] = {'p', 'i', 'n', 'g'}, r[4];
            struct timeval tv = {10, 0};
            setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (wolfSSL_write(ssl[i], b, 4) != 4)
                continue;
            int got = 0;
            while (got < 4) {
                int n = wolfSSL_read(ssl[i], r + got, 4 - got);
                if (n <= 0)
                    break;
                got += n;
            }
            answered += got == 4 && memcmp(b, r, 4) == 0;
        }
    }
    printf(" answered=%zu\n", answered);
    for (size_t i = 0; i < held; i++)
        tls_close(ssl[i], fd[i]);
    free(ssl);
    free(fd);
    wolfSSL_CTX_free(ctx);
    return held == count && (!echo || answered == held) ? 0 : 1;
}

/* -- echo and ping: round trips on CONNS connections ------------------------------ */

struct rt_worker {
    pthread_t thread;
    unsigned n;
    struct samples lat; /* milliseconds */
    int failed;
};

static size_t g_size;
static const char *g_cert;
static char g_password[256];
static size_t g_password_len;

static int mc_login(mc_client **c, unsigned n, int version)
{
    char fp[96], dev[32];
    if (mc_cert_file_fingerprint(g_cert, fp) < 0)
        return -1;
    struct mc_client_options o = {
        .port = g_port, .fingerprint = fp, .tls_version = version, .timeout_ms = 60000};
    if (mc_client_new(c, &o) < 0 || mc_connect(*c) < 0)
        return -1;
    snprintf(dev, sizeof dev, "bench-%u", n);
    struct mc_hello_params hp = {.client_name = "gateway_client",
                                 .client_version = "1",
                                 .device_id = dev,
                                 .password = g_password,
                                 .password_len = g_password_len};
    struct mc_session s;
    for (;;) {
        int rc = mc_hello(*c, &hp, &s);
        if (rc != MC_ERR_BUSY)
            return rc;
        usleep(100 * 1000);
    }
}

/* One round trip: a PING, or SIZE bytes out and back through the proxy. */
static int round_trip(mc_client *c, WOLFSSL *ssl)
{
    if (c)
        return mc_ping(c, NULL, NULL);
    char msg[256], back[256];
    memset(msg, 'e', g_size);
    if (wolfSSL_write(ssl, msg, (int)g_size) != (int)g_size)
        return -1;
    for (int got = 0; got < (int)g_size;) {
        int n = wolfSSL_read(ssl, back + got, (int)g_size - got);
        if (n <= 0)
            return -1;
        got += n;
    }
    return 0;
}

static void *rt_run(void *arg)
{
    struct rt_worker *w = arg;
    WOLFSSL *ssl = NULL;
    mc_client *c = NULL;
    int fd = -1;
    if (g_cert) {
        if (mc_login(&c, w->n, 13) < 0) {
            fprintf(stderr, "gateway_client: login %u: %s\n", w->n, c ? mc_client_errmsg(c) : "?");
            w->failed = 1;
        }
    } else if (!(ssl = tls_open(g_ctx, 13, g_port, NULL, &fd))) {
        fprintf(stderr, "gateway_client: connection %u failed\n", w->n);
        w->failed = 1;
    }
    /* 20 untimed round trips, then everyone starts together. */
    for (int i = 0; i < 20 && !w->failed; i++)
        w->failed = round_trip(c, ssl) < 0;
    pthread_barrier_wait(&g_start);
    while (!w->failed && !atomic_load(&g_stop)) {
        double t0 = now_s();
        if (round_trip(c, ssl) < 0) {
            fprintf(stderr, "gateway_client: round trip on connection %u failed\n", w->n);
            w->failed = 1;
            break;
        }
        samples_add(&w->lat, (now_s() - t0) * 1000.0);
    }
    if (c)
        mc_close(c);
    if (ssl)
        tls_close(ssl, fd);
    return NULL;
}

static int run_round_trips(unsigned conns, double secs)
{
    struct rt_worker *w = calloc(conns, sizeof *w);
    pthread_barrier_init(&g_start, NULL, conns + 1);
    for (unsigned i = 0; i < conns; i++) {
        w[i].n = i;
        pthread_create(&w[i].thread, NULL, rt_run, &w[i]);
    }
    pthread_barrier_wait(&g_start);
    double c0 = self_cpu(), t0 = now_s();
    while (now_s() - t0 < secs)
        usleep(10 * 1000);
    atomic_store(&g_stop, 1);
    double t1 = now_s();
    size_t total = 0;
    int failed = 0;
    for (unsigned i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].lat.n;
        failed |= w[i].failed;
    }
    double c1 = self_cpu();
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; i < conns; i++) {
        memcpy(all + k, w[i].lat.v, w[i].lat.n * sizeof *all);
        k += w[i].lat.n;
        free(w[i].lat.v);
    }
    qsort(all, total, sizeof *all, cmp_double);
    printf("conns=%u seconds=%.2f ops=%zu rate=%.1f p50_ms=%.3f p99_ms=%.3f client_cpu=%.2f\n",
           conns, t1 - t0, total, (double)total / (t1 - t0), rank(all, total, 0.50),
           rank(all, total, 0.99), c1 - c0);
    free(all);
    free(w);
    return failed ? 1 : 0;
}

static int cmd_echo(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    g_port = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned conns = (unsigned)strtoul(argv[3], NULL, 10);
    double secs = strtod(argv[4], NULL);
    g_size = strtoul(argv[5], NULL, 10);
    if (conns == 0 || conns > 1024 || g_size == 0 || g_size > 256)
        return 2;
    g_ctx = tls_ctx(13);
    if (!g_ctx)
        return 1;
    int rc = run_round_trips(conns, secs);
    wolfSSL_CTX_free(g_ctx);
    return rc;
}

static int cmd_ping(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    g_port = (unsigned)strtoul(argv[2], NULL, 10);
    g_cert = argv[3];
    if (read_password(argv[4], g_password, sizeof g_password, &g_password_len) < 0)
        return 2;
    unsigned conns = (unsigned)strtoul(argv[5], NULL, 10);
    double secs = strtod(argv[6], NULL);
    if (conns == 0 || conns > 1024)
        return 2;
    return run_round_trips(conns, secs);
}

/* -- storm ------------------------------------------------------------------------ */

enum { PH_COLD, PH_RESUME, PH_TICKETS, PH_PASSWORD, PH_COUNT };
static const char *const phase_name[PH_COUNT] = {"cold", "resume", "tickets", "password"};

struct device {
    pthread_t thread;
    unsigned n;
    mc_client *c;
    double done_at[PH_COUNT]; /* seconds after the phase began; < 0 failed */
    unsigned busy[PH_COUNT], dropped[PH_COUNT];
    int resumed[PH_COUNT], by_ticket[PH_COUNT];
};

static pthread_barrier_t g_phase_ready, g_phase_go;
/* How long a device waits for HELLO's answer (STORM_HELLO_S, default 60 s): in
 * a storm of thousands a password check can wait longer than a minute. */
static unsigned g_hello_wait_ms = 60000;
static double g_phase_t0;
static char g_fp[96];

static void pause_busy(unsigned n, unsigned k)
{
    /* "Send the HELLO again after a short pause (a second or so)", docs/protocol.md 8:
     * 1.0 to 1.5 s, spread by device and attempt so the retries do not line up. */
    uint32_t r = (n * 2654435761u) ^ (k * 40503u);
    usleep(1000 * 1000 + (r % 500) * 1000);
}

static int storm_phase(struct device *d, int ph)
{
    char dev[32];
    snprintf(dev, sizeof dev, "storm-%u", d->n);
    struct mc_hello_params hp = {.client_name = "gateway_client",
                                 .client_version = "1",
                                 .device_id = dev,
                                 .password = g_password,
                                 .password_len = g_password_len};
    struct mc_session s;
    /* A device keeps trying for 10 minutes, then gives up (counted as not logged in). */
    double give_up = now_s() + 600;
    for (unsigned attempt = 0; now_s() < give_up; attempt++) {
        int rc;
        if (ph == PH_COLD && attempt == 0) {
            struct mc_client_options o = {.port = g_port,
                                          .fingerprint = g_fp,
                                          .tls_version = 13,
                                          .timeout_ms = 60000,
                                          .hello_timeout_ms = g_hello_wait_ms};
            rc = mc_client_new(&d->c, &o);
            if (rc == 0)
                rc = mc_connect(d->c);
        } else if (attempt == 0 || !mc_client_connected(d->c)) {
            rc = mc_reconnect(d->c);
        } else {
            rc = 0;
        }
        if (rc == 0)
            d->resumed[ph] = mc_client_resumed(d->c);
        if (rc == 0 && ph == PH_RESUME) {
            struct mc_server_info info;
            rc = mc_info(d->c, &info);
        } else if (rc == 0) {
            rc = mc_hello(d->c, &hp, &s);
            if (rc == MC_ERR_BUSY) {
                d->busy[ph]++;
                pause_busy(d->n, attempt);
                continue;
            }
            if (rc == 0)
                d->by_ticket[ph] = mc_client_login_by_ticket(d->c);
        }
        if (rc == 0)
            return 0;
        d->dropped[ph]++;
        if (d->dropped[ph] == 1)
            fprintf(stderr, "gateway_client: %s: device %u: %s\n", phase_name[ph], d->n,
                    d->c ? mc_client_errmsg(d->c) : "out of memory");
        if (!d->c)
            return -1;
        /* Reconnect on the next attempt. */
        if (mc_client_connected(d->c))
            (void)mc_reconnect(d->c);
        pause_busy(d->n, attempt);
    }
    return -1;
}

static void *storm_run(void *arg)
{
    struct device *d = arg;
    for (int ph = 0; ph < PH_COUNT; ph++) {
        if (ph == PH_PASSWORD && d->c)
            (void)mc_login_ticket_set(d->c, NULL, 0);
        pthread_barrier_wait(&g_phase_ready);
        pthread_barrier_wait(&g_phase_go);
        int rc = storm_phase(d, ph);
        d->done_at[ph] = rc == 0 ? now_s() - g_phase_t0 : -1;
    }
    return NULL;
}

static int cmd_storm(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    g_port = (unsigned)strtoul(argv[2], NULL, 10);
    g_cert = argv[3];
    if (read_password(argv[4], g_password, sizeof g_password, &g_password_len) < 0 ||
        mc_cert_file_fingerprint(g_cert, g_fp) < 0)
        return 2;
    unsigned count = (unsigned)strtoul(argv[5], NULL, 10);
    long pid = strtol(argv[6], NULL, 10);
    const char *wait_s = getenv("STORM_HELLO_S");
    if (wait_s && strtoul(wait_s, NULL, 10) > 0 && strtoul(wait_s, NULL, 10) <= 3600)
        g_hello_wait_ms = (unsigned)strtoul(wait_s, NULL, 10) * 1000u;
    if (count == 0 || count > MAX_CONNS)
        return 2;
    struct device *d = calloc(count, sizeof *d);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* wolfSSL keeps 1.35 MiB of ECC caches in thread-local storage (sp_cache_*), which
     * pthread takes out of the stack: give each thread room beyond it. */
    pthread_attr_setstacksize(&attr, 4u * 1024 * 1024);
    pthread_barrier_init(&g_phase_ready, NULL, count + 1);
    pthread_barrier_init(&g_phase_go, NULL, count + 1);
    for (unsigned i = 0; i < count; i++) {
        d[i].n = i;
        int e = pthread_create(&d[i].thread, &attr, storm_run, &d[i]);
        if (e != 0) {
            fprintf(stderr, "gateway_client: cannot start thread %u: %s\n", i, strerror(e));
            return 1;
        }
    }
    int bad = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/clear_refs", pid);
    pthread_barrier_wait(&g_phase_ready);
    for (int ph = 0; ph < PH_COUNT; ph++) {
        sleep(2);                   /* let the previous phase's closes and timers settle */
        FILE *f = fopen(path, "w"); /* "5": VmHWM := VmRSS */
        if (f) {
            fputs("5", f);
            fclose(f);
        }
        double cpu0 = proc_cpu(pid);
        g_phase_t0 = now_s();
        pthread_barrier_wait(&g_phase_go);
        /* Every device is through this phase when it waits for the next one. */
        if (ph + 1 < PH_COUNT)
            pthread_barrier_wait(&g_phase_ready);
        else
            for (unsigned i = 0; i < count; i++)
                pthread_join(d[i].thread, NULL);
        double cpu = proc_cpu(pid) - cpu0;
        long peak = status_kib(pid, "VmHWM");
        double *t = malloc(count * sizeof *t), last = 0;
        size_t ok = 0;
        unsigned busy = 0, busy_max = 0, dropped = 0, resumed = 0, by_ticket = 0;
        for (unsigned i = 0; i < count; i++) {
            if (d[i].done_at[ph] >= 0) {
                t[ok++] = d[i].done_at[ph] * 1000.0;
                if (d[i].done_at[ph] > last)
                    last = d[i].done_at[ph];
            }
            busy += d[i].busy[ph];
            busy_max = d[i].busy[ph] > busy_max ? d[i].busy[ph] : busy_max;
            dropped += d[i].dropped[ph];
            resumed += (unsigned)d[i].resumed[ph];
            by_ticket += (unsigned)d[i].by_ticket[ph];
        }
        qsort(t, ok, sizeof *t, cmp_double);
        printf("phase=%s n=%u ok=%zu seconds=%.2f p50_ms=%.1f p99_ms=%.1f busy=%u busy_max=%u "
               "dropped=%u resumed=%u by_ticket=%u server_cpu=%.2f server_peak_kib=%ld\n",
               phase_name[ph], count, ok, last, rank(t, ok, 0.5), rank(t, ok, 0.99), busy, busy_max,
               dropped, resumed, by_ticket, cpu, peak);
        fflush(stdout);
        free(t);
        bad |= ok != count;
    }
    for (unsigned i = 0; i < count; i++)
        mc_close(d[i].c);
    free(d);
    return bad;
}

/* -- main -------------------------------------------------------------------------- */

static int print_hash(const char *pwfile)
{
    char pw[256], hash[crypto_pwhash_STRBYTES];
    size_t len;
    if (sodium_init() < 0 || read_password(pwfile, pw, sizeof pw, &len) < 0)
        return 1;
    if (crypto_pwhash_str_alg(hash, pw, len, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return 1;
    printf("%s\n", hash);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    wolfSSL_Init();
    int rc = 2;
    if (argc == 3 && strcmp(argv[1], "hash") == 0)
        rc = print_hash(argv[2]);
    else if (argc > 1 && strcmp(argv[1], "hs") == 0)
        rc = cmd_hs(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "hold") == 0)
        rc = cmd_hold(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "echo") == 0)
        rc = cmd_echo(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "ping") == 0)
        rc = cmd_ping(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "storm") == 0)
        rc = cmd_storm(argc, argv);
    if (rc == 2)
        fprintf(stderr, "usage: see the comment at the top of bench/gateway_client.c\n");
    return rc;
}
