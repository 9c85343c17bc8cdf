#!/usr/bin/env bash
# Benchmark: intervention sync (docs/protocol.md 5.16) through the gateway,
# against the same SQL run directly over unixODBC + psqlODBC (the floor),
# side by side in one run, on a loopback PostgreSQL 15 started here
# (scripts/pg-demo.sh) with the demo schema, the sync tables and triggers
# (misctl sync init) and, added for the run as the superuser: technician
# 900 with ROWS (10,000) interventions spread over the demo's tickets, and
# technicians 901..916 with PER_DEVICE (50) interventions each.
#
#   full pull    miscomm: device bench-pull (bound to technician 900)
#                pulls from an empty cursor to the last page with
#                mc_sync_pull(), limit PAGE (0: the server's 1000, as the
#                offline store asks). The gateway runs per page: the
#                [device] SELECT, [horizon] (first page), the [pull] SELECT,
#                and the [device_seen] UPDATE (autocommit).
#                direct: the same [horizon] SELECT, then the same [pull]
#                SELECT, page by page (LIMIT PAGE + 1, the last seq as
#                `after`), every column read with SQLGetData in the C type
#                the gateway uses; no device lookup, no device_seen.
#   incremental  before each pull (untimed) the office changes CHANGES (100)
#                random interventions of technician 900 in one UPDATE
#                (report, version + 1); then the pull from where the last
#                one ended must return exactly those. miscomm: from the
#                cursor; direct: [horizon], then [pull] over the window
#                [previous horizon, horizon).
#   pushes       1 and 16 clients for SECONDS, each its own connection and
#                its own technician's interventions, each push one UPDATE
#                of time_spent_minutes (+1) on the client's next
#                intervention in turn, from the version and value last seen.
#                miscomm: devices bench-push-01..16 (technicians 901..916),
#                mc_sync_push() of one operation, checked APPLIED with
#                version + 1; the gateway runs [device] (autocommit), then in
#                one transaction [op_get], [row] (SELECT ... FOR UPDATE),
#                [apply], [op_put], COMMIT, then [device_pushed] (autocommit).
#                direct (the floor): one transaction in manual-commit mode,
#                prepared once: the mapping's [row] SELECT ... FOR UPDATE,
#                its [apply] UPDATE (the eight mapped fields bound as read,
#                time_spent_minutes + 1, with the version guard; one row
#                affected is checked), its [op_put] INSERT into
#                miscomm_sync_ops, SQLEndTran(COMMIT). No [device], no
#                [op_get], no [device_pushed].
#
# Both sides are bench/sync_load.c (libmiscomm or unixODBC), as the role
# mobilesvc. Per round, pulls then pushes, the two sides take turns in an
# order that alternates every round. Prints per run and as medians over the
# rounds: times (full and incremental pulls: the median of each run's timed
# pulls) and pushes/s with p50/p99, CPU per pull or per push of miscommd, of
# PostgreSQL (postmaster and backends) and of the client, and the ratios:
# full pull miscomm/direct (target <= 1.5), pushes/s miscomm/direct
# (target >= 0.5); with the medians, both the ratio of the medians and the
# median of the rounds' own ratios (each from two adjacent runs, so less
# exposed to the disk's flush time drifting during the run). Also what PostgreSQL wrote per pull or push, exactly,
# read around the timed spans (sync_load.c): transaction ids assigned
# (transactions that wrote, and the subtransactions of psqlODBC's
# per-statement savepoints) and WAL bytes; for pushes also the commit
# records in that WAL (pg_waldump): with synchronous_commit = on each of
# them waits for a WAL flush.
# Run by hand:
#   bash bench/sync.sh [SECONDS] [ROUNDS]       (default 10 s, 3 rounds)
# Environment: MISCOMM_BUILD (build/), MC_WOLFSSL_DIR (build/deps/wolfssl),
# CLIENTS ("1 16"), ROWS (10000), PER_DEVICE (50), CHANGES (100), PAGE (0),
# FULL_REPS (5 timed full pulls per run, after one untimed), INCR_REPS (10).
# Needs root (PostgreSQL runs as the account miscomm-pg that
# scripts/pg-demo.sh creates) and a built tree; installs postgresql-15,
# odbc-postgresql and unixodbc-dev when they are missing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
rounds=${2:-3}
build=${MISCOMM_BUILD:-$top/build}
wolfssl=${MC_WOLFSSL_DIR:-$build/deps/wolfssl}
read -r -a client_counts <<< "${CLIENTS:-1 16}"
n_rows=${ROWS:-10000}
per_device=${PER_DEVICE:-50}
changes=${CHANGES:-100}
page=${PAGE:-0}
full_reps=${FULL_REPS:-5}
incr_reps=${INCR_REPS:-10}
db_pw=${PG_DEMO_PASSWORD:-mobilesvc-demo}
admin_pw=${PG_DEMO_ADMIN_PASSWORD:-miscomm-admin-demo}
pgbin=/usr/lib/postgresql/15/bin
pull_tech=900
push_tech=901
max_clients=0
for n in "${client_counts[@]}"; do [ "$n" -le "$max_clients" ] || max_clients=$n; done

[ "$(id -u)" = 0 ] || { echo "bench: needs root (scripts/pg-demo.sh)" >&2; exit 1; }
need=()
[ -x "$pgbin/pg_ctl" ] || need+=(postgresql-15)
dpkg -s odbc-postgresql > /dev/null 2>&1 || need+=(odbc-postgresql)
[ -e /usr/include/sql.h ] || need+=(unixodbc-dev)
if [ "${#need[@]}" -gt 0 ]; then
    echo "bench: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi

# Everything in one directory; PostgreSQL's account must get through it.
work=$(mktemp -d /tmp/miscomm-sync-XXXXXX)
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
cc "${cflags[@]}" -I"$top/include" -I"$wolfssl/include" -o "$work/sync_load" \
    "$top/bench/sync_load.c" "$work/bin/libmiscomm.a" "$work/bin/libmc_common.a" \
    "$wolfssl/lib/libwolfssl.a" -lodbc -lsodium -lzstd -lsqlite3 -lm -lpthread

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
PG_DEMO_PASSWORD=$db_pw PG_DEMO_ADMIN_PASSWORD=$admin_pw bash "$top/scripts/pg-demo.sh" start \
    "$pgdir" "$pg_port" > "$work/pg-demo.log" 2>&1 || { cat "$work/pg-demo.log" >&2; exit 1; }
pm_pid=$(head -n 1 "$pgdir/pgdata/postmaster.pid")
# The superuser, through the cluster's socket (as scripts/pg-demo.sh's super_psql).
super_psql() {
    env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS PGCLIENTENCODING=UTF8 \
        "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdir" -p "$pg_port" -U postgres -d servicedesk "$@"
}
echo "$db_pw" > "$work/dbpw"
echo "$admin_pw" > "$work/adminpw"

# ---- miscommd's configuration, the sync tables, the data, the devices ---------------------
mc_port=$(free_port)
mkdir -p "$work/certs" "$work/data"
echo "bench-password-$$" > "$work/pw"
# The login's Argon2id hash with libsodium's smallest parameters (as
# bench/files.sh): 17 logins per run are not what is measured.
hash=$(python3 - "$work/pw" <<'PY'
import ctypes, ctypes.util, sys
na = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert na.sodium_init() >= 0
pw = open(sys.argv[1], "rb").read().split(b"\n")[0]
out = ctypes.create_string_buffer(128)
rc = na.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(1),
                              ctypes.c_size_t(8192), ctypes.c_int(2))
assert rc == 0
print(out.value.decode())
PY
)
# Database threads and connections of the gateway ([odbc] threads and
# pool_max, which sync uses too): 16, as many as the devices pushing at once.
db_threads=${DB_THREADS:-16}
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
tcp_nodelay = yes
sync = on
sync_mapping = bench
[odbc]
ini_dir = $pgdir/odbc
threads = $db_threads
pool_max = $db_threads
[sync bench]
credential = $work/bench.cred
mapping = $top/conf/sync/servicedesk
fields = status, actual_start, actual_end, time_spent_minutes, report, signatory_name, signature_file, signed_at
conflict_policy = reject
photo_dir = $work/data/photos
poll_interval = 2
INI
misctl() { "$work/bin/misctl" "$@" > "$work/misctl.log" 2>&1 || { cat "$work/misctl.log" >&2; exit 1; }; }
misctl cred create -c "$work/miscomm.ini" --dsn servicedesk_pg --user mobilesvc \
    --password-file "$work/dbpw" --out "$work/bench.cred"
misctl cred create -c "$work/miscomm.ini" --dsn servicedesk_pg --user miscomm_admin \
    --password-file "$work/adminpw" --out "$work/admin.cred"
misctl sync init --connection bench --credential "$work/admin.cred" -c "$work/miscomm.ini"
misctl check-config "$work/miscomm.ini"

# The interventions, after the triggers exist: every insert is in the change
# log as an office's would be. Reports about 150 characters, the tickets
# (with their site, room and asset) in turn.
last_push_tech=$((push_tech + max_clients - 1))
super_psql > "$work/data.log" 2>&1 <<SQL || { cat "$work/data.log" >&2; exit 1; }
SET client_min_messages = warning;
INSERT INTO technicians (id, login, first_name, last_name, email, team)
    SELECT g, 'bench' || g, 'Bench', 'Technician ' || g, 'bench' || g || '@example.invalid', 'Bench'
    FROM generate_series($pull_tech, $last_push_tech) g;
CREATE TEMP TABLE bench_tickets AS SELECT array_agg(id ORDER BY id) AS ids FROM tickets;
INSERT INTO interventions (ticket_id, technician_id, status, planned_start, planned_end,
                           time_spent_minutes, travel_minutes, report)
    SELECT ids[1 + g % cardinality(ids)], $pull_tech, 'planned',
           timestamp '2026-12-01 08:00' + g * interval '30 minutes',
           timestamp '2026-12-01 10:00' + g * interval '30 minutes', 0, 15,
           'Bench intervention ' || g || ': ' || repeat('checked the unit, ', 8)
    FROM generate_series(1, $n_rows) g, bench_tickets;
INSERT INTO interventions (ticket_id, technician_id, status, planned_start, planned_end,
                           time_spent_minutes, travel_minutes, report)
    SELECT ids[1 + g % cardinality(ids)], t, 'planned',
           timestamp '2026-12-01 08:00' + g * interval '30 minutes',
           timestamp '2026-12-01 10:00' + g * interval '30 minutes', 0, 15,
           'Bench intervention ' || g || ': ' || repeat('checked the unit, ', 8)
    FROM generate_series($push_tech, $last_push_tech) t, generate_series(1, $per_device) g,
         bench_tickets;
VACUUM ANALYZE;
SQL
misctl device add bench-pull --technician "$pull_tech" --connection bench -c "$work/miscomm.ini"
for i in $(seq "$max_clients"); do
    misctl device add "$(printf 'bench-push-%02d' "$i")" --technician "$((push_tech + i - 1))" \
        --connection bench -c "$work/miscomm.ini"
done
n_changes=$(super_psql -At -c "SELECT count(*) FROM miscomm_sync_changes WHERE technician_id = $pull_tech")
[ "$n_changes" = "$n_rows" ] ||
    { echo "bench: $n_changes changes logged for technician $pull_tech, not $n_rows" >&2; exit 1; }

"$work/bin/miscommd" -c "$work/miscomm.ini" 2> "$work/miscommd.log" &
mc_pid=$!
pids+=("$mc_pid")
for _ in $(seq 100); do [ -s "$work/certs/miscomm.key" ] && break; sleep 0.1; done
wait_listen "$mc_port" miscommd

# ---- the runs -------------------------------------------------------------------------------
load() { # pull|push mc|odbc KEY=VALUE...; the result line on stdout
    local what=$1 side=$2
    shift 2
    if [ "$side" = mc ]; then
        ODBCSYSINI=$pgdir/odbc ODBCINI=$pgdir/odbc/odbc.ini SYNC_LOAD_WATCH="server=$mc_pid db=$pm_pid+" \
            "$work/sync_load" "$what" miscomm port="$mc_port" cert="$work/certs/miscomm.crt" \
            pw="$work/pw" dsn=servicedesk_pg user=mobilesvc dbpw="$work/dbpw" "$@" \
            2>> "$work/sync_load.log" || { tail -n 5 "$work/sync_load.log" >&2; return 1; }
    else
        ODBCSYSINI=$pgdir/odbc ODBCINI=$pgdir/odbc/odbc.ini SYNC_LOAD_WATCH="db=$pm_pid+" \
            "$work/sync_load" "$what" odbc dsn=servicedesk_pg user=mobilesvc dbpw="$work/dbpw" "$@" \
            2>> "$work/sync_load.log" || { tail -n 5 "$work/sync_load.log" >&2; return 1; }
    fi
}
pull_args=(tech="$pull_tech" device=bench-pull full="$full_reps" incr="$incr_reps"
           changes="$changes" page="$page" rows="$n_rows")
push_tech_args=(tech="$push_tech" device=bench-push)

declare -A name=([mc]="miscomm" [odbc]="direct")
declare -A rr  # the rounds' own ratios (adjacent runs: steadier than a ratio of medians)
declare -A full_ms incr_ms full_cpu incr_cpu pps p50 p99 push_cpu full_wr incr_wr push_wr
cpu_txt() { # [server] db client (unquoted: the direct side has no server) -> text
    if [ $# -ge 3 ]; then printf 'miscommd %s, PostgreSQL %s, client %s' "$1" "$2" "$3"
    else printf 'PostgreSQL %s, client %s' "$1" "$2"; fi
}
wr_txt() { # xids wal-bytes [commits] (per operation) -> text
    if [ $# -ge 3 ]; then printf 'writes: %s commits, %.2f xids, %.0f B WAL' "$3" "$1" "$2"
    else printf 'writes: %.2f xids, %.0f B WAL' "$1" "$2"; fi
}
lsn() { printf '%X/%X' $(($1 >> 32)) $(($1 & 0xffffffff)); }
commits() { # wal_start wal_end -> COMMIT records between them (n/a when the WAL is gone)
    local n
    n=$("$pgbin/pg_waldump" -p "$pgdir/pgdata/pg_wal" -s "$(lsn "$1")" -e "$(lsn "$2")" 2>/dev/null |
        grep -c 'desc: COMMIT') || true
    echo "${n:-n/a}"
}
us_per() { awk -v c="$1" -v q="$2" -v s="$3" 'BEGIN {if (q > 0) printf "%.0f", c * 1e6 / (q * s); else print "n/a"}'; }

pages_txt=$([ "$page" = 0 ] && echo 1000 || echo "$page")
echo "== intervention sync, PostgreSQL 15 on 127.0.0.1:$pg_port, $rounds rounds (load average $load_start, $(nproc) CPUs) =="
echo "  full pull: $n_rows interventions of technician $pull_tech, pages of $pages_txt, $full_reps timed pulls per run (after 1 untimed)"
echo "  incremental pull: $changes interventions changed by the office before each, $incr_reps per run"
echo "  pushes: ${secs} s per run, clients ${client_counts[*]}, one field per push, $per_device interventions per client in turn"
sides=(mc odbc)
for r in $(seq "$rounds"); do
    k=$(( (r - 1) % 2 ))
    order=("${sides[@]:k}" "${sides[@]:0:k}")
    for side in "${order[@]}"; do
        out=$(load pull "$side" "${pull_args[@]}")
        full_ms[$side,$r]=$(field full_p50_ms "$out")
        incr_ms[$side,$r]=$(field incr_p50_ms "$out")
        full_cpu[$side,$r]="$(field full_cpu_server_ms "$out") $(field full_cpu_db_ms "$out") $(field full_cpu_client_ms "$out")"
        incr_cpu[$side,$r]="$(field incr_cpu_server_ms "$out") $(field incr_cpu_db_ms "$out") $(field incr_cpu_client_ms "$out")"
        full_wr[$side,$r]="$(field full_xids "$out") $(field full_wal_bytes "$out")"
        incr_wr[$side,$r]="$(field incr_xids "$out") $(field incr_wal_bytes "$out")"
        # shellcheck disable=SC2086
        printf '  round %s  full pull  %-8s %8.1f ms (min %.1f, max %.1f)  %s rows in %s pages   CPU ms/pull: %s   %s\n' \
            "$r" "${name[$side]}" "${full_ms[$side,$r]}" "$(field full_min_ms "$out")" \
            "$(field full_max_ms "$out")" "$(field rows "$out")" "$(field pages "$out")" "$(cpu_txt ${full_cpu[$side,$r]})" \
            "$(wr_txt ${full_wr[$side,$r]})"
        # shellcheck disable=SC2086
        printf '  round %s  incr pull  %-8s %8.2f ms (min %.2f, max %.2f)  %s rows in %s pages   CPU ms/pull: %s   %s\n' \
            "$r" "${name[$side]}" "${incr_ms[$side,$r]}" "$(field incr_min_ms "$out")" \
            "$(field incr_max_ms "$out")" "$(field incr_rows "$out")" "$(field incr_pages "$out")" "$(cpu_txt ${incr_cpu[$side,$r]})" \
            "$(wr_txt ${incr_wr[$side,$r]})"
    done
    rr[full,$r]=$(ratio "${full_ms[mc,$r]}" "${full_ms[odbc,$r]}")
    rr[incr,$r]=$(ratio "${incr_ms[mc,$r]}" "${incr_ms[odbc,$r]}")
    printf '  round %s  ratios miscomm/direct: full pull %s, incremental pull %s\n' "$r" "${rr[full,$r]}" "${rr[incr,$r]}"
    for n in "${client_counts[@]}"; do
        for side in "${order[@]}"; do
            out=$(load push "$side" "${push_tech_args[@]}" clients="$n" seconds="$secs")
            q=$(field pps "$out")
            pps[$side,$n,$r]=$q
            p50[$side,$n,$r]=$(field p50_ms "$out")
            p99[$side,$n,$r]=$(field p99_ms "$out")
            s=$(field cpu_server "$out")
            push_cpu[$side,$n,$r]="$([ -n "$s" ] && us_per "$s" "$q" "$secs") $(us_per "$(field cpu_db "$out")" "$q" "$secs") $(us_per "$(field client_cpu_s "$out")" "$q" "$secs")"
            c=$(commits "$(field wal_start "$out")" "$(field wal_end "$out")")
            push_wr[$side,$n,$r]=$(awk -v x="$(field xids "$out")" -v w="$(field wal_bytes "$out")" \
                -v n="$(field pushes "$out")" -v c="$c" \
                'BEGIN {printf "%.2f %.0f %s", x / n, w / n, (c == "n/a" ? c : sprintf("%.2f", c / n))}')
            # shellcheck disable=SC2086
            printf '  round %s  pushes %2s cl  %-8s %8.1f /s  p50 %7.3f ms  p99 %7.3f ms   CPU us/push: %s   %s\n' \
                "$r" "$n" "${name[$side]}" "$q" "${p50[$side,$n,$r]}" "${p99[$side,$n,$r]}" "$(cpu_txt ${push_cpu[$side,$n,$r]})" \
                "$(wr_txt ${push_wr[$side,$n,$r]})"
        done
        rr[push$n,$r]=$(ratio "${pps[mc,$n,$r]}" "${pps[odbc,$n,$r]}")
        printf '  round %s  pushes %2s cl  ratio miscomm/direct %s\n' "$r" "$n" "${rr[push$n,$r]}"
    done
done

col() { # array key-suffix -> the rounds' values
    local -n arr=$1
    for r in $(seq "$rounds"); do echo "${arr[$2,$r]}"; done
}
med() { mapfile -t v < <(col "$@"); median "${v[@]}"; }
med_wr() { # array key -> "xids wal [commits]" medians
    local -n arr=$1
    local a=() b=() c=() x y z
    for r in $(seq "$rounds"); do
        read -r x y z <<< "${arr[$2,$r]}"
        a+=("$x"); b+=("$y")
        [ -z "$z" ] || [ "$z" = n/a ] || c+=("$z")
    done
    printf '%s %s %s' "$(median "${a[@]}")" "$(median "${b[@]}")" "$([ "${#c[@]}" -gt 0 ] && median "${c[@]}")"
}
med_cpu() { # array key -> "server db client" medians
    local -n arr=$1
    local a=() b=() c=() x y z
    for r in $(seq "$rounds"); do
        read -r x y z <<< "${arr[$2,$r]}"
        if [ -z "$z" ]; then z=$y; y=$x; x=""; fi
        [ -z "$x" ] || a+=("$x"); b+=("$y"); c+=("$z")
    done
    printf '%s %s %s' "$([ "${#a[@]}" -gt 0 ] && median "${a[@]}")" "$(median "${b[@]}")" "$(median "${c[@]}")"
}
echo "== medians over $rounds rounds =="
rf=$(ratio "$(med full_ms mc)" "$(med full_ms odbc)")
ri=$(ratio "$(med incr_ms mc)" "$(med incr_ms odbc)")
printf 'full pull of %s:        miscomm %8.1f ms | direct %8.1f ms ; ratio %s, median of the rounds %s (target <= 1.5)\n' \
    "$n_rows" "$(med full_ms mc)" "$(med full_ms odbc)" "$rf" "$(med rr full)"
# shellcheck disable=SC2046
printf '                            CPU ms/pull: miscomm: %s | direct: %s\n' \
    "$(cpu_txt $(med_cpu full_cpu mc))" "$(cpu_txt $(med_cpu full_cpu odbc))"
# shellcheck disable=SC2046
printf '                            per pull, %s | %s\n' \
    "$(wr_txt $(med_wr full_wr mc))" "$(wr_txt $(med_wr full_wr odbc))"
printf 'incremental pull of %s:   miscomm %8.2f ms | direct %8.2f ms ; ratio %s, median of the rounds %s\n' \
    "$changes" "$(med incr_ms mc)" "$(med incr_ms odbc)" "$ri" "$(med rr incr)"
# shellcheck disable=SC2046
printf '                            CPU ms/pull: miscomm: %s | direct: %s\n' \
    "$(cpu_txt $(med_cpu incr_cpu mc))" "$(cpu_txt $(med_cpu incr_cpu odbc))"
# shellcheck disable=SC2046
printf '                            per pull, %s | %s\n' \
    "$(wr_txt $(med_wr incr_wr mc))" "$(wr_txt $(med_wr incr_wr odbc))"
for n in "${client_counts[@]}"; do
    label=$(printf 'pushes, %2s client%s:' "$n" "$([ "$n" = 1 ] && echo " " || echo s)")
    rp=$(ratio "$(med pps "mc,$n")" "$(med pps "odbc,$n")")
    printf '%-27s miscomm %8.1f /s (p50 %.3f ms, p99 %.3f ms) | direct %8.1f tx/s (p50 %.3f ms, p99 %.3f ms) ; ratio %s, median of the rounds %s (target >= 0.5)\n' \
        "$label" "$(med pps "mc,$n")" "$(med p50 "mc,$n")" "$(med p99 "mc,$n")" \
        "$(med pps "odbc,$n")" "$(med p50 "odbc,$n")" "$(med p99 "odbc,$n")" "$rp" "$(med rr "push$n")"
    # shellcheck disable=SC2046
    printf '                            CPU us/push: miscomm: %s | direct: %s\n' \
        "$(cpu_txt $(med_cpu push_cpu "mc,$n"))" "$(cpu_txt $(med_cpu push_cpu "odbc,$n"))"
    # shellcheck disable=SC2046
    printf '                            per push, %s | %s\n' \
        "$(wr_txt $(med_wr push_wr "mc,$n"))" "$(wr_txt $(med_wr push_wr "odbc,$n"))"
done
echo "load average at the end $(load_avg) ($(nproc) CPUs)"
"$work/bin/miscommd" --version | sed -n 2p
"$pgbin/postgres" --version
echo "PostgreSQL: $(super_psql -At -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')")"
if grep -q . "$work/miscommd.log"; then echo "-- miscommd log (warnings) --"; tail -n 20 "$work/miscommd.log"; fi
