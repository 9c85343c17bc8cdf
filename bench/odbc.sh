#!/usr/bin/env bash
# Benchmark: a primary-key SELECT through the gateway's ODBC proxy
# (docs/protocol.md 5.15), against a direct ODBC client (the floor) and
# pgbouncer (the peer), side by side in one run, on a loopback PostgreSQL
# 15 started here (scripts/pg-demo.sh):
#
#   miscomm      bench/odbc_load.c on libmiscomm: N threads, each its own
#                TLS connection and ODBC handle (the connection's
#                odbc_credential), mc_query() of the named statement by_id
#                with a random id; miscommd runs it on its pooled
#                psqlODBC connections
#   direct ODBC  the same program straight on unixODBC + psqlODBC: N
#                threads, each its own connection, SQLPrepare once,
#                SQLExecute + SQLFetch + SQLGetData per query
#   pgbouncer    Debian's pgbouncer (pool_mode = transaction, SCRAM),
#                driven by pgbench -M extended with a custom script doing
#                the same SELECT with a random id
#   pgbench      the same pgbench straight to PostgreSQL (a reference line)
#
# The statement: SELECT id, status, planned_start FROM interventions WHERE
# id = ? (ids 1..379 in the demo database), as the role mobilesvc. Each run
# lasts SECONDS with 1 and then 16 clients; the four take turns, in an
# order that rotates every round. Prints per run and as medians over the
# rounds: p50 and p99 latency, queries/s, and CPU per query of the server
# side (miscommd, or pgbouncer), of PostgreSQL (postmaster and backends)
# and of the client; and the ratios p50 miscomm/direct (target <= 1.5 with
# one client) and q/s miscomm/pgbouncer (target >= 1 with 16 clients).
# Run by hand:
#   bash bench/odbc.sh [SECONDS] [ROUNDS]       (default 10 s, 3 rounds)
# Also a NOOP loop through the gateway on one connection: the transport alone.
# Environment: MISCOMM_BUILD (build/), MC_WOLFSSL_DIR (build/deps/wolfssl),
# ODBC_THREADS (the gateway's [odbc] threads, 4: the shipped default), CLIENTS ("1 16"),
# TCP_NODELAY (the connection's tcp_nodelay, yes; the default of miscommd is
# no, which costs 44 ms per query: bench/README.md).
# Needs root (PostgreSQL and pgbouncer run as the account miscomm-pg that
# scripts/pg-demo.sh creates) and a built tree; installs postgresql-15,
# odbc-postgresql, unixodbc-dev and pgbouncer when they are missing (the
# package's own pgbouncer service is never started here).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
rounds=${2:-3}
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-$build/deps/wolfssl}
# The shipped [odbc] threads. With 16, a thread per client, every query
# woke a sleeping thread and the context switches cost miscommd 52 us of
# CPU per query at 16 clients against 40 to 43 with 4 (bench/README.md).
odbc_threads=${ODBC_THREADS:-4}
tcp_nodelay=${TCP_NODELAY:-yes}
read -r -a client_counts <<< "${CLIENTS:-1 16}"
db_pw=${PG_DEMO_PASSWORD:-mobilesvc-demo}
pg_account=miscomm-pg
pgbin=/usr/lib/postgresql/15/bin

[ "$(id -u)" = 0 ] || { echo "bench: needs root (scripts/pg-demo.sh, pgbouncer -u)" >&2; exit 1; }
need=()
[ -x "$pgbin/pg_ctl" ] && [ -x "$pgbin/pgbench" ] || need+=(postgresql-15)
dpkg -s odbc-postgresql > /dev/null 2>&1 || need+=(odbc-postgresql)
[ -e /usr/include/sql.h ] || need+=(unixodbc-dev)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
if [ "${#need[@]}" -gt 0 ]; then
    # Debian's postinst may try to start pgbouncer's own service; where
    # policy-rc.d allows it, that service keeps running: it is not ours to stop.
    echo "bench: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi

# Everything in one directory; PostgreSQL's account must get through it.
work=$(mktemp -d /tmp/miscomm-odbc-XXXXXX)
chmod 0755 "$work"
pgdir=$work/pg
pids=()
pg_started=
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -z "$pg_started" ] || bash "$top/scripts/pg-demo.sh" stop "$pgdir" > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
umask 077

# The tree may be rebuilt while this runs: take a copy of what the run uses
# (waiting for a file briefly missing or still being written).
mkdir -p "$work/bin"
for t in miscommd misctl libmiscomm.a libmc_common.a; do
    for _ in $(seq 300); do
        if [ -s "$build/$t" ]; then
            s0=$(stat -c %s.%Y "$build/$t"); sleep 1
            if [ "$s0" = "$(stat -c %s.%Y "$build/$t" 2>/dev/null)" ] && cp "$build/$t" "$work/bin/$t"; then
                case $t in
                    *.a) ar t "$work/bin/$t" > /dev/null 2>&1 && break ;;
                    *) "$work/bin/$t" --help > /dev/null 2>&1 && break ;;
                esac
            fi
        fi
        sleep 1
    done
    [ -s "$work/bin/$t" ] || { echo "bench: no usable $build/$t" >&2; exit 1; }
done

# The helper, built here with the project's warnings (bench/README.md).
cflags=(-std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
        -Wmissing-prototypes -Wpointer-arith -Wvla -fno-common -Wconversion -Werror)
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/odbc_load" \
    "$top/bench/odbc_load.c" "$work/bin/libmiscomm.a" "$work/bin/libmc_common.a" \
    "$wolfssl/lib/libwolfssl.a" -lodbc -lsodium -lzstd -lm -lpthread

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }
wait_listen() { # port name
    for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
    echo "bench: $2 is not listening on 127.0.0.1:$1" >&2
    return 1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load_avg)

# ---- PostgreSQL ---------------------------------------------------------------
pg_port=$(free_port)
pg_started=1
PG_DEMO_PASSWORD=$db_pw bash "$top/scripts/pg-demo.sh" start "$pgdir" "$pg_port" > "$work/pg-demo.log" 2>&1 ||
    { cat "$work/pg-demo.log" >&2; exit 1; }
pm_pid=$(head -n 1 "$pgdir/pgdata/postmaster.pid")
read -r n_ids min_id max_id <<< "$(PGPASSWORD=$db_pw "$pgbin/psql" -X -q -At -F ' ' -h 127.0.0.1 \
    -p "$pg_port" -U mobilesvc -d servicedesk -c 'SELECT count(*), min(id), max(id) FROM interventions')"
[ "$min_id" = 1 ] && [ "$n_ids" = "$max_id" ] ||
    { echo "bench: interventions ids are not 1..N ($n_ids rows, $min_id..$max_id)" >&2; exit 1; }
id_max=$max_id
echo "$db_pw" > "$work/dbpw"

# ---- miscommd --------------------------------------------------------------------
mc_port=$(free_port)
mkdir -p "$work/certs" "$work/data"
echo "bench-password-$$" > "$work/pw"
hash=$("$work/bin/misctl" passwd --password-file "$work/pw")
cat > "$work/miscomm.ini" <<INI
[server]
log_level = warn
data_dir = $work/data
[tls]
certificate = $work/certs/miscomm.crt
key = $work/certs/miscomm.key
[connection bench]
bind = 127.0.0.1
port = $mc_port
password = $hash
timeout = 0
tcp_nodelay = $tcp_nodelay
odbc = on
odbc_mode = read_only
odbc_sources = servicedesk_pg
odbc_credential = $work/bench.cred
odbc_queries = bench
[odbc]
ini_dir = $pgdir/odbc
threads = $odbc_threads
pool_max = 16
[queries bench]
by_id = SELECT id, status, planned_start FROM interventions WHERE id = ?
INI
"$work/bin/misctl" cred create -c "$work/miscomm.ini" --dsn servicedesk_pg --user mobilesvc \
    --password-file "$work/dbpw" --out "$work/bench.cred" > "$work/cred.log" 2>&1 ||
    { cat "$work/cred.log" >&2; exit 1; }
"$work/bin/misctl" check-config "$work/miscomm.ini" > "$work/check.log" 2>&1 ||
    { cat "$work/check.log" >&2; exit 1; }
"$work/bin/miscommd" -c "$work/miscomm.ini" 2> "$work/miscommd.log" &
mc_pid=$!
pids+=("$mc_pid")
for _ in $(seq 100); do [ -s "$work/certs/miscomm.key" ] && break; sleep 0.1; done
wait_listen "$mc_port" miscommd

# ---- pgbouncer -------------------------------------------------------------------
# Its own ini, run in the foreground under PostgreSQL's account (it refuses
# root), no Unix socket, no PID file; SCRAM both ways with the plain
# password in auth_file.
pgb_port=$(free_port)
mkdir -p "$work/pgb"
printf '"mobilesvc" "%s"\n' "$db_pw" > "$work/pgb/userlist.txt"
cat > "$work/pgb/pgbouncer.ini" <<INI
[databases]
servicedesk = host=127.0.0.1 port=$pg_port dbname=servicedesk
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/pgb/userlist.txt
pool_mode = transaction
default_pool_size = 16
max_client_conn = 200
log_connections = 0
log_disconnections = 0
INI
chown -R "$pg_account:" "$work/pgb"
/usr/sbin/pgbouncer -u "$pg_account" "$work/pgb/pgbouncer.ini" 2> "$work/pgb/pgbouncer.log" &
pgb_pid=$!
pids+=("$pgb_pid")
wait_listen "$pgb_port" pgbouncer

# pgbench's script: the same statement, a random id per transaction.
cat > "$work/select.sql" <<SQL
\set id random(1, $id_max)
SELECT id, status, planned_start FROM interventions WHERE id = :id;
SQL
mkdir -p "$work/pgblog"

# ---- one run -------------------------------------------------------------------------
# side (mc|odbc|pgb|pgd) clients seconds; sets r_line to "p50 p99 qps cpu_server cpu_db cpu_client"
# (CPU in seconds over the run).
proc_cpu() { # pid [+] -> utime + stime (with +: and its children's), in seconds
    local pid=$1 kids=${2:-} st t c
    st=$(< "/proc/$pid/stat")
    st=${st##*) }
    read -r -a f <<< "$st"
    # f[0] is field 3 (state): utime is field 14 (f[11]).
    t=$(( f[11] + f[12] ))
    if [ -n "$kids" ]; then
        t=$(( t + f[13] + f[14] ))
        for c in $(< "/proc/$pid/task/$pid/children"); do
            { st=$(< "/proc/$c/stat"); } 2>/dev/null || continue  # it may have exited
            st=${st##*) }
            read -r -a f <<< "$st"
            t=$(( t + f[11] + f[12] ))
        done
    fi
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}
run_load() { # side clients seconds
    local side=$1 n=$2 s=$3 out
    if [ "$side" = mc ]; then
        out=$(ODBC_LOAD_WATCH="server=$mc_pid db=$pm_pid+" "$work/odbc_load" miscomm "$mc_port" \
              "$work/certs/miscomm.crt" "$work/pw" "$id_max" "$n" "$s" 2>> "$work/odbc_load.log") ||
            { cat "$work/odbc_load.log" >&2; return 1; }
    else
        out=$(ODBCSYSINI=$pgdir/odbc ODBCINI=$pgdir/odbc/odbc.ini ODBC_LOAD_WATCH="db=$pm_pid+" \
              "$work/odbc_load" odbc servicedesk_pg mobilesvc "$work/dbpw" "$id_max" "$n" "$s" \
              2>> "$work/odbc_load.log") || { cat "$work/odbc_load.log" >&2; return 1; }
    fi
    local srv
    srv=$(field cpu_server "$out")
    r_line="$(field p50_ms "$out") $(field p99_ms "$out") $(field qps "$out") ${srv:-0}"
    r_line+=" $(field cpu_db "$out") $(field client_cpu_s "$out")"
}
# pgbench, through pgbouncer (pgb) or straight to PostgreSQL (pgd). -M
# extended: pgbouncer's transaction pooling cannot keep a client's named
# prepared statements (a later transaction may get another server
# connection). (The gateway keeps a named statement prepared on each pooled
# connection, up to 16 per connection: it has the advantage here.) Latencies
# from the per-transaction log (column 3, microseconds), tps from pgbench;
# CPU sampled around the whole command (its connections included).
run_pgbench() { # side clients seconds
    local side=$1 n=$2 s=$3 port c0 d0 c1 d1 tps lat kids0
    if [ "$side" = pgb ]; then port=$pgb_port; else port=$pg_port; fi
    rm -f "$work/pgblog/"*
    c0=0; [ "$side" = pgb ] && c0=$(proc_cpu "$pgb_pid")
    d0=$(proc_cpu "$pm_pid" +)
    kids0=$(wc -w < "/proc/$pm_pid/task/$pm_pid/children")
    { TIMEFORMAT='%U %S'; time PGPASSWORD=$db_pw "$pgbin/pgbench" -n -h 127.0.0.1 -p "$port" \
        -U mobilesvc -f "$work/select.sql" -c "$n" -j "$n" -T "$s" -M extended \
        --log --log-prefix="$work/pgblog/tx" servicedesk > "$work/pgbench.out" 2> "$work/pgbench.err"; } \
        2> "$work/pgbench.time" || { cat "$work/pgbench.err" "$work/pgbench.time" >&2; return 1; }
    c1=0; [ "$side" = pgb ] && c1=$(proc_cpu "$pgb_pid")
    # The backends of pgbench's connections count once the postmaster has
    # reaped them (cutime): wait for them to be gone.
    for _ in $(seq 100); do
        [ "$(wc -w < "/proc/$pm_pid/task/$pm_pid/children")" -le "$kids0" ] && break
        sleep 0.02
    done
    d1=$(proc_cpu "$pm_pid" +)
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.out" | head -n 1)
    grep -q '^number of failed transactions: 0 ' "$work/pgbench.out" ||
        ! grep -q '^number of failed transactions' "$work/pgbench.out" ||
        { cat "$work/pgbench.out" >&2; return 1; }
    lat=$(cat "$work/pgblog/"* | awk '{print $3}' | sort -n | awk '
        {v[NR] = $1} END {
            k50 = int(NR * 0.50 + 0.999999); k99 = int(NR * 0.99 + 0.999999)
            printf "%.3f %.3f", v[k50] / 1000, v[k99] / 1000 }')
    r_line="$lat $tps $(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')"
    r_line+=" $(awk -v a="$d0" -v b="$d1" 'BEGIN {printf "%.2f", b - a}') $(awk '{printf "%.2f", $1 + $2}' "$work/pgbench.time")"
}
run() { # side clients seconds
    case $1 in
        mc | odbc) run_load "$@" ;;
        pgb | pgd) run_pgbench "$@" ;;
    esac
}

declare -A name=([mc]="miscomm" [odbc]="direct ODBC" [pgb]="pgbouncer" [pgd]="pgbench->PG")
declare -A p50 p99 qps us_s us_d us_c
us_per_q() { awk -v c="$1" -v q="$2" -v s="$3" 'BEGIN {if (q > 0) printf "%.0f", c * 1e6 / (q * s); else print "n/a"}'; }

echo "== primary-key SELECT, ${secs} s per run, $rounds rounds, clients ${client_counts[*]} (load average $load_start, $(nproc) CPUs) =="
echo "  PostgreSQL 15 on 127.0.0.1:$pg_port, ids 1..$id_max; miscommd [odbc] threads = $odbc_threads, pool_max = 16, tcp_nodelay = $tcp_nodelay"
# Warm-up, not counted: every side at the largest client count for 2 s, so
# that the gateway's pool and pgbouncer's server connections are open.
for side in mc odbc pgb pgd; do run "$side" "${client_counts[-1]}" 2 > /dev/null; done
sed -n 's/^odbc_load: /  /p' "$work/odbc_load.log" | sort -u
# The transport alone: NOOP round trips on one connection (TLS, the loop).
out=$(ODBC_LOAD_NOOP=1 "$work/odbc_load" miscomm "$mc_port" "$work/certs/miscomm.crt" "$work/pw" \
      "$id_max" 1 "$secs" 2>> "$work/odbc_load.log") || { cat "$work/odbc_load.log" >&2; exit 1; }
printf '  miscomm NOOP round trip, 1 client (no database): p50 %s ms  p99 %s ms  %s/s\n' \
    "$(field p50_ms "$out")" "$(field p99_ms "$out")" "$(field qps "$out")"
sides=(mc odbc pgb pgd)
for r in $(seq "$rounds"); do
    k=$(( (r - 1) % ${#sides[@]} ))
    order=("${sides[@]:k}" "${sides[@]:0:k}")
    for n in "${client_counts[@]}"; do
        for side in "${order[@]}"; do
            run "$side" "$n" "$secs"
            read -r a b q cs cd cc <<< "$r_line"
            p50[$side,$n,$r]=$a; p99[$side,$n,$r]=$b; qps[$side,$n,$r]=$q
            us_s[$side,$n,$r]=$(us_per_q "$cs" "$q" "$secs")
            us_d[$side,$n,$r]=$(us_per_q "$cd" "$q" "$secs")
            us_c[$side,$n,$r]=$(us_per_q "$cc" "$q" "$secs")
            srv=""
            case $side in
                mc) srv="miscommd ${us_s[$side,$n,$r]}, " ;;
                pgb) srv="pgbouncer ${us_s[$side,$n,$r]}, " ;;
            esac
            printf '  round %s  %2s cl  %-12s p50 %7.3f ms  p99 %7.3f ms  %8.1f q/s   CPU us/query: %sPostgreSQL %s, client %s\n' \
                "$r" "$n" "${name[$side]}" "$a" "$b" "$q" "$srv" "${us_d[$side,$n,$r]}" "${us_c[$side,$n,$r]}"
        done
        printf '  round %s  %2s cl  ratios: p50 miscomm/direct %s, q/s miscomm/pgbouncer %s\n' "$r" "$n" \
            "$(ratio "${p50[mc,$n,$r]}" "${p50[odbc,$n,$r]}")" "$(ratio "${qps[mc,$n,$r]}" "${qps[pgb,$n,$r]}")"
    done
done

col() { # array side clients -> the rounds' values
    local -n arr=$1
    for r in $(seq "$rounds"); do echo "${arr[$2,$3,$r]}"; done
}
med() { median $(col "$@"); }
echo "== medians over $rounds rounds =="
for n in "${client_counts[@]}"; do
    label="$n client$([ "$n" = 1 ] || echo s):"
    line=""
    for side in mc odbc pgb; do
        [ -z "$line" ] || line+=" | "
        line+=$(printf '%s p50 %.3f ms p99 %.3f ms %.0f q/s' "${name[$side]}" "$(med p50 "$side" "$n")" \
            "$(med p99 "$side" "$n")" "$(med qps "$side" "$n")")
    done
    rp=$(ratio "$(med p50 mc "$n")" "$(med p50 odbc "$n")")
    rq=$(ratio "$(med qps mc "$n")" "$(med qps pgb "$n")")
    if [ "$n" = 1 ]; then
        printf '%s %s ; ratio p50 miscomm/direct %s (target <= 1.5)\n' "$label" "$line" "$rp"
        other="ratio q/s miscomm/pgbouncer $rq"
    else
        printf '%s %s ; ratio q/s miscomm/pgbouncer %s (target >= 1)\n' "$label" "$line" "$rq"
        other="ratio p50 miscomm/direct $rp"
    fi
    printf '%*s (also %s; pgbench straight to PostgreSQL p50 %.3f ms p99 %.3f ms %.0f q/s)\n' \
        "${#label}" "" "$other" "$(med p50 pgd "$n")" "$(med p99 pgd "$n")" "$(med qps pgd "$n")"
    printf '%*s CPU us/query: miscomm: miscommd %s + PostgreSQL %s + client %s | direct: PostgreSQL %s + client %s | pgbouncer %s + PostgreSQL %s + pgbench %s\n' \
        "${#label}" "" "$(med us_s mc "$n")" "$(med us_d mc "$n")" "$(med us_c mc "$n")" \
        "$(med us_d odbc "$n")" "$(med us_c odbc "$n")" \
        "$(med us_s pgb "$n")" "$(med us_d pgb "$n")" "$(med us_c pgb "$n")"
done
echo "load average at the end $(load_avg) ($(nproc) CPUs)"
"$work/bin/miscommd" --version | sed -n 2p
/usr/sbin/pgbouncer --version | head -n 1
"$pgbin/postgres" --version
if grep -q . "$work/miscommd.log"; then echo "-- miscommd log (warnings) --"; tail -n 20 "$work/miscommd.log"; fi
if grep -qv '^\s*$' "$work/pgb/pgbouncer.log" && grep -q 'WARNING\|ERROR\|FATAL' "$work/pgb/pgbouncer.log"; then
    echo "-- pgbouncer log (warnings) --"; grep 'WARNING\|ERROR\|FATAL' "$work/pgb/pgbouncer.log" | tail -n 20
fi
