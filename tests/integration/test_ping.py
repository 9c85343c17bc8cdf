"""Ping over TLS 1.2 and 1.3, with miscli and with a raw client."""
import struct
import unittest

from harness import Gateway, Client, HELLO_OK, PONG


class PingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        cls.gw.stop()

    def check_ping(self, version):
        with Client(self.gw.port, version=version) as c:
            self.assertEqual(c.sock.version(), "TLSv" + version)
            rid, (mtype, rrid, payload) = c.hello(self.gw.password)
            self.assertEqual((mtype, rrid), (HELLO_OK, rid))
            rid, (mtype, rrid, payload) = c.ping(b"abcdefgh")
            self.assertEqual((mtype, rrid), (PONG, rid))
            self.assertEqual(payload[8:], b"abcdefgh")
            (server_us,) = struct.unpack(">Q", payload[:8])
            self.assertGreater(server_us, 1_700_000_000_000_000)
        self.gw.wait_log(r"event=tls version=TLSv%s" % version)

    def test_tls12(self):
        self.check_ping("1.2")

    def test_tls13(self):
        self.check_ping("1.3")

    def test_miscli(self):
        r = self.gw.miscli("ping", "--count", "3", "--interval", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("pong from"), 3, r.stdout)
        self.assertIn("3 received, 0% loss", r.stdout)
        self.gw.wait_log(r"event=request op=ping id=\d+ result=OK", count=3)


if __name__ == "__main__":
    unittest.main()
