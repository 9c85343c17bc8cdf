"""SIGHUP reload (and misctl reload): a new certificate for new handshakes while
live sessions carry on; a broken certificate or an invalid configuration is
refused and the running configuration kept; permission changes apply to new
logins."""
import os
import re
import signal
import socket
import subprocess
import unittest

from harness import (Gateway, Client, login, tls_context, HELLO, HELLO_OK, PING, PONG, ERR, MISCTL,
                     hello_payload,
                     OPENSSL, make_self_signed, cert_der, sha256_colon, cert_fingerprint,
                     make_data_dir, count_log, parse_hello_ok)

RELOAD_OK = r"event=reload result=ok"
RELOAD_FAILED = r"event=reload result=failed"


def served_cert_der(port, version=None):
    """The DER of the certificate a fresh handshake presents."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with tls_context(version).wrap_socket(raw) as s:
        return s.getpeercert(binary_form=True)


@unittest.skipIf(OPENSSL is None, "the openssl command-line tool is not installed")
class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(start=False)
        self.key = os.path.join(self.gw.dir, "certs", "miscomm.key")
        make_self_signed(self.gw.cert, self.key, cn="first")
        self.addCleanup(self.stop)
        self.gw.start()

    def stop(self):
        if self.gw.proc and self.gw.proc.poll() is None:
            self.assertEqual(self.gw.stop(), 0)
        self.gw.__exit__(None, None, None)

    def hup(self, expect):
        """SIGHUP; wait for the next reload result line; return the log text after it."""
        before = count_log(self.gw, r"event=reload result=")
        mark = len(self.gw.log())
        self.gw.proc.send_signal(signal.SIGHUP)
        self.gw.wait_log(r"event=reload result=", count=before + 1)
        tail = self.gw.log()[mark:]
        self.assertRegex(tail, expect)
        self.assertIsNone(self.gw.proc.poll(), "miscommd exited on reload")
        return tail

    def assertPings(self, client, data=b"still-up"):
        rid, (mtype, rrid, payload) = client.ping(data)
        self.assertEqual((mtype, rrid), (PONG, rid),
                         "PING answered by %r\n%s" % (payload, self.gw.log()))
        self.assertEqual(payload[8:], data)

    def test_new_certificate_and_refused_reloads(self):
        gw = self.gw
        first_der = cert_der(gw.cert)
        self.assertEqual(served_cert_der(gw.port), first_der)
        self.assertEqual(gw.fingerprint(), sha256_colon(first_der))
        old = login(gw.port, gw.password)
        self.addCleanup(old.close)
        self.assertPings(old)

        # 1. A new key and certificate, then SIGHUP.
        make_self_signed(gw.cert, self.key, cn="second")
        new_der = cert_der(gw.cert)
        self.assertNotEqual(new_der, first_der)
        tail = self.hup(RELOAD_OK)
        m = re.search(r"event=certificate file=\S+ sha256=(\S+)", tail)
        self.assertIsNotNone(m, tail)
        self.assertEqual(m.group(1), sha256_colon(new_der))
        self.assertPings(old)
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertEqual(served_cert_der(gw.port, version), new_der)
        # A new session works end to end with the new certificate.
        with login(gw.port, gw.password) as c:
            self.assertEqual(c.sock.getpeercert(binary_form=True), new_der)
            self.assertPings(c)

        # 2. A damaged certificate: refused, the running one kept.
        with open(gw.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nZ2FyYmFnZSBnYXJiYWdl\n"
                    "-----END CERTIFICATE-----\n")
        tail = self.hup(RELOAD_FAILED)
        self.assertRegex(tail, r'reason="certificate, key, PSK file or TLS settings refused"')
        self.assertRegex(tail, r"event=certificate file=\S+ error=")
        self.assertNotRegex(tail, RELOAD_OK)
        self.assertEqual(served_cert_der(gw.port), new_der)
        self.assertPings(old)

        # 3. Pure garbage in the file (no PEM at all): same.
        with open(gw.cert, "wb") as f:
            f.write(os.urandom(700))
        self.hup(RELOAD_FAILED)
        self.assertEqual(served_cert_der(gw.port), new_der)
        self.assertPings(old)

        # 4. A certificate that does not match the key: refused too.
        other_key = os.path.join(gw.dir, "other.key")
        make_self_signed(gw.cert, other_key, cn="mismatch")
        tail = self.hup(RELOAD_FAILED)
        self.assertRegex(tail, r'event=tls_config error="private key does not match')
        self.assertEqual(served_cert_der(gw.port), new_der)
        self.assertPings(old)
        with login(gw.port, gw.password) as c:
            self.assertPings(c)

    def test_invalid_configuration_is_refused(self):
        gw = self.gw
        old = login(gw.port, gw.password)
        self.addCleanup(old.close)
        der = cert_der(gw.cert)
        gw.server["max_connections"] = 0
        gw.write_config()
        tail = self.hup(RELOAD_FAILED)
        self.assertRegex(tail, r'event=config_error section="server" key="max_connections" '
                               r'reason="must be a whole number from 1 to 100000 \(got \'0\'\)"')
        self.assertRegex(tail, r'event=reload result=failed reason="invalid configuration"')
        # The running limit (1024) still applies: new logins work.
        self.assertPings(old)
        with login(gw.port, gw.password) as c:
            self.assertPings(c)
        self.assertEqual(served_cert_der(gw.port), der)

        # An unknown key is refused the same way.
        del gw.server["max_connections"]
        gw.server["no_such_key"] = "1"
        gw.write_config()
        tail = self.hup(RELOAD_FAILED)
        self.assertRegex(tail, r'event=config_error section="server" key="no_such_key" '
                               r'reason="unknown key"')
        self.assertPings(old)

        # Fixed again: the reload goes through.
        del gw.server["no_such_key"]
        gw.write_config()
        self.hup(RELOAD_OK)
        self.assertPings(old)

    def test_permission_change_applies_to_new_logins(self):
        gw = self.gw
        old = login(gw.port, gw.password)
        self.addCleanup(old.close)
        self.assertPings(old)
        gw.conns[0]["ping"] = "off"
        gw.write_config()
        self.hup(RELOAD_OK)
        # A new login gets the new permissions: no ping.
        with Client(gw.port) as c:
            rid, (mtype, rrid, payload) = c.hello(gw.password)
            self.assertEqual((mtype, rrid), (HELLO_OK, rid))
            self.assertEqual(parse_hello_ok(payload)["permissions"] & 0x01, 0)
            rid = c.send(PING, b"denied!!")
            erid, code, msg = c.recv_error()
            self.assertEqual((erid, code), (rid, ERR["PERMISSION"]), msg)
        gw.wait_log(r"event=denied op=ping id=\d+ permission=ping connection=psdmobile")
        # The session that logged in before keeps the permissions it was given
        # at HELLO (c->perms is copied there).
        self.assertPings(old)
        # Back on: new logins may ping again.
        gw.conns[0]["ping"] = "on"
        gw.write_config()
        self.hup(RELOAD_OK)
        with login(gw.port, gw.password) as c:
            self.assertPings(c)

    def test_password_change_applies_to_new_logins(self):
        gw = self.gw
        old = login(gw.port, gw.password)
        self.addCleanup(old.close)
        gw.conns[0]["password"] = "a brand new password"
        gw.write_config()
        self.hup(RELOAD_OK)
        with Client(gw.port) as c:
            rid = c.send(HELLO, hello_payload("correct horse battery"))
            erid, code, msg = c.recv_error()
            self.assertEqual((erid, code), (rid, ERR["AUTH"]), msg)
        gw.wait_log(r'event=hello result=AUTH connection=psdmobile .*reason="wrong password"')
        with login(gw.port, "a brand new password") as c:
            self.assertPings(c)
        self.assertPings(old)

    def test_misctl_reload(self):
        r = subprocess.run([MISCTL, "reload", "--help"], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("misctl reload does not exist yet")
        # misctl reload needs the pid file in data_dir: start a gateway whose
        # data_dir exists.
        self.stop()
        gw = self.gw = Gateway(start=False)
        key = os.path.join(gw.dir, "certs", "miscomm.key")
        make_self_signed(gw.cert, key, cn="first")
        pid_file = os.path.join(make_data_dir(gw), "miscommd.pid")
        gw.start()
        with open(pid_file) as f:
            self.assertEqual(int(f.read().strip()), gw.proc.pid)
        old = login(gw.port, gw.password)
        self.addCleanup(old.close)
        make_self_signed(gw.cert, key, cn="second")
        before = count_log(gw, RELOAD_OK)
        r = subprocess.run([MISCTL, "reload", "-c", gw.ini], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("sent SIGHUP to miscommd (pid %d)" % gw.proc.pid, r.stdout)
        gw.wait_log(r"event=reload_requested config=\S+")
        gw.wait_log(RELOAD_OK, count=before + 1)
        self.assertEqual(served_cert_der(gw.port), cert_der(gw.cert))
        self.assertIn("sha256=%s" % cert_fingerprint(gw.cert), gw.log())
        self.assertPings(old)
        # An invalid configuration is refused by misctl before signalling.
        gw.server["max_connections"] = 0
        gw.write_config()
        n = count_log(gw, r"event=reload_requested")
        r = subprocess.run([MISCTL, "reload", "-c", gw.ini], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertEqual(count_log(gw, r"event=reload_requested"), n)
        # Once stopped, the pid file is gone and misctl says so.
        self.assertEqual(gw.stop(), 0)
        self.assertFalse(os.path.exists(pid_file))
        gw.server.pop("max_connections")
        gw.write_config()
        r = subprocess.run([MISCTL, "reload", "-c", gw.ini], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
