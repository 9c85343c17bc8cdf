/*
 * idle_client: hold many logged-in connections idle, for bench/idle_memory.sh.
 *
 *   idle_client hash PASSWORD_FILE
 *       print an Argon2id hash of the password with libsodium's smallest
 *       parameters (8 KiB, one pass): 10,000 logins then cost the server
 *       milliseconds instead of minutes. For benchmarks only.
 *   idle_client PID PORT CERT PASSWORD_FILE COUNT 12|13 SETTLE_S
 *       open COUNT connections with libmiscomm (TLS 1.2 or 1.3, the
 *       certificate's SHA-256 pinned), log each in with HELLO, wait
 *       SETTLE_S seconds and read the resident memory of process PID (the
 *       daemon) before the first connection and then; then send one PING
 *       on every connection, so that each takes its buffers back and
 *       answers after idling. Prints one line:
 *
 *   conns=N tls=1.3 base_kib=B held_kib=H per_conn_b=P pinged=M seconds=S
 *
 * per_conn_b is (H - B) * 1024 / N. A bench helper built by the script, not
 * part of the product.
 */
#include <sodium.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "miscomm/client.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* "VmRSS:  N kB" of /proc/PID/status, in KiB; -1 when unreadable. */
static long rss_kib(long pid)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static int read_password(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(out, (int)cap, f);
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int print_hash(const char *pwfile)
{
    char pw[256], hash[crypto_pwhash_STRBYTES];
    if (sodium_init() < 0 || read_password(pwfile, pw, sizeof pw) < 0)
        return 1;
    if (crypto_pwhash_str_alg(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_MIN,
                              crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return 1;
    printf("%s\n", hash);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: idle_client hash PASSWORD_FILE\n"
                    "       idle_client PID PORT CERT PASSWORD_FILE COUNT 12|13 SETTLE_S\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "hash") == 0)
        return print_hash(argv[2]);
    if (argc != 8)
        return usage();
    long pid = strtol(argv[1], NULL, 10);
    unsigned port = (unsigned)strtoul(argv[2], NULL, 10);
    size_t count = strtoul(argv[5], NULL, 10);
    int version = atoi(argv[6]);
    unsigned settle = (unsigned)strtoul(argv[7], NULL, 10);
    char fp[96], pw[256];
    if (pid <= 0 || port == 0 || count == 0 || (version != 12 && version != 13))
        return usage();
    if (mc_cert_file_fingerprint(argv[3], fp) < 0 || read_password(argv[4], pw, sizeof pw) < 0) {
        fprintf(stderr, "idle_client: cannot read %s or %s\n", argv[3], argv[4]);
        return 1;
    }
    /* One descriptor per connection, and a few more. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < count + 64) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    mc_client **cs = calloc(count, sizeof *cs);
    if (!cs)
        return 1;
    struct mc_client_options opt = {.host = "127.0.0.1",
                                    .port = port,
                                    .fingerprint = fp,
                                    .tls_version = version,
                                    .timeout_ms = 60000};
    struct mc_hello_params hp = {
        .client_name = "bench-idle", .password = pw, .password_len = strlen(pw)};
    long base = rss_kib(pid);
    double t0 = now_s();
    int rc = 0;
    size_t held = 0, pinged = 0;
    for (; held < count; held++) {
        char device[32];
        struct mc_session sess;
        snprintf(device, sizeof device, "idle-%zu", held);
        hp.device_id = device;
        if ((rc = mc_client_new(&cs[held], &opt)) < 0 || (rc = mc_connect(cs[held])) < 0 ||
            (rc = mc_hello(cs[held], &hp, &sess)) < 0) {
            fprintf(stderr, "idle_client: connection %zu: %s\n", held,
                    cs[held] ? mc_client_errmsg(cs[held]) : "out of memory");
            break;
        }
    }
    double t1 = now_s();
    sleep(settle);
    long after = rss_kib(pid);
    for (size_t i = 0; i < held; i++)
        pinged += mc_ping(cs[i], NULL, NULL) == 0;
    printf("conns=%zu tls=1.%d base_kib=%ld held_kib=%ld per_conn_b=%.0f pinged=%zu seconds=%.1f\n",
           held, version - 10, base, after,
           held ? (double)(after - base) * 1024.0 / (double)held : 0.0, pinged, t1 - t0);
    for (size_t i = 0; i <= held && i < count; i++)
        mc_close(cs[i]);
    free(cs);
    return rc < 0 || pinged != count ? 1 : 0;
}
