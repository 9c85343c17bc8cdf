#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>

#include "miscomm/error.h"

_Atomic(enum log_level) log_current_level = LOG_LVL_INFO;
static enum log_target log_target_kind = LOG_TO_STDERR;
static FILE *log_file;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_current_level, level, memory_order_relaxed);
}

int log_open(enum log_target target, const char *path, enum log_level level)
{
    log_set_level(level);
    log_target_kind = target;
    if (target == LOG_TO_FILE) {
        FILE *f = fopen(path, "a");
        if (!f)
            return MC_ERR_IO;
        setvbuf(f, NULL, _IOLBF, 0);
        log_file = f;
    } else if (target == LOG_TO_SYSLOG) {
        openlog("miscommd", LOG_PID, LOG_DAEMON);
    }
    return 0;
}

void log_close(void)
{
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    if (log_target_kind == LOG_TO_SYSLOG)
        closelog();
    log_target_kind = LOG_TO_STDERR;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (log_target_kind == LOG_TO_SYSLOG) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s %s", level_names[level], msg);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    FILE *out = log_file ? log_file : stderr;
    fprintf(out, "%s.%03dZ %s %s\n", ts, (int)(tv.tv_usec / 1000), level_names[level], msg);
    fflush(out);
}
