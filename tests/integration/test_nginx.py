#!/usr/bin/env python3
"""test_nginx.py -- nginx's own behaviour, with the FastCGI pool absent.

Real nginx (nginx/app/*.conf in the config lib/tools/stack.py renders),
real Redis, no pool: every answer here is written by nginx itself, so
these run before fcgi-app exists.  Errors nginx raises before it picks a
location (bad request line, oversized headers, TRACE) are sent with raw
sockets.  Ports 20100-20112.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from stack import Stack, NGINX_DIR
from httpc import (raw, Response, check_json, header_of,
                   headers_of, check_security_headers, http_get)

BASE = 20100
t = Suite()

COMBINED = re.compile(
    r'^\S+ - \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
    r'"[^"]*" \d{3} \d+ "[^"]*" "[^"]*"$')


def setup():
    return Stack(base_port=BASE, app=False).__enter__()


def teardown(s):
    if s is not None:
        s.close()


def still_answers(s):
    """nginx keeps serving after whatever the previous request did."""
    st, hdrs, body = http_get(s.ports["http"], "/metrics", timeout=3)
    assert st == 404, f"follow-up request: {st}"
    check_json(st, header_of(hdrs, "Content-Type"), body)


def raw_json(s, data, want_status, timeout=5.0):
    """Send raw bytes; the answer must be want_status with a JSON body
    and the security headers; nginx must still answer afterwards."""
    out = raw(s.ports["http"], data, timeout)
    r = Response(out)
    assert r.status == want_status, \
        f"status {r.status}, want {want_status}: {out[:300]!r}"
    doc = check_json(r.status, r.header("content-type"), r.body)
    assert "error" in doc, f"no error key: {doc}"
    check_security_headers(lambda n: r.headers.get(n, []))
    still_answers(s)
    return r


# --- configuration ---------------------------------------------------------

@t.case
def native_config_passes_nginx_t(s):
    p = subprocess.run(["nginx", "-t"] + s.nginx_args(),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert "test is successful" in p.stderr, p.stderr


@t.case
def container_config_passes_nginx_t():
    """nginx/nginx.conf with its absolute paths moved into a temp dir."""
    d = tempfile.mkdtemp(prefix="nginx-ct-")
    try:
        with open(os.path.join(NGINX_DIR, "nginx.conf")) as f:
            conf = f.read()
        assert "/var/lib/nginx/upstream/fcgi-app.conf" in conf
        conf = conf.replace("/var/lib/nginx/", d + "/lib/")
        conf = conf.replace("/var/log/nginx/", d + "/log/")
        for sub in ("lib/upstream", "log"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        os.symlink(os.path.join(NGINX_DIR, "app"), os.path.join(d, "app"))
        with open(os.path.join(d, "lib/upstream/fcgi-app.conf"), "w") as f:
            f.write("upstream fcgi_app { server 127.0.0.1:9000; "
                    "keepalive 8; }\n"
                    "map $server_port $fcgi_app { default fcgi_app; }\n")
        # The limits and internal-listen includes, as the entrypoint writes
        # them at start (with "true" for nginx, the watcher renders, starts
        # "true" and exits).
        env = dict(os.environ, NGINX="true", UPSTREAM_SERVICE="localhost",
                   UPSTREAM_FILE=os.path.join(d, "lib/upstream/x.conf"),
                   LIMITS_FILE=os.path.join(d, "lib/limits.conf"),
                   LIMITS_TEMPLATE=os.path.join(NGINX_DIR, "app",
                                                "limits.conf.in"),
                   INTERNAL_LISTEN_FILE=os.path.join(
                       d, "lib/internal-listen.conf"))
        for k in ("NGINX_INTERNAL_LISTEN", "LOG_ROTATE_FILES"):
            env.pop(k, None)
        w = subprocess.run([os.path.join(NGINX_DIR, "upstream-watch.sh")],
                           env=env, capture_output=True, text=True,
                           timeout=10)
        assert w.returncode == 0, w.stderr
        p = subprocess.run(["nginx", "-t", "-p", d + "/", "-c",
                            os.path.join(d, "nginx.conf")],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def upstream_resolve_parameter_is_unsupported_here():
    """The reason for upstream-watch.sh: nginx 1.22 has no "resolve"."""
    d = tempfile.mkdtemp(prefix="nginx-rs-")
    try:
        conf = os.path.join(d, "n.conf")
        with open(conf, "w") as f:
            f.write("events {}\nhttp { upstream u { server localhost:9 "
                    "resolve; } }\n")
        p = subprocess.run(["nginx", "-t", "-p", d + "/", "-c", conf],
                           capture_output=True, text=True, timeout=10)
        v = subprocess.run(["nginx", "-v"], capture_output=True,
                           text=True).stderr.strip()
        if p.returncode == 0:
            raise AssertionError(f"{v} accepts 'resolve': the watcher could "
                                 "be replaced (see docs/NGINX.md)")
        assert 'invalid parameter "resolve"' in p.stderr, p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- the pool is down: 502 -------------------------------------------------

@t.case
def pool_down_gives_502_json(s):
    st, hdrs, body = http_get(s.ports["http"], "/")
    assert st == 502, st
    doc = check_json(st, header_of(hdrs, "Content-Type"), body)
    assert doc == {"error": "bad gateway"}, doc
    assert header_of(hdrs, "Retry-After") == "1"
    check_security_headers(lambda n: headers_of(hdrs, n))


@t.case
def server_header_has_no_version(s):
    st, hdrs, _ = http_get(s.ports["http"], "/")
    assert header_of(hdrs, "Server") == "nginx", header_of(hdrs, "Server")


# --- /metrics --------------------------------------------------------------

@t.case
def metrics_is_404_json_on_public_server(s):
    for path, headers in [
            ("/metrics", {}),
            ("/metrics", {"App-Internal": "1"}),
            ("/metrics", {"APP_INTERNAL": "1"}),
            ("/metrics?APP_INTERNAL=1", {}),
            ("/metrics/", {"X-Forwarded-For": "127.0.0.1"})]:
        st, hdrs, body = http_get(s.ports["http"], path, headers=headers)
        if path == "/metrics/":
            # Not the metrics location: it goes to the pool (absent here).
            assert st == 502, (path, st)
            continue
        assert st == 404, (path, headers, st)
        assert check_json(st, header_of(hdrs, "Content-Type"), body) == \
            {"error": "not found"}


@t.case
def metrics_is_forwarded_on_internal_server(s):
    # The pool is absent, so nginx tried to forward it: 502, not 404.
    st, hdrs, body = http_get(s.ports["internal"], "/metrics")
    assert st == 502, st
    check_json(st, header_of(hdrs, "Content-Type"), body)


@t.case
def error_locations_are_internal(s):
    st, hdrs, body = http_get(s.ports["http"], "/_nginx_error/502")
    assert st == 404, st
    check_json(st, header_of(hdrs, "Content-Type"), body)


# --- errors nginx raises before choosing a location --------------------------

@t.case
def garbage_request_line_is_400_json(s):
    raw_json(s, b"garbage\r\n\r\n", 400)
    raw_json(s, b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400)
    raw_json(s, b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", 400)


@t.case
def missing_host_is_400_json(s):
    raw_json(s, b"GET / HTTP/1.1\r\n\r\n", 400)


@t.case
def nul_and_dotdot_in_path_are_400_json(s):
    raw_json(s, b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400)
    raw_json(s, b"GET /hello/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400)
    raw_json(s, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400)
    raw_json(s, b"GET /%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", 400)


@t.case
def trace_is_405_json_with_allow(s):
    r = raw_json(s, b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405)
    assert r.header("allow") == "GET, HEAD", r.headers


@t.case
def http_2_0_request_line_is_505_json(s):
    raw_json(s, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505)


@t.case
def unknown_transfer_encoding_is_501_json(s):
    raw_json(s, b"GET / HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: gzip\r\n\r\n", 501)


@t.case
def content_length_with_chunked_is_400_json(s):
    raw_json(s, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)


@t.case
def request_line_at_limit_passes_and_past_it_is_414(s):
    # large_client_header_buffers 4 8k: a request line of 8192 bytes with
    # its CRLF fits one buffer; one more byte does not.
    def line(n):
        fixed = len(b"GET / HTTP/1.1\r\n")
        return b"GET /" + b"a" * (n - fixed) + b" HTTP/1.1\r\n"
    assert len(line(8192)) == 8192
    r = Response(raw(s.ports["http"], line(8192) + b"Host: x\r\n\r\n"))
    assert r.status == 502, f"8192-byte line: {r.status}"
    raw_json(s, line(8193) + b"Host: x\r\n\r\n", 414)
    raw_json(s, line(100000) + b"Host: x\r\n\r\n", 414)


@t.case
def cookie_at_limit_passes_and_past_it_is_431(s):
    def req(n):
        # One header line "Cookie: ...\r\n" of exactly n bytes.
        v = b"connect.sid=" + b"a" * (n - len(b"Cookie: connect.sid=\r\n"))
        return b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + v + b"\r\n\r\n"
    r = Response(raw(s.ports["http"], req(8192)))
    assert r.status == 502, f"8192-byte cookie line: {r.status}"
    raw_json(s, req(8193), 431)
    raw_json(s, req(65536), 431)


@t.case
def too_many_long_headers_is_431(s):
    def req(k):
        return (b"GET / HTTP/1.1\r\nHost: x\r\n"
                + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 7000)
                           for i in range(k)) + b"\r\n")
    r = Response(raw(s.ports["http"], req(4)))
    assert r.status == 502, f"4 long headers: {r.status}"
    raw_json(s, req(6), 431)
    # Many small headers totalling more than 32k as well.
    many = b"".join(b"X-%05d: %s\r\n" % (i, b"c" * 100) for i in range(400))
    raw_json(s, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", 431)


@t.case
def body_over_limit_is_413_json(s):
    raw_json(s, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16385\r\n"
                b"\r\n", 413)
    big = b"x" * 20000
    raw_json(s, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                b"\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big), 413)


# Bodies nginx cannot take.  An answer nginx writes itself (an error page,
# the public /metrics 404, TRACE's 405) first checks the body against
# client_max_body_size and discards it; when that fails, nginx has a
# second error to answer in the same request, and without
# recursive_error_pages it answers it with its HTML page.
BAD_BODIES = [
    ("chunk size not hex", b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("negative chunk size", b"Transfer-Encoding: chunked\r\n\r\n"
     b"-1\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk size past 2^64", b"Transfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk longer than its size", b"Transfer-Encoding: chunked\r\n\r\n"
     b"3\r\nabcXX\r\n0\r\n\r\n", 400),
    ("Content-Length over the limit", b"Content-Length: 20000\r\n\r\nabc",
     413),
]
# (server, method, path, its own answer): requests nginx answers itself,
# without the pool.  That answer may come instead of the body's error:
# when the body comes a moment after the headers (nginx discards it after
# answering, and closes the connection when it turns out malformed), and
# when nginx rejects the request before it checks the body's size (TRACE;
# an error page asked for directly).
NGINX_ANSWERS = [
    ("http", "GET", "/metrics", 404), ("http", "POST", "/metrics", 404),
    ("http", "HEAD", "/metrics", 404), ("http", "TRACE", "/", 405),
    ("internal", "TRACE", "/metrics", 405),
    ("http", "GET", "/_nginx_error/502", 404),
    ("internal", "PUT", "/_nginx_error/400", 404),
]


def bad_body_answer(port, method, path, framing, split):
    """Send method path with a bad body (split: the body a moment after
    the headers, in its own segment); return the parsed answer."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
            "Connection: close\r\n").encode()
    hdrs, _, body = framing.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(head + hdrs + b"\r\n\r\n" + (b"" if split else body))
        if split:
            time.sleep(0.05)
            try:
                c.sendall(body)
            except OSError:
                pass        # nginx may have answered and closed already
        out = b""
        try:
            # Until the answer is whole: nginx may linger afterwards,
            # reading what is left of a body that never comes.
            while not answer_is_whole(out, method):
                d = c.recv(65536)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
    return Response(out)


def answer_is_whole(out, method):
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    return method == "HEAD" or (m is not None and len(body) >= int(m[1]))


@t.case
def bad_bodies_on_nginx_answers_are_json(s):
    bad = []
    for server, method, path, own in NGINX_ANSWERS:
        for what, framing, want in BAD_BODIES:
            for split in (False, True):
                r = bad_body_answer(s.ports[server], method, path, framing,
                                    split)
                where = f"{server} {method} {path}, {what}" + \
                    (" (split)" if split else "")
                ctype = r.header("content-type")
                if r.status not in (want, own):
                    bad.append(f"{where}: {r.status}, want {want}")
                elif method == "HEAD":
                    if ctype != "application/json" or r.body:
                        bad.append(f"{where}: {ctype} {r.body[:40]!r}")
                else:
                    try:
                        check_json(r.status, ctype, r.body)
                        check_security_headers(
                            lambda n: r.headers.get(n, []))
                    except AssertionError as e:
                        bad.append(f"{where}: {e}")
    assert not bad, f"{len(bad)} not JSON: " + "; ".join(bad[:6])
    still_answers(s)


@t.case
def chunk_size_cut_at_the_header_buffer_is_json(s):
    """The header buffer (client_header_buffer_size, 1k) ends right after
    a huge chunk size, and the next byte is invalid.  Discarding then
    fails after it recorded that size (1 MB, over client_max_body_size)
    as the body still to come: each error page used to check it and raise
    413 again, until nginx broke the cycle with an HTML 500."""
    for server, method, path, _ in NGINX_ANSWERS:
        head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                "Transfer-Encoding: chunked\r\nX-Pad: ").encode()
        tail = b"\r\n\r\nfffff"
        data = head + b"p" * (1024 - len(head) - len(tail)) + tail
        out = raw(s.ports[server], data + b"g\r\n" + b"x" * 100)
        r = Response(out)
        assert r.status == 400, (server, method, path, out[:200])
        if method == "HEAD":
            assert r.header("content-type") == "application/json"
        else:
            check_json(r.status, r.header("content-type"), r.body)
    still_answers(s)


@t.case
def body_at_limit_reaches_the_pool(s):
    body = b"x" * 16384
    r = Response(raw(s.ports["http"], b"POST / HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 16384\r\n\r\n" + body))
    assert r.status == 502, r.status


@t.case
def slow_headers_are_cut_without_html(s):
    # client_header_timeout 5s: nginx closes (408 in its log, nothing on
    # the wire).  Whatever comes back must not be HTML.
    t0 = time.monotonic()
    out = raw(s.ports["http"], b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=9)
    dt = time.monotonic() - t0
    assert 4.5 <= dt < 8.5, f"closed after {dt:.1f}s"
    if out:
        r = Response(out)
        assert r.status == 408, r.status
        check_json(r.status, r.header("content-type"), r.body)
    still_answers(s)


# --- logs ------------------------------------------------------------------

@t.case
def access_log_is_combined_format(s):
    http_get(s.ports["http"], "/metrics",
             headers={"User-Agent": 'ua "quoted"', "Referer": "http://r/"})
    time.sleep(0.2)
    with open(s.log_path("nginx-access"), encoding="utf-8",
              errors="replace") as f:
        lines = f.read().splitlines()
    assert len(lines) >= 10, f"only {len(lines)} lines"
    bad = [ln for ln in lines if not COMBINED.match(ln)]
    assert not bad, f"not combined: {bad[:3]}"
    assert any('"GET /metrics HTTP/1.1" 404' in ln and '"http://r/"' in ln
               and 'ua \\x22quoted\\x22' in ln for ln in lines), lines[-3:]


@t.case
def error_log_is_in_run_dir(s):
    with open(s.log_path("nginx-error")) as f:
        text = f.read()
    assert "connect() failed (111: Connection refused)" in text, text[-500:]


t.run(setup, teardown)
