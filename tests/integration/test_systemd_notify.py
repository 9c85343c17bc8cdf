"""systemd integration without systemd: the test plays the service manager.

It listens on a NOTIFY_SOCKET of its own (an AF_UNIX datagram socket, as
systemd's is) and checks what miscommd tells it (sd_notify(3)): READY=1 once
listening, STATUS= following the connection count, WATCHDOG=1 from the
event loop at half of WATCHDOG_USEC, RELOADING=1 then READY=1 around a
reload, STOPPING=1 at the drain, ERRNO= when it cannot start; and nothing
at all without NOTIFY_SOCKET. Then the journal's log format: "<N>LEVEL ..."
with no time stamp when stderr is the stream JOURNAL_STREAM names.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import Gateway, MISCOMMD, login, make_data_dir

# Variables a test run itself may have inherited from a real service manager.
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")


def built_with_libsystemd():
    out = subprocess.run([MISCOMMD, "--version"], capture_output=True, text=True).stdout
    return "systemd notification: libsystemd" in out


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
    env.update(extra)
    return env


def start(gw, env, argv=None, wait_ready=True):
    """gw.start() with env as the daemon's whole environment; argv replaces
    [MISCOMMD, "-c", ini] (a wrapper that execs it)."""
    gw.logf = open(gw.log_path, "ab")
    gw.proc = subprocess.Popen(argv or [MISCOMMD, "-c", gw.ini], stdout=gw.logf,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    if wait_ready:
        gw.wait_log(r"event=ready")


class NotifySocket:
    """The service manager's end: every datagram received, in order."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # (monotonic time, {key: value}, raw text)
        self.read = 0       # messages already consumed by next()

    def close(self):
        self.sock.close()

    def drain(self, timeout):
        """Receive for up to timeout seconds (returns at the first lull after one)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                text = data.decode()
                fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
                self.messages.append((time.monotonic(), fields, text))
                self.sock.settimeout(0.05)
        except socket.timeout:
            pass

    def next(self, key, timeout=10, skip_watchdog=True, match=None):
        """The next message (after those already consumed) other than a lone
        WATCHDOG=1; it must hold key (and STATUS= matching match). Returns its fields."""
        deadline = time.monotonic() + timeout
        while True:
            while self.read < len(self.messages):
                _, fields, text = self.messages[self.read]
                self.read += 1
                if skip_watchdog and set(fields) == {"WATCHDOG"}:
                    continue
                if key not in fields:
                    raise AssertionError("expected %s=, got %r (all: %r)"
                                         % (key, text, [m[2] for m in self.messages]))
                if match and not re.search(match, fields.get("STATUS", "")):
                    raise AssertionError("STATUS %r does not match %r"
                                         % (fields.get("STATUS"), match))
                return fields
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s= within %ss (got %r)"
                                     % (key, timeout, [m[2] for m in self.messages]))
            self.drain(min(left, 0.5))

    def collect(self, seconds):
        """Receive everything that arrives in the next seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.drain(max(0.01, end - time.monotonic()))

    def watchdogs(self):
        return [t for t, fields, _ in self.messages if fields.get("WATCHDOG") == "1"]


@unittest.skipUnless(built_with_libsystemd(), "miscommd built without libsystemd")
class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(start=False)
        make_data_dir(self.gw)
        self.ns = NotifySocket(self.gw.dir)
        self.addCleanup(self.ns.close)
        self.addCleanup(self.gw.__exit__, None, None, None)

    def test_lifecycle(self):
        gw, ns = self.gw, self.ns
        # WATCHDOG_PID unset: the pings are for whoever reads the socket.
        start(gw, clean_env(NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="1000000"))
        ready = ns.next("READY", match=r"^0 connections; listening on port %d$" % gw.port)
        self.assertEqual(ready["READY"], "1")
        self.assertEqual(ready.get("WATCHDOG"), "1", "the first ping comes with READY=1")
        self.assertRegex(gw.log(), r"event=sd_notify socket=\S+ watchdog_ms=500\b")

        # The watchdog, every 500 ms: never a whole WATCHDOG_USEC without one.
        t0 = time.monotonic()
        ns.collect(2.2)
        pings = [t for t in ns.watchdogs() if t >= t0]
        self.assertGreaterEqual(len(pings), 3, [m[2] for m in ns.messages])
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 1.0, "a ping missed its period: %r" % gaps)

        # STATUS= follows the connection count (checked once a second).
        client = login(gw.port, gw.password)
        ns.next("STATUS", match=r"^1 connection; listening on port %d$" % gw.port, timeout=5)
        second = login(gw.port, gw.password)
        ns.next("STATUS", match=r"^2 connections;", timeout=5)
        second.close()
        client.close()
        ns.next("STATUS", match=r"^0 connections;", timeout=5)

        # A reload: RELOADING=1 (with the monotonic time systemd 253 wants), then READY=1.
        gw.proc.send_signal(signal.SIGHUP)
        reloading = ns.next("RELOADING", match=r"; reloading$")
        self.assertRegex(reloading["MONOTONIC_USEC"], r"^\d+$")
        ns.next("READY", match=r"^0 connections; listening on port %d$" % gw.port)
        gw.wait_log(r"event=reload result=ok")

        # A refused reload is still READY=1 (the old settings run on), and the
        # status line says why until a reload succeeds.
        with open(gw.ini, "a") as f:
            f.write("\n[server]\nbogus = 1\n")
        gw.proc.send_signal(signal.SIGHUP)
        ns.next("RELOADING")
        ns.next("READY", match=r"; last reload refused: invalid configuration$")
        gw.write_config()
        gw.proc.send_signal(signal.SIGHUP)
        ns.next("RELOADING", match=r"; last reload refused")
        ns.next("READY", match=r"^0 connections; listening on port %d$" % gw.port)

        # SIGTERM: STOPPING=1 as the drain starts, and nothing after it but pings.
        busy = login(gw.port, gw.password)
        self.addCleanup(busy.close)
        ns.next("STATUS", match=r"^1 connection;", timeout=5)
        gw.proc.send_signal(signal.SIGTERM)
        ns.next("STOPPING", match=r"^draining: \d+ connections? left$")
        busy.close()
        self.assertEqual(gw.stop(), 0)
        ns.collect(0.2)
        for _, fields, text in ns.messages[ns.read:]:
            self.assertEqual(set(fields) - {"STATUS", "WATCHDOG"}, set(), text)

    def test_watchdog_pid(self):
        """WATCHDOG_PID names the process the pings are for: its own pid (a
        shell that execs miscommd keeps its pid) turns them on, another off."""
        gw, ns = self.gw, self.ns
        env = clean_env(NOTIFY_SOCKET=ns.path, WATCHDOG_USEC="200000")
        start(gw, env, argv=["/bin/sh", "-c", 'export WATCHDOG_PID=$$; exec "$0" -c "$1"',
                             MISCOMMD, gw.ini])
        ns.next("READY")
        ns.collect(1.0)
        self.assertGreaterEqual(len(ns.watchdogs()), 4)
        self.assertEqual(gw.stop(), 0)

        other = Gateway(start=False)
        self.addCleanup(other.__exit__, None, None, None)
        ns2 = NotifySocket(other.dir)
        self.addCleanup(ns2.close)
        start(other, clean_env(NOTIFY_SOCKET=ns2.path, WATCHDOG_USEC="200000",
                               WATCHDOG_PID="1"))
        fields = ns2.next("READY")
        self.assertNotIn("WATCHDOG", fields)
        ns2.collect(1.0)
        self.assertEqual(ns2.watchdogs(), [])
        self.assertRegex(other.log(), r"event=sd_notify socket=\S+ watchdog_ms=0\b")
        self.assertEqual(other.stop(), 0)

    def test_start_failure(self):
        """ERRNO= and STATUS= say why the daemon exits before READY=1."""
        gw, ns = self.gw, self.ns
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", gw.port))
            taken.listen()
            start(gw, clean_env(NOTIFY_SOCKET=ns.path), wait_ready=False)
            self.assertEqual(gw.proc.wait(timeout=30), 1)
        gw.logf.close()
        fields = ns.next("ERRNO")
        self.assertEqual(fields["ERRNO"], "5")  # EIO
        self.assertEqual(fields["STATUS"], "start failed: input/output error")
        self.assertNotIn("READY", [k for _, f, _ in ns.messages for k in f])

        gw.server["max_connections"] = "many"
        gw.write_config()
        start(gw, clean_env(NOTIFY_SOCKET=ns.path), wait_ready=False)
        self.assertEqual(gw.proc.wait(timeout=30), 78)
        gw.logf.close()
        fields = ns.next("ERRNO")
        self.assertEqual(fields["ERRNO"], "22")  # EINVAL
        self.assertEqual(fields["STATUS"], "start failed: invalid configuration")

    def test_nothing_without_notify_socket(self):
        gw, ns = self.gw, self.ns
        # The watchdog variables alone do nothing either.
        start(gw, clean_env(WATCHDOG_USEC="200000"))
        login(gw.port, gw.password).close()
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_log(r"event=reload result=ok")
        self.assertEqual(gw.stop(), 0)
        self.assertNotIn("event=sd_notify", gw.log())
        ns.collect(0.3)
        self.assertEqual(ns.messages, [])


class JournalStreamTest(unittest.TestCase):
    """stderr is the journal's stream when JOURNAL_STREAM names its
    device:inode: priorities as "<N>" prefixes, no time stamp."""

    def run_daemon(self, journal_stream):
        # With the odbc permission the database threads start, which logs at DEBUG too.
        gw = Gateway(conns=[{"name": "psdmobile", "odbc": "on"}], start=False)
        self.addCleanup(gw.__exit__, None, None, None)
        r, w = os.pipe()
        st = os.fstat(w)
        value = journal_stream(st)
        env = clean_env(JOURNAL_STREAM=value) if value else clean_env()
        lines = []

        def reader():
            with os.fdopen(r, "r", errors="replace") as f:
                for line in f:
                    lines.append(line.rstrip("\n"))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        proc = subprocess.Popen([MISCOMMD, "-c", gw.ini], stdout=w, stderr=w,
                                stdin=subprocess.DEVNULL, env=env)
        os.close(w)
        try:
            deadline = time.monotonic() + 30
            while not any("event=ready" in x for x in lines):
                self.assertIsNone(proc.poll(), "\n".join(lines))
                self.assertLess(time.monotonic(), deadline, "\n".join(lines))
                time.sleep(0.05)
            # A refused reload adds ERROR lines.
            with open(gw.ini, "a") as f:
                f.write("\n[server]\nbogus = 1\n")
            proc.send_signal(signal.SIGHUP)
            while not any("event=reload result=failed" in x for x in lines):
                self.assertLess(time.monotonic(), deadline, "\n".join(lines))
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        t.join(timeout=10)
        return lines

    def test_journal_format(self):
        lines = self.run_daemon(lambda st: "%d:%d" % (st.st_dev, st.st_ino))
        prio = {"ERROR": 3, "WARN": 4, "INFO": 6, "DEBUG": 7}
        seen = set()
        for line in lines:
            m = re.match(r"<(\d)>(ERROR|WARN|INFO|DEBUG) event=\w+", line)
            self.assertIsNotNone(m, "not a journal line: %r" % line)
            self.assertEqual(int(m.group(1)), prio[m.group(2)], line)
            seen.add(m.group(2))
        self.assertTrue({"ERROR", "INFO", "DEBUG"} <= seen, seen)
        self.assertTrue(any(x.startswith("<6>INFO event=ready ") for x in lines))
        self.assertTrue(any(x.startswith("<3>ERROR event=reload result=failed ") for x in lines))

    def test_other_stream_keeps_time_stamps(self):
        """A JOURNAL_STREAM that is not stderr (stderr redirected after
        systemd started a parent) changes nothing; neither does a malformed one."""
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN|INFO|DEBUG) event=\w+"
        for value in (lambda st: "%d:%d" % (st.st_dev, st.st_ino + 1),
                      lambda st: "%d:%dx" % (st.st_dev, st.st_ino),
                      lambda st: "%d" % st.st_ino,
                      lambda st: None):
            lines = self.run_daemon(value)
            self.assertTrue(lines)
            for line in lines:
                self.assertRegex(line, stamp)


if __name__ == "__main__":
    unittest.main()
