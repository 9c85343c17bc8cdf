#!/usr/bin/env bash
# Benchmark: miscommd against stunnel, side by side in one run, same machine,
# same certificate (ECDSA P-256), same client tool (openssl s_time).
#
#   1. full TLS handshakes per second (TLS 1.2 and TLS 1.3), and
#   2. resident memory with N idle TLS connections open.
#
# Prints each number and the ratio miscommd/stunnel. Run by hand:
#   bash bench/tls_vs_stunnel.sh [SECONDS] [IDLE_CONNECTIONS]
# Traffic stays on 127.0.0.1. Needs a built tree (make) and installs stunnel4.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
idle=${2:-500}
build=${MISCOMM_BUILD:-$top/build}

command -v stunnel4 >/dev/null || {
    echo "bench: installing stunnel4"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q stunnel4 >/dev/null
}
work=$(mktemp -d /tmp/miscomm-bench-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pkill -f "$work/hold.py" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mc_port=$(free_port)
st_port=$(free_port)
backend_port=$(free_port)

# The gateway, with a throwaway password and its first-start certificate.
mkdir -p "$work/certs"
echo "bench-password-$$" > "$work/pw"
hash=$("$build/misctl" passwd --password-file "$work/pw")
cat > "$work/miscomm.ini" <<INI
[server]
log_level = warn
max_connections = 100000
max_connections_per_ip = 100000
handshake_timeout = 60
[tls]
certificate = certs/miscomm.crt
key = certs/miscomm.key
[connection bench]
bind = 127.0.0.1
port = $mc_port
password = $hash
timeout = 0
INI
"$build/miscommd" -c "$work/miscomm.ini" 2> "$work/miscommd.log" &
pids+=($!)
mc_pid=$!

# stunnel in front of a backend that accepts and holds connections.
python3 - "$backend_port" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
pids+=($!)
for i in $(seq 50); do [ -s "$work/certs/miscomm.crt" ] && break; sleep 0.1; done
cat > "$work/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
[bench]
accept = 127.0.0.1:$st_port
connect = 127.0.0.1:$backend_port
cert = $work/certs/miscomm.crt
key = $work/certs/miscomm.key
sslVersionMin = TLSv1.2
CONF
stunnel4 "$work/stunnel.conf" 2> "$work/stunnel.log" &
pids+=($!)
st_pid=$!
sleep 1

rate() { # port, version flag
    openssl s_time -connect "127.0.0.1:$1" -new "$2" -time "$secs" 2>/dev/null |
        awk '/connections in [0-9.]+s;/ {for (i=1;i<=NF;i++) if ($i ~ /connections\/user/) print $(i-1)}' | head -n 1
}
ratio() { python3 -c "import sys; a,b=float(sys.argv[1] or 0),float(sys.argv[2] or 0); print('%.2f' % (a/b) if b else 'n/a')" "$1" "$2"; }

echo "== full TLS handshakes per second (openssl s_time -new, ${secs}s each) =="
for v in -tls1_2 -tls1_3; do
    m=$(rate "$mc_port" "$v"); s=$(rate "$st_port" "$v")
    printf '%-8s miscommd %8s/s   stunnel %8s/s   ratio %s\n' "$v" "$m" "$s" "$(ratio "$m" "$s")"
done

echo "== resident memory with $idle idle TLS connections =="
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Opens N TLS connections to a port, prints "open", holds them until killed.
cat > "$work/hold.py" <<'PY'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
conns = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])))) for _ in range(int(sys.argv[2]))]
print("open", flush=True)
time.sleep(3600)
PY
measure() { # pid port -> KiB added
    local before after holder
    before=$(rss "$1")
    python3 "$work/hold.py" "$2" "$idle" > "$work/hold.out" &
    holder=$!
    for _ in $(seq 600); do grep -q open "$work/hold.out" 2>/dev/null && break; sleep 0.1; done
    sleep 1
    after=$(rss "$1")
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    rm -f "$work/hold.out"
    sleep 1
    echo $(( after - before ))
}
m=$(measure "$mc_pid" "$mc_port"); s=$(measure "$st_pid" "$st_port")
printf 'miscommd +%s KiB (%s B/conn)   stunnel +%s KiB (%s B/conn)   ratio %s\n' \
    "$m" $(( m * 1024 / idle )) "$s" $(( s * 1024 / idle )) "$(ratio "$m" "$s")"
echo "(handshakes: higher is better; memory: lower is better)"
"$build/miscommd" --version | sed -n 2p
