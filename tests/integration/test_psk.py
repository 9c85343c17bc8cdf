"""encryption = aes256: TLS 1.3 with an external pre-shared key
(TLS13-AES256-GCM-SHA384), no certificate. The right key works, a wrong key,
a password-like key, plain TLS and plaintext do not."""
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

from harness import (BUILD, Gateway, Client, MISCOMMD, MISCTL, HELLO_OK, PONG, count_log,
                     run_miscli, tls_context)

PSK_CLIENT = os.path.join(BUILD, "tests", "psk_client")

PSK_CIPHER = "TLS13-AES256-GCM-SHA384"
REFUSED_TEXT = "keys derived from passwords are refused"


def write_key(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


# Key files that look like passwords, not random keys; psk_load() refuses them all.
PASSWORD_LIKE = {
    "hex of printable text": b"correct horse battery staple 123".hex() + "\n",
    "64 'a' digits": "a" * 64 + "\n",
    "hex of a short password, zero padded": b"password123".hex().ljust(64, "0") + "\n",
    "the password itself": "password123\n",
    "63 hex digits": os.urandom(32).hex()[:63] + "\n",
}


class PskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="miscomm-psk-")
        cls.key = write_key(os.path.join(cls.tmp, "aes.key"), os.urandom(32).hex() + "\n")
        cls.gw = Gateway(conns=[{"name": "aes", "encryption": "aes256", "psk_file": cls.key}])
        cls.gw.wait_log(r"event=listening connection=aes bind=127\.0\.0\.1 port=%d "
                        r"encryption=aes256 " % cls.gw.port)

    @classmethod
    def tearDownClass(cls):
        cls.gw.__exit__(None, None, None)
        if cls.gw.proc.poll() is None:
            cls.gw.stop()

    def miscli(self, key, *args):
        return run_miscli(self.gw.port, "--psk-file", key, *args, pwdir=self.tmp)

    def test_ping_with_the_key(self):
        gw = self.gw
        before = count_log(gw, r"event=hello result=OK connection=aes")
        r = self.miscli(self.key, "ping", "--count", "2", "--interval", "0")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + gw.log())
        first = r.stdout.splitlines()[0]
        self.assertRegex(first, r"^PING 127\.0\.0\.1:%d \(TLSv1\.3 %s\) connection aes$"
                         % (gw.port, PSK_CIPHER))
        self.assertEqual(r.stdout.count("pong from"), 2, r.stdout)
        self.assertIn("2 requests transmitted, 2 received, 0% loss", r.stdout)
        lines = gw.wait_log(r"(conn=\d+) peer=\S+ event=tls version=TLSv1\.3 cipher=%s "
                            r"resumed=no auth=psk" % PSK_CIPHER)
        gw.wait_log(r"event=hello result=OK connection=aes client=\"miscli/", count=before + 1)
        conn = lines[-1]
        gw.wait_log(r"%s peer=\S+ event=request op=ping id=\d+ result=OK" % conn, count=2)

    def test_wrong_key(self):
        gw = self.gw
        wrong = write_key(os.path.join(self.tmp, "wrong.key"), os.urandom(32).hex() + "\n")
        errors = count_log(gw, r"event=tls_error")
        hellos = count_log(gw, r"event=hello ")
        r = self.miscli(wrong, "ping", "--count", "2", "--interval", "0")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("pong from", r.stdout)
        self.assertIn("miscli: connect: TLS", r.stderr)
        gw.wait_log(r"event=tls_error code=-?\d+", count=errors + 1, timeout=5)
        gw.wait_log(r'event=disconnect reason="TLS handshake failed" state=handshake', timeout=5)
        self.assertEqual(count_log(gw, r"event=hello "), hellos)

    def test_wrong_key_reason(self):
        """The operator is told why: tls_error_reason() has a reason for a wrong key."""
        gw = self.gw
        wrong = write_key(os.path.join(self.tmp, "wrong2.key"), os.urandom(32).hex() + "\n")
        errors = count_log(gw, r"event=tls_error")
        r = self.miscli(wrong, "ping", "--count", "1", "--interval", "0")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = gw.wait_log(r"event=tls_error [^\n]*", count=errors + 1, timeout=5)
        self.assertIn('reason="unknown or wrong pre-shared key"', lines[-1])

    def test_password_like_key_refused_by_miscli(self):
        gw = self.gw
        for name, text in PASSWORD_LIKE.items():
            with self.subTest(key=name):
                path = write_key(os.path.join(self.tmp, "weak.key"), text)
                connects = count_log(gw, r"event=connect ")
                r = self.miscli(path, "ping", "--count", "1", "--interval", "0")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(REFUSED_TEXT, r.stderr)
                self.assertIn(path, r.stderr)
                self.assertNotIn("pong from", r.stdout)
                # Refused before connecting: the daemon saw nothing.
                self.assertEqual(count_log(gw, r"event=connect "), connects)

    def psk_client(self, mode):
        r = subprocess.run([PSK_CLIENT, str(self.gw.port), self.key, mode], capture_output=True,
                           text=True, timeout=30)
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        return r

    def test_psk_ke_without_dhe_refused(self):
        """A client offering the key without (EC)DHE (psk_ke) gets no session: its
        traffic keys would depend on the PSK alone, with no forward secrecy."""
        gw = self.gw
        refused = count_log(gw, r"event=tls_error code=-?\d+ error=\"psk_ke refused\"")
        hellos = count_log(gw, r"event=hello ")
        r = self.psk_client("ke")
        self.assertEqual(r.returncode, 1, "psk_ke accepted:\n" + r.stdout + gw.log())
        self.assertNotIn("answered", r.stdout)
        gw.wait_log(r'event=tls_error code=-?\d+ error="psk_ke refused" reason="the client '
                    r'offered the pre-shared key without \(EC\)DHE \(psk_dhe_ke is required\)"',
                    count=refused + 1, timeout=5)
        gw.wait_log(r'event=disconnect reason="TLS handshake failed" state=handshake', timeout=5)
        self.assertEqual(count_log(gw, r"event=hello "), hellos)

    def test_psk_dhe_ke_accepted_on_each_curve(self):
        for mode in ("dhe", "x25519", "p256", "p384"):
            with self.subTest(mode=mode):
                r = self.psk_client(mode)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.gw.log())
                # Any answer will do (PING before HELLO gets an ERROR frame).
                self.assertRegex(r.stdout, r"^answered: \d+ bytes, frame type 0x[0-9a-f]{2}, "
                                           r"group (X25519|SECP256R1|SECP384R1)$")

    def test_plain_tls_client_refused(self):
        """An ordinary TLS client (certificate-based, no PSK) gets no session."""
        gw = self.gw
        errors = count_log(gw, r"event=tls_error")
        for version in (None, "1.3", "1.2"):
            with self.subTest(version=version):
                raw = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
                peer = re.escape("%s:%d" % raw.getsockname()[:2])
                with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                    with tls_context(version).wrap_socket(raw) as s:
                        s.recv(1)
                raw.close()
                gw.wait_log(r'peer=%s event=disconnect reason="TLS handshake failed" '
                            r'state=handshake' % peer, timeout=5)
                self.assertNotRegex(gw.log(), r"peer=%s event=tls version" % peer)
        gw.wait_log(r"event=tls_error", count=errors + 3, timeout=5)

    def test_plaintext_client_refused(self):
        """The password never travels in clear on an aes256 port: a client that
        skips TLS must not be able to log in."""
        gw = self.gw
        with Client(gw.port, tls=False) as c:
            peer = re.escape("%s:%d" % c.sock.getsockname()[:2])
            try:
                rid, (mtype, rrid, _) = c.hello(gw.password)
            except (ConnectionError, OSError):
                mtype = None
            self.assertNotEqual(mtype, HELLO_OK,
                                "plaintext HELLO accepted on an encryption = aes256 port")
        gw.wait_log(r"peer=%s event=connect connection=aes port=%d transport=tls"
                    % (peer, gw.port))
        self.assertNotRegex(gw.log(), r"peer=%s event=hello result=OK" % peer)

    def test_password_like_key_refused_at_start(self):
        for name, text in PASSWORD_LIKE.items():
            with self.subTest(key=name):
                path = write_key(os.path.join(self.tmp, "start.key"), text)
                gw = Gateway(conns=[{"name": "aes", "encryption": "aes256", "psk_file": path}],
                             start=False)
                # The syntax is fine: --check-config does not read key files.
                r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                r = subprocess.run([MISCOMMD, "-c", gw.ini], capture_output=True, text=True,
                                   timeout=30, stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
                log = r.stdout + r.stderr
                self.assertRegex(log, r'ERROR event=config_error section="connection aes" '
                                      r'key=psk_file reason="%s: [^"]*%s' % (re.escape(path),
                                                                            REFUSED_TEXT))
                self.assertRegex(log, r'ERROR event=start_failed config=\S+ '
                                      r'error="invalid configuration"')
                self.assertNotIn("event=listening", log)
                self.assertNotIn("event=ready", log)

    def test_key_rotation_by_reload(self):
        """A replaced key file (misctl psk create --force) and a reload: the
        new key works and the old one, which may have leaked, no longer does."""
        old_text = os.urandom(32).hex() + "\n"
        path = write_key(os.path.join(self.tmp, "rotate.key"), old_text)
        old = write_key(os.path.join(self.tmp, "rotate.old"), old_text)
        with Gateway(conns=[{"name": "aes", "encryption": "aes256", "psk_file": path}]) as gw:
            r = run_miscli(gw.port, "--psk-file", path, "ping", "--count", "1",
                           "--interval", "0", pwdir=self.tmp)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            write_key(path, os.urandom(32).hex() + "\n")
            gw.proc.send_signal(signal.SIGHUP)
            gw.wait_log(r"event=reload result=ok")
            r = run_miscli(gw.port, "--psk-file", path, "ping", "--count", "1",
                           "--interval", "0", pwdir=self.tmp)
            self.assertEqual(r.returncode, 0, "the new key is refused after the reload:\n"
                             + r.stdout + r.stderr)
            errors = count_log(gw, r"event=tls_error")
            r = run_miscli(gw.port, "--psk-file", old, "ping", "--count", "1",
                           "--interval", "0", pwdir=self.tmp)
            self.assertEqual(r.returncode, 1, "the replaced key still works after the reload:\n"
                             + r.stdout)
            gw.wait_log(r"event=tls_error", count=errors + 1, timeout=5)
            self.assertEqual(gw.stop(), 0)

    def test_misctl_psk_create(self):
        r = subprocess.run([MISCTL, "psk", "create", "--help"], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("misctl psk create does not exist yet")
        path = os.path.join(self.tmp, "created.key")
        r = subprocess.run([MISCTL, "psk", "create", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, r"^[0-9a-f]{64}\n$")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # It does not overwrite an existing key without --force.
        r = subprocess.run([MISCTL, "psk", "create", path], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), text)
        # The daemon and miscli accept it.
        with Gateway(conns=[{"name": "aes", "encryption": "aes256", "psk_file": path}]) as gw:
            r = run_miscli(gw.port, "--psk-file", path, "ping", "--count", "1",
                           "--interval", "0", pwdir=self.tmp)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr + gw.log())
            gw.wait_log(r"event=tls version=TLSv1\.3 cipher=%s resumed=no auth=psk" % PSK_CIPHER)
            self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
