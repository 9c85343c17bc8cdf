"""The demo service-desk databases the ODBC capability runs against.

conf/servicedesk/data.sql is what scripts/demo-data.py generates. The SQLite
demo (scripts/demo-db.sh) is created once, answers through its ODBC data
source "servicedesk" (unixODBC's isql), enforces foreign keys there, and
never touches /etc/odbc*.ini. The PostgreSQL demo (scripts/pg-demo.sh) runs
a loopback-only cluster of its own, not as root, holds the same rows, and
its role mobilesvc has exactly the rights of the PSD Mobile rights table:
it reads and updates interventions, inserts assets and photos, and is
refused everything on financial tables, through psql and through the ODBC
data source "servicedesk_pg" alike. Every cluster started here is stopped
and every directory removed, even when a test fails.
"""
import atexit
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import SRC, free_port

SCRIPTS = os.path.join(SRC, "scripts")
SCHEMA = os.path.join(SRC, "conf", "servicedesk", "schema.sql")
DATA = os.path.join(SRC, "conf", "servicedesk", "data.sql")
PGBIN = "/usr/lib/postgresql/15/bin"
PSQL = os.path.join(PGBIN, "psql")
PG_ACCOUNT = "miscomm-pg"

# A quote in the password checks the script's SQL quoting of it.
PASSWORD = "t'st-" + os.urandom(6).hex()

# Tables the phone may read, and the financial ones it must not see.
READABLE = ["technicians", "sites", "buildings", "floors", "rooms", "requesters", "assets",
            "catalogue_articles", "tickets", "interventions", "intervention_photos"]
FINANCIAL = ["suppliers", "cost_centres", "contracts", "invoices", "cost_lines"]

PER_TECHNICIAN = ("SELECT t.login, COUNT(*) FROM interventions i "
                  "JOIN technicians t ON t.id = i.technician_id "
                  "GROUP BY t.login ORDER BY t.login")
PER_SITE = ("SELECT s.code, i.status, COUNT(*) FROM interventions i "
            "JOIN tickets k ON k.id = i.ticket_id JOIN sites s ON s.id = k.site_id "
            "GROUP BY s.code, i.status ORDER BY s.code, i.status")

_clusters = []   # pg-demo directories to stop at exit if a cleanup did not run


def _stop_clusters():
    for d in _clusters:
        subprocess.run(["bash", os.path.join(SCRIPTS, "pg-demo.sh"), "stop", d],
                       capture_output=True, timeout=120)


atexit.register(_stop_clusters)


def run(cmd, env=None, input=None, timeout=180):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, input=input,
                          timeout=timeout)


def etc_odbc_state():
    state = {}
    for name in ("/etc/odbc.ini", "/etc/odbcinst.ini"):
        try:
            with open(name, "rb") as f:
                state[name] = hashlib.sha256(f.read()).hexdigest()
        except FileNotFoundError:
            state[name] = None
    return state


def odbc_env(odbc_dir):
    env = dict(os.environ, ODBCSYSINI=odbc_dir, ODBCINI=os.path.join(odbc_dir, "odbc.ini"))
    env.pop("ODBCINSTINI", None)
    return env


def isql(odbc_dir, dsn, sql, *credentials):
    """Run one statement through unixODBC's isql; (ok, rows, all output)."""
    p = run(["isql", "-b", "-v", "-d|", dsn] + list(credentials), env=odbc_env(odbc_dir),
            input=sql + "\n", timeout=60)
    text = p.stdout + p.stderr
    # isql exits 0 after a failed statement: its error lines tell.
    ok = p.returncode == 0 and "ERROR" not in text and "[ISQL]" not in text
    rows = [tuple(line.split("|")) for line in p.stdout.splitlines() if line.strip()]
    return ok, rows, text


def sqlite_counts():
    """Rows per table of schema + data loaded into an in-memory SQLite."""
    sql = "".join("SELECT '%s', COUNT(*) FROM %s;\n" % (t, t) for t in READABLE + FINANCIAL)
    with open(SCHEMA) as s, open(DATA) as d:
        script = s.read() + d.read() + sql
    p = run(["sqlite3", "-bail", ":memory:"], input=script)
    assert p.returncode == 0, p.stderr
    return {t: int(n) for t, n in (line.split("|") for line in p.stdout.split())}


class DemoDataTest(unittest.TestCase):
    def test_data_sql_is_what_the_generator_makes(self):
        p = run([sys.executable, os.path.join(SCRIPTS, "demo-data.py"), "-o", "-"])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(DATA, encoding="utf-8") as f:
            self.assertTrue(p.stdout == f.read(),
                            "conf/servicedesk/data.sql is stale: run scripts/demo-data.py")

    def test_volumes_and_phone_rows(self):
        counts = sqlite_counts()
        self.assertEqual(counts["technicians"], 12)
        self.assertTrue(100 <= counts["assets"] <= 200, counts)
        self.assertTrue(40 <= counts["catalogue_articles"] <= 80, counts)
        self.assertTrue(250 <= counts["tickets"] <= 350, counts)
        self.assertTrue(200 <= counts["interventions"] < 1000, counts)
        for t in ["intervention_photos"] + FINANCIAL:
            self.assertGreater(counts[t], 0, t)
        # Every row a phone may change carries version NOT NULL DEFAULT 1 and updated_at.
        with open(SCHEMA) as f:
            schema = f.read()
        for table in ("interventions", "intervention_photos", "assets", "catalogue_articles"):
            p = run(["sqlite3", "-bail", ":memory:"],
                    input=schema + "\nSELECT name, \"notnull\", dflt_value FROM pragma_table_info('%s')"
                    " WHERE name IN ('version', 'updated_at') ORDER BY name;\n" % table)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split(), ["updated_at|1|CURRENT_TIMESTAMP", "version|1|1"], table)


class SqliteDemoTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="miscomm-demo-db-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.data = os.path.join(self.dir, "data")
        self.odbc = os.path.join(self.data, "odbc")

    def demo_db(self):
        p = run(["bash", os.path.join(SCRIPTS, "demo-db.sh"), self.data])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def test_create_query_through_odbc(self):
        etc_before = etc_odbc_state()
        out = self.demo_db()
        db = os.path.join(self.data, "servicedesk.db")
        self.assertIn("created %s" % db, out)
        for f in ("odbc.ini", "odbcinst.ini"):
            self.assertTrue(os.path.isfile(os.path.join(self.odbc, f)), f)
        stamp = os.stat(db).st_mtime_ns

        # Again: nothing rebuilt, nothing duplicated.
        out = self.demo_db()
        self.assertIn("kept %s (exists)" % db, out)
        self.assertNotIn("created", out)
        self.assertEqual(os.stat(db).st_mtime_ns, stamp)
        with open(os.path.join(self.odbc, "odbc.ini")) as f:
            self.assertEqual(f.read().count("[servicedesk]"), 1)
        with open(os.path.join(self.odbc, "odbcinst.ini")) as f:
            self.assertEqual(f.read().count("[SQLite3]"), 1)

        ok, rows, text = isql(self.odbc, "servicedesk", "SELECT COUNT(*) FROM interventions")
        self.assertTrue(ok, text)
        n = int(rows[0][0])
        self.assertTrue(100 <= n < 1000, "interventions: %d" % n)
        self.assertEqual(n, sqlite_counts()["interventions"])

        ok, rows, text = isql(self.odbc, "servicedesk", PER_TECHNICIAN)
        self.assertTrue(ok, text)
        self.assertEqual(len(rows), 12, text)
        self.assertEqual(sum(int(r[1]) for r in rows), n)
        ok, rows, text = isql(self.odbc, "servicedesk", PER_SITE)
        self.assertTrue(ok, text)
        self.assertEqual(sum(int(r[2]) for r in rows), n)
        self.assertIn("done", {r[1] for r in rows})

        # Foreign keys hold through the DSN (FKSupport), and a failure is seen.
        ok, _, text = isql(self.odbc, "servicedesk",
                           "INSERT INTO intervention_photos (intervention_id, technician_id, file_name,"
                           " content_type, size_bytes, sha256) VALUES (999999, 1, 'x.jpg', 'image/jpeg',"
                           " 1, '00')")
        self.assertFalse(ok)
        self.assertIn("FOREIGN KEY constraint failed", text)
        # A DSN naming a missing file is an error, not a new empty database (NoCreat).
        os.rename(db, db + ".away")
        ok, _, text = isql(self.odbc, "servicedesk", "SELECT 1")
        self.assertFalse(ok, text)
        os.rename(db + ".away", db)
        self.assertEqual(etc_odbc_state(), etc_before, "/etc/odbc*.ini changed")


class PostgresDemoTest(unittest.TestCase):
    def setUp(self):
        parent = tempfile.mkdtemp(prefix="miscomm-pg-demo-")
        self.addCleanup(shutil.rmtree, parent, True)
        # The server account must get through to DIR.
        os.chmod(parent, 0o755)
        self.dir = os.path.join(parent, "pg")
        self.odbc = os.path.join(self.dir, "odbc")
        self.port = free_port()
        _clusters.append(self.dir)
        self.addCleanup(self.stop_cluster)

    def stop_cluster(self):
        if os.path.isdir(os.path.join(self.dir, "pgdata")):
            p = self.pg_demo("stop")
            if p.returncode != 0:
                print(p.stdout + p.stderr)
        if self.dir in _clusters:
            _clusters.remove(self.dir)

    def pg_demo(self, *args, password=PASSWORD):
        env = dict(os.environ, PG_DEMO_PASSWORD=password)
        return run(["bash", os.path.join(SCRIPTS, "pg-demo.sh"), args[0], self.dir] + list(args[1:]),
                   env=env)

    def psql(self, sql, user="mobilesvc", password=PASSWORD):
        env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
        for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGOPTIONS"):
            env.pop(k, None)
        return run([PSQL, "-X", "-q", "-At", "-F|", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                    "-p", str(self.port), "-U", user, "-d", "servicedesk", "-c", sql], env=env,
                   timeout=60)

    def rows(self, sql):
        p = self.psql(sql)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [tuple(line.split("|")) for line in p.stdout.splitlines()]

    def refused(self, sql):
        p = self.psql(sql)
        self.assertNotEqual(p.returncode, 0, "allowed: %s\n%s" % (sql, p.stdout))
        self.assertIn("permission denied", p.stderr, sql)

    def test_cluster_rights_and_odbc(self):
        etc_before = etc_odbc_state()
        p = self.pg_demo("start", str(self.port))
        log = os.path.join(self.dir, "postgresql.log")
        if p.returncode != 0 and os.path.exists(log):
            with open(log) as f:
                print(f.read())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("started on 127.0.0.1:%d" % self.port, p.stdout)
        self.assertIn("created database servicedesk", p.stdout)
        self.assertNotIn(PASSWORD, p.stdout + p.stderr)
        self.assertEqual(self.pg_demo("status").returncode, 0)

        # Not root, and only on the loopback address.
        with open(os.path.join(self.dir, "pgdata", "postmaster.pid")) as f:
            pid = int(f.readline())
        with open("/proc/%d/status" % pid) as f:
            uid = int(next(line for line in f if line.startswith("Uid:")).split()[1])
        self.assertNotEqual(uid, 0)
        if os.geteuid() == 0:
            self.assertEqual(uid, pwd.getpwnam(PG_ACCOUNT).pw_uid)
        self.assertEqual(self.rows("SHOW listen_addresses"), [("127.0.0.1",)])

        # The same rows as the SQLite demo, readable as mobilesvc.
        counts = sqlite_counts()
        for table in READABLE:
            self.assertEqual(self.rows("SELECT count(*) FROM %s" % table), [(str(counts[table]),)],
                             table)
        n = counts["interventions"]
        self.assertTrue(100 <= n < 1000, n)

        # Interventions: update with the version guard the sync uses.
        [(itv, version)] = self.rows("SELECT id, version FROM interventions WHERE status = 'planned'"
                                     " ORDER BY id LIMIT 1")
        guarded = ("UPDATE interventions SET status = 'travelling', version = version + 1,"
                   " updated_at = CURRENT_TIMESTAMP WHERE id = %s AND version = %s RETURNING version"
                   % (itv, version))
        self.assertEqual(self.rows(guarded), [(str(int(version) + 1),)])
        self.assertEqual(self.rows(guarded), [], "a stale version must update nothing")
        self.refused("INSERT INTO interventions (ticket_id, technician_id, planned_start, planned_end)"
                     " VALUES (1, 1, '2025-07-01 08:00:00', '2025-07-01 09:00:00')")
        self.refused("DELETE FROM interventions WHERE id = %s" % itv)

        # Assets, photos, articles: insert (ids numbered by the server) and update, no delete.
        [(new_asset,)] = self.rows(
            "INSERT INTO assets (asset_tag, kind, manufacturer, model, serial_number, site_id)"
            " VALUES ('INV-TEST-1', 'desktop', 'Dell', 'OptiPlex 7010 SFF', 'TEST123', 1) RETURNING id")
        self.assertGreater(int(new_asset), counts["assets"])
        self.assertEqual(self.rows("UPDATE assets SET room_id = NULL, version = version + 1"
                                   " WHERE id = %s RETURNING version" % new_asset), [("2",)])
        self.rows("INSERT INTO intervention_photos (intervention_id, technician_id, file_name,"
                  " content_type, size_bytes, sha256) VALUES (%s, 1, 'itv-test.jpg', 'image/jpeg',"
                  " 1234, '%s') RETURNING id" % (itv, "0" * 64))
        self.rows("INSERT INTO catalogue_articles (reference, label, category)"
                  " VALUES ('ART-TEST', 'Article de test', 'Consommables') RETURNING id")
        self.refused("DELETE FROM assets WHERE id = %s" % new_asset)
        self.refused("UPDATE tickets SET status = 'closed' WHERE id = 1")

        # Financial tables: nothing at all.
        for table in FINANCIAL:
            self.refused("SELECT count(*) FROM %s" % table)
        self.refused("UPDATE invoices SET status = 'paid'")
        self.refused("INSERT INTO cost_centres (code, label, budget_year, budget_amount)"
                     " VALUES ('X', 'x', 2025, 1)")
        self.refused("CREATE TABLE scratch (a INTEGER)")

        p = self.psql("SELECT 1", password="not-the-password")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("password authentication failed", p.stderr)

        # The same through the ODBC data source.
        expected = self.rows(PER_TECHNICIAN)
        self.assertEqual(len(expected), 12)
        ok, rows, text = isql(self.odbc, "servicedesk_pg", PER_TECHNICIAN, "mobilesvc", PASSWORD)
        self.assertTrue(ok, text)
        self.assertEqual(rows, expected)
        ok, rows, text = isql(self.odbc, "servicedesk_pg", PER_SITE, "mobilesvc", PASSWORD)
        self.assertTrue(ok, text)
        self.assertEqual(sum(int(r[2]) for r in rows), n)
        ok, rows, text = isql(self.odbc, "servicedesk_pg", "SELECT * FROM invoices",
                              "mobilesvc", PASSWORD)
        self.assertFalse(ok, text)
        self.assertIn("permission denied", text)
        ok, rows, text = isql(self.odbc, "servicedesk_pg", "SELECT 1", "mobilesvc", "wrong")
        self.assertFalse(ok, text)

        # Start again: no reload, the change above is still there.
        p = self.pg_demo("start")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("already running", p.stdout)
        self.assertNotIn("created database", p.stdout)
        self.assertEqual(self.rows("SELECT status FROM interventions WHERE id = %s" % itv),
                         [("travelling",)])
        with open(os.path.join(self.odbc, "odbc.ini")) as f:
            self.assertEqual(f.read().count("[servicedesk_pg]"), 1)

        p = self.pg_demo("stop")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.pg_demo("status").returncode, 3)
        self.assertEqual(etc_odbc_state(), etc_before, "/etc/odbc*.ini changed")


if __name__ == "__main__":
    unittest.main()
