#!/usr/bin/env python3
"""test_redis_under_load.py -- Redis stalled (SIGSTOP) or killed and
restarted while client threads keep requesting GET / with their session
cookies: every answer stays within REDIS_TIMEOUT_MS + 100 ms, 503 JSON
with Retry-After only while Redis cannot answer, and service is back with
no window after Redis is (no per-thread backoff): 200 for the first
request sent after Redis answers PING again, and for every request
started 0.5 s after SIGCONT or 0.3 s after the restarted Redis's first
PONG, without restarting anything; a session written before the kill is
still there after (same data directory, AOF).  Black-box: the real
fcgi-app (FCGI_APP_BIN to pick a build) and redis-server on loopback,
ports 23100-23109."""
import signal
import sys
import time

import poollib as P
from tap import Suite

TIMEOUT_MS = 250                       # REDIS_TIMEOUT_MS (its default)
BUDGET_S = (TIMEOUT_MS + 100) / 1000
STALL_S = 3.0
STALL_BACK_S = 0.5                     # all 200 from SIGCONT + this
DOWN_S = 1.0
RESTART_BACK_S = 0.3                   # all 200 from PONG + this
THREADS = 4
t = Suite()


def setup():
    return P.Env()


def new_app(env, port, redis_port, name):
    return env.app(f"127.0.0.1:{port}", redis_port,
                   {"APP_WORKERS": "2", "REDIS_TIMEOUT_MS": str(TIMEOUT_MS),
                    "LOG_LEVEL": "error"}, name=name)


def check_answers(reqs):
    """Every request answered (no exception), 200 or 503, within the
    budget; every 503 is the documented JSON with Retry-After: 1."""
    errs = [q for q in reqs if q.resp is None]
    assert not errs, f"{len(errs)} requests got no answer: {errs[:3]}"
    odd = [q for q in reqs if q.status not in (200, 503)]
    assert not odd, f"statuses other than 200/503: {odd[:3]}"
    slow = [q for q in reqs if q.t1 - q.t0 > BUDGET_S]
    assert not slow, (f"{len(slow)} answers over {BUDGET_S * 1000:.0f} ms: "
                      f"{slow[:3]}")
    for q in reqs:
        if q.status == 503:
            r = q.resp
            assert r.headers.get("retry-after") == "1", (q, r.headers)
            assert r.headers.get("content-type") == "application/json", q
            assert "error" in P.json_body(r), (q, r.body)


def summary(reqs, marks):
    """One line per 100 ms around the marks, for the log: 200s and 503s."""
    t0 = min(marks.values()) - 0.5
    lines = []
    for k in range(int((max(marks.values()) + 1.5 - t0) * 10)):
        a, b = t0 + k / 10, t0 + (k + 1) / 10
        sl = [q for q in reqs if a <= q.t0 < b]
        tags = [m for m, v in marks.items() if a <= v < b]
        lines.append(f"# {a - marks['start']:+6.1f}s "
                     f"{sum(q.status == 200 for q in sl):3d} ok "
                     f"{sum(q.status == 503 for q in sl):3d} 503 "
                     + " ".join(tags))
    print("\n".join(lines), file=sys.stderr)


@t.case
def redis_sigstop_3s_under_load_bounded_503s_then_all_200(env):
    r = env.redis(23100)
    a = new_app(env, 23101, 23100, "stop")
    pids = (a.pid, a.workers())
    kept = P.cookie_of(a.get("/"))
    load = P.Load(a, nthreads=THREADS, uri="/", keep=True, cookies=True,
                  pause=0.002)
    try:
        with load:
            time.sleep(1.0)
            t_stop0 = time.monotonic()
            r.signal(signal.SIGSTOP)
            t_stop = time.monotonic()
            try:
                time.sleep(STALL_S)
            finally:
                r.signal(signal.SIGCONT)
            t_cont = time.monotonic()
            P.wait_for("PONG after SIGCONT",
                       lambda: r.cmd("PING") == "PONG",
                       2,
                       0.005)
            t_pong = time.monotonic()
            first = a.get("/", cookie=kept)      # the first request after
            time.sleep(STALL_BACK_S + 1.5)
    finally:
        r.signal(signal.SIGCONT)
    reqs = load.snapshot()
    summary(reqs, {"start": t_stop, "SIGSTOP": t_stop, "SIGCONT": t_cont,
                   "PONG": t_pong})
    assert first.status == 200, \
        f"first request after Redis answered PING again: {first}"
    check_answers(reqs)
    before = [q for q in reqs if q.t1 < t_stop0]
    assert before and all(q.status == 200 for q in before), \
        [q for q in before if q.status != 200][:3]
    # (10 ms: the stop takes effect a moment after kill() returns)
    stalled = [q for q in reqs if q.t0 > t_stop + 0.01 and q.t1 < t_cont]
    assert len(stalled) >= 10, f"only {len(stalled)} requests while stopped"
    assert all(q.status == 503 for q in stalled), \
        [q for q in stalled if q.status != 503][:3]
    back = [q for q in reqs if q.t0 > t_cont + STALL_BACK_S]
    assert len(back) >= 20, f"only {len(back)} requests after SIGCONT"
    late = [q for q in back if q.status != 200]
    assert not late, (f"{len(late)} of {len(back)} requests started "
                      f">= {STALL_BACK_S}s after SIGCONT failed, the last "
                      f"{late[-1].t0 - t_cont:.2f}s after it: {late[:3]}")
    assert (a.pid, a.workers()) == pids, "something restarted"
    # the sessions went on: each thread's cookie still names its session
    for cookie in load.cookies:
        s = P.json_body(a.get("/session", cookie=cookie))
        assert s["views"] >= 2, s


@t.case
def redis_killed_and_restarted_under_load_503_only_while_down(env):
    r = env.redis(23102, aof=True)
    a = new_app(env, 23103, 23102, "kill")
    pids = (a.pid, a.workers())
    kept = P.cookie_of(a.get("/"))
    assert a.get("/", cookie=kept).status == 200
    views0 = P.json_body(a.get("/session", cookie=kept))["views"]
    m0 = a.metrics()
    load = P.Load(a, nthreads=THREADS, uri="/", keep=True, cookies=True,
                  pause=0.002)
    with load:
        time.sleep(1.0)
        t_kill0 = time.monotonic()
        r.kill()                              # SIGKILL, and reaped
        t_kill = time.monotonic()
        time.sleep(DOWN_S)
        t_start = time.monotonic()
        r.start()                             # returns at its first PONG
        t_up = time.monotonic()
        first = a.get("/", cookie=kept)       # the first request after
        time.sleep(RESTART_BACK_S + 1.5)
    reqs = load.snapshot()
    summary(reqs, {"start": t_kill, "SIGKILL": t_kill, "restart": t_start,
                   "PONG": t_up})
    assert first.status == 200, \
        f"first request after the restarted Redis answered PING: {first}"
    check_answers(reqs)
    before = [q for q in reqs if q.t1 < t_kill0]
    assert before and all(q.status == 200 for q in before), \
        [q for q in before if q.status != 200][:3]
    down = [q for q in reqs if q.t0 > t_kill and q.t1 < t_start]
    assert len(down) >= 10, f"only {len(down)} requests while down"
    assert all(q.status == 503 for q in down), \
        [q for q in down if q.status != 503][:3]
    outside = [q for q in reqs if q.status == 503
               and (q.t1 < t_kill0 or q.t0 > t_up + RESTART_BACK_S)]
    assert not outside, (f"{len(outside)} 503s outside the down time, the "
                         f"last {outside[-1].t0 - t_up:.2f}s after PONG: "
                         f"{outside[:3]}")
    back = [q for q in reqs if q.t0 > t_up + RESTART_BACK_S]
    assert len(back) >= 20, f"only {len(back)} requests after the restart"
    # same data directory and AOF: the session outlived the restart
    s = P.json_body(a.get("/session", cookie=kept))
    assert s["views"] == views0 + 1, (views0, s)
    assert (a.pid, a.workers()) == pids, "something restarted"
    m1 = a.metrics()
    assert (P.metric(m1, "fcgi_app_redis_reconnects_total")
            > P.metric(m0, "fcgi_app_redis_reconnects_total")), "no reconnect"


t.run(setup, lambda env: env and env.close())
