"""require_client_cert: a certificate from client_ca is required; expired,
not-yet-valid, revoked (CRL), foreign and missing certificates are refused
during the handshake, and the daemon says which case it was."""
import datetime
import os
import re
import signal
import socket
import ssl
import tempfile
import unittest

from harness import (Gateway, Client, tls_context, HELLO_OK, PONG, OPENSSL, TestCA, count_log)

REASONS = {
    "none": "no client certificate",
    "expired": "client certificate expired",
    "future": "client certificate not yet valid",
    "revoked": "client certificate revoked",
    "wrong_ca": "client certificate not signed by client_ca",
    "later_revoked": "client certificate revoked",
}


def attempt(port, pair, version):
    """Handshake with an optional (cert, key), then HELLO and PING.

    Returns (peer, outcome): peer is how the daemon's log names us; outcome is
    "pong" when everything worked, otherwise a description of where it failed.
    """
    ctx = tls_context(version)
    if pair:
        ctx.load_cert_chain(*pair)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    peer = "%s:%d" % raw.getsockname()[:2]
    try:
        sock = ctx.wrap_socket(raw)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        raw.close()
        return peer, "handshake failed: %r" % e
    c = Client.__new__(Client)
    c.sock, c.next_id = sock, 1
    try:
        rid, (mtype, rrid, _) = c.hello("correct horse battery")
        if (mtype, rrid) != (HELLO_OK, rid):
            return peer, "HELLO refused: type 0x%02x" % mtype
        rid, (mtype, rrid, _) = c.ping(b"certping")
        return peer, "pong" if (mtype, rrid) == (PONG, rid) else "PING refused"
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return peer, "closed after the handshake: %r" % e
    finally:
        c.close()


@unittest.skipIf(OPENSSL is None, "the openssl command-line tool is not installed")
class ClientCertTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="miscomm-clientca-")
        cls.ca = TestCA(os.path.join(cls.tmp, "ca"), "miscomm client CA")
        other = TestCA(os.path.join(cls.tmp, "other"), "some other CA")
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        cls.certs = {
            "good": cls.ca.issue("good", days=30),
            "expired": cls.ca.issue("expired", startdate=now - 30 * day, enddate=now - day),
            "future": cls.ca.issue("future", startdate=now + 10 * day, enddate=now + 40 * day),
            "revoked": cls.ca.issue("revoked", days=30),
            "wrong_ca": other.issue("wrong_ca", days=30),
            "later_revoked": cls.ca.issue("later_revoked", days=30),
        }
        cls.ca.revoke(cls.certs["revoked"][0])
        cls.crl = cls.ca.gencrl(os.path.join(cls.tmp, "clients.crl"))
        cls.gw = Gateway(tls={"require_client_cert": "yes", "client_ca": cls.ca.cert,
                              "crl": cls.crl})

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        if cls.gw.proc.poll() is None:
            cls.gw.stop()

    def assertAccepted(self, name, version):
        peer, outcome = attempt(self.gw.port, self.certs[name], version)
        self.assertEqual(outcome, "pong", "%s over TLS %s\n%s" % (name, version, self.gw.log()))
        self.gw.wait_log(r"peer=%s event=tls version=TLSv%s " % (re.escape(peer), version))
        self.gw.wait_log(r"peer=%s event=hello result=OK" % re.escape(peer))

    def assertRefused(self, name, version):
        pair = None if name == "none" else self.certs[name]
        peer, outcome = attempt(self.gw.port, pair, version)
        self.assertNotEqual(outcome, "pong", "%s certificate accepted over TLS %s" % (name, version))
        self.assertNotRegex(outcome, r"^(HELLO|PING) refused", outcome)
        p = re.escape(peer)
        # Wait for the connection to end, then look at what the daemon said about it.
        self.gw.wait_log(r"peer=%s event=disconnect " % p)
        log = self.gw.log()
        m = re.search(r"peer=%s event=tls_error code=(-?\d+) error=\"([^\"]*)\"(?: reason=\"([^\"]*)\")?"
                      % p, log)
        self.assertIsNotNone(m, "no event=tls_error for %s (%s over TLS %s)\n%s"
                             % (peer, name, version, log))
        self.assertEqual(m.group(3), REASONS[name],
                         "%s over TLS %s: daemon logged: %s" % (name, version, m.group(0)))
        self.assertRegex(log, r'peer=%s event=disconnect reason="TLS handshake failed" '
                              r'state=handshake' % p)
        self.assertNotRegex(log, r"peer=%s event=(tls version|hello)" % p)

    def test_good_certificate(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertAccepted("good", version)

    def test_miscli_with_certificate(self):
        cert, key = self.certs["good"]
        r = self.gw.miscli("--cert", cert, "--key", key, "ping", "--count", "2", "--interval", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("pong from"), 2, r.stdout)
        self.gw.wait_log(r'event=hello result=OK connection=psdmobile client="miscli/')

    def test_miscli_without_certificate(self):
        before = count_log(self.gw, r'reason="no client certificate"')
        r = self.gw.miscli("ping", "--count", "1", "--interval", "0")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("pong from", r.stdout)
        self.assertRegex(r.stderr, r"miscli: \w+: ")
        self.gw.wait_log(r'event=tls_error code=-?\d+ error="[^"]*" '
                         r'reason="no client certificate"', count=before + 1)

    def test_no_certificate(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("none", version)

    def test_expired(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("expired", version)

    def test_not_yet_valid(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("future", version)

    def test_revoked(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("revoked", version)

    def test_wrong_ca(self):
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("wrong_ca", version)

    def test_zz_revocation_by_reload(self):
        """Revoke a certificate, publish a new CRL, reload: new handshakes with
        it are refused; other certificates still work. (Runs last: it changes
        the CRL the shared gateway uses.)"""
        self.assertAccepted("later_revoked", "1.3")
        self.ca.revoke(self.certs["later_revoked"][0])
        self.ca.gencrl(self.crl)
        before = count_log(self.gw, r"event=reload result=ok")
        self.gw.proc.send_signal(signal.SIGHUP)
        self.gw.wait_log(r"event=reload result=ok", count=before + 1)
        for version in ("1.2", "1.3"):
            with self.subTest(version=version):
                self.assertRefused("later_revoked", version)
        self.assertAccepted("good", "1.2")


if __name__ == "__main__":
    unittest.main()
