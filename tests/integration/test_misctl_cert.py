"""misctl cert create/show/check, psk create and reload, checked against the
openssl command-line tool as an independent peer, and the files it writes
loaded by the real miscommd."""
import base64
import calendar
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

import harness

PASSWORD = "correct horse battery staple"
OPENSSL = shutil.which("openssl")


def misctl(*args, input=None, timeout=120):
    return subprocess.run([harness.MISCTL] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout)


def openssl(*args, input=None):
    out = subprocess.run([OPENSSL] + list(args), input=input, capture_output=True,
                         timeout=60)
    if out.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), out.stderr.decode()))
    return out.stdout


class Dir:
    """A scratch directory with a password file."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="misctl-cert-")
        self.pw = self.file("password")
        with open(self.pw, "w") as f:
            f.write(PASSWORD + "\n")

    def file(self, name):
        return os.path.join(self.path, name)


def validity(crt):
    """(notBefore, notAfter) of a PEM certificate as read by openssl, in Unix time."""
    out = openssl("x509", "-in", crt, "-noout", "-startdate", "-enddate").decode()
    dates = dict(line.split("=", 1) for line in out.strip().splitlines())
    return tuple(calendar.timegm(time.strptime(dates[k], "%b %d %H:%M:%S %Y %Z"))
                 for k in ("notBefore", "notAfter"))


def days_left(crt):
    """Whole days left, rounded down, as miscommd logs days_left (whole seconds)."""
    return (validity(crt)[1] - int(time.time())) // 86400


def create(d, *args, name="gw", password=True, p12=False):
    """misctl cert create into d; returns (result, cert, key, p12 or None)."""
    crt, key = d.file(name + ".crt"), d.file(name + ".key")
    cmd = ["cert", "create", "--out", crt, "--key-out", key] + list(args)
    p12_path = None
    if p12:
        p12_path = d.file(name + ".p12")
        cmd += ["--p12", p12_path]
    if password:
        cmd += ["--password-file", d.pw]
    return misctl(*cmd), crt, key, p12_path


@unittest.skipUnless(OPENSSL, "the openssl tool is needed as an independent peer")
class CertCreateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Dir()
        out, cls.crt, cls.key, cls.p12 = create(
            cls.d, "--cn", "gw.example.com", "--c", "FR", "--st", "Ile-de-France", "--l",
            "Paris", "--o", "Acme Services", "--ou", "Field", "--san",
            "gw.example.com,gw.internal", "--san", "192.0.2.10", "--san", "2001:db8::10",
            "--days", "400", p12=True)
        if out.returncode != 0:
            raise AssertionError("cert create failed: %s" % out.stderr)
        cls.create_out = out.stdout
        cls.create_err = out.stderr

    def test_x509_fields_read_by_openssl(self):
        text = openssl("x509", "-in", self.crt, "-noout", "-text").decode()
        for field in ("C = FR", "ST = Ile-de-France", "L = Paris", "O = Acme Services",
                      "OU = Field", "CN = gw.example.com"):
            self.assertIn(field, text)
        self.assertIn("DNS:gw.example.com", text)
        self.assertIn("DNS:gw.internal", text)
        self.assertIn("IP Address:192.0.2.10", text)
        self.assertIn("IP Address:2001:DB8:0:0:0:0:0:10", text)
        self.assertRegex(text, r"Basic Constraints:.*\n\s+CA:FALSE")
        self.assertIn("TLS Web Server Authentication", text)
        self.assertIn("Subject Key Identifier", text)
        self.assertIn("Authority Key Identifier", text)
        self.assertRegex(text, r"Key Usage: critical\n\s+Digital Signature")
        self.assertIn("ecdsa-with-SHA256", text)
        self.assertIn("prime256v1", text)

    def test_validity_days(self):
        # --days 400 is notAfter - notBefore, notBefore a day back for slow clocks.
        not_before, not_after = validity(self.crt)
        self.assertEqual(not_after - not_before, 400 * 86400)
        self.assertAlmostEqual(not_before, time.time() - 86400, delta=600)

    def test_random_serials(self):
        d = Dir()
        _, crt2, _, _ = create(d, "--cn", "gw.example.com", password=False)
        s1 = openssl("x509", "-in", self.crt, "-noout", "-serial")
        s2 = openssl("x509", "-in", crt2, "-noout", "-serial")
        self.assertNotEqual(s1, s2)
        self.assertGreaterEqual(len(s1.strip()), len("serial=") + 30)

    def test_encrypted_key_read_by_openssl(self):
        with open(self.key) as f:
            pem = f.read()
        self.assertTrue(pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), pem[:40])
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        # PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, which OpenSSL 3 reads without -legacy.
        der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
        info = openssl("asn1parse", "-inform", "DER", input=der).decode()
        for alg in ("PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"):
            self.assertIn(alg, info)
        iterations = [int(m, 16) for m in re.findall(r"INTEGER\s+:([0-9A-F]+)", info)]
        self.assertTrue(iterations and iterations[0] >= 100000, info)
        # The key matches the certificate.
        pub = openssl("pkey", "-in", self.key, "-passin", "file:" + self.d.pw, "-pubout")
        self.assertEqual(pub, openssl("x509", "-in", self.crt, "-noout", "-pubkey"))

    def test_encrypted_key_needs_the_password(self):
        bad = self.d.file("bad.pw")
        with open(bad, "w") as f:
            f.write("wrong password\n")
        out = subprocess.run([OPENSSL, "pkey", "-in", self.key, "-passin", "file:" + bad,
                              "-noout"], capture_output=True)
        self.assertNotEqual(out.returncode, 0)

    def test_pkcs12_read_by_openssl_without_legacy(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.p12).st_mode), 0o600)
        pem = openssl("pkcs12", "-in", self.p12, "-passin", "file:" + self.d.pw,
                      "-nodes").decode()
        self.assertIn("-----BEGIN CERTIFICATE-----", pem)
        self.assertIn("-----BEGIN PRIVATE KEY-----", pem)
        cert = pem[pem.index("-----BEGIN CERTIFICATE-----"):]
        self.assertEqual(openssl("x509", "-noout", "-fingerprint", "-sha256",
                                 input=cert.encode()),
                         openssl("x509", "-in", self.crt, "-noout", "-fingerprint", "-sha256"))

    def test_pkcs12_weak_encryption_warning(self):
        # wolfSSL 5.5.4 writes PKCS#12 only with 3DES/SHA-1: say so, and point to the PEM key.
        self.assertIn("warning: %s is encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC" % self.p12,
                      self.create_err)
        self.assertIn("3DES, SHA-1", self.create_err)
        self.assertIn("encrypted PEM key %s" % self.key, self.create_err)
        self.assertIn("recommended", self.create_err)
        d = Dir()
        out, _, _, _ = create(d, "--cn", "nop12", "--san", "nop12")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("3DES", out.stderr)

    def test_pkcs12_wrong_password(self):
        bad = self.d.file("bad2.pw")
        with open(bad, "w") as f:
            f.write("not the password\n")
        out = misctl("cert", "show", "--password-file", bad, self.p12)
        self.assertEqual(out.returncode, 1)
        self.assertIn("wrong password", out.stderr)
        out = misctl("cert", "check", "--password-file", bad, self.p12)
        self.assertEqual(out.returncode, 3)
        self.assertTrue(out.stdout.startswith("UNKNOWN:"), out.stdout)

    def test_show_pkcs12_password_stdin(self):
        out = misctl("cert", "show", "--json", "--password-stdin", self.p12,
                     input=PASSWORD + "\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["subject"].split(", ")[-1], "CN=gw.example.com")

    def test_show_fingerprints_match_openssl(self):
        out = misctl("cert", "show", self.crt)
        self.assertEqual(out.returncode, 0, out.stderr)
        fp = openssl("x509", "-in", self.crt, "-noout", "-fingerprint", "-sha256").decode()
        fp = fp.strip().split("=", 1)[1].upper()
        self.assertIn(fp, out.stdout)
        spki = openssl("pkey", "-pubin", "-outform", "DER",
                       input=openssl("x509", "-in", self.crt, "-noout", "-pubkey"))
        digest = hashlib.sha256(spki).digest()
        self.assertIn(":".join("%02X" % b for b in digest), out.stdout)
        self.assertIn("sha256/" + base64.b64encode(digest).decode(), out.stdout)
        self.assertIn("ECDSA P-256", out.stdout)
        self.assertIn(fp, self.create_out)

    def test_show_json(self):
        out = misctl("cert", "show", "--json", self.crt)
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        for k in ("subject", "issuer", "serial", "not_before", "not_after", "days_left",
                  "key_type", "key_bits", "san_dns", "san_ip", "sha256", "spki_sha256",
                  "sha256_b64", "spki_sha256_b64"):
            self.assertIn(k, j)
        self.assertIn("CN=gw.example.com", j["subject"])
        self.assertEqual(j["subject"], j["issuer"])
        serial = openssl("x509", "-in", self.crt, "-noout", "-serial").decode()
        self.assertEqual(j["serial"], serial.strip().split("=", 1)[1])
        self.assertEqual(j["key_type"], "ECDSA P-256")
        self.assertEqual(j["key_bits"], 256)
        self.assertEqual(sorted(j["san_dns"]), ["gw.example.com", "gw.internal"])
        self.assertEqual(sorted(j["san_ip"]), ["192.0.2.10", "2001:db8::10"])
        self.assertIn(j["days_left"], (398, 399))  # notAfter is 399 days from creation
        self.assertRegex(j["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        der = openssl("x509", "-in", self.crt, "-outform", "DER")
        self.assertEqual(base64.b64decode(j["sha256_b64"]), hashlib.sha256(der).digest())
        self.assertEqual(j["sha256"].replace(":", "").lower(), hashlib.sha256(der).hexdigest())

    def test_refuses_to_overwrite(self):
        new_crt, new_key = self.d.file("new.crt"), self.d.file("new.key")
        for target, outputs in ((self.crt, [self.crt, new_key]),
                                (self.key, [new_crt, self.key]),
                                (self.p12, [new_crt, new_key, self.p12])):
            with open(target, "rb") as f:
                before = f.read()
            args = ["cert", "create", "--cn", "other", "--password-file", self.d.pw,
                    "--out", outputs[0], "--key-out", outputs[1]]
            if len(outputs) == 3:
                args += ["--p12", outputs[2]]
            out = misctl(*args)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn(target, out.stderr)
            self.assertIn("--force", out.stderr)
            with open(target, "rb") as f:
                self.assertEqual(f.read(), before)
            self.assertFalse(os.path.exists(new_crt))
            self.assertFalse(os.path.exists(new_key))

    def test_force_replaces(self):
        d = Dir()
        first = create(d, "--cn", "one", password=False)
        self.assertEqual(first[0].returncode, 0, first[0].stderr)
        again = create(d, "--cn", "two", password=False)
        self.assertEqual(again[0].returncode, 1)
        forced = create(d, "--cn", "two", "--force", password=False)
        self.assertEqual(forced[0].returncode, 0, forced[0].stderr)
        self.assertIn("CN = two", openssl("x509", "-in", first[1], "-noout", "-subject").decode())
        with open(first[2]) as f:
            self.assertIn("-----BEGIN EC PRIVATE KEY-----", f.read())


@unittest.skipUnless(OPENSSL, "the openssl tool is needed as an independent peer")
class CertOptionsTest(unittest.TestCase):
    def test_rsa_sizes(self):
        d = Dir()
        for bits in (2048, 3072):
            out, crt, key, _ = create(d, "--cn", "rsa", "--key", "rsa-%d" % bits,
                                      name="rsa%d" % bits)
            self.assertEqual(out.returncode, 0, out.stderr)
            text = openssl("x509", "-in", crt, "-noout", "-text").decode()
            self.assertIn("Public-Key: (%d bit)" % bits, text)
            self.assertIn("sha256WithRSAEncryption", text)
            self.assertIn("Key Encipherment", text)
            ktext = openssl("pkey", "-in", key, "-passin", "file:" + d.pw, "-noout",
                            "-text").decode()
            self.assertIn("Private-Key: (%d bit" % bits, ktext)
            j = json.loads(misctl("cert", "show", "--json", crt).stdout)
            self.assertEqual((j["key_type"], j["key_bits"]), ("RSA", bits))
            self.assertIn("RSA %d" % bits, misctl("cert", "show", crt).stdout)

    def test_default_sans_are_host_names_and_addresses(self):
        d = Dir()
        out, crt, _, _ = create(d, "--cn", "gw", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(misctl("cert", "show", "--json", crt).stdout)
        self.assertIn("localhost", j["san_dns"])
        self.assertIn(os.uname().nodename, j["san_dns"])
        self.assertIn("127.0.0.1", j["san_ip"])
        self.assertIn("::1", j["san_ip"])
        for ip in j["san_ip"]:
            self.assertFalse(ip.startswith("169.254.") or ip.lower().startswith("fe80"), ip)

    def san(self, crt):
        return openssl("x509", "-in", crt, "-noout", "-ext", "subjectAltName").decode()

    def test_default_sans_include_the_cn(self):
        d = Dir()
        out, crt, _, _ = create(d, "--cn", "gw.example.com", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        text = self.san(crt)
        self.assertRegex(text, r"Alternative Name: \n\s+DNS:gw\.example\.com, ")
        for name in ("DNS:localhost", "DNS:" + os.uname().nodename, "IP Address:127.0.0.1"):
            self.assertIn(name, text)
        self.assertIn("DNS:gw.example.com", out.stdout)
        # An address as CN goes into an IP SAN, not a DNS one.
        out, crt, _, _ = create(d, "--cn", "192.0.2.7", name="ip", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        text = self.san(crt)
        self.assertIn("IP Address:192.0.2.7", text)
        self.assertNotIn("DNS:192.0.2.7", text)
        out, crt, _, _ = create(d, "--cn", "2001:DB8::7", name="ip6", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("IP Address:2001:DB8:0:0:0:0:0:7", self.san(crt))
        # A CN that is no host name stays out of the SANs; the host's names remain.
        out, crt, _, _ = create(d, "--cn", "Acme gateway", name="free", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        text = self.san(crt)
        self.assertNotIn("Acme", text)
        self.assertIn("DNS:localhost", text)
        # --san replaces the defaults, the CN included.
        out, crt, _, _ = create(d, "--cn", "gw.example.com", "--san", "other.example",
                                name="given", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("gw.example.com", self.san(crt))

    def test_validity_span_is_days(self):
        d = Dir()
        for days in (825, 30, 2):
            out, crt, _, _ = create(d, "--cn", "span", "--days", str(days), name="d%d" % days,
                                    password=False)
            self.assertEqual(out.returncode, 0, out.stderr)
            not_before, not_after = validity(crt)
            self.assertEqual(not_after - not_before, days * 86400, days)
            self.assertAlmostEqual(not_before, time.time() - 86400, delta=600)
            self.assertIn("(%d days)" % days, out.stdout)
        # One day: still valid now, half a day of margin each side.
        out, crt, _, _ = create(d, "--cn", "span", "--days", "1", name="d1", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        not_before, not_after = validity(crt)
        self.assertEqual(not_after - not_before, 86400)
        self.assertLess(not_before, time.time() - 3600)
        self.assertGreater(not_after, time.time() + 3600)
        self.assertEqual(misctl("cert", "check", "--crit-days", "0", "--warn-days", "0",
                                crt).returncode, 2)  # 0 days left is <= 0

    def test_unencrypted_key_without_password(self):
        d = Dir()
        out, crt, key, _ = create(d, "--cn", "plain", password=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("NOT encrypted", out.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        openssl("pkey", "-in", key, "-noout")

    def test_password_from_stdin(self):
        d = Dir()
        out = misctl("cert", "create", "--cn", "s", "--out", d.file("s.crt"), "--key-out",
                     d.file("s.key"), "--password-stdin", input=PASSWORD + "\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        openssl("pkey", "-in", d.file("s.key"), "-passin", "file:" + d.pw, "-noout")

    def test_usage_errors(self):
        d = Dir()
        base = ["cert", "create", "--out", d.file("u.crt"), "--key-out", d.file("u.key")]
        for args, text in (([], "--cn"),
                           (["--cn", "x", "--key", "dsa"], "--key"),
                           (["--cn", "x", "--days", "0"], "--days"),
                           (["--cn", "x", "--san", "bad name!"], "bad name!"),
                           (["--cn", "x", "--password", "secret"], "never taken from the "
                                                                   "command line"),
                           (["--cn", "x", "--p12", d.file("u.p12")], "needs a password")):
            out = misctl(*(base + args))
            self.assertEqual(out.returncode, 64, (args, out.stderr))
            self.assertIn(text, out.stderr)
        self.assertEqual(os.listdir(d.path), ["password"])

    def test_help_everywhere(self):
        for args in (["--help"], ["cert", "--help"], ["cert", "create", "--help"],
                     ["cert", "show", "--help"], ["cert", "check", "--help"],
                     ["psk", "--help"], ["psk", "create", "--help"], ["reload", "--help"]):
            out = misctl(*args)
            self.assertEqual(out.returncode, 0, (args, out.stderr))
            self.assertIn("Usage:", out.stdout)
            self.assertIn("Exit status", out.stdout)


@unittest.skipUnless(OPENSSL, "the openssl tool is needed as an independent peer")
class CertCheckTest(unittest.TestCase):
    def test_ok_warning_critical(self):
        d = Dir()
        _, long_crt, _, _ = create(d, "--cn", "long.example", "--days", "400", name="long",
                                   password=False)
        _, short_crt, _, _ = create(d, "--cn", "short.example", "--days", "5", name="short",
                                    password=False)
        # notAfter is 399 days after creation: 399 whole days left in the same
        # second, 398 after (rounded down).
        out = misctl("cert", "check", long_crt)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertRegex(out.stdout, r"^OK: CN=long\.example expires \d{4}-\d\d-\d\dT"
                                     r"\d\d:\d\d:\d\dZ \((398|399) days left\)\n$")
        out = misctl("cert", "check", "--warn-days", "30", "--crit-days", "2", short_crt)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertRegex(out.stdout, r"^WARNING: CN=short\.example expires .* \((3|4) days left\)")
        out = misctl("cert", "check", "--warn-days", "30", "--crit-days", "7", short_crt)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertTrue(out.stdout.startswith("CRITICAL:"), out.stdout)
        out = misctl("cert", "check", "--warn-days", "1000", "--crit-days", "900", long_crt)
        self.assertEqual(out.returncode, 2, out.stdout)

    def test_days_left_rounded_down_like_the_daemon(self):
        d = Dir()
        _, crt, _, _ = create(d, "--cn", "round.example", "--days", "10", password=False)
        time.sleep(1.1)  # notAfter is now 9 days less a second or more away
        before = days_left(crt)
        out = misctl("cert", "check", crt)
        show = json.loads(misctl("cert", "show", "--json", crt).stdout)
        after = days_left(crt)
        self.assertEqual(before, 8)
        shown = re.search(r"\((\d+) days left\)", out.stdout)
        self.assertTrue(shown, out.stdout)
        self.assertIn(int(shown.group(1)), (before, after))
        self.assertIn(show["days_left"], (before, after))
        text = misctl("cert", "show", crt).stdout
        self.assertRegex(text, r"days left:\s+(%d|%d)\n" % (before, after))
        # The daemon logs the same number for the same certificate.
        gw = harness.Gateway(start=False)
        with gw:
            shutil.copy(crt, gw.cert)
            shutil.copy(d.file("gw.key"), os.path.join(gw.dir, "certs", "miscomm.key"))
            gw.start()
            logged = int(gw.wait_log(r"event=certificate file=\S+ [^\n]*days_left=(-?\d+)")[0])
            self.assertIn(logged, (before, after))
            self.assertEqual(gw.stop(), 0)

    def test_thresholds_are_inclusive(self):
        # WARNING when days left <= --warn-days, CRITICAL when <= --crit-days.
        d = Dir()
        _, crt, _, _ = create(d, "--cn", "edge.example", "--days", "10", password=False)
        time.sleep(1.1)
        left = days_left(crt)
        self.assertEqual(left, 8)
        out = misctl("cert", "check", "--warn-days", str(left), "--crit-days", "1", crt)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertTrue(out.stdout.startswith("WARNING:"), out.stdout)
        out = misctl("cert", "check", "--warn-days", str(left - 1), "--crit-days", "1", crt)
        self.assertEqual(out.returncode, 0, out.stdout)
        out = misctl("cert", "check", "--warn-days", "30", "--crit-days", str(left), crt)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertTrue(out.stdout.startswith("CRITICAL:"), out.stdout)

    def test_warn_days_below_crit_days(self):
        d = Dir()
        _, crt, _, _ = create(d, "--cn", "order.example", password=False)
        out = misctl("cert", "check", "--warn-days", "3", "--crit-days", "7", crt)
        self.assertEqual(out.returncode, 64, out.stdout + out.stderr)
        self.assertIn("--warn-days", out.stderr)
        self.assertIn("--crit-days", out.stderr)
        self.assertEqual(out.stdout, "")
        out = misctl("cert", "check", "--crit-days", "40", crt)  # default --warn-days 30
        self.assertEqual(out.returncode, 64, out.stdout + out.stderr)
        out = misctl("cert", "check", "--warn-days", "7", "--crit-days", "7", crt)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_expired_certificate_made_by_openssl(self):
        # OpenSSL 3.0 has neither -not_after nor -days 0; openssl ca takes explicit dates.
        d = Dir()
        with open(d.file("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = c\n[c]\ndatabase = %s\nnew_certs_dir = %s\n"
                    "serial = %s\ndefault_md = sha256\npolicy = p\n[p]\n"
                    "commonName = supplied\n"
                    % (d.file("index.txt"), d.path, d.file("serial")))
        open(d.file("index.txt"), "w").close()
        with open(d.file("serial"), "w") as f:
            f.write("01\n")
        key, csr, crt = d.file("old.key"), d.file("old.csr"), d.file("old.crt")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=old.example")
        openssl("ca", "-batch", "-config", d.file("ca.cnf"), "-selfsign", "-keyfile", key,
                "-in", csr, "-out", crt, "-startdate", "20200101000000Z", "-enddate",
                "20200103000000Z", "-notext")
        out = misctl("cert", "check", crt)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertRegex(out.stdout, r"^CRITICAL: CN=old\.example expired "
                                     r"2020-01-03T00:00:00Z \(\d+ days ago\)\n$")
        j = json.loads(misctl("cert", "show", "--json", crt).stdout)
        self.assertLess(j["days_left"], -1000)

    @unittest.skipUnless(OPENSSL, "openssl ca makes the CRLs")
    def test_crl(self):
        """Issue 11 item 9: a CRL is checked against its nextUpdate (PEM and DER)."""
        d = Dir()
        ca = harness.TestCA(d.file("ca"))
        crl = ca.gencrl(d.file("ok.crl"))  # nextUpdate 30 days ahead (harness default)
        out = misctl("cert", "check", "--warn-days", "20", crl)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"^OK: CRL .*ok\.crl next update \d{4}-\d\d-\d\dT"
                                     r"\d\d:\d\d:\d\dZ \((29|30) days left\)\n$")
        out = misctl("cert", "check", "--warn-days", "40", "--crit-days", "7", crl)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertTrue(out.stdout.startswith("WARNING: CRL "), out.stdout)
        der = d.file("ok.der")
        openssl("crl", "-in", crl, "-outform", "DER", "-out", der)
        out = misctl("cert", "check", "--warn-days", "40", "--crit-days", "35", der)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertTrue(out.stdout.startswith("CRITICAL: CRL "), out.stdout)
        # Out of date: a nextUpdate in the past (openssl ca -crlsec 1, then a wait).
        old = d.file("old.crl")
        openssl("ca", "-batch", "-config", ca.conf, "-gencrl", "-crlsec", "1", "-out", old)
        time.sleep(2.1)
        out = misctl("cert", "check", old)
        self.assertEqual(out.returncode, 2, out.stdout)
        self.assertRegex(out.stdout, r"^CRITICAL: CRL .* is out of date since .*every client "
                                     r"certificate is refused")

    def test_unknown(self):
        d = Dir()
        out = misctl("cert", "check", d.file("missing.crt"))
        self.assertEqual(out.returncode, 3)
        self.assertTrue(out.stdout.startswith("UNKNOWN:"), out.stdout)
        out = misctl("cert", "check", d.pw)
        self.assertEqual(out.returncode, 3)
        self.assertTrue(out.stdout.startswith("UNKNOWN:"), out.stdout)


@unittest.skipUnless(OPENSSL, "the openssl tool makes the hostile certificate")
class CertNamesTest(unittest.TestCase):
    """Names come from whoever made the certificate: an escape sequence in the
    CN or a SAN must not reach the terminal raw."""

    def test_control_characters_are_replaced(self):
        d = Dir()
        crt, key = d.file("evil.crt"), d.file("evil.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", crt, "-days", "30",
                "-subj", "/O=Acme\x1b]0;title\x07/CN=evil\x1b[31mred\x07bell\x7fdel",
                "-addext", "subjectAltName=DNS:ok.example,DNS:bad\x1b[2Jname")
        for args in (["cert", "show", crt], ["cert", "show", "--json", crt],
                     ["cert", "check", crt]):
            out = misctl(*args)
            self.assertIn(out.returncode, (0, 1), (args, out.stderr))
            for ch in ("\x1b", "\x07", "\x7f"):
                self.assertNotIn(ch, out.stdout, args)
                self.assertNotIn(ch, out.stderr, args)
            self.assertIn("CN=evil?[31mred?bell?del", out.stdout, args)
        show = misctl("cert", "show", crt).stdout
        self.assertIn("subject:       O=Acme?]0;title?, CN=evil?[31mred?bell?del", show)
        self.assertIn(" ok.example bad?[2Jname", show)
        j = json.loads(misctl("cert", "show", "--json", crt).stdout)
        self.assertEqual(j["cn"], "evil?[31mred?bell?del")
        self.assertEqual(j["san_dns"], ["ok.example", "bad?[2Jname"])


class PskCreateTest(unittest.TestCase):
    def test_create_and_refuse_overwrite(self):
        d = Dir()
        path = d.file("conn.psk")
        out = misctl("psk", "create", path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(path, out.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            key = f.read()
        self.assertRegex(key, r"^[0-9a-f]{64}\n$")
        out = misctl("psk", "create", path)
        self.assertEqual(out.returncode, 1)
        self.assertIn("already exists", out.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), key)
        out = misctl("psk", "create", path, "--force")
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(path) as f:
            self.assertNotEqual(f.read(), key)

    def test_force_replaces_a_symlink_instead_of_following_it(self):
        d = Dir()
        victim = d.file("victim")
        with open(victim, "w") as f:
            f.write("not a key\n")
        os.chmod(victim, 0o644)
        path = d.file("conn.psk")
        os.symlink(victim, path)
        out = misctl("psk", "create", path)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("already exists", out.stderr)
        out = misctl("psk", "create", path, "--force")
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(victim) as f:
            self.assertEqual(f.read(), "not a key\n")
        self.assertEqual(stat.S_IMODE(os.stat(victim).st_mode), 0o644)
        self.assertFalse(os.path.islink(path))
        self.assertEqual(stat.S_IMODE(os.lstat(path).st_mode), 0o600)
        with open(path) as f:
            self.assertRegex(f.read(), r"^[0-9a-f]{64}\n$")
        # No temporary file is left behind.
        self.assertEqual(sorted(os.listdir(d.path)), ["conn.psk", "password", "victim"])

    def test_paths_are_not_mistaken_for_password_options(self):
        # Only option names are checked, by exact name: "compass" and "office"
        # hold "pass" and "from"-like words but are a file name.
        d = Dir()
        os.mkdir(d.file("x"))
        for name in ("compass-office.key", "passphrase-from-derived.key"):
            path = os.path.join(d.path, "x", name)
            out = misctl("psk", "create", path)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            out = misctl("psk", "create", "--force", path)
            self.assertEqual(out.returncode, 0, out.stderr)
        out = misctl("psk", "create", d.file("y.psk"), "--compass")
        self.assertEqual(out.returncode, 64)
        self.assertIn("unknown option '--compass'", out.stderr)
        self.assertFalse(os.path.exists(d.file("y.psk")))

    def test_password_derived_keys_refused(self):
        d = Dir()
        for opt in ("--from-password", "--password", "--passphrase=x", "--password-file=pw"):
            out = misctl("psk", "create", d.file("p.psk"), opt)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("derived from passwords are refused", out.stderr)
        self.assertFalse(os.path.exists(d.file("p.psk")))


class ReloadTest(unittest.TestCase):
    def config(self, d, pid_file):
        ini = d.file("miscomm.ini")
        with open(ini, "w") as f:
            f.write("[server]\ndata_dir = data\npid_file = %s\n\n[connection a]\nport = %d\n"
                    "password = %s\n" % (pid_file, harness.free_port(),
                                         harness.password_hash("correct horse battery")))
        return ini

    def test_missing_and_stale_pid_file(self):
        d = Dir()
        pid_file = d.file("miscommd.pid")
        ini = self.config(d, pid_file)
        out = misctl("reload", "-c", ini)
        self.assertEqual(out.returncode, 1)
        self.assertIn(pid_file, out.stderr)
        proc = subprocess.Popen(["true"])
        proc.wait()
        with open(pid_file, "w") as f:
            f.write("%d\n" % proc.pid)
        out = misctl("reload", "-c", ini)
        self.assertEqual(out.returncode, 1)
        self.assertIn("stale", out.stderr)
        with open(pid_file, "w") as f:
            f.write("%d\n" % os.getpid())  # alive, but not miscommd
        out = misctl("reload", "-c", ini)
        self.assertEqual(out.returncode, 1)
        self.assertIn("not miscommd", out.stderr)

    def test_invalid_config(self):
        d = Dir()
        ini = d.file("bad.ini")
        with open(ini, "w") as f:
            f.write("[server]\nno_such_key = 1\n")
        self.assertEqual(misctl("reload", "-c", ini).returncode, 78)

    def test_reload_running_daemon(self):
        with harness.Gateway() as gw:
            pid_file = os.path.join(gw.dir, "data", "miscommd.pid")
            deadline = time.monotonic() + 5
            while not os.path.exists(pid_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not os.path.exists(pid_file):
                self.skipTest("this miscommd does not write a pid file yet")
            out = misctl("reload", "-c", gw.ini)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("sent SIGHUP to miscommd (pid %d)" % gw.proc.pid, out.stdout)
            gw.wait_log(r"event=reload")
            self.assertEqual(gw.stop(), 0)


@unittest.skipUnless(OPENSSL, "the openssl tool is needed as an independent peer")
class DaemonLoadsFilesTest(unittest.TestCase):
    """miscommd starts with what misctl wrote (needs the daemon's password support)."""

    def start_and_ping(self, gw, crt):
        gw.start()
        self.assertTrue(harness.ping_ok(gw.port, gw.password))
        der = openssl("x509", "-in", crt, "-outform", "DER")
        self.assertEqual(gw.fingerprint().replace(":", "").lower(),
                         hashlib.sha256(der).hexdigest())

    def test_encrypted_pem_key(self):
        gw = harness.Gateway(start=False, tls={})
        with gw:
            pw = os.path.join(gw.dir, "key.password")
            with open(pw, "w") as f:
                f.write(PASSWORD + "\n")
            out = misctl("cert", "create", "--cn", "localhost", "--san", "localhost,127.0.0.1",
                         "--out", gw.cert, "--key-out",
                         os.path.join(gw.dir, "certs", "miscomm.key"), "--password-file", pw)
            self.assertEqual(out.returncode, 0, out.stderr)
            gw.tls = {"password_file": pw}
            gw.write_config()
            self.start_and_ping(gw, gw.cert)
            self.assertEqual(gw.stop(), 0)

    def test_pkcs12_certificate(self):
        gw = harness.Gateway(start=False)
        with gw:
            pw = os.path.join(gw.dir, "p12.password")
            with open(pw, "w") as f:
                f.write(PASSWORD + "\n")
            crt = os.path.join(gw.dir, "bundle.crt")
            p12 = os.path.join(gw.dir, "certs", "gateway.p12")
            out = misctl("cert", "create", "--cn", "localhost", "--key", "rsa-2048", "--san",
                         "localhost,127.0.0.1", "--out", crt, "--key-out",
                         os.path.join(gw.dir, "bundle.key"), "--p12", p12,
                         "--password-file", pw)
            self.assertEqual(out.returncode, 0, out.stderr)
            gw.tls = {"certificate": p12, "password_file": pw}
            gw.write_config()
            self.start_and_ping(gw, crt)
            self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
