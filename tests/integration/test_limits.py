#!/usr/bin/env python3
"""test_limits.py -- nginx's per-client limits (nginx/app/limits.conf.in).

The whole native stack from lib/tools/stack.py with the shipped defaults
(NGINX_LIMIT_REQ_RATE 50/s, NGINX_LIMIT_REQ_BURST 100, NGINX_LIMIT_CONN
50).  Clients are told apart by their source address: every address in
127.0.0.0/8 is loopback on Linux, so a socket bound to 127.0.0.2 before
it connects to 127.0.0.1 is a second client.  One address floods and gets
429 JSON with Retry-After, while another is served as before, /metrics on
the internal server is never refused, and a browser's pattern never meets
a limit.  Also: both renderers of the template (upstream-watch.sh and
stack.py) agree and refuse bad settings, naming them.
Ports 20500-20512 (the stack) and 20520-20532 (stack.py as a program).
"""
import http.client
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
# What `make run` runs.
STACK_PY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib",
                        "tools", "stack.py")

from tap import Suite, Skip
import stack as stacklib
from stack import (Stack, StackError, APP_BIN, NGINX_DIR,
                   NGINX_LIMITS, limit_values)
from httpc import (Response, check_json, header_of, http_get, read_answer,
                   headers_of, check_security_headers)

BASE = 20500
PROGRAM_BASE = 20520
RATE, BURST, CONN = (NGINX_LIMITS[k][1] for k in (
    "NGINX_LIMIT_REQ_RATE", "NGINX_LIMIT_REQ_BURST", "NGINX_LIMIT_CONN"))
WATCHER = os.path.join(NGINX_DIR, "upstream-watch.sh")
t = Suite()


def setup():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built (make -C fcgi-app)")
    # {}: every limit at its shipped default, as in a container.
    return Stack(base_port=BASE, collector=False,
                 nginx_limits={}).__enter__()


def teardown(s):
    if s is not None:
        s.close()


def get(port, path, src, method="GET", headers=None, body=None,
        timeout=10.0):
    """One request from source address src on a fresh connection:
    (status, header pairs, body)."""
    return http_get(port, path, headers=headers, method=method,
                             body=body, timeout=timeout, source=src)


def answer_of(data):
    """(status, header pairs, body) of a whole answer read off a socket."""
    r = Response(data)
    return r.status, [(n, v) for n, vs in r.headers.items() for v in vs], \
        r.body


def check_429(status, hdrs, body):
    """A refusal: 429, JSON, Retry-After, the security headers."""
    assert status == 429, status
    doc = check_json(status, header_of(hdrs, "Content-Type"), body)
    assert doc == {"error": "too many requests"}, doc
    assert header_of(hdrs, "Retry-After") == "1", hdrs
    check_security_headers(lambda n: headers_of(hdrs, n))


class Client(threading.Thread):
    """Requests in a loop on one kept-alive connection from src until
    stopped, at most `per_s` a second (0: as fast as it can); counts the
    statuses and times each request."""

    def __init__(self, port, src, path, per_s=0):
        super().__init__(daemon=True)
        self.port, self.src, self.path, self.per_s = port, src, path, per_s
        self.statuses = {}
        self.latencies = []
        self.errors = []
        self.refusal = None
        self.stop = threading.Event()
        self.start()

    def run(self):
        c = None
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                if c is None:
                    c = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=10,
                        source_address=(self.src, 0))
                c.request("GET", self.path)
                r = c.getresponse()
                body = r.read()
                if r.status == 429 and self.refusal is None:
                    self.refusal = (r.status, r.getheaders(), body)
                if r.will_close:
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(repr(e))
                c = None
                continue
            dt = time.monotonic() - t0
            self.latencies.append(dt)
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            if self.per_s:
                time.sleep(max(0.0, 1.0 / self.per_s - dt))
        if c is not None:
            c.close()

    def finish(self):
        self.stop.set()
        self.join(15)
        return self


# --- the template and its two renderers -------------------------------------

def watcher_render(tmp, env_extra, nginx="true", timeout=20):
    """Run upstream-watch.sh with a stand-in nginx (default "true": it
    renders, "starts" nginx, which exits at once, and exits too).  Its
    process group is killed afterwards, whatever it left running."""
    env = dict(os.environ, NGINX=nginx, UPSTREAM_SERVICE="localhost",
               UPSTREAM_FILE=os.path.join(tmp, "upstream.conf"),
               LIMITS_FILE=os.path.join(tmp, "limits.conf"),
               LIMITS_TEMPLATE=stacklib.LIMITS_TEMPLATE,
               INTERNAL_LISTEN_FILE=os.path.join(tmp, "internal.conf"))
    env.pop("NGINX_INTERNAL_LISTEN", None)
    for k in NGINX_LIMITS:
        env.pop(k, None)
    env.update(env_extra)
    p = subprocess.Popen([WATCHER], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def stand_in_nginx(tmp):
    """(path, mark): a stand-in nginx in tmp that creates mark if it is
    ever run, so a test can tell that the watcher never started it."""
    fake = os.path.join(tmp, "nginx")
    mark = os.path.join(tmp, "nginx-ran")
    with open(fake, "w") as f:
        f.write(f"#!/bin/sh\ntouch {mark}\n")
    os.chmod(fake, 0o755)
    return fake, mark


def body_of(text):
    """A rendered file without its first line (which names its writer)."""
    return text.split("\n", 1)[1]


@t.case
def both_renderers_write_the_same_limits(s):
    with open(s.limits_conf) as f:
        native = f.read()
    assert f"rate={RATE}r/s;" in native, native
    assert f"burst={BURST} nodelay;" in native, native
    assert f"limit_conn client_conn {CONN};" in native, native
    assert not re.search(r"@[A-Z_]+@", native), "placeholder left"
    tmp = tempfile.mkdtemp(prefix="test-limits-")
    try:
        for given in ({}, {"NGINX_LIMIT_REQ_RATE": "7",
                           "NGINX_LIMIT_REQ_BURST": "0",
                           "NGINX_LIMIT_CONN": "65535"}):
            w = watcher_render(tmp, given)
            assert w.returncode == 0, w.stderr
            with open(os.path.join(tmp, "limits.conf")) as f:
                shell = f.read()
            mine = Stack(run_dir=os.path.join(tmp, "run"), base_port=BASE,
                         nginx_limits=given)._render_limits()
            assert body_of(shell) == body_of(mine), \
                f"{given}: watcher and stack.py differ"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def docs_list_every_limit_as_the_table_says():
    """docs/NGINX.md's table: every setting with its default and bounds,
    as in stack.py's table (which the case above ties to the watcher)."""
    with open(os.path.join(stacklib.ROOT, "docs", "NGINX.md")) as f:
        doc = f.read()
    for name, (_, default, lo, hi) in NGINX_LIMITS.items():
        row = f"| `{name}` | {default} ({lo}-{hi}) |"
        assert row in doc, f"docs/NGINX.md has no row {row!r}"


BAD_SETTINGS = [
    ("NGINX_LIMIT_REQ_RATE", "0"), ("NGINX_LIMIT_REQ_RATE", "5r/s"),
    ("NGINX_LIMIT_REQ_RATE", "050"), ("NGINX_LIMIT_REQ_RATE", "1000001"),
    ("NGINX_LIMIT_REQ_RATE", "99999999999999999999999"),
    ("NGINX_LIMIT_REQ_BURST", "-1"), ("NGINX_LIMIT_REQ_BURST", " 5"),
    ("NGINX_LIMIT_CONN", "65536"), ("NGINX_LIMIT_CONN", "1;x"),
    ("NGINX_LIMIT_CONN", "٣"),
]


@t.case
def internal_listen_is_rendered_or_refused_by_name():
    # NGINX_INTERNAL_LISTEN: where /metrics listens (compose.yaml: the
    # backend network's alias only).  A good value becomes the include's
    # "listen"; a bad one stops the start before nginx runs, naming it.
    tmp = tempfile.mkdtemp(prefix="test-limits-")
    try:
        fake, mark = stand_in_nginx(tmp)
        out = os.path.join(tmp, "internal.conf")
        for value, want in ((None, "listen 3001;"),
                            # a name is resolved once, at start
                            ("localhost:3001", "listen 127.0.0.1:3001;"),
                            ("127.0.0.1:23999", "listen 127.0.0.1:23999;")):
            env = {} if value is None else {"NGINX_INTERNAL_LISTEN": value}
            w = watcher_render(tmp, env)
            with open(out) as f:
                assert body_of(f.read()).strip() == want, (value, w.stderr)
            os.unlink(out)
        for value in ("a b:1", "x:", "x:0", "x:01", "x:65536", "[::1]:3001",
                      ":3001", "x:3001;", "3001 ssl",
                      "no-such-name.invalid:3001"):
            w = watcher_render(tmp, {"NGINX_INTERNAL_LISTEN": value},
                               nginx=fake)
            assert w.returncode == 1, (value, w.returncode)
            assert f'NGINX_INTERNAL_LISTEN="{value}"' in w.stderr, \
                (value, w.stderr)
            assert not os.path.exists(mark), f"{value}: nginx ran"
            assert not os.path.exists(out), f"{value}: rendered"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def bad_settings_stop_the_start_naming_the_setting():
    tmp = tempfile.mkdtemp(prefix="test-limits-")
    try:
        fake, mark = stand_in_nginx(tmp)
        for name, value in BAD_SETTINGS:
            w = watcher_render(tmp, {name: value}, nginx=fake)
            assert w.returncode == 1, (name, value, w.returncode)
            assert f'{name}="{value}"' in w.stderr, (name, w.stderr)
            assert not os.path.exists(mark), f"{name}={value}: nginx ran"
            try:
                limit_values({name: value})
            except StackError as e:
                assert name in str(e), e
            else:
                raise AssertionError(f"stack.py took {name}={value!r}")
        try:
            limit_values({"NGINX_LIMIT_REQS": "5"})
        except StackError as e:
            assert "NGINX_LIMIT_REQS" in str(e), e
        else:
            raise AssertionError("stack.py took an unknown setting")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def watcher_exits_with_an_nginx_that_exits_at_once():
    """An nginx that dies at start (a port taken) must end the watcher
    with its status, not leave it waiting on its own watch loop.  "true"
    as nginx exits quickest: it passes "nginx -t", then exits 0 at once."""
    tmp = tempfile.mkdtemp(prefix="test-limits-")
    try:
        # It hung in about one start in four before the fix.
        for _ in range(20):
            t0 = time.monotonic()
            w = watcher_render(tmp, {"UPSTREAM_INTERVAL": "0.2"}, timeout=5)
            dt = time.monotonic() - t0
            assert w.returncode == 0, (w.returncode, w.stderr)
            assert "nginx exited with status 0" in w.stderr, w.stderr
            # At most one UPSTREAM_INTERVAL for the watch loop.
            assert dt < 5, f"watcher took {dt:.1f}s to follow nginx"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def make_run_takes_limits_from_the_environment():
    """stack.py as a program (make run): NGINX_LIMIT_* from the
    environment reach the config; a bad one stops it before anything
    starts."""
    prog = [sys.executable, STACK_PY, "--base-port",
            str(PROGRAM_BASE), "--no-collector"]
    env = dict(os.environ, NGINX_LIMIT_CONN="0")
    p = subprocess.run(prog, env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1, (p.returncode, p.stderr[-500:])
    assert "NGINX_LIMIT_CONN='0'" in p.stderr, p.stderr[-500:]
    run_dir = tempfile.mkdtemp(prefix="test-limits-run-")
    env = dict(os.environ, NGINX_LIMIT_REQ_RATE="7")
    p = subprocess.Popen(prog + ["--run-dir", run_dir], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    try:
        lines = []
        deadline = time.monotonic() + 40
        for line in p.stdout:
            lines.append(line.rstrip())
            if "stack: ready" in line or time.monotonic() > deadline:
                break
        want = (f"stack: limits      NGINX_LIMIT_REQ_RATE=7, "
                f"NGINX_LIMIT_REQ_BURST={BURST}, NGINX_LIMIT_CONN={CONN}")
        assert any(ln.startswith(want) for ln in lines), lines[-12:]
        with open(os.path.join(run_dir, "nginx", "limits.conf")) as f:
            assert "rate=7r/s;" in f.read()
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
        shutil.rmtree(run_dir, ignore_errors=True)


# --- the limits at work ------------------------------------------------------

@t.case
def a_browser_never_meets_the_limits(s):
    """Three page loads in a row, each 30 API calls over a browser's 6
    connections at once, then polling at 10 a second: all served."""
    port = s.ports["http"]
    statuses = []
    lock = threading.Lock()

    def page(n):
        def conn(k):
            for i in range(k, n, 6):
                st, _, _ = get(port, f"/hello/page{i}", "127.0.0.3")
                with lock:
                    statuses.append(st)
        th = [threading.Thread(target=conn, args=(k,)) for k in range(6)]
        for x in th:
            x.start()
        for x in th:
            x.join(30)
    for _ in range(3):
        page(30)
    poll = Client(port, "127.0.0.3", "/session", per_s=10)
    time.sleep(2)
    poll.finish()
    assert len(statuses) == 90 and set(statuses) == {200}, \
        {x: statuses.count(x) for x in set(statuses)}
    assert set(poll.statuses) == {200} and not poll.errors, \
        (poll.statuses, poll.errors[:3])


@t.case
def a_flood_is_refused_while_others_are_served(s):
    port = s.ports["http"]
    # The other client alone first: its pace and latency without a flood.
    base = Client(port, "127.0.0.2", "/healthz", per_s=20)
    time.sleep(1.5)
    base.finish()
    # 127.0.0.1 floods with two kept-alive connections; meanwhile
    # 127.0.0.2 keeps its pace, and Prometheus scrapes the internal server
    # from the flooding address itself.
    flood = [Client(port, "127.0.0.1", "/hello/flood") for _ in range(2)]
    time.sleep(0.5)
    other = Client(port, "127.0.0.2", "/healthz", per_s=20)
    scrape = Client(s.ports["internal"], "127.0.0.1", "/metrics", per_s=20)
    t0 = time.monotonic()
    time.sleep(3)
    # A burst from the other client in the middle of the flood: up to its
    # own allowance, all at once, on fresh connections.
    burst = [get(port, "/hello/burst", "127.0.0.2")[0]
             for _ in range(BURST // 2)]
    other.finish()
    scrape.finish()
    for c in flood:
        c.finish()
    elapsed = time.monotonic() - t0 + 0.5
    served = sum(c.statuses.get(200, 0) for c in flood)
    refused = sum(c.statuses.get(429, 0) for c in flood)
    print(f"flood: {served} served, {refused} refused in {elapsed:.1f}s; "
          f"other: {other.statuses}, p50 {ms(other)} (alone {ms(base)}); "
          f"scrapes: {scrape.statuses}", file=sys.stderr)
    assert not any(c.errors for c in flood), flood[0].errors[:3]
    assert set(sum((list(c.statuses) for c in flood), [])) <= {200, 429}
    # The flooder got its allowance (the rate, plus the burst) and no more.
    allowance = RATE * (elapsed + 1) + BURST
    assert served + refused > 2 * allowance, \
        f"the flood was too slow to test anything: {served + refused}"
    assert 0 < served <= allowance, (served, elapsed)
    check_429(*next(c.refusal for c in flood if c.refusal))
    # The other address was never refused, nor slowed to a crawl.
    assert set(other.statuses) == {200} and not other.errors, \
        (other.statuses, other.errors[:3])
    assert sum(other.statuses.values()) >= 20 * 3 * 0.5, other.statuses
    assert set(burst) == {200}, {x: burst.count(x) for x in set(burst)}
    assert statistics.median(other.latencies) < max(
        0.1, 10 * statistics.median(base.latencies)), (ms(other), ms(base))
    # /metrics from the flooding address: never refused.
    assert set(scrape.statuses) == {200} and not scrape.errors, \
        (scrape.statuses, scrape.errors[:3])
    # The access log agrees: 429 only ever for 127.0.0.1.
    time.sleep(0.2)
    with open(s.log_path("nginx-access"), errors="replace") as f:
        lines = f.read().splitlines()
    limited = {ln.split()[0] for ln in lines if re.search(r'" 429 ', ln)}
    assert limited == {"127.0.0.1"}, limited


def ms(client):
    return f"{1000 * statistics.median(client.latencies):.1f}ms" \
        if client.latencies else "-"


@t.case
def requests_in_progress_over_the_limit_get_429(s):
    """CONN requests in progress from one address (each a POST whose body
    never comes, so nginx holds it while it waits): the next request from
    that address is refused, another address is served, and the address is
    served again once its requests end.

    CONN + 1 are sent, since nginx may read their headers in any order
    (two workers): whichever it reads last is refused and answered at
    once, and that answer is the proof that the other CONN are counted
    before the next request is sent."""
    port = s.ports["http"]
    held = []
    try:
        for _ in range(CONN + 1):
            c = socket.socket()
            c.bind(("127.0.0.4", 0))
            c.settimeout(5)
            c.connect(("127.0.0.1", port))
            c.sendall(b"POST /hello/held HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 10\r\n\r\n")
            held.append(c)
        answered, _, _ = select.select(held, [], [], 5)
        assert len(answered) == 1, f"{len(answered)} of {CONN + 1} answered"
        check_429(*answer_of(read_answer(answered[0])))
        # The other CONN are held, not answered.
        time.sleep(0.2)
        rest = [c for c in held if c is not answered[0]]
        answered, _, _ = select.select(rest, [], [], 0)
        assert not answered, f"{len(answered)} more of {CONN + 1} answered"
        check_429(*get(port, "/hello/over", "127.0.0.4"))
        st, _, _ = get(port, "/hello/other", "127.0.0.5")
        assert st == 200, st
    finally:
        for c in held:
            c.close()
    deadline = time.monotonic() + 5
    while True:
        st, _, _ = get(port, "/hello/again", "127.0.0.4")
        if st == 200:
            break
        assert time.monotonic() < deadline, f"still {st} after close"
        time.sleep(0.1)


@t.case
def the_internal_server_is_never_limited(s):
    n = 3 * (BURST + RATE)
    statuses = [get(s.ports["internal"], "/metrics", "127.0.0.6")[0]
                for _ in range(n)]
    assert set(statuses) == {200}, {x: statuses.count(x)
                                    for x in set(statuses)}


@t.case
def a_refused_request_with_a_bad_body_is_json(s):
    """Over the limit and a malformed chunked body: the 429 page discards
    the body, which fails; the answer to that is JSON too."""
    port = s.ports["http"]
    # The address stays over its limit while the flood goes on.
    flood = Client(port, "127.0.0.7", "/hello/x")
    try:
        deadline = time.monotonic() + 10
        while flood.refusal is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flood.refusal is not None, f"never refused: {flood.statuses}"
        c = socket.socket()
        c.bind(("127.0.0.7", 0))
        c.settimeout(5)
        c.connect(("127.0.0.1", port))
        c.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n"
                  b"\r\n")
        out = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
        c.close()
    finally:
        flood.finish()
    r = Response(out)
    assert r.status in (400, 429), r.status
    check_json(r.status, r.header("content-type"), r.body)


t.run(setup, teardown)
