#!/usr/bin/env python3
"""test_listen.py -- APP_LISTEN forms the master binds itself: a unix
socket (mode 0660, stale file replaced, removed on exit) and IPv6
loopback.  Ports 23050-23059."""
import os
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import poollib as P  # noqa: E402
from tap import Skip, Suite  # noqa: E402

REDIS_PORT = 23050
t = Suite()


def setup():
    return P.setup(REDIS_PORT)


@t.case
def unix_socket_mode_0660_serves_and_is_removed(env):
    path = os.path.join(env.tmp, "app.sock")
    # a stale socket file from a previous run must not stop us
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    old_umask = os.umask(0o022)
    try:
        a = env.app("unix:" + path, REDIS_PORT, {"APP_WORKERS": "1"},
                    name="unix")
    finally:
        os.umask(old_umask)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    r = a.get("/")
    assert r.status == 200 and P.cookie_of(r), r
    with a.client(keep=True) as c:
        for _ in range(5):
            assert c.request("GET", "/healthz").status == 200
    a.signal(signal.SIGTERM)
    assert a.wait_exit(10) == 0
    assert not os.path.exists(path), "socket file left behind"


@t.case
def unix_socket_path_that_is_a_file_is_refused(env):
    path = os.path.join(env.tmp, "not-a-socket")
    open(path, "w").close()
    a = env.app("unix:" + path, REDIS_PORT, {"APP_WORKERS": "1"},
                name="unixfile", wait=False)
    rc = a.wait_exit(5)
    assert rc == 1, rc
    assert "not a socket" in a.output() and "APP_LISTEN" in a.output()
    assert os.path.isfile(path), "removed a regular file"


@t.case
def ipv6_loopback(env):
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        raise Skip(f"no IPv6 loopback: {e}")
    a = env.app("[::1]:23051", REDIS_PORT, {"APP_WORKERS": "1"}, name="v6")
    r = a.get("/hello/v6")
    assert P.json_body(r) == {"hello": "v6"}, r
    assert a.get("/").status == 200


@t.case
def ipv4_loopback_explicit(env):
    a = env.app("127.0.0.1:23052", REDIS_PORT, {"APP_WORKERS": "1"},
                name="v4")
    assert a.get("/healthz").status == 200
    # and nothing answers on IPv6 for an IPv4 bind
    s = socket.socket(socket.AF_INET6)
    s.settimeout(1)
    try:
        refused = s.connect_ex(("::1", 23052)) != 0
    finally:
        s.close()
    assert refused, "IPv4 bind also answered on ::1"


@t.case
def fd_exhaustion_pauses_accepts_then_recovers(env):
    # 64 descriptors per process: holding 120 idle connections exhausts
    # the worker; it must neither spin nor die, and serve again after.
    a = env.app("127.0.0.1:23053", REDIS_PORT, {"APP_WORKERS": "1"},
                name="nofile", nofile=64)
    (worker,) = a.workers()
    held = []
    try:
        for _ in range(120):
            s = socket.create_connection(("127.0.0.1", 23053), timeout=2)
            held.append(s)
        P.wait_until(lambda: "pausing accepts" in a.output(), 3,
                     what="EMFILE noticed")
        P.time.sleep(1.0)
        cpu0 = sum(int(x) for x in open(f"/proc/{worker}/stat").read()
                   .rsplit(")", 1)[1].split()[11:13])
        P.time.sleep(1.0)
        cpu1 = sum(int(x) for x in open(f"/proc/{worker}/stat").read()
                   .rsplit(")", 1)[1].split()[11:13])
        assert cpu1 - cpu0 < 30, f"worker spinning: {cpu1 - cpu0} ticks/s"
        assert a.output().count("pausing accepts") <= 1, "log spam"
    finally:
        for s in held:
            s.close()
    P.wait_until(a.healthy, 5, what="serving after fds freed")
    assert a.workers() == [worker], "worker died"


t.run(setup, lambda env: env and env.close())
