"""The client library against servers that misbehave in time: one deadline per
call (frames for other requests never extend it), and SNI only for host names.

The server here is a small TLS server in this file, on loopback; miscli (on
libmiscomm) is the client under test.
"""
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import MISCLI, make_self_signed

NOOP, ERROR = 0x05, 0x7F


class TrickleServer:
    """Accepts TLS connections; reads the client's first frame, then sends a
    NOOP for another request id every `interval` seconds, never answering."""

    def __init__(self, interval=0.5):
        self.dir = tempfile.mkdtemp(prefix="miscomm-trickle-")
        cert, key = make_self_signed(os.path.join(self.dir, "c.crt"),
                                     os.path.join(self.dir, "c.key"))
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sni = []
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.interval = interval
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.noops_sent = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                raw, _ = self.lsock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(raw,), daemon=True).start()

    def serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
            s.settimeout(5)
            hdr = s.recv(12)
            if len(hdr) < 12:
                return
            n = struct.unpack(">I", hdr[8:12])[0]
            while n > 0:
                n -= len(s.recv(n))
            while not self.stop.is_set():
                s.sendall(struct.pack(">BBHII", 1, NOOP, 0, 999, 0))
                self.noops_sent += 1
                time.sleep(self.interval)
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()

    def close(self):
        self.stop.set()
        self.lsock.close()


def miscli(port, *args, host="127.0.0.1", timeout=30):
    pw = os.path.join(tempfile.mkdtemp(prefix="miscomm-cli-"), "pw")
    with open(pw, "w") as f:
        f.write("correct horse battery\n")
    return subprocess.run([MISCLI, "--host", host, "--port", str(port), "--insecure",
                           "--password-file", pw] + list(args),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class ClientDeadlineTest(unittest.TestCase):
    def setUp(self):
        self.srv = TrickleServer()

    def tearDown(self):
        self.srv.close()

    def test_trickling_server_cannot_hold_a_call(self):
        # Before the fix each poll() restarted the timeout: the NOOP every
        # 0.5 s for another request id kept `hello` waiting forever.
        t0 = time.monotonic()
        r = miscli(self.srv.port, "--timeout", "2", "hello", timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("TIMEOUT", r.stderr)
        self.assertGreater(self.srv.noops_sent, 2, "the server did not trickle")
        self.assertLess(took, 10, "the call outlived its 2 s deadline by far (%.1f s)" % took)

    def test_sni_only_for_host_names(self):
        miscli(self.srv.port, "--timeout", "1", "hello", host="127.0.0.1")
        miscli(self.srv.port, "--timeout", "1", "hello", host="localhost")
        # RFC 6066: no server_name for an IP address literal; the name for a host name.
        self.assertEqual(self.srv.sni[:1], [None])
        self.assertIn("localhost", self.srv.sni)


if __name__ == "__main__":
    unittest.main()
