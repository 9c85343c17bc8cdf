/*
 * Windows build only (src/compat/win32): mingw-w64 has no <threads.h>; the
 * one part of it the sources use, call_once, on winpthreads' pthread_once.
 */
#ifndef MC_COMPAT_THREADS_H
#define MC_COMPAT_THREADS_H
#include <pthread.h>

typedef pthread_once_t once_flag;
#define ONCE_FLAG_INIT PTHREAD_ONCE_INIT

static inline void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once(flag, fn);
}
#endif
