"""Intervention sync (docs/protocol.md 5.16) on the embedded SQLite demo
database: full and incremental pulls, field-level merges and conflicts
under each policy, replays after lost answers, a client killed mid-push,
office edits reaching the phone by notice and pull, tombstones, a
10,000-row pull, photos (an upload dropped halfway and resumed, a missing
photo not blocking the rest), revoked and unbound devices, bad input, and
two gateway processes on one database serving one device alternately."""
import hashlib
import os
import socket
import sqlite3
import struct
import subprocess
import time
import unittest

from harness import MISCLI, MISCTL, SRC, ERR, Gateway, LogOnFailure
from odbc_client import QueryError, Timestamp
from streams_client import CREDIT, ERR2, wstr
from sync_client import (APPLIED, CONFLICT, ERR_SYNC, FAILED, MERGED, REPLAYED, RESOLVED,
                         SYNC_PUSH, SyncClient, photo_op, update_op)
from test_odbc import make_cred

E = dict(ERR, **ERR2, **ERR_SYNC, NOT_FOUND=42, NOT_ALLOWED=73, BAD_NAME=50)
PW = "correct horse battery"
MAPPING = os.path.join(SRC, "conf", "sync", "servicedesk")
FIELDS = ("status, actual_start, actual_end, time_spent_minutes, report, signatory_name, "
          "signature_file, signed_at")
PUT, PUT_OFFSET, PUT_OK = 0x36, 0x37, 0x38
WINDOW = 1 << 20


def sync_section(policy):
    return {"credential": "data/demo.cred", "mapping": MAPPING, "fields": FIELDS,
            "conflict_policy": policy, "photo_dir": "data/photos", "poll_interval": 1,
            "stall_timeout": 2}


def conn(name, mapping):
    return {"name": name, "sync": "on", "ping": "on", "receive_files": "on",
            "sync_mapping": mapping}


def setup_gateway(start=True, data=None):
    """A gateway with three connections, one per conflict policy, on the demo database."""
    conns = [conn("rej", "rej"), conn("sw", "sw"), conn("cw", "cw"),
             {"name": "nomap", "sync": "on", "ping": "on"}]
    gw = Gateway(conns=conns, start=False,
                 sections={"sync rej": sync_section("reject"),
                           "sync sw": sync_section("server_wins"),
                           "sync cw": sync_section("client_wins")})
    d = os.path.join(gw.dir, "data")
    if data:
        os.symlink(data, d)
    else:
        os.makedirs(d, exist_ok=True)
        subprocess.run(["bash", os.path.join(SRC, "scripts", "demo-db.sh"), d], check=True,
                       capture_output=True)
        make_cred(gw.ini, os.path.join(d, "demo.cred"))
        run_misctl(gw, "sync", "init", "--connection", "rej")
    if start:
        gw.start()
    return gw


def run_misctl(gw, *args, check=True):
    r = subprocess.run([MISCTL, *args, "-c", gw.ini], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


class SyncTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = setup_gateway(start=False)
        cls.db = os.path.join(cls.gw.dir, "data", "servicedesk.db")
        for dev, tech, c in [("tab-a", 1, "rej"), ("tab-b", 1, "rej"), ("sw-a", 2, "sw"),
                             ("sw-b", 2, "sw"), ("cw-a", 3, "cw"), ("cw-b", 3, "cw"),
                             ("tab-c", 4, "rej"), ("tab-d", 5, "rej"), ("gone", 6, "rej")]:
            run_misctl(cls.gw, "device", "add", dev, "--technician", str(tech), "--connection", c)
        cls.gw.start()
        cls.ports = {c["name"]: c["port"] for c in cls.gw.conns}

    @classmethod
    def tearDownClass(cls):
        assert cls.gw.stop() == 0, cls.gw.log()[-3000:]

    def client(self, device, conn="rej"):
        c = SyncClient(self.ports[conn])
        self.addCleanup(c.close)
        rid, f = c.hello2(PW, device=device)
        self.assertEqual(f.type, 0x02, f)
        return c

    def sql(self, q, args=()):
        with sqlite3.connect(self.db, timeout=30) as db:
            return db.execute(q, args).fetchall()

    def office_edit(self, iid, **fields):
        sets = ", ".join("%s = ?" % k for k in fields)
        self.sql("UPDATE interventions SET %s, version = version + 1, "
                 "updated_at = strftime('%%Y-%%m-%%d %%H:%%M:%%S', 'now') WHERE id = ?" % sets,
                 (*fields.values(), iid))

    def row(self, iid):
        return self.sql("SELECT version, status, report, time_spent_minutes, technician_id "
                        "FROM interventions WHERE id = ?", (iid,))[0]

    def mine(self, tech):
        return [r[0] for r in self.sql("SELECT id FROM interventions WHERE technician_id = ? "
                                       "ORDER BY id", (tech,))]

    def pulled(self, c, iid):
        replica, _, _ = c.pull_all()
        return replica[iid]

    # -- pulls ------------------------------------------------------------------------------
    def test_full_pull_has_every_intervention_with_its_context(self):
        c = self.client("tab-c")
        cols, rows, cursor, more = c.pull_page(b"", 10000)
        self.assertEqual([x[0] for x in cols[:3]], ["seq", "id", "version"])
        self.assertFalse(more)
        self.assertEqual(sorted(r["id"] for r in rows), self.mine(4))
        self.assertTrue(all(r["version"] is not None for r in rows), "no tombstone in a full pull")
        r = rows[0]
        db = self.sql("SELECT t.number, s.name FROM interventions i JOIN tickets t "
                      "ON t.id = i.ticket_id JOIN sites s ON s.id = t.site_id WHERE i.id = ?",
                      (r["id"],))[0]
        self.assertEqual((r["ticket_number"], r["site_name"]), db)
        # Nothing changed: the next pull is empty.
        _, rows2, _, more2 = c.pull_page(cursor)
        self.assertEqual((rows2, more2), ([], False))

    def test_paged_pull_gives_each_intervention_once(self):
        c = self.client("tab-c")
        seen, cursor, pages = [], b"", 0
        while True:
            _, rows, cursor, more = c.pull_page(cursor, 3)
            pages += 1
            self.assertLessEqual(len(rows), 3)
            seen += [r["id"] for r in rows]
            if not more:
                break
        self.assertEqual(sorted(seen), self.mine(4))
        self.assertEqual(len(seen), len(set(seen)))
        self.assertGreater(pages, 2)

    def test_office_edit_reaches_the_phone_by_notice_and_pull(self):
        c = self.client("tab-d")
        replica, cursor, _ = c.pull_all()
        iid = self.mine(5)[0]
        self.office_edit(iid, report="Pièce commandée par le bureau")
        self.assertTrue(c.wait_notice(10), "no CHANGES_AVAILABLE within 10 s")
        _, rows, cursor, _ = c.pull_page(cursor)
        self.assertEqual([(r["id"], r["report"]) for r in rows],
                         [(iid, "Pièce commandée par le bureau")])
        self.assertEqual(rows[0]["version"], self.row(iid)[0])

    def test_unassignment_is_a_tombstone_and_the_new_technician_gets_it(self):
        old, new = self.client("tab-d"), self.client("tab-c")
        _, old_cur, _ = old.pull_all()
        _, new_cur, _ = new.pull_all()
        iid = self.mine(5)[-1]
        self.office_edit(iid, technician_id=4)
        self.addCleanup(self.office_edit, iid, technician_id=5)
        _, rows, _, _ = old.pull_page(old_cur)
        self.assertEqual([(r["id"], r["version"], r["status"]) for r in rows], [(iid, None, None)])
        _, rows, _, _ = new.pull_page(new_cur)
        self.assertEqual([r["id"] for r in rows], [iid])
        self.assertIsNotNone(rows[0]["version"])

    def test_deleted_intervention_is_a_tombstone(self):
        c = self.client("tab-d")
        _, cursor, _ = c.pull_all()
        iid = self.mine(5)[1]
        saved = self.sql("SELECT * FROM interventions WHERE id = ?", (iid,))[0]
        self.sql("DELETE FROM interventions WHERE id = ?", (iid,))
        self.addCleanup(self.sql, "INSERT INTO interventions VALUES (%s)" %
                        ",".join("?" * len(saved)), saved)
        _, rows, _, _ = c.pull_page(cursor)
        self.assertIn((iid, None), [(r["id"], r["version"]) for r in rows])

    def test_ten_thousand_rows(self):
        self.sql("INSERT INTO technicians (id, login, first_name, last_name, email, team) VALUES "
                 "(900, 'bulk', 'B', 'Ulk', 'bulk@example.org', 'bulk')")
        ticket = self.sql("SELECT id FROM tickets LIMIT 1")[0][0]
        with sqlite3.connect(self.db, timeout=30) as db:
            db.executemany("INSERT INTO interventions (ticket_id, technician_id, planned_start, "
                           "planned_end, report) VALUES (?, 900, '2026-01-01 08:00:00', "
                           "'2026-01-01 09:00:00', ?)",
                           [(ticket, "bulk %d" % i) for i in range(10000)])
        run_misctl(self.gw, "device", "add", "bulk-tab", "--technician", "900",
                   "--connection", "rej")
        c = self.client("bulk-tab")
        replica, cursor, pages = c.pull_all()
        self.assertEqual(len(replica), 10000)
        self.assertGreaterEqual(pages, 10)  # 1000 rows per page by default
        self.assertEqual(sorted(replica), self.mine(900))

    def test_a_pull_whose_client_reads_nothing_ends(self):
        self.sql("INSERT INTO technicians (id, login, first_name, last_name, email, team) VALUES "
                 "(901, 'slow', 'S', 'Low', 'slow@example.org', 'bulk')")
        ticket = self.sql("SELECT id FROM tickets LIMIT 1")[0][0]
        with sqlite3.connect(self.db, timeout=30) as db:
            db.executemany("INSERT INTO interventions (ticket_id, technician_id, planned_start, "
                           "planned_end, report) VALUES (?, 901, '2026-01-01 08:00:00', "
                           "'2026-01-01 09:00:00', ?)",
                           [(ticket, "x" * 8000) for _ in range(400)])  # 3 MB: past the window
        run_misctl(self.gw, "device", "add", "slow-tab", "--technician", "901",
                   "--connection", "rej")
        c = self.client("slow-tab")
        rid = c.send(0x50, struct.pack(">HI", 0, 1000))
        got = 0
        while True:
            f = c.recv_frame(timeout=20)
            if f.type == 0x7F:
                break
            got += len(f.payload) if f.type == 0x10 else 0
        self.assertEqual((f.id, struct.unpack(">H", f.payload[:2])[0]), (rid, E["TIMEOUT"]))
        self.assertLessEqual(got, WINDOW)
        self.gw.wait_log(r"event=sync_pull device=\"slow-tab\" result=TIMEOUT")
        # The connection, and the database connection it held, serve again.
        replica, _, _ = c.pull_all()
        self.assertEqual(len(replica), 400)

    def test_bad_cursor_and_limits(self):
        c = self.client("tab-c")
        for cur in (b"x" * 25, b"\x01" + b"\x00" * 10, b"\x02" + b"\x00" * 24):
            with self.assertRaises(QueryError) as cm:
                c.pull_page(cur)
            self.assertEqual(cm.exception.code, E["BAD_CURSOR"], cur)
        with self.assertRaises(QueryError) as cm:
            c.pull_page(b"", 10001)
        self.assertEqual(cm.exception.code, E["BAD_PAYLOAD"])
        self.gw.wait_log(r"op=sync_pull.*result=BAD_CURSOR")

    # -- pushes -----------------------------------------------------------------------------
    def test_push_applies_and_a_replay_changes_nothing_twice(self):
        c = self.client("tab-a")
        iid = self.mine(1)[0]
        r = self.pulled(c, iid)
        op = update_op(iid, r["version"], {"time_spent_minutes": (r["time_spent_minutes"], 77)})
        [res] = c.push([op])
        self.assertEqual((res.result, res.flags, res.code), (APPLIED, 0, 0), res)
        self.assertEqual(res.version, r["version"] + 1)
        self.assertEqual(self.row(iid)[0], r["version"] + 1)
        # The answer was lost: the same batch again.
        [again] = c.push([op])
        self.assertEqual((again.result, again.flags & REPLAYED, again.version),
                         (APPLIED, REPLAYED, r["version"] + 1))
        self.assertEqual(self.row(iid)[:4][3], 77)
        self.assertEqual(self.row(iid)[0], r["version"] + 1, "applied twice")
        self.assertEqual(self.sql("SELECT count(*) FROM miscomm_sync_ops WHERE op_id = ?",
                                  (op[0].hex(),))[0][0], 1)

    def test_client_killed_mid_push_then_resumed(self):
        iid = self.mine(1)[1]
        c = self.client("tab-a")
        r = self.pulled(c, iid)
        op = update_op(iid, r["version"], {"report": (r["report"], "écrit hors ligne")})
        c.send(SYNC_PUSH, struct.pack(">H", 1) + op[1])
        c.sock.close()  # killed: never reads the answer
        c2 = self.client("tab-a")
        deadline = time.time() + 10
        while True:
            [res] = c2.push([op])
            if res.result == APPLIED or time.time() > deadline:
                break
        self.assertEqual(res.result, APPLIED, res)
        self.assertEqual(self.row(iid)[0], r["version"] + 1, "exactly one change")
        self.assertEqual(self.row(iid)[2], "écrit hors ligne")

    def test_disjoint_fields_of_two_devices_merge(self):
        a, b = self.client("tab-a"), self.client("tab-b")
        iid = self.mine(1)[2]
        ra, rb = self.pulled(a, iid), self.pulled(b, iid)
        [x] = a.push([update_op(iid, ra["version"], {"status": (ra["status"], "in_progress")})])
        self.assertEqual((x.result, x.flags), (APPLIED, 0), x)
        [y] = b.push([update_op(iid, rb["version"], {"report": (rb["report"], "rapport B")})])
        self.assertEqual((y.result, y.flags & MERGED), (APPLIED, MERGED), y)
        self.assertEqual(self.row(iid)[:3], (ra["version"] + 2, "in_progress", "rapport B"))

    def same_field(self, conn, devs):
        a, b = self.client(devs[0], conn), self.client(devs[1], conn)
        tech = {"rej": 1, "sw": 2, "cw": 3}[conn]
        iid = self.mine(tech)[3]
        ra, rb = self.pulled(a, iid), self.pulled(b, iid)
        [x] = a.push([update_op(iid, ra["version"], {"report": (ra["report"], "version A"),
                                                     "time_spent_minutes": (ra["time_spent_minutes"], 11)})])
        self.assertEqual(x.result, APPLIED, x)
        [y] = b.push([update_op(iid, rb["version"], {"report": (rb["report"], "version B"),
                                                     "status": (rb["status"], "suspended")})])
        self.assertEqual(y.conflicts, ["report"], y)
        return iid, ra, y

    def test_same_field_conflict_rejected(self):
        iid, ra, y = self.same_field("rej", ("tab-a", "tab-b"))
        self.assertEqual((y.result, y.code), (CONFLICT, E["CONFLICT"]), y)
        self.assertEqual(y.values["report"], "version A")
        self.assertEqual(y.values["time_spent_minutes"], 11)
        self.assertEqual(y.version, ra["version"] + 1)
        self.assertEqual(self.row(iid)[:3], (ra["version"] + 1, ra["status"], "version A"),
                         "nothing of a rejected operation applies")
        self.gw.wait_log(r"event=sync_op device=\"tab-b\".*result=conflict.*conflicts=1")

    def test_same_field_conflict_server_wins(self):
        iid, ra, y = self.same_field("sw", ("sw-a", "sw-b"))
        self.assertEqual((y.result, y.flags & RESOLVED), (APPLIED, RESOLVED), y)
        self.assertEqual(self.row(iid)[:3], (ra["version"] + 2, "suspended", "version A"))
        self.assertEqual(y.values["report"], "version A")

    def test_same_field_conflict_client_wins(self):
        iid, ra, y = self.same_field("cw", ("cw-a", "cw-b"))
        self.assertEqual((y.result, y.flags & RESOLVED), (APPLIED, RESOLVED), y)
        self.assertEqual(self.row(iid)[:3], (ra["version"] + 2, "suspended", "version B"))

    def test_bad_operations_fail_alone(self):
        c = self.client("tab-a")
        mine = self.mine(1)
        r = self.pulled(c, mine[4])
        before = self.row(mine[4])
        other = self.mine(2)[0]
        ops = [update_op(mine[4], r["version"], {"colour": ("a", "b")}),
               update_op(mine[4], r["version"], {"status": (r["status"], "exploded")}),
               update_op(other, 1, {"report": (None, "not mine")}),
               update_op(mine[4], r["version"], {"report": (r["report"], "a"),
                                                 "report ": (r["report"], "b")}),
               update_op(mine[4], r["version"], {"status": (r["status"], "travelling")})]
        res = c.push(ops)
        self.assertEqual([x.result for x in res], [FAILED, FAILED, FAILED, FAILED, APPLIED], res)
        self.assertEqual(res[0].code, E["BAD_PAYLOAD"])
        self.assertIn("colour", res[0].message)
        self.assertEqual(res[1].code, 70)  # SQL: the CHECK constraint
        self.assertIn("SQLSTATE", res[1].message)
        self.assertEqual(res[2].code, E["NOT_FOUND"])
        self.assertEqual(self.row(mine[4])[:2], (before[0] + 1, "travelling"))
        self.assertEqual(self.row(other)[2], self.sql("SELECT report FROM interventions WHERE "
                                                      "id = ?", (other,))[0][0])

    def test_malformed_push_changes_nothing(self):
        c = self.client("tab-a")
        iid = self.mine(1)[5]
        before = self.row(iid)
        good = update_op(iid, before[0], {"report": (None, "x")})
        for payload in (struct.pack(">H", 0), struct.pack(">H", 2) + good[1],
                        struct.pack(">H", 1) + good[1] + b"\x00",
                        struct.pack(">H", 1) + good[1][:-3],
                        struct.pack(">H", 1) + good[1][:16] + b"\x09" + good[1][17:]):
            rid = c.send(SYNC_PUSH, payload)
            f = c.next_frame()
            self.assertEqual((f.type, f.id), (0x7F, rid))
            self.assertEqual(struct.unpack(">H", f.payload[:2])[0], E["BAD_PAYLOAD"])
        self.assertEqual(self.row(iid), before)

    # -- photos -----------------------------------------------------------------------------
    def put_partial(self, c, name, content, upto):
        """A PUT that sends upto bytes and then its connection drops."""
        digest = hashlib.sha256(content).digest()
        rid = c.send(PUT, wstr(name) + struct.pack(">Q", len(content)) + digest)
        f = c.expect(PUT_OFFSET, rid)
        c.data(rid, content[:upto])
        time.sleep(0.3)

    def put_all(self, c, name, content):
        digest = hashlib.sha256(content).digest()
        rid = c.send(PUT, wstr(name) + struct.pack(">Q", len(content)) + digest)
        f = c.expect(PUT_OFFSET, rid)
        off = struct.unpack(">Q", f.payload[16:])[0]
        credit = WINDOW
        while True:
            n = min(65536, credit, len(content) - off)
            last = off + n == len(content)
            c.data(rid, content[off:off + n], end=last)
            off += n
            credit -= n
            if last:
                break
            if credit == 0:
                credit += struct.unpack(">I", c.expect(CREDIT, rid).payload)[0]
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        return f

    def test_photo_dropped_halfway_resumed_and_attached(self):
        iid = self.mine(1)[6]
        photo = b"\xff\xd8\xff\xe0" + os.urandom(600000)
        c = self.client("tab-a")
        self.put_partial(c, "photos/p1.jpg", photo, 300000)
        c.sock.close()
        c2 = self.client("tab-a")
        f = self.put_all(c2, "photos/p1.jpg", photo)
        self.assertGreater(struct.unpack(">Q", f.payload[16:])[0], 0, "the upload resumed")
        op = photo_op(iid, "photos/p1.jpg", photo, caption="Avant", taken_at=Timestamp(
            (2026, 11, 30, 10, 0, 0, 0)))
        [res] = c2.push([op])
        self.assertEqual(res.result, APPLIED, res)
        digest = hashlib.sha256(photo).hexdigest()
        rows = self.sql("SELECT intervention_id, file_name, size_bytes, sha256, caption FROM "
                        "intervention_photos WHERE sha256 = ?", (digest,))
        self.assertEqual(rows, [(iid, digest + ".jpg", len(photo), digest, "Avant")])
        with open(os.path.join(self.gw.dir, "data", "photos", digest + ".jpg"), "rb") as fh:
            self.assertEqual(fh.read(), photo)
        [again] = c2.push([op])
        self.assertEqual((again.result, again.flags & REPLAYED), (APPLIED, REPLAYED))
        self.assertEqual(len(self.sql("SELECT 1 FROM intervention_photos WHERE sha256 = ?",
                                      (digest,))), 1)

    def test_a_failed_photo_does_not_block_the_others(self):
        iid = self.mine(1)[7]
        c = self.client("tab-a")
        r = self.pulled(c, iid)
        wrong = os.urandom(1000)
        self.put_all(c, "photos/wrong.jpg", wrong)
        res = c.push([photo_op(iid, "photos/never-uploaded.jpg", b"nothing"),
                      photo_op(iid, "photos/wrong.jpg", wrong, sha=hashlib.sha256(b"x").digest()),
                      photo_op(iid, "../escape.jpg", b"x"),
                      update_op(iid, r["version"], {"status": (r["status"], "done")})])
        self.assertEqual([x.result for x in res], [FAILED, FAILED, FAILED, APPLIED], res)
        self.assertEqual([x.code for x in res[:3]],
                         [E["NOT_FOUND"], 53, E["BAD_NAME"]], res)
        self.assertIn("upload it first", res[0].message)
        self.assertEqual(self.row(iid)[1], "done")

    # -- devices ----------------------------------------------------------------------------
    def test_unbound_device_and_no_mapping(self):
        c = self.client("never-bound")
        with self.assertRaises(QueryError) as cm:
            c.pull_page()
        self.assertEqual(cm.exception.code, E["NOT_BOUND"])
        with self.assertRaises(QueryError) as cm:
            c.push([update_op(1, 1, {"report": (None, "x")})])
        self.assertEqual(cm.exception.code, E["NOT_BOUND"])
        # Bound on another connection: not this one's.
        with self.assertRaises(QueryError) as cm:
            self.client("sw-a", "rej").pull_page()
        self.assertEqual(cm.exception.code, E["NOT_BOUND"])
        with self.assertRaises(QueryError) as cm:
            self.client("tab-a", "nomap").pull_page()
        self.assertEqual(cm.exception.code, E["NOT_ALLOWED"])

    def test_revoked_device_is_closed_and_refused(self):
        live = self.client("gone")
        live.pull_all()
        r = run_misctl(self.gw, "device", "revoke", "gone", "--connection", "rej")
        self.assertIn("revoked", r.stdout)
        f = live.recv_frame(timeout=10)
        while f.type != 0x7F:
            f = live.recv_frame(timeout=10)
        self.assertEqual((f.id, struct.unpack(">H", f.payload[:2])[0]), (0, E["REVOKED"]))
        c = SyncClient(self.ports["rej"])
        self.addCleanup(c.close)
        rid, f = c.hello2(PW, device="gone")
        self.assertEqual((f.type, struct.unpack(">H", f.payload[:2])[0]), (0x7F, E["REVOKED"]))
        self.gw.wait_log(r"event=hello result=REVOKED .*device=\"gone\"")
        r = run_misctl(self.gw, "device", "revoke", "gone", "--connection", "rej", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already revoked", r.stderr)
        listing = run_misctl(self.gw, "device", "list", "--connection", "rej").stdout
        self.assertRegex(listing, r"gone\s+rej\s+6\s+\S+\s+revoked")


class TwoGatewaysTest(LogOnFailure, unittest.TestCase):
    """Two gateway processes on one database serve one device alternately."""

    def test_alternating_gateways(self):
        one = setup_gateway()
        self.addCleanup(one.stop)
        two = setup_gateway(data=os.path.join(one.dir, "data"))
        self.addCleanup(two.stop)
        self.gw = one
        run_misctl(one, "device", "add", "roam", "--technician", "7", "--connection", "rej")
        db = os.path.join(one.dir, "data", "servicedesk.db")
        iid = sqlite3.connect(db).execute(
            "SELECT id FROM interventions WHERE technician_id = 7 ORDER BY id").fetchone()[0]
        # Both caches learn the binding within their poll interval; the database decides anyway.
        c1 = SyncClient(one.port)
        self.addCleanup(c1.close)
        c1.hello2(PW, device="roam")
        replica, cursor, _ = c1.pull_all()
        r = replica[iid]
        op = update_op(iid, r["version"], {"report": (r["report"], "via gateway one")})
        [res] = c1.push([op])
        self.assertEqual(res.result, APPLIED)
        c2 = SyncClient(two.port)
        self.addCleanup(c2.close)
        c2.hello2(PW, device="roam")
        [again] = c2.push([op])  # the lost answer, replayed on the other gateway
        self.assertEqual((again.result, again.flags & REPLAYED), (APPLIED, REPLAYED))
        _, rows, cursor, _ = c2.pull_page(cursor)
        self.assertEqual([(x["id"], x["report"]) for x in rows], [(iid, "via gateway one")])
        op2 = update_op(iid, r["version"] + 1, {"status": (r["status"], "travelling")})
        [res2] = c2.push([op2])
        self.assertEqual((res2.result, res2.version), (APPLIED, r["version"] + 2))
        _, rows, _, _ = c1.pull_page(cursor)
        self.assertEqual([(x["id"], x["status"]) for x in rows], [(iid, "travelling")])


class MiscliSyncTest(LogOnFailure, unittest.TestCase):
    """The offline store of libmiscomm through miscli sync: pull, edit offline, run, conflicts."""

    @classmethod
    def setUpClass(cls):
        cls.gw = setup_gateway()
        run_misctl(cls.gw, "device", "add", "cli-tab", "--technician", "8", "--connection", "rej")
        cls.db = os.path.join(cls.gw.dir, "data", "servicedesk.db")
        cls.store = os.path.join(cls.gw.dir, "store.db")

    @classmethod
    def tearDownClass(cls):
        assert cls.gw.stop() == 0, cls.gw.log()[-3000:]

    def miscli(self, *args, offline=False):
        pwfile = os.path.join(self.gw.dir, "pw")
        with open(pwfile, "w") as fh:
            fh.write(PW + "\n")
        os.chmod(pwfile, 0o600)
        net = [] if offline else ["--port", str(self.gw.port), "--fingerprint",
                                  self.gw.fingerprint(), "--password-file", pwfile,
                                  "--device", "cli-tab"]
        return subprocess.run([MISCLI, *net, "sync", "--store", self.store, *args],
                              capture_output=True, text=True, timeout=60)

    def sql(self, q, args=()):
        with sqlite3.connect(self.db, timeout=30) as db:
            return db.execute(q, args).fetchall()

    def test_pull_edit_offline_run_and_conflict(self):
        r = self.miscli("pull")
        self.assertEqual(r.returncode, 0, r.stderr)
        n = self.sql("SELECT count(*) FROM interventions WHERE technician_id = 8")[0][0]
        self.assertIn("rows=%d" % n, r.stdout)
        iid, version = self.sql("SELECT id, version FROM interventions WHERE technician_id = 8 "
                                "ORDER BY id LIMIT 1")[0]
        # Offline: no server options at all.
        r = self.miscli("edit", str(iid), "time_spent_minutes", "45", offline=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.miscli("edit", str(iid), "report", "Câble remplacé", offline=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.miscli("outbox", offline=True)
        self.assertIn(str(iid), r.stdout)
        r = self.miscli("run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied=1", r.stdout)
        self.assertEqual(self.sql("SELECT version, time_spent_minutes, report FROM interventions "
                                  "WHERE id = ?", (iid,))[0], (version + 1, 45, "Câble remplacé"))
        # The office changes the same field meanwhile: a conflict the store keeps.
        r = self.miscli("edit", str(iid), "time_spent_minutes", "60", offline=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sql("UPDATE interventions SET time_spent_minutes = 99, version = version + 1 "
                 "WHERE id = ?", (iid,))
        r = self.miscli("run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("conflicts=1", r.stdout)
        r = self.miscli("conflicts", offline=True)
        self.assertIn("time_spent_minutes", r.stdout)
        self.assertIn("99", r.stdout)
        self.assertEqual(self.sql("SELECT time_spent_minutes FROM interventions WHERE id = ?",
                                  (iid,))[0][0], 99, "a rejected change never lands")
        r = self.miscli("show", str(iid), offline=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("99", r.stdout)


if __name__ == "__main__":
    unittest.main()
