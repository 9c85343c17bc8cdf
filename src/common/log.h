/*
 * Logging: one event per line, "TIMESTAMP LEVEL event=NAME key=value ...".
 * The macros test the level before formatting anything. Secrets never go
 * through here.
 *
 * When stderr is the systemd journal (JOURNAL_STREAM names it), a line to
 * stderr is "<N>LEVEL event=NAME ..." instead: N is the syslog priority
 * the journal files it under, and the journal adds the time itself.
 *
 * Writing is buffered once the daemon's loop runs (log_buffer_start):
 * lines the loop thread logs are written together by log_flush(), which
 * the loop calls before it waits, and at log_close() and exit; lines from
 * other threads and ERROR lines are written at once, with whatever the
 * buffer held before them, so order is kept (log.c).
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdatomic.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum log_target { LOG_TO_STDERR = 0, LOG_TO_FILE, LOG_TO_SYSLOG };

/*
 * The level is set on the loop thread (log_open(), a reload) and read on
 * every thread, the worker pool included: an atomic, read relaxed (a thread
 * may log at the previous level for a moment, nothing more). Read it with
 * log_level_get(), set it with log_set_level().
 */
extern _Atomic(enum log_level) log_current_level;

static inline enum log_level log_level_get(void)
{
    return atomic_load_explicit(&log_current_level, memory_order_relaxed);
}
void log_set_level(enum log_level level);

/* Open the target; path is used for LOG_TO_FILE. Returns 0 or MC_ERR_IO. */
__attribute__((warn_unused_result)) int log_open(enum log_target target, const char *path,
                                                 enum log_level level);
/* Flushes what is buffered. */
void log_close(void);
/* From now on, lines the calling thread (the loop thread) logs are buffered until log_flush(). */
void log_buffer_start(void);
/* Write out the buffered lines, in order. Any thread. */
void log_flush(void);
/*
 * Copy n bytes of untrusted text (a client name, a device id) into dst for
 * a log line: valid UTF-8 is kept; C0 controls, DEL, '"', '\\' and bytes
 * that are not valid UTF-8 become \xHH. Always NUL-terminates; stops at a
 * whole character when dst is full. Returns the length written.
 */
size_t log_escape(char *dst, size_t cap, const char *src, size_t n);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT_(lvl, ...)                                                                          \
    do {                                                                                           \
        if ((lvl) <= log_level_get())                                                              \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)

#define log_error(...) LOG_AT_(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT_(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT_(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT_(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
