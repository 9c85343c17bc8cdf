#!/usr/bin/env python3
"""The Debian packages, end to end, on this machine.

Builds the packages from the build tree with cpack (twice: the project's
version, and a higher one to upgrade to), checks them with lintian, installs
them with dpkg, starts the packaged miscommd as the packaged user, pings it
with the packaged miscli and the password the package generated, upgrades
while a miscli connection is live, removes (configuration and data stay),
reinstalls, purges, and checks that nothing is left: /etc/miscomm,
/var/lib/miscomm, the user, the programs, the unit.

It installs packages into this machine, so it needs root: otherwise, or when
this machine already has miscomm (a package, the user or its folders, which
the purge would destroy), it says so and exits 77, which ctest reports as
skipped. Runs from other checkouts or ctest processes wait for each other on
a lock file in /run/lock. Whatever happens, the packages it installed are
purged at the end; if it is killed before, the next run finds its marker and
cleans up first.

This container has no running systemd: postinst enables the unit (the
symlinks) but starts nothing, so the test starts the daemon itself with
runuser, on a free loopback port set in the installed configuration, as an
administrator edits it (the upgrade must then keep that edit).

Run by ctest (test deb_package, RUN_SERIAL: it changes the whole machine),
or by hand: MISCOMM_BUILD=build python3 tests/packaging/test_deb.py
"""
import errno
import fcntl
import glob
import hashlib
import os
import grp
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("MISCOMM_BUILD") or os.path.join(SRC, "build"))
CPACK = os.environ.get("MC_CPACK") or shutil.which("cpack") or "cpack"
MARKER = os.path.join(BUILD, "deb-test-installed")
# One run at a time on this machine, whichever checkout or ctest it comes from.
LOCK = os.path.join("/run/lock" if os.path.isdir("/run/lock") else tempfile.gettempdir(),
                    "miscomm-deb-test.lock")
LOCK_WAIT = 600

PACKAGES = ["miscomm", "libmiscomm0", "libmiscomm-dev"]
UPGRADE_SUFFIX = "+debtest1"
CONF = "/etc/miscomm/miscomm.ini"
PASSWORD = "/etc/miscomm/psdmobile.password"
HASH = "/etc/miscomm/psdmobile.hash"
STATE = "/var/lib/miscomm"
CERT = STATE + "/certs/miscomm.crt"
KEY = STATE + "/certs/miscomm.key"
UNIT = "/lib/systemd/system/miscommd.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/miscommd.service"
MASK = "/etc/systemd/system/miscommd.service"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PROGRAMS = ["/usr/sbin/miscommd", "/usr/bin/misctl", "/usr/bin/miscli"]
MAN_PAGES = ["/usr/share/man/man8/miscommd.8.gz", "/usr/share/man/man1/misctl.1.gz",
             "/usr/share/man/man1/miscli.1.gz"]
# Everything the packages, their scripts or the daemon may create.
LEFTOVERS = PROGRAMS + MAN_PAGES + [
    "/etc/miscomm", STATE, "/var/log/miscomm", UNIT, WANTS, MASK,
    "/var/lib/systemd/deb-systemd-helper-enabled/miscommd.service.dsh-also",
    "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/miscommd.service",
    "/var/lib/systemd/deb-systemd-helper-masked/miscommd.service",
    "/usr/include/miscomm", LIBDIR + "/libmiscomm.so", LIBDIR + "/libmiscomm.so.0",
    "/usr/share/doc/miscomm", "/usr/share/doc/libmiscomm0", "/usr/share/doc/libmiscomm-dev",
]
ENV = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")


def log(msg):
    print("deb_package: " + msg, flush=True)


def run(args, timeout=300, check=True, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=ENV, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d\n--- stdout\n%s--- stderr\n%s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def dpkg_state(pkg):
    """'installed', 'config-files', None (unknown to dpkg)..."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                       text=True, env=ENV)
    if r.returncode != 0 or r.stdout.endswith("not-installed"):
        return None
    return r.stdout.split()[-1]


def user_exists(name="miscomm"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name="miscomm"):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def leftovers():
    left = [p for p in LEFTOVERS if os.path.lexists(p)]
    left += ["package " + p for p in PACKAGES if dpkg_state(p)]
    if user_exists():
        left.append("user miscomm")
    if group_exists():
        left.append("group miscomm")
    return left


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(*roots):
    """Type, mode, owner and content (SHA-256, or link target) of every entry."""
    out = {}
    for root in roots:
        for path in [root] + [os.path.join(d, n) for d, ds, fs in os.walk(root) for n in ds + fs]:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = "-> " + os.readlink(path)
            else:
                content = ""
            out[path] = (oct(st.st_mode), st.st_uid, st.st_gid, content)
    return out


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Daemon:
    """The packaged miscommd, run as the packaged user the way the unit does."""

    def __init__(self, logpath):
        self.logpath = logpath
        self.proc = None
        self.pid = None

    def start(self):
        self.logf = open(self.logpath, "a")
        self.mark = os.path.getsize(self.logpath)
        self.proc = subprocess.Popen(["runuser", "-u", "miscomm", "--", "/usr/sbin/miscommd",
                                      "-c", CONF], stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd="/", env=ENV)
        deadline = time.time() + 30
        while "event=ready" not in self.log():
            # runuser forks: the daemon's own pid is the one to signal.
            m = re.search(r"event=starting .* pid=(\d+)", self.log())
            if m:
                self.pid = int(m.group(1))
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError("miscommd did not start (exit %s):\n%s"
                                     % (self.proc.poll(), self.log()))
            time.sleep(0.1)
        self.pid = int(re.search(r"event=starting .* pid=(\d+)", self.log()).group(1))
        return self

    def log(self):
        """What this run of the daemon logged."""
        with open(self.logpath) as f:
            f.seek(self.mark)
            return f.read()

    def stop(self):
        """SIGTERM, as systemd stops it; its exit status (0 = drained cleanly)."""
        if self.pid and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
        rc = self.proc.wait(timeout=60) if self.proc else None
        self.logf.close()
        return rc

    def kill(self):
        """The daemon first, and runuser only if it does not then exit: killed
        first, runuser would leave the daemon to init, which may never reap
        it here, and userdel refuses a user with a process, even a zombie."""
        if self.pid and pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.logf.close()


class LiveClient:
    """A miscli whose output lines are timestamped as they come."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))

    def text(self):
        return "".join(line for _, line in list(self.lines))

    def wait_for(self, word, since, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(t > since and word in line for t, line in list(self.lines)):
                return
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("no '%s' from miscli:\n%s" % (word, self.text()))


class DebPackageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="miscomm-deb-test-")
        self.daemons = []
        self.clients = []
        self.installed = False  # set before the first dpkg -i: cleanup purges only then

    # -- helpers ---------------------------------------------------------
    def version(self):
        with open(os.path.join(BUILD, "CPackConfig.cmake")) as f:
            m = re.search(r'^set\(CPACK_PACKAGE_VERSION "([^"]+)"\)', f.read(), re.M)
        self.assertIsNotNone(m, "no CPACK_PACKAGE_VERSION in CPackConfig.cmake")
        return m.group(1)

    def build_packages(self, name, version=None):
        out = os.path.join(self.tmp, name)
        args = [CPACK, "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out]
        if version:
            args += ["-D", "CPACK_PACKAGE_VERSION=" + version]
        run(args, timeout=600, cwd=BUILD)
        debs = sorted(glob.glob(os.path.join(out, "*.deb")))
        self.assertEqual(sorted(os.path.basename(d).split("_")[0] for d in debs), sorted(PACKAGES),
                         debs)
        return debs

    def miscli(self, *args, device="debtest", popen=False):
        cmd = ["/usr/bin/miscli", "-H", "127.0.0.1", "-p", str(self.port),
               "--fingerprint", self.pin, "--password-file", PASSWORD,
               "--device", device] + list(args)
        if popen:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, cwd=self.tmp, env=ENV)
            self.clients.append(p)
            return p
        return run(cmd, timeout=120, cwd=self.tmp)

    def start_daemon(self):
        d = Daemon(os.path.join(self.tmp, "miscommd.log"))
        self.daemons.append(d)
        return d.start()

    def dpkg(self, *args):
        return run(["dpkg"] + list(args), timeout=600)

    # -- the test --------------------------------------------------------
    def test_install_run_upgrade_remove_purge(self):
        try:
            self.steps()
        finally:
            self.cleanup()

    def steps(self):
        v1 = self.version()
        v2 = v1 + UPGRADE_SUFFIX
        log("building the packages %s and %s with cpack" % (v1, v2))
        debs1 = self.build_packages("v1")
        debs2 = self.build_packages("v2", v2)
        for d in debs1:
            self.assertIn("_%s_amd64.deb" % v1, d)
        for d in debs2:
            self.assertIn("_%s_amd64.deb" % v2, d)
        main_deb = [d for d in debs1 if os.path.basename(d).startswith("miscomm_")][0]

        # What the package holds, before it goes near the system.
        listing = run(["dpkg-deb", "-c", main_deb]).stdout
        for path in PROGRAMS + MAN_PAGES + [CONF, UNIT, "/usr/share/doc/miscomm/copyright",
                                            "/usr/share/doc/miscomm/changelog.gz"]:
            self.assertRegex(listing, r" \.%s\n" % re.escape(path), "not in the package")
        control = run(["dpkg-deb", "-I", main_deb]).stdout
        self.assertNotIn("wolfssl", control.lower(), "the package depends on wolfSSL")
        conffiles = run(["dpkg-deb", "-I", main_deb, "conffiles"]).stdout.split()
        self.assertIn(CONF, conffiles)

        lintian = shutil.which("lintian")
        if lintian:
            log("lintian")
            r = run([lintian, "--fail-on", "error"] + debs1 + debs2, timeout=600, check=False)
            print(r.stdout + r.stderr, flush=True)
            self.assertEqual(r.returncode, 0, "lintian found errors")
            self.assertNotRegex(r.stdout, r"(?m)^E: ")
        else:
            log("lintian is not installed (scripts/deps.sh installs it): not checked")

        # -- install ----------------------------------------------------
        self.assertEqual(leftovers(), [], "miscomm appeared on this machine meanwhile")
        self.installed = True
        with open(MARKER, "w") as f:
            f.write("tests/packaging/test_deb.py installed the miscomm packages\n")
        log("dpkg -i " + " ".join(os.path.basename(d) for d in debs1))
        r = self.dpkg("-i", *debs1)
        print(r.stdout + r.stderr, flush=True)
        self.assertIn(PASSWORD, r.stdout, "postinst does not say where the password is")
        for p in PACKAGES:
            self.assertEqual(dpkg_state(p), "installed", p)

        u = pwd.getpwnam("miscomm")
        self.assertLess(u.pw_uid, 1000, "not a system user")
        self.assertEqual(u.pw_dir, STATE)
        self.assertEqual(u.pw_shell, "/usr/sbin/nologin")
        gid = grp.getgrnam("miscomm").gr_gid
        self.assertEqual(u.pw_gid, gid)

        def owner_mode(path):
            st = os.stat(path)
            return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)

        self.assertEqual(owner_mode(STATE), (u.pw_uid, gid, 0o750))
        self.assertEqual(owner_mode(STATE + "/certs"), (u.pw_uid, gid, 0o750))
        self.assertEqual(owner_mode(PASSWORD), (0, 0, 0o600))
        self.assertEqual(owner_mode(HASH), (0, gid, 0o640))
        with open(PASSWORD) as f:
            self.assertRegex(f.read(), r"^[A-Za-z0-9_-]{24}\n$")
        with open(HASH) as f:
            self.assertTrue(f.read().startswith("$argon2id$"))
        self.assertFalse(os.path.exists(CERT), "the certificate is made by the first start")

        self.assertTrue(os.path.islink(WANTS), "the unit is not enabled")
        self.assertEqual(os.readlink(WANTS), UNIT)
        analyze = shutil.which("systemd-analyze")
        if analyze:
            # The unit as installed: every Exec* program exists, the syntax is clean.
            r = run([analyze, "verify", UNIT], check=False, cwd=self.tmp)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        for m in MAN_PAGES:
            name, section = os.path.basename(m).split(".")[:2]
            r = run(["sh", "-c", "zcat '%s' | head -n 20" % m])
            self.assertRegex(r.stdout, r'(?m)^\.TH "%s" "%s"' % (name, section))

        # The optimized wolfSSL is inside the programs and the library.
        version_text = run(["/usr/sbin/miscommd", "--version"]).stdout
        self.assertIn("optimized build", version_text)
        for f in PROGRAMS + [LIBDIR + "/libmiscomm.so.0"]:
            out = run(["ldd", f]).stdout
            self.assertNotIn("wolfssl", out.lower(), f)
            self.assertNotIn("not found", out, f)

        # The daemon's user can read what it needs.
        r = run(["runuser", "-u", "miscomm", "--", "/usr/bin/misctl", "check-config", CONF])
        self.assertIn("configuration is valid", r.stdout)

        # The -dev and library packages: a client of our own, built against them.
        cc = shutil.which("cc") or shutil.which("clang")
        if cc:
            src = os.path.join(self.tmp, "client.c")
            with open(src, "w") as f:
                f.write(CLIENT_C)
            run([cc, "-o", os.path.join(self.tmp, "client"), src, "-lmiscomm"])

        # -- first start ------------------------------------------------
        self.port = free_port()
        with open(CONF) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^port = 9000\b", "port = %d" % self.port, text)
        self.assertEqual(n, 1)
        text, n = re.subn(r"(?m)^bind = 0\.0\.0\.0\b", "bind = 127.0.0.1", text)
        self.assertEqual(n, 1)
        with open(CONF, "w") as f:
            f.write(text)
        log("starting /usr/sbin/miscommd as miscomm on port %d" % self.port)
        d = self.start_daemon()
        log1 = d.log()
        self.assertIn("event=certificate_generated file=%s" % CERT, log1)
        self.assertEqual(owner_mode(CERT)[:2], (u.pw_uid, gid))
        self.assertEqual(owner_mode(KEY), (u.pw_uid, gid, 0o600))
        with open("/proc/%d/status" % d.pid) as f:
            self.assertRegex(f.read(), r"(?m)^Uid:\s+%d\s" % u.pw_uid)
        self.pin = re.search(r"event=certificate .*spki_pin=(\S+)", log1).group(1)
        shown = run(["/usr/bin/misctl", "cert", "show", CERT]).stdout
        self.assertRegex(shown, r"(?m)^spki pin:\s+%s$" % re.escape(self.pin))

        r = self.miscli("ping", "--count", "2", "--interval", "0.1")
        self.assertIn("2 requests transmitted, 2 received", r.stdout)
        if cc:
            spki_hex = re.search(r"spki_sha256=(\S+)", log1).group(1).replace(":", "")
            r = run([os.path.join(self.tmp, "client"), str(self.port), spki_hex, PASSWORD])
            self.assertIn("libmiscomm: pong", r.stdout)
        # Some data of the devices': an upload, which the upgrade must keep.
        report = os.path.join(self.tmp, "report.txt")
        with open(report, "wb") as f:
            f.write(os.urandom(100000))
        self.miscli("put", report)
        uploaded = STATE + "/psdmobile/debtest/ToPC/report.txt"
        with open(report, "rb") as a, open(uploaded, "rb") as b:
            self.assertEqual(a.read(), b.read())

        # -- upgrade under a live connection ----------------------------
        # One connection, pinging every 0.2 s until SIGINT: it must answer
        # before, during and after the upgrade, without a loss.
        live = LiveClient(self.miscli("ping", "--count", "0", "--interval", "0.2",
                                      device="debtest-live", popen=True))
        live.wait_for("pong", since=0)
        before = snapshot("/etc/miscomm", STATE)
        log("upgrading to %s while a miscli connection is live" % v2)
        r = self.dpkg("-i", *debs2)
        upgraded = time.monotonic()
        print(r.stdout + r.stderr, flush=True)
        self.assertIsNone(live.proc.poll(), "the live connection ended during the upgrade:\n"
                          + live.text())
        for p in PACKAGES:
            r2 = run(["dpkg-query", "-W", "-f=${Version}", p])
            self.assertEqual(r2.stdout, v2, p)
        self.assertNotIn("new random password", r.stdout, "the upgrade made a new password")
        live.wait_for("pong", since=upgraded)
        live.proc.send_signal(signal.SIGINT)
        live.proc.wait(timeout=60)
        live.reader.join(timeout=10)
        out = live.text()
        self.assertEqual(live.proc.returncode, 0, out)
        m = re.search(r"(\d+) requests transmitted, (\d+) received, 0% loss", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), m.group(2), out)
        self.assertEqual(out.count("PING 127.0.0.1"), 1, "not one connection")
        log("the live connection: %s pings, all answered, %d of them after the upgrade"
            % (m.group(1), sum(1 for t, line in live.lines if t > upgraded and "pong" in line)))
        after = snapshot("/etc/miscomm", STATE)
        self.assertEqual(before, after, "the upgrade changed the configuration or the data")
        # Installed files are the new package's; only the edited conffile differs.
        r = run(["dpkg", "--verify"] + PACKAGES, check=False)
        changed = [line for line in r.stdout.splitlines() if line.strip()]
        self.assertEqual([line.split()[-1] for line in changed], [CONF], r.stdout)
        # The old daemon is still the one serving, from the replaced binary.
        self.assertTrue(pid_alive(d.pid))
        self.assertTrue(os.readlink("/proc/%d/exe" % d.pid).endswith("(deleted)"))
        self.miscli("ping", "--count", "1")

        # A restart runs the new binary with the same certificate and password.
        self.assertEqual(d.stop(), 0, d.log())
        d = self.start_daemon()
        self.assertNotIn("certificate_generated", d.log())
        self.assertIn("spki_pin=" + self.pin, d.log())
        self.assertFalse(os.readlink("/proc/%d/exe" % d.pid).endswith("(deleted)"))
        self.miscli("ping", "--count", "1")
        self.assertEqual(d.stop(), 0, d.log())

        # -- remove: the programs go, the configuration and data stay ---
        log("dpkg -r")
        self.dpkg("-r", *PACKAGES)
        self.assertEqual(dpkg_state("miscomm"), "config-files")
        for p in PROGRAMS + [UNIT, "/usr/include/miscomm", LIBDIR + "/libmiscomm.so.0"]:
            self.assertFalse(os.path.lexists(p), p)
        kept = snapshot("/etc/miscomm", STATE)
        for path in (CONF, PASSWORD, HASH, CERT, KEY, uploaded):
            self.assertEqual(kept[path], after[path], path)
        self.assertTrue(user_exists())
        # As dh_installsystemd does: the removed unit is masked, and its
        # enablement kept for a reinstallation (purge forgets it).
        self.assertEqual(os.readlink(MASK), "/dev/null")

        # A reinstallation picks everything up as it was, enabled again.
        log("dpkg -i again after the removal")
        r = self.dpkg("-i", *debs2)
        self.assertNotIn("new random password", r.stdout)
        self.assertEqual(snapshot("/etc/miscomm", STATE), kept)
        self.assertEqual(os.readlink(WANTS), UNIT)
        self.assertFalse(os.path.lexists(MASK))

        # -- purge: nothing left ----------------------------------------
        # A file the administrator put in /etc/miscomm is not the package's
        # to delete: the purge keeps it (and the folder) and says so.
        extra = "/etc/miscomm/extra.pem"
        with open(extra, "w") as f:
            f.write("not the package's\n")
        log("dpkg --purge")
        r = self.dpkg("--purge", *PACKAGES)
        print(r.stdout + r.stderr, flush=True)
        self.assertNotIn("could not remove", r.stdout + r.stderr)
        self.assertIn("kept /etc/miscomm", r.stderr)
        self.assertEqual(os.listdir("/etc/miscomm"), ["extra.pem"])
        os.unlink(extra)
        os.rmdir("/etc/miscomm")
        self.assertEqual(leftovers(), [])

    def cleanup(self):
        """Runs whatever happened: nothing of the test stays on the machine."""
        for p in self.clients:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        for d in self.daemons:
            try:
                d.kill()
            except Exception as e:  # keep cleaning up
                log("cleanup: %s" % e)
        if self.installed:
            purge_everything()
        shutil.rmtree(self.tmp, ignore_errors=True)


def purge_everything():
    """Purge the packages, and anything a failed purge left. Only called when
    this test installed them (the marker), or on a machine that had none."""
    known = [p for p in PACKAGES if dpkg_state(p)]
    if known:
        r = subprocess.run(["dpkg", "--purge"] + known, capture_output=True, text=True, env=ENV,
                           stdin=subprocess.DEVNULL, timeout=600)
        if r.returncode != 0:
            log("cleanup: dpkg --purge failed:\n" + r.stdout + r.stderr)
    left = leftovers()
    if left:
        log("cleanup: removing what the purge left: %s" % ", ".join(left))
        for p in LEFTOVERS:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)
        if user_exists():
            subprocess.run(["userdel", "miscomm"], env=ENV)
        if group_exists():
            subprocess.run(["groupdel", "miscomm"], env=ENV)
    if os.path.exists(MARKER):
        os.unlink(MARKER)


# A client of libmiscomm built against the installed -dev package.
CLIENT_C = r"""
#include <miscomm/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char pw[256] = "";
    FILE *f = fopen(argv[3], "r");
    if (argc != 4 || !f || !fgets(pw, sizeof pw, f))
        return 2;
    fclose(f);
    pw[strcspn(pw, "\r\n")] = 0;
    struct mc_client_options opt = {.host = "127.0.0.1", .port = (unsigned)atoi(argv[1]),
                                    .fingerprint = argv[2]};
    struct mc_hello_params hp = {.client_name = "deb-test", .client_version = "1",
                                 .device_id = "debtest-lib", .password = pw,
                                 .password_len = strlen(pw)};
    struct mc_session s;
    mc_client *c = NULL;
    double rtt = 0;
    int rc = mc_client_new(&c, &opt);
    if (rc == 0)
        rc = mc_connect(c);
    if (rc == 0)
        rc = mc_hello(c, &hp, &s);
    if (rc == 0)
        rc = mc_ping(c, NULL, &rtt);
    if (rc == 0)
        printf("libmiscomm: pong from connection %s\n", s.connection);
    else
        fprintf(stderr, "libmiscomm: %s: %s\n", mc_err_name(rc), c ? mc_client_errmsg(c) : "");
    if (c)
        mc_close(c);
    return rc == 0 ? 0 : 1;
}
"""


def main():
    if os.geteuid() != 0:
        log("not run: it installs packages with dpkg, which needs root")
        return 77
    if not shutil.which("dpkg") or not shutil.which("runuser"):
        log("not run: dpkg or runuser is missing")
        return 77
    lock = machine_lock()
    if lock is None:
        log("not run: another run of this test held %s for %d s" % (LOCK, LOCK_WAIT))
        return 77
    try:
        if os.path.exists(MARKER):
            log("a previous run was interrupted: purging what it installed")
            purge_everything()
        left = leftovers()
        if left:
            log("not run: this machine already has miscomm (%s); the test would replace it and "
                "then purge it, configuration and data included" % ", ".join(left))
            return 77
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        os.unlink(LOCK)  # still ours: machine_lock() checked it is the file locked
        os.close(lock)


def machine_lock():
    """An exclusive flock on LOCK, waiting up to LOCK_WAIT seconds; the fd or
    None. The file is unlinked by its holder, so a waiter that locked a file
    since unlinked tries again with the new one."""
    deadline = time.time() + LOCK_WAIT
    said = False
    while True:
        fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.time() > deadline:
                    os.close(fd)
                    return None
                if not said:
                    log("waiting for another run of this test (%s)" % LOCK)
                    said = True
                time.sleep(1)
        try:
            if os.stat(LOCK).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
