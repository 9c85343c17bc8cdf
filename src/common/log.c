#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#ifdef _WIN32
/* The "syslog" target is the Windows Event Log, under the source "miscomm". */
#include <windows.h>
enum { LOG_ERR = 3, LOG_WARNING = 4, LOG_INFO = 6, LOG_DEBUG = 7 };
static HANDLE event_source;
#else
#include <syslog.h>
#endif
#include <time.h>
#include <unistd.h>

#include "miscomm/error.h"

_Atomic(enum log_level) log_current_level = LOG_LVL_INFO;
static enum log_target log_target_kind = LOG_TO_STDERR;
static FILE *log_file;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/*
 * Lines go through one buffer, in the order they were logged, under one
 * mutex (the worker pool logs too):
 *
 *   log_buf: [ complete lines not yet written | free                    ]
 *            0                                log_buf_len     LOG_BUF_SIZE
 *
 * Until log_buffer_start() every line is written at once (the tools, the
 * daemon's start-up). After it, lines the loop thread logs wait in the
 * buffer until log_flush(), which the daemon calls before its loop waits
 * (a prepare handle) and at exit, so a burst of requests costs one write
 * per loop turn instead of one per line. A line from another thread, an
 * ERROR line, or a full buffer writes everything at once, so a worker's
 * line never waits for the loop and order is kept. syslog has its own
 * buffering and is not buffered here.
 */
#define LOG_BUF_SIZE  (64u * 1024u)
#define LOG_LINE_SIZE 2200u /* a message of up to 2047 bytes, its prefix and '\n' */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[LOG_BUF_SIZE];
static size_t log_buf_len;
static int log_buffered;
static pthread_t log_loop_thread;
/* The formatted date and time of the last line's second (most lines share it). */
static time_t log_ts_sec = (time_t)-1;
static char log_ts_text[32];
static size_t log_ts_len;

/*
 * Under systemd, stderr is usually a stream into the journal, which stamps
 * every line itself and takes its priority from a "<N>" prefix
 * (sd-daemon(3)). JOURNAL_STREAM holds that stream's "DEVICE:INODE"
 * (systemd.exec(5)), so that a process can tell whether its stderr is still
 * the journal and not, say, redirected to a file by whoever started it.
 */
static int stderr_journal;
static pthread_once_t stderr_journal_once = PTHREAD_ONCE_INIT;

static void stderr_journal_detect(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    struct stat st;
    if (!env || fstat(STDERR_FILENO, &st) != 0)
        return;
    char *end;
    unsigned long long dev = strtoull(env, &end, 10);
    if (end == env || *end != ':')
        return;
    const char *ino_text = end + 1;
    unsigned long long ino = strtoull(ino_text, &end, 10);
    if (end == ino_text || *end != '\0')
        return;
    stderr_journal = dev == (unsigned long long)st.st_dev && ino == (unsigned long long)st.st_ino;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_current_level, level, memory_order_relaxed);
}

/* Write the buffer out (log_mu held). A failed write drops it: there is nowhere to say so. */
static void log_flush_locked(void)
{
    int fd = log_file ? fileno(log_file) : STDERR_FILENO;
    size_t off = 0;
    while (off < log_buf_len) {
        ssize_t n = write(fd, log_buf + off, log_buf_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    log_buf_len = 0;
}

void log_flush(void)
{
    pthread_mutex_lock(&log_mu);
    log_flush_locked();
    pthread_mutex_unlock(&log_mu);
}

static void log_flush_at_exit(void)
{
    log_flush();
}

static void log_register_exit(void)
{
    atexit(log_flush_at_exit); /* exit() from anywhere still writes what is buffered */
}

void log_buffer_start(void)
{
    static pthread_once_t at_exit_once = PTHREAD_ONCE_INIT;
    pthread_once(&at_exit_once, log_register_exit);
    pthread_mutex_lock(&log_mu);
    log_loop_thread = pthread_self();
    log_buffered = 1;
    pthread_mutex_unlock(&log_mu);
}

int log_open(enum log_target target, const char *path, enum log_level level)
{
    log_set_level(level);
    log_flush(); /* what was logged before goes where it was meant to */
    log_target_kind = target;
    if (target == LOG_TO_FILE) {
        FILE *f = fopen(path, "a");
        if (!f)
            return MC_ERR_IO;
        pthread_mutex_lock(&log_mu);
        log_file = f;
        pthread_mutex_unlock(&log_mu);
    } else if (target == LOG_TO_SYSLOG) {
#ifdef _WIN32
        event_source = RegisterEventSourceA(NULL, "miscomm");
        if (!event_source)
            return MC_ERR_IO;
#else
        openlog("miscommd", LOG_PID, LOG_DAEMON);
#endif
    }
    return 0;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    log_flush_locked();
    log_buffered = 0;
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    pthread_mutex_unlock(&log_mu);
    if (log_target_kind == LOG_TO_SYSLOG) {
#ifdef _WIN32
        DeregisterEventSource(event_source);
        event_source = NULL;
#else
        closelog();
#endif
    }
    log_target_kind = LOG_TO_STDERR;
}

/*
 * The line's prefix, "2026-01-01T00:00:00.123Z INFO " (or "<6>INFO " for the
 * journal), into out (log_mu held). It is written by hand: the date and
 * time are formatted once a second (most lines share their second), and two
 * snprintf() calls per line cost more than the rest of the prefix together.
 */
static size_t log_prefix(char *out, enum log_level level, int journal)
{
    char *p = out;
    if (journal) {
        *p++ = '<';
        *p++ = (char)('0' + level_prio[level]); /* syslog priorities are one digit */
        *p++ = '>';
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        if (tv.tv_sec != log_ts_sec) {
            struct tm tm;
            time_t sec = (time_t)tv.tv_sec; /* a long, not a time_t, on Windows */
            gmtime_r(&sec, &tm);
            log_ts_len = strftime(log_ts_text, sizeof log_ts_text, "%Y-%m-%dT%H:%M:%S", &tm);
            log_ts_sec = tv.tv_sec;
        }
        unsigned ms = (unsigned)(tv.tv_usec / 1000);
        memcpy(p, log_ts_text, log_ts_len);
        p += log_ts_len;
        *p++ = '.';
        *p++ = (char)('0' + ms / 100);
        *p++ = (char)('0' + ms / 10 % 10);
        *p++ = (char)('0' + ms % 10);
        *p++ = 'Z';
        *p++ = ' ';
    }
    size_t n = strlen(level_names[level]);
    memcpy(p, level_names[level], n);
    p += n;
    *p++ = ' ';
    return (size_t)(p - out);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_SIZE];
    va_list ap;
    if (log_target_kind == LOG_TO_SYSLOG) {
        va_start(ap, fmt);
        vsnprintf(line, 2048, fmt, ap);
        va_end(ap);
#ifdef _WIN32
        /* Event ids are not registered in a message file: the viewer shows
         * the text as the event's insertion string. */
        WORD type = level == LOG_LVL_ERROR  ? EVENTLOG_ERROR_TYPE
                    : level == LOG_LVL_WARN ? EVENTLOG_WARNING_TYPE
                                            : EVENTLOG_INFORMATION_TYPE;
        const char *strs[1] = {line};
        ReportEventA(event_source, type, 0, (DWORD)level_prio[level], NULL, 1, 0, strs, NULL);
#else
        syslog(level_prio[level], "%s %s", level_names[level], line);
#endif
        return;
    }
    pthread_once(&stderr_journal_once, stderr_journal_detect);
    pthread_mutex_lock(&log_mu);
    /* The journal adds the time itself; its prefix gives the priority. */
    size_t n = log_prefix(line, level, !log_file && stderr_journal);
    /* The message: at most 2047 bytes, as before (the prefix is under 64). */
    va_start(ap, fmt);
    int m = vsnprintf(line + n, 2048, fmt, ap);
    va_end(ap);
    size_t len = n + (m < 0 ? 0 : (size_t)m < 2048 ? (size_t)m : 2047);
    line[len++] = '\n';
    if (log_buf_len + len > LOG_BUF_SIZE)
        log_flush_locked();
    memcpy(log_buf + log_buf_len, line, len);
    log_buf_len += len;
    if (!log_buffered || level == LOG_LVL_ERROR || !pthread_equal(pthread_self(), log_loop_thread))
        log_flush_locked();
    pthread_mutex_unlock(&log_mu);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        cp = p[0] & 0x1Fu;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        cp = p[0] & 0x0Fu;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF are invalid. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    /* Valid, but terminal or line controls: C1 (CSI is 0x9B) and the
     * Unicode line and paragraph separators are escaped too. */
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029)
        return 0;
    return len;
}

size_t log_escape(char *dst, size_t cap, const char *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t u = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
        if (u) {
            if (o + u >= cap)
                break;
            memcpy(dst + o, s + i, u);
            o += u;
            i += u;
            continue;
        }
        unsigned char ch = s[i];
        if (ch < 0x20 || ch == 0x7F || ch >= 0x80 || ch == '"' || ch == '\\') {
            if (o + 4 >= cap)
                break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
        } else {
            if (o + 1 >= cap)
                break;
            dst[o++] = (char)ch;
        }
        i++;
    }
    dst[o] = '\0';
    return o;
}
