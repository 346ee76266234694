"""poollib.py -- start a real redis-server and a real fcgi-app for tests/pool.

Everything runs on loopback in a private temp dir; ports come from the
caller (tests/pool owns 23000-23999; each test file takes its own ten).
Processes are started in their own session and killed (whole process
group) by close(), which every suite calls from its teardown, so nothing
survives a failing test.  Redis gets its settings on the command line (no
config file: redis/ belongs to another engineer) and a password.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import fcgi_client  # noqa: E402
from tap import Skip  # noqa: E402

APP_BIN = os.path.join(ROOT, "fcgi-app", "fcgi-app")
REDIS_PASSWORD = "pool-test-pw"
SECRET = "pool-test-secret"


def need_binaries():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip("fcgi-app/fcgi-app not built (make -C fcgi-app)")
    if shutil.which("redis-server") is None:
        raise Skip("redis-server not installed")


def wait_until(pred, timeout, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(step)


def _die_with_parent():
    """preexec_fn: SIGKILL this child if the test process dies (even by
    SIGKILL from the runner's time limit), so nothing outlives a test."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"bad reply {line!r}")


class Redis:
    """A redis-server child on 127.0.0.1:port with a password."""

    def __init__(self, tmp, port, password=REDIS_PASSWORD):
        self.tmp = tmp
        self.port = port
        self.password = password
        self.proc = None

    def start(self):
        log = open(os.path.join(self.tmp, f"redis-{self.port}.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", self.password, "--save", "",
             "--appendonly", "no", "--dir", self.tmp,
             "--enable-debug-command", "local"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        log.close()
        wait_until(lambda: self.cmd("PING") == "PONG", 5, what="redis PING")
        return self

    def cmd(self, *args, timeout=2.0):
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.sendall(resp("AUTH", self.password) + resp(*args))
            f = s.makefile("rb")
            _read_reply(f)
            return _read_reply(f)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait(5)


class App:
    """fcgi-app with a given environment; master in its own session."""

    def __init__(self, tmp, listen, redis_port, env=None, name="app",
                 nofile=None):
        self.tmp = tmp
        self.nofile = nofile
        self.listen = listen
        self.out_path = os.path.join(tmp, f"{name}.out")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "APP_LISTEN": listen,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_port),
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "SESSION_SECRET": SECRET,
            "APP_WORKERS": "2",
            "APP_THREADS": "4",
            "APP_HOSTNAME": "pooltest",
            "LOG_LEVEL": "info",
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        if env:
            self.env.update(env)
        self.env = {k: v for k, v in self.env.items() if v is not None}
        self.proc = None

    @property
    def addr(self):
        if self.listen.startswith("unix:"):
            return self.listen[5:]
        host, _, port = self.listen.rpartition(":")
        return (host.strip("[]"), int(port))

    def start(self, wait=True):
        out = open(self.out_path, "ab")
        pre = _die_with_parent
        if self.nofile is not None:
            import resource
            lim = self.nofile

            def pre():
                _die_with_parent()
                resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        self.proc = subprocess.Popen([APP_BIN], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=pre)
        out.close()
        if wait:
            n = int(self.env.get("APP_WORKERS", "1"))
            wait_until(lambda: self.healthy() and len(self.workers()) >= n,
                       10, what="fcgi-app /healthz")
        return self

    def healthy(self):
        return self.get("/healthz", timeout=1).status == 200

    def get(self, uri="/", **kw):
        return fcgi_client.get(self.addr, uri, **kw)

    def client(self, keep=False, timeout=5.0):
        return fcgi_client.Client(self.addr, keep=keep, timeout=timeout)

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        """pids of the master's children (workers), sorted."""
        kids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                kids.append(int(d))
        return sorted(kids)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def metrics(self):
        r = self.get("/metrics", params={"APP_INTERNAL": "1"})
        assert r.status == 200, r
        return parse_metrics(r.body.decode())

    def wait_exit(self, timeout):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})?'
    r' ([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN))$')
HELP_LINE = re.compile(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$")


def parse_metrics(text):
    """Parse Prometheus text format strictly: every line must be a HELP,
    TYPE or sample line.  Returns {(name, frozenset(labels)): value}."""
    out = {}
    types = {}
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.splitlines():
        m = HELP_LINE.match(line)
        if m:
            if m.group(1) == "TYPE":
                assert m.group(3) in ("counter", "gauge", "histogram",
                                      "summary", "untyped"), line
                types[m.group(2)] = m.group(3)
            continue
        m = METRIC_LINE.match(line)
        assert m, f"not exposition format: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"',
                                      m.group(3) or ""))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in types or base in types, \
            f"sample without TYPE: {line!r}"
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())), 0.0)


class Env:
    """A temp dir plus the processes a suite started; close() kills all."""

    def __init__(self):
        need_binaries()
        self.tmp = tempfile.mkdtemp(prefix="fcgi-pool-")
        self.procs = []

    def redis(self, port, **kw):
        r = Redis(self.tmp, port, **kw)
        self.procs.append(r)
        return r.start()

    def app(self, listen, redis_port, env=None, name="app", wait=True,
            nofile=None):
        a = App(self.tmp, listen, redis_port, env, name, nofile)
        self.procs.append(a)
        return a.start(wait)

    def close(self):
        for p in reversed(self.procs):
            try:
                p.kill()
            except Exception:
                pass
        if os.environ.get("KEEP_TMP"):
            print(f"# kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def cookie_of(r):
    """'name=value' of the Set-Cookie header, or None."""
    sc = r.headers.get("set-cookie")
    return sc.split(";")[0] if sc else None


def sid_of(cookie):
    """The session id inside 'connect.sid=s%3A<id>.<sig>'."""
    from urllib.parse import unquote
    v = unquote(cookie.split("=", 1)[1])
    assert v.startswith("s:"), v
    return v[2:].rsplit(".", 1)[0]


def sign_cookie(sid, secret=SECRET, name="connect.sid"):
    """Sign like express-session (cookie-signature)."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote
    mac = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    sig = base64.b64encode(mac).decode().rstrip("=")
    return f"{name}=" + quote(f"s:{sid}.{sig}", safe="")


def json_body(r):
    return json.loads(r.body)
