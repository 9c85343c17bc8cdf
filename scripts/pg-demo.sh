#!/usr/bin/env bash
# A PostgreSQL 15 demo of the service-desk database, in a directory of its own.
#
#   scripts/pg-demo.sh start  DIR [PORT]   create if needed, start, load, grant
#   scripts/pg-demo.sh stop   DIR          stop (fast shutdown)
#   scripts/pg-demo.sh status DIR          exit 0 when running, 3 when not
#
# Everything lives in DIR: the cluster (DIR/pgdata), its log
# (DIR/postgresql.log), its Unix socket (DIR/.s.PGSQL.PORT) and the ODBC
# files (DIR/odbc/odbcinst.ini and DIR/odbc/odbc.ini, DSN servicedesk_pg).
# No system service, nothing written in /etc (but the account below), and
# the server listens on 127.0.0.1 only. PORT defaults to the one used last
# time for DIR, else 55432.
#
# start, the first time for DIR: initdb (UTF-8, locale C; local socket
# connections trusted, TCP ones need a SCRAM password; the superuser is
# "postgres" and has no password, so it can only come in through the socket
# in DIR), then database "servicedesk" loaded from conf/servicedesk/schema.sql
# and data.sql, every id column made an identity column. At every start: the
# role "mobilesvc" (LOGIN) with the password from PG_DEMO_PASSWORD, default
# "mobilesvc-demo" (a demo, not a secret), and its grants, which mirror the
# PSD Mobile rights table (security guide section 4.2):
#   SELECT                  technicians, sites, buildings, floors, rooms,
#                           requesters, tickets                (read only)
#   SELECT, UPDATE          interventions                      (no insert, no delete)
#   SELECT, INSERT, UPDATE  intervention_photos, assets, catalogue_articles
#   nothing                 suppliers, cost_centres, contracts, invoices,
#                           cost_lines                         (financial)
# and the role "miscomm_admin" (LOGIN, password PG_DEMO_ADMIN_PASSWORD,
# default "miscomm-admin-demo"), which "misctl sync init --credential"
# uses to create the gateway's sync tables and triggers: CREATE on the
# schema, TRIGGER on interventions and tickets, nothing else.
#
# PostgreSQL refuses to run as root. Run as root, this script creates the
# system account "miscomm-pg" (useradd --system, no login shell, no home)
# if it is missing, makes it the owner of DIR and runs the server binaries
# as that account through runuser. DIR's parents must let it through
# (a directory under /tmp does; one under /root does not).
#
# Then, for instance:
#   PGPASSWORD=mobilesvc-demo psql -h 127.0.0.1 -p PORT -U mobilesvc servicedesk
#   ODBCSYSINI=DIR/odbc ODBCINI=DIR/odbc/odbc.ini isql -v servicedesk_pg mobilesvc PASSWORD
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
ACCOUNT=miscomm-pg
DEFAULT_PORT=55432
DEFAULT_PASSWORD=mobilesvc-demo
DEFAULT_ADMIN_PASSWORD=miscomm-admin-demo

die() { echo "pg-demo: $*" >&2; exit 1; }
usage() { die "usage: $0 start DIR [PORT] | stop DIR | status DIR"; }

[ $# -ge 2 ] || usage
cmd=$1
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
[ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL 15 is not installed ($PGBIN; scripts/deps.sh installs it)"

case $2 in /*) dir=$2 ;; *) dir=$PWD/$2 ;; esac
dir=${dir%/}
# The directory goes into pg_ctl's -o string and into ini files: keep it plain.
case $dir in *[!A-Za-z0-9/._+-]*) die "DIR may only hold letters, digits and / . _ + -: $dir" ;; esac
pgdata=$dir/pgdata
logfile=$dir/postgresql.log

# Run the server binaries as the unprivileged account when we are root.
as_owner=()
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
    owner=$ACCOUNT
    as_owner=(runuser -u "$ACCOUNT" --)
fi

pg() {
    local prog=$1
    shift
    (cd / && "${as_owner[@]}" "$PGBIN/$prog" "$@")
}

running() { [ -f "$pgdata/PG_VERSION" ] && pg pg_ctl -D "$pgdata" status >/dev/null 2>&1; }

# The port of the running server (postmaster.pid, line 4), else the saved one.
current_port() {
    local p=
    [ -r "$pgdata/postmaster.pid" ] && p=$(sed -n 4p "$pgdata/postmaster.pid")
    [ -n "$p" ] || { [ -r "$dir/port" ] && p=$(cat "$dir/port"); }
    echo "${p:-$DEFAULT_PORT}"
}

# psql as the superuser, through the socket in DIR; SQL on standard input.
super_psql() {
    env -u PGPASSWORD -u PGSERVICE -u PGOPTIONS PGCLIENTENCODING=UTF8 \
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"
}

# put_section: scripts/ini-section.sh
. "$(dirname "$0")/ini-section.sh"

ensure_account() {
    [ "$(id -u)" -eq 0 ] || return 0
    getent passwd "$ACCOUNT" >/dev/null && return 0
    # Another run may create it at the same time: only a still-missing
    # account after useradd is an error.
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "miscomm demo PostgreSQL" "$ACCOUNT" 2>/dev/null || true
    getent passwd "$ACCOUNT" >/dev/null || die "could not create the system account $ACCOUNT"
    echo "pg-demo: created system account $ACCOUNT"
}

do_start() {
    port=${1:-}
    if [ -z "$port" ]; then port=$(current_port); fi
    case $port in '' | *[!0-9]*) die "bad port: $port" ;; esac
    [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "bad port: $port"
    local sock=$dir/.s.PGSQL.$port
    [ ${#sock} -lt 100 ] || die "DIR is too long for a Unix socket path ($sock)"

    ensure_account
    mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown "$ACCOUNT:" "$dir"
    chmod 0700 "$dir"
    "${as_owner[@]}" test -w "$dir" -a -x "$dir" ||
        die "$owner cannot write to $dir (a parent directory may be closed to it)"

    if [ ! -f "$pgdata/PG_VERSION" ]; then
        pg initdb -D "$pgdata" -U postgres -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        echo "pg-demo: created cluster $pgdata (owner $owner)"
    fi

    if running; then
        local p
        p=$(current_port)
        [ "$p" = "$port" ] || die "already running on port $p (stop it first to change the port)"
        echo "pg-demo: already running on 127.0.0.1:$port"
    else
        pg pg_ctl -D "$pgdata" -l "$logfile" -w -t 60 \
            -o "-k $dir -c listen_addresses=127.0.0.1 -p $port" start >/dev/null ||
            { tail -n 30 "$logfile" >&2 2>/dev/null; die "the server did not start (log: $logfile)"; }
        echo "pg-demo: started on 127.0.0.1:$port (log $logfile)"
    fi
    echo "$port" >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"

    # -- the database, the first time ---------------------------------------
    if [ -z "$(super_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'servicedesk'")" ]; then
        echo "CREATE DATABASE servicedesk;" | super_psql -d postgres
        if ! {
            echo "SET client_min_messages = warning;"
            cat "$src/conf/servicedesk/schema.sql" "$src/conf/servicedesk/data.sql"
            # PostgreSQL does not number an INTEGER PRIMARY KEY by itself:
            # make each id an identity column starting after the demo rows,
            # so an INSERT without id works as it does in SQLite.
            cat <<'SQL'
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.table_name FROM information_schema.columns c
             JOIN information_schema.tables t USING (table_schema, table_name)
             WHERE c.table_schema = 'public' AND c.column_name = 'id'
               AND t.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY',
                       r.table_name);
        EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), '
                       'COALESCE((SELECT max(id) FROM %I), 0) + 1, false)',
                       r.table_name, r.table_name);
    END LOOP;
END $$;
-- Timestamps in this database are UTC (schema.sql), CURRENT_TIMESTAMP too.
ALTER DATABASE servicedesk SET timezone TO 'UTC';
ANALYZE;
SQL
        } | super_psql -d servicedesk >/dev/null; then
            echo "DROP DATABASE IF EXISTS servicedesk;" | super_psql -d postgres || true
            die "loading the schema and data into PostgreSQL failed"
        fi
        echo "pg-demo: created database servicedesk ($(super_psql -d servicedesk -Atc \
            'SELECT count(*) FROM interventions') interventions)"
    fi

    # -- the mobile account and its rights, at every start ---------------------
    local password=${PG_DEMO_PASSWORD:-$DEFAULT_PASSWORD}
    # The password goes through standard input, never the command line.
    {
        cat <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mobilesvc') THEN
        CREATE ROLE mobilesvc LOGIN;
    END IF;
END $$;
SQL
        printf "ALTER ROLE mobilesvc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '%s';\n" \
            "${password//\'/\'\'}"
        cat <<'SQL'
ALTER ROLE mobilesvc SET statement_timeout = '60s';
REVOKE CONNECT, TEMPORARY ON DATABASE servicedesk FROM PUBLIC;
GRANT CONNECT ON DATABASE servicedesk TO mobilesvc;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mobilesvc;
-- Start from nothing, then grant what the rights table gives.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, mobilesvc;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, mobilesvc;
-- Read only: Intervenant; Localisation (site, bâtiment, étage, salle);
-- Utilisateur; Incident and Demande.
GRANT SELECT ON technicians, sites, buildings, floors, rooms, requesters, tickets TO mobilesvc;
-- Intervention: read and update, no creation, no deletion.
GRANT SELECT, UPDATE ON interventions TO mobilesvc;
-- Document (photos), Parc informatique, Catalogue > Article: read, update,
-- create; no deletion.
GRANT SELECT, INSERT, UPDATE ON intervention_photos, assets, catalogue_articles TO mobilesvc;
-- Financier and Fournisseur: nothing at all.
-- The gateway's sync tables ("misctl sync init", as miscomm_admin), when
-- they exist: what its mapping gives mobilesvc, again after the REVOKE above.
DO $grant$
BEGIN
    IF to_regclass('public.miscomm_sync_ops') IS NOT NULL THEN
        GRANT SELECT ON miscomm_sync_changes, miscomm_sync_meta TO mobilesvc;
        GRANT SELECT, INSERT, UPDATE ON miscomm_sync_devices, miscomm_sync_ops TO mobilesvc;
        GRANT UPDATE ON miscomm_sync_meta TO mobilesvc;
    END IF;
END
$grant$;
SQL
        # miscomm_admin: the account "misctl sync init" runs as. It may
        # create tables in the schema and triggers on interventions and
        # tickets, and owns what it creates; nothing more.
        echo "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'miscomm_admin') THEN CREATE ROLE miscomm_admin LOGIN; END IF; END \$\$;"
        admin_password=${PG_DEMO_ADMIN_PASSWORD:-$DEFAULT_ADMIN_PASSWORD}
        printf "ALTER ROLE miscomm_admin LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '%s';\n" \
            "${admin_password//\'/\'\'}"
        cat <<'SQL'
GRANT CONNECT ON DATABASE servicedesk TO miscomm_admin;
GRANT USAGE, CREATE ON SCHEMA public TO miscomm_admin;
GRANT SELECT, TRIGGER ON interventions, tickets TO miscomm_admin;
GRANT SELECT, REFERENCES ON technicians TO miscomm_admin;
SQL
    } | super_psql -d servicedesk
    if [ -n "${PG_DEMO_PASSWORD:-}" ]; then
        echo "pg-demo: role mobilesvc ready (password from PG_DEMO_PASSWORD)"
    else
        echo "pg-demo: role mobilesvc ready (the default password, $DEFAULT_PASSWORD)"
    fi

    # -- ODBC -----------------------------------------------------------------
    local driver
    driver=$(dpkg -L odbc-postgresql 2>/dev/null | grep '/psqlodbcw\.so$' | head -n1 || true)
    if [ -z "$driver" ]; then
        for f in /usr/lib/*/odbc/psqlodbcw.so; do [ -e "$f" ] && { driver=$f; break; }; done
    fi
    [ -n "$driver" ] && [ -e "$driver" ] || die "the PostgreSQL ODBC driver is not installed (package odbc-postgresql)"
    mkdir -p "$dir/odbc"
    chmod 0755 "$dir/odbc"
    put_section pg-demo "$dir/odbc/odbcinst.ini" "PostgreSQL Unicode" "Description = PostgreSQL ODBC driver, Unicode (Debian odbc-postgresql)
Driver = $driver
Debug = 0
CommLog = 0
DontDLClose = 1"
    # No password in the DSN: the gateway takes it from its encrypted
    # credential file, a person types it.
    put_section pg-demo "$dir/odbc/odbc.ini" servicedesk_pg "Description = miscomm demo service-desk database (PostgreSQL 15, $dir)
Driver = PostgreSQL Unicode
Servername = 127.0.0.1
Port = $port
Database = servicedesk
Username = mobilesvc
SSLMode = disable"
    echo "pg-demo: try: ODBCSYSINI=$dir/odbc ODBCINI=$dir/odbc/odbc.ini isql -v servicedesk_pg mobilesvc PASSWORD"
}

do_stop() {
    [ -f "$pgdata/PG_VERSION" ] || die "no cluster in $dir"
    if running; then
        pg pg_ctl -D "$pgdata" -m fast -w -t 60 stop >/dev/null || die "could not stop the server in $pgdata"
        echo "pg-demo: stopped $pgdata"
    else
        echo "pg-demo: $pgdata is not running"
    fi
}

do_status() {
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        echo "pg-demo: no cluster in $dir"
        exit 3
    fi
    if running; then
        echo "pg-demo: running on 127.0.0.1:$(current_port) ($pgdata)"
    else
        echo "pg-demo: not running ($pgdata)"
        exit 3
    fi
}

case $cmd in
    start) [ $# -le 3 ] || usage; do_start "${3:-}" ;;
    stop) [ $# -eq 2 ] || usage; do_stop ;;
    status) [ $# -eq 2 ] || usage; do_status ;;
    *) usage ;;
esac
