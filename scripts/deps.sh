#!/usr/bin/env bash
# Install the Debian packages miscomm needs to build, run and test, if any
# is missing. Non-interactive; safe to run again (it does nothing when all
# packages are present).
set -euo pipefail

PACKAGES=(
    cmake make pkg-config clang libclang-rt-14-dev
    libuv1-dev libsodium-dev libiniparser-dev libwolfssl-dev
    unixodbc unixodbc-dev odbcinst libsqliteodbc sqlite3
    libzstd-dev zstd
    openssl python3 procps
    dpkg-dev autoconf automake libtool
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
