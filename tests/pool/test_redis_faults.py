#!/usr/bin/env python3
"""test_redis_faults.py -- fcgi-app when Redis is stalled (SIGSTOP, DEBUG
SLEEP), killed and restarted, or refuses our password: answers stay
bounded (503 JSON + Retry-After within REDIS_TIMEOUT_MS + 100 ms) and
service resumes without restarting anything, with the very first request
after Redis is back (no backoff window); a connection that died while
idle is retried, not answered with a 503.  Ports 23040-23049."""
import signal
import time

import poollib as P
from tap import Suite

REDIS_PORT = 23040
APP_PORT = 23041
BUDGET_S = 0.250 + 0.100      # REDIS_TIMEOUT_MS (default) + 100 ms
t = Suite()


def start_app(env):
    env.a = env.app(f"127.0.0.1:{APP_PORT}", REDIS_PORT, {"APP_WORKERS": "2"})


def setup():
    return P.setup(REDIS_PORT, start_app)


def timed(app, uri, cookie=None):
    t0 = time.monotonic()
    r = app.get(uri, cookie=cookie, timeout=5)
    return r, time.monotonic() - t0


def assert_503(r, dt, what):
    assert r.status == 503, f"{what}: {r}"
    assert dt <= BUDGET_S, f"{what}: took {dt * 1000:.0f} ms"
    assert r.headers.get("retry-after") == "1", r.headers
    assert r.headers["content-type"] == "application/json"
    assert "error" in P.json_body(r), r.body


def assert_recovers(env, cookie):
    """Redis answers again (the caller has seen it): the very first
    request succeeds, and so does every one after it.  A worker process
    reconnects when a request needs Redis and there is no backoff window
    in which it keeps failing fast.  GET / (a visit: GET + SET) and GET
    /session (which names the worker's pid) alternate, the first being a
    visit, until every worker has answered at least once (up to 40
    requests), so none is left untested."""
    assert env.r.cmd("PING") == "PONG"
    pids = set()
    for i in range(40):
        uri = "/session" if i % 2 else "/"
        r, dt = timed(env.a, uri, cookie=cookie)
        assert r.status == 200, (f"request #{i} ({uri}) after Redis came "
                                 f"back: {r} ({dt * 1000:.0f} ms)")
        if uri == "/session":
            pids.add(P.json_body(r)["pid"])
        if i >= 11 and pids >= set(env.a.workers()):
            break


@t.case
def redis_sigstop_every_request_bounded_then_recovers(env):
    c = P.cookie_of(env.a.get("/"))
    pids = (env.a.pid, env.a.workers())
    env.r.signal(signal.SIGSTOP)
    try:
        for i in range(16):
            uri = ["/", "/session", "/readyz"][i % 3]
            r, dt = timed(env.a, uri, cookie=c)
            assert_503(r, dt, f"{uri} #{i}")
        r, dt = timed(env.a, "/healthz")
        assert r.status == 200 and dt < 0.1, ("healthz touched Redis", r, dt)
    finally:
        env.r.signal(signal.SIGCONT)
    assert_recovers(env, c)
    s = P.json_body(env.a.get("/session", cookie=c))
    assert s["views"] >= 2, s              # same session, kept its data
    assert (env.a.pid, env.a.workers()) == pids, "something restarted"
    m = env.a.metrics()
    assert P.metric(m, "fcgi_app_redis_errors_total") >= 1, m
    assert P.metric(m, "fcgi_app_requests_total", route="root",
                    status="503") >= 1


@t.case
def redis_debug_sleep_bounded(env):
    c = P.cookie_of(env.a.get("/"))
    import threading
    th = threading.Thread(
        target=lambda: env.r.cmd("DEBUG", "SLEEP", "2", timeout=5))
    th.start()
    try:
        time.sleep(0.1)
        for i in range(6):
            r, dt = timed(env.a, "/", cookie=c)
            assert_503(r, dt, f"/ #{i}")
    finally:
        th.join(10)
    assert_recovers(env, c)


@t.case
def redis_killed_and_restarted_recovers(env):
    c = P.cookie_of(env.a.get("/"))
    m0 = env.a.metrics()
    pids = (env.a.pid, env.a.workers())
    env.r.kill()
    for i in range(8):
        r, dt = timed(env.a, "/", cookie=c)
        assert_503(r, dt, f"/ #{i} with Redis dead")
    env.r.start()
    # start() returns at the restarted Redis's first PONG: from there on
    # every request succeeds, the first one included (no backoff window)
    assert_recovers(env, c)
    # the restarted Redis is empty (no persistence): the old cookie names
    # an unknown id now, so it must get a fresh session, not an error
    r = env.a.get("/", cookie=c)
    assert r.status == 200 and P.cookie_of(r) is not None, r
    m1 = env.a.metrics()
    assert (P.metric(m1, "fcgi_app_redis_reconnects_total")
            > P.metric(m0, "fcgi_app_redis_reconnects_total")), "no reconnect"
    assert (env.a.pid, env.a.workers()) == pids, "something restarted"


@t.case
def idle_connection_survives_redis_restart(env):
    # One worker process, one Redis connection (Redis counts 1 client of
    # the app, however many requests it served; APP_THREADS is ignored).
    # Redis restarts while no request is in flight, so that connection is
    # dead but the worker does not know it yet: the first request must
    # reconnect and retry, not answer 503.
    r = env.redis(23046)             # its own, so only this app counts
    a = env.app("127.0.0.1:23045", 23046,
                {"APP_WORKERS": "1"}, name="idle")

    def app_clients():
        listing = r.cmd("CLIENT", "LIST")
        return [line for line in listing.split("\n")
                if line and "cmd=client" not in line]
    with a.client(keep=True) as c:
        for _ in range(12):
            assert c.request("GET", "/").status == 200
    assert len(app_clients()) == 1, app_clients()
    m0 = a.metrics()
    r.kill()
    r.start()
    with a.client(keep=True) as c:
        statuses = [c.request("GET", "/").status for _ in range(12)]
    assert statuses == [200] * 12, statuses
    assert len(app_clients()) == 1, app_clients()
    m1 = a.metrics()
    assert (P.metric(m1, "fcgi_app_redis_reconnects_total")
            - P.metric(m0, "fcgi_app_redis_reconnects_total")) == 1, m1


@t.case
def server_closing_at_auth_is_not_retried(env):
    # Something accepts and closes at once (Redis at maxclients closes
    # after its error, a proxy with no backend closes without a word): the
    # first command on a new connection dies with EOF.  Only a connection
    # that died while idle is retried, so each request costs one connect
    # at most, and answers 503 within the budget.
    import socket
    import threading
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 23047))
    srv.listen(64)
    accepted = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            accepted.append(1)
            c.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        a = env.app("127.0.0.1:23048", 23047, {"APP_WORKERS": "1"},
                    name="closer")
        n = len(accepted)
        for i in range(6):
            r, dt = timed(a, "/")
            assert_503(r, dt, f"/ #{i} against a closing server")
            time.sleep(0.05)
        assert len(accepted) - n <= 6, len(accepted) - n
        # the log is written once per loop turn, just after the answers
        P.wait_for("a redis line", lambda: "redis" in a.output(), 1)
    finally:
        srv.close()


@t.case
def wrong_password_clear_error_bounded_503(env):
    a = env.app("127.0.0.1:23042", REDIS_PORT,
                {"APP_WORKERS": "1", "REDIS_PASSWORD": "wrong"},
                name="wrongpw")
    for i in range(6):
        r, dt = timed(a, "/")
        assert_503(r, dt, f"/ #{i} with a wrong password")
    assert a.get("/healthz").status == 200
    assert a.get("/readyz").status == 503
    out = a.output()
    assert "AUTH failed" in out and ("WRONGPASS" in out
                                     or "invalid" in out), out[-1500:]
    assert "wrong" not in out.replace("wrongpw", ""), "password logged"


@t.case
def unreachable_redis_connect_bounded(env):
    # nothing listens on this port: connection refused, fast 503s
    a = env.app("127.0.0.1:23043", 23049, {"APP_WORKERS": "1"},
                name="noredis")
    for i in range(10):
        r, dt = timed(a, "/")
        assert_503(r, dt, f"/ #{i} with no Redis")
    assert a.get("/healthz").status == 200


@t.case
def acl_user_and_database_are_used(env):
    # REDIS_USERNAME set: AUTH <user> <pass>; REDIS_DB: SELECT before use
    env.r.cmd("ACL", "SETUSER", "appuser", "on", ">app-pw", "~sess:*",
              "+@all")
    a = env.app("127.0.0.1:23044", REDIS_PORT,
                {"APP_WORKERS": "1", "REDIS_USERNAME": "appuser",
                 "REDIS_PASSWORD": "app-pw", "REDIS_DB": "3"}, name="acl")
    r = a.get("/")
    assert r.status == 200, (r, a.output()[-800:])
    key = "sess:" + P.sid_of(P.cookie_of(r))
    assert env.r.cmd("EXISTS", key) == 0, "written to db 0"
    with P.socket.create_connection(("127.0.0.1", REDIS_PORT), 2) as s:
        s.sendall(P.resp.encode(["AUTH", P.REDIS_PASSWORD])
                  + P.resp.encode(["SELECT", "3"])
                  + P.resp.encode(["EXISTS", key]))
        f = s.makefile("rb")
        P.resp.read(f), P.resp.read(f)
        assert P.resp.read(f) == 1, "not written to db 3"
    # the same user without the key pattern: commands refused -> 503
    env.r.cmd("ACL", "SETUSER", "appuser", "resetkeys", "~other:*")
    try:
        r, dt = timed(a, "/")
        assert_503(r, dt, "/ with keys denied by ACL")
        P.wait_for("the ACL refusal in the log",
                   lambda: "NOPERM" in a.output()
                     or "no permissions" in a.output(),
                   1)
    finally:
        env.r.cmd("ACL", "DELUSER", "appuser")


t.run(setup, lambda env: env and env.close())
