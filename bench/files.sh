#!/usr/bin/env bash
# Benchmark: file transfer through miscommd (miscli put/get) against
# OpenSSH's sftp, side by side in one run, same machine, both on 127.0.0.1:
#
#   miscommd   TLS 1.3, TLS13-AES256-GCM-SHA384 ([tls] ciphers); a connection
#              with send_files and receive_files on; `miscli put FILE --as
#              NAME` into the device's ToPC, `miscli get NAME -o FILE` from
#              its ToPDA
#   sftp       a loopback sshd started here with its own sshd_config, host
#              key and user key (Ciphers aes256-gcm@openssh.com); `sftp -b`
#              batch put and get of the same files
#
# 1. MIB (default 1024) up and down, ROUNDS times (default 3), alternating
#    which side goes first: MiB/s per round, medians and the ratio
#    miscomm/sftp per direction, and miscommd's peak resident memory during
#    each of its transfers (VmRSS sampled every 20 ms, and VmHWM after
#    resetting it through /proc/PID/clear_refs before the transfer).
# 2. The disk: dd with O_DIRECT and a final fsync on the file system of the
#    receive folder, once per round, and the ratio miscomm-upload/dd.
# 3. A smaller file (DELAY_MIB, default 64) through bench/delay_proxy.py
#    adding 100 ms each way, and through the same relay with no delay, beside
#    the direct figures of step 1.
#
# Run by hand:
#   bash bench/files.sh [MIB] [ROUNDS]          (default 1024 MiB, 3 rounds)
# Environment: DELAY_MIB (64), DELAY_MS (100), MISCOMM_BUILD (build/).
# Needs a built tree (miscommd and miscli, copied at the start), python3 and
# libsodium; installs openssh-server and openssh-client when they are
# missing. Runs sshd as root (the caller).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mib=${1:-1024}
rounds=${2:-3}
delay_mib=${DELAY_MIB:-64}
delay_ms=${DELAY_MS:-100}
build=${MISCOMM_BUILD:-$top/build}
bytes=$(( mib * 1024 * 1024 ))

[ "$(id -u)" = 0 ] || { echo "bench: sshd needs root (PermitRootLogin, host key)" >&2; exit 1; }
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v sftp >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
if [ "${#need[@]}" -gt 0 ]; then
    echo "bench: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/miscomm-files-XXXXXX)
pids=()
made_run_sshd=
cleanup() {
    local p
    # The sshd sessions (children of the listener) first, then our own.
    if [ -n "${ssh_pid:-}" ]; then
        pkill -TERM -P "$ssh_pid" 2>/dev/null || true
        for _ in $(seq 20); do pgrep -P "$ssh_pid" > /dev/null || break; sleep 0.05; done
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
    [ -z "$made_run_sshd" ] || rmdir /run/sshd 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tree may be rebuilt while this runs: take a copy of each binary
# (waiting for one that is briefly missing or still being linked), so that
# the whole run uses one build and a relink cannot break a transfer.
mkdir -p "$work/bin"
for t in miscommd miscli; do
    for _ in $(seq 300); do
        if [ -x "$build/$t" ]; then
            s0=$(stat -c %s.%Y "$build/$t"); sleep 1
            [ "$s0" = "$(stat -c %s.%Y "$build/$t" 2>/dev/null)" ] &&
                cp "$build/$t" "$work/bin/$t" && "$work/bin/$t" --help > /dev/null 2>&1 && break
        fi
        sleep 1
    done
    [ -x "$work/bin/$t" ] || { echo "bench: no usable $build/$t" >&2; exit 1; }
done
tool() { echo "$work/bin/$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
wait_listen() { # port name
    local i
    for i in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
    echo "bench: $2 is not listening on 127.0.0.1:$1" >&2
    return 1
}
now() { echo "$EPOCHREALTIME"; }
mib_s() { awk -v b="$1" -v t0="$2" -v t1="$3" 'BEGIN {printf "%.1f", b / 1048576 / (t1 - t0)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ---- miscommd ------------------------------------------------------------
# The login's Argon2id hash is made with the smallest parameters libsodium
# allows (m=8 KiB, t=1) instead of misctl passwd's 64 MiB: the login is not
# what is measured, and its 64 MiB would otherwise hide the transfer's
# memory in VmHWM. The configuration accepts any valid Argon2id hash.
mc_port=$(free_port)
mkdir -p "$work/certs" "$work/data"
echo "bench-password-$$" > "$work/pw"
hash=$(python3 - "$work/pw" <<'PY'
import ctypes, ctypes.util, sys
na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert na.sodium_init() >= 0
pw = open(sys.argv[1], "rb").read().split(b"\n")[0]
out = ctypes.create_string_buffer(128)
# crypto_pwhash_str_alg(out, pw, len, opslimit 1, memlimit 8192 bytes, ARGON2ID13 = 2)
rc = na.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(1),
                              ctypes.c_size_t(8192), ctypes.c_int(2))
assert rc == 0
print(out.value.decode())
PY
)
device=benchdev
cat > "$work/miscomm.ini" <<INI
[server]
log_level = warn
data_dir = $work/data
[tls]
certificate = $work/certs/miscomm.crt
key = $work/certs/miscomm.key
min_version = 1.3
ciphers = TLS13-AES256-GCM-SHA384
[connection bench]
bind = 127.0.0.1
port = $mc_port
password = $hash
timeout = 0
send_files = on
receive_files = on
INI
"$(tool miscommd)" -c "$work/miscomm.ini" 2> "$work/miscommd.log" &
mc_pid=$!
pids+=("$mc_pid")
for _ in $(seq 100); do [ -s "$work/certs/miscomm.key" ] && break; sleep 0.1; done
wait_listen "$mc_port" miscommd
fp=$(openssl x509 -noout -fingerprint -sha256 -in "$work/certs/miscomm.crt" | sed 's/.*=//')
topc=$work/data/bench/$device/ToPC
topda=$work/data/bench/$device/ToPDA
mkdir -p "$topc" "$topda"
miscli() { # port args...
    local port=$1
    shift
    "$(tool miscli)" -H 127.0.0.1 -p "$port" --fingerprint "$fp" --password-file "$work/pw" \
        --device "$device" --timeout 600 "$@"
}

# ---- sshd ----------------------------------------------------------------
ssh_port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
[ -d /run/sshd ] || { mkdir -p /run/sshd; made_run_sshd=1; }  # sshd's privilege separation
# internal-sftp: the same server code as /usr/lib/openssh/sftp-server, run
# without the user's shell (Debian's bash reads ~/.bashrc under sshd, which
# here cost 0.4 s per connection).
cat > "$work/sshd_config" <<CFG
ListenAddress 127.0.0.1:$ssh_port
HostKey $work/host_key
PidFile $work/sshd.pid
PermitRootLogin prohibit-password
AuthorizedKeysFile $work/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Ciphers aes256-gcm@openssh.com
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
ssh_pid=$!
pids+=("$ssh_pid")
wait_listen "$ssh_port" sshd
sftp_run() { # port batchfile [extra options]
    local port=$1 batch=$2
    shift 2
    sftp -q -F /dev/null -P "$port" -i "$work/user_key" -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=no -o BatchMode=yes \
        -o Ciphers=aes256-gcm@openssh.com "$@" -b "$batch" root@127.0.0.1 > "$work/sftp.out"
}

# ---- the files -----------------------------------------------------------
# One source file (random bytes, so nothing compresses) for the uploads and
# one in the send folder for the downloads; both sides read the same ones.
make_file() { # path MiB
    head -c "$(( $2 * 1048576 ))" /dev/urandom > "$1"
}
make_file "$work/src.bin" "$mib"
cp "$work/src.bin" "$topda/big.bin"
mkdir -p "$work/sftp_in" "$work/dl"

# ---- memory watch --------------------------------------------------------
# Resets miscommd's VmHWM, samples VmRSS every 20 ms until SIGTERM, then
# prints "start peak hwm" in KiB. One small process, so the sampling costs
# little CPU on a small machine.
cat > "$work/rss_watch.py" <<'PY'
import signal, sys, time
pid, ready = sys.argv[1], sys.argv[2]
def kib(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0
with open(f"/proc/{pid}/clear_refs", "w") as f:
    f.write("5")
start = peak = kib("VmRSS")
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
open(ready, "w").close()
while not stop:
    time.sleep(0.02)
    peak = max(peak, kib("VmRSS"))
print(start, peak, kib("VmHWM"))
PY
watch_start() {
    rm -f "$work/rss.ready"
    python3 "$work/rss_watch.py" "$mc_pid" "$work/rss.ready" > "$work/rss.out" &
    watch_pid=$!
    pids+=("$watch_pid")
    while [ ! -e "$work/rss.ready" ]; do sleep 0.01; done
}
watch_stop() { # sets t_rss to "start peak hwm" (not in a subshell: it waits for its child)
    kill -TERM "$watch_pid"
    wait "$watch_pid" || true
    t_rss=$(< "$work/rss.out")
}

# ---- one transfer ----------------------------------------------------------
# side (mc|sftp) dir (up|down) port MiB-of-the-file src-for-up; sets t_rate,
# and t_rss (miscommd: "start peak hwm"). The clock runs around the whole
# client command: connection, handshake, login, the transfer, and for
# miscomm the SHA-256 of the source before a PUT and the server's fsync and
# hash check before PUT_OK. Dirty pages of the previous transfer are flushed
# first (untimed) so that one side's writeback does not land in the other's
# time. Each uploaded or downloaded copy is removed afterwards.
transfer() {
    local side=$1 dir=$2 port=$3 size=$(( $4 * 1048576 )) src=$5 t0 t1
    sync
    t_rss=""
    if [ "$side" = mc ]; then
        watch_start
        t0=$(now)
        if [ "$dir" = up ]; then
            miscli "$port" put "$src" --as up.bin > "$work/mc.out" 2>&1
        else
            miscli "$port" get "$(basename "$src")" -o "$work/dl/mc.bin" > "$work/mc.out" 2>&1
        fi || { cat "$work/mc.out" >&2; return 1; }
        t1=$(now)
        watch_stop
        [ "$dir" = down ] && check_copy "$src" "$work/dl/mc.bin"
        [ "$dir" = up ] && check_copy "$src" "$topc/up.bin"
        rm -f "$topc/up.bin" "$work/dl/mc.bin"
    else
        if [ "$dir" = up ]; then
            echo "put $src $work/sftp_in/up.bin" > "$work/batch"
        else
            echo "get $src $work/dl/sftp.bin" > "$work/batch"
        fi
        t0=$(now)
        sftp_run "$port" "$work/batch" || { cat "$work/sftp.out" >&2; return 1; }
        t1=$(now)
        [ "$dir" = down ] && check_copy "$src" "$work/dl/sftp.bin"
        [ "$dir" = up ] && check_copy "$src" "$work/sftp_in/up.bin"
        rm -f "$work/sftp_in/up.bin" "$work/dl/sftp.bin"
    fi
    t_rate=$(mib_s "$size" "$t0" "$t1")
}
# Sizes only: both tools check what they move (miscomm by SHA-256; sftp
# over an authenticated channel) and a full compare would double the I/O.
check_copy() {
    [ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] ||
        { echo "bench: $2 has the wrong size" >&2; return 1; }
}

# ---- the session each side negotiates, and its set-up cost --------------
t0=$(now); miscli "$mc_port" hello > "$work/hello.out" 2>&1; t1=$(now)
mc_setup=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}')
mc_suite=$(grep -io 'TLS13-[A-Z0-9-]*\|TLS_AES[A-Z0-9_]*' "$work/hello.out" | head -n 1 || true)
echo "pwd" > "$work/batch"
t0=$(now); sftp_run "$ssh_port" "$work/batch" -v 2> "$work/sftp.v"; t1=$(now)
ssh_setup=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}')
ssh_cipher=$(sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p' "$work/sftp.v" | head -n 1)

# The server hashes a file of the send folder once (LIST and GET carry its
# SHA-256) and caches the hash; a device lists before it downloads, so the
# first listing, timed here apart, takes that cost out of the downloads.
t0=$(now); miscli "$mc_port" ls > /dev/null 2>&1; t1=$(now)
first_ls=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')

declare -A rate rss
dd_rates=()
fs=$(df --output=source,fstype,target "$topc" | tail -n 1 | awk '{print $1 " (" $2 ", " $3 ")"}')
echo "== $mib MiB up and down, $rounds rounds, 127.0.0.1 (load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
echo "  miscomm: first LIST of the send folder (hashes the $mib MiB file) ${first_ls} s"
echo "  miscomm: ${mc_suite:-suite not shown by miscli hello} (connect+login ${mc_setup} ms)   sftp: ${ssh_cipher:-?} (connect+login ${ssh_setup} ms)"
for r in $(seq "$rounds"); do
    if [ $(( r % 2 )) = 1 ]; then order="mc sftp"; else order="sftp mc"; fi
    for dir in up down; do
        for side in $order; do
            if [ "$side" = mc ]; then port=$mc_port; else port=$ssh_port; fi
            if [ "$dir" = up ]; then src=$work/src.bin; else src=$topda/big.bin; fi
            transfer "$side" "$dir" "$port" "$mib" "$src"
            rate[$side,$dir,$r]=$t_rate
            if [ "$side" = mc ]; then
                rss[$dir,$r]=$t_rss
                read -r s0 sp sh <<< "$t_rss"
                printf '  round %s  %-4s  miscomm %7s MiB/s   RSS at start %s KiB, peak %s KiB (sampled), %s KiB (VmHWM)\n' \
                    "$r" "$dir" "$t_rate" "$s0" "$sp" "$sh"
            else
                printf '  round %s  %-4s  sftp    %7s MiB/s\n' "$r" "$dir" "$t_rate"
            fi
        done
    done
    # The disk, on the receive folder's file system.
    sync
    out=$(LC_ALL=C dd if=/dev/zero of="$work/data/dd.tmp" bs=1M count="$mib" oflag=direct conv=fsync 2>&1)
    rm -f "$work/data/dd.tmp"
    secs=$(sed -n 's/.* copied, \([0-9.]*\) s,.*/\1/p' <<< "$out")
    dd_rates+=("$(mib_s "$bytes" 0 "$secs")")
    printf '  round %s  dd    %7s MiB/s   (O_DIRECT, bs=1M, fsync)\n' "$r" "${dd_rates[-1]}"
done

col() { local r; for r in $(seq "$rounds"); do echo "${rate[$1,$2,$r]}"; done; }
peak_col() { local r; for r in $(seq "$rounds"); do read -r _ a b <<< "${rss[$1,$r]}"; echo "$a"; echo "$b"; done; }
echo "== medians over $rounds rounds =="
for dir in down up; do
    mm=$(median $(col mc "$dir")); sm=$(median $(col sftp "$dir"))
    declare "med_mc_$dir=$mm" "med_sftp_$dir=$sm"
    label=$([ "$dir" = down ] && echo "down (server->client)" || echo "up (client->server)")
    printf '%-22s miscomm %7.1f MiB/s   sftp %7.1f MiB/s   ratio %s\n' "$label" "$mm" "$sm" "$(ratio "$mm" "$sm")"
    printf '%-22s miscommd RSS peak during the transfers %s KiB\n' "" "$(peak_col "$dir" | sort -g | tail -n 1)"
done
ddm=$(median "${dd_rates[@]}")
printf '%-22s dd %7.1f MiB/s on %s   ratio miscomm-upload/dd %s\n' "disk" "$ddm" "$fs" "$(ratio "$med_mc_up" "$ddm")"
echo "(targets: down ratio >= 4, upload >= 0.90 of dd, RSS < 32768 KiB)"

# ---- through a delay ------------------------------------------------------
# The same transfers of a smaller file through bench/delay_proxy.py: once
# with no delay (what the relay itself costs) and once with DELAY_MS each way.
make_file "$work/small.bin" "$delay_mib"
cp "$work/small.bin" "$topda/small.bin"
miscli "$mc_port" ls > /dev/null 2>&1  # hashes small.bin, as above
declare -A relay
for d in 0 "$delay_ms"; do
    for target in mc ssh; do
        p=$(free_port)
        if [ "$target" = mc ]; then tp=$mc_port; else tp=$ssh_port; fi
        python3 "$top/bench/delay_proxy.py" "$p" "$tp" "$d" > "$work/proxy-$target-$d.out" 2>&1 &
        pids+=($!)
        wait_listen "$p" "delay_proxy ($target, $d ms)"
        relay[$target,$d]=$p
    done
done
echo "== $delay_mib MiB through bench/delay_proxy.py (0 and $delay_ms ms each way; direct = step 1 medians) =="
for dir in down up; do
    line=()
    for side in mc sftp; do
        if [ "$side" = mc ]; then target=mc; else target=ssh; fi
        if [ "$dir" = up ]; then src=$work/small.bin; else src=$topda/small.bin; fi
        for d in 0 "$delay_ms"; do
            transfer "$side" "$dir" "${relay[$target,$d]}" "$delay_mib" "$src"
            line+=("$t_rate")
        done
    done
    dm=med_mc_$dir; ds=med_sftp_$dir
    label=$([ "$dir" = down ] && echo "down" || echo "up")
    printf '  %-4s miscomm  direct %7.1f   relay 0 ms %7s   %s ms %7s MiB/s\n' "$label" "${!dm}" "${line[0]}" "$delay_ms" "${line[1]}"
    printf '  %-4s sftp     direct %7.1f   relay 0 ms %7s   %s ms %7s MiB/s   ratio at %s ms %s\n' "" "${!ds}" "${line[2]}" \
        "$delay_ms" "${line[3]}" "$delay_ms" "$(ratio "${line[1]}" "${line[3]}")"
done

echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
"$(tool miscommd)" --version | sed -n 2p
/usr/sbin/sshd -V 2>&1 | head -n 1 || true
if grep -q . "$work/miscommd.log"; then echo "-- miscommd log (warnings) --"; cat "$work/miscommd.log"; fi
if grep -q . "$work/sshd.log"; then echo "-- sshd log --"; cat "$work/sshd.log"; fi
