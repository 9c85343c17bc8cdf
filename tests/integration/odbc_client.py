"""A client of docs/protocol.md 5.15 (ODBC_OPEN, QUERY, EXEC, TX, ODBC_CLOSE)
over streams_client, written from the document, for the ODBC tests."""
import struct

from streams_client import CREDIT, DATA, StreamClient, error_of, wstr

ODBC_OPEN, ODBC_OPEN_OK, QUERY, QUERY_COLUMNS, QUERY_OK = 0x40, 0x41, 0x42, 0x43, 0x44
EXEC, EXEC_OK, TX, TX_OK, ODBC_CLOSE, ODBC_CLOSE_OK = 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A
BEGIN, COMMIT, ROLLBACK = 1, 2, 3
ERR_ODBC = dict(SQL=70, RESULT_LIMIT=71, DB_UNAVAILABLE=72, NOT_ALLOWED=73, BAD_HANDLE=74,
                BAD_CREDENTIAL=60, WRONG_KEY=61, UNKNOWN_KEY=62, CREDENTIAL_VERSION=63)

NULL, INT, DECIMAL, FLOAT, TEXT, BINARY, DATE, TIME, TIMESTAMP = range(9)


class Dec(str):
    """A DECIMAL value (exact, as text)."""


class Date(tuple):
    pass


class Time(tuple):
    pass


class Timestamp(tuple):
    pass


def encode(v):
    if v is None:
        return bytes([NULL])
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return bytes([INT]) + struct.pack(">q", v)
    if isinstance(v, Dec):
        return bytes([DECIMAL]) + wstr(str(v))
    if isinstance(v, float):
        return bytes([FLOAT]) + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return bytes([TEXT]) + struct.pack(">I", len(b)) + b
    if isinstance(v, (bytes, bytearray)):
        return bytes([BINARY]) + struct.pack(">I", len(v)) + bytes(v)
    if isinstance(v, Date):
        return bytes([DATE]) + struct.pack(">HBB", *v)
    if isinstance(v, Time):
        return bytes([TIME]) + struct.pack(">BBBI", *v)
    if isinstance(v, Timestamp):
        return bytes([TIMESTAMP]) + struct.pack(">HBBBBBI", *v)
    raise TypeError(type(v))


def decode(buf, pos):
    """One value at buf[pos:]: (value, new pos), or None when buf is too short."""
    if pos >= len(buf):
        return None
    tag = buf[pos]
    pos += 1
    need = {NULL: 0, INT: 8, FLOAT: 8, DATE: 4, TIME: 7, TIMESTAMP: 11}
    if tag in need:
        if len(buf) < pos + need[tag]:
            return None
        raw = buf[pos:pos + need[tag]]
        pos += need[tag]
        if tag == NULL:
            return None, pos
        if tag == INT:
            return struct.unpack(">q", raw)[0], pos
        if tag == FLOAT:
            return struct.unpack(">d", raw)[0], pos
        if tag == DATE:
            return Date(struct.unpack(">HBB", raw)), pos
        if tag == TIME:
            return Time(struct.unpack(">BBBI", raw)), pos
        return Timestamp(struct.unpack(">HBBBBBI", raw)), pos
    if tag == DECIMAL:
        if len(buf) < pos + 2:
            return None
        n = struct.unpack(">H", buf[pos:pos + 2])[0]
        if len(buf) < pos + 2 + n:
            return None
        return Dec(buf[pos + 2:pos + 2 + n].decode()), pos + 2 + n
    if tag in (TEXT, BINARY):
        if len(buf) < pos + 4:
            return None
        n = struct.unpack(">I", buf[pos:pos + 4])[0]
        if len(buf) < pos + 4 + n:
            return None
        raw = bytes(buf[pos + 4:pos + 4 + n])
        return (raw.decode() if tag == TEXT else raw), pos + 4 + n
    raise AssertionError("unknown value tag %d" % tag)


def parse_columns(p):
    n = struct.unpack(">H", p[:2])[0]
    pos, cols = 2, []
    for _ in range(n):
        ln = struct.unpack(">H", p[pos:pos + 2])[0]
        name = p[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        tag, sql_type, size, nullable = struct.unpack(">BhIB", p[pos:pos + 8])
        pos += 8
        cols.append((name, tag, sql_type, size, nullable))
    assert pos == len(p), "trailing bytes in QUERY_COLUMNS"
    return cols


def take_rows(buf, pos, ncols):
    """The whole rows of ncols values in buf from pos (a row may span frames):
    ([tuple, ...], the position after the last whole row)."""
    rows = []
    while ncols:
        row, p = [], pos
        for _ in range(ncols):
            got = decode(buf, p)
            if got is None:
                return rows, pos
            row.append(got[0])
            p = got[1]
        rows.append(tuple(row))
        pos = p
    return rows, pos


class QueryError(Exception):
    def __init__(self, code, msg):
        super().__init__("%d %s" % (code, msg))
        self.code, self.msg = code, msg


class OdbcClient(StreamClient):
    def open(self, cred=b""):
        rid = self.send(ODBC_OPEN, struct.pack(">H", len(cred)) + cred)
        f = self.recv_frame()
        assert f.id == rid
        if f.type == 0x7F:
            raise QueryError(*error_of(f))
        assert f.type == ODBC_OPEN_OK, f
        handle, flags = struct.unpack(">IB", f.payload[:5])
        n = struct.unpack(">H", f.payload[5:7])[0]
        assert len(f.payload) == 7 + n
        return handle, flags, f.payload[7:].decode()

    def send_query(self, handle, text, params=(), named=False, max_rows=0):
        body = b"".join(encode(v) for v in params)
        return self.send(QUERY, struct.pack(">IB", handle, 1 if named else 0) + wstr(text)
                         + struct.pack(">IH", max_rows, len(params)) + body)

    def read_query(self, rid, credit=True):
        """(columns, rows, more) or QueryError."""
        cols, rows, buf, pos = None, [], bytearray(), 0
        while True:
            f = self.recv_frame()
            if f.type == CREDIT:
                continue
            assert f.id == rid, (f.type, f.id, rid)
            if f.type == 0x7F:
                raise QueryError(*error_of(f))
            if f.type == QUERY_COLUMNS:
                assert cols is None
                cols = parse_columns(f.payload)
            elif f.type == DATA:
                assert cols is not None, "DATA before QUERY_COLUMNS"
                buf += f.payload
                if credit and f.payload:
                    self.credit(rid, len(f.payload))
                got, pos = take_rows(buf, pos, len(cols))
                rows += got
            else:
                assert f.type == QUERY_OK, f
                assert pos == len(buf), "a partial row at the end"
                count, more = struct.unpack(">QB", f.payload)
                assert count == len(rows), (count, len(rows))
                return cols, rows, bool(more)

    def query(self, handle, text, params=(), named=False, max_rows=0):
        return self.read_query(self.send_query(handle, text, params, named, max_rows))

    def execute(self, handle, text, params=(), named=False):
        body = b"".join(encode(v) for v in params)
        rid = self.send(EXEC, struct.pack(">IB", handle, 1 if named else 0) + wstr(text)
                        + struct.pack(">H", len(params)) + body)
        f = self.recv_frame()
        assert f.id == rid
        if f.type == 0x7F:
            raise QueryError(*error_of(f))
        assert f.type == EXEC_OK, f
        return struct.unpack(">Q", f.payload)[0]

    def tx(self, handle, op):
        rid = self.send(TX, struct.pack(">IB", handle, op))
        f = self.recv_frame()
        assert f.id == rid
        if f.type == 0x7F:
            raise QueryError(*error_of(f))
        assert (f.type, f.payload) == (TX_OK, b""), f

    def close_handle(self, handle):
        rid = self.send(ODBC_CLOSE, struct.pack(">I", handle))
        f = self.recv_frame()
        assert f.id == rid
        if f.type == 0x7F:
            raise QueryError(*error_of(f))
        assert (f.type, f.payload) == (ODBC_CLOSE_OK, b""), f
