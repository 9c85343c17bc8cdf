"""Connection limits (global and per IP address), and plaintext connections:
allowed on loopback, refused by --check-config on a public bind."""
import subprocess
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
