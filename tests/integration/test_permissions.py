"""Per-connection permissions: the HELLO_OK bitmask, PERMISSION errors that
leave the connection usable, two connections with different rights in one
process, and miscli's view of a refused ping."""
import unittest

from harness import (Gateway, Client, ERR, HELLO_OK, NOOP, PING, PONG, login,
                     parse_hello_ok, peer)

PERM_PING, PERM_SYNC, PERM_SEND, PERM_RECEIVE, PERM_ODBC = 1, 2, 4, 8, 16


class PermissionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[
            # conns[0] is the port miscli uses: ping refused there.
            {"name": "noping", "ping": "off", "sync": "on", "send_files": "off",
             "receive_files": "on", "odbc": "off"},
            {"name": "pingodbc", "ping": "on", "sync": "off", "send_files": "off",
             "receive_files": "off", "odbc": "on"},
        ])
        cls.noping = cls.gw.conns[0]["port"]
        cls.pingodbc = cls.gw.conns[1]["port"]

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.gw.__exit__(None, None, None)
        assert code == 0, code

    def test_listening_lines_show_permissions(self):
        self.gw.wait_log(r"event=listening connection=noping [^\n]*perms=0x0a")
        self.gw.wait_log(r"event=listening connection=pingodbc [^\n]*perms=0x11")

    def test_hello_ok_bitmask(self):
        for port, name, perms in ((self.pingodbc, "pingodbc", PERM_PING | PERM_ODBC),
                                  (self.noping, "noping", PERM_SYNC | PERM_RECEIVE)):
            with Client(port) as c:
                rid, (mtype, rrid, payload) = c.hello(self.gw.password, device="dev-mask-" + name)
                self.assertEqual((mtype, rrid), (HELLO_OK, rid))
                h = parse_hello_ok(payload)
                self.assertEqual(h["connection"], name)
                self.assertEqual(h["permissions"], perms, "0x%02x" % h["permissions"])
            self.gw.wait_log(r'event=hello result=OK connection=%s [^\n]*device="dev-mask-%s"'
                             r'[^\n]*perms=0x%02x' % (name, name, perms))

    def test_ping_denied_connection_stays_open(self):
        with login(self.noping, self.gw.password) as c:
            who = peer(c)
            rid = c.send(PING, b"12345678")
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["PERMISSION"]), msg)
            self.assertIn("'ping'", msg)
            self.assertIn("noping", msg)
            self.gw.wait_log(r"peer=%s event=denied op=ping id=%d permission=ping "
                             r"connection=noping" % (who, rid))
            # Still open and usable.
            nid = c.send(NOOP)
            mtype, rrid, payload = c.recv()
            self.assertEqual((mtype, rrid, payload), (NOOP, nid, b""))
            rid2 = c.send(PING, b"again")
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid2, ERR["PERMISSION"]), msg)
        self.gw.wait_log(r"peer=%s event=denied op=ping id=%d permission=ping connection=noping"
                         % (who, rid2))
        self.assertNotRegex(self.gw.log(), r"peer=%s event=request op=ping[^\n]*result=OK" % who)

    def test_two_connections_in_one_process(self):
        # The same process serves both ports, at the same time, with different rights.
        with login(self.noping, self.gw.password) as a, \
                login(self.pingodbc, self.gw.password) as b:
            rid = b.send(PING, b"on-b")
            mtype, rrid, payload = b.recv()
            self.assertEqual((mtype, rrid), (PONG, rid))
            self.assertEqual(payload[8:], b"on-b")
            rid_a = a.send(PING, b"on-a")
            rrid, code, msg = a.recv_error()
            self.assertEqual((rrid, code), (rid_a, ERR["PERMISSION"]), msg)
            rid = b.send(PING, b"on-b-2")
            mtype, rrid, payload = b.recv()
            self.assertEqual((mtype, rrid), (PONG, rid))
        self.gw.wait_log(r"event=denied op=ping id=%d permission=ping connection=noping" % rid_a)
        self.gw.wait_log(r"event=request op=ping id=%d result=OK" % rid)
        self.assertNotRegex(self.gw.log(), r"event=denied [^\n]*connection=pingodbc")

    def test_miscli_ping_denied(self):
        r = self.gw.miscli("ping", "--count", "1")
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertIn("PERMISSION", r.stderr + r.stdout)
        self.gw.wait_log(r"event=denied op=ping id=\d+ permission=ping connection=noping")


if __name__ == "__main__":
    unittest.main()
