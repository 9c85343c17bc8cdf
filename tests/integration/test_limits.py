"""Connection limits (global and per IP address), and plaintext connections:
allowed on loopback, refused by --check-config on a public bind."""
import glob
import re
import ssl
import subprocess
import threading
import unittest

from harness import (Gateway, Client, ERR, HELLO_OK, MISCOMMD, PONG, login, peer,
                     ping_ok)


def pings(c):
    rid, (mtype, rrid, _) = c.ping()
    return (mtype, rrid) == (PONG, rid)


class LimitsTest(unittest.TestCase):
    def expect_refused(self, gw, per_ip):
        with Client(gw.port) as c:
            who = peer(c)
            # The TLS handshake completes, then the refusal comes as an error frame.
            self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
            rid, code, msg = c.recv_error()
            self.assertEqual((rid, code), (0, ERR["CONN_LIMIT"]), msg)
            self.assertTrue(c.closed_by_server(), "server kept a refused connection")
        gw.wait_log(r"peer=%s event=connect connection=\S+ port=%d transport=tls "
                    r"refused=connection_limit" % (who, gw.port))
        gw.wait_log(r'peer=%s event=disconnect reason="connection limit reached '
                    r'\(max_connections=\d+, per ip=%d\)"' % (who, per_ip))

    def test_max_connections(self):
        with Gateway(server={"max_connections": 2}) as gw:
            a = login(gw.port, gw.password)
            b = login(gw.port, gw.password)
            try:
                self.expect_refused(gw, per_ip=64)
                self.assertTrue(pings(a))
                self.assertTrue(pings(b))
                who = peer(a)
                a.close()
                gw.wait_log(r"peer=%s event=disconnect" % who)
                # The freed slot is usable again.
                with login(gw.port, gw.password) as c:
                    self.assertTrue(pings(c))
                    self.assertTrue(pings(b))
                    # And the limit still holds with the new client.
                    self.expect_refused(gw, per_ip=64)
            finally:
                a.close()
                b.close()
            self.assertEqual(gw.stop(), 0)

    def test_max_connections_per_ip(self):
        with Gateway(server={"max_connections": 100, "max_connections_per_ip": 1}) as gw:
            with login(gw.port, gw.password) as a:
                self.expect_refused(gw, per_ip=1)
                self.assertTrue(pings(a))
                who = peer(a)
            gw.wait_log(r"peer=%s event=disconnect" % who)
            self.assertTrue(ping_ok(gw.port, gw.password))
            self.assertEqual(gw.stop(), 0)

    def test_per_ip_limit_exact_with_handshakes_on_every_thread(self):
        """Forty clients from one address at once, their handshakes spread over
        four handshake threads: exactly max_connections_per_ip of them log
        in, every other one is refused or dropped, and nobody is lost."""
        with Gateway(server={"max_connections": 200, "max_connections_per_ip": 10,
                             "handshake_threads": 4}) as gw:
            gw.wait_log(r"event=handshake_threads threads=4")
            names = []
            for path in glob.glob("/proc/%d/task/*/comm" % gw.proc.pid):
                with open(path) as f:
                    names.append(f.read().strip())
            self.assertEqual(names.count("mc-handshake"), 4, names)

            n = 40
            start = threading.Barrier(n)
            outcome = [None] * n
            held = []
            lock = threading.Lock()

            def one(i):
                start.wait()
                try:
                    c = Client(gw.port, timeout=30)
                except (ssl.SSLError, OSError):
                    outcome[i] = "dropped"  # closed before or during the handshake
                    return
                try:
                    rid, (mtype, rrid, payload) = c.hello(gw.password, device="dev-%d" % i)
                    if (mtype, rrid) == (HELLO_OK, rid):
                        outcome[i] = "in"
                        with lock:
                            held.append(c)  # stays connected until every client is done
                        return
                    code = int.from_bytes(payload[:2], "big")
                    outcome[i] = "refused" if code == ERR["CONN_LIMIT"] else "error %d" % code
                except (ssl.SSLError, OSError, AssertionError):
                    outcome[i] = "dropped"
                c.close()

            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            try:
                self.assertEqual(outcome.count("in"), 10, outcome)
                self.assertEqual(outcome.count("refused") + outcome.count("dropped"), 30, outcome)
                # Each refusal and drop is in the log, exactly as many as the clients saw.
                refused = r"event=connect connection=psdmobile port=%d transport=tls " \
                          r"refused=connection_limit" % gw.port
                gw.wait_log(refused, count=outcome.count("refused"))
                gw.wait_log(r"event=connection_dropped", count=outcome.count("dropped"))
                self.assertEqual(len(re.findall(refused, gw.log())), outcome.count("refused"))
                self.assertEqual(len(re.findall(r"event=connection_dropped", gw.log())),
                                 outcome.count("dropped"))
                for c in held:
                    self.assertTrue(pings(c))
            finally:
                for c in held:
                    c.close()
            self.assertEqual(gw.stop(), 0)

    def test_listen_backlog_follows_max_connections(self):
        """A reconnect storm fits in the kernel's accept queue: the listener's
        backlog is max_connections (at least 511, at most what the kernel allows)."""
        with open("/proc/sys/net/core/somaxconn") as f:
            somaxconn = int(f.read())
        for maxc, want in ((100, 511), (3000, 3000)):
            with Gateway(server={"max_connections": maxc}) as gw:
                out = subprocess.run(["ss", "-Hltn", "sport = :%d" % gw.port], capture_output=True,
                                     text=True, timeout=10).stdout.split()
                # State Recv-Q Send-Q ...: a listener's Send-Q is its backlog.
                self.assertEqual(int(out[2]), min(want, somaxconn), out)
                self.assertEqual(gw.stop(), 0)

    def test_plaintext_on_loopback(self):
        with Gateway(conns=[{"name": "plain", "encryption": "none"}]) as gw:
            gw.wait_log(r"event=listening connection=plain bind=127.0.0.1 port=%d encryption=none"
                        % gw.port)
            with Client(gw.port, tls=False) as c:
                who = peer(c)
                rid, (mtype, rrid, _) = c.hello(gw.password)
                self.assertEqual((mtype, rrid), (HELLO_OK, rid))
                self.assertTrue(pings(c))
            gw.wait_log(r"peer=%s event=connect connection=plain port=%d transport=plain"
                        % (who, gw.port))
            gw.wait_log(r"peer=%s event=request op=ping id=\d+ result=OK" % who)
            self.assertEqual(gw.stop(), 0)

    def check_config(self, conn):
        gw = Gateway(conns=[conn], start=False)
        r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stdout + r.stderr

    def test_check_config_plaintext_public_bind(self):
        code, out = self.check_config({"name": "open", "encryption": "none", "bind": "0.0.0.0"})
        self.assertEqual(code, 78, out)
        self.assertIn("'none' is refused unless bind is a loopback address or "
                      "allow_plaintext = yes", out)
        self.assertIn("configuration is invalid", out)
        code, out = self.check_config({"name": "open", "encryption": "none", "bind": "0.0.0.0",
                                       "allow_plaintext": "yes"})
        self.assertEqual(code, 0, out)
        self.assertIn("configuration is valid", out)
        code, out = self.check_config({"name": "loop", "encryption": "none",
                                       "bind": "127.0.0.1"})
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main()
