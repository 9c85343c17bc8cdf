"""The client library never sends HELLO (the password) to a server that
failed verification, even when the application retries with mc_reconnect()
(which resumes TLS sessions), and PSK mode never settles for a certificate."""
import os
import subprocess
import unittest

from harness import BUILD, Gateway

ATTACK = os.path.join(BUILD, "tests", "client_attack")


class ClientAttackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def run_attack(self, *args):
        r = subprocess.run([ATTACK] + [str(a) for a in args], capture_output=True, text=True,
                           timeout=60)
        return r

    def check_refused(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("CERT_VERIFY"), 3, r.stdout)
        self.assertNotIn("hello sent", r.stdout)

    def test_wrong_pin_retried_tls12(self):
        self.check_refused(self.run_attack("pin", self.gw.port, 12))

    def test_wrong_pin_retried_tls13(self):
        self.check_refused(self.run_attack("pin", self.gw.port, 13))

    def test_wrong_pin_never_reaches_hello(self):
        before = self.gw.log().count("event=hello")
        self.run_attack("pin", self.gw.port, 0)
        self.assertEqual(self.gw.log().count("event=hello"), before)

    def test_psk_client_against_certificate_server(self):
        key = os.path.join(self.gw.dir, "client.psk")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        r = self.run_attack("psk", self.gw.port, key)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("hello sent", r.stdout)
        self.assertEqual(r.stdout.count(": OK (0)"), 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
