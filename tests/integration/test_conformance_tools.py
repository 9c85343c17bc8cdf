"""Issue 11, items 9 to 17: check-config loads the TLS files like the daemon,
warnings for readable keys and not-yet-valid certificates, the PKCS#12 RC2
message, exit statuses, CRL expiry, and misctl cert create's input checks."""
import datetime
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import MISCOMMD, MISCTL, Gateway, TestCA, make_self_signed, openssl


def run(*cmd, input=None):
    return subprocess.run(list(cmd), capture_output=True, text=True, input=input, timeout=120)


class Tmp:
    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="miscomm-conf11-")
        test.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)


class CheckConfigTest(unittest.TestCase):
    """Item 10 (and 13): what the daemon refuses, check-config refuses, exit 78."""

    def gateway(self, tls):
        gw = Gateway(tls=tls, start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        return gw

    def assertBothRefuse(self, gw, text):
        for cmd in ([MISCTL, "check-config", gw.ini], [MISCOMMD, "--check-config", gw.ini]):
            r = run(*cmd)
            self.assertEqual(r.returncode, 78, (cmd, r.stdout, r.stderr))
            self.assertIn(text, r.stdout + r.stderr, cmd)
        r = run(MISCOMMD, "-c", gw.ini)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)

    def test_referential_with_ecdsa_certificate(self):
        gw = self.gateway({"cipher_policy": "referential"})
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", os.path.join(gw.dir, "certs", "miscomm.key"),
                "-out", gw.cert, "-days", "30", "-subj", "/CN=localhost")
        self.assertBothRefuse(gw, "referential allows only RSA suites")

    def crl_gateway(self, crl):
        t = Tmp(self)
        ca = TestCA(t.path("ca"), "check CA")
        gw = self.gateway({"require_client_cert": "yes", "client_ca": ca.cert, "crl": crl(t, ca)})
        make_self_signed(gw.cert, os.path.join(gw.dir, "certs", "miscomm.key"))
        return gw

    def test_unreadable_crl(self):
        gw = self.crl_gateway(lambda t, ca: t.path("missing.crl"))
        self.assertBothRefuse(gw, "cannot read crl")

    def test_foreign_ca_crl(self):
        def foreign(t, ca):
            return TestCA(t.path("other"), "other CA").gencrl(t.path("other.crl"))
        gw = self.crl_gateway(foreign)
        self.assertBothRefuse(gw, "cannot load crl")

    def test_valid_config_with_missing_certificate_is_valid(self):
        """The daemon makes the certificate at its first start."""
        gw = self.gateway({})
        r = run(MISCTL, "check-config", gw.ini)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration is valid", r.stdout)

    def test_docs_say_78(self):
        """Item 13: certificate failures exit 78 and the guide says so."""
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "..", "docs", "admin.md")) as f:
            doc = f.read()
        self.assertRegex(doc, r"a certificate or key it cannot\s+load, exits 78")


class StartWarningsTest(unittest.TestCase):
    """Item 11: warnings for a readable key or password file and a certificate
    not yet valid; item 12: the RC2 PKCS#12 message."""

    def start(self, gw):
        r = run(MISCOMMD, "--check-config", gw.ini)
        return r.stdout + r.stderr

    def test_key_readable_by_others(self):
        gw = Gateway(start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        key = os.path.join(gw.dir, "certs", "miscomm.key")
        make_self_signed(gw.cert, key)
        os.chmod(key, 0o600)
        self.assertNotIn("event=key_file_mode", self.start(gw))
        os.chmod(key, 0o644)
        self.assertRegex(self.start(gw), r"event=key_file_mode section=tls key=key file=\S+ "
                                         r"mode=0644 warning=\"others can read it")

    def test_password_file_readable_by_others(self):
        gw = Gateway(start=False, tls={"password_file": "key.password"})
        self.addCleanup(gw.__exit__, None, None, None)
        make_self_signed(gw.cert, os.path.join(gw.dir, "certs", "miscomm.key"))
        pw = os.path.join(gw.dir, "key.password")
        with open(pw, "w") as f:
            f.write("unused-password\n")
        os.chmod(pw, 0o644)
        self.assertRegex(self.start(gw), r"event=key_file_mode section=tls key=password_file")

    def test_not_yet_valid_certificate(self):
        t = Tmp(self)
        now = datetime.datetime.now(datetime.timezone.utc)
        crt, key = TestCA(t.path("ca"), "future CA").issue(
            "localhost", startdate=now + datetime.timedelta(days=3),
            enddate=now + datetime.timedelta(days=30))
        gw = Gateway(start=False, tls={"certificate": crt, "key": key})
        self.addCleanup(gw.__exit__, None, None, None)
        self.assertIn("WARN event=certificate_not_yet_valid", self.start(gw))

    def test_pkcs12_rc2(self):
        t = Tmp(self)
        crt, key = t.path("a.crt"), t.path("a.key")
        make_self_signed(crt, key)
        p12 = t.path("a.p12")
        openssl("pkcs12", "-export", "-legacy", "-in", crt, "-inkey", key, "-out", p12,
                "-passout", "pass:right-password")
        pwf = t.path("pw")
        with open(pwf, "w") as f:
            f.write("right-password\n")
        os.chmod(pwf, 0o600)
        r = run(MISCTL, "cert", "show", "--password-file", pwf, p12)
        self.assertIn("unsupported PKCS#12 encryption (RC2); re-export with AES or 3DES",
                      r.stdout + r.stderr)
        gw = Gateway(start=False, tls={"certificate": p12, "password_file": pwf})
        self.addCleanup(gw.__exit__, None, None, None)
        self.assertIn("unsupported PKCS#12 encryption (RC2)", self.start(gw))


class CrlExpiryTest(unittest.TestCase):
    """Item 9: a CRL near its nextUpdate is warned about, one past it is its own event."""

    def test_crl_expiring_warning(self):
        t = Tmp(self)
        ca = TestCA(t.path("ca"), "crl CA")
        crl = ca.gencrl(t.path("c.crl"))  # nextUpdate: the test CA's crl days
        gw = Gateway(start=False, tls={"require_client_cert": "yes", "client_ca": ca.cert,
                                       "crl": crl, "cert_warn_days": 3650})
        self.addCleanup(gw.__exit__, None, None, None)
        make_self_signed(gw.cert, os.path.join(gw.dir, "certs", "miscomm.key"))
        r = run(MISCOMMD, "--check-config", gw.ini)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"WARN event=crl_expiring file=\S+ next_update=")


class CertCreateChecksTest(unittest.TestCase):
    """Items 14 to 17."""

    def create(self, t, *args):
        return run(MISCTL, "cert", "create", "--out", t.path("x.crt"), "--key-out",
                   t.path("x.key"), *args)

    def assertRefused(self, t, args, text):
        r = self.create(t, *args)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn(text, r.stderr)
        self.assertEqual(os.listdir(t.dir), [])

    def test_long_cn_refused(self):
        t = Tmp(self)
        self.assertRefused(t, ["--cn", "a" * 65], "longer than the 64 characters")
        # 40 characters, 80 bytes: within X.509 but not within wolfSSL's 63 bytes.
        self.assertRefused(t, ["--cn", "\u00e9" * 40], "longer than 63 bytes")
        r = self.create(t, "--cn", "\u00e9" * 31, "--san", "localhost")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = openssl("x509", "-in", t.path("x.crt"), "-noout", "-subject", "-nameopt", "utf8")
        self.assertIn("\u00e9" * 31, out)

    def test_no_leftovers(self):
        t = Tmp(self)
        r = run(MISCTL, "cert", "create", "--cn", "gw", "--out",
                t.path("no/such/dir/x.crt"), "--key-out", t.path("x.key"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nothing was written", r.stderr)
        self.assertEqual(os.listdir(t.dir), [])

    def test_bad_inputs(self):
        t = Tmp(self)
        for args, text in ((["--cn", "gw", "--c", "fr"], "two upper-case letters"),
                           (["--cn", "gw", "--c", "12"], "two upper-case letters"),
                           (["--cn", "gw", "--san", "300.1.1.1"], "not a valid IPv4 address"),
                           (["--cn", "gw", "--san", ""], "empty list"),
                           (["--cn", "g\x1bw"], "control character"),
                           (["--cn", "gw", "--o", "Acme\x07"], "control character")):
            with self.subTest(args=args):
                self.assertRefused(t, args, text)

    def test_check_on_directory(self):
        t = Tmp(self)
        r = run(MISCTL, "cert", "check", t.dir)
        self.assertEqual(r.returncode, 3)
        self.assertIn("is a directory", r.stdout)
        self.assertNotIn("input/output error", r.stdout)
