"""Database requests against a real PostgreSQL 15 (scripts/pg-demo.sh starts a
loopback cluster of its own in a temporary directory) through psqlODBC, as
the restricted `mobilesvc` role: exact decimals, non-ASCII text, the role's
missing grants as SQL errors, transactions, and an outage: PostgreSQL
stopped mid-run gives clear errors, and the gateway serves again once it is
back, without a restart of its own."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import MISCTL, SRC, ERR, Gateway, LogOnFailure, free_port
from odbc_client import BEGIN, ERR_ODBC, ROLLBACK, DECIMAL, TEXT, Dec, OdbcClient, QueryError
from streams_client import ERR2
from test_odbc import PW

E = dict(ERR, **ERR2, **ERR_ODBC)
PG_DEMO = os.path.join(SRC, "scripts", "pg-demo.sh")


def pg(cmd, pgdir, port=None):
    args = ["bash", PG_DEMO, cmd, pgdir] + ([str(port)] if port else [])
    return subprocess.run(args, capture_output=True, text=True)


class OdbcPostgresTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pgdir = tempfile.mkdtemp(prefix="miscomm-pg-")
        os.chmod(cls.pgdir, 0o755)
        cls.pgport = free_port()
        out = pg("start", cls.pgdir, cls.pgport)
        if out.returncode != 0:
            shutil.rmtree(cls.pgdir, ignore_errors=True)
            raise AssertionError("pg-demo.sh start failed:\n" + out.stdout + out.stderr)
        common = {"odbc": "on", "odbc_sources": "servicedesk_pg", "odbc_raw_sql": "yes",
                  "odbc_credential": "data/pg.cred", "odbc_query_timeout": 5,
                  "odbc_queries": "pg"}
        conns = [dict(common, name="rw", odbc_mode="read_write"),
                 dict(common, name="ro")]
        cls.gw = Gateway(conns=conns, start=False,
                         sections={"odbc": {"ini_dir": os.path.join(cls.pgdir, "odbc"),
                                            "idle_timeout": 60},
                                   "queries pg": {
                                       "by_id": "SELECT id, version FROM interventions WHERE id = ?",
                                       "bump": "UPDATE interventions SET version = version + 1 "
                                               "WHERE id = ?"}})
        data = os.path.join(cls.gw.dir, "data")
        os.makedirs(data, exist_ok=True)
        pwfile = os.path.join(data, "pg.pw")
        with open(pwfile, "w") as fh:
            fh.write("mobilesvc-demo\n")
        os.chmod(pwfile, 0o600)
        subprocess.run([MISCTL, "cred", "create", "-c", cls.gw.ini, "--dsn", "servicedesk_pg",
                        "--user", "mobilesvc", "--password-file", pwfile, "--out",
                        os.path.join(data, "pg.cred")], check=True, capture_output=True)
        cls.gw.start()
        cls.ports = {c["name"]: c["port"] for c in conns}

    @classmethod
    def tearDownClass(cls):
        try:
            assert cls.gw.stop() == 0, cls.gw.log()[-3000:]
        finally:
            pg("stop", cls.pgdir)
            shutil.rmtree(cls.pgdir, ignore_errors=True)

    def opened(self, conn="rw"):
        c = OdbcClient(self.ports[conn])
        self.addCleanup(c.close)
        self.assertEqual(c.hello2(PW, device="dev-pg")[1].type, 0x02)
        h, flags, dbms = c.open()
        self.assertEqual(dbms, "PostgreSQL")
        return c, h

    def err(self, code, fn, *a, **kw):
        with self.assertRaises(QueryError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code, E[code], cm.exception.msg)
        return cm.exception.msg

    def test_exact_decimals_and_text(self):
        c, h = self.opened()
        big = "12345678901234567890.123456789"
        cols, rows, _ = c.query(h, "SELECT CAST(? AS NUMERIC(40,9)) AS d, CAST(? AS TEXT) AS t, "
                                   "CAST(NULL AS TEXT) AS n",
                                [Dec(big), "Réparé — écran 27\" ✓ 漢字"])
        self.assertEqual([x[1] for x in cols[:2]], [DECIMAL, TEXT])
        self.assertEqual(rows, [(Dec(big), "Réparé — écran 27\" ✓ 漢字", None)])
        self.assertEqual(c.query(h, "SELECT CAST('-0.50' AS NUMERIC(5,2))")[1], [(Dec("-0.50"),)])
        text = "é" * 500000  # 1 MB of UTF-8
        self.assertEqual(c.query(h, "SELECT CAST(? AS TEXT)", [text])[1], [(text,)])

    def test_named_statements_prepared_once_and_run_again(self):
        c, h = self.opened()
        before = c.query(h, "by_id", [11], named=True)[1][0][1]
        for _ in range(5):
            self.assertEqual(c.execute(h, "bump", [11], named=True), 1)
        for i in (11, 12, 13, 11):
            self.assertEqual(c.query(h, "by_id", [i], named=True)[1][0][0], i)
        self.assertEqual(c.query(h, "by_id", [11], named=True)[1][0][1], before + 5)
        self.err("BAD_PAYLOAD", c.query, h, "by_id", [], named=True)
        # Raw SQL on the same pooled connection resets its session (DISCARD ALL, which
        # drops prepared statements): the named ones are prepared again, not stale.
        c.query(h, "SELECT 1")
        self.assertEqual(c.query(h, "by_id", [12], named=True)[1][0][0], 12)

    def test_the_roles_missing_grants_are_sql_errors(self):
        c, h = self.opened()
        msg = self.err("SQL", c.query, h, "SELECT * FROM invoices")
        self.assertRegex(msg, r"SQLSTATE 42501: .*permission denied")
        self.err("SQL", c.execute, h, "DELETE FROM interventions WHERE id = -1")
        # What the role may do works.
        c.tx(h, BEGIN)
        n = c.execute(h, "UPDATE interventions SET version = version + 1 WHERE id = ?", [3])
        self.assertEqual(n, 1)
        c.tx(h, ROLLBACK)
        r, k = self.opened("ro")
        write = ("WITH x AS (UPDATE interventions SET version = version WHERE id = 3 RETURNING id) "
                 "SELECT * FROM x")
        msg = self.err("SQL", r.query, k, write)
        self.assertIn("read-only", msg)
        # A read that switches the session to read-write: the database connection is reset
        # before it serves the next request, which is read-only again.
        r.query(k, "SELECT set_config('default_transaction_read_only', 'off', false)")
        msg = self.err("SQL", r.query, k, write)
        self.assertIn("read-only", msg)
        self.err("NOT_ALLOWED", r.query, k, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")

    def test_cancel_and_timeout_stop_the_statement_on_the_database(self):
        c, h = self.opened()
        rid = c.send_query(h, "SELECT pg_sleep(30)")
        time.sleep(0.5)
        t0 = time.monotonic()
        c.cancel(rid)
        with self.assertRaises(QueryError) as cm:
            c.read_query(rid)
        self.assertEqual(cm.exception.code, E["CANCELLED"])
        # The handle's next request runs once PostgreSQL stopped the sleep, not 30 s later.
        self.assertEqual(c.query(h, "SELECT 5")[1], [(5,)])
        self.assertLess(time.monotonic() - t0, 10)
        t0 = time.monotonic()
        msg = self.err("TIMEOUT", c.query, h, "SELECT pg_sleep(60)")  # odbc_query_timeout = 5
        self.assertIn("odbc_query_timeout", msg)
        self.assertEqual(c.query(h, "SELECT 6")[1], [(6,)])
        self.assertLess(time.monotonic() - t0, 20)

    def test_outage_and_recovery_without_a_gateway_restart(self):
        c, h = self.opened()
        self.assertEqual(c.query(h, "SELECT 1")[1], [(1,)])
        out = pg("stop", self.pgdir)
        self.assertEqual(out.returncode, 0, out.stderr)
        try:
            t0 = time.monotonic()
            codes = set()
            for _ in range(3):
                with self.assertRaises(QueryError) as cm:
                    c.query(h, "SELECT 2")
                codes.add(cm.exception.code)
            self.assertLess(time.monotonic() - t0, 30)
            self.assertEqual(codes, {E["DB_UNAVAILABLE"]}, cm.exception.msg)
            self.gw.wait_log(r"event=db_unavailable source=servicedesk_pg user=mobilesvc")
            # Pings and new logins are not disturbed.
            other = OdbcClient(self.ports["rw"])
            self.addCleanup(other.close)
            self.assertEqual(other.hello2(PW, device="dev-pg2")[1].type, 0x02)
        finally:
            out = pg("start", self.pgdir, self.pgport)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.assertEqual(c.query(h, "SELECT 3")[1], [(3,)])
                break
            except QueryError as e:
                self.assertEqual(e.code, E["DB_UNAVAILABLE"], e.msg)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.gw.wait_log(r"event=db_available source=servicedesk_pg user=mobilesvc")


if __name__ == "__main__":
    unittest.main()
