"""Login tickets (docs/protocol.md 5.1, 5.2 and 8): a HELLO that presents the
ticket of an earlier HELLO_OK logs in without a password check; a ticket
altered by one byte, presented for another device or on another connection,
expired, sealed before a password change or under a key the server no longer
has is refused (ERROR TICKET without a password, else the password of the
same HELLO is checked); a revoked device is refused whatever it presents;
libmiscomm keeps and presents tickets on its own."""
import os
import signal
import struct
import subprocess
import time
import unittest

from harness import BUILD, Gateway, LogOnFailure
from streams_client import StreamClient, error_of, wstr

HELLO, HELLO_OK, ERROR = 0x01, 0x02, 0x7F
FEATURE_LOGIN_TICKET = 0x2
TICKET = 84
REVOKED = 82
TICKET_SIZE = 61
TICKET_CLIENT = os.path.join(BUILD, "tests", "ticket_client")


def ticket_hello(password, ticket=b"", device="dev-1", features=FEATURE_LOGIN_TICKET):
    return (struct.pack(">HH", 1, 2) + wstr("pytest") + wstr("1.0") + wstr(device) +
            wstr(password) + struct.pack(">IH", features, len(ticket)) + ticket)


def parse_login(payload):
    """HELLO_OK (version 2, login tickets offered): (login, lifetime, ticket)."""
    pos = 2
    for _ in range(2):  # server name, server version
        pos += 2 + struct.unpack_from(">H", payload, pos)[0]
    pos += 16 + 12  # session id, permissions, max payload, idle timeout
    pos += 2 + struct.unpack_from(">H", payload, pos)[0]  # connection
    pos += 4 + 2 + 1  # stream window, max streams, compression
    login, lifetime, n = struct.unpack_from(">BIH", payload, pos)
    pos += 7
    ticket = payload[pos:pos + n]
    assert pos + n == len(payload), (pos, n, len(payload))
    return login, lifetime, ticket


class TicketTests(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[{"name": "psdmobile"}, {"name": "other"}])

    @classmethod
    def tearDownClass(cls):
        assert cls.gw.stop() == 0

    def hello(self, password, ticket=b"", device="dev-1", port=None):
        c = StreamClient(port or self.gw.port)
        self.addCleanup(c.close)
        rid = c.send(HELLO, ticket_hello(password, ticket, device))
        return c, rid, c.recv_frame()

    def password_login(self, device="dev-1", port=None):
        c, rid, f = self.hello(self.gw.password, device=device, port=port)
        self.assertEqual((f.type, f.id), (HELLO_OK, rid), f)
        login, lifetime, ticket = parse_login(f.payload)
        self.assertEqual((login, lifetime, len(ticket)), (0, 604800, TICKET_SIZE))
        c.close()
        return ticket

    def checks(self):
        return self.gw.log().count("event=password_check")

    def refused(self, ticket, reason, device="dev-1", port=None):
        """Presented without a password: ERROR TICKET, the connection stays in HELLO."""
        c, rid, f = self.hello("", ticket, device, port)
        self.assertEqual((f.type, f.id), (ERROR, rid))
        code, msg = error_of(f)
        self.assertEqual(code, TICKET, msg)
        self.assertIn("login ticket refused (%s)" % reason, msg)
        self.gw.wait_log(r"event=login_ticket result=refused .*device=\"%s\" reason=%s "
                         r"fallback=none" % (device, reason))
        # The same connection logs in with the password; not a failed login.
        rid = c.send(HELLO, ticket_hello(self.gw.password, b"", device))
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (HELLO_OK, rid), f)
        return c

    def test_ticket_accepted_without_password_check(self):
        ticket = self.password_login()
        self.gw.wait_log(r"login=password ticket_issued=yes")
        before = self.checks()
        c, rid, f = self.hello("", ticket)
        self.assertEqual((f.type, f.id), (HELLO_OK, rid), f)
        login, _, again = parse_login(f.payload)
        self.assertEqual((login, len(again)), (1, TICKET_SIZE))
        self.assertNotEqual(again, ticket)  # a fresh one, with a fresh expiry
        self.gw.wait_log(r'event=hello result=OK connection=psdmobile .*device="dev-1" .*'
                         r'login=ticket ticket_issued=yes')
        self.assertEqual(self.checks(), before, "a ticket login ran a password check")
        # The session works; a wrong password beside a valid ticket is not even checked.
        c.send(0x03, b"x")
        self.assertEqual(c.recv_frame().type, 0x04)
        c2, rid, f = self.hello("not the password", ticket)
        self.assertEqual((f.type, parse_login(f.payload)[0]), (HELLO_OK, 1))
        self.assertEqual(self.checks(), before)

    def test_altered_by_one_byte(self):
        ticket = self.password_login()
        for i in (0, 3, 7, 20, 40, 50, TICKET_SIZE - 1):
            bad = bytearray(ticket)
            bad[i] ^= 0x01
            reason = {0: "malformed", 3: "unknown_key"}.get(i, "invalid")
            if i == 7:
                reason = "invalid"  # the expiry is authenticated
            self.refused(bytes(bad), reason).close()
        self.refused(ticket[:-1], "malformed").close()
        self.assertNotIn("result=AUTH", self.gw.log())

    def test_refused_ticket_falls_back_to_the_password_of_the_same_hello(self):
        ticket = bytearray(self.password_login())
        ticket[30] ^= 0x80
        before = self.checks()
        c, rid, f = self.hello(self.gw.password, bytes(ticket))
        self.assertEqual((f.type, f.id), (HELLO_OK, rid), f)
        self.assertEqual(parse_login(f.payload)[0], 0)
        self.gw.wait_log(r"reason=invalid fallback=password")
        self.gw.wait_log(r"login=password ticket_refused=invalid ticket_issued=yes")
        self.assertEqual(self.checks(), before + 1)

    def test_another_device(self):
        ticket = self.password_login(device="dev-a")
        self.refused(ticket, "invalid", device="dev-b").close()

    def test_another_connection(self):
        ticket = self.password_login()
        self.refused(ticket, "invalid", port=self.gw.conns[1]["port"]).close()

    def test_without_the_feature_nothing_changes(self):
        c = StreamClient(self.gw.port)
        self.addCleanup(c.close)
        rid, f = c.hello2(self.gw.password)
        self.assertEqual(f.type, HELLO_OK)
        self.assertEqual(len(f.payload), 2 + 10 + 7 + 16 + 12 + 2 + len("psdmobile") + 7)


class TicketLifecycleTests(LogOnFailure, unittest.TestCase):
    def hello(self, gw, password, ticket=b""):
        c = StreamClient(gw.port)
        self.addCleanup(c.close)
        rid = c.send(HELLO, ticket_hello(password, ticket))
        return c.recv_frame()

    def ticket(self, gw):
        f = self.hello(gw, gw.password)
        self.assertEqual(f.type, HELLO_OK, f)
        return parse_login(f.payload)[2]

    def assert_refused(self, gw, ticket, reason):
        f = self.hello(gw, "", ticket)
        self.assertEqual(f.type, ERROR)
        self.assertEqual(error_of(f)[0], TICKET)
        gw.wait_log(r"event=login_ticket result=refused .*reason=%s" % reason)

    def test_refused_after_a_password_change(self):
        with Gateway() as gw:
            self.gw = gw
            ticket = self.ticket(gw)
            gw.conns[0]["password"] = "a brand new password"
            gw.write_config()
            gw.proc.send_signal(signal.SIGHUP)
            gw.wait_log(r"event=reload result=ok")
            self.assert_refused(gw, ticket, "invalid")
            self.assertEqual(self.hello(gw, "a brand new password").type, HELLO_OK)
            self.assertEqual(gw.stop(), 0)

    def test_refused_after_the_key_is_renewed(self):
        """The keys live in memory only: after a restart (a new key) old tickets fail."""
        with Gateway() as gw:
            self.gw = gw
            ticket = self.ticket(gw)
            self.assertEqual(gw.stop(), 0)
            gw.start()
            gw.wait_log(r"event=ready", count=2)
            self.assert_refused(gw, ticket, "unknown_key")
            self.assertEqual(gw.stop(), 0)

    def test_refused_when_expired(self):
        with Gateway(server={"login_ticket_lifetime": 1}) as gw:
            self.gw = gw
            f = self.hello(gw, gw.password)
            _, lifetime, ticket = parse_login(f.payload)
            self.assertEqual(lifetime, 1)
            expires = struct.unpack(">Q", ticket[5:13])[0]
            while time.time() < expires + 0.2:
                time.sleep(0.1)
            self.assert_refused(gw, ticket, "expired")
            self.assertEqual(gw.stop(), 0)

    def test_tickets_off(self):
        with Gateway(server={"login_ticket_lifetime": 0}) as gw:
            self.gw = gw
            f = self.hello(gw, gw.password)
            self.assertEqual(parse_login(f.payload)[1:], (0, b""))
            self.assertEqual(gw.stop(), 0)


class RevokedDeviceTest(LogOnFailure, unittest.TestCase):
    def test_revoked_device_refused_with_a_valid_ticket(self):
        from test_sync import PW, run_misctl, setup_gateway
        gw = setup_gateway(start=False)
        self.gw = gw
        run_misctl(gw, "device", "add", "tab-r", "--technician", "1", "--connection", "rej")
        gw.start()
        try:
            port = gw.conns[0]["port"]
            c = StreamClient(port)
            self.addCleanup(c.close)
            c.send(HELLO, ticket_hello(PW, device="tab-r"))
            f = c.recv_frame()
            self.assertEqual(f.type, HELLO_OK, f)
            ticket = parse_login(f.payload)[2]
            run_misctl(gw, "device", "revoke", "tab-r", "--connection", "rej")
            # The gateway learns of it from the database (poll_interval): the live
            # connection is closed first.
            gw.wait_log(r'event=sync_revoked device="tab-r"')
            for password in ("", PW):
                c = StreamClient(port)
                self.addCleanup(c.close)
                rid = c.send(HELLO, ticket_hello(password, ticket, device="tab-r"))
                f = c.recv_frame()
                self.assertEqual((f.type, f.id, error_of(f)[0]), (ERROR, rid, REVOKED))
                self.assertTrue(c.closed_by_server())
            gw.wait_log(r'event=hello result=REVOKED .*device="tab-r" login=ticket')
        finally:
            self.assertEqual(gw.stop(), 0)


class LibraryTest(LogOnFailure, unittest.TestCase):
    """tests/integration/ticket_client.c: libmiscomm keeps, presents, saves and restores tickets."""

    def test_library_keeps_and_uses_tickets(self):
        with Gateway() as gw:
            self.gw = gw
            pw = os.path.join(gw.dir, "pw")
            with open(pw, "w") as f:
                f.write(gw.password + "\n")
            r = subprocess.run([TICKET_CLIENT, str(gw.port), gw.cert, pw], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("ok", r.stdout)
            self.assertEqual(gw.log().count("login=ticket"), 2)
            self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
