"""Idle connections give their buffers back and take them again (docs/admin.md,
"Memory per connection"): the server frees a connection's input queues as
soon as they are empty and wolfSSL frees its record buffers and handshake
state, so every request after idling runs on freshly taken memory. Under
the ASan build a use after free or a leak in that cycle fails the test
(and LeakSanitizer checks the exit); here the behaviour is checked: many
logged-in connections answer after idling, a frame or a TLS record that
arrives in pieces is kept whole across the gaps, and a large request
grows the queues again after they were given back."""
import socket
import ssl
import struct
import subprocess
import time
import unittest

from harness import (Gateway, Client, LogOnFailure, ERR, HELLO, HELLO_OK, PING, PONG, ERROR,
                     OPENSSL, hello_payload, tls_context)

LIST = 0x30


class PieceClient:
    """A TLS client over a memory BIO: what it sends can be cut anywhere,
    inside a frame or inside a TLS record, and sent piece by piece."""

    def __init__(self, port, version):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = tls_context(version).wrap_bio(self.inc, self.out)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self, pieces=1, pause=0.0):
        data = self.out.read()
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            self.sock.sendall(data[i:i + step])
            if pause and i + step < len(data):
                time.sleep(pause)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by server")
        self.inc.write(chunk)

    def send_pieces(self, data, pieces, pause=0.2):
        """Encrypt data as one TLS record and send the record in pieces."""
        self.tls.write(data)
        self._flush(pieces, pause)

    def send_records(self, parts, pause=0.2):
        """Each part its own TLS record, sent with a pause between them."""
        for i, p in enumerate(parts):
            self.tls.write(p)
            self._flush()
            if i + 1 < len(parts):
                time.sleep(pause)

    def recv(self):
        data = b""
        while True:
            try:
                data += self.tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            if len(data) >= 12:
                n = struct.unpack(">I", data[8:12])[0]
                if len(data) >= 12 + n:
                    return data[1], struct.unpack(">I", data[4:8])[0], data[12:12 + n]
            self._fill()

    def close(self):
        self.sock.close()


def frame(mtype, rid, payload=b""):
    return struct.pack(">BBHII", 1, mtype, 0, rid, len(payload)) + payload


class IdleMemoryTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[{"name": "idle", "ping": "on"}],
                         server={"max_connections_per_ip": 200})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def many_idle(self, version, n=24):
        clients = []
        try:
            for i in range(n):
                c = Client(self.gw.port, version=version)
                clients.append(c)
                device = "idle-%s-%d-%s" % (version, i, "\u00e9" * (i % 3))
                rid, (mtype, rrid, _) = c.hello(self.gw.password, device=device,
                                                name="app-%d" % i, version="2.%d" % i)
                self.assertEqual((mtype, rrid), (HELLO_OK, rid))
                rid, (mtype, rrid, p) = c.ping(b"first-%d" % i)
                self.assertEqual((mtype, rrid, p[8:]), (PONG, rid, b"first-%d" % i))
            # Every connection sits idle with its queues given back; each
            # must answer again, in an order unlike the one it was opened in.
            for i in reversed(range(n)):
                rid, (mtype, rrid, p) = clients[i].ping(b"again-%d" % i)
                self.assertEqual((mtype, rrid, p[8:]), (PONG, rid, b"again-%d" % i))
            # The identity each HELLO gave is the one its connection logs.
            for i in (0, 1, 2, n - 1):
                self.gw.wait_log(r'event=hello result=OK connection=idle client="app-%d/2\.%d" '
                                 r'device="idle-%s-%d-%s"' % (i, i, version.replace(".", r"\."),
                                                              i, "\u00e9" * (i % 3)))
        finally:
            for c in clients:
                c.close()

    def test_many_idle_tls13(self):
        self.many_idle("1.3")

    def test_many_idle_tls12(self):
        self.many_idle("1.2")

    def piecewise(self, version):
        c = PieceClient(self.gw.port, version)
        try:
            c.send_pieces(frame(HELLO, 1, hello_payload(self.gw.password)), 3)
            mtype, rid, _ = c.recv()
            self.assertEqual((mtype, rid), (HELLO_OK, 1))
            # A TLS record cut in four: the server holds the ciphertext it has
            # (its queue is not empty, so not given back) until the rest comes.
            c.send_pieces(frame(PING, 2, b"record-in-pieces"), 4)
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid, p[8:]), (PONG, 2, b"record-in-pieces"))
            # A frame cut across three records: the plaintext queue keeps the
            # start of the frame between them.
            f = frame(PING, 3, b"frame-in-pieces")
            c.send_records([f[:5], f[5:14], f[14:]])
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid, p[8:]), (PONG, 3, b"frame-in-pieces"))
            # A large request grows both queues past their first block after
            # they were given back (LIST is refused on this protocol-1 session,
            # once the whole 300 KiB frame is read); the connection then idles
            # again and answers.
            c.send_pieces(frame(LIST, 4, b"x" * (300 * 1024)), 2)
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid), (ERROR, 4))
            self.assertEqual(struct.unpack(">H", p[:2])[0], ERR["UNEXPECTED"])
            c.send_pieces(frame(PING, 5, b"after-large"), 1)
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid, p[8:]), (PONG, 5, b"after-large"))
        finally:
            c.close()

    def test_pieces_tls13(self):
        self.piecewise("1.3")

    def test_pieces_tls12(self):
        self.piecewise("1.2")

    def test_resumed_after_idle(self):
        """A session resumed from a ticket of an idle connection works as well:
        the ticket does not depend on state freed after the handshake."""
        ctx = tls_context("1.3")
        raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        first = ctx.wrap_socket(raw)
        c = Client.__new__(Client)
        c.sock, c.next_id = first, 1
        rid, (mtype, _, _) = c.hello(self.gw.password)
        self.assertEqual(mtype, HELLO_OK)
        rid, (mtype, _, _) = c.ping()  # the ticket arrives with the first read
        self.assertEqual(mtype, PONG)
        session = first.session
        first.close()
        self.assertIsNotNone(session)
        raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        second = ctx.wrap_socket(raw, session=session)
        try:
            self.assertTrue(second.session_reused)
            c.sock, c.next_id = second, 1
            rid, (mtype, _, _) = c.hello(self.gw.password)
            self.assertEqual(mtype, HELLO_OK)
            rid, (mtype, _, _) = c.ping()
            self.assertEqual(mtype, PONG)
        finally:
            second.close()

    @unittest.skipUnless(OPENSSL, "needs the openssl tool")
    def test_key_update_after_release(self):
        """After a TLS 1.3 handshake the server drops what only the handshake
        needed, the client's list of groups included (tls.c); a KeyUpdate
        the client sends afterwards is still taken, and the next request
        answered. Python's ssl module cannot send a KeyUpdate; s_client
        sends one for a "k" line (OpenSSL 1.1.1 and later)."""
        p = subprocess.Popen([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % self.gw.port,
                              "-tls1_3", "-noservername"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            # s_client reads its input in chunks; a chunk that starts with "k"
            # is the command, any other is sent as data (frames start with 1).
            for chunk in (frame(HELLO, 1, hello_payload(self.gw.password)), b"k\n",
                          frame(PING, 2, b"after-key-update")):
                time.sleep(0.5)
                p.stdin.write(chunk)
                p.stdin.flush()
            time.sleep(1.0)
            out, _ = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertIn(b"KEYUPDATE", out)
        self.assertIn(b"after-key-update", out)  # only the PONG carries it back


if __name__ == "__main__":
    unittest.main()
