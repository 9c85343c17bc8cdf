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
