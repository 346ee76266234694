#!/usr/bin/env python3
"""test_warn_rate.py -- during a Redis outage the app's log gets about one
warning line a second per worker, not one per 503, and the lines account
for every 503: the first occurrence is logged as it happens, repeats of
the same text are counted, and each count is logged as "(N more like it
in the last 1 s, not logged)" when its second is over, also when the
warnings stop (the last count used to be lost until another warning came)
and when the app stops mid-outage.  Likewise the REDIS_WAIT_REPLICAS
shortfall warning (a Redis with no replica: every write is one), whose
text used to carry running counts, so that no two were alike and each
was logged.  Real redis-server, killed for the outage; real fcgi-app
writing LOG_DIR/<host>.log.  Ports 23200-23209."""
import os
import re
import signal
import sys
import threading
import time

import poollib as P
from tap import Suite

REDIS_PORT = 23200
APP_PORT = 23201
APP2_PORT = 23202
APP3_PORT = 23203
WORKERS = 2
WINDOW_S = 1.0                 # HANDLER_WARN_MS in fcgi-app/src/handler.c
WARN = re.compile(r" warn \[(\d+)\] handler: (503|WAIT): (.*)$")
# A count line.  "(and N more like it, not logged)" is the previous
# build's form, read too so that the case shows what it lost.
MORE = re.compile(r"^(.*) \((?:and )?(\d+) more like it"
                  r"(?: in the last 1 s)?, not logged\)$")
TIMES = re.compile(r"^(.*) \((\d+) times\)$")
t = Suite()


def logdir(env, name):
    d = os.path.join(env.tmp, name)
    os.makedirs(d, exist_ok=True)
    return d


def start_app(env, port, name, extra=None):
    d = logdir(env, name)
    app = env.app(f"127.0.0.1:{port}", REDIS_PORT,
                  dict({"APP_WORKERS": str(WORKERS), "LOG_DIR": d,
                        "APP_HOSTNAME": name}, **(extra or {})), name=name)
    return app, os.path.join(d, name + ".log")


def setup():
    env = P.setup(REDIS_PORT)
    try:
        env.a, env.a_log = start_app(env, APP_PORT, "warnrate")
    except BaseException:
        env.close()
        raise
    return env


def burst(app, seconds, threads=4, uri="/session", want=503):
    """GET uri from several threads for `seconds`; returns the number of
    `want` answers (anything else fails the test)."""
    lock = threading.Lock()
    counts = {"n": 0}
    other = []
    stop = time.monotonic() + seconds

    def loop():
        while time.monotonic() < stop:
            r = app.get(uri, timeout=5)
            with lock:
                if r.status == want:
                    counts["n"] += 1
                else:
                    other.append(r.status)
    ths = [threading.Thread(target=loop) for _ in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(seconds + 30)
    assert not other, f"answers other than {want}: {other[:5]}"
    return counts["n"]


def warnings(path, what="503"):
    """The log's warning lines for `what` (503, WAIT), as (pid, text,
    occurrences)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = WARN.search(line.rstrip("\n"))
            if not m or m.group(2) != what:
                continue
            text, n = m.group(3), 1
            for pat in (MORE, TIMES):
                k = pat.match(text)
                if k:
                    text, n = k.group(1), int(k.group(2))
                    break
            out.append((int(m.group(1)), text, n))
    return out


def outage(env):
    """Redis down for the rest of the suite (the cases only need 503s)."""
    if env.r.proc.poll() is None:
        env.r.kill()


@t.case
def wait_shortfalls_counted_not_one_line_each(env):
    # No replica answers WAIT, so each new session's write is one
    # shortfall; the request still succeeds.  Redis times a WAIT out in
    # its event loop, up to 1/hz late (100 ms at the default hz 10), and
    # WAIT holds the worker's one connection meanwhile: hz 100 for more
    # writes a second, and a budget that leaves room for the wait.
    env.r.cmd("CONFIG", "SET", "hz", "100")
    try:
        app, path = start_app(env, APP3_PORT, "warnwait",
                              {"REDIS_WAIT_REPLICAS": "1",
                               "REDIS_WAIT_TIMEOUT_MS": "5",
                               "REDIS_TIMEOUT_MS": "2000"})
        seconds = 3.0
        writes = burst(app, seconds, threads=2, uri="/", want=200)
    finally:
        env.r.cmd("CONFIG", "SET", "hz", "10")
    # Enough that one line per write (the old behaviour) cannot pass.
    bound = WORKERS * (int(seconds) + 3)
    assert writes >= 3 * bound, f"only {writes} writes in {seconds} s"
    time.sleep(2 * WINDOW_S + 0.5)
    ws = warnings(path, "WAIT")
    counted = sum(n for _, _, n in ws)
    print(f"# {writes} unacknowledged writes; {len(ws)} WAIT lines "
          f"account for {counted}", file=sys.stderr)
    assert counted == writes, (
        f"WAIT lines account for {counted} of {writes} writes: {ws[-4:]}")
    # Per worker: the first line, one count a second, the last count.
    assert len(ws) <= bound, f"{len(ws)} WAIT lines (> {bound})"


@t.case
def outage_logs_one_line_a_second_and_counts_every_503(env):
    outage(env)
    seconds = 3.0
    n503 = burst(env.a, seconds)
    assert n503 >= 40, f"only {n503} requests in {seconds} s"
    # The last window closes WINDOW_S after its first suppressed 503; give
    # the timer that long again.
    time.sleep(2 * WINDOW_S + 0.5)
    ws = warnings(env.a_log)
    counted = sum(n for _, _, n in ws)
    texts = sorted({x for _, x, _ in ws})
    print(f"# {n503} 503s in {seconds:.0f} s; {len(ws)} warning lines "
          f"from {len({p for p, _, _ in ws})} workers account for "
          f"{counted}; texts: {texts}", file=sys.stderr)
    assert counted == n503, (
        f"warning lines account for {counted} of {n503} 503s: "
        f"{ws[-4:]}")
    # Per worker and second: at most one summary and one fresh line (a
    # quiet second reopens the window), plus one per change of text.
    bound = WORKERS * (int(seconds) + 3) * 2 + len(texts) * WORKERS
    assert len(ws) <= bound, f"{len(ws)} warning lines (> {bound})"
    assert len(ws) * 3 <= n503, f"{len(ws)} lines for {n503} 503s"


@t.case
def stop_mid_outage_logs_the_last_count(env):
    outage(env)
    app, path = start_app(env, APP2_PORT, "warnstop")
    n503 = burst(app, 0.6)
    assert n503 >= 5, f"only {n503} requests"
    # Within the window: the count is still pending, and SIGTERM (drain,
    # exit) must write it out.
    app.signal(signal.SIGTERM)
    assert app.wait_exit(10) == 0, "app did not exit 0 on SIGTERM"
    ws = warnings(path)
    counted = sum(n for _, _, n in ws)
    assert counted == n503, (
        f"after SIGTERM the warning lines account for {counted} of "
        f"{n503} 503s: {ws}")


if __name__ == "__main__":
    t.run(setup, lambda env: env.close())
