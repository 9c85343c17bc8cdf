"""The findings of an outside TLS conformance run (issue 11), checked with
raw ClientHellos (tlsraw.py), openssl, gnutls-cli, nmap's ssl-enum-ciphers
and miscli: max_version, large hellos, X25519 key shares, truncated_hmac,
groups, the no-certificate alert, weak client signatures and keys."""
import datetime
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import tlsraw
from harness import MISCTL, Gateway, TestCA, openssl
from tlsraw import (DHE_RSA_AES128_GCM_SHA256, ECDHE_RSA_AES128_GCM_SHA256,
                    ECDHE_RSA_AES128_SHA256, EXT_KEY_SHARE, EXT_TRUNCATED_HMAC, FFDHE2048,
                    FFDHE3072, FFDHE4096, FFDHE8192, SECP256R1, SECP384R1, SERVER_KEY_EXCHANGE,
                    X25519, client_hello, dhe_prime_bits, exchange, server_key_exchange_group)

OPENSSL = shutil.which("openssl")
GNUTLS = shutil.which("gnutls-cli")
NMAP = shutil.which("nmap")

REFERENTIAL_SIX = {"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256",
                   "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
                   "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-AES128-GCM-SHA256"}
NMAP_SIX = {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"}
TLS_OK = r"event=tls version=(\S+) cipher=(\S+)"


def s_client(port, *args, timeout=20):
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost"]
    r = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    out = r.stdout + r.stderr
    m = re.search(r"^New, (TLSv1\.\d), Cipher is (\S+)$", out, re.M)
    ok = r.returncode == 0 and m is not None and m.group(2) != "(NONE)"
    return ok, (m.groups() if ok else (None, None)), out


class Referential12Test(unittest.TestCase):
    """Item 1: max_version = 1.2 with the referential policy is exactly the six
    suites on TLS 1.2, and TLS-1.3-capable clients negotiate down to it."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(tls={"cipher_policy": "referential", "max_version": "1.2"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)

    def test_openssl_default_negotiates_tls12(self):
        ok, (version, cipher), out = s_client(self.gw.port)
        self.assertTrue(ok, out)
        self.assertEqual(version, "TLSv1.2")
        self.assertIn(cipher, REFERENTIAL_SIX)

    def test_openssl_tls13_only_is_refused(self):
        ok, _, out = s_client(self.gw.port, "-tls1_3")
        self.assertFalse(ok, out)

    @unittest.skipIf(GNUTLS is None, "gnutls-cli is not installed (Debian gnutls-bin)")
    def test_gnutls_default_negotiates_tls12(self):
        before = len(re.findall(TLS_OK, self.gw.log()))
        r = subprocess.run([GNUTLS, "--insecure", "--port", str(self.gw.port), "127.0.0.1"],
                           input="", capture_output=True, text=True, timeout=30)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"- Description: \(TLS1\.2-", out)
        lines = self.gw.wait_log(TLS_OK, count=before + 1)
        self.assertEqual(lines[-1][0], "TLSv1.2")
        self.assertIn(lines[-1][1], REFERENTIAL_SIX)

    def test_miscli_negotiates_tls12(self):
        before = len(re.findall(TLS_OK, self.gw.log()))
        r = self.gw.miscli("ping")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = self.gw.wait_log(TLS_OK, count=before + 1)
        self.assertEqual(lines[-1][0], "TLSv1.2")
        self.assertIn(lines[-1][1], REFERENTIAL_SIX)

    @unittest.skipIf(NMAP is None, "nmap is not installed (Debian nmap)")
    def test_nmap_lists_exactly_the_six_suites(self):
        r = subprocess.run([NMAP, "-Pn", "-n", "-p", str(self.gw.port), "--script",
                            "ssl-enum-ciphers", "127.0.0.1"],
                           capture_output=True, text=True, timeout=300)
        out = r.stdout
        self.assertIn("TLSv1.2:", out, out)
        for v in ("SSLv3:", "TLSv1.0:", "TLSv1.1:", "TLSv1.3:"):
            self.assertNotIn(v, out, out)
        suites = set(re.findall(r"\b(TLS_[A-Z0-9_]+) \(", out))
        self.assertEqual(suites, NMAP_SIX, out)


class MaxVersionConfigTest(unittest.TestCase):
    """Item 1: an explicit list without TLS 1.3 suites needs max_version = 1.2."""

    def check(self, tls):
        gw = Gateway(tls=tls, start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        return subprocess.run([MISCTL, "check-config", gw.ini], capture_output=True, text=True,
                              timeout=60)

    def test_explicit_tls12_list_needs_max_version(self):
        six = ":".join(sorted(REFERENTIAL_SIX))
        r = self.check({"ciphers": six})
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("max_version = 1.2", r.stderr)
        r = self.check({"ciphers": six, "max_version": "1.2"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_max_below_min(self):
        r = self.check({"min_version": "1.3", "max_version": "1.2"})
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("max_version", r.stderr)


class RawHelloTest(unittest.TestCase):
    """Items 2 to 5, with hand-made ClientHellos against the referential policy."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(tls={"cipher_policy": "referential"})

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)

    def test_344_suites(self):
        """Item 2: sslscan's ClientHello of 344 suites (wolfSSL's default room is 150)."""
        suites = [s for s in range(0x0001, 0x0160) if s not in (0x00FF,)][:340]
        suites += [ECDHE_RSA_AES128_GCM_SHA256, 0xC030, 0x009E, 0x009F]
        self.assertEqual(len(suites), 344)
        a = exchange(self.gw.port, client_hello(suites))
        self.assertIsNone(a.alert, a)
        self.assertIsNotNone(a.server_hello(), a)
        self.assertIn(a.server_hello()["suite"], (ECDHE_RSA_AES128_GCM_SHA256, 0xC030))

    def test_x25519_share_without_top_bit(self):
        """Item 3: the key shares real clients send (RFC 7748 public values < 2^255)."""
        for _ in range(4):
            a = exchange(self.gw.port, client_hello(
                [tlsraw.TLS13_AES_128_GCM_SHA256], tls13=True,
                key_shares=[(X25519, tlsraw.x25519_share(high_bit=False))]))
            self.assertEqual(a.selected_version(), 0x0304, a)
            self.assertFalse(a.server_hello()["hrr"])

    def test_x25519_share_with_top_bit_is_documented(self):
        """Item 3: wolfSSL 5.5.4 refuses a share with the top bit set instead of
        masking it (no build switch; docs/admin.md). The gateway logs it and
        keeps serving."""
        a = exchange(self.gw.port, client_hello(
            [tlsraw.TLS13_AES_128_GCM_SHA256], tls13=True,
            key_shares=[(X25519, tlsraw.x25519_share(high_bit=True))]))
        self.assertIsNone(a.server_hello(), a)
        with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), "docs", "admin.md")) as f:
            self.assertIn("X25519 key share with the top bit set", f.read())
        ok, _, out = s_client(self.gw.port, "-groups", "X25519")
        self.assertTrue(ok, out)

    def test_truncated_hmac_not_negotiated(self):
        """Item 4: a CBC suite with truncated_hmac offered gets no truncated_hmac."""
        a = exchange(self.gw.port, client_hello([ECDHE_RSA_AES128_SHA256],
                                                extensions=[(EXT_TRUNCATED_HMAC, b"")]))
        sh = a.server_hello()
        self.assertIsNotNone(sh, a)
        self.assertNotIn(EXT_TRUNCATED_HMAC, sh["extensions"])

    def test_tls12_groups(self):
        """Item 5: ECDHE on X25519, P-256 or P-384 only."""
        for g in (X25519, SECP256R1, SECP384R1):
            a = exchange(self.gw.port, client_hello([ECDHE_RSA_AES128_GCM_SHA256], groups=[g]))
            self.assertEqual(server_key_exchange_group(a), g, a)
        for g in (tlsraw.SECP256K1, tlsraw.BRAINPOOLP256R1, tlsraw.X448, tlsraw.SECP521R1):
            with self.subTest(group=tlsraw.GROUP_NAMES[g]):
                a = exchange(self.gw.port, client_hello([ECDHE_RSA_AES128_GCM_SHA256],
                                                        groups=[g, SECP256R1]))
                self.assertEqual(server_key_exchange_group(a), SECP256R1, a)

    def test_tls13_groups(self):
        """Item 5: a TLS 1.3 client with no share in a group of ours is asked for one of
        X25519, P-256, P-384 (ffdhe2048/3072 with the referential policy's DHE)."""
        for g in (tlsraw.SECP521R1, tlsraw.X448, tlsraw.BRAINPOOLP256R1):
            a = exchange(self.gw.port, client_hello([tlsraw.TLS13_AES_128_GCM_SHA256],
                                                    tls13=True, groups=[g, SECP384R1],
                                                    key_shares=[]))
            sh = a.server_hello()
            self.assertTrue(sh and sh["hrr"], a)
            self.assertEqual(sh["extensions"][EXT_KEY_SHARE], b"\x00\x18")

    def test_no_group_of_ours_is_refused(self):
        """Item 5: a client whose supported_groups has none of ours gets handshake_failure,
        not wolfSSL's fallback P-256 (TLS 1.2) or a HelloRetryRequest for a group it never
        offered (TLS 1.3)."""
        for g in (tlsraw.SECP521R1, tlsraw.X448):
            with self.subTest(group=tlsraw.GROUP_NAMES[g], version="1.2"):
                a = exchange(self.gw.port, client_hello([ECDHE_RSA_AES128_GCM_SHA256],
                                                        groups=[g]))
                self.assertIsNone(a.server_hello(), a)
                self.assertEqual(a.alert_name, "handshake_failure", a)
            with self.subTest(group=tlsraw.GROUP_NAMES[g], version="1.3"):
                a = exchange(self.gw.port, client_hello([tlsraw.TLS13_AES_128_GCM_SHA256],
                                                        tls13=True, groups=[g], key_shares=[]))
                self.assertIsNone(a.server_hello(), a)
                self.assertEqual(a.alert_name, "handshake_failure", a)
        self.gw.wait_log(r'error="no usable group"')

    def test_hello_retry_request_names_a_group_and_version(self):
        """Item 5: RFC 8446 4.1.4: the HelloRetryRequest carries supported_versions and the
        group the client is to send a share for, one it offered."""
        a = exchange(self.gw.port, client_hello([tlsraw.TLS13_AES_128_GCM_SHA256], tls13=True,
                                                groups=[SECP384R1, X25519], key_shares=[]))
        sh = a.server_hello()
        self.assertTrue(sh and sh["hrr"], a)
        self.assertEqual(sh["extensions"][tlsraw.EXT_SUPPORTED_VERSIONS], b"\x03\x04")
        self.assertIn(sh["extensions"][EXT_KEY_SHARE], (b"\x00\x18", b"\x00\x1d"))

    def test_ffdhe(self):
        """Item 5: DHE uses a group the client names; one that names only stronger
        FFDHE groups than ours gets no DHE suite, never ffdhe2048 (RFC 7919 4)."""
        a = exchange(self.gw.port, client_hello([DHE_RSA_AES128_GCM_SHA256], groups=[FFDHE3072]))
        self.assertEqual(dhe_prime_bits(a), 3072)
        a = exchange(self.gw.port, client_hello([DHE_RSA_AES128_GCM_SHA256], groups=[FFDHE2048]))
        self.assertEqual(dhe_prime_bits(a), 2048)
        a = exchange(self.gw.port, client_hello([DHE_RSA_AES128_GCM_SHA256],
                                                groups=[FFDHE4096, FFDHE8192]))
        self.assertIsNone(a.message(SERVER_KEY_EXCHANGE), a)
        self.assertEqual(a.alert_name, "handshake_failure", a)
        # With ECDHE on offer too, the client gets ECDHE.
        a = exchange(self.gw.port, client_hello(
            [DHE_RSA_AES128_GCM_SHA256, ECDHE_RSA_AES128_GCM_SHA256],
            groups=[FFDHE4096, X25519]))
        self.assertEqual(a.server_hello()["suite"], ECDHE_RSA_AES128_GCM_SHA256, a)
        self.assertEqual(server_key_exchange_group(a), X25519)


class ClientCertPolicyTest(unittest.TestCase):
    """Items 6 to 8: the no-certificate alert, weak signatures and keys, and the
    serverAuth-only certificate, each refused with a logged reason."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="miscomm-conformance-")
        cls.ca = TestCA(os.path.join(cls.tmp, "ca"), "conformance CA")
        cls.good = cls.ca.issue("good", days=30)
        cls.rsa = cls.issue("rsa", "-sha256", "rsa:2048")
        cls.sha1 = cls.issue("sha1", "-sha1", "rsa:2048")
        cls.rsa1024 = cls.issue("rsa1024", "-sha256", "rsa:1024")
        cls.server_auth = cls.issue("serverauth", "-sha256", "rsa:2048",
                                    ext="extendedKeyUsage=serverAuth")
        cls.gw = Gateway(tls={"require_client_cert": "yes", "client_ca": cls.ca.cert})

    @classmethod
    def issue(cls, name, digest, newkey, ext=None):
        key, csr, crt = (os.path.join(cls.tmp, name + x) for x in (".key", ".csr", ".crt"))
        openssl("req", "-new", "-newkey", newkey, "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=" + name)
        args = ["x509", "-req", "-in", csr, "-CA", cls.ca.cert, "-CAkey", cls.ca.key,
                "-CAcreateserial", "-days", "30", digest, "-out", crt]
        if ext:
            extfile = os.path.join(cls.tmp, name + ".ext")
            with open(extfile, "w") as f:
                f.write(ext + "\n")
            args += ["-extfile", extfile]
        openssl(*args)
        return crt, key

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def refused(self, pair, *args, reason):
        before = len(re.findall(r"event=tls_error", self.gw.log()))
        cert_args = ["-cert", pair[0], "-key", pair[1]] if pair else []
        ok, _, out = s_client(self.gw.port, *(cert_args + list(args)))
        # TLS 1.3: the refusal comes after the client's Finished, so s_client may
        # print a session: what counts is that the server never got past it.
        lines = self.gw.wait_log(r'event=tls_error code=-?\d+ error="[^"]*" reason="([^"]*)"',
                                 count=before + 1)
        self.assertIn(reason, lines[-1], out)
        return out

    def test_good_certificate(self):
        ok, _, out = s_client(self.gw.port, "-cert", self.good[0], "-key", self.good[1],
                              "-tls1_2")
        self.assertTrue(ok, out)

    def test_no_certificate_tls12_gets_handshake_failure(self):
        """Item 6: wolfSSL 5.5.4 closes without an alert; the gateway sends
        handshake_failure itself (in the clear: before its ChangeCipherSpec)."""
        out = self.refused(None, "-tls1_2", reason="no client certificate")
        self.assertRegex(out, r"alert handshake failure|alert number 40", out)

    def test_certificate_request_has_no_sha1_or_sha224(self):
        """Item 7: the TLS 1.2 CertificateRequest advertises SHA-2 (256 and up) only."""
        for version in ("-tls1_2",):
            with self.subTest(version=version):
                ok, _, out = s_client(self.gw.port, "-cert", self.good[0], "-key", self.good[1],
                                      version)
                m = re.search(r"^Requested Signature Algorithms: (.*)$", out, re.M)
                self.assertIsNotNone(m, out)
                self.assertNotRegex(m.group(1), r"SHA1|SHA224", m.group(1))

    def test_tls13_certificate_request_has_no_sha1_or_sha224(self):
        """Item 7: wolfSSL 5.5.4 builds the TLS 1.3 CertificateRequest from its own
        defaults; built without SHA-224 and without TLS 1.0/1.1, they name neither
        SHA-224 nor SHA-1 (scripts/build-wolfssl.sh)."""
        ok, _, out = s_client(self.gw.port, "-cert", self.good[0], "-key", self.good[1],
                              "-tls1_3")
        m = re.search(r"^Requested Signature Algorithms: (.*)$", out, re.M)
        self.assertNotRegex(m.group(1), r"SHA1|SHA224", m.group(1))

    def test_sha1_only_client_refused(self):
        """Item 7: a client that can sign its CertificateVerify only with SHA-1 finds
        no algorithm it may use in the CertificateRequest, and is refused."""
        self.refused(self.rsa, "-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0",
                     "-client_sigalgs", "RSA+SHA1", reason="no client certificate")

    def test_sha1_signed_certificate_refused(self):
        # SECLEVEL=0: openssl itself would not send such a certificate otherwise.
        self.refused(self.sha1, "-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0",
                     reason="signed with SHA-1")

    def test_rsa1024_refused(self):
        self.refused(self.rsa1024, "-tls1_2", "-cipher", "DEFAULT@SECLEVEL=0",
                     reason="RSA key under 2048 bits")

    def test_server_auth_only_refused_with_reason(self):
        """Item 8."""
        self.refused(self.server_auth, "-tls1_2", reason="extended key usage")
