#!/usr/bin/env python3
"""test_worker_paths.py -- timing paths of worker.c's epoll design that the
other pool suites do not pin down: a request head that arrives in parts is
served as soon as its last part arrives, not at the next timer sweep, and
requests rotate through every thread of a worker.  Spoken to directly over
FastCGI (tests/lib/fcgi_client.py), with a real redis-server.  Ports
23070-23079."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import poollib as P  # noqa: E402
from tap import Suite  # noqa: E402

REDIS_PORT = 23070
t = Suite()


def setup():
    env = P.Env()
    try:
        env.r = env.redis(REDIS_PORT)
    except BaseException:
        env.close()
        raise
    return env


@t.case
def split_head_served_when_its_last_part_arrives(env):
    # one worker, one thread; on a kept connection, after the worker has
    # been idle long enough for its timers to sleep, send a request head
    # without its end records, then the rest: the answer must follow the
    # last part at once (the worker re-peeks a partial head every few ms)
    a = env.app("127.0.0.1:23071", REDIS_PORT,
                {"APP_WORKERS": "1", "APP_THREADS": "1"}, name="split")
    F = P.fcgi_client
    params = F.encode_params(F.default_params("GET", "/hello/split"))
    head = F.begin_record(keep=True) + F.record(F.PARAMS, params)
    rest = F.record(F.PARAMS, b"") + F.record(F.STDIN, b"")
    c = a.client(keep=True)
    try:
        waits = []
        for _ in range(4):
            time.sleep(1.2)
            c.send_raw(head)
            time.sleep(0.05)
            t0 = time.monotonic()
            c.send_raw(rest)
            r = c.read_response()
            waits.append(time.monotonic() - t0)
            assert P.json_body(r) == {"hello": "split"}, r
        assert max(waits) < 0.25, (
            "answers came %s s after the head's last part"
            % ", ".join(f"{w:.3f}" for w in waits))
    finally:
        c.close()


@t.case
def requests_rotate_through_all_threads(env):
    # one worker with 3 threads, each with its own Redis connection: one
    # request at a time must still reach every thread (epoll wakes the
    # thread that waited last, so with every thread in epoll_wait() one
    # thread would serve them all) (a thread nobody
    # uses keeps a Redis connection nobody checks); each thread's first
    # request opens its connection, so Redis sees 3 clients of the app
    a = env.app("127.0.0.1:23072", REDIS_PORT,
                {"APP_WORKERS": "1", "APP_THREADS": "3"}, name="rotate")
    # on one kept connection, as nginx sends them
    with a.client(keep=True) as c:
        for _ in range(12):
            r = c.request("GET", "/")
            assert r.status == 200, r
    listing = env.r.cmd("CLIENT", "LIST").decode()
    clients = [line for line in listing.split("\n")
               if line and "cmd=client" not in line]
    assert len(clients) == 3, clients


t.run(setup, lambda env: env and env.close())
