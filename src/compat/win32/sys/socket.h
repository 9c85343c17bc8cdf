/* Windows build only (src/compat/win32): the POSIX socket header's names come from Winsock. */
#ifndef MC_COMPAT_SYS_SOCKET_H
#define MC_COMPAT_SYS_SOCKET_H
#include <winsock2.h>
#include <ws2tcpip.h>
#endif
