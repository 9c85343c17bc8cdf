"""TLS policy seen from a third-party client (the openssl command-line tool):
protocol versions, the `modern` and `referential` cipher policies, min_version,
and the certificate fingerprints the daemon logs at start."""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import unittest

from harness import Gateway, MISCLI, MISCOMMD

OPENSSL = shutil.which("openssl")

HANDSHAKE_FAILED = r'event=disconnect reason="TLS handshake failed" state=handshake'
TLS_OK = r"event=tls version=(\S+) cipher=(\S+)"


def s_client(port, *args):
    """(handshake succeeded, (version, cipher), output) for one openssl s_client run."""
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost"]
    r = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=10)
    out = r.stdout + r.stderr
    m = re.search(r"^New, (TLSv1\.\d), Cipher is (\S+)$", out, re.M)
    ok = r.returncode == 0 and m is not None and m.group(2) != "(NONE)"
    return ok, (m.groups() if ok else (None, None)), out


class TlsPolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # scripts/deps.sh installs it: its absence is a set-up failure, not a skip.
        assert OPENSSL is not None, "the openssl command-line tool is not installed"

    def assertAccepted(self, gw, version_opt, version, cipher=None):
        before = len(re.findall(TLS_OK, gw.log()))
        args = [version_opt]
        if cipher and version != "TLSv1.3":
            args += ["-cipher", cipher]
        ok, (got_version, got_cipher), out = s_client(gw.port, *args)
        self.assertTrue(ok, "%s %s refused:\n%s" % (version_opt, cipher or "", out))
        self.assertEqual(got_version, version, out)
        if cipher:
            self.assertEqual(got_cipher, cipher, out)
        lines = gw.wait_log(TLS_OK, count=before + 1)
        self.assertEqual(lines[-1][0], version)

    def assertRefused(self, gw, *args):
        before = len(re.findall(HANDSHAKE_FAILED, gw.log()))
        ok, _, out = s_client(gw.port, *args)
        self.assertFalse(ok, "%s accepted:\n%s" % (" ".join(args), out))
        # The server saw the attempt and refused it (openssl did not just give up locally).
        gw.wait_log(HANDSHAKE_FAILED, count=before + 1)

    def test_modern_policy(self):
        with Gateway() as gw:
            gw.wait_log(r"event=certificate_generated file=\S+ key=\S+ type=ecdsa-p256")
            # Protocol versions.
            self.assertRefused(gw, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
            self.assertRefused(gw, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
            self.assertAccepted(gw, "-tls1_2", "TLSv1.2")
            self.assertAccepted(gw, "-tls1_3", "TLSv1.3")
            # TLS 1.2 suites: ECDHE with AEAD only.
            for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                           "ECDHE-ECDSA-CHACHA20-POLY1305"):
                with self.subTest(cipher=cipher):
                    self.assertAccepted(gw, "-tls1_2", "TLSv1.2", cipher)
            for cipher in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA",
                           "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"):
                with self.subTest(cipher=cipher):
                    self.assertRefused(gw, "-tls1_2", "-cipher", cipher)
            self.check_fingerprints(gw)
            self.check_miscli_spki_pin(gw)
            self.assertEqual(gw.stop(), 0)

    def test_referential_policy(self):
        with Gateway(tls={"cipher_policy": "referential"}) as gw:
            gw.wait_log(r"event=certificate_generated file=\S+ key=\S+ type=rsa-3072")
            key = subprocess.run([OPENSSL, "x509", "-in", gw.cert, "-noout", "-text"],
                                 capture_output=True, text=True, check=True).stdout
            self.assertIn("Public-Key: (3072 bit)", key)
            for cipher in ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
                           "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
                           "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256"):
                with self.subTest(cipher=cipher):
                    self.assertAccepted(gw, "-tls1_2", "TLSv1.2", cipher)
            for cipher in ("ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-SHA",
                           "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256",
                           "DHE-RSA-AES128-SHA256"):
                with self.subTest(cipher=cipher):
                    self.assertRefused(gw, "-tls1_2", "-cipher", cipher)
            self.assertRefused(gw, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
            self.assertAccepted(gw, "-tls1_3", "TLSv1.3")
            self.check_fingerprints(gw)
            self.check_miscli_spki_pin(gw)
            self.assertEqual(gw.stop(), 0)

    def test_referential_spki_pin(self):
        # The RSA certificate's SPKI pin, computed by a standard tool, is accepted by miscli.
        with Gateway(tls={"cipher_policy": "referential"}) as gw:
            self.check_miscli_spki_pin(gw)
            self.assertEqual(gw.stop(), 0)

    def test_min_version_13(self):
        with Gateway(tls={"min_version": "1.3"}) as gw:
            self.assertRefused(gw, "-tls1_2")
            self.assertAccepted(gw, "-tls1_3", "TLSv1.3")
            self.assertEqual(gw.stop(), 0)

    def test_explicit_ciphers(self):
        """An explicit list overrides the policy, and only names suites of the allowlist."""
        with Gateway(tls={"ciphers": "TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"}) as gw:
            self.assertAccepted(gw, "-tls1_2", "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
            self.assertRefused(gw, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
            self.assertRefused(gw, "-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384")
            ok, (version, cipher), out = s_client(gw.port, "-tls1_3", "-ciphersuites",
                                                  "TLS_AES_128_GCM_SHA256")
            self.assertTrue(ok, out)
            self.assertEqual((version, cipher), ("TLSv1.3", "TLS_AES_128_GCM_SHA256"))
            self.assertEqual(gw.stop(), 0)

    def test_explicit_ciphers_integrity_only_refused(self):
        """Suites that authenticate but do not encrypt (a connection really ran with
        one) are refused by --check-config and at start, with the suite named."""
        for suite in ("TLS13-SHA256-SHA256", "TLS_SHA384_SHA384", "ECDHE-PSK-NULL-SHA256"):
            with self.subTest(suite=suite):
                gw = Gateway(tls={"ciphers": "TLS13-AES128-GCM-SHA256:" + suite}, start=False)
                r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True,
                                   text=True, timeout=30)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 78, out)
                self.assertIn("[tls] ciphers: '%s' is refused" % suite, out)
                self.assertIn("configuration is invalid", out)
                r = subprocess.run([MISCOMMD, "-c", gw.ini], capture_output=True, text=True,
                                   timeout=30, stdin=subprocess.DEVNULL)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 78, out)
                self.assertRegex(out, r'ERROR event=config_error section="tls" key="?ciphers"? '
                                      r'reason="\'%s\' is refused' % re.escape(suite))
                self.assertNotIn("event=listening", out)

    def check_fingerprints(self, gw):
        m = re.search(r"event=certificate file=\S+ sha256=(\S+) spki_sha256=(\S+) "
                      r"spki_pin=sha256/(\S+)", gw.log())
        self.assertIsNotNone(m, gw.log())
        logged_cert, logged_spki, logged_pin = m.groups()
        out = subprocess.run([OPENSSL, "x509", "-in", gw.cert, "-noout", "-fingerprint",
                              "-sha256"], capture_output=True, text=True, check=True).stdout
        openssl_cert = out.strip().split("=", 1)[1]
        self.assertEqual(logged_cert.upper(), openssl_cert.upper())
        pub = subprocess.run([OPENSSL, "x509", "-in", gw.cert, "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"], input=pub,
                             capture_output=True, check=True).stdout
        digest = hashlib.sha256(der)
        # SHA-256 of the DER SubjectPublicKeyInfo, as HPKP, Android pin-sets and curl's
        # --pinnedpubkey define it.
        self.assertEqual(logged_spki.upper(), ":".join("%02X" % b for b in digest.digest()),
                         "logged spki_sha256 is not the SHA-256 of the certificate's "
                         "SubjectPublicKeyInfo")
        self.assertEqual(logged_pin, base64.b64encode(digest.digest()).decode())

    def check_miscli_spki_pin(self, gw):
        """miscli trusts the server by the standard SPKI SHA-256 of its public key."""
        pub = subprocess.run([OPENSSL, "x509", "-in", gw.cert, "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "DER"], input=pub,
                             capture_output=True, check=True).stdout
        pin = hashlib.sha256(der).hexdigest()
        pwfile = os.path.join(gw.dir, "spki.password")
        with open(pwfile, "w") as f:
            f.write(gw.password + "\n")
        r = subprocess.run([MISCLI, "--port", str(gw.port), "--fingerprint", pin,
                            "--password-file", pwfile, "hello"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "miscli refused the SPKI pin %s: %s" % (pin, r.stderr))
        gw.wait_log(r"event=hello result=OK")


if __name__ == "__main__":
    unittest.main()
