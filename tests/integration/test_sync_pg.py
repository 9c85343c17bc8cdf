"""Intervention sync on a real PostgreSQL 15 (scripts/pg-demo.sh), the
gateway as the least-privileged `mobilesvc` role and `misctl sync init` as
`miscomm_admin`: the commit-order race (two concurrent transactions, the
later-numbered committing first) never loses a change, an office edit
reaches the phone by notice and pull, a push applies and replays, and the
gateway's role still cannot touch what the rights table denies."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import MISCTL, SRC, Gateway, LogOnFailure, free_port
from odbc_client import QueryError
from sync_client import APPLIED, REPLAYED, SyncClient, update_op
from test_odbc import PW
from test_odbc_pg import pg
from test_sync import FIELDS, MAPPING

PGBIN = "/usr/lib/postgresql/15/bin"


def make_cred(gw, name, user, password):
    data = os.path.join(gw.dir, "data")
    os.makedirs(data, exist_ok=True)
    pwfile = os.path.join(data, name + ".pw")
    with open(pwfile, "w") as fh:
        fh.write(password + "\n")
    os.chmod(pwfile, 0o600)
    subprocess.run([MISCTL, "cred", "create", "-c", gw.ini, "--dsn", "servicedesk_pg",
                    "--user", user, "--password-file", pwfile, "--out",
                    os.path.join(data, name + ".cred")], check=True, capture_output=True)
    return os.path.join(data, name + ".cred")


class Psql:
    """A psql session as the superuser (through the cluster's socket), kept open
    so that a transaction can stay open while the test does something else."""

    def __init__(self, pgdir, port):
        self.p = subprocess.Popen([PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v",
                                   "ON_ERROR_STOP=1", "-h", pgdir, "-p", str(port), "-U",
                                   "postgres", "-d", "servicedesk"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.n = 0

    def run(self, sql):
        """Run sql and wait until psql has done it; its output lines."""
        self.n += 1
        mark = "--done-%d--" % self.n
        self.p.stdin.write(sql + "\n\\echo " + mark + "\n")
        self.p.stdin.flush()
        out = []
        for line in self.p.stdout:
            if line.strip() == mark:
                return out
            out.append(line.rstrip("\n"))
        raise AssertionError("psql ended: %s" % "\n".join(out))

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        self.p.stdout.close()


class SyncPostgresTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pgdir = tempfile.mkdtemp(prefix="miscomm-pg-")
        os.chmod(cls.pgdir, 0o755)
        cls.pgport = free_port()
        out = pg("start", cls.pgdir, cls.pgport)
        if out.returncode != 0:
            shutil.rmtree(cls.pgdir, ignore_errors=True)
            raise AssertionError("pg-demo.sh start failed:\n" + out.stdout + out.stderr)
        conns = [{"name": "pg", "sync": "on", "ping": "on", "sync_mapping": "pg"}]
        cls.gw = Gateway(conns=conns, start=False, sections={
            "odbc": {"ini_dir": os.path.join(cls.pgdir, "odbc")},
            "sync pg": {"credential": "data/pg.cred", "mapping": MAPPING, "fields": FIELDS,
                        "poll_interval": 1}})
        make_cred(cls.gw, "pg", "mobilesvc", "mobilesvc-demo")
        admin = make_cred(cls.gw, "admin", "miscomm_admin", "miscomm-admin-demo")
        for args in (["sync", "init", "--connection", "pg", "--credential", admin],
                     ["device", "add", "pg-tab", "--technician", "3", "--connection", "pg"],
                     ["device", "add", "pg-tab2", "--technician", "4", "--connection", "pg"]):
            r = subprocess.run([MISCTL, *args, "-c", cls.gw.ini], capture_output=True, text=True)
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        cls.gw.start()
        cls.psql = Psql(cls.pgdir, cls.pgport)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.psql.close()
            assert cls.gw.stop() == 0, cls.gw.log()[-3000:]
        finally:
            pg("stop", cls.pgdir)
            shutil.rmtree(cls.pgdir, ignore_errors=True)

    def client(self, device="pg-tab"):
        c = SyncClient(self.gw.port)
        self.addCleanup(c.close)
        self.assertEqual(c.hello2(PW, device=device)[1].type, 0x02)
        return c

    def ids(self, tech):
        return [int(x) for x in self.psql.run(
            "SELECT id FROM interventions WHERE technician_id = %d ORDER BY id;" % tech)]

    def test_full_pull(self):
        replica, _, _ = self.client().pull_all()
        self.assertEqual(sorted(replica), self.ids(3))

    def test_commit_order_race_never_loses_a_change(self):
        c = self.client()
        _, cursor, _ = c.pull_all()
        x, y = self.ids(3)[:2]
        first = Psql(self.pgdir, self.pgport)
        self.addCleanup(first.close)
        # First takes its transaction id and change sequence number first...
        first.run("BEGIN; UPDATE interventions SET report = 'race first', version = version + 1 "
                  "WHERE id = %d;" % x)
        # ...the second takes later ones and commits first.
        self.psql.run("UPDATE interventions SET report = 'race second', version = version + 1 "
                      "WHERE id = %d;" % y)
        seqs = self.psql.run("SELECT intervention_id, seq FROM miscomm_sync_changes WHERE "
                             "intervention_id IN (%d, %d) ORDER BY seq DESC LIMIT 1;" % (x, y))
        self.assertEqual(seqs[0].split("|")[0], str(y), "the second change has the higher number")
        got = {}
        _, rows, cursor, _ = c.pull_page(cursor)
        got.update({r["id"]: r["report"] for r in rows})
        # A "highest number seen" cursor would now be past the first change.
        first.run("COMMIT;")
        for _ in range(3):
            _, rows, cursor, more = c.pull_page(cursor)
            got.update({r["id"]: r["report"] for r in rows})
        self.assertEqual((got.get(x), got.get(y)), ("race first", "race second"), got)

    def test_office_edit_notice_then_pull(self):
        c = self.client("pg-tab2")
        _, cursor, _ = c.pull_all()
        iid = self.ids(4)[0]
        self.psql.run("UPDATE interventions SET status = 'travelling', version = version + 1 "
                      "WHERE id = %d;" % iid)
        self.assertTrue(c.wait_notice(10), "no CHANGES_AVAILABLE within 10 s")
        _, rows, _, _ = c.pull_page(cursor)
        self.assertEqual([(r["id"], r["status"]) for r in rows], [(iid, "travelling")])

    def test_push_and_replay_as_the_restricted_role(self):
        c = self.client()
        iid = self.ids(3)[2]
        replica, _, _ = c.pull_all()
        r = replica[iid]
        op = update_op(iid, r["version"], {"time_spent_minutes": (r["time_spent_minutes"], 33)})
        [res] = c.push([op])
        self.assertEqual((res.result, res.version), (APPLIED, r["version"] + 1), res)
        [again] = c.push([op])
        self.assertEqual((again.result, again.flags & REPLAYED), (APPLIED, REPLAYED))
        self.assertEqual(self.psql.run("SELECT version, time_spent_minutes FROM interventions "
                                       "WHERE id = %d;" % iid), ["%d|33" % (r["version"] + 1)])
        # The gateway's account is still the rights table's: no delete on interventions.
        out = self.psql.run("SELECT has_table_privilege('mobilesvc', 'interventions', 'DELETE'), "
                            "has_table_privilege('mobilesvc', 'miscomm_sync_changes', 'INSERT');")
        self.assertEqual(out, ["f|f"])


if __name__ == "__main__":
    unittest.main()
