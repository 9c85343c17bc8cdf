"""The buffered log (src/common/log.c): every line of a burst of requests is
in the log once the gateway has stopped, in order; keepalive-class requests
(PING, NOOP), logged one by one only at debug, are counted on the
connection's disconnect line at info."""
import re
import unittest

from harness import Gateway, login

PING, NOOP = 0x03, 0x05


class BufferedLogTest(unittest.TestCase):
    def test_no_line_lost_at_shutdown_and_order_kept(self):
        with Gateway() as gw:  # log_level = debug: a line per PING
            with login(gw.port, gw.password) as c:
                for i in range(500):  # pipelined: one burst, few loop turns
                    c.send(PING, b"%08d" % i)
                for i in range(500):
                    c.recv()
            self.assertEqual(gw.stop(), 0)
            log = gw.log()
            ids = [int(x) for x in re.findall(r"event=request op=ping id=(\d+) result=OK", log)]
            self.assertEqual(ids, list(range(2, 502)))
            self.assertTrue(log.rstrip().endswith("exit_code=0"), log[-300:])

    def test_keepalives_summarised_at_info(self):
        with Gateway(server={"log_level": "info"}) as gw:
            with login(gw.port, gw.password) as c:
                for _ in range(20):
                    c.ping()
                for _ in range(5):
                    c.send(NOOP)
                    c.recv()
            gw.wait_log(r"event=disconnect .* requests=26 keepalives=25")
            self.assertNotIn("op=ping", gw.log())
            self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
