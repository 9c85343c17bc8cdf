"""Database requests (docs/protocol.md 5.15) against the embedded SQLite demo
database through Debian's SQLite ODBC driver: typed round trips, bound
parameters, read-only, named statements, limits, cancellation and timeouts,
transactions, handles, credential files (every single byte changed, wrong
key, unknown key, another data source) and pings between slow queries."""
import json
import os
import struct
import subprocess
import threading
import time
import unittest

from harness import MISCLI, MISCTL, SRC, ERR, Gateway, LogOnFailure, PING, PONG
from odbc_client import (BEGIN, COMMIT, ERR_ODBC, ROLLBACK, Date, Dec, OdbcClient, QueryError,
                         Time, Timestamp, INT, TEXT, FLOAT, BINARY, DATE, TIMESTAMP)
from streams_client import ERR2, half_close

E = dict(ERR, **ERR2, **ERR_ODBC)
PW = "correct horse battery"
# About 2 s of SQLite work (its driver cannot cancel a running statement: it runs to its end).
SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000) "
        "SELECT max(x) FROM c")


def make_cred(ini, out, dsn="servicedesk", extra=()):
    pw = out + ".pw"
    with open(pw, "w") as fh:
        fh.write("demo\n")
    os.chmod(pw, 0o600)
    key = ["-c", ini] if ini else []  # none: a passphrase in extra
    subprocess.run([MISCTL, "cred", "create", *key, "--dsn", dsn, "--user", "demo",
                    "--password-file", pw, "--out", out, *extra], check=True,
                   capture_output=True)
    with open(out, "rb") as fh:
        return fh.read()


class OdbcSqliteTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        common = {"odbc": "on", "odbc_sources": "servicedesk", "ping": "on",
                  "odbc_credential": "data/demo.cred", "odbc_queries": "demo"}
        conns = [dict(common, name="ro", odbc_raw_sql="yes"),
                 dict(common, name="rw", odbc_raw_sql="yes", odbc_mode="read_write"),
                 dict(common, name="named"),
                 dict(common, name="limits", odbc_raw_sql="yes", odbc_max_rows=50,
                      odbc_max_result_bytes="20K", odbc_query_timeout=1),
                 dict(name="noodbc")]
        queries = {"one_intervention": "SELECT id, status FROM interventions WHERE id = ?",
                   "count_status": "SELECT count(*) FROM interventions WHERE status = ?"}
        cls.gw = Gateway(conns=conns, start=False,
                         sections={"queries demo": queries, "odbc": {"threads": 4}})
        data = os.path.join(cls.gw.dir, "data")
        os.makedirs(data, exist_ok=True)
        subprocess.run(["bash", os.path.join(SRC, "scripts", "demo-db.sh"), data], check=True,
                       capture_output=True)
        cls.cred = make_cred(cls.gw.ini, os.path.join(data, "demo.cred"))
        cls.gw.start()
        cls.ports = {c["name"]: c["port"] for c in conns}

    @classmethod
    def tearDownClass(cls):
        # A clean exit: no leak (drivers' own are suppressed, tests/lsan.supp), no crash.
        assert cls.gw.stop() == 0, cls.gw.log()[-3000:]

    def client(self, conn="ro"):
        c = OdbcClient(self.ports[conn])
        self.addCleanup(c.close)
        rid, f = c.hello2(PW, device="dev-1")
        self.assertEqual(f.type, 0x02, f)
        return c

    def opened(self, conn="ro", cred=b""):
        c = self.client(conn)
        handle, flags, dbms = c.open(cred)
        return c, handle

    def err(self, code, fn, *a, **kw):
        with self.assertRaises(QueryError) as cm:
            fn(*a, **kw)
        self.assertEqual(cm.exception.code, E[code], cm.exception.msg)
        return cm.exception.msg

    # -- opening -----------------------------------------------------------------------
    def test_open_with_the_servers_and_the_devices_credential(self):
        c = self.client()
        h1, flags, dbms = c.open()
        self.assertEqual((flags, dbms), (0x03, "SQLite"))  # read-only, raw SQL
        h2, _, _ = c.open(self.cred)  # the bytes a device received in its ToPDA
        self.assertNotEqual(h1, h2)
        cols, rows, more = c.query(h2, "SELECT count(*) AS n FROM interventions")
        self.assertEqual(cols[0][:2], ("n", INT))
        self.assertGreater(rows[0][0], 100)
        c.close_handle(h1)
        self.err("BAD_HANDLE", c.query, h1, "SELECT 1")
        self.gw.wait_log(r"event=odbc_open handle=%d dbms=\"SQLite\" read_only=1" % h2)

    def test_every_single_byte_change_of_a_credential_is_refused(self):
        c = self.client()
        refused = set()
        for i in range(len(self.cred)):
            for delta in (1, 0x80):
                bad = bytearray(self.cred)
                bad[i] ^= delta
                with self.assertRaises(QueryError, msg="byte %d ^ %d opened" % (i, delta)) as cm:
                    c.open(bytes(bad))
                refused.add(cm.exception.code)
        # Mostly BAD_CREDENTIAL; a changed version or key id says so.
        self.assertIn(E["BAD_CREDENTIAL"], refused)
        self.assertLessEqual(refused, {E["BAD_CREDENTIAL"], E["CREDENTIAL_VERSION"],
                                       E["UNKNOWN_KEY"], E["WRONG_KEY"]})
        self.err("BAD_CREDENTIAL", c.open, self.cred[:-1])
        self.err("BAD_CREDENTIAL", c.open, b"garbage")
        # The connection still works.
        self.assertEqual(c.open(self.cred)[2], "SQLite")

    def test_wrong_key_unknown_key_and_source_not_allowed(self):
        other = Gateway(start=False)
        self.addCleanup(other.__exit__, None, None, None)
        foreign = make_cred(other.ini, os.path.join(other.dir, "x.cred"))
        c = self.client()
        msg = self.err("UNKNOWN_KEY", c.open, foreign)
        self.assertNotIn("demo\n", msg)
        pass_file = os.path.join(other.dir, "pass")
        with open(pass_file, "w") as fh:
            fh.write("a long enough passphrase\n")
        os.chmod(pass_file, 0o600)
        sealed = make_cred(None, os.path.join(other.dir, "p.cred"),
                           extra=("--passphrase-file", pass_file, "--kdf-memory", "19",
                                  "--kdf-passes", "2"))
        self.err("WRONG_KEY", c.open, sealed)
        elsewhere = make_cred(self.gw.ini, os.path.join(self.gw.dir, "data", "o.cred"),
                              dsn="payroll")
        msg = self.err("NOT_ALLOWED", c.open, elsewhere)
        self.assertIn("payroll", msg)
        # Nothing about the password reached the log.
        self.assertNotIn("PWD=", self.gw.log())

    def test_permission_off_and_bad_handles(self):
        c = self.client("noodbc")
        rid = c.send(0x40, b"\x00\x00")
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (0x7F, rid))
        self.assertEqual(struct.unpack(">H", f.payload[:2])[0], E["PERMISSION"])
        c = self.client()
        self.err("BAD_HANDLE", c.query, 12345, "SELECT 1")
        handles = [c.open()[0] for _ in range(4)]
        self.err("BUSY", c.open)
        c.close_handle(handles[0])
        c.open()
        # Another connection cannot use this one's handles.
        d = self.client()
        self.err("BAD_HANDLE", d.query, handles[1], "SELECT 1")

    # -- values -------------------------------------------------------------------------
    def test_typed_round_trips_and_bound_parameters(self):
        c, h = self.opened("rw")
        c.execute(h, "CREATE TABLE IF NOT EXISTS t_types (i INTEGER, d NUMERIC(12,2), f REAL, "
                     "s TEXT, b BLOB, dt DATE, ts TIMESTAMP)")
        c.execute(h, "DELETE FROM t_types")
        big_text = ("été ünïcödé 漢字 \u2028 " * 60000)[:560000]  # about 1 MB of UTF-8
        big_bin = os.urandom(1000000)
        values = [
            (2 ** 63 - 1, Dec("1234.5"), 1.5, "Crème brûlée — 100 %", b"\x00\x01\xff",
             Date((2026, 11, 30)), Timestamp((2026, 11, 30, 13, 45, 7, 0))),
            (-(2 ** 63), None, -0.0, "", b"", None, None),
            (0, Dec("0.1"), 1e300, big_text, b"", Date((1999, 1, 1)),
             Timestamp((2000, 2, 29, 23, 59, 59, 0))),
            (1, None, None, "", big_bin, None, None),
        ]
        for v in values:
            self.assertEqual(c.execute(h, "INSERT INTO t_types VALUES (?, ?, ?, ?, ?, ?, ?)", v),
                             1)
        cols, rows, more = c.query(h, "SELECT i, d, f, s, b, dt, ts FROM t_types ORDER BY rowid")
        self.assertEqual([x[1] for x in cols],
                         [INT, FLOAT, FLOAT, TEXT, BINARY, DATE, TIMESTAMP])  # SQLite: NUMERIC is a double
        self.assertEqual(len(rows), 4)
        self.assertGreater(len(big_text.encode()), 900000)
        for got, want in zip(rows, values):
            self.assertEqual(got[0], want[0])
            self.assertEqual(got[2], want[2])
            self.assertEqual(got[3], want[3])
            self.assertEqual(got[4], want[4])
            self.assertEqual(got[5], want[5])
            self.assertEqual(got[6], want[6])
        self.assertEqual(rows[0][1], 1234.5)
        self.assertIsNone(rows[1][1])
        # A parameter is a value, never SQL.
        cols, rows, _ = c.query(h, "SELECT count(*) FROM interventions WHERE status = ?",
                                ["x' OR '1'='1"])
        self.assertEqual(rows, [(0,)])
        cols, rows, _ = c.query(h, "SELECT count(*) FROM t_types WHERE s = ?",
                                ["'); DROP TABLE t_types; --"])
        self.assertEqual(rows, [(0,)])
        self.assertEqual(c.query(h, "SELECT count(*) FROM t_types")[1], [(4,)])
        msg = self.err("BAD_PAYLOAD", c.query, h, "SELECT ?", [])
        self.assertIn("parameter", msg)

    def test_malformed_values_and_statements(self):
        c, h = self.opened()
        # An unknown tag, a cut-short value, trailing bytes, a bad decimal, a bad date.
        for body, count in ((b"\x09", 1), (b"\x01\x00\x00", 1), (b"\x00\x00", 1),
                            (b"\x02\x00\x03abc", 1), (b"\x06\x07\xe9\x0d\x01", 1)):
            rid = c.send(0x42, struct.pack(">IB", h, 0) + b"\x00\x08SELECT ?"
                         + struct.pack(">IH", 0, count) + body)
            f = c.recv_frame()
            self.assertEqual((f.type, f.id), (0x7F, rid))
            self.assertEqual(struct.unpack(">H", f.payload[:2])[0], E["BAD_PAYLOAD"], body)
        self.err("NOT_ALLOWED", c.query, h, "SELECT 1; DELETE FROM interventions")
        self.err("NOT_ALLOWED", c.query, h, "PRAGMA query_only = 0")
        self.err("NOT_ALLOWED", c.query, h, "SELECT 'costs $5'")
        self.err("NOT_ALLOWED", c.query, h, "   ;  ")
        self.assertEqual(c.query(h, "SELECT 1 AS one;  ")[1], [(1,)])
        self.assertEqual(c.query(h, "SELECT ';' AS semi")[1], [(";",)])
        msg = self.err("SQL", c.query, h, "SELECT * FROM no_such_table")
        self.assertRegex(msg, r"SQLSTATE [0-9A-Z]{5}: .*no_such_table")

    # -- read-only, named statements ------------------------------------------------------
    def test_read_only_and_named_statements(self):
        c, h = self.opened("ro")
        self.err("NOT_ALLOWED", c.execute, h, "DELETE FROM interventions")
        self.err("NOT_ALLOWED", c.tx, h, BEGIN)
        self.err("NOT_ALLOWED", c.query, h, "DELETE FROM interventions RETURNING id")
        # The database connection itself is read-only: a write inside a read gets there and
        # is refused by the database.
        msg = self.err("SQL", c.query, h, "WITH x AS (SELECT 1) DELETE FROM interventions "
                                         "RETURNING id")
        self.assertIn("readonly", msg.replace(" ", "").lower())
        self.assertGreater(c.query(h, "SELECT count(*) FROM interventions")[1][0][0], 100)
        n, d = self.opened("named")
        cols, rows, _ = n.query(d, "one_intervention", [7], named=True)
        self.assertEqual(rows[0][0], 7)
        # Prepared once per database connection, run again with other values.
        for i in (1, 2, 3, 5, 8, 13, 21, 34):
            self.assertEqual(n.query(d, "one_intervention", [i], named=True)[1][0][0], i)
        self.err("BAD_PAYLOAD", n.query, d, "one_intervention", [1, 2], named=True)
        self.assertEqual(n.query(d, "one_intervention", [4], named=True)[1][0][0], 4)
        self.err("NOT_ALLOWED", n.query, d, "SELECT 1")
        self.err("NOT_ALLOWED", n.query, d, "no_such_statement", named=True)

    # -- limits, cancel, timeout ----------------------------------------------------------
    def test_row_and_byte_limits(self):
        c, h = self.opened("limits")
        msg = self.err("RESULT_LIMIT", c.query, h, "SELECT id FROM interventions")
        self.assertIn("odbc_max_rows", msg)
        cols, rows, more = c.query(h, "SELECT id FROM interventions ORDER BY id", max_rows=10)
        self.assertEqual((len(rows), more), (10, True))
        cols, rows, more = c.query(h, "SELECT id FROM interventions ORDER BY id LIMIT 5",
                                   max_rows=10)
        self.assertEqual((len(rows), more), (5, False))
        msg = self.err("RESULT_LIMIT", c.query, h,
                       "SELECT hex(zeroblob(500)) FROM interventions LIMIT 40")
        self.assertIn("odbc_max_result_bytes", msg)
        self.assertEqual(c.query(h, "SELECT 2")[1], [(2,)])

    def test_timeout_and_cancel_of_a_running_query(self):
        c, h = self.opened("limits")
        t0 = time.monotonic()
        msg = self.err("TIMEOUT", c.query, h, SLOW)
        self.assertLess(time.monotonic() - t0, 4)  # answered at the timeout (1 s), not at the end
        self.assertIn("odbc_query_timeout", msg)
        self.assertEqual(c.query(h, "SELECT 3")[1], [(3,)])  # once SQLite is done with it
        c, h = self.opened("ro")
        rid = c.send_query(h, SLOW)
        time.sleep(0.3)
        c.cancel(rid)
        with self.assertRaises(QueryError) as cm:
            c.read_query(rid)
        self.assertEqual(cm.exception.code, E["CANCELLED"], cm.exception.msg)
        self.assertEqual(c.query(h, "SELECT 4")[1], [(4,)])

    def test_pings_answered_while_slow_queries_run(self):
        # Handles first: with 4 database threads, the slow queries fill them
        # and the rest wait in the ODBC queue (an OPEN would wait as well).
        opened = [self.opened("ro") for _ in range(8)]
        clients = [(c, c.send_query(h, SLOW)) for c, h in opened]
        p = self.client("ro")
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            rid = p.send(PING, b"x")
            p.expect(PONG, rid)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.02)
        print("ping round trip while 8 slow queries run: worst %.1f ms" % (worst * 1000))
        for c, rid in clients:  # still running: they had nothing to say yet
            c.cancel(rid)
            with self.assertRaises(QueryError) as cm:
                c.read_query(rid)
            self.assertEqual(cm.exception.code, E["CANCELLED"])
        self.wait_for_the_database_threads()

    # -- the command line, on libmiscomm -------------------------------------------------
    def miscli(self, conn, *args):
        pwfile = os.path.join(self.gw.dir, "pw")
        with open(pwfile, "w") as fh:
            fh.write(PW + "\n")
        os.chmod(pwfile, 0o600)
        return subprocess.run([MISCLI, "--port", str(self.ports[conn]), "--fingerprint",
                               self.gw.fingerprint(), "--password-file", pwfile, "--device",
                               "dev-cli", *args], capture_output=True, text=True, timeout=60)

    def test_miscli_query_and_exec(self):
        out = self.miscli("ro", "query", "--format", "json", "--param", "int:5", "--param",
                          "text:x'y", "SELECT id, ? + 1 AS n, ? AS t, NULL AS z FROM "
                          "interventions WHERE id <= 2 ORDER BY id")
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = json.loads(out.stdout)
        self.assertEqual([r["id"] for r in rows], [1, 2])
        self.assertEqual((rows[0]["t"], rows[0]["z"]), ("x'y", None))
        out = self.miscli("ro", "query", "--format", "csv", "--named", "one_intervention",
                          "--param", "int:3")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines()[0], "id,status")
        self.assertTrue(out.stdout.splitlines()[1].startswith("3,"))
        out = self.miscli("ro", "query", "--cred", os.path.join(self.gw.dir, "data", "demo.cred"),
                          "SELECT count(*) AS n FROM technicians")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("1 row", out.stderr)
        out = self.miscli("ro", "query", "SELECT * FROM nope")
        self.assertEqual(out.returncode, 1)
        self.assertIn("SQLSTATE", out.stderr)
        self.assertEqual(out.stdout, "")
        out = self.miscli("ro", "exec", "DELETE FROM interventions")
        self.assertEqual(out.returncode, 1)
        self.assertIn("NOT_ALLOWED", out.stderr)
        out = self.miscli("rw", "exec", "--param", "int:1",
                          "UPDATE interventions SET version = version WHERE id = ?")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("1", out.stdout + out.stderr)
        out = self.miscli("ro", "query", "--param", "bogus:", "SELECT ?")
        self.assertEqual(out.returncode, 0, out.stderr)  # no known prefix: text "bogus:"
        out = self.miscli("ro", "query", "--param", "int:x", "SELECT ?")
        self.assertEqual(out.returncode, 64, out.stderr)

    # -- what a cold review found ----------------------------------------------------------
    def wait_for_the_database_threads(self):
        """SQLite cannot cancel a running statement: cancelled SLOW ones run to
        their end and hold the 4 database threads until then (long on a loaded
        machine). Wait until all 4 are free again (4 handles opened at once
        need them all), so that what follows starts on an idle pool."""
        waiters = []
        for _ in range(4):
            w = OdbcClient(self.ports["ro"], timeout=600)
            self.addCleanup(w.close)
            self.assertEqual(w.hello2(PW, device="dev-1")[1].type, 0x02)
            waiters.append(w)
        rids = [w.send(0x40, b"\x00\x00") for w in waiters]
        for w, rid in zip(waiters, rids):  # their handles close with their connections
            f = w.recv_frame()
            self.assertEqual((f.type, f.id), (0x41, rid))

    def test_pipelined_close_and_cancelled_open(self):
        c, h = self.opened()
        # A request, then ODBC_CLOSE, without waiting: answers in order, nothing freed twice.
        qid = c.send_query(h, "SELECT 1")
        cid = c.send(0x49, struct.pack(">I", h))
        self.assertEqual(c.read_query(qid)[1], [(1,)])
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (0x4A, cid))
        self.err("BAD_HANDLE", c.query, h, "SELECT 1")
        # An OPEN cancelled before it ran leaves no usable handle behind.
        busy = [self.opened() for _ in range(4)]
        slow = [(d, d.send_query(k, SLOW)) for d, k in busy]  # the 4 database threads
        oid = c.send(0x40, b"\x00\x00")
        c.cancel(oid)
        f = c.recv_frame()
        self.assertEqual((f.type, f.id, struct.unpack(">H", f.payload[:2])[0]),
                         (0x7F, oid, E["CANCELLED"]))
        # Handle ids come from one counter: the four opened above, then the cancelled one.
        self.err("BAD_HANDLE", c.query, h + 5, "SELECT 1")
        for d, rid in slow:
            d.cancel(rid)
        self.wait_for_the_database_threads()
        # A pipelined request that fails at once, then CLOSE: the failure is answered first.
        g = c.open()[0]
        qid = c.send_query(g, "SELECT * FROM no_such_table")
        cid = c.send(0x49, struct.pack(">I", g))
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (0x7F, qid))
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (0x4A, cid))

    def test_half_close_still_gets_the_answer(self):
        c, h = self.opened()
        qid = c.send_query(h, "SELECT 42")
        half_close(c)  # TCP FIN after the request: the answer still comes
        self.assertEqual(c.read_query(qid, credit=False)[1], [(42,)])

    # -- transactions and order -------------------------------------------------------------
    def test_transactions_and_rollback_at_close(self):
        c, h = self.opened("rw")
        c.execute(h, "CREATE TABLE IF NOT EXISTS t_tx (v INTEGER)")
        c.execute(h, "DELETE FROM t_tx")
        self.err("UNEXPECTED", c.tx, h, COMMIT)
        # A COMMIT's CANCEL is ignored: its answer says what happened.
        c.tx(h, BEGIN)
        c.execute(h, "INSERT INTO t_tx VALUES (9)")
        rid = c.send(0x47, struct.pack(">IB", h, COMMIT))
        c.cancel(rid)
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (0x48, rid))
        self.err("UNEXPECTED", c.tx, h, ROLLBACK)
        self.assertEqual(c.query(h, "SELECT v FROM t_tx")[1], [(9,)])
        c.execute(h, "DELETE FROM t_tx")
        c.tx(h, BEGIN)
        self.err("UNEXPECTED", c.tx, h, BEGIN)
        c.execute(h, "INSERT INTO t_tx VALUES (1)")
        self.assertEqual(c.query(h, "SELECT count(*) FROM t_tx")[1], [(1,)])  # same connection
        c.tx(h, ROLLBACK)
        self.assertEqual(c.query(h, "SELECT count(*) FROM t_tx")[1], [(0,)])
        c.tx(h, BEGIN)
        c.execute(h, "INSERT INTO t_tx VALUES (2)")
        c.tx(h, COMMIT)
        # A connection that ends with a transaction open: rolled back.
        c.tx(h, BEGIN)
        c.execute(h, "INSERT INTO t_tx VALUES (3)")
        c.close()
        d, k = self.opened("rw")
        deadline = time.monotonic() + 10
        while True:
            try:
                rows = d.query(k, "SELECT v FROM t_tx ORDER BY v")[1]
                break
            except QueryError as e:  # the rollback may still hold SQLite's lock a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(rows, [(2,)])

    def test_pipelined_requests_keep_their_order_per_handle(self):
        c, h = self.opened("rw")
        c.execute(h, "CREATE TABLE IF NOT EXISTS t_order (v INTEGER)")
        c.execute(h, "DELETE FROM t_order")
        rids = []
        for i in range(14):  # with the QUERY, 15 of the 16 requests a connection may have
            body = struct.pack(">IB", h, 0)
            sql = b"INSERT INTO t_order VALUES (?)"
            rids.append(c.send(0x45, body + struct.pack(">H", len(sql)) + sql
                               + struct.pack(">HBq", 1, INT, i)))
        qid = c.send_query(h, "SELECT v FROM t_order ORDER BY rowid")
        for rid in rids:
            f = c.recv_frame()
            self.assertEqual((f.type, f.id), (0x46, rid))
        self.assertEqual(c.read_query(qid)[1], [(i,) for i in range(14)])


if __name__ == "__main__":
    unittest.main()
