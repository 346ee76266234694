#!/usr/bin/env python3
"""test_compose_stack.py -- the whole stack in containers, end to end.

Brings compose.yaml up under a unique project name on this machine's Docker
Engine and checks what the containers issue promises: nginx answers on
port 3000 and is the only published port; FastCGI and Redis are not
reachable from the host; every process runs as non-root and every service
is healthy; a session lands on both replicas; the collector prints events
from every log; scaling up and down works without restarting nginx or
failing a GET; killing an app container, stopping the Redis primary and
restarting the collector are survived; a stuck collector turns unhealthy
and then catches up; sessions and collector offsets
survive `down` then `up`.

Images are built once per run (docker-compose build, layer cache).  The
base image comes from lib/tools/base-image.sh (pulled, or made from
Debian's archive).  Teardown removes the project's containers, networks
and volumes even when a case fails.  Skips (77) only when no Docker engine
is reachable.  Port: the stack's 3000 (WEBSTACK_PORT overrides it).
"""
import functools
import http.client
import json
import os
import re
import threading
import time
import uuid

import composelib
import httpc
from composelib import (Project, dexec, engine_or_skip,  # noqa
                        inspect, log, run, tcp_from)
from httpc import session_cookie
from poll import wait_for
from ports import port_free
from tap import Suite, teardown_guard

PROJECT = "wstest" + uuid.uuid4().hex[:8]
PORT = int(os.environ.get("WEBSTACK_PORT", "3000"))
TAG = os.environ.get("WEBSTACK_TAG", "latest")
UP_TIMEOUT = 90
PORT_WAIT = 120

t = Suite()


# -- helpers (the shared ones are in composelib.py) ---------------------------

# compose.yaml as shipped, plus only a bigger log retention for the
# collector's stdout, which check_exact() reads back (see that file).
P = Project(PROJECT, PORT, files=("compose.yaml",
                                  "tests/compose/keep-collector-output.yaml"))


def compose(*args, timeout=300, check=True):
    return P.compose(*args, timeout=timeout, check=check)


def ids(service):
    return P.ids(service)


def one(service):
    return P.one(service)


def redis_cli(service, *args):
    """redis-cli inside a Redis container, as the admin user."""
    return P.redis_cli(service, *args)


# Requests to the published port.
http_get = functools.partial(httpc.http_get, PORT)


def root_ok():
    s, _, b = http_get("/")
    return s == 200 and json.loads(b) == {"status": "ok"}


class Load:
    """Background GETs of one path, one fresh connection each, counting
    statuses and errors until stopped."""

    def __init__(self, path="/hello/load", threads=2):
        self.path = path
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.bad = []
        self.threads = [threading.Thread(target=self.loop, daemon=True)
                        for _ in range(threads)]

    def loop(self):
        while not self.stop_flag.is_set():
            try:
                s, _, _ = http_get(self.path, timeout=10)
                err = None if s == 200 else f"status {s}"
            except (OSError, http.client.HTTPException) as e:
                err = f"{type(e).__name__}: {e}"
            with self.lock:
                if err is None:
                    self.ok += 1
                else:
                    self.bad.append((time.monotonic(), err))

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for th in self.threads:
            th.join(15)


# The collector's events (its stdout) and the messages read from one
# path: composelib.py, shared with test_rotation.py.
events = composelib.collector_events
messages = composelib.messages_of


def file_lines(path):
    """Complete lines of a log file, read through the collector's mount."""
    data = dexec(one("collector"), f"cat {path}").stdout
    return data.split("\n")[:-1]


def check_exact(path, before=()):
    """The collector's events for path (earlier containers' events first)
    are exactly the file's lines: none lost, none repeated, in order."""
    want = file_lines(path)

    seen = [0]

    def caught_up():
        got = list(before) + messages(events(one("collector")), path)
        seen[0] = len(got)
        return got if len(got) >= len(want) else None
    try:
        got = wait_for(f"collector catching up on {path}", caught_up, 15)
    except AssertionError as e:
        raise AssertionError(f"{e}: collected {seen[0]} of the file's "
                             f"{len(want)} lines") from None
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, (f"{path}: line {i + 1} differs: collected {a!r}, "
                        f"file {b!r}")
    now = file_lines(path)
    assert got == now[:len(got)], (
        f"{path}: collected {len(got)} lines, more than or different from "
        f"the file's {len(now)} (a repeat?)")
    return len(want)


# -- setup / teardown --------------------------------------------------------

def setup():
    P.cmd = engine_or_skip()
    P.build_images()
    # Port 3000 is also `make run`'s (lib/tools/stack.py): wait, bounded,
    # for a native stack to finish rather than fail at once.
    wait_for(f"port {PORT} free on the host (set WEBSTACK_PORT to move "
             f"the stack)", lambda: port_free(PORT), PORT_WAIT,
             interval=1)
    t0 = time.monotonic()
    compose("up", "-d", timeout=300)
    t1 = time.monotonic()
    wait_for("GET / answers {\"status\":\"ok\"}", root_ok, UP_TIMEOUT)
    t2 = time.monotonic()
    log(f"up -d took {t1 - t0:.1f}s; GET / answered {t2 - t1:.1f}s later")
    return {"answer_after_up": t2 - t1}


def teardown(ctx):
    P.teardown()


# -- cases -------------------------------------------------------------------

@t.case
def root_answers_ok(ctx):
    # Within nginx's healthcheck start period (nginx/Dockerfile) of `up -d`
    # returning.
    start_period = 20
    assert ctx["answer_after_up"] <= start_period, \
        f"first answer {ctx['answer_after_up']:.1f}s after up -d returned"
    s, h, b = http_get("/")
    assert s == 200, f"status {s}"
    assert h.get("content-type", "").startswith("application/json")
    assert json.loads(b) == {"status": "ok"}, b
    session_cookie(h)


@t.case
def only_nginx_publishes_a_port():
    published = {}
    for cid in run(["docker", "ps", "-q", "--filter",
                    f"label=com.docker.compose.project={PROJECT}"]
                   ).stdout.split():
        svc = inspect(cid, '{{index .Config.Labels '
                           '"com.docker.compose.service"}}')
        ports = json.loads(inspect(cid, "{{json .NetworkSettings.Ports}}"))
        bound = [p for p, b in (ports or {}).items() if b]
        if bound:
            published[svc] = bound
    assert published == {"nginx": ["3000/tcp"]}, f"published: {published}"
    name = inspect(one("fcgi-app"), "{{.Name}}")
    assert re.search(r"fcgi-app[_-]\d+$", name), f"fcgi-app named {name}"


@t.case
def backend_and_data_are_closed_to_the_host():
    # Proven from the configuration and the host's own interfaces, never by
    # sending to a container's bridge address: Docker's bridge subnets may
    # overlap the network this host sits on, and with no route of its own
    # the host would send such a probe out there.
    host_addrs = run(["ip", "-4", "-o", "addr", "show"]).stdout
    for net in ("backend", "data"):
        info = json.loads(run(["docker", "network", "inspect",
                               f"{PROJECT}_{net}"]).stdout)[0]
        assert info["Internal"] is True, f"network {net} is not internal"
        opt = info.get("Options", {}).get(
            "com.docker.network.bridge.inhibit_ipv4")
        assert opt == "true", f"{net}: the host has an address on it ({opt})"
        for cfg in info["IPAM"]["Config"]:
            gw = cfg.get("Gateway")
            assert not gw or f" {gw}/" not in host_addrs, \
                f"{net}: the host holds its gateway {gw}"
    # ...while nginx, on the backend network, does reach the pool.
    assert root_ok()


# What reaches what (docs/OPERATIONS.md, "What reaches what").  Each probe
# runs inside a container on the source network and names the target by
# the name that network knows it by, so nothing leaves Docker's networks.
@t.case
def only_the_backend_reaches_fastcgi_and_metrics():
    nginx, app, primary = one("nginx"), one("fcgi-app"), one("redis-primary")
    # backend network: nginx reaches the pool, the pool reaches /metrics.
    assert tcp_from(nginx, "fcgi-app", 9000) == "open"
    assert tcp_from(app, "nginx-internal", 3001) == "open"
    r = dexec(app, "bash -c 'exec 3<>/dev/tcp/nginx-internal/3001; printf "
                   "\"GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n\" >&3; "
                   "head -n 1 <&3'")
    assert " 200 " in r.stdout, f"/metrics from the backend: {r.stdout!r}"
    # data network: "fcgi-app" is the pool's data-network address there,
    # and nothing listens on it.
    assert tcp_from(primary, "fcgi-app", 9000) == "closed"
    assert tcp_from(primary, "nginx", 3001) == "unresolved"
    # nginx's own frontend address: 3000 answers, 3001 does not.  The
    # prober is a throwaway container on the frontend network only.
    net = f"{PROJECT}_frontend"
    probe = ("c() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "
             "\"$1\"; echo \" $?\"; }; "
             "c http://nginx:3000/healthz; c http://nginx:3001/metrics; "
             "getent hosts fcgi-app >/dev/null && echo app-resolves || "
             "echo app-unresolved")
    out = run(["docker", "run", "--rm", "--network", net,
               "--label", P.label().split("=", 1)[1],
               "--entrypoint", "/bin/sh", f"webstack/nginx:{TAG}",
               "-c", probe], timeout=60).stdout.split("\n")
    assert out[0] == "200 0", f"frontend -> nginx:3000: {out}"
    assert out[1] == "000 7", f"frontend -> nginx:3001 not refused: {out}"
    assert out[2] == "app-unresolved", f"frontend sees the pool: {out}"


@t.case
def every_service_has_least_privilege():
    problems = {}
    for svc in ("secrets", "nginx", "fcgi-app", "collector",
                "redis-primary", "redis-replica-1", "redis-replica-2"):
        for cid in ids(svc):
            bad = composelib.least_privilege_problems(
                cid, cap_add=["CHOWN"] if svc == "secrets" else ())
            if bad:
                problems[svc] = bad
    assert not problems, f"least privilege missing: {problems}"
    # And as the running processes see it: no capability at all, no way
    # to gain one, and an image they cannot write to.
    for svc in ("nginx", "fcgi-app", "collector", "redis-primary"):
        cid = one(svc)
        privs = composelib.running_privileges(cid)
        assert privs == {("0000000000000000", "1")}, f"{svc}: {privs}"
        w = dexec(cid, "touch /usr/local/bin/x 2>&1; echo $?", check=False)
        assert "Read-only file system" in w.stdout, f"{svc}: {w.stdout}"
        suid = dexec(cid, "find / -xdev -perm /6000 -type f 2>/dev/null",
                     check=False).stdout.split()
        assert not suid, f"{svc}: setuid/setgid files {suid}"


@t.case
def each_role_mounts_only_its_secrets():
    want = {
        "fcgi-app": ["/run/secrets/app/redis-password",
                     "/run/secrets/app/session-secret"],
        "redis-primary": ["/run/secrets/redis/admin",
                          "/run/secrets/redis/app.sha256",
                          "/run/secrets/redis/replication",
                          "/run/secrets/redis/sentinel.sha256"],
        "nginx": [], "collector": [],
    }
    want["redis-replica-1"] = want["redis-replica-2"] = want["redis-primary"]
    for svc, files in want.items():
        got = dexec(one(svc), "find /run/secrets -type f 2>/dev/null | sort",
                    check=False).stdout.split()
        assert got == files, f"{svc} holds {got}, want {files}"
    # The password files are not for every uid in the container either.
    modes = dexec(one("redis-primary"),
                  "stat -c '%a %G' /run/secrets/redis/*").stdout.splitlines()
    assert all(m == "640 redis" for m in modes), modes


@t.case
def processes_run_as_non_root():
    for svc in ("nginx", "fcgi-app", "collector", "redis-primary",
                "redis-replica-1", "redis-replica-2"):
        cid = one(svc)
        uids = dexec(cid, "for d in /proc/[0-9]*; do "
                          "awk '/^Uid:/ {print $2}' $d/status 2>/dev/null "
                          # a process may exit while the loop runs (a
                          # healthcheck's): its status file is gone
                          "|| true; done").stdout.split()
        assert uids and all(u != "0" for u in uids), \
            f"{svc}: a process runs as root (uids {sorted(set(uids))})"


@t.case
def every_service_is_healthy():
    def all_healthy():
        bad = {}
        for svc in ("nginx", "fcgi-app", "collector", "redis-primary",
                    "redis-replica-1", "redis-replica-2"):
            for cid in ids(svc):
                st = inspect(cid, "{{.State.Health.Status}}")
                if st != "healthy":
                    bad[svc] = st
        return not bad or None
    wait_for("every service healthy", all_healthy, 30)
    code = inspect(one("secrets"), "{{.State.ExitCode}}")
    assert code == "0", f"secrets init exited {code}"


@t.case
def image_sizes():
    sizes = {}
    for img in ("fcgi-app", "collector", "nginx", "redis-primary"):
        sizes[img] = int(run(["docker", "image", "inspect", "-f",
                              "{{.Size}}", f"webstack/{img}:{TAG}"]
                             ).stdout) / 1e6
    log("image sizes: " + ", ".join(f"{k} {v:.0f} MB"
                                    for k, v in sizes.items()))
    for img in ("fcgi-app", "collector"):
        assert sizes[img] <= 100, f"{img} is {sizes[img]:.0f} MB (> 100)"


@t.case
def session_reaches_both_replicas(ctx):
    s, h, _ = http_get("/")
    assert s == 200
    cookie, sid = session_cookie(h)
    s, _, b = http_get("/session", cookie=cookie)
    assert s == 200, f"/session {s}"
    doc = json.loads(b)
    assert doc["views"] >= 1, b
    # The session's identity for the later cases: its creation time.
    ctx["cookie"], ctx["created"] = cookie, doc["createdAt"]
    for svc in ("redis-primary", "redis-replica-1", "redis-replica-2"):
        doc = wait_for(f"sess:{sid} on {svc}",
                       lambda: redis_cli(svc, "GET", f"sess:{sid}"), 2,
                       interval=0.1)
        assert '"cookie"' in doc, f"{svc}: {doc[:200]}"
    role = redis_cli("redis-replica-1", "ROLE").split()[0]
    assert role == "slave", f"replica-1 role {role}"
    # The bound: the next write (GET / counts a visit) is on both
    # replicas within 1 s of its response.
    P.visit_on_replicas(cookie, sid, json.loads(b)["views"])


@t.case
def collector_sees_every_source():
    need = {"/var/log/nginx/access.log", "/var/log/nginx/error.log",
            "/var/log/redis/redis-server.log",
            "/var/log/redis/redis-replica-1.log",
            "/var/log/redis/redis-replica-2.log"}
    need |= {f"/var/log/fcgi-app/{inspect(c, '{{.Config.Hostname}}')}.log"
             for c in ids("fcgi-app")}

    def seen():
        evs = events(one("collector"))
        paths = {e.get("path") for e in evs}
        return evs if need <= paths else None
    evs = wait_for("events from every log", seen, 20)
    for e in evs[:50]:
        for k in ("@timestamp", "@version", "message", "host", "path",
                  "type"):
            assert k in e, f"event without {k}: {e}"
    repl = [e for e in evs if e["path"].startswith("/var/log/redis/")
            and re.search(r"MASTER <-> REPLICA sync|Synchronization with "
                          r"replica", e["message"])]
    assert repl, "no replication line among the Redis events"
    check_exact("/var/log/nginx/access.log")


@t.case
def scale_up_serves_without_nginx_restart():
    nginx = one("nginx")
    started = inspect(nginx, "{{.State.StartedAt}}")
    t0 = time.monotonic()
    compose("up", "-d", "--no-recreate", "--scale", "fcgi-app=4",
            timeout=180)
    assert len(ids("fcgi-app")) == 4
    hosts = {inspect(c, "{{.Config.Hostname}}") for c in ids("fcgi-app")}
    seen = set()

    def all_serve():
        for _ in range(20):
            s, _, b = http_get("/session")
            if s == 200:
                seen.add(json.loads(b)["worker"])
        return seen >= hosts or None
    wait_for("all 4 instances answering /session", all_serve, 10,
             interval=0.1)
    log(f"4 instances served within {time.monotonic() - t0:.1f}s of "
        f"`up --scale`")
    assert inspect(nginx, "{{.State.StartedAt}}") == started, \
        "nginx container restarted"
    assert inspect(nginx, "{{.RestartCount}}") == "0"
    reloads = dexec(nginx, "grep -c 'signal 1 (SIGHUP) received' "
                           "/var/log/nginx/error.log || true").stdout
    assert int(reloads) >= 1, "nginx was not reloaded"
    paths = {f"/var/log/fcgi-app/{h}.log" for h in hosts}
    wait_for("collector tailing every instance's log",
             lambda: paths <= {e.get("path")
                               for e in events(one("collector"))}, 10)


@t.case
def scale_down_under_load_fails_no_get():
    if len(ids("fcgi-app")) < 4:
        compose("up", "-d", "--no-recreate", "--scale", "fcgi-app=4")
        time.sleep(3)
    with Load() as load:
        time.sleep(1)
        compose("up", "-d", "--no-recreate", "--scale", "fcgi-app=1",
                timeout=180)
        time.sleep(3)
    assert len(ids("fcgi-app")) == 1
    assert load.ok > 50, f"only {load.ok} requests during the test"
    assert not load.bad, (f"{len(load.bad)} of {load.ok + len(load.bad)} "
                          f"GETs failed, first: {load.bad[0][1]}")


@t.case
def killed_app_container_requests_keep_succeeding():
    compose("up", "-d", "--no-recreate", "--scale", "fcgi-app=2")
    wait_for("2 healthy instances", lambda: all(
        inspect(c, "{{.State.Health.Status}}") == "healthy"
        for c in ids("fcgi-app")), 30)
    time.sleep(2)
    victim = ids("fcgi-app")[0]
    with Load() as load:
        time.sleep(1)
        run(["docker", "kill", victim])
        time.sleep(4)
    assert load.ok > 50, f"only {load.ok} requests during the test"
    assert not load.bad, (f"{len(load.bad)} of {load.ok + len(load.bad)} "
                          f"GETs failed after the kill, first: "
                          f"{load.bad[0][1]}")


@t.case
def redis_primary_stop_start_recovers(ctx):
    cookie = ctx.get("cookie")
    assert cookie, "needs session_reaches_both_replicas"
    primary = one("redis-primary")
    run(["docker", "stop", "-t", "10", primary], timeout=60)
    t0 = time.monotonic()
    try:
        t1 = time.monotonic()
        s, _, b = http_get("/session", cookie=cookie, timeout=10)
        dt = time.monotonic() - t1
        assert s == 503, f"/session with the primary down: {s} {b[:100]}"
        assert dt < 4, f"the 503 took {dt:.1f}s"
        assert json.loads(b), "503 without a JSON body"
        s, _, _ = http_get("/healthz")
        assert s == 200, f"/healthz (no Redis) gave {s} meanwhile"
    finally:
        run(["docker", "start", primary], timeout=60)

    def recovered():
        s, _, b = http_get("/session", cookie=cookie)
        return s == 200 and json.loads(b)
    doc = wait_for("/session after the primary came back", recovered, 30)
    log(f"recovered {time.monotonic() - t0:.1f}s after the stop")
    # The AOF kept the session: the same one, not a new one.
    assert doc["createdAt"] == ctx["created"], f"session lost: {doc}"


@t.case
def collector_restart_loses_no_line():
    with Load(path="/hello/collector-restart", threads=1) as load:
        time.sleep(1.5)
        run(["docker", "restart", "-t", "15", one("collector")], timeout=60)
        time.sleep(1.5)
    assert load.ok > 20, f"only {load.ok} requests"
    # `docker restart` keeps the container, so its logs hold both runs.
    n = check_exact("/var/log/nginx/access.log")
    log(f"access.log: {n} lines, each collected exactly once")


@t.case
def stuck_collector_turns_unhealthy_and_loses_nothing():
    # The healthcheck must be able to fail: a collector that runs but is
    # stuck (SIGSTOP) stops touching its health file and turns unhealthy;
    # resumed, it turns healthy again and every line is still collected
    # exactly once.
    cid = one("collector")

    def health():
        return inspect(cid, "{{.State.Health.Status}}")
    dexec(cid, "kill -STOP $(pidof collector)")
    try:
        t0 = time.monotonic()
        # Lines written while it is stopped: a few seconds' worth.
        with Load(path="/hello/collector-stuck", threads=1) as load:
            time.sleep(2)
        wait_for("stopped collector unhealthy",
                 lambda: health() == "unhealthy" or None, 60)
        log(f"collector unhealthy {time.monotonic() - t0:.0f} s "
            "after SIGSTOP")
    finally:
        dexec(cid, "kill -CONT $(pidof collector)")
    wait_for("resumed collector healthy",
             lambda: health() == "healthy" or None, 30)
    assert load.ok > 20, f"only {load.ok} requests"
    n = check_exact("/var/log/nginx/access.log")
    log(f"access.log: {n} lines, each collected exactly once")


@t.case
def down_up_keeps_sessions_and_offsets(ctx):
    cookie = ctx.get("cookie")
    assert cookie, "needs session_reaches_both_replicas"
    path = "/var/log/nginx/access.log"
    check_exact(path)
    # Stop first, so the old collector's output is complete when read;
    # then down removes the containers (not the volumes).
    old = one("collector")
    compose("stop", "-t", "15", timeout=300)
    before = messages(events(old), path)
    compose("down", "-t", "15", timeout=300)
    assert not ids("collector"), "collector container survived down"
    compose("up", "-d", timeout=300)
    wait_for("stack back after down/up", root_ok, UP_TIMEOUT)
    s, _, b = http_get("/session", cookie=cookie)
    assert s == 200, f"/session after down/up: {s}"
    doc = json.loads(b)
    assert doc["createdAt"] == ctx["created"], f"session lost: {doc}"
    err = run(["docker", "logs", one("collector")]).stderr
    assert "state absent" not in err, "collector lost its state file"
    n = check_exact(path, before=before)
    log(f"{path}: {n} lines over two collector containers, none repeated")



if __name__ == "__main__":
    teardown_guard(teardown, 60)
    t.run(setup, teardown)
