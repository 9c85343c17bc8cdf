/*
 * The few socket calls whose spelling differs between POSIX and Winsock, for
 * the client's blocking-with-deadline socket (src/client/client.c). A socket
 * is kept in an int on both: Winsock's SOCKET handles are small kernel handle
 * values, as libuv and others also assume.
 */
#ifndef MC_SOCK_H
#define MC_SOCK_H

#include <errno.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>

/* Winsock must be started once per process before its first call. */
int sock_startup(void);

/* The last socket error as the errno value a POSIX call would have set. */
static inline int sock_errno(void)
{
    switch (WSAGetLastError()) {
    case WSAEWOULDBLOCK:
        return EWOULDBLOCK;
    case WSAEINPROGRESS:
        return EINPROGRESS;
    case WSAEINTR:
        return EINTR;
    case WSAECONNRESET:
    case WSAECONNABORTED:
        return ECONNRESET;
    case WSAECONNREFUSED:
        return ECONNREFUSED;
    case WSAETIMEDOUT:
        return ETIMEDOUT;
    case WSAENETUNREACH:
        return ENETUNREACH;
    case WSAEHOSTUNREACH:
        return EHOSTUNREACH;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    default:
        return EIO;
    }
}

/* Non-blocking, and not inherited by child processes. */
static inline int sock_set_nonblock(int fd)
{
    u_long one = 1;
    if (ioctlsocket((SOCKET)fd, FIONBIO, &one) != 0) {
        errno = sock_errno();
        return -1;
    }
    (void)SetHandleInformation((HANDLE)(uintptr_t)fd, HANDLE_FLAG_INHERIT, 0);
    return 0;
}

static inline void sock_close(int fd)
{
    closesocket((SOCKET)fd);
}

/* connect() on a non-blocking socket reports "in progress" as WSAEWOULDBLOCK. */
#define SOCK_CONNECT_PENDING EWOULDBLOCK

#else
#include <fcntl.h>
#include <unistd.h>

static inline int sock_startup(void)
{
    return 0;
}

static inline int sock_errno(void)
{
    return errno;
}

static inline int sock_set_nonblock(int fd)
{
    /* Portable spelling (no SOCK_NONBLOCK/SOCK_CLOEXEC on Darwin). */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

static inline void sock_close(int fd)
{
    close(fd);
}

#define SOCK_CONNECT_PENDING EINPROGRESS
#endif

#endif
