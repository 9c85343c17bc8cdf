#!/usr/bin/env bash
# Create the SQLite demo service-desk database and an ODBC data source for it.
#
#   scripts/demo-db.sh DATA_DIR
#
# DATA_DIR/servicedesk.db     created from conf/servicedesk/schema.sql and
#                             data.sql, only when it does not exist yet (an
#                             existing database is never touched)
# DATA_DIR/odbc/odbcinst.ini  driver "SQLite3" -> Debian's libsqliteodbc
# DATA_DIR/odbc/odbc.ini      DSN "servicedesk" -> that database
#
# Use it with:
#   ODBCSYSINI=DATA_DIR/odbc ODBCINI=DATA_DIR/odbc/odbc.ini isql -v servicedesk
#
# Only the [SQLite3] and [servicedesk] sections of those two files are
# written; other sections already there (scripts/pg-demo.sh's, say) are
# kept. /etc/odbc.ini and /etc/odbcinst.ini are never read or written.
# Safe to run again: it says what it created, updated or left as it was.
set -euo pipefail

die() { echo "demo-db: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DATA_DIR"
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
schema=$src/conf/servicedesk/schema.sql
data=$src/conf/servicedesk/data.sql
[ -r "$schema" ] && [ -r "$data" ] || die "missing $schema or $data"
command -v sqlite3 >/dev/null || die "sqlite3 is not installed (scripts/deps.sh installs it)"

mkdir -p "$1"
dir=$(cd "$1" && pwd)
case $dir in *$'\n'* | *[\;\[\]]*) die "unusable directory name: $dir" ;; esac
db=$dir/servicedesk.db

# -- the database ------------------------------------------------------------
if [ -e "$db" ]; then
    echo "demo-db: kept $db (exists)"
else
    # Built aside and renamed into place, so a failed load leaves no half
    # database that the next run would keep.
    tmp=$(mktemp "$dir/.servicedesk.db.XXXXXX")
    trap 'rm -f "$tmp" "$tmp-journal" "$tmp-wal" "$tmp-shm"' EXIT
    {
        echo "PRAGMA foreign_keys = ON;"
        cat "$schema" "$data"
        # WAL: the gateway's pool readers do not block its writer. The mode
        # is stored in the file and holds for every later connection.
        echo "PRAGMA journal_mode = WAL;"
    } | sqlite3 -bail "$tmp" >/dev/null || die "loading the schema and data into SQLite failed"
    bad=$(sqlite3 "$tmp" "PRAGMA foreign_key_check;")
    [ -z "$bad" ] || die "foreign key check failed: $bad"
    chmod 0644 "$tmp"
    mv "$tmp" "$db"
    trap - EXIT
    echo "demo-db: created $db ($(sqlite3 "$db" "SELECT COUNT(*) FROM interventions;") interventions," \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM tickets;") tickets," \
        "$(sqlite3 "$db" "SELECT COUNT(*) FROM assets;") assets)"
fi

# -- the ODBC files ------------------------------------------------------------
driver=$(dpkg -L libsqliteodbc 2>/dev/null | grep '/libsqlite3odbc\.so$' | head -n1 || true)
if [ -z "$driver" ]; then
    for f in /usr/lib/*/odbc/libsqlite3odbc.so /usr/lib/odbc/libsqlite3odbc.so; do
        [ -e "$f" ] && { driver=$f; break; }
    done
fi
[ -n "$driver" ] && [ -e "$driver" ] || die "the SQLite ODBC driver is not installed (package libsqliteodbc)"

# put_section: scripts/ini-section.sh
. "$(dirname "$0")/ini-section.sh"

mkdir -p "$dir/odbc"
# DontDLClose: unixODBC keeps the driver loaded once used (a driver unloaded
# and loaded again per pooled connection costs time, and unloaded drivers
# hide their allocations from the leak checks of 'make asan').
put_section demo-db "$dir/odbc/odbcinst.ini" SQLite3 "Description = SQLite3 ODBC driver (Debian libsqliteodbc)
Driver = $driver
Setup = $driver
DontDLClose = 1"

# Timeout: busy timeout in ms (the driver's default is 100 s). NoCreat: a
# wrong path is an error, not a new empty database. FKSupport: foreign keys
# enforced on every connection.
put_section demo-db "$dir/odbc/odbc.ini" servicedesk "Description = miscomm demo service-desk database (SQLite)
Driver = SQLite3
Database = $db
Timeout = 5000
NoCreat = 1
FKSupport = 1"

echo "demo-db: try: ODBCSYSINI=$dir/odbc ODBCINI=$dir/odbc/odbc.ini isql -v servicedesk"
