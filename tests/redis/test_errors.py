#!/usr/bin/env python3
"""test_errors.py -- wrong or missing secrets, a wrong replication password
and an unreachable primary give a clear error and bounded waits, never a
silent crash loop.

Runs redis/entrypoint.sh, redis-server and redis-sentinel for real on
127.0.0.1, ports 21400-21419, each case in its own temporary directory
removed at the end of the case.
"""
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite
from tier import Tier, info, wait_for

BASE = 21400
t = Suite()


def refused(tier, name, role, port, env, expect, bound):
    """Start node `name`; it must exit 1 within `bound` seconds with a
    "redis-...: error:" line containing `expect`.  Returns the output."""
    t0 = time.monotonic()
    node = tier.spawn(name, role, port, env)
    try:
        rc = node.proc.wait(bound)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s still running after %ss" % (name, bound))
    dt = time.monotonic() - t0
    out = node.output()
    assert rc == 1, "exit status %s, output:\n%s" % (rc, out)
    assert ": error: " in out and expect in out, "unclear error:\n" + out
    print("# %s refused after %.1fs: %s" % (
        name, dt, out.strip().splitlines()[-1]), flush=True)
    return out


def case(fn):
    """A case that gets a fresh Tier (secrets generated unless the case's
    name says "no_secrets") and always closes it."""
    def run():
        tier = Tier(generate_secrets="no_secrets" not in fn.__name__)
        try:
            fn(tier)
        finally:
            tier.close()
    run.__name__ = fn.__name__
    return t.case(run)


def write_secret(tier, name, value):
    os.makedirs(tier.secrets, exist_ok=True)
    with open(os.path.join(tier.secrets, name), "w") as f:
        f.write(value + "\n")


@case
def no_secrets_replica_waits_bounded_then_names_them(tier):
    out = refused(tier, "replica1", "replica", BASE + 1,
                  {"REDIS_REPLICA_ID": "1", "REDIS_WAIT_SECONDS": "2"},
                  "secrets still missing", 8)
    assert "admin replication app.sha256 sentinel.sha256" in out, out


@case
def no_secrets_with_generation_off_primary_refuses(tier):
    for name in ("admin", "replication", "sentinel"):
        write_secret(tier, name, "x" * 32)
    out = refused(tier, "primary", "primary", BASE,
                  {"REDIS_GENERATE_SECRETS": "no", "REDIS_WAIT_SECONDS": "1"},
                  "secrets still missing", 6)
    assert ": app.sha256 (" in out, out


@case
def short_secret_refused(tier):
    write_secret(tier, "admin", "short")
    out = refused(tier, "primary", "primary", BASE, {},
                  "at least 16 needed", 5)
    assert os.path.join(tier.secrets, "admin") in out, out
    with open(os.path.join(tier.secrets, "admin")) as f:
        assert f.read() == "short\n", "a given secret was overwritten"


@case
def secret_with_bad_characters_refused(tier):
    write_secret(tier, "app", "has spaces and \"quotes\" 123456")
    refused(tier, "primary", "primary", BASE, {},
            "characters outside [A-Za-z0-9._~+/=-]", 5)


@case
def generated_secrets_are_kept_and_shared(tier):
    before = {n: tier.secret(n) for n in ("admin", "app", "replication",
                                          "sentinel", "sentinel-admin")}
    assert len(set(before.values())) == 5, "secrets not distinct"
    for v in before.values():
        assert len(v) == 64 and all(c in "0123456789abcdef" for c in v), v
    st = os.stat(os.path.join(tier.secrets, "app"))
    assert st.st_mode & 0o007 == 0, "secret mode %o" % st.st_mode
    # Two generators racing on an empty directory agree on one secret.
    d = os.path.join(tier.dir, "race")
    script = os.path.join(os.path.dirname(HERE), "..", "redis", "secrets.sh")
    procs = [subprocess.Popen([script, "generate", d],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(4)]
    assert all(p.wait(10) == 0 for p in procs), "a generator failed"
    assert sorted(os.listdir(d)) == ["admin", "app", "replication",
                                     "sentinel", "sentinel-admin"], \
        os.listdir(d)
    # A start with existing secrets keeps them.
    tier.start_primary(BASE)
    assert before == {n: tier.secret(n) for n in before}


@case
def each_role_starts_from_its_own_secrets_only(tier):
    # compose.yaml's layout: secrets.sh split gives the data nodes and the
    # Sentinels only what they use.  A primary, a replica and a Sentinel
    # started from those (not from the full set) work together, and the
    # Sentinel's admin password is not the data nodes' sentinel-user one.
    script = os.path.join(os.path.dirname(HERE), "..", "redis", "secrets.sh")
    dirs = {}
    for role in ("node", "sentinel"):
        dirs[role] = os.path.join(tier.dir, "split-" + role)
        subprocess.run([script, "split", tier.secrets, role, dirs[role]],
                       check=True, timeout=10)
    assert sorted(os.listdir(dirs["node"])) == [
        "admin", "app.sha256", "replication", "sentinel.sha256"]
    assert sorted(os.listdir(dirs["sentinel"])) == [
        "app.sha256", "replication.sha256", "sentinel", "sentinel-admin"]
    node_env = {"REDIS_SECRETS_DIR": dirs["node"],
                "REDIS_GENERATE_SECRETS": "no"}
    tier.start_primary(BASE, env=node_env)
    tier.start_replica(1, BASE + 1, BASE, env=node_env)
    tier.start_sentinel(1, BASE + 10, BASE,
                        env={"REDIS_SECRETS_DIR": dirs["sentinel"]})
    with tier.app(BASE) as app:
        assert app.cmd("SET", "sess:split", "1", "EX", "60") == "OK"
    with tier.admin(BASE + 1) as c:
        wait_for("the replica to hold the write",
                 lambda: c.cmd("GET", "sess:split") == "1", 10, 0.2)
    # The app and the data nodes (as replica-user) may ask the Sentinel
    # who is primary; the sentinel-user password does not open it.
    for user, secret in (("app", "app"), ("replica-user", "replication")):
        with tier.conn(BASE + 10, user, tier.secret(secret)) as c:
            assert c.cmd("SENTINEL", "get-master-addr-by-name",
                         "sessions")[1] == str(BASE), user
    try:
        with tier.conn(BASE + 10, None, tier.secret("sentinel")) as c:
            reply = c.cmd("PING")
    except Exception as e:      # refused at AUTH
        reply = str(e)
    assert reply != "PONG", "the sentinel-user password opened Sentinel"


@case
def bad_setting_named_in_error(tier):
    refused(tier, "replica1", "replica", BASE + 1,
            {"REDIS_REPLICA_ID": "one"}, "REDIS_REPLICA_ID", 5)
    refused(tier, "replica2", "replica", BASE + 2,
            {"REDIS_REPLICA_ID": "2", "REDIS_PRIMARY_PORT": "70000"},
            "REDIS_PRIMARY_PORT", 5)
    refused(tier, "other", "arbiter", BASE + 3, {}, "unknown role", 5)


@case
def missing_acl_file_aborts_startup(tier):
    # Fail closed: never a server with the default (passwordless) users.
    conf = os.path.join(tier.conf, "primary.conf")
    t0 = time.monotonic()
    r = subprocess.run(["redis-server", conf, "--port", str(BASE),
                        "--bind", "127.0.0.1", "--dir", tier.dir,
                        "--logfile", "", "--aclfile",
                        os.path.join(tier.dir, "nope.acl")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0, "redis-server started without its ACL file"
    assert "Aborting Redis startup because of ACL errors" in r.stdout, \
        r.stdout[-1000:]
    assert time.monotonic() - t0 < 5


@case
def replica_with_wrong_masterauth_keeps_retrying(tier):
    tier.start_primary(BASE)
    node = tier.start_replica(1, BASE + 1, BASE,
                              args=("--masterauth", "wrong-password-1234"))

    def auth_failures():
        return node.log().count("Unable to AUTH to MASTER")
    wait_for("two AUTH failures in the replica's log",
             lambda: auth_failures() >= 2, 6, 0.2)
    assert "WRONGPASS" in node.log(), node.log()[-1500:]
    assert node.proc.poll() is None, "replica exited"
    with tier.admin(BASE + 1) as c:
        assert info(c)["master_link_status"] == "down"
        assert c.cmd("PING") == "PONG"


@case
def replica_with_unreachable_primary_retries_then_links(tier):
    # The primary's port has nothing listening when the replica starts.
    node = tier.start_replica(1, BASE + 1, BASE + 9)
    assert "does not answer yet" in node.output(), node.output()
    wait_for("two failed SYNC attempts in the replica's log",
             lambda: node.log().count("Error condition on socket for SYNC: "
                                      "Connection refused") >= 2, 6, 0.2)
    assert node.proc.poll() is None, "replica exited"
    tier.start_primary(BASE + 9)
    with tier.app(BASE + 9) as app:
        assert app.cmd("SET", "sess:late", "1", "EX", "60") == "OK"
    with tier.admin(BASE + 1) as c:
        wait_for("replica to link once the primary is up",
                 lambda: c.cmd("GET", "sess:late") == "1", 15, 0.2)


@case
def sentinel_with_unreachable_primary_gives_up_bounded(tier):
    out = refused(tier, "sentinel1", "sentinel", BASE + 10,
                  {"REDIS_SENTINEL_ID": "1", "REDIS_PRIMARY_HOST": "127.0.0.1",
                   "REDIS_PRIMARY_PORT": str(BASE + 9),
                   "REDIS_WAIT_SECONDS": "2"},
                  "did not answer PING as sentinel-user within 2 s", 10)
    assert "Connection refused" in out, out
    assert not os.path.exists(os.path.join(tier.dir, "sentinel1", "data",
                                           "sentinel.conf"))


@case
def sentinel_with_wrong_password_gives_up_bounded(tier):
    tier.start_primary(BASE)
    write_secret(tier, "sentinel", "not-the-sentinel-password-0123")
    out = refused(tier, "sentinel1", "sentinel", BASE + 10,
                  {"REDIS_SENTINEL_ID": "1", "REDIS_PRIMARY_HOST": "127.0.0.1",
                   "REDIS_PRIMARY_PORT": str(BASE),
                   "REDIS_WAIT_SECONDS": "2"},
                  "did not answer PING", 10)
    assert "WRONGPASS" in out, out


t.run()
