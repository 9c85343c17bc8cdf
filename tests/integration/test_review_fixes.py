"""The review fixes that came with protocol 2: pre-login limits, reserved
request id 0, INFO, answers before the peer's close (close_notify and FIN),
input after BYE, log escaping of client names, one output_paused line per
episode, and per-address password checks that count only running checks."""
import os
import re
import select
import socket
import ssl
import struct
import time
import unittest

from harness import (small_asan_quarantine, LogOnFailure, Gateway, Client, HELLO, HELLO_OK, PING, PONG, NOOP, BYE, ERROR, ERR,
                     hello_payload, peer)
from streams_client import (
    INFO, INFO_OK, DATA, ECHO, ECHO_OK, ERR2, MODE_SINK, StreamClient, login2, frame, header,
    error_of, parse_info_ok, hello_payload2, rss_kib, built_with_asan, half_close,
    send_close_notify)


def fail_frame(f):
    detail = error_of(f) if f.type == ERROR else f.payload[:48]
    return "unexpected frame type 0x%02x id %d: %r" % (f.type, f.id, detail)


def peer_re(c):
    return re.escape("%s:%d" % c.sock.getsockname()[:2])


class ReviewFixesTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.asan = small_asan_quarantine()
        cls.gw = Gateway(conns=[{"name": "psdmobile", "timewait": 2}],
                         server={"handshake_timeout": 7})

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()


    def client(self, **kw):
        c = StreamClient(self.gw.port, **kw)
        self.addCleanup(c.close)
        return c

    def login(self, **kw):
        c, _ = login2(self.gw.port, self.gw.password, **kw)
        self.addCleanup(c.close)
        return c

    # -- pre-login limits ---------------------------------------------------
    def test_prelogin_large_frame_header_is_refused(self):
        c = self.client()
        c.sock.sendall(header(NOOP, 1, 1048576))  # the header alone, no payload
        msg = c.expect_error(ERR["FRAME_TOO_LARGE"], 0)
        self.assertIn("2048", msg)
        self.assertTrue(c.closed_by_server(), "connection stays after a 1 MiB header before HELLO")
        self.gw.wait_log(r"peer=%s event=bad_frame error=FRAME_TOO_LARGE "
                         r"reason=\"larger than a HELLO before login\"" % peer_re(c))
        # The limit is exact: 2048 bytes are fine, 2049 are not.
        c = self.client()
        rid = c.send(NOOP, b"n" * 2048)
        c.expect(NOOP, rid)
        c.sock.sendall(header(NOOP, 9, 2049))
        c.expect_error(ERR["FRAME_TOO_LARGE"], 0)
        self.assertTrue(c.closed_by_server())
        # After login, larger frames are allowed again.
        c = self.login()
        rid = c.send(NOOP, b"n" * 100000)
        c.expect(NOOP, rid)

    def prelogin_flood(self, gw, n_partial, n_flood, seconds=4):
        """n_partial connections that send a 2 KB frame that never completes and
        n_flood that send NOOPs before HELLO without reading; returns (partial, flooders)."""
        partial = [StreamClient(gw.port) for _ in range(n_partial)]
        flooders = [StreamClient(gw.port) for _ in range(n_flood)]
        self.addCleanup(lambda: [c.close() for c in partial + flooders])
        for c in partial:
            c.sock.sendall(header(HELLO, 1, 2048) + b"p" * 2000)
        flood = b"".join(frame(NOOP, i + 1) for i in range(2000))
        for c in flooders:
            c.sock.setblocking(False)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and flooders:
            _, w, _ = select.select([], [c.sock for c in flooders], [], 0.2)
            for c in flooders:
                if c.sock in w:
                    try:
                        c.sock.send(flood)
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                        pass
        for c in flooders:
            gw.wait_log(r"peer=%s event=output_paused queued_bytes=\d+" % peer_re(c), timeout=20)
        return partial, flooders

    def test_prelogin_connections_hold_little_memory(self):
        with Gateway(server={"handshake_timeout": 60, "log_level": "info",
                             "max_connections_per_ip": 200}) as gw:
            pid = gw.proc.pid
            # Warm-up: a few connections through the whole life cycle.
            for _ in range(3):
                c, _ = login2(gw.port, gw.password)
                c.close()
            self.prelogin_flood(gw, 2, 2, seconds=1)
            time.sleep(0.5)
            before = rss_kib(pid)
            self.prelogin_flood(gw, 30, 30)
            time.sleep(0.5)
            grown = rss_kib(pid) - before
            limit = (64 if self.asan else 16) * 1024
            self.assertLess(grown, limit, "60 connections before login grew the gateway by "
                            "%d KiB (the old limits: about 80 MB)" % grown)
            # Everyone else is served meanwhile.
            c, _ = login2(gw.port, gw.password)
            with c:
                rid = c.send(PING, b"12345678")
                c.expect(PONG, rid)
            gw.stop()

    def test_prelogin_noop_flood_logs_one_output_paused_line(self):
        with Gateway(server={"handshake_timeout": 60, "log_level": "info"}) as gw:
            _, flooders = self.prelogin_flood(gw, 0, 3)
            time.sleep(0.5)
            # The pre-login pause is at 8 KiB; a client that never reads is one
            # episode, and one line.
            for c in flooders:
                lines = re.findall(r"peer=%s event=output_paused queued_bytes=(\d+)"
                                   % peer_re(c), gw.log())
                self.assertGreaterEqual(int(lines[0]), 8192)
                self.assertLess(int(lines[0]), 16384)
                self.assertEqual(len(lines), 1, "%d output_paused lines for one client that "
                                 "never read, in 4 s" % len(lines))
            gw.stop()

    # -- request id 0 ---------------------------------------------------------
    def test_request_id_zero_is_fatal(self):
        c = self.client()
        c.send(NOOP, b"", rid=0)
        msg = c.expect_error(ERR["BAD_FRAME"], 0)
        self.assertIn("request id 0 is reserved", msg)
        self.assertTrue(c.closed_by_server())
        self.gw.wait_log(r"peer=%s event=bad_frame error=BAD_FRAME type=NOOP "
                         r"reason=\"request id 0 is reserved\"" % peer_re(c))
        for mtype, payload in ((PING, b"12345678"), (DATA, b"x"), (ECHO, b"\x02" + b"\0" * 8)):
            c = self.login()
            c.send(mtype, payload, rid=0)
            c.expect_error(ERR["BAD_FRAME"], 0)
            self.assertTrue(c.closed_by_server(), "connection stays after id 0 (0x%02x)" % mtype)

    # -- INFO -------------------------------------------------------------------
    def test_info_before_and_after_hello(self):
        c = self.client()
        rid = c.send(INFO)
        f = c.expect(INFO_OK, rid)
        info = parse_info_ok(f.payload)
        self.assertEqual((info["min_version"], info["max_version"]), (1, 2))
        self.assertEqual(info["server"], "miscommd")
        self.assertEqual(info["handshake_timeout_s"], 7)
        self.assertGreater(info["hello_left_ms"], 4000)
        self.assertLessEqual(info["hello_left_ms"], 7000)
        self.assertEqual(info["hello_answer_ms"], 30000 + 2 * 1000)  # timewait = 2
        self.assertEqual(info["max_prelogin_payload"], 2048)
        self.assertEqual(info["rest"], b"")
        # The HELLO timer runs on: INFO does not restart it.
        time.sleep(1.2)
        rid = c.send(INFO)
        later = parse_info_ok(c.expect(INFO_OK, rid).payload)
        self.assertLessEqual(later["hello_left_ms"], info["hello_left_ms"] - 1000)
        # INFO carries no payload.
        rid = c.send(INFO, b"x")
        c.expect_error(ERR["BAD_PAYLOAD"], rid)
        # HELLO still works on the same connection, and INFO after it.
        rid, f = c.hello2(self.gw.password)
        self.assertEqual((f.type, f.id), (HELLO_OK, rid), fail_frame(f))
        rid = c.send(INFO)
        after = parse_info_ok(c.expect(INFO_OK, rid).payload)
        self.assertEqual(after["hello_left_ms"], 0)
        # A version 1 session may ask too.
        old = self.login(vmin=1, vmax=1)
        rid = old.send(INFO)
        old.expect(INFO_OK, rid)

    # -- answers before the peer's close ----------------------------------------
    def test_ping_then_close_notify_is_answered(self):
        for i in range(10):
            c = self.login(bio=True)
            rid = c.send(PING, b"cn-%05d" % i)
            send_close_notify(c)
            f = c.recv_frame(timeout=10)
            self.assertEqual((f.type, f.id), (PONG, rid), "round %d: %s" % (i, fail_frame(f)))
            self.assertEqual(f.payload[8:], b"cn-%05d" % i)
            self.assertTrue(c.closed_by_server(), "round %d: connection stays" % i)
        self.gw.wait_log(r"event=peer_closed how=close_notify", count=10)
        # Several pipelined requests, then close_notify: all answered, in order.
        c = self.login(bio=True)
        ids = [c.send(PING, b"12345678"), c.send(NOOP), c.send(INFO)]
        send_close_notify(c)
        for rid, mtype in zip(ids, (PONG, NOOP, INFO_OK)):
            f = c.recv_frame(timeout=10)
            self.assertEqual((f.type, f.id), (mtype, rid), fail_frame(f))

    def test_ping_then_fin_is_answered(self):
        for i in range(10):
            c = self.login()
            rid = c.send(PING, b"fin%05d" % i)
            half_close(c)
            f = c.recv_frame(timeout=10)
            self.assertEqual((f.type, f.id), (PONG, rid), "round %d: %s" % (i, fail_frame(f)))
            self.assertTrue(c.closed_by_server(), "round %d: connection stays" % i)
        self.gw.wait_log(r"event=peer_closed how=fin", count=10)
        # A login in progress is answered too, and the request pipelined after it.
        c = self.client()
        hid = c.send(HELLO, hello_payload2(self.gw.password))
        pid = c.send(PING, b"afterhel")
        half_close(c)
        f = c.recv_frame(timeout=30)
        self.assertEqual((f.type, f.id), (HELLO_OK, hid), fail_frame(f))
        f = c.recv_frame(timeout=10)
        self.assertEqual((f.type, f.id), (PONG, pid), fail_frame(f))
        self.assertTrue(c.closed_by_server())

    def test_prelogin_pipelined_requests_past_the_pause_are_answered(self):
        # 300 INFOs before HELLO: their answers pass the 8 KiB pre-login pause
        # more than once. A reader gets all of them, promptly (not when the
        # HELLO timer closes the connection).
        for rnd in range(3):
            c = self.client()
            c.sock.sendall(b"".join(frame(INFO, i + 1) for i in range(300)))
            start = time.monotonic()
            for i in range(300):
                try:
                    f = c.recv_frame(timeout=3)
                except socket.timeout:
                    self.fail("round %d: stalled after %d of 300 INFO answers" % (rnd, i))
                self.assertEqual((f.type, f.id), (INFO_OK, i + 1), fail_frame(f))
            self.assertLess(time.monotonic() - start, 3)

    def test_prelogin_requests_then_close_notify_in_one_segment_all_answered(self):
        # 300 INFOs (3600 bytes, within the pre-login input limit) and the
        # close_notify in one TCP segment: the gateway reads both at once. The
        # answers (about 20 KB) pass the 8 KiB pre-login output pause, so the
        # gateway pauses with complete requests still queued; they arrived
        # before the close and must all be answered.
        n = 300
        c = self.client(bio=True)
        p = peer_re(c)
        c.sock.sendall_then_close_notify(b"".join(frame(INFO, i + 1) for i in range(n)))
        answers = 0
        while True:
            try:
                f = c.recv_frame(timeout=10)
            except (ConnectionError, OSError):
                break
            self.assertEqual((f.type, f.id), (INFO_OK, answers + 1), fail_frame(f))
            answers += 1
        self.gw.wait_log(r"peer=%s event=disconnect" % p)
        dropped = re.findall(r"peer=%s event=input_dropped bytes=(\d+)" % p, self.gw.log())
        self.assertEqual(answers, n, "%d of %d INFOs answered before the close; log: "
                         "input_dropped bytes=%s" % (answers, n, dropped))
        self.assertEqual(dropped, [])

    def test_pipelined_flood_then_close_notify_all_answered(self):
        # Many NOOPs and close_notify in one go, then the answers read at a
        # modest pace: every complete request that arrived before the close
        # is answered, however often the gateway had to pause its output.
        # Whether the close_notify is decrypted during a pause depends on
        # timing, so a few rounds.
        n = 200000
        requests = b"".join(frame(NOOP, i + 1) for i in range(n))
        for rnd in range(8):
            c = self.login(bio=True)
            p = peer_re(c)
            c.sock.sendall(requests)
            send_close_notify(c)
            answers = 0
            while True:
                try:
                    f = c.recv_frame(timeout=30)
                except (ConnectionError, OSError):
                    break
                self.assertEqual((f.type, f.id), (NOOP, answers + 1), fail_frame(f))
                answers += 1
                if answers % 3000 == 0:
                    time.sleep(0.002)
            c.close()
            self.gw.wait_log(r"peer=%s event=disconnect" % p)
            dropped = re.findall(r"peer=%s event=input_dropped bytes=(\d+)" % p, self.gw.log())
            self.assertEqual(answers, n, "round %d: %d of %d NOOPs answered after close_notify; "
                             "log: input_dropped bytes=%s" % (rnd, answers, n, dropped))
            self.assertEqual(dropped, [])

    # -- BYE ------------------------------------------------------------------------
    def test_bytes_after_bye_are_dropped_and_logged(self):
        c = self.login()
        p = peer_re(c)
        bye = c.next_id
        data = frame(BYE, bye) + b"".join(frame(PING, bye + 1 + i, b"12345678") for i in range(3))
        c.sock.sendall(data)
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (BYE, bye), fail_frame(f))
        self.assertTrue(c.closed_by_server(), "a PONG or more after BYE")
        self.gw.wait_log(r"peer=%s event=input_dropped bytes=60 " % p)
        self.assertNotRegex(self.gw.log(), r"peer=%s event=request op=ping" % p)

    # -- logs -----------------------------------------------------------------------
    def test_client_names_are_escaped_in_the_log(self):
        cases = [
            ("café".encode(), 'café'),
            (b"dev\x7f1", r'dev\x7f1'),
            (b'q"uote\\back', r'q\x22uote\x5cback'),
            (b"nl\nx\ty\x01z", r'nl\x0ax\x09y\x01z'),
            (b"bad\xff\xc3", r'bad\xff\xc3'),
            (b"\xe2\x82", r'\xe2\x82'),  # a truncated sequence
            (b"\xc0\xaf", r'\xc0\xaf'),  # an overlong '/'
            ("ok 🙂".encode(), "ok 🙂"),
        ]
        for device, logged in cases:
            with StreamClient(self.gw.port) as c:
                rid, f = c.hello2(self.gw.password, device=device, name=b"n\x1bame")
                self.assertEqual(f.type, HELLO_OK, fail_frame(f))
                self.gw.wait_log(r'peer=%s event=hello result=OK connection=psdmobile '
                                 r'client="n\\x1bame/1.0" device="%s" '
                                 % (peer_re(c), re.escape(logged)))

    def test_successful_ping_is_logged_at_debug(self):
        with Gateway(server={"log_level": "info"}) as gw:
            c, _ = login2(gw.port, gw.password)
            with c:
                for _ in range(3):
                    rid = c.send(PING, b"12345678")
                    c.expect(PONG, rid)
                rid = c.send(BYE)
                c.expect(BYE, rid)
            gw.wait_log(r"event=request op=bye id=\d+ result=OK")
            self.assertNotRegex(gw.log(), r"op=ping")
            gw.stop()
        c = self.login()
        rid = c.send(PING, b"12345678")
        c.expect(PONG, rid)
        self.gw.wait_log(r"DEBUG conn=\d+ peer=%s event=request op=ping id=%d result=OK"
                         % (peer_re(c), rid))

    def test_one_output_paused_line_per_episode(self):
        with Gateway(server={"log_level": "debug"}) as gw:
            c, _ = login2(gw.port, gw.password)
            p = peer_re(c)
            flood = b"".join(frame(NOOP, 7) for _ in range(5000))
            sock = c.sock

            def paused():
                return len(re.findall(r"peer=%s event=output_paused" % p, gw.log()))

            def write_for(seconds, read_pace=None):
                """Write NOOPs for `seconds`; read_pace: bytes to read per 10 ms, or None."""
                read = 0
                sock.setblocking(False)
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    _, w, _ = select.select([], [sock], [], 0.01)
                    if w:
                        try:
                            sock.send(flood)
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                            pass
                    if read_pace:
                        try:
                            read += len(sock.recv(read_pace))
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            pass
                        time.sleep(0.01)
                sock.settimeout(30)
                return read

            # Episode 1: never reading. One line, however long the flood goes on.
            write_for(3)
            gw.wait_log(r"peer=%s event=output_paused" % p)
            write_for(2)
            self.assertEqual(paused(), 1)
            # A slow reader: the gateway resumes only once half the backlog
            # is read, so few episodes for what was read (each NOOP answer
            # is 34 bytes on the wire and about 250 in the queue: half of
            # the 4 MiB limit is several thousand answers).
            read = write_for(4, read_pace=4096)
            answers = read // 34
            self.assertLessEqual(paused(), 2 + answers // 5000,
                                 "%d output_paused lines for %d answers read"
                                 % (paused(), answers))
            for q in re.findall(r"peer=%s event=output_resumed queued_bytes=(\d+)" % p,
                                gw.log()):
                self.assertLess(int(q), 2 * 1024 * 1024, "resumed above half the limit")
            c.close()
            gw.stop()

    # -- password checks per address ----------------------------------------------
    def test_failed_login_delay_does_not_count_as_a_running_check(self):
        with Gateway(conns=[{"name": "psdmobile", "tries": 3, "timewait": 5}]) as gw:
            wrong = [StreamClient(gw.port) for _ in range(2)]
            try:
                ids = [c.send(HELLO, hello_payload2("wrong password")) for c in wrong]
                # Both checks ran and failed: both connections now wait out their delay.
                gw.wait_log(r"event=hello result=AUTH", count=2, timeout=30)
                start = time.monotonic()
                with StreamClient(gw.port) as right:
                    rid, f = right.hello2(gw.password)
                    self.assertEqual((f.type, f.id), (HELLO_OK, rid),
                                     "third login from 127.0.0.1 during two failed-login "
                                     "delays: %s" % fail_frame(f))
                self.assertLess(time.monotonic() - start, 5, "the right password waited "
                                "for the others' delay")
                for c, rid in zip(wrong, ids):
                    c.expect_error(ERR["AUTH"], rid)
            finally:
                for c in wrong:
                    c.close()
            self.assertNotRegex(gw.log(), r"event=hello result=BUSY")
            gw.stop()


if __name__ == "__main__":
    unittest.main()
