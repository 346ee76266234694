#!/usr/bin/env python3
"""test_listen.py -- APP_LISTEN forms the master binds itself: a unix
socket (mode 0660, stale file replaced, removed on exit), IPv6 loopback,
and a host name with several addresses, of which the app binds the one
that is this host's (how compose.yaml keeps the pool off the data
network).  Ports 23050-23059."""
import os
import signal
import socket
import stat

import poollib as P
from tap import Skip, Suite

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
    assert refused(socket.AF_INET6, "::1", 23052), \
        "IPv4 bind also answered on ::1"


def refused(family, host, port):
    """True when a connect to host:port is refused (nothing listens)."""
    with socket.socket(family) as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) != 0


def hosts_file(env, name, *addrs):
    """An /etc/hosts giving name the addresses addrs, in that order."""
    path = os.path.join(env.tmp, f"hosts-{name}")
    with open(path, "w") as f:
        f.write("127.0.0.1 localhost\n")
        for a in addrs:
            f.write(f"{a} {name}\n")
    return path


def foreign(n):
    """n IPv4 addresses from the documentation ranges that this host does
    not have (bind() refuses them); a machine may use one of them."""
    out = []
    for a in ("198.51.100.7", "203.0.113.7", "198.51.100.8", "203.0.113.8",
              "192.0.2.7", "192.0.2.8"):
        with socket.socket() as s:
            try:
                s.bind((a, 0))
            except OSError:
                out.append(a)
        if len(out) == n:
            return out
    raise AssertionError("this host has too many documentation addresses")


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root for a private mount namespace (/etc/hosts)")


@t.case
def name_with_several_addresses_binds_the_local_one(env):
    # An address this host does not have: bind() says EADDRNOTAVAIL and
    # the master goes on to 127.0.0.2, which it has; the listener then
    # answers there and on no other loopback address.
    need_root()
    a1, a2 = foreign(2)
    hosts = hosts_file(env, "pool-alias", a1, "127.0.0.2", a2)
    a = env.app("pool-alias:23054", REDIS_PORT, {"APP_WORKERS": "1"},
                name="alias", wait=False, hosts=hosts)
    a.listen = "127.0.0.2:23054"
    P.wait_for("fcgi-app on 127.0.0.2", a.healthy, 10)
    assert a.get("/healthz").status == 200
    assert refused(socket.AF_INET, "127.0.0.1", 23054), \
        "bound more than the name's local address"


@t.case
def name_with_no_local_address_stops_naming_the_setting(env):
    need_root()
    hosts = hosts_file(env, "elsewhere", *foreign(2))
    a = env.app("elsewhere:23055", REDIS_PORT, {"APP_WORKERS": "1"},
                name="elsewhere", wait=False, hosts=hosts)
    rc = a.wait_exit(5)
    out = a.output()
    assert rc not in (None, 0), f"exit {rc}: {out[-500:]}"
    assert "APP_LISTEN" in out and "none of its addresses" in out, out


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
        P.wait_for("EMFILE noticed",
                   lambda: "pausing accepts" in a.output(),
                   3)
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
    P.wait_for("serving after fds freed", a.healthy, 5)
    assert a.workers() == [worker], "worker died"


t.run(setup, lambda env: env and env.close())
