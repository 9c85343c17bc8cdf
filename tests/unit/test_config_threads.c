/*
 * config_load() is reentrant: a reload runs it on the worker pool while
 * another load (misctl, a second reload) may run elsewhere. Two threads load
 * different files at once, many times, and each must get exactly its own
 * result: with the former static buffers, one load saw the other's section
 * and key names as duplicates, and parse errors went to the wrong load.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "miscomm/error.h"

#define HASH                                                                                       \
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$w2zFL1NN2cZq4f2gH3j8xM1TJRy5cEhUQw/"    \
    "tgS7+0bM"
#define NSECTIONS 400
#define ROUNDS    30

static char dir[] = "/tmp/mc-test-config-threads-XXXXXX";

struct job {
    char path[256];
    int expect_rc;
    const char *expect_error; /* the one error expected, or NULL */
    size_t expect_conns;
    int failures;
    char last[1024];
};

static void on_error(void *ud, const char *section, const char *key, const char *reason)
{
    struct job *j = ud;
    size_t n = strlen(j->last);
    snprintf(j->last + n, sizeof j->last - n, "[%s] %s: %s\n", section, key, reason);
}

static void *run(void *arg)
{
    struct job *j = arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct mc_config cfg;
        j->last[0] = 0;
        int rc = config_load(j->path, &cfg, on_error, j);
        int ok = rc == j->expect_rc;
        if (rc == 0) {
            ok = ok && cfg.nconns == j->expect_conns && j->last[0] == 0;
            config_free(&cfg);
        } else {
            ok = ok && j->expect_error && strstr(j->last, j->expect_error) &&
                 strchr(j->last, '\n') == j->last + strlen(j->last) - 1;
        }
        if (!ok) {
            j->failures++;
            fprintf(stderr, "%s round %d: rc=%d, errors:\n%s", j->path, i, rc, j->last);
        }
    }
    return NULL;
}

/* NSECTIONS connections with the same names, in forward or reverse order,
 * their keys in one order or the other. */
static void write_sections(const char *path, int reverse)
{
    FILE *f = fopen(path, "w");
    for (int n = 0; n < NSECTIONS; n++) {
        int i = reverse ? NSECTIONS - 1 - n : n;
        if (reverse)
            fprintf(f, "[connection c%d]\nport = %d\npassword = " HASH "\n", i, 10000 + i);
        else
            fprintf(f, "[connection c%d]\npassword = " HASH "\nport = %d\n", i, 10000 + i);
    }
    fclose(f);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct job jobs[4] = {
        {.expect_rc = 0, .expect_conns = NSECTIONS},
        {.expect_rc = 0, .expect_conns = NSECTIONS},
        {.expect_rc = MC_ERR_CONFIG, .expect_error = "cannot parse"},
        {.expect_rc = MC_ERR_CONFIG, .expect_error = "cannot parse"},
    };
    for (size_t i = 0; i < 4; i++)
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/j%zu.ini", dir, i);
    write_sections(jobs[0].path, 0);
    write_sections(jobs[1].path, 1);
    /* Two different syntax errors: each load must report its own file and line. */
    write_text(jobs[2].path, "[connection a]\npassword = " HASH "\nthis line is not ini\n");
    write_text(jobs[3].path, "[connection b]\npassword = " HASH "\n\n\n\nneither is this\n");
    jobs[2].expect_error = "j2.ini (3)";
    jobs[3].expect_error = "j3.ini (6)";

    pthread_t t[4];
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, run, &jobs[i]), 0);
    for (size_t i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(jobs[i].failures, 0);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return check_report("test_config_threads");
}
