/*
 * The log level is shared between threads: set on the loop thread, read
 * by the log macros on the worker pool. It must be an atomic (a plain enum
 * there is a data race, which a TSan build, -DMC_TSAN=ON, reports here).
 */
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
    return check_report("test_log");
}
