/*
 * The buffered log writer (src/common/log.c): once log_buffer_start() ran,
 * the loop thread's lines wait for log_flush(); a line from another thread
 * or an ERROR line writes everything buffered before it, in order; nothing
 * buffered is lost at log_close(). stderr is a file here that JOURNAL_STREAM
 * names, so every line must carry its journal priority prefix "<N>"; a log
 * file gets the time of the line instead (written by hand, not strftime).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static char path[] = "/tmp/mc-test-log-XXXXXX";

static size_t written(char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    out[n] = '\0';
    return n;
}

static void *worker(void *arg)
{
    (void)arg;
    log_info("event=from_worker");
    return NULL;
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        return 1;
    struct stat st;
    fstat(fd, &st);
    char env[64];
    snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    log_set_level(LOG_LVL_DEBUG);
    char out[8192];

    log_info("event=unbuffered");
    CHECK(written(out, sizeof out) > 0);
    CHECK(strcmp(out, "<6>INFO event=unbuffered\n") == 0);

    log_buffer_start();
    log_info("event=one");
    log_debug("event=two");
    CHECK(strstr(written(out, sizeof out) ? out : "", "event=one") == NULL);
    log_flush();
    written(out, sizeof out);
    CHECK_CONTAINS(out, "<6>INFO event=one\n<7>DEBUG event=two\n");

    /* A worker's line writes the loop's buffered lines first. */
    log_info("event=three");
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    written(out, sizeof out);
    CHECK_CONTAINS(out, "<6>INFO event=three\n<6>INFO event=from_worker\n");

    /* An ERROR line is written at once, after what came before it. */
    log_warn("event=four");
    log_error("event=five");
    written(out, sizeof out);
    CHECK_CONTAINS(out, "<4>WARN event=four\n<3>ERROR event=five\n");

    /* More than the buffer holds: nothing lost, in order. */
    for (int i = 0; i < 2000; i++)
        log_info("event=many i=%d pad=%0100d", i, 0);
    log_info("event=last_before_close");
    log_close();
    static char big[1 << 20];
    written(big, sizeof big);
    char *p = big;
    int order_ok = 1;
    for (int i = 0; i < 2000 && order_ok; i++) {
        char want[48];
        snprintf(want, sizeof want, "event=many i=%d ", i);
        char *q = strstr(p, want);
        order_ok = q != NULL;
        p = q ? q : p;
    }
    CHECK(order_ok);
    CHECK_CONTAINS(p, "<6>INFO event=last_before_close\n");
    unlink(path);

    /* A log file: "2026-01-01T00:00:00.123Z WARN ", the UTC time of the line. */
    char file[sizeof path] = "/tmp/mc-test-lgf-XXXXXX";
    int ffd = mkstemp(file);
    CHECK(ffd >= 0);
    close(ffd);
    memcpy(path, file, sizeof file); /* written() reads path */
    time_t t0 = time(NULL);
    CHECK(log_open(LOG_TO_FILE, file, LOG_LVL_INFO) == 0);
    log_warn("event=stamped n=%d", 7);
    log_close();
    time_t t1 = time(NULL);
    written(out, sizeof out);
    struct tm tm = {0};
    const char *rest = strptime(out, "%Y-%m-%dT%H:%M:%S", &tm);
    CHECK(rest != NULL);
    if (rest) {
        time_t stamp = timegm(&tm);
        CHECK(stamp >= t0 && stamp <= t1);
        CHECK(rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' && rest[2] >= '0' &&
              rest[2] <= '9' && rest[3] >= '0' && rest[3] <= '9');
        CHECK(strcmp(rest + 4, "Z WARN event=stamped n=7\n") == 0);
    }
    unlink(file);
    return check_report("test_log_buffer");
}
