#!/usr/bin/env python3
"""test_restart.py -- restarted replicas catch up; a restarted primary keeps
its data (AOF) and never wipes its replicas.

Real redis-server processes started by redis/entrypoint.sh on 127.0.0.1,
ports 21200-21209, in a temporary directory removed at the end.  The cases
run in order on one tier: each leaves it linked and consistent.
"""
import os
import signal
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from tier import Tier, info, start_trio, wait_for

BASE = 21200
N = 500
PEERS = "127.0.0.1:%d 127.0.0.1:%d" % (BASE + 1, BASE + 2)
t = Suite()


def setup():
    tier = Tier()
    try:
        start_trio(tier, BASE)
        with tier.app(BASE) as app:
            for i in range(N):
                assert app.cmd("SET", "sess:k%d" % i, "v%d" % i,
                               "EX", "3600") == "OK"
            assert app.cmd("WAIT", "2", "2000") == 2
    except BaseException:
        tier.close()
        raise
    return tier


def linked(tier, port):
    with tier.admin(port) as c:
        i = info(c)
    return (i.get("master_link_status") == "up"
            and i.get("master_sync_in_progress") == "0")


def new_log(tier, idx, mark):
    """What replica idx logged after byte offset mark."""
    with open(os.path.join(tier.logs, "redis-replica-%d.log" % idx)) as f:
        f.seek(mark)
        return f.read()


def log_size(tier, name):
    return os.path.getsize(os.path.join(tier.logs, name))


def restart_replica(tier, idx, args=()):
    """SIGTERM replica idx, write while it is down, start it again; return
    what it logged during the restart once it has caught up."""
    port = BASE + idx
    mark = log_size(tier, "redis-replica-%d.log" % idx)
    tier.stop("replica%d" % idx)
    with tier.app(BASE) as app:
        assert app.cmd("SET", "sess:while-down-%d" % idx, "x",
                       "EX", "3600") == "OK"
    tier.start_replica(idx, port, BASE, args=args)
    wait_for("replica %d to relink" % idx, lambda: linked(tier, port), 15)
    with tier.admin(port) as c:
        assert c.cmd("GET", "sess:while-down-%d" % idx) == "x"
        assert c.cmd("DBSIZE") >= N + 1
    return new_log(tier, idx, mark)


@t.case
def restarted_replica_catches_up_full_resync_with_aof(tier):
    # Shipped config: AOF on every node.  Redis 7.0 does not restore the
    # replication ID from the AOF, so this restart costs a full resync
    # (docs/REDIS.md).  If a Redis upgrade makes it partial, this fails and
    # the doc must change.
    log = restart_replica(tier, 1)
    assert "Partial resynchronization not possible (no cached master)" in log
    assert "Full resync from master" in log, log[-1500:]
    assert "MASTER <-> REPLICA sync: Finished with success" in log


@t.case
def restarted_rdb_only_replica_resyncs_partially(tier):
    # The other choice: without AOF the replica reloads its RDB, which holds
    # the replication ID and offset, and asks for a partial resync.
    log = restart_replica(tier, 2, args=("--appendonly", "no"))
    assert "Successful partial resynchronization with master" in log, \
        log[-1500:]
    assert "Full resync from master" not in log
    with open(os.path.join(tier.logs, "redis-server.log")) as f:
        assert "Partial resynchronization request from 127.0.0.1:%d " \
            "accepted" % (BASE + 2) in f.read()


@t.case
def killed_primary_restarts_with_its_data_and_keeps_replicas(tier):
    with tier.app(BASE) as app:
        # Everything so far is on both replicas (N + 2 keys) ...
        assert app.cmd("WAIT", "2", "2000") == 2
        # ... and this one is acknowledged by the primary only (replication
        # is asynchronous); SIGKILL right after: the AOF write happens
        # before the reply, so it survives a process crash.
        assert app.cmd("SET", "sess:last", "before-kill", "EX", "3600") \
            == "OK"
    mark = log_size(tier, "redis-server.log")
    tier.stop("primary", signal.SIGKILL)
    lowest = {}
    phase = {}

    def watch(what):
        for port in (BASE + 1, BASE + 2):
            with tier.admin(port) as c:
                n = c.cmd("DBSIZE")
            if n < lowest.get(port, n + 1):
                lowest[port], phase[port] = n, what
    watch("right after the kill")
    # REDIS_PEERS set: the empty-primary guard must let a primary that has
    # its AOF start normally.
    tier.start_primary(BASE, {"REDIS_PEERS": PEERS})
    with tier.admin(BASE) as c:
        assert c.cmd("DBSIZE") >= N + 3, c.cmd("DBSIZE")
        assert c.cmd("GET", "sess:last") == "before-kill"
        assert c.cmd("GET", "sess:k%d" % (N - 1)) == "v%d" % (N - 1)
    with open(os.path.join(tier.logs, "redis-server.log")) as f:
        f.seek(mark)
        log = f.read()
    assert "DB loaded from append only file" in log, log[-1500:]

    def both_linked():
        watch("while relinking")
        return linked(tier, BASE + 1) and linked(tier, BASE + 2)
    wait_for("both replicas to relink", both_linked, 20)
    watch("once relinked")
    with tier.app(BASE) as app:
        assert app.cmd("SET", "sess:after", "1", "EX", "60") == "OK"
        assert app.cmd("WAIT", "2", "2000") == 2
    for port in (BASE + 1, BASE + 2):
        # never below what it held at the kill (sess:last may not have
        # reached it yet); it must have sess:last once relinked (below)
        assert lowest[port] >= N + 2, "replica %d went down to %d keys %s" % (
            port, lowest[port], phase[port])
        with tier.admin(port) as c:
            assert c.cmd("GET", "sess:last") == "before-kill"
            assert c.cmd("GET", "sess:after") == "1"


@t.case
def empty_primary_refuses_while_replicas_hold_data(tier):
    # The primary's volume is lost: no AOF, no RDB.  Its replicas still
    # hold every session, so the entrypoint refuses to start it.
    tier.stop("primary", signal.SIGKILL)
    empty = os.path.join(tier.dir, "empty")
    os.makedirs(empty)
    t0 = time.monotonic()
    node = tier.spawn("primary-empty", "primary", BASE,
                      {"REDIS_DATA_DIR": empty, "REDIS_PEERS": PEERS})
    rc = node.proc.wait(15)
    out = node.output()
    assert rc == 1, "exit status %s:\n%s" % (rc, out)
    assert "refusing to start as an empty primary" in out, out
    assert "holds %d keys" % (N + 4) in out, out
    print("# refused after %.1fs: %s" % (time.monotonic() - t0,
                                         out.strip().splitlines()[-1]),
          flush=True)
    for port in (BASE + 1, BASE + 2):
        with tier.admin(port) as c:
            assert c.cmd("DBSIZE") == N + 4


@t.case
def control_empty_primary_allowed_wipes_replicas(tier):
    # Shows what the AOF and the guard prevent, and that the cases above
    # can fail: the same empty primary, allowed to start, hands its empty
    # dataset to the replicas.
    if "primary" in tier.nodes:
        tier.stop("primary", signal.SIGKILL)
    empty = os.path.join(tier.dir, "empty")
    os.makedirs(empty, exist_ok=True)
    tier.start("primary-allowed", "primary", BASE,
               {"REDIS_DATA_DIR": empty, "REDIS_PEERS": PEERS,
                "REDIS_ALLOW_EMPTY_PRIMARY": "yes"},
               ("--appendonly", "no", "--save", ""), "redis-server.log")
    for port in (BASE + 1, BASE + 2):
        with tier.admin(port) as c:
            wait_for("replica %d to be wiped" % port,
                     lambda c=c: c.cmd("DBSIZE") == 0, 20)


t.run(setup=setup, teardown=lambda tier: tier and tier.close())
