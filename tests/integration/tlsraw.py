"""Raw TLS ClientHellos for conformance tests, with the Python standard
library only: build a ClientHello with exactly the suites, groups, key
shares and extensions a test wants, send it, and read what the server
answers up to its first flight (ServerHello or HelloRetryRequest and its
extensions, or an alert, or a bare close).

No handshake is ever completed: these tests look at the server's first
answer, which is where suite-list size, key shares, groups and extensions
are decided (RFC 5246 7.4.1, RFC 8446 4.1).
"""
import os
import socket
import struct
import time

# Record content types and handshake types.
ALERT, HANDSHAKE = 21, 22
CLIENT_HELLO, SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST = 1, 2, 11, 12, 13
SERVER_HELLO_DONE = 14

# Extensions.
EXT_SERVER_NAME, EXT_TRUNCATED_HMAC, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS = 0, 4, 10, 11
EXT_SIGNATURE_ALGORITHMS, EXT_SUPPORTED_VERSIONS, EXT_COOKIE, EXT_KEY_SHARE = 13, 43, 44, 51

# Named groups (RFC 8446 4.2.7, RFC 7919).
SECP256R1, SECP384R1, SECP521R1, X25519, X448 = 23, 24, 25, 29, 30
SECP256K1, BRAINPOOLP256R1, BRAINPOOLP384R1, BRAINPOOLP512R1 = 22, 26, 27, 28
FFDHE2048, FFDHE3072, FFDHE4096, FFDHE6144, FFDHE8192 = 256, 257, 258, 259, 260
GROUP_NAMES = {SECP256R1: "P-256", SECP384R1: "P-384", SECP521R1: "P-521", X25519: "X25519",
               X448: "X448", SECP256K1: "secp256k1", BRAINPOOLP256R1: "brainpoolP256r1",
               BRAINPOOLP384R1: "brainpoolP384r1", BRAINPOOLP512R1: "brainpoolP512r1",
               FFDHE2048: "ffdhe2048", FFDHE3072: "ffdhe3072", FFDHE4096: "ffdhe4096",
               FFDHE6144: "ffdhe6144", FFDHE8192: "ffdhe8192"}

# Alert descriptions (RFC 8446 6).
ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
               40: "handshake_failure", 42: "bad_certificate", 47: "illegal_parameter",
               50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
               71: "insufficient_security", 80: "internal_error", 109: "missing_extension",
               116: "certificate_required"}

# A few suites by name (IANA values).
TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384 = 0x1301, 0x1302
TLS13_CHACHA20_POLY1305_SHA256 = 0x1303
ECDHE_RSA_AES256_GCM_SHA384, ECDHE_RSA_AES128_GCM_SHA256 = 0xC030, 0xC02F
ECDHE_RSA_AES256_SHA384, ECDHE_RSA_AES128_SHA256 = 0xC028, 0xC027
DHE_RSA_AES256_GCM_SHA384, DHE_RSA_AES128_GCM_SHA256 = 0x009F, 0x009E
ECDHE_ECDSA_AES128_GCM_SHA256, ECDHE_ECDSA_AES256_GCM_SHA384 = 0xC02B, 0xC02C
ECDHE_ECDSA_AES128_SHA256 = 0xC023
SUITE_NAMES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
               0x1303: "TLS_CHACHA20_POLY1305_SHA256",
               0xC030: "ECDHE-RSA-AES256-GCM-SHA384", 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
               0xC028: "ECDHE-RSA-AES256-SHA384", 0xC027: "ECDHE-RSA-AES128-SHA256",
               0x009F: "DHE-RSA-AES256-GCM-SHA384", 0x009E: "DHE-RSA-AES128-GCM-SHA256",
               0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
               0xC023: "ECDHE-ECDSA-AES128-SHA256"}

# The SHA-256 of "HelloRetryRequest": the random of a HelloRetryRequest (RFC 8446 4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# Every signature scheme a modern client offers, SHA-2 only.
SIGALGS = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601]


def u8(n):
    return struct.pack("!B", n)


def u16(n):
    return struct.pack("!H", n)


def vec8(b):
    return u8(len(b)) + b


def vec16(b):
    return u16(len(b)) + b


def ext(etype, body):
    return u16(etype) + vec16(body)


def x25519_share(high_bit=False):
    """A valid-looking X25519 public value (any 32 bytes is a u-coordinate;
    the server masks the top bit per RFC 7748 5). high_bit sets that bit."""
    pub = bytearray(os.urandom(32))
    pub[31] &= 0x7F
    if high_bit:
        pub[31] |= 0x80
    return bytes(pub)


def client_hello(suites, groups=(X25519, SECP256R1, SECP384R1), tls13=False, key_shares=None,
                 extensions=(), sigalgs=SIGALGS, server_name="localhost"):
    """The handshake message (type and length included) of a ClientHello.

    suites: IANA values. tls13: offer TLS 1.3 and 1.2 in supported_versions.
    key_shares: [(group, public bytes)] for TLS 1.3 (default: one X25519).
    extensions: more (type, body) pairs, sent as given.
    """
    exts = b""
    if server_name:
        name = server_name.encode()
        exts += ext(EXT_SERVER_NAME, vec16(u8(0) + vec16(name)))
    if groups is not None:
        exts += ext(EXT_SUPPORTED_GROUPS, vec16(b"".join(u16(g) for g in groups)))
    exts += ext(EXT_EC_POINT_FORMATS, vec8(u8(0)))
    exts += ext(EXT_SIGNATURE_ALGORITHMS, vec16(b"".join(u16(s) for s in sigalgs)))
    if tls13:
        exts += ext(EXT_SUPPORTED_VERSIONS, vec8(u16(0x0304) + u16(0x0303)))
        if key_shares is None:
            key_shares = [(X25519, x25519_share())]
        exts += ext(EXT_KEY_SHARE, vec16(b"".join(u16(g) + vec16(k) for g, k in key_shares)))
    for etype, body in extensions:
        exts += ext(etype, body)
    body = (u16(0x0303) + os.urandom(32) + vec8(os.urandom(32) if tls13 else b"") +
            vec16(b"".join(u16(s) for s in suites)) + vec8(u8(0)) + vec16(exts))
    return u8(CLIENT_HELLO) + struct.pack("!I", len(body))[1:] + body


class Answer:
    """What the server sent back: handshake messages of its first flight, an alert, or
    nothing before it closed (closed=True, alert None)."""

    def __init__(self):
        self.messages = []  # (type, body)
        self.alert = None  # (level, description)
        self.closed = False
        self.local = None  # "ip:port" of the client's socket

    def message(self, mtype):
        for t, body in self.messages:
            if t == mtype:
                return body
        return None

    @property
    def alert_name(self):
        return ALERT_NAMES.get(self.alert[1], str(self.alert[1])) if self.alert else None

    def server_hello(self):
        """The parsed ServerHello (a dict) or None."""
        body = self.message(SERVER_HELLO)
        if body is None:
            return None
        i = 2
        random = body[i:i + 32]
        i += 32
        sid_len = body[i]
        i += 1 + sid_len
        suite = struct.unpack("!H", body[i:i + 2])[0]
        i += 3  # suite and compression
        exts = {}
        if i < len(body):
            total = struct.unpack("!H", body[i:i + 2])[0]
            i += 2
            end = i + total
            while i < end:
                etype, elen = struct.unpack("!HH", body[i:i + 4])
                exts[etype] = body[i + 4:i + 4 + elen]
                i += 4 + elen
        return {"version": struct.unpack("!H", body[:2])[0], "random": random, "suite": suite,
                "hrr": random == HRR_RANDOM, "extensions": exts}

    def selected_version(self):
        sh = self.server_hello()
        if sh is None:
            return None
        sv = sh["extensions"].get(EXT_SUPPORTED_VERSIONS)
        return struct.unpack("!H", sv)[0] if sv else sh["version"]

    def __repr__(self):
        return "Answer(messages=%s, alert=%s, closed=%s)" % (
            [t for t, _ in self.messages], self.alert_name, self.closed)


def exchange(port, hello, host="127.0.0.1", timeout=10, fragments=None, pause=0, tcp_split=0):
    """Send one ClientHello (in as many records as it needs) and read the server's answer
    up to ServerHelloDone, a HelloRetryRequest, a TLS 1.3 ServerHello, an alert or a close.

    fragments: the sizes of the first records (the rest in records of up to 16 KiB);
    pause: seconds between sending those records, one TCP write each;
    tcp_split: with pause, send the bytes in two TCP writes cut at this offset instead."""
    sizes = list(fragments or [])
    records = []
    i = 0
    while i < len(hello):
        n = sizes.pop(0) if sizes else 16384
        records.append(u8(HANDSHAKE) + u16(0x0301) + vec16(hello[i:i + n]))
        i += n
    ans = Answer()
    with socket.create_connection((host, port), timeout=timeout) as s:
        ans.local = "%s:%d" % s.getsockname()[:2]  # the daemon's peer= for this client
        if pause and tcp_split:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b"".join(records)
            s.sendall(data[:tcp_split])
            time.sleep(pause)
            s.sendall(data[tcp_split:])
        elif pause:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for k, r in enumerate(records):
                if k:
                    time.sleep(pause)
                s.sendall(r)
        else:
            s.sendall(b"".join(records))
        data = b""
        hs = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                ans.closed = True
                return ans
            data += chunk
            while len(data) >= 5:
                ctype, _, length = struct.unpack("!BHH", data[:5])
                if len(data) < 5 + length:
                    break
                frag, data = data[5:5 + length], data[5 + length:]
                if ctype == ALERT:
                    ans.alert = (frag[0], frag[1])
                    return ans
                if ctype != HANDSHAKE:
                    # TLS 1.3 encrypted records after the ServerHello: done.
                    return ans
                hs += frag
                while len(hs) >= 4:
                    mlen = struct.unpack("!I", b"\0" + hs[1:4])[0]
                    if len(hs) < 4 + mlen:
                        break
                    ans.messages.append((hs[0], hs[4:4 + mlen]))
                    hs = hs[4 + mlen:]
                    if ans.messages[-1][0] == SERVER_HELLO_DONE:
                        return ans
                    sh = ans.server_hello() if ans.messages[-1][0] == SERVER_HELLO else None
                    if sh and (sh["hrr"] or EXT_SUPPORTED_VERSIONS in sh["extensions"]):
                        return ans


def server_key_exchange_group(ans):
    """The named group of an ECDHE ServerKeyExchange (TLS 1.2), or None."""
    ske = ans.message(SERVER_KEY_EXCHANGE)
    if ske is None or ske[0] != 3:  # curve_type named_curve
        return None
    return struct.unpack("!H", ske[1:3])[0]


def dhe_prime_bits(ans):
    """The size of the DHE prime in a TLS 1.2 ServerKeyExchange, in bits."""
    ske = ans.message(SERVER_KEY_EXCHANGE)
    plen = struct.unpack("!H", ske[:2])[0]
    p = ske[2:2 + plen]
    return len(p.lstrip(b"\0")) * 8
