"""poollib.py -- start a real redis-server and a real fcgi-app for tests/pool.

Everything runs on loopback in a private temp dir; ports come from the
caller (tests/pool owns 23000-23999; each test file takes its own ten).
Processes are started in their own session and killed (whole process
group) by close(), which every suite calls from its teardown, so nothing
survives a failing test.  Redis gets its settings on the command line (no
config file: redis/ belongs to another engineer) and a password.

FCGI_APP_BIN=/path/to/fcgi-app runs the suites against another build of
the app (say, one built from `git archive <commit>` while fcgi-app/ holds
work in progress); unset, they use fcgi-app/fcgi-app.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

import fcgi_client
import procfs
import redis_wire as resp
from tap import Skip
from poll import wait_for  # noqa: F401  (tests call P.wait_for)

APP_BIN = (os.environ.get("FCGI_APP_BIN")
           or os.path.join(ROOT, "fcgi-app", "fcgi-app"))
REDIS_PASSWORD = "pool-test-pw"
SECRET = "pool-test-secret-0123456789abcdef"


def need_binaries():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built (make -C fcgi-app)")
    if shutil.which("redis-server") is None:
        raise Skip("redis-server not installed")


def _die_with_parent():
    """preexec_fn: SIGKILL this child if the test process dies (even by
    SIGKILL from the runner's time limit), so nothing outlives a test."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class Redis:
    """A redis-server child on 127.0.0.1:port with a password.  With aof,
    every write is in an append-only file (fsync'd before the reply) in
    its own directory, so a start() after kill() has the same data."""

    def __init__(self, tmp, port, password=REDIS_PASSWORD, aof=False):
        self.tmp = tmp
        self.port = port
        self.password = password
        self.aof = aof
        self.dir = tmp
        if aof:
            self.dir = os.path.join(tmp, f"redis-{port}-data")
            os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        """Start it and return once it answers PING.  Can be called again
        after kill(): same port, same directory."""
        log = open(os.path.join(self.tmp, f"redis-{self.port}.log"), "ab")
        persist = (["--appendonly", "yes", "--appendfsync", "always"]
                   if self.aof else ["--appendonly", "no"])
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", self.password, "--save", ""] + persist
            + ["--dir", self.dir, "--enable-debug-command", "local"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        log.close()
        wait_for("redis PING", lambda: self.cmd("PING") == "PONG", 5)
        return self

    def cmd(self, *args, timeout=2.0):
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=timeout) as s:
            s.sendall(resp.encode(["AUTH", self.password])
                      + resp.encode(args))
            f = s.makefile("rb")
            resp.read(f)
            return resp.read(f)

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
                 nofile=None, hosts=None):
        self.tmp = tmp
        self.nofile = nofile
        self.hosts = hosts
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
        argv = [APP_BIN]
        if self.hosts is not None:
            # Its own mount namespace with this file as /etc/hosts, so a
            # test can give names the addresses it needs (root only).
            argv = ["unshare", "-m", "sh", "-c",
                    'mount --bind "$1" /etc/hosts && exec "$2"', "sh",
                    self.hosts, APP_BIN]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=pre)
        out.close()
        if wait:
            n = int(self.env.get("APP_WORKERS", "1"))
            try:
                wait_for("fcgi-app /healthz",
                         lambda: self.healthy()
                           and len(self.workers()) >= n,
                         10)
            except AssertionError as e:
                raise AssertionError(f"{e}; workers {self.workers()}, "
                                     f"exit {self.proc.poll()}, output: "
                                     f"{self.output()[-1500:]}") from None
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
        return procfs.children(self.proc.pid)

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
            nofile=None, hosts=None):
        a = App(self.tmp, listen, redis_port, env, name, nofile, hosts)
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


def setup(redis_port=None, then=None):
    """A suite's setup: an Env with a redis-server on redis_port (None:
    none) as env.r, then then(env) for the suite's own processes; on any
    failure everything started so far is killed."""
    env = Env()
    try:
        if redis_port is not None:
            env.r = env.redis(redis_port)
        if then is not None:
            then(env)
    except BaseException:
        env.close()
        raise
    return env


def nfds(pid):
    """Open file descriptors of a process (/proc/<pid>/fd)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class Req:
    """One request a Load thread sent: monotonic start t0 and end t1, the
    Response (None if it raised) and the error text."""
    __slots__ = ("thread", "t0", "t1", "resp", "err")

    def __init__(self, thread, t0, t1, resp, err):
        self.thread, self.t0, self.t1 = thread, t0, t1
        self.resp, self.err = resp, err

    @property
    def status(self):
        return self.resp.status if self.resp is not None else None

    def __repr__(self):
        what = self.resp if self.resp is not None else self.err
        return (f"<thread {self.thread} t0={self.t0:.3f} "
                f"{(self.t1 - self.t0) * 1000:.0f}ms {what}>")


class Load:
    """Client threads sending requests until stopped; every request is
    kept as a Req, so a test can ask what happened in any time window.

    keep: each thread keeps one FastCGI connection (as nginx does with
    fastcgi_keep_conn) and opens a new one only after an error; otherwise
    every request gets a fresh connection.  cookies: each thread first
    gets a session (GET /) and sends its cookie with every request.
    pause: seconds between a thread's requests (leaves CPU to the app on
    a small machine)."""

    def __init__(self, app, nthreads=4, uri="/", keep=False, cookies=False,
                 pause=0.0, timeout=5.0):
        self.app = app
        self.uri = uri
        self.keep = keep
        self.pause = pause
        self.timeout = timeout
        self.reqs = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.cookies = [None] * nthreads
        if cookies:
            for k in range(nthreads):
                r = app.get("/")
                assert r.status == 200 and cookie_of(r), r
                self.cookies[k] = cookie_of(r)
        self.threads = [threading.Thread(target=self.run, args=(k,),
                                         daemon=True)
                        for k in range(nthreads)]

    def run(self, k):
        c = None
        headers = {"Cookie": self.cookies[k]} if self.cookies[k] else None
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            resp, err = None, None
            try:
                if c is None:
                    c = self.app.client(keep=self.keep,
                                        timeout=self.timeout)
                resp = c.request("GET", self.uri, headers=headers)
            except Exception as e:
                err = f"{type(e).__name__}: {e}"
            t1 = time.monotonic()
            if c is not None and (not self.keep or err is not None):
                c.close()
                c = None
            with self.lock:
                self.reqs.append(Req(k, t0, t1, resp, err))
            if self.pause:
                self.stop_flag.wait(self.pause)
        if c is not None:
            c.close()

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for th in self.threads:
            th.join(self.timeout + 5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    def snapshot(self):
        with self.lock:
            return list(self.reqs)


def crafted_params_record():
    """A params record whose 31-bit lengths overflow int in libfcgi's
    ReadParams (nameLen 0x7ffffff0 + valueLen 0x10 + 2): Malloc(huge)
    fails its ASSERT and the process aborts (CVE-2025-23016, which
    Debian's patch only partly closes; fcgi-app/src/fcgi.c, trap 5).  The
    end records complete the request, so the worker hands it to libfcgi."""
    F = fcgi_client
    content = struct.pack("!II", 0x7FFFFFF0 | 0x80000000,
                          0x10 | 0x80000000) + b"A" * 32
    return (F.begin_record() + F.record(F.PARAMS, content)
            + F.record(F.PARAMS, b"") + F.record(F.STDIN, b""))


def crafted_record_asan_env(tmp):
    """Environment for an app that will get crafted_params_record().
    Under ASan the huge malloc is reported before libfcgi's ASSERT can
    abort; allocator_may_return_null=1 lets the worker die as in
    production (assert -> SIGABRT).  The expected "failed to allocate"
    WARNING goes to a directory of this instance's own, returned as the
    second value (None without ASan) for check_crafted_asan_reports()."""
    asan = os.environ.get("ASAN_OPTIONS")
    if asan is None:
        return {}, None
    reports = tempfile.mkdtemp(prefix="asan-crafted-", dir=tmp)
    opts = [o for o in asan.split(":") if not o.startswith("log_path=")]
    return {"ASAN_OPTIONS": ":".join(
        opts + ["allocator_may_return_null=1",
                "log_path=" + os.path.join(reports, "report")])}, reports


def check_crafted_asan_reports(reports):
    """Only the expected allocation WARNING in reports (None: no ASan)."""
    if reports is None:
        return
    expected = re.compile(r"^==\d+==WARNING: AddressSanitizer failed "
                          r"to allocate 0x[0-9a-f]+ bytes$")
    for name in os.listdir(reports):
        with open(os.path.join(reports, name)) as f:
            for line in f.read().splitlines():
                assert expected.match(line), \
                    f"unexpected sanitizer report {name}: {line}"


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
