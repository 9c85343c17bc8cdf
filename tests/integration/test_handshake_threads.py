"""Which TLS handshake steps run on the handshake threads (tls.c,
tls_step_heavy) and which on the loop thread, whatever the way a client
cuts its ClientHello into records and TCP segments. The daemon logs each
step at debug level: event=tls_step on=thread|loop."""
import os
import re
import socket
import ssl
import time
import unittest

from harness import Gateway, PONG, login, tls_context
from tlsraw import (ECDHE_ECDSA_AES128_GCM_SHA256, HANDSHAKE, SERVER_HELLO_DONE,
                    TLS13_AES_128_GCM_SHA256, client_hello, exchange, u8, u16, vec16)

EXT_SESSION_TICKET = 35
STEP = r"event=tls_step on=(thread|loop)"


class HandshakeThreadsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(server={"handshake_threads": 2})
        cls.gw.wait_log(r"event=handshake_threads threads=2")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def steps_of(self, who):
        """The on= of every handshake step of the connection from who ("ip:port"),
        once the daemon has logged its end."""
        self.gw.wait_log(r"peer=%s event=disconnect" % re.escape(who))
        return re.findall(r"peer=%s event=tls_step on=(thread|loop)" % re.escape(who),
                          self.gw.log())

    def handshake_in_memory(self, raw, ctx, session=None):
        """A client handshake through memory buffers over the socket raw, so
        that a test controls what is sent when: (the TLS object, its
        outgoing buffer with the client's last flight not yet sent, every
        byte the gateway sent)."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost", session=session)
        seen = b""
        while True:
            try:
                tls.do_handshake()
                return tls, outgoing, seen
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                self.assertTrue(data, "the gateway closed during the handshake")
                seen += data
                incoming.write(data)

    def test_tls13_hello_cut_into_records(self):
        """A first record of ten bytes (the message header and a little of the
        body: wolfSSL refuses less than the header), the rest later: the rest
        still goes to a thread, not judged by a byte from the middle of the
        message."""
        hello = client_hello([TLS13_AES_128_GCM_SHA256], tls13=True)
        ans = exchange(self.gw.port, hello, fragments=[10], pause=0.3)
        self.assertIsNotNone(ans.server_hello(), ans.alert_name)
        steps = self.steps_of(ans.local)
        self.assertIn("thread", steps)
        self.assertNotIn("loop", steps, steps)

    def test_tls13_hello_cut_into_tcp_segments(self):
        """One record in two TCP writes: nothing runs until the record is whole,
        and then on a thread."""
        hello = client_hello([TLS13_AES_128_GCM_SHA256], tls13=True)
        ans = exchange(self.gw.port, hello, pause=0.3, tcp_split=40)
        self.assertIsNotNone(ans.server_hello(), ans.alert_name)
        self.assertEqual(self.steps_of(ans.local), ["thread"])

    def test_tls12_hello_with_a_ticket_we_never_issued(self):
        """A ticket that names none of our keys means a full handshake: a thread."""
        hello = client_hello([ECDHE_ECDSA_AES128_GCM_SHA256],
                             extensions=[(EXT_SESSION_TICKET, os.urandom(120))])
        ans = exchange(self.gw.port, hello)
        self.assertIsNotNone(ans.message(SERVER_HELLO_DONE), ans.alert_name)
        self.assertEqual(self.steps_of(ans.local), ["thread"])

    def test_tls12_resumption_stays_on_the_loop(self):
        """A ticket of ours: the resumption is a few hashes, done on the loop."""
        ctx = tls_context("1.2")

        def connect(session=None):
            raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
            return ctx.wrap_socket(raw, server_hostname="localhost", session=session)

        with connect() as s:
            session = s.session
            first = "%s:%d" % s.getsockname()[:2]
        self.assertIn("thread", self.steps_of(first))  # a full handshake
        with connect(session) as s:
            self.assertTrue(s.session_reused)
            second = "%s:%d" % s.getsockname()[:2]
        steps = self.steps_of(second)
        self.assertTrue(steps)
        self.assertEqual(set(steps), {"loop"}, steps)
        self.gw.wait_log(r"peer=%s event=tls version=TLSv1.2 cipher=\S+ resumed=yes" % second)

    def test_tls12_resumption_with_its_change_cipher_spec_alone(self):
        """The client's last flight cut after its ChangeCipherSpec: the lone
        ChangeCipherSpec, and then the encrypted Finished behind it, both stay
        on the loop (no trip for a record that costs nothing)."""
        ctx = tls_context("1.2")
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.gw.port), timeout=10),
                             server_hostname="localhost") as s:
            session = s.session
        raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        who = "%s:%d" % raw.getsockname()[:2]
        with raw:
            tls, outgoing, _ = self.handshake_in_memory(raw, ctx, session)
            self.assertTrue(tls.session_reused)
            last = outgoing.read()
            self.assertEqual(last[0], 20, "the last flight starts with a ChangeCipherSpec")
            raw.sendall(last[:6])  # the ChangeCipherSpec record: 5 bytes of header, 1 of body
            time.sleep(0.3)
            raw.sendall(last[6:])
            self.gw.wait_log(r"peer=%s event=tls version=TLSv1.2 cipher=\S+ resumed=yes" % who)
        self.assertEqual(self.steps_of(who), ["loop", "loop", "loop"])

    def test_change_cipher_spec_inside_a_hello_cut_into_records(self):
        """A ChangeCipherSpec between two records of one ClientHello (wolfSSL,
        before a version is agreed, ignores it): the ChangeCipherSpec runs on
        the loop, and the hello's second record, which carries the key
        exchange, still goes to a thread (not taken for a Finished)."""
        hello = client_hello([TLS13_AES_128_GCM_SHA256], tls13=True)
        first = u8(HANDSHAKE) + u16(0x0301) + vec16(hello[:50])
        rest = u8(HANDSHAKE) + u16(0x0301) + vec16(hello[50:])
        with socket.create_connection(("127.0.0.1", self.gw.port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            who = "%s:%d" % s.getsockname()[:2]
            for record in (first, bytes([20, 3, 3, 0, 1, 1]), rest):
                s.sendall(record)
                time.sleep(0.3)
            answer = s.recv(5)
            self.assertEqual(answer[:1], bytes([HANDSHAKE]), answer)  # the server's flight
        self.assertEqual(self.steps_of(who), ["thread", "loop", "thread"])

    def issued_ticket(self):
        """A TLS 1.2 session ticket as the gateway issues it, read from its
        NewSessionTicket (sent in the clear, before its ChangeCipherSpec)."""
        with socket.create_connection(("127.0.0.1", self.gw.port), timeout=10) as raw:
            _, outgoing, seen = self.handshake_in_memory(raw, tls_context("1.2"))
            raw.sendall(outgoing.read())
        msgs = b""
        while len(seen) >= 5 and seen[0] != 20:  # the records before its ChangeCipherSpec
            size = int.from_bytes(seen[3:5], "big")
            if seen[0] == 22:
                msgs += seen[5:5 + size]
            seen = seen[5 + size:]
        while msgs:
            kind, size = msgs[0], int.from_bytes(msgs[1:4], "big")
            if kind == 4:  # NewSessionTicket: lifetime (4), length (2), ticket
                return msgs[4 + 6:4 + size]
            msgs = msgs[4 + size:]
        self.fail("no NewSessionTicket in the clear")

    def test_tls12_ticket_that_only_names_our_key(self):
        """Our key's name on a ticket that does not open under it: wolfSSL
        falls back to a full handshake, so the step goes to a thread; the
        genuine ticket, offered the same way, stays on the loop."""
        ticket = self.issued_ticket()
        forged = ticket[:40] + bytes([ticket[40] ^ 1]) + ticket[41:]  # a sealed byte changed
        hello = client_hello([ECDHE_ECDSA_AES128_GCM_SHA256],
                             extensions=[(EXT_SESSION_TICKET, forged)])
        ans = exchange(self.gw.port, hello)
        self.assertIsNotNone(ans.message(SERVER_HELLO_DONE), ans.alert_name)  # a full handshake
        self.assertEqual(self.steps_of(ans.local), ["thread"])
        # The genuine one: judged light. (This hello offers no extended master
        # secret, so wolfSSL then refuses to resume the session: an alert,
        # cheaply, on the loop.)
        hello = client_hello([ECDHE_ECDSA_AES128_GCM_SHA256],
                             extensions=[(EXT_SESSION_TICKET, ticket)])
        self.assertEqual(self.steps_of(exchange(self.gw.port, hello).local), ["loop"])

    def test_login_after_handshake_on_a_thread(self):
        with login(self.gw.port, self.gw.password) as c:
            rid, (mtype, rrid, _) = c.ping(b"threads!")
            self.assertEqual((mtype, rrid), (PONG, rid))


if __name__ == "__main__":
    unittest.main()
