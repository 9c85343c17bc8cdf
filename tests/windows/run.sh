#!/usr/bin/env bash
# The Windows binaries under Wine (make test-windows):
#
#   tests/windows/run.sh BUILD_WIN BUILD_LINUX
#
# Wine runs in its own prefix under BUILD_WIN (wine/), quiet (WINEDEBUG=-all),
# without its crash dialog, and its server is stopped at the end whatever
# happens. A Linux miscommd (BUILD_LINUX) serves the Windows client, with a
# certificate the Windows misctl made; when BUILD_WIN has a miscommd.exe, the
# Linux miscli pings it too. Ends with "N passed, N failed".
set -uo pipefail

win=$(cd "${1:?usage: run.sh BUILD_WIN BUILD_LINUX}" && pwd)
linux=$(cd "${2:?usage: run.sh BUILD_WIN BUILD_LINUX}" && pwd)
export WINEPREFIX="$win/wine" WINEDEBUG=-all WINEARCH=win64
# No Mono or Gecko install prompt: nothing here needs .NET or a browser.
export WINEDLLOVERRIDES="mscoree,mshtml="
export DISPLAY=
work=$(mktemp -d "${TMPDIR:-/tmp}/miscomm-wine.XXXXXX")
server_pid=

cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    wineserver -k 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; shift; printf '     %s\n' "$@"; failed=$((failed + 1)); }

# wine PROGRAM.exe ARGS...: the Windows program's exit status, its stdout
# and stderr in $work/out (Wine's own start-up messages are not ours).
run() {
    timeout 120 wine "$@" > "$work/out" 2>&1 < "${RUN_STDIN:-/dev/null}"
}

echo "wine: prefix $WINEPREFIX ($(wine --version))"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    timeout 300 wineboot -i > "$work/boot" 2>&1 || { cat "$work/boot"; exit 1; }
    # Let the new prefix's first session end (its registry written out and
    # its services.exe gone) before the tests start the next one: services
    # created in the first session of a fresh prefix were not always found.
    timeout 60 wineserver -w
fi
# The crash dialog off: a crash is a failed test, not a window nobody sees.
wine reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f > /dev/null 2>&1

# A clean slate: what an interrupted earlier run left installed goes first.
pf="$WINEPREFIX/drive_c/Program Files/miscomm"
pd="$WINEPREFIX/drive_c/ProgramData/miscomm"
run "$win/miscommd.exe" --uninstall-service
rm -rf "$pf" "$pd"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- the tools run ----------------------------------------------------------
if run "$win/miscli.exe" --help && grep -q '^Usage: miscli' "$work/out"; then
    ok "miscli.exe --help"
else
    bad "miscli.exe --help" "$(head -5 "$work/out")"
fi
if run "$win/misctl.exe" --help && grep -q 'passwd' "$work/out"; then
    ok "misctl.exe --help"
else
    bad "misctl.exe --help" "$(head -5 "$work/out")"
fi

# misctl passwd: an Argon2id hash the Linux tools accept as a password key.
printf 'correct horse battery\n' > "$work/pw"
if RUN_STDIN="$work/pw" run "$win/misctl.exe" passwd --password-stdin &&
   grep -q '^\$argon2id\$v=19\$' "$work/out"; then
    ok "misctl.exe passwd --password-stdin"
    grep '^\$argon2id' "$work/out" | tr -d '\r' > "$work/pw.hash"
else
    bad "misctl.exe passwd --password-stdin" "$(head -5 "$work/out")"
fi

# misctl cert create, with Windows paths (Z: is Wine's view of /).
mkdir -p "$work/certs"
if run "$win/misctl.exe" cert create --cn localhost --san localhost,127.0.0.1 \
        --out "Z:${work//\//\\}\\certs\\miscomm.crt" --key-out "Z:${work//\//\\}\\certs\\miscomm.key" &&
   [ -s "$work/certs/miscomm.crt" ] && [ -s "$work/certs/miscomm.key" ] &&
   openssl x509 -in "$work/certs/miscomm.crt" -noout -text | grep -q 'DNS:localhost'; then
    ok "misctl.exe cert create (a certificate openssl reads)"
else
    bad "misctl.exe cert create" "$(head -5 "$work/out")"
fi
if run "$win/misctl.exe" cert show "Z:${work//\//\\}\\certs\\miscomm.crt" &&
   grep -qi 'sha-\?256' "$work/out"; then
    ok "misctl.exe cert show"
else
    bad "misctl.exe cert show" "$(head -5 "$work/out")"
fi

# --- the Windows client against the Linux gateway ---------------------------
port=$(free_port)
mkdir -p "$work/data"
cat > "$work/miscomm.ini" <<EOF
[server]
data_dir = data
log_level = debug
[tls]
certificate = certs/miscomm.crt
key = certs/miscomm.key
[connection psdmobile]
bind = 127.0.0.1
port = $port
password = $(cat "$work/pw.hash" 2>/dev/null)
EOF
"$linux/miscommd" -c "$work/miscomm.ini" > "$work/linux-miscommd.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    grep -q 'event=ready' "$work/linux-miscommd.log" && break
    sleep 0.1
done
if RUN_STDIN="$work/pw" run "$win/miscli.exe" -p "$port" \
        --cafile "Z:${work//\//\\}\\certs\\miscomm.crt" --device wine-test ping --count 3 &&
   grep -q '3 received' "$work/out"; then
    ok "miscli.exe ping --count 3 to a Linux miscommd over TLS (the Windows-made certificate)"
else
    bad "miscli.exe ping to a Linux miscommd" "$(head -8 "$work/out")" \
        "$(tail -5 "$work/linux-miscommd.log")"
fi
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=

# --- miscommd.exe (a console process under Wine) and the Linux client --------
wpath() { echo "Z:${1//\//\\}"; } # a Linux path as Wine's Z: drive shows it
wport=$(free_port)
mkdir -p "$work/win/certs" "$work/win/data"
cp "$work/certs/miscomm.crt" "$work/certs/miscomm.key" "$work/win/certs/"
cat > "$work/win/miscomm.ini" <<EOF
[server]
data_dir = data
log_level = debug
shutdown_grace = 2
[tls]
certificate = certs\\miscomm.crt
key = certs\\miscomm.key
[connection psdmobile]
bind = 127.0.0.1
port = $wport
password = $(cat "$work/pw.hash" 2>/dev/null)
send_files = on
receive_files = on
EOF
: > "$work/win/miscommd.log"
wine "$win/miscommd.exe" -c "$(wpath "$work/win/miscomm.ini")" > "$work/win/miscommd.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do
    grep -q 'event=ready' "$work/win/miscommd.log" && break
    sleep 0.1
done
cli=("$linux/miscli" -p "$wport" --cafile "$work/certs/miscomm.crt" --password-file "$work/pw"
     --device linux-test)
if grep -q 'event=ready' "$work/win/miscommd.log"; then
    ok "miscommd.exe starts under Wine as a console process (event=ready)"
else
    bad "miscommd.exe starts under Wine" "$(tail -5 "$work/win/miscommd.log")"
fi
if timeout 60 "${cli[@]}" ping --count 3 > "$work/out" 2>&1 && grep -q '3 received' "$work/out"; then
    ok "Linux miscli ping --count 3 to miscommd.exe over TLS"
else
    bad "Linux miscli ping to miscommd.exe" "$(tail -3 "$work/out")" "$(tail -5 "$work/win/miscommd.log")"
fi
# A file up (staged, then renamed into place with MoveFileExW) and one down,
# through the Windows file calls (src/common/platform_win_fs.c).
head -c 300000 /dev/urandom > "$work/upload.bin"
if timeout 60 "${cli[@]}" put "$work/upload.bin" --as report.bin > "$work/out" 2>&1 &&
   landed=$(find "$work/win/data" -name report.bin | head -n 1) && [ -n "$landed" ] &&
   cmp -s "$work/upload.bin" "$landed"; then
    ok "Linux miscli put to miscommd.exe (the file lands whole)"
else
    bad "Linux miscli put to miscommd.exe" "$(tail -3 "$work/out")" \
        "$(find "$work/win/data" | head -10)" "$(grep -iE 'op=put|error' "$work/win/miscommd.log" | tail -3)"
fi
topda=$(find "$work/win/data" -type d -iname 'topda' | head -n 1)
[ -n "$topda" ] && printf 'from the office\r\n' > "$topda/note.txt"
if timeout 60 "${cli[@]}" get note.txt -o "$work/note.txt" > "$work/out" 2>&1 &&
   cmp -s "$work/note.txt" <(printf 'from the office\r\n'); then
    ok "Linux miscli get from miscommd.exe (bytes unchanged, CR LF kept)"
else
    bad "Linux miscli get from miscommd.exe" "$(tail -3 "$work/out")" "topda=$topda" \
        "$(find "$work/win/data" | head -10)"
fi
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
server_pid=

# --- miscommd.exe as a service under Wine's service manager ------------------
sport=$(free_port)
mkdir -p "$work/svc/certs"
cp "$work/certs/miscomm.crt" "$work/certs/miscomm.key" "$work/svc/certs/"
sed -e "s/^port = .*/port = $sport/" -e 's/^log_level = debug/log_level = debug\nlog_target = file\nlog_file = miscommd.log/' \
    "$work/win/miscomm.ini" > "$work/svc/miscomm.ini"
svc_ini=$(wpath "$work/svc/miscomm.ini")
# Wine's service manager may take a moment to show a new service: wait for it.
svc_ok=0
if run "$win/miscommd.exe" --install-service -c "$svc_ini" && grep -q "installed the service 'miscomm'" "$work/out"; then
    for _ in $(seq 20); do
        run "$win/miscommd.exe" --service-status
        grep -q 'not installed' "$work/out" || break
        sleep 0.5
    done
    run "$win/miscommd.exe" --start-service && grep -q 'is running' "$work/out" && svc_ok=1
fi
if [ $svc_ok = 1 ]; then
    ok "miscommd.exe --install-service and --start-service (Wine's service manager)"
else
    bad "miscommd.exe as a service" "$(head -5 "$work/out")"
fi
if timeout 60 "$linux/miscli" -p "$sport" --cafile "$work/certs/miscomm.crt" --password-file "$work/pw" \
        ping --count 2 > "$work/out" 2>&1 && grep -q '2 received' "$work/out"; then
    ok "Linux miscli ping to the miscomm service"
else
    bad "Linux miscli ping to the miscomm service" "$(tail -3 "$work/out")" \
        "$(tail -5 "$work/svc/miscommd.log" 2>/dev/null)"
fi
if run "$win/misctl.exe" reload -c "$svc_ini" && grep -q 'sent the reload control' "$work/out"; then
    for _ in $(seq 50); do
        grep -q 'event=reload result=' "$work/svc/miscommd.log" && break
        sleep 0.1
    done
fi
if grep -q 'event=reload result=ok' "$work/svc/miscommd.log"; then
    ok "misctl.exe reload: SERVICE_CONTROL_PARAMCHANGE reloads (event=reload result=ok)"
else
    bad "misctl.exe reload" "$(head -3 "$work/out")" "$(grep 'event=reload' "$work/svc/miscommd.log")"
fi
if run "$win/miscommd.exe" --stop-service && grep -q 'is stopped' "$work/out" &&
   grep -q 'event=draining signal=SERVICE_CONTROL_STOP' "$work/svc/miscommd.log" &&
   grep -q 'event=stopped exit_code=0' "$work/svc/miscommd.log"; then
    ok "miscommd.exe --stop-service: the SIGTERM drain, exit 0"
else
    bad "miscommd.exe --stop-service" "$(head -3 "$work/out")" "$(tail -3 "$work/svc/miscommd.log")"
fi
if run "$win/miscommd.exe" --uninstall-service && grep -q "removed the service" "$work/out" &&
   ! run "$win/miscommd.exe" --service-status; then
    ok "miscommd.exe --uninstall-service"
else
    bad "miscommd.exe --uninstall-service" "$(head -3 "$work/out")"
fi

# --- the installer, silent (/S) -----------------------------------------------
if [ ! -f "$win/miscomm-setup.exe" ]; then
    bad "installer" "no $win/miscomm-setup.exe (make windows builds it)"
else
    rm -rf "$pd"
    if run "$win/miscomm-setup.exe" /S && [ -f "$pf/miscommd.exe" ] && [ -f "$pf/misctl.exe" ] &&
       [ -f "$pf/miscli.exe" ] && [ -f "$pf/libmiscomm.dll" ] && [ -f "$pf/uninstall.exe" ] &&
       [ -f "$pd/miscomm.ini" ] && [ -d "$pd/certs" ] && [ -d "$pd/data" ] &&
       run "$pf/miscommd.exe" --service-status; [ -f "$pf/miscommd.exe" ] && grep -q '^miscomm: ' "$work/out" &&
       ! grep -q 'not installed' "$work/out"; then
        ok "miscomm-setup.exe /S: programs, %ProgramData%\\miscomm with miscomm.ini, the service registered ($(tr -d '\r' < "$work/out"))"
    else
        bad "miscomm-setup.exe /S" "$(ls "$pf" "$pd" 2>&1 | tr '\n' ' ')" "$(cat "$work/out")"
    fi
    # The uninstaller copies itself away and returns at once: wait for it.
    echo '; the administrator edited this' >> "$pd/miscomm.ini"
    run "$pf/uninstall.exe" /S
    for _ in $(seq 150); do
        [ -e "$pf" ] || break
        sleep 0.2
    done
    if [ ! -e "$pf" ] && run "$win/miscommd.exe" --service-status; grep -q 'not installed' "$work/out" &&
       grep -q 'the administrator edited this' "$pd/miscomm.ini"; then
        ok "uninstall.exe /S: programs and service gone, %ProgramData%\\miscomm kept"
    else
        bad "uninstall.exe /S" "$(ls "$pf" 2>&1 | tr '\n' ' ')" "$(cat "$work/out")"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
