#!/usr/bin/env python3
"""test_replication.py -- primary + two replicas from redis/: replication,
logs, read-only replicas, ACLs and passwords.

Real redis-server processes started by redis/entrypoint.sh on 127.0.0.1,
ports 21100-21109, in a temporary directory removed at the end.
"""
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from tier import Tier, RedisError, info, start_trio, wait_for

BASE = 21100
t = Suite()


def expect_error(fn, *prefixes):
    """fn() must fail with an error reply starting with one of prefixes."""
    try:
        r = fn()
    except RedisError as e:
        assert str(e).startswith(prefixes), "expected %s, got %s" % (
            " or ".join(prefixes), e)
        return str(e)
    raise AssertionError("expected %s error, got reply %r" % (
        " or ".join(prefixes), r))


def setup():
    tier = Tier()
    try:
        start_trio(tier, BASE)
    except BaseException:
        tier.close()
        raise
    return tier


@t.case
def primary_sees_two_replicas(tier):
    with tier.admin(BASE) as c:
        i = info(c)
    assert i["role"] == "master", i["role"]
    assert i["connected_slaves"] == "2", i["connected_slaves"]
    for k in ("slave0", "slave1"):
        assert "state=online" in i[k], i[k]


@t.case
def app_write_on_both_replicas_within_1s(tier):
    value = "v-%d" % time.monotonic_ns()
    with tier.app(BASE) as app:
        assert app.cmd("SET", "sess:repl1", value, "EX", "60") == "OK"
    t0 = time.monotonic()
    for port in (BASE + 1, BASE + 2):
        with tier.admin(port) as c:
            wait_for("sess:repl1 on replica %d" % port,
                     lambda c=c: c.cmd("GET", "sess:repl1") == value, 1.0,
                     0.01)
            ttl = c.cmd("TTL", "sess:repl1")
            assert 0 < ttl <= 60, "TTL on replica %d is %r" % (port, ttl)
    dt = time.monotonic() - t0
    assert dt <= 1.0, "replicated in %.3fs" % dt
    print("# replicated to both replicas in %.3fs" % dt, flush=True)


@t.case
def replication_lines_in_each_nodes_log(tier):
    names = sorted(os.listdir(tier.logs))
    assert names == ["redis-replica-1.log", "redis-replica-2.log",
                     "redis-server.log"], names
    for n in names:
        mode = os.stat(os.path.join(tier.logs, n)).st_mode
        assert mode & 0o004, "%s is %o: the collector cannot read it" % (
            n, mode)
    with open(os.path.join(tier.logs, "redis-server.log")) as f:
        primary = f.read()
    assert "Full resync requested by replica" in primary, "no Full resync"
    assert "Synchronization with replica" in primary, "no sync success"
    for i in (1, 2):
        with open(os.path.join(tier.logs, "redis-replica-%d.log" % i)) as f:
            log = f.read()
        assert "Full resync from master" in log, "replica %d" % i
        assert "MASTER <-> REPLICA sync: Finished with success" in log, \
            "replica %d has no 'Finished with success'" % i


@t.case
def replicas_are_read_only(tier):
    for port in (BASE + 1, BASE + 2):
        with tier.admin(port) as c:
            expect_error(lambda: c.cmd("SET", "sess:ro", "x"), "READONLY")
            assert c.cmd("GET", "sess:ro") is None


@t.case
def default_user_needs_the_admin_password(tier):
    for port in (BASE, BASE + 1, BASE + 2):
        with tier.conn(port) as c:
            expect_error(lambda: c.cmd("PING"), "NOAUTH")
            expect_error(lambda: c.cmd("GET", "sess:repl1"), "NOAUTH")
            expect_error(lambda: c.cmd("AUTH", "wrong-password-123456"),
                         "WRONGPASS")
            expect_error(lambda: c.cmd("AUTH", "default",
                                       tier.secret("app")), "WRONGPASS")
            assert c.cmd("AUTH", tier.secret("admin")) == "OK"
            assert c.cmd("PING") == "PONG"
            assert c.cmd("CONFIG", "GET", "protected-mode") == \
                ["protected-mode", "yes"]


@t.case
def app_user_wrong_password_refused(tier):
    with tier.conn(BASE) as c:
        expect_error(lambda: c.cmd("AUTH", "app", tier.secret("admin")),
                     "WRONGPASS")
        expect_error(lambda: c.cmd("AUTH", "app", ""), "WRONGPASS")


@t.case
def app_user_can_do_what_the_app_needs(tier):
    with tier.app(BASE) as c:
        assert c.cmd("PING") == "PONG"
        assert c.cmd("SELECT", "0") == "OK"
        assert c.cmd("HELLO", "2", "AUTH", "app", tier.secret("app"))
        assert c.cmd("SET", "sess:a", "1", "EX", "30") == "OK"
        assert c.cmd("SET", "sess:b", "1", "PX", "30000") == "OK"
        assert c.cmd("SETEX", "sess:c", "30", "1") == "OK"
        assert c.cmd("PSETEX", "sess:d", "30000", "1") == "OK"
        assert c.cmd("GET", "sess:a") == "1"
        assert c.cmd("EXPIRE", "sess:a", "2592000") == 1
        assert c.cmd("PEXPIRE", "sess:b", "60000") == 1
        assert c.cmd("SET", "sess:readyz:probe", "1", "EX", "5") == "OK"
        assert c.cmd("DEL", "sess:a", "sess:b", "sess:c", "sess:d") == 4
        role = c.cmd("ROLE")
        assert role[0] == "master", role
        assert c.cmd("WAIT", "2", "1000") == 2


@t.case
def app_user_cannot_run_dangerous_commands(tier):
    with tier.admin(BASE) as adm:
        before = adm.cmd("DBSIZE")
    assert before > 0, "no keys to protect"
    denied = [
        ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"),
        ("CONFIG", "SET", "maxmemory", "1"), ("CONFIG", "REWRITE"),
        ("DEBUG", "SLEEP", "0"), ("KEYS", "*"), ("SCAN", "0"),
        ("SHUTDOWN", "NOSAVE"), ("MODULE", "LIST"),
        ("EVAL", "return 1", "0"), ("ACL", "LIST"),
        ("REPLICAOF", "NO", "ONE"), ("SLAVEOF", "127.0.0.1", "1"),
        ("MONITOR",), ("INFO",), ("CLIENT", "LIST"), ("SAVE",),
        ("BGREWRITEAOF",), ("MIGRATE", "127.0.0.1", "1", "sess:x", "0", "1"),
        ("SUBSCRIBE", "x"), ("PUBLISH", "x", "y"),
    ]
    with tier.app(BASE) as c:
        for args in denied:
            # Redis 7 also disables DEBUG and MODULE for everybody
            # (enable-debug-command / enable-module-command no) and checks
            # that first: either refusal is fine.
            e = expect_error(lambda: c.cmd(*args), "NOPERM",
                             "ERR %s command not allowed" % args[0])
            assert args[0].lower() in e.lower() or "channel" in e or \
                "key" in e, e
        assert c.cmd("PING") == "PONG", "app connection broken"
    with tier.admin(BASE) as adm:
        assert adm.cmd("DBSIZE") == before, "keys changed"
        assert adm.cmd("CONFIG", "GET", "maxmemory") == \
            ["maxmemory", str(256 * 1024 * 1024)]


@t.case
def app_user_cannot_touch_keys_outside_sess(tier):
    with tier.admin(BASE) as adm:
        assert adm.cmd("SET", "other:key", "secret") == "OK"
    with tier.app(BASE) as c:
        expect_error(lambda: c.cmd("GET", "other:key"), "NOPERM")
        expect_error(lambda: c.cmd("SET", "other:key", "x"), "NOPERM")
        expect_error(lambda: c.cmd("DEL", "other:key"), "NOPERM")
        expect_error(lambda: c.cmd("SET", "session:1", "x"), "NOPERM")
        expect_error(lambda: c.cmd("EXPIRE", "other:key", "1"), "NOPERM")
    with tier.admin(BASE) as adm:
        assert adm.cmd("GET", "other:key") == "secret"
        assert adm.cmd("GET", "session:1") is None


@t.case
def replication_and_sentinel_users_cannot_read_data(tier):
    for user, secret in (("replica-user", "replication"),
                         ("sentinel-user", "sentinel")):
        with tier.conn(BASE, user, tier.secret(secret)) as c:
            assert c.cmd("PING") == "PONG"
            expect_error(lambda: c.cmd("GET", "sess:repl1"), "NOPERM")
            expect_error(lambda: c.cmd("FLUSHALL"), "NOPERM")
            expect_error(lambda: c.cmd("CONFIG", "SET", "appendonly", "no"),
                         "NOPERM")


@t.case
def no_plain_password_in_acl_file_or_command_line(tier):
    secrets = [tier.secret(n) for n in ("admin", "app", "replication",
                                        "sentinel")]
    for name in ("primary", "replica1", "replica2"):
        node = tier.nodes[name]
        with open(os.path.join(tier.dir, name, "data", "users.acl")) as f:
            acl = f.read()
        assert acl.count("\nuser ") + acl.startswith("user ") == 4, acl
        with open("/proc/%d/cmdline" % node.proc.pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
        for s in secrets:
            assert s not in acl, "plain secret in %s users.acl" % name
            assert s not in cmdline, "secret on %s's command line" % name
        st = os.stat(os.path.join(tier.dir, name, "data", "users.acl"))
        assert st.st_mode & 0o077 == 0, "users.acl mode %o" % st.st_mode


@t.case
def dropped_link_resyncs_partially(tier):
    with tier.admin(BASE) as adm:
        killed = adm.cmd("CLIENT", "KILL", "TYPE", "replica")
        assert killed == 2, "killed %r replica links" % killed
        with tier.app(BASE) as app:
            assert app.cmd("SET", "sess:after-drop", "1", "EX", "60") == "OK"
        for port in (BASE + 1, BASE + 2):
            with tier.admin(port) as c:
                wait_for("sess:after-drop on %d" % port,
                         lambda c=c: c.cmd("GET", "sess:after-drop") == "1",
                         5)
    with open(os.path.join(tier.logs, "redis-server.log")) as f:
        log = f.read()
    n = log.count("Partial resynchronization request from")
    assert n == 2, "%d partial resyncs accepted in the primary's log" % n


t.run(setup=setup, teardown=lambda tier: tier and tier.close())
