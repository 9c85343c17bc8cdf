#!/usr/bin/env bash
# Cross-build miscomm's dependencies for Windows (x86_64, mingw-w64) from
# their Debian source packages, as static libraries, into one prefix:
# build-windows/deps/prefix. Each is rebuilt only when its stamp is missing.
#
# The source packages are fetched the way scripts/build-wolfssl.sh fetches
# wolfSSL's: deb-src entries derived from the system's Debian entries, kept in
# the project's own apt directory; the system's apt configuration is never
# changed. ODBC needs nothing here: mingw-w64 ships the import library of
# Windows' own odbc32.dll.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build-windows/deps"
prefix="$deps/prefix"
host=x86_64-w64-mingw32
export CC=$host-gcc-posix AR=$host-gcc-ar-posix RANLIB=$host-gcc-ranlib-posix
jobs=${JOBS:-2}
mkdir -p "$prefix/lib" "$prefix/include"

# wolfSSL: the Linux build's flags (scripts/build-wolfssl.sh) without the
# x86_64 assembly files (--enable-aesni, --enable-intelasm, --enable-sp-asm):
# their .S files assume the System V calling convention, not Windows' x64
# one. --enable-sp keeps the C big-number code and its inline assembly
# (--disable-asm would leave sp_int.c without a 128-bit word type under
# mingw-w64, where long is 32 bits, and it does not compile).
wolfssl_flags=(--host=$host --enable-distro --enable-sp
    --enable-psk --enable-certgen --enable-keygen --enable-certext --enable-certreq
    --enable-pkcs12 --enable-crl --enable-session-ticket --enable-alpn --enable-sni
    --enable-tls13 --disable-nullcipher --disable-openssh --disable-mcast
    --disable-examples --disable-crypttests
    --enable-static --disable-shared)
wolfssl_defines=(-DWOLFSSL_MAX_SUITE_SZ=1024 -UHAVE_TRUNCATED_HMAC)

# iniparser is not among them: its source package cannot be fetched from the
# Debian mirror this project uses (404 for iniparser_4.1.orig.tar.gz), so the
# Windows build reads the configuration with src/common/ini_lite.c, which
# implements the part of iniparser's API that src/common/config.c calls.
sources=(libuv1 libsodium libzstd wolfssl sqlite3)

fetch() {
    local apt_dir="$deps/apt"
    mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    : > "$apt_dir/sources.list.d/miscomm-src.sources"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN{RS=""; ORS="\n\n"} /URIs:[^\n]*debian/ && /Types:[^\n]*deb/ {
                gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$apt_dir/sources.list.d/miscomm-src.sources"
    done
    : > "$apt_dir/miscomm-src.list"
    if [ -f /etc/apt/sources.list ]; then
        grep -E '^deb [^#]*debian' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$apt_dir/miscomm-src.list" || true
    fi
    local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/miscomm-src.list"
              -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
              -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
    rm -rf "$deps/src" && mkdir -p "$deps/src"
    echo "windows deps: fetching Debian source packages: $*"
    (cd "$deps/src" && apt-get "${apt_opts[@]}" update -q) || return 1
    local p dsc
    for p in "$@"; do
        # The newest version first; when a mirror lacks it (a security
        # update not mirrored yet), the release's own version.
        (cd "$deps/src" && apt-get "${apt_opts[@]}" source -q --download-only "$p") ||
            (cd "$deps/src" && apt-get "${apt_opts[@]}" source -q --download-only -t "$(. /etc/os-release && echo "$VERSION_CODENAME")" "$p") ||
            return 1
        dsc=$(ls -t "$deps/src/${p}"_*.dsc | head -n 1)
        [ -n "$dsc" ] || return 1
        (cd "$deps/src" && dpkg-source -x "$(basename "$dsc")" "$p") || return 1
        basename "$dsc" .dsc > "$deps/src/$p.version"
    done
}

build_libuv1() {
    cmake -S . -B out -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_C_COMPILER=$CC \
        -DCMAKE_RC_COMPILER=$host-windres -DCMAKE_BUILD_TYPE=Release \
        -DLIBUV_BUILD_SHARED=OFF -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF \
        -DCMAKE_INSTALL_PREFIX="$prefix"
    cmake --build out -j"$jobs"
    cmake --install out
}

build_libsodium() {
    [ -x ./configure ] || autoreconf -fi
    ./configure --host=$host --prefix="$prefix" --disable-shared --enable-static
    make -j"$jobs" && make install
}

build_libzstd() {
    make -C lib -j"$jobs" libzstd.a CC=$CC AR=$AR ZSTD_LEGACY_SUPPORT=0
    install -m 0644 lib/libzstd.a "$prefix/lib/"
    install -m 0644 lib/zstd.h lib/zstd_errors.h lib/zdict.h "$prefix/include/"
}

build_wolfssl() {
    [ -x ./configure ] || ./autogen.sh
    # ssl.c includes <Wincrypt.h>, as spelled on Windows' case-blind file
    # systems; mingw-w64 ships it as wincrypt.h.
    mkdir -p shim && echo '#include <wincrypt.h>' > shim/Wincrypt.h
    ./configure --prefix="$prefix" "${wolfssl_flags[@]}" CPPFLAGS="-I$PWD/shim" \
        CFLAGS="-O2 ${wolfssl_defines[*]}"
    make -j"$jobs" && make install
    install -m 0644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
    sed -i -e '/^#undef  HAVE_TRUNCATED_HMAC$/d' -e '/^#define HAVE_TRUNCATED_HMAC$/d' \
        "$prefix/include/wolfssl/options.h"
    ! grep -q '^#define HAVE_NULL_CIPHER' "$prefix/include/wolfssl/options.h"
}

build_sqlite3() {
    # Debian ships SQLite's full source tree: the amalgamation (sqlite3.c,
    # the same for every platform) is generated by a native configure, with
    # native build tools and tclsh, then compiled for Windows.
    mkdir -p out && cd out
    CC=gcc AR=ar RANLIB=ranlib ../configure --disable-tcl --disable-readline
    CC=gcc make -j"$jobs" sqlite3.c
    $CC -O2 -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION -c sqlite3.c -o sqlite3.o
    rm -f libsqlite3.a && $AR rcs libsqlite3.a sqlite3.o
    install -m 0644 libsqlite3.a "$prefix/lib/"
    install -m 0644 sqlite3.h "$prefix/include/"
}

stamp_for() {
    case "$1" in
        wolfssl) echo "flags=${wolfssl_flags[*]} defines=${wolfssl_defines[*]}" ;;
        *) echo "static $host" ;;
    esac
}

todo=()
for p in "${sources[@]}"; do
    if [ -f "$deps/stamps/$p" ] && grep -qxF "$(stamp_for "$p")" "$deps/stamps/$p"; then
        continue
    fi
    todo+=("$p")
done
[ ${#todo[@]} -eq 0 ] && exit 0

mkdir -p "$deps/stamps"
log="$deps/build.log"
: > "$log"
fetch "${todo[@]}" >> "$log" 2>&1 || { echo "windows deps: could not fetch the sources (see $log)" >&2; exit 1; }
for p in "${todo[@]}"; do
    echo "windows deps: building $(cat "$deps/src/$p.version") (log: $log)"
    # Not in an if: set -e must hold inside the subshell.
    set +e
    (set -e; cd "$deps/src/$p"; "build_$p") >> "$log" 2>&1
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        echo "windows deps: $p failed to build; the end of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    { stamp_for "$p"; echo "source=$(cat "$deps/src/$p.version")"; } > "$deps/stamps/$p"
done
rm -rf "$deps/src"
echo "windows deps: built into $prefix"
