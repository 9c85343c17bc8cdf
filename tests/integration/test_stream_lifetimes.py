"""Regressions from the review of the streaming core: output memory that
counts what is allocated, fair turns between streams, BYE refused with
ID_IN_USE, streams freed by the client library, HELLO's answer after a
long failed-login delay, downloads finishing after the client's half-close.
"""
import os
import socket
import struct
import subprocess
import time
import unittest

from harness import (proc_status_kib, BUILD, Client, Gateway, HELLO_OK, LogOnFailure, NOOP, PING, BYE, ERR,
                     MISCLI)
from streams_client import (CREDIT, DATA, ECHO_OK, ERR2, MODE_SINK, MODE_SOURCE, StreamClient,
                            error_of, frame)

STREAM_API = os.path.join(BUILD, "tests", "stream_api")


class StreamLifetimeTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[{"name": "psdmobile"},
                                {"name": "plain", "encryption": "none", "timeout": 0}])

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()

    def test_unread_output_is_bounded_by_what_is_allocated(self):
        # A client that never reads and sends one small request per loop
        # turn: each turn used to open a 256 KiB output batch counted as a
        # few hundred bytes, so the 4 MiB cap let gigabytes be allocated.
        port = self.gw.conns[1]["port"]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Client.__new__(Client)
        c.sock, c.next_id = s, 1
        try:
            rid, (t, _, _) = c.hello(self.gw.password, vmax=2)
            self.assertEqual(t, HELLO_OK)
            pid = self.gw.proc.pid
            size0, rss0 = proc_status_kib(pid, "VmSize"), proc_status_kib(pid)
            for i in range(0, 12000, 100):  # fill the kernel's buffers
                s.sendall(b"".join(frame(PING, 10 + i + k, b"x" * 256) for k in range(100)))
            s.settimeout(2)
            n, t0 = 0, time.monotonic()
            while time.monotonic() - t0 < 20:
                try:
                    s.sendall(frame(NOOP, 100000 + n))
                except socket.timeout:
                    break  # the gateway stopped reading: paused
                n += 1
                time.sleep(0.0002)
            grew_size, grew_rss = proc_status_kib(pid, "VmSize") - size0, proc_status_kib(pid) - rss0
            self.assertLess(grew_rss, 32 * 1024, "RSS grew by %d KiB" % grew_rss)
            self.assertLess(grew_size, 256 * 1024, "address space grew by %d KiB" % grew_size)
            self.gw.wait_log(r"event=output_paused")
        finally:
            s.close()

    def test_streams_take_turns(self):
        n = 64 * 1048576
        c = StreamClient(self.gw.port)
        self.addCleanup(c.close)
        rid, f = c.hello2(self.gw.password)
        self.assertEqual(f.type, HELLO_OK)
        a = c.echo(MODE_SOURCE, n)
        b = c.echo(MODE_SOURCE, n)
        for r in (a, b):
            c.credit(r, n)  # neither ever waits for credit
        got = {a: 0, b: 0}
        first_done = None
        t0 = time.monotonic()
        while first_done is None and time.monotonic() - t0 < 60:
            for fr in c.pump(0.5):
                if fr.type == DATA:
                    got[fr.id] += len(fr.payload)
                elif fr.type == ECHO_OK and first_done is None:
                    first_done = dict(got)
        self.assertIsNotNone(first_done, "no stream finished")
        # When the first one is done, the other got a fair share, not one window.
        self.assertGreater(min(first_done.values()), n // 2, first_done)

    def test_bye_refused_with_id_in_use_keeps_the_connection(self):
        c = StreamClient(self.gw.port)
        self.addCleanup(c.close)
        c.hello2(self.gw.password)
        a = c.echo(MODE_SINK, 0)
        c.send(BYE, b"", rid=a)
        f = c.recv_frame(timeout=5)
        self.assertEqual((f.type, f.id, error_of(f)[0]), (0x7F, a, ERR2["ID_IN_USE"]))
        c.send(NOOP, b"", rid=99)
        f = c.recv_frame(timeout=5)
        self.assertEqual((f.type, f.id), (NOOP, 99))

    def test_download_finishes_after_the_clients_half_close(self):
        c = StreamClient(self.gw.port, bio=True)
        self.addCleanup(c.close)
        c.hello2(self.gw.password)
        n = 4 * 1048576
        a = c.echo(MODE_SOURCE, n)  # with its credit granted, needs nothing more
        c.credit(a, n)
        b = c.echo(MODE_SINK, 0)  # waits for the client's data: ends
        c.sock.close_notify()
        got, final = 0, None
        t0 = time.monotonic()
        while final is None and time.monotonic() - t0 < 20:
            f = c.recv_frame(timeout=10)
            if (f.type, f.id) == (DATA, a):
                got += len(f.payload)
            elif f.type == CREDIT:
                continue
            elif f.id == a:
                final = f
        self.assertEqual((final.type, got), (ECHO_OK, n))
        self.gw.wait_log(r"op=echo id=%d result=CLOSED" % b)
        self.gw.wait_log(r"op=echo id=%d result=OK" % a)

    def test_freed_streams_give_their_slots_back(self):
        r = subprocess.run([STREAM_API, str(self.gw.port), self.gw.fingerprint(),
                            self.gw.password], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("FAILED", r.stdout)


class HelloWaitTest(unittest.TestCase):
    def test_client_waits_for_a_late_auth_answer(self):
        # timewait 11 s: the AUTH answer comes after the client's 10 s call
        # timeout; the login waits 30 s by default (protocol.md section 8).
        with Gateway(conns=[{"name": "slow", "timewait": 11}]) as gw:
            t0 = time.monotonic()
            r = gw.miscli("hello", password="not the password", timeout=60)
            took = time.monotonic() - t0
            gw.stop()
        self.assertEqual(r.returncode, 1)
        self.assertIn("AUTH", r.stderr)
        self.assertNotIn("TIMEOUT", r.stderr)
        self.assertGreater(took, 11)


if __name__ == "__main__":
    unittest.main()
