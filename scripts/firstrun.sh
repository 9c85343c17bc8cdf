#!/usr/bin/env bash
# First-start set-up for 'make run': the demo connection's password and its
# Argon2id hash, in certs/ (kept out of git). miscommd itself creates the
# self-signed certificate and key on its first start.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
umask 077
mkdir -p certs data
if [ ! -s certs/psdmobile.password ] || [ ! -s certs/psdmobile.hash ]; then
    head -c 18 /dev/urandom | base64 | tr '+/' '-_' > certs/psdmobile.password
    build/misctl passwd --password-file certs/psdmobile.password > certs/psdmobile.hash.tmp
    mv certs/psdmobile.hash.tmp certs/psdmobile.hash
    echo "firstrun: created the demo connection's password in certs/psdmobile.password"
fi
# The demo service-desk database (SQLite, through the gateway's own ODBC
# data source) and the credential file the demo connection opens it with.
bash scripts/demo-db.sh "$top/data" >/dev/null
if [ ! -s data/servicedesk.cred ]; then
    # SQLite has no accounts: the user and password are the file format's.
    printf 'demo\n' > data/servicedesk.dbpw
    build/misctl cred create -c conf/miscomm.ini --dsn servicedesk --user demo \
        --password-file data/servicedesk.dbpw --out data/servicedesk.cred >/dev/null
    rm -f data/servicedesk.dbpw
    echo "firstrun: created the demo database data/servicedesk.db and its credential data/servicedesk.cred"
fi
# Intervention sync: its tables and triggers in the demo database (safe to
# run again), and this machine's host name (miscli's default device id)
# bound to technician 1, so that 'miscli sync' works at once.
build/misctl sync init -c conf/miscomm.ini --connection PSDMOBILE >/dev/null
device=$(hostname)
if ! build/misctl device list -c conf/miscomm.ini --connection PSDMOBILE | awk '{print $1}' | grep -qxF "$device"; then
    build/misctl device add "$device" --technician 1 --connection PSDMOBILE -c conf/miscomm.ini >/dev/null
    echo "firstrun: bound device '$device' (this host's name, miscli's default) to technician 1 for sync"
fi
