"""File transfer (docs/protocol.md section 5.14): round trips checked by
SHA-256, resume after a drop, hash mismatch, permissions, hostile names and
planted links, concurrent uploads of one name, ACK with delete_after_send,
a PING answered during a download, and the device id check at HELLO.
The raw-protocol parts use streams_client; the round trips use miscli on
libmiscomm (put, get, ls)."""
import hashlib
import os
import shutil
import signal
import struct
import threading
import time
import unittest

from harness import proc_status_kib, small_asan_quarantine, ERR, Gateway, HELLO_OK, LogOnFailure, PING, PONG
from streams_client import (CREDIT, DATA, END, ERR2, StreamClient, WINDOW, error_of, wstr)

LIST, LIST_OK, GET, GET_OK, ACK, ACK_OK = 0x30, 0x31, 0x32, 0x33, 0x34, 0x35
PUT, PUT_OFFSET, PUT_OK = 0x36, 0x37, 0x38
E = dict(ERR2, NOT_FOUND=42, EXISTS=43, BAD_NAME=50, NO_SPACE=51, QUOTA=52, HASH_MISMATCH=53,
         FILE_TOO_LARGE=54, PERMISSION=22)
DEVICE = "TR0001"


def sha(b):
    return hashlib.sha256(b).digest()


class QuietClient(StreamClient):
    """A StreamClient that sets FILES_CHANGED notices aside (the tests write into
    the send folders of logged-in devices); self.notices counts them."""
    notices = 0

    def recv_frame(self, timeout=None):
        while True:
            f = super().recv_frame(timeout)
            if (f.type, f.id) != (0x13, 0):
                return f
            self.notices += 1


class FilesTest(LogOnFailure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[
            {"name": "psdmobile", "send_files": "on", "receive_files": "on",
             "delete_after_send": "yes", "max_file_size": "64M", "quota": "200M"},
            {"name": "noperm"},
            {"name": "shared", "send_files": "on", "receive_files": "on",
             "receive_files_dir": "shared-in", "send_files_dir": "shared-out"},
        ])
        cls.ports = {c["name"]: c["port"] for c in cls.gw.conns}
        cls.data = os.path.join(cls.gw.dir, "data")

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()

    def topc(self, *parts, device=DEVICE):
        return os.path.join(self.data, "psdmobile", device, "ToPC", *parts)

    def topda(self, *parts, device=DEVICE):
        return os.path.join(self.data, "psdmobile", device, "ToPDA", *parts)

    def client(self, conn="psdmobile", device=DEVICE, notices=False):
        c = (StreamClient if notices else QuietClient)(self.ports[conn])
        self.addCleanup(c.close)
        rid, f = c.hello2(self.gw.password, device=device)
        self.assertEqual(f.type, HELLO_OK, error_of(f) if f.type == 0x7F else f)
        return c

    def put_request(self, c, name, content, declared=None, size=None):
        return c.send(PUT, wstr(name) + struct.pack(">Q", len(content) if size is None else size)
                      + (declared or sha(content)))

    def put_offset(self, c, rid, with_id=False):
        f = c.expect(PUT_OFFSET, rid)
        self.assertEqual(len(f.payload), 24)
        off = struct.unpack(">Q", f.payload[16:])[0]
        return (off, f.payload[:16].hex()) if with_id else off

    def send_all(self, c, rid, content, start=0):
        """DATA from start to the end under the server's credit; END on the last."""
        credit, off = WINDOW, start
        while True:
            n = min(65536, credit, len(content) - off)
            last = off + n == len(content)
            if n or last:
                c.data(rid, content[off:off + n], end=last)
                credit -= n
                off += n
            if last:
                return
            if credit == 0:
                f = c.expect(CREDIT, rid)
                credit += struct.unpack(">I", f.payload)[0]

    ids = set()

    def put(self, c, name, content):
        rid = self.put_request(c, name, content)
        off, upload = self.put_offset(c, rid, with_id=True)
        self.ids.add(upload + ".part")
        self.send_all(c, rid, content, off)
        return c.expect(PUT_OK, rid, skip=(CREDIT,))

    def get(self, c, name, offset=0):
        rid = c.send(GET, wstr(name) + struct.pack(">Q", offset))
        body = b""
        while True:
            f = c.recv_frame()
            self.assertEqual(f.id, rid)
            if f.type == DATA:
                body += f.payload
                if f.payload:
                    c.credit(rid, len(f.payload))
                continue
            if f.type == 0x7F:
                return None, error_of(f)
            self.assertEqual(f.type, GET_OK)
            size, mtime = struct.unpack(">QQ", f.payload[:16])
            return body, (size, f.payload[16:])

    # -- round trips ---------------------------------------------------------------
    def test_round_trips_with_hash_checks(self):
        c = self.client()
        for n in (0, 1, 65523, 65524, 65525, WINDOW - 1, WINDOW, WINDOW + 1, 3 * WINDOW + 7):
            content = os.urandom(n)
            name = "rt/size-%d.bin" % n
            f = self.put(c, name, content)
            self.assertEqual(f.payload, struct.pack(">Q", n) + sha(content))
            with open(self.topc("rt", "size-%d.bin" % n), "rb") as fh:
                self.assertEqual(fh.read(), content)
            os.makedirs(self.topda("rt"), exist_ok=True)
            with open(self.topda("rt", "size-%d.bin" % n), "wb") as fh:
                fh.write(content)
            body, (size, digest) = self.get(c, name)
            self.assertEqual((body, size, digest), (content, n, sha(content)))
            # From an offset: the rest, and still the whole file's hash.
            body, (size, digest) = self.get(c, name, n // 2)
            self.assertEqual((body, digest), (content[n // 2:], sha(content)))
        # Nothing of these uploads was left in the staging folder.
        self.assertFalse([n for n in os.listdir(self.topc(".miscomm-partial"))
                          if n in self.ids], self.ids)

    def test_resume_after_a_dropped_upload(self):
        content = os.urandom(3 * WINDOW + 12345)
        c = self.client()
        rid = self.put_request(c, "photos/resume.jpg", content)
        self.assertEqual(self.put_offset(c, rid), 0)
        c.data(rid, content[:WINDOW])
        # Wait until the server wrote it (credit comes back), then drop.
        c.expect(CREDIT, rid)
        c.close()
        self.gw.wait_log(r'op=put id=%d result=CLOSED' % rid)
        self.assertFalse(os.path.exists(self.topc("photos", "resume.jpg")))
        c = self.client()
        rid = self.put_request(c, "photos/resume.jpg", content)
        off = self.put_offset(c, rid)
        self.assertGreater(off, 0)
        self.assertLessEqual(off, WINDOW)
        self.send_all(c, rid, content, off)
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(self.topc("photos", "resume.jpg"), "rb") as fh:
            self.assertEqual(fh.read(), content)
        self.gw.wait_log(r'event=upload_resumed name="photos/resume.jpg" offset=%d' % off)

    def test_upload_held_by_a_silent_connection_is_taken_over(self):
        # The first connection goes silent mid-upload without closing (a phone
        # that lost its network): its socket stays open on the server.
        content = os.urandom(2 * WINDOW + 777)
        old = self.client()
        rid_old = self.put_request(old, "photos/takeover.jpg", content)
        self.assertEqual(self.put_offset(old, rid_old), 0)
        old.data(rid_old, content[:WINDOW])
        old.expect(CREDIT, rid_old)  # written
        # The same device on a new connection: the upload is taken over at
        # once (a BUSY while the old request finishes a write is allowed, and
        # retried), not BUSY until the old connection's idle timeout.
        new = self.client()
        deadline = time.monotonic() + 10
        while True:
            rid = self.put_request(new, "photos/takeover.jpg", content)
            f = new.recv_frame()
            self.assertEqual(f.id, rid)
            if f.type == 0x7F and error_of(f)[0] == E["BUSY"] and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            break
        self.assertEqual(f.type, PUT_OFFSET, error_of(f) if f.type == 0x7F else f)
        off = struct.unpack(">Q", f.payload[16:])[0]
        self.assertEqual(off, WINDOW)
        # The older request got its final answer: CANCELLED, saying why.
        msg = old.expect_error(E["CANCELLED"], rid_old, skip=(CREDIT,))
        self.assertIn("another connection", msg)
        self.send_all(new, rid, content, off)
        new.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(self.topc("photos", "takeover.jpg"), "rb") as fh:
            self.assertEqual(fh.read(), content)
        self.gw.wait_log(r'event=upload_taken_over name="photos/takeover.jpg" held=%d' % WINDOW)
        # The old connection still works for other requests.
        rid_ping = old.send(PING, b"")
        old.expect(PONG, rid_ping)

    def test_cancel_after_end_gets_the_commits_answer(self):
        c = self.client()
        content = os.urandom(WINDOW // 2)
        rid = self.put_request(c, "late-cancel.bin", content)
        self.assertEqual(self.put_offset(c, rid), 0)
        c.data(rid, content, end=True)
        c.cancel(rid)  # crosses the commit: ignored
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(self.topc("late-cancel.bin"), "rb") as fh:
            self.assertEqual(fh.read(), content)
        # A CANCEL before END still stops the upload (and the partial stays).
        rid = self.put_request(c, "early-cancel.bin", content)
        self.assertEqual(self.put_offset(c, rid), 0)
        c.data(rid, content[:1000])
        c.cancel(rid)
        c.expect_error(E["CANCELLED"], rid, skip=(CREDIT,))
        self.assertFalse(os.path.exists(self.topc("early-cancel.bin")))
        rid_ping = c.send(PING, b"")
        c.expect(PONG, rid_ping)

    def test_wrong_hash_is_refused_and_the_partial_removed(self):
        c = self.client()
        content = os.urandom(100000)
        rid = self.put_request(c, "bad.bin", content, declared=sha(b"something else"))
        _, upload = self.put_offset(c, rid, with_id=True)
        self.assertTrue(os.path.exists(self.topc(".miscomm-partial", upload + ".part")))
        self.send_all(c, rid, content)
        msg = c.expect_error(E["HASH_MISMATCH"], rid, skip=(CREDIT,))
        self.assertIn("removed", msg)
        self.assertFalse(os.path.exists(self.topc("bad.bin")))
        self.assertFalse(os.path.exists(self.topc(".miscomm-partial", upload + ".part")))

    def test_size_limit_exists_and_counts(self):
        c = self.client()
        rid = self.put_request(c, "big.bin", b"", size=65 * 1048576)
        c.expect_error(E["FILE_TOO_LARGE"], rid)
        self.put(c, "once.txt", b"first")
        rid = self.put_request(c, "once.txt", b"second")
        c.expect_error(E["EXISTS"], rid)
        # The same bytes again (a lost PUT_OK): offset = size, then PUT_OK.
        rid = self.put_request(c, "once.txt", b"first")
        self.assertEqual(self.put_offset(c, rid), 5)
        c.data(rid, b"", end=True)
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(self.topc("once.txt"), "rb") as fh:
            self.assertEqual(fh.read(), b"first")
        rid = self.put_request(c, "short.bin", b"abcdef")
        self.put_offset(c, rid)
        c.data(rid, b"abc", end=True)
        c.expect_error(E["BAD_PAYLOAD"], rid)

    def test_permissions_off_writes_nothing(self):
        c = self.client("noperm")
        for req, payload in ((PUT, wstr("x.bin") + struct.pack(">Q", 1) + sha(b"x")),
                             (GET, wstr("x.bin") + struct.pack(">Q", 0)),
                             (LIST, b"\x00" + wstr(""))):
            rid = c.send(req, payload)
            msg = c.expect_error(E["PERMISSION"], rid)
            self.assertIn("not granted", msg)
        self.assertFalse(os.path.exists(os.path.join(self.data, "noperm")))

    def test_hostile_names_and_planted_links(self):
        c = self.client()
        outside = os.path.join(self.gw.dir, "outside")
        os.makedirs(outside, exist_ok=True)
        secret = os.path.join(outside, "secret.txt")
        with open(secret, "w") as fh:
            fh.write("not for devices")
        os.makedirs(self.topda(), exist_ok=True)
        os.symlink(secret, self.topda("link.txt"))
        os.symlink(outside, self.topda("linkdir"))
        os.link(secret, self.topda("hard.txt"))
        before = sorted(os.listdir(outside))
        for raw in (b"../x", b"a/../../x", b"/etc/passwd", b"C:\\x", b"a\\b", b"CON",
                    b"nul.txt", b"a ", b"a.", b"", b"a//b", b".miscomm-partial/x", b"\x01",
                    b"\xc3(", b"\xc0\xae\xc0\xae", b"x" * 256):
            rid = c.send(PUT, struct.pack(">H", len(raw)) + raw + struct.pack(">Q", 1) + sha(b"x"))
            c.expect_error(E["BAD_NAME"], rid)
            rid = c.send(GET, struct.pack(">H", len(raw)) + raw + struct.pack(">Q", 0))
            c.expect_error(E["BAD_NAME"], rid)
        for name in ("link.txt", "linkdir/secret.txt", "hard.txt"):
            body, err = self.get(c, name)
            self.assertIsNone(body, "served %s" % name)
            self.assertEqual(err[0], E["BAD_NAME"], err)
        # Uploading through a planted directory link creates nothing outside.
        os.makedirs(self.topc(), exist_ok=True)
        os.symlink(outside, self.topc("evil"))
        rid = self.put_request(c, "evil/new.txt", b"data")
        msg = c.expect_error(E["BAD_NAME"], rid)
        self.assertIn("link", msg)
        self.assertEqual(sorted(os.listdir(outside)), before)
        with open(secret) as fh:
            self.assertEqual(fh.read(), "not for devices")
        # LIST shows none of the links.
        rid = c.send(LIST, b"\x01" + wstr(""))
        names, last_flags = [], None
        while True:
            f = c.recv_frame()
            if f.type == LIST_OK:
                self.assertEqual(last_flags, END, "the listing's last DATA carries END")
                break
            last_flags = f.flags
            payload = f.payload
            while payload:
                n = struct.unpack(">H", payload[:2])[0]
                names.append(payload[2:2 + n].decode())
                payload = payload[2 + n + 48:]
        self.assertFalse({"link.txt", "hard.txt"} & set(names), names)
        self.assertFalse([n for n in names if n.startswith("linkdir")], names)

    def test_concurrent_uploads_of_one_name(self):
        a, b = self.client("shared", device="dev-a"), self.client("shared", device="dev-b")
        one, two = os.urandom(2 * WINDOW), os.urandom(2 * WINDOW)
        ra, rb = self.put_request(a, "same.bin", one), self.put_request(b, "same.bin", two)
        self.put_offset(a, ra)
        self.put_offset(b, rb)
        results = {}

        def run(c, rid, content, key):
            try:
                self.send_all(c, rid, content)
                f = c.recv_frame()
                while f.type == CREDIT:
                    f = c.recv_frame()
                results[key] = f.type if f.type != 0x7F else error_of(f)[0]
            except Exception as e:  # noqa: BLE001 - reported below
                results[key] = repr(e)
        threads = [threading.Thread(target=run, args=(a, ra, one, "a")),
                   threading.Thread(target=run, args=(b, rb, two, "b"))]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        self.assertEqual(sorted(map(str, results.values())), sorted([str(PUT_OK), str(E["EXISTS"])]),
                         results)
        with open(os.path.join(self.gw.dir, "shared-in", "same.bin"), "rb") as fh:
            self.assertIn(fh.read(), (one, two))  # one whole file, never a mix

    def test_ack_deletes_after_send_and_ping_meanwhile(self):
        c = self.client(device="TR0002")
        content = os.urandom(8 * WINDOW)
        os.makedirs(self.topda(device="TR0002"), exist_ok=True)
        with open(self.topda("report.pdf", device="TR0002"), "wb") as fh:
            fh.write(content)
        rid = c.send(GET, wstr("report.pdf") + struct.pack(">Q", 0))
        first = c.expect(DATA, rid)
        # A PING between the download's frames.
        pid = c.send(PING, b"mid")
        got, pong = len(first.payload), None
        c.credit(rid, len(first.payload))
        while True:
            f = c.recv_frame()
            if (f.type, f.id) == (PONG, pid):
                pong = got
                continue
            if f.type == DATA:
                got += len(f.payload)
                if f.payload:
                    c.credit(rid, len(f.payload))
                continue
            self.assertEqual(f.type, GET_OK)
            break
        self.assertIsNotNone(pong)
        self.assertLess(pong, len(content), "the PONG waited for the whole download")
        rid = c.send(ACK, wstr("report.pdf") + sha(b"not it"))
        c.expect_error(E["HASH_MISMATCH"], rid)
        rid = c.send(ACK, wstr("report.pdf") + sha(content))
        f = c.expect(ACK_OK, rid)
        self.assertEqual(f.payload, b"\x01")
        self.assertFalse(os.path.exists(self.topda("report.pdf", device="TR0002")))

    def test_ack_never_deletes_a_file_replaced_meanwhile(self):
        # The office side replaces the file (rename over it) while the ACK of
        # the old one runs, at different moments: whatever the order, the new
        # file survives; the ACK either deleted the old one before the new one
        # came (ACK_OK) or saw the new one (HASH_MISMATCH).
        c = self.client(device="TR0003")
        folder = self.topda(device="TR0003")
        os.makedirs(folder, exist_ok=True)
        old = os.urandom(1 << 20) * 48  # 48 MiB: its hash takes a while
        for delay in (0, 0.005, 0.02, 0.05, 0.1):
            target = os.path.join(folder, "plan.pdf")
            with open(target, "wb") as fh:
                fh.write(old)
            new = b"new plan %f" % delay
            with open(target + ".tmp", "wb") as fh:
                fh.write(new)
            rid = c.send(ACK, wstr("plan.pdf") + sha(old))
            time.sleep(delay)
            os.rename(target + ".tmp", target)
            f = c.recv_frame(timeout=30)
            self.assertEqual(f.id, rid)
            if f.type == 0x7F:
                self.assertEqual(error_of(f)[0], E["HASH_MISMATCH"], error_of(f))
            else:
                self.assertEqual((f.type, f.payload), (ACK_OK, b"\x01"))
            with open(target, "rb") as fh:
                self.assertEqual(fh.read(), new, "delay %s" % delay)
            os.unlink(target)

    def test_quota_counts_uploads_in_progress(self):
        c = self.client(device="TRQ")
        a = os.urandom(120 * 1048576 // 2)  # 60 MiB each: one fits the 200 MiB quota with room,
        rid_a = self.put_request(c, "a.bin", a, size=60 * 1048576)
        self.put_offset(c, rid_a)
        # ... but three more in flight at once do not.
        rids = [self.put_request(c, "n%d.bin" % i, b"", size=60 * 1048576, declared=sha(b"%d" % i))
                for i in range(3)]
        results = []
        for rid in rids:
            f = c.recv_frame()
            while f.type == CREDIT:
                f = c.recv_frame()
            results.append(error_of(f)[0] if f.type == 0x7F else f.type)
        self.assertIn(E["QUOTA"], results, results)
        self.assertEqual(results.count(PUT_OFFSET), 2, results)

    def test_planted_link_in_place_of_a_device_folder(self):
        # Someone with shell access replaces a device's folder by a link to a
        # folder outside: uploads, listings and downloads refuse to follow it.
        outside = os.path.join(self.gw.dir, "planted-outside")
        os.makedirs(os.path.join(outside, "ToPDA"))
        with open(os.path.join(outside, "ToPDA", "secret.txt"), "wb") as fh:
            fh.write(b"not for devices")
        dev_dir = os.path.join(self.data, "psdmobile", "TR0099")
        os.makedirs(os.path.dirname(dev_dir), exist_ok=True)
        os.symlink(outside, dev_dir)
        c = self.client(device="TR0099")
        content = b"payload"
        rid = self.put_request(c, "x.bin", content)
        code, msg = error_of(c.recv_frame())
        self.assertEqual(code, E["BAD_NAME"], msg)
        body, err = self.get(c, "secret.txt")
        self.assertIsNone(body)
        self.assertIn(err[0], (E["BAD_NAME"], E["NOT_FOUND"]), err)
        rid = c.send(LIST, b"\x01" + wstr(""))
        f = c.recv_frame()
        self.assertEqual(f.id, rid)
        self.assertEqual(f.type, 0x7F, f.payload)  # never the outside folder's listing
        self.assertEqual(sorted(os.listdir(outside)), ["ToPDA"])  # no ToPC created there
        self.assertEqual(os.listdir(os.path.join(outside, "ToPDA")), ["secret.txt"])

    def test_device_id_must_be_a_folder_name(self):
        c = StreamClient(self.ports["psdmobile"])
        self.addCleanup(c.close)
        for bad in ("../TR", "a/b", "CON", ".", "", "ab\u2028c"):
            rid, f = c.hello2(self.gw.password, device=bad)
            self.assertEqual((f.type, error_of(f)[0]), (0x7F, E["BAD_NAME"]), bad)
        rid, f = c.hello2(self.gw.password, device="TR0003")
        self.assertEqual(f.type, HELLO_OK)

    def test_files_changed_notice(self):
        c = self.client(device="TR0005", notices=True)
        self.gw.wait_log(r"event=files_watch folder=\S+TR0005/ToPDA")
        t0 = time.monotonic()
        with open(self.topda("new-order.pdf", device="TR0005"), "wb") as fh:
            fh.write(b"x" * 100000)
        f = c.recv_frame(timeout=5)
        took = time.monotonic() - t0
        self.assertEqual((f.type, f.id), (0x13, 0), f)  # NOTICE, request id 0
        self.assertEqual(struct.unpack(">H", f.payload[:2])[0], 2)  # FILES_CHANGED
        self.assertLess(took, 1.5)
        # A second device is not told about the first one's folder.
        other = self.client(device="TR0006", notices=True)
        self.gw.wait_log(r"event=files_watch folder=\S+TR0006/ToPDA")
        with open(self.topda("again.pdf", device="TR0005"), "wb") as fh:
            fh.write(b"y")
        self.assertEqual(c.recv_frame(timeout=5).type, 0x13)
        self.assertEqual(other.nothing_within(0.6), [])

    def test_files_changed_in_subfolders_and_a_recreated_folder(self):
        dev = "TR0008"
        c = self.client(device=dev, notices=True)
        self.gw.wait_log(r"event=files_watch folder=\S+%s/ToPDA folders=1\b" % dev)

        def notice_within(seconds):
            f = c.recv_frame(timeout=seconds)
            self.assertEqual((f.type, f.id, f.payload[:2]), (0x13, 0, b"\x00\x02"), f)
            c.nothing_within(0.4)  # the rest of the same burst, if any

        os.makedirs(self.topda("orders", device=dev))
        notice_within(1.5)
        self.gw.wait_log(r"event=files_watch folder=\S+%s/ToPDA folders=2\b" % dev)
        with open(self.topda("orders", "o1.pdf", device=dev), "wb") as fh:
            fh.write(b"z" * 1000)
        t0 = time.monotonic()
        notice_within(5)
        self.assertLess(time.monotonic() - t0, 1.5)  # a file in a subfolder
        # The office side removes the whole send folder, then makes it again
        # with files in it: the devices hear of both.
        shutil.rmtree(self.topda(device=dev))
        notice_within(1.5)
        os.makedirs(self.topda("later", "deep", device=dev))
        with open(self.topda("later", "deep", "o2.pdf", device=dev), "wb") as fh:
            fh.write(b"w")
        notice_within(8)  # the folder is looked for again every 5 s
        self.gw.wait_log(r"event=files_watch folder=\S+%s/ToPDA folders=3\b" % dev)
        with open(self.topda("later", "deep", "o3.pdf", device=dev), "wb") as fh:
            fh.write(b"v")
        t0 = time.monotonic()
        notice_within(5)
        self.assertLess(time.monotonic() - t0, 1.5)

    def test_miscli_watch(self):
        import subprocess
        pwfile = os.path.join(self.gw.dir, "client.password")
        with open(pwfile, "w") as fh:
            fh.write(self.gw.password + "\n")
        from harness import MISCLI
        p = subprocess.Popen([MISCLI, "--port", str(self.ports["psdmobile"]), "--fingerprint",
                              self.gw.fingerprint(), "--password-file", pwfile, "--device",
                              "TR0007", "watch", "--count", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.gw.wait_log(r"event=files_watch folder=\S+TR0007/ToPDA")
            with open(self.topda("plan.pdf", device="TR0007"), "wb") as fh:
                fh.write(b"z")
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("files_changed: files changed in the send folder", out)

    def test_miscli_put_get_ls(self):
        src = os.path.join(self.gw.dir, "photo.jpg")
        content = os.urandom(5 * WINDOW + 3)
        with open(src, "wb") as fh:
            fh.write(content)
        r = self.gw.miscli("--device", "TR0004", "put", src, "--as", "photos/p.jpg")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.topc("photos", "p.jpg", device="TR0004"), "rb") as fh:
            self.assertEqual(fh.read(), content)
        os.makedirs(self.topda(device="TR0004"), exist_ok=True)
        with open(self.topda("manual.pdf", device="TR0004"), "wb") as fh:
            fh.write(content)
        r = self.gw.miscli("--device", "TR0004", "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(hashlib.sha256(content).hexdigest() + "  manual.pdf", r.stdout)
        out = os.path.join(self.gw.dir, "manual.pdf")
        r = self.gw.miscli("--device", "TR0004", "get", "manual.pdf", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as fh:
            self.assertEqual(fh.read(), content)
        self.assertFalse(os.path.exists(out + ".part"))
        # A partial copy longer than the server's file: started again from 0.
        with open(out + ".part", "wb") as fh:
            fh.write(os.urandom(len(content) + 1000))
        os.unlink(out)
        r = self.gw.miscli("--device", "TR0004", "get", "manual.pdf", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as fh:
            self.assertEqual(fh.read(), content)
        r = self.gw.miscli("--device", "TR0004", "get", "missing.pdf", "-o", out + "2")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOT_FOUND", r.stderr)


if __name__ == "__main__":
    unittest.main()


class PartialExpiryTest(unittest.TestCase):
    def test_abandoned_partials_are_removed_fresh_ones_kept(self):
        gw = Gateway(conns=[{"name": "psdmobile", "receive_files": "on",
                             "partial_expiry": 86400}], start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        staging = os.path.join(gw.dir, "data", "psdmobile", "TR9", "ToPC", ".miscomm-partial")
        os.makedirs(staging)
        old, fresh = os.path.join(staging, "a" * 32 + ".part"), os.path.join(staging, "b" * 32 + ".part")
        for p in (old, fresh):
            with open(p, "wb") as fh:
                fh.write(b"x" * 1000)
        two_days_ago = time.time() - 2 * 86400
        os.utime(old, (two_days_ago, two_days_ago))
        # A link planted in place of a device's folder, to a folder outside
        # with an old partial: the sweep must not follow it.
        outside = os.path.join(gw.dir, "outside")
        os.makedirs(os.path.join(outside, "ToPC", ".miscomm-partial"))
        bait = os.path.join(outside, "ToPC", ".miscomm-partial", "c" * 32 + ".part")
        with open(bait, "wb") as fh:
            fh.write(b"y" * 10)
        os.utime(bait, (two_days_ago, two_days_ago))
        os.symlink(outside, os.path.join(gw.dir, "data", "psdmobile", "TR8"))
        gw.start()
        gw.wait_log(r"event=partial_expired connection=psdmobile folder=\S+TR9/ToPC file=a{32}\.part "
                    r"bytes=1000 age_s=\d+ partial_expiry_s=86400")
        # The sweep went over both device folders (TR8's link fails to open).
        gw.wait_log(r"event=partial_sweep connection=psdmobile devices=2 removed=1")
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(fresh))
        self.assertTrue(os.path.exists(bait))
        with open(gw.log_path) as fh:
            self.assertNotIn("c" * 32, fh.read())
        gw.stop()


    def test_an_upload_in_progress_is_never_swept(self):
        gw = Gateway(conns=[{"name": "psdmobile", "receive_files": "on",
                             "partial_expiry": 60}])
        self.addCleanup(gw.__exit__, None, None, None)
        c = QuietClient(gw.port)
        self.addCleanup(c.close)
        self.assertEqual(c.hello2(gw.password, device="TR7")[1].type, HELLO_OK)
        content = os.urandom(WINDOW + 100)
        rid = c.send(PUT, wstr("busy.bin") + struct.pack(">Q", len(content)) + sha(content))
        f = c.expect(PUT_OFFSET, rid)
        part = os.path.join(gw.dir, "data", "psdmobile", "TR7", "ToPC", ".miscomm-partial",
                            f.payload[:16].hex() + ".part")
        c.data(rid, content[:WINDOW])
        c.expect(CREDIT, rid)  # written
        # The partial looks abandoned (untouched for an hour) while its upload
        # is still open; a reload runs the sweep.
        an_hour_ago = time.time() - 3600
        os.utime(part, (an_hour_ago, an_hour_ago))
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"event=partial_sweep connection=psdmobile devices=1 removed=0")
        self.assertTrue(os.path.exists(part))
        c.data(rid, content[WINDOW:], end=True)
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(os.path.join(gw.dir, "data", "psdmobile", "TR7", "ToPC", "busy.bin"), "rb") as fh:
            self.assertEqual(fh.read(), content)


class FullDiskTest(unittest.TestCase):
    """ENOSPC on a small tmpfs: a clear error, the bytes received kept, other
    connections unaffected, and the upload resumes once there is room."""

    def setUp(self):
        import subprocess
        self.mnt = tempfile_dir = os.path.join("/tmp", "miscomm-enospc-%d" % os.getpid())
        os.makedirs(tempfile_dir, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        # The tests run as root (CI does): a failed mount is a failed test, not a skip.
        self.assertEqual(r.returncode, 0, "cannot mount a tmpfs: %s" % r.stderr)
        self.addCleanup(lambda: subprocess.run(["umount", "-l", self.mnt]))

    def test_full_disk_then_resume(self):
        import subprocess
        gw = Gateway(conns=[{"name": "psdmobile", "receive_files": "on",
                             "receive_files_dir": self.mnt + "/{device}/ToPC"}])
        self.addCleanup(gw.__exit__, None, None, None)
        c = QuietClient(gw.port)
        self.addCleanup(c.close)
        c.hello2(gw.password, device="TR1")
        content = os.urandom(5 * WINDOW)
        rid = c.send(PUT, wstr("big.bin") + struct.pack(">Q", len(content)) + sha(content))
        f = c.expect(PUT_OFFSET, rid)
        upload = f.payload[:16].hex()
        off, credit, err = 0, WINDOW, None
        while off < len(content) and err is None:
            n = min(65536, credit, len(content) - off)
            if n:
                c.data(rid, content[off:off + n], end=off + n == len(content))
                off += n
                credit -= n
            if credit == 0 or off == len(content):
                f = c.recv_frame(timeout=20)
                if f.type == CREDIT:
                    credit += struct.unpack(">I", f.payload)[0]
                elif f.type == 0x7F:
                    err = error_of(f)
        if err is None:
            f = c.recv_frame(timeout=20)
            while f.type == CREDIT:
                f = c.recv_frame(timeout=20)
            err = error_of(f) if f.type == 0x7F else f
        self.assertEqual(err[0], E["NO_SPACE"], err)
        self.assertIn("kept for a resume", err[1])
        part = os.path.join(self.mnt, "TR1", "ToPC", ".miscomm-partial", upload + ".part")
        kept = os.path.getsize(part)
        self.assertGreater(kept, 0)
        gw.wait_log(r"event=transfer direction=upload name=\"big.bin\".* result=NO_SPACE")
        # The same connection, and others, still work.
        pid = c.send(PING, b"ok")
        self.assertEqual(c.expect(PONG, pid, skip=(CREDIT,)).id, pid)
        # Room again: the upload resumes from what was kept.
        r = subprocess.run(["mount", "-o", "remount,size=16m", self.mnt], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        rid = c.send(PUT, wstr("big.bin") + struct.pack(">Q", len(content)) + sha(content))
        f = c.expect(PUT_OFFSET, rid, skip=(CREDIT,))
        resumed = struct.unpack(">Q", f.payload[16:])[0]
        self.assertEqual(resumed, kept)
        credit, off = WINDOW, resumed
        while True:
            n = min(65536, credit, len(content) - off)
            last = off + n == len(content)
            c.data(rid, content[off:off + n], end=last)
            off += n
            credit -= n
            if last:
                break
            if credit == 0:
                f = c.expect(CREDIT, rid)
                credit += struct.unpack(">I", f.payload)[0]
        c.expect(PUT_OK, rid, skip=(CREDIT,))
        with open(os.path.join(self.mnt, "TR1", "ToPC", "big.bin"), "rb") as fh:
            self.assertEqual(fh.read(), content)
        gw.stop()


class LargeTransferTest(unittest.TestCase):
    def test_one_gib_each_way_with_flat_rss(self):
        small_asan_quarantine()
        gw = Gateway(conns=[{"name": "psdmobile", "send_files": "on", "receive_files": "on"}])
        self.addCleanup(gw.__exit__, None, None, None)
        src = os.path.join(gw.dir, "big.bin")
        block = os.urandom(1 << 20)
        want = hashlib.sha256()
        with open(src, "wb") as fh:
            for _ in range(1024):
                fh.write(block)
                want.update(block)
        pid = gw.proc.pid

        def rss():
            return proc_status_kib(pid)
        peak = [0]
        stop = threading.Event()

        def sample():
            # Not while a login is checked: its Argon2id hash takes 64 MiB for a
            # moment, which is not what a transfer costs (debug lines mark it).
            while not stop.is_set():
                log = gw.log()
                checking = log.count("event=state from=hello to=auth") - \
                    log.count("event=state from=auth to=")
                if checking == 0:
                    peak[0] = max(peak[0], rss())
                time.sleep(0.02)

        t = threading.Thread(target=sample)
        t.start()
        try:
            r = gw.miscli("--device", "TRBIG", "put", src, "--as", "big.bin", timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            os.unlink(src)  # at most 2 GiB on disk at a time
            landed = os.path.join(gw.dir, "data", "psdmobile", "TRBIG", "ToPC", "big.bin")
            topda = os.path.join(gw.dir, "data", "psdmobile", "TRBIG", "ToPDA")
            os.makedirs(topda, exist_ok=True)
            os.rename(landed, os.path.join(topda, "big.bin"))
            out = os.path.join(gw.dir, "back.bin")
            r = gw.miscli("--device", "TRBIG", "get", "big.bin", "-o", out, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            stop.set()
            t.join()
        self.assertEqual(os.path.getsize(out), 1 << 30)
        got = hashlib.sha256()
        with open(out, "rb") as b:
            for chunk in iter(lambda: b.read(1 << 20), b""):
                got.update(chunk)
        self.assertEqual(got.digest(), want.digest())
        for p in (out, os.path.join(topda, "big.bin")):
            os.unlink(p)  # 2 GiB: not left for the rest of the run
        # Bounded memory whatever the file's size: under the 32 MiB
        # (measured here: 16 MiB, 24 MiB under the sanitizers).
        print("peak RSS during the transfers %d KiB" % peak[0])
        self.assertGreater(peak[0], 0, "no sample taken")
        self.assertLess(peak[0], 32 * 1024, "peak RSS %d KiB" % peak[0])
        gw.stop()


class CompressionTest(unittest.TestCase):
    """zstd DATA (protocol.md 5.14): only when the connection's level is above 0
    and the client offered it; frames that do not shrink (random data, photos)
    go as they are; the bytes arrive unchanged both ways."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(conns=[
            {"name": "zstd", "send_files": "on", "receive_files": "on", "compression": 3},
            {"name": "plain", "send_files": "on", "receive_files": "on"}])
        cls.ports = {c["name"]: c["port"] for c in cls.gw.conns}

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()

    def folder(self, conn, device, which):
        return os.path.join(self.gw.dir, "data", conn, device, which)

    def hello(self, conn, features):
        from streams_client import hello_payload2
        c = QuietClient(self.ports[conn])
        self.addCleanup(c.close)
        rid = c.send(0x01, hello_payload2(self.gw.password, device="Z1")
                     + (struct.pack(">I", features) if features is not None else b""))
        f = c.recv_frame()
        self.assertEqual(f.type, HELLO_OK, f)
        return c, f.payload[-1]  # the compression level agreed (last byte in version 2)

    def fetch_frames(self, c, name):
        rid = c.send(GET, wstr(name) + struct.pack(">Q", 0))
        frames = []
        while True:
            f = c.recv_frame()
            if f.type == DATA:
                frames.append(f)
                c.credit(rid, WINDOW)
                continue
            self.assertEqual(f.type, GET_OK, error_of(f) if f.type == 0x7F else f)
            return frames

    def test_negotiation_and_wire_frames(self):
        import subprocess
        text = b"".join(b"intervention %06d: replaced the printer's fuser unit\n" % i
                        for i in range(40000))
        noise = os.urandom(len(text))
        os.makedirs(self.folder("zstd", "Z1", "ToPDA"), exist_ok=True)
        for name, body in (("report.txt", text), ("photo.jpg", noise)):
            with open(os.path.join(self.folder("zstd", "Z1", "ToPDA"), name), "wb") as fh:
                fh.write(body)
        # Offered and configured: level 3. Not offered, or not configured: 0.
        c, level = self.hello("zstd", 1)
        self.assertEqual(level, 3)
        self.assertEqual(self.hello("zstd", None)[1], 0)
        self.assertEqual(self.hello("plain", 1)[1], 0)
        frames = self.fetch_frames(c, "report.txt")
        packed = [f for f in frames if f.flags & 0x0002]
        self.assertTrue(packed, "no compressed frame for text")
        wire = sum(len(f.payload) for f in frames)
        self.assertLess(wire, len(text) // 4)
        body = b""
        for f in frames:
            if f.flags & 0x0002:
                r = subprocess.run(["zstd", "-d", "-c"], input=f.payload, capture_output=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                body += r.stdout
            else:
                body += f.payload
        self.assertEqual(body, text)
        # Random bytes do not shrink: sent as they are.
        frames = self.fetch_frames(c, "photo.jpg")
        self.assertFalse([f for f in frames if f.flags & 0x0002])
        self.assertEqual(b"".join(f.payload for f in frames), noise)
        # Compressed DATA where it was not agreed: the stream is refused.
        p, level = self.hello("plain", None)
        z = subprocess.run(["zstd", "-c", "-q"], input=b"a" * 10000, capture_output=True).stdout
        rid = p.send(PUT, wstr("z.bin") + struct.pack(">Q", 10000) + sha(b"a" * 10000))
        p.expect(PUT_OFFSET, rid)
        p.sock.sendall(struct.pack(">BBHII", 1, DATA, 0x0003, rid, len(z)) + z)
        msg = p.expect_error(E["BAD_PAYLOAD"], rid, skip=(CREDIT,))
        self.assertIn("compression was not agreed", msg)

    def test_round_trip_through_the_client_library(self):
        text = b"".join(b"line %d of a long service report\n" % i for i in range(200000))
        src = os.path.join(self.gw.dir, "report-up.txt")
        with open(src, "wb") as fh:
            fh.write(text)
        for conn in ("zstd", "plain"):
            pwfile = os.path.join(self.gw.dir, "pw")
            with open(pwfile, "w") as fh:
                fh.write(self.gw.password + "\n")
            import subprocess
            from harness import MISCLI
            base = [MISCLI, "--port", str(self.ports[conn]), "--fingerprint",
                    self.gw.fingerprint(), "--password-file", pwfile, "--device", "Z2"]
            r = subprocess.run(base + ["put", src], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            landed = os.path.join(self.folder(conn, "Z2", "ToPC"), "report-up.txt")
            with open(landed, "rb") as fh:
                self.assertEqual(fh.read(), text)
            os.makedirs(self.folder(conn, "Z2", "ToPDA"), exist_ok=True)
            os.rename(landed, os.path.join(self.folder(conn, "Z2", "ToPDA"), "back.txt"))
            out = os.path.join(self.gw.dir, "back-%s.txt" % conn)
            r = subprocess.run(base + ["get", "back.txt", "-o", out], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as fh:
                self.assertEqual(fh.read(), text)


class RelativeConfigTest(unittest.TestCase):
    def test_relative_config_path_gives_absolute_folders(self):
        # `make run` starts miscommd -c conf/miscomm.ini: the folders must not
        # depend on the directory the daemon runs from.
        import subprocess
        from harness import MISCOMMD
        gw = Gateway(conns=[{"name": "psdmobile", "receive_files": "on"}], start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        gw.logf = open(gw.log_path, "ab")
        gw.proc = subprocess.Popen([MISCOMMD, "-c", "miscomm.ini"], cwd=gw.dir, stdout=gw.logf,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        gw.wait_log(r"event=ready")
        src = os.path.join(gw.dir, "note.txt")
        with open(src, "w") as fh:
            fh.write("hello\n")
        r = gw.miscli("--device", "TRREL", "put", src)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(gw.dir, "data", "psdmobile", "TRREL", "ToPC",
                                                    "note.txt")))
        gw.stop()
