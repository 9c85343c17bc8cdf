"""A client of docs/protocol.md 5.16 (SYNC_PULL, SYNC_PUSH, CHANGES_AVAILABLE)
over the ODBC test client's values and streams, written from the document."""
import hashlib
import os
import struct

from odbc_client import OdbcClient, QueryError, decode, encode, parse_columns, take_rows
from streams_client import CREDIT, DATA, error_of, wstr

SYNC_PULL, SYNC_COLUMNS, SYNC_PULL_OK, SYNC_PUSH, SYNC_PUSH_OK = 0x50, 0x51, 0x52, 0x53, 0x54
NOTICE, CHANGES_AVAILABLE = 0x13, 3
APPLIED, CONFLICT, FAILED = 0, 1, 2
REPLAYED, MERGED, RESOLVED = 0x01, 0x02, 0x04
ERR_SYNC = dict(CONFLICT=80, NOT_BOUND=81, REVOKED=82, BAD_CURSOR=83)


def new_op_id():
    return os.urandom(16)


def update_op(intervention, base_version, fields, op_id=None):
    """fields: {name: (base, new)}"""
    op_id = op_id or new_op_id()
    body = op_id + bytes([1]) + struct.pack(">QQH", intervention, base_version, len(fields))
    for name, (base, new) in fields.items():
        body += wstr(name) + encode(base) + encode(new)
    return op_id, body


def photo_op(intervention, file, data, content_type="image/jpeg", caption=None, taken_at=None,
             op_id=None, sha=None):
    op_id = op_id or new_op_id()
    body = (op_id + bytes([2]) + struct.pack(">Q", intervention) + wstr(file)
            + (sha or hashlib.sha256(data).digest()) + wstr(content_type)
            + encode(caption) + encode(taken_at))
    return op_id, body


class Result:
    def __init__(self, op_id, result, flags, code, message, version, conflicts, values):
        self.op_id, self.result, self.flags, self.code = op_id, result, flags, code
        self.message, self.version, self.conflicts, self.values = message, version, conflicts, values

    def __repr__(self):
        return "Result(%s r=%d f=%d code=%d v=%d %r %r)" % (
            self.op_id.hex()[:8], self.result, self.flags, self.code, self.version,
            self.message, self.conflicts)


def parse_push_ok(p):
    n = struct.unpack(">H", p[:2])[0]
    pos, out = 2, []
    def s():
        nonlocal pos
        ln = struct.unpack(">H", p[pos:pos + 2])[0]
        v = p[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        return v
    for _ in range(n):
        op_id = p[pos:pos + 16]
        result, flags, code = struct.unpack(">BBH", p[pos + 16:pos + 20])
        pos += 20
        message = s()
        version = struct.unpack(">Q", p[pos:pos + 8])[0]
        pos += 8
        nc = struct.unpack(">H", p[pos:pos + 2])[0]
        pos += 2
        conflicts = [s() for _ in range(nc)]
        nv = struct.unpack(">H", p[pos:pos + 2])[0]
        pos += 2
        values = {}
        for _ in range(nv):
            name = s()
            v, pos = decode(p, pos)
            values[name] = v
        out.append(Result(op_id, result, flags, code, message, version, conflicts, values))
    assert pos == len(p), "trailing bytes in SYNC_PUSH_OK"
    return out


class SyncClient(OdbcClient):
    notices = 0

    def expect(self, mtype, rid, skip=()):
        """As StreamClient.expect, CHANGES_AVAILABLE notices skipped (and counted)."""
        while True:
            f = self._frame()
            if f.type in skip:
                continue
            assert (f.type, f.id) == (mtype, rid), (hex(f.type), f.id, mtype, rid, f.payload[:64])
            return f

    def next_frame(self):
        """The next frame that is not a NOTICE (CHANGES_AVAILABLE notices are counted)."""
        return self._frame()

    def _frame(self):
        while True:
            f = self.recv_frame()
            if f.type == NOTICE and f.id == 0:
                if struct.unpack(">H", f.payload[:2])[0] == CHANGES_AVAILABLE:
                    self.notices += 1
                continue
            return f

    def pull_page(self, cursor=b"", limit=0):
        """(columns, rows, new cursor, more) or QueryError."""
        rid = self.send(SYNC_PULL, struct.pack(">H", len(cursor)) + cursor
                        + struct.pack(">I", limit))
        cols, rows, buf, pos = None, [], bytearray(), 0
        while True:
            f = self._frame()
            if f.type == CREDIT:
                continue
            assert f.id == rid, (f.type, f.id, rid)
            if f.type == 0x7F:
                raise QueryError(*error_of(f))
            if f.type == SYNC_COLUMNS:
                assert cols is None
                cols = parse_columns(f.payload)
            elif f.type == DATA:
                assert cols is not None, "DATA before SYNC_COLUMNS"
                buf += f.payload
                if f.payload:
                    self.credit(rid, len(f.payload))
                got, pos = take_rows(buf, pos, len(cols))
                rows += [dict(zip([c[0] for c in cols], row)) for row in got]
            else:
                assert f.type == SYNC_PULL_OK, f
                assert pos == len(buf), "a partial row at the end"
                n = struct.unpack(">H", f.payload[:2])[0]
                new_cursor = bytes(f.payload[2:2 + n])
                count, more = struct.unpack(">QB", f.payload[2 + n:])
                assert count == len(rows), (count, len(rows))
                return cols, rows, new_cursor, bool(more)

    def pull_all(self, cursor=b"", limit=0, replica=None):
        """Pull every page: (replica {id: row}, cursor, pages)."""
        replica = {} if replica is None else replica
        pages = 0
        while True:
            _, rows, cursor, more = self.pull_page(cursor, limit)
            pages += 1
            for r in rows:
                if r["version"] is None:
                    replica.pop(r["id"], None)
                else:
                    replica[r["id"]] = r
            if not more:
                return replica, cursor, pages

    def push(self, ops):
        """ops: list of (op_id, body) -> [Result] or QueryError."""
        rid = self.send(SYNC_PUSH, struct.pack(">H", len(ops)) + b"".join(b for _, b in ops))
        f = self._frame()
        assert f.id == rid, (f.type, f.id, rid)
        if f.type == 0x7F:
            raise QueryError(*error_of(f))
        assert f.type == SYNC_PUSH_OK, f
        return parse_push_ok(f.payload)

    def wait_notice(self, seconds):
        """True once a CHANGES_AVAILABLE notice arrived (now or within seconds)."""
        import time
        end = time.monotonic() + seconds
        while self.notices == 0 and time.monotonic() < end:
            try:
                f = self.recv_frame(timeout=max(0.05, end - time.monotonic()))
            except Exception:
                break
            if f is None:
                continue
            if f.type == NOTICE and struct.unpack(">H", f.payload[:2])[0] == CHANGES_AVAILABLE:
                self.notices += 1
        return self.notices > 0
