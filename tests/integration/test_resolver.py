#!/usr/bin/env python3
"""test_resolver.py -- upstream-watch.sh's UPSTREAM_RESOLVER mode, natively.

compose.swarm.yaml has nginx resolve the pool's name itself (through
Docker's DNS) instead of the watcher rewriting an upstream block and
reloading nginx, because a reload cuts off kept client connections.  Here
the same mode runs against a real DNS server on loopback (a small one in
this file, answering A queries for the service name from a list the test
changes), with real fcgi-app instances on 127.0.0.2 and 127.0.0.3 behind
the name, like tasks behind a dnsrr service.  Checked: the rendered
include, requests follow the DNS answer with no reload and no failed
request on kept connections, a departed instance is skipped, nginx asks
the DNS server at most once a second per worker, no answer or NXDOMAIN is
a bounded 502 in JSON, and bad settings stop the start naming the
setting.  Ports 20800-20812 and 20820 (DNS, UDP).
"""
import os
import shutil
import subprocess
import tempfile
import time

import kaload
from dnsd import Dns
import procfs
from tap import Suite, Skip
from stack import Stack, APP_BIN, NGINX_DIR
from httpc import check_json, header_of, http_get, session_workers
from poll import wait_for

BASE = 20800
DNS_PORT = 20820
SERVICE = "fcgi-app.test"
WATCHER = os.path.join(NGINX_DIR, "upstream-watch.sh")
# Seconds after which every answer nginx holds has expired: valid=1s keeps
# one until the end of the next second of nginx's clock (it compares whole
# seconds), so up to 2 s.
EXPIRED = 2.2
t = Suite()


class Ctx:
    pass


def setup():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built")
    c = Ctx()
    c.tmp = tempfile.mkdtemp(prefix="test-resolver-")
    c.dns = Dns(DNS_PORT, SERVICE)
    c.dns.addrs = ["127.0.0.2"]
    c.port = BASE + 2
    c.s = Stack(run_dir=os.path.join(c.tmp, "run"), base_port=BASE,
                app=False, apps=[("app-a", f"127.0.0.2:{c.port}", "app-a"),
                                 ("app-b", f"127.0.0.3:{c.port}", "app-b")],
                watch=SERVICE,
                watch_env={"UPSTREAM_RESOLVER": f"127.0.0.1:{DNS_PORT}"})
    try:
        c.s.start()
    except BaseException:
        c.dns.close()
        raise
    return c


def teardown(c):
    if c is None:
        return
    c.s.close()
    c.dns.close()
    if not os.environ.get("TEST_KEEP"):
        shutil.rmtree(c.tmp, ignore_errors=True)


def master_pid(c):
    with open(os.path.join(c.s.dirs["nginx"], "nginx.pid")) as f:
        return int(f.read())


def nginx_procs(c):
    """(master pid, worker pids): a reload would change the workers."""
    m = master_pid(c)
    return m, procfs.children(m)


def workers_seen(c, n=30):
    return session_workers(c.s.ports["http"], n)


def wait_seen(c, want, timeout=5.0):
    """Until requests are answered by exactly the instances in want."""
    got = []

    def check():
        got[:] = [workers_seen(c)]
        return got[0] == want
    wait_for(f"answers from {sorted(want)}", check, timeout, interval=0.2)


def errors_logged(c):
    with open(c.s.log_path("nginx-error")) as f:
        return [ln for ln in f.read().splitlines()
                if "[error]" in ln or "[alert]" in ln or "[emerg]" in ln]


@t.case
def the_include_has_a_resolver_and_no_upstream_block(c):
    with open(c.s.upstream_conf) as f:
        text = f.read()
    assert f"resolver 127.0.0.1:{DNS_PORT} valid=1s ipv6=off;" in text, text
    assert "resolver_timeout 2s;" in text, text
    assert f"default {SERVICE}:{c.port};" in text, text
    assert "upstream " not in text, text


@t.case
def requests_follow_dns_with_no_reload_and_no_cut_connection(c):
    before = nginx_procs(c)
    assert len(before[1]) == 2, before
    c.dns.addrs = ["127.0.0.2"]
    wait_seen(c, {"app-a"})
    # Kept client connections throughout, as wrk or a browser keeps them:
    # a reload would close the idle ones under a request on its way.
    with kaload.Load("127.0.0.1", c.s.ports["http"], conns=8,
                     path="/session") as load:
        time.sleep(0.5)
        c.dns.addrs = ["127.0.0.2", "127.0.0.3"]
        wait_seen(c, {"app-a", "app-b"})
        c.dns.addrs = ["127.0.0.3"]
        wait_seen(c, {"app-b"})
        c.dns.addrs = ["127.0.0.2", "127.0.0.3"]
        wait_seen(c, {"app-a", "app-b"})
        time.sleep(0.5)
    print(f"# kept-connection load across three DNS changes: "
          f"{load.requests} answered, {len(load.failures)} failed")
    assert load.requests > 100, f"only {load.requests} answered"
    assert not load.failures, load.failures[:5]
    assert nginx_procs(c) == before, f"nginx reloaded: {before} -> " \
        f"{nginx_procs(c)}"


@t.case
def an_instance_that_left_but_is_still_in_dns_is_skipped(c):
    c.dns.addrs = ["127.0.0.2", "127.0.0.3"]
    wait_seen(c, {"app-a", "app-b"})
    with kaload.Load("127.0.0.1", c.s.ports["http"], conns=8,
                     path="/session") as load:
        time.sleep(0.5)
        c.s.terminate("app-b")      # SIGTERM: it drains and goes; DNS
        time.sleep(2.0)             # still names it
    try:
        assert workers_seen(c) == {"app-a"}
        print(f"# instance gone, still in DNS: {load.requests} answered, "
              f"{len(load.failures)} failed")
        assert load.requests > 100, f"only {load.requests} answered"
        assert not load.failures, load.failures[:5]
    finally:
        c.s.restart("app-b")


@t.case
def nginx_asks_at_most_once_a_second_per_worker(c):
    c.dns.addrs = ["127.0.0.2", "127.0.0.3"]
    wait_seen(c, {"app-a", "app-b"})
    with kaload.Load("127.0.0.1", c.s.ports["http"], conns=8,
                     path="/healthz") as load:
        time.sleep(0.5)
        q0, t0, n0 = c.dns.queries, time.monotonic(), load.requests
        time.sleep(4.0)
        q, dt, n = c.dns.queries - q0, time.monotonic() - t0, \
            load.requests - n0
    print(f"# {q} DNS queries for {n} requests in {dt:.1f}s (2 workers, "
          f"valid=1s)")
    assert n > 200, f"only {n} requests"
    # Each worker asks when its answer is over 1 s old: about 2 per
    # second; 3 per worker-second allows for timing at the edges.
    assert 0 < q <= 2 * 3 * dt, f"{q} queries in {dt:.1f}s"


@t.case
def nxdomain_is_a_fast_json_502_then_recovers(c):
    c.dns.addrs = None
    time.sleep(EXPIRED)
    t0 = time.monotonic()
    st, hdrs, body = http_get(c.s.ports["http"], "/")
    dt = time.monotonic() - t0
    assert st == 502, (st, body)
    assert dt < 1.0, f"{dt:.2f}s"
    check_json(st, header_of(hdrs, "Content-Type"), body)
    c.dns.addrs = ["127.0.0.2"]
    wait_seen(c, {"app-a"})


@t.case
def a_silent_dns_is_a_bounded_json_502_then_recovers(c):
    c.dns.silent = True
    try:
        time.sleep(EXPIRED)
        t0 = time.monotonic()
        st, hdrs, body = http_get(c.s.ports["http"], "/", timeout=10)
        dt = time.monotonic() - t0
        print(f"# DNS silent: {st} after {dt:.2f}s")
        assert st == 502, (st, body)
        # resolver_timeout 2s, not nginx's default 30 s
        assert 1.5 <= dt < 3.5, f"{dt:.2f}s"
        check_json(st, header_of(hdrs, "Content-Type"), body)
    finally:
        c.dns.silent = False
    c.dns.addrs = ["127.0.0.3"]
    wait_seen(c, {"app-b"})
    assert any("could not be resolved" in ln for ln in errors_logged(c)), \
        errors_logged(c)[-3:]


def watcher_alone(tmp, env_extra):
    """Run upstream-watch.sh with a stand-in nginx ("true") and these
    settings; (exit status, its log)."""
    env = dict(os.environ, NGINX="true", UPSTREAM_SERVICE=SERVICE,
               UPSTREAM_FILE=os.path.join(tmp, "upstream.conf"),
               LIMITS_FILE=os.path.join(tmp, "limits.conf"),
               LIMITS_TEMPLATE=os.path.join(NGINX_DIR, "app",
                                            "limits.conf.in"),
               INTERNAL_LISTEN_FILE=os.path.join(tmp, "internal.conf"),
               UPSTREAM_RESOLVER="127.0.0.11")
    env.update(env_extra)
    r = subprocess.run([WATCHER], env=env, capture_output=True, text=True,
                       timeout=20)
    return r.returncode, r.stdout + r.stderr


@t.case
def bad_settings_stop_the_start_naming_the_setting():
    tmp = tempfile.mkdtemp(prefix="test-resolver-bad-")
    try:
        rc, out = watcher_alone(tmp, {})
        assert rc == 0, out         # the stand-in nginx exits 0
        for name, value in (("UPSTREAM_RESOLVER", "dns.example"),
                            ("UPSTREAM_RESOLVER", "127.0.0.11; x"),
                            ("UPSTREAM_RESOLVER", "127.0.0.11 valid=1h"),
                            ("UPSTREAM_INTERVAL", "0.5"),
                            ("UPSTREAM_INTERVAL", "0"),
                            ("UPSTREAM_SERVICE", "a;b"),
                            ("UPSTREAM_SERVICE", "-x"),
                            ("UPSTREAM_PORT", "0"),
                            ("UPSTREAM_PORT", "9000x")):
            if os.path.exists(os.path.join(tmp, "upstream.conf")):
                os.unlink(os.path.join(tmp, "upstream.conf"))
            rc, out = watcher_alone(tmp, {name: value})
            assert rc == 1, f"{name}={value!r}: exit {rc}\n{out}"
            assert f'{name}="{value}"' in out, f"{name}={value!r}:\n{out}"
            assert "not starting nginx" in out, out
            assert not os.path.exists(os.path.join(tmp, "upstream.conf"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


t.run(setup, teardown)
