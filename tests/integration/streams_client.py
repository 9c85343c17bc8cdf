"""Protocol 2 helpers for the stream tests: a client that reads frames with
flags (DATA may carry END), the v2 HELLO, the ECHO request and its stream
frames, a single-threaded select() pump for long streams, and the daemon's
memory use.

Only the Python standard library is used. One thread per TLS socket: the
pump reads and writes the same socket from one thread (see
test_backpressure.py)."""
import collections
import os
import select
import socket
import ssl
import struct
import time

from harness import built_with_asan, proc_status_kib, Client, ERR, HELLO, HELLO_OK, MISCOMMD, tls_context

INFO, INFO_OK = 0x07, 0x08
DATA, CREDIT, CANCEL, NOTICE = 0x10, 0x11, 0x12, 0x13
ECHO, ECHO_OK = 0x20, 0x21
END = 0x0001
COMPRESSED = 0x0002  # only where compression was agreed at HELLO

ERR2 = dict(ERR, CANCELLED=27, FLOW_CONTROL=28, ID_IN_USE=29)
MODE_ECHO, MODE_SOURCE, MODE_SINK = 0, 1, 2
NOTICE_DRAINING = 1

WINDOW = 1048576  # initial credit per stream and direction
MAX_STREAMS = 16
PATTERN = 251  # SOURCE: byte k of the stream is k % 251

Frame = collections.namedtuple("Frame", "type flags id payload")


def wstr(x):
    """A protocol str: u16 length + bytes (x may be str or bytes)."""
    b = x.encode() if isinstance(x, str) else bytes(x)
    return struct.pack(">H", len(b)) + b


def hello_payload2(password, vmin=1, vmax=2, name="pytest", version="1.0", device="dev-1"):
    """A HELLO payload; name, version and device may be bytes (for escaping tests)."""
    return struct.pack(">HH", vmin, vmax) + wstr(name) + wstr(version) + wstr(device) + \
        wstr(password)


def header(mtype, rid, length, flags=0):
    return struct.pack(">BBHII", 1, mtype, flags, rid, length)


def frame(mtype, rid, payload=b"", flags=0):
    return header(mtype, rid, len(payload), flags) + payload


def echo_payload(mode, count=0):
    return struct.pack(">BQ", mode, count)


def error_of(f):
    """(code, message) of an ERROR frame's payload."""
    code, n = struct.unpack(">HH", f.payload[:4])
    return code, f.payload[4:4 + n].decode(errors="replace")


def source_bytes(offset, n):
    """The SOURCE pattern from stream offset `offset`, n bytes."""
    start = offset % PATTERN
    reps = (start + n) // PATTERN + 1
    return (bytes(range(PATTERN)) * reps)[start:start + n]


class Reader:
    """Parse a byte string into (type, flags, rid, payload) pieces."""

    def __init__(self, payload):
        self.p, self.pos = payload, 0

    def u16(self):
        (v,) = struct.unpack_from(">H", self.p, self.pos)
        self.pos += 2
        return v

    def u32(self):
        (v,) = struct.unpack_from(">I", self.p, self.pos)
        self.pos += 4
        return v

    def u64(self):
        (v,) = struct.unpack_from(">Q", self.p, self.pos)
        self.pos += 8
        return v

    def raw(self, n):
        v = self.p[self.pos:self.pos + n]
        self.pos += n
        return v

    def str(self):
        return self.raw(self.u16()).decode()

    def rest(self):
        return self.p[self.pos:]


def parse_hello_ok2(payload):
    """HELLO_OK with what follows `connection`: dict plus 'rest' (unparsed tail) and
    'v1_length' (where the v1 payload ends)."""
    r = Reader(payload)
    out = {"version": r.u16(), "server": r.str(), "server_version": r.str(),
           "session": r.raw(16), "permissions": r.u32(), "max_payload": r.u32(),
           "timeout": r.u32(), "connection": r.str()}
    out["v1_length"] = r.pos
    out["rest"] = r.rest()
    if out["version"] >= 2 and len(out["rest"]) >= 6:
        out["stream_window"] = r.u32()
        out["max_streams"] = r.u16()
        out["rest"] = r.rest()
    return out


def parse_info_ok(payload):
    r = Reader(payload)
    out = {"min_version": r.u16(), "max_version": r.u16(), "server": r.str(),
           "server_version": r.str(), "handshake_timeout_s": r.u32(),
           "hello_left_ms": r.u32(), "hello_answer_ms": r.u32(),
           "max_prelogin_payload": r.u32()}
    out["rest"] = r.rest()
    return out


def parse_echo_ok(payload):
    assert len(payload) == 16, "ECHO_OK payload is %d bytes, not 16" % len(payload)
    return struct.unpack(">QQ", payload)  # bytes_received, bytes_sent


def parse_notice(payload):
    r = Reader(payload)
    kind = r.u16()
    text = r.str()
    return kind, text, r.rest()


class StreamClient(Client):
    """harness.Client with buffered reads, frames with flags, and v2 requests."""

    def __init__(self, port, timeout=30, bio=False, **kw):
        """bio=True: TLS through an SSLObject over memory BIOs (see BioSocket)."""
        if bio:
            raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.sock = BioSocket(raw, tls_context(kw.get("version")))
            self.next_id = 1
        else:
            super().__init__(port, timeout=timeout, **kw)
        self.timeout = timeout
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.eof = False

    # -- blocking reads ----------------------------------------------------
    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("closed by server (%d bytes buffered)" % len(self.rbuf))
        self.rbuf += chunk

    def recv_exact(self, n):
        while len(self.rbuf) < n:
            self._fill()
        out = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return out

    def _take_frame(self):
        """A whole frame from rbuf, or None."""
        if len(self.rbuf) < 12:
            return None
        version, mtype, flags, rid, n = struct.unpack_from(">BBHII", self.rbuf)
        assert version == 1, "server frame version %d" % version
        assert flags & ~(END | COMPRESSED) == 0 and (flags == 0 or mtype == DATA), \
            "server frame type 0x%02x has flags 0x%04x" % (mtype, flags)
        if len(self.rbuf) < 12 + n:
            return None
        payload = bytes(self.rbuf[12:12 + n])
        del self.rbuf[:12 + n]
        return Frame(mtype, flags, rid, payload)

    def recv_frame(self, timeout=None):
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            while True:
                f = self._take_frame()
                if f is not None:
                    return f
                self._fill()
        finally:
            self.sock.settimeout(self.timeout)

    def recv(self):
        f = self.recv_frame()
        assert f.flags == 0, (f.type, f.flags)
        return f.type, f.id, f.payload

    def nothing_within(self, seconds):
        """The frames that arrive within `seconds` (normally none)."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.recv_frame(timeout=left))
            except socket.timeout:
                return got

    # -- requests ----------------------------------------------------------
    def hello2(self, password, vmin=1, vmax=2, **kw):
        rid = self.send(HELLO, hello_payload2(password, vmin, vmax, **kw))
        return rid, self.recv_frame()

    def echo(self, mode, count=0, rid=None):
        return self.send(ECHO, echo_payload(mode, count), rid=rid)

    def data(self, rid, payload=b"", end=False):
        self.sock.sendall(frame(DATA, rid, payload, END if end else 0))

    def credit(self, rid, n):
        self.sock.sendall(frame(CREDIT, rid, struct.pack(">I", n)))

    def cancel(self, rid):
        self.sock.sendall(frame(CANCEL, rid))

    def expect(self, mtype, rid, skip=()):
        """The next frame that is not of a type in skip; assert its type and id."""
        while True:
            f = self.recv_frame()
            if f.type in skip:
                continue
            if (f.type, f.id) != (mtype, rid):
                detail = error_of(f) if f.type == 0x7F else f.payload[:64]
                raise AssertionError("expected type 0x%02x id %d, got type 0x%02x id %d: %r"
                                     % (mtype, rid, f.type, f.id, detail))
            return f

    def expect_error(self, code, rid, skip=()):
        f = self.expect(0x7F, rid, skip)
        got, msg = error_of(f)
        if got != code:
            raise AssertionError("expected ERROR %d for id %d, got %d (%s)" % (code, rid, got, msg))
        return msg

    # -- non-blocking pump -------------------------------------------------
    def queue(self, data):
        self.wbuf += data

    def pump(self, timeout=1.0):
        """Write what the socket takes, read what is there; return the whole frames read."""
        frames = []
        sock = self.sock
        sock.setblocking(False)
        try:
            want_w = [sock] if self.wbuf or getattr(sock, "obuf", None) else []
            pending = sock.pending()
            r, w, _ = select.select([sock], want_w, [], 0 if pending else timeout)
            if w and getattr(sock, "obuf", None):
                sock._flush()
            if w and self.wbuf:
                while self.wbuf:
                    try:
                        n = sock.send(self.wbuf[:262144])
                    except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                        break
                    if n <= 0:
                        break
                    del self.wbuf[:n]
            if r or pending:
                while True:
                    try:
                        chunk = sock.recv(262144)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        break
                    if not chunk:
                        self.eof = True  # the caller checks; the frames read so far count
                        break
                    self.rbuf += chunk
                    if len(self.rbuf) > 8 * 1048576:
                        break
        finally:
            sock.settimeout(self.timeout)
        while True:
            f = self._take_frame()
            if f is None:
                return frames
            frames.append(f)


class BioSocket:
    """A TLS client socket made of an SSLObject over memory BIOs, with the
    socket-like methods StreamClient uses. It can send close_notify without
    reading (SSLSocket.unwrap() reads on for the peer's close_notify and,
    with OpenSSL 3, throws away application data that arrives meanwhile)."""

    def __init__(self, raw, ctx):
        self.raw = raw
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out)
        self.raw_eof = False
        self.obuf = bytearray()  # ciphertext the socket did not take yet (non-blocking)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not self._read_raw():
                    raise ConnectionError("closed during the TLS handshake")
        self._flush()

    def _flush(self):
        self.obuf += self.out.read()
        if self.raw.gettimeout() == 0.0:
            while self.obuf:
                try:
                    n = self.raw.send(self.obuf)
                except BlockingIOError:
                    return
                del self.obuf[:n]
        elif self.obuf:
            self.raw.sendall(self.obuf)
            self.obuf.clear()

    def _read_raw(self):
        data = self.raw.recv(262144)
        if not data:
            self.raw_eof = True
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def sendall(self, data):
        view = memoryview(data)
        while view:
            n = self.obj.write(view)
            view = view[n:]
            self._flush()

    def send(self, data):
        """Non-blocking use (the pump): take data only when earlier ciphertext has gone."""
        self._flush()
        if self.obuf:
            raise BlockingIOError
        n = self.obj.write(data)
        self._flush()
        return n

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                if self.raw_eof:
                    return b""
                if not self._read_raw():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def close_notify(self):
        """Send close_notify now; do not wait for the server's."""
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def sendall_then_close_notify(self, data):
        """data and a close_notify in one write to the socket: the server gets
        both in one TCP segment (when data is small) and reads them together."""
        view = memoryview(data)
        while view:
            n = self.obj.write(view)
            view = view[n:]
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def pending(self):
        return self.obj.pending() or self.inc.pending

    def fileno(self):
        return self.raw.fileno()

    def settimeout(self, t):
        self.raw.settimeout(t)

    def setblocking(self, flag):
        self.raw.setblocking(flag)

    def getsockname(self):
        return self.raw.getsockname()

    def shutdown(self, how):
        self.raw.shutdown(how)

    def close(self):
        self.raw.close()


def login2(port, password, vmin=1, vmax=2, **kw):
    """A StreamClient that completed HELLO (protocol 2 by default), and the parsed HELLO_OK."""
    c = StreamClient(port, **kw)
    try:
        rid, f = c.hello2(password, vmin, vmax)
        if (f.type, f.id) != (HELLO_OK, rid):
            raise AssertionError("HELLO not accepted: type 0x%02x id %d payload %r"
                                 % (f.type, f.id, f.payload))
    except BaseException:
        c.close()
        raise
    return c, parse_hello_ok2(f.payload)


def rss_kib(pid):
    return proc_status_kib(pid)


def half_close(client):
    """TCP FIN under the TLS layer: the TLS object stays usable for reading."""
    if isinstance(client.sock, BioSocket):
        client.sock.raw.shutdown(socket.SHUT_WR)
    else:
        socket.socket.shutdown(client.sock, socket.SHUT_WR)


def send_close_notify(client):
    """A TLS close_notify, without waiting for the server's: reading stays
    possible. Needs a StreamClient made with bio=True."""
    assert isinstance(client.sock, BioSocket), "close_notify needs StreamClient(bio=True)"
    client.sock.close_notify()
