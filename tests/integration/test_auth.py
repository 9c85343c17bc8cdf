"""HELLO and the connection password: wrong passwords, the growing delay,
`tries`, version negotiation, malformed HELLO, and miscli's view of it."""
import os
import re
import subprocess
import time
import unittest

from harness import (Gateway, Client, ERR, HELLO, HELLO_OK, MISCOMMD, PONG, hello_payload,
                     parse_hello_ok, password_hash)

WRONG = "Wr0ng-Passw0rd-Zebra"
RIGHT = "correct horse battery"


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # conns[0] (the miscli port) keeps the default tries = 3; 'strict' has tries = 2.
        cls.gw = Gateway(conns=[{"name": "lenient", "tries": 3, "password": RIGHT},
                                {"name": "strict", "tries": 2, "password": RIGHT}])
        cls.lenient = cls.gw.conns[0]["port"]
        cls.strict = cls.gw.conns[1]["port"]

    @classmethod
    def tearDownClass(cls):
        code = cls.gw.stop()
        cls.gw.__exit__(None, None, None)
        log = cls.gw.log()
        # Secrets never reach the log, whatever happened above.
        assert WRONG not in log, "the wrong password appears in the log"
        assert RIGHT not in log, "the right password appears in the log"
        assert code == 0, code

    def assertNoPasswordInLog(self):
        log = self.gw.log()
        self.assertNotIn(WRONG, log)
        self.assertNotIn(RIGHT, log)

    def test_wrong_password_then_retry_on_same_connection(self):
        with Client(self.lenient) as c:
            t0 = time.monotonic()
            rid = c.send(HELLO, hello_payload(WRONG, device="dev-wrong-1"))
            rrid, code, msg = c.recv_error()
            first = time.monotonic() - t0
            self.assertEqual((rrid, code), (rid, ERR["AUTH"]), msg)
            self.assertGreaterEqual(first, 0.2, "first failure answered without the delay")
            # The connection stays open: a second, wrong, try is answered too, later.
            t0 = time.monotonic()
            rid = c.send(HELLO, hello_payload(WRONG, device="dev-wrong-1"))
            rrid, code, msg = c.recv_error()
            second = time.monotonic() - t0
            self.assertEqual((rrid, code), (rid, ERR["AUTH"]), msg)
            self.assertGreaterEqual(second, 0.4, "the delay does not grow (%.3f s)" % second)
            # And the right password on the third try gets in.
            rid, (mtype, rrid, payload) = c.hello(RIGHT, device="dev-wrong-1")
            self.assertEqual((mtype, rrid), (HELLO_OK, rid))
            self.assertEqual(parse_hello_ok(payload)["connection"], "lenient")
        lines = self.gw.wait_log(r'event=hello result=AUTH connection=lenient [^\n]*'
                                 r'device="dev-wrong-1"[^\n]*', count=2)
        self.assertIn("failures=1", lines[0])
        self.assertIn("failures=2", lines[1])
        self.assertIn("tries=3", lines[0])
        self.assertIn('reason="wrong password"', lines[0])
        self.gw.wait_log(r'event=hello result=OK connection=lenient [^\n]*device="dev-wrong-1"')
        self.assertNoPasswordInLog()

    def test_right_password_after_one_failure(self):
        with Client(self.strict) as c:
            rid = c.send(HELLO, hello_payload(WRONG, device="dev-second-chance"))
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["AUTH"]), msg)
            self.assertIn("wrong password", msg)
            rid, (mtype, rrid, payload) = c.hello(RIGHT, device="dev-second-chance")
            self.assertEqual((mtype, rrid), (HELLO_OK, rid))
            rid, (mtype, rrid, _) = c.ping()
            self.assertEqual((mtype, rrid), (PONG, rid))
        self.gw.wait_log(r'event=hello result=AUTH connection=strict [^\n]*'
                         r'device="dev-second-chance"[^\n]*failures=1 tries=2')
        self.gw.wait_log(r'event=hello result=OK connection=strict [^\n]*device="dev-second-chance"')
        self.assertNoPasswordInLog()

    def test_too_many_tries_closes(self):
        with Client(self.strict) as c:
            rid = c.send(HELLO, hello_payload(WRONG, device="dev-brute"))
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["AUTH"]), msg)
            rid = c.send(HELLO, hello_payload(WRONG, device="dev-brute"))
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["TOO_MANY_TRIES"]), msg)
            self.assertTrue(c.closed_by_server(), "server kept the connection after tries")
        lines = self.gw.wait_log(r'event=hello result=AUTH connection=strict [^\n]*'
                                 r'device="dev-brute"[^\n]*', count=2)
        self.assertIn("failures=1", lines[0])
        self.assertIn("failures=2", lines[1])
        self.gw.wait_log(r'event=disconnect reason="2 wrong passwords \(tries = 2\)"')
        self.assertNoPasswordInLog()

    def test_unsupported_version_range(self):
        with Client(self.lenient) as c:
            rid = c.send(HELLO, hello_payload(RIGHT, vmin=3, vmax=4))
            rrid, code, msg = c.recv_error()
            self.assertEqual((rrid, code), (rid, ERR["PROTO_VERSION"]), msg)
            self.assertIn("3-4", msg)
            self.assertTrue(c.closed_by_server(), "server kept the connection")
        self.gw.wait_log(r'event=hello result=PROTO_VERSION reason="client speaks versions 3-4')
        self.gw.wait_log(r'event=disconnect reason="client speaks versions 3-4')

    def test_malformed_hello(self):
        with Client(self.lenient) as c:
            good = hello_payload(RIGHT)
            for bad in (good[:3], good[:-1], good + b"\x00"):
                rid = c.send(HELLO, bad)
                rrid, code, msg = c.recv_error()
                self.assertEqual((rrid, code), (rid, ERR["BAD_PAYLOAD"]), (bad, msg))
        self.gw.wait_log(r'event=hello result=BAD_PAYLOAD reason="malformed HELLO"', count=3)
        self.gw.wait_log(r'event=request op=hello id=\d+ result=BAD_PAYLOAD', count=3)

    def test_miscli_wrong_password(self):
        r = self.gw.miscli("--device", "dev-miscli-wrong", "ping", "--count", "1",
                           password=WRONG)
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertIn("AUTH", r.stderr + r.stdout)
        self.gw.wait_log(r'event=hello result=AUTH connection=lenient [^\n]*'
                         r'device="dev-miscli-wrong"[^\n]*failures=1')
        self.assertNoPasswordInLog()


class DamagedHashTest(unittest.TestCase):
    """A password hash that looks like Argon2id but is damaged used to pass
    --check-config, and every login then got AUTH "wrong password"."""

    def damaged(self):
        good = password_hash(RIGHT)
        head, salt, out = good.rsplit("$", 2)
        return {
            "cut short": good[:-30],  # under 16 hash bytes: refused whatever the bits
            "memory out of range": re.sub(r"m=\d+", "m=99999999", good),
            "no passes": re.sub(r"t=\d+", "t=0", good),
            "salt not base64": "%s$%s$%s" % (head, salt[:4] + "*" + salt[5:], out),
            "no hash": "%s$%s$" % (head, salt),
        }

    def config_with(self, hash_text):
        gw = Gateway(conns=[{"name": "field"}], start=False)
        with open(gw.ini) as f:
            text = f.read()
        text = re.sub(r"(?m)^password = .*$", lambda m: "password = " + hash_text, text)
        with open(gw.ini, "w") as f:
            f.write(text)
        return gw

    def test_check_config_and_start_refuse_it(self):
        for name, text in self.damaged().items():
            with self.subTest(hash=name):
                gw = self.config_with(text)
                r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True,
                                   text=True, timeout=30)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 78, out)
                self.assertIn("[connection field] password: not a valid Argon2id hash: ", out)
                self.assertIn("make a new one with 'misctl passwd'", out)
                self.assertIn("configuration is invalid", out)
                r = subprocess.run([MISCOMMD, "-c", gw.ini], capture_output=True, text=True,
                                   timeout=30, stdin=subprocess.DEVNULL)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 78, out)
                self.assertRegex(out, r'ERROR event=config_error section="connection field" '
                                      r'key="?password"? reason="not a valid Argon2id hash: ')
                self.assertNotIn("event=listening", out)

    def test_password_file_with_a_damaged_hash(self):
        gw = Gateway(conns=[{"name": "field"}], start=False)
        path = os.path.join(gw.dir, "field.hash")
        with open(path, "w") as f:
            f.write(password_hash(RIGHT)[:-30] + "\n")  # under 16 hash bytes
        with open(gw.ini) as f:
            text = f.read()
        with open(gw.ini, "w") as f:
            f.write(re.sub(r"(?m)^password = .*$", "password_file = field.hash", text))
        r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True, text=True,
                           timeout=30)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 78, out)
        self.assertIn("[connection field] password_file: '%s' does not hold a valid Argon2id "
                      "hash: " % path, out)

    def test_good_hash_still_loads(self):
        gw = self.config_with(password_hash(RIGHT))
        r = subprocess.run([MISCOMMD, "--check-config", gw.ini], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
