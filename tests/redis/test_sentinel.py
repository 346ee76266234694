#!/usr/bin/env python3
"""test_sentinel.py -- three sentinels over primary + two replicas: killing
the primary promotes a replica, writes resume within 15 s, and the old
primary rejoins as a replica.

Real redis-server and redis-sentinel processes started by
redis/entrypoint.sh on 127.0.0.1 (data nodes 21300-21302, sentinels
21310-21312) in a temporary directory removed at the end.  The cases run in
order on one tier.  The failover case acts as the app must (docs/REDIS.md):
ask Sentinel for the primary, confirm with ROLE, re-resolve on every error.
"""
import os
import signal
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from tier import HOST, Tier, RedisError, start_trio, wait_for

BASE = 21300
SENTINELS = [21310, 21311, 21312]
NAME = "sessions"
WRITE_BUDGET = 15.0
t = Suite()
state = {}


def pairs(flat):
    return dict(zip(flat[::2], flat[1::2]))


def setup():
    tier = Tier()
    try:
        start_trio(tier, BASE, SENTINELS)
    except BaseException:
        tier.close()
        raise
    return tier


def sentinel_admin(tier, port):
    return tier.conn(port, None, tier.secret("sentinel-admin"))


def ask_primary(tier):
    """Like the app: first sentinel that answers; (host, port) or None."""
    return tier.sentinel_primary(SENTINELS, NAME)


@t.case
def sentinels_see_primary_replicas_and_each_other(tier):
    def complete(sp):
        with sentinel_admin(tier, sp) as c:
            m = pairs(c.cmd("SENTINEL", "MASTER", NAME))
        return (m["port"] == str(BASE) and m["num-slaves"] == "2"
                and m["num-other-sentinels"] == "2" and m["quorum"] == "2"
                and m["flags"] == "master")
    for sp in SENTINELS:
        wait_for("sentinel %d to see the whole tier" % sp,
                 lambda sp=sp: complete(sp), 20, 0.2)
    assert ask_primary(tier) == (HOST, BASE)


@t.case
def sentinel_requires_auth_and_limits_the_app(tier):
    sp = SENTINELS[0]
    with tier.conn(sp) as c:
        try:
            c.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME)
            raise AssertionError("unauthenticated SENTINEL command answered")
        except RedisError as e:
            assert str(e).startswith("NOAUTH"), e
        try:
            c.cmd("AUTH", "app", tier.secret("admin"))
            raise AssertionError("wrong password accepted")
        except RedisError as e:
            assert str(e).startswith("WRONGPASS"), e
    with tier.conn(sp, "app", tier.secret("app")) as c:
        assert c.cmd("PING") == "PONG"
        for args in (("SENTINEL", "MASTERS"), ("SENTINEL", "FAILOVER", NAME),
                     ("SENTINEL", "SET", NAME, "quorum", "1"),
                     ("SENTINEL", "REMOVE", NAME), ("ACL", "LIST"),
                     ("SHUTDOWN",), ("INFO",),
                     ("SENTINEL", "CONFIG", "GET", "*"),
                     ("SENTINEL", "DEBUG"), ("SENTINEL", "RESET", "*")):
            try:
                c.cmd(*args)
                raise AssertionError("app may run %s" % " ".join(args))
            except RedisError as e:
                assert str(e).startswith("NOPERM"), e
        try:
            c.cmd("SUBSCRIBE", "__sentinel__:hello")
            raise AssertionError("app may subscribe to __sentinel__:hello")
        except RedisError as e:
            assert str(e).startswith("NOPERM"), e
    with tier.conn(sp, "app", tier.secret("app")) as c:
        assert c.cmd("SUBSCRIBE", "+switch-master") == \
            ["subscribe", "+switch-master", 1]


@t.case
def sentinel_config_is_private(tier):
    for i in (1, 2, 3):
        path = os.path.join(tier.dir, "sentinel%d" % i, "data",
                            "sentinel.conf")
        # Sentinel rewrites the file at run time as 0644 & ~umask (umask 022
        # so the collector can read the logs); the passwords in it are kept
        # from others by its directory, 0750 like /data in the image.
        st = os.stat(path)
        dst = os.stat(os.path.dirname(path))
        assert st.st_mode & 0o007 == 0 or dst.st_mode & 0o007 == 0, \
            "%s mode %o in a directory of mode %o" % (path, st.st_mode,
                                                      dst.st_mode)
        with open(path) as f:
            conf = f.read()
        assert tier.secret("app") not in conf, "app password in " + path
        assert tier.secret("admin") not in conf, "admin password in " + path
        assert "sentinel resolve-hostnames yes" in conf
        assert "sentinel announce-hostnames yes" in conf


@t.case
def killed_primary_is_replaced_and_writes_resume_within_15s(tier):
    with tier.app(BASE) as app:
        assert app.cmd("SET", "sess:before", "1", "EX", "3600") == "OK"
        assert app.cmd("WAIT", "2", "2000") == 2
    tier.stop("primary", signal.SIGKILL)
    t0 = time.monotonic()
    promoted_at = None
    written_at = None
    errors = 0
    while time.monotonic() - t0 < WRITE_BUDGET + 5:
        addr = ask_primary(tier)
        if addr and addr[1] != BASE and promoted_at is None:
            promoted_at = time.monotonic() - t0
        if addr is None:
            time.sleep(0.1)
            continue
        try:
            with tier.conn(addr[1], "app", tier.secret("app"), 1.0) as c:
                if c.cmd("ROLE")[0] != "master":
                    raise RedisError("ROLE says %s" % c.cmd("ROLE")[0])
                assert c.cmd("SET", "sess:after", "1", "EX", "3600") == "OK"
                assert c.cmd("GET", "sess:before") == "1", \
                    "replicated session lost in the failover"
            written_at = time.monotonic() - t0
            state["new_port"] = addr[1]
            break
        except (OSError, RedisError):
            errors += 1
            time.sleep(0.1)
    print("# promotion seen after %s s, first write after %s s, %d failed "
          "attempts" % (promoted_at and "%.1f" % promoted_at,
                        written_at and "%.1f" % written_at, errors),
          flush=True)
    assert written_at is not None, "no write succeeded in %.0fs" % (
        WRITE_BUDGET + 5)
    assert written_at <= WRITE_BUDGET, "first write after %.1fs" % written_at
    assert state["new_port"] in (BASE + 1, BASE + 2)


@t.case
def other_replica_follows_the_new_primary(tier):
    new = state.get("new_port")
    assert new, "no failover happened"
    other = BASE + 1 if new == BASE + 2 else BASE + 2
    wait_for("replica %d to follow %d" % (other, new),
             lambda: (tier.info(other)["master_port"] == str(new)
                      and tier.info(other)["master_link_status"] == "up"),
             15)
    wait_for("sess:after on replica %d" % other,
             lambda: tier.ask(other, "GET", "sess:after") == "1", 2)


@t.case
def old_primary_rejoins_as_replica(tier):
    new = state.get("new_port")
    assert new, "no failover happened"
    env = {"REDIS_SENTINELS": " ".join("%s:%d" % (HOST, p)
                                       for p in SENTINELS)}
    node = tier.start_primary(BASE, env)
    assert "Sentinel says the primary is %s %d; following it" % (HOST, new) \
        in node.output(), node.output()
    wait_for("old primary to replicate from %d" % new,
             lambda: (tier.info(BASE)["role"] == "slave"
                      and tier.info(BASE)["master_port"] == str(new)
                      and tier.info(BASE)["master_link_status"] == "up"), 20)
    assert tier.ask(BASE, "GET", "sess:after") == "1"
    assert tier.ask(BASE, "GET", "sess:before") == "1"
    with tier.app(new) as app:
        assert app.cmd("SET", "sess:rejoined", "1", "EX", "60") == "OK"
        assert app.cmd("WAIT", "2", "3000") == 2

    def sentinel_sees_it():
        with sentinel_admin(tier, SENTINELS[0]) as c:
            reps = [pairs(r) for r in c.cmd("SENTINEL", "REPLICAS", NAME)]
        return any(r["port"] == str(BASE) and r["flags"] == "slave"
                   for r in reps)
    wait_for("sentinel to list the old primary as a healthy replica",
             sentinel_sees_it, 15, 0.2)


t.run(setup=setup, teardown=lambda tier: tier and tier.close())
