"""packaging/systemd/miscommd.service, checked without a running systemd.

- `systemd-analyze verify` is clean. It checks the syntax (an unknown key or
  a bad value is only a warning, so its output must be empty, not just its
  exit status) and that every Exec* command exists and is executable: the
  unit names the installed paths (/usr/sbin/miscommd, /usr/bin/misctl), so a
  copy points at the built binaries instead.
- `systemd-analyze security --offline=true` rates its exposure at 2.0 or
  lower, with the documented low-port drop-in too.
- Its ExecReload command, run against a daemon, validates the file first: a
  bad one exits 78 and the daemon never hears of it (no RELOADING=1).
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Gateway, MISCOMMD, MISCTL, SRC, make_data_dir
from test_systemd_notify import NotifySocket, built_with_libsystemd, clean_env, start

UNIT = os.path.join(SRC, "packaging", "systemd", "miscommd.service")
ANALYZE = shutil.which("systemd-analyze")
INSTALLED = {"/usr/sbin/miscommd": MISCOMMD, "/usr/bin/misctl": MISCTL}
CONFIG = "/etc/miscomm/miscomm.ini"
MAX_EXPOSURE = 2.0


def unit_text():
    with open(UNIT) as f:
        return f.read()


def with_built_binaries(text):
    for installed, built in INSTALLED.items():
        text = text.replace(installed, built)
    return text


def low_port_dropin(text):
    """The drop-in the unit's closing comment documents, uncommented."""
    m = re.search(r"^#   \[Service\]\n((?:#   .*\n|#\n)+)", text, re.M)
    assert m, "the unit documents no low-port drop-in"
    lines = [line[4:] for line in m.group(1).splitlines() if line.startswith("#   ")]
    return "[Service]\n" + "\n".join(x for x in lines if not x.startswith("#")) + "\n"


def exec_line(text, key):
    m = re.search(r"^%s=(.*)$" % key, text, re.M)
    assert m, "no %s= in the unit" % key
    return m.group(1).split()


@unittest.skipIf(ANALYZE is None, "systemd-analyze is not installed (Debian package systemd)")
class UnitFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="miscomm-unit-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, text, name="miscommd.service"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def analyze(self, *args):
        return subprocess.run([ANALYZE] + list(args), capture_output=True, text=True,
                              timeout=120, cwd=self.dir, stdin=subprocess.DEVNULL)

    def exposure(self, path):
        r = self.analyze("security", "--offline=true", "--no-pager",
                         "--threshold=%d" % round(MAX_EXPOSURE * 10), path)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        return float(m.group(1)), r

    def test_installed_paths(self):
        text = unit_text()
        self.assertEqual(exec_line(text, "ExecStart"), ["/usr/sbin/miscommd", "-c", CONFIG])
        self.assertEqual(exec_line(text, "ExecStartPre"),
                         ["/usr/sbin/miscommd", "--check-config", CONFIG])
        self.assertEqual(exec_line(text, "ExecReload"), ["/usr/bin/misctl", "reload", "-c", CONFIG])
        for key, value in (("Type", "notify"), ("User", "miscomm"),
                           ("StateDirectory", "miscomm"), ("CapabilityBoundingSet", ""),
                           ("UMask", "0077"), ("ProtectSystem", "strict")):
            self.assertRegex(text, r"(?m)^%s=%s$" % (key, value))
        # Configuration and keys stay read-only to the service (issue 11, item 18).
        self.assertNotRegex(text, r"(?m)^ReadWritePaths=.*/etc/miscomm")

    def test_packaged_configuration_uses_absolute_paths(self):
        """The ini the Debian package installs in /etc/miscomm names no relative path."""
        with open(os.path.join(SRC, "packaging", "debian", "miscomm.ini")) as f:
            ini = f.read()
        for key in ("data_dir", "certificate", "key", "password_file", "ini_dir"):
            m = re.search(r"(?m)^%s\s*=\s*(\S+)" % key, ini)
            if m:
                self.assertTrue(m.group(1).startswith("/"), (key, m.group(1)))
        self.assertRegex(ini, r"(?m)^data_dir = /var/lib/miscomm")

    def test_verify(self):
        path = self.write(with_built_binaries(unit_text()))
        r = self.analyze("verify", path)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_verify_sees_a_missing_binary(self):
        """The check above would pass vacuously if verify did not look."""
        path = self.write(unit_text())
        if os.path.exists("/usr/sbin/miscommd"):
            self.skipTest("miscommd is installed in /usr/sbin")
        r = self.analyze("verify", path)
        self.assertIn("/usr/sbin/miscommd is not executable", r.stdout + r.stderr)

    def test_exposure(self):
        score, r = self.exposure(self.write(with_built_binaries(unit_text())))
        self.assertLessEqual(score, MAX_EXPOSURE, r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_low_port_dropin(self):
        text = with_built_binaries(unit_text())
        dropin = low_port_dropin(text)
        self.assertIn("AmbientCapabilities=CAP_NET_BIND_SERVICE", dropin)
        # A later [Service] section overrides like a drop-in would.
        path = self.write(text + "\n" + dropin)
        r = self.analyze("verify", path)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        score, r = self.exposure(path)
        self.assertLessEqual(score, MAX_EXPOSURE, r.stdout)
        self.assertRegex(r.stdout, r"CapabilityBoundingSet=~CAP_NET_\S+\s+Service has elevated")


@unittest.skipUnless(built_with_libsystemd(), "miscommd built without libsystemd")
class ExecReloadTest(unittest.TestCase):
    """The unit's ExecReload= against a running daemon (its config path
    replaced by the test's)."""

    def test_reload_validates_first(self):
        gw = Gateway(start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        make_data_dir(gw)  # the pid file misctl reads
        ns = NotifySocket(gw.dir)
        self.addCleanup(ns.close)
        start(gw, clean_env(NOTIFY_SOCKET=ns.path))
        ns.next("READY")
        cmd = [INSTALLED.get(a, gw.ini if a == CONFIG else a)
               for a in exec_line(unit_text(), "ExecReload")]

        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ns.next("RELOADING")
        ns.next("READY")
        gw.wait_log(r"event=reload result=ok")

        with open(gw.ini, "a") as f:
            f.write("\n[server]\nbogus = 1\n")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("not signalling miscommd", r.stderr)
        ns.collect(1.5)  # one status period: only pings or an unchanged status
        for _, fields, text in ns.messages[ns.read:]:
            self.assertNotIn("RELOADING", fields, text)
        self.assertEqual(len(re.findall(r"event=reload_requested", gw.log())), 1)
        self.assertEqual(gw.stop(), 0)
        ns.next("STOPPING")


if __name__ == "__main__":
    unittest.main()
