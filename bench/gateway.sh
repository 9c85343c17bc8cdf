#!/usr/bin/env bash
# Benchmark: miscommd against HAProxy and stunnel, side by side in one run,
# same machine, same certificate (ECDSA P-256, miscommd's first-start one),
# same client (bench/gateway_client.c: wolfSSL for plain TLS, libmiscomm
# for miscommd's own protocol). HAProxy and stunnel terminate TLS in front
# of bench/echo_backend.c, a plain TCP echo server.
#
#   handshakes   full and resumed TLS 1.3 and TLS 1.2 handshakes per second
#                of wall-clock time (HS_THREADS client threads, HS_SECONDS
#                each), and the server's CPU time per handshake from /proc
#   idle memory  VmRSS per idle TLS connection at each of IDLE_COUNTS, a
#                fresh server each time; for miscommd also per idle
#                logged-in connection (bench/idle_client.c)
#   login storm  STORM devices connect and log in at once (Argon2id hash of
#                `misctl passwd`, the shipped [server] settings otherwise):
#                cold, TLS resumption alone, resumption + login ticket,
#                resumption + password (no ticket); miscommd only
#   round trips  PING (miscommd) at 1 and 50 connections: p50, p99,
#                requests/s, server CPU per request; beside it a 16-byte
#                echo through HAProxy and stunnel to the backend, which is
#                not the same work (no frame, no permission check, no clock)
#
# Rounds alternate the order of the sides, so that the noise of a shared
# machine falls on all of them; the table gives medians over the rounds
# and the ratios of the medians. Run by hand:
#   bash bench/gateway.sh [ROUNDS] [HS_SECONDS]          (default 3 rounds, 5 s)
#   environment: HS_THREADS (8), RT_SECONDS (5), IDLE_COUNTS ("1000 10000"),
#                STORM (1000), STORM_ROUNDS (ROUNDS), PARTS ("hs rt storm idle"),
#                STORM_HELLO_S (60: how long a storm device waits for HELLO's answer)
# Traffic stays on 127.0.0.1. Needs a built tree (miscommd, misctl,
# libmiscomm.a, libmc_common.a, and wolfSSL under build/deps or where
# MC_WOLFSSL_DIR or the build's CMakeCache says), root for the descriptor
# limit (10,000 connections through a proxy take 20,000 descriptors) and
# installs Debian's haproxy and stunnel4 when missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
hs_secs=${2:-5}
# 8 handshakes in flight: with 4, HAProxy already kept both cores busy
# (98%) but miscommd, which answers each faster, left 11% idle: the client's
# concurrency, not the server, set its rate (docs/performance.md).
hs_threads=${HS_THREADS:-8}
rt_secs=${RT_SECONDS:-5}
read -r -a idle_counts <<< "${IDLE_COUNTS:-1000 10000}"
storm=${STORM:-1000}
storm_rounds=${STORM_ROUNDS:-$rounds}
parts=" ${PARTS:-hs rt storm idle} "
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-}
if [ -z "$wolfssl" ]; then
    wolfssl=$build/deps/wolfssl
    [ -d "$wolfssl" ] || wolfssl=$(sed -n 's/^MC_WOLFSSL_DIR:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null)
fi
[ -f "$wolfssl/lib/libwolfssl.a" ] || { echo "bench: no wolfSSL under '$wolfssl'" >&2; exit 1; }

for pkg in haproxy:haproxy stunnel4:stunnel4; do
    command -v "${pkg%%:*}" >/dev/null || {
        echo "bench: installing ${pkg#*:}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkg#*:}" >/dev/null
    }
done

# Descriptors: a proxy holds two per connection; HAProxy refuses to start
# with a maxconn it cannot back with descriptors, so it gets what fits.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
hp_maxconn=$(( ($(ulimit -n) - 64) / 2 ))
[ "$hp_maxconn" -le 30000 ] || hp_maxconn=30000

work=$(mktemp -d /tmp/miscomm-gateway-XXXXXX)
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
libs=("$build/libmiscomm.a" "$build/libmc_common.a" "$wolfssl/lib/libwolfssl.a"
      -lsodium -liniparser -lzstd -lm -lpthread)
cc "${cflags[@]}" -o "$work/echo_backend" "$top/bench/echo_backend.c"
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/gateway_client" \
    "$top/bench/gateway_client.c" "${libs[@]}"
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/idle_client" \
    "$top/bench/idle_client.c" "${libs[@]}"
cp "$build/miscommd" "$work/miscommd" # a rebuild during the run cannot break it
gc=$work/gateway_client

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
wait_listen() { # port name
    for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
    echo "bench: $2 is not listening on 127.0.0.1:$1" >&2
    [ ! -s "$work/$2.log" ] || tail -n 5 "$work/$2.log" >&2
    return 1
}
proc_cpu() { # pid -> utime + stime in clock ticks, all threads
    local st
    st=$(< "/proc/$1/stat")
    st=${st##*) }
    awk '{print $12 + $13}' <<< "$st"
}
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Passwords: the shipped Argon2id parameters (misctl passwd) for the login
# storm; libsodium's smallest elsewhere, where logins are not measured.
echo "bench-password-$$" > "$work/pw"
hash_real=$("$build/misctl" passwd < "$work/pw")
hash_fast=$("$gc" hash "$work/pw")
mkdir -p "$work/certs"

# mc_config FILE PORT HASH MAXCONN [extra [server] lines...]
mc_config() {
    local file=$1 port=$2 hash=$3 maxc=$4
    shift 4
    {
        echo "[server]"
        echo "log_level = warn"
        echo "data_dir = data"
        echo "max_connections = $maxc"
        echo "max_connections_per_ip = $maxc"
        for l in "$@"; do echo "$l"; done
        echo "[tls]"
        echo "certificate = certs/miscomm.crt"
        echo "key = certs/miscomm.key"
        echo "[connection bench]"
        echo "bind = 127.0.0.1"
        echo "port = $port"
        echo "password = $hash"
        echo "ping = on"
        echo "timeout = 0"
    } > "$file"
}
# start_mc CONFIG PORT -> sets mc_pid
start_mc() {
    "$work/miscommd" -c "$1" 2>> "$work/miscommd.log" &
    mc_pid=$!
    pids+=("$mc_pid")
    wait_listen "$2" miscommd
}
start_backend() { # port -> sets be_pid
    "$work/echo_backend" "$1" 2>> "$work/backend.log" &
    be_pid=$!
    pids+=("$be_pid")
    wait_listen "$1" echo_backend
}
start_haproxy() { # port backend_port -> sets hp_pid
    cat > "$work/haproxy.cfg" <<CFG
global
    maxconn $hp_maxconn
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend bench
    bind 127.0.0.1:$1 ssl crt $work/haproxy.pem ssl-min-ver TLSv1.2
    default_backend echo
backend echo
    server echo 127.0.0.1:$2
CFG
    haproxy -db -f "$work/haproxy.cfg" 2>> "$work/haproxy.log" &
    hp_pid=$!
    pids+=("$hp_pid")
    wait_listen "$1" haproxy
}
start_stunnel() { # port backend_port -> sets st_pid
    cat > "$work/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
[bench]
accept = 127.0.0.1:$1
connect = 127.0.0.1:$2
cert = $work/certs/miscomm.crt
key = $work/certs/miscomm.key
sslVersionMin = TLSv1.2
CONF
    stunnel4 "$work/stunnel.conf" 2>> "$work/stunnel.log" &
    st_pid=$!
    pids+=("$st_pid")
    wait_listen "$1" stunnel
}

# The long-running servers for handshakes and round trips.
mc_port=$(free_port); hp_port=$(free_port); st_port=$(free_port); be_port=$(free_port)
mc_config "$work/miscomm.ini" "$mc_port" "$hash_fast" 30000 "handshake_timeout = 60"
start_mc "$work/miscomm.ini" "$mc_port"
main_mc=$mc_pid
for _ in $(seq 50); do [ -s "$work/certs/miscomm.key" ] && break; sleep 0.1; done
cat "$work/certs/miscomm.crt" "$work/certs/miscomm.key" > "$work/haproxy.pem"
start_backend "$be_port"; main_be=$be_pid
start_haproxy "$hp_port" "$be_port"; main_hp=$hp_pid
start_stunnel "$st_port" "$be_port"; main_st=$st_pid

declare -A port_of=([mc]=$mc_port [hp]=$hp_port [st]=$st_port)
declare -A pid_of=([mc]=$main_mc [hp]=$main_hp [st]=$main_st)
declare -A name_of=([mc]=miscommd [hp]=HAProxy [st]=stunnel)
res=$work/results.txt
: > "$res"
put() { echo "$*" >> "$res"; } # side metric round value

order_of() { # round -> the three sides, rotated
    case $(( $1 % 3 )) in
        1) echo "mc hp st" ;;
        2) echo "hp st mc" ;;
        0) echo "st mc hp" ;;
    esac
}

echo "== miscommd against HAProxy and stunnel: $rounds rounds, $(date -u '+%Y-%m-%d %H:%M UTC') =="
echo "  $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  descriptors: ulimit -n $(ulimit -n) (HAProxy maxconn $hp_maxconn)"
threads_of() { # pid -> "N threads (name xK, ...)": what each server runs on
    local names
    names=$(cat /proc/"$1"/task/*/comm 2>/dev/null | sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')
    echo "$(ls /proc/"$1"/task | wc -l) threads ($names)"
}
echo "  every core: miscommd $(threads_of "$main_mc"); HAProxy $(threads_of "$main_hp"); stunnel $(threads_of "$main_st")"
echo "  handshakes: $hs_threads client threads, $hs_secs s per run; round trips $rt_secs s per run"

hs_run() { # side version mode round
    local side=$1 v=$2 m=$3 r=$4 out c0 c1 b0 b1 hs
    c0=$(proc_cpu "${pid_of[$side]}"); b0=$(proc_cpu "$main_be")
    out=$("$gc" hs "${port_of[$side]}" "$v" "$m" "$hs_threads" "$hs_secs") || true
    c1=$(proc_cpu "${pid_of[$side]}"); b1=$(proc_cpu "$main_be")
    hs=$(field handshakes "$out")
    [ -n "$hs" ] && [ "$hs" -gt 0 ] || { echo "  round $r $side tls$v $m: failed: $out"; return; }
    local key="hs${v}${m}"
    put "$side" "${key}_rate" "$r" "$(field rate "$out")"
    put "$side" "${key}_cpu_ms" "$r" "$(awk -v t=$(( c1 - c0 )) -v n="$hs" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')"
    put "$side" "${key}_be_ms" "$r" "$(awk -v t=$(( b1 - b0 )) -v n="$hs" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')"
    put "$side" "${key}_cl_ms" "$r" "$(awk -v t="$(field client_cpu "$out")" -v n="$hs" 'BEGIN {printf "%.3f", t * 1000 / n}')"
    put "$side" "${key}_resumed" "$r" "$(awk -v a="$(field resumed "$out")" -v n="$hs" 'BEGIN {printf "%.3f", a / n}')"
    printf '  round %s  TLS 1.%s %-6s %-8s %8s/s  server CPU %s ms/hs (backend %s)  client CPU %s ms/hs  resumed %s/%s  %s %s\n' \
        "$r" "${v#1}" "$m" "${name_of[$side]}" "$(field rate "$out")" \
        "$(awk -v t=$(( c1 - c0 )) -v n="$hs" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')" \
        "$(awk -v t=$(( b1 - b0 )) -v n="$hs" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')" \
        "$(awk -v t="$(field client_cpu "$out")" -v n="$hs" 'BEGIN {printf "%.3f", t * 1000 / n}')" \
        "$(field resumed "$out")" "$hs" "$(field version "$out")" "$(field cipher "$out")"
}

rt_run() { # side conns round
    local side=$1 n=$2 r=$3 out c0 c1 b0 b1 ops
    c0=$(proc_cpu "${pid_of[$side]}"); b0=$(proc_cpu "$main_be")
    if [ "$side" = mc ]; then
        out=$("$gc" ping "$mc_port" "$work/certs/miscomm.crt" "$work/pw" "$n" "$rt_secs") || true
    else
        out=$("$gc" echo "${port_of[$side]}" "$n" "$rt_secs" 16) || true
    fi
    c1=$(proc_cpu "${pid_of[$side]}"); b1=$(proc_cpu "$main_be")
    ops=$(field ops "$out")
    [ -n "$ops" ] && [ "$ops" -gt 0 ] || { echo "  round $r $side $n conns: failed: $out"; return; }
    # The login (miscommd) and the connection set-up fall inside the CPU
    # window; they are a few handshakes against thousands of round trips.
    local cpu_us
    cpu_us=$(awk -v t=$(( c1 - c0 )) -v n="$ops" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    put "$side" "rt${n}_p50" "$r" "$(field p50_ms "$out")"
    put "$side" "rt${n}_p99" "$r" "$(field p99_ms "$out")"
    put "$side" "rt${n}_rate" "$r" "$(field rate "$out")"
    put "$side" "rt${n}_cpu_us" "$r" "$cpu_us"
    put "$side" "rt${n}_be_us" "$r" "$(awk -v t=$(( b1 - b0 )) -v n="$ops" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
    printf '  round %s  %2s conn  %-8s %-4s  p50 %s ms  p99 %s ms  %9s/s  server CPU %s us/op (backend %s)\n' \
        "$r" "$n" "${name_of[$side]}" "$([ "$side" = mc ] && echo PING || echo echo)" \
        "$(field p50_ms "$out")" "$(field p99_ms "$out")" "$(field rate "$out")" "$cpu_us" \
        "$(awk -v t=$(( b1 - b0 )) -v n="$ops" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
}

storm_run() { # round
    local r=$1 port out
    port=$(free_port)
    mkdir -p "$work/storm"
    rm -rf "$work/storm/data"
    ln -sfn ../certs "$work/storm/certs"
    mc_config "$work/storm/miscomm.ini" "$port" "$hash_real" $(( storm * 2 + 100 ))
    start_mc "$work/storm/miscomm.ini" "$port"
    out=$("$gc" storm "$port" "$work/certs/miscomm.crt" "$work/pw" "$storm" "$mc_pid" 2>> "$work/storm.err") || true
    stop_pid "$mc_pid"
    while read -r line; do
        local ph
        ph=$(field phase "$line")
        [ -n "$ph" ] || continue
        for k in seconds p50_ms p99_ms busy busy_max dropped resumed by_ticket server_cpu server_peak_kib ok; do
            put mc "storm_${ph}_$k" "$r" "$(field "$k" "$line")"
        done
        printf '  round %s  storm %-8s %s\n' "$r" "$ph" "$line"
    done <<< "$out"
}

for r in $(seq "$rounds"); do
    if [[ $parts == *" hs "* ]]; then
        echo "-- round $r: handshakes (order: $(order_of "$r")) --"
        for v in 13 12; do
            for m in full resume; do
                for side in $(order_of "$r"); do hs_run "$side" "$v" "$m" "$r"; done
            done
        done
    fi
    if [[ $parts == *" rt "* ]]; then
        echo "-- round $r: round trips --"
        for n in 1 50; do
            for side in $(order_of "$r"); do rt_run "$side" "$n" "$r"; done
        done
    fi
    if [[ $parts == *" storm "* ]] && [ "$r" -le "$storm_rounds" ]; then
        echo "-- round $r: login storm of $storm devices (miscommd) --"
        storm_run "$r"
    fi
done

# Idle memory: a fresh server (and backend) per count and side.
stop_pid "$main_hp"; stop_pid "$main_st"
[[ $parts == *" idle "* ]] || idle_counts=()
[ ${#idle_counts[@]} = 0 ] || echo "-- idle connections (a fresh server each) --"
i=0
for n in "${idle_counts[@]}"; do
    i=$(( i + 1 ))
    for side in $(order_of "$i"); do
        port=$(free_port)
        case $side in
        mc)
            # Logged in (the product's case) and TLS only (what the proxies hold).
            for what in login tls; do
                mkdir -p "$work/idle"
                ln -sfn ../certs "$work/idle/certs"
                rm -rf "$work/idle/data"
                mc_config "$work/idle/miscomm.ini" "$port" "$hash_fast" $(( n + 100 )) "handshake_timeout = 300"
                start_mc "$work/idle/miscomm.ini" "$port"
                sleep 1
                if [ "$what" = login ]; then
                    out=$("$work/idle_client" "$mc_pid" "$port" "$work/certs/miscomm.crt" "$work/pw" "$n" 13 3) || true
                    held=$(field conns "$out"); kib=$(( $(field held_kib "$out") - $(field base_kib "$out") ))
                    put mc "idle${n}_login_b" 1 "$(( kib * 1024 / (held > 0 ? held : 1) ))"
                    put mc "idle${n}_login_held" 1 "$held"
                    echo "  $n  miscommd logged in  $out"
                else
                    out=$("$gc" hold "$port" 13 "$n" 3 0 "$mc_pid") || true
                    held=$(field held "$out"); kib=$(( $(field held_kib "$out") - $(field base_kib "$out") ))
                    put mc "idle${n}_b" 1 "$(( kib * 1024 / (held > 0 ? held : 1) ))"
                    put mc "idle${n}_held" 1 "$held"
                    echo "  $n  miscommd TLS only   $out"
                fi
                stop_pid "$mc_pid"
            done
            ;;
        hp|st)
            bport=$(free_port)
            start_backend "$bport"
            if [ "$side" = hp ]; then start_haproxy "$port" "$bport"; spid=$hp_pid; else start_stunnel "$port" "$bport"; spid=$st_pid; fi
            sleep 1
            out=$("$gc" hold "$port" 13 "$n" 3 1 "$spid" "$be_pid") || true
            held=$(field held "$out")
            # The first pid= group is the proxy's, the second the backend's.
            read -r pb ph bb bh <<< "$(grep -o 'base_kib=[0-9-]* held_kib=[0-9-]*' <<< "$out" | tr -dc '0-9 \n' | tr '\n' ' ')"
            put "$side" "idle${n}_b" 1 "$(( (ph - pb) * 1024 / (held > 0 ? held : 1) ))"
            put "$side" "idle${n}_be_b" 1 "$(( (bh - bb) * 1024 / (held > 0 ? held : 1) ))"
            put "$side" "idle${n}_held" 1 "$held"
            echo "  $n  ${name_of[$side]}  $out"
            stop_pid "$spid"; stop_pid "$be_pid"
            ;;
        esac
    done
done

echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$res" "$storm" "$hs_threads" "${idle_counts[@]}" <<'PY'
import sys, statistics
res, storm, threads, counts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
vals = {}
for line in open(res):
    side, key, _r, v = line.split()
    try:
        vals.setdefault((side, key), []).append(float(v))
    except ValueError:
        pass
def med(side, key):
    v = vals.get((side, key))
    return statistics.median(v) if v else None
def fmt(x, d=1):
    return "-" if x is None else f"{x:,.{d}f}"
def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}"
rows = []
def row(label, key, d=1, scale=1.0, peers=True, be=None, extra=None):
    m, h, s = (med(x, key) for x in ("mc", "hp", "st"))
    m, h, s = (None if v is None else v * scale for v in (m, h, s))
    hs, ss = fmt(h, d), fmt(s, d)
    if be:
        hb, sb = med("hp", be), med("st", be)
        if hb is not None: hs += f" (+{fmt(hb * scale, d)})"
        if sb is not None: ss += f" (+{fmt(sb * scale, d)})"
    ms = fmt(m, d) + (extra or "")
    rows.append((label, ms, hs if peers else "", ss if peers else "",
                 ratio(m, h) if peers else "", ratio(m, s) if peers else ""))
for v in ("13", "12"):
    for mode, word in (("full", "full"), ("resume", "resumed")):
        k = f"hs{v}{mode}"
        row(f"{word} handshakes/s, TLS 1.{v[1]}", f"{k}_rate", 0)
        row(f"  server CPU ms per {word} handshake, TLS 1.{v[1]} (+ backend)", f"{k}_cpu_ms", 3, be=f"{k}_be_ms")
for n in counts:
    held = {x: med(x, f"idle{n}_held") for x in ("mc", "hp", "st")}
    m, h, s = (med(x, f"idle{n}_b") for x in ("mc", "hp", "st"))
    def kib(x, held_n):
        return "-" if x is None else f"{x / 1024:.1f} KiB ({int(held_n or 0):,} held)"
    hb, sb = med("hp", f"idle{n}_be_b"), med("st", f"idle{n}_be_b")
    rows.append((f"RSS per idle TLS connection, {int(n):,} (backend apart: HAProxy {fmt((hb or 0)/1024)}, stunnel {fmt((sb or 0)/1024)} KiB)",
                 kib(m, held["mc"]), kib(h, held["hp"]), kib(s, held["st"]), ratio(m, h), ratio(m, s)))
    ml = med("mc", f"idle{n}_login_b")
    rows.append((f"RSS per idle logged-in connection, {int(n):,}", kib(ml, med("mc", f"idle{n}_login_held")), "", "", "", ""))
for ph, label in (("cold", "cold: full TLS + password"), ("resume", "TLS resumption alone (+ INFO)"),
                  ("tickets", "resumption + login ticket"), ("password", "resumption + password (no ticket)")):
    p = f"storm_{ph}_"
    if med("mc", p + "seconds") is None:
        continue
    detail = (f" (p50 {fmt((med('mc', p + 'p50_ms') or 0) / 1000, 2)} s; server CPU {fmt(med('mc', p + 'server_cpu'), 1)} s, "
              f"peak RSS {fmt((med('mc', p + 'server_peak_kib') or 0) / 1024, 0)} MiB; "
              f"BUSY answers {fmt(med('mc', p + 'busy'), 0)}, dropped {fmt(med('mc', p + 'dropped'), 0)}; "
              f"resumed {fmt(med('mc', p + 'resumed'), 0)}, by ticket {fmt(med('mc', p + 'by_ticket'), 0)})")
    rows.append((f"login storm, {int(storm):,} devices at once: {label}",
                 f"{fmt(med('mc', p + 'seconds'), 2)} s" + detail, "", "", "", ""))
for n in ("1", "50"):
    row(f"PING p50 ms, {n} conn (peers: 16-byte echo, not the same work)", f"rt{n}_p50", 3)
    row(f"PING p99 ms, {n} conn (peers: echo)", f"rt{n}_p99", 3)
    row(f"requests/s, {n} conn (peers: echo)", f"rt{n}_rate", 0)
    row(f"  server CPU us per request, {n} conn (+ backend)", f"rt{n}_cpu_us", 1, be=f"rt{n}_be_us")
print("| metric | miscommd | HAProxy | stunnel | miscommd/HAProxy | miscommd/stunnel |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("Rates: higher is better; CPU, memory, latency and time: lower is better. Medians over the rounds;")
print(f"ratios are of the medians. Handshakes: {threads} client threads (wolfSSL, P-256 key share) on the same cores.")
PY
echo
echo "$("$work/miscommd" --version 2>&1 | head -n 2 | tr '\n' ' ')"
haproxy -v | head -n 1
stunnel4 -version 2>&1 | sed -n 's/^\(stunnel [0-9.]*\).*/\1/p' | head -n 1
openssl version
if grep -q . "$work/miscommd.log"; then
    echo "-- miscommd log: $(wc -l < "$work/miscommd.log") lines; by event --"
    grep -o 'event=[a-z_]* result=[A-Z_]*\|event=[a-z_]*' "$work/miscommd.log" | sort | uniq -c | sort -rn | head -n 8
fi
if [ -s "$work/storm.err" ]; then echo "-- storm client errors (first 5) --"; head -n 5 "$work/storm.err"; fi
