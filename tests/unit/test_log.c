/*
 * The log level is shared between threads: set on the loop thread, read
 * by the log macros on the worker pool. It must be an atomic (a plain enum
 * there is a data race, which a TSan build, -DMC_TSAN=ON, reports here).
 */
#include <string.h>
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "log.h"

static void *reader(void *arg)
{
    (void)arg;
    unsigned seen = 0;
    for (int i = 0; i < 200000; i++)
        seen |= 1u << log_level_get();
    return (void *)(uintptr_t)seen;
}

int main(void)
{
    /* Fails to be true while log_current_level is a plain enum. */
    CHECK(_Generic(&log_current_level, _Atomic(enum log_level) * : 1, default : 0));

    pthread_t t;
    CHECK_EQ_INT(pthread_create(&t, NULL, reader, NULL), 0);
    for (int i = 0; i < 200000; i++)
        log_set_level(i % 2 ? LOG_LVL_DEBUG : LOG_LVL_WARN);
    void *seen;
    pthread_join(t, &seen);
    CHECK(((uintptr_t)seen &
           ~((1u << LOG_LVL_DEBUG) | (1u << LOG_LVL_WARN) | (1u << LOG_LVL_INFO))) == 0);
    log_set_level(LOG_LVL_ERROR);
    CHECK_EQ_INT(log_level_get(), LOG_LVL_ERROR);
    /* log_escape: valid UTF-8 kept; controls, DEL, quotes, C1, invalid bytes escaped. */
    char out[64];
    log_escape(out, sizeof out, "caf\xc3\xa9", 5);
    CHECK(strcmp(out, "caf\xc3\xa9") == 0);
    log_escape(out, sizeof out, "d\x7f\"\\\n", 5);
    CHECK(strcmp(out, "d\\x7f\\x22\\x5c\\x0a") == 0);
    log_escape(out, sizeof out, "\xc2\x9b[2J", 5); /* C1 CSI */
    CHECK(strcmp(out, "\\xc2\\x9b[2J") == 0);
    log_escape(out, sizeof out, "\xe2\x80\xa8", 3); /* U+2028 */
    CHECK(strcmp(out, "\\xe2\\x80\\xa8") == 0);
    log_escape(out, sizeof out, "\xff\xc3", 2); /* invalid, truncated */
    CHECK(strcmp(out, "\\xff\\xc3") == 0);
    /* A full buffer stops at a whole character, always terminated. */
    size_t n = log_escape(out, 6,
                          "ab\x01"
                          "cd",
                          5);
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(out, "ab") == 0);
    return check_report("test_log");
}
