"""Timeouts: the TLS handshake, the HELLO, and the idle timeout of a
logged-in connection (and that traffic keeps a connection alive)."""
import socket
import time
import unittest

from harness import Gateway, Client, ERR, NOOP, PONG, login, peer


class TimeoutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[{"name": "short", "timeout": 1}],
                         server={"handshake_timeout": 1})

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.gw.__exit__(None, None, None)
        assert code == 0, code

    def test_silent_tcp_client_closed_after_handshake_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        me = "127.0.0.1:%d" % s.getsockname()[1]
        t0 = time.monotonic()
        try:
            s.settimeout(10)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                self.fail("a silent TCP client was not closed within 10 s")
            elapsed = time.monotonic() - t0
        finally:
            s.close()
        self.assertEqual(data, b"")
        self.assertGreaterEqual(elapsed, 0.8, "closed before the handshake timeout")
        self.gw.wait_log(r'peer=%s event=disconnect reason="handshake timeout \(1 s\)" '
                         r'state=handshake' % me)

    def test_tls_but_no_hello(self):
        with Client(self.gw.port) as c:
            who = peer(c)
            t0 = time.monotonic()
            rid, code, msg = c.recv_error()
            elapsed = time.monotonic() - t0
            self.assertEqual((rid, code), (0, ERR["TIMEOUT"]), msg)
            self.assertGreaterEqual(elapsed, 0.5)
            self.assertTrue(c.closed_by_server(), "server kept the connection")
        self.gw.wait_log(r'peer=%s event=disconnect reason="no HELLO within 1 s" state=hello' % who)

    def test_idle_timeout_after_hello(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            t0 = time.monotonic()
            rid, code, msg = c.recv_error()
            elapsed = time.monotonic() - t0
            self.assertEqual((rid, code), (0, ERR["TIMEOUT"]), msg)
            self.assertIn("idle", msg)
            self.assertGreaterEqual(elapsed, 0.8, "idle timeout fired too early")
            self.assertTrue(c.closed_by_server(), "server kept the connection")
        self.gw.wait_log(r'peer=%s event=disconnect reason="idle for 1 s" state=ready' % who)

    def test_noop_keeps_connection_alive(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.5:
                time.sleep(0.4)
                rid = c.send(NOOP)
                self.assertEqual(c.recv(), (NOOP, rid, b""))
            rid, (mtype, rrid, _) = c.ping()
            self.assertEqual((mtype, rrid), (PONG, rid))
        self.gw.wait_log(r'peer=%s event=disconnect reason="peer closed the connection' % who)
        self.assertNotRegex(self.gw.log(), r'peer=%s event=disconnect reason="idle' % who)


if __name__ == "__main__":
    unittest.main()
