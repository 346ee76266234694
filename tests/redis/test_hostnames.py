#!/usr/bin/env python3
"""test_hostnames.py -- the tier addressed by host name, as in Compose:
`sentinel resolve-hostnames` / `announce-hostnames`, replica-announce-ip
and sentinel announce-ip carry names, not IPs, through a failover.

The name is "localhost" (every node listens on 127.0.0.1 and, where it
exists, ::1, so either resolution works).  Real processes via
redis/entrypoint.sh, data nodes on ports 21600-21602, sentinels on
21610-21612, in a temporary directory removed at the end.
"""
import os
import signal
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from tier import Tier, RedisError, wait_for

NAME_HOST = "localhost"
BASE = 21600
SENTINELS = [21610, 21611, 21612]
BIND = ("--bind", "127.0.0.1", "-::1")
t = Suite()
state = {}


def pairs(flat):
    return dict(zip(flat[::2], flat[1::2]))


def node_env():
    return {"REDIS_ANNOUNCE_HOST": NAME_HOST,
            "REDIS_PRIMARY_HOST": NAME_HOST,
            "REDIS_SENTINELS": " ".join("%s:%d" % (NAME_HOST, p)
                                        for p in SENTINELS)}


def setup():
    tier = Tier()
    try:
        tier.start_primary(BASE, node_env(), BIND)
        tier.start_replica(1, BASE + 1, BASE, node_env(), BIND)
        tier.start_replica(2, BASE + 2, BASE, node_env(), BIND)
        for i, port in enumerate(SENTINELS, 1):
            tier.start_sentinel(i, port, BASE, node_env(), BIND)
    except BaseException:
        tier.close()
        raise
    return tier


def master(tier, sp):
    with tier.conn(sp, None, tier.secret("sentinel-admin")) as c:
        return pairs(c.cmd("SENTINEL", "MASTER", "sessions"))


def replicas(tier, sp):
    with tier.conn(sp, None, tier.secret("sentinel-admin")) as c:
        return [pairs(r) for r in c.cmd("SENTINEL", "REPLICAS", "sessions")]


@t.case
def sentinels_know_every_node_by_name(tier):
    for sp in SENTINELS:
        wait_for("sentinel %d to see 2 replicas and 2 peers" % sp,
                 lambda sp=sp: (master(tier, sp)["num-slaves"] == "2"
                                and master(tier, sp)["num-other-sentinels"]
                                == "2"), 20, 0.2)
        m = master(tier, sp)
        assert (m["ip"], m["port"]) == (NAME_HOST, str(BASE)), m
        reps = sorted((r["ip"], r["port"]) for r in replicas(tier, sp))
        assert reps == [(NAME_HOST, str(BASE + 1)),
                        (NAME_HOST, str(BASE + 2))], reps
        with tier.conn(sp, None, tier.secret("sentinel-admin")) as c:
            peers = [pairs(s) for s in c.cmd("SENTINEL", "SENTINELS",
                                             "sessions")]
        assert sorted(p["ip"] for p in peers) == [NAME_HOST] * 2, peers


@t.case
def failover_hands_out_a_name(tier):
    tier.stop("primary", signal.SIGKILL)
    t0 = time.monotonic()

    def promoted():
        with tier.conn(SENTINELS[0], "app", tier.secret("app")) as c:
            r = c.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "sessions")
        return r if r and r[1] != str(BASE) else None
    host, port = wait_for("a promotion", promoted, 20, 0.1)
    print("# promoted %s:%s after %.1fs" % (host, port,
                                           time.monotonic() - t0),
          flush=True)
    assert host == NAME_HOST, host
    state["new"] = int(port)
    with tier.app(int(port)) as c:
        assert c.cmd("ROLE")[0] == "master"
        assert c.cmd("SET", "sess:named", "1", "EX", "60") == "OK"


@t.case
def old_primary_finds_new_one_by_name(tier):
    new = state.get("new")
    assert new, "no failover happened"
    node = tier.start_primary(BASE, node_env(), BIND)
    assert "Sentinel says the primary is %s %d" % (NAME_HOST, new) \
        in node.output(), node.output()
    wait_for("old primary linked to %d" % new,
             lambda: (tier.info(BASE)["master_host"] == NAME_HOST
                      and tier.info(BASE)["master_port"] == str(new)
                      and tier.info(BASE)["master_link_status"] == "up"), 20)
    try:
        tier.ask(BASE, "SET", "sess:x", "1")
        raise AssertionError("old primary accepted a write")
    except RedisError as e:
        assert str(e).startswith("READONLY"), e


t.run(setup=setup, teardown=lambda tier: tier and tier.close())
