#!/usr/bin/env python3
"""test_routes.py -- routes, statuses, sessions and metrics of fcgi-app,
spoken to directly over FastCGI (tests/lib/fcgi_client.py), with a real
redis-server.  Ports 23010-23019."""
import os
import time

import poollib as P
from tap import Suite

REDIS_PORT = 23010
APP_PORT = 23011
t = Suite()


def start_app(env):
    env.logdir = os.path.join(env.tmp, "logs")
    os.mkdir(env.logdir)
    env.a = env.app(f"127.0.0.1:{APP_PORT}", REDIS_PORT, {
        "APP_BODY_LIMIT": "100", "LOG_DIR": env.logdir,
        "SESSION_SECRET_PREVIOUS": "old-secret-0123456789abcdef-01234"})


def setup():
    return P.setup(REDIS_PORT, start_app)


@t.case
def root_is_json_ok_with_session_cookie(env):
    r = env.a.get("/")
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json", r.headers
    assert r.body == b'{"status":"ok"}', r.body
    assert r.headers["content-length"] == str(len(r.body))
    assert r.headers.get("cache-control") == "no-store", r.headers
    sc = r.headers["set-cookie"]
    assert sc.startswith("connect.sid=s%3A"), sc
    for attr in ("Path=/", "HttpOnly", "SameSite=Lax", "Expires="):
        assert attr in sc, sc
    assert "Secure" not in sc, sc


@t.case
def session_reused_and_counts_visits(env):
    c = P.cookie_of(env.a.get("/"))
    sid = P.sid_of(c)
    for _ in range(2):
        r = env.a.get("/", cookie=c)
        assert r.status == 200, r
        assert P.sid_of(P.cookie_of(r)) == sid, "session not reused"
    s = P.json_body(env.a.get("/session", cookie=c))
    assert s["views"] == 3, s
    assert s["worker"] == "pooltest", s
    assert isinstance(s["pid"], int) and s["pid"] in env.a.workers(), s
    assert s["createdAt"].endswith("Z") and s["expires"].endswith("Z"), s
    assert sid not in env.a.get("/session", cookie=c).body.decode(), \
        "/session leaks the session id"


@t.case
def session_document_is_connect_redis_shaped(env):
    c = P.cookie_of(env.a.get("/"))
    doc = P.json.loads(env.r.cmd("GET", "sess:" + P.sid_of(c)))
    ck = doc["cookie"]
    assert ck["originalMaxAge"] == 2592000 * 1000, ck
    assert ck["httpOnly"] is True and ck["path"] == "/", ck
    assert doc["views"] == 1, doc


@t.case
def session_earns_long_ttl_only_by_a_later_visit(env):
    # SESSION_PROMOTE_AFTER_S (60 s here): a cookie replayed at once keeps
    # the short TTL however often; a visit that late enough promotes it
    c = P.cookie_of(env.a.get("/"))
    key = "sess:" + P.sid_of(c)
    ttl1 = env.r.cmd("PTTL", key)
    assert 0 < ttl1 <= 600 * 1000, ttl1
    for _ in range(5):
        assert env.a.get("/", cookie=c).status == 200
    ttl2 = env.r.cmd("PTTL", key)
    assert 0 < ttl2 <= 600 * 1000, f"promoted by replays at once: {ttl2}"
    a = env.app("127.0.0.1:23016", REDIS_PORT,
                {"SESSION_PROMOTE_AFTER_S": "1"}, name="promote")
    c = P.cookie_of(a.get("/"))
    key = "sess:" + P.sid_of(c)
    a.get("/", cookie=c)
    assert 0 < env.r.cmd("PTTL", key) <= 600 * 1000
    time.sleep(1.1)
    a.get("/", cookie=c)
    ttl3 = env.r.cmd("PTTL", key)
    assert 2592000 * 1000 - 60000 < ttl3 <= 2592000 * 1000, ttl3


def assert_fresh(env, cookie_header, not_sid=None):
    r = env.a.get("/", cookie=cookie_header)
    assert r.status == 200, r
    new = P.cookie_of(r)
    assert new, "no Set-Cookie for a fresh session"
    sid = P.sid_of(new)
    if not_sid is not None:
        assert sid != not_sid, "adopted a session id it should not"
    s = P.json_body(env.a.get("/session", cookie=new))
    assert s["views"] == 1, s
    return sid


@t.case
def bad_signature_gets_fresh_session(env):
    c = P.cookie_of(env.a.get("/"))
    sid = P.sid_of(c)
    env.a.get("/", cookie=c)
    tampered = c[:-3] + ("AAA" if not c.endswith("AAA") else "BBB")
    assert_fresh(env, tampered, not_sid=sid)
    # and the real one still counts on its own
    assert P.json_body(env.a.get("/session", cookie=c))["views"] == 2


@t.case
def unknown_id_gets_fresh_session(env):
    sid = "unknownIdUnknownIdUnknownId01234"
    assert env.r.cmd("EXISTS", "sess:" + sid) == 0
    assert_fresh(env, P.sign_cookie(sid), not_sid=sid)
    assert env.r.cmd("EXISTS", "sess:" + sid) == 0, "fixation: stored it"


@t.case
def garbage_cookies_get_fresh_sessions(env):
    for g in ["connect.sid=", "connect.sid=garbage", "connect.sid=s%3A",
              "connect.sid=s%3Aabc", "connect.sid=%zz%", "connect.sid=s:.",
              "connect.sid=s%3A" + "A" * 5000 + ".sig",
              "=;;;=connect.sid", "connect.sid=s%3A%00x.y",
              "connect.sid=\x7f\x01"]:
        assert_fresh(env, g)


@t.case
def repeated_cookie_first_one_wins(env):
    good = P.cookie_of(env.a.get("/"))
    sid = P.sid_of(good)
    # Express takes the FIRST; a bad first one means a fresh session
    assert_fresh(env, "connect.sid=bogus; " + good, not_sid=sid)
    r = env.a.get("/", cookie=good + "; connect.sid=bogus")
    assert P.sid_of(P.cookie_of(r)) == sid, "first (good) cookie ignored"


@t.case
def previous_secret_verifies_and_is_resigned(env):
    c = P.cookie_of(env.a.get("/"))
    sid = P.sid_of(c)
    old = P.sign_cookie(sid, secret="old-secret-0123456789abcdef-01234")
    r = env.a.get("/", cookie=old)
    new = P.cookie_of(r)
    assert P.sid_of(new) == sid, "previous secret not accepted"
    assert new == P.sign_cookie(sid), "not re-signed with the current one"


@t.case
def hello_escapes_name(env):
    r = env.a.get("/hello/a%22b%5C%3Cc%3E")
    assert r.status == 200, r
    assert P.json_body(r) == {"hello": 'a"b\\<c>'}, r.body
    r = env.a.get("/hello/w%C3%B6rld")
    assert P.json_body(r) == {"hello": "w\u00f6rld"}, r.body


@t.case
def bad_requests_are_400_json(env):
    for uri in ["/hello/%zz", "/hello/%00", "/hello/%C3%28"]:
        r = env.a.get(uri)
        assert r.status == 400, (uri, r)
        assert r.headers["content-type"] == "application/json"
        assert "error" in P.json_body(r)


@t.case
def unknown_route_404_json(env):
    for uri in ["/nope", "/hello", "/session/x", "/metrics"]:
        r = env.a.get(uri)
        assert r.status == 404, (uri, r)
        assert P.json_body(r) == {"error": "not found"}, r.body
        assert r.headers["content-type"] == "application/json"


@t.case
def other_method_405_with_allow(env):
    for m in ["POST", "PUT", "DELETE"]:
        r = env.a.get("/", method=m)
        assert r.status == 405, r
        assert r.headers["allow"] == "GET, HEAD", r.headers
        assert "error" in P.json_body(r)


@t.case
def head_answers_headers_only(env):
    r = env.a.get("/healthz", method="HEAD")
    assert r.status == 200 and r.body == b"", r
    assert r.headers["content-length"] == "15", r.headers


@t.case
def body_over_limit_413_and_bad_length_400(env):
    r = env.a.get("/", method="GET", body=b"x" * 50)
    assert r.status == 200, r
    r = env.a.get("/", body=b"x" * 101)
    assert r.status == 413, r
    assert "error" in P.json_body(r)
    r = env.a.get("/", params={"CONTENT_LENGTH": "12abc"})
    assert r.status == 400, r


@t.case
def healthz_and_readyz(env):
    assert P.json_body(env.a.get("/healthz")) == {"status": "ok"}
    r = env.a.get("/readyz")
    assert r.status == 200, r
    assert env.r.cmd("EXISTS", "sess:readyz:pooltest") == 1


@t.case
def metrics_only_internal_and_well_formed(env):
    assert env.a.get("/metrics", params={"APP_INTERNAL": "0"}).status == 404
    m1 = env.a.metrics()
    n1 = P.metric(m1, "fcgi_app_requests_total", route="hello",
                  status="200")
    for _ in range(3):
        env.a.get("/hello/x")
    env.a.get("/nope")
    m2 = env.a.metrics()
    assert P.metric(m2, "fcgi_app_requests_total", route="hello",
                    status="200") == n1 + 3, "hello count did not grow by 3"
    assert P.metric(m2, "fcgi_app_requests_total", route="not_found",
                    status="404") >= 1
    assert P.metric(m2, "fcgi_app_workers_alive") == 2, m2
    assert P.metric(m2, "fcgi_app_requests_in_flight") >= 1   # this scrape
    cnt = P.metric(m2, "fcgi_app_request_duration_seconds_count")
    inf = P.metric(m2, "fcgi_app_request_duration_seconds_bucket", le="+Inf")
    assert cnt == inf and cnt >= n1 + 4, (cnt, inf)
    prev = 0
    for le in ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
               "0.05", "0.1", "0.25", "0.5", "1", "+Inf"]:
        v = P.metric(m2, "fcgi_app_request_duration_seconds_bucket", le=le)
        assert v >= prev, f"bucket {le} not cumulative"
        prev = v
    for reason in ("crash", "recycle", "reload"):
        assert ("fcgi_app_worker_restarts_total",
                frozenset({("reason", reason)})) in m2
    assert ("fcgi_app_redis_errors_total", frozenset()) in m2
    assert ("fcgi_app_redis_reconnects_total", frozenset()) in m2


@t.case
def access_log_combined_format(env):
    env.a.get("/hello/log", headers={"User-Agent": 'ua "quoted"\x01',
                                     "Referer": "http://r/"})
    path = os.path.join(env.logdir, "pooltest.log")
    line = P.wait_for("access line",
                      lambda: [ln for ln in open(path).read().splitlines()
                                 if "/hello/log" in ln],
                      2)[-1]
    pat = (r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d '
           r'\+0000\] "GET /hello/log HTTP/1\.1" 200 \d+ "http://r/" '
           r'"ua \\x22quoted\\x22\\x01"$')
    assert P.re.match(pat, line), line


@t.case
def idle_kept_connections_do_not_hold_the_loop(env):
    # 2 workers, one loop each; hold 40 kept-open idle connections, each
    # after one request, then new requests still work.
    held = []
    try:
        for _ in range(40):
            c = env.a.client(keep=True)
            assert c.request("GET", "/healthz").status == 200
            held.append(c)
        t0 = time.monotonic()
        for _ in range(10):
            assert env.a.get("/healthz", timeout=2).status == 200
        assert time.monotonic() - t0 < 2, "requests stalled"
        # and the kept ones still serve a second request
        for c in held[:5]:
            assert c.request("GET", "/hello/again").status == 200
    finally:
        for c in held:
            c.close()


@t.case
def keep_conn_serves_many_requests(env):
    with env.a.client(keep=True) as c:
        for i in range(50):
            r = c.request("GET", f"/hello/n{i}")
            assert P.json_body(r) == {"hello": f"n{i}"}, r
    with env.a.client(keep=False) as c:
        assert c.request("GET", "/healthz").status == 200
        assert c.at_eof(2), "connection without KEEP_CONN left open"


@t.case
def garbage_and_truncated_connections_are_closed_not_fatal(env):
    workers = env.a.workers()
    F = P.fcgi_client
    for junk in [b"GET / HTTP/1.0\r\n\r\n",          # HTTP to FastCGI
                 b"\x01\x01\x00",                   # half a header
                 F.begin_record(),                 # BEGIN, then EOF
                 F.begin_record() + F.record(F.PARAMS, b"\x05\x80ab")]:
        c = env.a.client()
        c.send_raw(junk)
        c.sock.shutdown(P.socket.SHUT_WR)
        t0 = time.monotonic()
        data, eof = c.drain_to_eof(3)
        assert eof, f"not closed after {junk!r}"
        assert time.monotonic() - t0 < 1.0, f"slow close after {junk!r}"
        # libfcgi takes EOF inside PARAMS as their end; such a request has
        # no REQUEST_METHOD and must be refused, not served as "GET /"
        assert b"Status: 400" in data or data == b"", (junk, data[:200])
        c.close()
    # connect and close without a byte: no thread ever sees it
    for _ in range(20):
        env.a.client().close()
    assert env.a.workers() == workers, "a worker died"
    for _ in range(10):
        assert env.a.get("/healthz", timeout=2).status == 200


@t.case
def slow_request_heads_do_not_stall_the_loop(env):
    # one worker, one event loop: stalled senders must not hold it
    a = env.app("127.0.0.1:23012", REDIS_PORT, {"APP_WORKERS": "1"},
                name="oneloop")
    F = P.fcgi_client
    params = F.encode_params(F.default_params("GET", "/hello/slow"))
    whole = (F.begin_record() + F.record(F.PARAMS, params)
             + F.record(F.PARAMS, b"") + F.record(F.STDIN, b""))
    cut = 8 + 8 + len(params) // 2          # BEGIN + half the PARAMS
    slow = [a.client() for _ in range(3)]
    try:
        for c in slow:
            c.send_raw(whole[:cut])
        time.sleep(0.2)
        t0 = time.monotonic()
        for _ in range(5):
            assert a.get("/healthz", timeout=2).status == 200
        assert time.monotonic() - t0 < 1.0, "stalled heads held the loop"
        slow[0].send_raw(whole[cut:])        # the rest arrives: served
        r = slow[0].read_response()
        assert r.status == 200 and P.json_body(r) == {"hello": "slow"}, r
        # the others never finish their head: closed after about 5 s
        t1 = time.monotonic()
        _, eof = slow[1].drain_to_eof(8)
        waited = time.monotonic() - t1
        assert eof, "stalled head never closed"
        assert 3.5 < waited + 0.2 < 7.0, f"closed after {waited:.1f}s"
        # the warning is written with the loop turn's other lines
        P.wait_for("the head-deadline warning in the log",
                   lambda: "request head incomplete" in a.output(),
                   1)
    finally:
        for c in slow:
            c.close()
    assert a.get("/healthz").status == 200


@t.case
def bodies_never_poison_a_kept_connection(env):
    # libfcgi neither drains FCGI_STDIN at the end of a request nor skips
    # a leftover record of the same request id: what the app leaves unread
    # breaks the NEXT request on a connection nginx keeps.
    a = env.app("127.0.0.1:23013", REDIS_PORT, {"APP_WORKERS": "1"},
                name="bodies")
    with a.client(keep=True) as c:
        for body, method, uri, want in [
                (b"x" * 20000, "POST", "/", 405),          # > one read
                (b"", "GET", "/hello/a", 200),
                (b"y" * 50, "GET", "/hello/b", 200),
                (b"w" * 60000, "PUT", "/session", 405),    # < 64 KiB frame
                (b"", "GET", "/hello/c", 200)]:
            r = c.request(method, uri, body=body)
            assert r.status == want, (method, uri, len(body), r)
    # a body past the 64 KiB the worker frames is answered from its head
    # and the connection closed after the answer (never left unread on a
    # kept connection, never read while the loop waits)
    with a.client(keep=True) as c:
        r = c.request("PUT", "/session", body=b"z" * 70000)
        assert r.status == 405, r
        assert c.at_eof(2), "connection kept after an unread body"
    with a.client(keep=True) as c:
        assert c.request("GET", "/hello/d").status == 200
    # the end-of-body record arriving late, in its own segment: without a
    # body, and after a body of exactly 4 x 4096 bytes (a whole number of
    # reads, so nothing makes libfcgi look further)
    F = P.fcgi_client
    for body in [b"", b"q" * 16384]:
        with a.client(keep=True) as c:
            extra = {"CONTENT_LENGTH": str(len(body))} if body else {}
            p = F.default_params("GET", "/hello/late", extra)
            c.send_raw(F.begin_record(keep=True)
                       + F.stream_records(F.PARAMS, F.encode_params(p))
                       + (F.record(F.STDIN, body[:8192])
                          + F.record(F.STDIN, body[8192:]) if body else b""))
            time.sleep(0.3)
            c.send_raw(F.record(F.STDIN, b""))
            r = c.read_response()
            assert P.json_body(r) == {"hello": "late"}, (len(body), r)
            r = c.request("GET", "/hello/next")
            assert r.status == 200, (len(body), r)


t.run(setup, lambda env: env and env.close())
