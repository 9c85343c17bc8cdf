#!/usr/bin/env bash
# Benchmark: what the log level costs. One miscommd, CONNS connections doing
# PING round trips (bench/ping_load.c, libmiscomm, each connection on its
# own thread) for SECONDS per round, with log_level = warn and = info in
# alternating rounds (switched by a reload, SIGHUP). Prints PINGs per second
# and the server's CPU time per request (user + system, from /proc, logins
# left out) per round, their medians, the ratios info/warn, and how much the
# log grew. On a shared machine the CPU per request is the steadier figure.
#   bash bench/log_cost.sh [CONNS] [SECONDS] [ROUNDS] [TARGET] [OP]
#       defaults: 50 connections, 5 s, 3 rounds, TARGET stderr (to a file),
#       OP ping (logged at debug) or echo (ECHO of 0 bytes, one info line each);
#       TARGET file uses log_target = file, journal pretends stderr is the
#       journal (JOURNAL_STREAM), so lines carry "<N>" prefixes.
# With BEFORE=DIR (a build tree of another commit), a second miscommd from
# DIR runs beside the first, and each round measures both, so the ratios of
# both builds come from the same run.
# Traffic stays on 127.0.0.1. Needs a built tree (miscommd, misctl,
# libmiscomm.a, libmc_common.a, wolfSSL under build/deps or MC_WOLFSSL_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
conns=${1:-50}
seconds=${2:-5}
rounds=${3:-3}
target=${4:-stderr}
op=${5:-ping}
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-$build/deps/wolfssl}

work=$(mktemp -d /tmp/miscomm-logcost-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cflags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
        -Wmissing-prototypes -Wpointer-arith -Wvla -fno-common -Wconversion -Werror)
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/ping_load" \
    "$top/bench/ping_load.c" "$build/libmiscomm.a" "$build/libmc_common.a" \
    "$wolfssl/lib/libwolfssl.a" -lsodium -liniparser -lzstd -lm -lpthread

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "bench-password-$$" > "$work/pw"
hash=$("$build/misctl" passwd < "$work/pw")
declare -A bins ports pids_of logs
sides=(now)
bins[now]=$build/miscommd
if [ -n "${BEFORE:-}" ]; then sides=(before now); bins[before]=$BEFORE/miscommd; fi
config() { # side level
    local dir="$work/$1" tgt=stderr extra=""
    [ "$target" = file ] && { tgt=file; extra="log_file = ${logs[$1]}"; }
    cat > "$dir/miscomm.ini" <<INI
[server]
log_level = $2
log_target = $tgt
$extra
data_dir = data
max_connections_per_ip = 1024
handshake_timeout = 60
[tls]
certificate = ../certs/miscomm.crt
key = ../certs/miscomm.key
[connection bench]
bind = 127.0.0.1
port = ${ports[$1]}
password = $hash
timeout = 0
INI
}
mkdir -p "$work/certs"
for side in "${sides[@]}"; do
    mkdir -p "$work/$side"
    ports[$side]=$(free_port)
    logs[$side]="$work/$side/miscommd.log"
    config "$side" warn
    : > "${logs[$side]}"
    env=()
    # journal: the journal's stream is stderr itself here (device and inode of the log file).
    [ "$target" = journal ] && env=(JOURNAL_STREAM="$(stat -c '%d:%i' "${logs[$side]}")")
    env "${env[@]}" "${bins[$side]}" -c "$work/$side/miscomm.ini" 2>> "${logs[$side]}" &
    pids+=($!)
    pids_of[$side]=$!
    for _ in $(seq 100); do [ -n "$(ss -Hltn "sport = :${ports[$side]}")" ] && break; sleep 0.1; done
done

log_bytes() { stat -c %s "${logs[$1]}"; }
set_level() { # side level
    # The reload runs on the worker pool; its own line may be below the new level.
    config "$1" "$2"
    kill -HUP "${pids_of[$1]}"
    sleep 1
}
declare -A rate cpu grew
echo "== $conns connections, $op round trips for $seconds s, $rounds rounds, log to $target =="
echo "  load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    if [ $(( r % 2 )) = 1 ]; then order="warn info"; else order="info warn"; fi
    for side in "${sides[@]}"; do
        for lvl in $order; do
            set_level "$side" "$lvl"
            b0=$(log_bytes "$side")
            out=$(SERVER_PID=${pids_of[$side]} "$work/ping_load" "${ports[$side]}" "$work/certs/miscomm.crt" "$work/pw" "$conns" "$seconds" "$op")
            b1=$(log_bytes "$side")
            rate[$side,$lvl,$r]=$(sed -n 's/.*pings_s=\([0-9]*\).*/\1/p' <<< "$out")
            cpu[$side,$lvl,$r]=$(sed -n 's/.*server_us=\([0-9.]*\).*/\1/p' <<< "$out")
            grew[$side,$lvl,$r]=$(( b1 - b0 ))
            printf '  round %s  %-6s log_level=%-4s  %8s req/s  server CPU %6s us/req   log +%s bytes\n' \
                "$r" "$side" "$lvl" "${rate[$side,$lvl,$r]}" "${cpu[$side,$lvl,$r]}" "${grew[$side,$lvl,$r]}"
        done
    done
done
med() { # array side level
    local -n a=$1
    for r in $(seq "$rounds"); do echo "${a[$2,$3,$r]}"; done | sort -g |
        awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }
for side in "${sides[@]}"; do
    w=$(med rate "$side" warn); i=$(med rate "$side" info)
    cw=$(med cpu "$side" warn); ci=$(med cpu "$side" info)
    printf 'median  %-6s warn %s req/s   info %s req/s   ratio info/warn %s\n' "$side" "$w" "$i" \
        "$(ratio "$i" "$w")"
    printf 'median  %-6s server CPU us/req: warn %s   info %s   ratio warn/info %s\n' "$side" "$cw" \
        "$ci" "$(ratio "$cw" "$ci")"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "-- what info wrote (now), by event --"
grep -o 'event=[a-z_]*' "${logs[now]}" | sort | uniq -c | sort -rn | head -n 8
