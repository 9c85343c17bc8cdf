/*
 * Windows build only (src/compat/win32): poll() on sockets is WSAPoll, whose
 * struct pollfd and POLL* flags Winsock declares (Windows Vista and later).
 * Sockets only: WSAPoll knows nothing of other handles.
 */
#ifndef MC_COMPAT_POLL_H
#define MC_COMPAT_POLL_H
#include <winsock2.h>

typedef unsigned long nfds_t;

static inline int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    return WSAPoll(fds, n, timeout_ms);
}
#endif
