#!/usr/bin/env python3
"""test_app.py -- the whole chain: nginx -> fcgi-app -> Redis, on loopback.

Real nginx (nginx/app/*.conf), the real pool (fcgi-app/fcgi-app), real
redis-server primary and replicas, all started by lib/tools/stack.py.
Exits 77 when fcgi-app is not built.  The cases that stop or stall a
component come last and bring it back.  Ports 20200-20212.
"""
import json
import os
import re
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite, Skip
from stack import Stack, APP_BIN
from httpc import (raw, Response, check_json, header_of,
                   headers_of, check_security_headers, http_get)

BASE = 20200
t = Suite()

COMBINED = re.compile(
    r'^\S+ - \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
    r'"[^"]*" \d{3} \d+ "[^"]*" "[^"]*"$')
# Prometheus text exposition format 0.0.4: comments, or
# name{labels} value.
PROM_LINE = re.compile(
    r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*'
    r'|[a-zA-Z_:][a-zA-Z0-9_:]*'
    r'(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})?'
    r' [-+]?(\d+(\.\d+)?([eE][-+]?\d+)?|NaN|[-+]?Inf))$')
SID = re.compile(r"^connect\.sid=s%3A[A-Za-z0-9_-]+\.[A-Za-z0-9%]+$")


def setup():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built (make -C fcgi-app)")
    # collector=None: the collector runs too when collector/collector is
    # built, so the case below can see the events it prints.
    return Stack(base_port=BASE, collector=None).__enter__()


def teardown(s):
    if s is not None:
        s.close()


def get_json(s, path, want, **kw):
    st, hdrs, body = http_get(s.ports["http"], path, **kw)
    assert st == want, f"{path}: {st} {body[:200]!r}"
    return check_json(st, header_of(hdrs, "Content-Type"), body), hdrs


def new_cookie(s):
    st, hdrs, body = http_get(s.ports["http"], "/")
    assert st == 200, st
    cookies = headers_of(hdrs, "Set-Cookie")
    assert len(cookies) == 1, cookies
    return cookies[0].split(";")[0]


def views(s, cookie):
    doc, _ = get_json(s, "/session", 200, headers={"Cookie": cookie})
    return doc["views"]


def answers(s):
    """The whole chain still serves / after whatever came before."""
    doc, _ = get_json(s, "/", 200)
    assert doc == {"status": "ok"}, doc


def raw_status(s, data):
    r = Response(raw(s.ports["http"], data))
    check_json(r.status, r.header("content-type"), r.body)
    return r


def wait_status(s, path, want, timeout, consecutive=1, **kw):
    """Poll path until it answers want `consecutive` times in a row (each
    pool thread has its own Redis connection and reconnects on its own)."""
    deadline = time.monotonic() + timeout
    run = 0
    while True:
        st, hdrs, body = http_get(s.ports["http"], path, **kw)
        run = run + 1 if st == want else 0
        if run >= consecutive:
            return hdrs, body
        if st == want:
            continue
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: still {st} after {timeout}s: "
                                 f"{body[:200]!r}")
        time.sleep(0.1)


# --- routes ----------------------------------------------------------------

@t.case
def root_is_ok_json_with_session_cookie(s):
    st, hdrs, body = http_get(s.ports["http"], "/")
    assert st == 200, st
    assert check_json(st, header_of(hdrs, "Content-Type"), body) == \
        {"status": "ok"}
    cookie = headers_of(hdrs, "Set-Cookie")
    assert len(cookie) == 1, cookie
    parts = [p.strip() for p in cookie[0].split(";")]
    assert SID.match(parts[0]), parts[0]
    assert "HttpOnly" in parts and "Path=/" in parts, parts
    check_security_headers(lambda n: headers_of(hdrs, n))


@t.case
def head_root_has_headers_only(s):
    r = Response(raw(s.ports["http"],
                     b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close"
                     b"\r\n\r\n"))
    assert r.status == 200, r.status
    assert r.header("content-type") == "application/json"
    assert r.body == b"", r.body


@t.case
def second_request_with_cookie_counts_visits(s):
    cookie = new_cookie(s)
    v1 = views(s, cookie)
    assert v1 >= 1, f"first visit not counted: {v1}"
    st, hdrs, _ = http_get(s.ports["http"], "/", headers={"Cookie": cookie})
    assert st == 200
    for c in headers_of(hdrs, "Set-Cookie"):
        # A rolling cookie may be re-sent, but for the same session.
        assert c.split(";")[0] == cookie, (c, cookie)
    http_get(s.ports["http"], "/", headers={"Cookie": cookie})
    assert views(s, cookie) == v1 + 2
    # The session is in Redis and replicated (connect-redis layout).
    sid = cookie.split("=", 1)[1][len("s%3A"):].split(".")[0]
    doc = json.loads(s.redis_cli("primary", "GET", f"sess:{sid}"))
    assert doc["views"] == v1 + 2 and "cookie" in doc, doc
    deadline = time.monotonic() + 2
    for node in ("replica1", "replica2"):
        while s.redis_cli(node, "GET", f"sess:{sid}") is None:
            assert time.monotonic() < deadline, f"not on {node}"
            time.sleep(0.05)


@t.case
def session_shows_worker_host_and_pid(s):
    doc, hdrs = get_json(s, "/session", 200)
    assert doc["worker"] == socket.gethostname(), doc
    assert isinstance(doc["pid"], int), doc
    # The pid is one of the pool's processes (same process group).
    assert os.getpgid(doc["pid"]) == s.pid("fcgi-app"), doc
    assert header_of(hdrs, "Cache-Control") == "no-store"


@t.case
def hello_frank(s):
    doc, _ = get_json(s, "/hello/frank", 200)
    assert doc == {"hello": "frank"}, doc


@t.case
def hello_utf8_names(s):
    for name in ("élève", "Jürgen", "東京", "🙂", "a b", "x\"y", "a/b"):
        enc = "".join(c if c.isascii() and c.isalnum() else
                      "".join("%%%02X" % b for b in c.encode())
                      for c in name)
        doc, _ = get_json(s, "/hello/" + enc, 200)
        assert doc == {"hello": name}, (name, doc)
    # Raw UTF-8 bytes in the request line, as some clients send them.
    r = raw_status(s, "GET /hello/Zoë HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n".encode())
    assert r.status == 200 and json.loads(r.body) == {"hello": "Zoë"}, \
        (r.status, r.body)


GARBAGE = [
    "/hello/%", "/hello/%4", "/hello/%zz", "/hello/%ff", "/hello/%C0%AF",
    "/hello/%ED%A0%80", "/hello/%F4%90%80%80", "/hello/%E2%82",
    "/hello/a%2fb%2f..%2f..", "/hello/..%2f..%2fetc%2fpasswd",
    "/hello/%2e%2e", "/hello/", "/hello", "/hello/a/b", "//hello//x",
    "/hello/x?y=%zz", "/?%zz=%zz", "/session/../healthz", "/./session",
    "/hello/" + "a" * 2000, "/hello/" + "%41" * 1500, "/%C0%AE%C0%AE/",
    "/hello/%25", "/hello/+", "/hello/;", "/hello/x#frag", "/*",
    "/hello/\\..\\..\\", "/.env", "/hello/%u0041",
]


@t.case
def garbage_paths_give_json_never_html_or_5xx(s):
    for path in GARBAGE:
        data = f"GET {path} HTTP/1.1\r\nHost: x\r\n" \
               "Connection: close\r\n\r\n".encode()
        r = Response(raw(s.ports["http"], data))
        assert r.status < 500, f"{path}: {r.status} {r.body[:100]!r}"
        check_json(r.status, r.header("content-type"), r.body)
    # Invalid UTF-8 bytes raw in the request line.
    for data in (b"GET /hello/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /hello/\xc0\xaf HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /hello/a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n"):
        r = Response(raw(s.ports["http"], data))
        assert r.status in (200, 400, 404), (data, r.status)
        if r.status != 200:
            check_json(r.status, r.header("content-type"), r.body)
    answers(s)


@t.case
def invalid_utf8_name_is_400_json(s):
    doc, _ = get_json(s, "/hello/%ff%fe", 400)
    assert "error" in doc, doc


@t.case
def unknown_route_is_404_json(s):
    doc, hdrs = get_json(s, "/no/such/route", 404)
    assert doc == {"error": "not found"}, doc
    check_security_headers(lambda n: headers_of(hdrs, n))


@t.case
def post_root_is_405_with_allow(s):
    for method, path in (("POST", "/"), ("PUT", "/hello/x"),
                         ("DELETE", "/session"), ("PATCH", "/healthz")):
        st, hdrs, body = http_get(
            s.ports["http"], path, method=method, body=b"{}",
            headers={"Content-Type": "application/json"})
        assert st == 405, (method, path, st)
        check_json(st, header_of(hdrs, "Content-Type"), body)
        assert header_of(hdrs, "Allow") == "GET, HEAD", hdrs
    answers(s)


@t.case
def body_over_limit_is_413_json(s):
    st, hdrs, body = http_get(s.ports["http"], "/", method="POST",
                              body=b"x" * 16385)
    assert st == 413, st
    assert check_json(st, header_of(hdrs, "Content-Type"), body) == \
        {"error": "payload too large"}
    st, _, _ = http_get(s.ports["http"], "/", method="POST",
                        body=b"x" * 16384)
    assert st == 405, f"body at the limit: {st}"
    answers(s)


@t.case
def headers_and_cookies_at_and_past_limits(s):
    def cookie_req(n, extra=b""):
        v = b"connect.sid=" + b"a" * (n - len(b"Cookie: connect.sid=\r\n"))
        return (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + extra + b"Cookie: " + v + b"\r\n\r\n")
    # At the limit: a garbage session cookie of 8192 bytes -> new session.
    r = raw_status(s, cookie_req(8192))
    assert r.status == 200, r.status
    assert r.header("set-cookie"), "no fresh session for a bad cookie"
    answers(s)
    r = raw_status(s, cookie_req(8193))
    assert r.status == 431, r.status
    answers(s)
    # Many cookies, many headers, repeated session cookies.
    many = b"; ".join(b"c%d=%s" % (i, b"v" * 20) for i in range(300))
    r = raw_status(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Cookie: " + many + b"\r\n\r\n")
    assert r.status == 200, r.status
    hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 7000) for i in range(4))
    r = raw_status(s, cookie_req(7000, hdrs))
    assert r.status == 431, r.status       # 5 long lines > 4 buffers
    r = raw_status(s, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   + hdrs + b"\r\n")
    assert r.status == 200, r.status
    answers(s)
    # The pool survived all of it (same process group, still serving).
    assert s.procs["fcgi-app"].alive()


def cookie_sid(cookie):
    """The session id a 'connect.sid=s%3A<id>.<sig>' cookie claims, or
    None when it claims none."""
    m = re.match(r"^connect\.sid=s%3A([A-Za-z0-9_-]+)\.", cookie)
    return m.group(1) if m else None


def session_doc(s, sid):
    """The session stored under sid on the primary, or None."""
    v = s.redis_cli("primary", "GET", f"sess:{sid}")
    return None if v is None else json.loads(v)


@t.case
def bad_cookies_get_a_fresh_session(s):
    good = new_cookie(s)
    good_sid = cookie_sid(good)
    assert good_sid and session_doc(s, good_sid) is not None, good
    # Our own id with its signature changed, and an id we never issued
    # under the good cookie's signature (an attacker choosing the id).
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    forged_sid = ("forged" + good_sid)[:len(good_sid)]
    forged = good.replace(good_sid, forged_sid, 1)
    assert session_doc(s, forged_sid) is None
    before = session_doc(s, good_sid)
    for cookie in ("connect.sid=garbage", "connect.sid=s%3Aabc.def",
                   tampered, forged, "connect.sid=%ff%00", "connect.sid="):
        st, hdrs, _ = http_get(s.ports["http"], "/",
                               headers={"Cookie": cookie})
        assert st == 200, (cookie, st)
        fresh = headers_of(hdrs, "Set-Cookie")
        assert len(fresh) == 1, (cookie, fresh)
        fresh = fresh[0].split(";")[0]
        assert SID.match(fresh), fresh
        claimed = cookie_sid(cookie)
        # A new session, not the claimed one re-signed: "!= cookie" alone
        # would pass for s%3A<claimed id>.<the right signature>.
        assert cookie_sid(fresh) != claimed, (cookie, fresh)
        if claimed is not None and claimed != good_sid:
            assert session_doc(s, claimed) is None, \
                f"{cookie}: session {claimed} was created"
    # The bad signature on our own id did not touch that session either.
    assert session_doc(s, good_sid) == before, (before,
                                                session_doc(s, good_sid))


# --- /metrics ----------------------------------------------------------------

def scrape(s):
    st, hdrs, body = http_get(s.ports["internal"], "/metrics")
    assert st == 200, st
    ctype = header_of(hdrs, "Content-Type")
    assert ctype.startswith("text/plain"), ctype
    text = body.decode()
    bad = [ln for ln in text.splitlines() if ln and not PROM_LINE.match(ln)]
    assert not bad, f"not exposition format: {bad[:3]}"
    return text


def root_200_count(text):
    m = re.search(r'^fcgi_app_requests_total\{route="root",status="200"\} '
                  r'(\d+)$', text, re.M)
    assert m, "no root/200 counter"
    return int(m.group(1))


@t.case
def metrics_internal_is_prometheus_text_and_counts(s):
    before = root_200_count(scrape(s))
    for _ in range(3):
        answers(s)
    after = root_200_count(scrape(s))
    assert after >= before + 3, (before, after)


@t.case
def metrics_is_404_publicly_however_asked(s):
    for path in ("/metrics", "/metrics/", "//metrics", "/%6detrics",
                 "/metrics?x=1", "/./metrics", "/METRICS"):
        for headers in ({}, {"App-Internal": "1"}, {"APP_INTERNAL": "1"},
                        {"X-App-Internal": "1"}):
            st, hdrs, body = http_get(s.ports["http"], path, headers=headers)
            assert st in (400, 404), (path, headers, st)
            check_json(st, header_of(hdrs, "Content-Type"), body)
            assert b"fcgi_app_" not in body, (path, headers)


# --- headers and logs -------------------------------------------------------

@t.case
def security_headers_once_on_every_answer(s):
    for path, method in (("/", "GET"), ("/hello/x", "GET"),
                         ("/nope", "GET"), ("/", "POST"),
                         ("/hello/%ff", "GET"), ("/session", "GET")):
        st, hdrs, _ = http_get(s.ports["http"], path, method=method)
        check_security_headers(lambda n: headers_of(hdrs, n))
    _, hdrs, _ = http_get(s.ports["internal"], "/metrics")
    check_security_headers(lambda n: headers_of(hdrs, n))


@t.case
def access_log_lines_are_combined_format(s):
    http_get(s.ports["http"], "/hello/log",
             headers={"User-Agent": "test-agent/1.0",
                      "Referer": "http://example.test/"})
    time.sleep(0.2)
    with open(s.log_path("nginx-access"), encoding="utf-8",
              errors="replace") as f:
        lines = f.read().splitlines()
    assert len(lines) > 50, len(lines)
    bad = [ln for ln in lines if not COMBINED.match(ln)]
    assert not bad, f"not combined: {bad[:3]}"
    assert any(ln.endswith('"GET /hello/log HTTP/1.1" 200 17 '
                           '"http://example.test/" "test-agent/1.0"')
               or ('"GET /hello/log HTTP/1.1" 200' in ln
                   and '"test-agent/1.0"' in ln) for ln in lines), lines[-3:]


@t.case
def collector_prints_events_for_every_log(s):
    if "collector" not in s.procs:
        raise Skip("collector/collector not built")
    mark = f"/hello/collector-{os.getpid()}"
    get_json(s, mark, 200)
    want = {"nginx-access", "nginx-error", "fcgi-app", "redis"}
    deadline = time.monotonic() + 5
    while True:
        with open(s.collector_out, encoding="utf-8") as f:
            lines = f.read().splitlines()
        events = [json.loads(ln) for ln in lines]
        types = {e.get("type") for e in events}
        hit = [e for e in events if e.get("type") == "nginx-access"
               and mark in e.get("message", "")]
        if want <= types and hit:
            break
        assert time.monotonic() < deadline, \
            f"types {sorted(types)}, nginx line seen: {bool(hit)}"
        time.sleep(0.1)
    e = hit[0]
    assert e["@version"] == "1" and e["path"] == s.log_path("nginx-access"), e


# --- failures: Redis, then the pool (each brought back) ---------------------

@t.case
def readyz_503_while_primary_stalled_then_200(s):
    get_json(s, "/readyz", 200)
    s.stop("primary")
    try:
        t0 = time.monotonic()
        st, hdrs, body = http_get(s.ports["http"], "/readyz")
        dt = time.monotonic() - t0
        assert st == 503, st
        check_json(st, header_of(hdrs, "Content-Type"), body)
        assert dt < 2.0, f"503 took {dt:.2f}s"
        # Healthz does not touch Redis.
        get_json(s, "/healthz", 200)
        st, hdrs, body = http_get(s.ports["http"], "/")
        assert st == 503, f"/ with Redis stalled: {st}"
        check_json(st, header_of(hdrs, "Content-Type"), body)
    finally:
        s.cont("primary")
    wait_status(s, "/readyz", 200, 10, consecutive=50)
    answers(s)


@t.case
def readyz_503_while_primary_down_then_200(s):
    cookie = new_cookie(s)
    v = views(s, cookie)
    s.terminate("primary")
    get_json(s, "/readyz", 503)
    s.restart("primary")
    wait_status(s, "/readyz", 200, 10, consecutive=50)
    # The session survived the restart (appendonly on the primary).
    assert views(s, cookie) == v, "session lost across primary restart"


@t.case
def pool_stalled_gives_504_json(s):
    s.stop("fcgi-app")
    try:
        t0 = time.monotonic()
        st, hdrs, body = http_get(s.ports["http"], "/healthz", timeout=15)
        dt = time.monotonic() - t0
        assert st == 504, st
        assert check_json(st, header_of(hdrs, "Content-Type"), body) == \
            {"error": "gateway timeout"}
        assert 4.5 <= dt < 8, f"504 after {dt:.1f}s (read timeout 5s)"
    finally:
        s.cont("fcgi-app")
    wait_status(s, "/healthz", 200, 5)


@t.case
def pool_stopped_gives_502_json(s):
    s.terminate("fcgi-app")
    st, hdrs, body = http_get(s.ports["http"], "/")
    assert st == 502, st
    assert check_json(st, header_of(hdrs, "Content-Type"), body) == \
        {"error": "bad gateway"}
    assert header_of(hdrs, "Retry-After") == "1"
    s.restart("fcgi-app")
    wait_status(s, "/", 200, 5)


t.run(setup, teardown)
