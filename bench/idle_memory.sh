#!/usr/bin/env bash
# Benchmark: resident memory per idle, logged-in connection.
#
# For each count (default 1000 and 10000) a fresh miscommd is started, and
# bench/idle_client.c opens that many connections (TLS 1.3, and TLS 1.2 at
# the first count), logs each in with HELLO, waits a few seconds and reads
# the daemon's VmRSS; then it sends one PING on every connection, so each
# one is shown to work after idling. Prints one line per run:
#
#   conns=N tls=1.3 base_kib=B held_kib=H per_conn_b=P pinged=M seconds=S
#
# per_conn_b = (VmRSS with N connections - VmRSS before the first) / N,
# one-time costs (the session cache, the first handshake's tables)
# included, so smaller counts read a little higher. The password's hash
# uses libsodium's smallest Argon2id parameters (idle_client hash): the
# logins cost milliseconds, not the 64 MiB and tens of milliseconds each of
# the shipped parameters, and leave no Argon2 memory behind to measure.
# Run by hand:
#   bash bench/idle_memory.sh [COUNT...]          (default 1000 10000)
# Needs a built tree (miscommd, misctl, libmiscomm.a, libmc_common.a and
# wolfSSL under build/deps; MISCOMM_BUILD and MC_WOLFSSL_DIR point
# elsewhere) and a descriptor limit above the largest count (ulimit -n).
# Traffic stays on 127.0.0.1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-$build/deps/wolfssl}
settle=3

work=$(mktemp -d /tmp/miscomm-idle-XXXXXX)
mc_pid=
cleanup() {
    [ -z "$mc_pid" ] || kill "$mc_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in "${counts[@]}"; do
    if [ "$n" -gt "$(( $(ulimit -Hn) - 64 ))" ]; then
        echo "bench: $n connections need more descriptors than ulimit -Hn ($(ulimit -Hn))" >&2
        exit 1
    fi
done
ulimit -n "$(ulimit -Hn)"

# The helper, built here with the project's warnings (bench/README.md).
cflags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
        -Wmissing-prototypes -Wpointer-arith -Wvla -fno-common -Wconversion -Werror)
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/idle_client" \
    "$top/bench/idle_client.c" "$build/libmiscomm.a" "$build/libmc_common.a" \
    "$wolfssl/lib/libwolfssl.a" -lsodium -liniparser -lzstd -lm -lpthread

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

mkdir -p "$work/certs"
echo "bench-password-$$" > "$work/pw"
hash=$("$work/idle_client" hash "$work/pw")

# One run: a fresh gateway, COUNT connections of TLS VERSION (12 or 13).
run() {
    local count=$1 version=$2 port
    port=$(free_port)
    cat > "$work/miscomm.ini" <<INI
[server]
log_level = warn
data_dir = data
max_connections = $(( count + 100 ))
max_connections_per_ip = $(( count + 100 ))
handshake_timeout = 60
[tls]
certificate = certs/miscomm.crt
key = certs/miscomm.key
[connection bench]
bind = 127.0.0.1
port = $port
password = $hash
ping = on
timeout = 0
INI
    "$build/miscommd" -c "$work/miscomm.ini" 2>> "$work/miscommd.log" &
    mc_pid=$!
    for _ in $(seq 100); do listening "$port" && break; sleep 0.1; done
    listening "$port" || { echo "bench: miscommd is not listening" >&2; exit 1; }
    sleep 1
    "$work/idle_client" "$mc_pid" "$port" "$work/certs/miscomm.crt" "$work/pw" "$count" \
        "$version" "$settle" || echo "bench: not every connection was held and answered" >&2
    kill "$mc_pid"
    wait "$mc_pid" || true
    mc_pid=
}

echo "miscommd: $("$build/miscommd" --version 2>&1 | head -n 1)"
echo "wolfSSL: $(sed -n 's/^flags=//p;s/^defines=//p' "$wolfssl/BUILD-INFO" 2>/dev/null | tr '\n' ' ')"
first=1
for n in "${counts[@]}"; do
    run "$n" 13
    if [ "$first" = 1 ]; then
        run "$n" 12
        first=0
    fi
done
