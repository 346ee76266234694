#!/usr/bin/env python3
"""test_sessions_replicated.py -- sessions written through the real fcgi-app, logged in as
the ACL user `app`, reach both replicas within 1 s.

Real redis-server processes (redis/entrypoint.sh) on 127.0.0.1 ports
21500-21502 and fcgi-app/fcgi-app on 127.0.0.1:21510, spoken to with
tests/lib/fcgi_client.py; everything in one temporary directory removed at
the end.  Skipped (77) when fcgi-app has not been built.
"""
import os
import secrets
import signal
import subprocess
import time
from urllib.parse import unquote

HERE = os.path.dirname(os.path.abspath(__file__))

import fcgi_client
from tap import Skip, Suite
from tier import ROOT, Tier, start_trio, wait_for

BASE = 21500
APP_ADDR = ("127.0.0.1", 21510)
APP_BIN = os.path.join(ROOT, "fcgi-app", "fcgi-app")
t = Suite()


class Ctx:
    tier = None
    app = None
    out = None


def setup():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip("fcgi-app/fcgi-app is not built")
    ctx = Ctx()
    ctx.tier = Tier()
    try:
        start_trio(ctx.tier, BASE)
        logdir = os.path.join(ctx.tier.dir, "app-log")
        os.makedirs(logdir)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "APP_LISTEN": "%s:%d" % APP_ADDR,
            "APP_WORKERS": "1",
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(BASE),
            "REDIS_USERNAME": "app",
            "REDIS_PASSWORD_FILE": os.path.join(ctx.tier.secrets, "app"),
            "SESSION_SECRET": secrets.token_urlsafe(32),
            "LOG_DIR": logdir,
            "APP_HOSTNAME": "redistest",
            "SESSION_PROMOTE_AFTER_S": "1",
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        ctx.out = os.path.join(ctx.tier.dir, "app.out")
        with open(ctx.out, "ab") as out:
            ctx.app = subprocess.Popen([APP_BIN], env=env, stdout=out,
                                       stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL,
                                       start_new_session=True)

        def healthy():
            if ctx.app.poll() is not None:
                with open(ctx.out, errors="replace") as f:
                    raise AssertionError("fcgi-app exited %s:\n%s" % (
                        ctx.app.returncode, f.read()[-2000:]))
            return fcgi_client.get(APP_ADDR, "/healthz",
                                   timeout=1).status == 200
        wait_for("fcgi-app /healthz", healthy, 10, 0.1)
    except BaseException:
        teardown(ctx)
        raise
    return ctx


def teardown(ctx):
    if ctx.app is not None and ctx.app.poll() is None:
        try:
            os.killpg(ctx.app.pid, signal.SIGTERM)
            ctx.app.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(ctx.app.pid, signal.SIGKILL)
            ctx.app.wait(5)
        except ProcessLookupError:
            pass
    if ctx.tier is not None:
        ctx.tier.close()


def sid_of(resp):
    """The session id from 'Set-Cookie: connect.sid=s%3A<id>.<sig>; ...'."""
    sc = resp.headers.get("set-cookie")
    assert sc, "no Set-Cookie in %r" % resp.headers
    v = unquote(sc.split(";")[0].split("=", 1)[1])
    assert v.startswith("s:"), v
    return sc.split(";")[0], v[2:].rsplit(".", 1)[0]


@t.case
def app_session_on_both_replicas_within_1s(ctx):
    r = fcgi_client.get(APP_ADDR, "/", timeout=5)
    t0 = time.monotonic()
    assert r.status == 200, (r.status, r.body)
    _, sid = sid_of(r)
    key = "sess:" + sid
    with ctx.tier.admin(BASE) as c:
        doc = c.cmd("GET", key)
    assert doc and doc.startswith("{"), "primary has %r for %s" % (doc, key)
    for port in (BASE + 1, BASE + 2):
        with ctx.tier.admin(port) as c:
            wait_for("%s on replica %d" % (key, port),
                     lambda c=c: c.cmd("GET", key) == doc, 1.0, 0.01)
    dt = time.monotonic() - t0
    assert dt <= 1.0, "on both replicas after %.3fs" % dt
    print("# session on both replicas %.3fs after the response" % dt,
          flush=True)


@t.case
def returning_session_ttl_reaches_replicas(ctx):
    r = fcgi_client.get(APP_ADDR, "/", timeout=5)
    cookie, sid = sid_of(r)
    key = "sess:" + sid
    with ctx.tier.admin(BASE) as c:
        first = c.cmd("TTL", key)
    # A fresh session has a short TTL, a returning one 30 days: the split
    # that maxmemory-policy volatile-ttl relies on (docs/REDIS.md).
    assert 0 < first <= 600, "fresh session TTL %r" % first
    time.sleep(1.1)             # SESSION_PROMOTE_AFTER_S=1
    r2 = fcgi_client.get(APP_ADDR, "/", cookie=cookie, timeout=5)
    assert r2.status == 200, (r2.status, r2.body)
    with ctx.tier.admin(BASE) as c:
        ttl = c.cmd("TTL", key)
        doc = c.cmd("GET", key)
    assert ttl > 29 * 86400, "returning session TTL %r" % ttl
    for port in (BASE + 1, BASE + 2):
        with ctx.tier.admin(port) as c:
            wait_for("%s updated on replica %d" % (key, port),
                     lambda c=c: c.cmd("GET", key) == doc, 1.0, 0.01)
            rttl = c.cmd("TTL", key)
            assert abs(rttl - ttl) <= 2, "TTL %r on replica, %r on primary" \
                % (rttl, ttl)


@t.case
def readyz_works_as_the_acl_user(ctx):
    r = fcgi_client.get(APP_ADDR, "/readyz", timeout=5)
    assert r.status == 200, (r.status, r.body)


@t.case
def app_logged_no_permission_errors(ctx):
    logdir = os.path.join(ctx.tier.dir, "app-log")
    text = ""
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name), errors="replace") as f:
            text += f.read()
    with open(ctx.out, errors="replace") as f:
        text += f.read()
    for bad in ("NOPERM", "WRONGPASS", "NOAUTH"):
        assert bad not in text, "app log mentions %s" % bad


t.run(setup=setup, teardown=teardown)
