/*
 * stream_client: one connection streaming COUNT bytes, for bench/streams.sh.
 *
 *   stream_client miscomm PORT CERT PASSWORD_FILE down|up COUNT
 *       libmiscomm against miscommd's ECHO: down = mode SOURCE (the server
 *       sends), up = mode SINK (the client sends); the certificate's
 *       SHA-256 is pinned.
 *   stream_client tls PORT down|up COUNT
 *       a plain wolfSSL TLS 1.3 client against HAProxy in front of
 *       bench/raw_sink.c, which speaks the same two modes.
 *
 * Both use TLS 1.3 with TLS13-AES256-GCM-SHA384 and the same wolfSSL. The
 * clock starts after the TLS handshake (and HELLO) and stops when the
 * server has confirmed the last byte (ECHO_OK, or raw_sink's count for
 * uploads; the last byte itself for downloads). Prints one line:
 *
 *   bytes=N seconds=S mib_s=R cipher=C
 *
 * With --watch PID (first argument), the resident memory of that process
 * (the daemon) is watched while the clock runs: its VmRSS when the stream
 * starts, after the login, whose Argon2id hash briefly takes 64 MiB, and
 * its peak during the stream (VmRSS sampled every 20 ms by a thread, and
 * VmHWM after resetting it through /proc/PID/clear_refs), added to the line
 * as rss_start=KiB rss_peak=KiB, and the CPU time that process (all its
 * threads) and this client spent meanwhile, as server_cpu=S client_cpu=S:
 * on a small machine client and server share the cores, so these say more
 * about the server than MiB/s alone.
 *
 * A bench helper built by the script, not part of the product.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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

#define CHUNK   (256u * 1024u)       /* bytes per write call, both clients */
#define WINDOW  (8u * 1024u * 1024u) /* download credit the miscomm client keeps open */
#define PATTERN 251u

static uint8_t pattern[CHUNK + PATTERN];

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* -- the daemon's memory ----------------------------------------------------------- */

struct watch {
    long pid; /* 0: not watching */
    pthread_t thread;
    atomic_int stop;
    int running;
    long start_kib, peak_kib;
    double cpu_start, cpu;               /* the process's utime + stime, seconds */
    double client_cpu_start, client_cpu; /* ours */
};

static struct watch watch;

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

/* utime + stime of all the process's threads (/proc/PID/stat fields 14, 15). */
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

static double self_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void *watch_loop(void *arg)
{
    struct watch *w = arg;
    const struct timespec tick = {0, 20 * 1000 * 1000};
    while (!atomic_load(&w->stop)) {
        long v = status_kib(w->pid, "VmRSS");
        if (v > w->peak_kib)
            w->peak_kib = v;
        nanosleep(&tick, NULL);
    }
    return NULL;
}

/* Called just before the clock starts. */
static void watch_start(void)
{
    if (!watch.pid)
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/clear_refs", watch.pid);
    FILE *f = fopen(path, "w"); /* "5": VmHWM := VmRSS (Linux 4.0); ours, so allowed */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    watch.start_kib = watch.peak_kib = status_kib(watch.pid, "VmRSS");
    watch.cpu_start = proc_cpu(watch.pid);
    watch.client_cpu_start = self_cpu();
    atomic_store(&watch.stop, 0);
    if (pthread_create(&watch.thread, NULL, watch_loop, &watch) != 0)
        watch.pid = 0;
    else
        watch.running = 1;
}

/* Called just after the clock stops, and again on the way out (then a no-op). */
static void watch_stop(void)
{
    if (!watch.running)
        return;
    watch.running = 0;
    atomic_store(&watch.stop, 1);
    watch.cpu = proc_cpu(watch.pid) - watch.cpu_start;
    watch.client_cpu = self_cpu() - watch.client_cpu_start;
    pthread_join(watch.thread, NULL);
    long hwm = status_kib(watch.pid, "VmHWM");
    if (hwm > watch.peak_kib)
        watch.peak_kib = hwm;
}

static void report(uint64_t bytes, double secs, const char *cipher)
{
    printf("bytes=%llu seconds=%.3f mib_s=%.1f cipher=%s", (unsigned long long)bytes, secs,
           (double)bytes / (1024.0 * 1024.0) / secs, cipher ? cipher : "?");
    if (watch.pid)
        printf(" rss_start=%ld rss_peak=%ld server_cpu=%.2f client_cpu=%.2f", watch.start_kib,
               watch.peak_kib, watch.cpu, watch.client_cpu);
    printf("\n");
}

/* -- miscomm ------------------------------------------------------------------ */

struct sink {
    uint64_t got;
    int bad; /* the first byte of a chunk was not the pattern's */
};

/* Counts bytes; checks one byte per chunk so the client stays cheap. */
static int on_data(void *ud, const uint8_t *data, size_t len, int end)
{
    struct sink *k = ud;
    (void)end;
    if (len && data[0] != (uint8_t)(k->got % PATTERN))
        k->bad = 1;
    k->got += len;
    return 0;
}

static int read_password(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)cap, f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int run_miscomm(unsigned port, const char *cert, const char *pwfile, int down,
                       uint64_t count)
{
    char fp[96], pw[256];
    if (mc_cert_file_fingerprint(cert, fp) < 0 || read_password(pwfile, pw, sizeof pw) < 0) {
        fprintf(stderr, "stream_client: cannot read %s or %s\n", cert, pwfile);
        return 1;
    }
    struct mc_client_options opt = {.host = "127.0.0.1",
                                    .port = port,
                                    .fingerprint = fp,
                                    .tls_version = 13,
                                    .timeout_ms = 60000};
    mc_client *c = NULL;
    mc_stream *s = NULL;
    struct mc_session sess;
    struct mc_hello_params hp = {
        .client_name = "bench-streams", .password = pw, .password_len = strlen(pw)};
    int rc = mc_client_new(&c, &opt);
    if (rc == 0)
        rc = mc_connect(c);
    if (rc == 0)
        rc = mc_hello(c, &hp, &sess);
    if (rc < 0)
        goto out;
    if (sess.version < MC_PROTO_STREAMS) {
        fprintf(stderr, "stream_client: the server speaks protocol %u, no streams\n", sess.version);
        rc = -1;
        goto out;
    }

    uint8_t req[9];
    req[0] = down ? MC_ECHO_SOURCE : MC_ECHO_SINK;
    put_u64(req + 1, down ? count : 0);
    struct mc_reply r;
    struct sink k = {0, 0};
    watch_start();
    double t0 = now_s();
    if ((rc = mc_stream_open(c, MC_MSG_ECHO, req, sizeof req, &s)) < 0)
        goto out;
    if (down) {
        /* More than the initial window in flight, so the server never waits for us. */
        if (WINDOW > sess.stream_window &&
            (rc = mc_stream_grant(s, WINDOW - sess.stream_window)) < 0)
            goto out;
        rc = mc_stream_finish(s, on_data, &k, &r);
    } else {
        for (uint64_t sent = 0; sent < count && rc == 0;) {
            size_t n = count - sent < CHUNK ? (size_t)(count - sent) : CHUNK;
            rc = mc_stream_write(s, pattern + sent % PATTERN, n, sent + n == count);
            sent += n;
        }
        if (rc == 0)
            rc = mc_stream_finish(s, NULL, NULL, &r);
    }
    double t1 = now_s();
    watch_stop();
    if (rc < 0)
        goto out;
    /* ECHO_OK: u64 received, u64 sent, as the server counted them. */
    uint64_t srv =
        r.type == MC_MSG_ECHO_OK && r.len >= 16 ? get_u64(r.payload + (down ? 8 : 0)) : 0;
    if (srv != count || (down && (k.got != count || k.bad))) {
        fprintf(stderr, "stream_client: expected %llu bytes; server counted %llu, client %llu%s\n",
                (unsigned long long)count, (unsigned long long)srv, (unsigned long long)k.got,
                k.bad ? " (pattern mismatch)" : "");
        rc = -1;
        goto out;
    }
    report(count, t1 - t0, mc_client_tls_cipher(c));
out:
    watch_stop();
    if (rc < 0 && c)
        fprintf(stderr, "stream_client: %s\n", mc_client_errmsg(c));
    mc_stream_free(s);
    mc_close(c);
    return rc < 0 ? 1 : 0;
}

/* -- plain TLS through HAProxy ---------------------------------------------------- */

static int tls_write_all(WOLFSSL *ssl, const uint8_t *p, size_t n)
{
    for (size_t off = 0; off < n;) {
        int w = wolfSSL_write(ssl, p + off, (int)(n - off));
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static int run_tls(unsigned port, int down, uint64_t count)
{
    static uint8_t buf[CHUNK];
    int rc = 1, fd = -1;
    WOLFSSL *ssl = NULL;
    wolfSSL_Init();
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (!ctx || wolfSSL_CTX_set_cipher_list(ctx, "TLS13-AES256-GCM-SHA384") != WOLFSSL_SUCCESS) {
        fprintf(stderr, "stream_client: wolfSSL context\n");
        goto out;
    }
    /* The bench trusts the loopback peer; miscomm's side pins its certificate. */
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("stream_client: connect");
        goto out;
    }
    if (!(ssl = wolfSSL_new(ctx)) || wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS ||
        wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
        fprintf(stderr, "stream_client: TLS handshake failed (%d)\n",
                ssl ? wolfSSL_get_error(ssl, 0) : 0);
        goto out;
    }

    uint8_t req[9];
    req[0] = down ? 1 : 2;
    put_u64(req + 1, count);
    uint64_t got = 0;
    int bad = 0;
    watch_start();
    double t0 = now_s();
    if (tls_write_all(ssl, req, sizeof req) < 0)
        goto io;
    if (down) {
        while (got < count) {
            int n = wolfSSL_read(ssl, buf, (int)sizeof buf);
            if (n <= 0)
                goto io;
            if (buf[0] != (uint8_t)(got % PATTERN))
                bad = 1;
            got += (uint64_t)n;
        }
    } else {
        for (uint64_t sent = 0; sent < count;) {
            size_t n = count - sent < CHUNK ? (size_t)(count - sent) : CHUNK;
            if (tls_write_all(ssl, pattern + sent % PATTERN, n) < 0)
                goto io;
            sent += n;
        }
        uint8_t ack[8];
        for (size_t off = 0; off < sizeof ack;) {
            int n = wolfSSL_read(ssl, ack + off, (int)(sizeof ack - off));
            if (n <= 0)
                goto io;
            off += (size_t)n;
        }
        got = get_u64(ack);
    }
    double t1 = now_s();
    watch_stop();
    if (got != count || bad) {
        fprintf(stderr, "stream_client: expected %llu bytes, got %llu%s\n",
                (unsigned long long)count, (unsigned long long)got,
                bad ? " (pattern mismatch)" : "");
        goto out;
    }
    report(count, t1 - t0, wolfSSL_get_cipher(ssl));
    rc = 0;
    goto out;
io:
    fprintf(stderr, "stream_client: TLS I/O failed after %llu bytes (%d)\n",
            (unsigned long long)got, wolfSSL_get_error(ssl, 0));
out:
    watch_stop();
    if (ssl) {
        wolfSSL_shutdown(ssl);
        wolfSSL_free(ssl);
    }
    if (fd >= 0)
        close(fd);
    if (ctx)
        wolfSSL_CTX_free(ctx);
    wolfSSL_Cleanup();
    return rc;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: stream_client [--watch PID] miscomm PORT CERT PASSWORD_FILE down|up COUNT\n"
            "       stream_client [--watch PID] tls PORT down|up COUNT\n");
    return 2;
}

int main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i % PATTERN);
    if (argc > 2 && strcmp(argv[1], "--watch") == 0) {
        watch.pid = strtol(argv[2], NULL, 10);
        argc -= 2;
        argv += 2;
    }
    int mc = argc == 7 && strcmp(argv[1], "miscomm") == 0;
    int tls = argc == 5 && strcmp(argv[1], "tls") == 0;
    if (!mc && !tls)
        return usage();
    const char *dir = argv[mc ? 5 : 3];
    if (strcmp(dir, "down") != 0 && strcmp(dir, "up") != 0)
        return usage();
    unsigned port = (unsigned)strtoul(argv[2], NULL, 10);
    uint64_t count = strtoull(argv[mc ? 6 : 4], NULL, 10);
    int down = strcmp(dir, "down") == 0;
    return mc ? run_miscomm(port, argv[3], argv[4], down, count) : run_tls(port, down, count);
}
