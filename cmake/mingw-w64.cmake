# Cross-compiling for 64-bit Windows with Debian's mingw-w64 (make windows).
# The POSIX thread model: winpthreads backs the project's pthread calls.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(MC_MINGW x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${MC_MINGW}-gcc-posix)
set(CMAKE_RC_COMPILER ${MC_MINGW}-windres)
set(CMAKE_AR ${MC_MINGW}-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB ${MC_MINGW}-gcc-ranlib-posix CACHE FILEPATH "")
set(CMAKE_FIND_ROOT_PATH /usr/${MC_MINGW})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
