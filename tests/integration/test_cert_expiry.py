"""Certificate expiry warnings: a certificate close to its end logs
event=certificate_expiring (WARN) at start and on reload, [tls] cert_warn_days
moves the threshold, and an expired certificate logs event=certificate_expired
(ERROR). The gateway keeps serving in every case."""
import datetime
import os
import re
import shutil
import signal
import tempfile
import unittest

from harness import (Gateway, OPENSSL, TestCA, make_self_signed, cert_fingerprint, count_log,
                     ping_ok)

EXPIRING = r"(\w+) event=certificate_expiring file=(\S+) not_after=(\S+) days_left=(-?\d+) " \
           r"warn_days=(\d+) action=\"renew it: misctl cert create, then misctl reload\""
EXPIRED = r"(\w+) event=certificate_expired file=(\S+) not_after=(\S+) days_ago=(\d+) " \
          r"action=\"renew it: misctl cert create, then misctl reload\""
CERT_LINE = r"event=certificate file=\S+ sha256=(\S+) .* not_after=(\S+) days_left=(-?\d+)"


@unittest.skipIf(OPENSSL is None, "the openssl command-line tool is not installed")
class CertExpiryTest(unittest.TestCase):
    def gateway(self, tls=None, cert=None):
        """A gateway serving cert (a (cert, key) pair, copied in), not yet started."""
        gw = Gateway(tls=tls, start=False)
        self.addCleanup(self.finish, gw)
        if cert:
            shutil.copy(cert[0], gw.cert)
            shutil.copy(cert[1], os.path.join(gw.dir, "certs", "miscomm.key"))
        return gw

    def finish(self, gw):
        if gw.proc and gw.proc.poll() is None:
            self.assertEqual(gw.stop(), 0)
        gw.__exit__(None, None, None)

    def short_cert(self, days=5):
        d = tempfile.mkdtemp(prefix="miscomm-expiry-")
        return make_self_signed(os.path.join(d, "short.crt"), os.path.join(d, "short.key"),
                                days=days)

    def test_expiring_soon_warns(self):
        gw = self.gateway(cert=self.short_cert(5))
        gw.start()
        level, path, not_after, days_left, warn_days = gw.wait_log(EXPIRING)[0]
        self.assertEqual(level, "WARN")
        self.assertEqual(path, gw.cert)
        self.assertIn(int(days_left), (4, 5))
        self.assertEqual(warn_days, "30")
        fp, logged_not_after, logged_days = re.search(CERT_LINE, gw.log()).groups()
        self.assertEqual(fp, cert_fingerprint(gw.cert))
        self.assertEqual(logged_not_after, not_after)
        self.assertEqual(logged_days, days_left)
        self.assertNotRegex(gw.log(), r"event=certificate_expired")
        # A warning, not a refusal: the gateway serves.
        self.assertTrue(ping_ok(gw.port, gw.password))

    def test_cert_warn_days_below_days_left(self):
        gw = self.gateway(tls={"cert_warn_days": 3}, cert=self.short_cert(5))
        gw.start()
        gw.wait_log(r"event=certificate file=\S+ sha256=\S+ .* days_left=[45]\b")
        self.assertTrue(ping_ok(gw.port, gw.password))
        self.assertNotRegex(gw.log(), r"event=certificate_expir")

    def test_cert_warn_days_zero_disables(self):
        gw = self.gateway(tls={"cert_warn_days": 0}, cert=self.short_cert(1))
        gw.start()
        self.assertTrue(ping_ok(gw.port, gw.password))
        self.assertNotRegex(gw.log(), r"event=certificate_expir")

    def test_long_certificate_no_warning_until_reload_with_short_one(self):
        gw = self.gateway()  # the daemon generates an 825-day certificate
        gw.start()
        # Valid from a day back; days_left counts whole days left, so a second
        # between generating and logging (a slow sanitizer build) makes 823.
        gw.wait_log(r"event=certificate file=\S+ sha256=\S+ .* days_left=82[345]\b")
        self.assertNotRegex(gw.log(), r"event=certificate_expir")
        cert, key = self.short_cert(5)
        shutil.copy(cert, gw.cert)
        shutil.copy(key, os.path.join(gw.dir, "certs", "miscomm.key"))
        n = count_log(gw, r"event=reload result=ok")
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"event=reload result=ok", count=n + 1)
        level, path, _, days_left, _ = gw.wait_log(EXPIRING)[0]
        self.assertEqual((level, path), ("WARN", gw.cert))
        self.assertIn(int(days_left), (4, 5))
        self.assertTrue(ping_ok(gw.port, gw.password))

    def test_expired_certificate(self):
        ca = TestCA(tempfile.mkdtemp(prefix="miscomm-expiry-ca-"))
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        expired = ca.issue("expired-gateway", startdate=now - 40 * day, enddate=now - 3 * day)
        gw = self.gateway(cert=expired)
        gw.start()
        level, path, not_after, days_ago = gw.wait_log(EXPIRED)[0]
        self.assertEqual(level, "ERROR")
        self.assertEqual(path, gw.cert)
        self.assertEqual(days_ago, "3")
        self.assertEqual(not_after, (now - 3 * day).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.assertRegex(gw.log(), r"event=certificate file=\S+ sha256=\S+ .* days_left=-3\b")
        self.assertNotRegex(gw.log(), r"event=certificate_expiring")
        # It still starts and serves (pinned clients keep working while the
        # administrator renews).
        self.assertTrue(ping_ok(gw.port, gw.password))
        # Renewal: a fresh certificate and a reload; no new expiry complaint.
        fresh = self.short_cert(365)
        shutil.copy(fresh[0], gw.cert)
        shutil.copy(fresh[1], os.path.join(gw.dir, "certs", "miscomm.key"))
        before = count_log(gw, r"event=certificate_expired")
        n = count_log(gw, r"event=reload result=ok")
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"event=reload result=ok", count=n + 1)
        self.assertEqual(count_log(gw, r"event=certificate_expired"), before)
        self.assertEqual(re.findall(CERT_LINE, gw.log())[-1][0], cert_fingerprint(gw.cert))


if __name__ == "__main__":
    unittest.main()
