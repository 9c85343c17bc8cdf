"""Flow control: a client that pipelines a lot is served in full, and a
client that never reads its answers cannot make the gateway grow without
bound or slow down anyone else."""
import socket
import struct
import threading
import time
import unittest

from harness import Gateway, Client, HELLO_OK, NOOP, PONG


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class BackpressureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(server={"log_level": "info"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def run(self, result=None):
        # On failure, show what the gateway said about it.
        res = super().run(result)
        if result is not None and (result.failures or result.errors):
            print("---- miscommd log (last lines) ----")
            print("\n".join(self.gw.log().splitlines()[-30:]))
        return res

    def login(self):
        c = Client(self.gw.port, timeout=30)
        _, (mtype, _, _) = c.hello(self.gw.password)
        self.assertEqual(mtype, HELLO_OK)
        return c

    def test_large_pipeline_is_answered_in_full(self):
        # About 1.1 MB of NOOPs in one go: more than the plaintext queue and
        # more than one TLS record's worth at every step.
        n = 90000
        frames = b"".join(struct.pack(">BBHII", 1, NOOP, 0, i + 1, 0) for i in range(n))
        with self.login() as c:
            sender = threading.Thread(target=c.sock.sendall, args=(frames,))
            sender.start()
            got = 0
            expect = 1
            while got < n:
                mtype, rid, _ = c.recv()
                self.assertEqual((mtype, rid), (NOOP, expect))
                expect += 1
                got += 1
            sender.join(30)
            self.assertFalse(sender.is_alive())
            _, (mtype, _, _) = c.ping()
            self.assertEqual(mtype, PONG)

    def test_client_that_never_reads_is_bounded(self):
        before = rss_kib(self.gw.proc.pid)
        noops = struct.pack(">BBHII", 1, NOOP, 0, 7, 0) * 20000
        clients = [self.login() for _ in range(3)]
        sent = [0] * len(clients)

        def flood(i, c):
            c.sock.settimeout(0.5)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    sent[i] += c.sock.send(noops)
                except (socket.timeout, TimeoutError):
                    continue  # the gateway stopped reading: as it should
                except OSError:
                    return

        threads = [threading.Thread(target=flood, args=(i, c)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        grown = rss_kib(self.gw.proc.pid) - before
        # Each connection may queue about 4 MiB of answers, then is paused.
        self.assertLess(grown, 40 * 1024, "gateway grew by %d KiB; clients sent %s bytes"
                        % (grown, sent))
        # Meanwhile everyone else is served.
        with self.login() as other:
            _, (mtype, _, _) = other.ping()
            self.assertEqual(mtype, PONG)
        for c in clients:
            c.close()


if __name__ == "__main__":
    unittest.main()
