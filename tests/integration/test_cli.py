"""What a new user meets first: misctl passwd, miscli's command line
(help, argument order, fingerprint forms) and the README's list of commands."""
import base64
import binascii
import calendar
import os
import re
import subprocess
import tempfile
import time
import unittest

import harness

PASSWORD = "correct horse battery"


def run(tool, *args, input=None, timeout=60):
    return subprocess.run([tool] + list(args), input=input, capture_output=True, text=True,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


def misctl(*args, **kw):
    return run(harness.MISCTL, *args, **kw)


def miscli(*args, **kw):
    return run(harness.MISCLI, *args, **kw)


class PasswdTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="misctl-passwd-")
        self.pw = os.path.join(self.dir, "password")
        with open(self.pw, "w") as f:
            f.write(PASSWORD + "\n")

    def assert_hash_of(self, out, password=PASSWORD):
        self.assertEqual(out.returncode, 0, out.stderr)
        h = out.stdout.strip()
        self.assertTrue(h.startswith("$argon2id$"), h)
        # The daemon accepts it: the hash goes into a connection's password key.
        gw = harness.Gateway(start=False)
        with gw:
            with open(gw.ini) as f:
                ini = f.read()
            ini = re.sub(r"(?m)^password = .*$", lambda m: "password = " + h, ini)
            with open(gw.ini, "w") as f:
                f.write(ini)
            gw.start()
            self.assertTrue(harness.ping_ok(gw.port, password))
            self.assertEqual(gw.stop(), 0)

    def test_extra_argument_is_a_usage_error(self):
        out = misctl("passwd", "EXTRA", input=PASSWORD + "\n")
        self.assertEqual(out.returncode, 64, out.stdout + out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertIn("EXTRA", out.stderr)

    def test_password_sources(self):
        self.assert_hash_of(misctl("passwd", "--password-stdin", input=PASSWORD + "\n"))
        out = misctl("passwd", "--password-file", self.pw)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("$argon2id$"))
        # The default without a terminal is unchanged: the first line of standard input.
        out = misctl("passwd", input=PASSWORD + "\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("$argon2id$"))
        # --password-prompt needs a terminal and says so.
        out = misctl("passwd", "--password-prompt", input=PASSWORD + "\n")
        self.assertEqual(out.returncode, 1)
        self.assertIn("needs a terminal", out.stderr)

    def test_one_source_only_and_never_argv(self):
        out = misctl("passwd", "--password-stdin", "--password-file", self.pw, input="x\n")
        self.assertEqual(out.returncode, 64)
        self.assertIn("only one of", out.stderr)
        out = misctl("passwd", "--password", PASSWORD)
        self.assertEqual(out.returncode, 64)
        self.assertIn("never taken from the command line", out.stderr)
        # A password option without its value is a usage error, not a password on argv.
        out = misctl("passwd", "--password-file")
        self.assertEqual(out.returncode, 64)
        self.assertIn("unknown option or missing value: --password-file", out.stderr)

    def test_error_messages(self):
        out = misctl("passwd", "--password-file", "/nonexistent")
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot read the password from /nonexistent: not found", out.stderr)
        for args in ([], ["--password-stdin"]):
            out = misctl("passwd", *args, input="")
            self.assertEqual(out.returncode, 1, args)
            self.assertIn("cannot read the password from standard input: empty input",
                          out.stderr)
            self.assertNotIn("invalid argument", out.stderr)
        empty = os.path.join(self.dir, "empty")
        open(empty, "w").close()
        out = misctl("passwd", "--password-file", empty)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot read the password from %s: empty input" % empty, out.stderr)
        out = misctl("passwd", "--password-stdin", input="short\n")
        self.assertEqual(out.returncode, 1)
        self.assertIn("at least 8 characters", out.stderr)

    def test_warns_when_others_can_read_the_password_file(self):
        os.chmod(self.pw, 0o600)
        out = misctl("passwd", "--password-file", self.pw)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("warning", out.stderr)
        os.chmod(self.pw, 0o644)
        out = misctl("passwd", "--password-file", self.pw)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("$argon2id$"))
        self.assertIn("warning: password file %s: other users can read it" % self.pw,
                      out.stderr)
        self.assertIn("chmod 600", out.stderr)

    def test_line_endings_and_spaces(self):
        # The first line up to LF or CR is the password: a Windows file's CRLF is not
        # part of it, trailing spaces are (the server compares byte for byte).
        crlf = os.path.join(self.dir, "crlf")
        with open(crlf, "wb") as f:
            f.write(PASSWORD.encode() + b"\r\n")
        self.assert_hash_of(misctl("passwd", "--password-file", crlf))
        spaced = os.path.join(self.dir, "spaced")
        with open(spaced, "wb") as f:
            f.write(PASSWORD.encode() + b"  \n")
        out = misctl("passwd", "--password-file", spaced)
        self.assert_hash_of(out, PASSWORD + "  ")
        gw = harness.Gateway(start=False)
        with gw:
            with open(gw.ini) as f:
                ini = f.read()
            ini = re.sub(r"(?m)^password = .*$", lambda m: "password = " + out.stdout.strip(), ini)
            with open(gw.ini, "w") as f:
                f.write(ini)
            gw.start()
            with self.assertRaises(AssertionError):
                harness.ping_ok(gw.port, PASSWORD)
            self.assertEqual(gw.stop(), 0)

    def test_help_lists_every_option(self):
        out = misctl("passwd", "--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        for opt in ("--password-file", "--password-stdin", "--password-prompt", "--help",
                    "Exit status"):
            self.assertIn(opt, out.stdout)
        top = misctl("--help").stdout
        self.assertIn("--password-stdin", top)


class MiscliUsageTest(unittest.TestCase):
    """Argument handling; no server is needed (nothing gets that far)."""

    def setUp(self):
        self.port = str(harness.free_port())

    def test_command_help(self):
        for cmd in ("hello", "ping"):
            out = miscli("--port", self.port, cmd, "--help")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("Usage: miscli [OPTIONS] %s" % cmd, out.stdout)
            self.assertNotIn("password", out.stderr.lower())
        self.assertIn("--reconnect", miscli("ping", "-h").stdout)

    def test_extra_arguments(self):
        for cmd in ("hello", "ping"):
            out = miscli("--port", self.port, "--insecure", cmd, "EXTRA")
            self.assertEqual(out.returncode, 64, (cmd, out.stderr))
            self.assertIn("unexpected argument 'EXTRA'", out.stderr)

    def test_global_option_after_the_command(self):
        out = miscli("ping", "--tls", "1.2")
        self.assertEqual(out.returncode, 64, out.stderr)
        self.assertIn("miscli: ping: unknown option '--tls' (global options go before the "
                      "command: miscli --tls 1.2 ping)", out.stderr)
        out = miscli("hello", "--insecure")
        self.assertEqual(out.returncode, 64, out.stderr)
        self.assertIn("global options go before the command: miscli --insecure hello",
                      out.stderr)
        out = miscli("ping", "-p", "9001")
        self.assertEqual(out.returncode, 64, out.stderr)
        self.assertIn("miscli -p 9001 ping", out.stderr)
        # A genuinely unknown option is reported as such.
        out = miscli("ping", "--bogus")
        self.assertEqual(out.returncode, 64, out.stderr)
        self.assertIn("'--bogus'", out.stderr)
        self.assertNotIn("global options go before", out.stderr)

    def test_malformed_fingerprint(self):
        for fp in ("nothex", "AB:CD", "sha256/" + "A" * 10, "sha256/not*base64*at*all*here*"
                   "0123456789abc=", "0" * 63, "0" * 66):
            out = miscli("--port", self.port, "--fingerprint", fp, "ping")
            self.assertEqual(out.returncode, 64, (fp, out.stderr))
            self.assertIn("64 hex digits", out.stderr)
            self.assertIn("sha256/", out.stderr)


class MiscliFingerprintTest(unittest.TestCase):
    """--fingerprint in every form the daemon and misctl print."""

    @classmethod
    def setUpClass(cls):
        cls.gw = harness.Gateway()
        log = cls.gw.log()
        cls.pin = re.search(r"spki_pin=(sha256/\S+)", log).group(1)
        cls.spki_hex = re.search(r"spki_sha256=(\S+)", log).group(1)
        cls.cert_hex = cls.gw.fingerprint()
        cls.pwfile = os.path.join(cls.gw.dir, "cli.password")
        with open(cls.pwfile, "w") as f:
            f.write(cls.gw.password + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.gw.__exit__(None, None, None)

    def ping(self, fp):
        return miscli("--port", str(self.gw.port), "--password-file", self.pwfile,
                      "--fingerprint", fp, "ping", "--count", "1", "--interval", "0")

    def test_accepted_forms(self):
        cert_b64 = base64.b64encode(binascii.unhexlify(self.cert_hex.replace(":", ""))).decode()
        for fp in (self.pin,                                  # spki_pin=sha256/... as logged
                   self.pin[len("sha256/"):],                 # bare base64
                   self.spki_hex,                             # AB:CD:... as logged
                   self.spki_hex.replace(":", "").lower(),    # plain hex
                   self.cert_hex,                             # the certificate's own
                   "sha256/" + cert_b64):
            out = self.ping(fp)
            self.assertEqual(out.returncode, 0, (fp, out.stderr))
            self.assertIn("1 received", out.stdout)

    def test_wrong_pin_is_refused(self):
        other = base64.b64encode(bytes(32)).decode()
        out = self.ping("sha256/" + other)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("fingerprint", out.stderr)


class FirstStartCertificateTest(unittest.TestCase):
    """The certificate miscommd makes on its first start (cert_generate)."""

    @unittest.skipUnless(harness.OPENSSL, "needs the openssl tool")
    def test_validity_is_825_days(self):
        with harness.Gateway() as gw:
            out = harness.openssl("x509", "-in", gw.cert, "-noout", "-startdate", "-enddate")
            if isinstance(out, bytes):
                out = out.decode()
            dates = dict(line.split("=", 1) for line in out.strip().splitlines())
            t = {k: calendar.timegm(time.strptime(v, "%b %d %H:%M:%S %Y %Z"))
                 for k, v in dates.items()}
            self.assertEqual(t["notAfter"] - t["notBefore"], 825 * 86400)
            self.assertEqual(gw.stop(), 0)


class ReadmeTest(unittest.TestCase):
    def test_readme_lists_every_command(self):
        with open(os.path.join(harness.SRC, "README.md")) as f:
            readme = f.read()
        # A table cell escapes "|" as "\|" (GitHub renders it as "|").
        misctl_row = re.search(r"^\| `build/misctl` \|(.*)$", readme, re.M).group(1)
        misctl_row = misctl_row.replace("\\|", "|")
        for cmd in ("`passwd`", "`check-config`", "`cert create|show|check`", "`psk create`",
                    "`reload`"):
            self.assertIn(cmd, misctl_row)
        miscli_row = re.search(r"^\| `build/miscli` \|(.*)$", readme, re.M).group(1)
        for cmd in ("`ping [--reconnect]`", "`hello`"):
            self.assertIn(cmd, miscli_row)
        # Every command misctl --help lists is in the README.
        for cmd in re.findall(r"^  ([a-z-]+)", misctl("--help").stdout, re.M):
            if cmd != "help":
                self.assertIn("`" + cmd, misctl_row, cmd)
        self.assertIn("docs/admin.md", readme)
        self.assertIn("make run ", readme)
        self.assertIn("make test ", readme)


if __name__ == "__main__":
    unittest.main()
