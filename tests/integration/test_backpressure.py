"""Flow control: a client that pipelines a lot is served in full, and a
client that never reads its answers cannot make the gateway grow without
bound or slow down anyone else.

One thread per TLS socket: OpenSSL objects must not be read and written
from two threads at once (that makes Python report a false EOF)."""
import os
import select
import socket
import ssl
import struct
import time
import unittest

from harness import proc_status_kib as rss_kib, small_asan_quarantine, LogOnFailure, Gateway, Client, HELLO_OK, NOOP, PONG, MISCOMMD


class BackpressureTest(LogOnFailure, unittest.TestCase):
    log_lines = 30
    @classmethod
    def setUpClass(cls):
        cls.asan = small_asan_quarantine()
        cls.gw = Gateway(server={"log_level": "info"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()


    def login(self):
        c = Client(self.gw.port, timeout=30)
        _, (mtype, _, _) = c.hello(self.gw.password)
        self.assertEqual(mtype, HELLO_OK)
        return c

    def test_large_pipeline_is_answered_in_full(self):
        # About 1.1 MB of NOOPs written while the answers are read: more than
        # the plaintext queue and many TLS records at every step.
        n = 90000
        out = b"".join(struct.pack(">BBHII", 1, NOOP, 0, i + 1, 0) for i in range(n))
        with self.login() as c:
            sock = c.sock
            sock.setblocking(False)
            sent, inbuf, expect = 0, b"", 1
            deadline = time.monotonic() + 120
            while expect <= n:
                self.assertLess(time.monotonic(), deadline, "stalled at answer %d" % expect)
                want_write = sent < len(out)
                r, w, _ = select.select([sock], [sock] if want_write else [], [], 5)
                if w:
                    try:
                        sent += sock.send(out[sent:sent + 16384])
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                        pass
                while True:
                    try:
                        chunk = sock.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    if not chunk:
                        self.fail("server closed after %d answers:\n%s"
                                  % (expect - 1, self.gw.log()[-2000:]))
                    inbuf += chunk
                while len(inbuf) >= 12:
                    version, mtype, flags, rid, length = struct.unpack(">BBHII", inbuf[:12])
                    self.assertEqual((mtype, rid, length), (NOOP, expect, 0))
                    inbuf = inbuf[12:]
                    expect += 1
            sock.setblocking(True)
            sock.settimeout(30)
            _, (mtype, _, _) = c.ping()
            self.assertEqual(mtype, PONG)

    def test_client_that_never_reads_is_bounded(self):
        before = rss_kib(self.gw.proc.pid)
        noops = struct.pack(">BBHII", 1, NOOP, 0, 7, 0) * 20000
        clients = [self.login() for _ in range(3)]
        sent = [0] * len(clients)
        for c in clients:
            c.sock.setblocking(False)
        # Write as much as the gateway takes for 3 seconds, reading nothing.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            _, writable, _ = select.select([], [c.sock for c in clients], [], 0.2)
            for i, c in enumerate(clients):
                if c.sock in writable:
                    try:
                        sent[i] += c.sock.send(noops)
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                        pass
        # Each connection queues about 4 MiB of answers, then is paused.
        for c in clients:
            peer = "%s:%d" % c.sock.getsockname()[:2]
            self.gw.wait_log(r"peer=%s event=output_paused queued_bytes=\d+ "
                             r"reason=\"client is not reading its answers\"" % peer)
        grown = rss_kib(self.gw.proc.pid) - before
        limit = (160 if self.asan else 40) * 1024
        self.assertLess(grown, limit, "gateway grew by %d KiB; clients sent %s bytes"
                        % (grown, sent))
        # Meanwhile everyone else is served.
        with self.login() as other:
            _, (mtype, _, _) = other.ping()
            self.assertEqual(mtype, PONG)
        for c in clients:
            c.close()


if __name__ == "__main__":
    unittest.main()
