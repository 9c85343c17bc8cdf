"""docs/protocol.md checked against the real server.

The client in this file is written from docs/protocol.md alone, the way an
outside developer would write one: its own frame encoder and decoder, its
own TLS set-up with certificate pinning. harness.Gateway is used only to
start and stop miscommd; nothing else from the harness (and nothing from
the C sources except the error table, which is compared with the document).
"""
import hashlib
import os
import re
import socket
import ssl
import struct
import time
import unittest

from harness import Gateway

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(ROOT, "docs", "protocol.md")
ERROR_H = os.path.join(ROOT, "include", "miscomm", "error.h")

# -- constants, as docs/protocol.md states them ------------------------------
FRAME_VERSION = 1
HEADER = struct.Struct(">BBHII")  # version u8, type u8, flags u16, request id u32, length u32
MAX_PAYLOAD = 1048576
T_HELLO, T_HELLO_OK, T_PING, T_PONG, T_NOOP, T_BYE, T_ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x7F
T_INFO, T_INFO_OK, T_DATA, T_CREDIT, T_CANCEL, T_NOTICE = 0x07, 0x08, 0x10, 0x11, 0x12, 0x13
T_ECHO, T_ECHO_OK = 0x20, 0x21
T_LIST, T_LIST_OK, T_GET, T_GET_OK, T_ACK, T_ACK_OK = 0x30, 0x31, 0x32, 0x33, 0x34, 0x35
T_PUT, T_PUT_OFFSET, T_PUT_OK = 0x36, 0x37, 0x38
T_ODBC_OPEN, T_ODBC_OPEN_OK, T_QUERY, T_QUERY_COLUMNS, T_QUERY_OK = 0x40, 0x41, 0x42, 0x43, 0x44
T_EXEC, T_EXEC_OK, T_TX, T_TX_OK, T_ODBC_CLOSE, T_ODBC_CLOSE_OK = 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A
T_SYNC_PULL, T_SYNC_COLUMNS, T_SYNC_PULL_OK, T_SYNC_PUSH, T_SYNC_PUSH_OK = 0x50, 0x51, 0x52, 0x53, 0x54
FLAG_END = 0x0001
STREAM_WINDOW = 1048576
PERM_PING, PERM_SYNC, PERM_SEND_FILES, PERM_RECEIVE_FILES, PERM_ODBC = 1, 2, 4, 8, 16
E_INTERNAL, E_BAD_FRAME, E_BAD_VERSION, E_FRAME_TOO_LARGE, E_BAD_TYPE = 1, 10, 11, 12, 13
E_UNEXPECTED, E_PROTO_VERSION, E_BAD_PAYLOAD, E_AUTH, E_TOO_MANY_TRIES = 14, 15, 16, 20, 21
E_PERMISSION, E_TIMEOUT = 22, 24
E_CANCELLED, E_FLOW_CONTROL = 27, 28

IDLE_TIMEOUT = 120
HANDSHAKE_TIMEOUT = 3


# -- encoding ---------------------------------------------------------------
def enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def frame(mtype, rid, payload=b"", version=FRAME_VERSION, flags=0, length=None):
    n = len(payload) if length is None else length
    return HEADER.pack(version, mtype, flags, rid, n) + payload


def hello_payload(password, vmin=1, vmax=1, name="doc-client", version="1.0", device="dev-42"):
    return (struct.pack(">HH", vmin, vmax) + enc_str(name) + enc_str(version) + enc_str(device)
            + enc_str(password))


class Reader:
    """Decode the payload fields in order; fail on a short payload."""

    def __init__(self, data):
        self.data, self.off = data, 0

    def take(self, n):
        if self.off + n > len(self.data):
            raise AssertionError("payload too short: need %d bytes at %d of %d"
                                 % (n, self.off, len(self.data)))
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def str(self):
        b = self.take(self.u16())
        if b"\0" in b:
            raise AssertionError("NUL byte in a string")
        return b.decode("utf-8")

    def done(self):
        return self.off == len(self.data)


def decode_hello_ok(p):
    r = Reader(p)
    out = {"version": r.u16(), "server_name": r.str(), "server_version": r.str(),
           "session_id": r.take(16), "permissions": r.u32(), "max_payload": r.u32(),
           "idle_timeout": r.u32(), "connection": r.str()}
    out["complete"] = r.done()
    return out


def decode_error(p):
    r = Reader(p)
    code, msg = r.u16(), r.str()
    if not r.done():
        raise AssertionError("trailing bytes in ERROR payload")
    return code, msg


# -- DER: find the SubjectPublicKeyInfo in a certificate --------------------------
def der_tlv(buf, off):
    """(tag, header length, content length) of the DER element at off."""
    tag, n = buf[off], buf[off + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(buf[off + 2:off + 2 + k], "big")


def der_spki(cert):
    _, h, _ = der_tlv(cert, 0)           # Certificate SEQUENCE
    off = h
    _, h, _ = der_tlv(cert, off)         # tbsCertificate SEQUENCE
    off += h
    fields = []
    while len(fields) < 7:
        tag, h, n = der_tlv(cert, off)
        fields.append((tag, cert[off:off + h + n]))
        off += h + n
    if fields[0][0] != 0xA0:             # version is optional ([0] EXPLICIT)
        fields.insert(0, (0xA0, b""))
    # version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    return fields[6][1]


# -- a client written from the document ---------------------------------------
class DocClient:
    def __init__(self, port, fingerprint=None, tls=True, timeout=10):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            # Self-signed certificate: no CA check, the pin below replaces it.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.raw)
            self.der = self.sock.getpeercert(binary_form=True)
            if fingerprint is not None:
                want = fingerprint.replace(":", "").lower()
                got = hashlib.sha256(self.der).hexdigest()
                if got != want:
                    self.close()
                    raise AssertionError("certificate pin mismatch: %s != %s" % (got, want))
        else:
            self.sock = self.raw
            self.der = None
        self.buf = b""
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def new_id(self):
        rid = self.next_id
        self.next_id += 1
        return rid

    def send(self, mtype, payload=b"", rid=None):
        rid = self.new_id() if rid is None else rid
        self.sock.sendall(frame(mtype, rid, payload))
        return rid

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("end of stream after %d of %d bytes" % (len(self.buf), n))
            self.buf += chunk

    def recv(self, with_flags=False):
        """One frame: (type, request id, payload[, flags]). Checks version and flags."""
        self._fill(HEADER.size)
        version, mtype, flags, rid, n = HEADER.unpack(self.buf[:HEADER.size])
        if version != 1 or flags not in (0, FLAG_END) or (flags and mtype != T_DATA):
            raise AssertionError("server frame with version %d flags %d" % (version, flags))
        if n > MAX_PAYLOAD:
            raise AssertionError("server frame of %d bytes" % n)
        self._fill(HEADER.size + n)
        payload = self.buf[HEADER.size:HEADER.size + n]
        self.buf = self.buf[HEADER.size + n:]
        return (mtype, rid, payload, flags) if with_flags else (mtype, rid, payload)

    def request(self, mtype, payload=b""):
        rid = self.send(mtype, payload)
        return (rid,) + self.recv()

    def expect_error(self, testcase, code, rid):
        mtype, got_rid, p = self.recv()
        testcase.assertEqual(mtype, T_ERROR, "expected ERROR, got type 0x%02x %r" % (mtype, p))
        got_code, msg = decode_error(p)
        testcase.assertEqual((got_code, got_rid), (code, rid), msg)
        return msg

    def at_eof(self, timeout=5):
        """True if the server closes the connection (clean EOF or reset) within timeout."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096) == b""
        except socket.timeout:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            return True

    def login(self, testcase, password, vmax=1):
        rid, mtype, rrid, p = self.request(T_HELLO, hello_payload(password, vmax=vmax))
        testcase.assertEqual((mtype, rrid), (T_HELLO_OK, rid),
                             decode_error(p) if mtype == T_ERROR else p)
        return decode_hello_ok(p)


# -- the document's own tables and examples -------------------------------------------
def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def doc_error_table():
    """{code: (name, message)} from the table in section 6 of the document."""
    text = doc_text()
    section = text[text.index("## 6. Errors"):text.index("## 7.")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            code = int(cells[0])
            if code in rows:
                raise AssertionError("code %d twice in the document" % code)
            rows[code] = (cells[1].strip("`"), cells[2].strip("`"))
    return rows


def header_error_table():
    with open(ERROR_H, encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for name, code, msg in re.findall(r'X\(\s*(\w+)\s*,\s*(\d+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)', text):
        rows[int(code)] = (name, msg)
    return rows


def doc_example_bytes(heading, arrow):
    """The bytes of the first frame after `arrow` in the code block under heading."""
    text = doc_text()
    block = text[text.index(heading):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    out, on = [], False
    for line in block.splitlines():
        s = line.strip()
        if s.startswith(("→", "←")):
            if on:
                break
            on = s.startswith(arrow)
            s = s[1:].strip()
        if not on:
            continue
        for tok in s.split():
            if re.fullmatch(r"[0-9a-f]{2}", tok):
                out.append(int(tok, 16))
            else:
                break
    return bytes(out)


class ProtocolDocTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(
            conns=[
                {"name": "psdmobile", "timeout": IDLE_TIMEOUT, "sync": "on", "odbc": "on"},
                {"name": "noping", "ping": "off", "receive_files": "on"},
                {"name": "strict", "tries": 1},
                {"name": "demo", "password": "open-sesame"},
                {"name": "plain", "encryption": "none", "bind": "127.0.0.1"},
                {"name": "short-idle", "timeout": 1},
            ],
            server={"handshake_timeout": HANDSHAKE_TIMEOUT})
        cls.ports = {c["name"]: c["port"] for c in cls.gw.conns}
        cls.fp = cls.gw.fingerprint()

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()

    def client(self, name="psdmobile", **kw):
        return DocClient(self.ports[name], self.fp, **kw)

    # -- section 1: TLS and pinning -------------------------------------------
    def test_certificate_pins(self):
        with self.client() as c:
            self.assertEqual(hashlib.sha256(c.der).hexdigest(),
                             self.fp.replace(":", "").lower())
            m = re.search(r"event=certificate file=\S+ sha256=\S+ spki_sha256=(\S+)", self.gw.log())
            self.assertIsNotNone(m, "the server does not log spki_sha256")
            self.assertEqual(hashlib.sha256(der_spki(c.der)).hexdigest(),
                             m.group(1).replace(":", "").lower())
        self.assertRegex(self.fp, r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        with self.assertRaises(AssertionError):
            DocClient(self.ports["psdmobile"], "00" * 32)

    def test_tls_versions(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            ctx.minimum_version = ctx.maximum_version = v
            with socket.create_connection(("127.0.0.1", self.ports["psdmobile"]), timeout=10) as raw:
                with ctx.wrap_socket(raw) as s:
                    s.sendall(frame(T_NOOP, 7))
                    self.assertEqual(s.recv(64), frame(T_NOOP, 7))

    # -- HELLO / HELLO_OK --------------------------------------------------------
    def test_hello_ok_fields(self):
        with self.client() as c:
            ok = c.login(self, self.gw.password)
            self.assertEqual(ok["version"], 1)
            self.assertEqual(ok["server_name"], "miscommd")
            self.assertRegex(ok["server_version"], r"^\d+\.\d+\.\d+")
            self.assertEqual(len(ok["session_id"]), 16)
            self.assertNotEqual(ok["session_id"], bytes(16))
            self.assertEqual(ok["permissions"], PERM_PING | PERM_SYNC | PERM_ODBC)
            self.assertEqual(ok["max_payload"], 1048576)
            self.assertEqual(ok["idle_timeout"], IDLE_TIMEOUT)
            self.assertEqual(ok["connection"], "psdmobile")
            self.assertTrue(ok["complete"], "bytes after the connection name")
            sid = ok["session_id"].hex()
        self.gw.wait_log(r"event=hello result=OK connection=psdmobile .*session=%s perms=0x13" % sid)
        with self.client("noping") as c:
            ok = c.login(self, self.gw.password)
            self.assertEqual(ok["permissions"], PERM_RECEIVE_FILES)
            self.assertEqual(ok["idle_timeout"], 300)  # the documented default
            self.assertEqual(ok["connection"], "noping")
        with self.client() as c:
            ok2 = c.login(self, self.gw.password)
            self.assertNotEqual(ok2["session_id"].hex(), sid)

    def test_worked_example_bytes(self):
        """The exact HELLO and PING bytes of section 11 work against the server."""
        hello = doc_example_bytes("### 11.1 HELLO", "→")
        self.assertEqual(hello, frame(T_HELLO, 1, hello_payload(
            "open-sesame", name="demo", version="1.0", device="dev-1")))
        text = doc_text()
        one_line = re.search(r"As one hex string \(47 bytes\):\s*```\s*([0-9a-f]+)\s*```", text)
        self.assertIsNotNone(one_line)
        self.assertEqual(bytes.fromhex(one_line.group(1)), hello)
        ping = doc_example_bytes("### 11.3 PING / PONG", "→")
        self.assertEqual(ping, frame(T_PING, 2, b"abcd"))
        pong_doc = doc_example_bytes("PONG at server time", "←")
        self.assertEqual(len(pong_doc), 12 + 12)
        self.assertEqual(struct.unpack(">Q", pong_doc[12:20])[0], 1767225600123456)
        with self.client("demo") as c:
            c.sock.sendall(hello)
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid), (T_HELLO_OK, 1))
            self.assertEqual(decode_hello_ok(p)["connection"], "demo")
            c.sock.sendall(ping)
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid, len(p)), (T_PONG, 2, 12))
            self.assertEqual(p[8:], b"abcd")
            # The PONG header has the documented shape.
            self.assertEqual(frame(mtype, rid, p)[:12], pong_doc[:12])
        noop = doc_example_bytes("### 11.5 NOOP and BYE", "→")
        self.assertEqual(noop, frame(T_NOOP, 3))

    def test_plaintext_connection(self):
        with DocClient(self.ports["plain"], tls=False) as c:
            ok = c.login(self, self.gw.password)
            self.assertEqual(ok["connection"], "plain")
            rid, mtype, rrid, p = c.request(T_PING, b"plain")
            self.assertEqual((mtype, rrid, p[8:]), (T_PONG, rid, b"plain"))

    # -- PING / NOOP / BYE ----------------------------------------------------------
    def test_ping_pong(self):
        with self.client() as c:
            c.login(self, self.gw.password)
            for echo in (b"", b"x", bytes(range(256))):
                before = time.time()
                rid, mtype, rrid, p = c.request(T_PING, echo)
                after = time.time()
                self.assertEqual((mtype, rrid), (T_PONG, rid))
                self.assertEqual(len(p), 8 + len(echo))
                self.assertEqual(p[8:], echo)
                us = struct.unpack(">Q", p[:8])[0]
                self.assertGreaterEqual(us, int(before * 1e6) - 1_000_000)
                self.assertLessEqual(us, int(after * 1e6) + 1_000_000)
            # 257 echo bytes: BAD_PAYLOAD, connection stays usable.
            rid = c.send(T_PING, b"y" * 257)
            c.expect_error(self, E_BAD_PAYLOAD, rid)
            rid, mtype, rrid, p = c.request(T_NOOP)
            self.assertEqual((mtype, rrid, p), (T_NOOP, rid, b""))

    def test_noop(self):
        with self.client() as c:
            # NOOP is allowed before HELLO too.
            rid, mtype, rrid, p = c.request(T_NOOP)
            self.assertEqual((mtype, rrid, p), (T_NOOP, rid, b""))
            c.login(self, self.gw.password)
            rid, mtype, rrid, p = c.request(T_NOOP)
            self.assertEqual((mtype, rrid, p), (T_NOOP, rid, b""))

    def test_permission_denied(self):
        with self.client("noping") as c:
            c.login(self, self.gw.password)
            rid = c.send(T_PING, b"abcd")
            msg = c.expect_error(self, E_PERMISSION, rid)
            self.assertIn("'ping'", msg)
            rid, mtype, rrid, p = c.request(T_NOOP)
            self.assertEqual((mtype, rrid, p), (T_NOOP, rid, b""))
            rid = c.send(T_PING, b"again")
            c.expect_error(self, E_PERMISSION, rid)
        self.gw.wait_log(r"event=denied op=ping id=\d+ permission=ping connection=noping")

    def test_bye(self):
        with self.client() as c:
            c.login(self, self.gw.password)
            rid, mtype, rrid, p = c.request(T_BYE)
            self.assertEqual((mtype, rrid, p), (T_BYE, rid, b""))
            self.assertTrue(c.at_eof(), "no end of stream after BYE")
        with self.client() as c:  # BYE before HELLO is allowed too
            rid, mtype, rrid, p = c.request(T_BYE)
            self.assertEqual((mtype, rrid), (T_BYE, rid))
            self.assertTrue(c.at_eof())

    # -- pipelining ---------------------------------------------------------------
    def test_pipelining(self):
        with self.client() as c:
            c.login(self, self.gw.password)
            c.sock.sendall(frame(T_PING, 101, b"first") + frame(T_PING, 102, b"second")
                           + frame(T_NOOP, 103))
            got = [c.recv() for _ in range(3)]
            self.assertEqual([(t, r) for t, r, _ in got], [(T_PONG, 101), (T_PONG, 102), (T_NOOP, 103)])
            self.assertEqual(got[0][2][8:], b"first")
            self.assertEqual(got[1][2][8:], b"second")

    def test_pipelining_behind_hello(self):
        with self.client() as c:
            c.sock.sendall(frame(T_HELLO, 1, hello_payload(self.gw.password))
                           + frame(T_PING, 2, b"after-hello") + frame(T_NOOP, 3))
            self.assertEqual(c.recv()[:2], (T_HELLO_OK, 1))
            mtype, rid, p = c.recv()
            self.assertEqual((mtype, rid, p[8:]), (T_PONG, 2, b"after-hello"))
            self.assertEqual(c.recv()[:2], (T_NOOP, 3))

    # -- errors that keep the connection open ------------------------------------
    def test_unknown_type(self):
        with self.client() as c:
            rid = c.send(0x6E, b"whatever")
            c.expect_error(self, E_BAD_TYPE, rid)  # before HELLO
            c.login(self, self.gw.password)
            for t in (0x00, 0x6E, T_PONG, T_ERROR, T_QUERY_OK):
                rid = c.send(t, b"x")
                c.expect_error(self, E_BAD_TYPE, rid)
            # A payload of exactly the maximum size is accepted (and discarded).
            rid = c.send(0x6E, b"z" * MAX_PAYLOAD)
            c.expect_error(self, E_BAD_TYPE, rid)
            rid, mtype, rrid, p = c.request(T_PING, b"still here")
            self.assertEqual((mtype, rrid, p[8:]), (T_PONG, rid, b"still here"))

    def test_ping_before_hello(self):
        with self.client() as c:
            rid = c.send(T_PING, b"early")
            c.expect_error(self, E_UNEXPECTED, rid)
            c.login(self, self.gw.password)  # connection still usable
            rid = c.send(T_HELLO, hello_payload(self.gw.password))
            c.expect_error(self, E_UNEXPECTED, rid)  # HELLO after HELLO_OK
            rid, mtype, rrid, _ = c.request(T_NOOP)
            self.assertEqual((mtype, rrid), (T_NOOP, rid))

    def test_malformed_hello(self):
        with self.client() as c:
            good = hello_payload(self.gw.password)
            for bad in (good + b"\0",                                  # trailing byte
                        good[:-1],                                     # short
                        hello_payload(self.gw.password, name="a" * 65),  # name too long
                        hello_payload(self.gw.password, device="a\0b")):  # NUL in a string
                rid = c.send(T_HELLO, bad)
                c.expect_error(self, E_BAD_PAYLOAD, rid)
            ok = c.login(self, self.gw.password)  # not counted as failed logins
            self.assertEqual(ok["version"], 1)

    def test_version_negotiation(self):
        # The highest version in both ranges: 2 for a range containing 2, else 1.
        for vmin, vmax, want, extra in ((0, 7, 2, 7), (1, 2, 2, 7), (1, 1, 1, 0), (0, 1, 1, 0)):
            with self.client() as c:
                rid, mtype, rrid, p = c.request(T_HELLO,
                                                hello_payload(self.gw.password, vmin=vmin, vmax=vmax))
                self.assertEqual((mtype, rrid), (T_HELLO_OK, rid))
                ok = decode_hello_ok(p)
                self.assertEqual(ok["version"], want)
                # Version 2 appends stream_window (u32), max_streams (u16) and
                # compression (u8: 0, none was offered).
                r = Reader(p)
                r.take(len(p) - extra)
                if extra:
                    self.assertEqual((r.u32(), r.u16(), r.take(1)), (STREAM_WINDOW, 16, b"\0"))
                self.assertTrue(r.done())
        for vmin, vmax in ((3, 4), (1, 0)):
            with self.client() as c:
                rid = c.send(T_HELLO, hello_payload(self.gw.password, vmin=vmin, vmax=vmax))
                c.expect_error(self, E_PROTO_VERSION, rid)
                self.assertTrue(c.at_eof())

    # -- login failures -----------------------------------------------------------------
    def test_wrong_password(self):
        with self.client() as c:
            t0 = time.monotonic()
            rid = c.send(T_HELLO, hello_payload("wrong password"))
            msg = c.expect_error(self, E_AUTH, rid)
            self.assertGreaterEqual(time.monotonic() - t0, 0.25)
            self.assertIn("1 of 3", msg)
            t0 = time.monotonic()
            rid = c.send(T_HELLO, hello_payload("wrong again"))
            c.expect_error(self, E_AUTH, rid)
            self.assertGreaterEqual(time.monotonic() - t0, 0.5)
            # Back in state HELLO: PING is still refused, the right password works.
            rid = c.send(T_PING)
            c.expect_error(self, E_UNEXPECTED, rid)
            c.login(self, self.gw.password)

    def test_too_many_tries(self):
        with self.client("strict") as c:
            t0 = time.monotonic()
            rid = c.send(T_HELLO, hello_payload("nope"))
            c.expect_error(self, E_TOO_MANY_TRIES, rid)
            self.assertLess(time.monotonic() - t0, 0.25 + 2)
            self.assertTrue(c.at_eof())
        with self.client() as c:  # default tries = 3: the third failure closes
            for i in range(2):
                rid = c.send(T_HELLO, hello_payload("nope"))
                c.expect_error(self, E_AUTH, rid)
            rid = c.send(T_HELLO, hello_payload("nope"))
            c.expect_error(self, E_TOO_MANY_TRIES, rid)
            self.assertTrue(c.at_eof())

    # -- fatal frame errors ------------------------------------------------------------
    def test_bad_frame_version(self):
        with self.client() as c:
            c.login(self, self.gw.password)
            c.sock.sendall(frame(T_PING, 9, b"abcd", version=2))
            c.expect_error(self, E_BAD_VERSION, 0)
            self.assertTrue(c.at_eof())

    def test_oversize_length(self):
        with self.client() as c:
            c.login(self, self.gw.password)
            # Only the header: the server must answer before any payload arrives.
            c.sock.sendall(frame(T_PING, 9, length=MAX_PAYLOAD + 1))
            c.expect_error(self, E_FRAME_TOO_LARGE, 0)
            self.assertTrue(c.at_eof())

    def test_nonzero_flags(self):
        with self.client() as c:
            c.sock.sendall(frame(T_NOOP, 9, flags=1))
            c.expect_error(self, E_BAD_FRAME, 0)
            self.assertTrue(c.at_eof())

    # -- timeouts ------------------------------------------------------------------
    def test_idle_timeout(self):
        with self.client("short-idle") as c:
            ok = c.login(self, self.gw.password)
            self.assertEqual(ok["idle_timeout"], 1)
            t0 = time.monotonic()
            c.sock.settimeout(5)
            c.expect_error(self, E_TIMEOUT, 0)
            self.assertGreaterEqual(time.monotonic() - t0, 0.8)
            self.assertTrue(c.at_eof())

    def test_hello_timeout(self):
        with self.client() as c:
            t0 = time.monotonic()
            c.sock.settimeout(HANDSHAKE_TIMEOUT + 5)
            c.expect_error(self, E_TIMEOUT, 0)
            self.assertGreaterEqual(time.monotonic() - t0, HANDSHAKE_TIMEOUT - 0.5)
            self.assertTrue(c.at_eof())

    # -- the error table ------------------------------------------------------------
    def test_error_table_matches_header(self):
        doc, hdr = doc_error_table(), header_error_table()
        self.assertGreaterEqual(len(hdr), 20, "could not parse error.h")
        self.assertEqual(doc, hdr)

    def test_message_type_table(self):
        text = doc_text()
        section = text[text.index("## 5. Messages"):text.index("### 5.1")]
        types = {}
        for line in section.splitlines():
            m = re.match(r"\|\s*0x([0-9A-Fa-f]{2})\s*\|\s*(\w+)\s*\|", line)
            if m:
                types[m.group(2)] = int(m.group(1), 16)
        self.assertEqual(types, {"HELLO": T_HELLO, "HELLO_OK": T_HELLO_OK, "PING": T_PING,
                                 "PONG": T_PONG, "NOOP": T_NOOP, "BYE": T_BYE, "ERROR": T_ERROR,
                                 "INFO": T_INFO, "INFO_OK": T_INFO_OK, "DATA": T_DATA,
                                 "CREDIT": T_CREDIT, "CANCEL": T_CANCEL, "NOTICE": T_NOTICE,
                                 "ECHO": T_ECHO, "ECHO_OK": T_ECHO_OK, "LIST": T_LIST,
                                 "LIST_OK": T_LIST_OK, "GET": T_GET, "GET_OK": T_GET_OK,
                                 "ACK": T_ACK, "ACK_OK": T_ACK_OK, "PUT": T_PUT,
                                 "PUT_OFFSET": T_PUT_OFFSET, "PUT_OK": T_PUT_OK,
                                 "ODBC_OPEN": T_ODBC_OPEN, "ODBC_OPEN_OK": T_ODBC_OPEN_OK,
                                 "QUERY": T_QUERY, "QUERY_COLUMNS": T_QUERY_COLUMNS,
                                 "QUERY_OK": T_QUERY_OK, "EXEC": T_EXEC, "EXEC_OK": T_EXEC_OK,
                                 "TX": T_TX, "TX_OK": T_TX_OK, "ODBC_CLOSE": T_ODBC_CLOSE,
                                 "ODBC_CLOSE_OK": T_ODBC_CLOSE_OK, "SYNC_PULL": T_SYNC_PULL,
                                 "SYNC_COLUMNS": T_SYNC_COLUMNS, "SYNC_PULL_OK": T_SYNC_PULL_OK,
                                 "SYNC_PUSH": T_SYNC_PUSH, "SYNC_PUSH_OK": T_SYNC_PUSH_OK})

    # -- version 2: INFO and streams, from sections 5.8-5.13, 7.3 and 11.7 ------------
    def test_info_before_hello(self):
        with self.client() as c:
            rid, mtype, rrid, p = c.request(T_INFO)
            self.assertEqual((mtype, rrid), (T_INFO_OK, rid))
            r = Reader(p)
            self.assertEqual((r.u16(), r.u16(), r.str()), (1, 2, "miscommd"))
            r.str()
            self.assertEqual(r.u32(), HANDSHAKE_TIMEOUT)
            left = r.u32()
            self.assertTrue(0 < left <= HANDSHAKE_TIMEOUT * 1000, left)
            self.assertEqual((r.u32(), r.u32()), (30000, 2048))
            self.assertTrue(r.done())
            c.login(self, self.gw.password)

    def test_worked_stream_bytes(self):
        with self.client() as c:
            self.assertEqual(c.login(self, self.gw.password, vmax=2)["version"], 2)
            # 11.7: source of 3 bytes, request id 5; the exact bytes both ways.
            block = doc_text()[doc_text().index("ECHO mode 1 (source) of 3 bytes"):]
            c.sock.sendall(frame_bytes_after(block, 0))
            want = b"".join(frame_bytes_after(block, i) for i in (1, 2))
            got = b""
            for _ in range(2):
                mtype, rid, p, flags = c.recv(with_flags=True)
                got += HEADER.pack(1, mtype, flags, rid, len(p)) + p
            self.assertEqual(got, want)

    def test_echo_stream_with_credit(self):
        with self.client() as c:
            c.login(self, self.gw.password, vmax=2)
            rid = c.send(T_ECHO, struct.pack(">BQ", 0, 0))
            data = os.urandom(3 * STREAM_WINDOW)
            sent, credit, back = 0, STREAM_WINDOW, b""
            c.sock.settimeout(10)
            while sent < len(data) or len(back) < len(data):
                if sent < len(data) and credit > 0:
                    n = min(credit, 65536, len(data) - sent)
                    last = sent + n == len(data)
                    c.sock.sendall(HEADER.pack(1, T_DATA, FLAG_END if last else 0, rid, n)
                                   + data[sent:sent + n])
                    sent += n
                    credit -= n
                    continue
                mtype, rrid, p, flags = c.recv(with_flags=True)
                self.assertEqual(rrid, rid)
                if mtype == T_CREDIT:
                    credit += Reader(p).u32()
                elif mtype == T_DATA:
                    back += p
                    # Give credit back for what we read (section 7.3).
                    c.sock.sendall(frame(T_CREDIT, rid, struct.pack(">I", len(p))) if p else b"")
                else:
                    self.fail("unexpected frame 0x%02x %r" % (mtype, p[:40]))
            self.assertEqual(back, data)
            mtype, rrid, p = c.recv()
            while mtype == T_CREDIT:
                mtype, rrid, p = c.recv()
            self.assertEqual((mtype, rrid), (T_ECHO_OK, rid))
            r = Reader(p)
            self.assertEqual((r.u64(), r.u64()), (len(data), len(data)))

    def test_cancel_and_flow_control(self):
        with self.client() as c:
            c.login(self, self.gw.password, vmax=2)
            rid = c.send(T_ECHO, struct.pack(">BQ", 1, 100 * STREAM_WINDOW))
            c.sock.sendall(frame(T_CANCEL, rid))
            while True:
                mtype, rrid, p = c.recv()
                if mtype != T_DATA:
                    break
            self.assertEqual((mtype, rrid, decode_error(p)[0]), (T_ERROR, rid, E_CANCELLED))
            # An echo whose client never grants credit can take back at most one
            # window (the server gives credit back only for bytes it echoed):
            # 2 windows + 1 byte is more than the server can ever have granted.
            rid = c.send(T_ECHO, struct.pack(">BQ", 0, 0))
            for n in (STREAM_WINDOW, STREAM_WINDOW, 1):
                c.sock.sendall(HEADER.pack(1, T_DATA, 0, rid, n) + bytes(n))
            while True:
                mtype, rrid, p = c.recv()
                if mtype not in (T_CREDIT, T_DATA):
                    break
            self.assertEqual((mtype, rrid, decode_error(p)[0]), (T_ERROR, rid, E_FLOW_CONTROL))
            rid, mtype, rrid, _ = c.request(T_PING, b"ok")
            self.assertEqual((mtype, rrid), (T_PONG, rid))


def frame_bytes_after(block, index):
    """The bytes of the index-th frame (0-based) in the first code block of block."""
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    frames, cur = [], None
    for line in block.splitlines():
        s = line.strip()
        if s.startswith(("→", "←")):
            cur = []
            frames.append(cur)
            s = s[1:].strip()
        if cur is None:
            continue
        for tok in s.split():
            if re.fullmatch(r"[0-9a-f]{2}", tok):
                cur.append(int(tok, 16))
            else:
                break
    return bytes(frames[index])


if __name__ == "__main__":
    unittest.main()
