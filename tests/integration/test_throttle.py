"""Login throttling across connections: a guesser who reconnects to reset
the per-connection delay is refused, without a password check, once the
address has failed too often; the refusal is logged with its reason."""
import re
import socket
import unittest

from streams_client import parse_info_ok

from harness import Gateway, Client, ERROR, ERR

MAX_FAILURES = 20  # THROTTLE_MAX_FAILURES in src/server/throttle.h


def hello_payload(password):
    def s(x):
        b = x.encode()
        return len(b).to_bytes(2, "big") + b
    return (1).to_bytes(2, "big") * 2 + s("pytest") + s("1.0") + s("dev") + s(password)


def error_code(payload):
    return int.from_bytes(payload[:2], "big")


class ThrottleTest(unittest.TestCase):
    def test_reconnecting_guesser_is_refused(self):
        with Gateway(conns=[{"name": "psdmobile", "tries": 100}]) as gw:
            for i in range(MAX_FAILURES - 1):
                # Two guesses per connection keep the delay short (250, 500 ms).
                if i % 2 == 0:
                    c = Client(gw.port, timeout=30)
                _, (mtype, _, payload) = c.hello("wrong password %d" % i)
                self.assertEqual((mtype, error_code(payload)), (ERROR, ERR["AUTH"]))
                if i % 2 == 1:
                    c.close()
            self.assertEqual(gw.log().count("event=hello result=AUTH"), MAX_FAILURES - 1)
            # A correct login in between does not wipe the count.
            with Client(gw.port) as c:
                _, (mtype, _, _) = c.hello(gw.password)
                self.assertEqual(mtype, 0x02)
            with Client(gw.port) as c:
                _, (mtype, _, payload) = c.hello("one more wrong password")
                self.assertEqual((mtype, error_code(payload)), (ERROR, ERR["AUTH"]))
            self.assertEqual(gw.log().count("event=hello result=AUTH"), MAX_FAILURES)
            # Now even the right password is refused from this address, at
            # once and without a password check, and the connection closes.
            with Client(gw.port) as c:
                _, (mtype, _, payload) = c.hello(gw.password)
                self.assertEqual((mtype, error_code(payload)), (ERROR, ERR["TOO_MANY_TRIES"]))
                self.assertIn(b"failed logins from this address", payload)
                self.assertTrue(c.closed_by_server())
            gw.wait_log(r'event=hello result=TOO_MANY_TRIES connection=psdmobile '
                        r'reason="%d failed logins from this address in the last 60 s"'
                        % MAX_FAILURES)
            self.assertEqual(gw.log().count("event=hello result=AUTH"), MAX_FAILURES)
            gw.stop()


class InFlightTest(unittest.TestCase):
    def test_many_logins_from_one_address_use_the_whole_pool(self):
        """Devices behind one carrier NAT address: their checks are not limited
        per address (only by the pool's queue), so none is told BUSY."""
        with Gateway(server={"worker_threads": 2}) as gw:
            clients = [Client(gw.port, timeout=60) for _ in range(12)]
            for c in clients:  # twelve HELLOs at once, before any answer
                c.send(0x01, hello_payload(gw.password))
            types = []
            for c in clients:
                mtype, _, _ = c.recv()
                types.append(mtype)
                c.close()
            self.assertEqual(types, [0x02] * 12)
            self.assertNotIn("result=BUSY", gw.log())
            # Up to the pool's queue (2 threads x 8) were in flight at once.
            queued = [int(n) for n in re.findall(r"event=password_check .*queued=(\d+)", gw.log())]
            self.assertEqual(len(queued), 12)
            self.assertGreater(max(queued), 2)
            gw.stop()

    def test_a_login_storm_waits_in_line_and_nobody_is_dropped(self):
        """After a restart every device logs in at once: past the pool's queue
        (1 thread x 8) checks wait in the gateway's own queue, with the HELLO
        timer stopped, so none is told BUSY and none is dropped even when
        the storm lasts longer than handshake_timeout."""
        with Gateway(server={"worker_threads": 1, "handshake_timeout": 1}) as gw:
            clients = [Client(gw.port, timeout=120) for _ in range(40)]
            for c in clients:
                c.send(0x01, hello_payload(gw.password))
            types = []
            mtype, _, _ = clients[0].recv()
            types.append(mtype)
            # INFO tells a newcomer to wait longer than usual: the queue's time.
            probe = Client(gw.port, timeout=120)
            probe.send(0x07)
            ptype, _, payload = probe.recv()
            probe.close()
            self.assertEqual(ptype, 0x08)
            self.assertGreater(parse_info_ok(payload)["hello_answer_ms"], 30000)
            for c in clients[1:]:
                mtype, _, _ = c.recv()
                types.append(mtype)
            for c in clients:
                c.close()
            self.assertEqual(types, [0x02] * 40)
            log = gw.log()
            self.assertNotIn("result=BUSY", log)
            self.assertNotIn("no HELLO within", log)
            self.assertRegex(log, r"event=password_check .*waiting=\d+")
            queued = [int(n) for n in re.findall(r"event=password_check .*queued=(\d+)", log)]
            self.assertEqual(len(queued), 40)
            self.assertLessEqual(max(queued), 8, "the pool's queue stays bounded")
            gw.stop()

    def test_checks_in_flight_count_against_the_guess_limit(self):
        """Running checks may all fail: with the failures already counted they
        stay below the limit, so six guesses at once cannot pass it."""
        with Gateway(conns=[{"name": "psdmobile", "tries": 100}]) as gw:
            done = MAX_FAILURES - 2
            for i in range(done):
                if i % 2 == 0:
                    c = Client(gw.port, timeout=30)
                _, (mtype, _, payload) = c.hello("wrong password %d" % i)
                self.assertEqual((mtype, error_code(payload)), (ERROR, ERR["AUTH"]))
                if i % 2 == 1:
                    c.close()
            clients = [Client(gw.port, timeout=30) for _ in range(6)]
            for c in clients:
                c.send(0x01, hello_payload("wrong password"))
            codes = []
            for c in clients:
                mtype, _, payload = c.recv()
                codes.append(error_code(payload) if mtype == ERROR else None)
                c.close()
            # Two are checked; the others are told BUSY (or, if both checks
            # already failed, TOO_MANY_TRIES): never a 21st guess.
            self.assertEqual(codes.count(ERR["AUTH"]), 2, codes)
            self.assertEqual(codes.count(ERR["BUSY"]) + codes.count(ERR["TOO_MANY_TRIES"]), 4, codes)
            if ERR["BUSY"] in codes:
                gw.wait_log(r"event=hello result=BUSY in_flight_here=\d recent_failures=%d" % done)
            self.assertEqual(gw.log().count("event=hello result=AUTH"), MAX_FAILURES)
            gw.stop()


class RefusalSlotsTest(unittest.TestCase):
    def test_refusals_from_one_address_are_capped(self):
        with Gateway(server={"max_connections_per_ip": 1}) as gw:
            with Client(gw.port) as first:
                _, (mtype, _, _) = first.hello(gw.password)
                # Twenty more sockets that never start TLS: at most four of
                # them may hold a refusal handshake; the rest are dropped at once.
                socks = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(20)]
                gw.wait_log(r"event=connection_dropped", count=16)
                self.assertEqual(len(re.findall(r"refused=connection_limit", gw.log())), 4)
                for s in socks:
                    s.close()
                # The first client is unaffected.
                _, (mtype, _, _) = first.ping()
                self.assertEqual(mtype, 0x04)
            gw.stop()


if __name__ == "__main__":
    unittest.main()
