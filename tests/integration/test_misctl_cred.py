"""misctl cred create/show/rotate-key: ODBC credential files, through the
command line as an administrator uses it. The byte layout, the checksum and
the key ids are checked against docs/admin.md with Python's own BLAKE2b, and
tampering is done here, byte by byte, as an attacker would."""
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import unittest

import harness

DB_PASSWORD = "Db-p@ss; with {braces} and spaces"
PASSPHRASE = "a long enough passphrase"
REFUSED = 65


def misctl(*args, input=None, cwd=None, timeout=120):
    return subprocess.run([harness.MISCTL] + list(args), input=input, capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


class Site:
    """A configuration with its data directory, password files and a scratch area."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="misctl-cred-")
        self.ini = self.file("miscomm.ini")
        with open(self.ini, "w") as f:
            f.write("[server]\ndata_dir = data\n\n[connection a]\nport = %d\npassword = %s\n"
                    % (harness.free_port(), harness.password_hash("correct horse battery")))
        self.pw = self.secret("db-password", DB_PASSWORD)
        self.pp = self.secret("passphrase", PASSPHRASE)
        self.keys = self.file("data", "cred-keys")

    def file(self, *names):
        return os.path.join(self.dir, *names)

    def secret(self, name, text):
        path = self.file(name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def create(self, out, *extra, dsn="PSD", passphrase=False):
        args = ["cred", "create", "--user", "MOBILESVC", "--password-file", self.pw,
                "--out", self.file(out)]
        args += ["--dsn", dsn] if dsn else []
        args += (["--passphrase-file", self.pp, "--kdf-memory", "19", "--kdf-passes", "2"]
                 if passphrase else ["-c", self.ini])
        return misctl(*(args + list(extra)))

    def show(self, name, *extra):
        return misctl("cred", "show", "-c", self.ini, self.file(name), *extra)

    def current(self):
        with open(os.path.join(self.keys, "current")) as f:
            return f.read().strip()

    def key_ids(self):
        return sorted(n[:-4] for n in os.listdir(self.keys) if n.endswith(".key"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def checksum(body):
    """docs/admin.md: BLAKE2b with a 16-byte digest of every byte before it."""
    return hashlib.blake2b(body, digest_size=16).digest()


def parse(data):
    """The layout of docs/admin.md, read independently of the C code."""
    magic, version, aead, kdf, key_id, created, mem, passes, lanes, salt, port = struct.unpack(
        ">8sHBB8sQIII16sH", data[:58])
    off, strings = 58, []
    for _ in range(4):
        (n,) = struct.unpack(">H", data[off:off + 2])
        strings.append(data[off + 2:off + 2 + n].decode())
        off += 2 + n
    nonce_len = {1: 12, 2: 24}[aead]
    nonce = data[off:off + nonce_len]
    off += nonce_len
    (sealed_len,) = struct.unpack(">I", data[off:off + 4])
    off += 4
    return {"magic": magic, "version": version, "aead": aead, "kdf": kdf, "key_id": key_id.hex(),
            "created": created, "kdf_params": (mem, passes, lanes), "salt": salt, "port": port,
            "dsn": strings[0], "connection_string": strings[1], "user": strings[2],
            "server": strings[3], "nonce": nonce, "sealed_len": sealed_len, "ad_len": off,
            "end": off + sealed_len + 16}


class CredTest(unittest.TestCase):
    def setUp(self):
        self.site = Site()
        self.addCleanup(self.site.cleanup)

    def assertNoSecret(self, out):
        for secret in (DB_PASSWORD, PASSPHRASE):
            self.assertNotIn(secret, out.stdout)
            self.assertNotIn(secret, out.stderr)

    # -- create and show -----------------------------------------------------------
    def test_create_show_reveal(self):
        s = self.site
        out = s.create("psd.cred", "--server", "db.example.com", "--port", "1433")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNoSecret(out)
        self.assertIn("created the master key", out.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(s.file("psd.cred")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(s.keys).st_mode), 0o700)
        (key_id,) = s.key_ids()
        self.assertEqual(s.current(), key_id)
        key_file = os.path.join(s.keys, key_id + ".key")
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)

        data = read(s.file("psd.cred"))
        self.assertNotIn(DB_PASSWORD.encode(), data)
        f = parse(data)
        self.assertEqual((f["magic"], f["version"], f["kdf"]), (b"MISCRED\0", 1, 0))
        self.assertIn(f["aead"], (1, 2))
        self.assertEqual((f["dsn"], f["user"], f["server"], f["port"]),
                         ("PSD", "MOBILESVC", "db.example.com", 1433))
        self.assertEqual((f["kdf_params"], f["salt"]), ((0, 0, 0), bytes(16)))
        self.assertEqual(f["end"], len(data))
        self.assertEqual(checksum(data[:-16]), data[-16:])
        # The key id is derived from the key, as the document says.
        with open(key_file) as kf:
            key = bytes.fromhex(kf.read().strip())
        self.assertEqual(len(key), 32)
        want = hashlib.blake2b(b"miscomm cred key id v1" + key, digest_size=32).digest()[:8]
        self.assertEqual(f["key_id"], want.hex())
        self.assertEqual(f["key_id"], key_id)
        # The password is padded: its length shows only in 64-byte blocks.
        self.assertEqual(f["sealed_len"], 64 + 16)

        out = s.show("psd.cred")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNoSecret(out)
        for line in ("dsn:         PSD", "user:        MOBILESVC", "server:      db.example.com",
                     "port:        1433", "format:      miscomm credential file, version 1",
                     "key:         master key " + key_id,
                     "verified:    yes, opened with the master key " + key_id):
            self.assertIn(line, out.stdout)
        self.assertIn("(sealed; --reveal prints it)", out.stdout)

        out = s.show("psd.cred", "--reveal")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("password:    %s\n" % DB_PASSWORD, out.stdout)

        # A second file uses the same key; no new key is made.
        out = s.create("other.cred", "--connection-string",
                       "Driver={SQLite3};Database=/srv/psd.db", dsn=None)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("created the master key", out.stdout)
        self.assertEqual(s.key_ids(), [key_id])
        out = s.show("other.cred", "--reveal")
        self.assertIn("connection:  Driver={SQLite3};Database=/srv/psd.db", out.stdout)
        self.assertIn("server:      (not given)", out.stdout)
        self.assertIn(DB_PASSWORD, out.stdout)

    def test_metadata_without_the_key(self):
        s = self.site
        self.assertEqual(s.create("psd.cred").returncode, 0)
        elsewhere = tempfile.mkdtemp(prefix="misctl-cred-cwd-")
        self.addCleanup(shutil.rmtree, elsewhere, True)
        if os.path.exists("/etc/miscomm/miscomm.ini"):
            self.skipTest("this machine has /etc/miscomm/miscomm.ini")
        # No configuration in the working directory: printed, marked unverified.
        out = misctl("cred", "show", s.file("psd.cred"), cwd=elsewhere)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("user:        MOBILESVC", out.stdout)
        self.assertIn("verified:    no:", out.stdout)
        out = misctl("cred", "show", "--reveal", s.file("psd.cred"), cwd=elsewhere)
        self.assertEqual(out.returncode, 1)
        self.assertIn("--reveal needs the key", out.stderr)
        self.assertNoSecret(out)

    def test_passphrase(self):
        s = self.site
        out = s.create("pp.cred", passphrase=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNoSecret(out)
        self.assertFalse(os.path.exists(s.keys), "a passphrase file needs no master key")
        f = parse(read(s.file("pp.cred")))
        self.assertEqual((f["kdf"], f["kdf_params"]), (1, (19 * 1024, 2, 1)))
        self.assertNotEqual(f["salt"], bytes(16))

        out = s.show("pp.cred")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("key:         passphrase (Argon2id, 19 MiB, 2 passes, 1 lane)", out.stdout)
        self.assertIn("verified:    no: sealed with a passphrase", out.stdout)
        out = s.show("pp.cred", "--passphrase-file", s.pp, "--reveal")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("password:    %s\n" % DB_PASSWORD, out.stdout)
        self.assertIn("verified:    yes, opened with the passphrase", out.stdout)

        wrong = s.secret("wrong", "not the passphrase at all")
        out = s.show("pp.cred", "--passphrase-file", wrong, "--reveal")
        self.assertEqual(out.returncode, REFUSED)
        self.assertIn("(WRONG_KEY): wrong passphrase", out.stderr)
        self.assertEqual(out.stdout, "")
        self.assertNoSecret(out)

        # The default Argon2id: 64 MiB, 3 passes.
        out = misctl("cred", "create", "--dsn", "PSD", "--user", "u", "--password-file", s.pw,
                     "--passphrase-file", s.pp, "--out", s.file("default.cred"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(parse(read(s.file("default.cred")))["kdf_params"], (65536, 3, 1))
        # Short passphrases and weak parameters are refused.
        short = s.secret("short", "too short")
        out = misctl("cred", "create", "--dsn", "PSD", "--user", "u", "--password-file", s.pw,
                     "--passphrase-file", short, "--out", s.file("short.cred"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("at least 12 characters", out.stderr)
        for opt, value in (("--kdf-memory", "18"), ("--kdf-passes", "1")):
            out = s.create("weak.cred", opt, value, passphrase=True)
            self.assertEqual(out.returncode, 64)
        self.assertFalse(os.path.exists(s.file("weak.cred")))

    # -- refusals --------------------------------------------------------------------------
    def test_tampered_files_refused(self):
        s = self.site
        self.assertEqual(s.create("psd.cred").returncode, 0)
        data = read(s.file("psd.cred"))
        f = parse(data)
        cases = []
        for i in (0, 9, 12, 30, 60, f["ad_len"] - 1, f["ad_len"], len(data) - 17, len(data) - 1):
            bad = bytearray(data)
            bad[i] ^= 0x01
            cases.append(("byte %d" % i, bytes(bad),
                          "CREDENTIAL_VERSION" if i == 9 else "BAD_CREDENTIAL"))
        cases.append(("truncated", data[:-1], "BAD_CREDENTIAL"))
        cases.append(("empty", b"", "BAD_CREDENTIAL"))
        # A forger who recomputes the checksum: the user name changed, the tag refuses it.
        forged = bytearray(data)
        at = forged.index(b"MOBILESVC")
        forged[at:at + 9] = b"ATTACKER1"
        forged[-16:] = checksum(bytes(forged[:-16]))
        cases.append(("forged user", bytes(forged), "BAD_CREDENTIAL"))
        forged = bytearray(data)
        forged[f["ad_len"] + 3] ^= 0x80
        forged[-16:] = checksum(bytes(forged[:-16]))
        cases.append(("forged ciphertext", bytes(forged), "BAD_CREDENTIAL"))
        old = bytearray(data)
        old[8:10] = b"\0\0"
        old[-16:] = checksum(bytes(old[:-16]))
        cases.append(("version 0", bytes(old), "CREDENTIAL_VERSION"))
        for name, bad, code in cases:
            with self.subTest(name):
                write(s.file("bad.cred"), bad)
                for extra in ((), ("--reveal",)):
                    out = s.show("bad.cred", *extra)
                    self.assertEqual(out.returncode, REFUSED, out.stdout + out.stderr)
                    self.assertIn("(%s)" % code, out.stderr)
                    self.assertEqual(out.stdout, "")
                    self.assertNoSecret(out)
        write(s.file("bad.cred"), forged)
        self.assertIn("authentication failed", s.show("bad.cred").stderr)
        write(s.file("bad.cred"), data[:-1])
        self.assertIn("damaged or truncated", s.show("bad.cred").stderr)
        write(s.file("bad.cred"), old)
        self.assertIn("version 0", s.show("bad.cred").stderr)
        write(s.file("bad.cred"), b"[server]\n")
        self.assertIn("not a miscomm credential file", s.show("bad.cred").stderr)

    def test_unknown_key(self):
        """A file from another gateway: its master key is not in this data directory."""
        s, other = self.site, Site()
        self.addCleanup(other.cleanup)
        self.assertEqual(other.create("theirs.cred").returncode, 0)
        self.assertEqual(s.create("ours.cred").returncode, 0)
        shutil.copy(other.file("theirs.cred"), s.file("theirs.cred"))
        out = s.show("theirs.cred")
        self.assertEqual(out.returncode, REFUSED)
        self.assertIn("(UNKNOWN_KEY)", out.stderr)
        self.assertNoSecret(out)

    def test_usage_errors(self):
        s = self.site
        for args in (["--user", "u", "--out", "x"],                        # no DSN
                     ["--dsn", "d", "--connection-string", "Driver=x", "--user", "u",
                      "--out", "x"],                                        # both
                     ["--dsn", "d", "--out", "x"],                          # no user
                     ["--dsn", "d", "--user", "u"],                         # no --out
                     ["--dsn", "d", "--user", "u", "--out", "x", "--port", "70000"],
                     ["--dsn", "d", "--user", "u", "--out", "x", "--surprise"]):
            with self.subTest(args):
                out = misctl("cred", "create", "--password-file", s.pw, "-c", s.ini,
                             *[a if a != "x" else s.file("x.cred") for a in args])
                self.assertEqual(out.returncode, 64, out.stderr)
        out = misctl("cred", "create", "--dsn", "d", "--user", "u", "-c", s.ini, "--out",
                     s.file("x.cred"))
        self.assertEqual(out.returncode, 64)
        self.assertIn("the database password is needed", out.stderr)
        # Passwords and passphrases are never taken from argv.
        for opt in ("--password", "--passphrase"):
            out = misctl("cred", "create", "--dsn", "d", "--user", "u", "-c", s.ini, "--out",
                         s.file("x.cred"), opt, "hunter2hunter2")
            self.assertEqual(out.returncode, 64)
            self.assertIn("never taken from the command line", out.stderr)
        # A connection string with the password in it: refused, and not echoed.
        out = s.create("x.cred", "--connection-string", "Driver=x;UID=u;PWD={hunter2;x}",
                       dsn=None)
        self.assertEqual(out.returncode, 64)
        self.assertIn("holds a password", out.stderr)
        self.assertNotIn("hunter2", out.stderr + out.stdout)
        self.assertFalse(os.path.exists(s.file("x.cred")))
        # An existing file is kept unless --force.
        self.assertEqual(s.create("x.cred").returncode, 0)
        before = read(s.file("x.cred"))
        out = s.create("x.cred")
        self.assertEqual(out.returncode, 1)
        self.assertIn("already exists", out.stderr)
        self.assertEqual(read(s.file("x.cred")), before)
        self.assertEqual(s.create("x.cred", "--force").returncode, 0)
        self.assertNotEqual(read(s.file("x.cred")), before)
        # An invalid configuration.
        bad_ini = s.file("bad.ini")
        with open(bad_ini, "w") as f:
            f.write("[server]\nno_such_key = 1\n")
        out = misctl("cred", "show", "-c", bad_ini, s.file("x.cred"))
        self.assertEqual(out.returncode, 78)
        # Help on each subcommand, and an unknown one.
        for sub in ([], ["create"], ["show"], ["rotate-key"]):
            out = misctl("cred", *(sub + ["--help"]))
            self.assertEqual(out.returncode, 0)
            self.assertIn("Usage: misctl cred", out.stdout)
            self.assertIn("Exit status", out.stdout)
        self.assertEqual(misctl("cred", "frobnicate").returncode, 64)
        self.assertEqual(misctl("cred").returncode, 64)

    # -- rotation --------------------------------------------------------------------------
    def test_rotate_key(self):
        s = self.site
        out = misctl("cred", "rotate-key", "-c", s.ini)
        self.assertEqual(out.returncode, 1)
        self.assertIn("no master key yet", out.stderr)
        self.assertEqual(s.create("kept.cred").returncode, 0)
        self.assertEqual(s.create("moved.cred").returncode, 0)
        (old,) = s.key_ids()
        moved_before = read(s.file("moved.cred"))

        out = misctl("cred", "rotate-key", "-c", s.ini, s.file("moved.cred"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNoSecret(out)
        new = s.current()
        self.assertNotEqual(new, old)
        self.assertEqual(s.key_ids(), sorted([old, new]))
        self.assertIn("kept the old master key %s" % old, out.stdout)
        self.assertIn("re-sealed %s with the master key %s (was %s)"
                      % (s.file("moved.cred"), new, old), out.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(s.file("moved.cred")).st_mode), 0o600)

        # The re-sealed file: the new key, a new nonce, the same metadata and creation time.
        a, b = parse(moved_before), parse(read(s.file("moved.cred")))
        self.assertEqual(b["key_id"], new)
        self.assertNotEqual(a["nonce"], b["nonce"])
        for k in ("dsn", "user", "server", "port", "created"):
            self.assertEqual(a[k], b[k])
        # Both open: each with its own key, found by its id.
        for name, key in (("moved.cred", new), ("kept.cred", old)):
            out = s.show(name, "--reveal")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("verified:    yes, opened with the master key " + key, out.stdout)
            self.assertIn(DB_PASSWORD, out.stdout)
        # New files use the new key.
        self.assertEqual(s.create("new.cred").returncode, 0)
        self.assertEqual(parse(read(s.file("new.cred")))["key_id"], new)

        # The administrator removes the old key: files still sealed with it are refused.
        os.unlink(os.path.join(s.keys, old + ".key"))
        out = s.show("kept.cred")
        self.assertEqual(out.returncode, REFUSED)
        self.assertIn("(UNKNOWN_KEY)", out.stderr)
        self.assertEqual(s.show("moved.cred").returncode, 0)

    def test_rotate_refuses_before_changing_anything(self):
        s = self.site
        self.assertEqual(s.create("good.cred").returncode, 0)
        self.assertEqual(s.create("pp.cred", passphrase=True).returncode, 0)
        data = bytearray(read(s.file("good.cred")))
        data[-20] ^= 0x01
        write(s.file("bad.cred"), bytes(data))
        good_before = read(s.file("good.cred"))
        keys_before, current_before = s.key_ids(), s.current()
        for bad, code in (("bad.cred", REFUSED), ("pp.cred", 1), ("missing.cred", 1)):
            with self.subTest(bad):
                out = misctl("cred", "rotate-key", "-c", s.ini, s.file("good.cred"), s.file(bad))
                self.assertEqual(out.returncode, code, out.stderr)
                self.assertEqual(s.key_ids(), keys_before)
                self.assertEqual(s.current(), current_before)
                self.assertEqual(read(s.file("good.cred")), good_before)
                self.assertNoSecret(out)


if __name__ == "__main__":
    unittest.main()
