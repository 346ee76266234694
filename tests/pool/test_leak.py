#!/usr/bin/env python3
"""test_leak.py -- 10,000 requests with distinct bad cookies (bad
signatures, unknown ids, garbage) leave the worker's RSS and open file
descriptors flat (/proc/<pid>/status, /proc/<pid>/fd).  One worker so
every request lands on the process we measure.  Ports 23060-23069."""
import os
import sys
import threading

import poollib as P
from tap import Skip, Suite

REDIS_PORT = 23060
APP_PORT = 23061
TOTAL = 10000
WARMUP = 2000
CLIENTS = 4
t = Suite()


def start_app(env):
    env.a = env.app(f"127.0.0.1:{APP_PORT}", REDIS_PORT,
                    {"APP_WORKERS": "1", "LOG_LEVEL": "error"})


def setup():
    return P.setup(REDIS_PORT, start_app)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def bad_cookie(i):
    kind = i % 4
    sid = f"leak{i:08d}" + "x" * 20
    if kind == 0:                       # well-formed, wrong signature
        return P.sign_cookie(sid, secret="not-the-secret")
    if kind == 1:                       # correctly signed, unknown id
        return P.sign_cookie(sid)
    if kind == 2:                       # garbage
        return f"connect.sid=%zz{i}%"
    return f"connect.sid=s%3A{sid}; other={i}"   # no signature


def hammer(env, start, count):
    errors = []

    def run(k):
        # client k: half its requests on one kept connection, half on
        # fresh connections (exercises accept and close paths too)
        c = env.a.client(keep=True)
        try:
            for j in range(start + k, start + count, CLIENTS):
                if j % 2:
                    r = c.request("GET", "/",
                                  headers={"Cookie": bad_cookie(j)})
                else:
                    r = env.a.get("/", cookie=bad_cookie(j))
                if r.status != 200 or P.cookie_of(r) is None:
                    errors.append((j, r))
        except Exception as e:
            errors.append((k, e))
        finally:
            c.close()

    ths = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(300)
    assert not errors, errors[:3]


@t.case
def bad_cookies_leave_fds_flat(env):
    (pid,) = env.a.workers()
    hammer(env, 0, WARMUP)
    rss0, fd0 = rss_kb(pid), nfds(pid)
    hammer(env, WARMUP, TOTAL - WARMUP)
    P.wait_for("fds back to baseline", lambda: nfds(pid) <= fd0, 3)
    rss1, fd1 = rss_kb(pid), nfds(pid)
    print(f"# worker {pid}: rss {rss0} -> {rss1} kB, fds {fd0} -> {fd1}",
          file=sys.stderr)
    assert env.a.workers() == [pid], "the worker was replaced mid-test"
    assert fd1 <= fd0, f"fds grew {fd0} -> {fd1}"
    env.rss = (rss0, rss1)
    served = P.metric(env.a.metrics(), "fcgi_app_requests_total",
                      route="root", status="200")
    assert served == TOTAL, f"served {served} of {TOTAL}"
    # every bad cookie got a fresh session, none adopted a foreign id
    assert env.r.cmd("EXISTS", "sess:leak00000001" + "x" * 20) == 0


@t.case
def bad_cookies_leave_rss_flat(env):
    if not hasattr(env, "rss"):
        raise AssertionError("the fds case did not run")
    with open(P.APP_BIN, "rb") as f:
        if b"__asan_init" in f.read():
            # ASan's quarantine keeps freed memory by design (256 MB)
            raise Skip("RSS is not meaningful under AddressSanitizer")
    rss0, rss1 = env.rss
    # 8000 more requests; a leak of even 100 bytes each would be +780 kB
    assert rss1 - rss0 < 512, f"RSS grew {rss0} -> {rss1} kB"


t.run(setup, lambda env: env and env.close())
