"""Hostile and broken input: non-TLS bytes on the TLS port, bad frame
headers, unknown types, requests in the wrong state, oversized payloads.
Every case gets a clear answer (or a close) and the daemon keeps serving."""
import os
import socket
import time
import unittest

from harness import (Gateway, Client, ERR, HELLO_OK, NOOP, PING, PONG, login, peer,
                     ping_ok)


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()
        # A well-behaved client that stays logged in through all the abuse.
        cls.good = login(cls.gw.port, cls.gw.password)

    @classmethod
    def tearDownClass(cls):
        cls.good.close()
        alive = cls.gw.proc.poll() is None
        code = cls.gw.stop()
        cls.gw.__exit__(None, None, None)
        assert alive, "miscommd died during the bad-input tests"
        assert code == 0, code

    def assertGoodClientPings(self):
        rid, (mtype, rrid, payload) = self.good.ping(b"still-ok")
        self.assertEqual((mtype, rrid), (PONG, rid))
        self.assertEqual(payload[8:], b"still-ok")

    def raw_garbage(self, data):
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        try:
            me = "127.0.0.1:%d" % s.getsockname()[1]
            s.sendall(data)
            s.settimeout(10)
            got = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("server did not close a connection that sent %r" % data[:20])
        finally:
            s.close()
        self.gw.wait_log(r'peer=%s event=disconnect reason="TLS handshake failed" state=handshake'
                         % me)
        return got

    def test_plaintext_http_on_tls_port(self):
        self.raw_garbage(b"GET / HTTP/1.0\r\n\r\n")
        self.assertGoodClientPings()
        self.assertTrue(ping_ok(self.gw.port, self.gw.password))

    def test_random_garbage_on_tls_port(self):
        # A byte that is not a TLS record type, then noise.
        self.raw_garbage(b"\x99" + os.urandom(2047))
        self.assertGoodClientPings()
        self.assertTrue(ping_ok(self.gw.port, self.gw.password))

    def test_bad_frame_version(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            c.send(PING, b"12345678", version=2)
            rid, code, msg = c.recv_error()
            self.assertEqual((rid, code), (0, ERR["BAD_VERSION"]), msg)
            self.assertTrue(c.closed_by_server(), "server kept the connection")
        self.gw.wait_log(r"peer=%s event=bad_frame error=BAD_VERSION" % who)
        self.gw.wait_log(r'peer=%s event=disconnect reason="bad frame header; closing"' % who)
        self.assertGoodClientPings()

    def test_frame_too_large_does_not_wait_for_payload(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            # Only the header: an answer must not need the 1 MiB + 1 bytes announced.
            c.send(PING, b"", length=1024 * 1024 + 1)
            c.sock.settimeout(5)
            rid, code, msg = c.recv_error()
            self.assertEqual((rid, code), (0, ERR["FRAME_TOO_LARGE"]), msg)
            self.assertTrue(c.closed_by_server(), "server kept the connection")
        self.gw.wait_log(r"peer=%s event=bad_frame error=FRAME_TOO_LARGE" % who)
        self.gw.wait_log(r'peer=%s event=disconnect reason="bad frame header; closing"' % who)
        self.assertGoodClientPings()

    def test_max_payload_is_accepted_as_a_frame(self):
        # Exactly 1 MiB is a legal frame; PING then refuses the payload, not the frame.
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            rid = c.send(PING, b"\0" * (1024 * 1024))
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["BAD_PAYLOAD"]), msg)
            nid = c.send(NOOP)
            self.assertEqual(c.recv(), (NOOP, nid, b""))
        self.gw.wait_log(r"peer=%s event=request op=ping id=%d result=BAD_PAYLOAD" % (who, rid))

    def test_nonzero_flags(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            c.send(PING, b"12345678", flags=0x0001)
            rid, code, msg = c.recv_error()
            self.assertEqual((rid, code), (0, ERR["BAD_FRAME"]), msg)
        self.gw.wait_log(r"peer=%s event=bad_frame error=BAD_FRAME" % who)
        self.assertGoodClientPings()

    def test_unknown_type(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            rid = c.send(0x6E, b"whatever")
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["BAD_TYPE"]), msg)
            self.assertIn("0x6e", msg)
            rid2, (mtype, rrid, _) = c.ping()
            self.assertEqual((mtype, rrid), (PONG, rid2))
        self.gw.wait_log(r"peer=%s event=request op=\S+ id=%d result=BAD_TYPE" % (who, rid))
        self.gw.wait_log(r"peer=%s event=request op=ping id=%d result=OK" % (who, rid2))

    def test_ping_before_hello(self):
        with Client(self.gw.port) as c:
            who = peer(c)
            rid = c.send(PING, b"12345678")
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["UNEXPECTED"]), msg)
            self.assertIn("before HELLO", msg)
            # HELLO is still possible afterwards.
            rid, (mtype, rrid, _) = c.hello(self.gw.password)
            self.assertEqual((mtype, rrid), (HELLO_OK, rid))
        self.gw.wait_log(r"peer=%s event=request op=ping id=1 result=UNEXPECTED" % who)

    def test_ping_payload_too_long(self):
        with login(self.gw.port, self.gw.password) as c:
            who = peer(c)
            rid = c.send(PING, b"x" * 300)
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["BAD_PAYLOAD"]), msg)
            rid2, (mtype, rrid, _) = c.ping(b"y" * 256)
            self.assertEqual((mtype, rrid), (PONG, rid2))
        self.gw.wait_log(r"peer=%s event=request op=ping id=%d result=BAD_PAYLOAD bytes=300"
                         % (who, rid))

    def test_zz_daemon_still_alive(self):
        # Runs last (alphabetical order): everything above left the daemon serving.
        time.sleep(0.2)
        self.assertIsNone(self.gw.proc.poll())
        self.assertTrue(ping_ok(self.gw.port, self.gw.password))
        self.assertGoodClientPings()


if __name__ == "__main__":
    unittest.main()
