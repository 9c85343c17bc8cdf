"""Graceful shutdown: SIGTERM and SIGINT tell logged-in clients, let a HELLO
in flight finish with a clean answer, refuse new connections, and exit 0."""
import re
import signal
import socket
import ssl
import struct
import time
import unittest

from harness import (Gateway, Client, ERR, ERROR, HELLO, HELLO_OK, hello_payload, login, peer,
                     wait_exit)


def frames_until_close(c, timeout=10):
    """Every frame the server sends until it closes; raises on a reset or a cut frame."""
    c.sock.settimeout(timeout)
    frames = []
    while True:
        try:
            head = c.sock.recv(1)
        except ssl.SSLZeroReturnError:
            return frames
        if not head:
            return frames
        # The rest of the frame must arrive whole (Client.recv_exact raises otherwise).
        rest = c.recv_exact(11)
        version, mtype, flags, rid, n = struct.unpack(">BBHII", head + rest)
        payload = c.recv_exact(n) if n else b""
        frames.append((mtype, rid, payload))


def error_code(payload):
    return int.from_bytes(payload[:2], "big")


class ShutdownTest(unittest.TestCase):
    def check_stopped(self, gw, sig, signame):
        """sig was sent already; the daemon must exit 0 by itself."""
        code = wait_exit(gw)
        self.assertEqual(code, 0, gw.log())
        self.assertRegex(gw.log(), r"event=draining signal=%s " % signame)
        self.assertRegex(gw.log(), r"event=stopped exit_code=0")

    def idle_client_gets_shutting_down(self, sig, signame):
        with Gateway() as gw:
            with login(gw.port, gw.password) as c:
                who = peer(c)
                gw.proc.send_signal(sig)
                rid, code, msg = c.recv_error()
                self.assertEqual((rid, code), (0, ERR["SHUTTING_DOWN"]), msg)
                self.assertTrue(c.closed_by_server(), "server kept the connection")
            self.check_stopped(gw, sig, signame)
            self.assertRegex(gw.log(), r'peer=%s event=disconnect reason="server is shutting down"'
                             % re.escape(who))

    def test_sigterm_idle_client(self):
        self.idle_client_gets_shutting_down(signal.SIGTERM, "SIGTERM")

    def test_sigint_idle_client(self):
        self.idle_client_gets_shutting_down(signal.SIGINT, "SIGINT")

    def test_sigterm_with_no_client(self):
        with Gateway() as gw:
            gw.proc.send_signal(signal.SIGTERM)
            self.check_stopped(gw, signal.SIGTERM, "SIGTERM")
            self.assertRegex(gw.log(), r"event=draining signal=SIGTERM connections=0 busy=0")

    def test_sigterm_during_hello(self):
        # Argon2id takes ~80 ms on the worker pool: signal while it runs. The client
        # must get its HELLO answer (or a clean error frame), never a silent reset.
        for attempt in range(5):
            with Gateway() as gw:
                with Client(gw.port) as c:
                    who = re.escape(peer(c))
                    c.send(HELLO, hello_payload(gw.password))
                    in_auth = r"peer=%s event=state from=hello to=auth" % who
                    deadline = time.monotonic() + 5
                    while not re.search(in_auth, gw.log()) and time.monotonic() < deadline:
                        time.sleep(0.002)
                    gw.proc.send_signal(signal.SIGTERM)
                    while not re.search(r"event=draining", gw.log()) and \
                            time.monotonic() < deadline:
                        time.sleep(0.002)
                    # Draining, with the HELLO still being verified: no new clients.
                    refused = self.new_connection_refused(gw.port)
                    try:
                        frames = frames_until_close(c)
                    except (ConnectionError, ssl.SSLError) as e:
                        self.fail("connection cut during shutdown (%r); log:\n%s" % (e, gw.log()))
                self.assertTrue(refused, "a new connection was served while draining")
                self.check_stopped(gw, signal.SIGTERM, "SIGTERM")
                self.assertGreater(len(frames), 0, "no answer to the HELLO in flight")
                mtype, rid, payload = frames[0]
                self.assertIn(mtype, (HELLO_OK, ERROR))
                if mtype == HELLO_OK:
                    self.assertEqual(rid, 1)
                if mtype == ERROR:
                    self.assertEqual(error_code(payload), ERR["SHUTTING_DOWN"])
                # Whatever came last is the goodbye.
                self.assertEqual(frames[-1][0], ERROR)
                self.assertEqual(error_code(frames[-1][2]), ERR["SHUTTING_DOWN"])
                if re.search(r"event=draining signal=SIGTERM connections=1 busy=1 ", gw.log()):
                    # The HELLO really was in flight; it was answered.
                    self.assertEqual(mtype, HELLO_OK, frames)
                    self.assertRegex(gw.log(), r"peer=%s event=hello result=OK" % who)
                    return
        self.fail("could not send SIGTERM while a HELLO was being verified in 5 tries")

    def new_connection_refused(self, port):
        """True if a new client cannot connect, or is closed without being served."""
        try:
            c = Client(port, timeout=5)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            return True
        with c:
            try:
                rid, (mtype, _, _) = c.hello("whatever")
            except (ConnectionError, ssl.SSLError, OSError):
                return True
            return mtype == ERROR

    def test_new_connections_refused_after_sigterm(self):
        with Gateway() as gw:
            with login(gw.port, gw.password) as c:
                gw.proc.send_signal(signal.SIGTERM)
                rid, code, msg = c.recv_error()
                self.assertEqual(code, ERR["SHUTTING_DOWN"], msg)
                gw.wait_log(r"event=draining signal=SIGTERM")
                # The listener is closed once draining starts.
                self.assertTrue(self.new_connection_refused(gw.port))
            self.check_stopped(gw, signal.SIGTERM, "SIGTERM")
            self.assertTrue(self.new_connection_refused(gw.port))


if __name__ == "__main__":
    unittest.main()
