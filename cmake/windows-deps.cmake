# Dependencies of the Windows build, under the names the Linux build gets
# from pkg-config, so that the targets below them read the same on both.
# scripts/build-windows-deps.sh builds the static libraries into MC_WINDEPS
# from Debian's source packages; ODBC is Windows' own odbc32.dll, whose import
# library mingw-w64 ships.
set(MC_WINDEPS "${CMAKE_SOURCE_DIR}/build-windows/deps/prefix" CACHE PATH
    "Static Windows dependencies (scripts/build-windows-deps.sh)")
if(NOT EXISTS "${MC_WINDEPS}/lib/libwolfssl.a")
  message(FATAL_ERROR "${MC_WINDEPS} has no libwolfssl.a: run scripts/build-windows-deps.sh (make windows does)")
endif()

function(mc_windep name lib)
  add_library(PkgConfig::${name} STATIC IMPORTED GLOBAL)
  set_target_properties(PkgConfig::${name} PROPERTIES
    IMPORTED_LOCATION "${MC_WINDEPS}/lib/${lib}"
    INTERFACE_INCLUDE_DIRECTORIES "${MC_WINDEPS}/include"
    INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

# libuv's own list of system libraries (its CMakeLists.txt, WIN32).
mc_windep(UV libuv_a.a "psapi;user32;advapi32;iphlpapi;userenv;ws2_32;dbghelp;ole32;shell32")
mc_windep(SODIUM libsodium.a "advapi32")
target_compile_definitions(PkgConfig::SODIUM INTERFACE SODIUM_STATIC)
mc_windep(ZSTD libzstd.a "")
mc_windep(SQLITE3 libsqlite3.a "")
add_library(PkgConfig::ODBC INTERFACE IMPORTED GLOBAL)
set_target_properties(PkgConfig::ODBC PROPERTIES INTERFACE_LINK_LIBRARIES "odbc32")
add_library(PkgConfig::ODBCINST INTERFACE IMPORTED GLOBAL)
set_target_properties(PkgConfig::ODBCINST PROPERTIES INTERFACE_LINK_LIBRARIES "odbccp32")

add_library(wolfssl STATIC IMPORTED)
set_target_properties(wolfssl PROPERTIES
  IMPORTED_LOCATION "${MC_WINDEPS}/lib/libwolfssl.a"
  INTERFACE_INCLUDE_DIRECTORIES "${MC_WINDEPS}/include"
  INTERFACE_LINK_LIBRARIES "ws2_32;crypt32;advapi32")
set(MC_WOLFSSL_BUILD "static build from Debian source for Windows (no assembly)")
set(MC_WOLFSSL_LOCAL ON)

# 64-bit off_t (files over 2 GiB); Windows 7 and later (WSAPoll, GetTickCount64); ANSI stdio so that %zu, %lld
# and friends format as C99 says; POSIX spellings the sources use
# (src/compat/win32: <poll.h>, <sys/socket.h> and the like on Winsock).
add_compile_definitions(_WIN32_WINNT=0x0601 WIN32_LEAN_AND_MEAN __USE_MINGW_ANSI_STDIO=1
                        _FILE_OFFSET_BITS=64)
include_directories(BEFORE SYSTEM "${CMAKE_SOURCE_DIR}/src/compat/win32")
add_compile_options("SHELL:-include ${CMAKE_SOURCE_DIR}/src/compat/win32/mc_posix.h")
# gcc's own warnings that clang (the Linux build) does not have: array
# parameters declared with a size in one place and as a pointer in another,
# and strftime's %y (used on purpose for UTCTime's two-digit year).
# Fall-through comments that clang accepts and gcc's pattern does not; and
# format checks, which gcc does against the Microsoft runtime's printf for
# the project's own printf-like functions (no %zu), though the ANSI stdio
# below is what runs: the Linux build checks every format.
# gcc also warns on an ignored warn_unused_result even through a (void) cast,
# which the sources use where a failure is handled elsewhere.
add_compile_options(-Wno-array-parameter -Wno-format-y2k -Wno-implicit-fallthrough -Wno-format
                    -Wno-unused-result -Wno-maybe-uninitialized)
# Self-contained executables: no libgcc or winpthread DLL beside them.
add_link_options(-static)
