#!/usr/bin/env bash
# Install the Debian packages miscomm needs to build, run and test, if any
# is missing. Non-interactive; safe to run again (it does nothing when all
# packages are present).
set -euo pipefail

PACKAGES=(
    cmake make pkg-config clang libclang-rt-14-dev
    libuv1-dev libsodium-dev libiniparser-dev libwolfssl-dev
    unixodbc unixodbc-dev odbcinst libsqliteodbc sqlite3
    # The PostgreSQL demo (scripts/pg-demo.sh, tests/integration/test_demo_db.py):
    # server, psql and the ODBC driver. postgresql-15 rather than the
    # "postgresql" metapackage because pg-demo.sh runs /usr/lib/postgresql/15/bin
    # (on bookworm the metapackage is only a dependency on postgresql-15; on a
    # later release it would bring another major version). Neither avoids
    # Debian's default cluster: postgresql-15's postinst creates 15/main
    # (port 5432, started where a service manager lets it) unless
    # /etc/postgresql-common/createcluster.conf says create_main_cluster =
    # false, and this script does not edit /etc. That cluster is harmless:
    # the demo runs its own on another port and never uses it.
    postgresql-15 postgresql-client-15 odbc-postgresql
    libzstd-dev zstd
    # libmiscomm's offline store for intervention sync (src/client/sync_store.c).
    libsqlite3-dev
    # sd_notify() for the systemd unit (Type=notify, watchdog); the build
    # falls back to a stub without it.
    libsystemd-dev
    # systemd-analyze, with which tests check the unit file (verify, security).
    systemd
    openssl python3 procps
    # Third-party TLS clients the conformance tests use (tests/integration/
    # test_tls_conformance.py): gnutls-cli, and nmap's ssl-enum-ciphers script.
    gnutls-bin nmap
    dpkg-dev autoconf automake libtool
    # The Debian packages (make deb, tests/packaging/test_deb.py): man pages
    # from scdoc sources, lintian to check the .deb files, adduser for the
    # package's postinst, file for CPack's dependency scan (which runs
    # dpkg-shlibdeps, from dpkg-dev above).
    scdoc lintian adduser file
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
