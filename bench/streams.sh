#!/usr/bin/env bash
# Benchmark: one connection streaming bytes through miscommd, against
# HAProxy, side by side in one run, same machine, same certificate
# (ECDSA P-256), same TLS suite (TLS 1.3, TLS13-AES256-GCM-SHA384), same
# wolfSSL on the client side:
#
#   miscommd   ECHO over one stream: mode SOURCE (down, server to client)
#              and mode SINK (up, client to server); libmiscomm client
#   HAProxy    TLS termination (mode tcp) in front of bench/raw_sink.c, a
#              plain TCP source/sink; a plain wolfSSL client
#
# Rounds alternate (miscommd first on odd rounds, HAProxy first on even
# ones). Prints MiB/s per round and direction, the medians and the ratio
# miscommd/HAProxy; the CPU time the server (and HAProxy's backend, and the
# client) spent on each stream; and the server's resident memory when each
# stream starts (after login) and its peak during it (VmRSS sampled every
# 20 ms, and VmHWM after resetting it through /proc/PID/clear_refs). Run by hand:
#   bash bench/streams.sh [MIB] [ROUNDS]        (default 1024 MiB, 3 rounds)
# Traffic stays on 127.0.0.1. Needs a built tree (miscommd, misctl,
# libmiscomm.a, wolfSSL under build/deps) and installs haproxy.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-1024}
rounds=${2:-3}
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-$build/deps/wolfssl}
bytes=$(( mib * 1024 * 1024 ))

command -v haproxy >/dev/null || {
    echo "bench: installing haproxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null
}
work=$(mktemp -d /tmp/miscomm-streams-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The helpers, built here with the project's warnings (bench/README.md).
cflags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
        -Wmissing-prototypes -Wpointer-arith -Wvla -fno-common -Wconversion -Werror)
cc "${cflags[@]}" -o "$work/raw_sink" "$top/bench/raw_sink.c"
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/stream_client" \
    "$top/bench/stream_client.c" "$build/libmiscomm.a" "$build/libmc_common.a" \
    "$wolfssl/lib/libwolfssl.a" -lsodium -liniparser -lm -lpthread

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mc_port=$(free_port)
hp_port=$(free_port)
raw_port=$(free_port)
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
wait_listen() { # port name
    for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
    echo "bench: $2 is not listening on 127.0.0.1:$1" >&2
    return 1
}

# The gateway, with a throwaway password, its first-start certificate and
# the one TLS 1.3 suite both sides use.
mkdir -p "$work/certs"
echo "bench-password-$$" > "$work/pw"
hash=$("$build/misctl" passwd < "$work/pw")
cat > "$work/miscomm.ini" <<INI
[server]
log_level = warn
data_dir = data
[tls]
certificate = certs/miscomm.crt
key = certs/miscomm.key
min_version = 1.3
ciphers = TLS13-AES256-GCM-SHA384
[connection bench]
bind = 127.0.0.1
port = $mc_port
password = $hash
timeout = 0
INI
"$build/miscommd" -c "$work/miscomm.ini" 2> "$work/miscommd.log" &
pids+=($!)
mc_pid=$!
for _ in $(seq 100); do [ -s "$work/certs/miscomm.key" ] && break; sleep 0.1; done
wait_listen "$mc_port" miscommd

# HAProxy terminates TLS with the same certificate and key, in front of raw_sink.
"$work/raw_sink" "$raw_port" 2> "$work/raw_sink.log" &
pids+=($!)
raw_pid=$!
cat "$work/certs/miscomm.crt" "$work/certs/miscomm.key" > "$work/haproxy.pem"
cat > "$work/haproxy.cfg" <<CFG
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$hp_port ssl crt $work/haproxy.pem ssl-min-ver TLSv1.3 ciphersuites TLS_AES_256_GCM_SHA384
    default_backend raw
backend raw
    server raw 127.0.0.1:$raw_port
CFG
haproxy -db -f "$work/haproxy.cfg" 2> "$work/haproxy.log" &
pids+=($!)
hp_pid=$!
wait_listen "$raw_port" raw_sink
wait_listen "$hp_port" haproxy

status_kib() { # pid field -> KiB
    local k v _
    while read -r k v _; do [ "$k" = "$2:" ] && { echo "$v"; return; }; done < "/proc/$1/status"
    echo 0
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }

proc_cpu() { # pid -> utime + stime in clock ticks
    local st
    st=$(< "/proc/$1/stat")
    st=${st##*) }
    awk '{print $12 + $13}' <<< "$st"
}

declare -A rate rss0 peak scpu bcpu ccpu
cipher_seen=()
# One stream: side (mc|hp), direction (down|up), round. The client watches
# the server process's memory and CPU time while its clock runs
# (bench/stream_client.c); the backend's CPU time is read here.
stream() {
    local side=$1 dir=$2 out b0 b1
    b0=$(proc_cpu "$raw_pid")
    if [ "$side" = mc ]; then
        out=$("$work/stream_client" --watch "$mc_pid" miscomm "$mc_port" \
              "$work/certs/miscomm.crt" "$work/pw" "$dir" "$bytes")
    else
        out=$("$work/stream_client" --watch "$hp_pid" tls "$hp_port" "$dir" "$bytes")
    fi
    b1=$(proc_cpu "$raw_pid")
    rate[$side,$dir,$3]=$(field mib_s "$out")
    rss0[$side,$dir,$3]=$(field rss_start "$out")
    peak[$side,$dir,$3]=$(field rss_peak "$out")
    scpu[$side,$dir,$3]=$(field server_cpu "$out")
    ccpu[$side,$dir,$3]=$(field client_cpu "$out")
    bcpu[$side,$dir,$3]=$(awk -v t="$(( b1 - b0 ))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')
    [ "$3" = 1 ] && cipher_seen+=("$side/$dir $(field cipher "$out")")
    if [ "$side" = mc ]; then
        printf '  round %s  %-4s  miscommd %7s MiB/s   CPU server %s s, client %s s   RSS at start %s KiB, peak %s KiB\n' \
            "$3" "$dir" "${rate[$side,$dir,$3]}" "${scpu[$side,$dir,$3]}" "${ccpu[$side,$dir,$3]}" \
            "${rss0[$side,$dir,$3]}" "${peak[$side,$dir,$3]}"
    else
        printf '  round %s  %-4s  HAProxy  %7s MiB/s   CPU server %s s + backend %s s, client %s s   RSS at start %s KiB, peak %s KiB\n' \
            "$3" "$dir" "${rate[$side,$dir,$3]}" "${scpu[$side,$dir,$3]}" "${bcpu[$side,$dir,$3]}" \
            "${ccpu[$side,$dir,$3]}" "${rss0[$side,$dir,$3]}" "${peak[$side,$dir,$3]}"
    fi
}

mc_rss_boot=$(status_kib "$mc_pid" VmRSS)
echo "== one connection, $mib MiB each way, $rounds rounds (TLS 1.3 AES-256-GCM, 127.0.0.1) =="
for r in $(seq "$rounds"); do
    if [ $(( r % 2 )) = 1 ]; then order="mc hp"; else order="hp mc"; fi
    for dir in down up; do
        for side in $order; do stream "$side" "$dir" "$r"; done
    done
done
printf '  ciphers: %s\n' "${cipher_seen[*]}"
echo "  miscommd RSS after start-up ${mc_rss_boot} KiB; each login's Argon2id hash (m=64 MiB)"
echo "  comes and goes before a stream starts, outside these numbers"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
col() { # array side dir -> the rounds' values
    local -n arr=$1
    for r in $(seq "$rounds"); do echo "${arr[$2,$3,$r]}"; done
}
med() { col "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
echo "== medians over $rounds rounds =="
for dir in down up; do
    mm=$(med rate mc "$dir"); hm=$(med rate hp "$dir")
    label=$([ "$dir" = down ] && echo "down (server->client)" || echo "up (client->server)")
    printf '%-22s miscommd %7.1f MiB/s   HAProxy %7.1f MiB/s   ratio %s\n' "$label" "$mm" "$hm" "$(ratio "$mm" "$hm")"
    ms=$(med scpu mc "$dir"); hs=$(med scpu hp "$dir"); hb=$(med bcpu hp "$dir")
    printf '%-22s server CPU per %s MiB: miscommd %.2f s   HAProxy %.2f s (+ backend %.2f s)   ratio %s\n' "" \
        "$mib" "$ms" "$hs" "$hb" "$(ratio "$ms" "$hs")"
    printf '%-22s miscommd RSS at stream start %s KiB, peak during the streams %s KiB\n' "" \
        "$(med rss0 mc "$dir")" "$(col peak mc "$dir" | sort -g | tail -n 1)"
done
echo "(MiB/s: higher is better, target ratio >= 2 per direction; CPU: lower is better)"
"$build/miscommd" --version | sed -n 2p
haproxy -v | head -n 1
if grep -q . "$work/miscommd.log"; then echo "-- miscommd log (warnings) --"; cat "$work/miscommd.log"; fi
