/* Windows build only (src/compat/win32): the ODBC headers of Windows expect <windows.h> first. */
#include <windows.h>
#include_next <sql.h>
