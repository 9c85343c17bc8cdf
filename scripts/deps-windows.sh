#!/usr/bin/env bash
# Install the Debian packages the Windows cross-build (make windows) and its
# Wine tests (make test-windows) need, if any is missing. Non-interactive;
# safe to run again.
set -euo pipefail

PACKAGES=(
    # The mingw-w64 cross compiler, with the POSIX thread model (winpthreads):
    # the ODBC pools and the log lock use pthreads.
    gcc-mingw-w64-x86-64-posix mingw-w64-x86-64-dev binutils-mingw-w64-x86-64
    # Building the dependencies from their Debian source packages
    # (scripts/build-windows-deps.sh): autotools for libsodium and wolfSSL,
    # cmake for libuv, tclsh for SQLite's amalgamation.
    cmake make autoconf automake libtool dpkg-dev tcl
    # The installer (packaging/windows/miscomm.nsi) and the tests under Wine.
    nsis wine wine64
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps-windows: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
