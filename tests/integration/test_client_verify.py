"""How libmiscomm (through miscli) decides to trust the server: CA file with
host name check, pinned certificate or SPKI fingerprint, insecure mode."""
import hashlib
import os
import ssl
import subprocess
import tempfile
import unittest

from harness import Gateway, MISCLI


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class ClientVerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()
        cls.tmp = tempfile.mkdtemp(prefix="miscomm-verify-")
        cls.pw = os.path.join(cls.tmp, "pw")
        with open(cls.pw, "w") as f:
            f.write(cls.gw.password + "\n")
        with open(cls.gw.cert) as f:
            cls.der = ssl.PEM_cert_to_DER_cert(f.read())
        pub = subprocess.run(["openssl", "x509", "-in", cls.gw.cert, "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        cls.spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                                  capture_output=True, check=True).stdout
        cls.other = os.path.join(cls.tmp, "other.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(cls.tmp, "other.key"), "-out", cls.other, "-subj",
                        "/CN=other", "-days", "2"], capture_output=True, check=True)

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def miscli(self, *trust, host="127.0.0.1"):
        return subprocess.run([MISCLI, "--host", host, "--port", str(self.gw.port),
                               "--password-file", self.pw] + list(trust)
                              + ["ping", "--count", "1"], capture_output=True, text=True,
                              timeout=60)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 received", r.stdout)

    def assert_refused(self, r, code="CERT_VERIFY (31)"):
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(code, r.stderr)
        self.assertNotIn("pong from", r.stdout)

    def test_cafile_matching_host_and_ip(self):
        self.assert_ok(self.miscli("--cafile", self.gw.cert))
        self.assert_ok(self.miscli("--cafile", self.gw.cert, host="localhost"))

    def test_cafile_wrong_host(self):
        # A gateway on 127.0.0.2 still presents a certificate made for
        # localhost, 127.0.0.1 and ::1: the name check must refuse it.
        with Gateway(conns=[{"name": "other", "bind": "127.0.0.2"}]) as gw2:
            r = subprocess.run([MISCLI, "--host", "127.0.0.2", "--port", str(gw2.port),
                                "--password-file", self.pw, "--cafile", gw2.cert,
                                "ping", "--count", "1"], capture_output=True, text=True,
                               timeout=60)
            self.assert_refused(r)
            self.assertIn("name mismatch", r.stderr)
            gw2.stop()

    def test_cafile_wrong_ca(self):
        self.assert_refused(self.miscli("--cafile", self.other))

    def test_pin_certificate(self):
        self.assert_ok(self.miscli("--fingerprint", sha256_hex(self.der)))
        colon = ":".join("%02X" % b for b in hashlib.sha256(self.der).digest())
        self.assert_ok(self.miscli("--fingerprint", colon))

    def test_pin_spki(self):
        self.assert_ok(self.miscli("--fingerprint", sha256_hex(self.spki)))

    def test_wrong_pin_sends_no_password(self):
        before = self.gw.log().count("event=hello")
        r = self.miscli("--fingerprint", "00" * 32)
        self.assert_refused(r)
        self.assertIn("does not match the pinned fingerprint", r.stderr)
        # The client stopped before HELLO: the server never saw a password.
        self.assertEqual(self.gw.log().count("event=hello"), before)

    def test_bad_pin_syntax(self):
        r = self.miscli("--fingerprint", "abc")
        self.assertEqual(r.returncode, 64)  # a usage error
        self.assertIn("fingerprint", r.stderr)

    def test_insecure_warns(self):
        r = self.miscli("--insecure")
        self.assert_ok(r)
        self.assertIn("WARNING", r.stderr)

    def test_two_trust_options_is_usage_error(self):
        r = self.miscli("--insecure", "--cafile", self.gw.cert)
        self.assertEqual(r.returncode, 64)


if __name__ == "__main__":
    unittest.main()
