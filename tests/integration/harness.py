"""Test harness: start the real miscommd with a generated configuration on a
free loopback port, and talk to it as a client would.

Only the Python standard library is used. Every gateway started here is
stopped by the context manager, even when a test fails.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("MISCOMM_BUILD", os.path.join(SRC, "build"))
MISCOMMD = os.path.join(BUILD, "miscommd")
MISCTL = os.path.join(BUILD, "misctl")
MISCLI = os.path.join(BUILD, "miscli")

# Protocol constants (docs/protocol.md).
HELLO, HELLO_OK, PING, PONG, NOOP, BYE, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x7F
ERR = {"BAD_FRAME": 10, "BAD_VERSION": 11, "FRAME_TOO_LARGE": 12, "BAD_TYPE": 13,
       "UNEXPECTED": 14, "PROTO_VERSION": 15, "BAD_PAYLOAD": 16, "AUTH": 20,
       "TOO_MANY_TRIES": 21, "PERMISSION": 22, "CONN_LIMIT": 23, "TIMEOUT": 24,
       "SHUTTING_DOWN": 25, "BUSY": 26}

_hash_cache = {}

# Every gateway's directory goes when the test process ends (the log of a
# failure is printed before): tests must not fill the disk of the machine
# that runs them. MISCOMM_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
_test_dirs = []


def _remove_test_dirs():
    if os.environ.get("MISCOMM_KEEP_TEST_DIRS"):
        return
    for d in _test_dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_test_dirs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def password_hash(password):
    """Argon2id hash made by misctl passwd (cached: hashing is slow on purpose)."""
    if password not in _hash_cache:
        out = subprocess.run([MISCTL, "passwd"], input=password + "\n", capture_output=True,
                             text=True, check=True)
        _hash_cache[password] = out.stdout.strip()
    return _hash_cache[password]


class Gateway:
    """A miscommd process with its own directory, config, certificate and log.

    conns: list of dicts with ini keys for [connection NAME] sections; 'name'
    is required, 'port' defaults to a free port, 'password' is plaintext here
    and hashed into the ini.
    """

    def __init__(self, conns=None, server=None, tls=None, start=True, sections=None):
        self.dir = tempfile.mkdtemp(prefix="miscomm-test-")
        _test_dirs.append(self.dir)
        self.conns = conns or [{"name": "psdmobile"}]
        for c in self.conns:
            c.setdefault("port", free_port())
            c.setdefault("password", "correct horse battery")
            c.setdefault("bind", "127.0.0.1")
        self.server = {"log_level": "debug", "handshake_timeout": 5, "shutdown_grace": 5}
        self.server.update(server or {})
        self.tls = tls or {}
        self.sections = sections or {}  # more sections: {"odbc": {...}, "queries q": {...}}
        self.proc = None
        self.log_path = os.path.join(self.dir, "miscommd.log")
        self.ini = os.path.join(self.dir, "miscomm.ini")
        self.write_config()
        if start:
            self.start()

    # -- configuration --------------------------------------------------
    def write_config(self):
        server = {"data_dir": "data"}
        server.update(self.server)
        lines = ["[server]"] + ["%s = %s" % kv for kv in server.items()]
        tls = {"certificate": "certs/miscomm.crt", "key": "certs/miscomm.key"}
        tls.update(self.tls)  # a key given twice is a configuration error
        lines += ["", "[tls]"] + ["%s = %s" % kv for kv in tls.items()]
        for c in self.conns:
            lines += ["", "[connection %s]" % c["name"]]
            for k, v in c.items():
                if k == "name":
                    continue
                if k == "password":
                    lines.append("password = %s" % password_hash(v))
                else:
                    lines.append("%s = %s" % (k, v))
        for name, keys in self.sections.items():
            lines += ["", "[%s]" % name] + ["%s = %s" % kv for kv in keys.items()]
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        with open(self.ini, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def port(self):
        return self.conns[0]["port"]

    @property
    def password(self):
        return self.conns[0]["password"]

    @property
    def cert(self):
        return os.path.join(self.dir, "certs", "miscomm.crt")

    # -- process --------------------------------------------------------
    def start(self, timeout=30):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MISCOMMD, "-c", self.ini], stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_log(r"event=ready", timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Send sig and wait; returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("miscommd did not exit within %ss after %s" % (timeout, sig))
        self.logf.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if exc[0] is not None:
            print("---- miscommd log (%s) ----" % self.log_path)
            print(self.log())
        return False

    def log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, count=1):
        """Wait until pattern (a regex) appears count times in the log; return the matches."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.log())
            if len(found) >= count:
                return found
            if self.proc and self.proc.poll() is not None:
                raise AssertionError("miscommd exited (%s) while waiting for %r\n%s"
                                     % (self.proc.returncode, pattern, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %r in the log\n%s"
                                     % (pattern, self.log()))
            time.sleep(0.05)

    def fingerprint(self):
        return re.search(r"event=certificate file=\S+ sha256=(\S+)", self.log()).group(1)

    def miscli(self, *args, password=None, timeout=60):
        pwfile = os.path.join(self.dir, "client.password")
        with open(pwfile, "w") as f:
            f.write((password if password is not None else self.password) + "\n")
        cmd = [MISCLI, "--port", str(self.port), "--fingerprint", self.fingerprint(),
               "--password-file", pwfile] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def proc_status_kib(pid, key="VmRSS"):
    """A memory figure of process pid from /proc (VmRSS, VmSize, VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (key, pid))


def built_with_asan():
    with open(MISCOMMD, "rb") as f:
        return b"AddressSanitizer" in f.read()


def small_asan_quarantine():
    """Under ASan, freed memory sits in a quarantine that would look like growth:
    keep it small for the daemons started from now on. True when built with ASan."""
    if not built_with_asan():
        return False
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=1").lstrip(":")
    return True


class LogOnFailure:
    """unittest.TestCase mixin: after a failure or an error, print the last
    lines of self.gw's log (the gateway a test class shares)."""
    log_lines = 40

    def run(self, result=None):
        res = super().run(result)
        if result is not None and (result.failures or result.errors):
            print("---- miscommd log (last lines) ----")
            print("\n".join(self.gw.log().splitlines()[-self.log_lines:]))
        return res


# -- a small client, for tests that need to misbehave -------------------------
def tls_context(version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx


class Client:
    def __init__(self, port, tls=True, version=None, timeout=10):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls_context(version).wrap_socket(raw) if tls else raw
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, mtype, payload=b"", rid=None, version=1, flags=0, length=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        n = len(payload) if length is None else length
        self.sock.sendall(struct.pack(">BBHII", version, mtype, flags, rid, n) + payload)
        return rid

    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by server after %d of %d bytes" % (len(data), n))
            data += chunk
        return data

    def recv(self):
        """One frame: (type, request_id, payload)."""
        version, mtype, flags, rid, n = struct.unpack(">BBHII", self.recv_exact(12))
        assert version == 1 and flags == 0, (version, flags)
        return mtype, rid, self.recv_exact(n) if n else b""

    def recv_error(self):
        mtype, rid, p = self.recv()
        assert mtype == ERROR, "expected ERROR, got type 0x%02x" % mtype
        code, n = struct.unpack(">HH", p[:4])
        return rid, code, p[4:4 + n].decode()

    def closed_by_server(self, timeout=10):
        """True if the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (ConnectionError, ssl.SSLError, OSError) as e:
            return not isinstance(e, socket.timeout)

    def hello(self, password, vmin=1, vmax=1, name="pytest", version="1.0", device="dev-1"):
        def s(x):
            b = x.encode()
            return struct.pack(">H", len(b)) + b
        payload = struct.pack(">HH", vmin, vmax) + s(name) + s(version) + s(device) + s(password)
        rid = self.send(HELLO, payload)
        return rid, self.recv()

    def ping(self, data=b"12345678"):
        rid = self.send(PING, data)
        return rid, self.recv()


# -- helpers added for the behaviour tests (auth, permissions, limits, ...) ---
def parse_hello_ok(payload):
    """Decode a HELLO_OK payload into a dict (docs/protocol.md)."""
    pos = 0

    def u16():
        nonlocal pos
        (v,) = struct.unpack_from(">H", payload, pos)
        pos += 2
        return v

    def u32():
        nonlocal pos
        (v,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        return v

    def string():
        nonlocal pos
        n = u16()
        s = payload[pos:pos + n].decode()
        pos += n
        return s

    out = {"version": u16(), "server": string(), "server_version": string()}
    out["session"] = payload[pos:pos + 16]
    pos += 16
    out["permissions"] = u32()
    out["max_payload"] = u32()
    out["timeout"] = u32()
    out["connection"] = string()
    return out


def login(port, password, **kw):
    """A Client that has completed HELLO; raises AssertionError otherwise."""
    c = Client(port, **kw)
    try:
        rid, (mtype, rrid, payload) = c.hello(password)
        if (mtype, rrid) != (HELLO_OK, rid):
            raise AssertionError("HELLO not accepted: type 0x%02x id %d payload %r"
                                 % (mtype, rrid, payload))
    except BaseException:
        c.close()
        raise
    return c


def ping_ok(port, password, **kw):
    """Log in, ping once, close; True when the PONG came back."""
    with login(port, password, **kw) as c:
        rid, (mtype, rrid, _) = c.ping(b"alive")
        return (mtype, rrid) == (PONG, rid)


def hello_payload(password, vmin=1, vmax=1, name="pytest", version="1.0", device="dev-1"):
    """The HELLO payload Client.hello() sends, for tests that send it by hand."""
    def s(x):
        b = x.encode()
        return struct.pack(">H", len(b)) + b
    return struct.pack(">HH", vmin, vmax) + s(name) + s(version) + s(device) + s(password)


def peer(client):
    """How the daemon's log names this client: the peer=IP:PORT field's value."""
    host, port = client.sock.getsockname()[:2]
    return "%s:%d" % (host, port)


def wait_exit(gw, timeout=30):
    """Wait for gw's daemon to exit by itself (no further signal); return its exit code."""
    try:
        code = gw.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        gw.proc.kill()
        gw.proc.wait()
        raise AssertionError("miscommd did not exit within %ss" % timeout)
    gw.logf.close()
    return code


# -- helpers added for the certificate tests (reload, client certificates, PSK,
#    resumption, expiry): the openssl command-line tool as certificate factory --
import hashlib as _hashlib
import shutil as _shutil

OPENSSL = _shutil.which("openssl")

_OPENSSL_CONF = """\
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = {dir}
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[ policy_any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth, serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def openssl(*args, cwd=None):
    """Run the openssl tool; raise AssertionError with its output when it fails."""
    r = subprocess.run([OPENSSL] + [str(a) for a in args], cwd=cwd, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed (%d):\n%s%s"
                             % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
    return r.stdout


def make_self_signed(cert, key, cn="localhost", days=30):
    """A new EC P-256 key and self-signed certificate, written to cert and key (PEM)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", days, "-subj", "/CN=%s" % cn,
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    return cert, key


def cert_der(path):
    """The DER bytes of the first certificate in a PEM file."""
    with open(path) as f:
        pem = f.read()
    start = pem.index("-----BEGIN CERTIFICATE-----")
    end = pem.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(pem[start:end])


def sha256_colon(der):
    """SHA-256 as the daemon logs it: upper-case hex pairs joined by colons."""
    return ":".join("%02X" % b for b in _hashlib.sha256(der).digest())


def cert_fingerprint(path):
    return sha256_colon(cert_der(path))


class TestCA:
    """A small certificate authority run with `openssl ca` in its own directory:
    issues EC P-256 leaf certificates with chosen validity dates, revokes them
    and publishes a CRL."""

    def __init__(self, directory, name="miscomm test CA"):
        self.dir = directory
        os.makedirs(os.path.join(directory, "newcerts"), exist_ok=True)
        open(os.path.join(directory, "index.txt"), "w").close()
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(directory, "crlnumber"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(directory, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(_OPENSSL_CONF.format(dir=directory))
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        openssl("req", "-config", self.conf, "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key, "-out", self.cert,
                "-days", 3650, "-subj", "/CN=%s" % name, "-extensions", "v3_ca")

    def issue(self, name, startdate=None, enddate=None, days=None):
        """(cert, key) paths of a new leaf certificate for CN=name. Dates are
        YYYYMMDDHHMMSSZ strings (or datetime objects, taken as UTC)."""
        def fmt(d):
            return d if isinstance(d, str) else d.strftime("%Y%m%d%H%M%SZ")
        cert = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        openssl("req", "-config", self.conf, "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=%s" % name)
        args = ["ca", "-batch", "-config", self.conf, "-notext", "-in", csr, "-out", cert]
        if startdate is not None:
            args += ["-startdate", fmt(startdate)]
        if enddate is not None:
            args += ["-enddate", fmt(enddate)]
        if days is not None:
            args += ["-days", days]
        openssl(*args)
        return cert, key

    def revoke(self, cert):
        openssl("ca", "-batch", "-config", self.conf, "-revoke", cert)

    def gencrl(self, path=None):
        path = path or os.path.join(self.dir, "ca.crl")
        openssl("ca", "-batch", "-config", self.conf, "-gencrl", "-out", path)
        return path


def make_data_dir(gw):
    """Create the gateway's data_dir (data/ beside the ini) so the daemon can
    write its pid file there (misctl reload reads it). Call before gw.start()."""
    path = os.path.join(gw.dir, "data")
    os.makedirs(path, exist_ok=True)
    return path


def count_log(gw, pattern):
    """How many times pattern (a regex) appears in the gateway's log so far."""
    return len(re.findall(pattern, gw.log()))


def run_miscli(port, *args, password="correct horse battery", pwdir=None, timeout=60):
    """miscli with only --port and --password-file added (no trust option: the
    caller gives --psk-file, --fingerprint, --cafile ...)."""
    pwdir = pwdir or tempfile.mkdtemp(prefix="miscomm-cli-")
    pwfile = os.path.join(pwdir, "client.password")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    cmd = [MISCLI, "--port", str(port), "--password-file", pwfile] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def restart(gw, timeout=30):
    """Stop gw's daemon (SIGTERM, must exit 0) and start it again with the same
    configuration and port; waits for the new process's event=ready (start()
    alone would see the old one in the appended log)."""
    code = gw.stop()
    if code != 0:
        raise AssertionError("miscommd exited %s on SIGTERM" % code)
    ready = count_log(gw, r"event=ready")
    gw.start(timeout=timeout)
    gw.wait_log(r"event=ready", timeout=timeout, count=ready + 1)
