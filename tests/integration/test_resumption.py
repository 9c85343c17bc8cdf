"""TLS session resumption with session tickets: miscli ping --reconnect, a
third-party client (Python's ssl) over TLS 1.2 and 1.3, tickets that survive
a reload but not a restart, and [tls] session_tickets = no."""
import re
import signal
import socket
import unittest

from harness import Gateway, Client, tls_context, HELLO_OK, PONG, count_log, restart

RESUMED_YES = r"event=tls version=\S+ cipher=\S+ resumed=yes"
RESUMED_NO = r"event=tls version=\S+ cipher=\S+ resumed=no"


def connect(ctx, port, session=None):
    """A Client over ctx, offering session for resumption."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    c = Client.__new__(Client)
    c.sock = ctx.wrap_socket(raw, session=session)
    c.next_id = 1
    return c


def peer_of(c):
    return re.escape("%s:%d" % c.sock.getsockname()[:2])


class ResumptionTestBase(unittest.TestCase):
    tls = {}

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(tls=dict(cls.tls))

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        if cls.gw.proc.poll() is None:
            cls.gw.stop()

    def login_ping(self, c):
        """HELLO (a resumed session still needs the password) and PING."""
        rid, (mtype, rrid, _) = c.hello(self.gw.password)
        self.assertEqual((mtype, rrid), (HELLO_OK, rid))
        rid, (mtype, rrid, _) = c.ping(b"resume!!")
        self.assertEqual((mtype, rrid), (PONG, rid))

    def first_session(self, ctx):
        """A full handshake; returns the session after HELLO (TLS 1.3 tickets
        arrive after the handshake, so data must be read first)."""
        with connect(ctx, self.gw.port) as c:
            self.login_ping(c)
            self.assertFalse(c.sock.session_reused)
            self.gw.wait_log(r"peer=%s %s" % (peer_of(c), RESUMED_NO))
            return c.sock.session

    def reconnect(self, ctx, session):
        """(reused as the client saw it, the daemon's resumed= value) for one reconnect."""
        with connect(ctx, self.gw.port, session) as c:
            self.login_ping(c)
            m = self.gw.wait_log(r"peer=%s event=tls version=\S+ cipher=\S+ resumed=(yes|no)"
                                 % peer_of(c))
            return c.sock.session_reused, m[0]


class TicketsTest(ResumptionTestBase):
    def check_miscli(self, *tls_args):
        gw = self.gw
        yes, no = count_log(gw, RESUMED_YES), count_log(gw, RESUMED_NO)
        hellos = count_log(gw, r"event=hello result=OK")
        r = gw.miscli(*tls_args, "ping", "--count", "5", "--interval", "0", "--reconnect")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("handshakes: 1 full, 4 resumed", r.stdout)
        self.assertEqual(len(re.findall(r"seq=\d+ time=\S+ ms handshake=resumed", r.stdout)), 4,
                         r.stdout)
        self.assertIn("5 requests transmitted, 5 received, 0% loss", r.stdout)
        # Every resumed connection logged in again with the password.
        gw.wait_log(r"event=hello result=OK", count=hellos + 5)
        gw.wait_log(RESUMED_YES, count=yes + 4)
        self.assertEqual(count_log(gw, RESUMED_YES), yes + 4)
        self.assertEqual(count_log(gw, RESUMED_NO), no + 1)

    def test_miscli_reconnect(self):
        self.check_miscli()

    def test_miscli_reconnect_tls12(self):
        self.check_miscli("--tls", "1.2")

    def test_miscli_reconnect_tls13(self):
        self.check_miscli("--tls", "1.3")

    def test_python_client(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                ctx = tls_context(version)
                s1 = self.first_session(ctx)
                self.assertTrue(s1.has_ticket, "no session ticket over TLS %s" % version)
                # As long as ticket_rotation (3600 s by default), not wolfSSL's 5 minutes.
                self.assertEqual(s1.ticket_lifetime_hint, 3600)
                reused, logged = self.reconnect(ctx, s1)
                self.assertTrue(reused)
                self.assertEqual(logged, "yes")

    def test_tickets_survive_reload(self):
        gw = self.gw
        ctx = tls_context("1.3")
        s1 = self.first_session(ctx)
        before = count_log(gw, r"event=reload result=ok")
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"event=reload result=ok", count=before + 1)
        self.assertEqual(self.reconnect(ctx, s1), (True, "yes"))


class RestartTest(ResumptionTestBase):
    def test_tickets_do_not_survive_restart(self):
        gw = self.gw
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                ctx = tls_context(version)
                s1 = self.first_session(ctx)
                self.assertTrue(s1.has_ticket)
                restart(gw)
                # New ticket keys: the old ticket is refused, a full handshake follows.
                self.assertEqual(self.reconnect(ctx, s1), (False, "no"))


class NoTicketsTest(ResumptionTestBase):
    tls = {"session_tickets": "no"}

    def test_miscli_reconnect(self):
        gw = self.gw
        yes, no = count_log(gw, RESUMED_YES), count_log(gw, RESUMED_NO)
        r = gw.miscli("ping", "--count", "5", "--interval", "0", "--reconnect")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("handshakes: 5 full, 0 resumed", r.stdout)
        self.assertNotIn("handshake=resumed", r.stdout)
        gw.wait_log(RESUMED_NO, count=no + 5)
        self.assertEqual(count_log(gw, RESUMED_YES), yes)

    def test_python_client_gets_no_ticket(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                ctx = tls_context(version)
                s1 = self.first_session(ctx)
                self.assertFalse(s1.has_ticket, "a session ticket over TLS %s" % version)

    def test_python_client_full_handshakes(self):
        # No tickets means no resumption at all: over TLS 1.2 the session-ID
        # cache is off too.
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                ctx = tls_context(version)
                s1 = self.first_session(ctx)
                self.assertEqual(self.reconnect(ctx, s1), (False, "no"))


if __name__ == "__main__":
    unittest.main()
