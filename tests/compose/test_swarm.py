#!/usr/bin/env python3
"""test_swarm.py -- the stack on a single-node Docker Swarm.

Renders compose.yaml for `docker stack deploy` (tests/compose/
swarm_stack.py says what changes and why), deploys it on this machine's
engine, and checks that nginx answers on port 3000, that the pool is
replicated and scales (docker service scale) with nginx following, that a
session reaches both replicas and that the collector reads every
instance's log.

If the engine is not in a swarm, the test runs `docker swarm init` and
leaves the swarm at the end (removing the docker_gwbridge network that
init created); a swarm it finds is used and left alone.  The stack, its
volumes and networks are removed even when a case fails.  Images are the
ones test_compose_stack.py builds (built here too if missing; layer cache).  Skips
(77) only when no Docker engine is reachable.  Port: the stack's 3000.
"""
import functools
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
import swarm_stack
import composelib
import httpc
from composelib import log, run
from poll import wait_for
from ports import port_free
from tap import Skip, Suite, teardown_guard

ROOT = os.path.dirname(os.path.dirname(HERE))
STACK = "wsswarm" + uuid.uuid4().hex[:8]
PORT = int(os.environ.get("WEBSTACK_PORT", "3000"))

t = Suite()
state = {"joined": False, "gwbridge_before": True, "tmp": None}


# Requests to the published port.
http_get = functools.partial(httpc.http_get, PORT)


def root_ok():
    s, _, b = http_get("/")
    return s == 200 and json.loads(b) == {"status": "ok"}


def tasks(service):
    """Running container ids of a stack service."""
    return run(["docker", "ps", "-q", "--filter",
                f"label=com.docker.swarm.service.name={STACK}_{service}"]
               ).stdout.split()


def hostname(cid):
    return run(["docker", "inspect", "-f", "{{.Config.Hostname}}", cid]
               ).stdout.strip()


def workers(n):
    """Distinct worker hosts among n /session answers."""
    seen = set()
    for _ in range(n):
        s, _, b = http_get("/session")
        if s == 200:
            seen.add(json.loads(b)["worker"])
    return seen


def local_address():
    """The address of the default route (what swarm init advertises)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))     # no packet is sent
        return s.getsockname()[0]


def setup():
    if shutil.which("docker") is None:
        raise Skip("no docker CLI")
    if run(["docker", "info"], check=False, timeout=30).returncode != 0:
        raise Skip("no Docker engine reachable")
    run([composelib.BASE_IMAGE_SCRIPT], timeout=900)
    compose = (["docker-compose"] if shutil.which("docker-compose")
               else ["docker", "compose"])
    run(compose + ["-f", os.path.join(ROOT, "compose.yaml"), "build"],
        timeout=1800, cwd=ROOT)
    wait_for(f"port {PORT} free on the host",
             lambda: port_free(PORT), 120, interval=1)
    node = run(["docker", "info", "-f", "{{.Swarm.LocalNodeState}}"]
               ).stdout.strip()
    if node == "inactive":
        state["gwbridge_before"] = run(
            ["docker", "network", "inspect", "docker_gwbridge"],
            check=False).returncode == 0
        run(["docker", "swarm", "init", "--advertise-addr",
             local_address()], timeout=120)
        state["joined"] = True
    elif node != "active":
        raise RuntimeError(f"swarm node state {node!r}")
    state["tmp"] = tempfile.mkdtemp(prefix="test_swarm.")
    files = swarm_stack.render(state["tmp"], composelib.Project.UNLIMITED)
    t0 = time.monotonic()
    run(["docker", "stack", "deploy", "--resolve-image", "never"]
        + [arg for f in files for arg in ("-c", f)] + [STACK], timeout=300,
        env=dict(os.environ, WEBSTACK_PORT=str(PORT),
                 **composelib.Project.UNLIMITED))
    wait_for("GET / through the stack", root_ok, 120, interval=1)
    log(f"stack answered {time.monotonic() - t0:.1f}s after deploy")
    return {}


_torn_down = threading.Lock()


def teardown(ctx):
    if not _torn_down.acquire(blocking=False):
        return
    label = f"label=com.docker.stack.namespace={STACK}"
    run(["docker", "stack", "rm", STACK], check=False, timeout=120)

    def gone():
        return not run(["docker", "ps", "-aq", "--filter", label],
                       check=False).stdout.split()
    try:
        wait_for("stack containers gone", gone, 90, interval=1)
    except AssertionError as e:
        log(str(e))
    for kind in ("volume", "network"):
        left = run(["docker", kind, "ls", "-q", "--filter", label],
                   check=False).stdout.split()
        if left:
            run(["docker", kind, "rm"] + left, check=False, timeout=120)
    if state["joined"]:
        run(["docker", "swarm", "leave", "--force"], check=False,
            timeout=120)
        if not state["gwbridge_before"]:
            run(["docker", "network", "rm", "docker_gwbridge"],
                check=False)
    if state["tmp"]:
        shutil.rmtree(state["tmp"], ignore_errors=True)


@t.case
def stack_answers_root():
    s, h, b = http_get("/")
    assert s == 200 and json.loads(b) == {"status": "ok"}, (s, b)
    assert "connect.sid=" in h.get("set-cookie", ""), h


@t.case
def tasks_keep_least_privilege():
    # What Swarm can carry of compose.yaml's least privilege (see
    # swarm_stack.py): read-only root, no capabilities, both limits; and
    # no setuid file in the images in place of no-new-privileges.
    for svc in ("nginx", "fcgi-app", "collector", "redis-primary",
                "redis-replica-1", "redis-replica-2"):
        for cid in tasks(svc):
            hc = json.loads(composelib.inspect(cid, "{{json .HostConfig}}"))
            bad = [k for k, ok in (
                ("read-only root", hc.get("ReadonlyRootfs")),
                ("cap_drop ALL", "ALL" in (hc.get("CapDrop") or [])),
                ("no cap_add", not hc.get("CapAdd")),
                ("pids limit", (hc.get("PidsLimit") or 0) > 0),
                ("memory limit", (hc.get("Memory") or 0) > 0)) if not ok]
            assert not bad, f"{svc} task lacks {bad}"
            suid = composelib.dexec(cid, "find / -xdev -perm /6000 -type f "
                                         "2>/dev/null", check=False)
            assert not suid.stdout.split(), f"{svc}: {suid.stdout}"


@t.case
def pool_is_replicated():
    # The stack answers as soon as one task runs; the second one may
    # still be starting (seen in CI), so wait for it, bounded.
    wait_for("2 fcgi-app tasks running",
             lambda: len(tasks("fcgi-app")) == 2 or None, 60)
    assert len(tasks("fcgi-app")) == 2, tasks("fcgi-app")
    seen = wait_for("both replicas answering", lambda: (
        lambda w: w if len(w) == 2 else None)(workers(20)), 10)
    log(f"workers: {sorted(seen)}")


@t.case
def scale_to_four_all_serve():
    run(["docker", "service", "scale", "--detach=false",
         f"{STACK}_fcgi-app=4"], timeout=180)
    t0 = time.monotonic()
    hosts = {hostname(c) for c in tasks("fcgi-app")}
    assert len(hosts) == 4, hosts
    seen = set()

    def all_serve():
        seen.update(workers(20))
        return seen >= hosts or None
    wait_for("4 replicas answering /session", all_serve, 10, interval=0.1)
    log(f"4 replicas served {time.monotonic() - t0:.1f}s after the scale "
        f"command converged")


@t.case
def session_reaches_both_replicas():
    s, h, _ = http_get("/")
    assert s == 200
    sc = h.get("set-cookie", "")
    sid = sc.split("=s%3A", 1)[1].split(".", 1)[0]
    for svc in ("redis-replica-1", "redis-replica-2"):
        c = tasks(svc)
        assert len(c) == 1, f"{svc}: {c}"
        cmd = ('REDISCLI_AUTH="$(head -n 1 /run/secrets/redis/admin)" '
               f'redis-cli --raw GET sess:{sid}')
        doc = wait_for(f"sess:{sid} on {svc}", lambda: run(
            ["docker", "exec", c[0], "sh", "-c", cmd]).stdout.strip(), 2,
            interval=0.1)
        assert '"cookie"' in doc, doc[:200]


@t.case
def collector_reads_every_instance():
    c = tasks("collector")
    assert len(c) == 1, f"collector tasks: {c}"
    paths = {f"/var/log/fcgi-app/{hostname(a)}.log"
             for a in tasks("fcgi-app")}

    def seen():
        got = set()
        for line in run(["docker", "logs", c[0]]).stdout.splitlines():
            if line.startswith("{"):
                got.add(json.loads(line).get("path"))
        return paths <= got or None
    wait_for("collector events from every instance's log", seen, 15)



if __name__ == "__main__":
    teardown_guard(teardown, 90)
    t.run(setup, teardown)
