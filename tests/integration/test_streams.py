"""Protocol 2: streams (DATA, CREDIT, CANCEL), the ECHO request in its
three modes, flow control, stream limits, NOTICE at shutdown, and a
version 1 client that sees exactly the old protocol.

Long streams run single-threaded through StreamClient.pump() (one thread
per TLS socket)."""
import os
import re
import signal
import struct
import time
import unittest

from harness import small_asan_quarantine, LogOnFailure, Gateway, Client, HELLO, HELLO_OK, PING, PONG, BYE, ERROR, wait_exit
from streams_client import (
    DATA, CREDIT, CANCEL, NOTICE, ECHO, ECHO_OK, END, ERR2, MODE_ECHO, MODE_SOURCE, MODE_SINK,
    NOTICE_DRAINING, WINDOW, MAX_STREAMS, StreamClient, login2, frame, header, echo_payload,
    error_of, source_bytes, parse_echo_ok, parse_hello_ok2, parse_notice, hello_payload2, rss_kib,
    built_with_asan)

BATCH = 256 * 1024  # the server gives credit back in batches of at least this


def fail_frame(f):
    detail = error_of(f) if f.type == ERROR else f.payload[:48]
    return "unexpected frame type 0x%02x id %d flags %d: %r" % (f.type, f.id, f.flags, detail)


class StreamsTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.asan = small_asan_quarantine()
        cls.gw = Gateway(conns=[{"name": "psdmobile"}, {"name": "noping", "ping": "no"}])

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()


    def login(self, **kw):
        c, hello = login2(self.gw.port, self.gw.password, **kw)
        self.addCleanup(c.close)
        return c

    def assert_pings(self, c):
        """The connection still answers a PING, and the PONG is the next frame."""
        rid = c.send(PING, b"still-ok")
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (PONG, rid), fail_frame(f))
        self.assertEqual(f.payload[8:], b"still-ok")

    def request_line(self, rid, result, peer_re=r"\S+"):
        return self.gw.wait_log(
            r"peer=%s event=request op=echo id=%d result=%s bytes=9 bytes_in=(\d+) "
            r"bytes_out=(\d+) ms=[0-9.]+" % (peer_re, rid, result))[-1]

    def peer(self, c):
        return re.escape("%s:%d" % c.sock.getsockname()[:2])

    # -- HELLO and version 1 ----------------------------------------------
    def test_hello_v2_announces_window_and_streams(self):
        for vmin, vmax in ((1, 2), (2, 2), (2, 5), (1, 9)):
            with StreamClient(self.gw.port) as c:
                rid, f = c.hello2(self.gw.password, vmin, vmax)
                self.assertEqual((f.type, f.id), (HELLO_OK, rid), fail_frame(f))
                h = parse_hello_ok2(f.payload)
                self.assertEqual(h["version"], 2, (vmin, vmax))
                self.assertEqual(h["stream_window"], 1048576)
                self.assertEqual(h["max_streams"], 16)
                # compression (u8): 0, as this client offered none.
                self.assertEqual(h["rest"], b"\x00", "bytes after max_streams")
                self.assertEqual(len(f.payload), h["v1_length"] + 7)
        self.gw.wait_log(r"event=hello result=OK connection=psdmobile .* proto=2 ", count=4)

    def test_v1_client_sees_the_old_protocol(self):
        c = self.login(vmin=1, vmax=1)
        # login2 accepted HELLO_OK; ask again for its exact layout on a new connection.
        with StreamClient(self.gw.port) as old:
            rid, f = old.hello2(self.gw.password, 1, 1, name="oldclient")
            self.assertEqual((f.type, f.id), (HELLO_OK, rid))
            h = parse_hello_ok2(f.payload)
            self.assertEqual(h["version"], 1)
            # v1 layout: u16 + str + str + 16 + u32*3 + str, and nothing after it.
            expect = 2 + 2 + len("miscommd") + 2 + len(h["server_version"]) + 16 + 12 + \
                2 + len("psdmobile")
            self.assertEqual(len(f.payload), expect, "HELLO_OK of a v1 session has extra bytes")
            self.assertEqual(h["rest"], b"")
        self.gw.wait_log(r'client="oldclient/1.0" .* proto=1 ')
        # Every version 2 message is UNEXPECTED in a version 1 session; nothing streams.
        rid = c.send(ECHO, echo_payload(MODE_SOURCE, 1000))
        msg = c.expect_error(ERR2["UNEXPECTED"], rid)
        self.assertIn("ECHO needs protocol version 2; this session speaks version 1", msg)
        for mtype, payload, flags in ((DATA, b"xyz", 0), (DATA, b"", END),
                                      (CREDIT, struct.pack(">I", 1000), 0), (CANCEL, b"", 0)):
            rid = c.next_id
            c.next_id += 1
            c.sock.sendall(frame(mtype, rid, payload, flags))
            msg = c.expect_error(ERR2["UNEXPECTED"], rid)
            self.assertIn("needs protocol version 2", msg)
        # ECHO with a rid that the UNEXPECTED ECHO used: not in use, not a stream.
        self.assert_pings(c)
        self.assertEqual(c.nothing_within(0.5), [], "frames after the PONG in a v1 session")
        self.gw.wait_log(r"event=request op=echo id=\d+ result=UNEXPECTED")

    def test_miscli_hello_and_ping_still_work(self):
        r = self.gw.miscli("hello")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        r = self.gw.miscli("ping", "--count", "2", "--interval", "0")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("2 received, 0% loss", r.stdout)

    # -- ECHO: interleaving, SOURCE, SINK ---------------------------------
    def test_ping_answered_during_100mb_echo_stream(self):
        total = 100 * 1024 * 1024
        block = os.urandom(1000003)  # a prime length: no alignment with frame sizes
        big = block * 3

        def expected(off, n):
            s = off % len(block)
            return big[s:s + n]

        c = self.login()
        rid = c.echo(MODE_ECHO)
        send_credit, sent, got, ungranted = WINDOW, 0, 0, 0
        ping_id = ping_sent_at = pong = None
        got_end, result = False, None
        grants = []
        deadline = time.monotonic() + 300
        while result is None:
            self.assertLess(time.monotonic(), deadline,
                            "stalled: sent %d echoed %d credit %d" % (sent, got, send_credit))
            while sent < total and send_credit > 0 and len(c.wbuf) < 2 * WINDOW:
                n = min(65536 - 7, send_credit, total - sent)
                end = sent + n == total
                c.queue(frame(DATA, rid, expected(sent, n), END if end else 0))
                sent += n
                send_credit -= n
            if ping_id is None and sent >= total // 4:
                ping_id = c.next_id
                c.next_id += 1
                c.queue(frame(PING, ping_id, b"midstrm!"))
                ping_sent_at = (time.monotonic(), got)
            for f in c.pump(1.0):
                if f.type == DATA and f.id == rid:
                    self.assertFalse(got_end, "DATA after END")
                    if f.payload != expected(got, len(f.payload)):
                        self.fail("echoed bytes differ at stream offset %d" % got)
                    got += len(f.payload)
                    self.assertLessEqual(got, sent, "echoed more than was sent")
                    ungranted += len(f.payload)
                    if f.flags & END:
                        got_end = True
                        self.assertEqual(got, total)
                    elif ungranted >= BATCH:
                        c.queue(frame(CREDIT, rid, struct.pack(">I", ungranted)))
                        ungranted = 0
                elif f.type == CREDIT and f.id == rid:
                    (n,) = struct.unpack(">I", f.payload)
                    grants.append(n)
                    send_credit += n
                elif f.type == PONG and f.id == ping_id:
                    self.assertIsNone(pong, "two PONGs")
                    pong = (time.monotonic() - ping_sent_at[0], got)
                    self.assertEqual(f.payload[8:], b"midstrm!")
                    self.assertFalse(got_end, "PONG only after the stream ended")
                elif f.type == ECHO_OK and f.id == rid:
                    result = parse_echo_ok(f.payload)
                else:
                    self.fail(fail_frame(f))
        self.assertTrue(got_end, "ECHO_OK before the DATA with END")
        self.assertEqual(result, (total, total))
        self.assertIsNotNone(pong, "no PONG")
        self.assertLess(pong[1], total, "the PONG came only after all echoed bytes")
        self.assertLess(pong[0], 30.0, "the PONG took %.1f s during the stream" % pong[0])
        self.assertTrue(all(g >= BATCH for g in grants), "credit batches below 256 KiB: %s"
                        % [g for g in grants if g < BATCH][:5])
        self.assertLessEqual(sum(grants) + WINDOW, total + WINDOW)
        line = self.request_line(rid, "OK", self.peer(c))
        self.assertEqual(line, (str(total), str(total)))
        self.assert_pings(c)

    def test_source_50mb_verified(self):
        total = 50 * 1024 * 1024 + 17
        c = self.login()
        rid = c.echo(MODE_SOURCE, total)
        got, granted_total, ungranted = 0, WINDOW, 0
        result, got_end = None, False
        deadline = time.monotonic() + 300
        while result is None:
            self.assertLess(time.monotonic(), deadline, "stalled at %d bytes" % got)
            for f in c.pump(1.0):
                if f.type == DATA and f.id == rid:
                    self.assertFalse(got_end, "DATA after END")
                    if f.payload != source_bytes(got, len(f.payload)):
                        self.fail("SOURCE bytes wrong at stream offset %d" % got)
                    got += len(f.payload)
                    self.assertLessEqual(got, granted_total, "server exceeded the credit")
                    ungranted += len(f.payload)
                    if f.flags & END:
                        got_end = True
                    elif ungranted >= 300000:
                        c.queue(frame(CREDIT, rid, struct.pack(">I", ungranted)))
                        granted_total += ungranted
                        ungranted = 0
                elif f.type == ECHO_OK and f.id == rid:
                    result = parse_echo_ok(f.payload)
                else:
                    self.fail(fail_frame(f))
        self.assertTrue(got_end)
        self.assertEqual(got, total)
        self.assertEqual(result, (0, total))
        self.assertEqual(self.request_line(rid, "OK", self.peer(c)), ("0", str(total)))
        self.assert_pings(c)

    def test_source_never_exceeds_the_credit(self):
        total = 2 * WINDOW + 5000
        c = self.login()
        rid = c.echo(MODE_SOURCE, total)
        got = 0
        granted = WINDOW

        def read_until(limit, quiet=1.0):
            """Read DATA until `limit` bytes in all, then check the server sends nothing more."""
            nonlocal got
            while got < limit:
                f = c.recv_frame(timeout=10)
                self.assertEqual((f.type, f.id), (DATA, rid), fail_frame(f))
                self.assertEqual(f.payload, source_bytes(got, len(f.payload)))
                got += len(f.payload)
                self.assertLessEqual(got, granted, "the server sent %d bytes with %d of credit"
                                     % (got, granted))
            extra = c.nothing_within(quiet)
            self.assertEqual(extra, [], "the server sent more than the credit: %s"
                             % [fail_frame(f) for f in extra])

        # No CREDIT at all: exactly the initial window, then the server waits.
        read_until(WINDOW, quiet=1.5)
        self.assertEqual(got, WINDOW)
        # A little credit: exactly that much more.
        c.credit(rid, 1000)
        granted += 1000
        read_until(WINDOW + 1000)
        self.assertEqual(got, WINDOW + 1000)
        c.credit(rid, 1)
        granted += 1
        read_until(WINDOW + 1001)
        # The rest in odd amounts; the server stays within every one of them.
        while granted < total:
            n = min(333333, total - granted)
            c.credit(rid, n)
            granted += n
            if granted < total:
                read_until(granted, quiet=0.2)
        while True:
            f = c.recv_frame(timeout=10)
            if f.type == DATA:
                self.assertEqual(f.payload, source_bytes(got, len(f.payload)))
                got += len(f.payload)
                self.assertLessEqual(got, granted)
                if f.flags & END:
                    break
            else:
                self.fail(fail_frame(f))
        self.assertEqual(got, total)
        f = c.expect(ECHO_OK, rid)
        self.assertEqual(parse_echo_ok(f.payload), (0, total))
        self.request_line(rid, "OK", self.peer(c))

    def test_sink_counts_bytes(self):
        total = 5 * WINDOW + 777
        c = self.login()
        rid = c.echo(MODE_SINK, 0)
        credit, sent, grants = WINDOW, 0, []
        result = None
        chunk = os.urandom(50000)
        deadline = time.monotonic() + 120
        while result is None:
            self.assertLess(time.monotonic(), deadline, "stalled at %d bytes" % sent)
            while sent < total and credit > 0:
                n = min(len(chunk), credit, total - sent)
                c.queue(frame(DATA, rid, chunk[:n], END if sent + n == total else 0))
                sent += n
                credit -= n
            for f in c.pump(1.0):
                if f.type == CREDIT and f.id == rid:
                    (n,) = struct.unpack(">I", f.payload)
                    grants.append(n)
                    credit += n
                elif f.type == ECHO_OK and f.id == rid:
                    result = parse_echo_ok(f.payload)
                else:
                    self.fail(fail_frame(f))
        self.assertEqual(result, (total, 0))
        self.assertTrue(grants, "the sink never gave credit back")
        self.assertTrue(all(g >= BATCH for g in grants), grants)
        self.assertEqual(self.request_line(rid, "OK", self.peer(c)), (str(total), "0"))
        self.assert_pings(c)

    def test_echo_payload_checks(self):
        c = self.login()
        for payload, why in ((b"\x00" * 8, "8 bytes"), (b"\x00" * 10, "10 bytes"),
                             (echo_payload(MODE_ECHO, 5), "echo with a count"),
                             (echo_payload(3, 0), "unknown mode")):
            rid = c.send(ECHO, payload)
            c.expect_error(ERR2["BAD_PAYLOAD"], rid)
        self.assert_pings(c)
        # A connection without the ping permission may not ECHO either.
        noping = self.gw.conns[1]["port"]
        d, _ = login2(noping, self.gw.password)
        with d:
            rid = d.echo(MODE_SOURCE, 10)
            d.expect_error(ERR2["PERMISSION"], rid)
            self.assertEqual(d.nothing_within(0.5), [], "SOURCE bytes without permission")
        self.gw.wait_log(r"event=denied op=echo id=\d+ permission=ping connection=noping")

    # -- cancel ------------------------------------------------------------
    def test_cancel_from_client(self):
        c = self.login()
        rid = c.echo(MODE_ECHO)
        payload = os.urandom(100000)
        c.data(rid, payload)
        echoed = b""
        while len(echoed) < len(payload):
            f = c.recv_frame()
            if f.type == CREDIT:
                continue
            self.assertEqual((f.type, f.id), (DATA, rid), fail_frame(f))
            echoed += f.payload
        self.assertEqual(echoed, payload)
        c.cancel(rid)
        c.expect_error(ERR2["CANCELLED"], rid, skip=(CREDIT,))
        self.assert_pings(c)
        # The stream is gone: more DATA for it is dropped without an answer.
        c.data(rid, b"late", end=True)
        self.assert_pings(c)
        p = self.peer(c)
        self.gw.wait_log(r"peer=%s event=cancel op=echo id=%d by=client" % (p, rid))
        self.assertEqual(self.request_line(rid, "CANCELLED", p), ("100000", "100000"))

        # A SOURCE stream waiting for credit is cancelled too.
        rid = c.echo(MODE_SOURCE, 10 * WINDOW)
        got = 0
        while got < WINDOW:
            f = c.expect(DATA, rid)
            got += len(f.payload)
        c.cancel(rid)
        c.expect_error(ERR2["CANCELLED"], rid)
        self.assert_pings(c)
        self.assertEqual(self.request_line(rid, "CANCELLED", p), ("0", str(WINDOW)))

    def test_cancel_from_server_past_sink_limit(self):
        c = self.login()
        # Exactly the limit is fine.
        rid = c.echo(MODE_SINK, 1000)
        c.data(rid, b"a" * 600)
        c.data(rid, b"b" * 400, end=True)
        f = c.expect(ECHO_OK, rid)
        self.assertEqual(parse_echo_ok(f.payload), (1000, 0))
        # One byte more: the server stops the stream itself.
        rid = c.echo(MODE_SINK, 1000)
        c.data(rid, b"a" * 600)
        c.data(rid, b"b" * 401)
        msg = c.expect_error(ERR2["CANCELLED"], rid)
        self.assertIn("cancelled by the server", msg)
        c.data(rid, b"c" * 10, end=True)  # dropped: the stream is over
        self.assert_pings(c)
        p = self.peer(c)
        self.gw.wait_log(r"peer=%s event=cancel op=echo id=%d by=server limit=1000" % (p, rid))
        self.assertEqual(self.request_line(rid, "CANCELLED", p), ("1001", "0"))

    # -- flow control, ids, limits ----------------------------------------
    def test_data_beyond_credit_is_flow_control(self):
        c = self.login()
        rid = c.echo(MODE_ECHO)
        # 1 MiB echoed back: the server's send credit is then 0, so from now on it
        # echoes nothing and gives nothing back. What it gave back so far (G, in
        # batches) is exactly what we may still send.
        c.data(rid, b"\x01" * WINDOW)
        echoed = granted = 0
        while echoed < WINDOW:
            f = c.recv_frame(timeout=10)
            if f.type == DATA and f.id == rid:
                echoed += len(f.payload)
            elif f.type == CREDIT and f.id == rid:
                granted += struct.unpack(">I", f.payload)[0]
            else:
                self.fail(fail_frame(f))
        for f in c.nothing_within(0.5):
            self.assertEqual((f.type, f.id), (CREDIT, rid), fail_frame(f))
            granted += struct.unpack(">I", f.payload)[0]
        self.assertEqual(echoed, WINDOW)
        self.assertGreaterEqual(granted, 3 * BATCH, "credit given back for 1 MiB echoed")
        self.assertLessEqual(granted, WINDOW)
        # Exactly the credit left is accepted ...
        c.data(rid, b"\x02" * granted)
        self.assertEqual(c.nothing_within(0.5), [], "the server sent without credit")
        # ... one byte more is not.
        c.data(rid, b"\x03")
        msg = c.expect_error(ERR2["FLOW_CONTROL"], rid)
        self.assertIn("exceeds the 0 bytes of credit", msg)
        # The connection stays; the failed stream's frames are dropped.
        c.data(rid, b"\x04" * 100)
        c.credit(rid, 5000)
        self.assert_pings(c)
        p = self.peer(c)
        self.assertEqual(self.request_line(rid, "FLOW_CONTROL", p),
                         (str(WINDOW + granted), str(WINDOW)))
        # DATA on a SOURCE stream: the client was given no credit at all.
        rid = c.echo(MODE_SOURCE, 10 * WINDOW)
        got = 0
        while got < WINDOW:
            got += len(c.expect(DATA, rid).payload)
        c.data(rid, b"x")
        msg = c.expect_error(ERR2["FLOW_CONTROL"], rid)
        self.assertIn("exceeds the 0 bytes of credit", msg)
        self.assert_pings(c)

    def test_id_in_use(self):
        c = self.login()
        rid = c.echo(MODE_SOURCE, 10 * WINDOW, rid=7)
        got = 0
        while got < WINDOW:
            got += len(c.expect(DATA, 7).payload)
        # Any new request with the id of the open stream is refused, and the stream goes on.
        c.send(ECHO, echo_payload(MODE_SINK, 0), rid=7)
        msg = c.expect_error(ERR2["ID_IN_USE"], 7)
        self.assertIn("request id 7", msg)
        c.send(PING, b"12345678", rid=7)
        c.expect_error(ERR2["ID_IN_USE"], 7)
        c.credit(7, 1000)
        f = c.expect(DATA, 7)
        self.assertEqual(f.payload, source_bytes(WINDOW, 1000))
        c.cancel(7)
        c.expect_error(ERR2["CANCELLED"], 7)
        # The id is free again.
        c.send(PING, b"12345678", rid=7)
        f = c.recv_frame()
        self.assertEqual((f.type, f.id), (PONG, 7), fail_frame(f))
        self.gw.wait_log(r"peer=%s event=request op=echo id=7 result=ID_IN_USE" % self.peer(c))

    def test_seventeenth_stream_is_busy(self):
        c = self.login()
        ids = list(range(101, 101 + MAX_STREAMS))
        for i in ids:
            c.echo(MODE_SINK, 0, rid=i)
        c.echo(MODE_SINK, 0, rid=200)
        msg = c.expect_error(ERR2["BUSY"], 200)
        self.assertIn("16 streams", msg)
        self.assert_pings(c)  # PING is not a stream
        # The sixteen are open and work.
        c.data(101, b"z" * 10, end=True)
        f = c.expect(ECHO_OK, 101)
        self.assertEqual(parse_echo_ok(f.payload), (10, 0))
        # One ended: one more may open.
        c.echo(MODE_SINK, 0, rid=200)
        for i in ids[1:] + [200]:
            c.data(i, b"", end=True)
        for i in ids[1:] + [200]:
            f = c.expect(ECHO_OK, i)
            self.assertEqual(parse_echo_ok(f.payload), (0, 0))
        self.gw.wait_log(r"peer=%s event=request op=echo id=200 result=BUSY" % self.peer(c))

    def test_1000_streams_do_not_grow_the_daemon(self):
        c = self.login()
        pid = self.gw.proc.pid
        next_id = [1000]

        def cycle(n):
            """n streams opened and cancelled, 10 at a time, half ECHO with data, half SINK."""
            done = 0
            while done < n:
                batch = []
                for k in range(min(10, n - done)):
                    rid = next_id[0]
                    next_id[0] += 1
                    mode = MODE_ECHO if k % 2 == 0 else MODE_SINK
                    c.queue(frame(ECHO, rid, echo_payload(mode, 0)))
                    c.queue(frame(DATA, rid, b"\x5a" * 4000))
                    c.queue(frame(CANCEL, rid))
                    batch.append(rid)
                cancelled = set()
                deadline = time.monotonic() + 30
                while len(cancelled) < len(batch):
                    self.assertLess(time.monotonic(), deadline, "cancel answers missing")
                    for f in c.pump(1.0):
                        if f.type in (DATA, CREDIT):
                            continue
                        self.assertEqual(f.type, ERROR, fail_frame(f))
                        self.assertEqual(error_of(f)[0], ERR2["CANCELLED"], fail_frame(f))
                        cancelled.add(f.id)
                self.assertEqual(cancelled, set(batch))
                done += len(batch)

        cycle(200)  # warm-up: allocator pools, log buffers
        before = rss_kib(pid)
        cycle(1000)
        after = rss_kib(pid)
        slack = (16 if self.asan else 2) * 1024
        self.assertLess(after - before, slack, "RSS grew from %d to %d KiB over 1000 streams"
                        % (before, after))
        # Every stream was freed: sixteen can open again.
        for i in range(MAX_STREAMS):
            c.echo(MODE_SINK, 0, rid=50 + i)
        self.assert_pings(c)
        for i in range(MAX_STREAMS):
            c.data(50 + i, b"", end=True)
            c.expect(ECHO_OK, 50 + i)
        self.assertGreaterEqual(
            len(re.findall(r"peer=%s event=request op=echo id=\d+ result=CANCELLED"
                           % self.peer(c), self.gw.log())), 1200)

    def test_stream_frames_for_unknown_ids_are_dropped(self):
        c = self.login()
        c.data(999, b"nobody", end=False)
        c.data(998, b"", end=True)
        c.credit(997, 4096)
        c.cancel(996)
        self.assert_pings(c)  # the PONG is the very next frame: no ERROR in between
        p = self.peer(c)
        for t, i in (("DATA", 999), ("DATA", 998), ("CREDIT", 997), ("CANCEL", 996)):
            self.gw.wait_log(r"peer=%s event=stream_frame_dropped type=%s id=%d" % (p, t, i))

    def test_end_flag_only_on_data(self):
        for mtype, flags, payload in ((PING, END, b"12345678"), (DATA, 0x0004, b"x"),
                                      (CREDIT, END, struct.pack(">I", 5)),
                                      (PING, 0x0002, b"12345678")):
            c = self.login()
            c.sock.sendall(frame(mtype, 42, payload, flags))
            msg = c.expect_error(ERR2["BAD_FRAME"], 0)
            self.assertTrue(c.closed_by_server(), "connection stays after a bad flag")

    def test_peer_close_ends_open_streams_as_closed(self):
        c = self.login()
        p = self.peer(c)
        c.echo(MODE_SINK, 0, rid=11)
        c.data(11, b"q" * 3000)
        self.assert_pings(c)
        c.close()
        self.request_line(11, "CLOSED", p)

    # -- shutdown ------------------------------------------------------------
    def test_notice_draining_then_stream_finishes(self):
        with Gateway(server={"shutdown_grace": 20}) as gw:
            c, _ = login2(gw.port, gw.password)
            idle, _ = login2(gw.port, gw.password)
            with c, idle:
                c.echo(MODE_SINK, 0, rid=5)
                c.data(5, b"s" * 1000)
                rid = c.send(PING, b"before!!")
                c.expect(PONG, rid)
                gw.proc.send_signal(signal.SIGTERM)
                f = c.recv_frame(timeout=10)
                self.assertEqual((f.type, f.id), (NOTICE, 0), fail_frame(f))
                kind, text, data = parse_notice(f.payload)
                self.assertEqual(kind, NOTICE_DRAINING)
                self.assertEqual(data, struct.pack(">I", 20), "grace seconds")
                self.assertIn("shutting down", text)
                # An idle connection is closed at once, without a NOTICE.
                msg = idle.expect_error(ERR2["SHUTTING_DOWN"], 0)
                self.assertTrue(idle.closed_by_server())
                # New requests are refused; the connection stays for the stream.
                rid = c.send(PING, b"during!!")
                c.expect_error(ERR2["SHUTTING_DOWN"], rid)
                rid = c.echo(MODE_SOURCE, 100)
                c.expect_error(ERR2["SHUTTING_DOWN"], rid)
                c.data(5, b"t" * 2000)
                c.data(5, b"", end=True)
                f = c.expect(ECHO_OK, 5)
                self.assertEqual(parse_echo_ok(f.payload), (3000, 0))
                # The last stream ended: SHUTTING_DOWN with id 0 and the close.
                c.expect_error(ERR2["SHUTTING_DOWN"], 0)
                self.assertTrue(c.closed_by_server())
            self.assertEqual(wait_exit(gw), 0)
            log = gw.log()
            self.assertRegex(log, r"event=draining signal=SIGTERM connections=2 busy=1 grace_s=20")
            self.assertRegex(log, r"event=notice kind=1 ")
            self.assertRegex(log, r"event=request op=echo id=5 result=OK bytes=9 bytes_in=3000 "
                                  r"bytes_out=0 ")
            self.assertNotRegex(log, r"drain_timeout")


if __name__ == "__main__":
    unittest.main()
